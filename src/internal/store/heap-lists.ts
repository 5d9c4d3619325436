/**
 * The heap's free lists, their non-empty bitmap, best fit, and the views of the buffer (the
 * base class of SharedHeap: heap-merge.ts extends it, heap.ts extends that). Slots: heap-layout.ts.
 *
 * Algorithm:
 * - One lock-free Treiber stack of free blocks per size class (heap-classes.ts). A free block of
 *   `size` bytes sits on list floorClass(size) (the largest class <= size), so every block on
 *   list c can serve a request of class c. Heads are 64-bit words (offset | tag << 32) changed by
 *   CAS on a BigUint64Array; the tag counts every push, pop and take-all, so a pop that read a
 *   stale `next` (ABA) fails. A take-all swaps the head for empty: the thread then owns every
 *   block of the list (merges, best fit).
 * - kNonEmpty: one bit per list, a hint. A push onto an empty list ORs the list's bit; a scan
 *   (takeLarger, bestFit) that finds a marked list empty clears the bit, then loads the head
 *   again and ORs the bit back if a push came in between. A pusher between its CAS and its OR
 *   leaves a list unmarked for a moment, so the full-heap path scans every head.
 * - Good fit for small requests (TLSF): the class list, then the smallest non-empty larger list
 *   (its newest block, split by alloc).
 * - Best fit (requests over 4 KiB, and every request's last resort): the first list from
 *   floorClass(n) up that holds a block of at least n bytes gives its smallest such block, the
 *   lowest address on a tie. The thread takes that list whole, keeps the block, and pushes the
 *   others back highest address first, so the list pops its lowest block first (dlmalloc 2.7 is
 *   pure best fit from 512 bytes up; address order on ties keeps the live data low and the free
 *   runs whole: Johnstone, Wilson, "The Memory Fragmentation Problem: Solved?", 1998).
 * - The views (u8, u16, i32, f64, and the block readers and writers built on them: payload,
 *   capacityOf, checkBlock, writeBytes...) are FIXED-length views of the growable buffer, replaced by
 *   longer ones when a block lies past them (`cover`): V8 reads length-tracking views about 7x
 *   slower per element. The thread that moves kTop past byteLength grows the buffer (by half
 *   again at least) before it writes the block; a block is reached only through an atomic
 *   publish made after the grow, and grow() is a SeqCst read-modify-write of the shared length
 *   (ECMA-262), so every thread that reaches it covers it (test/heap-growth.test.ts). Rule for
 *   users: read `heap.u8` etc. again after any call that may cover (alloc, checkBlock, free,
 *   retire); never keep a view across one.
 *
 * Slots this file writes: the free heads and free-byte counts of every class line, kNonEmpty,
 * kDeferredHead (push only; the take-all is collect's, heap.ts), and a block's kBlockNext
 * (Atomics.store before the push's CAS, which publishes it to the popper or the merger).
 *
 * CRASH TABLE (a thread terminated right after the step; recovery = the sweep of heap-sweep.ts
 * under the write gate's freeze, which rebuilds every list and every count from a walk):
 *
 * | protocol | after step                            | leaves                                   | recovery |
 * | -------- | ------------------------------------- | ---------------------------------------- | -------- |
 * | pop      | CAS                                   | a free block on no list (its caller's)   | sweep lists it |
 * | take     | CAS, before the byte count            | as above; list c's byte count high       | sweep lists it; counts from the walk |
 * | push     | CAS onto an empty list, before its OR | list c unmarked in kNonEmpty: scans skip it (the full-heap path loads every head) | the sweep rebuilds the lists, each first push sets the bit |
 * | list     | push CAS, before the byte count       | list c's byte count short                | counts from the walk |
 * | best fit | list taken (heap.fit.taken)           | its blocks on no list                    | sweep lists them |
 * | best fit | some pushed back                      | the others, free, on no list             | as above |
 * | best fit | all pushed back                       | the kept block, free, on no list; list's byte count high | sweep lists it; counts from the walk |
 * | deferred push | CAS                              | a deferred block (its caller's, heap.ts) | heap.ts |
 */
