/**
 * The heap's triggered merges are bounded (issue 12: a merge inside an order took every free
 * block of the heap at once, 47-76 ms with about 210,000 of them): a merge that a trigger starts
 * (worthMerging in alloc's slow path, shrinkDue after a free) takes at most the slice budget
 * (1024 blocks, heap-merge.ts kSliceBlocks), and successive slices go round every list. Work is
 * counted in blocks, not time: at the crash points 'heap.merge.taken' (the whole merge) and
 * 'heap.merge.sliced' (a slice) the blocks the merge holds are the carved bytes that are neither
 * in use nor on a list, divided by the block size (every block of these tests has one size).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setCrashHook } from '../src/internal/crash.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { SharedHeap, createHeapHandle, kBlockHeaderBytes } from '../src/internal/store/heap.ts';
import { verifyHeap } from '../src/internal/store/heap-sweep.ts';
import { seed } from './helpers/seed.ts';

const key = hashKeyFromSeed(BigInt(seed >>> 0));
/** heap-merge.ts kSliceBlocks. */
const kBudget = 1024;

/** Calls fn with a hook that records, at each merge's taken point, how many blocks of `blockBytes` it holds. */
function countMerges(heap: SharedHeap, blockBytes: number, fn: () => void): number[] {
  const held: number[] = [];
  setCrashHook((name) => {
    if (name !== 'heap.merge.taken' && name !== 'heap.merge.sliced') return;
    const st = heap.stats();
    held.push((st.carvedBytes - st.inUseBytes - st.freeBytes) / blockBytes);
  });
  try {
    fn();
  } finally {
    setCrashHook(null);
  }
  return held;
}

test('a merge a free triggers takes at most the slice budget, on a heap with 8192 free blocks', () => {
  const heap = new SharedHeap(createHeapHandle(64 << 20, key), key, 'test heap');
  const n = 16384;
  const refs = heap.gate.run(() => Array.from({ length: n + 1 }, () => heap.alloc(48)));
  const size = heap.capacityOf(refs[0]!) + kBlockHeaderBytes;
  // Every other block freed: no two free blocks are neighbours, and the top block stays in use.
  const held = countMerges(heap, size, () => heap.gate.run(() => {
    for (let i = 0; i < n; i += 2) heap.free(refs[i]!);
  }));
  const st = heap.stats();
  console.log(`  merges during the frees: ${held.length}, blocks held: ${held.join(', ')}; free blocks at the end ${st.freeBytes / size}`);
  assert.ok(held.length > 0, 'the frees triggered merges');
  assert.ok(Math.max(...held) <= kBudget, `each merge held at most ${kBudget} blocks (max ${Math.max(...held)})`);
  assert.is(st.inUseBlocks, n / 2 + 1);
  assert.is(st.freeBytes, (n / 2) * size, 'every freed block is listed again');
  assert.equal(heap.gate.freeze(() => verifyHeap(heap, (mark) => {
    for (let i = 1; i <= n; i += 2) mark(refs[i]!, `block ${i}`);
    mark(refs[n]!, 'top');
  }), 10_000), []);
});

test('a merge the alloc slow path triggers takes at most the slice budget; the whole merge (consolidate) still takes all', () => {
  const heap = new SharedHeap(createHeapHandle(64 << 20, key), key, 'test heap');
  const n = 16384;
  const refs = heap.gate.run(() => Array.from({ length: n + 1 }, () => heap.alloc(48)));
  const size = heap.capacityOf(refs[0]!) + kBlockHeaderBytes;
  heap.gate.run(() => {
    for (let i = 0; i < n; i += 2) heap.free(refs[i]!);
  });
  // Allocations of a larger class: no list of theirs, no larger list, much carved memory free:
  // worthMerging says yes whenever free memory grew by carved / 32 since the last merge.
  const held = countMerges(heap, size, () => heap.gate.run(() => {
    for (let k = 0; k < 64; k++) {
      heap.free(heap.alloc(400));
      for (let i = 1; i < 64 * 16; i += 2) {
        const j = (k * 1024 + i) % n;
        if (j % 2 === 1) {
          heap.free(refs[j]!);
          refs[j] = heap.alloc(48);
        }
      }
    }
  }));
  console.log(`  merges during the allocations: ${held.length}, max blocks held ${Math.max(0, ...held)}`);
  assert.ok(held.every((h) => h <= kBudget), `each merge held at most ${kBudget} blocks (${held.join(', ')})`);
  const free = heap.stats().freeBytes / size;
  const whole = countMerges(heap, size, () => heap.gate.run(() => heap.consolidate()));
  assert.equal(whole, [free], 'consolidate() called directly is the whole merge: every free block');
});

test('successive slices go round every list: a run on a high class is joined although a low class holds more than the budget', () => {
  const heap = new SharedHeap(createHeapHandle(64 << 20, key), key, 'test heap');
  const small = heap.gate.run(() => Array.from({ length: 3001 }, () => heap.alloc(48)));
  const big = heap.gate.run(() => Array.from({ length: 4 }, () => heap.alloc(1000)));
  heap.gate.run(() => heap.alloc(48)); // the top stays in use
  heap.gate.run(() => {
    for (let i = 0; i < 3000; i += 2) heap.free(small[i]!); // 1500 free blocks on one list, none adjacent
    for (let i = 0; i < 3; i++) heap.free(big[i]!); // three neighbours on a higher list
  });
  const merged = (): number => heap.stats().mergedBlocks;
  const before = merged();
  let slices = 0;
  while (merged() - before < 2 && slices < 400) {
    heap.gate.run(() => heap.mergeSlice(kBudget));
    slices++;
  }
  console.log(`  slices until the run was joined: ${slices}`);
  assert.is(merged() - before, 2, 'the run of three was joined into one block');
  assert.ok(slices <= 3, `within three slices (${slices})`);
  const r = heap.gate.run(() => heap.alloc(2900));
  assert.is(r, big[0], 'the joined run serves a request of its size, at its place');
});

test.run();
