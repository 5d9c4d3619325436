import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { createEngine, attachEngine, SabStateError } from '../src/index.ts';
import type { Engine, SlowLockInfo } from '../src/index.ts';
import { fcParams, seed, stressScale } from './helpers/seed.ts';
import { runWorkers, tsWorker, within } from './helpers/workers.ts';
import { code } from './helpers/errors.ts';

const WORKER = new URL('./workers/locks-worker.ts', import.meta.url);
const HK = '5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th';
/** Hard bound on any one wait for a worker (its startup under load included). */
const STEP_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls pred every 2 ms (keeping the event loop alive); rejects after ms. */
async function until(pred: () => boolean, what: string, ms = STEP_MS): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`timed out: ${what} within ${ms} ms`);
    await sleep(2);
  }
}

/**
 * The 'exit' of a worker, listened for from its creation. Attaching `once(w, 'exit')` later can
 * miss the event (a worker that already exited does not emit it again): the test then awaits a
 * promise that nothing will settle, the event loop empties and the process ends with uvu's
 * "Exiting early before testing is finished" (finding 12 of issue 9).
 */
function exitOf(w: Worker): Promise<unknown> {
  return once(w, 'exit');
}

/** Two distinct keys that share a stripe of this engine. */
function sameStripe(engine: Engine): [[string, string], [string, string]] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const tp = `TP${i}`;
    const s = engine.locks.stripeOf(HK, tp);
    const other = seen.get(s);
    if (other !== undefined) return [[HK, other], [HK, tp]];
    seen.set(s, tp);
  }
}

test('smoke: withLock returns fn value; isHeld inside, free after', () => {
  const e = createEngine({ lockStripes: 64 });
  assert.is(e.locks.isHeld(HK, 'BTCUSD'), false);
  const v = e.locks.withLock(HK, 'BTCUSD', () => {
    assert.is(e.locks.isHeld(HK, 'BTCUSD'), true);
    assert.is(e.locks.isHeldByCurrentThread(HK, 'BTCUSD'), true);
    return 42;
  });
  assert.is(v, 42);
  assert.is(e.locks.isHeld(HK, 'BTCUSD'), false);
  const st = e.stats().locks;
  assert.is(st.acquisitions, 1);
  assert.is(st.contended, 0);
  assert.is(st.held, 0);
});

test('reentrancy: same key and another key on the same stripe proceed, counted', () => {
  const e = createEngine({ lockStripes: 8 });
  const [a, b] = sameStripe(e);
  const out = e.locks.withLock(a[0], a[1], () =>
    e.locks.withLock(a[0], a[1], () => e.locks.withLock(b[0], b[1], () => 'deep')),
  );
  assert.is(out, 'deep');
  assert.is(e.locks.isHeld(a[0], a[1]), false);
  assert.is(e.stats().locks.reentered, 2);
  // guards nest the same way
  const g1 = e.locks.acquire(a[0], a[1]);
  const g2 = e.locks.acquire(b[0], b[1]);
  g2.release();
  assert.is(e.locks.isHeld(a[0], a[1]), true);
  g1.release();
  assert.is(e.locks.isHeld(a[0], a[1]), false);
  assert.is(code(() => g1.release()), 'ERR_LOCK_NOT_HELD');
});

test('errors inside withLock release the lock and propagate', () => {
  const e = createEngine({ lockStripes: 16 });
  assert.throws(() => e.locks.withLock(HK, 'ETHUSD', () => { throw new Error('boom'); }), /boom/);
  assert.is(e.locks.isHeld(HK, 'ETHUSD'), false);
  // a nested throw unwinds the depth too
  assert.throws(() => e.locks.withLock(HK, 'ETHUSD', () => e.locks.withLock(HK, 'ETHUSD', () => { throw new Error('inner'); })), /inner/);
  assert.is(e.locks.isHeld(HK, 'ETHUSD'), false);
  assert.throws(() => e.locks.withLock(HK, 'ETHUSD', (async () => 1) as () => unknown), /withLockAsync/);
  assert.is(e.locks.isHeld(HK, 'ETHUSD'), false);
});

