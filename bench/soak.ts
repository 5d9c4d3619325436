/**
 * The soak run (`npm run soak -- --minutes N`, issue 11): the validator's lifecycle for as long as
 * asked, on the real shapes of test/fixtures/ptn, to show that the positions heap serves writes
 * as long as the live data fits (freed memory serves any size) and that nothing leaks or is lost.
 *
 * Workload (bench/workers/soak-worker.ts): `workers` threads, each owning a share of `miners` hotkeys.
 * An operation on a miner is, with these odds: one order on a random trade pair (open a position
 * with one order, or add an order, or close the position once it reached its own target length
 * of 5..100 orders; closed positions stay): 99.75%; a sync (all the miner's positions replaced by
 * the 63 real positions, re-keyed): 0.15%; a departure (all deleted, the hotkey marked departed):
 * 0.1%. Every `killEveryMs` a random worker is terminated (mid-operation) with odds 1/2; engine.watch
 * recovers it and a new worker takes over its miners.
 *
 * Every `sampleMs` one row: elapsed time, live JSON bytes of the stored positions (the ledger),
 * positions, heap in use, carved, free on the lists, carved / in use and its peak since the last
 * sample (polled every kPollMs = 5 ms: a rise shorter than a sample interval shows), merges, top compactions, RSS and what it holds (V8 heap
 * of the main thread, of the workers as each last reported it and at its lowest since the last
 * sample (what survives collections: a flat low-water mark says the growth is garbage not yet
 * collected), ArrayBuffers, and the positions heap's buffer, the engine's largest memory, grown on
 * demand and never shrunk: flat once carved stops growing). At the end:
 * engine.verify(), and for every miner its positions, orders and JSON bytes in the engine equal
 * to the ledger (a miner left mid-operation by a kill is recounted first, and counted).
 * Writes the table (soak.md) and the chart (soak.svg) to --out (default: a temp directory).
 *
 * A run lasts --minutes / --seconds, or (--ops N) a fixed number of operations, all workers
 * together (the worker that completes the N-th stops them all; at most workers - 1 more finish):
 * then samples are taken every --sample-ops operations and kills tried every --kill-every-ops, so
 * that runs compare at equal operation counts whatever the machine's load (a timed run makes
 * fewer syncs and departures per sample on a loaded machine).
 *
 * After warm-up (the first tenth of the run unless --warmup-s / --warmup-ops say otherwise), the
 * table's head gives carved / in use over the samples (median, max, how many above 1.3) and the
 * RSS at the first and last of them.
 *
 * Options: --minutes N | --seconds N | --ops N, --workers N (3), --miners N (48), --max-mib N
 * (positions heap, 96), --sample-ms N (5000) | --sample-ops N (ops / 60), --kill-every-ms N (7000)
 * | --kill-every-ops N (1.4 x sample-ops), --warmup-s N | --warmup-ops N, --seed N, --out DIR.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { createEngine } from '../src/index.ts';
import { kDataStart, kInUseBytes, kTop } from '../src/internal/store/heap-layout.ts';
import { bundledWorker } from '../support/workers.ts';
import { realPositionTexts } from '../support/data.ts';
import { Counter, kCounters, kLedgerInts, kPending, kOrders, kPositions, reconcile } from './workers/soak-worker.ts';
import { type Series, svgChart } from './svg-chart.ts';
import { soakTrend, trendLine } from './soak-trend.ts';

export interface SoakOptions {
  /** How long to run; or, with `ops`, a fixed number of operations (then seconds is ignored). */
  seconds?: number;
  ops?: number;
  /** With `ops`: a sample every sampleOps operations (default ops / 60), a kill tried every killEveryOps (default 1.4 x sampleOps). */
  sampleOps?: number;
  killEveryOps?: number;
  /** Samples before this (seconds, or operations with `ops`) are warm-up: left out of the summary (default: the first tenth of the run). */
  warmup?: number;
  workers?: number;
  miners?: number;
  maxMiB?: number;
  sampleMs?: number;
  killEveryMs?: number;
  /** Odds that a worker is killed at each killEveryMs (default 1/2). */
  killOdds?: number;
  seed?: number;
  out?: string;
  log?: (line: string) => void;
}

