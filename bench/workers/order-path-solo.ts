/**
 * One variant of bench/order-path.ts's one-thread rows in a process of its own (a child forked
 * by order-path-solo-run.ts), so that the process CPU it reports is its own: its orders, its
 * drain, AND its garbage collection, GC helper threads included. In one shared process the
 * helpers' CPU (concurrent marking, parallel scavenging) was charged to whichever variant's
 * block happened to be running when they ran, which made the whole-path / floor ratio swing
 * (1.49x, 1.30x, 0.96x in three runs of the fourth session).
 *
 * The child builds the same state as every case (buildSetup, seedEngine: its own engine), brings
 * it to the whole path's steady state (`evolve`, below), then obeys the parent over IPC, one
 * message at a time:
 *   { t: 'block', timed }  run BLOCK orders (timed: each into the latency histogram) → { t: 'done' }
 *   { t: 'start' }         opens the measured window: process CPU (process.cpuUsage: every thread
 *                          of this process), main-thread CPU and run-queue wait (/proc/thread-self/
 *                          schedstat, ns), getrusage, GC entries (perf_hooks), JS heap → { t: 'started' }
 *   { t: 'stop' }          closes it and reports (Report below), then exits
 * While the other variants run their blocks this process idles in its event loop (no CPU of its
 * main thread); whatever its GC helpers do meanwhile is in ITS window, which is the point.
 * The no-lost-update check is made here: orders stored = seeded + saved, notices popped = pushed.
 */
import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { createEngine } from '../../src/index.ts';
import { QUEUE, generalOptions, prng } from '../../examples/validator/shared.ts';
import {
  BUCKETS, benchPrefault, bucketOf, buildSetup, countStoredOrders, gcRecorder, pick, sabFloor, sabFloorOrder, sabOrder, sabPath, seedEngine,
} from './order-path-common.ts';
import type { GcTally, Pick } from './order-path-common.ts';
import { rssBytes } from '../peers/os-stats.ts';

/** What the parent passes (argv[2], JSON). */
export interface SoloArgs {
  /** floor-kept: the floor keeping its order chunks (sabFloor keep). */
  variant: 'append' | 'save' | 'floor' | 'floor-kept';
  seed: number;
  hotkeys: number;
  maxOrders: number;
  block: number;
  /** The order stream's seed (bench/order-path.ts: SEED * 1000 + 0 / 500 / 900). */
  streamSeed: number;
  /** Orders of the append step run first, from one fixed seed, to bring the state to steady state (below). */
  evolve: number;
  /** True: this child's engine is created without BENCH_PREFAULT's prefault (bench/order-path.ts BENCH_ONE_PREFAULT_AB=1). */
  noPrefault?: boolean;
}

/** What a child reports at 'stop'. */
export interface SoloReport {
  variant: string;
  orders: number;
  saved: number;
  warmOrders: number;
  warmSaved: number;
  /** Wall time spent in this variant's timed blocks (ms). */
  elapsedMs: number;
  hist: number[];
  /** Process CPU (all threads: main, GC helpers, the platform's workers) in the window, µs. */
  processCpuUs: number;
  /** The main thread's CPU in the window (schedstat), µs; NaN without schedstat. */
  mainCpuUs: number;
  /** Time the main thread waited runnable on a run queue during its blocks (preempted), µs. */
  runqWaitUs: number;
  /** Involuntary context switches and minor page faults of the process in the window. */
  involuntary: number;
  minorFaults: number;
  gc: GcTally;
  heapStart: number;
  heapEnd: number;
  /** This process's resident memory at 'stop' (bytes). */
  rss: number;
  check: string;
  ok: boolean;
}

type Msg = { t: 'block'; timed: boolean } | { t: 'start' } | { t: 'stop' };

