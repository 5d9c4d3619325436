/**
 * Locks on Redis: one key per (hotkey, trade pair), granted with a fencing token.
 *
 * Algorithm (the single-instance Redis lock of the Redis docs, plus fencing):
 * 1. acquire: LOCK_ACQUIRE, one script: if the key is free, INCR the hotkey's fence counter and
 *    `SET key "<fence>:<engine id>.<attempt>" PX ttl` (the engine id: 96 random bits drawn once
 *    per engine; with the attempt counter no two holders' values are equal, fence aside), and
 *    read the open position's head and order count (the order step's getOpenHead, answered
 *    from the hold: one round trip fewer);
 *    else return the key's PTTL. A waiter retries after
 *    min(backoff, pttl) (backoff 1, 2, 4 ... 32 ms with jitter) until `timeoutMs`
 *    (ERR_LOCK_TIMEOUT). A holder that died or lost its connection is never renewed, so its
 *    lock is free at most `lockTtlMs` after its last renewal.
 * 2. hold: while fn runs, LOCK_RENEW (compare-and-PEXPIRE) once ttl/3 has passed since the grant
 *    or the last renewal: one timer per engine (every ttl/6, unref'd, stopped when no hold is
 *    left) walks the engine's holds, instead of a timer made and cleared per withLock. A renewal
 *    that finds the value gone marks the hold lost (`stats().locks.lost`); fn keeps running, but
 *    every write it makes is refused by the write script (ERR_LOCK_NOT_HELD), which compares the
 *    value itself.
 * 3. release: LOCK_RELEASE (compare-and-delete): never deletes another holder's lock. If the
 *    release cannot reach Redis, the lock expires after its TTL (counted: releaseFailures).
 *    A write made with `{ release: true }` (positions.ts) deletes the lock in its own script, as
 *    its last step: the release then waits for that write's reply and sends LOCK_RELEASE only if
 *    the write was refused or its reply lost (a compare-and-delete: harmless if it did delete).
 *    Once such a write has run, the lock may be granted to another holder while fn still runs;
 *    a later write of this hold is refused by the fence.
 *
 * The hold is carried by the caller's context, not the thread or the connection: a map of each
 * held (hotkey, tp) to its hold, in the lock context withLock passes to fn (RedisLockContext)
 * and, unless fn takes that context (declares a parameter), in an AsyncLocalStorage context of
 * the async task too. So positions.save inside fn finds the value to fence its write with: from
 * `{ lock }`, else from the task's context (awaited or not, any depth of calls); a save made by
 * an unrelated task of the same process is refused before any round trip (ERR_LOCK_NOT_HELD).
 * A nested withLock on a key its context (`{ lock }`, else the task's) holds runs fn at once
 * (re-entrant). Why an fn that takes the context skips AsyncLocalStorage: on Node 20, once a
 * store is entered, promise hooks run for every promise of the thread (init, before, after),
 * and the order step makes dozens of promises; an fn that takes the context carries its holds
 * itself and pays none of it.
 * withLocks(keys, fn): each key once, in ascending lock-key order (a global order: two callers
 * cannot deadlock), each a withLock nested in the previous. acquire / tryAcquire: the same grant
 * and renewal, but the hold is kept in this engine's guard map until `guard.release()`, so
 * writes by any task of this engine carry it (as a stripe belongs to the thread on the
 * SharedArrayBuffer engine); crash behaviour as below (the TTL frees it).
 *
 * Crash table (process terminated right after each step; "recovery" is the TTL, no repair):
 * | after step                         | leaves                          | how it completes            |
 * | ---------------------------------- | ------------------------------- | --------------------------- |
 * | acquire script sent, reply lost    | a granted lock nobody uses      | expires after lockTtlMs     |
 * | acquired / renewed                 | the lock, held                  | expires after lockTtlMs     |
 * | a write script (positions.ts)      | the write, whole or not at all  | atomic script: nothing      |
 * | release sent                       | nothing (or the TTL as above)   | -                           |
 * A paused holder (GC, SIGSTOP) past its TTL: its writes are refused by the fence when it wakes.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { ErrorCode, SabStateError, checkKey } from '../errors.ts';
import type { AsyncLockContext, AsyncLockGuard, AsyncLockOptions, AsyncLocks } from '../async/types.ts';
import { checkLockPairs, makeGuard } from '../async/lock-guards.ts';
import { LOCK_ACQUIRE, LOCK_RELEASE, LOCK_RENEW } from './scripts.ts';
import { type RedisStore, enc } from './store.ts';

/** One lock held by the current async task. */
export interface Hold {
  readonly key: string;
  readonly value: string;
  readonly fence: number;
  lost: boolean;
  /**
   * The open position of (hotkey, tp) read by the acquiring script ([head JSON, orderCount];
   * null: none), until this hold writes the position (then undefined: read it
   * from Redis). Only holders of this lock write this (hotkey, tp), so it stays current; a save
   * under another trade pair's lock that moves the position away is caught by appendOrder's own
   * trade-pair check (ERR_INVALID_VALUE), never written over.
   */
  open: [string, number] | null | undefined;
  /** The uuid of `open` as the grant read it (`o:<tp>`): a write of that uuid while `open` is set skips the index read (scripts.ts POS_WRITE, "known"). */
  openUuid: string | undefined;
  /** performance.now() when the grant was sent or the last renewal was: renewed ttl/3 after. */
  renewedAt: number;
  /** A write with `{ release: true }` was sent: true once it ran (the lock is deleted), false if refused or lost. */
  releasing?: Promise<boolean>;
  /** That write's outcome once known (false: refused or lost; the lock is still this hold's to renew and release). */
  released?: boolean;
}

