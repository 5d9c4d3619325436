/**
 * The lock domain: a hash-based pool of futex mutexes (src/internal/sync/mutex.ts), one per stripe,
 * each on its own 128-byte line. A key (hotkey, trade pair) maps to stripe
 * `hashPair(seed, hotkey, tradePairId) & (stripes - 1)` (seeded: chosen hotkeys cannot pile onto
 * one stripe). Two keys on one stripe share a lock: correct, at worst a little extra waiting.
 *
 * The region's layout (lines, slots, who writes each and how, what publishes the plain slots) is
 * layout.ts; the stats lines' writers and the snapshot, with the slow-lock hook's timing, are
 * lock-stats.ts. This file only decodes a stripe's word through mutex.ts (`isHeldBy`, `holderOf`).
 *
 * Re-entrancy: a thread that holds a stripe and asks for any key on it proceeds, including while
 * a pending `withLockAsync` of the same thread holds it: mutual exclusion is between threads, and
 * between `withLockAsync` calls (which always wait for the stripe to be free). Tasks of one event
 * loop that interleave across `await` must use `withLockAsync`. The depth is the thread's own
 * (class LocalView: plain typed arrays, never in shared memory), so no other thread reads it and a
 * dead thread's depth dies with it; recovery frees the word and nothing else. Levels of a stripe
 * are counted, not stacked: re-entrant withLock frames and guards each give back one level, in any
 * order, and the last one unlocks; but a withLock / withLocks / withLockAsync that TOOK the
 * stripe ends the whole acquisition when it returns or throws, so a guard acquired inside and
 * never released cannot keep the stripe held; that guard is stale from then on, and its release()
 * throws ERR_LOCK_NOT_HELD (each guard remembers its acquisition's generation).
 *
 * The snapshot mutex (kSnapshotMutex) serializes engine.snapshot() calls of every thread of the
 * engine (a directory's generation switch is a read-modify-write of its manifest); it is a mutex
 * of mutex.ts like a stripe, taken rarely, so it shares the stats line; recovery frees it like a
 * stripe. Not re-entrant (a snapshot does not nest).
 *
 * Arguments are checked at the boundary, before any shared step: keys (ERR_INVALID_KEY; withLocks
 * also refuses holes, non-arrays and arrays that are not exactly [hotkey, tradePairId] pairs),
 * callbacks (ERR_INVALID_ARGUMENT), per-call options ({ timeoutMs } only; an unknown key or a bad
 * value is the option error of errors.ts). The stripe of a key is not public: it is an image of
 * the hash seed (README: what the seed protects); tests reach it through `stripeOfKey`.
 *
 * Crash points: mutex.ts's table covers the lock word. Recovery, `releaseAllOwnedBy(dead)`, frees
 * every word of the dead tag and wakes the waiters of every stripe; `locks.recover.freed` is
 * after one stripe is freed and its waiters woken, before the next: another thread may take that
 * stripe there (nothing of the dead thread remains in it). A recovering thread that dies there
 * leaves the dead thread's other stripes held: recovery is idempotent, run it again.
 */
import { threadId } from 'node:worker_threads';
import { declareCrashPoints } from '../../internal/crash.ts';
import { ErrorCode, SabStateError, checkFunction, checkKey } from '../../errors.ts';
import { callOptions, optTimeoutMs } from '../../options.ts';
import { type HashKey, hashPair } from '../../internal/hash/hash.ts';
import { holderOf, isHeldBy, lockAsync, lockSlow, tryLock, unlock, wordHeldBy } from '../../internal/sync/mutex.ts';
import { tagOf } from '../../internal/sync/thread-tag.ts';
import { checkRegion } from '../../internal/region.ts';
import { type LockHandle, kAcquired, kContended, kReentered, specOf, stripeCounter, stripeWord } from './layout.ts';
import { releaseLocksOwnedBy, sumLockStats, withSnapshotMutex } from './locks-engine.ts';
import {
  type LockCallOptions, type LockGuard, type LocalView, checkPairs, checkTimeout, dropOpenLevels, isThenable, leave, localViewOf, Guard,
} from './local.ts';
import {
  type LockStats, type SlowLock, type SlowLockInfo, SlowLockTimer, countTimeout, recordWait,
  reportSlow, slowLockOf,
} from './lock-stats.ts';

