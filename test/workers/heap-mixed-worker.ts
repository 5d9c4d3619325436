// Worker for test/heap-crash.test.ts: a heap's split, merge and exact-fit steps, driven on a
// small heap shared with the parent. Every block it holds is published in `slots` (one Int32 per
// block, Atomics.store) before it does anything else, and unpublished before it is freed: the
// parent's sweep treats the slots as the "tables" that reach blocks. Every heap call runs inside
// the write gate, as the domains' calls do. Modes:
// - 'crash': stop at `crashAt` (test/helpers/crash.ts) while running `rounds` of: fill the heap
//   with 48-byte blocks, free them all, one large block (a merge), small blocks split off the
//   rest, then an exact fit (a run of seven 48-byte blocks freed, then a 320-byte request whose
//   class is 352), a withhold and restore of the free blocks above the middle (a top
//   compaction's window), then everything freed.
// - 'held': a top compaction's allocations from its withheld window blocks (heap.held): the
//   heap filled with 48-byte blocks, runs of three in the upper half freed and merged (144-byte
//   blocks), withheld above the middle; then, bound to the middle and armed to stop at
//   `crashAt`, 40-byte blocks taken (each splits a held block, its tail kept held), restore.
// - 'churn': after a start barrier, `iterations` seeded steps of mixed sizes (32 B .. 24 KB) on
//   a heap kept near full, so that merges, splits and exact fits race with other threads' pops
//   and pushes; every block is filled with a pattern naming (worker, step) and checked before it
//   is freed (a block handed to two threads at once, or cut by a merge while in use, shows up).
import { parentPort, workerData } from 'node:worker_threads';
import { SharedHeap, type HeapHandle } from '../../src/internal/store/heap.ts';
import { hashKeyFromSeed } from '../../src/internal/hash/hash.ts';
import { prng } from '../helpers/seed.ts';
import { type CrashAt, stopAtCrashPoint } from '../helpers/crash.ts';
import { SabStateError } from '../../src/errors.ts';

interface Data {
  mode: 'crash' | 'churn' | 'held';
  heap: HeapHandle;
  seed: number;
  slots: SharedArrayBuffer;
  crashAt?: CrashAt;
  rounds?: number;
  flag?: SharedArrayBuffer;
  workers?: number;
  iterations?: number;
  id?: number;
}

const d = workerData as Data;
const heap = new SharedHeap(d.heap, hashKeyFromSeed(d.seed), 'test heap');
const slots = new Int32Array(d.slots);

/** Allocates and publishes in slot i; returns the ref, or 0 on ERR_CAPACITY. */
function take(i: number, bytes: number): number {
  try {
    return heap.gate.run(() => {
      const ref = heap.alloc(bytes);
      Atomics.store(slots, i, ref);
      return ref;
    });
  } catch (e) {
    if ((e as SabStateError).code === 'ERR_CAPACITY') return 0;
    throw e;
  }
}

function drop(i: number): void {
  heap.gate.run(() => {
    const ref = Atomics.load(slots, i);
    if (ref === 0) return;
    Atomics.store(slots, i, 0);
    heap.free(ref);
  });
}

function fill(ref: number, len: number, tag: number): void {
  const p = heap.payload(ref);
  heap.i32[p >> 2] = tag;
  for (let k = 4; k < len; k += 64) heap.u8[p + k] = (tag + k) & 0xff;
}

function check(ref: number, len: number, tag: number): boolean {
  if (heap.checkBlock(ref) < len) return false;
  const p = heap.payload(ref);
  if (heap.i32[p >> 2] !== tag) return false;
  for (let k = 4; k < len; k += 64) if (heap.u8[p + k] !== ((tag + k) & 0xff)) return false;
  return true;
}

