/**
 * The side-by-side order-path benchmark (`node --import tsx bench/order-path.ts`, also part of
 * `npm run bench`): the validator's order path (examples/validator/order-worker.ts: fail-early
 * checks, lock (hotkey, trade pair), account size, getOpen, next position, save, websocket
 * notice, release) on the same state and the same order stream (the Python peer: the same
 * distribution from its own PRNG), in one run:
 *
 *   1. sabstate, one thread: the order step alone, in a loop on the main thread (the notice
 *      queue drained between orders, outside the per-order latency, inside the wall time).
 *   2. sabstate, W worker threads (W = 2, 4: more threads than a 2-core machine has, on purpose)
 *      on one engine, plus the websocket consumer thread.
 *   3. Peer A, "JS server thread": the same state in plain Maps owned by ONE thread; W client
 *      threads do the order path as request/response messages (one awaited round trip per
 *      call), plus a consumer client: the Manager design without Python.
 *   4. Peer B, Python multiprocessing.Manager (bench/peers/manager_order_path.py): W processes,
 *      Manager dicts, Manager Locks looked up per order as the validator did, a Manager Queue
 *      with a consumer process; one Manager, and five (one per domain). Skipped if python3 is
 *      missing.
 *   5. sabstate with one contention domain (bench/workers/order-path-one-domain.ts), lmdb-js
 *      (order-path-lmdb.ts) and Redis 7 through ioredis (order-path-redis.ts; redis-server started
 *      on a free loopback port and stopped after; skipped with a line if it is not installed):
 *      W order threads and a consumer thread (bench/peers/thread-case.ts). bench/README.md says
 *      what each peer is.
 * The peers also run with W = 1, so that every row has a peer with as many order threads.
 * Results: the table on stdout, and JSON, Markdown and two SVG charts in bench/results/
 * (bench/peers/report.ts).
 *
 * Every case: the same seeded state (the real positions of test/fixtures/ptn, plus real positions
 * re-keyed as open positions of other miners; real orders with price sources as templates), a
 * warmup of BENCH_WARM_MS (default 2000: worker threads start, load modules and get optimized on
 * the same 2 cores, and 250 ms measured half-warm code) per thread, a start barrier, then
 * BENCH_MS (default 2000)
 * of orders with performance.now() around each into a log histogram (buckets 4.4 % wide; a
 * percentile is its bucket's upper bound). Also measured: the CPU time of all the case's threads
 * or processes in the timed window, per order (less sensitive to the machine's load than
 * orders/s). At the end of each case: orders stored = seeded + saved (no lost update) and
 * notices popped = saved. BENCH_CASES (default sabstate,js-server,python) picks the cases,
 * BENCH_THREADS (default 2,4) the sabstate worker-thread counts.
 */
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import type { Worker } from 'node:worker_threads';
import { createEngine } from '../src/index.ts';
import type { Engine } from '../src/index.ts';
import {
  QUEUE, TRADE_PAIRS, fixturesPresent, generalOptions, makeHotkey, prng, realDeparted, realPositionTexts, uuid,
} from '../examples/validator/shared.ts';
import type { Order, Position } from '../examples/validator/shared.ts';
import { BUCKETS, bucketOf, countStoredOrders, createHistograms, histogramRows, percentilesOf, pick, sabOrder, sabPath, tpIdOf } from './workers/order-path-common.ts';
import type { Setup, Tally } from './workers/order-path-common.ts';
import { cpuMsNow, firstMessage, release, runThreadCase, tidWorker } from './peers/thread-case.ts';
import type { CaseRun } from './peers/thread-case.ts';
import { ThreadCpu, rssBytes } from './peers/os-stats.ts';
import { NAMES, markdownTable, writeResults } from './peers/report.ts';
import type { Kind, Result } from './peers/report.ts';
import { countLmdbOrders, openLmdb, seedLmdb } from './peers/lmdb-store.ts';
import { countRedis, redisClient, seedRedis, startRedis } from './peers/redis-store.ts';

