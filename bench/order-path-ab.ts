/**
 * Diagnostic (not part of `npm run bench`): this tree's sabstate order step against another
 * checkout's (AB_BASE, e.g. main unpacked by `git archive main | tar -x -C /tmp/base` with a
 * node_modules symlink), and this tree's floor (bench/order-path.ts's "floor" case), on ONE
 * thread in ONE process, alternating batches (base, this, floor, base, ...), so all three see the
 * same machine load. Each tree is its own module graph with its own engine holding the same state
 * (the fixture's real positions, AB_HOTKEYS miners (default 256), the same seeded order stream). Per batch: CPU
 * (process.cpuUsage: this thread plus V8's helpers, GC included) and wall per order; printed: the
 * medians, and the median of the per-round ratios this ÷ base and this ÷ floor. No consumer
 * thread: notices are drained between batches, outside the measurement.
 *
 *   AB_BASE=/tmp/base node --import tsx bench/order-path-ab.ts   AB_BATCHES (default 30), AB_ORDERS (2000), AB_HOTKEYS (256), AB_EVOLVE (30000)
 *
 * Without AB_BASE it compares this tree's whole path with its floor only.
 * This tree's engines (whole path and floor alike) take BENCH_PREFAULT's prefault
 * (order-path-common.ts benchPrefault: 256 MiB of positions heap headroom unless 'off'); the base
 * tree's take the option only if its createEngine knows it (AB_BASE_PREFAULT=1), else none: then
 * this ÷ base includes what the prefault saves.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const BATCHES = Number(process.env.AB_BATCHES ?? 30);
const N = Number(process.env.AB_ORDERS ?? 2000);
/** Miners (the fixture's, then made-up ones): 256 as bench/order-path.ts (x 28 trade pairs). */
const HOTKEYS = Number(process.env.AB_HOTKEYS ?? 256);
/** Append orders every engine takes before the batches (AB_EVOLVE, default 30,000): the same steady state for every variant. */
const EVOLVE = Number(process.env.AB_EVOLVE ?? 30_000);
type Step = { name: string; step: () => void; drain: () => void };
const here = resolve(import.meta.dirname, '..');
const { benchPrefault, prefaultLabel } = await import('./workers/order-path-common.ts');
const PREFAULT = benchPrefault();

/** An engine of the tree at `root` holding the fixture's state, and its order step ('append' or 'floor'). */
async function variant(root: string, name: string, how: 'append' | 'floor'): Promise<Step> {
  const at = (p: string): string => pathToFileURL(resolve(root, p)).href;
  const lib = (await import(at('src/index.ts'))) as typeof import('../src/index.ts');
  const shared = (await import(at('examples/validator/shared.ts'))) as typeof import('../examples/validator/shared.ts');
  const common = (await import(at('bench/workers/order-path-common.ts'))) as typeof import('./workers/order-path-common.ts');
  const rnd = shared.prng(7);
  const real = shared.realPositionTexts().map((t) => JSON.parse(t) as import('../examples/validator/shared.ts').Position);
  const hotkeys = [...new Set(real.map((p) => p.miner_hotkey))];
  while (hotkeys.length < HOTKEYS) hotkeys.push(shared.makeHotkey(rnd));
  const templates: import('../examples/validator/shared.ts').Order[] = [];
  for (const p of real) for (const o of p.orders) if (templates.length < 64 && Array.isArray(o.price_sources) && o.price_sources.length > 0) templates.push(o);
  const setup = { hotkeys, eliminated: [], departed: shared.realDeparted(), accountSizes: {}, positions: real, seededOrders: 0, templates, maxOrders: 100 };
  const prefault = root === here || process.env.AB_BASE_PREFAULT === '1' ? PREFAULT : {};
  const engine = lib.createEngine({ general: shared.generalOptions, ...prefault });
  for (const p of real) engine.locks.withLock(p.miner_hotkey, common.tpIdOf(p), () => engine.positions.save(p));
  for (const [hk, v] of Object.entries(setup.departed)) engine.departed.mark(hk, v.detected_ms);
  const m = engine.general.map('accountSizes');
  for (const hk of hotkeys) m.set(hk, 100_000);
  const q = engine.general.queue('websockets');
  const drain = (): void => {
    while (q.pop() !== undefined);
  };
  // Every engine first takes the same EVOLVE append orders (one fixed seed), so the floor, which
  // stores nothing, reads the steady state the whole path works on (mostly open positions), not
  // the fixture's state (order-path-solo.ts says why that matters).
  const er = shared.prng(13);
  const ev = common.sabPath(engine, 100, er, drain, 'append');
  for (let i = 0; i < EVOLVE; i++) {
    common.sabOrder(ev, common.pick(er, setup));
    if ((i & 1023) === 1023) drain();
  }
  drain();
  const draw = shared.prng(11);
  if (how === 'floor') {
    const fl = common.sabFloor(engine, 100, rnd, drain);
    return { name, step: () => void common.sabFloorOrder(fl, common.pick(draw, setup)), drain };
  }
  const s = common.sabPath(engine, 100, rnd, drain, 'append');
  return { name, step: () => void common.sabOrder(s, common.pick(draw, setup)), drain };
}

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
function batch(v: Step): { cpu: number; wall: number } {
  const c0 = cpuUs();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    v.step();
    if ((i & 1023) === 1023) v.drain();
  }
  const out = { cpu: (cpuUs() - c0) / N, wall: ((performance.now() - t0) * 1000) / N };
  v.drain();
  return out;
}
const median = (xs: number[]): number => {
  const v = [...xs].sort((x, y) => x - y);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

const variants: Step[] = [];
if (process.env.AB_BASE !== undefined) variants.push(await variant(process.env.AB_BASE, 'base', 'append'));
variants.push(await variant(here, 'this', 'append'), await variant(here, 'floor', 'floor'));
for (let i = 0; i < 5; i++) for (const v of variants) batch(v); // warm-up: JIT, first touch of the tables
const runs = variants.map(() => [] as { cpu: number; wall: number }[]);
for (let i = 0; i < BATCHES; i++) variants.forEach((v, k) => runs[k]!.push(batch(v)));
const f = (x: number): string => x.toFixed(1);
console.log(`order step, one thread, ${HOTKEYS} miners, ${BATCHES} rounds of alternating batches of ${N} orders (medians over batches); this tree's engines ${prefaultLabel(PREFAULT)}, base's ${process.env.AB_BASE_PREFAULT === '1' ? 'the same' : 'none'}; load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}:`);
variants.forEach((v, k) => console.log(`  ${v.name.padEnd(6)} CPU ${f(median(runs[k]!.map((x) => x.cpu)))} µs/order, wall ${f(median(runs[k]!.map((x) => x.wall)))} µs/order`));
const ratio = (a: number, b: number): string => `CPU ${median(runs[a]!.map((x, i) => x.cpu / runs[b]![i]!.cpu)).toFixed(3)}x, wall ${median(runs[a]!.map((x, i) => x.wall / runs[b]![i]!.wall)).toFixed(3)}x`;
const me = variants.findIndex((v) => v.name === 'this');
const fl = variants.findIndex((v) => v.name === 'floor');
const base = variants.findIndex((v) => v.name === 'base');
if (base >= 0) console.log(`  this ÷ base, per round: ${ratio(me, base)}`);
console.log(`  this ÷ floor, per round: ${ratio(me, fl)}`);
if (base >= 0) console.log(`  base ÷ floor, per round: ${ratio(base, fl)}`);
