/**
 * What the engine does to a ring from outside its push and pop: recover the share of a dead
 * thread (the crash table in ring.ts's header says what each step leaves and how this completes
 * or undoes it), and copy the queued messages for a snapshot with both locks held. Ring's
 * releaseAllOwnedBy and snapshotContents call these.
 */
import { ErrorCode, SabStateError } from '../../errors.ts';
import { forceRelease, isHeldBy, lockSlow, tryLock, unlock } from '../sync/mutex.ts';
import { tagOf } from '../sync/thread-tag.ts';
import { kHead, kHeadHi, kMeta, kPayloadByte, kPopLock, kPushLock, kSlot0, kTail, kTailHi, settleWrap } from './ring-layout.ts';
import { TAG_BYTES, TAG_STRING } from './ring-message.ts';
import { releaseWaiters } from './ring-wait.ts';

/** A snapshot's copy of a queue: each message's type tag and payload, oldest first. */
export type RingContents = Array<{ type: 'string' | 'bytes' | 'json'; payload: Uint8Array }>;

/**
 * Recovery of a dead thread (engine.watch, after it exited): completes or undoes the push or pop
 * it was in the middle of, releases the locks it held and its waiter slots, and wakes every
 * waiter. Returns how many locks and waiter slots it released.
 */
export function releaseRingOwnedBy(i32: Int32Array, deadThreadId: number): number {
  if (!Number.isInteger(deadThreadId) || deadThreadId < 0) return 0; // a Worker's threadId is -1 once it exited
  const tag = tagOf(deadThreadId);
  let n = 0;
  // Settle the wrap count while the dead tag still keeps live holders out of the position.
  if (isHeldBy(i32, kPushLock, tag)) {
    settleWrap(i32, kTailHi, kTail);
    if (forceRelease(i32, kPushLock, tag)) n++;
  }
  if (isHeldBy(i32, kPopLock, tag)) {
    settleWrap(i32, kHeadHi, kHead);
    if (forceRelease(i32, kPopLock, tag)) n++;
  }
  // Then its waiter slots, and wake every waiter (ring-wait.ts).
  return n + releaseWaiters(i32, tag);
}

/**
 * Every queued message, oldest first, read with BOTH locks held (push lock first, then pop lock;
 * nothing else takes both), so the queue does not move while it is copied and nothing is
 * written. ERR_LOCK_TIMEOUT after timeoutMs. `tag` is the calling thread's owner tag.
 */
export function ringContents(
  i32: Int32Array, u8: Uint8Array, mask: number, stride: number, tag: number, name: string, timeoutMs: number,
): RingContents {
  const timedOut = (): never => {
    throw new SabStateError(ErrorCode.LOCK_TIMEOUT, `queue ${JSON.stringify(name)}: its locks were not acquired within ${timeoutMs} ms for a snapshot`);
  };
  if (tryLock(i32, kPushLock, tag) !== 0 && !lockSlow(i32, kPushLock, tag, timeoutMs)) timedOut();
  try {
    if (tryLock(i32, kPopLock, tag) !== 0 && !lockSlow(i32, kPopLock, tag, timeoutMs)) timedOut();
    try {
      const out: RingContents = [];
      const t = Atomics.load(i32, kTail);
      for (let h = Atomics.load(i32, kHead); h !== t; h = (h + 1) | 0) {
        const slot = kSlot0 + (h & mask) * stride;
        const meta = i32[slot + kMeta]!;
        const from = slot * 4 + kPayloadByte;
        const type = meta & 3;
        out.push({ type: type === TAG_STRING ? 'string' : type === TAG_BYTES ? 'bytes' : 'json', payload: u8.slice(from, from + (meta >>> 2)) });
      }
      return out;
    } finally {
      unlock(i32, kPopLock);
    }
  } finally {
    unlock(i32, kPushLock);
  }
}
