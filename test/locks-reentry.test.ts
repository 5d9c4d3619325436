/**
 * Re-entrancy of the lock domain on one thread: depth is the thread's own business (it must not
 * outlive an acquisition, nor reach the next owner), and a guard belongs to one acquisition (a
 * leaked guard cannot release a later one). Deterministic cases first, then a fast-check property
 * that runs random nested programs of withLock / withLocks / acquire / release / throw against a
 * model written from the documented semantics.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createEngine, attachEngine } from '../src/index.ts';
import type { Engine, LockGuard } from '../src/index.ts';
import { fcParams } from './helpers/seed.ts';
import { runWorkers } from './helpers/workers.ts';
import { code } from './helpers/errors.ts';

const HK = '5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th';
const WORKER = new URL('./workers/locks-worker.ts', import.meta.url);

test('a guard acquired inside withLock and leaked by a throw: the next owner\'s acquire() + release() frees the stripe', async () => {
  const e = createEngine({ lockStripes: 16 });
  assert.throws(() => e.locks.withLock(HK, 'BTCUSD', () => {
    e.locks.acquire(HK, 'BTCUSD');
    throw new Error('boom');
  }), /boom/);
  assert.is(e.locks.isHeld(HK, 'BTCUSD'), false, 'withLock released the stripe');
  const g = e.locks.acquire(HK, 'BTCUSD');
  g.release();
  assert.is(e.locks.isHeld(HK, 'BTCUSD'), false, 'acquire() + release() by the next owner leaves the stripe free');
  // and another thread can take it (hard timeout: a stripe left held fails, not hangs)
  const cells = new SharedArrayBuffer(8);
  await runWorkers(WORKER, [{ mode: 'pairs', handle: e.handle(), cells, keys: [[HK, 'BTCUSD']], iterations: 10 }], 30_000);
  assert.is(new Int32Array(cells)[0], 10);
});

test('a leaked guard cannot release a later acquisition: ERR_LOCK_NOT_HELD, the later holder keeps the stripe', () => {
  const e = createEngine({ lockStripes: 16 });
  let leaked: LockGuard | undefined;
  e.locks.withLock(HK, 'ETHUSD', () => {
    leaked = e.locks.acquire(HK, 'ETHUSD');
  });
  assert.is(e.locks.isHeld(HK, 'ETHUSD'), false);
  assert.is(code(() => leaked!.release()), 'ERR_LOCK_NOT_HELD', 'stale guard, stripe free');
  const g = e.locks.acquire(HK, 'ETHUSD');
  assert.is(code(() => leaked!.release()), 'ERR_LOCK_NOT_HELD', 'stale guard, stripe held again by this thread');
  assert.is(e.locks.isHeld(HK, 'ETHUSD'), true, 'the stale release did not take a level of the new acquisition');
  g.release();
  assert.is(e.locks.isHeld(HK, 'ETHUSD'), false);
  // the same through withLock: the stale guard does not end the frame's hold
  e.locks.withLock(HK, 'ETHUSD', () => {
    assert.is(code(() => leaked!.release()), 'ERR_LOCK_NOT_HELD');
    assert.is(e.locks.isHeldByCurrentThread(HK, 'ETHUSD'), true);
  });
  assert.is(e.locks.isHeld(HK, 'ETHUSD'), false);
});

test('withLocks leaking a guard on a stripe it took: freed at exit, guard stale', () => {
  const e = createEngine({ lockStripes: 16 });
  let leaked: LockGuard | undefined;
  assert.throws(() => e.locks.withLocks([[HK, 'A'], [HK, 'B']], () => {
    leaked = e.locks.acquire(HK, 'B');
    throw new Error('boom');
  }), /boom/);
  assert.is(e.locks.isHeld(HK, 'A') || e.locks.isHeld(HK, 'B'), false);
  const g = e.locks.acquire(HK, 'B');
  assert.is(code(() => leaked!.release()), 'ERR_LOCK_NOT_HELD');
  g.release();
  assert.is(e.stats().locks.held, 0);
});

test('two handles of one thread on the same buffers share the thread\'s re-entrancy', () => {
  const e = createEngine({ lockStripes: 16 });
  const b = attachEngine(e.handle());
  const g1 = e.locks.acquire(HK, 'SOLUSD');
  const g2 = b.locks.acquire(HK, 'SOLUSD'); // same thread: re-entrant
  g1.release(); // counted, not stacked: any order
  assert.is(b.locks.isHeld(HK, 'SOLUSD'), true);
  g2.release();
  assert.is(e.locks.isHeld(HK, 'SOLUSD'), false);
});

// ---- property: random nested programs against a model -------------------------------------------

type Op =
  | { t: 'with'; keys: number[]; body: Op[]; throws: boolean }
  | { t: 'acquire'; key: number }
  | { t: 'release'; guard: number };

/**
 * The model, from the documented semantics (locks.ts): per stripe, the levels this thread holds
 * (live frames and live guards). The first level of an acquisition takes the stripe. A withLock /
 * withLocks frame that took the stripe ends the acquisition when it exits, whatever is still open
 * inside (guards leaked in it become stale); any other level gives back itself, and the last one
 * frees the stripe. A guard's release succeeds only while its level is live.
 */