export interface SoakSample {
  s: number;
  /** Operations completed when the sample was taken. */
  ops: number;
  liveBytes: number;
  positions: number;
  inUseBytes: number;
  carvedBytes: number;
  freeBytes: number;
  fragmentation: number;
  merges: number;
  /** Top compactions so far (positions/compact.ts lowerTop: live blocks near the top moved down, the top lowered). */
  compactions: number;
  rssBytes: number;
  /** The main thread's V8 heap in use, the workers' (sum of what each last reported), and ArrayBuffer memory (the SABs). */
  mainHeapBytes: number;
  workerHeapBytes: number;
  arrayBufferBytes: number;
  /** The workers' V8 heaps at their lowest since the last sample (sum of each worker's low-water mark): what survives collections. */
  workerHeapLowBytes: number;
  /** The positions heap's buffer (its SharedArrayBuffer's byteLength: grown on demand, never shrunk): the engine's largest memory. */
  heapBufferBytes: number;
  /** carved / in use at its highest since the last sample, polled every kPollMs (and at this sample). */
  peakFragmentation: number;
  /** Polls since the last sample, and how many of them found carved / in use above 1.3. */
  polls: number;
  pollsAbove13: number;
}

export interface SoakResult {
  samples: SoakSample[];
  counts: Record<keyof typeof Counter, number>;
  kills: number;
  violations: string[];
  /** Miners whose engine state differs from the ledger (none when nothing was lost). */
  mismatches: string[];
  positions: number;
  orders: number;
  liveBytes: number;
  capacityErrors: number;
  /** Top compactions of the run: how many moved something, what they moved, bytes copied (heap.topCompactions). */
  compactions: { runs: number; moves: number; movedBytes: number; attempts: number };
  /** Top compactions that moved nothing, by what stopped them (heap.topStops: positions/compact.ts TopStop). */
  stops: number[];
  outDir: string;
  /** Wall seconds the run took. */
  seconds: number;
  summary: SoakSummary;
}

/** carved / in use and RSS over the samples taken after warm-up (the one after the stop left out). */
export interface SoakSummary {
  warmup: string;
  samples: number;
  median: number;
  max: number;
  above13: number;
  /** Between the samples (polled every kPollMs): the highest carved / in use, polls, polls above 1.3. */
  peakMax: number;
  polls: number;
  pollsAbove13: number;
  rssFirstBytes: number;
  rssLastBytes: number;
  rssMinBytes: number;
  rssMaxBytes: number;
  /** The same for the positions heap's buffer and the workers' V8 low-water marks. */
  bufferFirstBytes: number;
  bufferLastBytes: number;
  workersLowFirstBytes: number;
  workersLowLastBytes: number;
  workersLowMinBytes: number;
  workersLowMaxBytes: number;
}

export function summarize(samples: SoakSample[], o: SoakOptions): SoakSummary {
  const byOps = o.ops !== undefined;
  const total = byOps ? o.ops! : (o.seconds ?? 60);
  const warmup = o.warmup ?? total / 10;
  const after = samples.slice(0, -1).filter((s) => (byOps ? s.ops : s.s) >= warmup);
  const f = after.map((s) => s.fragmentation).sort((a, b) => a - b);
  const rss = after.map((s) => s.rssBytes);
  const low = after.map((s) => s.workerHeapLowBytes);
  return {
    warmup: byOps ? `${Math.round(warmup)} operations` : `${Math.round(warmup)} s`,
    samples: after.length,
    median: f.length === 0 ? NaN : f.length % 2 ? f[f.length >> 1]! : (f[f.length / 2 - 1]! + f[f.length / 2]!) / 2,
    max: f.length === 0 ? NaN : f[f.length - 1]!,
    above13: f.filter((x) => x > 1.3).length,
    peakMax: after.length === 0 ? NaN : Math.max(...after.map((s) => s.peakFragmentation)),
    polls: after.reduce((n, s) => n + s.polls, 0),
    pollsAbove13: after.reduce((n, s) => n + s.pollsAbove13, 0),
    rssFirstBytes: rss[0] ?? NaN,
    rssLastBytes: rss[rss.length - 1] ?? NaN,
    rssMinBytes: Math.min(...rss),
    rssMaxBytes: Math.max(...rss),
    bufferFirstBytes: after[0]?.heapBufferBytes ?? NaN,
    bufferLastBytes: after[after.length - 1]?.heapBufferBytes ?? NaN,
    workersLowFirstBytes: low[0] ?? NaN,
    workersLowLastBytes: low[low.length - 1] ?? NaN,
    workersLowMinBytes: Math.min(...low),
    workersLowMaxBytes: Math.max(...low),
  };
}

