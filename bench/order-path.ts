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
 *      with a consumer process. Skipped if python3 is missing.
 * The peers also run with W = 1, so that every row has a peer with as many order threads.
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
import { tsWorker } from '../test/helpers/workers.ts';
import {
  QUEUE, TRADE_PAIRS, fixturesPresent, generalOptions, makeHotkey, prng, realDeparted, realPositionTexts, uuid,
} from '../examples/validator/shared.ts';
import type { Order, Position } from '../examples/validator/shared.ts';
import { BUCKETS, bucketOf, countStoredOrders, createHistograms, histogramRows, percentilesOf, pick, sabOrder, sabPath, tpIdOf } from './workers/order-path-common.ts';
import type { Setup, Tally } from './workers/order-path-common.ts';

const ms = Number(process.env.BENCH_MS ?? 2000);
const warmMs = Number(process.env.BENCH_WARM_MS ?? 2000);
/** BENCH_THREADS: the sabstate worker-thread counts (default 2,4). */
const THREADS = (process.env.BENCH_THREADS ?? '2,4').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
const PEER_THREADS = [1, 2, 4];
// 64 miners x 28 trade pairs: the Python peer creates a Manager Lock per (miner, trade pair)
// before its timed window, about 1 ms each on this machine.
const HOTKEYS = 64;
const MAX_ORDERS = 100;
const SEED = 1;
/** BENCH_CASES: a comma list of sabstate, js-server, python (default all). */
const CASES = new Set((process.env.BENCH_CASES ?? 'sabstate,js-server,python').split(','));

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
interface Result {
  kind: 'sabstate' | 'js-server' | 'python';
  threads: number;
  orders: number;
  rate: number;
  p50: number;
  p99: number;
  /** CPU time of every thread / process of the case during the timed window, per order. */
  cpuUsPerOrder: number;
  check: string;
  ok: boolean;
}
const results: Result[] = [];
function record(kind: Result['kind'], threads: number, tallies: Tally[], rows: ArrayLike<number>[], cpuMs: number, check: string, ok: boolean): void {
  const { values } = percentilesOf(rows, [0.5, 0.99]);
  const orders = tallies.reduce((s, t) => s + t.orders, 0);
  const rate = tallies.reduce((s, t) => s + (t.elapsedMs > 0 ? t.orders / (t.elapsedMs / 1000) : 0), 0);
  const r: Result = { kind, threads, orders, rate, p50: values[0]!, p99: values[1]!, cpuUsPerOrder: orders > 0 ? (cpuMs * 1000) / orders : NaN, check, ok };
  results.push(r);
  console.log(
    `  ${kind}, ${threads} thread(s): ${orders} orders, ${Math.round(rate).toLocaleString('en-US')} orders/s, p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs, ` +
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

function newEngine(): Engine {
  const engine = createEngine({ general: generalOptions });
  for (const p of setup.positions) engine.locks.withLock(p.miner_hotkey, tpIdOf(p), () => engine.positions.save(p));
  for (const [hk, v] of Object.entries(setup.departed)) engine.departed.mark(hk, v.detected_ms);
  for (const hk of setup.eliminated) engine.eliminations.add({ hotkey: hk, elimination_initiated_time_ms: Date.now(), dd: 0.11, reason: 'PLAGIARISM', price_info: {}, return_info: {} });
  const sizes = engine.general.map('accountSizes');
  for (const [hk, v] of Object.entries(setup.accountSizes)) sizes.set(hk, v);
  return engine;
}

/** Waits for a worker's first message; rejects on its error, an early exit, or the time limit. */
function firstMessage<T>(w: Worker, limitMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`a worker sent nothing within ${limitMs} ms (deadlock?)`)), limitMs);
    w.once('message', (m: T) => {
      clearTimeout(timer);
      resolve(m);
    });
    w.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    w.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before reporting`));
    });
  });
}

/** Waits until `n` threads have arrived at the barrier, then lets them go. */
async function release(barrier: Int32Array, n: number, limitMs: number): Promise<void> {
  const until = performance.now() + limitMs;
  while (Atomics.load(barrier, 0) < n) {
    if (performance.now() > until) throw new Error(`only ${Atomics.load(barrier, 0)} of ${n} threads reached the start barrier in ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  Atomics.store(barrier, 1, 1);
  Atomics.notify(barrier, 1);
}
const LIMIT = ms + warmMs + 60_000;
/** CPU milliseconds (user + system) of this process, every thread. */
const cpuMsNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// ---- 1. sabstate, one thread ----------------------------------------------------------------------
if (CASES.has('sabstate')) {
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
  record('sabstate', 1, [t], [hist], cpuMs, check, ok);
  engine.close();
}

