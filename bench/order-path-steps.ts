/**
 * Diagnostic (not part of `npm run bench`): where the slow orders of the one-thread order path
 * come from (issue 12's p99). The one-thread variants of bench/order-path.ts on its state
 * (buildSetup: 256 miners x 28 trade pairs) and its order streams, taking turns in blocks of 256
 * orders as there: the whole path (getOpenHead + appendOrder), the path before issue 12 (getOpen +
 * save: timed whole only) and the floor (sabFloorOrder's steps). Each order of the whole path and
 * of the floor is timed whole and step by step (performance.now() between steps, about 0.05 µs
 * each, so these totals run a little above the bench's), and the events that can stall one
 * order are recorded with their start and duration: GC (perf_hooks 'gc' entries) and, with
 * STEPS_PATCH=1 (the default), the heap's merge (consolidate), deferred collect, best fit, scan of
 * larger lists, growth (ensure), the hash memo, and any heap alloc / free / retire or table
 * publish / update slower than STEPS_EVENT_US (default 5 µs): their prototype methods are wrapped
 * for this run (STEPS_PATCH=0 runs unwrapped, to check that the wrapping does not change the
 * picture).
 *
 * Printed per variant: p50 / p99 / p99.9 / max of the whole order and of each step; the orders
 * slower than STEPS_SLOW µs (default 30): how many, which step held most of their time, and which
 * events overlap them; and per event kind: how often per 1,000 orders, its p50 and max.
 *
 *   node --expose-gc --import tsx bench/order-path-steps.ts
 *   STEPS_MS (default 6000), STEPS_WARM_MS (2000), STEPS_SLOW (30), STEPS_PATCH (1),
 *   STEPS_VARIANTS (append,save,floor: which take turns; also spin, garbage: the controls below),
 *   STEPS_EVENT_US (5), STEPS_RUSAGE (0), STEPS_SPIN_US (8), STEPS_GARBAGE_BYTES (3600)
 *
 * Also printed per variant, by what the order did to its position (appended to an open one,
 * opened one, closed one with a FLAT): count, p50 / p99 of the whole order and of each step, and
 * the share of the slow orders. STEPS_RUSAGE=1 calls getrusage before and after every timed order
 * (outside its marks; the first call's result object is allocated inside the counted span, so
 * a fault there is charged to the order) and splits the slow orders into preempted (an
 * involuntary context switch), page-faulted, and neither.
 */
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { createEngine } from '../src/index.ts';
import type { Engine } from '../src/index.ts';
import { SharedHeap } from '../src/internal/store/heap.ts';
import { SharedTable } from '../src/internal/store/table.ts';
import { KeyHashes } from '../src/internal/store/table-hash.ts';
import { HotkeyIndex } from '../src/domains/positions/hotkey-index.ts';
import { encodeOrder, encodePositionHead } from '../src/internal/codec/codec.ts';
import { QUEUE, generalOptions, newHead, prng, updateHead, uuid } from '../examples/validator/shared.ts';
import type { PositionHead } from '../examples/validator/shared.ts';
import { type Pick, benchPrefault, buildSetup, fillNotice, makeOrder, pick, prefaultLabel, sabFloor, sabPath, seedEngine } from './workers/order-path-common.ts';
import type { SabFloor } from './workers/order-path-common.ts';

const MS = Number(process.env.STEPS_MS ?? 6000);
const WARM_MS = Number(process.env.STEPS_WARM_MS ?? 2000);
const SLOW = Number(process.env.STEPS_SLOW ?? 30);
const PATCH = process.env.STEPS_PATCH !== '0';
const EVENT_US = Number(process.env.STEPS_EVENT_US ?? 5);
const VARIANTS = (process.env.STEPS_VARIANTS ?? 'append,save,floor').split(',');
/** STEPS_RUSAGE=1: getrusage around every timed order (minor faults, involuntary switches per order; about 1 µs each, outside the order's time). */
const RUSAGE = process.env.STEPS_RUSAGE === '1';
const BLOCK = 256;
const MAX_ORDERS = 100;
const CAP = 600_000;

