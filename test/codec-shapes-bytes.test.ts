// The codec's per-thread caches are bounded in bytes, not only in entries (issue 12): the
// encoder's learned key lists used to be capped at 4096 lists whatever their keys weighed, so a
// thread that encoded many dictionary-like objects kept every key list alive.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeValue, encodeValue } from '../src/internal/codec/codec.ts';
import * as shapes from '../src/internal/codec/shapes.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function dict(i: number, keys: number): Record<string, number> {
  const o: Record<string, number> = {};
  for (let k = 0; k < keys; k++) o[`key-${i}-${k}-${'k'.repeat(12)}`] = k;
  return o;
}

test('encoder: 2000 objects of distinct 400-key lists keep at most the byte bound of key lists alive', () => {
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 2000; i++) {
    const o = dict(i, 400);
    const back = decodeValue(encodeValue(o).slice());
    if (i % 500 === 0) assert.equal(back, o, `object ${i} round trip`);
  }
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  // 2000 lists x 400 keys of about 30 characters: about 70 MB of key strings and key bytes if kept.
  if (process.env.SHOW_GROWTH) console.log(`grown ${(grown / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(grown < 24 * 2 ** 20, `the heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
  const held = (shapes as { encoderShapesHeld?: () => { units: number } }).encoderShapesHeld?.();
  assert.ok(held !== undefined && held.units <= 1 << 20, `held ${JSON.stringify(held)}`);
});

test('encoder: a huge key list is written and decoded the same, twice in one value', () => {
  const big = dict(-1, 2000);
  const v = { a: big, b: { ...big }, c: [big] };
  assert.equal(decodeValue(encodeValue(v).slice()), v);
  assert.equal(decodeValue(encodeValue(v).slice()), v);
});

test('encoder: records of one common shape are still remembered (a SHAPE_REF for the second)', () => {
  const rows = Array.from({ length: 3 }, (_, i) => ({ hotkey: `hk${i}`, reason: 'r', dd: i + 0.5, extra_field_x: true }));
  const one = encodeValue([rows[0]]).length;
  const three = encodeValue(rows).length;
  assert.ok(three - one < 2 * one, `3 rows ${three} bytes, 1 row ${one}: later rows do not repeat the keys`);
  assert.equal(decodeValue(encodeValue(rows).slice()), rows);
});

test.run();
