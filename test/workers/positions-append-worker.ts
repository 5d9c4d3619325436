// Worker for test/positions-append.test.ts: after a start barrier, `iterations` order steps with
// getOpenHead / appendOrder under withLock on seeded random (hotkey, trade pair) keys, several
// hotkeys shared by every worker (so that new positions of one hotkey are indexed from several
// threads at once, without a common lock). Each step appends one order {by, n, seq}; the head's
// `count` is the number of orders appended so far to that position; a position is closed when
// it reaches `closeAt` orders and the next step opens a new one. Reports its steps per key.
import { parentPort, workerData } from 'node:worker_threads';
import { hashKeyFromSeed } from '../../src/internal/hash/hash.ts';
import { LockDomain } from '../../src/domains/locks/locks.ts';
import { type LockHandle } from '../../src/domains/locks/layout.ts';
import { PositionsDomain, type PositionsHandle } from '../../src/domains/positions/positions.ts';
import { prng } from '../helpers/seed.ts';

export interface AppendWorkerData {
  locks: LockHandle;
  positions: PositionsHandle;
  keySeed: number;
  seed: number;
  id: number;
  barrier: SharedArrayBuffer;
  parties: number;
  keys: Array<{ hk: string; tp: string }>;
  template: Record<string, unknown>;
  iterations: number;
  closeAt: number;
}

const d = workerData as AppendWorkerData;
const key = hashKeyFromSeed(d.keySeed);
const locks = new LockDomain(d.locks, key);
const positions = new PositionsDomain(d.positions, key, { locks });
const rnd = prng(d.seed + d.id);

const barrier = new Int32Array(d.barrier);
Atomics.add(barrier, 0, 1);
while (Atomics.load(barrier, 0) < d.parties) Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 10);

const mine = new Array<number>(d.keys.length).fill(0);
for (let n = 0; n < d.iterations; n++) {
  const k = Math.floor(rnd() * d.keys.length);
  const { hk, tp } = d.keys[k]!;
  locks.withLock(hk, tp, () => {
    const got = positions.getOpenHead(hk, tp, { lastOrder: true });
    const count = got === undefined ? 0 : (got.position.count as number);
    if (got !== undefined && got.orderCount !== count) throw new Error(`${hk} ${tp}: orderCount ${got.orderCount} but count ${count}`);
    if (got !== undefined && (got.lastOrder?.seq as number) !== count) throw new Error(`${hk} ${tp}: last order seq ${String(got.lastOrder?.seq)} but count ${count}`);
    const head = got?.position ?? { miner_hotkey: hk, position_uuid: `p-${d.id}-${n}`, trade_pair: tp, orders: null, count: 0, is_closed_position: false };
    positions.appendOrder({ ...head, count: count + 1, is_closed_position: count + 1 >= d.closeAt }, { ...d.template, by: d.id, n, seq: count + 1 });
  });
  mine[k]!++;
}
parentPort!.postMessage({ mine });