const ms = Number(process.env.BENCH_MS ?? 2000);
const warmMs = Number(process.env.BENCH_WARM_MS ?? 2000);
/** BENCH_THREADS: the sabstate worker-thread counts (default 2,4). */
const THREADS = (process.env.BENCH_THREADS ?? '2,4').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
const PEER_THREADS = [1, 2, 4];
// BENCH_HOTKEYS (default 256, the validator's) miners x 28 trade pairs: the Python peer creates a
// Manager Lock per (miner, trade pair) before its timed window, about 1 ms each on this machine.
const HOTKEYS = Number(process.env.BENCH_HOTKEYS ?? 256);
const MAX_ORDERS = 100;
const SEED = 1;
/** BENCH_CASES: a comma list of sabstate, one-domain, lmdb, redis, js-server, python (default all). */
const CASES = new Set((process.env.BENCH_CASES ?? 'sabstate,one-domain,lmdb,redis,js-server,python').split(','));
/** Lines saying which peers were skipped or failed, printed again at the end and kept in the results. */
const notes: string[] = [];
const loadStart = loadavg();

const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' / ');
const tRun = performance.now();
console.log(`order-path benchmark: ${ms} ms per case (+${warmMs} ms warmup per thread), ${cpus().length} cores, load average (1/5/15 min) at start ${load()}`);

// ---- the shared setup ---------------------------------------------------------------------------
function buildSetup(): Setup {
  const rnd = prng(SEED);
  const real = fixturesPresent() ? realPositionTexts().map((t) => JSON.parse(t) as Position) : [];
  const hotkeys = [...new Set(real.map((p) => p.miner_hotkey))];
  const realCount = hotkeys.length;
  while (hotkeys.length < HOTKEYS) hotkeys.push(makeHotkey(rnd));
  const synthetic = hotkeys.slice(realCount);
  const departed: Record<string, { detected_ms: number }> = fixturesPresent() ? { ...realDeparted() } : {};
  for (const hk of synthetic.slice(0, 4)) departed[hk] = { detected_ms: Date.now() };
  const eliminated = synthetic.slice(4, 7);
  const accountSizes: Record<string, number> = {};
  for (const hk of hotkeys) accountSizes[hk] = 50_000 + Math.floor(rnd() * 200_000);
  const templates: Order[] = [];
  for (const p of real) for (const o of p.orders) if (templates.length < 64 && Array.isArray(o.price_sources) && o.price_sources.length > 0) templates.push(o);
  if (templates.length === 0) {
    templates.push({ order_type: 'LONG', leverage: 0.1, price: 60_000, processed_ms: 0, order_uuid: '', price_sources: [{ source: 'Polygon_ws', timespan_ms: 0, open: 60_000, close: 60_000, vwap: 60_000, high: 60_000, low: 60_000, start_ms: 0, websocket: true, lag_ms: 10, volume: 1 }] });
  }
  // A quarter of the other miners' (hotkey, trade pair) keys start with an open position: a real
  // position, re-keyed, its FLAT orders dropped, so that orders append to positions of real size.
  const positions: Position[] = [...real];
  const sources = real.filter((p) => p.orders.some((o) => o.order_type !== 'FLAT'));
  let k = 0;
  const active = synthetic.filter((hk) => !(hk in departed) && !eliminated.includes(hk));
  if (sources.length > 0) {
    for (const hk of active) {
      for (const tp of TRADE_PAIRS) {
        if (rnd() >= 0.25) continue;
        const src = sources[k++ % sources.length]!;
        const orders = src.orders.filter((o) => o.order_type !== 'FLAT');
        const net = orders.reduce((s, o) => s + o.leverage, 0);
        positions.push({
          ...src, miner_hotkey: hk, position_uuid: uuid(rnd), trade_pair: tp, orders, close_ms: null,
          net_leverage: Math.abs(net) < 1e-9 ? orders[0]!.leverage : net, position_type: orders[0]!.order_type, is_closed_position: false,
        });
      }
    }
  }
  const seededOrders = positions.reduce((s, p) => s + p.orders.length, 0);
  return { hotkeys, eliminated, departed, accountSizes, positions, seededOrders, templates, maxOrders: MAX_ORDERS };
}
const setup = buildSetup();
const openSeeded = setup.positions.filter((p) => !p.is_closed_position).length;
console.log(
  `state: ${setup.hotkeys.length} miners x ${TRADE_PAIRS.length} trade pairs, ${setup.positions.length} positions (${openSeeded} open, ${setup.seededOrders} orders; ` +
    `real JSON from test/fixtures/ptn), ${Object.keys(setup.departed).length} departed, ${setup.eliminated.length} eliminated, ${setup.templates.length} real order templates`,
);

