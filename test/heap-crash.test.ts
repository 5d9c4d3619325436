/**
 * The heap's split, merge and exact-fit steps (src/internal/store/heap.ts, issue 11) under crashes
 * and under contention, with real worker threads:
 * - crash points: for every crash point of the heap, a worker running splits, merges and exact
 *   fits on a small heap (test/workers/heap-mixed-worker.ts) is stopped at the point's second
 *   pass and terminated there; its gate slot is released; the sweep runs under the freeze; then
 *   verify finds nothing, everything the worker published frees back to zero, and one block of
 *   half the carved bytes is served (what the dead thread held was not lost).
 *   test/crash-points.test.ts names this suite for the heap.split / heap.merge / heap.fit / heap.top /
 *   heap.withhold points.
 * - held: a top compaction's allocations from its withheld window blocks (heap.held, #takeHeld:
 *   a block taken, cut, its tail kept held), killed at each of their points (alloc.claimed,
 *   split.cut, split.listed, alloc.stamped), then the same checks; and without a crash, the
 *   blocks handed out lowest first, below heldBelow, the tails held.
 * - mpmc: four workers churn mixed sizes on a heap kept near full, so merges, splits and exact
 *   fits race with pops and pushes; no block is handed out twice or cut while in use (each
 *   block's pattern is checked before it is freed), and the heap is sound and empty at the end.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SabStateError } from '../src/errors.ts';
import { crashPoints } from '../src/internal/crash.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { MIN_HEAP_BYTES, SharedHeap, createHeapHandle } from '../src/internal/store/heap.ts';
import { sweepHeap, verifyHeap } from '../src/internal/store/heap-sweep.ts';
import { killAtCrashPoint } from './helpers/crash.ts';
import { seed, stressScale } from './helpers/seed.ts';
import { bundledWorker, runWorkers } from './helpers/workers.ts';

const WORKER = new URL('./workers/heap-mixed-worker.ts', import.meta.url);
const key = hashKeyFromSeed(BigInt(seed >>> 0));

/**
 * After a worker on `heap` was killed at crash point `name` (its published blocks in `slots`):
 * its gate slot released, the sweep under the freeze, verify clean, every published block freed
 * (nothing left in use), and a block of half the carved bytes served (nothing the dead thread
 * held was lost).
 */
function sweptSound(heap: SharedHeap, slots: SharedArrayBuffer, threadId: number, name: string): void {
  heap.gate.releaseAllOwnedBy(threadId);
  const s = new Int32Array(slots);
  const reach = (mark: (ref: number, what: string) => void): void => {
    for (let i = 0; i < s.length; i++) if (s[i] !== 0) mark(s[i]!, `slot ${i}`);
  };
  const r = heap.gate.freeze(() => sweepHeap(heap, reach), 10_000, true);
  assert.equal(r.violations, [], `${name}: sweep`);
  assert.equal(heap.gate.freeze(() => verifyHeap(heap, reach), 10_000), [], `${name}: verify after the sweep`);
  heap.gate.run(() => {
    for (let i = 0; i < s.length; i++) if (s[i] !== 0) heap.free(s[i]!);
  });
  s.fill(0);
  const st = heap.stats();
  assert.is(st.inUseBytes, 0, `${name}: nothing in use once the published blocks are freed`);
  const big = heap.gate.run(() => heap.alloc(Math.floor(st.carvedBytes / 2)));
  assert.equal(heap.gate.freeze(() => verifyHeap(heap, (mark) => mark(big, 'big')), 10_000), [], `${name}: verify after a large block`);
}

test('every heap crash point: killed there, swept, the heap is sound and loses nothing', async () => {
  const points = [...crashPoints().entries()].filter(([, m]) => m === 'heap').map(([n]) => n).sort();
  assert.ok(points.length >= 13, `${points.length} heap crash points`);
  const reached: string[] = [];
  for (const name of points) {
    const h = createHeapHandle(MIN_HEAP_BYTES * 3, key, MIN_HEAP_BYTES);
    const heap = new SharedHeap(h, key, 'test heap');
    const slots = new SharedArrayBuffer(4 * 8192);
    const w = bundledWorker(WORKER, { workerData: { mode: 'crash', heap: h, seed, slots, crashAt: { name, skip: 1 }, rounds: 3 } });
    const threadId = w.threadId;
    const hit = await killAtCrashPoint(w, 60_000);
    if (hit) reached.push(name);
    sweptSound(heap, slots, threadId, name);
  }
  console.log(`  heap crash points: ${points.length}, reached ${reached.length}; not here: ${points.filter((p) => !reached.includes(p)).join(", ")}`);
  assert.equal(points.filter((p) => !reached.includes(p) && /^heap\.(split|merge|fit|top|withhold)\./.test(p)), [], 'every split, merge, exact-fit and withhold point is reached');
});

