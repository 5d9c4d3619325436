/**
 * Lock benchmarks, side by side in one run (`npm run bench:locks`):
 * 1. Uncontended acquire+release on one thread (tinybench): a bare CAS+store, the sabstate
 *    mutex primitive (tryLock+unlock), `engine.locks.withLock(hotkey, tp, fn)` (hashing included),
 *    the guard API, and the peer: the `multithreading` package's Mutex (blockingLock + dispose).
 * 2. Two threads hammering one stripe vs two distinct stripes, for a fixed time: acquisitions/s
 *    (on one stripe every acquisition that follows the other thread's is a handoff). Same for the peer
 *    with one shared Mutex vs two distinct ones.
 * BENCH_MS (default 1000) sets the time per cross-thread case.
 */
import { Bench } from 'tinybench';
import { createEngine } from '../src/index.ts';
import { tryLock, unlock, tagOf } from '../src/internal/mutex.ts';
import { tsWorker } from '../test/helpers/workers.ts';
import { once } from 'node:events';

(globalThis as { navigator?: unknown }).navigator ??= { hardwareConcurrency: 2 };
const { Mutex } = await import('multithreading');

const HK = '5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th';
const ms = Number(process.env.BENCH_MS ?? 1000);
const engine = createEngine();

// ---- 1. uncontended ---------------------------------------------------------------------------
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
const bench = new Bench({ time: ms, warmup: true });
bench
  .add('bare CAS + store', () => {
    for (let k = 0; k < kBatch; k++) {
      Atomics.compareExchange(word, 0, 0, 1);
      Atomics.store(word, 0, 0);
    }
  })
  .add('sabstate mutex: tryLock + unlock', () => {
    for (let k = 0; k < kBatch; k++) {
      tryLock(word, 0, tag);
      unlock(word, 0);
    }
  })
  .add('sabstate withLock(hotkey, tp, fn)', () => {
    for (let k = 0; k < kBatch; k++) engine.locks.withLock(HK, 'BTCUSD', body);
  })
  .add('sabstate acquire(hotkey, tp).release()', () => {
    for (let k = 0; k < kBatch; k++) engine.locks.acquire(HK, 'BTCUSD').release();
  })
  .add('peer: multithreading Mutex blockingLock + dispose', () => {
    for (let k = 0; k < kBatch; k++) peer.blockingLock().dispose();
  });
await bench.run();

const rows = bench.tasks.map((t) => {
  const r = t.result as { latency?: { mean: number }; mean?: number } | undefined;
  const meanMs = r?.latency?.mean ?? r?.mean ?? NaN;
  return { name: t.name, ns: (meanMs * 1e6) / kBatch };
});
const base = rows[0]!.ns;
const peerNs = rows[rows.length - 1]!.ns;
console.log('\nUncontended acquire+release, one thread (mean ns per pair; ratios to bare CAS+store and to the peer)');
console.log('| case | ns/op | x bare | x peer |');
console.log('| --- | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.name} | ${r.ns.toFixed(1)} | ${(r.ns / base).toFixed(2)} | ${(r.ns / peerNs).toFixed(2)} |`);

// ---- 2. contended across threads ----------------------------------------------------------------
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
const distinct: [string, string][] = [[HK, 'BTCUSD'], [HK, 'ETHUSD']];
if (engine.locks.stripeOf(HK, 'BTCUSD') === engine.locks.stripeOf(HK, 'ETHUSD')) distinct[1] = [HK, 'SOLUSD'];
const oneLock = new SharedArrayBuffer(4);
const results = {
  sabOne: await hammer('sabstate', [[HK, 'BTCUSD'], [HK, 'BTCUSD']], []),
  sabTwo: await hammer('sabstate', distinct, []),
  peerOne: await hammer('peer', [[HK, 'x'], [HK, 'x']], [oneLock, oneLock]),
  peerTwo: await hammer('peer', [[HK, 'x'], [HK, 'y']], [new SharedArrayBuffer(4), new SharedArrayBuffer(4)]),
};
const fmt = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;
console.log(`\nTwo threads, ${ms} ms each case (acquire+release per second, both threads together)`);
console.log('| case | sabstate | peer (multithreading) | sabstate / peer |');
console.log('| --- | ---: | ---: | ---: |');
console.log(`| one stripe (every acquisition may hand off) | ${fmt(results.sabOne)} | ${fmt(results.peerOne)} | ${(results.sabOne / results.peerOne).toFixed(2)} |`);
console.log(`| distinct stripes | ${fmt(results.sabTwo)} | ${fmt(results.peerTwo)} | ${(results.sabTwo / results.peerTwo).toFixed(2)} |`);
const st = engine.stats().locks;
console.log(`\nsabstate lock stats after the run: acquisitions ${st.acquisitions}, contended ${(st.contendedShare * 100).toFixed(2)} %, max wait ${st.waitMaxMs.toFixed(3)} ms`);
if (sink < 0) console.log(sink);