// ---- results ------------------------------------------------------------------------------------
const results: Result[] = [];
/**
 * Extra figures of a case: CPU ms by thread kind; `rss`, this process's RSS at the end of the
 * timed window, of which the case is charged what it added since `markCase()` (called before it
 * builds its state; with --expose-gc, after a full collection); `serverRss`, the RSS of the
 * case's processes outside this one (redis-server; Python's), charged whole.
 */
interface Extra {
  cpuByKind?: Record<string, number>;
  rss?: number;
  serverRss?: number;
}
let rssMark = NaN;
function markCase(): void {
  (globalThis as { gc?: () => void }).gc?.();
  rssMark = rssBytes(process.pid);
}
function record(kind: Kind, threads: number, tallies: Tally[], rows: ArrayLike<number>[], cpuMs: number, check: string, ok: boolean, extra: Extra = {}): void {
  const { values } = percentilesOf(rows, [0.5, 0.99, 1]);
  const orders = tallies.reduce((s, t) => s + t.orders, 0);
  const rate = tallies.reduce((s, t) => s + (t.elapsedMs > 0 ? t.orders / (t.elapsedMs / 1000) : 0), 0);
  const perOrder = (x: number): number => (orders > 0 ? (x * 1000) / orders : NaN);
  const cpuUsByKind = Object.fromEntries(Object.entries(extra.cpuByKind ?? {}).map(([k, v]) => [k, perOrder(v)]));
  const r: Result = {
    kind, threads, orders, rate, p50: values[0]!, p99: values[1]!, max: values[2]!, cpuUsPerOrder: perOrder(cpuMs), cpuUsByKind,
    rssBytes: extra.rss === undefined && extra.serverRss === undefined ? NaN : (extra.rss === undefined ? 0 : extra.rss - rssMark) + (extra.serverRss ?? 0),
    check, ok,
  };
  results.push(r);
  console.log(
    `  ${NAMES[kind]}, ${threads} thread(s): ${orders} orders, ${Math.round(rate).toLocaleString('en-US')} orders/s, p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs, max ${r.max.toFixed(0)} µs, ` +
      `CPU ${r.cpuUsPerOrder.toFixed(0)} µs/order; ${ok ? 'ok' : 'FAIL'}: ${check}`,
  );
}

function checkLine(stored: number, saved: number, warmSaved: number, popped: number): { check: string; ok: boolean } {
  const expect = setup.seededOrders + warmSaved + saved;
  return {
    check: `orders stored ${stored} = seeded ${setup.seededOrders} + saved ${warmSaved + saved} (${warmSaved} in warmup) → ${stored === expect ? 'no lost update' : `${expect - stored} LOST`}; notices popped ${popped}`,
    ok: stored === expect && popped === warmSaved + saved,
  };
}

/** The seeded engine; `lockStripes: 1` for the one-domain case. */
function newEngine(options: { lockStripes?: number } = {}): Engine {
  const engine = createEngine({ ...options, general: generalOptions });
  for (const p of setup.positions) engine.locks.withLock(p.miner_hotkey, tpIdOf(p), () => engine.positions.save(p));
  for (const [hk, v] of Object.entries(setup.departed)) engine.departed.mark(hk, v.detected_ms);
  for (const hk of setup.eliminated) engine.eliminations.add({ hotkey: hk, elimination_initiated_time_ms: Date.now(), dd: 0.11, reason: 'PLAGIARISM', price_info: {}, return_info: {} });
  const sizes = engine.general.map('accountSizes');
  for (const [hk, v] of Object.entries(setup.accountSizes)) sizes.set(hk, v);
  return engine;
}

