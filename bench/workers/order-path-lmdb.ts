/**
 * bench/order-path.ts, peer lmdb-js: one thread of the case (bench/peers/lmdb-store.ts for the
 * layout and the order path). Role 'order': lmdbOrder, synchronous: the fail-early reads, then one
 * write transaction per order (LMDB's single writer is the lock). Role 'consumer': reads the
 * notices in sequence order and removes them in its own write transactions (lmdbPopNotices), naps
 * 1 ms when there are none (as the sabstate consumer), and stops once told the orders are done
 * and none is left.
 */
import { workerData, parentPort } from 'node:worker_threads';
import { prng } from '../../examples/validator/shared.ts';
import { consumerLoop, orderLoop } from '../peers/thread-case.ts';
import type { CaseData } from '../peers/thread-case.ts';
import { lmdbOrder, lmdbPopNotices, openLmdb } from '../peers/lmdb-store.ts';

const d = workerData as CaseData & { path: string };
const s = openLmdb(d.path);

if (d.role === 'consumer') parentPort!.postMessage(await consumerLoop(d, () => lmdbPopNotices(s)));
else parentPort!.postMessage(await orderLoop(d, (p, rnd) => lmdbOrder(s, p, rnd, d.setup.maxOrders), prng(d.seed)));
await s.env.close();
