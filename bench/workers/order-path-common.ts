/**
 * What every case of bench/order-path.ts shares: the latency histogram, the order stream (which
 * miner, which trade pair, which real order as a template), the order decision (type, leverage,
 * next position, websocket notice), and the sabstate order step itself: all of it re-exported from
 * examples/validator/order-path.ts, the demo's order path, so that every case runs the demo's
 * step, one copy. The Python peer (bench/peers/manager_order_path.py)
 * mirrors the decision and the histogram line for line.
 */
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { SabStateError } from '../../src/index.ts';
import type { Engine } from '../../src/index.ts';
import { encodeOrder, encodePositionHead } from '../../src/internal/codec/codec.ts';
import { SharedHeap } from '../../src/internal/store/heap.ts';
import {
  QUEUE, TRADE_PAIRS, fixturesPresent, makeHotkey, newHead, prng, realDeparted, realPositionTexts, updateHead, uuid,
} from '../../examples/validator/shared.ts';
import type { Order, Position, PositionHead } from '../../examples/validator/shared.ts';
import { type Notice, OrderPath, fillNotice, makeOrder, type Pick } from '../../examples/validator/order-path.ts';

// ---- the order path: examples/validator/order-path.ts (the demo's, one copy) -------------------------
export { OrderPath, decide, fillNotice, makeOrder, pick } from '../../examples/validator/order-path.ts';
export type { Notice, Outcome, Pick, TradePair } from '../../examples/validator/order-path.ts';

// ---- latency histogram: examples/validator/latency.ts (the demo's, the same formula) -----------------
export { BUCKETS, bucketOf, createHistograms, histogramRows, percentilesOf } from '../../examples/validator/latency.ts';

// ---- the shared setup -------------------------------------------------------------------------------
/** Everything a case starts from (built once by bench/order-path.ts, the same for every peer). */
export interface Setup {
  hotkeys: string[];
  eliminated: string[];
  departed: Record<string, { detected_ms: number }>;
  accountSizes: Record<string, number>;
  /** Real positions (the fixture's, plus real positions re-keyed as open ones of other miners). */
  positions: Position[];
  seededOrders: number;
  /** Real orders with price sources. */
  templates: Order[];
  maxOrders: number;
}

/** Counts of one order thread (or of the single-thread loop). */
export interface Tally {
  orders: number;
  saved: number;
  rejected: number;
  /** Orders done before the timed window (warmup): in the stored totals, not in orders/s. */
  warmOrders: number;
  warmSaved: number;
  elapsedMs: number;
  /** Order threads of the worker cases: the thread's own CPU in the timed window (Linux), and its GC there. */
  threadCpuMs?: number;
  gc?: GcTally;
}

/**
 * The state every case starts from (bench/order-path.ts; bench/order-path-steps.ts): the real
 * positions of test/fixtures/ptn, `hotkeys` miners in all (the fixture's, then made-up ones), a
 * quarter of the made-up miners' (hotkey, trade pair) keys holding a real position re-keyed as
 * open (its FLAT orders dropped, so that orders append to positions of real size), the real
 * departed hotkeys plus 4 made-up, 3 eliminated, real orders with price sources as templates.
 */
export function buildSetup(hotkeyCount: number, maxOrders: number, seed: number): Setup {
  const rnd = prng(seed);
  const real = fixturesPresent() ? realPositionTexts().map((t) => JSON.parse(t) as Position) : [];
  const hotkeys = [...new Set(real.map((p) => p.miner_hotkey))];
  const realCount = hotkeys.length;
  while (hotkeys.length < hotkeyCount) hotkeys.push(makeHotkey(rnd));
  const synthetic = hotkeys.slice(realCount);
  const departed: Record<string, { detected_ms: number }> = fixturesPresent() ? { ...realDeparted() } : {};
  for (const hk of synthetic.slice(0, 4)) departed[hk] = { detected_ms: Date.now() };
  const eliminated = synthetic.slice(4, 7);
  const accountSizes: Record<string, number> = {};
  for (const hk of hotkeys) accountSizes[hk] = 50_000 + Math.floor(rnd() * 200_000);
  const templates: Order[] = [];
  for (const p of real) for (const o of p.orders) if (templates.length < 64 && Array.isArray(o.price_sources) && o.price_sources.length > 0) templates.push(o);
  if (templates.length === 0) {
    templates.push({ order_type: 'LONG', leverage: 0.1, price: 60_000, processed_ms: 0, order_uuid: '', price_sources: [{ source: 'Polygon_ws', timespan_ms: 0, open: 60_000, close: 60_000, vwap: 60_000, high: 60_000, low: 60_000, start_ms: 0, websocket: true, lag_ms: 10, volume: 1 }] });
  }
  const positions: Position[] = [...real];
  const sources = real.filter((p) => p.orders.some((o) => o.order_type !== 'FLAT'));
  let k = 0;
  const active = synthetic.filter((hk) => !(hk in departed) && !eliminated.includes(hk));
  if (sources.length > 0) {
    for (const hk of active) {
      for (const tp of TRADE_PAIRS) {
        if (rnd() >= 0.25) continue;
        const src = sources[k++ % sources.length]!;
        const orders = src.orders.filter((o) => o.order_type !== 'FLAT');
        const net = orders.reduce((s, o) => s + o.leverage, 0);
        positions.push({
          ...src, miner_hotkey: hk, position_uuid: uuid(rnd), trade_pair: tp, orders, close_ms: null,
          net_leverage: Math.abs(net) < 1e-9 ? orders[0]!.leverage : net, position_type: orders[0]!.order_type, is_closed_position: false,
        });
      }
    }
  }
  const seededOrders = positions.reduce((s, p) => s + p.orders.length, 0);
  return { hotkeys, eliminated, departed, accountSizes, positions, seededOrders, templates, maxOrders };
}

