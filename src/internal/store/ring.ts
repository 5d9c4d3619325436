/**
 * A named bounded MPMC queue: a two-lock bounded ring (Michael & Scott's two-lock queue, "Simple,
 * Fast, and Practical Non-Blocking and Blocking Concurrent Queue Algorithms", 1996, on an array),
 * one SharedArrayBuffer region per queue, messages copied into the slots.
 *
 * Algorithm. Positions `tail` (next push) and `head` (next pop) only grow; the message pushed at
 * position p lives in slot `p & mask`; the queue holds the messages at head .. tail - 1. Producers
 * take the push lock, consumers the pop lock (futex mutexes of mutex.ts, the owner's thread tag in
 * the word), so each position has one writer at a time:
 *   push: lock; t = tail; full if t - head == capacity (head read while tail is ours: a true
 *         answer); else write the payload into slot t; Atomics.store(tail, t + 1) publishes it;
 *         unlock; wake consumers only if one announced waiting.
 *   pop:  lock; h = head; empty if h == tail (tail read while head is ours: a true answer); else
 *         copy the payload out AND decode it into private memory; Atomics.store(head, h + 1)
 *         hands the slot back to producers; unlock.
 * Each operation takes effect (is linearized) at one atomic step: a push at its tail store, a pop
 * at its head store, a refused push at its head load, an empty pop at its tail load, `size` at
 * the tail load of a double collect (head, tail, head again: equal heads mean head had that value
 * when tail was read). So `push` false means full and `pop` undefined means empty at that instant,
 * even while another thread is stalled mid-operation: a stalled push or pop has not taken effect
 * yet, and a peer that needs the lock it holds waits (spin, then sleep) instead of answering. Two
 * exceptions that are also true answers: a push that finds the lock busy returns false at once if
 * a double collect says full, a pop that finds it busy returns EMPTY at once if it says empty.
 * A pop never lets a message go before it is wholly in the caller's thread: an exception while
 * copying or decoding (allocation failure) leaves the message in the queue and the lock free.
 *
 * Positions are Int32 and wrap modulo 2^32; every comparison is the signed difference
 * `(a - b) | 0`, exact while |a - b| < 2^31 (capacity is at most 2^24). The capacity is a power of
 * two so that `pos & mask` stays right across the 2^32 wrap. Each side keeps a cached copy of the
 * other side's position on its own line (kHeadSeen, kTailSeen: written only under that side's
 * lock, never ahead of the real one), so a push reads the consumers' line only when the cached
 * head says full and a pop reads the producers' line only when the cached tail says empty.
 * Wrap counts for stats: kTailHi / kHeadHi is twice the number of wraps, plus 1 while the
 * wrapping operation is between its two steps (see the crash table): pushes = (hi >> 1) * 2^32 +
 * tail, with an odd hi counting the wrap once tail is 0.
 *
 * Region (after the 128-byte header, whose params are [capacity, maxMessageBytes, RING_LAYOUT]).
 * Line 1 is what consumers read on their fast path (kTail), written once per push; the push lock
 * lives on line 3 with the words producers read after every push (kWaiters), so that a consumer
 * polling kTail does not pull the line that producers lock and unlock twice per push.
 *
 * | slot          | line | written by                 | how                    | publishes / meaning |
 * | ------------- | ---- | -------------------------- | ---------------------- | ------------------- |
 * | kTail         | 1    | the push lock holder       | Atomics.store          | publishes slot tail - 1 (meta and payload) |
 * | kTailHi       | 1    | the push lock holder; recovery | Atomics.add / store | 2 x tail wraps (+1 mid-wrap) |
 * | kHeadSeen     | 1    | the push lock holder       | plain (under the lock) | a head value read earlier; <= head |
 * | kPopLock      | 2    | consumers; recovery        | mutex.ts (CAS / exchange) | the pop lock, owner tag in the word |
 * | kHead         | 2    | the pop lock holder        | Atomics.store          | hands slot head - 1 back to producers |
 * | kHeadHi       | 2    | the pop lock holder; recovery | Atomics.add / store | 2 x head wraps (+1 mid-wrap) |
 * | kTailSeen     | 2    | the pop lock holder        | plain (under the lock) | a tail value read earlier; <= tail |
 * | kEmpty        | 2    | consumers returning undefined | Atomics.add         | stats only |
 * | kPushLock     | 3    | producers; recovery        | mutex.ts (CAS / exchange) | the push lock, owner tag in the word |
 * | kFull         | 3    | producers refused          | Atomics.add            | stats only |
 * | kWaiters      | 3    | waiting consumers; recovery | Atomics.or / and      | bit i: waiter slot i is announced |
 * | kSignal       | 3    | producers if kWaiters != 0; recovery | Atomics.add  | the futex word consumers wait on |
 * | kWaits        | 3    | waiting consumers          | Atomics.add            | stats: blocking waits entered |
 * | kWaiterTag+i  | 3    | a waiting consumer; recovery | Atomics CAS / store  | owner tag of waiter slot i (0: free) |
 * | slot + kMeta  | slot | the push lock holder       | plain                  | length * 4 + type tag, published by kTail |
 * | slot payload  | slot | the push lock holder       | plain (Uint8Array.set) | published by kTail |
 *
 * Ordering (every Atomics operation is sequentially consistent, one total order):
 * - The producer's plain writes of kMeta and the payload come before its Atomics.store of kTail;
 *   a consumer reads them only after an Atomics.load of kTail saw that value, itself or through
 *   kTailSeen written by an earlier pop lock holder (the lock's unlock exchange / lock CAS carry
 *   that load's knowledge to the next holder). The tail store publishes the payload.
 * - The consumer's plain reads of the slot come before its Atomics.store of kHead; a producer
 *   writes the slot again only after an Atomics.load of kHead (directly or through kHeadSeen)
 *   saw a head past it. So a slot is never written while it is being read.
 * - Plain words under a lock (kHeadSeen, kTailSeen) are published to the next holder by the
 *   unlock's Atomics.exchange and the lock's Atomics.compareExchange.
 *
 * Waking consumers without a notify per push. A consumer that found the queue empty and wants to
 * wait (C1) claims a waiter slot i (CAS of kWaiterTag + i from 0 to its tag), then sets bit i of
 * kWaiters (Atomics.or); then, in a loop, (C2) s = Atomics.load(kSignal); (C3) pops, which loads
 * kTail before answering empty; (C4) Atomics.wait(kSignal, s). A producer, after (P1) its kTail
 * store and its unlock, does (P2) Atomics.load(kWaiters) and only if it is not 0: (P3)
 * Atomics.add(kSignal, 1) and Atomics.notify(kSignal) (all waiters). No lost wakeup: if P2
 * precedes C1's Atomics.or, then P1 < C1 < C3 and C3's tail load sees the message (or another
 * consumer took it). Otherwise the producer bumps kSignal: if that bump precedes C2, then P1 < C2
 * < C3 and C3 sees the message; else C4's Atomics.wait either finds kSignal != s and returns, or
 * was already asleep and is woken by the notify. Notify wakes ALL waiters: with "one" the woken
 * consumer could lose the race for the message to a spinning one and sleep again while another
 * waiter still had a message to take. Waiter slots, not a count, so that recovery can withdraw a
 * dead waiter's announcement (a count could not tell whose it is). With all MAX_ANNOUNCED slots
 * taken a consumer waits unannounced, re-checking every POLL_MS. A pending Atomics.waitAsync does
 * not keep Node's event loop alive, so popAsync holds a ref'ed interval while it waits.
 *
 * CRASH TABLE. A thread may die right after any step (worker.terminate(), process.exit()); an
 * exception thrown inside a lock releases it (try / finally) and leaves the state of the last
 * completed step. `releaseAllOwnedBy(deadThreadId)` (engine.watch) then: for a lock whose word
 * holds the dead tag, settles a half-done wrap count (odd hi: tail / head already 0 -> counted,
 * hi + 1; else -> not, hi - 1), then force-releases the lock; clears the dead thread's waiter
 * slots and their kWaiters bits; and wakes every waiter of the push lock, the pop lock and
 * kSignal (Atomics.add(kSignal) + notify all), since the dead thread may have published a message
 * without signalling, or have died between a wake-up and its next step on a lock word (mutex.ts's
 * crash table). No per-thread registry entry is needed: the owner tag in a lock word or a waiter
 * slot says who is mid-operation, and the positions (and an odd hi) say how far it got.
 *
 * | crash point             | after the step                 | the dead thread leaves          | recovery / outcome |
 * | ----------------------- | ------------------------------ | ------------------------------- | ------------------ |
 * | ring.push.locked        | push lock taken (CAS)          | lock held, nothing written      | release: the push never happened |
 * | ring.push.fullCounted   | refused: kFull + 1             | lock held, queue unchanged      | release: a refused push (full was true) |
 * | ring.push.written       | meta + payload in slot tail    | lock held, bytes past the tail  | release: never happened (unpublished bytes are overwritten by the next push) |
 * | ring.push.wrapMarked    | kTailHi odd (only at tail -1)  | lock held, tail still -1        | hi - 1, release: never happened |
 * | ring.push.published     | Atomics.store(kTail, t + 1)    | lock held, message in the queue | (hi + 1 if odd), release: the push happened |
 * | ring.push.wrapCounted   | kTailHi even again             | lock held, message in the queue | release: the push happened |
 * | ring.push.unlocked      | push lock released             | message in, waiters not woken   | wake every waiter |
 * | ring.push.signalled     | Atomics.add(kSignal) (P3)      | waiters not yet notified        | notify every waiter |
 * | ring.pop.locked         | pop lock taken (CAS)           | lock held, nothing taken        | release: the pop never happened |
 * | ring.pop.copied         | message decoded (in place) or copied | lock held, message still queued | release: never happened, the message stays |
 * | ring.pop.wrapMarked     | kHeadHi odd (only at head -1)  | lock held, head still -1        | hi - 1, release: never happened |
 * | ring.pop.released       | Atomics.store(kHead, h + 1)    | lock held, message gone         | (hi + 1 if odd), release: the pop happened (its message went with the dead thread) |
 * | ring.pop.wrapCounted    | kHeadHi even again             | lock held, message gone         | release: the pop happened |
 * | ring.wait.slotClaimed   | kWaiterTag + i = tag (C1, CAS) | a waiter slot, bit not set      | free the slot |
 * | ring.wait.announced     | kWaiters bit i set (C1)        | an announced waiter             | clear the bit, free the slot |
 * | ring.wait.withdrawn     | kWaiters bit i cleared         | the slot still claimed          | free the slot |
 * After the pop lock's release (its last step) a pop leaves nothing; a pop that returns undefined
 * bumps kEmpty after it (stats only). A thread that dies while waiting for a lock or on kSignal
 * leaves only its waiter slot, if any (and perhaps a waiters bit in a lock word: a spurious notify).
 */
