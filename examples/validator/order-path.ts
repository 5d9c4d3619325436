/**
 * The validator's order path: the one copy that the demo's order workers (order-worker.ts) and
 * every sabstate case of bench/order-path.ts run (bench/workers/order-path-common.ts re-exports
 * it), so that the benchmark measures exactly the demo's step. The peers of the benchmark
 * (Redis, LMDB, a server thread, the Python manager) take their decision from here too
 * (`decide`), on whole positions, since they have no append step.
 *
 * One order (OrderPath.step):
 *   1. fail early: the miner is eliminated, or departed → rejected (no lock taken)
 *   2. read the sync gate's epoch; during a sync wait for it to end
 *   3. under the (hotkey, trade pair) lock: account size, the open position's head (getOpenHead:
 *      no earlier order is read), the order, the new head, appendOrder(head, order, { ifEpoch })
 *      (refused atomically if a sync began: the order is retried), the websocket notice pushed
 *      onto the queue (waiting while it is full: nothing dropped)
 *
 * Allocation: the step allocates what the order itself is (the order object, two uuids, the
 * decoded head) and nothing per order besides: the function run under the lock is made once
 * per OrderPath and reads the order from the instance, the notice is one object per OrderPath
 * rewritten for every order (queue.push encodes it into the ring; nothing keeps it), so is the
 * `{ ifEpoch }` options object, and the
 * head getOpenHead returns is updated in place (it is a fresh object per call, the API's own
 * use). `bench/profile-order-path.ts` prints the bytes allocated per order.
 */
import { SabStateError } from '../../src/index.ts';
import type { Engine } from '../../src/index.ts';
import { QUEUE, TRADE_PAIRS, newHead, nextPosition, updateHead, uuid } from './shared.ts';
import type { Order, Position, PositionHead } from './shared.ts';

export type TradePair = (typeof TRADE_PAIRS)[number];

/** One draw of the order stream: the miner, the trade pair, the template, a uniform number. */
export interface Pick {
  hotkey: string;
  tp: TradePair;
  template: Order;
  r: number;
}

/** Draws the next order of the seeded stream (four draws, in this order). */
export function pick(rnd: () => number, from: { hotkeys: readonly string[]; templates: readonly Order[] }): Pick {
  return {
    hotkey: from.hotkeys[Math.floor(rnd() * from.hotkeys.length)]!,
    tp: TRADE_PAIRS[Math.floor(rnd() * TRADE_PAIRS.length)]!,
    template: from.templates[Math.floor(rnd() * from.templates.length)]!,
    r: rnd(),
  };
}

/** The websocket notice of one stored order. */
export interface Notice {
  hotkey: string;
  trade_pair: string;
  position_uuid: string;
  order_uuid: string;
  order_type: string;
  n_orders: number;
  closed: boolean;
}

/** Rewrites notice `n` for one stored order and returns it (one object per thread, rewritten per order: nothing allocated). */
export function fillNotice(n: Notice, p: Pick, positionUuid: string, order: Order, nOrders: number, closed: boolean): Notice {
  n.hotkey = p.hotkey;
  n.trade_pair = p.tp[0];
  n.position_uuid = positionUuid;
  n.order_uuid = order.order_uuid;
  n.order_type = order.order_type;
  n.n_orders = nOrders;
  n.closed = closed;
  return n;
}

/** The order of the decision: a real one as template; type and leverage from the draw. */
export function makeOrder(p: Pick, isOpen: boolean, count: number, accountSize: number | undefined, maxOrders: number, rnd: () => number): Order {
  let type = p.r < 0.45 ? 'LONG' : p.r < 0.9 ? 'SHORT' : 'FLAT';
  if (!isOpen && type === 'FLAT') type = 'LONG';
  if (isOpen && count >= maxOrders - 1) type = 'FLAT';
  const lev = type === 'FLAT' ? 0 : (type === 'LONG' ? 1 : -1) * Math.min(0.5, (accountSize ?? 100_000) / 1e6) * (0.1 + p.r);
  return { ...p.template, order_type: type, leverage: lev, processed_ms: Date.now(), order_uuid: uuid(rnd) };
}

/** The decision on a whole position (stores without an append step): the order, the next position, the notice. */
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

/** What a step did with the order. */
export type Outcome = 'saved' | 'eliminated' | 'departed';

