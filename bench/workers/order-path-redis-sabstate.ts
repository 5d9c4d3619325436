/**
 * bench/order-path.ts, case "sabstate on Redis": one thread of the case, its own AsyncEngine on
 * Redis (createRedisEngine: its own ioredis connection), beside the hand-written Redis peer
 * (order-path-redis.ts) on the same redis-server. Role 'order': the order step of the Redis demo
 * (examples/redis/order-process.ts orderStep: the fail-early reads, the sync epoch and the
 * account size in one wait; the fenced lock grant, which also returns the open head; the
 * append, fenced and epoch-checked in one script; the push sent with the release): four waits per
 * saved order. Role 'consumer': pops up to 256 notices without waiting (each one decoded), as the
 * peer's LPOP 256. State seeded and counted by bench/order-path.ts (seedSabstateRedis /
 * countSabstateRedis below) under `keyPrefix`.
 */
import { workerData, parentPort } from 'node:worker_threads';
import { createRedisEngine, type AsyncEngine } from '../../src/index.ts';
import { prng, tradePairIdOf } from '../../examples/validator/shared.ts';
import { orderStep } from '../../examples/redis/order-process.ts';
import { DEMO_GENERAL, QUEUE, type Tally as DemoTally } from '../../examples/redis/shared.ts';
import type { Setup } from './order-path-common.ts';
import { consumerLoop, orderLoop } from '../peers/thread-case.ts';
import type { CaseData } from '../peers/thread-case.ts';

/** The general domain of the case: the demo's, with room for the notices of a timed window. */
export const BENCH_REDIS_GENERAL = { ...DEMO_GENERAL, queues: { [QUEUE]: { capacity: 1 << 18, maxMessageBytes: 4096 } } };

/** Writes the setup's state through the engine (positions saved under their locks). */
export async function seedSabstateRedis(e: AsyncEngine, setup: Setup): Promise<void> {
  for (const hk of setup.eliminated) await e.eliminations.add({ hotkey: hk, reason: 'MAX_DRAWDOWN' });
  for (const [hk, v] of Object.entries(setup.departed)) await e.departed.mark(hk, v.detected_ms);
  await Promise.all(Object.entries(setup.accountSizes).map(([hk, v]) => e.general.map('accountSizes').set(hk, v)));
  await Promise.all(setup.positions.map((p) => {
    return e.locks.withLock(p.miner_hotkey, tradePairIdOf(p), () => e.positions.save(p));
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
  const e = await createRedisEngine({ url: d.url, keyPrefix: d.keyPrefix, general: BENCH_REDIS_GENERAL });
  if (d.role === 'consumer') {
    const q = e.general.queue(QUEUE);
    const popSome = async (): Promise<number> => {
      let n = 0;
      for (; n < 256; n++) {
        const m = (await q.pop()) as { hotkey?: string } | undefined;
        if (m === undefined) break;
        if (m.hotkey === '') throw new Error('notice without a hotkey');
      }
      return n;
    };
    parentPort.postMessage(await consumerLoop(d, popSome));
  } else {
    const t: DemoTally = { ordersIn: 0, saved: 0, rejectedEliminated: 0, rejectedDeparted: 0, staleRetries: 0, queueFullWaits: 0 };
    parentPort.postMessage(await orderLoop(d, (p, rnd) => orderStep(e, p, d.setup.maxOrders, rnd, t), prng(d.seed)));
  }
  await e.close();
}