export interface RedisLockStats {
  acquired: number;
  contended: number;
  timeouts: number;
  lost: number;
  renewals: number;
  releaseFailures: number;
  heldNow: number;
}

const holdKey = (hotkey: string, tp: string): string => `${hotkey}\u0000${tp}`;

/** What withLock passes to fn on Redis: the holds of that withLock and of those it is nested in. */
class RedisLockContext implements AsyncLockContext {
  readonly asyncLockContext = true as const;
  readonly owner: RedisLocks;
  readonly holds: ReadonlyMap<string, Hold>;
  constructor(owner: RedisLocks, holds: ReadonlyMap<string, Hold>) {
    this.owner = owner;
    this.holds = holds;
  }
}
const NO_HOLDS: ReadonlyMap<string, Hold> = new Map();

/** Runs fn with its lock context; fn without a parameter also in `als` with the holds (see the top of the file). */
function enter<T>(fn: (lock: AsyncLockContext) => T | Promise<T>, ctx: RedisLockContext, als: AsyncLocalStorage<ReadonlyMap<string, Hold>>): T | Promise<T> {
  return fn.length > 0 ? fn(ctx) : als.run(ctx.holds, fn, ctx);
}

/** options.timeoutMs: a non-negative number (default: wait forever). */
function checkTimeout(opts: AsyncLockOptions | undefined): number {
  const t = opts?.timeoutMs;
  if (t !== undefined && (typeof t !== 'number' || Number.isNaN(t) || t < 0)) throw new TypeError('options.timeoutMs must be a non-negative number');
  return t ?? Infinity;
}

export class RedisLocks implements AsyncLocks {
  readonly #s: RedisStore;
  readonly #ttl: number;
  readonly #als = new AsyncLocalStorage<ReadonlyMap<string, Hold>>();
  /** Holds taken by acquire / tryAcquire: this engine's until their guard is released. */
  readonly #guards = new Map<string, Hold>();
  /** This engine's random id (96 bits, drawn once) and its grant counter: `<id>.<n>` is unique per attempt without a random draw each. */
  readonly #id = randomBytes(12).toString('base64url');
  #attempts = 0;
  /** Every hold of this engine not yet released (withLock and guards), for the renewal timer. */
  readonly #holds = new Set<Hold>();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #stats: RedisLockStats = { acquired: 0, contended: 0, timeouts: 0, lost: 0, renewals: 0, releaseFailures: 0, heldNow: 0 };

  constructor(store: RedisStore, lockTtlMs: number) {
    this.#s = store;
    this.#ttl = lockTtlMs;
  }

  lockKey(hotkey: string, tp: string): string {
    return `${this.#s.base(hotkey)}lock:${enc(tp)}`;
  }

