/**
 * bench/order-path.ts, peer A client: the same order path as the sabstate cases, but every step
 * is a request to the server thread (order-path-server.ts) over a MessagePort, each awaited: eliminated?,
 * departed?, lock, account size, getOpen, save, push notice, unlock (8 round trips per saved
 * order, as the Manager proxies). Role 'order': warmup (untimed), start barrier, `ms` of orders
 * with performance.now() around each; role 'consumer': pops notices until the orders are done
 * and a pop asked after that finds the queue empty.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { prng } from '../../examples/validator/shared.ts';
import type { Position } from '../../examples/validator/shared.ts';
import { BUCKETS, arriveAndWait, bucketOf, decide, pick } from './order-path-common.ts';
import type { Pick, Setup, Tally } from './order-path-common.ts';

interface Data {
  role: 'order' | 'consumer';
  port: MessagePort;
  index: number;
  seed: number;
  setup: Setup;
  histograms: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  done: SharedArrayBuffer;
  warmMs: number;
  ms: number;
}
const d = workerData as Data;
const port = d.port;
let nextId = 0;
let pending: { id: number; resolve: (v: unknown) => void; reject: (e: Error) => void } | undefined;
port.on('message', ([id, value, error]: [number, unknown, string?]) => {
  const p = pending;
  if (p === undefined || p.id !== id) throw new Error(`unexpected reply ${id}`);
  pending = undefined;
  if (error !== undefined) p.reject(new Error(error));
  else p.resolve(value);
});
/** One round trip: a request, awaited until its reply. */
function call(op: string, a?: unknown, b?: unknown): Promise<unknown> {
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    pending = { id, resolve, reject };
    port.postMessage([id, op, a, b]);
  });
}

async function order(p: Pick, rnd: () => number): Promise<boolean> {
  if (await call('eliminated', p.hotkey)) return false;
  if (await call('departed', p.hotkey)) return false;
  await call('lock', p.hotkey, p.tp[0]);
  try {
    const accountSize = (await call('accountSize', p.hotkey)) as number | undefined;
    const open = (await call('getOpen', p.hotkey, p.tp[0])) as Position | undefined;
    const { next, notice } = decide(p, open, accountSize, d.setup.maxOrders, rnd);
    await call('save', next);
    await call('push', notice);
  } finally {
    await call('unlock', p.hotkey, p.tp[0]);
  }
  return true;
}

// The server thread may still be starting: its first reply starts the warmup clock.
await call('ping');

if (d.role === 'consumer') {
  const done = new Int32Array(d.done);
  let popped = 0;
  for (;;) {
    const wasDone = Atomics.load(done, 0) === 1;
    const m = await call('pop');
    if (m !== null) popped++;
    else if (wasDone) break;
  }
  parentPort!.postMessage({ popped });
} else {
  const rnd = prng(d.seed);
  const hist = new Int32Array(d.histograms, d.index * BUCKETS * 4, BUCKETS);
  const t: Tally = { orders: 0, saved: 0, rejected: 0, warmOrders: 0, warmSaved: 0, elapsedMs: 0 };
  const warmEnd = performance.now() + d.warmMs;
  while (performance.now() < warmEnd) {
    t.warmOrders++;
    if (await order(pick(rnd, d.setup), rnd)) t.warmSaved++;
  }
  arriveAndWait(new Int32Array(d.barrier));
  const t0 = performance.now();
  const end = t0 + d.ms;
  let now = t0;
  while (now < end) {
    const p = pick(rnd, d.setup);
    const a = performance.now();
    const ok = await order(p, rnd);
    now = performance.now();
    hist[bucketOf((now - a) * 1000)]!++;
    t.orders++;
    if (ok) t.saved++;
    else t.rejected++;
  }
  t.elapsedMs = now - t0;
  parentPort!.postMessage(t);
  port.close();
}