const LIMIT = ms + warmMs + 60_000;
// ---- 1. sabstate, one thread ----------------------------------------------------------------------
if (CASES.has('sabstate')) {
  markCase();
  const engine = newEngine();
  const rnd = prng(SEED * 1000);
  const q = engine.general.queue(QUEUE);
  let popped = 0;
  const drain = (): void => {
    while (q.pop() !== undefined) popped++;
  };
  const path = sabPath(engine, MAX_ORDERS, rnd, drain);
  const t: Tally = { orders: 0, saved: 0, rejected: 0, warmOrders: 0, warmSaved: 0, elapsedMs: 0 };
  const warmEnd = performance.now() + warmMs;
  while (performance.now() < warmEnd) {
    t.warmOrders++;
    if (sabOrder(path, pick(rnd, setup))) t.warmSaved++;
    if (q.size >= 1024) drain();
  }
  const hist = new Int32Array(BUCKETS);
  const c0 = cpuMsNow();
  const t0 = performance.now();
  const end = t0 + ms;
  let now = t0;
  while (now < end) {
    const p = pick(rnd, setup);
    const a = performance.now();
    const ok = sabOrder(path, p);
    now = performance.now();
    hist[bucketOf((now - a) * 1000)]!++;
    t.orders++;
    if (ok) t.saved++;
    else t.rejected++;
    if (q.size >= 1024) drain();
  }
  t.elapsedMs = now - t0;
  const cpuMs = cpuMsNow() - c0;
  drain();
  const { check, ok } = checkLine(countStoredOrders(engine), t.saved, t.warmSaved, popped);
  record('sabstate', 1, [t], [hist], cpuMs, check, ok, { cpuByKind: { 'process (orders and drain on the main thread)': cpuMs }, rss: rssBytes(process.pid) });
  engine.close();
}

// ---- 2. sabstate, W worker threads ----------------------------------------------------------------
for (const W of CASES.has('sabstate') ? THREADS : []) {
  markCase();
  const engine = newEngine();
  const histograms = createHistograms(W);
  const barrier = new SharedArrayBuffer(8);
  const done = new SharedArrayBuffer(4);
  const tids = new SharedArrayBuffer((W + 1) * 4);
  const common = { handle: engine.handle(), setup, histograms, barrier, done, warmMs, ms, tids };
  const ws = Array.from({ length: W }, (_, i) =>
    tidWorker(new URL('./workers/order-path-sab.ts', import.meta.url), { workerData: { ...common, role: 'order', index: i, tidSlot: i, seed: SEED * 1000 + i } }),
  );
  const consumer = tidWorker(new URL('./workers/order-path-sab.ts', import.meta.url), { workerData: { ...common, role: 'consumer', index: W, tidSlot: W, seed: 0 } });
  const threads = new ThreadCpu().add('order threads', tids, 0, W).add('consumer', tids, W, W + 1);
  for (const w of [...ws, consumer]) engine.watch(w);
  const tallies = ws.map((w) => firstMessage<Tally>(w, LIMIT));
  const consumed = firstMessage<{ popped: number }>(consumer, LIMIT);
  await release(new Int32Array(barrier), W, LIMIT);
  threads.start();
  const c0 = cpuMsNow();
  const ts = await Promise.all(tallies);
  const cpuMs = cpuMsNow() - c0;
  const extra = { cpuByKind: threads.stop(), rss: rssBytes(process.pid) };
  Atomics.store(new Int32Array(done), 0, 1);
  const { popped } = await consumed;
  await Promise.all([...ws, consumer].map((w) => w.terminate()));
  const saved = ts.reduce((s, t) => s + t.saved, 0);
  const warmSaved = ts.reduce((s, t) => s + t.warmSaved, 0);
  const { check, ok } = checkLine(countStoredOrders(engine), saved, warmSaved, popped);
  const rows = histogramRows(histograms);
  const st = engine.stats();
  const qs = st.general.queues[QUEUE];
  const detail = `locks: ${(st.locks.contendedShare * 100).toFixed(1)} % of acquisitions contended, wait total ${st.locks.waitTotalMs.toFixed(0)} ms, held at the end ${st.locks.held}; ` +
    `notice queue: full ${qs?.full ?? '?'} times, consumer waits ${qs?.waits ?? '?'}`;
  record('sabstate', W, ts, rows, cpuMs, `${check}; ${detail}`, ok && st.locks.held === 0, extra);
  engine.close();
}