// ---- events: GC entries and the wrapped methods ---------------------------------------------------
const kinds: string[] = [];
const evKind = new Uint8Array(1 << 20);
const evStart = new Float64Array(1 << 20);
const evDur = new Float32Array(1 << 20);
let nEv = 0;
let recording = false;
function event(kind: number, start: number, durUs: number): void {
  if (!recording || nEv >= evKind.length) return;
  evKind[nEv] = kind;
  evStart[nEv] = start;
  evDur[nEv] = durUs;
  nEv++;
}
const kindOf = (name: string): number => {
  let k = kinds.indexOf(name);
  if (k < 0) k = kinds.push(name) - 1;
  return k;
};
/** Wraps proto[name] to record calls of at least minUs as events of `name`. */
function wrap(proto: object, name: string, label: string, minUs: number): void {
  const p = proto as Record<string, (...a: unknown[]) => unknown>;
  const orig = p[name];
  if (typeof orig !== 'function') throw new Error(`no method ${name}`);
  const k = kindOf(label);
  p[name] = function (this: unknown, ...args: unknown[]): unknown {
    const a = performance.now();
    try {
      return orig.apply(this, args);
    } finally {
      const d = (performance.now() - a) * 1000;
      if (d >= minUs) event(k, a, d);
    }
  };
}
if (PATCH) {
  const heap = SharedHeap.prototype;
  wrap(heap, 'consolidate', 'heap merge (consolidate)', 0);
  wrap(heap, 'collect', 'heap collect (deferred frees)', 1);
  wrap(heap, 'bestFit', 'heap best fit', 0);
  wrap(heap, 'takeLarger', 'heap takeLarger (split source)', 2);
  wrap(heap, 'ensure', 'heap grow (ensure)', 1);
  wrap(heap, 'giveBack', 'heap give-back', 2);
  wrap(heap, 'alloc', `heap alloc >= ${EVENT_US} µs`, EVENT_US);
  wrap(heap, 'free', `heap free >= ${EVENT_US} µs`, EVENT_US);
  wrap(heap, 'retire', `heap retire >= ${EVENT_US} µs`, EVENT_US);
  wrap(SharedTable.prototype, 'publish', `table publish >= ${EVENT_US} µs`, EVENT_US);
  wrap(SharedTable.prototype, 'update', `table update >= ${EVENT_US} µs`, EVENT_US);
  wrap(SharedTable.prototype, 'read', `table read >= ${EVENT_US} µs`, EVENT_US);
  wrap(KeyHashes.prototype, 'hash', `hash memo >= ${EVENT_US} µs`, EVENT_US);
  wrap(HotkeyIndex.prototype, 'add', 'hotkey index add (opens)', 0);
}
const gcMinor = kindOf('GC scavenge');
const gcMajor = kindOf('GC mark-compact');
const gcOther = kindOf('GC other');
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const k = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
    const kind = k === perfConstants.NODE_PERFORMANCE_GC_MINOR ? gcMinor : k === perfConstants.NODE_PERFORMANCE_GC_MAJOR || k === perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL ? gcMajor : gcOther;
    event(kind, e.startTime, e.duration * 1000);
  }
});
obs.observe({ entryTypes: ['gc'] });

// ---- the state and the variants -------------------------------------------------------------------
const setup = buildSetup(Number(process.env.STEPS_HOTKEYS ?? 256), MAX_ORDERS, 1);
const engine: Engine = createEngine({ general: generalOptions, ...benchPrefault() });
seedEngine(engine, setup);
const q = engine.general.queue(QUEUE);
const drain = (): void => {
  while (q.pop() !== undefined);
};

/** Step marks of the order being timed (performance.now()). */
const marks = new Float64Array(16);
let nm = 0;
const mark = (): void => {
  marks[nm++] = performance.now();
};

