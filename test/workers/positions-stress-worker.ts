// Worker for test/positions-stress.test.ts. Every position carries `base` (its initial number of
// orders) and `counter` (orders appended since); appended orders carry `seq` = 1, 2, ... Modes:
// - 'write': after a start barrier, `iterations` order steps under withLock on seeded random keys:
//   getOpen, append one real-size order, counter + 1, now and then replace an older order by a
//   changed copy (its chunk is freed), save. Reports how many steps it made per key.
// - 'read': until flag[1] is set, lock-free get / getOpen / listForHotkey of random keys; every
//   read must be one whole version: counter === orders.length - base, seqs in order.
// - 'forever': like 'write' without a barrier and without end (terminated by the test);
//   flag[2] counts its finished steps.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { hashKeyFromSeed } from '../../src/internal/hash/hash.ts';
import { LockDomain } from '../../src/domains/locks/locks.ts';
import { PositionsDomain } from '../../src/domains/positions/positions.ts';
import { type StressWorkerData, problem } from './positions-fixture.ts';
import { prng } from '../helpers/seed.ts';

interface Data extends StressWorkerData {
  mode: 'write' | 'read' | 'forever';
  template: Record<string, unknown>;
  iterations?: number;
}

const d = workerData as Data;
const key = hashKeyFromSeed(d.keySeed);
const locks = new LockDomain(d.locks, key);
const positions = new PositionsDomain(d.positions, key, { locks });
const flag = new Int32Array(d.flag);
const rnd = prng(d.seed + d.id);

function step(n: number): number {
  const k = Math.floor(rnd() * d.keys.length);
  const { hk, tp } = d.keys[k]!;
  locks.withLock(hk, tp, () => {
    const p = positions.getOpen(hk, tp);
    if (p === undefined) throw new Error(`no open position for ${hk} ${tp}`);
    const counter = (p.counter as number) + 1;
    p.orders.push({ ...d.template, seq: counter, by: d.id, n });
    p.counter = counter;
    if (n % 7 === 0 && p.orders.length > 1) {
      const j = Math.floor(rnd() * (p.orders.length - 1));
      p.orders[j] = { ...(p.orders[j] as object), touched: n };
    }
    positions.save(p);
  });
  return k;
}

if (d.mode === 'forever') {
  parentPort!.postMessage({ threadId });
  for (let n = 0; ; n++) {
    step(n);
    Atomics.add(flag, 2, 1);
  }
}

Atomics.add(flag, 0, 1);
while (Atomics.load(flag, 0) < d.parties) Atomics.wait(flag, 0, Atomics.load(flag, 0), 1);

if (d.mode === 'write') {
  const mine = new Array<number>(d.keys.length).fill(0);
  for (let n = 0; n < d.iterations!; n++) mine[step(n)]!++;
  parentPort!.postMessage({ mine, stats: positions.stats() });
} else if (d.mode === 'read') {
  let reads = 0;
  const bad: string[] = [];
  while (Atomics.load(flag, 1) === 0 && bad.length < 5) {
    const { hk, tp, uuid } = d.keys[Math.floor(rnd() * d.keys.length)]!;
    const r = rnd();
    const ps = r < 0.4 ? [positions.get(hk, uuid)] : r < 0.8 ? [positions.getOpen(hk, tp)] : positions.listForHotkey(hk, { open: true });
    for (const p of ps) {
      const why = problem(p);
      if (why) bad.push(`${hk} ${tp}: ${why}`);
      reads++;
    }
  }
  parentPort!.postMessage({ reads, bad, stats: positions.stats() });
}