import { crashPoint, declareCrashPoints } from '../crash.ts';
import { nextWord } from '../sync/versioned-word.ts';
import {
  classSize, floorClass, kBlockHeaderBytes, kBlockNext, kBlockPrefix, kBlockSize, kBlockStamp, kClassCount, kMinBlock, kSizeLowBits,
} from './heap-classes.ts';
import { kBitWords, kDataStart, kDeferredHead, kGrowStep, kInUseBytes, kNonEmpty, kTop, freeIndexOf, headIndexOf } from './heap-layout.ts';

declareCrashPoints('heap', ['heap.fit.taken']);

const kMask32 = 0xffffffffn;

export class HeapLists {
  readonly sab: SharedArrayBuffer;
  readonly maxBytes: number;
  /** Fixed-length views of the buffer as far as this thread has covered it (see `cover`). */
  u8: Uint8Array;
  u16: Uint16Array;
  i32: Int32Array;
  f64: Float64Array;
  /** The metadata lines as 64-bit words (the free heads). */
  protected readonly b64: BigUint64Array;
  /** Best fit's blocks of one list (this thread's, reused). */
  #fitBlocks = new Int32Array(64);

  constructor(sab: SharedArrayBuffer, maxBytes: number) {
    this.sab = sab;
    this.maxBytes = maxBytes;
    const len = sab.byteLength & ~7;
    this.u8 = new Uint8Array(sab, 0, len);
    this.u16 = new Uint16Array(sab, 0, len >> 1);
    this.i32 = new Int32Array(sab, 0, len >> 2);
    this.f64 = new Float64Array(sab, 0, len >> 3);
    this.b64 = new BigUint64Array(sab, 0, kDataStart >> 3);
  }

  /**
   * Makes the views reach at least `end` bytes if the buffer does (another thread may have grown
   * it). Returns false if even the buffer is shorter (a garbage offset, for racing readers).
   */
  cover(end: number): boolean {
    if (end <= this.u8.length) return true;
    const len = this.sab.byteLength & ~7;
    if (len > this.u8.length) {
      this.u8 = new Uint8Array(this.sab, 0, len);
      this.u16 = new Uint16Array(this.sab, 0, len >> 1);
      this.i32 = new Int32Array(this.sab, 0, len >> 2);
      this.f64 = new Float64Array(this.sab, 0, len >> 3);
    }
    return end <= len;
  }

  /**
   * Writes into a block this thread owns (allocated by it and not published yet), so that the
   * domains need not keep or index the views (issue 15). Offsets are byte offsets in the heap
   * (`writeInt32` and `copyInt32`: Int32 indexes), inside the block: alloc covered it.
   */
  writeBytes(at: number, bytes: Uint8Array): void {
    this.u8.set(bytes, at);
  }

  writeInt32(q: number, v: number): void {
    this.i32[q] = v;
  }

  /** The UTF-16 code units of `s` from byte `at` (2-aligned). */
  writeUnits(at: number, s: string): void {
    const u = at >> 1;
    for (let k = 0; k < s.length; k++) this.u16[u + k] = s.charCodeAt(k);
  }

  /** Copies `n` Int32 from index `from` to index `to` (a block this thread reads under its lock, into one it owns). */
  copyInt32(to: number, from: number, n: number): void {
    this.i32.copyWithin(to, from, from + n);
  }

  /** Payload offset of a block. */
  payload(ref: number): number {
    return ref + kBlockHeaderBytes;
  }

  stampOf(ref: number): number {
    return this.i32[(ref >> 2) + kBlockStamp]!;
  }

  /** Payload capacity of an allocated block. */
  capacityOf(ref: number): number {
    this.cover(ref + kBlockPrefix);
    return (this.i32[(ref >> 2) + kBlockSize]! & ~kSizeLowBits) - kBlockHeaderBytes;
  }

