// A queue survives a dead or failing peer (issue 9, finding 3). For every crash point of the ring
// (src/internal/store/ring.ts, its crash table): a worker is stopped there mid-push, mid-pop or
// mid-wait and terminated; releaseAllOwnedBy(its threadId) recovers; then the queue must hold
// exactly what the crash table says (a push that published is there once, a half-done push is
// absent, a pop that had not released leaves its message) and take full laps of push and pop in
// another worker (a hard timeout turns a wedged or held queue into a failure). Each scenario
// crosses the 2^32 position wrap at the dead thread's step, so the wrap counts are recovered too.
// Then exceptions: thrown inside push / pop at each of their points, and a real allocation failure
// in pop's copy-out; the queue stays usable and the message stays when the pop had not released it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crashPoints } from '../src/internal/crash.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { Ring } from '../src/internal/store/ring.ts';
import { createRingRegion, ringStartAtForTest } from '../src/internal/store/ring-layout.ts';
import { killAtCrashPoint } from './helpers/crash.ts';
import { runWorkers, tsWorker } from './helpers/workers.ts';
import type { CrashJob } from './workers/ring-crash-worker.ts';

const WORKER = new URL('./workers/ring-crash-worker.ts', import.meta.url);
const key = hashKeyFromSeed(0xc4a5_4n);
const CAP = 4;
const MAX = 64;
const HARD_MS = 20_000;

type Kind = 'push' | 'pushFull' | 'pushWake' | 'pop' | 'wait' | 'waitTimeout';
/** effect: the dead thread's operation took effect; held: what recovery releases (locks + waiter slots). */
const SCENARIOS: Record<string, { kind: Kind; effect: boolean; held: number }> = {
  'ring.push.locked': { kind: 'push', effect: false, held: 1 },
  'ring.push.fullCounted': { kind: 'pushFull', effect: false, held: 1 },
  'ring.push.written': { kind: 'push', effect: false, held: 1 },
  'ring.push.wrapMarked': { kind: 'push', effect: false, held: 1 },
  'ring.push.published': { kind: 'push', effect: true, held: 1 },
  'ring.push.wrapCounted': { kind: 'push', effect: true, held: 1 },
  'ring.push.unlocked': { kind: 'pushWake', effect: true, held: 0 },
  'ring.push.signalled': { kind: 'pushWake', effect: true, held: 0 },
  'ring.pop.locked': { kind: 'pop', effect: false, held: 1 },
  'ring.pop.copied': { kind: 'pop', effect: false, held: 1 },
  'ring.pop.wrapMarked': { kind: 'pop', effect: false, held: 1 },
  'ring.pop.released': { kind: 'pop', effect: true, held: 1 },
  'ring.pop.wrapCounted': { kind: 'pop', effect: true, held: 1 },
  'ring.wait.slotClaimed': { kind: 'wait', effect: false, held: 1 },
  'ring.wait.announced': { kind: 'wait', effect: false, held: 1 },
  'ring.wait.withdrawn': { kind: 'waitTimeout', effect: false, held: 1 },
};

const ringPoints = (): string[] => [...crashPoints()].filter(([, m]) => m === 'ring').map(([n]) => n);
const job = (sab: SharedArrayBuffer, extra: Partial<CrashJob>): CrashJob => ({ role: 'op', sab, key, capacity: CAP, maxMessageBytes: MAX, ...extra });

/** Checks contents and takes full laps, in a worker under a hard timeout. */
async function lap(sab: SharedArrayBuffer, expected: unknown[], maxMessageBytes = MAX): Promise<void> {
  await runWorkers(WORKER, [{ ...job(sab, { role: 'lap', expected }), maxMessageBytes }], HARD_MS);
}

/**
 * A queue set up so that the worker's operation crosses the 2^32 wrap. Returns the ring, what
 * main pushed, the worker's job and the unsigned start position.
 */
function setup(kind: Kind): { sab: SharedArrayBuffer; q: Ring; queued: string[]; op: Partial<CrashJob>; start: number } {
  const sab = createRingRegion(key, CAP, MAX);
  const start = kind === 'push' || kind === 'pushFull' ? -2 : kind === 'wait' || kind === 'waitTimeout' ? 0 : -1;
  ringStartAtForTest(sab, CAP, MAX, start);
  const q = new Ring(sab, key, 'q', CAP, MAX);
  const queued = kind === 'push' ? ['m0'] : kind === 'pushFull' ? ['m0', 'm1', 'm2', 'm3'] : kind === 'pop' ? ['m0', 'm1'] : [];
  for (const m of queued) assert.ok(q.push(m));
  const op: Partial<CrashJob> =
    kind === 'pop' ? { op: 'pop' } : kind === 'wait' ? { op: 'popWait', timeoutMs: 60_000 } : kind === 'waitTimeout' ? { op: 'popWait', timeoutMs: 30 } : { op: 'push', msg: 'w' };
  return { sab, q, queued, op, start: start >>> 0 };
}

