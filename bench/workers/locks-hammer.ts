// Bench worker: hammer a lock for `ms` milliseconds after a start barrier, count acquisitions.
// kind 'sabstate': engine.locks.withLock(hk, tp); kind 'peer': multithreading's Mutex on a shared
// lock word (blockingLock + dispose). The critical section increments a plain shared cell.
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';

(globalThis as { navigator?: unknown }).navigator ??= { hardwareConcurrency: 2 };
const { Mutex } = await import('multithreading');

interface Data {
  kind: 'sabstate' | 'peer';
  handle: EngineHandle;
  key: [string, string];
  peerLock: SharedArrayBuffer;
  cell: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  parties: number;
  ms: number;
}
const d = workerData as Data;
const cell = new Int32Array(d.cell);
const barrier = new Int32Array(d.barrier);
Atomics.add(barrier, 0, 1);
while (Atomics.load(barrier, 0) < d.parties) Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 1);

let n = 0;
const end = performance.now() + d.ms;
if (d.kind === 'sabstate') {
  const engine = attachEngine(d.handle);
  const [hk, tp] = d.key;
  const body = (): void => {
    cell[0] = cell[0]! + 1;
  };
  while (performance.now() < end) {
    for (let k = 0; k < 256; k++) engine.locks.withLock(hk, tp, body);
    n += 256;
  }
} else {
  const m = new Mutex(undefined, d.peerLock);
  while (performance.now() < end) {
    for (let k = 0; k < 256; k++) {
      const g = m.blockingLock();
      cell[0] = cell[0]! + 1;
      g.dispose();
    }
    n += 256;
  }
}
parentPort!.postMessage(n);
