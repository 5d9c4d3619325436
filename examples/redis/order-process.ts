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
 * The order step: the fail-early reads (eliminated? departed?), the sync gate's epoch and the
 * account size at once (ioredis sends them back to back on one connection: one wait); then under
 * the (hotkey, trade pair) lock: the open head (answered by the lock grant: no round trip), the
 * append (one script: fenced, the epoch checked with the write); the notice's push is sent as
 * the lock is released (both in flight together: one wait). Four waits per saved order. True if
 * the order was saved (counted in `t`); the notice is pushed only for a saved order.
 */
export async function orderStep(e: AsyncEngine, p: Pick, maxOrders: number, rnd: () => number, t: Tally): Promise<boolean> {
  const q = e.general.queue(QUEUE);
  for (;;) {
    const [eliminated, departed, g, accountSize] = await Promise.all([
      e.eliminations.has(p.hotkey), e.departed.has(p.hotkey), e.general.syncGate.current(),
      e.general.map('accountSizes').get(p.hotkey) as Promise<number | undefined>,
    ]);
    if (eliminated) return (t.rejectedEliminated++, false);
    if (departed) return (t.rejectedDeparted++, false);
    if (g.inProgress) {
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    let inFlight: { pushed: Promise<void> };
    try {
      inFlight = await e.locks.withLock(p.hotkey, p.tp[0], async () => {
        const h = await e.positions.getOpenHead(p.hotkey, p.tp[0]);
        const count = h?.orderCount ?? 0;
        const order = makeOrder(p, h !== undefined, count, accountSize, maxOrders, rnd);
        const next = nextHead(h?.position, p.hotkey, p.tp, order, uuid(rnd));
        const notice: Notice = {
          hotkey: p.hotkey, trade_pair: p.tp[0], position_uuid: next.position_uuid, order_uuid: order.order_uuid,
          order_type: order.order_type, n_orders: h === undefined ? 1 : count + 1, closed: next.is_closed_position,
        };
        await e.positions.appendOrder(next, order, { ifEpoch: g.epoch });
        // Not awaited here: the push goes out with the release (wrapped, or fn's promise would wait for it).
        const pushed = pushUntilAccepted(q, notice, t);
        pushed.catch(() => undefined); // awaited below, after the release
        return { pushed };
      }, { timeoutMs: 60_000 });
    } catch (err) {
      if (!(err instanceof SabStateError) || err.code !== 'ERR_STALE_EPOCH') throw err;
      t.staleRetries++;
      continue;
    }
    await inFlight.pushed;
    t.saved++;
    return true;
  }
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
    while (left > 0) {
      left--;
      const p: Pick = {
        hotkey: a.hotkeys[Math.floor(rnd() * a.hotkeys.length)]!,
        tp: TRADE_PAIRS[Math.floor(rnd() * TRADE_PAIRS.length)]!,
        template: a.templates[Math.floor(rnd() * a.templates.length)]!,
        r: rnd(),
      };
      t.ordersIn++;
      await orderStep(e, p, a.maxOrders, rnd, t);
    }
  }));
  process.send!({ tally: t, roundTrips: (await e.stats()).roundTrips });
  await e.close();
  process.disconnect();
}

if (process.send !== undefined) await main();
