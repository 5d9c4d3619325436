import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SabStateError } from '../src/errors.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import {
  MAX_HEAP_BYTES, MIN_HEAP_BYTES, SharedHeap, classOf, classSize, createHeapHandle, floorClass, kClassCount, kDataStart,
} from '../src/internal/store/heap.ts';
import { fcParams, seed, stressScale } from './helpers/seed.ts';
import { sweepHeap, verifyHeap } from '../src/internal/store/heap-sweep.ts';
import { once } from 'node:events';
import { runWorkers, tsWorker } from './helpers/workers.ts';
import { code } from './helpers/errors.ts';

const WORKER = new URL('./workers/positions-heap-worker.ts', import.meta.url);
const key = hashKeyFromSeed(BigInt(seed >>> 0));

function heapOf(maxBytes: number, initial?: number): SharedHeap {
  return new SharedHeap(createHeapHandle(maxBytes, key, initial), key, 'test heap');
}

test('size classes: every size fits its class, waste at most 12.5% + 16 bytes, classes grow', () => {
  for (let c = 1; c < kClassCount; c++) assert.ok(classSize(c) > classSize(c - 1), `class ${c}`);
  assert.ok(classSize(kClassCount - 1) >= 2 ** 31);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (n) => {
      const c = classOf(n);
      assert.ok(c >= 0 && c < kClassCount);
      assert.ok(classSize(c) >= n, `size ${n} class ${c}`);
      assert.ok(c === 0 || classSize(c - 1) < n, `size ${n} not in the smallest class`);
      assert.ok(classSize(c) <= Math.max(32, n * 1.125 + 16));
      const f = floorClass(classSize(c) + 16 * (n & 7));
      assert.ok(classSize(f) <= classSize(c) + 16 * (n & 7) && (f === kClassCount - 1 || classSize(f + 1) > classSize(c) + 16 * (n & 7)), 'floorClass');
    }),
    fcParams(2000),
  );
});

test('smoke: alloc, write, free, reuse of the same block with a new stamp', () => {
  const heap = heapOf(MIN_HEAP_BYTES * 4);
  const a = heap.alloc(100);
  assert.ok(a >= kDataStart && a % 16 === 0);
  assert.ok(heap.capacityOf(a) >= 100);
  heap.u8.fill(7, heap.payload(a), heap.payload(a) + 100);
  const s1 = heap.stampOf(a);
  assert.ok(s1 !== 0);
  assert.is(heap.stats().inUseBlocks, 1);
  heap.free(a);
  assert.is(heap.stats().inUseBytes, 0);
  assert.is(heap.checkBlock(a), -1, 'a free block does not pass the reader check');
  const b = heap.alloc(90);
  assert.is(b, a, 'same class: the freed block is reused');
  assert.is.not(heap.stampOf(b), s1, 'a new allocation gets a new stamp');
  assert.throws(() => heap.free(a + 16), /not allocated/);
  heap.free(b);
  assert.throws(() => heap.free(b), /not allocated/);
});

test('capacity: a full heap is ERR_CAPACITY and stays usable; too large is ERR_VALUE_TOO_LARGE', () => {
  const heap = heapOf(MIN_HEAP_BYTES);
  assert.is(code(() => heap.alloc(MIN_HEAP_BYTES)), 'ERR_VALUE_TOO_LARGE');
  assert.is(code(() => heap.alloc(2 ** 40)), 'ERR_VALUE_TOO_LARGE');
  const refs: number[] = [];
  let err: string | undefined;
  while (err === undefined) {
    try {
      refs.push(heap.alloc(1000));
    } catch (e) {
      err = (e as SabStateError).code;
    }
  }
  assert.is(err, 'ERR_CAPACITY');
  assert.ok(refs.length >= 50);
  const st = heap.stats();
  assert.is(st.inUseBlocks, refs.length);
  assert.is(st.capacityErrors, 1);
  assert.ok(st.topBytes <= MIN_HEAP_BYTES);
  // Smaller requests split a block of a larger class when their own class is empty: the rest
  // stays free and serves the next ones.
  heap.free(refs.pop()!);
  const small = heap.alloc(40);
  assert.is(heap.capacityOf(small), 48 - 8, 'the small request gets its own class');
  const second = heap.alloc(40);
  assert.is(second, small + 48, 'the rest of the split block serves the next request');
  heap.free(small);
  heap.free(second);
  for (const r of refs) heap.free(r);
  assert.is(heap.stats().inUseBytes, 0);
  // Full, freed, full again with the same count: free blocks are reused, nothing leaks.
  let again = 0;
  try {
    for (;;) {
      heap.alloc(1000);
      again++;
    }
  } catch (e) {
    assert.is((e as SabStateError).code, 'ERR_CAPACITY');
  }
  assert.is(again, refs.length + 1);
});

