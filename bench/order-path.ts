/**
 * The side-by-side order-path benchmark (`node --import tsx bench/order-path.ts`, also part of
 * `npm run bench`): the validator's order path (examples/validator/order-worker.ts: fail-early
 * checks, lock (hotkey, trade pair), account size, getOpen, next position, save, websocket
 * notice, release) on the same state and the same order stream (the Python peer: the same
 * distribution from its own PRNG), in one run:
 *
 *   1. sabstate, one thread, in a loop on the main thread (the notice queue drained between
 *      orders, outside the per-order latency, inside the wall time), three variants run in turn
 *      in blocks of BLOCK orders within one timed window (ONE_THREAD below: add one there):
 *      the whole path (getOpenHead + appendOrder), the whole path as before issue 12 (getOpen +
 *      save), and its floor: the essential steps alone (order-path-common.ts sabFloorOrder).
 *      Reported with the ratio whole path / floor in process CPU per order.
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
 * orders/s), the CPU time of each order thread alone (Linux; the one-thread variants: process
 * CPU), and the GC of the order threads in the window: scavenges and mark-compacts per 10,000
 * orders and pause per order (perf_hooks 'gc' entries); the one-thread run also reports the JS
 * heap at the start and the end of its window. At the end of each case: orders stored = seeded
 * + saved (no lost update) and notices popped = saved. BENCH_CASES (default sabstate,js-server,python) picks the cases,
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
import { getHeapStatistics } from 'node:v8';
import {
  BUCKETS, bucketOf, countStoredOrders, createHistograms, gcRecorder, histogramRows, percentilesOf, pick, sabFloor, sabFloorOrder, sabOrder,
  sabPath, tpIdOf,
} from './workers/order-path-common.ts';
import type { GcTally, Pick, Setup, Tally } from './workers/order-path-common.ts';

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
  /** A one-thread variant's name (the whole path, the path before issue 12, the floor). */
  variant?: string;
  threads: number;
  orders: number;
  rate: number;
  p50: number;
  p99: number;
  /** CPU time of every thread / process of the case during the timed window, per order. */
  cpuUsPerOrder: number;
  /** CPU of each order thread alone per order, averaged over the order threads (NaN if unknown). */
  threadCpuUsPerOrder: number;
  /** GC of the order threads per 10,000 orders, and pause per order (undefined if not measured). */
  gc?: { minorPer10k: number; majorPer10k: number; pauseUsPerOrder: number };
  check: string;
  ok: boolean;
}
const results: Result[] = [];
function record(
  kind: Result['kind'], threads: number, tallies: Tally[], rows: ArrayLike<number>[], cpuMs: number, check: string, ok: boolean, variant?: string,
): Result {
  const { values } = percentilesOf(rows, [0.5, 0.99]);
  const orders = tallies.reduce((s, t) => s + t.orders, 0);
  const rate = tallies.reduce((s, t) => s + (t.elapsedMs > 0 ? t.orders / (t.elapsedMs / 1000) : 0), 0);
  const threadCpu = tallies.map((t) => (t.threadCpuMs === undefined || t.orders === 0 ? NaN : (t.threadCpuMs * 1000) / t.orders));
  const gcs = tallies.map((t) => t.gc).filter((g): g is GcTally => g !== undefined);
  const r: Result = {
    kind, variant, threads, orders, rate, p50: values[0]!, p99: values[1]!, cpuUsPerOrder: orders > 0 ? (cpuMs * 1000) / orders : NaN,
    threadCpuUsPerOrder: threadCpu.reduce((a, b) => a + b, 0) / threadCpu.length, check, ok,
  };
  if (gcs.length > 0 && orders > 0) {
    const sum = (f: (g: GcTally) => number): number => gcs.reduce((a, g) => a + f(g), 0);
    r.gc = { minorPer10k: (sum((g) => g.minor) * 1e4) / orders, majorPer10k: (sum((g) => g.major) * 1e4) / orders, pauseUsPerOrder: (sum((g) => g.pauseMs) * 1000) / orders };
  }
  results.push(r);
  const gcText = r.gc === undefined ? '' : `, GC ${r.gc.minorPer10k.toFixed(1)} scavenges + ${r.gc.majorPer10k.toFixed(1)} mark-compacts per 10k orders, pause ${r.gc.pauseUsPerOrder.toFixed(2)} µs/order`;
  console.log(
    `  ${kind}${variant === undefined ? '' : ` (${variant})`}, ${threads} thread(s): ${orders} orders, ${Math.round(rate).toLocaleString('en-US')} orders/s, p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs, ` +
      `CPU ${r.cpuUsPerOrder.toFixed(1)} µs/order (order threads alone ${r.threadCpuUsPerOrder.toFixed(1)})${gcText}; ${ok ? 'ok' : 'FAIL'}: ${check}`,
  );
  return r;
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

// ---- 1. sabstate, one thread: the whole path, the path before issue 12, the floor, in turn ----------
/** Orders per block of the one-thread variants (they take turns block by block in one window). */
const BLOCK = 256;
/** A one-thread variant: its order step on the shared engine (add one here to compare it side by side). */
interface OneThreadCase {
  variant: string;
  /** Whether its orders are stored (counted in the no-lost-update check). */
  stores: boolean;
  order: (p: Pick) => boolean;
  rnd: () => number;
}
if (CASES.has('sabstate')) {
  const engine = newEngine();
  const q = engine.general.queue(QUEUE);
  let popped = 0;
  const drain = (): void => {
    while (q.pop() !== undefined) popped++;
  };
  const variant = (name: string, stores: boolean, seed: number, make: (rnd: () => number) => (p: Pick) => boolean): OneThreadCase => {
    const rnd = prng(seed);
    return { variant: name, stores, order: make(rnd), rnd };
  };
  const ONE_THREAD: OneThreadCase[] = [
    variant('whole path: getOpenHead + appendOrder', true, SEED * 1000, (rnd) => ((s) => (p) => sabOrder(s, p))(sabPath(engine, MAX_ORDERS, rnd, drain))),
    variant('whole path before issue 12: getOpen + save', true, SEED * 1000 + 500, (rnd) => ((s) => (p) => sabOrder(s, p, 'save'))(sabPath(engine, MAX_ORDERS, rnd, drain))),
    variant('floor: the essential steps alone', false, SEED * 1000 + 900, (rnd) => ((s) => (p) => sabFloorOrder(s, p))(sabFloor(engine, MAX_ORDERS, rnd, drain))),
  ];
  const tallies = ONE_THREAD.map((): Tally => ({ orders: 0, saved: 0, rejected: 0, warmOrders: 0, warmSaved: 0, elapsedMs: 0 }));
  const hists = ONE_THREAD.map(() => new Int32Array(BUCKETS));
  const cpu = ONE_THREAD.map(() => 0);
  const blocks: Array<{ c: number; from: number; to: number }> = [];
  const warmEnd = performance.now() + warmMs;
  while (performance.now() < warmEnd) {
    ONE_THREAD.forEach((c, k) => {
      for (let n = 0; n < BLOCK; n++) {
        tallies[k]!.warmOrders++;
        if (c.order(pick(c.rnd, setup))) tallies[k]!.warmSaved++;
        if (q.size >= 1024) drain();
      }
    });
  }
  const gc = gcRecorder();
  const heap0 = getHeapStatistics().used_heap_size;
  const t0 = performance.now();
  const end = t0 + ms;
  let now = t0;
  while (now < end) {
    ONE_THREAD.forEach((c, k) => {
      const t = tallies[k]!;
      const hist = hists[k]!;
      const c0 = cpuMsNow();
      const from = performance.now();
      for (let n = 0; n < BLOCK; n++) {
        const p = pick(c.rnd, setup);
        const a = performance.now();
        const ok = c.order(p);
        now = performance.now();
        hist[bucketOf((now - a) * 1000)]!++;
        t.orders++;
        if (ok) t.saved++;
        else t.rejected++;
        if (q.size >= 1024) drain();
      }
      t.elapsedMs += now - from;
      cpu[k]! += cpuMsNow() - c0;
      blocks.push({ c: k, from, to: now });
    });
  }
  const heap1 = getHeapStatistics().used_heap_size;
  await gc.settled();
  ONE_THREAD.forEach((_, k) => {
    const g: GcTally = { minor: 0, major: 0, pauseMs: 0 };
    for (const b of blocks) {
      if (b.c !== k) continue;
      const x = gc.tally(b.from, b.to);
      g.minor += x.minor;
      g.major += x.major;
      g.pauseMs += x.pauseMs;
    }
    tallies[k]!.gc = g;
    tallies[k]!.threadCpuMs = cpu[k];
  });
  gc.stop();
  drain();
  const stored = ONE_THREAD.reduce((a, c, k) => a + (c.stores ? tallies[k]!.saved + tallies[k]!.warmSaved : 0), 0);
  const pushed = tallies.reduce((a, t) => a + t.saved + t.warmSaved, 0);
  const storedNow = countStoredOrders(engine);
  const okAll = storedNow === setup.seededOrders + stored && popped === pushed;
  const check = `orders stored ${storedNow} = seeded ${setup.seededOrders} + saved by the storing variants ${stored} → ${storedNow === setup.seededOrders + stored ? 'no lost update' : 'LOST'}; notices popped ${popped} of ${pushed} pushed`;
  const rs = ONE_THREAD.map((c, k) => record('sabstate', 1, [tallies[k]!], [hists[k]!], cpu[k]!, check, okAll, c.variant));
  console.log(`  one thread: JS heap used ${(heap0 / 2 ** 20).toFixed(1)} MB at the start of the window, ${(heap1 / 2 ** 20).toFixed(1)} MB at its end`);
  const floor = rs[2]!;
  for (const r of rs.slice(0, 2)) {
    console.log(`  ${r.variant} / floor: CPU per order ${(r.cpuUsPerOrder / floor.cpuUsPerOrder).toFixed(2)}x, p50 ${(r.p50 / floor.p50).toFixed(2)}x, p99 ${(r.p99 / floor.p99).toFixed(2)}x`);
  }
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
console.log('| case | threads | orders/s | p50 µs | p99 µs | vs Python Manager | vs JS server thread | CPU µs/order | per order thread | scavenges / 10k | GC pause µs/order |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
const oneThreadRate = results.find((r) => r.kind === 'sabstate' && r.threads === 1)?.rate;
for (const r of results) {
  const g = r.gc === undefined ? '— | —' : `${r.gc.minorPer10k.toFixed(1)} | ${r.gc.pauseUsPerOrder.toFixed(2)}`;
  // The one-thread variants are no peers' match: compared with the one-thread whole path.
  const peers = r.variant !== undefined && r.variant !== results.find((x) => x.variant !== undefined)?.variant
    ? `${ratio(r.rate, oneThreadRate)} of the whole path | —`
    : `${ratio(r.rate, peerRate('python', r.threads))} | ${ratio(r.rate, peerRate('js-server', r.threads))}`;
  console.log(
    `| ${NAMES[r.kind]}${r.variant === undefined ? '' : `, ${r.variant}`} | ${r.threads} | ${Math.round(r.rate).toLocaleString('en-US')} | ${us(r.p50)} | ${us(r.p99)} | ${peers} | ${us(r.cpuUsPerOrder)} | ${us(r.threadCpuUsPerOrder)} | ${g} |`,
  );
}
console.log('CPU µs/order: CPU time of all the case\'s threads or processes (order threads, consumer, server thread, Manager process) in the timed window, per order: less sensitive to the machine\'s load than orders/s. Per order thread: the CPU of each order thread alone (Linux, 10 ms ticks), averaged. GC: the order threads\' own collections in the window.');
const sab1 = results.find((r) => r.kind === 'sabstate' && r.threads === 1);
for (const r of results.filter((x) => x.kind === 'sabstate' && x.threads > 1 && x.variant === undefined)) {
  if (sab1 !== undefined) console.log(`sabstate, ${r.threads} order threads: ${(r.rate / sab1.rate).toFixed(2)}x the orders/s of one (the one-thread whole path; ${cpus().length} cores)`);
}
console.log('\nno-lost-update checks (orders stored at the end = seeded + saved; notices popped = saved):');
for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.kind} x${r.threads}: ${r.check}`);
if (pythonNote !== '') console.log(`\n${pythonNote}`);
console.log(`\nload average (1/5/15 min) at end ${load()}; whole run ${((performance.now() - tRun) / 1000).toFixed(1)} s`);
process.exitCode = results.every((r) => r.ok) && !pythonFailed ? 0 : 1;
