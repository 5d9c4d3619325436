/**
 * Profiling aid (not part of `npm run bench`): the single-thread sabstate order path of
 * bench/order-path.ts, N orders, so that `node --cpu-prof --import tsx bench/profile-order-path.ts`
 * shows where an order's time goes. PROFILE_ORDERS (default 30000).
 */
import { createEngine } from '../src/index.ts';
import { generalOptions, makeHotkey, prng, realPositionTexts, realDeparted } from '../examples/validator/shared.ts';
import type { Order, Position } from '../examples/validator/shared.ts';
import { type Setup, pick, sabOrder, sabPath, tpIdOf } from './workers/order-path-common.ts';

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
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  sabOrder(s, pick(rnd, setup));
  if ((i & 1023) === 0) while (q.pop() !== undefined);
}
const t = performance.now() - t0;
console.log(`${N} orders in ${t.toFixed(0)} ms: ${((t * 1000) / N).toFixed(1)} µs/order`);
