/**
 * What the engine does to the lock region from outside withLock: recover the stripes of a dead
 * thread (the crash table in locks.ts's header says what an unlock left half done leaves, and
 * this completes it), hold the engine's snapshot mutex, and sum the per-stripe counters for
 * stats. LockDomain's releaseAllOwnedBy, withSnapshotMutex and stats call these with its views.
 */
import { crashPoint } from '../../internal/crash.ts';
import { ErrorCode, SabStateError } from '../../errors.ts';
import { forceRelease, holderOf, lockSlow, tryLock, unlock, wakeWaiters, wordHeldBy } from '../../internal/sync/mutex.ts';
import { tagOf } from '../../internal/sync/thread-tag.ts';
import { kAcquired, kContended, kReentered, kSnapshotMutex, stripeCounter, stripeWord } from './layout.ts';
import { type LockStats, countRecoveries, lockStats } from './lock-stats.ts';

/**
 * Releases every stripe the thread `deadThreadId` held, and wakes the waiters of every stripe
 * and of the snapshot mutex. Returns how many it released.
 */
export function releaseLocksOwnedBy(w: Int32Array, stripes: number, deadThreadId: number): number {
  const tag = tagOf(deadThreadId);
  let n = 0;
  for (let s = 0; s < stripes; s++) {
    const i = stripeWord(s);
    if (forceRelease(w, i, tag)) {
      // freed, its waiters woken; the dead thread's depth was private and died with it
      crashPoint('locks.recover.freed');
      n++;
    } else {
      wakeWaiters(w, i);
    }
  }
  if (forceRelease(w, kSnapshotMutex, tag)) n++;
  else wakeWaiters(w, kSnapshotMutex);
  if (n) countRecoveries(w, n);
  return n;
}

/** Runs `fn` holding the snapshot mutex as `tag`; ERR_LOCK_TIMEOUT after timeoutMs, or at once if `tag` holds it. */
export function withSnapshotMutex<T>(w: Int32Array, tag: number, fn: () => T, timeoutMs: number): T {
  const c = tryLock(w, kSnapshotMutex, tag);
  if (c !== 0) {
    if (wordHeldBy(c, tag)) throw new SabStateError(ErrorCode.LOCK_TIMEOUT, 'engine.snapshot called inside a snapshot of the same thread');
    if (!lockSlow(w, kSnapshotMutex, tag, timeoutMs)) {
      throw new SabStateError(ErrorCode.LOCK_TIMEOUT, `the snapshot mutex was not acquired within ${timeoutMs} ms (another snapshot of this engine is running)`);
    }
  }
  try {
    return fn();
  } finally {
    unlock(w, kSnapshotMutex);
  }
}

/** The per-stripe counters summed, with the region's shared ones (lock-stats.ts). */
export function sumLockStats(w: Int32Array, f: Float64Array, big: BigInt64Array, stripes: number): LockStats {
  let acquisitions = 0;
  let contended = 0;
  let reentered = 0;
  let held = 0;
  for (let s = 0; s < stripes; s++) {
    acquisitions += f[stripeCounter(s, kAcquired)]!;
    contended += f[stripeCounter(s, kContended)]!;
    reentered += f[stripeCounter(s, kReentered)]!;
    if (holderOf(w, stripeWord(s)) !== -1) held++;
  }
  return lockStats(w, big, { stripes, acquisitions, contended, reentered, held });
}