/** carved / in use is polled this often between samples (SoakSample.peakFragmentation). */
const kPollMs = 5;
const WORKER = new URL('./workers/soak-worker.ts', import.meta.url);
const MiB = 2 ** 20;

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const byOps = o.ops !== undefined;
  if (!byOps && o.seconds === undefined) throw new RangeError('runSoak: seconds or ops');
  const sampleOps = o.sampleOps ?? Math.max(1, Math.round((o.ops ?? 0) / 60));
  const killEveryOps = o.killEveryOps ?? Math.round(sampleOps * 1.4);
  const workers = o.workers ?? 3;
  const miners = o.miners ?? 48;
  const sampleMs = o.sampleMs ?? 5000;
  const killEveryMs = o.killEveryMs ?? 7000;
  const seed = o.seed ?? (Date.now() & 0x7fffffff);
  const log = o.log ?? ((l: string) => console.log(l));
  const outDir = o.out ?? mkdtempSync(join(tmpdir(), 'sabstate-soak-'));
  mkdirSync(outDir, { recursive: true });
  const engine = createEngine({
    lockStripes: 1024,
    positions: { maxRecords: 1 << 16, maxBytes: (o.maxMiB ?? 96) * MiB },
    departed: { maxRecords: 4096 },
  });
  const hotkeys = Array.from({ length: miners }, (_, m) => `5Soak${String(m).padStart(4, '0')}${'x'.repeat(38)}`);
  const ledger = new SharedArrayBuffer(4 * kLedgerInts * miners);
  const bytes = new SharedArrayBuffer(8 * miners);
  const counters = new SharedArrayBuffer(4 * kCounters);
  const stop = new SharedArrayBuffer(4);
  // Per worker: its V8 heap in use as last reported, then its low-water mark since the last sample (KiB).
  const memBuf = new SharedArrayBuffer(8 * workers);
  const mem = new Int32Array(memBuf);
  const L = new Int32Array(ledger);
  const B = new Float64Array(bytes);
  const C = new Int32Array(counters);
  let rnd = seed >>> 0;
  const next = (): number => { rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0; return rnd / 2 ** 32; };

  const templates = realPositionTexts();
  const shares = Array.from({ length: workers }, (_, w) => hotkeys.map((_, m) => m).filter((m) => m % workers === w));
  const failures: unknown[] = [];
  const live = new Map<number, Worker>();
  let spawned = 0;
  const start = (w: number): void => {
    const worker = bundledWorker(WORKER, {
      workerData: { soak: true, handle: engine.handle(), templates, hotkeys, miners: shares[w], ledger, bytes, counters, stop, seed: seed + ++spawned, mem: memBuf, slot: w, maxOps: o.ops ?? 0 },
    });
    engine.watch(worker);
    worker.on('error', (e) => failures.push(e));
    live.set(w, worker);
  };
  for (let w = 0; w < workers; w++) start(w);

  const samples: SoakSample[] = [];
  const t0 = Date.now();
  // Between samples: carved / in use polled every kPollMs (two loads of the positions heap's
  // header), so that a rise shorter than the sample interval is seen too.
  const header = new Int32Array(engine.handle().positions.heap.sab, 0, kInUseBytes + 1);
  const ratioNow = (): number => {
    const used = Atomics.load(header, kInUseBytes);
    return used > 0 ? (Atomics.load(header, kTop) - kDataStart) / used : 1;
  };
  let peak = 0;
  let polls = 0;
  let pollsAbove = 0;
  const poller = setInterval(() => {
    const r = ratioNow();
    if (r > peak) peak = r;
    polls++;
    if (r > 1.3) pollsAbove++;
  }, kPollMs);
  poller.unref();
  const sample = (): void => {
    const h = engine.stats().positions.heap;
    const mu = process.memoryUsage();
    let liveBytes = 0;
    let positions = 0;
    for (let m = 0; m < miners; m++) {
      liveBytes += B[m]!;
      positions += L[m * kLedgerInts + kPositions]!;
    }
    const row: SoakSample = {
      s: Math.round((Date.now() - t0) / 1000), ops: C[Counter.ops]!, liveBytes, positions, inUseBytes: h.inUseBytes, carvedBytes: h.carvedBytes,
      freeBytes: h.freeBytes, fragmentation: h.fragmentation, merges: h.merges, compactions: h.topCompactions.runs, rssBytes: mu.rss,
      mainHeapBytes: mu.heapUsed, workerHeapBytes: 0, arrayBufferBytes: mu.arrayBuffers, workerHeapLowBytes: 0, heapBufferBytes: h.reservedBytes,
      peakFragmentation: Math.max(peak, h.fragmentation), polls, pollsAbove13: pollsAbove,
    };
    peak = 0;
    polls = 0;
    pollsAbove = 0;
    for (let w = 0; w < workers; w++) {
      const cur = Atomics.load(mem, w);
      const low = Atomics.exchange(mem, workers + w, 0);
      row.workerHeapBytes += cur * 1024;
      // No report since the last sample (a worker just restarted): its current value.
      row.workerHeapLowBytes += (low === 0 ? cur : low) * 1024;
    }
    samples.push(row);
    if (process.env.SOAK_DEBUG) log(`    free by list: ${JSON.stringify(h.freeByClass)}; splits ${h.splits}, blocks ${h.inUseBlocks}`);
    log(`  ${row.s}s live ${(liveBytes / MiB).toFixed(1)} MiB in ${positions} positions; heap in use ${(row.inUseBytes / MiB).toFixed(1)} MiB, carved ${(row.carvedBytes / MiB).toFixed(1)}, carved/in use ${row.fragmentation.toFixed(3)}, merges ${row.merges}, top compactions ${row.compactions}; RSS ${(row.rssBytes / MiB).toFixed(0)} MiB (V8 main ${(row.mainHeapBytes / MiB).toFixed(0)}, workers ${(row.workerHeapBytes / MiB).toFixed(0)}, after GC ${(row.workerHeapLowBytes / MiB).toFixed(0)}, ArrayBuffers ${(row.arrayBufferBytes / MiB).toFixed(0)}, heap buffer ${(row.heapBufferBytes / MiB).toFixed(0)}); ops ${C[Counter.ops]}, full ${C[Counter.capacity]}`);
  };

  let kills = 0;
  const stopped = new Int32Array(stop);
  const end = t0 + (o.seconds ?? 0) * 1000;
  // Time mode: the next sample and kill in ms; ops mode: in operations (polled every 20 ms).
  let nextSample = byOps ? sampleOps : t0 + sampleMs;
  let nextKill = byOps ? killEveryOps : t0 + killEveryMs;
  const now = (): number => (byOps ? Atomics.load(C, Counter.ops) : Date.now());
  while ((byOps ? Atomics.load(stopped, 0) === 0 : Date.now() < end) && failures.length === 0) {
    await new Promise((r) => setTimeout(r, byOps ? 20 : 100));
    if (now() >= nextSample) {
      sample();
      nextSample += byOps ? sampleOps : sampleMs;
      while (byOps && now() >= nextSample) nextSample += sampleOps;
    }
    if (now() >= nextKill) {
      nextKill += byOps ? killEveryOps : killEveryMs;
      while (byOps && now() >= nextKill) nextKill += killEveryOps;
      if (next() < (o.killOdds ?? 0.5)) {
        const w = Math.floor(next() * workers);
        const victim = live.get(w)!;
        // Terminated at a random moment of its work: mid-operation, mid-heap step, or between two.
        await new Promise((r) => setTimeout(r, Math.floor(next() * 50)));
        await victim.terminate();
        await engine.whenRecovered();
        kills++;
        start(w);
      }
    }
  }
  Atomics.store(stopped, 0, 1);
  clearInterval(poller);
  const seconds = (Date.now() - t0) / 1000;
  await Promise.all([...live.values()].map((w) => new Promise((r) => (w.threadId === -1 ? r(null) : w.once('exit', r)))));
  await engine.whenRecovered();
  if (failures.length) throw failures[0];
  sample();

  // Exact counts: a miner left pending by a kill just before the stop is recounted (and counted).
  for (let m = 0; m < miners; m++) {
    if (L[m * kLedgerInts + kPending] !== 0) {
      reconcile(engine as never, hotkeys[m]!, L, B, m);
      C[Counter.reconciled]!++;
    }
  }
  const { violations } = engine.verify({ timeoutMs: 60_000 });
  const mismatches: string[] = [];
  let positions = 0;
  let orders = 0;
  let liveBytes = 0;
  for (let m = 0; m < miners; m++) {
    const all = engine.positions.listForHotkey(hotkeys[m]!);
    const n = all.reduce((s, p) => s + p.orders.length, 0);
    const b = all.reduce((s, p) => s + Buffer.byteLength(JSON.stringify(p)), 0);
    const want = [L[m * kLedgerInts + kPositions]!, L[m * kLedgerInts + kOrders]!, B[m]!];
    if (all.length !== want[0] || n !== want[1] || b !== want[2]) mismatches.push(`miner ${m}: engine ${all.length} positions / ${n} orders / ${b} bytes, ledger ${want.join(' / ')}`);
    const openTps = all.filter((p) => p.is_closed_position === false).map((p) => String(Array.isArray(p.trade_pair) ? p.trade_pair[0] : p.trade_pair));
    if (new Set(openTps).size !== openTps.length) mismatches.push(`miner ${m}: two open positions on one trade pair`);
    positions += all.length;
    orders += n;
    liveBytes += b;
  }
  if (engine.positions.size !== positions) mismatches.push(`positions.size ${engine.positions.size}, the miners hold ${positions}`);
  const counts = Object.fromEntries(Object.entries(Counter).map(([k, i]) => [k, C[i]!])) as SoakResult['counts'];
  const h = engine.stats().positions.heap;
  const result: SoakResult = {
    samples, counts, kills, violations, mismatches, positions, orders, liveBytes, capacityErrors: h.capacityErrors, compactions: h.topCompactions, stops: h.topStops, outDir, seconds,
    summary: summarize(samples, o),
  };
  writeFileSync(join(outDir, 'soak.md'), table(result, o));
  writeFileSync(join(outDir, 'soak.svg'), chart(samples, o));
  engine.close();
  return result;
}