export type { LockStats, SlowLockInfo } from './lock-stats.ts';

declareCrashPoints('locks', ['locks.recover.freed']);


/** Keys whose stripe a thread remembers (256 hotkeys x 51 trade pairs fit several times). */
const kCacheMax = 1 << 16;



/** The stripe of a key, for tests and internal callers only (not exported from the package). */
export let stripeOfKey: (locks: LockDomain, hotkey: string, tradePairId: string) => number;


/**
 * The lock domain (`engine.locks`): per-(hotkey, trade pair) locks, a pool of futex mutexes indexed by
 * a seeded hash of the key. Re-entrant per thread.
 */
export class LockDomain {
  readonly #w: Int32Array;
  readonly #f: Float64Array;
  readonly #big: BigInt64Array;
  readonly #mask: number;
  readonly #key: HashKey;
  readonly #tag: number;
  readonly #r: LocalView;
  readonly #depth: Int32Array; // this.#r's arrays, held directly: one load less on the hot path
  readonly #gen: Int32Array;
  readonly #cache = new Map<string, Map<string, number>>();
  #slow: SlowLock | null = null;
  readonly #timer = new SlowLockTimer();
  #cached = 0;
  readonly stripes: number;

  static {
    stripeOfKey = (locks, hotkey, tradePairId) => locks.#stripeOf(hotkey, tradePairId);
  }

  /** @internal Built by the engine: use `engine.locks`. */
  constructor(handle: LockHandle, key: HashKey) {
    checkRegion(handle.sab, specOf(handle.stripes, key), 'locks');
    this.#w = new Int32Array(handle.sab);
    this.#f = new Float64Array(handle.sab);
    this.#big = new BigInt64Array(handle.sab);
    this.stripes = handle.stripes;
    this.#mask = handle.stripes - 1;
    this.#key = key;
    this.#tag = tagOf(threadId);
    this.#r = localViewOf(handle.sab, handle.stripes);
    this.#depth = this.#r.depth;
    this.#gen = this.#r.gen;
  }

  /**
   * @internal Not part of the API (an image of the hash seed): kept only for bench/locks.ts,
   * which picks two keys on distinct stripes; use stripeOfKey from this module instead.
   */
  stripeOf(hotkey: string, tradePairId: string): number {
    return this.#stripeOf(hotkey, tradePairId);
  }

  /**
   * The stripe of a key (validated). A per-thread cache (hotkey → trade pair → stripe) skips
   * hashing and validation for keys seen before: V8 caches a string's own hash, so two Map
   * lookups cost far less than HalfSipHash over 55 characters. Bounded: cleared when full.
   * ERR_INVALID_KEY if `hotkey` or `tradePairId` is not a non-empty string of at most 256 characters.
   */
  #stripeOf(hotkey: string, tradePairId: string): number {
    const byTp = this.#cache.get(hotkey);
    if (byTp !== undefined) {
      const s = byTp.get(tradePairId);
      if (s !== undefined) return s;
    }
    checkKey(hotkey, 'hotkey');
    checkKey(tradePairId, 'tradePairId');
    const s = hashPair(this.#key, hotkey, tradePairId) & this.#mask;
    if (++this.#cached > kCacheMax) {
      this.#cache.clear();
      this.#cached = 1;
    }
    if (byTp !== undefined) byTp.set(tradePairId, s);
    else this.#cache.set(hotkey, new Map([[tradePairId, s]]));
    return s;
  }