interface Variant {
  name: string;
  steps: string[];
  /** One order; marks[0 .. steps.length] set (nm === steps.length + 1) unless rejected early. */
  run: (p: Pick) => void;
  rnd: () => number;
  n: number;
  start: Float64Array;
  total: Float32Array;
  step: Float32Array;
  /** Per order: what it did to the position (CLASSES: appended, opened, closed). */
  cls: Uint8Array;
  /** Per order with STEPS_RUSAGE=1: minor page faults and involuntary context switches during it. */
  faults: Uint16Array;
  switches: Uint16Array;
}
/** What an order did to its position: set by the variant's run (`cls`), read per order. */
const CLASSES = ['appends to an open position', 'opens a position', 'closes it (FLAT)'];
let cls = 0;
const classOf = (opened: boolean, closed: boolean): number => (opened ? 1 : closed ? 2 : 0);
const variant = (name: string, steps: string[], seed: number, run: (rnd: () => number) => (p: Pick) => void): Variant => {
  const rnd = prng(seed);
  return {
    name, steps, run: run(rnd), rnd, n: 0, start: new Float64Array(CAP), total: new Float32Array(CAP), step: new Float32Array(CAP * Math.max(1, steps.length)),
    cls: new Uint8Array(CAP), faults: new Uint16Array(CAP), switches: new Uint16Array(CAP),
  };
};

/** The whole path: examples/validator/order-path.ts's append step, marked between its steps. */
function appendPath(rnd: () => number): (p: Pick) => void {
  const positions = engine.positions;
  const sizes = engine.general.map('accountSizes');
  const gate = engine.general.syncGate;
  const opts = { ifEpoch: 0 };
  const notice = { hotkey: '', trade_pair: '', position_uuid: '', order_uuid: '', order_type: '', n_orders: 0, closed: false };
  let cur: Pick | null = null;
  const under = (): void => {
    mark();
    const p = cur!;
    const accountSize = sizes.get(p.hotkey) as number | undefined;
    mark();
    const got = positions.getOpenHead(p.hotkey, p.tp[0]);
    mark();
    const count = got === undefined ? 0 : got.orderCount;
    const order = makeOrder(p, got !== undefined, count, accountSize, MAX_ORDERS, rnd);
    const head = got === undefined ? newHead(p.hotkey, p.tp, order, uuid(rnd)) : updateHead(got.position as PositionHead, order);
    if (got !== undefined) uuid(rnd);
    cls = classOf(got === undefined, head.is_closed_position);
    mark();
    positions.appendOrder(head, order, opts);
    mark();
    while (!q.push(fillNotice(notice, p, head.position_uuid, order, count + 1, head.is_closed_position))) drain();
    mark();
  };
  return (p) => {
    mark();
    if (engine.eliminations.has(p.hotkey) || engine.departed.has(p.hotkey)) return;
    mark();
    opts.ifEpoch = gate.current().epoch;
    mark();
    cur = p;
    engine.locks.withLock(p.hotkey, p.tp[0], under);
    mark();
  };
}

/** The floor: sabFloorOrder (order-path-common.ts), marked between its steps. */
function floorPath(rnd: () => number): (p: Pick) => void {
  const s: SabFloor = sabFloor(engine, MAX_ORDERS, rnd, drain);
  const { heap } = s;
  const notice = { hotkey: '', trade_pair: '', position_uuid: '', order_uuid: '', order_type: '', n_orders: 0, closed: false };
  let cur: Pick | null = null;
  const under = (): void => {
    mark();
    const p = cur!;
    const accountSize = s.accountSizes.get(p.hotkey) as number | undefined;
    mark();
    const got = engine.positions.getOpenHead(p.hotkey, p.tp[0]);
    mark();
    const count = got === undefined ? 0 : got.orderCount;
    const order = makeOrder(p, got !== undefined, count, accountSize, s.maxOrders, s.rnd);
    const next = got === undefined ? newHead(p.hotkey, p.tp, order, uuid(s.rnd)) : updateHead(got.position as PositionHead, order);
    if (got !== undefined) uuid(s.rnd);
    cls = classOf(got === undefined, next.is_closed_position);
    mark();
    const ob = encodeOrder(order);
    const chunk = heap.alloc(ob.length);
    heap.u8.set(ob, heap.payload(chunk));
    const hb = encodePositionHead(next);
    const rec = heap.alloc(hb.length);
    heap.u8.set(hb, heap.payload(rec));
    mark();
    Atomics.compareExchange(s.word, 0, Atomics.load(s.word, 0), rec);
    heap.free(chunk);
    heap.free(rec);
    mark();
    while (!s.notices.push(fillNotice(notice, p, next.position_uuid, order, count + 1, next.is_closed_position))) s.onFull();
    mark();
  };
  return (p) => {
    mark();
    if (engine.eliminations.has(p.hotkey) || engine.departed.has(p.hotkey)) return;
    mark();
    cur = p;
    engine.locks.withLock(p.hotkey, p.tp[0], under);
    mark();
  };
}

