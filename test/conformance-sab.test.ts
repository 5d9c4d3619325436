// The AsyncEngine conformance suite (test/conformance.ts) on the SharedArrayBuffer engine,
// through toAsyncEngine: `a` and `b` are two adapters over one engine.
import { createEngine, toAsyncEngine } from '../src/index.ts';
import { CONFORMANCE_GENERAL, conformance } from './conformance.ts';

conformance('SharedArrayBuffer engine, toAsyncEngine', async () => {
  const engine = createEngine({
    positions: { maxRecords: 1024, maxBytes: 2 ** 22 },
    eliminations: { maxRecords: 256, maxBytes: 2 ** 20 },
    departed: { maxRecords: 256 },
    general: CONFORMANCE_GENERAL,
  });
  return { a: toAsyncEngine(engine), b: toAsyncEngine(engine), close: async () => engine.close() };
});
