// sabstate quick start: two worker threads run the validator's order path on one engine.
// Run it from a project that has sabstate installed: node quickstart.mjs
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { attachEngine, createEngine, SabStateError } from 'sabstate';

const HOTKEYS = ['5Alice', '5Bob', '5Carol', '5Dave'];
const ORDERS_PER_WORKER = 500;

if (isMainThread) {
  // Queues, counters and maps are declared when the engine is created.
  const engine = createEngine({
    general: { queues: { notices: { capacity: 8, maxMessageBytes: 512 } }, counters: ['rejected', 'retries', 'fullWaits'], maps: ['accountSizes'] },
  });
  for (const hk of HOTKEYS) engine.general.map('accountSizes').set(hk, 100_000);
  engine.departed.mark('5Dave', Date.now()); // orders of departed miners are rejected

  // The worker is this same file; engine.handle() is structured-clonable.
  const workers = [0, 1].map((id) => new Worker(new URL(import.meta.url), { workerData: { handle: engine.handle(), id } }));
  for (const w of workers) engine.watch(w); // if it dies, its locks are released and its writes repaired
  let running = workers.length;
  for (const w of workers) w.once('exit', () => running--);

  // Meanwhile: syncs through the sync gate (saves that read an older epoch are refused) and the
  // websocket consumer, draining the notice queue on the event loop (popAsync never blocks it).
  const notices = engine.general.queue('notices');
  let popped = 0;
  let syncs = 0;
  while (running > 0 || notices.size > 0) {
    if (popped % 100 === 50) {
      engine.general.syncGate.begin();
      syncs++;
      engine.general.syncGate.end();
    }
    if ((await notices.popAsync({ timeoutMs: 50 })) !== undefined) popped++;
  }

  let stored = 0;
  for (const hk of engine.positions.hotkeys()) for (const p of engine.positions.listForHotkey(hk)) stored += p.orders.length;
  const [rejected, retries, fullWaits] = ['rejected', 'retries', 'fullWaits'].map((c) => engine.general.counter(c).get());
  console.log(`orders stored ${stored}, rejected ${rejected} (departed), notices popped ${popped}, syncs ${syncs}`);
  console.log(`saves refused by a sync and retried ${retries}, waits on a full queue ${fullWaits}`);
  console.log(stored + rejected === 2 * ORDERS_PER_WORKER && popped === stored ? 'no order lost' : 'ORDERS LOST');
  engine.close();
} else {
  const engine = attachEngine(workerData.handle);
  const gate = engine.general.syncGate;
  const notices = engine.general.queue('notices');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const sleep = (ms) => Atomics.wait(pause, 0, 0, ms); // a worker thread may block

  for (let n = 0; n < ORDERS_PER_WORKER; n++) {
    const hotkey = HOTKEYS[n % HOTKEYS.length];
    const tradePair = n % 2 === 0 ? 'BTCUSD' : 'ETHUSD';
    if (engine.eliminations.has(hotkey) || engine.departed.has(hotkey)) { // lock-free reads
      engine.general.counter('rejected').add();
      continue;
    }
    for (;;) {
      const { epoch, inProgress } = gate.current();
      if (inProgress) { sleep(1); continue; } // a sync is running: wait for it to end
      try {
        engine.locks.withLock(hotkey, tradePair, () => {
          const open = engine.positions.getOpen(hotkey, tradePair);
          const order = { order_uuid: `${workerData.id}-${n}`, order_type: 'LONG', leverage: 0.1, processed_ms: Date.now() };
          const position = open ?? {
            // The fields the engine needs; any others are kept as they are.
            miner_hotkey: hotkey, position_uuid: `${hotkey}-${tradePair}-${workerData.id}-${n}`,
            trade_pair: tradePair, orders: [], is_closed_position: false,
          };
          // Refused with ERR_STALE_EPOCH if a sync began after we read the epoch.
          engine.positions.save({ ...position, orders: [...position.orders, order] }, { ifEpoch: epoch });
          // push() is false while the queue is full: back off and try again, drop nothing.
          while (!notices.push({ hotkey, tradePair, order: order.order_uuid })) {
            engine.general.counter('fullWaits').add();
            sleep(1);
          }
        });
        break;
      } catch (e) {
        if (e instanceof SabStateError && e.code === 'ERR_STALE_EPOCH') {
          engine.general.counter('retries').add(); // nothing was saved: read again and retry
          continue;
        }
        throw e;
      }
    }
  }
  parentPort.postMessage('done');
}
