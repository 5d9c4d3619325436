/**
 * A futex mutex on one Int32 word of a SharedArrayBuffer: Drepper's three-state mutex
 * ("Futexes Are Tricky", mutex #3: 0 free, 1 locked, 2 locked with waiters) with the owner's
 * identity folded into the word, so that "who holds it" is read and cleared atomically with the
 * lock itself (timeout messages name the owner; recovery of a dead owner is one CAS). One change
 * to Drepper for threads that may die at any step: unlock wakes EVERY waiter, not one (below).
 *
 * The word:
 *
 * | value              | meaning                                   | Drepper |
 * | ------------------ | ----------------------------------------- | ------- |
 * | 0                  | free                                      | 0       |
 * | tag                | held by the thread whose tag it is        | 1       |
 * | tag `or` kWaiters  | held, and some thread may be waiting      | 2       |
 *
 * where tag = tagOf(threadId) (thread-tag.ts: never 0, two low bits clear) and kWaiters = 1.
 * Written by any thread, with Atomics only (compareExchange, exchange). This is the protocol's
 * only shared slot, and this file is the only one that decodes it: other modules ask `holderOf`
 * and `isHeldBy`.
 *
 * Operations (every Atomics operation is sequentially consistent in JavaScript):
 * - tryLock: one `Atomics.compareExchange(w, i, 0, tag)`. Success is the acquire: every plain
 *   write the previous owner made before its releasing `Atomics.exchange` is visible after it.
 * - lockSlow: a short bounded spin on `Atomics.load` (only while nobody waits: if the waiters
 *   bit is set the owner is busy or descheduled and spinning is waste, which on a 2-core machine
 *   with more threads than cores is the common case), then set the waiters bit with CAS and
 *   `Atomics.wait(w, i, expected)`. A thread that acquires after waiting stores tag|kWaiters
 *   (like Drepper's "2"): it cannot know whether others still wait, so it keeps the bit.
 * - unlock: `Atomics.exchange(w, i, 0)` publishes every plain write made under the lock; only
 *   when the old value had kWaiters does it call `Atomics.notify(w, i)`, waking every waiter.
 * - forceRelease (recovery of a dead owner): CAS the owner's value to 0, then wake every waiter.
 * - wakeWaiters (recovery of a thread that died owning nothing): wake every waiter of a word.
 *
 * No lost wakeup while threads live: a waiter sleeps only via `Atomics.wait(w, i, v)` with v
 * having kWaiters set, which returns at once if the word is no longer v. The unlocker's exchange
 * makes the word 0, so either the waiter sees the change before sleeping, or it is asleep and the
 * unlocker (which saw kWaiters in the old value) wakes it.
 *
 * Why wake all, not one (Drepper wakes one): a woken waiter takes over the duty to re-mark the
 * word (its next CAS stores tag|kWaiters or re-sets the bit), and a thread can be terminated
 * between its wake-up and that CAS. With wake-one, every other waiter would then sleep on a free
 * word that says nobody waits, and no later unlock would notify them; the dead thread held
 * nothing, so recovery of its stripes would not either. A woken waiter that merely cannot run
 * does the same for as long as it stalls: an async waiter (Atomics.waitAsync) whose thread is
 * blocked, say in a sync withLock on a stripe that one of the sleepers holds, which is then a
 * deadlock on a free lock. Waking all, each woken waiter re-marks for itself, so no single one
 * can lose the wake-up for the rest. The cost is a herd on a contended unlock: the waiters that
 * lose the race find the bit set and sleep again (bench/locks.ts case 3 measures it, against the
 * wake-one unlock); with one waiter it is the same call. The uncontended path (tryLock, then an
 * exchange that finds no kWaiters) is unchanged.
 *
 * CRASH TABLE (src/internal/crash.ts names each point; a thread may also die anywhere else, where
 * it is either not in this protocol or simply holding the word). Recovery of a dead thread is
 * `LockDomain.releaseAllOwnedBy(dead)` (called by engine.watch on a worker's exit): forceRelease
 * every word that carries the dead tag, then wakeWaiters on EVERY word, held by the dead thread
 * or not (a dead unlocker or a dead woken waiter holds nothing, yet left sleepers behind).
 *
 * | point                 | after the step                                   | a thread terminated here leaves                 | recovery |
 * | --------------------- | ------------------------------------------------ | ----------------------------------------------- | -------- |
 * | (none: fast path)     | tryLock's CAS 0 -> tag                           | the word held by a dead tag                     | forceRelease: CAS to 0, wake all |
 * | mutex.lock.marked     | the word carries kWaiters (this thread's CAS or another waiter's), before Atomics.wait / waitAsync | a waiters bit for a waiter that never sleeps | nothing to undo: the owner's unlock sees the bit and wakes whoever sleeps (at worst a spurious notify) |
 * | mutex.lock.woken      | Atomics.wait / waitAsync returned (woken, timed out, or the word had moved), before the next CAS | a wake-up that nobody acts on; the word may be 0 | none needed: the unlock that woke it woke every other waiter too, and each re-marks or acquires for itself; recovery's wake-all is a second net |
 * | mutex.lock.acquired   | the waiting loop's CAS 0 -> tag or kWaiters      | the word held by a dead tag, kWaiters set       | forceRelease: CAS to 0, wake all |
 * | mutex.unlock.released | unlock's exchange to 0 (the old word had kWaiters), before Atomics.notify | a free word with waiters asleep on its old value: no later unlock will see kWaiters | wakeWaiters on every word: they wake, see 0, acquire (re-marking) |
 * | mutex.force.released  | forceRelease's CAS to 0, before Atomics.notify (a recovering thread died) | the same as mutex.unlock.released | the recovering thread's own recovery wakes every word's waiters |
 *
 * A thread asleep in Atomics.wait that is terminated is simply gone (V8 drops it from the wait
 * list); the waiters bit it set stays, costing one spurious notify. A timed waiter that gives up
 * returns without touching the word, like a dead one.
 */
