/**
 * One order process of the Redis demo (examples/redis/main.ts forks several): the validator's
 * order path on the AsyncEngine, the same code whatever the backend. Its first IPC message:
 * `{ url, keyPrefix, orders, seed, hotkeys, maxOrders, concurrency, templates }`; reports its
 * tally over IPC.
 */
import { createRedisEngine, SabStateError, type AsyncEngine } from '../../src/index.ts';
import { TRADE_PAIRS, prng } from '../validator/shared.ts';
import type { Position } from '../validator/shared.ts';
import { decide, type Pick } from '../../bench/workers/order-path-common.ts';
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
 * The order step: fail early, then under the (hotkey, trade pair) lock: read the head, append,
 * notify. True if the order was saved (counted in `t`).
 */
export async function orderStep(e: AsyncEngine, p: Pick, maxOrders: number, rnd: () => number, t: Tally): Promise<boolean> {
  if (await e.eliminations.has(p.hotkey)) return (t.rejectedEliminated++, false);
  if (await e.departed.has(p.hotkey)) return (t.rejectedDeparted++, false);
  for (;;) {
    const g = await e.general.syncGate.current();
    if (g.inProgress) {
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    try {
      await e.locks.withLock(p.hotkey, p.tp[0], async () => {
        const accountSize = (await e.general.map('accountSizes').get(p.hotkey)) as number | undefined;
        const h = await e.positions.getOpenHead(p.hotkey, p.tp[0]);
        const open = h === undefined ? undefined : ({ ...h.position, orders: new Array(h.orderCount) } as unknown as Position);
        const { next, notice } = decide(p, open, accountSize, maxOrders, rnd);
        await e.positions.appendOrder({ ...next, orders: null }, next.orders[next.orders.length - 1]!, { ifEpoch: g.epoch });
        while (!(await e.general.queue(QUEUE).push(notice))) {
          t.queueFullWaits++;
          await new Promise((r) => setTimeout(r, 5));
        }
      }, { timeoutMs: 60_000 });
      t.saved++;
      return true;
    } catch (err) {
      if (!(err instanceof SabStateError) || err.code !== 'ERR_STALE_EPOCH') throw err;
      t.staleRetries++;
    }
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