test('allocations from a top compaction\'s held blocks (heap.held): killed at each of their points, swept, sound, nothing lost', async () => {
  // #takeHeld takes a withheld block (free, on no list) and alloc splits it, its tail kept held
  // (on no list): a thread that dies there leaves free blocks on no list and, after the stamp,
  // an allocated block nothing refers to. The sweep lists the first and frees the second.
  for (const name of ['heap.alloc.claimed', 'heap.split.cut', 'heap.split.listed', 'heap.alloc.stamped']) {
    const h = createHeapHandle(MIN_HEAP_BYTES * 3, key, MIN_HEAP_BYTES);
    const heap = new SharedHeap(h, key, 'test heap');
    const slots = new SharedArrayBuffer(4 * 8192);
    const w = bundledWorker(WORKER, { workerData: { mode: 'held', heap: h, seed, slots, crashAt: { name, skip: 2 } } });
    const threadId = w.threadId;
    assert.ok(await killAtCrashPoint(w, 60_000), `${name}: reached in an allocation from the held blocks`);
    sweptSound(heap, slots, threadId, name);
  }
});

test('held: without a crash, every allocation comes from the held blocks, lowest first, below heldBelow; the tails stay held', () => {
  const heap = new SharedHeap(createHeapHandle(MIN_HEAP_BYTES * 4, key), key, 'test heap');
  const refs = Array.from({ length: 40 }, () => heap.alloc(40));
  const mid = refs[20]!;
  // Runs of three 48-byte blocks freed above the middle, merged into 144-byte blocks.
  for (let j = 20; j + 2 < 40; j += 4) for (let q = 0; q < 3; q++) heap.free(refs[j + q]!);
  heap.consolidate();
  const free = heap.stats().freeBytes;
  const held = heap.withhold(mid).sort((x, y) => x - y);
  assert.is(held.length, 5);
  heap.bound = mid;
  heap.held = held;
  heap.heldBelow = refs[33]!; // below the fourth run's end: the fourth run's first block fits, its tail does not
  const got: number[] = [];
  try {
    for (;;) {
      heap.fromHeld = false;
      try {
        got.push(heap.alloc(40));
      } catch (e) {
        if ((e as SabStateError).code !== 'ERR_CAPACITY') throw e;
        break;
      }
      assert.ok(heap.fromHeld);
    }
  } finally {
    heap.bound = 0;
    heap.held = null;
  }
  // Runs start at refs[20], [24], [28], [32]: three blocks each below refs[33] but the fourth's (one).
  assert.equal(got, [refs[20], refs[21], refs[22], refs[24], refs[25], refs[26], refs[28], refs[29], refs[30], refs[32]]);
  assert.equal(held, [refs[33], refs[36]], 'the fourth run\'s tail and the fifth run stay held');
  for (const r of got) heap.free(r);
  heap.restore(held);
  assert.equal(verifyHeap(heap, (mark) => refs.forEach((r, k) => (k < 20 || (k - 20) % 4 === 3) && mark(r!, 'kept'))), []);
  assert.is(heap.stats().freeBytes, free, 'the free bytes as before');
});

test('mpmc: four workers churn mixed sizes on a nearly full heap; no block shared or cut; sound and empty at the end', async () => {
  const workers = 4;
  const iterations = Math.round(40_000 * stressScale);
  const h = createHeapHandle(2 << 20, key, MIN_HEAP_BYTES);
  const slots = new SharedArrayBuffer(4 * 4 * 256);
  const flag = new SharedArrayBuffer(16);
  const datas = Array.from({ length: workers }, (_, id) => ({ mode: 'churn', heap: h, seed, slots, flag, workers, iterations, id }));
  const res = await runWorkers<{ bad: number; capacity: number; allocs: number }>(WORKER, datas, 180_000);
  for (const r of res) assert.is(r.bad, 0, 'every block kept its pattern');
  const heap = new SharedHeap(h, key, 'test heap');
  const st = heap.stats();
  console.log(`  mpmc: ${res.map((r) => r.allocs).join(' + ')} allocations, ${res.map((r) => r.capacity).join(' + ')} full, merges ${st.merges}, splits ${st.splits}`);
  assert.ok(st.merges > 0 && st.splits > 0, 'merges and splits ran');
  assert.is(st.inUseBytes, 0);
  assert.is(st.inUseBlocks, 0);
  assert.equal(heap.gate.freeze(() => verifyHeap(heap, () => {}), 10_000), []);
});

test.run();