function savePath(rnd: () => number): (p: Pick) => void {
  const s = sabPath(engine, MAX_ORDERS, rnd, drain, 'save');
  return (p) => {
    mark();
    s.step(p);
    mark();
  };
}

/**
 * Controls (STEPS_VARIANTS spin, garbage): what the machine and the runtime alone do to a
 * timed span of the floor's length. 'spin': STEPS_SPIN_US (default 8) of arithmetic, nothing
 * allocated, no shared memory: its p99 is the interruptions (preemption, interrupts, faults
 * of nothing) every order suffers. 'garbage': as long, but allocating about STEPS_GARBAGE_BYTES
 * (default 3,600, about the whole path's bytes per order) of short-lived objects, so young-generation
 * GC and the page faults of fresh young-generation pages show too.
 */
const SPIN_US = Number(process.env.STEPS_SPIN_US ?? 8);
const GARBAGE_BYTES = Number(process.env.STEPS_GARBAGE_BYTES ?? 3600);
let spinSink = 0;
let garbageSink: unknown = null;
function spinFor(iterations: number): void {
  let x = spinSink | 1;
  for (let i = 0; i < iterations; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  spinSink = x;
}
/** Iterations of spinFor per µs on this machine (the fastest of 5 timings of 200,000). */
const spinPerUs = ((): number => {
  let best = Infinity;
  for (let k = 0; k < 5; k++) {
    const a = performance.now();
    spinFor(200_000);
    best = Math.min(best, (performance.now() - a) * 1000);
  }
  return 200_000 / best;
})();
function spinPath(): (p: Pick) => void {
  const n = Math.round(SPIN_US * spinPerUs);
  return () => {
    mark();
    spinFor(n);
    mark();
  };
}
function garbagePath(): (p: Pick) => void {
  // An object of 4 fields is about 32 bytes, a 6-element array about 64: one of each per 96 bytes.
  const objects = Math.max(1, Math.round(GARBAGE_BYTES / 96));
  const n = Math.round(SPIN_US * spinPerUs);
  return () => {
    mark();
    const keep: unknown[] = [];
    for (let i = 0; i < objects; i++) keep.push({ a: i, b: spinSink, c: null, d: i + 1 }, [i, i, i, i, i, i]);
    garbageSink = keep;
    spinFor(n);
    mark();
  };
}

// Seeds as bench/order-path.ts's one-thread variants (SEED 1).
const all: Variant[] = [];
if (VARIANTS.includes('append')) all.push(variant('whole path (getOpenHead + appendOrder)', ['checks', 'sync gate', 'lock', 'account size', 'getOpenHead', 'build order+head', 'appendOrder', 'notice push', 'unlock'], 1000, appendPath));
if (VARIANTS.includes('save')) all.push(variant('before issue 12 (getOpen + save)', ['whole step'], 1500, savePath));
if (VARIANTS.includes('floor')) all.push(variant('floor', ['checks', 'lock', 'account size', 'getOpenHead', 'build order+head', 'encode+alloc x2', 'CAS+free x2', 'notice push', 'unlock'], 1900, floorPath));
if (VARIANTS.includes('spin')) all.push(variant(`control: ${SPIN_US} µs of arithmetic, nothing allocated`, ['spin'], 1, spinPath));
if (VARIANTS.includes('garbage')) all.push(variant(`control: ${SPIN_US} µs of arithmetic + ${GARBAGE_BYTES} bytes of garbage`, ['garbage+spin'], 2, garbagePath));

// ---- the run: warm-up, then blocks of BLOCK orders per variant in turn ----------------------------
/**
 * Per timed block: its variant, its first order's index, and the involuntary context switches
 * (the thread preempted: the machine's load) and minor page faults during it (getrusage).
 */
const blocks: Array<{ v: Variant; from: number; to: number; switches: number; faults: number }> = [];
function block(v: Variant, timed: boolean): void {
  const r0 = timed ? process.resourceUsage() : undefined;
  const from = v.n;
  for (let i = 0; i < BLOCK; i++) {
    const p = pick(v.rnd, setup);
    nm = 0;
    cls = 0;
    const u0 = RUSAGE && timed ? process.resourceUsage() : undefined;
    v.run(p);
    const u1 = u0 !== undefined ? process.resourceUsage() : undefined;
    if (timed && nm === v.steps.length + 1 && v.n < CAP) {
      const n = v.n++;
      v.cls[n] = cls;
      if (u0 !== undefined && u1 !== undefined) {
        v.faults[n] = Math.min(65535, u1.minorPageFault - u0.minorPageFault);
        v.switches[n] = Math.min(65535, u1.involuntaryContextSwitches - u0.involuntaryContextSwitches);
      }
      v.start[n] = marks[0]!;
      v.total[n] = (marks[nm - 1]! - marks[0]!) * 1000;
      for (let s = 0; s < v.steps.length; s++) v.step[n * v.steps.length + s] = (marks[s + 1]! - marks[s]!) * 1000;
    }
    if (q.size >= 1024) drain();
  }
  if (r0 !== undefined) {
    const r1 = process.resourceUsage();
    blocks.push({ v, from, to: v.n, switches: r1.involuntaryContextSwitches - r0.involuntaryContextSwitches, faults: r1.minorPageFault - r0.minorPageFault });
  }
}
console.log(`order-path steps: ${all.map((v) => v.name).join(', ')} in turn, blocks of ${BLOCK}; ${prefaultLabel()}; ${MS} ms (+${WARM_MS} ms warm-up); methods wrapped: ${PATCH ? 'yes' : 'no'}; load ${loadavg()[0]!.toFixed(2)}`);
const warmEnd = performance.now() + WARM_MS;
while (performance.now() < warmEnd) for (const v of all) block(v, false);
(globalThis as { gc?: () => void }).gc?.();
recording = true;
const t0 = performance.now();
while (performance.now() < t0 + MS && all.every((v) => v.n < CAP)) for (const v of all) block(v, true);
const t1 = performance.now();
await new Promise((r) => setTimeout(r, 100)); // GC entries come after a timer turn
recording = false;
obs.disconnect();

// ---- report -----------------------------------------------------------------------------------
const pct = (xs: Float32Array | number[], ps: number[]): number[] => {
  const v = Float64Array.from(xs).sort();
  return ps.map((p) => (v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor(v.length * p))]!));
};
const f1 = (x: number): string => (Number.isNaN(x) ? '—' : x.toFixed(1));
// Events sorted by start (GC entries were appended late).
const order = Array.from({ length: nEv }, (_, i) => i).sort((a, b) => evStart[a]! - evStart[b]!);
const maxEvMs = order.reduce((m, i) => Math.max(m, evDur[i]! / 1000), 0);
/** Event kinds overlapping [from, to] (ms). */
function overlapping(from: number, to: number): Set<number> {
  const out = new Set<number>();
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (evStart[order[mid]!]! < from - maxEvMs) lo = mid + 1;
    else hi = mid;
  }
  for (let j = lo; j < order.length && evStart[order[j]!]! <= to; j++) {
    const i = order[j]!;
    if (evStart[i]! + evDur[i]! / 1000 >= from) out.add(evKind[i]!);
  }
  return out;
}
const totalOrders = all.reduce((s, v) => s + v.n, 0);
for (const v of all) {
  const tot = v.total.subarray(0, v.n);
  const [p50, p99, p999, max] = pct(tot, [0.5, 0.99, 0.999, 1]);
  const slow: number[] = [];
  for (let i = 0; i < v.n; i++) if (tot[i]! > SLOW) slow.push(i);
  console.log(`\n${v.name}: ${v.n} orders timed; whole order p50 ${f1(p50!)}, p99 ${f1(p99!)}, p99.9 ${f1(p999!)}, max ${f1(max!)} µs; slower than ${SLOW} µs: ${slow.length} (${((slow.length / v.n) * 100).toFixed(2)} %)`);
  const S = v.steps.length;
  const largest = new Array<number>(S).fill(0);
  const slowTime = new Array<number>(S).fill(0);
  for (const i of slow) {
    let b = 0;
    for (let s = 0; s < S; s++) {
      const d = v.step[i * S + s]!;
      slowTime[s]! += d;
      if (d > v.step[i * S + b]!) b = s;
    }
    largest[b]!++;
  }
  const slowSum = slowTime.reduce((a, b) => a + b, 0);
  console.log(`  ${'step'.padEnd(18)} ${'p50'.padStart(6)} ${'p99'.padStart(7)} ${'p99.9'.padStart(7)} ${'max'.padStart(8)}  | in the slow orders: share of their time, largest step of how many`);
  for (let s = 0; s < S; s++) {
    const col = Float32Array.from({ length: v.n }, (_, i) => v.step[i * S + s]!);
    const [a, b, c, d] = pct(col, [0.5, 0.99, 0.999, 1]);
    console.log(`  ${v.steps[s]!.padEnd(18)} ${f1(a!).padStart(6)} ${f1(b!).padStart(7)} ${f1(c!).padStart(7)} ${f1(d!).padStart(8)}  | ${slowSum > 0 ? ((slowTime[s]! / slowSum) * 100).toFixed(0).padStart(3) : '  —'} %  ${largest[s]}`);
  }
  // Which events overlap the slow orders (an order can overlap several kinds).
  const byKind = new Array<number>(kinds.length).fill(0);
  let none = 0;
  const noneLargest = new Array<number>(S).fill(0);
  for (const i of slow) {
    const ks = overlapping(v.start[i]!, v.start[i]! + tot[i]! / 1000);
    if (ks.size === 0) {
      none++;
      let b = 0;
      for (let s = 0; s < S; s++) if (v.step[i * S + s]! > v.step[i * S + b]!) b = s;
      noneLargest[b]!++;
    }
    for (const k of ks) byKind[k]!++;
  }
  // Preemption and page faults: slow orders in blocks where the thread was preempted or faulted, and in the others.
  const quiet = new Uint8Array(v.n);
  let quietOrders = 0;
  let preempted = 0;
  let faulted = 0;
  for (const b of blocks) {
    if (b.v !== v) continue;
    if (b.switches > 0) preempted++;
    if (b.faults > 0) faulted++;
    if (b.switches === 0 && b.faults === 0) {
      quietOrders += b.to - b.from;
      quiet.fill(1, b.from, b.to);
    }
  }
  const slowQuiet = slow.filter((i) => quiet[i] === 1).length;
  const nb = blocks.filter((b) => b.v === v).length;
  console.log(
    `  blocks: ${nb}, of which ${preempted} saw an involuntary context switch and ${faulted} a minor page fault; ` +
      `slow orders in blocks with neither: ${slowQuiet} of ${quietOrders} orders (${quietOrders > 0 ? ((slowQuiet / quietOrders) * 100).toFixed(2) : '—'} %), in the others: ${slow.length - slowQuiet} of ${v.n - quietOrders} (${v.n - quietOrders > 0 ? (((slow.length - slowQuiet) / (v.n - quietOrders)) * 100).toFixed(2) : '—'} %)`,
  );
  const parts = kinds.map((k, j) => [k, byKind[j]!] as const).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  console.log(`  slow orders overlapping: ${parts.length ? parts.join(', ') : 'no event'}; none: ${none}${none > 0 ? ` (largest step: ${v.steps.map((s, j) => [s, noneLargest[j]!] as const).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`).join(', ')})` : ''}`);
}

/**
 * Per class of order (CLASSES: appended, opened, closed): how many, the whole order's and each
 * step's p50 / p99, and the share of the slow orders; with STEPS_RUSAGE=1, the slow orders that
 * took a minor page fault or an involuntary context switch while they ran, and the p99 of the
 * orders that took neither.
 */
function byClass(v: Variant): void {
  if (v.steps.length < 2) return;
  const S = v.steps.length;
  const slowAll = Array.from(v.total.subarray(0, v.n)).filter((x) => x > SLOW).length;
  console.log(`  by what the order did to its position (slow: > ${SLOW} µs):`);
  for (let c = 0; c < CLASSES.length; c++) {
    const idx: number[] = [];
    for (let i = 0; i < v.n; i++) if (v.cls[i] === c) idx.push(i);
    if (idx.length === 0) continue;
    const tot = idx.map((i) => v.total[i]!);
    const [a, b, c9] = pct(tot, [0.5, 0.99, 0.999]);
    const slowN = tot.filter((x) => x > SLOW).length;
    const stepP = v.steps.map((name, s) => {
      const [sa, sb] = pct(idx.map((i) => v.step[i * S + s]!), [0.5, 0.99]);
      return `${name} ${f1(sa!)}/${f1(sb!)}`;
    });
    console.log(
      `    ${CLASSES[c]!}: ${idx.length} (${((idx.length / v.n) * 100).toFixed(2)} % of orders), whole p50 ${f1(a!)} p99 ${f1(b!)} p99.9 ${f1(c9!)} µs; ` +
        `slow ${slowN} (${((slowN / idx.length) * 100).toFixed(2)} % of them, ${slowAll > 0 ? ((slowN / slowAll) * 100).toFixed(0) : '—'} % of all slow)`,
    );
    console.log(`      steps p50/p99 µs: ${stepP.join(', ')}`);
  }
  if (!RUSAGE) return;
  let sf = 0;
  let ss = 0;
  let sn = 0;
  let faultOrders = 0;
  const clean: number[] = [];
  for (let i = 0; i < v.n; i++) {
    const f = v.faults[i]! > 0;
    const w = v.switches[i]! > 0;
    if (f) faultOrders++;
    if (!f && !w) clean.push(v.total[i]!);
    if (v.total[i]! <= SLOW) continue;
    if (w) ss++;
    else if (f) sf++;
    else sn++;
  }
  const [cp50, cp99] = pct(clean, [0.5, 0.99]);
  const faulted: number[] = [];
  for (let i = 0; i < v.n; i++) if (v.faults[i]! > 0 && v.switches[i] === 0) faulted.push(v.total[i]!);
  const [fp50, fp99] = pct(faulted, [0.5, 0.99]);
  console.log(
    `  getrusage per order: ${faultOrders} orders (${((faultOrders / v.n) * 100).toFixed(2)} %) took a minor page fault; slow orders: ${ss} preempted (involuntary switch), ` +
      `${sf} with a page fault (not preempted), ${sn} with neither; orders with neither: ${clean.length}, p50 ${f1(cp50!)} p99 ${f1(cp99!)} µs; with a fault and not preempted: ${faulted.length}, p50 ${f1(fp50!)} p99 ${f1(fp99!)} µs`,
  );
}
for (const v of all) {
  console.log(`\n${v.name}:`);
  byClass(v);
}
console.log(`\nevents in the ${(t1 - t0).toFixed(0)} ms window (${totalOrders} orders timed, all variants):`);
for (let k = 0; k < kinds.length; k++) {
  const ds: number[] = [];
  for (let i = 0; i < nEv; i++) if (evKind[i] === k && evStart[i]! >= t0 && evStart[i]! < t1) ds.push(evDur[i]!);
  if (ds.length === 0) continue;
  const [a, b] = pct(ds, [0.5, 1]);
  console.log(`  ${kinds[k]!.padEnd(32)} ${String(ds.length).padStart(7)} (${((ds.length * 1000) / totalOrders).toFixed(2)} per 1,000 orders), p50 ${f1(a!)} µs, max ${f1(b!)} µs, total ${f1(ds.reduce((x, y) => x + y, 0) / totalOrders)} µs/order`);
}
const hs = engine.stats().positions as unknown as { heap?: Record<string, unknown> };
if (hs.heap !== undefined) console.log(`\nheap at the end: ${JSON.stringify(hs.heap)}`);
engine.close();
