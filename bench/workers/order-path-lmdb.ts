/**
 * bench/order-path.ts, peer lmdb-js: one thread of the case (bench/peers/lmdb-store.ts for the
 * layout and the order path). Role 'order': lmdbOrder, synchronous: the fail-early reads, then one
 * write transaction per order (LMDB's single writer is the lock). Role 'consumer': reads the
 * notices in sequence order and removes them in its own write transactions (lmdbPopNotices), naps
 * 1 ms when there are none (as the sabstate consumer), and stops once told the orders are done
 * and none is left. Each closes its environment before it reports (the main thread terminates it
 * after the last report).
 */
import { workerData, parentPort } from 'node:worker_threads';
import { prng } from '../../examples/validator/shared.ts';
import { consumerLoop, orderLoop } from '../peers/thread-case.ts';
import type { CaseData } from '../peers/thread-case.ts';
import { lmdbOrder, lmdbPopNotices, openLmdb } from '../peers/lmdb-store.ts';

const d = workerData as CaseData & { path: string };
const s = openLmdb(d.path);

const result = d.role === 'consumer'
  ? await consumerLoop(d, () => lmdbPopNotices(s))
  : await orderLoop(d, (p, rnd) => lmdbOrder(s, p, rnd, d.setup.maxOrders), prng(d.seed));
// Closed before reporting: the main thread terminates every worker once it has every report, and
// a terminate that lands inside lmdb's close() aborted the process (napi_throw FATAL ERROR in a
// run of 2026-11-30); after the close there is nothing of lmdb left in this thread to interrupt.
await s.env.close();
parentPort!.postMessage(result);