test('bound: while set, allocations come from the free lists only (never the bump area), a refusal is not counted; the compaction flag is one holder\'s and the sweep clears it', () => {
  const heap = heapOf(MIN_HEAP_BYTES * 4);
  const low = heap.alloc(100);
  const spare = heap.alloc(100);
  const big = heap.alloc(3000);
  const mid = heap.alloc(40);
  heap.free(spare);
  heap.free(big);
  const top = heap.stats().topBytes;
  heap.bound = mid;
  // Served by the freed blocks (the 100-byte one exactly, the 3000-byte one split), none carved.
  const a = heap.alloc(100);
  const b = heap.alloc(1000);
  assert.ok(a < mid && b < mid, `${a}, ${b} below ${mid}`);
  assert.is(heap.stats().topBytes, top, 'nothing carved');
  assert.is(code(() => heap.alloc(3000)), 'ERR_CAPACITY', 'no listed block holds it: refused, not carved');
  assert.is(heap.stats().capacityErrors, 0, 'a bounded refusal is not a capacity error');
  heap.bound = 0;
  assert.ok(heap.alloc(3000) >= top, 'unbounded: carved');
  for (const r of [low, a, b, mid]) heap.free(r);
  assert.ok(heap.beginCompaction());
  assert.not.ok(heap.beginCompaction(), 'one compactor at a time');
  assert.ok(verifyHeap(heap, () => {}).some((v) => v.includes('top compaction marked running')));
  sweepHeap(heap, () => {});
  assert.ok(heap.beginCompaction(), 'the sweep cleared a dead holder\'s flag');
  heap.endCompaction(2, 64);
  assert.equal(heap.stats().topCompactions, { runs: 1, moves: 2, movedBytes: 64, attempts: 2 });
});

test('withhold: the free blocks at or above an offset leave the lists (bounded allocations get only lower ones), restore lists them again; verify clean, a sweep relists what a dead withholder held', () => {
  const heap = heapOf(MIN_HEAP_BYTES * 4);
  const refs = Array.from({ length: 12 }, (_, k) => heap.alloc(k % 2 ? 100 : 200));
  const edge = refs[6]!;
  const freed = refs.filter((_, k) => k % 3 === 0);
  for (const r of freed) heap.free(r);
  const free = heap.stats().freeBytes;
  const held = heap.withhold(edge);
  assert.equal(held.slice().sort((x, y) => x - y), freed.filter((r) => r >= edge), 'exactly the listed free blocks at or above the edge');
  heap.bound = edge;
  const got: number[] = [];
  for (;;) {
    try {
      got.push(heap.alloc(100));
    } catch (e) {
      if ((e as SabStateError).code !== 'ERR_CAPACITY') throw e;
      break;
    }
  }
  heap.bound = 0;
  assert.ok(got.length > 0 && got.every((r) => r < edge), `bounded allocations all below ${edge}: ${got.join(', ')}`);
  for (const r of got) heap.free(r);
  heap.restore(held);
  assert.is(heap.stats().freeBytes, free, 'the free bytes never left the counts');
  const kept = refs.filter((r) => !freed.includes(r));
  assert.equal(verifyHeap(heap, (mark) => kept.forEach((r) => mark(r, 'kept'))), []);
  // A withholder that dies holding them: the sweep lists them again.
  const again = heapOf(MIN_HEAP_BYTES * 4);
  const rs = Array.from({ length: 8 }, () => again.alloc(100));
  again.free(rs[4]!);
  again.free(rs[6]!);
  const lost = again.withhold(rs[4]!);
  assert.equal(lost.slice().sort((x, y) => x - y), [rs[4]!, rs[6]!]);
  const live = (mark: (ref: number, what: string) => void): void => [0, 1, 2, 3, 5, 7].forEach((k) => mark(rs[k]!, 'live'));
  sweepHeap(again, live);
  assert.equal(verifyHeap(again, live), []);
  const back = new Set([again.alloc(100), again.alloc(100)]);
  for (const r of lost) assert.ok(back.has(r), `${r} listed again by the sweep`);
});

