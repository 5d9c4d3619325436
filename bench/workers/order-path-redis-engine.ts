/**
 * "sabstate on Redis" beside a hand-written Redis peer, on the validator's order path, in one
 * run, interleaved (`node --import tsx bench/workers/order-path-redis-engine.ts`; BENCH_MS per
 * window, default 3000; BENCH_ROUNDS, default 3; BENCH_CONCURRENCY order tasks, default 8).
 * Starts its own redis-server (support/redis-server.ts) on a free port and stops it.
 *
 * The order path, the same for both (the demo's decide(): bench/workers/order-path-common.ts):
 * eliminated? departed? (fail early), the sync gate's epoch, lock (hotkey, trade pair), account
 * size, the open position, the next position, write it (refused if a sync began), push the
 * websocket notice, release. A consumer drains the notices in both cases.
 *
 * 1. sabstate on Redis (createRedisEngine; the demo's orderStep, examples/redis/order-process.ts):
 *    eliminations.has, departed.has, syncGate.current and map.get together (one wait),
 *    locks.withLock (the lock script also returns the open head; getOpenHead costs no round
 *    trip), appendOrder(head, order, { ifEpoch }) (one RPUSH + head, fenced, gate checked in the
 *    script, and the notice's push and the lock's release in the same script: `{ release: true,
 *    push }`): 6 commands in 2 waits.
 * 2. The hand-written peer (what a direct port of the Python validator's pattern to ioredis
 *    looks like): SISMEMBER, HEXISTS, HMGET gate (check-then-act), SET NX PX lock, HGET account
 *    size, GET the whole position JSON, SET it back whole (or RPUSH to closed + DEL, one
 *    MULTI), LPUSH notice, EVAL compare-and-delete release: 9 round trips, no fencing, a
 *    rewrite of the whole history per order.
 *
 * Reported per case (each window's orders, summed over rounds): orders/s, client round trips per
 * order (counted by the client: engine.stats().roundTrips; the peer's wrapper) and as the server
 * saw them (MONITOR, in a separate untimed run of 200 orders with no consumer: commands sent by
 * clients, not those run inside scripts), commands Redis ran per order (INFO stats
 * total_commands_processed: script bodies and the consumer included), CPU per order of this
 * process (both clients and the consumer) and of redis-server (/proc). At the end of every window: orders stored = seeded + acknowledged (no
 * lost update) and notices popped = acknowledged.
 * bench/order-path.ts has the same order step as its "sabstate on Redis" case
 * (order-path-redis-sabstate.ts), beside the pipelined Redis peer of issue 13 (two waits per order).
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRedisEngine, type AsyncEngine } from '../../src/index.ts';
import { TRADE_PAIRS, fixturesPresent, makeHotkey, prng, realPositionTexts, tradePairIdOf, uuid } from '../../examples/validator/shared.ts';
import type { Order, Position } from '../../examples/validator/shared.ts';
import { decide, type Pick } from './order-path-common.ts';
import { redisUnavailableReason, startRedis, type RedisServer } from '../../support/redis-server.ts';
import { orderStep } from '../../examples/redis/order-process.ts';
import { DEMO_GENERAL, type Tally } from '../../examples/redis/shared.ts';

const DEMO_GENERAL_BENCH = { ...DEMO_GENERAL, queues: { websockets: { capacity: 65536, maxMessageBytes: 4096 } } };

const MS = Number(process.env.BENCH_MS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONC = Number(process.env.BENCH_CONCURRENCY ?? 8);
const HOTKEYS = 64;
const TPS = TRADE_PAIRS.slice(0, 8);
const MAX_ORDERS = 100;
const SEED_ORDERS = 20;
/** Orders run under MONITOR per case (not timed): none of them eliminated or departed. */
const MONITORED_ORDERS = 200;

interface Setup {
  hotkeys: string[];
  eliminated: string[];
  departed: string[];
  templates: Order[];
  positions: Position[];
  seeded: number;
}

