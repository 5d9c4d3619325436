// Worker for test/positions-compact.test.ts 'mt': order steps on shared keys under withLock
// (save with one more order, or appendOrder through getOpenHead), and churn that fragments the
// heap (closed filler positions of random sizes saved and deleted under the same locks), while
// the top compaction runs at every few writes of every thread (its trigger lowered to any
// fragmentation above 1.05, the window as low as the bytes in use allow, here in this thread's
// module instance), and explicitly at every
// 16th step (positions.compactTop). Every position carries
// `base` and `counter`; appended orders carry `seq` (positions-fixture.ts problem()). Reports how
// many order steps it made per key, and its compaction counts.
import { parentPort, workerData } from 'node:worker_threads';
import { hashKeyFromSeed } from '../../src/internal/hash/hash.ts';
import { LockDomain } from '../../src/domains/locks/locks.ts';
import { type Position, PositionsDomain } from '../../src/domains/positions/positions.ts';
import { topTrigger } from '../../src/domains/positions/compact.ts';
import { type StressWorkerData } from './positions-fixture.ts';
import { prng } from '../helpers/seed.ts';

export interface CompactWorkerData extends StressWorkerData {
  iterations: number;
}

const d = workerData as CompactWorkerData;
topTrigger.ratioMilli = 1050;
topTrigger.floorBytes = 0;
topTrigger.every = 4;
topTrigger.targetMilli = 1000;
const key = hashKeyFromSeed(d.keySeed);
const locks = new LockDomain(d.locks, key);
const positions = new PositionsDomain(d.positions, key, { locks });
const flag = new Int32Array(d.flag);
const rnd = prng(d.seed + d.id);

const order = (n: number, extra: Record<string, unknown>): Record<string, unknown> => ({
  order_uuid: `w${d.id}-${n}`, order_type: 'LONG', leverage: 0.5, price: 60_000 + n, processed_ms: 1_711_443_744_885 + n, ...extra,
});

/** This worker's filler positions still stored: (key index, uuid). */
const fillers: Array<{ k: number; uuid: string }> = [];
let fillerSeq = 0;

function step(n: number): number {
  const k = Math.floor(rnd() * d.keys.length);
  const { hk, tp } = d.keys[k]!;
  const r = rnd();
  locks.withLock(hk, tp, () => {
    if (r < 0.5) {
      const p = positions.getOpen(hk, tp);
      if (p === undefined) throw new Error(`no open position for ${hk} ${tp}`);
      const counter = (p.counter as number) + 1;
      p.orders.push(order(n, { seq: counter, by: d.id, pad: 'p'.repeat(Math.floor(rnd() * 300)) }));
      p.counter = counter;
      positions.save(p);
    } else {
      const got = positions.getOpenHead(hk, tp);
      if (got === undefined) throw new Error(`no open head for ${hk} ${tp}`);
      const counter = (got.position.counter as number) + 1;
      positions.appendOrder({ ...got.position, counter }, order(n, { seq: counter, by: d.id }));
    }
    // Churn on the same pair: a closed filler of 1..40 orders now and then, an old one deleted.
    if (rnd() < 0.35) {
      const uuid = `filler-${d.id}-${fillerSeq++}`;
      const len = 1 + Math.floor(rnd() * 40);
      const f: Position = {
        miner_hotkey: hk, position_uuid: uuid, trade_pair: tp, is_closed_position: true,
        orders: Array.from({ length: len }, (_, j) => order(j, { note: 'f'.repeat(50 + Math.floor(rnd() * 200)) })),
      };
      positions.save(f);
      fillers.push({ k, uuid });
    }
  });
  if (fillers.length > 30 || (fillers.length > 0 && rnd() < 0.3)) {
    const [f] = fillers.splice(Math.floor(rnd() * fillers.length), 1);
    if (!positions.delete(d.keys[f!.k]!.hk, f!.uuid)) throw new Error(`filler ${f!.uuid} was gone`);
  }
  // And the top compaction now and then whatever its trigger says (flag contention between threads).
  if (n % 16 === 15) positions.compactTop();
  return k;
}

Atomics.add(flag, 0, 1);
while (Atomics.load(flag, 0) < d.parties) Atomics.wait(flag, 0, Atomics.load(flag, 0), 1);
const mine = new Array<number>(d.keys.length).fill(0);
for (let n = 0; n < d.iterations; n++) mine[step(n)]!++;
// The fillers left: deleted, so that the end state is the keys' positions alone.
for (const f of fillers) positions.delete(d.keys[f.k]!.hk, f.uuid);
parentPort!.postMessage({ mine, compaction: positions.stats().compaction });
