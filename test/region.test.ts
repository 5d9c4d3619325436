import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SabStateError } from '../src/errors.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { HEADER_BYTES, RegionKind, checkRegion, createRegion, regionParams } from '../src/internal/region.ts';

const key = hashKeyFromSeed(123n);
const spec = { kind: RegionKind.TABLE, key, params: [64, 4096] } as const;

function mismatch(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SabStateError);
    assert.is((e as SabStateError).code, 'ERR_LAYOUT_MISMATCH');
    return (e as Error).message;
  }
  throw new Error('expected ERR_LAYOUT_MISMATCH');
}

test('smoke: a created region passes its own check and keeps its params', () => {
  const sab = createRegion(spec, 1024);
  assert.is(checkRegion(sab, spec, 'r'), sab);
  assert.equal(regionParams(sab), [64, 4096]);
  assert.ok(sab.byteLength >= HEADER_BYTES);
});

test('growable regions', () => {
  const sab = createRegion(spec, 256, 4096);
  assert.is(sab.growable, true);
  assert.is(sab.maxByteLength, 4096);
  checkRegion(sab, spec, 'r');
});

test('every difference is ERR_LAYOUT_MISMATCH naming it', () => {
  const sab = createRegion(spec, 1024);
  assert.match(mismatch(() => checkRegion(new ArrayBuffer(256), spec, 'r')), /not a SharedArrayBuffer/);
  assert.match(mismatch(() => checkRegion(new SharedArrayBuffer(64), spec, 'r')), /no header/);
  assert.match(mismatch(() => checkRegion(sab, { ...spec, kind: RegionKind.RING }, 'r')), /region kind/);
  assert.match(mismatch(() => checkRegion(sab, { ...spec, key: hashKeyFromSeed(124n) }, 'r')), /seed/);
  assert.match(mismatch(() => checkRegion(sab, { ...spec, params: [64] }, 'r')), /size params/);
  assert.match(mismatch(() => checkRegion(sab, { ...spec, params: [64, 8192] }, 'r')), /size param 1/);
  const bad = createRegion(spec, 1024);
  new Int32Array(bad)[0] = 0;
  assert.match(mismatch(() => checkRegion(bad, spec, 'r')), /magic/);
  const old = createRegion(spec, 1024);
  new Int32Array(old)[1] = 999;
  assert.match(mismatch(() => checkRegion(old, spec, 'r')), /layout version 999/);
});

test.run();
