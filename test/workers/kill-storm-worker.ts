// Worker for test/kill-storm.test.ts: runs the crash-points workload (crash-engine-worker.ts) in
// a loop and, each round, pushes one numbered message onto the 'storm' queue, recording the last
// number whose push returned true in acked[id] (so the test can check that every acknowledged
// push is delivered exactly once). Mode 'exit' calls process.exit() inside a lock at round
// `at`; mode 'throw' throws inside withLock at round `at` (the worker dies of it); mode 'run'
// goes on until it is terminated.
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';
import { SharedHeap } from '../../src/internal/store/heap.ts';
import { workload } from './crash-engine-worker.ts';

interface StormData {
  handle: EngineHandle;
  id: number;
  acked: SharedArrayBuffer;
  mode: 'run' | 'exit' | 'throw';
  at: number;
  start: number;
}
const d = workerData as StormData;
const e = attachEngine(d.handle);
const heap = new SharedHeap(d.handle.positions.heap, { k0: d.handle.seed[0], k1: d.handle.seed[1] }, 'positions');
const acked = new Int32Array(d.acked);
const q = e.general.queue('storm');
parentPort!.postMessage({ ready: true });
let seq = Atomics.load(acked, d.id);
for (let r = d.start; ; r++) {
  if (r - d.start === d.at && d.mode !== 'run') {
    e.locks.withLock('5Crash0', 'BTCUSD', () => {
      if (d.mode === 'exit') process.exit(0);
      throw new Error('storm: thrown inside withLock');
    });
  }
  workload(e, heap, r, d.id * 1_000_000 + d.start);
  if (q.push({ w: d.id, seq: seq + 1 })) Atomics.store(acked, d.id, ++seq);
}
