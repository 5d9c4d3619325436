/**
 * One case of bench/order-path.ts run on worker threads, the part every peer shares:
 *
 *   main thread                              worker (role 'order', W of them; role 'consumer', 1)
 *   spawn W order workers + 1 consumer  ──►  publish OS thread id into tids[index]
 *                                            order: warmup `warmMs` (untimed), then the barrier
 *   release(): barrier[1] = 1 once W arrived ◄─ arriveAndWait(barrier)
 *   ThreadCpu.start(), process CPU           order: `ms` of orders, performance.now() around
 *   ... await every order worker's Tally       each into its own histogram row, its own CPU
 *                                              and GC in the window (orderLoop)
 *   ThreadCpu.stop(), RSS                    consumer: pops until `done` and the store is empty
 *   done[0] = 1, await { popped }, terminate
 *
 * Every wait has a hard limit: a worker that sends nothing within `limitMs` (deadlock), exits
 * early or throws fails the case with an error, never a hang.
 */
import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';
import { arriveAndWait, bucketOf, createHistograms, gcRecorder, histogramRows, pick, BUCKETS } from '../workers/order-path-common.ts';
import type { Pick, Setup, Tally } from '../workers/order-path-common.ts';
import { ThreadCpu, ownThreadCpuMs, processCpuMs, rssBytes } from './os-stats.ts';

/**
 * A Worker running a TypeScript file (as test/helpers/workers.ts `tsWorker`) that first writes
 * its OS thread id into slot `workerData.tidSlot` of `workerData.tids` (when both are given), so
 * the main thread can read its CPU time (os-stats.ts ThreadCpu) without the file's cooperation.
 * It stays alive after its file has run (a worker that reported and ended would take its CPU
 * count with it): the caller terminates it.
 */
export function tidWorker(file: URL, options: WorkerOptions = {}): Worker {
  const boot = `import('node:worker_threads').then(async ({ workerData: d }) => {
    if (d && d.tids && typeof d.tidSlot === 'number') {
      const { readlinkSync } = await import('node:fs');
      try { Atomics.store(new Int32Array(d.tids), d.tidSlot, Number(readlinkSync('/proc/thread-self').split('/').pop())); } catch {}
    }
    setInterval(() => {}, 2 ** 30); // alive until terminated: its CPU stays readable after its file ends
    const { register } = await import('tsx/esm/api');
    register();
    return import(${JSON.stringify(file.href)});
  })`;
  return new Worker(boot, { ...options, eval: true });
}

