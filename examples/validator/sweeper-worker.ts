/**
 * The elimination sweeper: now and then eliminates one of the doomed miners (the validator's
 * drawdown check), atomically with the sync gate (`add(row, { ifEpoch })`), then closes the
 * miner's open positions with a FLAT order under each position's lock. Runs until told to stop.
 */
import { workerData, parentPort } from 'node:worker_threads';
import { attachEngine, SabStateError } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';
import type { Order, Position } from './shared.ts';
import { prng, tradePairIdOf, uuid } from './shared.ts';

interface Data {
  handle: EngineHandle;
  doomed: string[];
  stop: SharedArrayBuffer;
  everyMs: number;
  seed: number;
}
const d = workerData as Data;
const engine = attachEngine(d.handle);
const stop = new Int32Array(d.stop);
const rnd = prng(d.seed);
const closes = engine.general.counter('eliminated');
let eliminated = 0;
let closedPositions = 0;

for (const hotkey of d.doomed) {
  if (Atomics.wait(stop, 0, 0, d.everyMs) !== 'timed-out') break;
  for (;;) {
    const g = engine.general.syncGate.current();
    if (g.inProgress) {
      Atomics.wait(stop, 0, 0, 1);
      continue;
    }
    try {
      engine.eliminations.add(
        { hotkey, elimination_initiated_time_ms: Date.now(), dd: 0.1 + rnd() * 0.05, reason: 'MAX_TOTAL_DRAWDOWN', price_info: {}, return_info: { dd_stats: {} } },
        { ifEpoch: g.epoch },
      );
      break;
    } catch (e) {
      if (!(e instanceof SabStateError && e.code === 'ERR_STALE_EPOCH')) throw e;
    }
  }
  eliminated++;
  closes.add();
  for (const p of engine.positions.listForHotkey(hotkey, { open: true }) as Position[]) {
    const tp = tradePairIdOf(p);
    engine.locks.withLock(hotkey, tp, () => {
      const open = engine.positions.getOpen(hotkey, tp) as Position | undefined;
      if (!open) return;
      const flat: Order = { order_type: 'FLAT', leverage: 0, price: 1, processed_ms: Date.now(), order_uuid: uuid(rnd), price_sources: [] };
      engine.positions.save({ ...open, orders: [...open.orders, flat], net_leverage: 0, close_ms: flat.processed_ms, position_type: 'FLAT', is_closed_position: true });
      closedPositions++;
    });
  }
}
parentPort!.postMessage({ eliminated, closedPositions });