  /**
   * For racing readers: the payload capacity of `ref` if it looks like an allocated block inside
   * the buffer (aligned, a valid size, not free, within byteLength), else -1. Garbage-proof.
   * Covers the block: the views (read them again) reach its end.
   */
  checkBlock(ref: number): number {
    if ((ref & kSizeLowBits) !== 0 || ref < kDataStart || !this.cover(ref + kBlockPrefix)) return -1;
    const w = this.i32[(ref >> 2) + kBlockSize]!;
    if ((w & kSizeLowBits) !== 0 || w < kMinBlock) return -1;
    return this.cover(ref + w) ? w - kBlockHeaderBytes : -1;
  }

  /** Grows the buffer to at least `end` bytes. False if the system refused the memory. */
  protected ensure(end: number): boolean {
    let len = this.sab.byteLength;
    while (len < end) {
      const want = Math.max(end, len + (len >> 1));
      const target = Math.min(this.maxBytes, Math.ceil(want / kGrowStep) * kGrowStep);
      try {
        this.sab.grow(target);
      } catch (e) {
        // RangeError: another thread grew it past `target` meanwhile (grow never shrinks), or
        // the memory could not be committed. Re-read the length to tell which.
        if (!(e instanceof RangeError)) throw e;
        if (this.sab.byteLength === len) return false;
      }
      len = this.sab.byteLength;
    }
    return true;
  }

  /** Carved bytes not in use: free, being freed, or held by a merge. */
  protected freeEstimate(): number {
    return Atomics.load(this.i32, kTop) - kDataStart - Atomics.load(this.i32, kInUseBytes);
  }

  /** A block off list c (covered, still marked free), or 0. */
  protected take(c: number): number {
    const ref = this.pop(c);
    if (ref === 0) return 0;
    const size = this.i32[(ref >> 2) + kBlockSize]! & ~kSizeLowBits;
    this.cover(ref + size);
    Atomics.sub(this.i32, freeIndexOf(c), size);
    return ref;
  }

  /** Lists a free block of `size` bytes on its floor list and counts its bytes there. */
  protected list(ref: number, size: number): void {
    const c = floorClass(size);
    this.push(c, ref);
    Atomics.add(this.i32, freeIndexOf(c), size);
  }

