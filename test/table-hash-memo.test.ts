// SharedTable.hash's per-thread memo (issue 12): the same answer as the seeded hash itself, for
// single and pair keys, before and after the memo starts over, and lookups through it still
// find every key.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hashKeyFromSeed, hashPair, hashString } from '../src/internal/hash/hash.ts';
import { MIN_HEAP_BYTES, SharedHeap, createHeapHandle } from '../src/internal/store/heap.ts';
import { SharedTable } from '../src/internal/store/table.ts';
import { createTableHandle } from '../src/internal/store/table-layout.ts';

test('hash memo: equal to hashString / hashPair for 20,000 keys, asked twice (the memo starts over past 4096)', () => {
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

test.run();
