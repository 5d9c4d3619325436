/**
 * bench/order-path.ts, peer Redis: one thread of the case, its own ioredis connection
 * (bench/peers/redis-store.ts for the keys). Role 'order': two round trips per saved order, each
 * one pipeline:
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
import { setImmediate as yieldTurn } from 'node:timers/promises';
import { prng } from '../../examples/validator/shared.ts';
import type { Position } from '../../examples/validator/shared.ts';
import { decide } from './order-path-common.ts';
import type { Notice, Pick } from './order-path-common.ts';
import { consumerLoop, orderLoop } from '../peers/thread-case.ts';
import type { CaseData } from '../peers/thread-case.ts';
import { LOCK_TTL_MS, countWire, printWire, redisClient } from '../peers/redis-store.ts';

const d = workerData as CaseData & { port: number };
const wire = countWire();
const r = redisClient(d.port);
let tokens = 0;

type Reply = [Error | null, unknown][] | null;
const value = (rep: Reply, i: number): unknown => {
  const e = rep?.[i];
  if (e === undefined || e[0] !== null) throw e?.[0] ?? new Error('no reply');
  return e[1];
};

async function order(p: Pick, rnd: () => number): Promise<boolean> {
  const key = `${p.hotkey}|${p.tp[0]}`;
  const lock = `lock:${key}`;
  const token = `${d.index}:${++tokens}`;
  for (;;) {
    const rep = await r.pipeline()
      .sismember('elim', p.hotkey).hexists('departed', p.hotkey).set(lock, token, 'PX', LOCK_TTL_MS, 'NX').hget('acct', p.hotkey).hget('open', key)
      .exec();
    const got = value(rep, 2) === 'OK';
    if (value(rep, 0) === 1 || value(rep, 1) === 1) {
      if (got) await r.releaseLock(lock, token);
      return false;
    }
    if (!got) {
      await yieldTurn();
      continue;
    }
    const acct = value(rep, 3) as string | null;
    const text = value(rep, 4) as string | null;
    const open = text === null ? undefined : (JSON.parse(text) as Position);
    const { next, notice } = decide(p, open, acct === null ? undefined : Number(acct), d.setup.maxOrders, rnd);
    const w = r.pipeline();
    if (next.is_closed_position) {
      w.hset('closed', next.position_uuid, JSON.stringify(next));
      if (open !== undefined) w.hdel('open', key);
    } else w.hset('open', key, JSON.stringify(next));
    w.rpush('notices', JSON.stringify(notice)).releaseLock(lock, token);
    const wr = await w.exec();
    for (let i = 0; i < (wr?.length ?? 0); i++) value(wr, i);
    if (value(wr, wr!.length - 1) !== 1) throw new Error(`lock ${lock} was not held at release (expired?)`);
    return true;
  }
}

if (d.role === 'consumer') {
  const popSome = async (): Promise<number> => {
    const batch = await r.lpop('notices', 256);
    for (const m of batch ?? []) if ((JSON.parse(m) as Notice).hotkey === '') throw new Error('notice without a hotkey');
    return batch?.length ?? 0;
  };
  parentPort!.postMessage(await consumerLoop(d, popSome));
} else {
  let w0 = { ...wire };
  const tally = await orderLoop(d, order, prng(d.seed), () => (w0 = { ...wire }));
  printWire('redis', d.index, wire, w0, tally.orders);
  parentPort!.postMessage(tally);
}
r.disconnect();