import { crashPoint, declareCrashPoints } from '../crash.ts';
import { hasTag, ownerOf } from './thread-tag.ts';
import { waitWord } from './wait.ts';

declareCrashPoints('mutex', [
  'mutex.lock.marked',
  'mutex.lock.woken',
  'mutex.lock.acquired',
  'mutex.unlock.released',
  'mutex.force.released',
]);

/** The waiters bit of the word. Exported for the tests and the bench's wake-one baseline only. */
export const kWaiters = 1;
/** Spin iterations before sleeping. Short: on 2 cores a descheduled owner makes spinning waste. */
const kSpin = 64;

/** The threadId holding the mutex at w[i], or -1 if free. */
export function holderOf(w: Int32Array, i: number): number {
  return ownerOf(Atomics.load(w, i));
}

/** Whether the thread whose tag is `tag` holds the mutex at w[i]. */
export function isHeldBy(w: Int32Array, i: number, tag: number): boolean {
  return hasTag(Atomics.load(w, i), tag);
}

/** Whether a word read from the mutex (`tryLock`'s answer) says `tag` holds it. */
export function wordHeldBy(word: number, tag: number): boolean {
  return word !== 0 && hasTag(word, tag);
}

/** One CAS. Returns 0 if acquired, else the word that was seen. */
export function tryLock(w: Int32Array, i: number, tag: number): number {
  return Atomics.compareExchange(w, i, 0, tag);
}

/** Never a lock word: words are tags (thread-tag.ts), or-ed with kWaiters. */
const kRetry = -1;

/**
 * One step of the waiting loop shared by lockSlow and lockAsync: takes the lock if it is free
 * (keeping kWaiters, like Drepper's "2"), else makes sure the word says someone waits. Returns 0
 * when acquired, kRetry when the word moved under a CAS, else the word value to wait on (it has
 * kWaiters set, so the unlocker that changes it will notify).
 */
function acquireOrMark(w: Int32Array, i: number, tag: number): number {
  const c = Atomics.load(w, i);
  if (c === 0) {
    if (Atomics.compareExchange(w, i, 0, tag | kWaiters) !== 0) return kRetry;
    crashPoint('mutex.lock.acquired');
    return 0;
  }
  if (c & kWaiters) return c;
  return Atomics.compareExchange(w, i, c, c | kWaiters) === c ? c | kWaiters : kRetry;
}

/**
 * Blocks until acquired or `timeoutMs` elapsed (Infinity: no limit). Returns true if acquired.
 * Must not be called on the main thread of a browser (Atomics.wait); Node allows it everywhere.
 */
export function lockSlow(w: Int32Array, i: number, tag: number, timeoutMs: number): boolean {
  for (let s = 0; s < kSpin; s++) {
    const c = Atomics.load(w, i);
    if (c === 0) {
      if (Atomics.compareExchange(w, i, 0, tag) === 0) return true;
    } else if (c & kWaiters) {
      break;
    }
  }
  const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
  for (;;) {
    const c = acquireOrMark(w, i, tag);
    if (c === 0) return true;
    if (c === kRetry) continue;
    if (deadline === Infinity) {
      crashPoint('mutex.lock.marked');
      waitWord(w, i, c);
    } else {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      crashPoint('mutex.lock.marked');
      waitWord(w, i, c, left);
    }
    crashPoint('mutex.lock.woken');
  }
}

/**
 * Waits without blocking the thread (Atomics.waitAsync). Resolves true when acquired, false on
 * timeout. While it waits a ref'ed timer keeps the Node event loop alive (a pending waitAsync
 * alone does not).
 */
export async function lockAsync(w: Int32Array, i: number, tag: number, timeoutMs: number): Promise<boolean> {
  const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    for (;;) {
      const c = acquireOrMark(w, i, tag);
      if (c === 0) return true;
      if (c === kRetry) continue;
      const left = deadline === Infinity ? undefined : deadline - performance.now();
      if (left !== undefined && left <= 0) return false;
      crashPoint('mutex.lock.marked');
      const r = Atomics.waitAsync(w, i, c, left);
      if (r.async) await r.value;
      crashPoint('mutex.lock.woken');
    }
  } finally {
    clearInterval(keepAlive);
  }
}

/**
 * Releases; wakes every waiter, only if the word says someone may wait. All, not one: a woken
 * waiter may die before it re-marks the word (see "Why wake all" above).
 */
export function unlock(w: Int32Array, i: number): void {
  if (Atomics.exchange(w, i, 0) & kWaiters) {
    crashPoint('mutex.unlock.released');
    Atomics.notify(w, i);
  }
}

/**
 * Wakes every thread waiting on the word, whatever it holds (recovery: a thread that died between
 * an unlock's exchange and its notify, or after being woken, leaves sleepers on a word that may
 * be free and say nobody waits). Woken waiters re-check the word, so a spurious wake is harmless.
 * Returns how many were woken.
 */
export function wakeWaiters(w: Int32Array, i: number): number {
  return Atomics.notify(w, i);
}

/**
 * Releases the lock if (and only if) it is held by `tag`, waking every waiter. For recovery of
 * a thread that died holding it. Returns true if it released.
 */
export function forceRelease(w: Int32Array, i: number, tag: number): boolean {
  for (;;) {
    const c = Atomics.load(w, i);
    if (c === 0 || !hasTag(c, tag)) return false;
    if (Atomics.compareExchange(w, i, c, 0) === c) {
      crashPoint('mutex.force.released');
      Atomics.notify(w, i);
      return true;
    }
  }
}
