/**
 * Diagnostic (not part of `npm run bench`): the order step of sabstate and of lmdb-js on ONE
 * thread, in one process, alternating batches (sabstate batch, lmdb batch, ...), so that both see
 * the same machine load; per batch the CPU time (process.cpuUsage: this thread plus V8's helper
 * threads, GC included) and the wall time per order. Prints the median of each and the median of
 * the per-pair ratio lmdb ÷ sabstate. No consumer thread: the notices are drained between batches,
 * outside the measurement.
 *
 *   node --import tsx bench/peers/ab-order-step.ts      AB_BATCHES (default 40), AB_ORDERS (500),
 *                                                       AB_HOTKEYS (256)
 *
 * State: the fixture's real positions and AB_HOTKEYS miners. With 256 the positions stay small
 * (a few orders each); with AB_HOTKEYS=8 (224 keys) they grow towards the 100-order limit and
 * close, so the step works on positions of tens of orders: the cost of re-encoding a whole
 * position on every order (`save`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../../src/index.ts';
import { generalOptions, makeHotkey, prng, realPositionTexts, realDeparted } from '../../examples/validator/shared.ts';
import type { Order, Position } from '../../examples/validator/shared.ts';
import { pick, sabOrder, sabPath, tpIdOf } from '../workers/order-path-common.ts';
import type { Setup } from '../workers/order-path-common.ts';
import { lmdbOrder, lmdbPopNotices, openLmdb, seedLmdb } from './lmdb-store.ts';

const BATCHES = Number(process.env.AB_BATCHES ?? 40);
const N = Number(process.env.AB_ORDERS ?? 500);
const rnd = prng(7);
const real = realPositionTexts().map((t) => JSON.parse(t) as Position);
const hotkeys = [...new Set(real.map((p) => p.miner_hotkey))];
while (hotkeys.length < Number(process.env.AB_HOTKEYS ?? 256)) hotkeys.push(makeHotkey(rnd));
const templates: Order[] = [];
for (const p of real) for (const o of p.orders) if (templates.length < 64 && Array.isArray(o.price_sources) && o.price_sources.length > 0) templates.push(o);
const accountSizes = Object.fromEntries(hotkeys.map((hk) => [hk, 100_000]));
const setup: Setup = { hotkeys, eliminated: [], departed: realDeparted(), accountSizes, positions: real, seededOrders: 0, templates, maxOrders: 100 };

const engine = createEngine({ general: generalOptions });
// the same state in both stores: sabstate through its public API, lmdb through seedLmdb below
const sizes = engine.general.map('accountSizes');
for (const [key, value] of Object.entries(setup.accountSizes)) sizes.set(key, value);
for (const [key, value] of Object.entries(setup.departed)) engine.departed.mark(key, value.detected_ms);
for (const pos of setup.positions) engine.locks.withLock(pos.miner_hotkey, tpIdOf(pos), () => engine.positions.save(pos));
const q = engine.general.queue('websockets');
const drain = (): void => {
  while (q.pop() !== undefined);
};
const sab = sabPath(engine, 100, prng(1), drain);
const dir = mkdtempSync(join(tmpdir(), 'ab-order-step-'));
const db = openLmdb(join(dir, 'db'));
seedLmdb(db, setup);
const rndA = prng(1);
const rndB = prng(1);

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
function batch(step: () => void): { cpu: number; wall: number } {
  const c0 = cpuUs();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) step();
  return { cpu: (cpuUs() - c0) / N, wall: ((performance.now() - t0) * 1000) / N };
}
const sabStep = (): void => void sabOrder(sab, pick(rndA, setup));
const lmdbStep = (): void => void lmdbOrder(db, pick(rndB, setup), rndB, 100);

const a: { cpu: number; wall: number }[] = [];
const b: { cpu: number; wall: number }[] = [];
for (let i = 0; i < 4; i++) {
  batch(sabStep); // warmup, not kept
  batch(lmdbStep);
  drain();
  while (lmdbPopNotices(db) > 0);
}
for (let i = 0; i < BATCHES; i++) {
  a.push(batch(sabStep));
  drain();
  b.push(batch(lmdbStep));
  while (lmdbPopNotices(db) > 0);
}
const median = (xs: number[]): number => {
  const v = [...xs].sort((x, y) => x - y);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};
const f = (x: number): string => x.toFixed(1);
console.log(`order step, one thread, ${hotkeys.length} miners, ${BATCHES} alternating batches of ${N} orders (medians over batches):`);
console.log(`  sabstate: CPU ${f(median(a.map((x) => x.cpu)))} µs/order, wall ${f(median(a.map((x) => x.wall)))} µs/order`);
console.log(`  lmdb-js:  CPU ${f(median(b.map((x) => x.cpu)))} µs/order, wall ${f(median(b.map((x) => x.wall)))} µs/order`);
console.log(`  lmdb ÷ sabstate, per pair of batches: CPU ${median(a.map((x, i) => b[i]!.cpu / x.cpu)).toFixed(2)}x, wall ${median(a.map((x, i) => b[i]!.wall / x.wall)).toFixed(2)}x`);
engine.close();
await db.env.close();
rmSync(dir, { recursive: true, force: true });