test('invalid keys and options: typed errors, nothing held', () => {
  const e = createEngine({ lockStripes: 16 });
  assert.is(code(() => e.locks.withLock('', 'BTCUSD', () => 1)), 'ERR_INVALID_KEY');
  assert.is(code(() => e.locks.withLock(HK, 'x'.repeat(257), () => 1)), 'ERR_INVALID_KEY');
  assert.is(code(() => e.locks.withLock(42 as unknown as string, 'BTCUSD', () => 1)), 'ERR_INVALID_KEY');
  assert.throws(() => e.locks.withLock(HK, 'BTCUSD', () => 1, { timeoutMs: -1 }), /timeoutMs must be a non-negative number/);
  assert.throws(() => createEngine({ lockStripes: 100 }), /options.lockStripes must be a power of two/);
  assert.throws(() => createEngine({ lockStripes: 0 }), /options.lockStripes must be a positive integer/);
  assert.is(e.stats().locks.held, 0);
});

test('timeouts: ERR_LOCK_TIMEOUT names the owner thread; sync and async', async () => {
  const e = createEngine({ lockStripes: 16 });
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const w = tsWorker(WORKER, { workerData: { mode: 'hold', handle: e.handle(), flag: flag.buffer, keys: [[HK, 'BTCUSD']] } });
  try {
    await until(() => Atomics.load(flag, 0) === 1, 'the worker holds the key');
    let err: unknown;
    try {
      e.locks.withLock(HK, 'BTCUSD', () => 1, { timeoutMs: 50 });
    } catch (x) {
      err = x;
    }
    assert.ok(err instanceof SabStateError && err.code === 'ERR_LOCK_TIMEOUT');
    assert.match((err as Error).message, new RegExp(`held by thread ${w.threadId}`));
    assert.is(e.locks.ownerOf(HK, 'BTCUSD'), w.threadId);
    const r = await within(e.locks.withLockAsync(HK, 'BTCUSD', () => 1, { timeoutMs: 100 }).catch((x: unknown) => x), STEP_MS, 'the async timeout');
    assert.ok(r instanceof SabStateError && r.code === 'ERR_LOCK_TIMEOUT');
    assert.match((r as Error).message, new RegExp(`held by thread ${w.threadId}`));
    assert.is(e.stats().locks.timeouts, 2);
  } finally {
    await w.terminate();
  }
});

test('withLockAsync waits without blocking, then runs once the holder releases', async () => {
  const e = createEngine({ lockStripes: 16 });
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const w = tsWorker(WORKER, { workerData: { mode: 'holdUntil', handle: e.handle(), flag: flag.buffer, keys: [[HK, 'SOLUSD']] } });
  const exited = exitOf(w);
  try {
    await until(() => Atomics.load(flag, 0) === 1, 'the worker holds the key');
    let settled = false;
    const p = e.locks.withLockAsync(HK, 'SOLUSD', async () => {
      await sleep(1);
      return e.locks.isHeldByCurrentThread(HK, 'SOLUSD');
    }).finally(() => {
      settled = true;
    });
    // the event loop keeps running while it waits (the worker holds the key until told)
    let ticks = 0;
    const iv = setInterval(() => ticks++, 5);
    await until(() => ticks >= 5, 'five interval ticks while withLockAsync waits');
    clearInterval(iv);
    assert.is(settled, false, 'still waiting: the worker holds the key');
    Atomics.store(flag, 1, 1);
    Atomics.notify(flag, 1);
    assert.is(await within(p, STEP_MS, 'withLockAsync acquired after the release'), true);
    assert.is(e.locks.isHeld(HK, 'SOLUSD'), false);
    await within(exited, STEP_MS, 'the worker exited');
    const st = e.stats().locks;
    assert.ok(st.contended === 1 && st.waitMaxMs > 0 && st.waitHistogramUs.some((x) => x > 0), JSON.stringify(st));
  } finally {
    await w.terminate();
  }
});