// ---- 2. sabstate, W worker threads ----------------------------------------------------------------
for (const W of CASES.has('sabstate') ? THREADS : []) {
  const engine = newEngine();
  const histograms = createHistograms(W);
  const barrier = new SharedArrayBuffer(8);
  const done = new SharedArrayBuffer(4);
  const common = { handle: engine.handle(), setup, histograms, barrier, done, warmMs, ms };
  const ws = Array.from({ length: W }, (_, i) =>
    tsWorker(new URL('./workers/order-path-sab.ts', import.meta.url), { workerData: { ...common, role: 'order', index: i, seed: SEED * 1000 + i } }),
  );
  const consumer = tsWorker(new URL('./workers/order-path-sab.ts', import.meta.url), { workerData: { ...common, role: 'consumer', index: W, seed: 0 } });
  for (const w of [...ws, consumer]) engine.watch(w);
  const tallies = ws.map((w) => firstMessage<Tally>(w, LIMIT));
  const consumed = firstMessage<{ popped: number }>(consumer, LIMIT);
  await release(new Int32Array(barrier), W, LIMIT);
  const c0 = cpuMsNow();
  const ts = await Promise.all(tallies);
  const cpuMs = cpuMsNow() - c0;
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
  record('sabstate', W, ts, rows, cpuMs, `${check}; ${detail}`, ok && st.locks.held === 0);
  engine.close();
}

// ---- 3. peer A: JS server thread ------------------------------------------------------------------
for (const W of CASES.has('js-server') ? PEER_THREADS : []) {
  const histograms = createHistograms(W);
  const barrier = new SharedArrayBuffer(8);
  const done = new SharedArrayBuffer(4);
  const channels = Array.from({ length: W + 1 }, () => new MessageChannel());
  const serverPorts = channels.map((c) => c.port1);
  const server = tsWorker(new URL('./workers/order-path-server.ts', import.meta.url), { workerData: { setup, ports: serverPorts }, transferList: serverPorts });
  const common = { setup, histograms, barrier, done, warmMs, ms };
  const clients = channels.map((c, i) =>
    tsWorker(new URL('./workers/order-path-client.ts', import.meta.url), {
      workerData: { ...common, role: i < W ? 'order' : 'consumer', port: c.port2, index: i, seed: SEED * 1000 + i },
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
  const c0 = cpuMsNow();
  const ts = await Promise.all(tallies);
  const cpuMs = cpuMsNow() - c0;
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
  record('js-server', W, ts, rows, cpuMs, `${check}; locks held at the end ${rep.locksHeld}`, ok && rep.locksHeld === 0);
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
  writeFileSync(cfgPath, JSON.stringify({ setup, tradePairs: TRADE_PAIRS, workers: PEER_THREADS, ms, warmMs, seed: SEED }));
  const script = fileURLToPath(new URL('./peers/manager_order_path.py', import.meta.url));
  const limit = 20_000 + PEER_THREADS.length * (ms + warmMs + 8_000);
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
      setup_s: number;
      cases: { workers: number; orders: number; saved: number; rate: number; cpu_s: number; hist: number[]; stored_orders: number; warm_saved: number; popped: number; ok: boolean }[];
    };
    pythonNote = `peer B: Python ${out.python}, Manager setup (dicts + ${setup.hotkeys.length - 7} x ${TRADE_PAIRS.length} Manager Locks) ${out.setup_s.toFixed(2)} s, not timed`;
    console.log(`  ${pythonNote}`);
    for (const c of out.cases) {
      const { check, ok } = checkLine(c.stored_orders, c.saved, c.warm_saved, c.popped);
      const tally: Tally = { orders: c.orders, saved: c.saved, rejected: 0, warmOrders: 0, warmSaved: c.warm_saved, elapsedMs: c.rate > 0 ? (c.orders / c.rate) * 1000 : 0 };
      record('python', c.workers, [tally], [c.hist], c.cpu_s * 1000, check, ok && c.ok);
    }
  }
}

// ---- the table ----------------------------------------------------------------------------------
const NAMES: Record<Result['kind'], string> = {
  sabstate: 'sabstate (SharedArrayBuffer + Atomics)',
  'js-server': 'peer A: JS server thread (MessagePort round trips)',
  python: 'peer B: Python multiprocessing.Manager',
};
const peerRate = (kind: Result['kind'], threads: number): number | undefined => results.find((r) => r.kind === kind && r.threads === threads)?.rate;
const ratio = (x: number, y: number | undefined): string => (y === undefined || y === 0 ? '—' : `${x / y >= 100 ? Math.round(x / y) : (x / y).toFixed(2)}x`);
const us = (x: number): string => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
console.log(`\nOrder path, ${ms} ms per case; ratios are orders/s against the peer with the same number of order threads/processes`);
console.log('| case | threads | orders/s | p50 µs | p99 µs | vs Python Manager | vs JS server thread | CPU µs/order |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of results) {
  console.log(
    `| ${NAMES[r.kind]} | ${r.threads} | ${Math.round(r.rate).toLocaleString('en-US')} | ${us(r.p50)} | ${us(r.p99)} | ${ratio(r.rate, peerRate('python', r.threads))} | ${ratio(r.rate, peerRate('js-server', r.threads))} | ${us(r.cpuUsPerOrder)} |`,
  );
}
console.log('CPU µs/order: CPU time of all the case\'s threads or processes (order threads, consumer, server thread, Manager process) in the timed window, per order: less sensitive to the machine\'s load than orders/s.');
console.log('\nno-lost-update checks (orders stored at the end = seeded + saved; notices popped = saved):');
for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.kind} x${r.threads}: ${r.check}`);
if (pythonNote !== '') console.log(`\n${pythonNote}`);
console.log(`\nload average (1/5/15 min) at end ${load()}; whole run ${((performance.now() - tRun) / 1000).toFixed(1)} s`);
process.exitCode = results.every((r) => r.ok) && !pythonFailed ? 0 : 1;
