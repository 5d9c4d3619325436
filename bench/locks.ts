/**
 * Lock benchmarks, side by side in one run (`npm run bench:locks`):
 * 1. Uncontended acquire+release on one thread (tinybench): a bare CAS+store, the sabstate
 *    mutex primitive (tryLock+unlock), `engine.locks.withLock(hotkey, tp, fn)` (hashing included),
 *    the guard API, and the peer: the `multithreading` package's Mutex (blockingLock + dispose).
 *    With BENCH_BASELINE=<dir of another sabstate checkout>, that checkout's withLock and guard
 *    rows are measured in the same run, interleaved (before/after a change on one loaded machine).
 * 2. Two threads hammering one stripe vs two distinct stripes, and four threads on one stripe, for
 *    a fixed time: acquisitions/s (on one stripe every acquisition that follows another thread's is
 *    a handoff). Same for the peer with one shared Mutex vs distinct ones.
 * 3. The unlock's wake-up on the bare mutex (lockSlow + unlock on one word; 2 and 4 threads; an
 *    empty critical section and one of about a microsecond, so that waiters really sleep):
 *    mutex.ts's unlock, which wakes every waiter, against the wake-one unlock it replaced
 *    (Drepper's `notify(w, i, 1)`, kept here only as the reference). This file is its own worker.
 * 4. Recovery: `locks.releaseAllOwnedBy(id)` of a thread that held nothing (it still wakes the
 *    waiters of every stripe).
 * BENCH_MS (default 1000) sets the time per case, BENCH_ROUNDS (default 3) the interleaved rounds
 * whose median is reported for cases 1 and 3.
 */
import { Bench } from 'tinybench';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createEngine } from '../src/index.ts';
import { kWaiters, lockSlow, tryLock, unlock } from '../src/internal/sync/mutex.ts';
import { tagOf } from '../src/internal/sync/thread-tag.ts';
import { tsWorker } from '../support/workers.ts';

const HK = '5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th';
const ms = Number(process.env.BENCH_MS ?? 1000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

/** The wake-one unlock mutex.ts had before it woke every waiter: the reference for case 3. */
function unlockWakeOne(w: Int32Array, i: number): void {
  if (Atomics.exchange(w, i, 0) & kWaiters) Atomics.notify(w, i, 1);
}

interface RawData {
  raw: 'all' | 'one';
  word: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  parties: number;
  work: number;
  ms: number;
  tag: number;
}

/** Case 3's worker: lock the bare word, `work` plain increments of a shared cell, unlock. */
function rawWorker(d: RawData): void {
  const w = new Int32Array(d.word);
  const barrier = new Int32Array(d.barrier);
  const release = d.raw === 'all' ? unlock : unlockWakeOne;
  Atomics.add(barrier, 0, 1);
  while (Atomics.load(barrier, 0) < d.parties) Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 1);
  let n = 0;
  const end = performance.now() + d.ms;
  while (performance.now() < end) {
    for (let k = 0; k < 64; k++) {
      if (tryLock(w, 0, d.tag) !== 0) lockSlow(w, 0, d.tag, Infinity);
      w[16] = w[16]! + 1; // the count, checked by the main thread (its own line)
      for (let j = 0; j < d.work; j++) w[17] = w[17]! + j;
      release(w, 0);
    }
    n += 64;
  }
  parentPort!.postMessage(n);
}

const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const fmt = (x: number): string => `${(x / 1e6).toFixed(2)} M/s`;