/** Waits for a worker's first message; rejects on its error, an early exit, or the time limit. */
export function firstMessage<T>(w: Worker, limitMs: number): Promise<T> {
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
export async function release(barrier: Int32Array, n: number, limitMs: number): Promise<void> {
  const until = performance.now() + limitMs;
  while (Atomics.load(barrier, 0) < n) {
    if (performance.now() > until) throw new Error(`only ${Atomics.load(barrier, 0)} of ${n} threads reached the start barrier in ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  Atomics.store(barrier, 1, 1);
  Atomics.notify(barrier, 1);
}

/** CPU milliseconds (user + system) of this process, every thread. */
export const cpuMsNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** What every worker of a thread case receives (plus its peer's own fields). */
export interface CaseData {
  role: 'order' | 'consumer';
  index: number;
  seed: number;
  setup: Setup;
  histograms: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  done: SharedArrayBuffer;
  /** OS thread ids, one Int32 slot per worker (order workers 0..W-1, the consumer W): tidWorker. */
  tids: SharedArrayBuffer;
  tidSlot: number;
  warmMs: number;
  ms: number;
}

export interface CaseRun {
  tallies: Tally[];
  rows: Int32Array[];
  /** CPU ms of this whole process and of the external servers in the timed window. */
  cpuMs: number;
  /** CPU ms by thread kind in the timed window: 'order threads', 'consumer', each server's kind. */
  cpuByKind: Record<string, number>;
  popped: number;
  /** Resident memory of this process at the end of the timed window (workers still alive). */
  rss: number;
  /** Resident memory of the `servers` then. */
  serverRss: number;
}

/**
 * Runs one case: `spawn(data)` starts one worker (order or consumer; with tidWorker) with the
 * common data merged into its own. `servers`: processes outside this one that the case uses
 * (redis-server), their CPU and memory counted with the case's.
 */
export async function runThreadCase(o: {
  W: number;
  setup: Setup;
  warmMs: number;
  ms: number;
  limitMs: number;
  spawn: (data: CaseData) => Worker;
  servers?: { kind: string; pid: number }[];
}): Promise<CaseRun & { workers: Worker[] }> {
  const { W } = o;
  const histograms = createHistograms(W);
  const barrier = new SharedArrayBuffer(8);
  const done = new SharedArrayBuffer(4);
  const tids = new SharedArrayBuffer((W + 1) * 4);
  const common = { setup: o.setup, histograms, barrier, done, tids, warmMs: o.warmMs, ms: o.ms };
  const workers = Array.from({ length: W + 1 }, (_, i) =>
    o.spawn({ ...common, role: i < W ? 'order' : 'consumer', index: i, tidSlot: i, seed: 1000 + i }),
  );
  try {
    const tallies = workers.slice(0, W).map((w) => firstMessage<Tally>(w, o.limitMs));
    const consumed = firstMessage<{ popped: number }>(workers[W]!, o.limitMs);
    const threads = new ThreadCpu().add('order threads', tids, 0, W).add('consumer', tids, W, W + 1);
    await release(new Int32Array(barrier), W, o.limitMs);
    const servers = o.servers ?? [];
    threads.start();
    const s0 = servers.map((x) => processCpuMs(x.pid));
    const c0 = cpuMsNow();
    const ts = await Promise.all(tallies);
    let cpuMs = cpuMsNow() - c0;
    const cpuByKind = threads.stop();
    servers.forEach((x, i) => {
      const ms = processCpuMs(x.pid) - s0[i]!;
      cpuByKind[x.kind] = (cpuByKind[x.kind] ?? 0) + ms;
      cpuMs += ms;
    });
    const rss = rssBytes(process.pid);
    const serverRss = servers.reduce((sum, x) => sum + rssBytes(x.pid), 0);
    Atomics.store(new Int32Array(done), 0, 1);
    const { popped } = await consumed;
    return { tallies: ts, rows: histogramRows(histograms), cpuMs, cpuByKind, popped, rss, serverRss, workers };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

// ---- the worker side ----------------------------------------------------------------------------

/**
 * The order loop of a worker: warmup (untimed), the start barrier, then `ms` of orders with
 * performance.now() around each into this worker's histogram row. `order` may be synchronous
 * (lmdb) or return a promise (Redis); a synchronous one is not awaited. The tally also carries
 * this thread's own CPU time in the timed window (Linux) and its GC there (scavenges,
 * mark-compacts, pause). `onStart`, if given, runs right after the barrier (a worker's
 * diagnostics read their counters there).
 */
export type LoopData = Omit<CaseData, 'role' | 'seed' | 'done' | 'tids' | 'tidSlot'>;

export async function orderLoop(
  d: LoopData, order: (p: Pick, rnd: () => number) => boolean | Promise<boolean>, rnd: () => number, onStart?: () => void,
): Promise<Tally> {
  const hist = new Int32Array(d.histograms, d.index * BUCKETS * 4, BUCKETS);
  const gc = gcRecorder();
  const t: Tally = { orders: 0, saved: 0, rejected: 0, warmOrders: 0, warmSaved: 0, elapsedMs: 0 };
  const warmEnd = performance.now() + d.warmMs;
  while (performance.now() < warmEnd) {
    t.warmOrders++;
    const r = order(pick(rnd, d.setup), rnd);
    if (typeof r === 'boolean' ? r : await r) t.warmSaved++;
  }
  arriveAndWait(new Int32Array(d.barrier));
  onStart?.();
  const cpu0 = ownThreadCpuMs();
  const t0 = performance.now();
  const end = t0 + d.ms;
  let now = t0;
  while (now < end) {
    const p = pick(rnd, d.setup);
    const a = performance.now();
    const r = order(p, rnd);
    const ok = typeof r === 'boolean' ? r : await r;
    now = performance.now();
    hist[bucketOf((now - a) * 1000)]!++;
    t.orders++;
    if (ok) t.saved++;
    else t.rejected++;
  }
  t.elapsedMs = now - t0;
  t.threadCpuMs = ownThreadCpuMs() - cpu0;
  await gc.settled();
  t.gc = gc.tally(t0, now);
  gc.stop();
  return t;
}

/**
 * The consumer of a worker: `popSome()` takes and reads what notices there are (0 when none);
 * with none it naps 1 ms (without registering as a waiter anywhere, as the sabstate consumer), and
 * stops once the order threads are done (`done`) and a pop begun after that found nothing.
 */
export async function consumerLoop(d: CaseData, popSome: () => number | Promise<number>): Promise<{ popped: number }> {
  const done = new Int32Array(d.done);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let popped = 0;
  for (;;) {
    const wasDone = Atomics.load(done, 0) === 1;
    const r = popSome();
    const n = typeof r === 'number' ? r : await r;
    popped += n;
    if (n > 0) continue;
    if (wasDone) return { popped };
    Atomics.wait(nap, 0, 0, 1);
  }
}
