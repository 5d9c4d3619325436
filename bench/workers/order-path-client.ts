/**
 * bench/order-path.ts, peer A client: the same order path as the sabstate cases, but every step
 * is a request to the server thread (order-path-server.ts) over a MessagePort, each awaited: eliminated?,
 * departed?, lock, account size, getOpen, save, push notice, unlock (8 round trips per saved
 * order, as the Manager proxies). Role 'order': bench/peers/thread-case.ts orderLoop (warmup,
 * start barrier, `ms` of orders with performance.now() around each); role 'consumer': pops notices until the orders are done
 * and a pop asked after that finds the queue empty.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { prng } from '../../examples/validator/shared.ts';
import type { Position } from '../../examples/validator/shared.ts';
import { decide } from './order-path-common.ts';
import type { Pick } from './order-path-common.ts';
import { orderLoop } from '../peers/thread-case.ts';
import type { CaseData } from '../peers/thread-case.ts';

const d = workerData as CaseData & { port: MessagePort };
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
  parentPort!.postMessage(await orderLoop(d, order, prng(d.seed)));
  port.close();
}
