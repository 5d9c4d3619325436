/**
 * The validator demo (the project's main job): a multi-threaded simulation of the validator's
 * order path on worker threads, over one sabstate engine.
 *
 *   npm start -- --workers 4 --orders 200000
 *
 * Threads: `--workers` order workers (order-worker.ts), one websocket consumer draining the
 * notice queue (consumer-worker.ts), one elimination sweeper (sweeper-worker.ts), and the main
 * thread, which runs a sync through the sync gate every `--sync-every` ms and prints a live
 * progress line. The state is seeded from the real validator data (test/fixtures/ptn) or from a
 * validator tree given with `--import <validation dir>`. At the end: the per-domain stats table
 * and the no-loss check (orders in = saved + rejected; saved = notices popped = orders found in
 * the stored positions). Exit code 1 if any check fails.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createEngine, importValidatorTree, SabStateError } from '../../src/index.ts';
import type { Engine } from '../../src/index.ts';
import { BUCKETS, createHistograms, percentiles, percentilesOf, progressLine, sumRows } from './latency.ts';
import {
  TRADE_PAIRS, engineTotals, fixturesPresent, generalOptions, makeHotkey, prng, realDeparted, realPositionTexts, tradePairIdOf, tsWorker,
} from './shared.ts';
import type { Order, Position } from './shared.ts';

const USAGE = `usage: npm start -- [options]
  --workers <n>       order worker threads (default 4)
  --orders <n>        orders in total (default 200000)
  --hotkeys <n>       miners (default 256, at most 100000)
  --max-orders <n>    orders after which a position is closed (default 100)
  --sync-every <ms>   a sync through the sync gate every ms (default 500; 0: none)
  --import <dir>      seed from a validator's validation/ directory instead of the bundled data
  --seed <n>          seed of the order stream (default 1)
  --prefault <MiB>    positions heap room written once at start, so that orders take no
                      first-touch page fault (createEngine's prefault option; default: 512 bytes
                      per order, at most 256 MiB; off: none)
  --quiet             no live progress line
  --backend <b>       sab (default: this process's threads on SharedArrayBuffers) or redis (the
                      same validator in several processes on one Redis: examples/redis/main.ts,
                      whose flags follow, e.g. --processes 4 --start-redis)
  --help`;

function fail(msg: string): never {
  console.error(`error: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

/** One line for an error that is not a usage error (no stack: this is a demo's output). */
function die(what: string, e: unknown): never {
  const code = e instanceof SabStateError ? ` (${e.code})` : '';
  console.error(`error: ${what}: ${e instanceof Error ? e.message : String(e)}${code}`);
  process.exit(1);
}