// ---- 3. peer A: JS server thread ------------------------------------------------------------------
for (const W of CASES.has('js-server') ? PEER_THREADS : []) {
  markCase();
  const histograms = createHistograms(W);
  const barrier = new SharedArrayBuffer(8);
  const done = new SharedArrayBuffer(4);
  const channels = Array.from({ length: W + 1 }, () => new MessageChannel());
  const serverPorts = channels.map((c) => c.port1);
  const tids = new SharedArrayBuffer((W + 2) * 4);
  const server = tidWorker(new URL('./workers/order-path-server.ts', import.meta.url), { workerData: { setup, ports: serverPorts, tids, tidSlot: W + 1 }, transferList: serverPorts });
  const common = { setup, histograms, barrier, done, warmMs, ms, tids };
  const threads = new ThreadCpu().add('order threads', tids, 0, W).add('consumer', tids, W, W + 1).add('server thread', tids, W + 1, W + 2);
  const clients = channels.map((c, i) =>
    tidWorker(new URL('./workers/order-path-client.ts', import.meta.url), {
      workerData: { ...common, role: i < W ? 'order' : 'consumer', port: c.port2, index: i, tidSlot: i, seed: SEED * 1000 + i },
      transferList: [c.port2],
    }),
  );
  const ws = clients.slice(0, W);
  const consumer = clients[W]!;
  server.on('error', (e) => {
    console.error('server thread failed:', e);
    process.exit(1);
  });
  const tallies = ws.map((w) => firstMessage<Tally>(w, LIMIT));
  const consumed = firstMessage<{ popped: number }>(consumer, LIMIT);
  await release(new Int32Array(barrier), W, LIMIT);
  threads.start();
  const c0 = cpuMsNow();
  const ts = await Promise.all(tallies);
  const cpuMs = cpuMsNow() - c0;
  const extra = { cpuByKind: threads.stop(), rss: rssBytes(process.pid) };
  Atomics.store(new Int32Array(done), 0, 1);
  const { popped } = await consumed;
  const report = once(server, 'message') as Promise<[{ storedOrders: number; pushed: number; popped: number; queued: number; locksHeld: number }]>;
  server.postMessage('report');
  const [rep] = await report;
  await Promise.all([...clients, server].map((w) => w.terminate()));
  const saved = ts.reduce((s, t) => s + t.saved, 0);
  const warmSaved = ts.reduce((s, t) => s + t.warmSaved, 0);
  const { check, ok } = checkLine(rep.storedOrders, saved, warmSaved, popped);
  const rows = histogramRows(histograms);
  record('js-server', W, ts, rows, cpuMs, `${check}; locks held at the end ${rep.locksHeld}`, ok && rep.locksHeld === 0, extra);
}

// ---- 5. sabstate with one contention domain, lmdb-js, Redis: W order threads + a consumer -------------
const PEER_LIMIT = LIMIT;
const runCase = (W: number, file: string, extra: object, servers?: { kind: string; pid: number }[]): Promise<CaseRun> =>
  runThreadCase({
    W, setup, warmMs, ms, limitMs: PEER_LIMIT, servers,
    spawn: (data) => tidWorker(new URL(file, import.meta.url), { workerData: { ...data, ...extra } }),
  });