function makeSetup(): Setup {
  const rnd = prng(1);
  const hotkeys = Array.from({ length: HOTKEYS }, () => makeHotkey(rnd));
  let templates: Order[] = [];
  if (fixturesPresent()) {
    for (const t of realPositionTexts()) templates.push(...((JSON.parse(t) as Position).orders as Order[]));
    templates = templates.slice(0, 200);
  }
  if (templates.length === 0) templates = [{ order_type: 'LONG', leverage: 0.1, price: 100, processed_ms: 0, order_uuid: 'x', price_sources: [] }];
  const positions: Position[] = [];
  let seeded = 0;
  for (const hk of hotkeys.slice(4)) {
    for (const tp of TPS.slice(0, 4)) {
      let p: Position | undefined;
      for (let i = 0; i < SEED_ORDERS; i++) {
        const pick: Pick = { hotkey: hk, tp, template: templates[i % templates.length]!, r: 0.2 };
        p = decide(pick, p, 100_000, MAX_ORDERS, rnd).next;
      }
      positions.push(p!);
      seeded += p!.orders.length;
    }
  }
  return { hotkeys, eliminated: hotkeys.slice(0, 2), departed: hotkeys.slice(2, 4), templates, positions, seeded };
}

interface Row {
  orders: number;
  ms: number;
  clientRoundTrips: number;
  serverCommands: number;
  cpuMs: number;
  redisCpuMs: number;
}

function redisCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, 100 Hz ticks
}
/** Commands Redis ran (those inside scripts included). */
async function serverCalls(r: Redis): Promise<number> {
  return Number((await r.info('stats')).match(/total_commands_processed:(\d+)/)![1]);
}

/** One order path implementation: seed, run one order, count stored orders, drain notices. */
interface Impl {
  order(p: Pick, rnd: () => number): Promise<boolean>;
  roundTrips(): Promise<number>;
  stored(): Promise<number>;
  consume(stop: () => boolean): Promise<number>;
  close(): Promise<void>;
  debug?(): Promise<unknown>;
}

async function sabstateOnRedis(url: string, setup: Setup): Promise<Impl> {
  const opts = { url, keyPrefix: `bench-s-${randomBytes(3).toString('hex')}:`, lockTtlMs: 10_000, general: DEMO_GENERAL_BENCH };
  const e: AsyncEngine = await createRedisEngine(opts);
  const consumer = await createRedisEngine(opts);
  for (const hk of setup.eliminated) await e.eliminations.add({ hotkey: hk, reason: 'MAX_DRAWDOWN' });
  for (const hk of setup.departed) await e.departed.mark(hk, 1);
  for (const hk of setup.hotkeys) await e.general.map('accountSizes').set(hk, 100_000);
  for (const p of setup.positions) await e.locks.withLock(p.miner_hotkey, tradePairIdOf(p), (lock) => e.positions.save(p, { lock }));
  const tally: Tally = { ordersIn: 0, saved: 0, rejectedEliminated: 0, rejectedDeparted: 0, staleRetries: 0, queueFullWaits: 0 };
  return {
    order: (p, rnd) => orderStep(e, p, MAX_ORDERS, rnd, tally),
    roundTrips: async () => (await e.stats()).roundTrips as number,
    async stored() {
      let n = 0;
      for (const hk of setup.hotkeys) for (const p of await e.positions.listForHotkey(hk)) n += p.orders.length;
      return n;
    },
    async consume(stop) {
      let n = 0;
      const q = consumer.general.queue('websockets');
      for (;;) {
        const m = await q.pop({ timeoutMs: 50 });
        if (m !== undefined) n++;
        else if (stop()) return n;
      }
    },
    async close() {
      await e.close();
      await consumer.close();
    },
    async debug() {
      const r = new Redis(url);
      const key = `${opts.keyPrefix}{queue:websockets}`;
      const out = { order: (await e.stats()).queues, consumer: (await consumer.stats()).queues, xlen: await r.xlen(key), pending: await r.xpending(key, 'sabstate'), tally };
      r.disconnect();
      return JSON.stringify(out);
    },
  };
}

