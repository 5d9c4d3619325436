/**
 * toAsyncEngine(engine): the SharedArrayBuffer engine as an AsyncEngine (src/async/types.ts).
 *
 * Thin: every method calls the engine's own method and returns its result in a resolved
 * Promise; nothing is copied or cached here, and the shared-memory guarantees (README, 1-8)
 * are the engine's. Two calls differ from a plain wrap:
 * - locks.withLock uses the engine's withLockAsync (waits with Atomics.waitAsync, the stripe is
 *   held until fn's promise settles, the event loop never blocks). The stripe is held by the
 *   thread, not by the async task: a save made by another task of the same thread while the
 *   stripe is held passes the lock check (the engine's isHeldByCurrentThread). Redis, whose
 *   lock context follows the async task, refuses it.
 * - positions.getOpenHead / appendOrder are the engine's own order step (issue 12). A write's
 *   `{ release: true }` is checked and left out: the stripe is released when fn returns. A
 *   write's `{ push }`: the message checked, the write made, then pushed (writeThenPush).
 * - locks.withLocks nests withLockAsync per distinct stripe in ascending order; acquire holds the
 *   stripe with a withLockAsync whose fn waits for release() (never a blocked event loop);
 *   tryAcquire is the engine's, refusing a stripe this thread holds (not re-entrant, as acquire).
 * - queue.pop({ timeoutMs }) is the ring's popAsync (0 by default: do not wait).
 */
import type { Engine } from '../engine.ts';
import { RingMessages } from '../internal/store/ring-message.ts';
import { SAB_LOCK_CONTEXT, checkLockPairs, checkPopMax, checkPush, makeGuard, withoutLock, withoutRelease } from './lock-guards.ts';
import type { AsyncEngine, AsyncLockContext, AsyncLockGuard, AsyncLockOptions, AsyncOpenPositionHead, AsyncWriteOptions } from './types.ts';
import type { AsyncQueue, AsyncCounter, AsyncMap } from './general-types.ts';

/** Runs a synchronous engine call; its value or its throw as a Promise. */
function call<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * The SharedArrayBuffer engine as an {@link AsyncEngine}: every method calls the engine's own and
 * returns its result, or its error, as a Promise (no state copied or cached). Its errors are the
 * engine's; after `engine.close()` (or the AsyncEngine's close()) its promises reject with `ERR_CLOSED`.
 */