test('crash points: the ring declares its crash table, each point with a scenario here', () => {
  const names = ringPoints();
  assert.ok(names.length > 0, 'no ring crash points declared');
  for (const n of names) assert.ok(n in SCENARIOS, `no scenario for crash point ${n}`);
  console.log(`  ${names.length} ring crash points: ${names.join(', ')}`);
});

for (const name of Object.keys(SCENARIOS)) {
  const { kind, effect, held } = SCENARIOS[name]!;
  test(`crash at ${name}: recovery ${effect ? 'completes' : 'undoes'} the dead thread's ${kind.startsWith('push') ? 'push' : kind === 'pop' ? 'pop' : 'wait'}; full laps after`, async () => {
    assert.ok(ringPoints().includes(name), `${name} is not a declared ring crash point`);
    const { sab, q, queued, op, start } = setup(kind);
    // pushWake: this thread waits in popAsync (an announced waiter) for the dead producer's message.
    let woke = false;
    const waiter = kind === 'pushWake' ? q.popAsync({ timeoutMs: 4 * HARD_MS }).then((v) => ((woke = true), v)) : undefined;
    if (waiter) assert.is(q.stats().waiting, 1);
    const w = tsWorker(WORKER, { workerData: job(sab, { ...op, crashAt: name }) });
    const id = w.threadId; // -1 once it exited
    assert.ok(await killAtCrashPoint(w, HARD_MS), `the worker did not reach ${name}`);
    await new Promise((r) => setTimeout(r, 20));
    assert.not.ok(woke, 'the waiter woke before recovery (no lost wakeup to recover?)');
    const released = q.releaseAllOwnedBy(id);
    let expected: unknown[] = queued;
    if (kind === 'push' && effect) expected = [...queued, 'w'];
    if (kind === 'pop' && effect) expected = queued.slice(1);
    if (waiter) {
      let timer: NodeJS.Timeout | undefined;
      const got = await Promise.race([waiter, new Promise((r) => (timer = setTimeout(() => r('(still asleep)'), HARD_MS)))]);
      clearTimeout(timer);
      assert.is(got, 'w', 'the waiting consumer got the dead producer\'s message after recovery');
    }
    const st = q.stats();
    await lap(sab, expected);
    assert.is(released, held, 'locks and waiter slots released');
    assert.is(st.waiting, 0, 'no waiter counted for the dead thread');
    const pushes = queued.length + (kind.startsWith('push') && effect ? 1 : 0);
    const pops = (kind === 'pop' && effect) || kind === 'pushWake' ? 1 : 0;
    assert.is(st.pushes, start + pushes, 'pushes (wrap count settled)');
    assert.is(st.pops, start + pops, 'pops (wrap count settled)');
    assert.is(st.size, expected.length);
  });
}

for (const name of Object.keys(SCENARIOS).filter((n) => ['push', 'pushFull', 'pop'].includes(SCENARIOS[n]!.kind))) {
  const { kind, effect } = SCENARIOS[name]!;
  test(`exception at ${name}: the lock is released, the message there exactly if the step published it; full laps after`, async () => {
    assert.ok(ringPoints().includes(name), `${name} is not a declared ring crash point`);
    const { sab, queued, op } = setup(kind);
    const [r] = await runWorkers<{ threw?: string; reached: boolean }>(WORKER, [job(sab, { ...op, role: 'throw', throwAt: name })], HARD_MS);
    assert.ok(r!.reached, `${name} not reached`);
    assert.is(r!.threw, `injected at ${name}`);
    let expected: unknown[] = queued;
    if (kind === 'push' && effect) expected = [...queued, 'w'];
    if (kind === 'pop' && effect) expected = queued.slice(1);
    await lap(sab, expected);
  });
}

test('exception: an allocation failure in pop\'s copy-out leaves the message queued and the queue usable', async () => {
  const max = 8192;
  const sab = createRingRegion(key, CAP, max);
  const q = new Ring(sab, key, 'q', CAP, max);
  // Fill this thread's 64 KB slab for popped bytes, so the next bytes pop allocates a new one.
  for (let i = 0; i < 16; i++) {
    assert.ok(q.push(new Uint8Array(4096).fill(i)));
    assert.is((q.pop() as Uint8Array)[0], i);
  }
  assert.ok(q.push(new Uint8Array([1, 2, 3])));
  assert.ok(q.push('next'));
  const Real = globalThis.ArrayBuffer;
  globalThis.ArrayBuffer = new Proxy(Real, {
    construct() {
      throw new RangeError('Array buffer allocation failed');
    },
  });
  let threw: unknown;
  try {
    q.pop();
  } catch (e) {
    threw = e;
  } finally {
    globalThis.ArrayBuffer = Real;
  }
  assert.instance(threw, RangeError);
  assert.is(q.size, 2, 'both messages still queued');
  assert.equal([...(q.pop() as Uint8Array)], [1, 2, 3], 'the message whose pop failed comes next');
  await lap(sab, ['next'], max);
});

test.run();
