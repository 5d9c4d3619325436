/**
 * Which thread a shared word names: the one encoding every synchronisation structure uses (the
 * futex mutex's word, the write gate's slots and its freezer word, the sync gate's slots and its
 * syncer word, the ring's and the table's locks).
 *
 *   tag = (threadId + 1) << 2
 *
 * threadId is worker_threads' (the main thread is 0), so a tag is never 0 (0 means "nobody") and
 * its two low bits are clear: each structure keeps its own flag there (the mutex's kWaiters, the
 * write gate's kSlotActive, the sync gate's kWaited; kTagFlags masks both bits). `ownerOf` reads
 * the thread back from a word whatever flags it carries (with >>>, so a tag past 2^31 reads back
 * too): thread ids below 2^30 - 1 fit.
 *
 * `claimSlot` is the one way a thread takes a slot of its own among a structure's slot words
 * (one per 128-byte line): CAS 0 -> tag on the first free one. What a claimed slot means, when it
 * is released and how recovery frees a dead thread's slot is the structure's (its crash table).
 */

/** The two low bits of a tagged word: the structure's own flags. */
export const kTagFlags = 3;

/** The tag of a thread (worker_threads threadId; the main thread is 0). */
export function tagOf(threadId: number): number {
  return (threadId + 1) << 2;
}

/** The threadId a word names (flags ignored), or -1 if the word is 0. */
export function ownerOf(word: number): number {
  return word === 0 ? -1 : (word >>> 2) - 1;
}

/** Whether `word` carries `tag` (with any flags). */
export function hasTag(word: number, tag: number): boolean {
  return (word & ~kTagFlags) === tag;
}

/**
 * Claims a free slot word for `tag`: the words i32[first + k * stride] for k in 0..count-1, tried
 * from k = `from` on (wrapping), each by one Atomics.compareExchange 0 -> tag after a load that
 * finds it 0. Returns k, or -1 if every slot is taken.
 */
export function claimSlot(i32: Int32Array, first: number, count: number, stride: number, tag: number, from = 0): number {
  for (let n = 0; n < count; n++) {
    const k = (from + n) % count;
    const w = first + k * stride;
    if (Atomics.load(i32, w) === 0 && Atomics.compareExchange(i32, w, 0, tag) === 0) return k;
  }
  return -1;
}