if (d.mode === 'crash') {
  stopAtCrashPoint(d.crashAt);
  const n = slots.length;
  for (let round = 0; round < d.rounds!; round++) {
    let k = 0;
    while (k < n - 8 && take(k, 40) !== 0) k++;
    for (let i = 0; i < k; i++) drop(i);
    take(0, Math.floor(k * 48 * 0.6)); // heap full of free 48-byte blocks: a merge serves it
    let m = 1;
    while (m < 64 && take(m, 40) !== 0) m++; // split off the rest
    for (let i = 0; i < m; i++) drop(i);
    // Exact fit: the heap full of 48-byte blocks but for one run of seven (336 bytes, list 320).
    k = 0;
    while (k < n - 8 && take(k, 40) !== 0) k++;
    // Seven slots whose blocks are address neighbours (frees merged on the way may have left the
    // lists out of address order, so slot order says nothing).
    const bySlot = Array.from({ length: k }, (_, i) => i).sort((x, y) => slots[x]! - slots[y]!);
    let at = 0;
    for (let j = 1; j < bySlot.length && j - at < 7; j++) if (slots[bySlot[j]!] !== slots[bySlot[j - 1]!]! + 48) at = j;
    const run = bySlot.slice(at, at + 7);
    for (const i of run) drop(i);
    take(run[0]!, 320); // class 352: no list, no bump; a merge joins the run; the exact fit takes it
    // A top compaction's withhold (positions/compact.ts T3): every other block of the upper half
    // freed, the free blocks above the middle taken off their lists, then listed again.
    const mid = slots[bySlot[bySlot.length >> 1]!]!;
    for (let j = bySlot.length >> 1; j < bySlot.length; j += 2) drop(bySlot[j]!);
    heap.gate.run(() => heap.restore(heap.withhold(mid)));
    for (let i = 0; i < k; i++) drop(i);
  }
  parentPort!.postMessage({ done: true });
} else if (d.mode === 'held') {
  const n = slots.length;
  let k = 0;
  while (k < n - 64 && take(k, 40) !== 0) k++;
  const bySlot = Array.from({ length: k }, (_, i) => i).sort((x, y) => slots[x]! - slots[y]!);
  const half = bySlot.length >> 1;
  const mid = slots[bySlot[half]!]!;
  for (let j = half; j + 2 < bySlot.length; j += 4) for (let q = 0; q < 3; q++) drop(bySlot[j + q]!);
  heap.gate.run(() => heap.consolidate());
  heap.gate.run(() => {
    const held = heap.withhold(mid).sort((x, y) => x - y);
    heap.bound = mid;
    heap.held = held;
    heap.heldBelow = heap.maxBytes;
    stopAtCrashPoint(d.crashAt);
    try {
      for (let i = 0; i < 32; i++) {
        heap.fromHeld = false;
        const ref = heap.alloc(40);
        if (!heap.fromHeld) throw new Error(`allocation ${i} did not come from the held blocks`);
        Atomics.store(slots, n - 64 + i, ref);
      }
    } finally {
      heap.bound = 0;
      heap.held = null;
      heap.restore(held);
    }
  });
  parentPort!.postMessage({ done: true });
} else {
  const rnd = prng(d.seed + d.id!);
  const flag = new Int32Array(d.flag!);
  Atomics.add(flag, 0, 1);
  while (Atomics.load(flag, 0) < d.workers!) Atomics.wait(flag, 0, Atomics.load(flag, 0), 1);
  const base = d.id! * (slots.length / d.workers!);
  const per = slots.length / d.workers!;
  const lens = new Int32Array(per);
  const tags = new Int32Array(per);
  let bad = 0;
  let capacity = 0;
  let allocs = 0;
  for (let step = 0; step < d.iterations!; step++) {
    const i = Math.floor(rnd() * per);
    const ref = Atomics.load(slots, base + i);
    if (ref !== 0) {
      if (!check(ref, lens[i]!, tags[i]!)) bad++;
      drop(base + i);
      continue;
    }
    const len = rnd() < 0.8 ? 4 + Math.floor(rnd() * 400) : 1000 + Math.floor(rnd() * 24_000);
    const got = take(base + i, len);
    if (got === 0) {
      capacity++;
      continue;
    }
    allocs++;
    lens[i] = len;
    tags[i] = (d.id! << 24) | (step & 0xffffff);
    fill(got, len, tags[i]!);
  }
  for (let i = 0; i < per; i++) {
    const ref = Atomics.load(slots, base + i);
    if (ref === 0) continue;
    if (!check(ref, lens[i]!, tags[i]!)) bad++;
    drop(base + i);
  }
  parentPort!.postMessage({ bad, capacity, allocs });
}
