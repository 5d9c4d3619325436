/**
 * What both AsyncEngine implementations share for withLocks and lock guards: the check of a
 * withLocks key list (every key checked before any lock is taken: refused means unchanged) and
 * the guard object (released exactly once); the bound of a queue's popMany batch; and a
 * write's `release` option as the SharedArrayBuffer adapter passes it on.
 */
import { ErrorCode, SabStateError, checkFunction, checkKey } from '../errors.ts';
import type { AsyncLockContext, AsyncLockGuard, AsyncWriteOptions } from './types.ts';

/** Checks withLocks' arguments; throws before any lock is taken. */
export function checkLockPairs(keys: unknown, fn: unknown): asserts keys is ReadonlyArray<readonly [string, string]> {
  if (!Array.isArray(keys)) throw new TypeError('withLocks: keys must be an array of [hotkey, tradePairId] pairs');
  for (let i = 0; i < keys.length; i++) {
    const k: unknown = keys[i];
    if (!Array.isArray(k) || k.length !== 2) throw new TypeError(`withLocks: keys[${i}] must be a [hotkey, tradePairId] pair`);
    checkKey(k[0], `keys[${i}][0]`);
    checkKey(k[1], `keys[${i}][1]`);
  }
  checkFunction(fn, 'withLocks: fn');
}

/** A guard whose release() runs `free` once; a second release() rejects, a second dispose does nothing. */
export function makeGuard(free: () => Promise<void>): AsyncLockGuard {
  let released = false;
  return {
    release() {
      if (released) return Promise.reject(new SabStateError(ErrorCode.LOCK_NOT_HELD, 'release: this guard was released already'));
      released = true;
      return free();
    },
    [Symbol.asyncDispose]() {
      if (released) return Promise.resolve();
      released = true;
      return free();
    },
  };
}

/** The largest batch of `queue.popMany(max)` (both backends). */
export const POP_MANY_MAX = 4096;

/** `max` of popMany, checked at the boundary. */
export function checkPopMax(max: unknown): number {
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > POP_MANY_MAX) {
    throw new RangeError(`max must be an integer from 1 to ${POP_MANY_MAX}, got ${String(max)}`);
  }
  return max;
}

/**
 * A write's options as the SharedArrayBuffer engine takes them: `release` checked (a boolean) and
 * left out, since the stripe is released when withLock's fn returns (types.ts AsyncWriteOptions);
 * `lock` checked (a lock context) and left out (the stripe is the thread's).
 */
export function withoutRelease(opts: AsyncWriteOptions | undefined): { ifEpoch?: number } | undefined {
  if (typeof opts !== 'object' || opts === null || !('release' in opts || 'lock' in opts || 'push' in opts)) return opts;
  const { release, lock, push, ...rest } = opts;
  checkPush(push);
  if (release !== undefined && typeof release !== 'boolean') throw new TypeError('options.release must be a boolean');
  checkLockContext(lock);
  return rest;
}

/** The lock context the SharedArrayBuffer adapter passes to withLock's fn: it carries nothing (the stripe is the thread's). */
export const SAB_LOCK_CONTEXT: AsyncLockContext = Object.freeze({ asyncLockContext: true as const });

/** `options.lock`: undefined or a lock context (what withLock passed to fn). */
export function checkLockContext(lock: unknown): void {
  if (lock !== undefined && (typeof lock !== 'object' || lock === null || (lock as { asyncLockContext?: unknown }).asyncLockContext !== true)) {
    throw new TypeError('options.lock must be the lock context that withLock passed to fn');
  }
}

/** Options without `lock` (checked), for the SharedArrayBuffer engine's calls, which know no such option. */
export function withoutLock<O extends object>(opts: (O & { lock?: unknown }) | undefined): O | undefined {
  if (typeof opts !== 'object' || opts === null || !('lock' in opts)) return opts;
  const { lock, ...rest } = opts;
  checkLockContext(lock);
  return rest as unknown as O;
}

/** A write's `options.push`: undefined or `{ queue, message }` (the queue's name checked by its engine). */
export function checkPush(push: unknown): { queue: string; message: unknown } | undefined {
  if (push === undefined) return undefined;
  if (typeof push !== 'object' || push === null || typeof (push as { queue?: unknown }).queue !== 'string' || !('message' in push)) {
    throw new TypeError('options.push must be { queue: name, message }');
  }
  return push as { queue: string; message: unknown };
}
