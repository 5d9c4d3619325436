// Worker for test/locks.test.ts. Modes:
// - 'increment': after a start barrier (flag[0] reaches `ms` workers), `iterations` times, pick a key (seeded PRNG) and do cells[k] = cells[k] + 1
//   with PLAIN reads and writes under withLock (a lost update shows up in the final sum).
// - 'pairs': withLocks over two keys in the given order, many times (deadlock check).
// - 'hold': take a key, signal on flag[0], then spin forever (to be terminated: recovery test).
// - 'holdUntil': take a key, signal on flag[0], hold until flag[1] becomes non-zero, release.
// - 'model': answer tryAcquire/release/isHeld requests over the parent port (fc model run).
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle, LockGuard } from '../../src/index.ts';
import { prng } from '../helpers/seed.ts';

interface Data {
  mode: 'increment' | 'pairs' | 'hold' | 'holdUntil' | 'model';
  handle: EngineHandle;
  cells?: SharedArrayBuffer;
  flag?: SharedArrayBuffer;
  keys?: [string, string][];
  iterations?: number;
  seed?: number;
  ms?: number;
}

const d = workerData as Data;
const engine = attachEngine(d.handle);

if (d.mode === 'increment') {
  const cells = new Int32Array(d.cells!);
  const keys = d.keys!;
  const rnd = prng(d.seed!);
  // Start barrier: every worker begins together, so the keys are really contended.
  const flag = new Int32Array(d.flag!);
  Atomics.add(flag, 0, 1);
  while (Atomics.load(flag, 0) < d.ms!) Atomics.wait(flag, 0, Atomics.load(flag, 0), 1);
  for (let n = 0; n < d.iterations!; n++) {
    const k = Math.floor(rnd() * keys.length);
    const [hk, tp] = keys[k]!;
    engine.locks.withLock(hk, tp, () => {
      const v = cells[k]!;
      // A few plain reads in between widen the window a lost update would need.
      if ((n & 63) === 0) for (let s = 0; s < 50; s++) cells[keys.length] = cells[keys.length]! ^ s;
      cells[k] = v + 1;
    });
  }
  parentPort!.postMessage('done');
} else if (d.mode === 'pairs') {
  const cells = new Int32Array(d.cells!);
  for (let n = 0; n < d.iterations!; n++) {
    engine.locks.withLocks(d.keys!, () => {
      cells[0] = cells[0]! + 1;
    }, { timeoutMs: 20_000 });
  }
  parentPort!.postMessage('done');
} else if (d.mode === 'hold' || d.mode === 'holdUntil') {
  const flag = new Int32Array(d.flag!);
  const [hk, tp] = d.keys![0]!;
  engine.locks.withLock(hk, tp, () => {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    if (d.mode === 'hold') for (;;) Atomics.wait(flag, 1, 0, 1000);
    while (Atomics.load(flag, 1) === 0) Atomics.wait(flag, 1, 0, 1000);
  });
  parentPort!.postMessage('done');
} else if (d.mode === 'model') {
  const guards = new Map<string, LockGuard[]>();
  parentPort!.on('message', (m: { op: string; hk: string; tp: string }) => {
    const k = `${m.hk}\u0000${m.tp}`;
    if (m.op === 'tryAcquire') {
      const g = engine.locks.tryAcquire(m.hk, m.tp);
      if (g) guards.set(k, [...(guards.get(k) ?? []), g]);
      parentPort!.postMessage(g !== null);
    } else if (m.op === 'release') {
      const g = guards.get(k)!.pop()!;
      g.release();
      parentPort!.postMessage(true);
    } else if (m.op === 'isHeld') {
      parentPort!.postMessage([engine.locks.isHeld(m.hk, m.tp), engine.locks.isHeldByCurrentThread(m.hk, m.tp)]);
    } else if (m.op === 'releaseAll') {
      for (const gs of guards.values()) while (gs.length) gs.pop()!.release();
      parentPort!.postMessage(true);
    }
  });
}