  /**
   * The hold of (hotkey, tp) in `lock` (a lock context of this engine), else in the current
   * task's context (withLock), else this engine's guard hold (acquire), or undefined.
   * @throws TypeError if `lock` is not a lock context this engine's withLock made.
   */
  holdOf(hotkey: string, tp: string, lock?: unknown): Hold | undefined {
    const k = holdKey(hotkey, tp);
    return (lock === undefined ? this.#als.getStore() : this.#holdsIn(lock))?.get(k) ?? this.#guards.get(k);
  }

  /** The holds of `lock`, checked: a context this engine's withLock made. */
  #holdsIn(lock: unknown): ReadonlyMap<string, Hold> {
    if (!(lock instanceof RedisLockContext) || lock.owner !== this) throw new TypeError('options.lock must be the lock context that withLock of this engine passed to fn');
    return lock.holds;
  }

  async withLocks<T>(keys: ReadonlyArray<readonly [string, string]>, fn: (lock: AsyncLockContext) => T | Promise<T>, opts?: AsyncLockOptions): Promise<T> {
    checkLockPairs(keys, fn);
    const timeoutMs = checkTimeout(opts);
    if (opts?.lock !== undefined) this.#holdsIn(opts.lock); // checked before any lock is taken
    // Each key once, taken in ascending lock-key order (one global order: no deadlock), each a
    // withLock nested in the previous one (through its context), so fn runs with every hold.
    const byKey = new Map<string, readonly [string, string]>();
    for (const k of keys) byKey.set(this.lockKey(k[0], k[1]), k);
    const order = [...byKey.keys()].sort().map((lk) => byKey.get(lk)!);
    const deadline = performance.now() + timeoutMs;
    const take = async (i: number, lock: AsyncLockContext | undefined): Promise<T> => {
      if (i === order.length) {
        if (lock === undefined) return await fn(new RedisLockContext(this, this.#als.getStore() ?? NO_HOLDS)); // no keys
        return await enter(fn, lock as RedisLockContext, this.#als);
      }
      const o: AsyncLockOptions = { lock };
      if (timeoutMs !== Infinity) o.timeoutMs = Math.max(0, deadline - performance.now());
      return await this.withLock(order[i]![0], order[i]![1], (c) => take(i + 1, c), o);
    };
    return await take(0, opts?.lock);
  }

  async acquire(hotkey: string, tradePairId: string, opts?: AsyncLockOptions): Promise<AsyncLockGuard> {
    checkKey(hotkey, 'hotkey');
    checkKey(tradePairId, 'tradePairId');
    const hold = await this.#acquire(hotkey, tradePairId, checkTimeout(opts), false);
    return this.#guard(hotkey, tradePairId, hold!);
  }

  async tryAcquire(hotkey: string, tradePairId: string): Promise<AsyncLockGuard | null> {
    checkKey(hotkey, 'hotkey');
    checkKey(tradePairId, 'tradePairId');
    const hold = await this.#acquire(hotkey, tradePairId, 0, true);
    return hold === null ? null : this.#guard(hotkey, tradePairId, hold);
  }

  /** A guard hold: this engine's (every task's) until release; renewed like withLock's. */
  #guard(hotkey: string, tp: string, hold: Hold): AsyncLockGuard {
    const k = holdKey(hotkey, tp);
    this.#guards.set(k, hold);
    this.#track(hold);
    return makeGuard(async () => {
      if (this.#guards.get(k) === hold) this.#guards.delete(k);
      await this.#release(hold);
    });
  }

  /** Counts the hold and has it renewed (the engine's one timer, started with its first hold). */
  #track(hold: Hold): void {
    this.#holds.add(hold);
    this.#stats.heldNow++;
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tick(), Math.max(1, Math.floor(this.#ttl / 6)));
    this.#timer.unref();
  }

  /** Renews every hold whose last grant or renewal is ttl/3 old; stops once no hold is left. */
  #tick(): void {
    if (this.#holds.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = performance.now();
    for (const h of this.#holds) {
      if (now - h.renewedAt < this.#ttl / 3) continue;
      h.renewedAt = now;
      void this.#renew(h);
    }
  }

  /** Untracks the hold and releases its lock (not sent when a `{ release: true }` write did it). */
  async #release(hold: Hold): Promise<void> {
    this.#holds.delete(hold);
    this.#stats.heldNow--;
    if (hold.releasing !== undefined && (await hold.releasing)) return;
    try {
      await this.#s.run(LOCK_RELEASE, [hold.key], [hold.value], 'locks.release');
    } catch {
      this.#stats.releaseFailures++; // expires after its TTL
    }
  }

  async withLock<T>(hotkey: string, tradePairId: string, fn: (lock: AsyncLockContext) => T | Promise<T>, opts?: AsyncLockOptions): Promise<T> {
    checkKey(hotkey, 'hotkey');
    checkKey(tradePairId, 'tradePairId');
    const timeoutMs = checkTimeout(opts);
    const lock = opts?.lock;
    const outer = lock === undefined ? this.#als.getStore() : this.#holdsIn(lock);
    const hk = holdKey(hotkey, tradePairId);
    if (outer?.has(hk)) return await enter(fn, lock instanceof RedisLockContext ? lock : new RedisLockContext(this, outer), this.#als);
    const hold = (await this.#acquire(hotkey, tradePairId, timeoutMs, false))!;
    const held = new Map(outer);
    held.set(hk, hold);
    this.#track(hold);
    try {
      return await enter(fn, new RedisLockContext(this, held), this.#als);
    } finally {
      await this.#release(hold);
    }
  }

  async isHeld(hotkey: string, tradePairId: string): Promise<boolean> {
    checkKey(hotkey, 'hotkey');
    checkKey(tradePairId, 'tradePairId');
    return (await this.#s.cmd('locks.isHeld', 'EXISTS', this.lockKey(hotkey, tradePairId))) === 1;
  }

  stats(): RedisLockStats {
    return { ...this.#stats };
  }

  /** The hold, once granted; with `once`, null if the first attempt finds the lock held. */
  async #acquire(hotkey: string, tp: string, timeoutMs: number, once: boolean): Promise<Hold | null> {
    const key = this.lockKey(hotkey, tp);
    const base = this.#s.base(hotkey);
    const keys = [key, `${base}fence`, `${base}pos`];
    const rand = `${this.#id}.${(++this.#attempts).toString(36)}`;
    const deadline = performance.now() + timeoutMs;
    let backoff = 1;
    for (let first = true; ; first = false) {
      const sentAt = performance.now(); // the TTL runs from a later instant: renewing from this one is early, never late
      const r = (await this.#s.run(LOCK_ACQUIRE, keys, [rand, this.#ttl, base, tp], 'locks.withLock')) as [number, number, string?, number?, string?];
      if (r[0] > 0) {
        this.#stats.acquired++;
        const open: Hold['open'] = r[2] === undefined ? null : [r[2], r[3]!];
        return { key, value: `${r[0]}:${rand}`, fence: r[0], lost: false, open, openUuid: r[4], renewedAt: sentAt };
      }
      if (first) this.#stats.contended++;
      if (once) return null;
      const left = deadline - performance.now();
      if (left <= 0) {
        this.#stats.timeouts++;
        throw new SabStateError(ErrorCode.LOCK_TIMEOUT, `locks.withLock: (${hotkey}, ${tp}) still held by another holder after ${timeoutMs} ms`);
      }
      const pttl = r[1] > 0 ? r[1] : backoff;
      const wait = Math.min(backoff * (0.5 + Math.random()), pttl, left);
      backoff = Math.min(backoff * 2, 32);
      await new Promise((res) => setTimeout(res, Math.max(1, wait)));
    }
  }

  async #renew(hold: Hold): Promise<void> {
    if (hold.lost || (hold.releasing !== undefined && hold.released !== false)) return; // released, or being released, by a write
    try {
      const ok = await this.#s.run(LOCK_RENEW, [hold.key], [hold.value, this.#ttl], 'locks.renew');
      this.#stats.renewals++;
      if (ok !== 1) {
        hold.lost = true;
        this.#stats.lost++;
      }
    } catch {
      // Not reachable: the lock expires after its TTL unless a later renewal gets through.
    }
  }
}
