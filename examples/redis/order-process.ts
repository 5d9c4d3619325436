/**
 * One order process of the Redis demo (examples/redis/main.ts forks several): the validator's
 * order path on the AsyncEngine, the same code whatever the backend. Its first IPC message:
 * `{ url, keyPrefix, orders, seed, hotkeys, maxOrders, concurrency, templates }`; reports its
 * tally over IPC.
 */
import { createRedisEngine, SabStateError, type AsyncEngine, type AsyncQueue } from '../../src/index.ts';
import { TRADE_PAIRS, nextHead, prng, uuid } from '../validator/shared.ts';
import { makeOrder, type Notice, type Pick } from '../validator/order-path.ts';
import { DEMO_GENERAL, type DemoTemplates, QUEUE, type Tally } from './shared.ts';

interface Args {
  url: string;
  keyPrefix: string;
  orders: number;
  seed: number;
  hotkeys: string[];
  maxOrders: number;
  concurrency: number;
  templates: DemoTemplates;
}

/**
 * The notice of a task's last saved order while its push is in flight: the next order step of
 * the same task sends it on with its own first wait (and surfaces its error); flushNotices()
 * awaits it at the end. One per sequential task.
 */
export interface NoticeLane {
  pending: Promise<void>;
}
export const noticeLane = (): NoticeLane => ({ pending: Promise.resolve() });
/** Waits for the lane's last push (call once a task has made its last order step). */
export const flushNotices = (lane: NoticeLane): Promise<void> => lane.pending;

/**
 * The order step, two waits per saved order (the hand-written peer's count):
 * 1. sent together before any await (ioredis writes them back to back on the one connection,
 *    and Redis answers in order): the previous order's notice push (with a `lane`), the
 *    fail-early reads (eliminated? departed?), the sync gate's epoch, the account size, and the
 *    lock grant (which also returns the open head, so getOpenHead costs nothing). The reads run
 *    just before the grant, so when the grant comes back they have too; a rejected miner or a
 *    sync in progress releases the lock at once (a third wait, rare, as for the peer);
 * 2. the fenced, epoch-checked append with `{ release: true }`: its script also deletes the
 *    lock, so no release command follows (one command, one wait). A refused append (a late
 *    holder, a newer epoch) writes nothing and releases nothing; withLock then releases the lock
 *    (a compare-and-delete), a third wait, rare.
 * The notice rides in the append (`{ push }`): on Redis the append's script pushes it in the
 * same atomic step, so a saved order's notice cannot be lost and a refused one pushes nothing.
 * Only if the queue was full (the append resolves to false) is the notice pushed after, until
 * accepted: with a `lane`, sent now and awaited by the task's next step (so it rides in that
 * step's first wait); without one, awaited here. Notices of one position are pushed in write
 * order (n_orders order) unless the queue was full; they carry n_orders. True if the order was
 * saved (counted in `t`).
 */
export async function orderStep(e: AsyncEngine, p: Pick, maxOrders: number, rnd: () => number, t: Tally, lane?: NoticeLane): Promise<boolean> {
  const q = e.general.queue(QUEUE);
  for (;;) {
    const saved = await settle(await send(e, p, maxOrders, rnd, lane, false), q, t, lane);
    if (saved !== null) return saved;
  }
}

/** What the first half of an order step leaves: a rejected miner, or its append in flight and the notice it pushes. */
type Sent = 'eliminated' | 'departed' | { appended: Promise<boolean>; notice: Notice };

/**
 * The first half of an order step: the first wait, then the append sent, not awaited (a sync in
 * progress: 2 ms, then again). With `early`, resolves once fn has sent the append (withLock
 * ends by itself once the append's reply is in); else once withLock has ended.
 */