function table(r: SoakResult, o: SoakOptions): string {
  const f = (b: number): string => (b / MiB).toFixed(1);
  const rows = r.samples.map((s) => `| ${s.s} | ${s.ops} | ${f(s.liveBytes)} | ${s.positions} | ${f(s.inUseBytes)} | ${f(s.carvedBytes)} | ${f(s.freeBytes)} | ${s.fragmentation.toFixed(3)} | ${s.peakFragmentation.toFixed(3)} | ${s.merges} | ${s.compactions} | ${f(s.rssBytes)} | ${f(s.mainHeapBytes)} | ${f(s.workerHeapBytes)} | ${f(s.workerHeapLowBytes)} | ${f(s.arrayBufferBytes)} | ${f(s.heapBufferBytes)} |`);
  const u = r.summary;
  return [
    `Soak: ${o.ops !== undefined ? `${o.ops} operations in ${Math.round(r.seconds)} s` : `${o.seconds} s`}, ${o.workers ?? 3} workers, ${o.miners ?? 48} miners, positions heap ${o.maxMiB ?? 96} MiB. Operations ${r.counts.ops}: ${r.counts.orders} orders, ${r.counts.opened} opened, ${r.counts.closed} closed, ${r.counts.syncs} syncs, ${r.counts.departures} departures; ${r.kills} workers killed, ${r.counts.reconciled} miners recounted after a kill; ERR_CAPACITY ${r.counts.capacity}; top compactions ${r.compactions.runs} of ${r.compactions.attempts} begun (${r.compactions.moves} records and entries moved, ${f(r.compactions.movedBytes)} MiB copied); of those that moved nothing, stopped by a fixed block under the top allocated after the scan began ${r.stops[0]}, deferred ${r.stops[1]}, older ${r.stops[2]}; the walk raced ${r.stops[3]}; no room below ${r.stops[4]}; window too small ${r.stops[5]}; every move failed ${r.stops[6]}.`,
    `End: ${r.positions} positions, ${r.orders} orders, ${f(r.liveBytes)} MiB of JSON; verify: ${r.violations.length === 0 ? 'sound' : r.violations.join('; ')}; ledger: ${r.mismatches.length === 0 ? 'every miner exact' : r.mismatches.join('; ')}.`,
    `After warm-up (${u.warmup}; ${u.samples} samples): carved / in use median ${u.median.toFixed(3)}, max ${u.max.toFixed(3)}, above 1.3 in ${u.above13}; between the samples (polled every ${kPollMs} ms, ${u.polls} polls) max ${u.peakMax.toFixed(3)}, above 1.3 in ${u.pollsAbove13} polls (${((100 * u.pollsAbove13) / Math.max(1, u.polls)).toFixed(2)} %); RSS ${f(u.rssFirstBytes)} MiB at the first of them, ${f(u.rssLastBytes)} at the last (${f(u.rssMinBytes)} .. ${f(u.rssMaxBytes)}); of it, the engine's positions heap buffer ${f(u.bufferFirstBytes)} -> ${f(u.bufferLastBytes)} MiB and the workers' V8 heaps at their lowest between samples ${f(u.workersLowFirstBytes)} -> ${f(u.workersLowLastBytes)} MiB (${f(u.workersLowMinBytes)} .. ${f(u.workersLowMaxBytes)}).`,
    r.summary.samples >= 3 ? trendLine(soakTrend(r.samples, o)) : 'Trend: fewer than 3 samples after warm-up.',
    '',
    '| s | ops | live MiB | positions | heap in use MiB | carved MiB | free MiB | carved / in use | peak since the last sample | merges | top compactions | RSS MiB | V8 main MiB | V8 workers MiB | V8 workers after GC MiB | ArrayBuffers MiB | heap buffer MiB |',
    '| - | - | - | - | - | - | - | - | - | - | - | - | - | - | - | - | - |',
    ...rows,
    '',
  ].join('\n');
}

