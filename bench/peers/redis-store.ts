/**
 * Peer "Redis" of bench/order-path.ts: the validator's state in a Redis 7 server on loopback,
 * reached through ioredis, one connection per thread, as a Node user would write it.
 *
 * `startRedis()` starts `redis-server` (BENCH_REDIS_SERVER, default from PATH) on a free
 * 127.0.0.1 port with `--save '' --appendonly no` (no persistence: the engine's state is rebuilt
 * at start too) through support/redis-server.ts, and returns a handle whose `stop()` shuts it
 * down; a missing binary is a reason to skip, never an exception.
 *
 * Keys (positions as JSON text, the validator's own shapes):
 *   elim                  SET of eliminated hotkeys
 *   departed              HASH hotkey → JSON { detected_ms }
 *   acct                  HASH hotkey → account size
 *   open                  HASH "hotkey|trade pair" → open position
 *   closed                HASH position_uuid → closed position
 *   notices               LIST of notices (RPUSH by order threads, LPOP count by the consumer)
 *   lock:hotkey|tp        the (hotkey, trade pair) lock: SET NX PX with a token; released by a
 *                         Lua script that deletes the key only if it still holds the token
 */
import { Redis } from 'ioredis';
import type { Result } from 'ioredis';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import type { Position } from '../../examples/validator/shared.ts';
import { decide, tpIdOf } from '../workers/order-path-common.ts';
import type { Pick } from '../workers/order-path-common.ts';
import { redisUnavailableReason, startRedis as startServer } from '../../support/redis-server.ts';
import type { Setup } from '../workers/order-path-common.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** Deletes `key` if it holds `token` (RELEASE_LUA); 1 if it did. */
    releaseLock(key: string, token: string): Result<number, Context>;
  }
}

export const RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/** Lock lifetime: far longer than an order (µs to ms), short enough that a crashed holder's lock expires. */
export const LOCK_TTL_MS = 10_000;

/** A client on `port` with the release script defined. */
export function redisClient(port: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 3 });
  r.defineCommand('releaseLock', { numberOfKeys: 1, lua: RELEASE_LUA });
  return r;
}

type Reply = [Error | null, unknown][] | null;
const value = (rep: Reply, i: number): unknown => {
  const e = rep?.[i];
  if (e === undefined || e[0] !== null) throw e?.[0] ?? new Error('no reply');
  return e[1];
};

/**
 * The peer's order step on `r` (bench/workers/order-path-redis.ts, its header says what it
 * sends); `tag` makes its lock tokens unique per thread. True if the order was saved.
 */
export function peerOrder(r: Redis, maxOrders: number, tag: string): (p: Pick, rnd: () => number) => Promise<boolean> {
  let tokens = 0;
  return async (p, rnd) => {
    const key = `${p.hotkey}|${p.tp[0]}`;
    const lock = `lock:${key}`;
    const token = `${tag}:${++tokens}`;
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
      const { next, notice } = decide(p, open, acct === null ? undefined : Number(acct), maxOrders, rnd);
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
  };
}

/** Commands this thread's ioredis clients sent, and waits: sends into an idle connection. */
export interface WireCount {
  sent: number;
  waits: number;
}

/**
 * Counts, for every ioredis client of this thread (the prototype's sendCommand, wrapped once),
 * the commands sent and the waits: a command sent while its connection has no reply
 * outstanding starts a round trip; one sent while replies are outstanding rides in it (ioredis
 * writes each command at once; the replies of one connection come back in order). With one
 * sequential task per connection, waits is the number of sequential round trips. Counted the
 * same way for the peer and for sabstate on Redis.
 */
export function countWire(): WireCount {
  const c: WireCount = { sent: 0, waits: 0 };
  type Send = (this: { commandQueue: { length: number }; status: string }, ...a: unknown[]) => unknown;
  const proto = Redis.prototype as unknown as { sendCommand: Send };
  const send = proto.sendCommand;
  proto.sendCommand = function (this, ...a) {
    c.sent++;
    if (this.status === 'ready' && this.commandQueue.length === 0) c.waits++;
    return send.apply(this, a);
  };
  return c;
}

/** Prints an order thread's commands sent and waits per order in its timed window (since `w0`). */
export function printWire(kind: string, index: number, now: WireCount, w0: WireCount, orders: number): void {
  const per = (k: keyof WireCount): string => ((now[k] - w0[k]) / Math.max(1, orders)).toFixed(2);
  console.log(`  ${kind} order thread ${index}: ${per('waits')} waits, ${per('sent')} commands sent per order (${orders} orders, timed window)`);
}

export interface RedisServer {
  port: number;
  pid: number;
  version: string;
  stop(): Promise<void>;
}

/**
 * Starts redis-server (support/redis-server.ts, the repository's one launcher; BENCH_REDIS_SERVER
 * picks the binary), or returns why it cannot (not installed, did not start).
 */
export async function startRedis(): Promise<RedisServer | string> {
  const bin = process.env.BENCH_REDIS_SERVER ?? 'redis-server';
  const why = redisUnavailableReason(bin);
  if (why !== null) return `${bin} not available: ${why}; or set BENCH_REDIS_SERVER`;
  try {
    const s = await startServer({ bin });
    return { port: s.port, pid: s.process.pid!, version: s.version, stop: () => s.stop() };
  } catch (e) {
    return `${bin} could not start (${(e as Error).message})`;
  }
}

/** Empties the server and writes the setup's state. */
export async function seedRedis(r: Redis, setup: Setup): Promise<void> {
  await r.flushall();
  const p = r.pipeline();
  if (setup.eliminated.length > 0) p.sadd('elim', ...setup.eliminated);
  for (const [hk, v] of Object.entries(setup.departed)) p.hset('departed', hk, JSON.stringify(v));
  for (const [hk, v] of Object.entries(setup.accountSizes)) p.hset('acct', hk, String(v));
  for (const pos of setup.positions) {
    if (pos.is_closed_position) p.hset('closed', pos.position_uuid, JSON.stringify(pos));
    else p.hset('open', `${pos.miner_hotkey}|${tpIdOf(pos)}`, JSON.stringify(pos));
  }
  await p.exec();
}

/** Orders stored in every position, open and closed, and locks still held. */
export async function countRedis(r: Redis): Promise<{ orders: number; locksHeld: number }> {
  let orders = 0;
  for (const h of ['open', 'closed']) for (const v of await r.hvals(h)) orders += (JSON.parse(v) as Position).orders.length;
  const locksHeld = (await r.keys('lock:*')).length;
  return { orders, locksHeld };
}
