// The AsyncEngine conformance suite (test/conformance.ts) on the SharedArrayBuffer engine,
// through `engine.async` (toAsyncEngine): `a` and `b` are that adapter and a second one over the
// same engine.
import * as assert from 'uvu/assert';
import { createEngine, toAsyncEngine } from '../src/index.ts';
import { CONFORMANCE_GENERAL, conformance } from './conformance.ts';

conformance('SharedArrayBuffer engine, engine.async', async () => {
  const engine = createEngine({
    positions: { maxRecords: 1024, maxBytes: 2 ** 22 },
    eliminations: { maxRecords: 256, maxBytes: 2 ** 20 },
    departed: { maxRecords: 256 },
    general: CONFORMANCE_GENERAL,
  });
  assert.is(engine.async, engine.async, 'engine.async is made once');
  assert.is(engine.async.backend, 'sab');
  return { a: engine.async, b: toAsyncEngine(engine), close: async () => engine.close() };
});
