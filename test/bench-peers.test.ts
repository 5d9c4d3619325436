/**
 * The peers of bench/order-path.ts (bench/peers/, bench/workers/order-path-{one-domain,lmdb,redis}.ts)
 * and its chart writer (bench/chart.ts). Each peer runs its real order path on real worker threads
 * (2 order threads on 4 miners x 28 trade pairs, so that they collide on keys) plus its consumer,
 * and must end with no lost update (orders stored = seeded + saved) and exactly-once notices
 * (popped = saved), no lock held, within a hard timeout. Redis runs only where `redis-server` is
 * installed (skipped with a line otherwise, as the benchmark skips it); a missing server is a skip
 * reason, never an exception.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createEngine } from '../src/index.ts';
import { generalOptions, makeHotkey, prng } from '../examples/validator/shared.ts';
import type { Order } from '../examples/validator/shared.ts';
import { countStoredOrders } from '../bench/workers/order-path-common.ts';
import type { Setup } from '../bench/workers/order-path-common.ts';
import { firstMessage, runThreadCase, tidWorker } from '../bench/peers/thread-case.ts';
import { threadCpuMs } from '../bench/peers/os-stats.ts';
import type { CaseRun } from '../bench/peers/thread-case.ts';
import { countLmdbOrders, openLmdb, seedLmdb } from '../bench/peers/lmdb-store.ts';
import { countRedis, redisClient, seedRedis, startRedis } from '../bench/peers/redis-store.ts';
import { barChartSvg } from '../bench/chart.ts';
import { within } from './helpers/workers.ts';

/** Hard bound on one case (worker start-up under load included). */
const CASE_MS = 120_000;
const W = 2;

function smallSetup(): Setup {
  const rnd = prng(7);
  const hotkeys = Array.from({ length: 5 }, () => makeHotkey(rnd));
  const template: Order = {
    order_type: 'LONG', leverage: 0.1, price: 60_000, processed_ms: 0, order_uuid: '',
    price_sources: [{ source: 'Polygon_ws', timespan_ms: 0, open: 60_000, close: 60_000, vwap: 60_000, high: 60_000, low: 60_000, start_ms: 0, websocket: true, lag_ms: 10, volume: 1 }],
  };
  return {
    hotkeys, eliminated: [hotkeys[4]!], departed: {}, accountSizes: Object.fromEntries(hotkeys.map((h) => [h, 100_000])),
    positions: [], seededOrders: 0, templates: [template], maxOrders: 8,
  };
}

const runPeer = (file: string, setup: Setup, extra: object, servers?: { kind: string; pid: number }[]): Promise<CaseRun> =>
  within(
    runThreadCase({
      W, setup, warmMs: 200, ms: 400, limitMs: CASE_MS, servers,
      spawn: (data) => tidWorker(new URL(`../bench/workers/${file}`, import.meta.url), { workerData: { ...data, ...extra } }),
    }),
    CASE_MS,
    `${file} with ${W} order threads`,
  );

function assertExactlyOnce(run: CaseRun, stored: number, setup: Setup): void {
  const saved = run.tallies.reduce((s, t) => s + t.saved + t.warmSaved, 0);
  const rejected = run.tallies.reduce((s, t) => s + t.rejected, 0);
  assert.ok(saved > 0, 'some orders saved');
  assert.ok(rejected > 0, 'orders of the eliminated miner rejected');
  assert.is(stored, setup.seededOrders + saved, 'orders stored = seeded + saved (no lost update)');
  assert.is(run.popped, saved, 'notices popped = saved (exactly once)');
  assert.is(run.rows.length, W);
  // the threads' CPU is read after every order thread has reported: a worker that ended its
  // file must still be there to read (tidWorker keeps it alive until terminated)
  assert.ok(Number.isFinite(run.cpuByKind['order threads']) && Number.isFinite(run.cpuByKind.consumer), `CPU by thread kind ${JSON.stringify(run.cpuByKind)}`);
}

test('one-domain peer: two order threads on one lock stripe, no lost update, notices exactly once', async () => {
  const setup = smallSetup();
  const engine = createEngine({ lockStripes: 1, general: generalOptions });
  try {
    const sizes = engine.general.map('accountSizes');
    for (const [hk, v] of Object.entries(setup.accountSizes)) sizes.set(hk, v);
    engine.eliminations.add({ hotkey: setup.eliminated[0]!, elimination_initiated_time_ms: 1, dd: 0.1, reason: 'PLAGIARISM', price_info: {}, return_info: {} });
    const run = await runPeer('order-path-one-domain.ts', setup, { handle: engine.handle() });
    assertExactlyOnce(run, countStoredOrders(engine), setup);
    assert.is(engine.stats().locks.held, 0);
  } finally {
    engine.close();
  }
});