for (const W of CASES.has('one-domain') ? PEER_THREADS : []) {
  markCase();
  const engine = newEngine({ lockStripes: 1 });
  const run = await runCase(W, './workers/order-path-one-domain.ts', { handle: engine.handle() });
  const saved = run.tallies.reduce((s, t) => s + t.saved, 0);
  const warmSaved = run.tallies.reduce((s, t) => s + t.warmSaved, 0);
  const { check, ok } = checkLine(countStoredOrders(engine), saved, warmSaved, run.popped);
  const st = engine.stats();
  record('one-domain', W, run.tallies, run.rows, run.cpuMs, `${check}; locks: ${(st.locks.contendedShare * 100).toFixed(1)} % contended, held at the end ${st.locks.held}`,
    ok && st.locks.held === 0, { cpuByKind: run.cpuByKind, rss: run.rss, serverRss: run.serverRss });
  engine.close();
}

for (const W of CASES.has('lmdb') ? PEER_THREADS : []) {
  markCase();
  const dir = mkdtempSync(join(tmpdir(), 'order-path-lmdb-'));
  try {
    const db = openLmdb(join(dir, 'db'));
    seedLmdb(db, setup);
    const run = await runCase(W, './workers/order-path-lmdb.ts', { path: join(dir, 'db') });
    const saved = run.tallies.reduce((s, t) => s + t.saved, 0);
    const warmSaved = run.tallies.reduce((s, t) => s + t.warmSaved, 0);
    const { check, ok } = checkLine(countLmdbOrders(db), saved, warmSaved, run.popped);
    record('lmdb', W, run.tallies, run.rows, run.cpuMs, check, ok, { cpuByKind: run.cpuByKind, rss: run.rss, serverRss: run.serverRss });
    await db.env.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (CASES.has('redis')) {
  const server = await startRedis();
  if (typeof server === 'string') {
    notes.push(`Redis peer skipped: ${server}`);
    console.log(`  ${notes.at(-1)!}`);
  } else {
    const client = redisClient(server.port);
    try {
      console.log(`  Redis ${server.version} on 127.0.0.1:${server.port} (pid ${server.pid}, --save '' --appendonly no)`);
      for (const W of PEER_THREADS) {
        markCase();
        await seedRedis(client, setup);
        const run = await runCase(W, './workers/order-path-redis.ts', { port: server.port }, [{ kind: 'redis-server', pid: server.pid }]);
        const saved = run.tallies.reduce((s, t) => s + t.saved, 0);
        const warmSaved = run.tallies.reduce((s, t) => s + t.warmSaved, 0);
        const stored = await countRedis(client);
        const { check, ok } = checkLine(stored.orders, saved, warmSaved, run.popped);
        record('redis', W, run.tallies, run.rows, run.cpuMs, `${check}; locks held at the end ${stored.locksHeld}`, ok && stored.locksHeld === 0, { cpuByKind: run.cpuByKind, rss: run.rss, serverRss: run.serverRss });
      }
    } finally {
      client.disconnect();
      await server.stop();
    }
  }
}

// ---- 4. peer B: Python multiprocessing.Manager ----------------------------------------------------
let pythonNote = '';
let pythonFailed = false;
const version = CASES.has('python') ? spawnSync('python3', ['--version'], { encoding: 'utf8', timeout: 10_000 }) : undefined;
if (version === undefined) {
  // not selected (BENCH_CASES)
} else if (version.error !== undefined || version.status !== 0) {
  pythonNote = `peer B (Python multiprocessing.Manager) skipped: python3 not available (${version.error?.message ?? `exit ${version.status}`})`;
  console.log(pythonNote);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'order-path-'));
  const cfgPath = join(dir, 'config.json');
  const managers = [1, 5];
  writeFileSync(cfgPath, JSON.stringify({ setup, tradePairs: TRADE_PAIRS, workers: PEER_THREADS, managers, ms, warmMs, seed: SEED }));
  const script = fileURLToPath(new URL('./peers/manager_order_path.py', import.meta.url));
  // Lock creation (about 7,000 Manager Locks per design at 256 miners) takes seconds; generous.
  const limit = managers.length * (120_000 + PEER_THREADS.length * (ms + warmMs + 8_000));
  const r = spawnSync('python3', [script, cfgPath], { encoding: 'utf8', timeout: limit, maxBuffer: 64 * 2 ** 20 });
  const line = (r.stdout ?? '').split('\n').reverse().find((l) => l.startsWith('{'));
  if (r.status !== 0 || line === undefined) {
    // The config is kept so that the failure can be reproduced by hand.
    pythonFailed = true;
    pythonNote = `peer B failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}; rerun: python3 ${script} ${cfgPath}): ${(r.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}`;
    console.log(pythonNote);
  } else {
    rmSync(dir, { recursive: true, force: true });
    const out = JSON.parse(line) as {
      python: string;
      setup_s: Record<string, number>;
      cases: {
        managers: number; workers: number; orders: number; saved: number; rate: number; cpu_s: number; cpu_by_kind_s: Record<string, number>; rss_bytes: number;
        hist: number[]; stored_orders: number; warm_saved: number; popped: number; ok: boolean;
      }[];
    };
    const setupTimes = Object.entries(out.setup_s).map(([n, s]) => `${n} manager(s) ${s.toFixed(1)} s`).join(', ');
    pythonNote = `peer B: Python ${out.python}, Manager setup (dicts + ${setup.hotkeys.length - 7} x ${TRADE_PAIRS.length} Manager Locks, not timed): ${setupTimes}`;
    console.log(`  ${pythonNote}`);
    for (const c of out.cases) {
      const { check, ok } = checkLine(c.stored_orders, c.saved, c.warm_saved, c.popped);
      const tally: Tally = { orders: c.orders, saved: c.saved, rejected: 0, warmOrders: 0, warmSaved: c.warm_saved, elapsedMs: c.rate > 0 ? (c.orders / c.rate) * 1000 : 0 };
      const cpuByKind = Object.fromEntries(Object.entries(c.cpu_by_kind_s).map(([k, v]) => [k, v * 1000]));
      record(c.managers === 1 ? 'python' : 'python-5', c.workers, [tally], [c.hist], c.cpu_s * 1000, check, ok && c.ok, { cpuByKind, serverRss: c.rss_bytes });
    }
  }
}

