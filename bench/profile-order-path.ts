/**
 * Profiling aid (not part of `npm run bench`): the single-thread sabstate order path of
 * bench/order-path.ts, N orders, so that `node --cpu-prof --import tsx bench/profile-order-path.ts`
 * shows where an order's time goes. PROFILE_ORDERS (default 30000); PROFILE_PATH=save runs the
 * path before issue 12 (getOpen + save), which also runs against an older tree for a
 * before/after comparison (BENCHMARKS.md). Prints wall and process CPU per order, p50 / p99,
 * the GC in the loop (scavenges and mark-compacts per 10,000 orders, pause per order) and the
 * JS heap before and after.
 */
import { createEngine } from '../src/index.ts';
import { generalOptions, makeHotkey, prng, realPositionTexts, realDeparted } from '../examples/validator/shared.ts';
import type { Order, Position } from '../examples/validator/shared.ts';
import { getHeapStatistics } from 'node:v8';
import { type Setup, gcRecorder, pick, sabOrder, sabPath, tpIdOf } from './workers/order-path-common.ts';

const N = Number(process.env.PROFILE_ORDERS ?? 30_000);
const rnd = prng(7);
const real = realPositionTexts().map((t) => JSON.parse(t) as Position);
const hotkeys = [...new Set(real.map((p) => p.miner_hotkey))];
while (hotkeys.length < 64) hotkeys.push(makeHotkey(rnd));
const templates: Order[] = [];
for (const p of real) for (const o of p.orders) if (templates.length < 64 && Array.isArray(o.price_sources) && o.price_sources.length > 0) templates.push(o);
const setup: Setup = { hotkeys, eliminated: [], departed: realDeparted(), accountSizes: {}, positions: real, seededOrders: 0, templates, maxOrders: 100 };
const engine = createEngine({ general: generalOptions });
for (const p of real) engine.locks.withLock(p.miner_hotkey, tpIdOf(p), () => engine.positions.save(p));
for (const [hk, v] of Object.entries(setup.departed)) engine.departed.mark(hk, v.detected_ms);
const m = engine.general.map('accountSizes');
for (const hk of hotkeys) m.set(hk, 100_000);
const q = engine.general.queue('websockets');
const s = sabPath(engine, 100, rnd, () => { while (q.pop() !== undefined); });
const how = process.env.PROFILE_PATH === 'save' ? 'save' : 'append';
const lat = new Float64Array(N);
const gc = gcRecorder();
const heap0 = getHeapStatistics().used_heap_size;
const c0 = process.cpuUsage();
const f0 = process.resourceUsage().minorPageFault;
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  const p = pick(rnd, setup);
  const a = performance.now();
  sabOrder(s, p, how);
  lat[i] = performance.now() - a;
  if ((i & 1023) === 0) while (q.pop() !== undefined);
}
const t1 = performance.now();
const c = process.cpuUsage(c0);
const faults = process.resourceUsage().minorPageFault - f0;
const heap1 = getHeapStatistics().used_heap_size;
await gc.settled();
const g = gc.tally(t0, t1);
gc.stop();
lat.sort();
const us = (x: number): string => (x * 1000).toFixed(1);
console.log(
  `${how}: ${N} orders in ${(t1 - t0).toFixed(0)} ms: ${us((t1 - t0) / N)} µs/order wall, ${((c.user + c.system) / N).toFixed(1)} µs/order process CPU, ` +
    `p50 ${us(lat[N >> 1]!)} µs, p99 ${us(lat[Math.floor(N * 0.99)]!)} µs; GC per 10,000 orders: ${((g.minor * 1e4) / N).toFixed(1)} scavenges, ` +
    `${((g.major * 1e4) / N).toFixed(1)} mark-compacts, pause ${((g.pauseMs * 1000) / N).toFixed(2)} µs/order; JS heap ${(heap0 / 2 ** 20).toFixed(0)} -> ${(heap1 / 2 ** 20).toFixed(0)} MB; ` +
    `${(faults / N).toFixed(2)} minor page faults per order`,
);
