/**
 * bench/order-path.ts, case "sabstate on Redis": one thread of the case, its own AsyncEngine on
 * Redis (createRedisEngine: its own ioredis connection), beside the hand-written Redis peer
 * (order-path-redis.ts) on the same redis-server. Role 'order': the order step of the Redis demo
 * (examples/redis/order-process.ts), two script calls per saved order: (1) the fail-early
 * reads, the sync epoch, the account size and the fenced lock grant (which also returns the open
 * head), sent together; (2) the append, fenced and epoch-checked, which also pushes the notice
 * and releases the lock (`{ release: true, push }`: one script). By default pipelined
 * (pipelinedStep): (2) of order k rides with (1) of order k+1, one wait per order;
 * BENCH_REDIS_PIPELINE=0: orderStep, two waits per order. Role 'consumer': popMany(256)
 * (XACK and XDEL of the last batch and XREADGROUP of up to 256, in one socket write; the
 * QUEUE_POP script when a claim is due; each message decoded), as the peer's LPOP 256.
 * BENCH_CPU_PROF=<dir>: a CPU profile of each thread (order-path-redis-prof.ts). Each thread prints its commands sent and waits per order (or per popped
 * notice) in the timed window, counted as for the peer (redis-store.ts countWire). State seeded
 * and counted by bench/order-path.ts (seedSabstateRedis / countSabstateRedis below) under
 * `keyPrefix`.
 */
import { workerData, parentPort } from 'node:worker_threads';
import { createRedisEngine, type AsyncEngine } from '../../src/index.ts';
import { prng, tradePairIdOf } from '../../examples/validator/shared.ts';
import { flushNotices, flushPipe, noticeLane, orderPipe, orderStep, pipelinedStep } from '../../examples/redis/order-process.ts';
import { countWire, printWire } from '../peers/redis-store.ts';
import { DEMO_GENERAL, QUEUE, type Tally as DemoTally } from '../../examples/redis/shared.ts';
import type { Setup } from './order-path-common.ts';
import { consumerLoop, orderLoop } from '../peers/thread-case.ts';
import type { CaseData } from '../peers/thread-case.ts';
import { threadProfile } from './order-path-redis-prof.ts';

/**
 * BENCH_REDIS_PIPELINE=0: the two-wait order step (orderStep); default: the pipelined one
 * (pipelinedStep, one wait per order: order k's append rides with order k+1's reads and grant;
 * each call settles one order, saved once its append's reply came back; the latency histogram
 * is then per pipelined step, not per order).
 */
const PIPELINED = process.env.BENCH_REDIS_PIPELINE !== '0';

/** The general domain of the case: the demo's, with room for the notices of a timed window. */
export const BENCH_REDIS_GENERAL = { ...DEMO_GENERAL, queues: { [QUEUE]: { capacity: 1 << 18, maxMessageBytes: 4096 } } };

/** Writes the setup's state through the engine (positions saved under their locks). */
export async function seedSabstateRedis(e: AsyncEngine, setup: Setup): Promise<void> {
  for (const hk of setup.eliminated) await e.eliminations.add({ hotkey: hk, reason: 'MAX_DRAWDOWN' });
  for (const [hk, v] of Object.entries(setup.departed)) await e.departed.mark(hk, v.detected_ms);
  await Promise.all(Object.entries(setup.accountSizes).map(([hk, v]) => e.general.map('accountSizes').set(hk, v)));
  await Promise.all(setup.positions.map((p) => {
    return e.locks.withLock(p.miner_hotkey, tradePairIdOf(p), (lock) => e.positions.save(p, { lock }));
  }));
}

/** Orders stored in every position of every hotkey, open and closed. */
export async function countSabstateRedis(e: AsyncEngine): Promise<number> {
  let n = 0;
  for (const hk of await e.positions.hotkeys()) for (const p of await e.positions.listForHotkey(hk)) n += p.orders.length;
  return n;
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'keyPrefix' in workerData) {
  const d = workerData as CaseData & { url: string; keyPrefix: string };
  const wire = countWire();
  const e = await createRedisEngine({ url: d.url, keyPrefix: d.keyPrefix, general: BENCH_REDIS_GENERAL });
  const prof = threadProfile('redis-sabstate', d.tids.byteLength / 4 - 1, d.role, d.index);
  if (d.role === 'consumer') {
    prof.start();
    const q = e.general.queue(QUEUE);
    const popSome = async (): Promise<number> => {
      const batch = (await q.popMany(256)) as Array<{ hotkey?: string }>;
      for (const m of batch) if (m.hotkey === '') throw new Error('notice without a hotkey');
      return batch.length;
    };
    const popped = await consumerLoop(d, popSome);
    prof.stop();
    parentPort.postMessage(popped);
  } else {
    const t: DemoTally = { ordersIn: 0, saved: 0, rejectedEliminated: 0, rejectedDeparted: 0, staleRetries: 0, queueFullWaits: 0 };
    let w0 = { ...wire };
    if (PIPELINED) {
      const pipe = orderPipe();
      const rnd = prng(d.seed);
      const tally = await orderLoop(d, (p, r) => pipelinedStep(e, p, d.setup.maxOrders, r, t, pipe), rnd, () => ((w0 = { ...wire }), prof.start()));
      prof.stop();
      printWire('redis-sabstate', d.index, wire, w0, tally.orders);
      // The last order, settled after the timed window: counted with the warm-up's (saved outside the window).
      if (await flushPipe(e, d.setup.maxOrders, rnd, t, pipe)) tally.warmSaved++;
      parentPort.postMessage(tally);
    } else {
      const lane = noticeLane();
      const tally = await orderLoop(d, (p, rnd) => orderStep(e, p, d.setup.maxOrders, rnd, t, lane), prng(d.seed), () => ((w0 = { ...wire }), prof.start()));
      prof.stop();
      printWire('redis-sabstate', d.index, wire, w0, tally.orders);
      await flushNotices(lane);
      parentPort.postMessage(tally);
    }
  }
  await e.close();
}
