/**
 * The side-by-side order-path benchmark (`node --import tsx bench/order-path.ts`, also part of
 * `npm run bench`): the validator's order path (examples/validator/order-worker.ts: fail-early
 * checks, lock (hotkey, trade pair), account size, getOpen, next position, save, websocket
 * notice, release) on the same state and the same order stream (the Python peer: the same
 * distribution from its own PRNG), in one run:
 *
 *   1. sabstate, one thread, in a loop on a main thread (the notice queue drained between
 *      orders, outside the per-order latency, inside the CPU), three variants: the whole path
 *      (getOpenHead + appendOrder), the whole path as before issue 12 (getOpen + save), and its
 *      floor: the essential steps alone (order-path-common.ts sabFloorOrder). By default
 *      (BENCH_ONE_THREAD=processes) each variant runs in its own process on its own engine
 *      (bench/workers/order-path-solo.ts), the three taking turns in blocks of SOLO_BLOCK orders
 *      within one window, for BENCH_ONE_ROUNDS rounds (default 3, every round printed): each is
 *      charged its own process CPU, its GC helper threads included. BENCH_ONE_THREAD=shared runs
 *      them in turn in THIS process on one engine, blocks of BLOCK (SOLO below / ONE_THREAD: add
 *      a variant there), as before: there the GC helpers' CPU lands on whichever variant's block
 *      is running. Reported with the ratio whole path / floor in process CPU per order.
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
 *      on a free loopback port and stopped after; skipped with a line if it is not installed),
 *      and beside it, interleaved, sabstate on Redis (createRedisEngine on the same server,
 *      order-path-redis-sabstate.ts, case redis-sabstate):
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
 * orders/s), the same by thread kind, the CPU time of each order thread alone (Linux; the
 * one-thread variants: process CPU), the GC of the order threads in the window: scavenges and
 * mark-compacts per 10,000 orders and pause per order (perf_hooks 'gc' entries), and the RSS the
 * case added; the one-thread run also reports the JS heap at the start and the end of its
 * window. At the end of each case: orders stored = seeded + saved (no lost update) and
 * notices popped = saved. BENCH_CASES (default: all of sabstate, one-domain, lmdb, redis, js-server, python) picks the cases,
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
import { createEngine, createRedisEngine } from '../src/index.ts';
import type { Engine } from '../src/index.ts';
import {
  QUEUE, TRADE_PAIRS, generalOptions, prng,
} from '../examples/validator/shared.ts';
import { getHeapStatistics } from 'node:v8';
import {
  BUCKETS, benchPrefault, bucketOf, buildSetup, countStoredOrders, createHistograms, gcRecorder, histogramRows, percentilesOf, pick, prefaultLabel, sabFloor, sabFloorOrder, sabOrder,
  sabPath, seedEngine,
} from './workers/order-path-common.ts';
import type { GcTally, Pick, Tally } from './workers/order-path-common.ts';
import { cpuMsNow, firstMessage, release, runThreadCase, tidWorker } from './peers/thread-case.ts';
import type { CaseRun } from './peers/thread-case.ts';
import { ThreadCpu, rssBytes } from './peers/os-stats.ts';
import { markdownTable, nameOf, writeResults } from './peers/report.ts';
import type { Kind, Result } from './peers/report.ts';
import { countLmdbOrders, openLmdb, seedLmdb } from './peers/lmdb-store.ts';
import { countRedis, redisClient, seedRedis, startRedis } from './peers/redis-store.ts';
import { perOrder, runSolo } from './workers/order-path-solo-run.ts';
import type { SoloReport, SoloVariant } from './workers/order-path-solo-run.ts';
import { BENCH_REDIS_GENERAL, countSabstateRedis, seedSabstateRedis } from './workers/order-path-redis-sabstate.ts';

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
/** BENCH_CASES: a comma list of sabstate, one-domain, lmdb, redis, redis-sabstate, js-server, python (default all). */
const CASES = new Set((process.env.BENCH_CASES ?? 'sabstate,one-domain,lmdb,redis,redis-sabstate,js-server,python').split(','));
/** Lines saying which peers were skipped or failed, printed again at the end and kept in the results. */
const notes: string[] = [];
const loadStart = loadavg();