function chart(samples: SoakSample[], o: SoakOptions): string {
  // x: seconds, or thousands of operations in ops mode.
  const x = (s: SoakSample): number => (o.ops !== undefined ? s.ops / 1000 : s.s);
  const mib = (k: keyof SoakSample) => samples.map((s) => [x(s), (s[k] as number) / MiB] as [number, number]);
  const series: Series[] = [
    { name: 'live JSON', points: mib('liveBytes') },
    { name: 'heap in use', points: mib('inUseBytes') },
    { name: 'heap carved', points: mib('carvedBytes') },
    { name: 'RSS', points: mib('rssBytes') },
    { name: 'V8 heaps (main + workers)', points: samples.map((s) => [x(s), (s.mainHeapBytes + s.workerHeapBytes) / MiB] as [number, number]) },
    { name: 'V8 workers after GC', points: mib('workerHeapLowBytes') },
    { name: 'positions heap buffer', points: mib('heapBufferBytes') },
  ];
  const frag: Series[] = [
    { name: 'carved / in use', points: samples.map((s) => [x(s), s.fragmentation]) },
    { name: `peak since the last sample (polled every ${kPollMs} ms)`, points: samples.map((s) => [x(s), s.peakFragmentation]) },
  ];
  const what = o.ops !== undefined ? `${o.ops} operations` : `${o.seconds} s`;
  return svgChart(`sabstate soak: ${what}, ${o.workers ?? 3} workers, ${o.miners ?? 48} miners, workers killed at random`, o.ops !== undefined ? 'thousand operations' : 'seconds', 'MiB', series, { name: 'carved / in use', series: frag });
}

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : Number(process.argv[i + 1]);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outIdx = process.argv.indexOf('--out');
  const ops = arg('ops');
  const seconds = ops !== undefined ? undefined : (arg('seconds') ?? (arg('minutes') ?? 1) * 60);
  const opts: SoakOptions = {
    seconds, ops, sampleOps: arg('sample-ops'), killEveryOps: arg('kill-every-ops'), warmup: ops !== undefined ? arg('warmup-ops') : arg('warmup-s'),
    workers: arg('workers'), miners: arg('miners'), maxMiB: arg('max-mib'), sampleMs: arg('sample-ms'),
    killEveryMs: arg('kill-every-ms'), seed: arg('seed'), out: outIdx < 0 ? undefined : process.argv[outIdx + 1],
  };
  const r = await runSoak(opts);
  console.log(table(r, opts).split('\n').slice(0, 4).join('\n'));
  console.log(`table and chart: ${join(r.outDir, 'soak.md')}, ${join(r.outDir, 'soak.svg')}`);
  process.exitCode = r.violations.length || r.mismatches.length || r.counts.capacity ? 1 : 0;
}
