/**
 * bench/order-path.ts, peer lmdb-js: one thread of the case (bench/peers/lmdb-store.ts for the
 * layout). Role 'order': the order path, synchronous: eliminated? departed? (plain reads, no
 * transaction: the fail-early checks), then ONE write transaction (LMDB's single writer is the
 * lock): account size, open position, next position, save, notice appended under the next
 * sequence number. Role 'consumer': reads the notices in sequence order and removes them in its
 * own write transaction, naps 1 ms when there are none (as the sabstate consumer), and stops once
 * told the orders are done and none is left.
 */
import { workerData, parentPort } from 'node:worker_threads';
import { prng } from '../../examples/validator/shared.ts';
import type { Position } from '../../examples/validator/shared.ts';
import { decide } from './order-path-common.ts';
import type { Pick } from './order-path-common.ts';
import { consumerLoop, orderLoop } from '../peers/thread-case.ts';
import type { CaseData } from '../peers/thread-case.ts';
import { openLmdb } from '../peers/lmdb-store.ts';

const d = workerData as CaseData & { path: string };
const s = openLmdb(d.path);

function order(p: Pick, rnd: () => number): boolean {
  if (s.eliminations.doesExist(p.hotkey) || s.departed.doesExist(p.hotkey)) return false;
  const key = `${p.hotkey}|${p.tp[0]}`;
  s.env.transactionSync(() => {
    const accountSize = s.accountSizes.get(p.hotkey);
    const open = s.open.get(key) as Position | undefined;
    const { next, notice } = decide(p, open, accountSize, d.setup.maxOrders, rnd);
    if (next.is_closed_position) {
      s.closed.putSync(next.position_uuid, next);
      if (open !== undefined) s.open.removeSync(key);
    } else s.open.putSync(key, next);
    const seq = (s.meta.get('seq') ?? 0) + 1;
    s.meta.putSync('seq', seq);
    s.notices.putSync(seq, notice);
  });
  return true;
}

if (d.role === 'consumer') {
  const popSome = (): number =>
    s.env.transactionSync(() => {
      let k = 0;
      for (const { key, value } of s.notices.getRange({ limit: 256 })) {
        if (value.hotkey === '') throw new Error(`notice ${key} without a hotkey`);
        s.notices.removeSync(key);
        k++;
      }
      return k;
    });
  parentPort!.postMessage(await consumerLoop(d, popSome));
} else {
  parentPort!.postMessage(await orderLoop(d, order, prng(d.seed)));
}
await s.env.close();