async function send(e: AsyncEngine, p: Pick, maxOrders: number, rnd: () => number, lane: NoticeLane | undefined, early: boolean): Promise<Sent> {
  for (;;) {
    const previous = lane?.pending;
    if (lane !== undefined) lane.pending = Promise.resolve();
    const before = Promise.all([
      previous, e.eliminations.has(p.hotkey), e.departed.has(p.hotkey), e.general.syncGate.current(),
      e.general.map('accountSizes').get(p.hotkey) as Promise<number | undefined>,
    ]);
    before.catch(() => undefined); // awaited inside fn; unobserved only if the lock itself failed (that error is thrown)
    let sent: ((s: Sent) => void) | undefined;
    const fnSent = early ? new Promise<Sent>((r) => (sent = r)) : undefined;
    const locked = e.locks.withLock(p.hotkey, p.tp[0], async (lock) => {
      const [, eliminated, departed, g, accountSize] = await before;
      if (eliminated) return 'eliminated' as const;
      if (departed) return 'departed' as const;
      if (g.inProgress) return 'sync' as const;
      const h = await e.positions.getOpenHead(p.hotkey, p.tp[0], { lock });
      const count = h?.orderCount ?? 0;
      const order = makeOrder(p, h !== undefined, count, accountSize, maxOrders, rnd);
      const next = nextHead(h?.position, p.hotkey, p.tp, order, uuid(rnd));
      const notice: Notice = {
        hotkey: p.hotkey, trade_pair: p.tp[0], position_uuid: next.position_uuid, order_uuid: order.order_uuid,
        order_type: order.order_type, n_orders: h === undefined ? 1 : count + 1, closed: next.is_closed_position,
      };
      // Not awaited here (wrapped, or fn's promise would wait for it): withLock waits for its reply,
      // and sends a release only if it was refused.
      const appended = e.positions.appendOrder(next, order, { ifEpoch: g.epoch, release: true, lock, push: { queue: QUEUE, message: notice } });
      appended.catch(() => undefined); // awaited by settle(), after the release
      const out = { appended, notice };
      sent?.(out);
      return out;
    }, { timeoutMs: 60_000 }); // fn takes the lock context and passes it on: no AsyncLocalStorage on Redis
    if (fnSent !== undefined) locked.catch(() => undefined); // raced below; it ends with the append's reply
    const out = fnSent === undefined ? await locked : await Promise.race([fnSent, locked]);
    if (out !== 'sync') return out;
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The second half: the append's reply. True if saved (counted in `t`), false for a rejected miner, null if a newer sync refused it (make the order again). */
async function settle(out: Sent, q: AsyncQueue, t: Tally, lane: NoticeLane | undefined): Promise<boolean | null> {
  if (out === 'eliminated') return (t.rejectedEliminated++, false);
  if (out === 'departed') return (t.rejectedDeparted++, false);
  let inWrite: boolean;
  try {
    inWrite = await out.appended;
  } catch (err) {
    if (!(err instanceof SabStateError) || err.code !== 'ERR_STALE_EPOCH') throw err;
    t.staleRetries++;
    return null;
  }
  t.saved++;
  if (inWrite) return true;
  t.queueFullWaits++; // saved, the queue was full: the notice is pushed after
  const pushed = pushUntilAccepted(q, out.notice, t);
  if (lane === undefined) await pushed;
  else {
    pushed.catch(() => undefined); // awaited by the next step or flushNotices
    lane.pending = pushed;
  }
  return true;
}

/** A task's pipelined order steps (pipelinedStep): its notice lane and the last order, its append in flight. */
export interface Pipe {
  readonly lane: NoticeLane;
  last: { sent: Sent; p: Pick } | undefined;
}
export const orderPipe = (): Pipe => ({ lane: noticeLane(), last: undefined });

/**
 * The pipelined order step, one wait per order: order k's reads and lock grant are sent at once,
 * on the connection where order k-1's append is still in flight, so both ride in one round trip;
 * then order k-1 is settled (its reply came first: one connection answers in order), and order
 * k's append is sent and left in flight. Resolves to whether order k-1 was saved (false for a
 * task's first call, which settles none): each call settles exactly one order, and an order
 * counts as saved only once its append's reply has come back; flushPipe() settles the last.
 * An order k-1 refused by a newer sync is made again, whole (orderStep), before this resolves.
 * If settling k-1 throws (a lost connection), order k stays in flight, neither settled nor
 * counted: its outcome is unknown, as any write whose reply was lost.
 * Same lock: if orders k-1 and k take the same (hotkey, trade pair), k's grant runs after k-1's
 * append in Redis, which released it (or, refused, left it to withLock's release: k waits).
 */
export async function pipelinedStep(e: AsyncEngine, p: Pick, maxOrders: number, rnd: () => number, t: Tally, pipe: Pipe): Promise<boolean> {
  const last = pipe.last;
  pipe.last = undefined;
  const next = send(e, p, maxOrders, rnd, pipe.lane, true); // its commands are queued before this awaits
  next.catch(() => undefined); // awaited below
  let saved = false;
  if (last !== undefined) {
    saved = (await settle(last.sent, e.general.queue(QUEUE), t, pipe.lane)) ?? (await orderStep(e, last.p, maxOrders, rnd, t, pipe.lane));
  }
  pipe.last = { sent: await next, p };
  return saved;
}

/** Settles the pipe's last order (true if saved) and waits for its lane's last push. */
export async function flushPipe(e: AsyncEngine, maxOrders: number, rnd: () => number, t: Tally, pipe: Pipe): Promise<boolean> {
  const last = pipe.last;
  pipe.last = undefined;
  let saved = false;
  if (last !== undefined) saved = (await settle(last.sent, e.general.queue(QUEUE), t, pipe.lane)) ?? (await orderStep(e, last.p, maxOrders, rnd, t, pipe.lane));
  await flushNotices(pipe.lane);
  return saved;
}

/** Pushes the notice; while the queue is full, waits 5 ms and tries again (counted). */
async function pushUntilAccepted(q: AsyncQueue, notice: unknown, t: Tally): Promise<void> {
  while (!(await q.push(notice))) {
    t.queueFullWaits++;
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main(): Promise<void> {
  const a = (await new Promise((r) => process.once('message', r))) as Args;
  const e = await createRedisEngine({ url: a.url, keyPrefix: a.keyPrefix, general: DEMO_GENERAL });
  const t: Tally = { ordersIn: 0, saved: 0, rejectedEliminated: 0, rejectedDeparted: 0, staleRetries: 0, queueFullWaits: 0 };
  let left = a.orders;
  await Promise.all(Array.from({ length: a.concurrency }, async (_, k) => {
    const rnd = prng(a.seed * 7919 + k);
    const lane = noticeLane();
    while (left > 0) {
      left--;
      const p: Pick = {
        hotkey: a.hotkeys[Math.floor(rnd() * a.hotkeys.length)]!,
        tp: TRADE_PAIRS[Math.floor(rnd() * TRADE_PAIRS.length)]!,
        template: a.templates[Math.floor(rnd() * a.templates.length)]!,
        r: rnd(),
      };
      t.ordersIn++;
      await orderStep(e, p, a.maxOrders, rnd, t, lane);
    }
    await flushNotices(lane);
  }));
  process.send!({ tally: t, roundTrips: (await e.stats()).roundTrips });
  await e.close();
  process.disconnect();
}

if (process.send !== undefined) await main();