async function handWritten(url: string, setup: Setup): Promise<Impl> {
  const P = `bench-p-${randomBytes(3).toString('hex')}:`;
  const r = new Redis(url);
  const c = new Redis(url);
  let rt = 0;
  const release = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
  if (setup.eliminated.length > 0) await r.sadd(`${P}eliminated`, ...setup.eliminated);
  for (const hk of setup.departed) await r.hset(`${P}departed`, hk, '1');
  for (const hk of setup.hotkeys) await r.hset(`${P}accountSizes`, hk, '100000');
  for (const p of setup.positions) await r.set(`${P}open:${p.miner_hotkey}:${tradePairIdOf(p)}`, JSON.stringify(p));
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  return {
    async order(p, rnd) {
      rt++;
      if ((await r.sismember(`${P}eliminated`, p.hotkey)) === 1) return false;
      rt++;
      if ((await r.hexists(`${P}departed`, p.hotkey)) === 1) return false;
      for (;;) {
        rt++;
        const [ep, busy] = await r.hmget(`${P}gate`, 'epoch', 'busy');
        if (busy === '1') {
          await sleep(1);
          continue;
        }
        void ep; // check-then-act: nothing ties the write below to this epoch (the Python validator's race)
        const lockKey = `${P}lock:${p.hotkey}:${p.tp[0]}`;
        const token = randomBytes(12).toString('base64url');
        for (let backoff = 1; ; backoff = Math.min(backoff * 2, 32)) {
          rt++;
          if ((await r.set(lockKey, token, 'PX', 10_000, 'NX')) === 'OK') break;
          await sleep(backoff);
        }
        try {
          rt++;
          const accountSize = Number(await r.hget(`${P}accountSizes`, p.hotkey));
          const openKey = `${P}open:${p.hotkey}:${p.tp[0]}`;
          rt++;
          const text = await r.get(openKey);
          const open = text === null ? undefined : (JSON.parse(text) as Position);
          const { next, notice } = decide(p, open, accountSize, MAX_ORDERS, rnd);
          rt++;
          if (next.is_closed_position) await r.multi().rpush(`${P}closed:${p.hotkey}`, JSON.stringify(next)).del(openKey).exec();
          else await r.set(openKey, JSON.stringify(next));
          rt++;
          await r.lpush(`${P}notices`, JSON.stringify(notice));
        } finally {
          rt++;
          await r.eval(release, 1, lockKey, token);
        }
        return true;
      }
    },
    roundTrips: async () => rt,
    async stored() {
      let n = 0;
      for (const hk of setup.hotkeys) {
        for (const tp of TPS) {
          const t = await r.get(`${P}open:${hk}:${tp[0]}`);
          if (t !== null) n += (JSON.parse(t) as Position).orders.length;
        }
        for (const t of await r.lrange(`${P}closed:${hk}`, 0, -1)) n += (JSON.parse(t) as Position).orders.length;
      }
      return n;
    },
    async consume(stop) {
      let n = 0;
      for (;;) {
        const m = await c.brpop(`${P}notices`, 0.05);
        if (m !== null && (JSON.parse(m[1]) as { hotkey?: string }).hotkey !== undefined) n++; // decoded, as sabstate's pop does
        else if (stop()) return n;
      }
    },
    async close() {
      r.disconnect();
      c.disconnect();
    },
  };
}

async function window(impl: Impl, server: RedisServer, admin: Redis, seed: number, ms: number, acked: { n: number }): Promise<Row> {
  const rt0 = await impl.roundTrips();
  const calls0 = await serverCalls(admin);
  const cpu0 = process.cpuUsage();
  const rc0 = redisCpuMs(server.process.pid!);
  const t0 = performance.now();
  let orders = 0;
  const setupPicks = SETUP;
  const tasks = Array.from({ length: CONC }, async (_, k) => {
    const rnd = prng(seed * 1000 + k);
    while (performance.now() - t0 < ms) {
      const p: Pick = {
        hotkey: setupPicks.hotkeys[Math.floor(rnd() * setupPicks.hotkeys.length)]!,
        tp: TPS[Math.floor(rnd() * TPS.length)]!,
        template: setupPicks.templates[Math.floor(rnd() * setupPicks.templates.length)]!,
        r: rnd(),
      };
      if (await impl.order(p, rnd)) acked.n++;
      orders++;
    }
  });
  await Promise.all(tasks);
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const row: Row = {
    orders,
    ms: elapsed,
    clientRoundTrips: (await impl.roundTrips()) - rt0,
    serverCommands: (await serverCalls(admin)) - calls0 - 1,
    cpuMs: (cpu.user + cpu.system) / 1000,
    redisCpuMs: redisCpuMs(server.process.pid!) - rc0,
  };
  return row;
}

const SETUP = makeSetup();

