/**
 * bench/order-path.ts, sabstate cases: one thread of the engine.
 *
 * Diagnostics (environment): BENCH_DIAG=1 prints, per order thread, its own CPU time per order
 * in the timed window and its OrderCache misses / hits and RecordMemo hits per order (and the
 * consumer's CPU); BENCH_SHARD=W gives order thread i only the hotkeys with index % W === i (no
 * position is shared between threads); BENCH_ORDER_CACHE=N sets threadOptions.orderCacheSize.
 *  - role 'order': the demo's order path (sabOrder) for `warmMs` (untimed), then the start
 *    barrier, then for `ms`, performance.now() around each order into its own histogram row;
 *    reports its own CPU time (Linux) and its GC (scavenges, mark-compacts, pause) in the window.
 *  - role 'consumer': the websocket consumer, popping notices until told the orders are done and
 *    the queue is empty; reports how many it popped.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';
import { QUEUE, prng } from '../../examples/validator/shared.ts';
import { BUCKETS, arriveAndWait, bucketOf, gcRecorder, pick, sabOrder, sabPath } from './order-path-common.ts';
import type { Setup, Tally } from './order-path-common.ts';

interface Data {
  role: 'order' | 'consumer';
  handle: EngineHandle;
  index: number;
  seed: number;
  setup: Setup;
  histograms: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  done: SharedArrayBuffer;
  warmMs: number;
  ms: number;
}
const d = workerData as Data;
const engine = attachEngine(d.handle, process.env.BENCH_ORDER_CACHE ? { orderCacheSize: Number(process.env.BENCH_ORDER_CACHE) } : undefined);

/** CPU ms (user + system) of this thread alone (Linux: /proc/thread-self/stat, 10 ms ticks), NaN elsewhere. */
function threadCpuMs(): number {
  try {
    const s = readFileSync('/proc/thread-self/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

if (d.role === 'consumer') {
  const q = engine.general.queue(QUEUE);
  const done = new Int32Array(d.done);
  let popped = 0;
  // Drain, then nap 1 ms without registering as a waiter on the queue: producers then never
  // pay an Atomics.notify (and this thread is not woken once per notice). Websocket notices
  // tolerate a millisecond; pop({ timeoutMs }) is for consumers that need each message at once.
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const m = q.pop();
    if (m !== undefined) {
      popped++;
      continue;
    }
    if (Atomics.load(done, 0) === 1 && q.size === 0) break;
    Atomics.wait(nap, 0, 0, 1);
  }
  if (process.env.BENCH_DIAG) console.log(`    consumer: thread CPU ${threadCpuMs()} ms (whole life)`);
  parentPort!.postMessage({ popped });
} else {
  const rnd = prng(d.seed);
  const path = sabPath(engine, d.setup.maxOrders, rnd);
  const shards = Number(process.env.BENCH_SHARD ?? 0);
  if (shards > 0) d.setup.hotkeys = d.setup.hotkeys.filter((_, i) => i % shards === d.index);
  const hist = new Int32Array(d.histograms, d.index * BUCKETS * 4, BUCKETS);
  const gc = gcRecorder();
  const t: Tally = { orders: 0, saved: 0, rejected: 0, warmOrders: 0, warmSaved: 0, elapsedMs: 0 };
  const warmEnd = performance.now() + d.warmMs;
  while (performance.now() < warmEnd) {
    t.warmOrders++;
    if (sabOrder(path, pick(rnd, d.setup))) t.warmSaved++;
  }
  arriveAndWait(new Int32Array(d.barrier));
  const cpu0 = threadCpuMs();
  const st0 = engine.positions.stats().orderCache;
  const t0 = performance.now();
  const end = t0 + d.ms;
  let now = t0;
  while (now < end) {
    const p = pick(rnd, d.setup);
    const a = performance.now();
    const ok = sabOrder(path, p);
    now = performance.now();
    hist[bucketOf((now - a) * 1000)]!++;
    t.orders++;
    if (ok) t.saved++;
    else t.rejected++;
  }
  t.elapsedMs = now - t0;
  t.threadCpuMs = threadCpuMs() - cpu0;
  await gc.settled();
  t.gc = gc.tally(t0, now);
  gc.stop();
  if (process.env.BENCH_DIAG) {
    const st = engine.positions.stats().orderCache;
    console.log(`    order thread ${d.index}: ${t.orders} orders, thread CPU ${(((threadCpuMs() - cpu0) * 1000) / t.orders).toFixed(1)} µs/order, ` +
      `cache misses ${((st.misses - st0.misses) / t.orders).toFixed(2)}/order, hits ${((st.hits - st0.hits) / t.orders).toFixed(1)}/order, listHits ${((st.listHits - st0.listHits) / t.orders).toFixed(2)}/order, cache size ${st.size}`);
  }
  parentPort!.postMessage(t);
}