export interface OrderPathOptions {
  /** An open position takes at most this many orders: the last one is FLAT (closes it). */
  maxOrders: number;
  /** The thread's seeded stream (order and position uuids). */
  rnd: () => number;
  /** Called when the notice queue is full, before pushing again (default: sleep 0.2 ms). */
  onFull?: () => void;
  /** Called when appendOrder was refused because a sync began (the order is then retried). */
  onStale?: () => void;
  /**
   * 'append' (default): getOpenHead + appendOrder. 'save': the path before issue 12 (getOpen, the
   * next whole position, save), kept for side-by-side runs in the benchmark.
   */
  how?: 'append' | 'save';
}

const pause = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number): void => void Atomics.wait(pause, 0, 0, ms);

/** The sabstate order step of one thread (attach the engine once, make one OrderPath, call step per order). */
export class OrderPath {
  readonly #engine: Engine;
  readonly #accountSizes: ReturnType<Engine['general']['map']>;
  readonly #notices: ReturnType<Engine['general']['queue']>;
  readonly #maxOrders: number;
  readonly #rnd: () => number;
  readonly #onFull: () => void;
  readonly #onStale: () => void;
  readonly #underLock: () => void;
  /** The order being processed and the epoch it was read under (set by step, read under the lock). */
  #p: Pick | null = null;
  /** The options of appendOrder / save, one object: ifEpoch set per order (the engine keeps no reference to it). */
  readonly #opts = { ifEpoch: 0 };
  readonly #notice: Notice = { hotkey: '', trade_pair: '', position_uuid: '', order_uuid: '', order_type: '', n_orders: 0, closed: false };

  constructor(engine: Engine, opts: OrderPathOptions) {
    this.#engine = engine;
    this.#accountSizes = engine.general.map('accountSizes');
    this.#notices = engine.general.queue(QUEUE);
    this.#maxOrders = opts.maxOrders;
    this.#rnd = opts.rnd;
    this.#onFull = opts.onFull ?? (() => sleep(0.2));
    this.#onStale = opts.onStale ?? (() => {});
    this.#underLock = opts.how === 'save' ? () => this.#saveStep() : () => this.#appendStep();
  }

  /** One order: rejected early, or stored (retried while a sync refuses it) and its notice pushed. */
  step(p: Pick): Outcome {
    const engine = this.#engine;
    if (engine.eliminations.has(p.hotkey)) return 'eliminated';
    if (engine.departed.has(p.hotkey)) return 'departed';
    const gate = engine.general.syncGate;
    this.#p = p;
    for (;;) {
      const g = gate.current();
      if (g.inProgress) {
        sleep(1);
        continue;
      }
      this.#opts.ifEpoch = g.epoch;
      try {
        engine.locks.withLock(p.hotkey, p.tp[0], this.#underLock);
        return 'saved';
      } catch (e) {
        if (e instanceof SabStateError && e.code === 'ERR_STALE_EPOCH') {
          this.#onStale();
          continue;
        }
        throw e;
      }
    }
  }

  /** Step 3, the order path of issue 12: the head alone, one order appended. */
  #appendStep(): void {
    const p = this.#p!;
    const positions = this.#engine.positions;
    const accountSize = this.#accountSizes.get(p.hotkey) as number | undefined;
    const got = positions.getOpenHead(p.hotkey, p.tp[0]);
    const count = got === undefined ? 0 : got.orderCount;
    const order = makeOrder(p, got !== undefined, count, accountSize, this.#maxOrders, this.#rnd);
    const head = got === undefined ? newHead(p.hotkey, p.tp, order, uuid(this.#rnd)) : updateHead(got.position as PositionHead, order);
    if (got !== undefined) uuid(this.#rnd); // the stream draws a position uuid for every order (the same draws as decide)
    positions.appendOrder(head, order, this.#opts);
    this.#push(p, head.position_uuid, order, count + 1, head.is_closed_position);
  }

  /** Step 3 before issue 12: the whole position read, and saved with one order more. */
  #saveStep(): void {
    const p = this.#p!;
    const accountSize = this.#accountSizes.get(p.hotkey) as number | undefined;
    const open = this.#engine.positions.getOpen(p.hotkey, p.tp[0]) as Position | undefined;
    const { next } = decide(p, open, accountSize, this.#maxOrders, this.#rnd);
    this.#engine.positions.save(next, this.#opts);
    this.#push(p, next.position_uuid, next.orders[next.orders.length - 1]!, next.orders.length, next.is_closed_position);
  }

  #push(p: Pick, positionUuid: string, order: Order, nOrders: number, closed: boolean): void {
    const n = fillNotice(this.#notice, p, positionUuid, order, nOrders, closed);
    while (!this.#notices.push(n)) this.#onFull();
  }
}