// ---- the table, the results files ----------------------------------------------------------------
if (pythonNote !== '') notes.push(pythonNote);
console.log(`\nOrder path, ${ms} ms per case; "sabstate ÷ this": orders/s of sabstate (five domains) over this row's, with as many order threads, in this run`);
console.log(markdownTable(results));
console.log('CPU µs/order: CPU time of all the case\'s threads or processes (order threads, consumer, server thread or process, Manager processes) in the timed window, per order: less sensitive to the machine\'s load than orders/s. RSS: what the case added to this process (state, threads) by the end of its timed window, plus its outside processes (redis-server, Python) whole.');
console.log('\nno-lost-update checks (orders stored at the end = seeded + saved; notices popped = saved):');
for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.kind} x${r.threads}: ${r.check}`);
for (const n of notes) console.log(`\n${n}`);
const state = `${setup.hotkeys.length} miners x ${TRADE_PAIRS.length} trade pairs, ${setup.positions.length} positions (${openSeeded} open, ${setup.seededOrders} orders)`;
const out = writeResults(results, { ms, warmMs, state, notes, loadStart });
if (out !== undefined) console.log(`\nresults: ${join(out, 'order-path.json')}, order-path.md, order-path-orders.svg, order-path-p99.svg`);
console.log(`\nload average (1/5/15 min) at end ${load()}; whole run ${((performance.now() - tRun) / 1000).toFixed(1)} s`);
process.exitCode = results.every((r) => r.ok) && !pythonFailed ? 0 : 1;
