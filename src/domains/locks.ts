/**
 * The lock domain: a hash-based pool of futex mutexes (src/internal/mutex.ts), one per stripe,
 * each on its own 128-byte line. A key (hotkey, trade pair) maps to stripe
 * `hashPair(seed, hotkey, tradePairId) & (stripes - 1)` (seeded: chosen hotkeys cannot pile onto
 * one stripe). Two keys on one stripe share a lock: correct, at worst a little extra waiting.
 *
 * Region layout (one SharedArrayBuffer; lines of 128 bytes = 32 Int32 slots):
 *
 * | line        | slot / view           | name          | written by                | how |
 * | ----------- | --------------------- | ------------- | ------------------------- | --- |
 * | 0           | Int32 0..31           | header        | creator, once             | plain, before sharing (region.ts) |
 * | 1           | Int32 0               | kRecoveries   | recovering thread         | Atomics.add |
 * | 1           | Int32 1               | kTimeouts     | timed-out waiter          | Atomics.add |
 * | 1           | Int32 2               | kMaxWaitUs    | contended acquirer        | CAS loop (max) |
 * | 1           | BigInt64 2            | kWaitTotalUs  | contended acquirer        | Atomics.add |
 * | 2           | Int32 0..31           | kHistogram+b  | contended acquirer        | Atomics.add: waits with floor(log2(µs)) = b |
 * | 3 + s       | Int32 0               | kState        | any thread                | Atomics only: the futex word (mutex.ts) |
 * | 3 + s       | Int32 1               | kDepth        | the owner, while holding  | plain; re-entrant depth beyond the first acquire |
 * | 3 + s       | Float64 1             | kAcquired     | the owner, while holding  | plain; acquisitions of this stripe |
 * | 3 + s       | Float64 2             | kContended    | the owner, while holding  | plain; acquisitions that had to wait |
 * | 3 + s       | Float64 3             | kReentered    | the owner, while holding  | plain; re-entrant entries |
 *
 * Publication: the plain per-stripe slots are written only by the thread that holds the stripe,
 * between the acquiring CAS and the releasing `Atomics.exchange` of kState, so the mutex itself
 * orders them (the next owner sees them). `stats()` reads them without the lock: a racy but
 * untorn-enough snapshot for monitoring (each value is one aligned 8-byte word). The stats lines 1
 * and 2 are written only on the contended path, so the uncontended path touches the stripe's own
 * line and nothing else. Their writers and the snapshot, with the slow-lock hook's timing, are in
 * src/internal/lock-stats.ts.
 *
 * Re-entrancy: a thread that holds a stripe and asks for any key on it proceeds (kDepth + 1),
 * including while a pending `withLockAsync` of the same thread holds it: mutual exclusion is
 * between threads, and between `withLockAsync` calls (which always wait for the stripe to be
 * free). Tasks of one event loop that interleave across `await` must use `withLockAsync`.
 */
import { threadId } from 'node:worker_threads';
import { ErrorCode, SabStateError, checkKey, optPowerOfTwo } from '../errors.ts';
import { type HashKey, hashPair } from '../internal/hash.ts';
import { forceRelease, kWaiters, lockAsync, lockSlow, ownerOf, tagOf, tryLock, unlock } from '../internal/mutex.ts';
import { LINE_BYTES, LINE_INTS, RegionKind, type RegionSpec, checkRegion, createRegion } from '../internal/region.ts';
import {
  type LockStats, type SlowLock, type SlowLockInfo, SlowLockTimer, countRecoveries, countTimeout, kHistLine, lockStats, recordWait, reportSlow,
  slowLockOf,
} from '../internal/lock-stats.ts';

export type { LockStats, SlowLockInfo } from '../internal/lock-stats.ts';

const kFirstStripeLine = kHistLine + 1;
const kState = 0;
const kDepth = 1;
const kAcquired = 1; // Float64 index within a stripe line
const kContended = 2;
const kReentered = 3;
const F64_PER_LINE = LINE_BYTES / 8;

export const DEFAULT_STRIPES = 4096;
/** Keys whose stripe a thread remembers (256 hotkeys x 51 trade pairs fit several times). */
const kCacheMax = 1 << 16;

export interface LockOptions {
  readonly stripes: number;
}
export interface LockHandle {
  readonly sab: SharedArrayBuffer;
  readonly stripes: number;
}
export interface LockCallOptions {
  /** Give up after this many milliseconds with ERR_LOCK_TIMEOUT. Default: wait forever. */
  readonly timeoutMs?: number;
}
/** A held lock: release() exactly once, on the thread that acquired it. */
export interface LockGuard {
  release(): void;
  [Symbol.dispose](): void;
}