test('onSlowLock: reports long waits and long holds, after release; null removes it', async () => {
  const e = createEngine({ lockStripes: 16 });
  const seen: { hotkey: string; tradePair: string; waitMs: number; holdMs: number }[] = [];
  const hook = (info: SlowLockInfo): void => {
    assert.is(e.locks.isHeld(info.hotkey, info.tradePair), false, 'called after release');
    seen.push(info);
  };
  // below the threshold: not reported (a threshold no scheduling delay reaches)
  e.locks.onSlowLock(hook, { thresholdMs: 600_000 });
  e.locks.withLock(HK, 'BTCUSD', () => 1);
  assert.is(seen.length, 0, 'a lock below the threshold is not reported');
  e.locks.onSlowLock(hook, { thresholdMs: 20 });
  e.locks.withLock(HK, 'BTCUSD', () => {
    const until = performance.now() + 30;
    while (performance.now() < until);
  });
  assert.is(seen.length, 1);
  assert.ok(seen[0]!.tradePair === 'BTCUSD' && seen[0]!.holdMs >= 30, JSON.stringify(seen[0]));
  // a long wait: the worker holds ETHUSD until told, and is told 40 ms (or more) after the wait began
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const w = tsWorker(WORKER, { workerData: { mode: 'holdUntil', handle: e.handle(), flag: flag.buffer, keys: [[HK, 'ETHUSD']] } });
  const exited = exitOf(w);
  try {
    await until(() => Atomics.load(flag, 0) === 1, 'the worker holds the key');
    const p = e.locks.withLockAsync(HK, 'ETHUSD', () => 1);
    const t0 = performance.now(); // after the call: withLockAsync's own start is no later
    await until(() => performance.now() - t0 >= 40, '40 ms');
    Atomics.store(flag, 1, 1);
    Atomics.notify(flag, 1);
    await within(p, STEP_MS, 'withLockAsync acquired after the release');
    await within(exited, STEP_MS, 'the worker exited');
  } finally {
    await w.terminate();
  }
  assert.is(seen.length, 2);
  assert.is(seen[1]!.tradePair, 'ETHUSD');
  assert.ok(seen[1]!.waitMs >= 40, JSON.stringify(seen[1]));
  e.locks.onSlowLock(null);
  e.locks.withLock(HK, 'BTCUSD', () => {
    const until = performance.now() + 30;
    while (performance.now() < until);
  });
  assert.is(seen.length, 2);
  assert.throws(() => e.locks.onSlowLock((() => {}) as never, { thresholdMs: -1 }), /thresholdMs/);
});

test('withLockAsync calls on one thread exclude each other across awaits', async () => {
  const e = createEngine({ lockStripes: 16 });
  let inside = 0;
  let maxInside = 0;
  await Promise.all(
    Array.from({ length: 5 }, () =>
      e.locks.withLockAsync(HK, 'XRPUSD', async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await new Promise((r) => setTimeout(r, 2));
        inside--;
      }, { timeoutMs: 5000 }),
    ),
  );
  assert.is(maxInside, 1);
});

test('withLocks: two threads, opposite key orders, no deadlock, exact count', async () => {
  const e = createEngine({ lockStripes: 64 });
  const cells = new SharedArrayBuffer(8);
  const keys: [string, string][] = [[HK, 'BTCUSD'], ['5Other', 'ETHUSD'], [HK, 'EURUSD']];
  const n = Math.round(5000 * stressScale);
  await runWorkers(WORKER, [
    { mode: 'pairs', handle: e.handle(), cells, keys, iterations: n },
    { mode: 'pairs', handle: e.handle(), cells, keys: [...keys].reverse(), iterations: n },
    { mode: 'pairs', handle: e.handle(), cells, keys: [keys[1], keys[0]], iterations: n },
  ], 60_000);
  assert.is(new Int32Array(cells)[0], 3 * n);
  assert.is(e.stats().locks.held, 0);
});

