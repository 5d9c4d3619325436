/**
 * An order worker: the validator's order path, for `orders` orders drawn from a seeded stream.
 *
 *   1. fail early: the miner is eliminated, or departed → rejected (no lock taken)
 *   2. read the sync gate's epoch; during a sync wait for it to end
 *   3. under the (hotkey, trade pair) lock: account size, the open position's head (getOpenHead:
 *      no earlier order is read), the new head, appendOrder(head, order, { ifEpoch }) (refused
 *      atomically if a sync began: retry the order),
 *      the websocket notice pushed onto the queue (waiting while it is full: nothing dropped)
 *   4. release, record the latency
 */
import { workerData, parentPort } from 'node:worker_threads';
import { attachEngine, SabStateError } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';
import { QUEUE, TRADE_PAIRS, nextHead, prng, uuid } from './shared.ts';
import type { Order, PositionHead } from './shared.ts';
import { BUCKETS, bucketOf } from './latency.ts';

interface Data {
  handle: EngineHandle;
  index: number;
  orders: number;
  seed: number;
  hotkeys: string[];
  templates: Order[];
  histograms: SharedArrayBuffer;
  maxOrders: number;
  start: SharedArrayBuffer;
}
const d = workerData as Data;
const engine = attachEngine(d.handle);
const rnd = prng(d.seed);
const hist = new Int32Array(d.histograms, d.index * BUCKETS * 4, BUCKETS);
const notices = engine.general.queue(QUEUE);
const accountSizes = engine.general.map('accountSizes');
const gate = engine.general.syncGate;
const c = {
  ordersIn: engine.general.counter('ordersIn'),
  saved: engine.general.counter('saved'),
  rejectedEliminated: engine.general.counter('rejectedEliminated'),
  rejectedDeparted: engine.general.counter('rejectedDeparted'),
  staleRetries: engine.general.counter('staleRetries'),
  queueFullWaits: engine.general.counter('queueFullWaits'),
};
const pause = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(pause, 0, 0, ms);

// Start line: say ready, wait for the go (so that startup is not timed as order processing).
const startLine = new Int32Array(d.start);
Atomics.add(startLine, 0, 1);
while (Atomics.load(startLine, 1) === 0) Atomics.wait(startLine, 1, 0, 100);

for (let n = 0; n < d.orders; n++) {
  const hotkey = d.hotkeys[Math.floor(rnd() * d.hotkeys.length)]!;
  const tp = TRADE_PAIRS[Math.floor(rnd() * TRADE_PAIRS.length)]!;
  const template = d.templates[Math.floor(rnd() * d.templates.length)]!;
  const r = rnd();
  const t0 = performance.now();
  c.ordersIn.add();
  if (engine.eliminations.has(hotkey)) {
    c.rejectedEliminated.add();
    continue;
  }
  if (engine.departed.has(hotkey)) {
    c.rejectedDeparted.add();
    continue;
  }
  for (;;) {
    const g = gate.current();
    if (g.inProgress) {
      sleep(1);
      continue;
    }
    try {
      engine.locks.withLock(hotkey, tp[0], () => {
        const accountSize = accountSizes.get(hotkey) as number | undefined;
        const got = engine.positions.getOpenHead(hotkey, tp[0]);
        const open = got?.position as PositionHead | undefined;
        const count = got?.orderCount ?? 0;
        let type = r < 0.45 ? 'LONG' : r < 0.9 ? 'SHORT' : 'FLAT';
        if (open === undefined && type === 'FLAT') type = 'LONG';
        if (open !== undefined && count >= d.maxOrders - 1) type = 'FLAT';
        const lev = type === 'FLAT' ? 0 : (type === 'LONG' ? 1 : -1) * Math.min(0.5, (accountSize ?? 100_000) / 1e6) * (0.1 + r);
        const order: Order = { ...template, order_type: type, leverage: lev, processed_ms: Date.now(), order_uuid: uuid(rnd) };
        const next = nextHead(open, hotkey, tp, order, uuid(rnd));
        engine.positions.appendOrder(next, order, { ifEpoch: g.epoch });
        const notice = { hotkey, trade_pair: tp[0], position_uuid: next.position_uuid, order_uuid: order.order_uuid, order_type: type, n_orders: count + 1, closed: next.is_closed_position };
        while (!notices.push(notice)) {
          c.queueFullWaits.add();
          sleep(0.2);
        }
      });
      c.saved.add();
      break;
    } catch (e) {
      if (e instanceof SabStateError && e.code === 'ERR_STALE_EPOCH') {
        c.staleRetries.add();
        continue;
      }
      throw e;
    }
  }
  hist[bucketOf((performance.now() - t0) * 1000)]!++;
}
parentPort!.postMessage('done');