test('lmdb peer: two order threads, one environment, no lost update, notices exactly once', async () => {
  const setup = smallSetup();
  const dir = mkdtempSync(join(tmpdir(), 'bench-peers-lmdb-'));
  try {
    const db = openLmdb(join(dir, 'db'));
    seedLmdb(db, setup);
    const run = await runPeer('order-path-lmdb.ts', setup, { path: join(dir, 'db') });
    assertExactlyOnce(run, countLmdbOrders(db), setup);
    await db.env.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('redis: a missing redis-server is a reason to skip, not an exception', async () => {
  const before = process.env.BENCH_REDIS_SERVER;
  process.env.BENCH_REDIS_SERVER = '/nonexistent/redis-server';
  try {
    const r = await within(startRedis(), 30_000, 'startRedis with a missing binary');
    assert.type(r, 'string');
    assert.match(r as string, /not available/);
  } finally {
    if (before === undefined) delete process.env.BENCH_REDIS_SERVER;
    else process.env.BENCH_REDIS_SERVER = before;
  }
});

const haveRedis = spawnSync(process.env.BENCH_REDIS_SERVER ?? 'redis-server', ['--version']).status === 0;
if (!haveRedis) console.log('  (skipped: the Redis peer test, redis-server is not installed)');
(haveRedis ? test : test.skip)('redis peer: two order threads, SET NX PX locks, no lost update, notices exactly once, server stopped', async () => {
  const setup = smallSetup();
  const server = await within(startRedis(), 30_000, 'redis-server start');
  if (typeof server === 'string') throw new Error(server);
  const client = redisClient(server.port);
  try {
    await seedRedis(client, setup);
    const run = await runPeer('order-path-redis.ts', setup, { port: server.port }, [{ kind: 'redis-server', pid: server.pid }]);
    const stored = await countRedis(client);
    assertExactlyOnce(run, stored.orders, setup);
    assert.is(stored.locksHeld, 0);
    assert.ok('redis-server' in run.cpuByKind);
  } finally {
    client.disconnect();
    await server.stop();
  }
  assert.throws(() => process.kill(server.pid, 0), 'redis-server has exited');
});

test('tidWorker: a worker whose file has ended stays readable (its CPU) until terminated', async () => {
  const tids = new SharedArrayBuffer(4);
  const w = tidWorker(new URL('./workers/report-and-end.ts', import.meta.url), { workerData: { tids, tidSlot: 0 } });
  try {
    await within(firstMessage(w, CASE_MS), CASE_MS, 'the worker report');
    const tid = new Int32Array(tids)[0]!;
    assert.ok(tid > 0, 'the OS thread id was published');
    await new Promise((r) => setTimeout(r, 300)); // its file ended long ago
    assert.ok(Number.isFinite(threadCpuMs(tid)), 'its /proc entry is still there');
  } finally {
    await w.terminate();
  }
});

test('chart: log scale (a value 10x another is one decade higher), missing values, escaped names', () => {
  const svg = barChartSvg({ title: 'a < b', yLabel: 'orders/s', groups: ['1', '2'], series: [{ name: 'x & y', values: [100, 1000] }, { name: 'z', values: [10, undefined] }] });
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="18" height="([\d.]+)"/g)].map((m) => ({ y: Number(m[1]), h: Number(m[2]) }));
  assert.is(bars.length, 3, 'one bar per present value');
  const [b100, b10] = [bars[0]!, bars[1]!]; // group 1: x=100, z=10
  const b1000 = bars[2]!;
  assert.ok(Math.abs(b1000.h - b100.h - (b100.h - b10.h)) < 0.2, 'equal steps per decade');
  assert.ok(svg.includes('x &amp; y') && svg.includes('a &lt; b'), 'text escaped');
  assert.ok(svg.includes('>—<'), 'a missing value is marked');
  assert.ok(!svg.includes('NaN'));
  assert.ok(b10.h > 0, 'the smallest value still has a visible bar');
});

test.run();