async function main(): Promise<void> {
  const why = redisUnavailableReason();
  if (why !== null) {
    console.log(`SKIP sabstate on Redis: ${why}`);
    return;
  }
  const server = await startRedis();
  const admin = new Redis(server.url);
  try {
    console.log(`order path on Redis ${(await admin.info('server')).match(/redis_version:(\S+)/)?.[1]}: ${HOTKEYS} miners x ${TPS.length} trade pairs, ${SETUP.positions.length} seeded open positions of ${SEED_ORDERS} orders, ${CONC} concurrent order tasks, ${ROUNDS} rounds x ${MS} ms per case, interleaved`);
    const only = process.env.BENCH_ONLY; // 'sabstate' or 'peer': one case (profiling)
    const kinds = [
      { name: 'sabstate on Redis', make: sabstateOnRedis },
      { name: 'hand-written Redis peer', make: handWritten },
    ].filter((k) => only === undefined || k.name.includes(only));
    const impls = await Promise.all(kinds.map((k) => k.make(server.url, SETUP)));
    const acked = kinds.map(() => ({ n: 0 }));
    const consumed = kinds.map(() => 0);
    const totals: Row[] = kinds.map(() => ({ orders: 0, ms: 0, clientRoundTrips: 0, serverCommands: 0, cpuMs: 0, redisCpuMs: 0 }));
    for (let round = 0; round < ROUNDS; round++) {
      const order = kinds.length === 1 ? [0] : round % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        let stop = false;
        const consumer = impls[i]!.consume(() => stop);
        const row = await window(impls[i]!, server, admin, round * 10 + i, MS, acked[i]!);
        stop = true;
        consumed[i]! += await consumer;
        const t = totals[i]!;
        for (const k of Object.keys(row) as Array<keyof Row>) t[k] += row[k];
        console.log(`  round ${round + 1} ${kinds[i]!.name}: ${Math.round((row.orders / row.ms) * 1000)} orders/s`);
      }
    }
    // Round trips seen by the server: MONITOR, outside the timed windows (it slows Redis), one
    // order task, no consumer: commands sent by clients (not those run inside scripts).
    const monitored: number[] = [];
    for (let i = 0; i < kinds.length; i++) {
      const mon = await admin.monitor();
      let sent = 0;
      mon.on('monitor', (_t: string, _args: string[], source: string) => {
        if (source !== 'lua') sent++;
      });
      const rnd = prng(99);
      let n = 0;
      for (; n < MONITORED_ORDERS; n++) {
        const p: Pick = { hotkey: SETUP.hotkeys[4 + (n % (HOTKEYS - 4))]!, tp: TPS[n % TPS.length]!, template: SETUP.templates[n % SETUP.templates.length]!, r: rnd() };
        if (await impls[i]!.order(p, rnd)) acked[i]!.n++;
      }
      await new Promise((r) => setTimeout(r, 200));
      mon.disconnect();
      monitored.push(sent / n);
      consumed[i]! += await impls[i]!.consume(() => true);
    }
    console.log('\n| case | orders/s | round trips / order (client count) | round trips / order (MONITOR) | Redis commands run / order (scripts, consumer incl.) | node CPU µs / order | redis-server CPU µs / order |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    totals.forEach((t, i) => {
      console.log(`| ${kinds[i]!.name} | ${Math.round((t.orders / t.ms) * 1000)} | ${(t.clientRoundTrips / t.orders).toFixed(2)} | ${monitored[i]!.toFixed(2)} | ${(t.serverCommands / t.orders).toFixed(2)} | ${((t.cpuMs * 1000) / t.orders).toFixed(0)} | ${((t.redisCpuMs * 1000) / t.orders).toFixed(0)} |`);
    });
    if (kinds.length === 2) {
      const ratio = totals[0]!.orders / totals[0]!.ms / (totals[1]!.orders / totals[1]!.ms);
      console.log(`\nsabstate on Redis / hand-written peer: ${ratio.toFixed(2)}x orders/s`);
    }
    for (let i = 0; i < kinds.length; i++) {
      const stored = await impls[i]!.stored();
      const ok = stored === SETUP.seeded + acked[i]!.n && consumed[i] === acked[i]!.n;
      console.log(`${kinds[i]!.name}: stored orders ${stored} = seeded ${SETUP.seeded} + acknowledged ${acked[i]!.n}; notices popped ${consumed[i]}: ${ok ? 'no loss' : 'MISMATCH'}`);
      if (!ok && process.env.BENCH_DEBUG) console.log(await impls[i]!.debug?.());
      if (!ok) process.exitCode = 1;
    }
    await Promise.all(impls.map((x) => x.close()));
  } finally {
    admin.disconnect();
    await server.stop();
  }
}

await main();
