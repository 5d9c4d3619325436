/**
 * Crash points of the lock protocol (src/internal/sync/mutex.ts's crash table, and locks.ts's
 * recovery): for each one, real worker threads are driven to it, the one at the point is
 * terminated there, recovery runs where the table says it is needed (`locks.releaseAllOwnedBy`
 * called directly: what engine.watch calls on a worker's exit), and the other threads must still
 * get the lock. Every wait has a hard timeout, so a lost wakeup fails instead of hanging; nothing
 * here asserts on time. The last test checks that every declared 'mutex' and 'locks' point was
 * visited.
 *
 * The short sleeps before an unlock only make it likely that the waiters are already asleep in
 * Atomics.wait (so that a wake-one unlock would pick the first of them); the protocol under test
 * must be correct whatever the interleaving, so no result depends on them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Worker } from 'node:worker_threads';
import { createEngine } from '../src/index.ts';
import type { Engine } from '../src/index.ts';
import { crashPoints, setCrashHook } from '../src/internal/crash.ts';
import { killAtCrashPoint, type CrashAt } from './helpers/crash.ts';
import { tsWorker, within } from './helpers/workers.ts';

const WORKER = new URL('./workers/locks-crash-worker.ts', import.meta.url);
const HK = '5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th';
const KEY: [string, string] = [HK, 'BTCUSD'];
/** Bound on any single wait for a worker (startup under load included). */
const STEP_MS = 30_000;
/** Bound on a whole test. */
const TEST_MS = 90_000;

const visited = new Set<string>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls pred every 2 ms; rejects after ms. */
async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`timed out: ${what} within ${ms} ms`);
    await sleep(2);
  }
}

/** A test body under a hard timeout. */
function bounded(fn: () => Promise<void>): () => Promise<void> {
  return () => within(fn(), TEST_MS, 'the whole test');
}

interface Role {
  w: Worker;
  /** threadId, read at spawn (a Worker's threadId is -1 once it stopped running). */
  id: number;
  ctl: Int32Array;
  /** The worker's first message that is not a crash-point report. */
  answer: Promise<unknown>;
  /** Resolves when the worker exited (listener attached at spawn, so the event cannot be missed). */
  exited: Promise<number>;
  /** With crashAt: resolves true once it stopped at the point and was terminated. */
  stopped: Promise<boolean> | undefined;
}

class Crew {
  readonly #roles: Role[] = [];
  constructor(readonly engine: Engine) {}

  spawn(mode: 'hold' | 'wait' | 'recover' | 'server', extra: object = {}, crashAt?: CrashAt): Role {
    const ctl = new Int32Array(new SharedArrayBuffer(16));
    const w = tsWorker(WORKER, { workerData: { mode, handle: this.engine.handle(), ctl: ctl.buffer, key: KEY, crashAt, ...extra } });
    const id = w.threadId;
    // Every listener is attached now, before the worker can exit.
    const exited = new Promise<number>((resolve) => w.once('exit', resolve));
    const stopped = crashAt === undefined ? undefined : killAtCrashPoint(w, STEP_MS);
    const answer = new Promise<unknown>((resolve, reject) => {
      w.on('message', (m: unknown) => {
        if (!(typeof m === 'object' && m !== null && 'atCrashPoint' in m)) resolve(m);
      });
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`${mode} worker exited (code ${code}) before answering`)));
    });
    answer.catch(() => {});
    stopped?.catch(() => {});
    const role: Role = { w, id, ctl, answer, exited, stopped };
    this.#roles.push(role);
    return role;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.#roles.map((r) => r.w.terminate()));
  }
}

async function holds(r: Role): Promise<void> {
  await until(() => Atomics.load(r.ctl, 0) === 1, STEP_MS, 'the holder took the key');
}
/** Waits until the waiter is about to sleep on the lock word, then gives it time to fall asleep. */
async function sleeping(r: Role): Promise<void> {
  await until(() => Atomics.load(r.ctl, 0) >= 1, STEP_MS, 'the waiter reached Atomics.wait');
  await sleep(50);
}
function release(r: Role): void {
  Atomics.store(r.ctl, 1, 1);
  Atomics.notify(r.ctl, 1);
}
async function stoppedAt(r: Role, name: string): Promise<void> {
  assert.ok(await r.stopped, `the worker reached ${name}`);
  visited.add(name);
}
async function gotLock(r: Role, who: string): Promise<void> {
  assert.equal(await within(r.answer, STEP_MS, `${who} acquired the lock`), { got: true });
  await within(r.exited, STEP_MS, `${who} exited`);
}