class Model {
  readonly levels = new Map<number, Set<object>>();
  readonly acquirer = new Map<number, object>();
  held(s: number): boolean {
    return (this.levels.get(s)?.size ?? 0) > 0;
  }
  enter(s: number, level: object, isFrame: boolean): void {
    let l = this.levels.get(s);
    if (l === undefined) this.levels.set(s, (l = new Set()));
    if (l.size === 0 && isFrame) this.acquirer.set(s, level);
    l.add(level);
  }
  leave(s: number, level: object): boolean {
    const l = this.levels.get(s);
    if (l === undefined || !l.has(level)) return false;
    if (this.acquirer.get(s) === level) l.clear();
    else l.delete(level);
    if (l.size === 0) this.acquirer.delete(s);
    return true;
  }
}

class Thrown extends Error {}

function run(e: Engine, keys: [string, string][], ops: Op[], m: Model, guards: { g: LockGuard; s: number; level: object }[]): void {
  const stripeOf = (k: number) => e.locks.stripeOf(keys[k]![0], keys[k]![1]);
  const check = (where: string) => {
    for (let k = 0; k < keys.length; k++) {
      assert.is(e.locks.isHeldByCurrentThread(keys[k]![0], keys[k]![1]), m.held(stripeOf(k)), `${where}: key ${k} (stripe ${stripeOf(k)})`);
    }
  };
  for (const op of ops) {
    if (op.t === 'acquire') {
      const s = stripeOf(op.key);
      const level = {};
      const g = e.locks.acquire(keys[op.key]![0], keys[op.key]![1]);
      m.enter(s, level, false);
      guards.push({ g, s, level });
      check('after acquire');
    } else if (op.t === 'release') {
      if (guards.length === 0) continue;
      const x = guards[op.guard % guards.length]!;
      const expectOk = m.leave(x.s, x.level);
      assert.is(code(() => x.g.release()), expectOk ? undefined : 'ERR_LOCK_NOT_HELD', 'release result');
      check('after release');
    } else {
      const stripes = [...new Set(op.keys.map(stripeOf))];
      const level = {};
      const body = () => {
        for (const s of stripes) m.enter(s, level, true);
        check('entering the frame');
        run(e, keys, op.body, m, guards);
        if (op.throws) throw new Thrown('out');
      };
      try {
        if (op.keys.length === 1) e.locks.withLock(keys[op.keys[0]!]![0], keys[op.keys[0]!]![1], body);
        else e.locks.withLocks(op.keys.map((k) => keys[k]!), body);
      } catch (x) {
        if (!(x instanceof Thrown)) throw x;
      }
      for (const s of stripes) m.leave(s, level);
      check('after the frame');
    }
  }
}

test('property: nested withLock / withLocks / acquire / release / throw on one thread follow the model', () => {
  // six keys on four stripes: some share a stripe
  const keys: [string, string][] = ['A', 'B', 'C', 'D', 'E', 'F'].map((t) => [HK, t]);
  const key = fc.integer({ min: 0, max: keys.length - 1 });
  const { op } = fc.letrec<{ op: Op; ops: Op[] }>((tie) => ({
    op: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({ t: fc.constant('acquire' as const), key }),
      fc.record({ t: fc.constant('release' as const), guard: fc.nat(50) }),
      fc.record({
        t: fc.constant('with' as const),
        keys: fc.array(key, { minLength: 1, maxLength: 3 }),
        body: tie('ops') as fc.Arbitrary<Op[]>,
        throws: fc.boolean(),
      }),
    ),
    ops: fc.array(tie('op') as fc.Arbitrary<Op>, { maxLength: 5 }),
  }));
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 12 }), (ops) => {
      const e = createEngine({ lockStripes: 4 }); // fresh per run: a counterexample stands alone
      const m = new Model();
      const guards: { g: LockGuard; s: number; level: object }[] = [];
      try {
        run(e, keys, ops, m, guards);
      } finally {
        // give back every level still live (in the model), so the next run starts clean
        for (const x of guards) if (m.leave(x.s, x.level)) x.g.release();
      }
      assert.is(e.stats().locks.held, 0, 'nothing held at the end');
    }),
    { ...fcParams(300) },
  );
});

test.run();
