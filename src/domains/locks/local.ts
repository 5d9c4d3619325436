/**
 * The lock domain's thread-private side (locks.ts uses it; nothing here is shared memory): the
 * per-call arguments' checks, this thread's view of a lock region with its re-entrancy depth and
 * acquisition generations (LocalView), and the guards acquire / tryAcquire return. The stripe
 * word itself is only read through mutex.ts (isHeldBy, unlock).
 */
import { threadId } from 'node:worker_threads';
import { ErrorCode, SabStateError, checkKey, describe } from '../../errors.ts';
import { callOptions, optTimeoutMs } from '../../options.ts';
import { isHeldBy, unlock } from '../../internal/sync/mutex.ts';
import { tagOf } from '../../internal/sync/thread-tag.ts';
import { stripeWord } from './layout.ts';

/** Options of one lock call. */
export interface LockCallOptions {
  /** Give up after this many milliseconds with ERR_LOCK_TIMEOUT. Default: wait forever. */
  readonly timeoutMs?: number;
}
/** A held lock: release() exactly once, on the thread that acquired it. */
export interface LockGuard {
  /**
   * Gives the lock back.
   * @throws {@link SabStateError} `ERR_LOCK_NOT_HELD` if this thread no longer holds it (released
   *   twice, or it ended with an enclosing withLock that took the stripe).
   */
  release(): void;
  /**
   * The same as release(), for `using`.
   * @throws {@link SabStateError} `ERR_LOCK_NOT_HELD` as release().
   */
  [Symbol.dispose](): void;
}

export function checkTimeout(opts: LockCallOptions | undefined): number {
  if (opts === undefined) return Infinity;
  return optTimeoutMs(callOptions(opts, 'options', ['timeoutMs']).timeoutMs, 'options.timeoutMs');
}

/** Checks withLocks' keys before any shared step: an array of [hotkey, tradePairId] pairs, no holes. */
export function checkPairs(keys: unknown): ReadonlyArray<readonly [string, string]> {
  if (!Array.isArray(keys)) throw new SabStateError(ErrorCode.INVALID_KEY, `keys must be an array of [hotkey, tradePairId] pairs, got ${describe(keys)}`);
  for (let k = 0; k < keys.length; k++) {
    // An index loop with `in`: a hole (new Array(n), [, pair]) is refused, not read as undefined.
    const pair: unknown = k in keys ? keys[k] : undefined;
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new SabStateError(ErrorCode.INVALID_KEY, `keys[${k}] must be a [hotkey, tradePairId] pair, got ${k in keys ? describe(pair) : 'a hole'}`);
    }
    checkKey(pair[0], `keys[${k}][0] (hotkey)`);
    checkKey(pair[1], `keys[${k}][1] (tradePairId)`);
  }
  return keys as ReadonlyArray<readonly [string, string]>;
}

/**
 * This thread's view of one lock region, with its re-entrancy state (thread-private, never
 * shared): depth[s] is the number of levels it holds on stripe s beyond the first (0 whenever it
 * does not hold s); gen[s] names the current acquisition for guards, bumped when an acquisition
 * ends with levels still open (leaked guards), which makes those guards stale. One per region per
 * thread (keyed by the SharedArrayBuffer), shared by every LockDomain of the thread on those
 * buffers, and by its guards (a guard is then four fields: this, its stripe, gen, released).
 */
export class LocalView {
  readonly w: Int32Array;
  readonly tag: number;
  readonly depth: Int32Array;
  readonly gen: Int32Array;
  constructor(sab: SharedArrayBuffer, stripes: number) {
    this.w = new Int32Array(sab);
    this.tag = tagOf(threadId);
    this.depth = new Int32Array(stripes);
    this.gen = new Int32Array(stripes);
  }
}
const localViews = new WeakMap<SharedArrayBuffer, LocalView>();

export function localViewOf(sab: SharedArrayBuffer, stripes: number): LocalView {
  let r = localViews.get(sab);
  if (r === undefined) localViews.set(sab, (r = new LocalView(sab, stripes)));
  return r;
}

/** Gives back one level of stripe s (line offset i), held by this thread: the last one unlocks. */
export function leave(w: Int32Array, i: number, depth: Int32Array, s: number): void {
  if (depth[s]! > 0) depth[s]!--;
  else unlock(w, i);
}

/** Levels still open when the frame that took stripe s ends: they end with it (guards go stale). */
export function dropOpenLevels(depth: Int32Array, gen: Int32Array, s: number): void {
  depth[s] = 0;
  gen[s]!++;
}

/**
 * Guards of one stripe held by one thread are counted, not stacked: any release gives back one
 * level, so they may be released in any order. A guard belongs to one acquisition (gen).
 */
export class Guard implements LockGuard {
  readonly #r: LocalView;
  readonly #s: number;
  readonly #gen: number;
  #released = false;
  constructor(r: LocalView, s: number) {
    this.#r = r;
    this.#s = s;
    this.#gen = r.gen[s]!;
  }
  release(): void {
    if (this.#released) throw new SabStateError(ErrorCode.LOCK_NOT_HELD, 'lock guard released twice');
    const r = this.#r;
    const s = this.#s;
    if (r.gen[s] !== this.#gen) {
      throw new SabStateError(
        ErrorCode.LOCK_NOT_HELD,
        'lock guard of an acquisition that has ended (the withLock, withLocks or withLockAsync that took the stripe returned first)',
      );
    }
    const i = stripeWord(s);
    if (!isHeldBy(r.w, i, r.tag)) {
      throw new SabStateError(ErrorCode.LOCK_NOT_HELD, 'lock guard released by a thread that does not hold it');
    }
    this.#released = true;
    leave(r.w, i, r.depth, s);
  }
  [Symbol.dispose](): void {
    if (!this.#released) this.release();
  }
}

export function isThenable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
