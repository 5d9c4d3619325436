// Worker for test/crash-points.test.ts: attaches the engine, installs the crash-point hook
// (test/helpers/crash.ts), then runs the `workload` rounds below, which pass through every crash
// point of the positions, table, heap and write-gate protocols (and the single-thread paths of
// the others). Posts { done: true } if it finishes without reaching its point.
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle, Position } from '../../src/index.ts';
import { SharedHeap } from '../../src/internal/store/heap.ts';
import { type CrashAt, stopAtCrashPoint } from '../helpers/crash.ts';

export interface CrashWorkerData {
  handle: EngineHandle;
  crashAt?: CrashAt;
  rounds: number;
  /** Distinguishes the uuids of successive workers. */
  run: number;
  /** Install the crash hook before attaching (the points of attachEngine itself). */
  hookBeforeAttach?: boolean;
}

export const TP = 'BTCUSD';
export const hotkeyOf = (r: number): string => `5Crash${r % 2}`;

function order(r: number, k: number): Record<string, unknown> {
  return { order_uuid: `o-${r}-${k}`, price: 100 + k, leverage: 0.1 * (k + 1), processed_ms: 1_700_000_000_000 + r };
}

/** One round of every operation; `e` the attached engine, `heap` the positions heap (for a pin). */
export function workload(e: ReturnType<typeof attachEngine>, heap: SharedHeap, r: number, run: number): void {
  e.departed.mark(`5Dep${r % 3}`, 1_700_000_000_000 + r);
  if (r % 3 === 2) e.departed.delete(`5Dep${(r + 1) % 3}`);
  const m = e.general.map('accountSizes');
  m.set(`5Acc${r % 3}`, { account_size: r });
  if (r % 4 === 3) m.delete(`5Acc${(r + 2) % 3}`);
  const hk = hotkeyOf(r);
  const { epoch } = e.general.syncGate.current();
  e.locks.withLock(hk, TP, () => {
    const open = e.positions.getOpen(hk, TP);
    let next: Position;
    if (open === undefined) {
      next = { miner_hotkey: hk, position_uuid: `u-${run}-${r}`, trade_pair: TP, orders: [order(r, 0)], is_closed_position: false };
    } else if (open.orders.length < 3) {
      next = { ...open, orders: [...open.orders, order(r, open.orders.length)] };
    } else {
      next = { ...open, is_closed_position: true };
    }
    try {
      e.positions.save(next, { ifEpoch: epoch });
    } catch (err) {
      // Another thread of a kill storm began a sync since current(): refused, nothing written.
      if ((err as { code?: string }).code !== 'ERR_STALE_EPOCH') throw err;
    }
  });
  // The order step (getOpenHead / appendOrder) on its own miners; their positions are deleted
  // once closed, so a miner's last deletion trims its index (positions.index.trimmed).
  const ak = `5App${r % 2}`;
  e.locks.withLock(ak, TP, () => {
    const got = e.positions.getOpenHead(ak, TP, { lastOrder: true });
    const head = got?.position ?? { miner_hotkey: ak, position_uuid: `a-${run}-${r}`, trade_pair: TP, orders: null, is_closed_position: false };
    const n = got?.orderCount ?? 0;
    try {
      e.positions.appendOrder({ ...head, is_closed_position: n >= 3, net: n }, order(r, n), { ifEpoch: epoch });
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_STALE_EPOCH') throw err;
    }
  });
  // Compaction's move of one position (positions/compact.ts): copy, publish, retire.
  const moving = e.positions.getOpenHead(ak, TP);
  if (moving !== undefined) e.positions.relocate(ak, moving.position.position_uuid);
  // The top compaction (flag, merge, moves below the window, give-back), whatever its trigger says.
  e.positions.compactTop();
  if (r % 4 === 3) for (const p of e.positions.listForHotkey(ak, { open: false })) e.positions.delete(ak, p.position_uuid);
  if (r % 4 === 1) {
    const closed = e.positions.listForHotkey(hk, { open: false });
    if (closed.length > 0) e.positions.delete(hk, closed[0]!.position_uuid);
  }
  // A pinned reader while a save retires: the retire defers, the unpin collects.
  if (r % 5 === 4) {
    heap.pin();
    e.locks.withLock(hk, TP, () => {
      const open = e.positions.getOpen(hk, TP);
      if (open !== undefined) e.positions.save({ ...open, orders: [...open.orders, order(r, 9)] });
    });
    heap.unpin();
  }
  e.eliminations.add({ hotkey: `5El${r % 2}`, elimination_initiated_time_ms: r, dd: 0.1, reason: 'ZOMBIE' });
  e.eliminations.take(`5El${(r + 1) % 2}`);
  if (r % 6 === 5) e.eliminations.replaceAll([{ hotkey: '5ElAll', elimination_initiated_time_ms: r, dd: 0.2, reason: 'LIQUIDATED' }]);
  if (r % 3 === 1) e.eliminations.delete(`5El${r % 2}`);
  try {
    e.eliminations.add({ hotkey: '5ElStale', elimination_initiated_time_ms: r, dd: 0.1, reason: 'ZOMBIE' }, { ifEpoch: epoch + 1000 });
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_STALE_EPOCH') throw err;
  }
  const q = e.general.queue('notices');
  q.push({ r });
  q.pop();
  if (r % 5 === 2) {
    while (q.push({ r, fill: true }));
    while (q.pop() !== undefined);
    q.pop({ timeoutMs: 1 });
  }
  if (r % 7 === 6) {
    e.general.syncGate.begin();
    e.general.syncGate.end();
  }
  if (r % 8 === 7) e.departed.consistentEntries();
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'rounds' in (workerData as object)) {
  const d = workerData as CrashWorkerData;
  if (d.hookBeforeAttach === true) stopAtCrashPoint(d.crashAt);
  const e = attachEngine(d.handle);
  const key = { k0: d.handle.seed[0], k1: d.handle.seed[1] };
  const heap = new SharedHeap(d.handle.positions.heap, key, 'positions');
  if (d.hookBeforeAttach !== true) stopAtCrashPoint(d.crashAt);
  for (let r = 0; r < d.rounds; r++) workload(e, heap, r, d.run);
  parentPort.postMessage({ done: true });
}
