// Worker for test/lincheck.test.ts: runs a seeded random mix of push / pop / size on one shared
// queue and records each operation with the times of its call and its return, both taken from one
// shared counter (Atomics.add), so the histories of all workers merge on one real-time clock.
// Variants: 'ring' (sabstate's ring), 'spuriousEmpty' (the ring, but pop answers empty at random
// without looking: deliberately broken), 'vyukov' (the previous algorithm, ring-vyukov.ts).
// `stall` is the chance, at each step where a peer can be caught mid-operation (the ring's crash
// points; the Vyukov queue's claim-to-publish window), of sleeping 0.2-1 ms there: a descheduled peer.
import { parentPort, workerData } from 'node:worker_threads';
import { setCrashHook } from '../../src/internal/crash.ts';
import type { HashKey } from '../../src/internal/hash/hash.ts';
import { Ring } from '../../src/internal/store/ring.ts';
import { prng } from '../helpers/seed.ts';
import { Vyukov } from './ring-vyukov.ts';

export interface LincheckJob {
  variant: 'ring' | 'spuriousEmpty' | 'vyukov';
  sab: SharedArrayBuffer;
  key: HashKey;
  capacity: number;
  maxMessageBytes: number;
  clock: SharedArrayBuffer;
  workers: number;
  client: number;
  ops: number;
  seed: number;
  stall: number;
}

/** Per operation: kind (0 push, 1 pop, 2 size), argument, output (push 1 / 0, pop value or -1, size n), call, ret. */
export interface LincheckRecord {
  kind: number[];
  arg: number[];
  out: number[];
  call: number[];
  ret: number[];
}

const d = workerData as LincheckJob;
const rnd = prng(d.seed);
const nap = new Int32Array(new SharedArrayBuffer(4));
const stall = (): void => {
  if (d.stall > 0 && rnd() < d.stall) Atomics.wait(nap, 0, 0, 0.2 + rnd() * 0.8);
};

interface Q {
  push(v: number): boolean;
  pop(): number | undefined;
  readonly size: number;
}

let q: Q;
if (d.variant === 'vyukov') {
  q = new Vyukov(d.sab, d.capacity, stall);
} else {
  const ring = new Ring(d.sab, d.key, 'q', d.capacity, d.maxMessageBytes);
  setCrashHook((name) => {
    if (name.startsWith('ring.')) stall();
  });
  q = {
    push: (v) => ring.push(v),
    pop: () => (d.variant === 'spuriousEmpty' && rnd() < 0.15 ? undefined : (ring.pop() as number | undefined)),
    get size() {
      return ring.size;
    },
  };
}

// The clock's word 1 is the start barrier.
const clock = new Int32Array(d.clock);
Atomics.add(clock, 1, 1);
while (Atomics.load(clock, 1) < d.workers) Atomics.wait(clock, 1, Atomics.load(clock, 1), 1);

const rec: LincheckRecord = { kind: [], arg: [], out: [], call: [], ret: [] };
let next = 0;
for (let i = 0; i < d.ops; i++) {
  const r = rnd();
  const kind = r < 0.42 ? 0 : r < 0.84 ? 1 : 2;
  const arg = kind === 0 ? d.client * 1_000_000 + next++ : 0;
  const call = Atomics.add(clock, 0, 1);
  let out: number;
  if (kind === 0) out = q.push(arg) ? 1 : 0;
  else if (kind === 1) out = q.pop() ?? -1;
  else out = q.size;
  const ret = Atomics.add(clock, 0, 1);
  rec.kind.push(kind);
  rec.arg.push(arg);
  rec.out.push(out);
  rec.call.push(call);
  rec.ret.push(ret);
}
setCrashHook(null);
parentPort!.postMessage(rec);
