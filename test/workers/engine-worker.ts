// Worker for test/engine.test.ts and test/snapshot.test.ts. Attaches with attachEngine(workerData.handle).
// Modes:
// - 'all': writes to every domain (lock acquisitions, positions under withLock, an elimination row, a
//   departed hotkey, queue messages, a counter, a map entry), then holds the lock (hk, 'HELD') with a
//   guard, sets flag[0] = 1 and waits for flag[1] = 1 before releasing it; posts what it did.
// - 'hold': takes the locks of `keys` (withLocks), sets flag[0] = 1, then waits forever (to be
//   terminated: engine.watch recovery), or `holdMs` and then releases them.
// - 'saver': saves versions of its own positions under withLock until flag[1] = 1 (the snapshot
//   consistency test); version v of a position has `ver: v`, (v % 7) + 1 orders each with `ver: v`.
//   Posts how many saves it made.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { Position } from '../../src/index.ts';
import { type AllData, type AllResult, type HoldData, type SaverData, saverPosition } from './engine-fixture.ts';

const tpOf = (p: Position): string => (typeof p.trade_pair === 'string' ? p.trade_pair : String((p.trade_pair as unknown[])[0]));

const d = workerData as AllData | HoldData | SaverData;
const engine = attachEngine(d.handle);
const flag = new Int32Array(d.flag);

if (d.mode === 'all') {
  for (let i = 0; i < d.lockRounds; i++) engine.locks.withLock(d.hk, `TP${i % 4}`, () => i);
  for (const text of d.positions) {
    const p = JSON.parse(text) as Position;
    engine.locks.withLock(p.miner_hotkey, tpOf(p), () => engine.positions.save(p));
  }
  engine.eliminations.add({ hotkey: d.hk, elimination_initiated_time_ms: 1_733_000_000_000, dd: 0.11, reason: 'MAX_TOTAL_DRAWDOWN' });
  engine.departed.mark(d.hk, 1_746_396_435_687);
  const q = engine.general.queue(d.queue);
  for (let i = 0; i < d.messages; i++) if (!q.push({ from: threadId, i })) throw new Error('queue full');
  engine.general.counter(d.counter).add(5);
  engine.general.map(d.map).set(d.hk, { account_size: 25_000, threadId });
  const guard = engine.locks.acquire(d.hk, 'HELD');
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  while (Atomics.load(flag, 1) === 0) Atomics.wait(flag, 1, 0, 1000);
  guard.release();
  parentPort!.postMessage({ threadId, saves: engine.stats().positions.operations.saves } satisfies AllResult);
} else if (d.mode === 'hold') {
  engine.locks.withLocks(d.keys, () => {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const until = d.holdMs === undefined ? Infinity : Date.now() + d.holdMs;
    while (Date.now() < until) Atomics.wait(flag, 2, 0, Math.min(1000, until - Date.now()));
  });
  parentPort!.postMessage('released');
} else {
  let saves = 0;
  for (let ver = 1; Atomics.load(flag, 1) === 0; ver++) {
    for (const tp of d.tradePairs) {
      engine.locks.withLock(d.hk, tp, () => engine.positions.save(saverPosition(d.hk, tp, ver)));
      saves++;
    }
    if (ver === 1) Atomics.add(flag, 0, 1);
  }
  parentPort!.postMessage(saves);
}
