/**
 * bench/order-path.ts, peer Redis: one thread of the case, its own ioredis connection
 * (bench/peers/redis-store.ts for the keys and the order function, `peerOrder`). Role 'order':
 * two round trips per saved order, each one pipeline:
 *   1. SISMEMBER elim hk, HEXISTS departed hk, SET lock:hk|tp token NX PX, HGET acct hk,
 *      HGET open hk|tp: the reads after the SET run after it on the server (one connection
 *      executes in order), so when the SET took the lock they are reads under the lock;
 *      lock busy: retry after yielding; rejected miner: release (a third round trip, rare);
 *   2. the save (HSET open, or HSET closed + HDEL open), RPUSH notices, and the Lua release.
 * Each order thread prints its commands sent and waits per order in the timed window
 * (redis-store.ts countWire). Role 'consumer': LPOP notices 256, parses each; naps 1 ms when the list is empty (as the
 * sabstate consumer); stops once told the orders are done and the list is empty.
 */
import { workerData, parentPort } from 'node:worker_threads';
import { prng } from '../../examples/validator/shared.ts';
import type { Notice } from './order-path-common.ts';
import { consumerLoop, orderLoop } from '../peers/thread-case.ts';
import type { CaseData } from '../peers/thread-case.ts';
import { countWire, peerOrder, printWire, redisClient } from '../peers/redis-store.ts';
import { threadProfile } from './order-path-redis-prof.ts';

const d = workerData as CaseData & { port: number };
const wire = countWire();
const r = redisClient(d.port);
const order = peerOrder(r, d.setup.maxOrders, `${d.index}`);
const prof = threadProfile('redis', d.tids.byteLength / 4 - 1, d.role, d.index);

if (d.role === 'consumer') {
  const popSome = async (): Promise<number> => {
    const batch = await r.lpop('notices', 256);
    for (const m of batch ?? []) if ((JSON.parse(m) as Notice).hotkey === '') throw new Error('notice without a hotkey');
    return batch?.length ?? 0;
  };
  prof.start();
  const popped = await consumerLoop(d, popSome);
  prof.stop();
  parentPort!.postMessage(popped);
} else {
  let w0 = { ...wire };
  const tally = await orderLoop(d, order, prng(d.seed), () => ((w0 = { ...wire }), prof.start()));
  prof.stop();
  printWire('redis', d.index, wire, w0, tally.orders);
  parentPort!.postMessage(tally);
}
r.disconnect();
