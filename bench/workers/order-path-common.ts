/**
 * What every case of bench/order-path.ts shares: the latency histogram, the order stream (which
 * miner, which trade pair, which real order as a template), the order decision (type, leverage,
 * next position, websocket notice), and the sabstate order step itself (the demo's order path:
 * examples/validator/order-worker.ts), so that the single-thread case, the worker threads and the
 * JS server-thread peer run the same code. The Python peer (bench/peers/manager_order_path.py)
 * mirrors the decision and the histogram line for line.
 */
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { SabStateError } from '../../src/index.ts';
import type { Engine } from '../../src/index.ts';
import { encodeOrder, encodePositionHead } from '../../src/internal/codec/codec.ts';
import { SharedHeap } from '../../src/internal/store/heap.ts';
import { QUEUE, TRADE_PAIRS, nextHead, nextPosition, uuid } from '../../examples/validator/shared.ts';
import type { Order, Position, PositionHead } from '../../examples/validator/shared.ts';

export type TradePair = (typeof TRADE_PAIRS)[number];

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

export const tpIdOf = (p: Position): string => (typeof p.trade_pair === 'string' ? p.trade_pair : (p.trade_pair as string[])[0]!);

export function countStoredOrders(engine: Engine): number {
  let n = 0;
  for (const hk of engine.positions.hotkeys()) for (const p of engine.positions.listForHotkey(hk) as Position[]) n += p.orders.length;
  return n;
}

// ---- one order ------------------------------------------------------------------------------------
/** One draw of the order stream: the miner, the trade pair, the template, a uniform number. */
export interface Pick {
  hotkey: string;
  tp: TradePair;
  template: Order;
  r: number;
}

export function pick(rnd: () => number, setup: Setup): Pick {
  return {
    hotkey: setup.hotkeys[Math.floor(rnd() * setup.hotkeys.length)]!,
    tp: TRADE_PAIRS[Math.floor(rnd() * TRADE_PAIRS.length)]!,
    template: setup.templates[Math.floor(rnd() * setup.templates.length)]!,
    r: rnd(),
  };
}

export interface Notice {
  hotkey: string;
  trade_pair: string;
  position_uuid: string;
  order_uuid: string;
  order_type: string;
  n_orders: number;
  closed: boolean;
}

/** The order of the demo's decision (a real one as template; type and leverage from the draw). */
function makeOrder(p: Pick, isOpen: boolean, count: number, accountSize: number | undefined, maxOrders: number, rnd: () => number): Order {
  let type = p.r < 0.45 ? 'LONG' : p.r < 0.9 ? 'SHORT' : 'FLAT';
  if (!isOpen && type === 'FLAT') type = 'LONG';
  if (isOpen && count >= maxOrders - 1) type = 'FLAT';
  const lev = type === 'FLAT' ? 0 : (type === 'LONG' ? 1 : -1) * Math.min(0.5, (accountSize ?? 100_000) / 1e6) * (0.1 + p.r);
  return { ...p.template, order_type: type, leverage: lev, processed_ms: Date.now(), order_uuid: uuid(rnd) };
}

/** The order decision of the demo on a whole position: the order, the next position, the notice (stores without an append step). */
export function decide(
  p: Pick, open: Position | undefined, accountSize: number | undefined, maxOrders: number, rnd: () => number,
): { next: Position; notice: Notice } {
  const order = makeOrder(p, open !== undefined, open?.orders.length ?? 0, accountSize, maxOrders, rnd);
  const next = nextPosition(open, p.hotkey, p.tp, order, uuid(rnd));
  const notice: Notice = {
    hotkey: p.hotkey, trade_pair: p.tp[0], position_uuid: next.position_uuid, order_uuid: order.order_uuid, order_type: order.order_type,
    n_orders: next.orders.length, closed: next.is_closed_position,
  };
  return { next, notice };
}

