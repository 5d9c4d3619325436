/**
 * bench/order-path.ts, sabstate cases: one thread of the engine.
 *
 * Diagnostics (environment): BENCH_DIAG=1 prints, per order thread, its own CPU time per order
 * in the timed window and its OrderCache misses / hits and RecordMemo hits per order (and the
 * consumer's CPU); BENCH_SHARD=W gives order thread i only the hotkeys with index % W === i (no
 * position is shared between threads); BENCH_ORDER_CACHE=N sets threadOptions.orderCacheSize.
 *  - role 'order': the demo's order path (sabOrder) in bench/peers/thread-case.ts orderLoop:
 *    `warmMs` (untimed), the start barrier, then for `ms`, performance.now() around each order
 *    into its own histogram row; reports its own CPU time (Linux) and its GC (scavenges,
 *    mark-compacts, pause) in the window.
 *  - role 'consumer': the websocket consumer (thread-case.ts consumerLoop), popping notices until
 *    told the orders are done and the queue is empty; reports how many it popped.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';
import { prng } from '../../examples/validator/shared.ts';
import { queueDrainer, sabOrder, sabPath } from './order-path-common.ts';
import { consumerLoop, orderLoop } from '../peers/thread-case.ts';
import type { CaseData } from '../peers/thread-case.ts';
import { ownThreadCpuMs } from '../peers/os-stats.ts';

// A failure after the worker's first message reached the parent only as "worker exited with 1":
// print what failed (the parent's output then names it).
for (const ev of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(ev, (e: unknown) => {
    console.error(`order-path-sab worker (${(workerData as CaseData).role} ${(workerData as CaseData).index ?? ''}): ${ev}:`, e);
    process.exit(1);
  });
}

const d = workerData as CaseData & { handle: EngineHandle };
const engine = attachEngine(d.handle, process.env.BENCH_ORDER_CACHE ? { orderCacheSize: Number(process.env.BENCH_ORDER_CACHE) } : undefined);

if (d.role === 'consumer') {
  const r = await consumerLoop(d, queueDrainer(engine));
  if (process.env.BENCH_DIAG) console.log(`    consumer: thread CPU ${ownThreadCpuMs()} ms (whole life)`);
  parentPort!.postMessage(r);
} else {
  const rnd = prng(d.seed);
  const path = sabPath(engine, d.setup.maxOrders, rnd);
  const shards = Number(process.env.BENCH_SHARD ?? 0);
  if (shards > 0) d.setup.hotkeys = d.setup.hotkeys.filter((_, i) => i % shards === d.index);
  let st0 = engine.positions.stats().orderCache;
  const t = await orderLoop(d, (p) => sabOrder(path, p), rnd, () => {
    st0 = engine.positions.stats().orderCache;
  });
  if (process.env.BENCH_DIAG) {
    const st = engine.positions.stats().orderCache;
    console.log(`    order thread ${d.index}: ${t.orders} orders, thread CPU ${(((t.threadCpuMs ?? NaN) * 1000) / t.orders).toFixed(1)} µs/order, ` +
      `cache misses ${((st.misses - st0.misses) / t.orders).toFixed(2)}/order, hits ${((st.hits - st0.hits) / t.orders).toFixed(1)}/order, listHits ${((st.listHits - st0.listHits) / t.orders).toFixed(2)}/order, cache size ${st.size}`);
  }
  parentPort!.postMessage(t);
}
