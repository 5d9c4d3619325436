// SharedTable.hash's per-thread memo (issue 12): the same answer as the seeded hash itself, for
// single and pair keys, before and after the memo starts over, and lookups through it still
// find every key.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hashKeyFromSeed, hashPair, hashString } from '../src/internal/hash/hash.ts';
import { MIN_HEAP_BYTES, SharedHeap, createHeapHandle } from '../src/internal/store/heap.ts';
import { SharedTable } from '../src/internal/store/table.ts';
import { createTableHandle } from '../src/internal/store/table-layout.ts';
import { KeyHashes, kGenEntries, kGenUnits } from '../src/internal/store/table-hash.ts';

test('hash memo: equal to hashString / hashPair for 20,000 keys, asked twice', () => {
  const key = hashKeyFromSeed(42n);
  const heap = new SharedHeap(createHeapHandle(MIN_HEAP_BYTES * 4, key), key, 'memo heap');
  const t = new SharedTable(createTableHandle(64, key), heap, key, 'memo table');
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 10_000; i++) {
      const a = `5Hk${i % 300}${'x'.repeat(40)}`;
      const b = `uuid-${i}`;
      assert.is(t.hash(a, b), hashPair(key, a, b) | 0);
      assert.is(t.hash(b), hashString(key, b) | 0);
    }
  }
  // A pair and a single key with the same text do not share an entry.
  assert.is(t.hash('a', 'b'), hashPair(key, 'a', 'b') | 0);
  assert.is(t.hash('a'), hashString(key, 'a') | 0);
});

test('hash memo: a table still finds its keys through it after many other keys', () => {
  const key = hashKeyFromSeed(7n);
  const heap = new SharedHeap(createHeapHandle(MIN_HEAP_BYTES * 4, key), key, 'memo heap');
  const t = new SharedTable(createTableHandle(256, key), heap, key, 'memo table');
  for (let i = 0; i < 100; i++) t.set(`k${i}`, `v${i}`, new Uint8Array([i]));
  for (let i = 0; i < 9000; i++) t.hash(`other${i}`, 'x');
  for (let i = 0; i < 100; i++) assert.equal(t.get(`k${i}`, `v${i}`), new Uint8Array([i]));
});

test('hash memo: a working set of 13,056 pair keys (256 hotkeys x 51 trade pairs) is hashed once, then answered from the memo', () => {
  const m = new KeyHashes(hashKeyFromSeed(3n));
  const hotkeys = Array.from({ length: 256 }, (_, i) => `5H${String(i).padStart(46, 'k')}`);
  const pairs = Array.from({ length: 51 }, (_, i) => `TP${i}USD`);
  for (let pass = 0; pass < 3; pass++) for (const hk of hotkeys) for (const tp of pairs) m.hash(hk, tp);
  // The memo before (one generation, started over past 4,096 keys) hashed nearly every ask again.
  assert.is(m.misses, 256 * 51, 'each key hashed once over three passes');
});

test('hash memo: keys in use survive a stream of one-off keys (two generations)', () => {
  const m = new KeyHashes(hashKeyFromSeed(4n));
  const hot = Array.from({ length: 500 }, (_, i) => `hot${i}`);
  for (const k of hot) m.hash('hk', k);
  const before = m.misses;
  let oneOff = 0;
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < kGenEntries; i++) m.hash('hk', `once${oneOff++}`);
    for (const k of hot) m.hash('hk', k);
  }
  assert.is(m.misses - before, oneOff, 'only the one-off keys were hashed; the 500 in use never again');
});

test('hash memo: bounded in keys and in key text, whatever the keys', () => {
  const m = new KeyHashes(hashKeyFromSeed(5n));
  for (let i = 0; i < 3 * kGenEntries; i++) m.hash(`a${i}`, 'b');
  let held = m.held();
  assert.ok(held.entries <= 2 * kGenEntries, `short keys: ${held.entries} held`);
  const long = 'x'.repeat(250);
  for (let i = 0; i < 20_000; i++) m.hash(`${long}${i}`, `${long}${i}`);
  held = m.held();
  assert.ok(held.units <= 2 * kGenUnits, `long keys: ${held.units} units held`);
  assert.ok(held.entries <= (2 * kGenUnits) / 500 + 1, `long keys: ${held.entries} held`);
  assert.is(m.hash(`${long}1`, `${long}1`), hashPair(hashKeyFromSeed(5n), `${long}1`, `${long}1`) | 0);
});

test.run();