const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' / ');
const tRun = performance.now();
console.log(`order-path benchmark: ${ms} ms per case (+${warmMs} ms warmup per thread), sabstate engines with ${prefaultLabel()} (BENCH_PREFAULT), ${cpus().length} cores, load average (1/5/15 min) at start ${load()}`);

// ---- the shared setup (order-path-common.ts buildSetup: also the steps diagnostic's) ----------------
const setup = buildSetup(HOTKEYS, MAX_ORDERS, SEED);
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
 * case's processes outside this one (redis-server; Python's), charged whole; `variant`, a
 * one-thread variant's name. The order threads' own CPU and GC come in the tallies.
 */
interface Extra {
  cpuByKind?: Record<string, number>;
  rss?: number;
  serverRss?: number;
  variant?: string;
}
let rssMark = NaN;
function markCase(): void {
  (globalThis as { gc?: () => void }).gc?.();
  rssMark = rssBytes(process.pid);
}
function record(kind: Kind, threads: number, tallies: Tally[], rows: ArrayLike<number>[], cpuMs: number, check: string, ok: boolean, extra: Extra = {}): Result {
  const { values } = percentilesOf(rows, [0.5, 0.99, 1]);
  const orders = tallies.reduce((s, t) => s + t.orders, 0);
  const rate = tallies.reduce((s, t) => s + (t.elapsedMs > 0 ? t.orders / (t.elapsedMs / 1000) : 0), 0);
  const perOrder = (x: number): number => (orders > 0 ? (x * 1000) / orders : NaN);
  const cpuUsByKind = Object.fromEntries(Object.entries(extra.cpuByKind ?? {}).map(([k, v]) => [k, perOrder(v)]));
  const r: Result = {
    kind, ...(extra.variant === undefined ? {} : { variant: extra.variant }), threads, orders, rate, p50: values[0]!, p99: values[1]!, max: values[2]!,
    cpuUsPerOrder: perOrder(cpuMs), cpuUsByKind,
    rssBytes: extra.rss === undefined && extra.serverRss === undefined ? NaN : (extra.rss === undefined ? 0 : extra.rss - rssMark) + (extra.serverRss ?? 0),
    check, ok,
  };
  // Each order thread's own CPU per order, averaged over the order threads (where they report it).
  const threadCpu = tallies.filter((t) => t.threadCpuMs !== undefined && t.orders > 0).map((t) => (t.threadCpuMs! * 1000) / t.orders);
  if (threadCpu.length > 0) r.threadCpuUsPerOrder = threadCpu.reduce((a, b) => a + b, 0) / threadCpu.length;
  const gcs = tallies.map((t) => t.gc).filter((g): g is GcTally => g !== undefined);
  if (gcs.length > 0 && orders > 0) {
    const sum = (f: (g: GcTally) => number): number => gcs.reduce((a, g) => a + f(g), 0);
    r.gc = { minorPer10k: (sum((g) => g.minor) * 1e4) / orders, majorPer10k: (sum((g) => g.major) * 1e4) / orders, pauseUsPerOrder: (sum((g) => g.pauseMs) * 1000) / orders };
  }
  results.push(r);
  const threadText = r.threadCpuUsPerOrder === undefined ? '' : ` (order threads alone ${r.threadCpuUsPerOrder.toFixed(1)})`;
  const gcText = r.gc === undefined ? '' : `, GC ${r.gc.minorPer10k.toFixed(1)} scavenges + ${r.gc.majorPer10k.toFixed(1)} mark-compacts per 10k orders, pause ${r.gc.pauseUsPerOrder.toFixed(2)} µs/order`;
  console.log(
    `  ${nameOf(r)}, ${threads} thread(s): ${orders} orders, ${Math.round(rate).toLocaleString('en-US')} orders/s, p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs, max ${r.max.toFixed(0)} µs, ` +
      `CPU ${r.cpuUsPerOrder.toFixed(1)} µs/order${threadText}${gcText}; ${ok ? 'ok' : 'FAIL'}: ${check}`,
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

/** The seeded engine; `lockStripes: 1` for the one-domain case. */
function newEngine(options: { lockStripes?: number; positions?: { maxRecords: number; maxBytes: number } } = {}): Engine {
  const engine = createEngine({ ...options, general: generalOptions, ...benchPrefault() });
  seedEngine(engine, setup);
  return engine;
}

const LIMIT = ms + warmMs + 60_000;
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
/**
 * BENCH_ONE_THREAD: how the one-thread variants run. 'processes' (default): each in its own
 * process (bench/workers/order-path-solo-run.ts), taking turns by block, BENCH_ONE_ROUNDS rounds
 * (default 3) with the first variant rotating; each is charged its own process CPU, GC helper
 * threads included, and every round is printed. 'shared': the three in this process, as before
 * the fifth session (their GC helpers' CPU lands on whichever block runs).
 */
const ONE_THREAD_MODE = process.env.BENCH_ONE_THREAD ?? 'processes';
const ONE_ROUNDS = Number(process.env.BENCH_ONE_ROUNDS ?? 3);
/** Orders per turn of a process variant (larger than BLOCK: a turn costs each process an IPC message, about 0.1 ms). */
const SOLO_BLOCK = Number(process.env.BENCH_ONE_BLOCK ?? 1024);
/** Orders of the append step each variant's process runs first, the same in each, so all start from the whole path's steady state (order-path-solo.ts). */
const SOLO_EVOLVE = Number(process.env.BENCH_ONE_EVOLVE ?? 30_000);
/** The one-thread variants (the whole path first: the row the ratios and charts take, report.ts). */
const SOLO: SoloVariant[] = [
  { key: 'append', name: 'whole path: getOpenHead + appendOrder', streamSeed: SEED * 1000 },
  { key: 'save', name: 'whole path before issue 12: getOpen + save', streamSeed: SEED * 1000 + 500 },
  { key: 'floor', name: 'floor: the essential steps alone', streamSeed: SEED * 1000 + 900 },
  // The same floor, its order chunks kept allocated: storing an order writes fresh memory (the
  // whole path's heap grows by every order; first-touch page faults cost about 17 µs each on
  // the 2-core VM of the fifth session), which the floor above, reusing two warm blocks, never does.
  { key: 'floor-kept', name: 'floor, orders kept: its order chunks stay allocated', streamSeed: SEED * 1000 + 900 },
];
/**
 * BENCH_ONE_PREFAULT_AB=1: the whole path and the floor once more, their engines created without
 * the prefault (BENCH_PREFAULT), in the same window, so that what the prefault changes for each
 * is measured side by side (printed per round, and two more rows in the table).
 */
const PREFAULT_AB = process.env.BENCH_ONE_PREFAULT_AB === '1';
if (PREFAULT_AB) {
  SOLO.push(
    { key: 'append', name: 'whole path, prefault off', streamSeed: SEED * 1000, noPrefault: true },
    { key: 'floor', name: 'floor, prefault off', streamSeed: SEED * 1000 + 900, noPrefault: true },
  );
}
if (CASES.has('sabstate') && ONE_THREAD_MODE === 'processes') {
  const rounds = await runSolo({ variants: SOLO, rounds: ONE_ROUNDS, ms, warmMs, block: SOLO_BLOCK, evolve: SOLO_EVOLVE, hotkeys: HOTKEYS, maxOrders: MAX_ORDERS, seed: SEED, limitMs: LIMIT });
  console.log(`  one thread, each variant in its own process, blocks of ${SOLO_BLOCK} in turn, ${rounds.length} round(s) (all printed; the rows below are the round of the median whole / floor CPU ratio):`);
  const f = (x: number, d = 1): string => x.toFixed(d);
  const ratios = rounds.map((reps, r) => {
    for (const rep of reps) {
      const c = perOrder(rep);
      const { values } = percentilesOf([rep.hist], [0.5, 0.99]);
      console.log(
        `    round ${r + 1} ${rep.variant.padEnd(6)}: ${rep.orders} orders, process CPU ${f(c.process)} µs/order (main thread ${f(c.main)}, other threads ${f(c.helpers)}), ` +
          `GC ${f((rep.gc.minor * 1e4) / rep.orders)} scavenges + ${f((rep.gc.major * 1e4) / rep.orders)} mark-compacts per 10k, pause ${f(c.gcPause, 2)} µs/order; ` +
          `p50 ${f(values[0]!)} p99 ${f(values[1]!)} µs; run-queue wait ${f(rep.runqWaitUs / 1000)} ms, ${rep.involuntary} involuntary switches, ${rep.minorFaults} minor faults; ${rep.ok ? 'ok' : 'FAIL'}`,
      );
    }
    const w = reps[0]!;
    const fl = reps[SOLO.findIndex((v) => v.key === 'floor')]!;
    const kept = reps[SOLO.findIndex((v) => v.key === 'floor-kept')];
    const pw = percentilesOf([w.hist], [0.99]).values[0]!;
    const pf = percentilesOf([fl.hist], [0.99]).values[0]!;
    const x = {
      cpu: perOrder(w).process / perOrder(fl).process, main: perOrder(w).main / perOrder(fl).main, p99w: pw, p99f: pf,
      kept: kept === undefined ? NaN : perOrder(w).process / perOrder(kept).process,
    };
    console.log(`    round ${r + 1}: whole / floor process CPU ${f(x.cpu, 3)}x, main-thread CPU ${f(x.main, 3)}x; whole / floor with orders kept, process CPU ${f(x.kept, 3)}x; p99 whole ${f(pw)} µs, floor ${f(pf)} µs`);
    if (PREFAULT_AB) {
      const wo = reps[SOLO.findIndex((v) => v.key === 'append' && v.noPrefault === true)]!;
      const fo = reps[SOLO.findIndex((v) => v.key === 'floor' && v.noPrefault === true)]!;
      const c = (a: SoloReport, b: SoloReport): string => f(perOrder(a).process / perOrder(b).process, 3);
      console.log(`    round ${r + 1}, prefault off / on, process CPU: whole ${c(wo, w)}x, floor ${c(fo, fl)}x; whole / floor with prefault off ${c(wo, fo)}x`);
    }
    return x;
  });
  const order = ratios.map((x, i) => [x.cpu, i] as const).sort((a, b) => a[0] - b[0]);
  const mid = order[(order.length - 1) >> 1]![1];
  console.log(`    whole / floor process CPU by round: ${ratios.map((x) => f(x.cpu, 3)).join(', ')} (median ${f(ratios[mid]!.cpu, 3)}x); main-thread CPU: ${ratios.map((x) => f(x.main, 3)).join(', ')}; ` +
    `against the floor with orders kept: ${ratios.map((x) => f(x.kept, 3)).join(', ')}; ` +
    `p99 whole: ${ratios.map((x) => f(x.p99w)).join(', ')} µs, floor: ${ratios.map((x) => f(x.p99f)).join(', ')} µs`);
  const rs = rounds[mid]!.map((rep, k) => {
    const tally: Tally = {
      orders: rep.orders, saved: rep.saved, rejected: rep.orders - rep.saved, warmOrders: rep.warmOrders, warmSaved: rep.warmSaved, elapsedMs: rep.elapsedMs,
      threadCpuMs: rep.mainCpuUs / 1000, gc: rep.gc,
    };
    // RSS: the variant's whole process (its engine, its V8 heap, the runtime), charged whole.
    return record('sabstate', 1, [tally], [rep.hist], rep.processCpuUs / 1000, rep.check, rep.ok, {
      cpuByKind: { 'its process (orders, drain, GC helpers)': rep.processCpuUs / 1000, 'main thread': rep.mainCpuUs / 1000, 'other threads of its process': (rep.processCpuUs - rep.mainCpuUs) / 1000 },
      serverRss: rep.rss, variant: SOLO[k]!.name,
    });
  });
  const floorRow = rs[SOLO.findIndex((v) => v.key === 'floor')]!;
  for (const r of rs.filter((x) => x !== floorRow)) {
    console.log(`  ${r.variant!} / floor (round ${mid + 1}): CPU per order ${(r.cpuUsPerOrder / floorRow.cpuUsPerOrder).toFixed(2)}x, p50 ${(r.p50 / floorRow.p50).toFixed(2)}x, p99 ${(r.p99 / floorRow.p99).toFixed(2)}x`);
  }
}
if (CASES.has('sabstate') && ONE_THREAD_MODE === 'shared') {
  markCase();
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
  // The whole path first: the row the ratios against the peers and the charts take (report.ts).
  const ONE_THREAD: OneThreadCase[] = [
    variant('whole path: getOpenHead + appendOrder', true, SEED * 1000, (rnd) => ((s) => (p) => sabOrder(s, p))(sabPath(engine, MAX_ORDERS, rnd, drain))),
    variant('whole path before issue 12: getOpen + save', true, SEED * 1000 + 500, (rnd) => ((s) => (p) => sabOrder(s, p))(sabPath(engine, MAX_ORDERS, rnd, drain, 'save'))),
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
  const rss = rssBytes(process.pid);
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
  // The three share the engine and the window: each is charged the same RSS (what the case added).
  const rs = ONE_THREAD.map((c, k) =>
    record('sabstate', 1, [tallies[k]!], [hists[k]!], cpu[k]!, check, okAll, { cpuByKind: { 'process (orders and drain on the main thread)': cpu[k]! }, rss, variant: c.variant }),
  );
  console.log(`  one thread: JS heap used ${(heap0 / 2 ** 20).toFixed(1)} MB at the start of the window, ${(heap1 / 2 ** 20).toFixed(1)} MB at its end`);
  const floor = rs[2]!;
  for (const r of rs.slice(0, 2)) {
    console.log(`  ${r.variant!} / floor: CPU per order ${(r.cpuUsPerOrder / floor.cpuUsPerOrder).toFixed(2)}x, p50 ${(r.p50 / floor.p50).toFixed(2)}x, p99 ${(r.p99 / floor.p99).toFixed(2)}x`);
  }
  engine.close();
}

// ---- 2. sabstate, W worker threads (bench/peers/thread-case.ts) ------------------------------------
const PEER_LIMIT = LIMIT;
/** One case of W order threads and a consumer thread on `file`; `onSpawn` sees each worker as it starts. */
const runCase = (W: number, file: string, extra: object, servers?: { kind: string; pid: number }[], onSpawn?: (w: Worker) => void): Promise<CaseRun> =>
  runThreadCase({
    W, setup, warmMs, ms, limitMs: PEER_LIMIT, servers,
    spawn: (data) => {
      const w = tidWorker(new URL(file, import.meta.url), { workerData: { ...data, ...extra } });
      onSpawn?.(w);
      return w;
    },
  });

/**
 * The W-thread cases' positions room: every order opens a position with odds about 1 in 11 and
 * no position is deleted, so two threads at 170,000 orders/s filled the default 131,072 records
 * within warmup + 5 s ("positions: table full" in a worker, reported as "worker exited with 1",
 * on whichever tree was faster). Four times the records, and the largest heap (it grows on use).
 */
const THREAD_CASE_POSITIONS = { maxRecords: 1 << 19, maxBytes: 2 ** 31 - 2 ** 16 };

for (const W of CASES.has('sabstate') ? THREADS : []) {
  markCase();
  const engine = newEngine({ positions: THREAD_CASE_POSITIONS });
  const run = await runCase(W, './workers/order-path-sab.ts', { handle: engine.handle() }, undefined, (w) => engine.watch(w));
  const saved = run.tallies.reduce((s, t) => s + t.saved, 0);
  const warmSaved = run.tallies.reduce((s, t) => s + t.warmSaved, 0);
  const { check, ok } = checkLine(countStoredOrders(engine), saved, warmSaved, run.popped);
  const st = engine.stats();
  const qs = st.general.queues[QUEUE];
  const detail = `locks: ${(st.locks.contendedShare * 100).toFixed(1)} % of acquisitions contended, wait total ${st.locks.waitTotalMs.toFixed(0)} ms, held at the end ${st.locks.held}; ` +
    `notice queue: full ${qs?.full ?? '?'} times, consumer waits ${qs?.waits ?? '?'}`;
  record('sabstate', W, run.tallies, run.rows, run.cpuMs, `${check}; ${detail}`, ok && st.locks.held === 0, { cpuByKind: run.cpuByKind, rss: run.rss, serverRss: run.serverRss });
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

if (CASES.has('redis') || CASES.has('redis-sabstate')) {
  const server = await startRedis();
  if (typeof server === 'string') {
    notes.push(`Redis peer skipped: ${server}`);
    console.log(`  ${notes.at(-1)!}`);
  } else {
    const client = redisClient(server.port);
    const url = `redis://127.0.0.1:${server.port}`;
    const rs = [{ kind: 'redis-server', pid: server.pid }];
    try {
      console.log(`  Redis ${server.version} on 127.0.0.1:${server.port} (pid ${server.pid}, --save '' --appendonly no)`);
      // The hand-written peer and sabstate on Redis (bench/workers/order-path-redis-sabstate.ts)
      // on the same server, interleaved per thread count (which goes first alternates).
      const kinds = (['redis', 'redis-sabstate'] as const).filter((k) => CASES.has(k));
      for (const [wi, W] of PEER_THREADS.entries()) {
        for (const kind of wi % 2 === 0 ? kinds : [...kinds].reverse()) {
          markCase();
          await client.flushall();
          if (kind === 'redis') {
            await seedRedis(client, setup);
            const run = await runCase(W, './workers/order-path-redis.ts', { port: server.port }, rs);
            const saved = run.tallies.reduce((s, t) => s + t.saved, 0);
            const warmSaved = run.tallies.reduce((s, t) => s + t.warmSaved, 0);
            const stored = await countRedis(client);
            const { check, ok } = checkLine(stored.orders, saved, warmSaved, run.popped);
            record('redis', W, run.tallies, run.rows, run.cpuMs, `${check}; locks held at the end ${stored.locksHeld}`, ok && stored.locksHeld === 0, { cpuByKind: run.cpuByKind, rss: run.rss, serverRss: run.serverRss });
          } else {
            const keyPrefix = `bench${W}:`;
            const e = await createRedisEngine({ url, keyPrefix, general: BENCH_REDIS_GENERAL });
            try {
              await seedSabstateRedis(e, setup);
              const seeded = await countSabstateRedis(e);
              const run = await runCase(W, './workers/order-path-redis-sabstate.ts', { url, keyPrefix }, rs);
              const saved = run.tallies.reduce((s, t) => s + t.saved, 0);
              const warmSaved = run.tallies.reduce((s, t) => s + t.warmSaved, 0);
              const { check, ok } = checkLine(await countSabstateRedis(e) - seeded + setup.seededOrders, saved, warmSaved, run.popped);
              const locksHeld = (await client.keys(`${keyPrefix}{*}:lock:*`)).length;
              record('redis-sabstate', W, run.tallies, run.rows, run.cpuMs, `${check}; locks held at the end ${locksHeld}`, ok && locksHeld === 0, { cpuByKind: run.cpuByKind, rss: run.rss, serverRss: run.serverRss });
            } finally {
              await e.close();
            }
          }
        }
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
console.log(`\nOrder path, ${ms} ms per case; "sabstate ÷ this": orders/s of sabstate (five domains; one thread: the whole path) over this row's, with as many order threads, in this run`);
console.log(markdownTable(results));
console.log('CPU µs/order: CPU time of all the case\'s threads or processes (order threads, consumer, server thread or process, Manager processes) in the timed window, per order: less sensitive to the machine\'s load than orders/s. ' +
  'Per order thread: the CPU of each order thread alone (Linux, 10 ms ticks; the one-thread variants: process CPU), averaged. GC: the order threads\' own collections in the window (— where not measured: the Python peers). ' +
  'RSS: what the case added to this process (state, threads) by the end of its timed window, plus its outside processes (redis-server, Python) whole.');
const sab1 = results.find((r) => r.kind === 'sabstate' && r.threads === 1);
for (const r of results.filter((x) => x.kind === 'sabstate' && x.threads > 1)) {
  if (sab1 !== undefined) console.log(`sabstate, ${r.threads} order threads: ${(r.rate / sab1.rate).toFixed(2)}x the orders/s of one (the one-thread whole path; ${cpus().length} cores)`);
}
console.log('\nno-lost-update checks (orders stored at the end = seeded + saved; notices popped = saved):');
for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.kind}${r.variant === undefined ? '' : ` (${r.variant})`} x${r.threads}: ${r.check}`);
for (const n of notes) console.log(`\n${n}`);
const state = `${setup.hotkeys.length} miners x ${TRADE_PAIRS.length} trade pairs, ${setup.positions.length} positions (${openSeeded} open, ${setup.seededOrders} orders)`;
const out = writeResults(results, { ms, warmMs, state, notes, loadStart });
if (out !== undefined) console.log(`\nresults: ${join(out, 'order-path.json')}, order-path.md, order-path-orders.svg, order-path-p99.svg`);
console.log(`\nload average (1/5/15 min) at end ${load()}; whole run ${((performance.now() - tRun) / 1000).toFixed(1)} s`);
process.exitCode = results.every((r) => r.ok) && !pythonFailed ? 0 : 1;