export function toAsyncEngine(engine: Engine): AsyncEngine {
  const { locks, positions: pos, eliminations: el, departed: dep, general } = engine;
  const queues = new Map<string, AsyncQueue>();
  const counters = new Map<string, AsyncCounter>();
  const maps = new Map<string, AsyncMap>();
  /** Per queue, an encoder of its own (private scratch) that checks a `{ push }` message before the write. */
  const checkers = new Map<string, RingMessages>();
  /**
   * A write with `{ push }` (types.ts AsyncWriteOptions): the queue's name and the message checked
   * (encoded once, privately) before the write, the write, then the push; false if the queue was full.
   */
  const writeThenPush = (opts: AsyncWriteOptions | undefined, write: (o: { ifEpoch?: number } | undefined) => unknown): boolean => {
    const push = checkPush(opts?.push);
    const o = withoutRelease(opts);
    if (push === undefined) {
      write(o);
      return true;
    }
    const ring = general.queue(push.queue);
    let check = checkers.get(push.queue);
    if (check === undefined) checkers.set(push.queue, (check = new RingMessages(ring.name, ring.maxMessageBytes)));
    check.encode(push.message);
    write(o);
    return ring.push(push.message);
  };
  return {
    backend: 'sab',
    locks: {
      // fn gets the lock context (types.ts AsyncLockContext; it carries nothing here); `{ lock }` checked and left out
      withLock: (hk, tp, fn, opts) =>
        typeof fn === 'function'
          ? call(() => withoutLock(opts)).then((o) => locks.withLockAsync(hk, tp, () => fn(SAB_LOCK_CONTEXT), o))
          : locks.withLockAsync(hk, tp, fn, opts),
      isHeld: (hk, tp) => call(() => locks.isHeld(hk, tp)),
      async withLocks<T>(keys: ReadonlyArray<readonly [string, string]>, fn: (lock: AsyncLockContext) => T | Promise<T>, opts?: AsyncLockOptions): Promise<T> {
        checkLockPairs(keys, fn);
        withoutLock(opts);
        // One withLockAsync per distinct stripe, nested in ascending stripe order (deadlock-free
        // like the engine's withLocks; withLockAsync is not re-entrant, hence each stripe once).
        const byStripe = new Map<number, readonly [string, string]>();
        for (const k of keys) byStripe.set(locks.stripeOf(k[0], k[1]), k);
        const order = [...byStripe.keys()].sort((x, y) => x - y).map((st) => byStripe.get(st)!);
        const t = opts?.timeoutMs;
        const deadline = t === undefined ? Infinity : performance.now() + t;
        const take = async (i: number): Promise<T> => {
          if (i === order.length) return await fn(SAB_LOCK_CONTEXT);
          const left = deadline === Infinity ? undefined : { timeoutMs: Math.max(0, deadline - performance.now()) };
          return locks.withLockAsync(order[i]![0], order[i]![1], () => take(i + 1), left);
        };
        return await take(0);
      },
      acquire: (hk, tp, opts) =>
        new Promise<AsyncLockGuard>((resolve, reject) => {
          // The stripe is held by a withLockAsync whose fn waits for release(): the engine's
          // own waiting (Atomics.waitAsync), never a blocked event loop.
          let free!: () => void;
          const released = new Promise<void>((r) => {
            free = r;
          });
          let got = false;
          const held = locks.withLockAsync(hk, tp, () => {
            got = true;
            resolve(makeGuard(async () => {
              free();
              await held;
            }));
            return released;
          }, opts);
          held.catch((e: unknown) => {
            if (!got) reject(e);
          });
        }),
      tryAcquire: (hk, tp) =>
        call(() => {
          // Not re-entrant, like acquire: a stripe this thread holds already is not entered.
          if (locks.isHeldByCurrentThread(hk, tp)) return null;
          const g = locks.tryAcquire(hk, tp);
          return g === null ? null : makeGuard(async () => g.release());
        }),
    },
    positions: {
      get: (hk, uuid) => call(() => pos.get(hk, uuid)),
      getOpen: (hk, tp) => call(() => pos.getOpen(hk, tp)),
      getOpenHead: (hk, tp, opts) => call(() => pos.getOpenHead(hk, tp, withoutLock(opts)) as AsyncOpenPositionHead | undefined),
      listForHotkey: (hk, opts) => call(() => pos.listForHotkey(hk, opts)),
      save: (p, opts) => call(() => writeThenPush(opts, (o) => pos.save(p, o))),
      appendOrder: (head, order, opts) => call(() => writeThenPush(opts, (o) => pos.appendOrder(head, order, o))),
      delete: (hk, uuid, opts) => call(() => (withoutLock(opts), pos.delete(hk, uuid))),
      hotkeys: () => call(() => pos.hotkeys()),
    },
    eliminations: {
      add: (row, opts) => call(() => el.add(row, opts)),
      get: (hk) => call(() => el.get(hk)),
      has: (hk) => call(() => el.has(hk)),
      take: (hk) => call(() => el.take(hk)),
      delete: (hk) => call(() => el.delete(hk)),
      list: () => call(() => el.list()),
      replaceAll: (rows) => call(() => el.replaceAll(rows)),
      size: () => call(() => el.size),
    },
    departed: {
      mark: (hk, ms) => call(() => dep.mark(hk, ms)),
      get: (hk) => call(() => dep.get(hk)),
      has: (hk) => call(() => dep.has(hk)),
      delete: (hk) => call(() => dep.delete(hk)),
      entries: () => call(() => dep.entries()),
      size: () => call(() => dep.size),
    },
    general: {
      queue(name) {
        let q = queues.get(name);
        if (q === undefined) {
          const ring = general.queue(name);
          q = {
            push: (msg) => call(() => ring.push(msg)),
            pop: (opts) => ring.popAsync({ timeoutMs: opts?.timeoutMs ?? 0 }),
            // The ring's own non-blocking pop, `max` times at most: no copy beyond each message's decode.
            popMany: (max) => call(() => {
              const n = checkPopMax(max);
              const out: unknown[] = [];
              for (let m = ring.pop(); m !== undefined; m = out.length < n ? ring.pop() : undefined) out.push(m);
              return out;
            }),
            size: () => call(() => ring.size),
          };
          queues.set(name, q);
        }
        return q;
      },
      counter(name) {
        let c = counters.get(name);
        if (c === undefined) {
          const cell = general.counter(name);
          c = { add: (n) => call(() => cell.add(n)), get: () => call(() => cell.get()) };
          counters.set(name, c);
        }
        return c;
      },
      map(name) {
        let m = maps.get(name);
        if (m === undefined) {
          const mp = general.map(name);
          m = {
            get: (k) => call(() => mp.get(k)),
            set: (k, v) => call(() => mp.set(k, v)),
            has: (k) => call(() => mp.has(k)),
            delete: (k) => call(() => mp.delete(k)),
            entries: () => call(() => mp.entries()),
            size: () => call(() => mp.size),
          };
          maps.set(name, m);
        }
        return m;
      },
      syncGate: {
        begin: () => call(() => general.syncGate.begin()),
        end: () => call(() => general.syncGate.end()),
        current: () => call(() => general.syncGate.current()),
      },
    },
    stats: () => call(() => engine.stats() as unknown as Record<string, unknown>),
    close: () => call(() => engine.close()),
  };
}
