/**
 * The validator demo across processes, on Redis (issue 16):
 *
 *   node --import tsx examples/redis/main.ts --processes 4 --orders 20000 [--redis-url redis://...]
 *   (to be wired as `npm start -- --backend redis --processes 4`: examples/validator/main.ts
 *   hands `--backend redis` and the other flags to this file)
 *
 * Several OS processes (examples/redis/order-process.ts) run the validator's order path on one
 * Redis through createRedisEngine; this process seeds the state (real departed hotkeys, a few
 * eliminated miners, account sizes), drains the websocket notices, runs a sync through the sync
 * gate every --sync-every ms, and at the end checks that nothing was lost: orders in = saved +
 * rejected; saved = notices popped = orders found in the stored positions (minus those seeded:
 * none). Every key lives under a fresh keyPrefix, deleted at the end (--keep keeps it).
 * Without a reachable Redis: a clear message and exit code 2 (`--start-redis` starts a
 * redis-server of its own on a free port, where one is installed).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createRedisEngine, SabStateError, type AsyncEngine } from '../../src/index.ts';
import { fixturesPresent, makeHotkey, prng, realDeparted, realPositionTexts } from '../validator/shared.ts';
import type { Order, Position } from '../validator/shared.ts';
import { startRedis, type RedisServer } from '../../support/redis-server.ts';
import { DEMO_GENERAL, QUEUE, type Tally } from './shared.ts';

const USAGE = `usage: node --import tsx examples/redis/main.ts [options]
  --processes <n>     order processes (default 4)
  --orders <n>        orders in total (default 20000)
  --hotkeys <n>       miners (default 64)
  --concurrency <n>   order tasks per process (default 4)
  --max-orders <n>    orders after which a position is closed (default 100)
  --sync-every <ms>   a sync through the sync gate every ms (default 500; 0: none)
  --redis-url <url>   redis:// or rediss:// (default $REDIS_URL or redis://127.0.0.1:6379)
  --start-redis       start a redis-server of its own on a free port
  --keep              keep the keys after the run
  --help`;

function fail(msg: string, code = 2): never {
  console.error(`error: ${msg}`);
  process.exit(code);
}
let a;
try {
  a = parseArgs({
    options: {
      processes: { type: 'string' }, orders: { type: 'string' }, hotkeys: { type: 'string' }, concurrency: { type: 'string' },
      'max-orders': { type: 'string' }, 'sync-every': { type: 'string' }, 'redis-url': { type: 'string' }, 'start-redis': { type: 'boolean' },
      keep: { type: 'boolean' }, backend: { type: 'string' }, help: { type: 'boolean' },
    },
    strict: true,
  }).values;
} catch (e) {
  fail(`${(e as Error).message}\n\n${USAGE}`);
}
if (a.help) {
  console.log(USAGE);
  process.exit(0);
}
const int = (v: string | undefined, name: string, d: number): number => {
  if (v === undefined) return d;
  if (!/^\d+$/.test(v) || Number(v) < 1) fail(`--${name} must be a positive whole number, got ${JSON.stringify(v)}`);
  return Number(v);
};
const PROCESSES = int(a.processes, 'processes', 4);
const ORDERS = int(a.orders, 'orders', 20000);
const HOTKEYS = int(a.hotkeys, 'hotkeys', 64);
const CONC = int(a.concurrency, 'concurrency', 4);
const MAX_ORDERS = int(a['max-orders'], 'max-orders', 100);
const SYNC_EVERY = a['sync-every'] === '0' ? 0 : int(a['sync-every'], 'sync-every', 500);

let server: RedisServer | undefined;
let url = a['redis-url'] ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
if (a['start-redis']) {
  server = await startRedis().catch((e: Error) => fail(`--start-redis: ${e.message}`));
  url = server.url;
}
const keyPrefix = `demo:${randomBytes(4).toString('hex')}:`;
let e: AsyncEngine;
try {
  e = await createRedisEngine({ url, keyPrefix, general: DEMO_GENERAL });
} catch (err) {
  if (err instanceof SabStateError && err.code === 'ERR_CONNECTION') {
    fail(`no redis-server reachable: ${err.message}\nStart one (redis-server --port 6379), pass --redis-url redis://[:password@]host:port, or use --start-redis.`);
  }
  throw err;
}

// ---- seed -----------------------------------------------------------------------------------------
const rnd = prng(1);
const hotkeys = Array.from({ length: HOTKEYS }, () => makeHotkey(rnd));
let templates: Order[] = [];
if (fixturesPresent()) for (const t of realPositionTexts()) templates.push(...((JSON.parse(t) as Position).orders as Order[]));
templates = templates.slice(0, 500);
if (templates.length === 0) templates = [{ order_type: 'LONG', leverage: 0.1, price: 100, processed_ms: 0, order_uuid: 'x' }];
const departed = fixturesPresent() ? Object.entries(realDeparted()) : [];
for (const [hk, v] of departed) await e.departed.mark(hk, v.detected_ms);
const departedHere = hotkeys.slice(0, 2);
for (const hk of departedHere) await e.departed.mark(hk, Date.now());
await e.eliminations.replaceAll(hotkeys.slice(2, 5).map((hotkey) => ({ hotkey, reason: 'MAX_DRAWDOWN', dd: 0.11, elimination_initiated_time_ms: Date.now() })));
for (const hk of hotkeys) await e.general.map('accountSizes').set(hk, 50_000 + Math.floor(rnd() * 100_000));
console.log(`sabstate on Redis (${url.replace(/\/\/[^@]*@/, '//***@')}), keyPrefix ${keyPrefix}: ${PROCESSES} order processes x ${CONC} tasks, ${ORDERS} orders, ${HOTKEYS} miners; ${departed.length + departedHere.length} departed, 3 eliminated`);

// ---- run ------------------------------------------------------------------------------------------
const t0 = performance.now();
const file = new URL('./order-process.ts', import.meta.url);
const results: Array<Promise<{ tally: Tally; roundTrips: number }>> = [];
for (let i = 0; i < PROCESSES; i++) {
  const share = Math.floor(ORDERS / PROCESSES) + (i < ORDERS % PROCESSES ? 1 : 0);
  const child = fork(file, [], { execArgv: ['--import', 'tsx'] });
  child.send({ url, keyPrefix, orders: share, seed: i + 1, hotkeys, maxOrders: MAX_ORDERS, concurrency: CONC, templates });
  results.push(new Promise((resolve, reject) => {
    let got: { tally: Tally; roundTrips: number } | undefined;
    child.on('message', (m) => (got = m as typeof got));
    child.on('exit', (code) => (got !== undefined && code === 0 ? resolve(got) : reject(new Error(`order process ${i} exited with code ${code}`))));
  }));
}
let done = false;
let popped = 0;
let syncs = 0;
const consumer = (async () => {
  const q = e.general.queue(QUEUE);
  for (;;) {
    const m = await q.pop({ timeoutMs: 100 });
    if (m !== undefined) popped++;
    else if (done) return;
  }
})();
const syncer = (async () => {
  while (!done && SYNC_EVERY > 0) {
    await new Promise((r) => setTimeout(r, SYNC_EVERY));
    if (done) return;
    await e.general.syncGate.begin();
    await new Promise((r) => setTimeout(r, 10));
    await e.general.syncGate.end();
    syncs++;
  }
})();
let tallies: Array<{ tally: Tally; roundTrips: number }>;
try {
  tallies = await Promise.all(results);
} finally {
  done = true;
}
await Promise.all([consumer, syncer]);
const secs = (performance.now() - t0) / 1000;

// ---- check ----------------------------------------------------------------------------------------
const sum = (k: keyof Tally): number => tallies.reduce((n, t) => n + t.tally[k], 0);
let stored = 0;
for (const hk of hotkeys) for (const p of await e.positions.listForHotkey(hk)) stored += p.orders.length;
const ordersIn = sum('ordersIn');
const saved = sum('saved');
const rejected = sum('rejectedEliminated') + sum('rejectedDeparted');
const rts = tallies.reduce((n, t) => n + t.roundTrips, 0);
console.log(`${ordersIn} orders in ${secs.toFixed(2)} s: ${Math.round(ordersIn / secs)} orders/s over ${PROCESSES} processes; ${(rts / ordersIn).toFixed(2)} round trips per order`);
console.log(`syncs ${syncs}, writes refused by a sync and retried ${sum('staleRetries')}, queue-full waits ${sum('queueFullWaits')}`);
const checks: Array<[string, boolean]> = [
  [`orders in ${ordersIn} = saved ${saved} + rejected ${rejected}`, ordersIn === saved + rejected],
  [`saved ${saved} = notices popped ${popped}`, saved === popped],
  [`saved ${saved} = orders stored ${stored}`, saved === stored],
];
for (const [what, ok] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
console.log(JSON.stringify(await e.stats()));
if (!a.keep) {
  const r = new Redis(url);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await r.del(...keys);
  } while (cursor !== '0');
  r.disconnect();
}
await e.close();
await server?.stop();
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