/**
 * The prefault option of every benchmark engine, whole path and floor alike (fair: the same for
 * both): BENCH_PREFAULT unset = 256 MiB of positions heap headroom, touched at creation (the
 * heap grows by about 500 bytes per stored order; a one-thread window of 11 s stores well under
 * 500,000 orders), 'off' = no prefault (pages first-touched by the orders, as before issue 12's
 * prefault), 'true' = every buffer as created, or a number of bytes.
 */
export function benchPrefault(): { prefault?: boolean | number } {
  const v = process.env.BENCH_PREFAULT;
  if (v === 'off') return {};
  if (v === 'true') return { prefault: true };
  return { prefault: v === undefined || v === '' ? 256 * 2 ** 20 : Number(v) };
}
export const prefaultLabel = (o = benchPrefault()): string =>
  o.prefault === undefined || o.prefault === false ? 'prefault off' : o.prefault === true ? 'prefault: true' : `prefault: ${(o.prefault / 2 ** 20).toFixed(0)} MiB`;

/** Stores a setup's state in an engine (positions, departed, eliminated, account sizes). */
export function seedEngine(engine: Engine, setup: Setup): void {
  for (const p of setup.positions) engine.locks.withLock(p.miner_hotkey, tpIdOf(p), () => engine.positions.save(p));
  for (const [hk, v] of Object.entries(setup.departed)) engine.departed.mark(hk, v.detected_ms);
  for (const hk of setup.eliminated) engine.eliminations.add({ hotkey: hk, elimination_initiated_time_ms: Date.now(), dd: 0.11, reason: 'PLAGIARISM', price_info: {}, return_info: {} });
  const sizes = engine.general.map('accountSizes');
  for (const [hk, v] of Object.entries(setup.accountSizes)) sizes.set(hk, v);
}

export const tpIdOf = (p: Position): string => (typeof p.trade_pair === 'string' ? p.trade_pair : (p.trade_pair as string[])[0]!);

export function countStoredOrders(engine: Engine): number {
  let n = 0;
  for (const hk of engine.positions.hotkeys()) for (const p of engine.positions.listForHotkey(hk) as Position[]) n += p.orders.length;
  return n;
}

const pause = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number): void => void Atomics.wait(pause, 0, 0, ms);

/** What the sabstate order step needs, attached once per thread. */
/**
 * The consumer's drain step for consumerLoop: pops up to 256 notices without waiting, returns how
 * many. consumerLoop naps 1 ms between empty drains without registering as a waiter on the queue,
 * so producers never pay an Atomics.notify (websocket notices tolerate a millisecond).
 */
export function queueDrainer(engine: Engine): () => number {
  const q = engine.general.queue(QUEUE);
  return () => {
    let n = 0;
    while (n < 256 && q.pop() !== undefined) n++;
    return n;
  };
}

/** The demo's order step (examples/validator/order-path.ts) for one thread of a case. */
export type SabPath = OrderPath;
export function sabPath(engine: Engine, maxOrders: number, rnd: () => number, onFull?: () => void, how: 'append' | 'save' = 'append'): SabPath {
  return new OrderPath(engine, onFull === undefined ? { maxOrders, rnd, how } : { maxOrders, rnd, how, onFull });
}

/** One order of the demo's step; true when saved, false when rejected (eliminated or departed). */
export function sabOrder(s: SabPath, p: Pick): boolean {
  return s.step(p) === 'saved';
}

/**
 * The floor of the order path (issue 12): its essential steps alone, in the same order, on the
 * same engine: eliminations and departed checks, the lock pair, the account-size map get,
 * getOpenHead, building the order and the next head, encoding the order and the head into two
 * heap blocks, one CAS standing for the publication and the two frees for the reclamation, the
 * notice push (popped by the same drain as the whole path's). Nothing is stored: what the whole
 * path costs beyond this is its protocol (sync-gate guard, write gate, hotkey and open indexes,
 * the record CAS, retire, validation) and its glue.
 */