test('recovery: a worker terminated while holding a lock; watch() releases it', async () => {
  const e = createEngine({ lockStripes: 16 });
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const w = tsWorker(WORKER, { workerData: { mode: 'hold', handle: e.handle(), flag: flag.buffer, keys: [[HK, 'BTCUSD']] } });
  e.watch(w);
  await until(() => Atomics.load(flag, 0) === 1, 'the worker holds the key');
  assert.is(e.locks.isHeld(HK, 'BTCUSD'), true);
  // a waiter blocked on the dead owner's stripe is woken by the recovery
  const waiting = e.locks.withLockAsync(HK, 'BTCUSD', () => 'got it', { timeoutMs: 10_000 });
  await w.terminate();
  assert.is(await within(waiting, STEP_MS, 'the waiter acquired'), 'got it');
  assert.is(e.locks.isHeld(HK, 'BTCUSD'), false);
  assert.is(e.stats().locks.recoveries, 1);
});

test('stress: 4 workers x 50,000 plain increments under withLock, few keys and many keys', async () => {
  for (const nkeys of [2, 1000]) {
    const e = createEngine({ lockStripes: 4096 });
    const keys: [string, string][] = Array.from({ length: nkeys }, (_, i) => [`5Hotkey${i % 97}`, `TP${i}`]);
    const cells = new SharedArrayBuffer(4 * (nkeys + 1));
    const flag = new SharedArrayBuffer(8);
    const iterations = Math.round(50_000 * stressScale);
    await runWorkers(WORKER, [0, 1, 2, 3].map((w) => ({ mode: 'increment', handle: e.handle(), cells, flag, ms: 4, keys, iterations, seed: seed + w })), 120_000);
    const c = new Int32Array(cells);
    let sum = 0;
    for (let k = 0; k < nkeys; k++) sum += c[k]!;
    assert.is(sum, 4 * iterations, `${nkeys} keys: no lost update`);
    const st = e.stats().locks;
    assert.is(st.acquisitions, 4 * iterations);
    assert.is(st.held, 0);
    if (nkeys === 2) assert.ok(st.contended > 0, 'two keys, four threads: some acquisitions must have waited');
    console.log(`  ${nkeys} keys: contended share ${(st.contendedShare * 100).toFixed(2)} %, max wait ${st.waitMaxMs.toFixed(2)} ms`);
  }
});

test('attach: a second handle on the same buffers sees the same locks; layout mismatch refused', () => {
  const e = createEngine({ lockStripes: 32, hashSeed: 7n });
  const b = attachEngine(e.handle());
  e.locks.withLock(HK, 'BTCUSD', () => assert.is(b.locks.isHeld(HK, 'BTCUSD'), true));
  const h = e.handle();
  assert.is(code(() => attachEngine({ ...h, seed: [1, 2] })), 'ERR_LAYOUT_MISMATCH');
  assert.is(code(() => attachEngine({ ...h, locks: { ...h.locks, stripes: 64 } })), 'ERR_LAYOUT_MISMATCH');
  assert.is(code(() => attachEngine({ ...h, version: 99 })), 'ERR_LAYOUT_MISMATCH');
  assert.is(code(() => attachEngine({} as never)), 'ERR_LAYOUT_MISMATCH');
});