import { threadId } from 'node:worker_threads';
import { crashPoint, declareCrashPoints } from '../crash.ts';
import type { HashKey } from '../hash/hash.ts';
import { lockAsync, lockSlow, tryLock, unlock } from '../sync/mutex.ts';
import { tagOf } from '../sync/thread-tag.ts';
import { checkRegion } from '../region.ts';
import { ErrorCode, SabStateError } from '../../errors.ts';
import { popTimeout } from './queue.ts';
import type { PopOptions, Queue, RingMessage, RingStats } from './queue.ts';
import {
  count, kEmpty, kFull, kHead, kHeadHi, kHeadSeen, kMeta, kPayloadByte, kPopLock, kPushLock, kSignal, kSlot0,
  kTail, kTailHi, kTailSeen, kWaiters, kWaits, ringRegionBytes, ringSlotBytes, ringSpec,
} from './ring-layout.ts';
import { RingMessages } from './ring-message.ts';
import { EMPTY, RingWaiting, countEmpty } from './ring-wait.ts';
import { releaseRingOwnedBy, ringContents } from './ring-engine.ts';
import type { RingContents } from './ring-engine.ts';

declareCrashPoints('ring', [
  'ring.push.locked', 'ring.push.fullCounted', 'ring.push.written', 'ring.push.wrapMarked', 'ring.push.published',
  'ring.push.wrapCounted', 'ring.push.unlocked', 'ring.push.signalled',
  'ring.pop.locked', 'ring.pop.copied', 'ring.pop.wrapMarked', 'ring.pop.released', 'ring.pop.wrapCounted',
  'ring.wait.slotClaimed', 'ring.wait.announced', 'ring.wait.withdrawn',
]);

