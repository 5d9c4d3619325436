/**
 * A futex mutex on one Int32 word of a SharedArrayBuffer: Drepper's three-state mutex
 * ("Futexes Are Tricky", mutex #3: 0 free, 1 locked, 2 locked with waiters) with the owner's
 * identity folded into the word, so that "who holds it" is read and cleared atomically with the
 * lock itself (timeout messages name the owner; recovery of a dead owner is one CAS).
 *
 * The word:
 *
 * | value              | meaning                                   | Drepper |
 * | ------------------ | ----------------------------------------- | ------- |
 * | 0                  | free                                      | 0       |
 * | tag                | held by the thread whose tag it is        | 1       |
 * | tag `or` kWaiters  | held, and some thread may be waiting      | 2       |
 *
 * where tag = (threadId + 1) << 1 (never 0, low bit clear) and kWaiters = 1.
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
 *   when the old value had kWaiters does it call `Atomics.notify(w, i, 1)`.
 * - forceRelease (recovery of a dead owner): CAS the owner's value to 0, then notify everyone.
 *
 * No lost wakeup: a waiter sleeps only via `Atomics.wait(w, i, v)` with v having kWaiters set,
 * which returns at once if the word is no longer v. The unlocker's exchange makes the word 0,
 * so either the waiter sees the change before sleeping, or it is asleep and the unlocker (which
 * saw kWaiters in the old value) notifies it.
 */

export const kWaiters = 1;
/** Spin iterations before sleeping. Short: on 2 cores a descheduled owner makes spinning waste. */
const kSpin = 64;

/** The owner tag of a thread (worker_threads threadId; the main thread is 0). */
export function tagOf(threadId: number): number {
  return (threadId + 1) << 1;
}

/** The threadId in a lock word, or -1 if free. */
export function ownerOf(word: number): number {
  return word === 0 ? -1 : (word >>> 1) - 1;
}

/** One CAS. Returns 0 if acquired, else the word that was seen. */
export function tryLock(w: Int32Array, i: number, tag: number): number {
  return Atomics.compareExchange(w, i, 0, tag);
}

/**
 * One step of the waiting loop shared by lockSlow and lockAsync: takes the lock if it is free
 * (keeping kWaiters, like Drepper's "2"), else makes sure the word says someone waits. Returns 0
 * when acquired, kRetry when the word moved under a CAS, else the word value to wait on (it has
 * kWaiters set, so the unlocker that changes it will notify).
 */
/** Never a lock word: words are tags (threadId + 1) << 1, or-ed with kWaiters, for threadIds < 2^30. */
const kRetry = -1;
function acquireOrMark(w: Int32Array, i: number, tag: number): number {
  const c = Atomics.load(w, i);
  if (c === 0) return Atomics.compareExchange(w, i, 0, tag | kWaiters) === 0 ? 0 : kRetry;
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
      Atomics.wait(w, i, c);
    } else {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(w, i, c, left);
    }
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
      const r = Atomics.waitAsync(w, i, c, left);
      if (r.async) await r.value;
    }
  } finally {
    clearInterval(keepAlive);
  }
}

/** Releases; wakes one waiter only if the word says someone may wait. */
export function unlock(w: Int32Array, i: number): void {
  if (Atomics.exchange(w, i, 0) & kWaiters) Atomics.notify(w, i, 1);
}

/**
 * Releases the lock if (and only if) it is held by `tag`, waking every waiter. For recovery of
 * a thread that died holding it. Returns true if it released.
 */
export function forceRelease(w: Int32Array, i: number, tag: number): boolean {
  for (;;) {
    const c = Atomics.load(w, i);
    if (c === 0 || (c & ~kWaiters) !== tag) return false;
    if (Atomics.compareExchange(w, i, c, 0) === c) {
      Atomics.notify(w, i);
      return true;
    }
  }
}