/** [cpu ns, run-queue wait ns] of the calling thread (Linux schedstat), NaN elsewhere. */
function schedstat(): [number, number] {
  try {
    const f = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ');
    return [Number(f[0]), Number(f[1])];
  } catch {
    return [NaN, NaN];
  }
}
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const args = JSON.parse(process.argv[2]!) as SoloArgs;
const setup = buildSetup(args.hotkeys, args.maxOrders, args.seed);
const engine = createEngine({ general: generalOptions, ...(args.noPrefault === true ? {} : benchPrefault()) });
seedEngine(engine, setup);
const q = engine.general.queue(QUEUE);
let popped = 0;
const drain = (): void => {
  while (q.pop() !== undefined) popped++;
};
// Every child first brings its state to the whole path's steady state: `evolve` orders of the
// demo's append step from one fixed seed (the same orders in every child, so every variant starts
// from the same state). Without it the floor, which stores nothing, would keep reading the seeded
// state, where 3 keys in 4 have no open position (its getOpenHead then a cheap miss, p50 1.5 µs
// against 8.4 for a hit in order-path-steps), while the whole path's keys are mostly open.
if (args.evolve > 0) {
  const er = prng(args.seed * 7919 + 1);
  const ev = sabPath(engine, args.maxOrders, er, drain, 'append');
  for (let i = 0; i < args.evolve; i++) {
    sabOrder(ev, pick(er, setup));
    if (q.size >= 1024) drain();
  }
  drain();
}
const base = countStoredOrders(engine);
const poppedBase = popped;
const rnd = prng(args.streamSeed);
let order: (p: Pick) => boolean;
if (args.variant === 'floor' || args.variant === 'floor-kept') {
  const fl = sabFloor(engine, args.maxOrders, rnd, drain, args.variant === 'floor-kept');
  order = (p) => sabFloorOrder(fl, p);
} else {
  const s = sabPath(engine, args.maxOrders, rnd, drain, args.variant);
  order = (p) => sabOrder(s, p);
}
const stores = args.variant === 'append' || args.variant === 'save';
const hist = new Int32Array(BUCKETS);
const t = { orders: 0, saved: 0, warmOrders: 0, warmSaved: 0, elapsedMs: 0 };
let window: { cpu: number; main: number; usage: NodeJS.ResourceUsage; heap: number; from: number; gc: ReturnType<typeof gcRecorder> } | null = null;
let runqWaitNs = 0;

function block(timed: boolean): void {
  const [, w0] = timed ? schedstat() : [0, 0];
  const from = performance.now();
  let now = from;
  for (let n = 0; n < args.block; n++) {
    const p = pick(rnd, setup);
    if (!timed) {
      t.warmOrders++;
      if (order(p)) t.warmSaved++;
    } else {
      const a = performance.now();
      const ok = order(p);
      now = performance.now();
      hist[bucketOf((now - a) * 1000)]!++;
      t.orders++;
      if (ok) t.saved++;
    }
    if (q.size >= 1024) drain();
  }
  if (timed) {
    t.elapsedMs += now - from;
    runqWaitNs += schedstat()[1] - w0;
  }
}

async function stop(): Promise<SoloReport> {
  const w = window!;
  const cpu = cpuUs() - w.cpu;
  const main = schedstat()[0] - w.main;
  const usage = process.resourceUsage();
  const heapEnd = getHeapStatistics().used_heap_size;
  const to = performance.now();
  await w.gc.settled();
  const gc = w.gc.tally(w.from, to);
  w.gc.stop();
  drain();
  const stored = countStoredOrders(engine);
  const expect = base + (stores ? t.saved + t.warmSaved : 0);
  const pushed = t.saved + t.warmSaved;
  const ok = stored === expect && popped - poppedBase === pushed;
  const check = `orders stored ${stored} = seeded and evolved ${base} + saved ${stores ? t.saved + t.warmSaved : 0} → ${stored === expect ? 'no lost update' : `${expect - stored} LOST`}; notices popped ${popped - poppedBase} of ${pushed} pushed`;
  return {
    variant: args.noPrefault === true ? `${args.variant} (prefault off)` : args.variant, ...t, hist: Array.from(hist), processCpuUs: cpu, mainCpuUs: main / 1000, runqWaitUs: runqWaitNs / 1000,
    involuntary: usage.involuntaryContextSwitches - w.usage.involuntaryContextSwitches, minorFaults: usage.minorPageFault - w.usage.minorPageFault,
    gc, heapStart: w.heap, heapEnd, rss: rssBytes(process.pid), check, ok,
  };
}

process.on('message', (m: Msg) => {
  if (m.t === 'block') {
    block(m.timed);
    process.send!({ t: 'done' });
  } else if (m.t === 'start') {
    (globalThis as { gc?: () => void }).gc?.();
    const gc = gcRecorder();
    window = { cpu: cpuUs(), main: schedstat()[0], usage: process.resourceUsage(), heap: getHeapStatistics().used_heap_size, from: performance.now(), gc };
    process.send!({ t: 'started' });
  } else {
    void stop().then((r) => {
      engine.close();
      process.send!({ t: 'report', report: r }, () => process.exit(0));
    });
  }
});
process.send!({ t: 'ready' });
