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
 * - mpmc: four workers churn mixed sizes on a heap kept near full, so merges, splits and exact
 *   fits race with pops and pushes; no block is handed out twice or cut while in use (each
 *   block's pattern is checked before it is freed), and the heap is sound and empty at the end.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crashPoints } from '../src/internal/crash.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { MIN_HEAP_BYTES, SharedHeap, createHeapHandle } from '../src/internal/store/heap.ts';
import { sweepHeap, verifyHeap } from '../src/internal/store/heap-sweep.ts';
import { killAtCrashPoint } from './helpers/crash.ts';
import { seed, stressScale } from './helpers/seed.ts';
import { bundledWorker, runWorkers } from './helpers/workers.ts';

const WORKER = new URL('./workers/heap-mixed-worker.ts', import.meta.url);
const key = hashKeyFromSeed(BigInt(seed >>> 0));

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
    const reachBig = (mark: (ref: number, what: string) => void): void => mark(big, 'big');
    assert.equal(heap.gate.freeze(() => verifyHeap(heap, reachBig), 10_000), [], `${name}: verify after a large block`);
  }
  console.log(`  heap crash points: ${points.length}, reached ${reached.length}; not here: ${points.filter((p) => !reached.includes(p)).join(", ")}`);
  assert.equal(points.filter((p) => !reached.includes(p) && /^heap\.(split|merge|fit|top|withhold)\./.test(p)), [], 'every split, merge, exact-fit and withhold point is reached');
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