test('option limits', () => {
  assert.throws(() => createHeapHandle(MIN_HEAP_BYTES - 1, key), RangeError);
  assert.throws(() => createHeapHandle(MAX_HEAP_BYTES + 1, key), RangeError);
  const h = createHeapHandle(MIN_HEAP_BYTES, key);
  assert.throws(() => new SharedHeap(h, hashKeyFromSeed(1234n), 'x'), (e: unknown) => (e as SabStateError).code === 'ERR_LAYOUT_MISMATCH');
  assert.throws(() => new SharedHeap({ ...h, maxBytes: MIN_HEAP_BYTES * 2 }, key, 'x'), /size param/);
});

test('growth: the buffer grows on demand up to maxBytes; the views are extended', () => {
  const heap = heapOf(64 << 20, MIN_HEAP_BYTES);
  const before = heap.sab.byteLength;
  assert.is(before, MIN_HEAP_BYTES);
  const r = heap.alloc(5 << 20);
  assert.ok(heap.sab.byteLength >= r + (5 << 20));
  assert.is(heap.u8.length, heap.sab.byteLength, 'views cover the whole buffer after alloc');
  assert.is(heap.checkBlock(heap.sab.byteLength), -1, 'an offset past the buffer is refused');
  heap.u8[heap.payload(r) + (5 << 20) - 1] = 9;
  assert.is(heap.u8[heap.payload(r) + (5 << 20) - 1], 9);
  assert.ok(heap.stats().reservedBytes > before);
});

test('retire defers while a reader is pinned; collect frees after unpin', () => {
  const heap = heapOf(MIN_HEAP_BYTES * 2);
  const a = heap.alloc(64);
  const b = heap.alloc(64);
  heap.pin();
  heap.retire(a);
  assert.is(heap.stats().deferredBlocks, 1);
  assert.ok(heap.checkBlock(a) > 0, 'still allocated while pinned');
  assert.is(heap.collect(), 0, 'nothing freed while pinned');
  heap.unpin();
  assert.is(heap.stats().deferredBlocks, 0, 'the last unpin frees the deferred blocks');
  heap.pin();
  heap.retire(b);
  heap.unpin();
  const st = heap.stats();
  assert.is(st.deferredBlocks, 0);
  assert.is(st.inUseBytes, 0);
  assert.is(st.pinnedReads, 2);
});

test('growth is seen by other threads: a block written past the old length reads back in a worker', async () => {
  const h = createHeapHandle(32 << 20, key, MIN_HEAP_BYTES);
  const flag = new SharedArrayBuffer(16);
  const heap = new SharedHeap(h, key, 'test heap');
  // worker grows, main reads
  const grower = runWorkers<{ before: number; after: number }>(WORKER, [{ mode: 'grow', heap: h, seed, flag, bytes: 3 << 20 }], 30_000);
  const f = new Int32Array(flag);
  while (Atomics.load(f, 1) === 0) await new Promise((r) => setTimeout(r, 5));
  const ref = Atomics.load(f, 1);
  assert.ok(heap.u8.length < ref + (3 << 20), 'the block lies past this thread\'s views');
  assert.ok(heap.checkBlock(ref) >= 3 << 20, 'the buffer as this thread sees it covers the worker\'s block');
  assert.ok(heap.u8.length >= ref + (3 << 20), 'the views were extended');
  assert.is(heap.i32[heap.payload(ref) >> 2], 0x5a5a);
  Atomics.store(f, 3, 1);
  const [g] = await grower;
  assert.ok(g!.after > g!.before);
  // main grows, worker reads with views made before the growth. The worker reports its views'
  // length once it has attached, and only then does this thread grow: with a sleep here instead,
  // a worker that booted in under the sleep made its views before the growth and one that booted
  // later made them after it (then the test proved nothing).
  const flag2 = new SharedArrayBuffer(16);
  const f2 = new Int32Array(flag2);
  const reader = runWorkers<{ lenBefore: number; lenAfter: number; ok: boolean }>(WORKER, [{ mode: 'read', heap: h, seed, flag: flag2 }], 30_000);
  let readerFailed: unknown;
  reader.catch((e: unknown) => { readerFailed = e; });
  while (Atomics.load(f2, 0) === 0) {
    if (readerFailed !== undefined) throw readerFailed;
    await new Promise((r) => setTimeout(r, 2));
  }
  const attachedLen = Atomics.load(f2, 0);
  const big = heap.alloc(12 << 20);
  assert.ok(attachedLen < big + (12 << 20), 'the block lies past the worker\'s views');
  const p = heap.payload(big);
  heap.i32[p >> 2] = 0x5a5a;
  for (let k = 4; k < 12 << 20; k++) heap.u8[p + k] = (0x5a5a + k) & 0xff;
  Atomics.store(f2, 2, 12 << 20);
  Atomics.store(f2, 1, big);
  Atomics.notify(f2, 1);
  const [r] = await reader;
  assert.ok(r!.ok, 'worker read the block');
  assert.is(r!.lenBefore, attachedLen);
  assert.ok(r!.lenAfter >= big + (12 << 20), 'the worker\'s checkBlock extended its views');
});

