// Worker for test/heap.test.ts (named positions-* as the positions domain's files). Modes:
// - 'churn': after a start barrier, `iterations` times: allocate a block of a seeded random size,
//   fill it with a pattern naming (worker, iteration), keep at most `live` blocks, and before
//   freeing a block check its pattern (a block handed to two threads at once shows up here).
// - 'grow': allocate a block bigger than the buffer (forces grow()), fill it, publish its offset
//   in flag[1] and its length in flag[2], then wait for the parent to check it.
// - 'hold': enter the write gate and pin the heap, signal flag[0] = 1, then sleep forever (the
//   test terminates it: a thread that died mid-write and mid-read).
// - 'read': store its views' length in flag[0] (the parent grows the buffer only after that),
//   wait for flag[1] != 0, then read the block the parent published there (past its views) and
//   report whether it reads back, and its views' length before and after that read.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedHeap, type HeapHandle } from '../../src/internal/store/heap.ts';
import { hashKeyFromSeed } from '../../src/internal/hash/hash.ts';
import { prng } from '../helpers/seed.ts';

interface Data {
  mode: 'churn' | 'grow' | 'read' | 'hold';
  heap: HeapHandle;
  seed: number;
  flag: SharedArrayBuffer;
  workers?: number;
  iterations?: number;
  live?: number;
  id?: number;
  bytes?: number;
}

const d = workerData as Data;
const heap = new SharedHeap(d.heap, hashKeyFromSeed(d.seed), 'test heap');
const flag = new Int32Array(d.flag);

function fill(ref: number, len: number, tag: number): void {
  const p = heap.payload(ref);
  heap.i32[p >> 2] = tag;
  for (let k = 4; k < len; k++) heap.u8[p + k] = (tag + k) & 0xff;
}

function check(ref: number, len: number, tag: number): boolean {
  if (heap.checkBlock(ref) < len) return false; // also covers: the views then reach the block
  const p = heap.payload(ref);
  if (heap.i32[p >> 2] !== tag) return false;
  for (let k = 4; k < len; k++) if (heap.u8[p + k] !== ((tag + k) & 0xff)) return false;
  return true;
}

if (d.mode === 'churn') {
  const rnd = prng(d.seed + d.id!);
  Atomics.add(flag, 0, 1);
  while (Atomics.load(flag, 0) < d.workers!) Atomics.wait(flag, 0, Atomics.load(flag, 0), 1);
  const live: Array<[number, number, number]> = [];
  let bad = 0;
  let capacity = 0;
  for (let n = 0; n < d.iterations!; n++) {
    if (live.length >= d.live! || (live.length > 0 && rnd() < 0.4)) {
      const [ref, len, tag] = live.splice(Math.floor(rnd() * live.length), 1)[0]!;
      if (!check(ref, len, tag)) bad++;
      heap.free(ref);
      continue;
    }
    const len = 4 + Math.floor(rnd() ** 3 * 3000);
    try {
      const ref = heap.alloc(len);
      const tag = (d.id! << 24) | n;
      fill(ref, len, tag);
      live.push([ref, len, tag]);
    } catch {
      capacity++;
    }
  }
  for (const [ref, len, tag] of live) {
    if (!check(ref, len, tag)) bad++;
    heap.free(ref);
  }
  parentPort!.postMessage({ bad, capacity });
} else if (d.mode === 'grow') {
  const before = heap.sab.byteLength;
  const ref = heap.alloc(d.bytes!);
  fill(ref, d.bytes!, 0x5a5a);
  Atomics.store(flag, 2, d.bytes!);
  Atomics.store(flag, 1, ref);
  Atomics.notify(flag, 1);
  while (Atomics.load(flag, 3) === 0) Atomics.wait(flag, 3, 0, 100);
  parentPort!.postMessage({ before, after: heap.sab.byteLength });
} else if (d.mode === 'hold') {
  heap.gate.enter();
  heap.pin();
  parentPort!.postMessage({ threadId: (await import('node:worker_threads')).threadId });
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  for (;;) Atomics.wait(flag, 3, 0, 1000);
} else {
  const lenBefore = heap.u8.length;
  Atomics.store(flag, 0, lenBefore); // attached: the parent grows the buffer only after this
  Atomics.notify(flag, 0);
  while (Atomics.load(flag, 1) === 0) Atomics.wait(flag, 1, 0, 100);
  const ref = Atomics.load(flag, 1);
  const len = Atomics.load(flag, 2);
  const ok = check(ref, len, 0x5a5a); // the first touch: its checkBlock extends the views
  parentPort!.postMessage({ lenBefore, lenAfter: heap.u8.length, ok }); // lenAfter read AFTER the check
}
