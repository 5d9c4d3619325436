// Worker for test/ring.test.ts stress runs. Roles:
// - 'producer': pushes `count` messages (p, i) in order, of three kinds chosen by a seeded PRNG
//   (JSON object, string, bytes) with a padding whose content is checked by the consumer (a torn
//   copy shows up); retries a refused push (full), yielding after a few tries.
// - 'consumer': pops (sync, no timeout) until the shared counter `consumed` reaches `total`;
//   returns the (p, i) it got, in its order, packed as p * 2^20 + i.
// - 'asyncConsumer': the same with popAsync (no timeout), on an event loop that keeps ticking.
// Every worker waits at a start barrier (flag[0] reaches `workers`) so the queue is contended.
import { parentPort, workerData } from 'node:worker_threads';
import { GeneralDomain } from '../../src/domains/general.ts';
import type { GeneralHandle } from '../../src/domains/general.ts';
import type { HashKey } from '../../src/internal/hash/hash.ts';
import { prng } from '../helpers/seed.ts';
import { STOP, checkMessage, makeMessage } from './ring-messages.ts';

interface Data {
  role: 'producer' | 'consumer' | 'asyncConsumer';
  handle: GeneralHandle;
  key: HashKey;
  queue: string;
  flag: SharedArrayBuffer;
  workers: number;
  p?: number;
  consumers?: number;
  count?: number;
  total?: number;
  seed: number;
  maxPad: number;
}

const d = workerData as Data;
const general = new GeneralDomain(d.handle, d.key);
const q = general.queue(d.queue);
const consumed = general.counter('consumed');
const flag = new Int32Array(d.flag);

Atomics.add(flag, 0, 1);
while (Atomics.load(flag, 0) < d.workers) Atomics.wait(flag, 0, Atomics.load(flag, 0), 1);

if (d.role === 'producer') {
  const rnd = prng(d.seed);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let refused = 0;
  for (let i = 0; i < d.count!; i++) {
    const m = makeMessage(d.p!, i, rnd, d.maxPad);
    for (let tries = 0; !q.push(m); tries++) {
      refused++;
      if (tries > 16) Atomics.wait(nap, 0, 0, 0.05);
    }
  }
  parentPort!.postMessage({ refused });
} else {
  // Consumers wait without a timeout, so a lost wakeup hangs the run (and the hard timeout fails
  // it). The consumer that takes the last message pushes one 'stop' per other consumer.
  let ticks = 0;
  const ticker = d.role === 'asyncConsumer' ? setInterval(() => ticks++, 1) : undefined;
  const got: number[] = [];
  for (;;) {
    const m = d.role === 'asyncConsumer' ? await q.popAsync() : q.pop({ timeoutMs: Infinity });
    if (m === STOP) break;
    got.push(checkMessage(m));
    if (consumed.add() === d.total!) {
      for (let c = 1; c < d.consumers!; c++) while (!q.push(STOP));
      break;
    }
  }
  clearInterval(ticker);
  parentPort!.postMessage({ got: Int32Array.from(got), ticks });
}