  /**
   * A block off the smallest non-empty list above c, or 0 (none, or no free memory to look for).
   * Looks only at the lists kNonEmpty marks (7 words instead of up to 199 heads).
   */
  protected takeLarger(c: number): number {
    if (this.freeEstimate() < classSize(c)) return 0;
    const first = c + 1;
    for (let w = first >> 5; w < kBitWords; w++) {
      let bits = Atomics.load(this.i32, kNonEmpty + w);
      if (w === first >> 5) bits &= ~((1 << (first & 31)) - 1);
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const d = (w << 5) + b;
        const ref = this.take(d);
        if (ref !== 0) return ref;
        this.#unmark(w, b, d);
      }
    }
    return 0;
  }

  /** As takeLarger, every head loaded (the full-heap path: no hint trusted). */
  protected scanLarger(c: number): number {
    if (this.freeEstimate() < classSize(c)) return 0;
    for (let d = c + 1; d < kClassCount; d++) {
      // The head's offset is the low half of its 64-bit word (little-endian): one Int32 load, no BigInt.
      if (Atomics.load(this.i32, headIndexOf(d) << 1) === 0) continue;
      const ref = this.take(d);
      if (ref !== 0) return ref;
    }
    return 0;
  }

  /**
   * Best fit for a block of n bytes (a multiple of 16), see the header; lists found through the
   * kNonEmpty bitmap, or (scanAll: the full-heap path) every head loaded. 0 if none fits.
   */
  protected bestFit(n: number, scanAll: boolean): number {
    const first = floorClass(n);
    if (first < 0 || this.freeEstimate() < n) return 0;
    for (let w = first >> 5; w < kBitWords; w++) {
      let bits = scanAll ? -1 : Atomics.load(this.i32, kNonEmpty + w);
      if (w === first >> 5) bits &= ~((1 << (first & 31)) - 1);
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const d = (w << 5) + b;
        if (d >= kClassCount) return 0;
        const ref = this.#fitIn(d, n);
        if (ref > 0) return ref;
        if (ref === 0 && !scanAll) this.#unmark(w, b, d);
      }
    }
    return 0;
  }

  /** List d found empty: its bit cleared, then the head loaded again (a push in between sets it back). */
  #unmark(w: number, b: number, d: number): void {
    Atomics.and(this.i32, kNonEmpty + w, ~(1 << b));
    if (Atomics.load(this.i32, headIndexOf(d) << 1) !== 0) Atomics.or(this.i32, kNonEmpty + w, 1 << b);
  }

  /**
   * List d taken whole; its smallest block of at least n bytes kept (covered, still marked free),
   * the others pushed back. 0: the list was empty; -1: no block fit.
   */
  #fitIn(d: number, n: number): number {
    let ref = this.takeAll(d);
    if (ref === 0) return 0;
    crashPoint('heap.fit.taken');
    let blocks = this.#fitBlocks;
    let k = 0;
    let fit = 0;
    let fitSize = 0;
    while (ref !== 0) {
      this.cover(ref + kBlockPrefix);
      const size = this.i32[(ref >> 2) + kBlockSize]! & ~kSizeLowBits;
      if (size >= n && (fit === 0 || size < fitSize || (size === fitSize && ref < fit))) {
        if (fit !== 0) blocks[k++] = fit;
        fit = ref;
        fitSize = size;
      } else {
        blocks[k++] = ref;
      }
      if (k === blocks.length) {
        const more = new Int32Array(k * 2);
        more.set(blocks);
        this.#fitBlocks = blocks = more;
      }
      ref = Atomics.load(this.i32, (ref >> 2) + kBlockNext);
    }
    // Back on the list, highest first; the list's byte count never lost them.
    const rest = blocks.subarray(0, k).sort();
    for (let j = k - 1; j >= 0; j--) this.push(d, rest[j]!);
    if (fit === 0) return -1;
    Atomics.sub(this.i32, freeIndexOf(d), fitSize);
    this.cover(fit + fitSize);
    return fit;
  }

  protected pop(c: number): number {
    const i = headIndexOf(c);
    for (;;) {
      const head = Atomics.load(this.b64, i);
      const ref = Number(head & kMask32);
      if (ref === 0) return 0;
      this.cover(ref + kBlockPrefix);
      // May be garbage if another thread popped and reused the block: then the tag moved and
      // the CAS below fails.
      const next = Atomics.load(this.i32, (ref >> 2) + kBlockNext) >>> 0;
      if (Atomics.compareExchange(this.b64, i, head, nextWord(head, next)) === head) return ref;
    }
  }

  /** Takes the whole list c (head swapped for empty, tag moved): returns its first block, or 0. */
  protected takeAll(c: number): number {
    const i = headIndexOf(c);
    for (;;) {
      const head = Atomics.load(this.b64, i);
      const ref = Number(head & kMask32);
      if (ref === 0) return 0;
      if (Atomics.compareExchange(this.b64, i, head, nextWord(head, 0)) === head) return ref;
    }
  }

  protected push(c: number, ref: number): void {
    const i = headIndexOf(c);
    for (;;) {
      const head = Atomics.load(this.b64, i);
      const next = Number(head & kMask32);
      Atomics.store(this.i32, (ref >> 2) + kBlockNext, next);
      if (Atomics.compareExchange(this.b64, i, head, nextWord(head, ref)) === head) {
        if (next === 0) Atomics.or(this.i32, kNonEmpty + (c >> 5), 1 << (c & 31));
        return;
      }
    }
  }

  protected pushDeferred(ref: number): void {
    this.cover(ref + kBlockPrefix);
    for (;;) {
      const head = Atomics.load(this.i32, kDeferredHead);
      Atomics.store(this.i32, (ref >> 2) + kBlockNext, head);
      if (Atomics.compareExchange(this.i32, kDeferredHead, head, ref) === head) return;
    }
  }
}