test('model: tryAcquire/release/isHeld through two handles (two threads) on the same buffers', async () => {
  const e = createEngine({ lockStripes: 4 });
  const w = tsWorker(WORKER, { workerData: { mode: 'model', handle: e.handle() } });
  const ask = async (m: object): Promise<unknown> => {
    const p = once(w, 'message');
    w.postMessage(m);
    return (await within(p, STEP_MS, `the model worker answered ${JSON.stringify(m)}`))[0];
  };
  const keys = ['A', 'B', 'C', 'D', 'E', 'F'].map((t) => [HK, t] as [string, string]);
  type Who = 0 | 1;
  interface Model { owner: Map<number, Who>; depth: Map<number, number>; held: Map<string, number>[] }
  interface Real { local: Map<string, ReturnType<Engine['locks']['acquire']>[]> }
  const stripe = (k: [string, string]) => e.locks.stripeOf(k[0], k[1]);
  const kid = (k: [string, string]) => k.join('/');
  class TryAcquire implements fc.AsyncCommand<Model, Real> {
    constructor(readonly who: Who, readonly k: [string, string]) {}
    check() { return true; }
    async run(m: Model, r: Real) {
      const s = stripe(this.k);
      const expect = !m.owner.has(s) || m.owner.get(s) === this.who;
      let got: boolean;
      if (this.who === 0) {
        const g = e.locks.tryAcquire(this.k[0], this.k[1]);
        if (g) r.local.set(kid(this.k), [...(r.local.get(kid(this.k)) ?? []), g]);
        got = g !== null;
      } else got = (await ask({ op: 'tryAcquire', hk: this.k[0], tp: this.k[1] })) as boolean;
      assert.is(got, expect);
      if (got) {
        m.owner.set(s, this.who);
        m.depth.set(s, (m.depth.get(s) ?? 0) + 1);
        m.held[this.who]!.set(kid(this.k), (m.held[this.who]!.get(kid(this.k)) ?? 0) + 1);
      }
    }
    toString() { return `tryAcquire(${this.who}, ${this.k[1]})`; }
  }
  class Release implements fc.AsyncCommand<Model, Real> {
    constructor(readonly who: Who, readonly k: [string, string]) {}
    check(m: Readonly<Model>) { return (m.held[this.who]!.get(kid(this.k)) ?? 0) > 0; }
    async run(m: Model, r: Real) {
      if (this.who === 0) r.local.get(kid(this.k))!.pop()!.release();
      else await ask({ op: 'release', hk: this.k[0], tp: this.k[1] });
      const s = stripe(this.k);
      m.held[this.who]!.set(kid(this.k), m.held[this.who]!.get(kid(this.k))! - 1);
      const d = m.depth.get(s)! - 1;
      if (d === 0) { m.depth.delete(s); m.owner.delete(s); } else m.depth.set(s, d);
    }
    toString() { return `release(${this.who}, ${this.k[1]})`; }
  }
  class IsHeld implements fc.AsyncCommand<Model, Real> {
    constructor(readonly who: Who, readonly k: [string, string]) {}
    check() { return true; }
    async run(m: Model) {
      const s = stripe(this.k);
      const got = this.who === 0
        ? [e.locks.isHeld(this.k[0], this.k[1]), e.locks.isHeldByCurrentThread(this.k[0], this.k[1])]
        : (await ask({ op: 'isHeld', hk: this.k[0], tp: this.k[1] })) as boolean[];
      assert.equal(got, [m.owner.has(s), m.owner.get(s) === this.who]);
    }
    toString() { return `isHeld(${this.who}, ${this.k[1]})`; }
  }
  const who = fc.constantFrom<Who>(0, 1);
  const key = fc.constantFrom(...keys);
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.commands([
          fc.tuple(who, key).map(([a, b]) => new TryAcquire(a, b)),
          fc.tuple(who, key).map(([a, b]) => new Release(a, b)),
          fc.tuple(who, key).map(([a, b]) => new IsHeld(a, b)),
        ], { maxCommands: 60 }),
        async (cmds) => {
          const model: Model = { owner: new Map(), depth: new Map(), held: [new Map(), new Map()] };
          const real: Real = { local: new Map() };
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds);
          } finally {
            // leave nothing held for the next run, whatever the model thinks
            for (const gs of real.local.values()) while (gs.length) gs.pop()!.release();
            await ask({ op: 'releaseAll' });
          }
          assert.is(e.stats().locks.held, 0);
        },
      ),
      { ...fcParams(100), verbose: true },
    );
  } finally {
    await w.terminate();
  }
});

test.run();