async function main(): Promise<void> {
  (globalThis as { navigator?: unknown }).navigator ??= { hardwareConcurrency: 2 };
  const { Mutex } = await import('multithreading');
  const engine = createEngine();
  const baseDir = process.env.BENCH_BASELINE;
  const baseline = baseDir === undefined
    ? undefined
    : ((await import(pathToFileURL(`${baseDir}/src/index.ts`).href)) as typeof import('../src/index.ts')).createEngine();

  // ---- 1. uncontended -------------------------------------------------------------------------
  const word = new Int32Array(new SharedArrayBuffer(128));
  const tag = tagOf(0);
  const peer = new Mutex(undefined);
  let sink = 0;
  const body = (): void => {
    sink++;
  };
  // Each task runs a batch of 1000 acquire+release pairs so that the timer's own cost (tens of
  // ns) does not swamp a ~10 ns operation; results are reported per pair.
  const kBatch = 1000;
  const tasks: [string, () => void][] = [
    ['bare CAS + store', () => {
      for (let k = 0; k < kBatch; k++) {
        Atomics.compareExchange(word, 0, 0, 1);
        Atomics.store(word, 0, 0);
      }
    }],
    ['sabstate mutex: tryLock + unlock', () => {
      for (let k = 0; k < kBatch; k++) {
        tryLock(word, 0, tag);
        unlock(word, 0);
      }
    }],
    ['sabstate withLock(hotkey, tp, fn)', () => {
      for (let k = 0; k < kBatch; k++) engine.locks.withLock(HK, 'BTCUSD', body);
    }],
    ['sabstate acquire(hotkey, tp).release()', () => {
      for (let k = 0; k < kBatch; k++) engine.locks.acquire(HK, 'BTCUSD').release();
    }],
  ];
  if (baseline !== undefined) {
    tasks.push(
      ['baseline withLock(hotkey, tp, fn)', () => {
        for (let k = 0; k < kBatch; k++) baseline.locks.withLock(HK, 'BTCUSD', body);
      }],
      ['baseline acquire(hotkey, tp).release()', () => {
        for (let k = 0; k < kBatch; k++) baseline.locks.acquire(HK, 'BTCUSD').release();
      }],
    );
  }
  tasks.push(['peer: multithreading Mutex blockingLock + dispose', () => {
    for (let k = 0; k < kBatch; k++) peer.blockingLock().dispose();
  }]);
  const samples = new Map<string, number[]>(tasks.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    const bench = new Bench({ time: ms / rounds, warmup: true });
    for (const [name, fn] of tasks) bench.add(name, fn);
    await bench.run();
    for (const t of bench.tasks) {
      const res = t.result as { latency?: { mean: number }; mean?: number } | undefined;
      samples.get(t.name)!.push(((res?.latency?.mean ?? res?.mean ?? NaN) * 1e6) / kBatch);
    }
  }
  const rows = tasks.map(([name]) => ({ name, ns: med(samples.get(name)!) }));
  const bare = rows[0]!.ns;
  const peerNs = rows[rows.length - 1]!.ns;
  console.log(`\nUncontended acquire+release, one thread (ns per pair, median of ${rounds} rounds; ratios to bare CAS+store and to the peer)`);
  if (baseline !== undefined) console.log(`baseline: ${baseDir}`);
  console.log('| case | ns/op | x bare | x peer |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.name} | ${r.ns.toFixed(1)} | ${(r.ns / bare).toFixed(2)} | ${(r.ns / peerNs).toFixed(2)} |`);

  // ---- 2. contended across threads --------------------------------------------------------------
  async function hammer(kind: 'sabstate' | 'peer', keys: [string, string][], peerLocks: SharedArrayBuffer[]): Promise<number> {
    const barrier = new SharedArrayBuffer(4);
    const ws = keys.map((key, i) =>
      tsWorker(new URL('./workers/locks-hammer.ts', import.meta.url), {
        workerData: { kind, handle: engine.handle(), key, peerLock: peerLocks[i], cell: new SharedArrayBuffer(4), barrier, parties: keys.length, ms },
      }),
    );
    const counts = await Promise.all(ws.map(async (w) => (await once(w, 'message'))[0] as number));
    await Promise.all(ws.map((w) => w.terminate()));
    return counts.reduce((a, b) => a + b, 0) / (ms / 1000);
  }
  const one: [string, string] = [HK, 'BTCUSD'];
  const distinct: [string, string][] = [one, [HK, 'ETHUSD']];
  if (engine.locks.stripeOf(HK, 'BTCUSD') === engine.locks.stripeOf(HK, 'ETHUSD')) distinct[1] = [HK, 'SOLUSD'];
  const oneLock = new SharedArrayBuffer(4);
  const results = {
    sabOne: await hammer('sabstate', [one, one], []),
    sabTwo: await hammer('sabstate', distinct, []),
    sabFour: await hammer('sabstate', [one, one, one, one], []),
    peerOne: await hammer('peer', [[HK, 'x'], [HK, 'x']], [oneLock, oneLock]),
    peerTwo: await hammer('peer', [[HK, 'x'], [HK, 'y']], [new SharedArrayBuffer(4), new SharedArrayBuffer(4)]),
    peerFour: await hammer('peer', [[HK, 'x'], [HK, 'x'], [HK, 'x'], [HK, 'x']], [oneLock, oneLock, oneLock, oneLock]),
  };
  console.log(`\nThreads hammering locks, ${ms} ms each case (acquire+release per second, all threads together)`);
  console.log('| case | sabstate | peer (multithreading) | sabstate / peer |');
  console.log('| --- | ---: | ---: | ---: |');
  console.log(`| two threads, one stripe (every acquisition may hand off) | ${fmt(results.sabOne)} | ${fmt(results.peerOne)} | ${(results.sabOne / results.peerOne).toFixed(2)} |`);
  console.log(`| two threads, distinct stripes | ${fmt(results.sabTwo)} | ${fmt(results.peerTwo)} | ${(results.sabTwo / results.peerTwo).toFixed(2)} |`);
  console.log(`| four threads, one stripe | ${fmt(results.sabFour)} | ${fmt(results.peerFour)} | ${(results.sabFour / results.peerFour).toFixed(2)} |`);
  const st = engine.stats().locks;
  console.log(`\nsabstate lock stats after the run: acquisitions ${st.acquisitions}, contended ${(st.contendedShare * 100).toFixed(2)} %, max wait ${st.waitMaxMs.toFixed(3)} ms`);

  // ---- 3. the unlock's wake-up: every waiter vs one ---------------------------------------------
  async function rawHammer(raw: 'all' | 'one', parties: number, work: number): Promise<number> {
    const word = new SharedArrayBuffer(128);
    const barrier = new SharedArrayBuffer(4);
    const ws = Array.from({ length: parties }, (_, k) =>
      tsWorker(new URL(import.meta.url), { workerData: { raw, word, barrier, parties, work, ms, tag: tagOf(1000 + k) } satisfies RawData }),
    );
    const counts = await Promise.all(ws.map(async (w) => (await once(w, 'message'))[0] as number));
    await Promise.all(ws.map((w) => w.terminate()));
    const total = counts.reduce((a, b) => a + b, 0);
    const counted = new Int32Array(word)[16];
    if (counted !== total) throw new Error(`bare mutex lost an update: ${counted} != ${total}`);
    return total / (ms / 1000);
  }
  const cases = [2, 4].flatMap((parties) => [0, 300].map((work) => ({ parties, work })));
  const raw = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      for (const kind of ['one', 'all'] as const) {
        const k = `${kind} ${c.parties} ${c.work}`;
        raw.set(k, [...(raw.get(k) ?? []), await rawHammer(kind, c.parties, c.work)]);
      }
    }
  }
  console.log(`\nBare mutex on one word, lockSlow + unlock, ${ms} ms per case, median of ${rounds} interleaved rounds (acquire+release per second, all threads; ns per acquire+release)`);
  console.log('| threads | critical section | wake one (before) | wake all (mutex.ts) | all / one |');
  console.log('| ---: | --- | ---: | ---: | ---: |');
  for (const c of cases) {
    const a = med(raw.get(`one ${c.parties} ${c.work}`)!);
    const b = med(raw.get(`all ${c.parties} ${c.work}`)!);
    const cs = c.work === 0 ? 'empty' : `${c.work} increments`;
    console.log(`| ${c.parties} | ${cs} | ${fmt(a)}, ${(1e9 / a).toFixed(0)} ns | ${fmt(b)}, ${(1e9 / b).toFixed(0)} ns | ${(b / a).toFixed(2)} |`);
  }

  // ---- 4. recovery ------------------------------------------------------------------------------
  const deadId = 1_000_000; // never a live thread: releases nothing, wakes every stripe
  const recoveries = 50;
  const r0 = performance.now();
  for (let k = 0; k < recoveries; k++) engine.locks.releaseAllOwnedBy(deadId);
  const recUs = ((performance.now() - r0) * 1000) / recoveries;
  console.log(`\nrecovery: locks.releaseAllOwnedBy(a thread that held nothing), ${engine.locks.stripes} stripes: ${recUs.toFixed(1)} µs per call (${((recUs * 1000) / engine.locks.stripes).toFixed(1)} ns per stripe)`);
  if (sink < 0) console.log(sink);
}

if (isMainThread) await main();
else rawWorker(workerData as RawData);
