// A stalled peer does not make the queue lie (issue 9, finding 11), shown deterministically: a
// worker A is paused in the middle of a push or a pop (at a crash point, holding its step), a
// worker B runs a short script of pushes and pops meanwhile, then A is resumed. B's answers must
// be those of a linearizable queue whatever B does while A is paused: B waits for A where A is in
// its way, and never answers "full" or "empty" falsely. (The previous Vyukov ring answered at once:
// B's own push, then B's pop empty; B's drain of the other messages, then B's push full.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Worker } from 'node:worker_threads';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { Ring } from '../src/internal/store/ring.ts';
import { createRingRegion } from '../src/internal/store/ring-layout.ts';
import { bundledWorker, inbox } from './helpers/workers.ts';
import type { CrashJob } from './workers/ring-crash-worker.ts';

const WORKER = new URL('./workers/ring-crash-worker.ts', import.meta.url);
const key = hashKeyFromSeed(0x57a11n);
const CAP = 4;
/** Per answer: a worker's start-up included (under load 30+ a tsx boot alone took over 20 s). */
const HARD_MS = 60_000;

async function stalled(pauseAt: string, aOp: Partial<CrashJob>, script: CrashJob['script'], queued: string[]) {
  const sab = createRingRegion(key, CAP, 64);
  const q = new Ring(sab, key, 'q', CAP, 64);
  for (const m of queued) assert.ok(q.push(m));
  const base = { sab, key, capacity: CAP, maxMessageBytes: 64 };
  const resume = new SharedArrayBuffer(4);
  const workers: Worker[] = [];
  try {
    const a = bundledWorker(WORKER, { workerData: { ...base, role: 'pause', crashAt: pauseAt, resume, ...aOp } });
    workers.push(a);
    const fromA = inbox(a, HARD_MS);
    await fromA((m) => 'atCrashPoint' in m);
    const b = bundledWorker(WORKER, { workerData: { ...base, role: 'script', script } });
    workers.push(b);
    const fromB = inbox(b, HARD_MS);
    let bDone: Record<string, unknown> | undefined;
    void fromB((m) => 'results' in m).then((m) => (bDone = m), () => {});
    await fromB((m) => 'started' in m);
    // Give B time to run into A (with a correct queue B cannot finish while A is paused, however
    // long this is; a shorter wait only makes the check weaker).
    await new Promise((r) => setTimeout(r, 200));
    const doneBeforeResume = bDone !== undefined;
    Atomics.store(new Int32Array(resume), 0, 1);
    Atomics.notify(new Int32Array(resume), 0);
    const [ra, rb] = await Promise.all([fromA((m) => 'done' in m), fromB((m) => 'results' in m)]);
    return { a: ra.done, b: rb.results as unknown[], doneBeforeResume, size: q.size };
  } finally {
    // Also on a failure (hard timeout): a paused worker would keep the process alive.
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

test('stalled producer: a later push waits for it, so the pusher\'s own pop then finds a message, never empty', async () => {
  const r = await stalled('ring.push.written', { op: 'push', msg: 'a' }, [{ op: 'push', msg: 'b' }, { op: 'pop' }, { op: 'pop' }], []);
  assert.is(r.a, true);
  assert.equal(r.b, [true, 'a', 'b'], 'B: push b, then its pops (the previous ring: true, undefined, ...)');
  assert.not.ok(r.doneBeforeResume, 'B finished while A was paused mid-push');
  assert.is(r.size, 0);
});

test('stalled consumer: the others wait behind it; push answers full only while the queue is full', async () => {
  const queued = ['m0', 'm1', 'm2', 'm3'];
  const r = await stalled('ring.pop.copied', { op: 'pop' }, [{ op: 'pop' }, { op: 'pop' }, { op: 'pop' }, { op: 'push', msg: 'x' }, { op: 'pop' }], queued);
  assert.is(r.a, 'm0');
  assert.equal(r.b, ['m1', 'm2', 'm3', true, 'x'], 'B: three pops, a push, a pop (the previous ring: its push answered full)');
  assert.not.ok(r.doneBeforeResume, 'B finished while A was paused mid-pop');
  assert.is(r.size, 0);
});

test.run();
