/**
 * Profiling aid (not part of `npm run bench`): the single-thread sabstate order path of
 * bench/order-path.ts, N orders, so that `node --cpu-prof --import tsx bench/profile-order-path.ts`
 * shows where an order's time goes. PROFILE_ORDERS (default 30000); PROFILE_PATH=save runs the
 * path before issue 12 (getOpen + save), PROFILE_PATH=floor its floor (bench/order-path.ts), which also runs against an older tree for a
 * before/after comparison (BENCHMARKS.md). Prints wall and process CPU per order, p50 / p99,
 * the GC in the loop (scavenges and mark-compacts per 10,000 orders, pause per order) and the
 * JS heap before and after; with PROFILE_ALLOC=1 the bytes allocated per order and by which site (see below).
 */
import { createEngine } from '../src/index.ts';
import { generalOptions, makeHotkey, prng, realPositionTexts, realDeparted } from '../examples/validator/shared.ts';
import type { Order, Position } from '../examples/validator/shared.ts';
import { getHeapStatistics } from 'node:v8';
import { Session } from 'node:inspector/promises';
import { type Pick, type Setup, benchPrefault, gcRecorder, pick, sabFloor, sabFloorOrder, sabOrder, sabPath, tpIdOf } from './workers/order-path-common.ts';

const N = Number(process.env.PROFILE_ORDERS ?? 30_000);
const rnd = prng(7);
const real = realPositionTexts().map((t) => JSON.parse(t) as Position);
const hotkeys = [...new Set(real.map((p) => p.miner_hotkey))];
while (hotkeys.length < 64) hotkeys.push(makeHotkey(rnd));
const templates: Order[] = [];
for (const p of real) for (const o of p.orders) if (templates.length < 64 && Array.isArray(o.price_sources) && o.price_sources.length > 0) templates.push(o);
const setup: Setup = { hotkeys, eliminated: [], departed: realDeparted(), accountSizes: {}, positions: real, seededOrders: 0, templates, maxOrders: 100 };
const engine = createEngine({ general: generalOptions, ...benchPrefault() });
for (const p of real) engine.locks.withLock(p.miner_hotkey, tpIdOf(p), () => engine.positions.save(p));
for (const [hk, v] of Object.entries(setup.departed)) engine.departed.mark(hk, v.detected_ms);
const m = engine.general.map('accountSizes');
for (const hk of hotkeys) m.set(hk, 100_000);
const q = engine.general.queue('websockets');
const drain = (): void => { while (q.pop() !== undefined); };
const how = process.env.PROFILE_PATH === 'save' ? 'save' : process.env.PROFILE_PATH === 'floor' ? 'floor' : 'append';
const s = sabPath(engine, 100, rnd, drain, how === 'save' ? 'save' : 'append');
const fl = how === 'floor' ? sabFloor(engine, 100, rnd, drain) : undefined;
const step = (p: Pick): boolean => (fl !== undefined ? sabFloorOrder(fl, p) : sabOrder(s, p));
const lat = new Float64Array(N);
// PROFILE_WARM orders first (JIT, first touch of the tables), then with --expose-gc a full GC, so
// that the young generation starts empty: run with a young generation larger than the window
// allocates (--min-semi-space-size=128 --max-semi-space-size=128) and no GC happens in it, and
// the heap's growth is the bytes the window allocated (printed as bytes/order).
const WARM = Number(process.env.PROFILE_WARM ?? 0);
for (let i = 0; i < WARM; i++) {
  step(pick(rnd, setup));
  if ((i & 1023) === 0) while (q.pop() !== undefined);
}
(globalThis as { gc?: () => void }).gc?.();
// PROFILE_ALLOC=1: V8's sampling heap profiler over the loop, counting objects the GC already
// collected too (every allocation, not only survivors): bytes allocated per order and by where.
const alloc = process.env.PROFILE_ALLOC === '1' ? new Session() : undefined;
if (alloc !== undefined) {
  alloc.connect();
  await alloc.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
}
const gc = gcRecorder();
const heap0 = getHeapStatistics().used_heap_size;
const c0 = process.cpuUsage();
const f0 = process.resourceUsage().minorPageFault;
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  const p = pick(rnd, setup);
  const a = performance.now();
  step(p);
  lat[i] = performance.now() - a;
  if ((i & 1023) === 0) while (q.pop() !== undefined);
}
const t1 = performance.now();
const c = process.cpuUsage(c0);
const faults = process.resourceUsage().minorPageFault - f0;
const heap1 = getHeapStatistics().used_heap_size;
const sites = alloc === undefined ? undefined : await allocationSites(alloc);
await gc.settled();
const g = gc.tally(t0, t1);
gc.stop();
lat.sort();
const us = (x: number): string => (x * 1000).toFixed(1);
if (process.env.PROFILE_STATS === '1') console.log(JSON.stringify(engine.stats(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
console.log(
  `${how}: ${N} orders in ${(t1 - t0).toFixed(0)} ms: ${us((t1 - t0) / N)} µs/order wall, ${((c.user + c.system) / N).toFixed(1)} µs/order process CPU, ` +
    `p50 ${us(lat[N >> 1]!)} µs, p99 ${us(lat[Math.floor(N * 0.99)]!)} µs; GC per 10,000 orders: ${((g.minor * 1e4) / N).toFixed(1)} scavenges, ` +
    `${((g.major * 1e4) / N).toFixed(1)} mark-compacts, pause ${((g.pauseMs * 1000) / N).toFixed(2)} µs/order; JS heap ${(heap0 / 2 ** 20).toFixed(0)} -> ${(heap1 / 2 ** 20).toFixed(0)} MB; ` +
    `${(faults / N).toFixed(2)} minor page faults per order` +
    (g.minor + g.major === 0 ? `; no GC in the window: ${((heap1 - heap0) / N).toFixed(0)} bytes allocated per order` : ''),
);

if (sites !== undefined) {
  console.log(`allocated ${(sites.total / N).toFixed(0)} bytes/order (sampling heap profiler, every 256 bytes on average); by site, bytes/order:`);
  for (const [site, b] of sites.top) console.log(`  ${(b / N).toFixed(0).padStart(6)}  ${site}`);
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}
/** Total sampled bytes and the 20 largest allocating sites (function, file:line). */
async function allocationSites(session: Session): Promise<{ total: number; top: Array<[string, number]> }> {
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: ProfileNode } };
  session.disconnect();
  const bySite = new Map<string, number>();
  let total = 0;
  const name = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(src|bench|examples)\//, '$1/')}`;
  const walk = (n: ProfileNode, parents: string): void => {
    if (n.selfSize > 0) {
      const site = `${name(n)} < ${parents}`;
      bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    const up = `${n.callFrame.functionName || '(anonymous)'}${parents === '' ? '' : ' < '}${parents.split(' < ').slice(0, 2).join(' < ')}`;
    for (const c of n.children) walk(c, up);
  };
  walk(profile.head, '');
  return { total, top: [...bySite].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.PROFILE_ALLOC_SITES ?? 20)) };
}