for (const async of [false, true]) {
  for (const recover of [false, true]) {
    const how = async ? 'withLockAsync' : 'withLock';
    test(`lost wakeup: waiter B (${how}) terminated at mutex.lock.woken after A's unlock; waiter C still acquires${recover ? ' (releaseAllOwnedBy(B))' : ' (no recovery)'}`, bounded(async () => {
      const e = createEngine({ lockStripes: 16 });
      const crew = new Crew(e);
      try {
        const a = crew.spawn('hold');
        await holds(a);
        const b = crew.spawn('wait', { async }, { name: 'mutex.lock.woken' });
        await sleeping(b);
        const c = crew.spawn('wait');
        await sleeping(c);
        release(a);
        await stoppedAt(b, 'mutex.lock.woken');
        if (recover) assert.is(e.locks.releaseAllOwnedBy(b.id), 0, 'B held nothing');
        await gotLock(c, 'C');
        await within(a.exited, STEP_MS, 'A exited');
        assert.is(e.stats().locks.held, 0);
      } finally {
        await crew.dispose();
      }
    }));
  }
}

test('dead unlocker: A terminated at mutex.unlock.released (word free, waiter asleep); releaseAllOwnedBy(A) wakes C', bounded(async () => {
  const e = createEngine({ lockStripes: 16 });
  const crew = new Crew(e);
  try {
    const a = crew.spawn('hold', {}, { name: 'mutex.unlock.released' });
    await holds(a);
    const c = crew.spawn('wait');
    await sleeping(c);
    release(a);
    await stoppedAt(a, 'mutex.unlock.released');
    assert.is(e.locks.isHeld(KEY[0], KEY[1]) && e.locks.ownerOf(KEY[0], KEY[1]) === a.id, false, 'A had released the word');
    assert.is(e.locks.releaseAllOwnedBy(a.id), 0, 'A held nothing');
    await gotLock(c, 'C');
    assert.is(e.stats().locks.held, 0);
  } finally {
    await crew.dispose();
  }
}));

test('dead recoverer: R terminated at mutex.force.released while recovering dead A; releaseAllOwnedBy(R) wakes C', bounded(async () => {
  const e = createEngine({ lockStripes: 16 });
  const crew = new Crew(e);
  try {
    const a = crew.spawn('hold');
    await holds(a);
    const c = crew.spawn('wait');
    await sleeping(c);
    await a.w.terminate();
    assert.is(e.locks.ownerOf(KEY[0], KEY[1]), a.id, 'dead A still owns the word');
    const r = crew.spawn('recover', { dead: a.id }, { name: 'mutex.force.released' });
    await stoppedAt(r, 'mutex.force.released');
    assert.is(e.locks.isHeld(KEY[0], KEY[1]) && e.locks.ownerOf(KEY[0], KEY[1]) === a.id, false, 'R had freed the word');
    assert.is(e.locks.releaseAllOwnedBy(r.id), 0, 'R held nothing');
    await gotLock(c, 'C');
    assert.is(e.stats().locks.held, 0);
  } finally {
    await crew.dispose();
  }
}));

test('mutex.lock.acquired: B terminated right after its slow-path acquire; releaseAllOwnedBy(B) frees the stripe, C acquires', bounded(async () => {
  const e = createEngine({ lockStripes: 16 });
  const crew = new Crew(e);
  try {
    const a = crew.spawn('hold');
    await holds(a);
    const b = crew.spawn('wait', {}, { name: 'mutex.lock.acquired' });
    await sleeping(b);
    const c = crew.spawn('wait');
    await sleeping(c);
    release(a);
    await stoppedAt(b, 'mutex.lock.acquired');
    assert.is(e.locks.releaseAllOwnedBy(b.id), 1, 'B held the stripe');
    await gotLock(c, 'C');
    assert.is(e.stats().locks.held, 0);
  } finally {
    await crew.dispose();
  }
}));