/** The same decision on the head alone (getOpenHead / appendOrder): the same order, head and notice, and the same draws. */
export function decideHead(
  p: Pick, open: PositionHead | undefined, count: number, accountSize: number | undefined, maxOrders: number, rnd: () => number,
): { next: PositionHead; order: Order; notice: Notice } {
  const order = makeOrder(p, open !== undefined, count, accountSize, maxOrders, rnd);
  const next = nextHead(open, p.hotkey, p.tp, order, uuid(rnd));
  const notice: Notice = {
    hotkey: p.hotkey, trade_pair: p.tp[0], position_uuid: next.position_uuid, order_uuid: order.order_uuid, order_type: order.order_type,
    n_orders: open === undefined ? 1 : count + 1, closed: next.is_closed_position,
  };
  return { next, order, notice };
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

export interface SabPath {
  engine: Engine;
  accountSizes: ReturnType<Engine['general']['map']>;
  notices: ReturnType<Engine['general']['queue']>;
  maxOrders: number;
  rnd: () => number;
  /** Called when the notice queue is full (the single-thread case drains it there). */
  onFull: () => void;
}

export function sabPath(engine: Engine, maxOrders: number, rnd: () => number, onFull?: () => void): SabPath {
  return {
    engine, maxOrders, rnd, accountSizes: engine.general.map('accountSizes'), notices: engine.general.queue(QUEUE),
    onFull: onFull ?? (() => sleep(0.2)),
  };
}

/**
 * The demo's order path on sabstate: fail early on eliminated / departed miners (no lock), then
 * under the (hotkey, trade pair) lock: account size, the open position's head (getOpenHead),
 * next head, appendOrder with ifEpoch (retried if a sync began), notice pushed (waiting while
 * the queue is full). Returns true when saved, false when rejected. With how = 'save': the path
 * before issue 12 (getOpen, the next whole position, save), for side-by-side runs.
 */
export function sabOrder(s: SabPath, p: Pick, how: 'append' | 'save' = 'append'): boolean {
  const { engine } = s;
  if (engine.eliminations.has(p.hotkey)) return false;
  if (engine.departed.has(p.hotkey)) return false;
  for (;;) {
    const g = engine.general.syncGate.current();
    if (g.inProgress) {
      sleep(1);
      continue;
    }
    try {
      engine.locks.withLock(p.hotkey, p.tp[0], () => {
        const accountSize = s.accountSizes.get(p.hotkey) as number | undefined;
        let notice: Notice;
        if (how === 'append') {
          const got = engine.positions.getOpenHead(p.hotkey, p.tp[0]);
          const d = decideHead(p, got?.position as PositionHead | undefined, got?.orderCount ?? 0, accountSize, s.maxOrders, s.rnd);
          engine.positions.appendOrder(d.next, d.order, { ifEpoch: g.epoch });
          notice = d.notice;
        } else {
          // The path before issue 12: the whole position read, and saved with one order more.
          const open = engine.positions.getOpen(p.hotkey, p.tp[0]) as Position | undefined;
          const d = decide(p, open, accountSize, s.maxOrders, s.rnd);
          engine.positions.save(d.next, { ifEpoch: g.epoch });
          notice = d.notice;
        }
        while (!s.notices.push(notice)) s.onFull();
      });
      return true;
    } catch (e) {
      if (e instanceof SabStateError && e.code === 'ERR_STALE_EPOCH') continue;
      throw e;
    }
  }
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
export interface SabFloor extends SabPath {
  heap: SharedHeap;
  word: Int32Array;
}
export function sabFloor(engine: Engine, maxOrders: number, rnd: () => number, onFull?: () => void): SabFloor {
  const h = engine.handle();
  const heap = new SharedHeap(h.positions.heap, { k0: h.seed[0], k1: h.seed[1] }, 'positions heap (floor)');
  return { ...sabPath(engine, maxOrders, rnd, onFull), heap, word: new Int32Array(new SharedArrayBuffer(4)) };
}
export function sabFloorOrder(s: SabFloor, p: Pick): boolean {
  const { engine, heap } = s;
  if (engine.eliminations.has(p.hotkey)) return false;
  if (engine.departed.has(p.hotkey)) return false;
  engine.locks.withLock(p.hotkey, p.tp[0], () => {
    const accountSize = s.accountSizes.get(p.hotkey) as number | undefined;
    const got = engine.positions.getOpenHead(p.hotkey, p.tp[0]);
    const { next, order, notice } = decideHead(p, got?.position as PositionHead | undefined, got?.orderCount ?? 0, accountSize, s.maxOrders, s.rnd);
    const ob = encodeOrder(order);
    const chunk = heap.alloc(ob.length);
    heap.u8.set(ob, heap.payload(chunk));
    const hb = encodePositionHead(next);
    const rec = heap.alloc(hb.length);
    heap.u8.set(hb, heap.payload(rec));
    Atomics.compareExchange(s.word, 0, Atomics.load(s.word, 0), rec);
    heap.free(chunk);
    heap.free(rec);
    while (!s.notices.push(notice)) s.onFull();
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