export interface SabFloor {
  engine: Engine;
  accountSizes: ReturnType<Engine['general']['map']>;
  notices: ReturnType<Engine['general']['queue']>;
  maxOrders: number;
  rnd: () => number;
  onFull: () => void;
  heap: SharedHeap;
  word: Int32Array;
  /**
   * Keep each order's chunk allocated (the "orders kept" floor): the order is stored, so its
   * bytes land in fresh heap memory as the whole path's do (first-touch page faults, cold lines);
   * the head block is freed as before. False: both blocks freed at once (always the same warm memory).
   */
  keep: boolean;
}
export function sabFloor(engine: Engine, maxOrders: number, rnd: () => number, onFull?: () => void, keep = false): SabFloor {
  const h = engine.handle();
  const heap = new SharedHeap(h.positions.heap, { k0: h.seed[0], k1: h.seed[1] }, 'positions heap (floor)');
  return {
    engine, maxOrders, rnd, accountSizes: engine.general.map('accountSizes'), notices: engine.general.queue(QUEUE),
    onFull: onFull ?? (() => sleep(0.2)), heap, word: new Int32Array(new SharedArrayBuffer(4)), keep,
  };
}
const floorNotice: Notice = { hotkey: '', trade_pair: '', position_uuid: '', order_uuid: '', order_type: '', n_orders: 0, closed: false };
/** The floor's step: the decision as OrderPath's (the same draws), the storing steps bare. */
export function sabFloorOrder(s: SabFloor, p: Pick): boolean {
  const { engine, heap } = s;
  if (engine.eliminations.has(p.hotkey)) return false;
  if (engine.departed.has(p.hotkey)) return false;
  engine.locks.withLock(p.hotkey, p.tp[0], () => {
    const accountSize = s.accountSizes.get(p.hotkey) as number | undefined;
    const got = engine.positions.getOpenHead(p.hotkey, p.tp[0]);
    const count = got === undefined ? 0 : got.orderCount;
    const order = makeOrder(p, got !== undefined, count, accountSize, s.maxOrders, s.rnd);
    const next = got === undefined ? newHead(p.hotkey, p.tp, order, uuid(s.rnd)) : updateHead(got.position as PositionHead, order);
    if (got !== undefined) uuid(s.rnd);
    const ob = encodeOrder(order);
    const chunk = heap.alloc(ob.length);
    heap.u8.set(ob, heap.payload(chunk));
    const hb = encodePositionHead(next);
    const rec = heap.alloc(hb.length);
    heap.u8.set(hb, heap.payload(rec));
    Atomics.compareExchange(s.word, 0, Atomics.load(s.word, 0), rec);
    if (!s.keep) heap.free(chunk);
    heap.free(rec);
    const n = fillNotice(floorNotice, p, next.position_uuid, order, count + 1, next.is_closed_position); // one object rewritten, as OrderPath's
    while (!s.notices.push(n)) s.onFull();
  });
  return true;
}

/** Garbage collections of this thread in a window: scavenges (minor), mark-compacts (major and incremental), pause. */
export interface GcTally {
  minor: number;
  major: number;
  pauseMs: number;
}
/**
 * Collects this thread's GC events (perf_hooks 'gc' entries, delivered asynchronously, after a
 * timer turn, not a setImmediate: `await settled()` before `tally(from, to)`).
 */
export function gcRecorder(): { settled(): Promise<void>; tally(fromMs: number, toMs: number): GcTally; stop(): void } {
  const entries: Array<{ start: number; duration: number; kind: number }> = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) entries.push({ start: e.startTime, duration: e.duration, kind: (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0 });
  });
  obs.observe({ entryTypes: ['gc'] });
  return {
    settled: () => new Promise((r) => setTimeout(r, 50)),
    tally(fromMs, toMs) {
      const t: GcTally = { minor: 0, major: 0, pauseMs: 0 };
      for (const e of entries) {
        if (e.start < fromMs || e.start >= toMs) continue;
        if (e.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) t.minor++;
        else if (e.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR || e.kind === perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL) t.major++;
        t.pauseMs += e.duration;
      }
      return t;
    },
    stop: () => obs.disconnect(),
  };
}

/** Start barrier: each thread adds itself to [0] and waits for [1] to become 1. */
export function arriveAndWait(barrier: Int32Array): void {
  Atomics.add(barrier, 0, 1);
  Atomics.notify(barrier, 0);
  while (Atomics.load(barrier, 1) === 0) Atomics.wait(barrier, 1, 0, 100);
}