export function resolveLockOptions(raw: unknown, path = 'options.lockStripes'): LockOptions {
  return { stripes: optPowerOfTwo(raw, path, DEFAULT_STRIPES, 1 << 20) };
}

function specOf(stripes: number, key: HashKey): RegionSpec {
  return { kind: RegionKind.LOCKS, key, params: [stripes] };
}

export function createLockHandle(opts: LockOptions, key: HashKey): LockHandle {
  const bytes = (kFirstStripeLine + opts.stripes) * LINE_BYTES;
  return { sab: createRegion(specOf(opts.stripes, key), bytes), stripes: opts.stripes };
}

function checkTimeout(opts: LockCallOptions | undefined): number {
  const t = opts?.timeoutMs;
  if (t === undefined) return Infinity;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) {
    throw new TypeError('options.timeoutMs must be a non-negative number');
  }
  return t;
}

/**
 * Guards of one stripe held by one thread are counted, not stacked: any release gives back one
 * level (kDepth - 1 while above zero, else the unlock), so they may be released in any order.
 */
class Guard implements LockGuard {
  readonly #w: Int32Array;
  readonly #i: number;
  readonly #tag: number;
  #released = false;
  constructor(w: Int32Array, i: number, tag: number) {
    this.#w = w;
    this.#i = i;
    this.#tag = tag;
  }
  release(): void {
    if (this.#released) throw new SabStateError(ErrorCode.LOCK_NOT_HELD, 'lock guard released twice');
    const w = this.#w;
    const i = this.#i;
    if ((Atomics.load(w, i + kState) & ~kWaiters) !== this.#tag) {
      throw new SabStateError(ErrorCode.LOCK_NOT_HELD, 'lock guard released by a thread that does not hold it');
    }
    this.#released = true;
    if (w[i + kDepth]! > 0) w[i + kDepth]!--;
    else unlock(w, i);
  }
  [Symbol.dispose](): void {
    if (!this.#released) this.release();
  }
}

function isThenable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

export class LockDomain {
  readonly #w: Int32Array;
  readonly #f: Float64Array;
  readonly #big: BigInt64Array;
  readonly #mask: number;
  readonly #key: HashKey;
  readonly #tag: number;
  readonly #cache = new Map<string, Map<string, number>>();
  #slow: SlowLock | null = null;
  readonly #timer = new SlowLockTimer();
  #cached = 0;
  readonly stripes: number;

  constructor(handle: LockHandle, key: HashKey) {
    checkRegion(handle.sab, specOf(handle.stripes, key), 'locks');
    this.#w = new Int32Array(handle.sab);
    this.#f = new Float64Array(handle.sab);
    this.#big = new BigInt64Array(handle.sab);
    this.stripes = handle.stripes;
    this.#mask = handle.stripes - 1;
    this.#key = key;
    this.#tag = tagOf(threadId);
  }

  /**
   * The stripe of a key (validated). A per-thread cache (hotkey → trade pair → stripe) skips
   * hashing and validation for keys seen before: V8 caches a string's own hash, so two Map
   * lookups cost far less than HalfSipHash over 55 characters. Bounded: cleared when full.
   */
  stripeOf(hotkey: string, tradePairId: string): number {
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
   */
  onSlowLock(hook: ((info: SlowLockInfo) => void) | null, opts: { thresholdMs?: number } = {}): void {
    this.#slow = slowLockOf(hook, opts);
  }

  /** Runs `fn` holding the stripe of (hotkey, tradePairId); releases on return or throw. */
  withLock<T>(hotkey: string, tradePairId: string, fn: () => T, opts?: LockCallOptions): T {
    if (this.#slow !== null) return this.#timed(hotkey, tradePairId, () => this.#withLock(hotkey, tradePairId, fn, opts));
    return this.#withLock(hotkey, tradePairId, fn, opts);
  }

  #withLock<T>(hotkey: string, tradePairId: string, fn: () => T, opts?: LockCallOptions): T {
    const s = this.stripeOf(hotkey, tradePairId);
    const timeoutMs = opts === undefined ? Infinity : checkTimeout(opts);
    const i = (kFirstStripeLine + s) * LINE_INTS;
    const c = tryLock(this.#w, i, this.#tag);
    if (c !== 0 && (c & ~kWaiters) === this.#tag) return this.#reenter(i, fn);
    if (c !== 0) this.#acquireSlow(s, i, timeoutMs, `(${hotkey}, ${tradePairId})`);
    this.#f[(kFirstStripeLine + s) * F64_PER_LINE + kAcquired]!++;
    if (this.#slow !== null) this.#timer.acquiredAt = performance.now();
    let out: T;
    try {
      out = fn();
    } finally {
      unlock(this.#w, i);
    }
    if (isThenable(out)) throw new TypeError('withLock: fn returned a Promise; the lock was released before it settled: use withLockAsync');
    return out;
  }

  /**
   * Like withLock, for the event-loop thread: waits with Atomics.waitAsync (never blocks the
   * loop); `fn` may be async, the stripe is held until its promise settles. Not re-entrant: a
   * nested withLockAsync on the same stripe waits for the outer one (and times out).
   */
  async withLockAsync<T>(hotkey: string, tradePairId: string, fn: () => T | Promise<T>, opts?: LockCallOptions): Promise<T> {
    const s = this.stripeOf(hotkey, tradePairId);
    const timeoutMs = checkTimeout(opts);
    const i = (kFirstStripeLine + s) * LINE_INTS;
    const t0 = performance.now();
    if (tryLock(this.#w, i, this.#tag) !== 0) {
      if (!(await lockAsync(this.#w, i, this.#tag, timeoutMs))) this.#timedOut(i, timeoutMs, `(${hotkey}, ${tradePairId})`);
      this.#recordWait(s, performance.now() - t0);
    }
    const t1 = performance.now();
    this.#f[(kFirstStripeLine + s) * F64_PER_LINE + kAcquired]!++;
    try {
      return await fn();
    } finally {
      unlock(this.#w, i);
      if (this.#slow !== null) reportSlow(this.#slow, hotkey, tradePairId, t1 - t0, performance.now() - t1);
    }
  }

  /**
   * Runs `fn` holding the stripes of every key. Stripes are taken in ascending order, each once
   * (stripes this thread already holds are entered re-entrantly), so two threads asking for the
   * same keys in any order cannot deadlock. `timeoutMs` bounds the whole acquisition.
   */
  withLocks<T>(keys: ReadonlyArray<readonly [string, string]>, fn: () => T, opts?: LockCallOptions): T {
    if (!Array.isArray(keys)) throw new TypeError('keys must be an array of [hotkey, tradePairId] pairs');
    const timeoutMs = checkTimeout(opts);
    const stripes = [...new Set(keys.map((k) => this.stripeOf(k[0], k[1])))].sort((a, b) => a - b);
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    const taken: number[] = [];
    const entered: number[] = [];
    try {
      for (const s of stripes) {
        const i = (kFirstStripeLine + s) * LINE_INTS;
        const c = tryLock(this.#w, i, this.#tag);
        if (c !== 0 && (c & ~kWaiters) === this.#tag) {
          this.#w[i + kDepth]!++;
          entered.push(i);
          continue;
        }
        if (c !== 0) {
          const left = deadline === Infinity ? Infinity : Math.max(0, deadline - performance.now());
          this.#acquireSlow(s, i, left, `stripe ${s} of withLocks`);
        }
        this.#f[(kFirstStripeLine + s) * F64_PER_LINE + kAcquired]!++;
        taken.push(i);
      }
      const out = fn();
      if (isThenable(out)) throw new TypeError('withLocks: fn returned a Promise; use withLockAsync');
      return out;
    } finally {
      for (let k = taken.length - 1; k >= 0; k--) unlock(this.#w, taken[k]!);
      for (const i of entered) this.#w[i + kDepth]!--;
    }
  }

  /**
   * Takes the lock and returns a guard; `guard.release()` (or `using` via Symbol.dispose) gives
   * it back. For code whose critical section does not fit a callback. Re-entrant like withLock.
   */
  acquire(hotkey: string, tradePairId: string, opts?: LockCallOptions): LockGuard {
    const s = this.stripeOf(hotkey, tradePairId);
    const timeoutMs = checkTimeout(opts);
    const i = (kFirstStripeLine + s) * LINE_INTS;
    const c = tryLock(this.#w, i, this.#tag);
    if (c !== 0 && (c & ~kWaiters) === this.#tag) return this.#enterGuard(i);
    if (c !== 0) this.#acquireSlow(s, i, timeoutMs, `(${hotkey}, ${tradePairId})`);
    return this.#ownGuard(s, i);
  }

  /** One attempt, never waits: a guard, or null if another thread holds the stripe. */
  tryAcquire(hotkey: string, tradePairId: string): LockGuard | null {
    const s = this.stripeOf(hotkey, tradePairId);
    const i = (kFirstStripeLine + s) * LINE_INTS;
    const c = tryLock(this.#w, i, this.#tag);
    if (c === 0) return this.#ownGuard(s, i);
    return (c & ~kWaiters) === this.#tag ? this.#enterGuard(i) : null;
  }

  /** True if some thread (any) holds the stripe of this key right now. */
  isHeld(hotkey: string, tradePairId: string): boolean {
    const s = this.stripeOf(hotkey, tradePairId);
    return Atomics.load(this.#w, (kFirstStripeLine + s) * LINE_INTS + kState) !== 0;
  }

  /** True if the calling thread holds the stripe of this key. */
  isHeldByCurrentThread(hotkey: string, tradePairId: string): boolean {
    const s = this.stripeOf(hotkey, tradePairId);
    return (Atomics.load(this.#w, (kFirstStripeLine + s) * LINE_INTS + kState) & ~kWaiters) === this.#tag;
  }

  /** The threadId holding the stripe of this key, or -1. */
  ownerOf(hotkey: string, tradePairId: string): number {
    const s = this.stripeOf(hotkey, tradePairId);
    return ownerOf(Atomics.load(this.#w, (kFirstStripeLine + s) * LINE_INTS + kState));
  }

  /**
   * Releases every stripe held by the thread `deadThreadId` and wakes its waiters. Only for a
   * thread that has exited (engine.watch calls it on a worker's 'exit'). Returns how many.
   */
  releaseAllOwnedBy(deadThreadId: number): number {
    const tag = tagOf(deadThreadId);
    let n = 0;
    for (let s = 0; s < this.stripes; s++) {
      const i = (kFirstStripeLine + s) * LINE_INTS;
      if (forceRelease(this.#w, i, tag)) {
        this.#w[i + kDepth] = 0;
        n++;
      }
    }
    if (n) countRecoveries(this.#w, n);
    return n;
  }

  stats(): LockStats {
    let acquisitions = 0;
    let contended = 0;
    let reentered = 0;
    let held = 0;
    for (let s = 0; s < this.stripes; s++) {
      const f = (kFirstStripeLine + s) * F64_PER_LINE;
      acquisitions += this.#f[f + kAcquired]!;
      contended += this.#f[f + kContended]!;
      reentered += this.#f[f + kReentered]!;
      if (Atomics.load(this.#w, (kFirstStripeLine + s) * LINE_INTS + kState) !== 0) held++;
    }
    return lockStats(this.#w, this.#big, { stripes: this.stripes, acquisitions, contended, reentered, held });
  }

  #ownGuard(s: number, i: number): LockGuard {
    this.#f[(kFirstStripeLine + s) * F64_PER_LINE + kAcquired]!++;
    return this.#guard(i);
  }

  #enterGuard(i: number): LockGuard {
    this.#w[i + kDepth]!++;
    this.#f[(i / LINE_INTS) * F64_PER_LINE + kReentered]!++;
    return this.#guard(i);
  }

  #guard(i: number): LockGuard {
    return new Guard(this.#w, i, this.#tag);
  }

  #timed<T>(hotkey: string, tradePairId: string, run: () => T): T {
    return this.#timer.timed(run, (waitMs, holdMs) => reportSlow(this.#slow, hotkey, tradePairId, waitMs, holdMs));
  }

  #reenter<T>(i: number, fn: () => T): T {
    this.#w[i + kDepth]!++;
    this.#f[(i / LINE_INTS) * F64_PER_LINE + kReentered]!++;
    try {
      return fn();
    } finally {
      this.#w[i + kDepth]!--;
    }
  }

  #acquireSlow(s: number, i: number, timeoutMs: number, what: string): void {
    const t0 = performance.now();
    if (!lockSlow(this.#w, i, this.#tag, timeoutMs)) this.#timedOut(i, timeoutMs, what);
    this.#recordWait(s, performance.now() - t0);
  }

  #recordWait(s: number, ms: number): void {
    this.#f[(kFirstStripeLine + s) * F64_PER_LINE + kContended]!++;
    recordWait(this.#w, this.#big, ms);
  }

  #timedOut(i: number, timeoutMs: number, what: string): never {
    countTimeout(this.#w);
    const owner = ownerOf(Atomics.load(this.#w, i + kState));
    throw new SabStateError(
      ErrorCode.LOCK_TIMEOUT,
      `lock ${what} not acquired within ${timeoutMs} ms; held by thread ${owner === -1 ? '(none now)' : owner}`,
    );
  }
}