/** Loads of a busy lock word before waiting the mutex's way (spin, then sleep): about 1 µs. */
const LOCK_SPIN = 512;
/** The pop lock is held by another consumer and the queue is not empty: wait for the lock. */
const BUSY: unique symbol = Symbol('busy');

/** The queue's structure (Vyukov's bounded MPMC ring, the header above): built by the general domain. */
export class Ring<T = RingMessage> implements Queue<T> {
  readonly name: string;
  readonly capacity: number;
  readonly maxMessageBytes: number;
  #i32: Int32Array;
  #u8: Uint8Array;
  /** capacity - 1, and the slot stride in Int32 units. */
  #mask: number;
  #stride: number;
  /** This thread's owner tag in lock words and waiter slots. */
  #tag = tagOf(threadId);
  /** Messages to and from bytes, in private memory (ring-message.ts). */
  #msgs: RingMessages;
  /** The blocking pops (ring-wait.ts). */
  #waiting: RingWaiting;

  /** Attaches to a ring region; throws ERR_LAYOUT_MISMATCH unless it is exactly this ring. */
  constructor(sab: unknown, key: HashKey, name: string, capacity: number, maxMessageBytes: number) {
    const region = checkRegion(sab, ringSpec(key, capacity, maxMessageBytes), `queue ${JSON.stringify(name)}`);
    if (region.byteLength !== ringRegionBytes(capacity, maxMessageBytes)) {
      throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `queue ${JSON.stringify(name)}: region of ${region.byteLength} bytes`);
    }
    this.name = name;
    this.capacity = capacity;
    this.maxMessageBytes = maxMessageBytes;
    this.#i32 = new Int32Array(region);
    this.#u8 = new Uint8Array(region);
    this.#mask = capacity - 1;
    this.#stride = ringSlotBytes(maxMessageBytes) >> 2;
    this.#msgs = new RingMessages(name, maxMessageBytes);
    this.#waiting = new RingWaiting(this.#i32, this.#tag, (ms) => this.#take(ms), (ms) => this.#takeAsync(ms));
  }

  /** Messages in the queue (linearizable: a double collect, see the header). */
  get size(): number {
    const i32 = this.#i32;
    for (;;) {
      const h = Atomics.load(i32, kHead);
      const t = Atomics.load(i32, kTail);
      if (Atomics.load(i32, kHead) === h) return (t - h) | 0;
    }
  }

  /**
   * Pushes a message; false only when the queue is full (state unchanged). Waits (spin, then
   * sleep) for a producer stalled mid-push. Throws ERR_VALUE_TOO_LARGE when its encoding exceeds
   * maxMessageBytes, ERR_INVALID_VALUE when it is not JSON, a string or bytes; both before
   * touching the queue.
   * @throws {@link SabStateError} `ERR_VALUE_TOO_LARGE` if the encoded message exceeds the queue's
   *   `maxMessageBytes`.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` if the codec cannot encode `msg`.
   */
  push(msg: T): boolean {
    // Encoded (and checked) before touching the queue; may alias private scratch: copied below.
    const bytes = this.#msgs.encode(msg);
    const tag = this.#msgs.tag;
    const i32 = this.#i32;
    if (tryLock(i32, kPushLock, this.#tag) !== 0 && !this.#lockPushSlow()) return this.#refuse();
    try {
      crashPoint('ring.push.locked');
      const t = Atomics.load(i32, kTail);
      if (((t - i32[kHeadSeen]!) | 0) >= this.capacity) {
        const h = Atomics.load(i32, kHead); // full if still so: tail is ours, so a true answer
        i32[kHeadSeen] = h;
        if (((t - h) | 0) >= this.capacity) {
          Atomics.add(i32, kFull, 1);
          crashPoint('ring.push.fullCounted');
          return false;
        }
      }
      const slot = kSlot0 + (t & this.#mask) * this.#stride;
      i32[slot + kMeta] = bytes.length * 4 + tag;
      this.#u8.set(bytes, slot * 4 + kPayloadByte);
      crashPoint('ring.push.written');
      const next = (t + 1) | 0;
      if (next === 0) {
        Atomics.add(i32, kTailHi, 1);
        crashPoint('ring.push.wrapMarked');
      }
      // Publish: the plain writes above become visible to the consumer that loads this tail.
      Atomics.store(i32, kTail, next);
      crashPoint('ring.push.published');
      if (next === 0) {
        Atomics.add(i32, kTailHi, 1);
        crashPoint('ring.push.wrapCounted');
      }
    } finally {
      unlock(i32, kPushLock);
    }
    crashPoint('ring.push.unlocked');
    if (Atomics.load(i32, kWaiters) !== 0) {
      Atomics.add(i32, kSignal, 1);
      crashPoint('ring.push.signalled');
      Atomics.notify(i32, kSignal);
    }
    return true;
  }

  /**
   * Pops a message; undefined only when the queue is empty (and stayed so for timeoutMs, default
   * 0: no wait for a message), or timeoutMs ran out waiting for a consumer stalled mid-pop.
   * @throws TypeError or RangeError if `options` is malformed (state unchanged).
   */
  pop(options?: PopOptions): T | undefined {
    const t = popTimeout(options, 0);
    if (t !== 0) {
      const v = this.#takeNow();
      return (v === EMPTY || v === BUSY ? this.#waiting.popSlow(t) : v) as T | undefined;
    }
    const v = this.#take(Infinity);
    return (v === EMPTY ? countEmpty(this.#i32) : v) as T | undefined;
  }

  /**
   * Pops a message, waiting with Atomics.waitAsync (never blocks the thread); default no timeout.
   * @throws (the promise rejects) TypeError or RangeError if `options` is malformed.
   */
  popAsync(options?: PopOptions): Promise<T | undefined> {
    let t: number;
    try {
      t = popTimeout(options, Infinity);
    } catch (e) {
      return Promise.reject(e);
    }
    const v = this.#takeNow();
    if (v === EMPTY) return (t === 0 ? Promise.resolve(countEmpty(this.#i32)) : this.#waiting.popAsyncSlow(t)) as Promise<T | undefined>;
    return (v === BUSY ? this.#waiting.popAsyncSlow(t) : Promise.resolve(v)) as Promise<T | undefined>;
  }

  /** Pushes, pops, full and empty answers, waits, and the size now (shared counters). */
  stats(): RingStats {
    const a = this.#i32;
    const { capacity, maxMessageBytes, size } = this;
    const [full, empty, waits] = [kFull, kEmpty, kWaits].map((k) => Atomics.load(a, k) >>> 0) as [number, number, number];
    let waiting = 0;
    for (let w = Atomics.load(a, kWaiters); w !== 0; w &= w - 1) waiting++;
    return { capacity, maxMessageBytes, size, pushes: count(a, kTailHi, kTail), pops: count(a, kHeadHi, kHead), full, empty, waits, waiting };
  }

  /**
   * Recovery of a dead thread (engine.watch, after it exited): completes or undoes the push or pop
   * it was in the middle of (crash table above), releases the locks it held and its waiter slots,
   * and wakes every waiter. Returns how many locks and waiter slots it released.
   * @internal Recovery plumbing, called by the engine (engine.watch / engine.verify).
   */
  releaseAllOwnedBy(deadThreadId: number): number {
    return releaseRingOwnedBy(this.#i32, deadThreadId);
  }

  /**
   * @internal Snapshot (engine-snapshot.ts): every queued message, oldest first, as its type tag
   * (string / bytes / JSON) and a copy of its payload, read with BOTH locks held (push lock first,
   * then pop lock; nothing else takes both), so the queue does not move while it is copied and
   * nothing is written. A thread killed while holding them leaves two held locks and nothing
   * else: recovery's releaseAllOwnedBy frees them (the "push.locked" and "pop.locked" rows of the
   * crash table). ERR_LOCK_TIMEOUT after timeoutMs.
   */
  snapshotContents(timeoutMs = 30_000): RingContents {
    return ringContents(this.#i32, this.#u8, this.#mask, this.#stride, this.#tag, this.name, timeoutMs);
  }

  // ---- fast path ---------------------------------------------------------------------------

  /** Another producer holds the push lock. Full now is a true answer (false); else wait for it. */
  #lockPushSlow(): boolean {
    if (this.size >= this.capacity) return false;
    return this.#spinLock(kPushLock) || lockSlow(this.#i32, kPushLock, this.#tag, Infinity);
  }

  /**
   * A short spin on a busy queue lock before sleeping on it: its holder keeps it for a copy of at
   * most maxMessageBytes, usually well under a microsecond, while a futex sleep and wake-up costs
   * several (the mutex's own spin stops as soon as the word says that someone sleeps).
   */
  #spinLock(k: number): boolean {
    const i32 = this.#i32;
    for (let s = 0; s < LOCK_SPIN; s++) if (Atomics.load(i32, k) === 0 && tryLock(i32, k, this.#tag) === 0) return true;
    return false;
  }

  /** One pop that never blocks: the message, EMPTY (a true empty), or BUSY (see BUSY). */
  #takeNow(): RingMessage | typeof EMPTY | typeof BUSY {
    if (tryLock(this.#i32, kPopLock, this.#tag) !== 0) return this.size === 0 ? EMPTY : BUSY;
    return this.#takeLocked();
  }

  /** One pop, waiting up to lockWaitMs for a consumer stalled mid-pop: the message or EMPTY. */
  #take(lockWaitMs: number): RingMessage | typeof EMPTY {
    const v = this.#takeNow();
    if (v !== BUSY) return v;
    return this.#spinLock(kPopLock) || lockSlow(this.#i32, kPopLock, this.#tag, lockWaitMs) ? this.#takeLocked() : EMPTY;
  }

  async #takeAsync(lockWaitMs: number): Promise<RingMessage | typeof EMPTY> {
    const v = this.#takeNow();
    if (v !== BUSY) return v;
    return this.#spinLock(kPopLock) || (await lockAsync(this.#i32, kPopLock, this.#tag, lockWaitMs)) ? this.#takeLocked() : EMPTY;
  }

  /** The pop proper, with the pop lock held; releases it (also on an exception: nothing taken). */
  #takeLocked(): RingMessage | typeof EMPTY {
    const i32 = this.#i32;
    try {
      crashPoint('ring.pop.locked');
      const h = Atomics.load(i32, kHead);
      if (h === i32[kTailSeen]) {
        const t = Atomics.load(i32, kTail); // empty if still so: head is ours, so a true answer
        i32[kTailSeen] = t;
        if (h === t) return EMPTY;
      }
      // Copy out and decode before releasing: an exception here leaves the message queued.
      const slot = kSlot0 + (h & this.#mask) * this.#stride;
      const meta = i32[slot + kMeta]!;
      const len = meta >>> 2;
      const tag = meta & 3;
      const from = slot * 4 + kPayloadByte;
      const v = this.#msgs.decode(this.#u8, from, len, tag);
      crashPoint('ring.pop.copied');
      const next = (h + 1) | 0;
      if (next === 0) {
        Atomics.add(i32, kHeadHi, 1);
        crashPoint('ring.pop.wrapMarked');
      }
      // Release: producers that load this head may overwrite the slot (the copy above is done).
      Atomics.store(i32, kHead, next);
      crashPoint('ring.pop.released');
      if (next === 0) {
        Atomics.add(i32, kHeadHi, 1);
        crashPoint('ring.pop.wrapCounted');
      }
      return v;
    } finally {
      unlock(i32, kPopLock);
    }
  }

  #refuse(): false {
    Atomics.add(this.#i32, kFull, 1);
    return false;
  }
}