test('recovery: a thread that died inside the write gate and pinned is released by releaseAllOwnedBy', async () => {
  const h = createHeapHandle(MIN_HEAP_BYTES * 2, key);
  const heap = new SharedHeap(h, key, 'test heap');
  const flag = new SharedArrayBuffer(16);
  const w = tsWorker(WORKER, { workerData: { mode: 'hold', heap: h, seed, flag } });
  const [{ threadId }] = (await once(w, 'message')) as [{ threadId: number }];
  await w.terminate();
  assert.is(heap.gate.stats().writesInFlight, 1);
  assert.is(heap.stats().pinnedReaders, 1);
  const a = heap.alloc(100);
  heap.retire(a);
  assert.is(heap.stats().deferredBlocks, 1, 'the dead reader\'s pin defers frees');
  assert.is(code(() => heap.gate.freeze(() => 0, 50)), 'ERR_LOCK_TIMEOUT');
  assert.is(heap.gate.releaseAllOwnedBy(threadId), 1);
  assert.is(heap.stats().pinnedReaders, 0);
  assert.is(heap.gate.freeze(() => 42, 1000), 42);
  heap.collect();
  assert.is(heap.stats().inUseBlocks, 0);
  // the gate itself keeps working: a write, a freeze, a write
  heap.gate.run(() => heap.free(heap.alloc(10)));
  assert.is(heap.gate.stats().writesInFlight, 0);
});

test('mpmc: threads allocate and free at once; no block is handed out twice; usage returns to 0', async () => {
  const workers = 4;
  const iterations = Math.round(20_000 * stressScale);
  const h = createHeapHandle(24 << 20, key, MIN_HEAP_BYTES);
  const flag = new SharedArrayBuffer(16);
  const datas = Array.from({ length: workers }, (_, id) => ({ mode: 'churn', heap: h, seed, flag, workers, iterations, live: 64, id }));
  const res = await runWorkers<{ bad: number; capacity: number }>(WORKER, datas, 60_000);
  for (const r of res) {
    assert.is(r.bad, 0, 'pattern intact');
    assert.is(r.capacity, 0);
  }
  const st = new SharedHeap(h, key, 'test heap').stats();
  assert.is(st.inUseBytes, 0);
  assert.is(st.inUseBlocks, 0);
});

test('sweep: a hole left by a bump whose thread died before its header write is carved into free blocks, not read as class-0 blocks', () => {
  const heap = heapOf(MIN_HEAP_BYTES * 4);
  // Three contiguous 48-byte blocks; the middle one plays a dead thread's bump: kTop was moved
  // past it, its class and stamp words never written (fresh memory is zero).
  const a = heap.alloc(40);
  const hole = heap.alloc(40);
  const b = heap.alloc(40);
  assert.is(hole, a + 48);
  assert.is(b, hole + 48);
  heap.u8.fill(0, hole, hole + 48);
  heap.u8.fill(0xb5, heap.payload(b), heap.payload(b) + 40);
  const reach = (mark: (ref: number, what: string) => void): void => {
    mark(a, 'a');
    mark(b, 'b');
  };
  const r = heap.gate.freeze(() => sweepHeap(heap, reach), 1000, true);
  assert.equal(r.violations, []);
  assert.equal(verifyHeap(heap, reach), [], 'sound after the sweep');
  assert.is(heap.stats().inUseBlocks, 2);
  assert.is(heap.alloc(40), hole, 'the hole is reused as one 48-byte block');
  assert.ok(heap.u8.subarray(heap.payload(b), heap.payload(b) + 40).every((x) => x === 0xb5), 'the block after the hole is untouched');
});

test.run();