function intFlag(v: string | undefined, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) fail(`--${name} must be a whole number, got ${JSON.stringify(v)}`);
  const n = Number(v);
  if (n < min || n > max) fail(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

// --backend redis: the same validator across processes on Redis (examples/redis/main.ts), with
// every other flag handed on; its exit code is this one's.
{
  const argv = process.argv.slice(2);
  const at = argv.findIndex((x) => x === '--backend' || x.startsWith('--backend='));
  if (at >= 0) {
    const value = argv[at]!.includes('=') ? argv[at]!.slice('--backend='.length) : argv[at + 1];
    const rest = argv.filter((_, i) => i !== at && !(i === at + 1 && !argv[at]!.includes('=')));
    if (value === 'redis') {
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../redis/main.ts', import.meta.url)), ...rest], { stdio: 'inherit' });
      process.exit(r.status ?? 1);
    }
    if (value !== 'sab') fail(`--backend must be sab or redis, got ${JSON.stringify(value ?? '')}`);
    process.argv.splice(2, argv.length, ...rest);
  }
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      workers: { type: 'string' }, orders: { type: 'string' }, hotkeys: { type: 'string' }, 'max-orders': { type: 'string' },
      'sync-every': { type: 'string' }, import: { type: 'string' }, seed: { type: 'string' }, prefault: { type: 'string' }, quiet: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
} catch (e) {
  fail((e as Error).message);
}
const a = parsed.values;
if (a.help) {
  console.log(USAGE);
  process.exit(0);
}
const cfg = {
  workers: intFlag(a.workers, 'workers', 4, 1, 256),
  orders: intFlag(a.orders, 'orders', 200_000, 1, 100_000_000),
  // The accountSizes map (one account size per miner) is sized from this flag below.
  hotkeys: intFlag(a.hotkeys, 'hotkeys', 256, 8, 100_000),
  maxOrders: intFlag(a['max-orders'], 'max-orders', 100, 2, 1000),
  syncEvery: intFlag(a['sync-every'], 'sync-every', 500, 0, 3_600_000),
  seed: intFlag(a.seed, 'seed', 1, 0, 2 ** 31 - 1),
};
// Positions heap headroom written once in createEngine (MiB; 0: off): a stored order takes about
// 500 bytes, and a page's first write is a minor fault (about 17 µs on a small VM) on some order.
const prefaultMiB = a.prefault === 'off' ? 0 : intFlag(a.prefault, 'prefault', Math.min(256, Math.ceil((cfg.orders * 512) / 2 ** 20)), 1, 2047);

if (a.import !== undefined) {
  let isDir = false;
  try {
    isDir = statSync(a.import).isDirectory();
  } catch {
    fail(`--import ${a.import}: no such directory`);
  }
  if (!isDir) fail(`--import ${a.import}: not a directory (give a validator's validation/ directory)`);
}

// ---- the engine and its seed state --------------------------------------------------------------
const rnd = prng(cfg.seed);
// Positions: every order on a (miner, trade pair) without an open position opens one, and about
// one order in ten closes one, so at most min(orders, pairs + orders / 4) new records.
const maxPositions = Math.min(cfg.orders, cfg.hotkeys * TRADE_PAIRS.length + Math.ceil(cfg.orders / 4));
let engine: Engine;
try {
  engine = createEngine({
    general: { ...generalOptions, maps: { accountSizes: { maxRecords: Math.max(16_384, 2 * cfg.hotkeys) } } },
    positions: { maxRecords: Math.max(65_536, maxPositions + 20_000), maxBytes: Math.min(2 ** 31 - 2 ** 20, 256 * 2 ** 20 + cfg.orders * 2048) },
    // Capped at positions.maxBytes by the engine.
    prefault: prefaultMiB === 0 ? false : prefaultMiB * 2 ** 20,
  });
} catch (e) {
  die('creating the engine', e);
}

const hotkeys: string[] = [];
let seededOrders = 0;
let templates: Order[] = [];
if (a.import !== undefined) {
  let report;
  try {
    report = importValidatorTree(engine, a.import);
  } catch (e) {
    die(`--import ${a.import}`, e);
  }
  console.log(`imported ${a.import}: ${report.positions} positions (${report.open} open), ${report.eliminations} eliminations, ${report.departed} departed, ${report.errors.length} malformed file(s) skipped`);
  for (const e of report.errors.slice(0, 10)) console.log(`  skipped ${e.path}: ${e.reason}`);
  hotkeys.push(...engine.positions.hotkeys());
} else if (fixturesPresent()) {
  for (const text of realPositionTexts()) {
    const p = JSON.parse(text) as Position;
    engine.locks.withLock(p.miner_hotkey, tradePairIdOf(p), () => engine.positions.save(p));
  }
  for (const [hk, v] of Object.entries(realDeparted())) engine.departed.mark(hk, v.detected_ms);
  hotkeys.push(...engine.positions.hotkeys());
}
for (const hk of engine.positions.hotkeys()) {
  for (const p of engine.positions.listForHotkey(hk) as Position[]) {
    seededOrders += p.orders.length;
    for (const o of p.orders) if (templates.length < 64 && Array.isArray(o.price_sources) && o.price_sources.length > 0) templates.push(o);
  }
}
if (templates.length === 0) {
  templates = [{ order_type: 'LONG', leverage: 0.1, price: 60_000, processed_ms: 0, order_uuid: '', price_sources: [{ source: 'Polygon_ws', timespan_ms: 0, open: 60_000, close: 60_000, vwap: 60_000, high: 60_000, low: 60_000, start_ms: 0, websocket: true, lag_ms: 10, volume: 1 }] }];
}
const realCount = hotkeys.length;
while (hotkeys.length < Math.max(cfg.hotkeys, realCount + 12)) hotkeys.push(makeHotkey(rnd));
// A few miners are departed or eliminated from the start; a few more are eliminated during the run.
const synthetic = hotkeys.slice(realCount);
const departedNow = synthetic.slice(0, 4);
const eliminatedNow = synthetic.slice(4, 7);
const doomed = synthetic.slice(7, 12);
for (const hk of departedNow) engine.departed.mark(hk, Date.now());
for (const hk of eliminatedNow) {
  engine.eliminations.add({ hotkey: hk, elimination_initiated_time_ms: Date.now(), dd: 0.11, reason: 'PLAGIARISM', price_info: {}, return_info: {} });
}
const accountSizes = engine.general.map('accountSizes');
try {
  for (const hk of hotkeys) accountSizes.set(hk, 50_000 + Math.floor(rnd() * 200_000));
} catch (e) {
  die(`seeding account sizes of ${hotkeys.length} miners (--hotkeys, plus the imported ones)`, e);
}

console.log(
  `sabstate validator demo: ${cfg.workers} order workers, ${cfg.orders} orders, ${hotkeys.length} miners x ${TRADE_PAIRS.length} trade pairs; ` +
    `seeded ${engine.positions.size} positions (${seededOrders} orders), ${engine.departed.size} departed, ${engine.eliminations.size} eliminated; ` +
    `prefault ${prefaultMiB === 0 ? 'off' : `${prefaultMiB} MiB`}`,
);

// ---- threads --------------------------------------------------------------------------------------
const histograms = createHistograms(cfg.workers);
const done = new SharedArrayBuffer(4);
const stopSweeper = new SharedArrayBuffer(4);
// Start line: [0] order workers ready, [1] go. Orders/s is timed from the go, not from startup.
const start = new SharedArrayBuffer(8);
const startLine = new Int32Array(start);
const tStartup = performance.now();
console.log(`starting ${cfg.workers + 2} threads (${cfg.workers} order workers, a websocket consumer, an elimination sweeper)...`);
const per = Math.floor(cfg.orders / cfg.workers);
const workers = Array.from({ length: cfg.workers }, (_, i) => {
  const w = tsWorker(new URL('./order-worker.ts', import.meta.url), {
    workerData: {
      handle: engine.handle(), index: i, orders: i === cfg.workers - 1 ? cfg.orders - per * (cfg.workers - 1) : per,
      seed: cfg.seed * 1000 + i, hotkeys, templates, histograms, maxOrders: cfg.maxOrders, start,
    },
  });
  engine.watch(w);
  return w;
});
const consumer = tsWorker(new URL('./consumer-worker.ts', import.meta.url), { workerData: { handle: engine.handle(), done } });
const sweeper = tsWorker(new URL('./sweeper-worker.ts', import.meta.url), {
  workerData: { handle: engine.handle(), doomed, stop: stopSweeper, everyMs: 50, seed: cfg.seed + 7 },
});
engine.watch(consumer);
engine.watch(sweeper);
// Listen now: the sweeper may finish its list long before the orders are done.
const consumerResult = once(consumer, 'message') as Promise<[{ notices: number; outOfOrder: number }]>;
const sweeperResult = once(sweeper, 'message') as Promise<[{ eliminated: number; closedPositions: number }]>;
const consumerExit = once(consumer, 'exit');
const sweeperExit = once(sweeper, 'exit');
const names = new Map([...workers.map((w, i) => [w, `order worker ${i}`] as const), [consumer, 'websocket consumer'], [sweeper, 'sweeper']]);
for (const [w, name] of names) w.on('error', (e) => die(`${name} failed`, e));

while (Atomics.load(startLine, 0) < cfg.workers) await new Promise((r) => setTimeout(r, 5));
const t0 = performance.now();
console.log(`${cfg.workers + 2} threads started in ${((t0 - tStartup) / 1000).toFixed(2)} s; go`);
Atomics.store(startLine, 1, 1);
Atomics.notify(startLine, 1);

let syncs = 0;
let syncTimer: NodeJS.Timeout | undefined;
if (cfg.syncEvery > 0) {
  syncTimer = setInterval(() => {
    // Bounded: a worker terminated inside a guarded save would otherwise hold the sync back forever.
    try {
      engine.general.syncGate.begin({ timeoutMs: 5000 });
    } catch (e) {
      console.error(`sync skipped: ${(e as Error).message}`);
      engine.general.syncGate.end();
      return;
    }
    syncs++;
    setTimeout(() => engine.general.syncGate.end(), 5);
  }, cfg.syncEvery);
}

// Progress: cumulative ("total") and the last interval's figures ("last 1.0 s"), the interval's
// percentiles from the difference of the histograms. On a terminal one line, rewritten in place
// and cut to its width; otherwise one line per interval.
const tty = process.stdout.isTTY && !a.quiet;
let lastOrders = 0;
let lastT = t0;
let lastHist = sumRows(histograms);
const progress = setInterval(() => {
  const now = performance.now();
  const ordersIn = engine.general.counter('ordersIn').get();
  const hist = sumRows(histograms);
  const interval = hist.map((c, b) => c - lastHist[b]!);
  const { values } = percentilesOf([interval], [0.5, 0.99]);
  const line = progressLine({
    elapsedS: (now - t0) / 1000, done: ordersIn, total: cfg.orders, intervalS: (now - lastT) / 1000, intervalOrders: ordersIn - lastOrders,
    p50Us: values[0] || 0, p99Us: values[1] || 0, queued: engine.general.queue('websockets').size, syncs,
  }, tty ? process.stdout.columns || 80 : 160);
  lastOrders = ordersIn;
  lastT = now;
  lastHist = hist;
  if (tty) process.stdout.write(`\r${line}\x1b[K`);
  else if (!a.quiet) console.log(line);
}, 1000);

await Promise.all(workers.map((w) => once(w, 'exit')));
const elapsed = (performance.now() - t0) / 1000;
clearInterval(progress);
if (syncTimer) clearInterval(syncTimer);
await new Promise((r) => setTimeout(r, 10));
if (engine.general.syncGate.current().inProgress) engine.general.syncGate.end();
Atomics.store(new Int32Array(done), 0, 1);
Atomics.store(new Int32Array(stopSweeper), 0, 1);
Atomics.notify(new Int32Array(stopSweeper), 0);
const [[consumed], [swept]] = await Promise.all([consumerResult, sweeperResult]);
await Promise.all([consumerExit, sweeperExit]);
if (tty) process.stdout.write('\n');

// ---- results -------------------------------------------------------------------------------------
const t = engineTotals(engine);
const { values: lat } = percentiles(histograms, [0.5, 0.9, 0.99, 0.999]);
let storedOrders = 0;
for (const hk of engine.positions.hotkeys()) for (const p of engine.positions.listForHotkey(hk) as Position[]) storedOrders += p.orders.length;
console.log(`\n${cfg.orders} orders in ${elapsed.toFixed(2)} s: ${Math.round(cfg.orders / elapsed).toLocaleString('en-US')} orders/s; order latency p50 ${lat[0]!.toFixed(1)} µs, p90 ${lat[1]!.toFixed(1)} µs, p99 ${lat[2]!.toFixed(1)} µs, p99.9 ${lat[3]!.toFixed(1)} µs (${BUCKETS} log buckets, each 4.4 % wide)`);
console.log(`syncs ${syncs}, saves refused by a sync and retried ${t.staleRetries}, queue-full waits ${t.queueFullWaits}, miners eliminated during the run ${swept.eliminated} (${swept.closedPositions} positions closed)\n`);
console.log(engine.statsTable());

const checks: [string, boolean][] = [
  [`orders in (${t.ordersIn}) = orders sent (${cfg.orders})`, t.ordersIn === cfg.orders],
  [`orders in = saved (${t.saved}) + rejected eliminated (${t.rejectedEliminated}) + rejected departed (${t.rejectedDeparted})`, t.ordersIn === t.saved! + t.rejectedEliminated! + t.rejectedDeparted!],
  [`saved = websocket notices popped (${t.noticesPopped}, consumer saw ${consumed.notices})`, t.saved === t.noticesPopped && consumed.notices === t.saved],
  [`orders stored in positions (${storedOrders}) = seeded (${seededOrders}) + saved + sweeper closes (${swept.closedPositions})`, storedOrders === seededOrders + t.saved! + swept.closedPositions],
  [`notices of each position in order (out of order: ${consumed.outOfOrder})`, consumed.outOfOrder === 0],
  [`no lock held at the end`, engine.stats().locks.held === 0],
];
console.log('\nno-loss check:');
for (const [what, ok] of checks) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
const allOk = checks.every(([, ok]) => ok);
console.log(allOk ? '\nall checks passed' : '\nSOME CHECKS FAILED');
process.exitCode = allOk ? 0 : 1;
