/**
 * The websocket consumer: drains the notice queue (the validator forwards each notice to its
 * websocket clients) until the main thread says the orders are done and the queue is empty.
 * It checks that notices of one (hotkey, trade pair) arrive in order: the order count of a
 * position only grows until the position closes.
 */
import { workerData, parentPort } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';
import { QUEUE } from './shared.ts';

interface Data {
  handle: EngineHandle;
  done: SharedArrayBuffer;
}
interface Notice {
  hotkey: string;
  trade_pair: string;
  position_uuid: string;
  n_orders: number;
  closed: boolean;
}
const d = workerData as Data;
const engine = attachEngine(d.handle);
const q = engine.general.queue(QUEUE);
const popped = engine.general.counter('noticesPopped');
const done = new Int32Array(d.done);
const last = new Map<string, { uuid: string; n: number }>();
let outOfOrder = 0;
let n = 0;
// Drain, then nap 1 ms without registering as a waiter on the queue: producers then never pay an
// Atomics.notify and this thread is not woken once per notice (a millisecond is nothing to a
// websocket client). pop({ timeoutMs }) is for a consumer that needs each message at once.
const nap = new Int32Array(new SharedArrayBuffer(4));
for (;;) {
  const m = q.pop() as Notice | undefined;
  if (m === undefined) {
    if (Atomics.load(done, 0) === 1 && q.size === 0) break;
    Atomics.wait(nap, 0, 0, 1);
    continue;
  }
  n++;
  popped.add();
  const k = `${m.hotkey}/${m.trade_pair}`;
  const prev = last.get(k);
  if (prev && prev.uuid === m.position_uuid && m.n_orders <= prev.n) outOfOrder++;
  last.set(k, { uuid: m.position_uuid, n: m.n_orders });
}
parentPort!.postMessage({ notices: n, outOfOrder });
