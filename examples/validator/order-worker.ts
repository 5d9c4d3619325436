/**
 * An order worker: the validator's order path (order-path.ts, the one copy the benchmark runs
 * too), for `orders` orders drawn from a seeded stream, each counted and its latency recorded.
 */
import { workerData, parentPort } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';
import { prng } from './shared.ts';
import type { Order } from './shared.ts';
import { BUCKETS, bucketOf } from './latency.ts';
import { OrderPath, pick } from './order-path.ts';

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
const c = {
  ordersIn: engine.general.counter('ordersIn'),
  saved: engine.general.counter('saved'),
  rejectedEliminated: engine.general.counter('rejectedEliminated'),
  rejectedDeparted: engine.general.counter('rejectedDeparted'),
  staleRetries: engine.general.counter('staleRetries'),
  queueFullWaits: engine.general.counter('queueFullWaits'),
};
const pause = new Int32Array(new SharedArrayBuffer(4));
const path = new OrderPath(engine, {
  maxOrders: d.maxOrders,
  rnd,
  onStale: () => c.staleRetries.add(),
  onFull: () => {
    c.queueFullWaits.add();
    Atomics.wait(pause, 0, 0, 0.2);
  },
});

// Start line: say ready, wait for the go (so that startup is not timed as order processing).
const startLine = new Int32Array(d.start);
Atomics.add(startLine, 0, 1);
while (Atomics.load(startLine, 1) === 0) Atomics.wait(startLine, 1, 0, 100);

for (let n = 0; n < d.orders; n++) {
  const p = pick(rnd, d);
  const t0 = performance.now();
  c.ordersIn.add();
  const out = path.step(p);
  if (out === 'eliminated') c.rejectedEliminated.add();
  else if (out === 'departed') c.rejectedDeparted.add();
  else {
    c.saved.add();
    hist[bucketOf((performance.now() - t0) * 1000)]!++;
  }
}
parentPort!.postMessage('done');