  /**
   * Installs (or with null removes) this thread's slow-lock hook: after a withLock /
   * withLockAsync whose wait or hold time reached `thresholdMs` (default 10), `hook` is called
   * with the key and both times, after the lock is released. It replaces the timing log lines
   * the Python validator needed. Costs two performance.now() per lock while installed.
   * @throws TypeError or RangeError if `hook` or `opts.thresholdMs` is malformed (state unchanged).
   */
  onSlowLock(hook: ((info: SlowLockInfo) => void) | null, opts?: { thresholdMs?: number }): void {
    if (hook !== null) checkFunction(hook, 'onSlowLock: hook (or null)');
    const o = callOptions(opts, 'options', ['thresholdMs']);
    const thresholdMs = optTimeoutMs(o.thresholdMs, 'options.thresholdMs', 10);
    this.#slow = slowLockOf(hook, { thresholdMs });
  }

  /**
   * Runs `fn` holding the stripe of (hotkey, tradePairId); releases on return or throw.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` or `tradePairId` is not a non-empty
   *   string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` with `timeoutMs`, if the lock was not free in
   *   time (`fn` not run).
   * @throws TypeError if `fn` returns a Promise (use withLockAsync); whatever `fn` throws, after the
   *   lock is released.
   * @throws TypeError or RangeError if `opts` is malformed (state unchanged).
   */
  withLock<T>(hotkey: string, tradePairId: string, fn: () => T, opts?: LockCallOptions): T {
    if (typeof fn !== 'function') checkFunction(fn, 'withLock: fn');
    if (this.#slow !== null) return this.#timed(hotkey, tradePairId, () => this.#withLock(hotkey, tradePairId, fn, opts));
    return this.#withLock(hotkey, tradePairId, fn, opts);
  }

  #withLock<T>(hotkey: string, tradePairId: string, fn: () => T, opts?: LockCallOptions): T {
    const s = this.#stripeOf(hotkey, tradePairId);
    const timeoutMs = opts === undefined ? Infinity : checkTimeout(opts);
    const i = stripeWord(s);
    const c = tryLock(this.#w, i, this.#tag);
    if (wordHeldBy(c, this.#tag)) return this.#reenter(s, i, fn);
    if (c !== 0) this.#acquireSlow(s, i, timeoutMs, `(${hotkey}, ${tradePairId})`);
    this.#f[stripeCounter(s, kAcquired)]!++;
    if (this.#slow !== null) this.#timer.acquiredAt = performance.now();
    let out: T;
    try {
      out = fn();
    } finally {
      if (this.#depth[s] !== 0) dropOpenLevels(this.#depth, this.#gen, s);
      unlock(this.#w, i);
    }
    if (isThenable(out)) throw new TypeError('withLock: fn returned a Promise; the lock was released before it settled: use withLockAsync');
    return out;
  }

  /**
   * Like withLock, for the event-loop thread: waits with Atomics.waitAsync (never blocks the
   * loop); `fn` may be async, the stripe is held until its promise settles. Not re-entrant: a
   * nested withLockAsync on the same stripe waits for the outer one (and times out).
   * @throws (the promise rejects) the errors of withLock, and whatever `fn` throws or rejects with,
   *   after the lock is released.
   */
  async withLockAsync<T>(hotkey: string, tradePairId: string, fn: () => T | Promise<T>, opts?: LockCallOptions): Promise<T> {
    const s = this.#stripeOf(hotkey, tradePairId);
    checkFunction(fn, 'withLockAsync: fn');
    const timeoutMs = checkTimeout(opts);
    const i = stripeWord(s);
    const t0 = performance.now();
    if (tryLock(this.#w, i, this.#tag) !== 0) {
      if (!(await lockAsync(this.#w, i, this.#tag, timeoutMs))) this.#timedOut(i, timeoutMs, `(${hotkey}, ${tradePairId})`);
      this.#recordWait(s, performance.now() - t0);
    }
    const t1 = performance.now();
    this.#f[stripeCounter(s, kAcquired)]!++;
    try {
      return await fn();
    } finally {
      if (this.#depth[s] !== 0) dropOpenLevels(this.#depth, this.#gen, s);
      unlock(this.#w, i);
      if (this.#slow !== null) reportSlow(this.#slow, hotkey, tradePairId, t1 - t0, performance.now() - t1);
    }
  }

  /**
   * Runs `fn` holding the stripes of every key. Stripes are taken in ascending order, each once
   * (stripes this thread already holds are entered re-entrantly), so two threads asking for the
   * same keys in any order cannot deadlock. `timeoutMs` bounds the whole acquisition.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if a key is not a non-empty string of at most 256
   *   characters.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` with `timeoutMs`, if the locks were not all taken
   *   in time (none held, `fn` not run).
   * @throws TypeError if `keys` is not an array of pairs or `fn` returns a Promise; whatever `fn`
   *   throws, after the locks are released.
   */
  withLocks<T>(keys: ReadonlyArray<readonly [string, string]>, fn: () => T, opts?: LockCallOptions): T {
    checkPairs(keys);
    checkFunction(fn, 'withLocks: fn');
    const timeoutMs = checkTimeout(opts);
    const stripes = [...new Set(keys.map((k) => this.#stripeOf(k[0], k[1])))].sort((a, b) => a - b);
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    const taken: number[] = [];
    const entered: number[] = [];
    try {
      for (const s of stripes) {
        const i = stripeWord(s);
        const c = tryLock(this.#w, i, this.#tag);
        if (wordHeldBy(c, this.#tag)) {
          this.#depth[s]!++;
          entered.push(s);
          continue;
        }
        if (c !== 0) {
          const left = deadline === Infinity ? Infinity : Math.max(0, deadline - performance.now());
          this.#acquireSlow(s, i, left, `stripe ${s} of withLocks`);
        }
        this.#f[stripeCounter(s, kAcquired)]!++;
        taken.push(s);
      }
      const out = fn();
      if (isThenable(out)) throw new TypeError('withLocks: fn returned a Promise; use withLockAsync');
      return out;
    } finally {
      for (let k = taken.length - 1; k >= 0; k--) {
        const s = taken[k]!;
        if (this.#depth[s] !== 0) dropOpenLevels(this.#depth, this.#gen, s);
        unlock(this.#w, stripeWord(s));
      }
      for (const s of entered) leave(this.#w, stripeWord(s), this.#depth, s);
    }
  }

  /**
   * Takes the lock and returns a guard; `guard.release()` (or `using` via Symbol.dispose) gives
   * it back. For code whose critical section does not fit a callback. Re-entrant like withLock.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` or `tradePairId` is not a non-empty
   *   string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` with `timeoutMs`, if the lock was not free in time.
   * @throws TypeError or RangeError if `opts` is malformed (state unchanged).
   */
  acquire(hotkey: string, tradePairId: string, opts?: LockCallOptions): LockGuard {
    const s = this.#stripeOf(hotkey, tradePairId);
    const timeoutMs = checkTimeout(opts);
    const i = stripeWord(s);
    const c = tryLock(this.#w, i, this.#tag);
    if (wordHeldBy(c, this.#tag)) return this.#enterGuard(s, i);
    if (c !== 0) this.#acquireSlow(s, i, timeoutMs, `(${hotkey}, ${tradePairId})`);
    return this.#ownGuard(s, i);
  }

  /**
   * One attempt, never waits: a guard, or null if another thread holds the stripe.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` or `tradePairId` is not a non-empty
   *   string of at most 256 characters.
   */
  tryAcquire(hotkey: string, tradePairId: string): LockGuard | null {
    const s = this.#stripeOf(hotkey, tradePairId);
    const i = stripeWord(s);
    const c = tryLock(this.#w, i, this.#tag);
    if (c === 0) return this.#ownGuard(s, i);
    return wordHeldBy(c, this.#tag) ? this.#enterGuard(s, i) : null;
  }

  /**
   * True if some thread (any) holds the stripe of this key right now.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` or `tradePairId` is not a non-empty
   *   string of at most 256 characters.
   */
  isHeld(hotkey: string, tradePairId: string): boolean {
    const s = this.#stripeOf(hotkey, tradePairId);
    return holderOf(this.#w, stripeWord(s)) !== -1;
  }

  /**
   * True if the calling thread holds the stripe of this key.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` or `tradePairId` is not a non-empty
   *   string of at most 256 characters.
   */
  isHeldByCurrentThread(hotkey: string, tradePairId: string): boolean {
    const s = this.#stripeOf(hotkey, tradePairId);
    return isHeldBy(this.#w, stripeWord(s), this.#tag);
  }

  /**
   * The threadId holding the stripe of this key, or -1.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` or `tradePairId` is not a non-empty
   *   string of at most 256 characters.
   */
  ownerOf(hotkey: string, tradePairId: string): number {
    const s = this.#stripeOf(hotkey, tradePairId);
    return holderOf(this.#w, stripeWord(s));
  }

  /**
   * Releases every stripe held by the thread `deadThreadId`, and wakes the waiters of EVERY
   * stripe: a thread that died between an unlock's exchange and its notify holds nothing, yet
   * left waiters asleep on a free word (mutex.ts's crash table). Only for a thread that has
   * exited (engine.watch calls it on a worker's 'exit'), whether or not it held anything.
   * Idempotent. Returns how many stripes it released.
   * @internal Recovery plumbing, called by the engine (engine.watch / engine.verify).
   */
  releaseAllOwnedBy(deadThreadId: number): number {
    return releaseLocksOwnedBy(this.#w, this.stripes, deadThreadId);
  }

  /**
   * @internal Runs `fn` holding the engine's snapshot mutex (engine.snapshot: one generation
   * switch at a time per engine, from any thread). ERR_LOCK_TIMEOUT after timeoutMs.
   */
  withSnapshotMutex<T>(fn: () => T, timeoutMs = Infinity): T {
    return withSnapshotMutex(this.#w, this.#tag, fn, timeoutMs);
  }

  /** Acquisitions, contention, waits, timeouts and recoveries of the whole engine (shared counters). */
  stats(): LockStats {
    return sumLockStats(this.#w, this.#f, this.#big, this.stripes);
  }

  #ownGuard(s: number, i: number): LockGuard {
    this.#f[stripeCounter(s, kAcquired)]!++;
    return new Guard(this.#r, s);
  }

  #enterGuard(s: number, i: number): LockGuard {
    this.#depth[s]!++;
    this.#f[stripeCounter(s, kReentered)]!++;
    return new Guard(this.#r, s);
  }

  #timed<T>(hotkey: string, tradePairId: string, run: () => T): T {
    return this.#timer.timed(run, (waitMs, holdMs) => reportSlow(this.#slow, hotkey, tradePairId, waitMs, holdMs));
  }

  #reenter<T>(s: number, i: number, fn: () => T): T {
    this.#depth[s]!++;
    this.#f[stripeCounter(s, kReentered)]!++;
    try {
      return fn();
    } finally {
      leave(this.#w, i, this.#depth, s);
    }
  }

  #acquireSlow(s: number, i: number, timeoutMs: number, what: string): void {
    const t0 = performance.now();
    if (!lockSlow(this.#w, i, this.#tag, timeoutMs)) this.#timedOut(i, timeoutMs, what);
    this.#recordWait(s, performance.now() - t0);
  }

  #recordWait(s: number, ms: number): void {
    this.#f[stripeCounter(s, kContended)]!++;
    recordWait(this.#w, this.#big, ms);
  }

  #timedOut(i: number, timeoutMs: number, what: string): never {
    countTimeout(this.#w);
    const owner = holderOf(this.#w, i);
    throw new SabStateError(
      ErrorCode.LOCK_TIMEOUT,
      `lock ${what} not acquired within ${timeoutMs} ms; held by thread ${owner === -1 ? '(none now)' : owner}`,
    );
  }
}