test('mutex.lock.marked: B terminated after marking the word, before sleeping; A unlocks, C acquires', bounded(async () => {
  const e = createEngine({ lockStripes: 16 });
  const crew = new Crew(e);
  try {
    const a = crew.spawn('hold');
    await holds(a);
    const b = crew.spawn('wait', {}, { name: 'mutex.lock.marked' });
    await stoppedAt(b, 'mutex.lock.marked');
    const c = crew.spawn('wait');
    await sleeping(c);
    release(a);
    await gotLock(c, 'C');
    assert.is(e.locks.releaseAllOwnedBy(b.id), 0, 'B held nothing');
    assert.is(e.stats().locks.held, 0);
  } finally {
    await crew.dispose();
  }
}));

test('re-entrancy vs recovery: T takes the stripe of dead A (held re-entrantly) at locks.recover.freed; one release() frees it', bounded(async () => {
  const e = createEngine({ lockStripes: 16 });
  const crew = new Crew(e);
  try {
    const a = crew.spawn('hold', { depth: 1 });
    await holds(a);
    const t = crew.spawn('server');
    await holds(t);
    await a.w.terminate();
    let answer = 0;
    setCrashHook((name) => {
      if (name !== 'locks.recover.freed' || visited.has(name)) return;
      visited.add(name);
      // T acquires and releases now, between recovery's free of A's word and its next step. The
      // main thread blocks here (bounded) while T works: T answers through shared memory.
      Atomics.add(t.ctl, 1, 1);
      Atomics.notify(t.ctl, 1);
      Atomics.wait(t.ctl, 2, 0, STEP_MS);
      answer = Atomics.load(t.ctl, 2);
    });
    let n: number;
    try {
      n = e.locks.releaseAllOwnedBy(a.id);
    } finally {
      setCrashHook(null);
    }
    assert.is(n, 1, 'A held the stripe');
    assert.ok(visited.has('locks.recover.freed'), 'recovery passed locks.recover.freed');
    assert.is(answer, 2, `after T's acquire() + release() the stripe must be free (answer ${answer}: 1 = still held by T, 3 = T could not acquire, 0 = no answer)`);
    assert.is(e.locks.isHeld(KEY[0], KEY[1]), false, 'nobody holds the stripe once recovery is done');
    const g = e.locks.tryAcquire(KEY[0], KEY[1]);
    assert.ok(g !== null, 'another thread can take it');
    g.release();
  } finally {
    await crew.dispose();
  }
}));

test('stalled woken waiter: the main thread\'s pending withLockAsync is woken while its thread is blocked; waiter C still acquires', bounded(async () => {
  // Not a death: a woken waiter that cannot run (its event loop is blocked) must not swallow the
  // wake-up either. The main thread's async waiter queues first, C second; A unlocks while the
  // main thread is blocked until C holds the key (bounded).
  const e = createEngine({ lockStripes: 16 });
  const crew = new Crew(e);
  try {
    const a = crew.spawn('hold');
    await holds(a);
    const mine = within(e.locks.withLockAsync(KEY[0], KEY[1], () => 'main'), STEP_MS, 'the main thread acquired');
    await sleep(50);
    const c = crew.spawn('wait');
    await sleeping(c);
    release(a);
    const r = Atomics.wait(c.ctl, 2, 0, STEP_MS); // blocks this thread's event loop
    assert.is.not(r, 'timed-out', 'C acquired the key while the woken main thread could not run');
    await gotLock(c, 'C');
    assert.is(await mine, 'main');
    assert.is(e.stats().locks.held, 0);
  } finally {
    await crew.dispose();
  }
}));

test('every mutex and locks crash point is visited', () => {
  const declared = [...crashPoints()].filter(([, m]) => m === 'mutex' || m === 'locks').map(([n]) => n).sort();
  console.log(`  ${declared.length} crash points: ${declared.join(', ')}`);
  assert.ok(declared.length > 0);
  assert.equal([...visited].sort(), declared);
});

test.run();
