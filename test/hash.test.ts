import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  HASH_VECTORS,
  halfSipHashBytes,
  hashKeyFromSeed,
  hashPair,
  hashString,
  seedFromHashKey,
  utf16leBytes,
} from '../src/internal/hash/hash.ts';
import { fcParams } from './helpers/seed.ts';

// The reference implementation's published HalfSipHash-2-4 vectors (32-bit tag), key 00..07,
// message 00..i-1: they check the round function and finalization of hash.ts.
const REF_HSIP32 = [
  0x5b9f35a9, 0xb85a4727, 0x03a662fa, 0x04e7fe8a, 0x89466e2a, 0x69b6fac5, 0x23fc6358, 0xc563cf8b,
  0x8f84b8d0, 0x79e706f8, 0x3479b094,
];

test('reference HalfSipHash-2-4 vectors', () => {
  const key = hashKeyFromSeed(0x0706050403020100n);
  REF_HSIP32.forEach((expected, i) => {
    const msg = Uint8Array.from({ length: i }, (_, j) => j);
    assert.is(halfSipHashBytes(key, msg, 2, 4), expected, `vector ${i}`);
  });
});

test('fixed sabstate vectors (the native helper must match them)', () => {
  assert.ok(HASH_VECTORS.length >= 50);
  for (const [seed, a, b, h] of HASH_VECTORS) {
    const key = hashKeyFromSeed(seed);
    assert.is(b === null ? hashString(key, a) : hashPair(key, a, b), h, JSON.stringify([a, b]));
  }
});

test('seed round trip', () => {
  for (const s of [0n, 1n, 0xffffffffn, 0x100000000n, 0xffffffffffffffffn, 0x0123456789abcdefn]) {
    assert.is(seedFromHashKey(hashKeyFromSeed(s)), s);
  }
});

test('property: string and pair hashes equal the byte-level reference, are stable and in range', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (seed, a, b) => {
      const key = hashKeyFromSeed(seed);
      const h1 = hashString(key, a);
      assert.is(h1, halfSipHashBytes(key, utf16leBytes(a)));
      assert.is(hashString(key, a), h1);
      assert.ok(Number.isInteger(h1) && h1 >= 0 && h1 <= 0xffffffff);
      const msg = new Uint8Array(4 + 2 * (a.length + b.length));
      new DataView(msg.buffer).setUint32(0, a.length, true);
      msg.set(utf16leBytes(a + b), 4);
      const h2 = hashPair(key, a, b);
      assert.is(h2, halfSipHashBytes(key, msg));
      assert.ok(h2 >= 0 && h2 <= 0xffffffff);
    }),
    fcParams(500),
  );
});

test('pairs are unambiguous: (ab, c) and (a, bc) differ', () => {
  const key = hashKeyFromSeed(42n);
  assert.is.not(hashPair(key, 'ab', 'c'), hashPair(key, 'a', 'bc'));
  assert.is.not(hashPair(key, '', 'x'), hashPair(key, 'x', ''));
});

test('spread: 256 hotkeys x 51 pairs over 4096 stripes, and the seed moves them', () => {
  const key = hashKeyFromSeed(0x9e3779b97f4a7c15n);
  const counts = new Uint32Array(4096);
  const hk = Array.from({ length: 256 }, (_, i) => `5${'H'.repeat(40)}${i.toString(36).padStart(7, '0')}`);
  const tps = Array.from({ length: 51 }, (_, i) => `TP${i}USD`);
  for (const h of hk) for (const t of tps) counts[hashPair(key, h, t) & 4095]!++;
  const n = 256 * 51;
  const mean = n / 4096;
  let chi = 0;
  let max = 0;
  for (const c of counts) {
    chi += (c - mean) ** 2 / mean;
    max = Math.max(max, c);
  }
  // Chi-square with 4095 degrees of freedom: mean 4095, sd about 90. Six sd is a generous bound.
  assert.ok(chi < 4095 + 6 * 90, `chi-square ${chi.toFixed(0)}`);
  assert.ok(max <= 16, `max stripe load ${max}`);
  // Keys that collide under one seed are spread by another.
  const target = hashPair(key, hk[0]!, tps[0]!) & 4095;
  const colliding = hk.flatMap((h) => tps.map((t) => [h, t] as const)).filter(([h, t]) => (hashPair(key, h, t) & 4095) === target);
  const other = hashKeyFromSeed(7n);
  const stripes = new Set(colliding.map(([h, t]) => hashPair(other, h, t) & 4095));
  assert.ok(colliding.length < 2 || stripes.size > 1);
});

test.run();
