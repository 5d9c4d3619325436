// The quick start's order step in strict TypeScript: what a TypeScript project that depends on
// sabstate writes. test/quickstart.test.ts type-checks it against the packed package with
// `strict` and `skipLibCheck: false` (so the published declarations are checked too), then runs
// it. Run it yourself: tsc -p . && node consumer.js
import { createEngine, SabStateError } from 'sabstate';
import type { Engine, EngineHandle, Position, Queue } from 'sabstate';

interface Order {
  order_uuid: string;
  order_type: 'LONG' | 'SHORT' | 'FLAT';
  leverage: number;
  processed_ms: number;
}

/** One order under the (hotkey, trade pair) lock; false when a sync refused the save (retry). */
function placeOrder(engine: Engine, notices: Queue, hotkey: string, tradePair: string, order: Order): boolean {
  const { epoch } = engine.general.syncGate.current();
  try {
    engine.locks.withLock(hotkey, tradePair, () => {
      const open: Position | undefined = engine.positions.getOpen(hotkey, tradePair);
      const position: Position = open ?? {
        miner_hotkey: hotkey, position_uuid: `${hotkey}-${tradePair}-${order.order_uuid}`,
        trade_pair: tradePair, orders: [], is_closed_position: false,
      };
      engine.positions.save({ ...position, orders: [...position.orders, order] }, { ifEpoch: epoch });
      if (!notices.push({ hotkey, order: order.order_uuid })) throw new Error('notice queue full');
    });
    return true;
  } catch (e) {
    if (e instanceof SabStateError && e.code === 'ERR_STALE_EPOCH') return false;
    throw e;
  }
}

const engine = createEngine({ general: { queues: { notices: { capacity: 16, maxMessageBytes: 256 } } } });
const handle: EngineHandle = engine.handle(); // what a Worker gets as workerData
const notices = engine.general.queue('notices');
const order = (n: number): Order => ({ order_uuid: `o${n}`, order_type: 'LONG', leverage: 0.1, processed_ms: Date.now() });

const first = placeOrder(engine, notices, '5Alice', 'BTCUSD', order(1));
engine.general.syncGate.begin(); // a sync begins after the next order read its epoch: refused
const { epoch } = engine.general.syncGate.current();
let refused = false;
try {
  engine.locks.withLock('5Alice', 'BTCUSD', () => {
    const open = engine.positions.getOpen('5Alice', 'BTCUSD');
    if (open) engine.positions.save({ ...open, orders: [...open.orders, order(2)] }, { ifEpoch: epoch - 1 });
  });
} catch (e) {
  refused = e instanceof SabStateError && e.code === 'ERR_STALE_EPOCH';
}
engine.general.syncGate.end();
const second = placeOrder(engine, notices, '5Alice', 'BTCUSD', order(3));
const stored = engine.positions.getOpen('5Alice', 'BTCUSD')?.orders.length ?? 0;
console.log(`typescript: placed ${first} ${second}, stale save refused ${refused}, orders stored ${stored}, notices ${notices.size}, handle ${handle.kind}`);
engine.close();
