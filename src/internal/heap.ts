/**
 * A shared heap: variable-size blocks in one growable SharedArrayBuffer, every byte of allocator
 * state inside the buffer, so any thread allocates and frees.
 *
 * Algorithm: segregated fits with size classes (as jemalloc / mimalloc bins), one lock-free
 * Treiber stack of free blocks per class, plus a bump pointer for fresh memory.
 * - Classes: 32..256 bytes in steps of 16, then four per power of two (320, 384, 448, 512,
 *   640, ...): at most 25% internal waste (12.5% on average), a class computed with one clz32.
 *   Why classes and not a coalescing first-fit: a free list per class is one CAS to pop or push
 *   and needs no lock, and a thread killed between two steps leaks at most a block instead of
 *   leaving a half-merged neighbour. The price: a freed block keeps its class forever (no
 *   coalescing); when both the class and the bump space are exhausted, alloc takes a block of
 *   any larger class before it reports ERR_CAPACITY.
 * - Free-list heads are 64-bit words (offset | tag << 32) changed by CAS on a BigUint64Array;
 *   the tag counts every push and pop, so a pop that read a stale `next` (ABA) fails its CAS.
 * - The bump pointer kTop moves forward by CAS; the thread that moves it past byteLength grows
 *   the buffer (SharedArrayBuffer.prototype.grow, by half again at least) before it writes the
 *   block. A block is reached only through an atomic publish made after the grow, so every
 *   thread sees a byteLength that covers it: grow() is a SeqCst read-modify-write of the shared
 *   length and the byteLength getter a SeqCst load of it (ECMA-262); V8 keeps no per-thread copy
 *   (checked on Node 20 for a thread's first read and from optimized code: test/heap-growth.test.ts).
 *   A thread that did not grow learns the new length only in `cover`: never bound a walk by
 *   `this.u8.length` without covering first. The views (u8, u16, i32, f64) are FIXED-length
 *   views of the buffer, replaced by longer ones when a block lies past them (`cover`, called by
 *   alloc, free and checkBlock): V8 reads length-tracking views (`new Uint8Array(sab)`) about
 *   7x slower per element. Rule for users: read `heap.u8` etc. again after any call that may
 *   cover (alloc, checkBlock, free, retire); never keep a view across one.
 * - Safe reclamation for lock-free readers (table.ts): `retire` frees a published block at once
 *   unless some reader is pinned (gate kPinned > 0: the bounded-retry fallback of seqlock.ts);
 *   then the block goes on a deferred list, freed by a later retire, `collect`, or the last
 *   unpin. A reader pins before it loads a slot word and unpins after its last copy, so a block
 *   it reached cannot be freed under it (proof in seqlock.ts).
 *
 * Block: a header of kBlockHeaderBytes, then the payload. Blocks are 16-byte aligned.
 *
 * | Int32 of block | name        | written by                  | how |
 * | -------------- | ----------- | --------------------------- | --- |
 * | 0              | kBlockClass | allocating / freeing thread | plain; class, or class + kFreeBit while free |
 * | 1              | kBlockStamp | allocating thread           | plain; +1 on every allocation (never 0): (offset, stamp) names one allocation |
 * | 2 (payload)    | kBlockNext  | pushing thread              | Atomics.store; next free / deferred block while not allocated |
 *
 * Region (RegionKind.HEAP, params [maxBytes]); lines of 128 bytes:
 *
 * | line | Int32 slot     | name            | written by            | how |
 * | ---- | -------------- | --------------- | --------------------- | --- |
 * | 0    | 0..31          | header          | creator               | region.ts |
 * | 1    | 0              | kTop            | allocators            | CAS; end of the bump area |
 * | 2    | 0              | kInUseBytes     | alloc / free          | Atomics.add / sub (class sizes) |
 * | 2    | 1              | kInUseBlocks    | alloc / free          | Atomics.add / sub |
 * | 2    | 2              | kCapacityErrors | failed alloc          | Atomics.add |
 * | 3    | 0              | kDeferredHead   | retire / collect      | CAS push, Atomics.exchange take-all (ABA-free) |
 * | 3    | 1              | kDeferredCount  | retire / collect      | Atomics.add / sub |
 * | 3    | 2              | kPinnedReads    | pinned readers        | Atomics.add (stats) |
 * | 4    | 0..3           | gate words      | writers, pinned readers, freezer | seqlock.ts WriteGate (kPinned, kFrozen, ...) |
 * | 5+c  | BigUint64 0    | free head of c  | alloc / free          | CAS (offset, tag) |
 * | 5+kClassCount+k | 0    | gate slot k     | its thread            | seqlock.ts WriteGate (kGateSlots lines) |
 *
 * Publication: a block's header and payload are plain writes by the thread that owns it; the
 * atomic store that publishes its offset (a table slot CAS) makes them visible to readers. A
 * push's CAS publishes its kBlockNext store to the popper. kTop, counters: Atomics only.
 *
 * Rule for the domains: every alloc, free, retire and collect runs inside the heap's write gate
 * (gate.run / enter; unpin's collect uses tryEnter and skips while frozen), so that under the
 * gate's freeze no block is between two of these steps except a dead thread's.
 *
 * CRASH TABLE (a thread terminated right after the step; recovery = engine.watch: the dead
 * thread's gate slot and pin bit cleared, then under the freeze the sweep of heap-sweep.ts,
 * which walks every block and repairs from the state alone):
 *
 * | protocol | after step                              | leaves                                   | recovery |
 * | -------- | --------------------------------------- | ---------------------------------------- | -------- |
 * | alloc    | pop CAS / bump CAS (heap.alloc.claimed) | a block on no list, still marked free (pop) or zeroed / past byteLength (bump) | sweep: a free block on no list goes back on its list; zeroed memory reads as class-0 blocks, freed; kTop past the buffer: the buffer is grown |
 * | alloc    | header + stamp (heap.alloc.stamped)     | an allocated block nothing refers to; counters short | sweep frees it, counters set from the walk |
 * | alloc    | counters                                | as above, counters right                 | sweep frees it |
 * | free     | free bit (heap.free.marked)             | a free block on no list; counters high   | sweep lists it; counters from the walk |
 * | free     | counters (heap.free.counted)            | a free block on no list                  | sweep lists it |
 * | free     | push CAS                                | nothing                                  | nothing |
 * | retire   | deferred push (heap.defer.pushed)       | kDeferredCount one short                 | counters from the walk |
 * | collect  | exchange (heap.collect.taken)           | the deferred blocks reachable from nowhere | sweep frees them (defers while pinned) |
 * | collect  | each free (heap.collect.freeing)        | the rest of the list, as above           | as above |
 * | pin      | mask bit set (gate.pin.set)             | a pin: every retire defers               | the bit cleared (seqlock.ts); the next retire / collect frees the deferred |
 */
import { ErrorCode, SabStateError } from '../errors.ts';
import type { HashKey } from './hash.ts';
import { LINE_BYTES, LINE_INTS, RegionKind, type RegionSpec, checkRegion, createRegion } from './region.ts';
import { crashPoint, declareCrashPoints } from './crash.ts';
import { WriteGate, kGateSlots } from './seqlock.ts';

declareCrashPoints('heap', [
  'heap.alloc.claimed', 'heap.alloc.stamped', 'heap.free.marked', 'heap.free.counted', 'heap.defer.pushed', 'heap.collect.taken',
  'heap.collect.freeing',
]);

const kTop = 1 * LINE_INTS;
const kInUseBytes = 2 * LINE_INTS;
const kInUseBlocks = kInUseBytes + 1;
const kCapacityErrors = kInUseBytes + 2;
const kDeferredHead = 3 * LINE_INTS;
const kDeferredCount = kDeferredHead + 1;
const kPinnedReads = kDeferredHead + 2;
const kGateBase = 4 * LINE_INTS;
const kFirstClassLine = 5;
/** Number of size classes: 15 of 16-byte steps up to 256, then 4 per power of two up to 2^31. */
export const kClassCount = 15 + 4 * 23;
const kFirstGateSlotLine = kFirstClassLine + kClassCount;
export const kDataStart = (kFirstGateSlotLine + kGateSlots) * LINE_BYTES;

export const kBlockHeaderBytes = 8;
const kBlockClass = 0;
const kBlockStamp = 1;
const kBlockNext = 2;
const kFreeBit = 0x10000;
const kMask32 = 0xffffffffn;
const kGrowStep = 1 << 16;
/** Bytes of a block header plus the free-list link: what free() and checkBlock() touch first. */
const kBlockPrefix = 16;

/** Largest maxBytes: offsets and sizes stay below 2^31 (Int32 words). */
export const MAX_HEAP_BYTES = 2 ** 31 - 2 ** 16;
/** Smallest maxBytes: the metadata lines and a little room. */
export const MIN_HEAP_BYTES = kDataStart + kGrowStep;
const kDefaultInitialBytes = 1 << 20;

/** Class of a block of n bytes (header included). */
export function classOf(n: number): number {
  if (n <= 32) return 0;
  if (n <= 256) return (n - 17) >> 4;
  const e = 31 - Math.clz32(n - 1); // n in (2^e, 2^(e+1)], 8 <= e <= 30
  // ceil((n - 2^e) / 2^(e-2)) - 1: which quarter step above 2^e
  return 15 + (e - 8) * 4 + ((n - (1 << e) - 1) >> (e - 2));
}

function computeClassSize(c: number): number {
  if (c < 15) return 32 + 16 * c;
  const e = 8 + ((c - 15) >> 2);
  return 2 ** e + (((c - 15) & 3) + 1) * 2 ** (e - 2);
}
const kClassSizes = Float64Array.from({ length: kClassCount }, (_, c) => computeClassSize(c));

/** Bytes of a block of class c (header included). */
export function classSize(c: number): number {
  return kClassSizes[c]!;
}

/** Block header words and the free bit, for heap-sweep.ts. */
export const kBlockClassWord = kBlockClass;
export const kBlockStampWord = kBlockStamp;
export const kBlockNextWord = kBlockNext;
export const kBlockFreeBit = kFreeBit;

export interface SweepAccess {
  top(): number;
  freeHead(c: number): number;
  deferredHead(): number;
  counters(): { inUseBytes: number; inUseBlocks: number; deferred: number };
  setCounters(inUseBytes: number, inUseBlocks: number, deferred: number): void;
  pushFree(c: number, ref: number): void;
  pushDeferred(ref: number): void;
  ensure(end: number): boolean;
}

export interface HeapHandle {
  readonly sab: SharedArrayBuffer;
  readonly maxBytes: number;
}

export type HeapStats = ReturnType<SharedHeap['stats']>;

function specOf(maxBytes: number, key: HashKey): RegionSpec {
  return { kind: RegionKind.HEAP, key, params: [maxBytes] };
}

/** A new heap region of at most maxBytes (MIN_HEAP_BYTES..MAX_HEAP_BYTES, checked by the caller's options). */
export function createHeapHandle(maxBytes: number, key: HashKey, initialBytes = kDefaultInitialBytes): HeapHandle {
  if (!Number.isInteger(maxBytes) || maxBytes < MIN_HEAP_BYTES || maxBytes > MAX_HEAP_BYTES) {
    throw new RangeError(`heap maxBytes must be an integer from ${MIN_HEAP_BYTES} to ${MAX_HEAP_BYTES}`);
  }
  const initial = Math.min(maxBytes, Math.max(MIN_HEAP_BYTES, initialBytes));
  const sab = createRegion(specOf(maxBytes, key), initial, maxBytes);
  new Int32Array(sab)[kTop] = kDataStart;
  return { sab, maxBytes };
}

export class SharedHeap {
  readonly sab: SharedArrayBuffer;
  /** Fixed-length views of the buffer as far as this thread has covered it (see `cover`). */
  u8: Uint8Array;
  u16: Uint16Array;
  i32: Int32Array;
  f64: Float64Array;
  readonly maxBytes: number;
  /** The domain's write gate (snapshots): its words live in this region. */
  readonly gate: WriteGate;
  readonly what: string;
  readonly #b64: BigUint64Array;
  readonly #maxBlock: number;

  constructor(handle: HeapHandle, key: HashKey, what: string) {
    this.sab = checkRegion(handle.sab, specOf(handle.maxBytes, key), what);
    this.maxBytes = handle.maxBytes;
    const len = this.sab.byteLength & ~7;
    this.u8 = new Uint8Array(this.sab, 0, len);
    this.u16 = new Uint16Array(this.sab, 0, len >> 1);
    this.i32 = new Int32Array(this.sab, 0, len >> 2);
    this.f64 = new Float64Array(this.sab, 0, len >> 3);
    this.#b64 = new BigUint64Array(this.sab, 0, kDataStart >> 3);
    // The metadata lines never move: the gate keeps a view of them only.
    this.gate = new WriteGate(new Int32Array(this.sab, 0, kDataStart >> 2), kGateBase, kFirstGateSlotLine * LINE_INTS, LINE_INTS, what);
    this.what = what;
    let c = classOf(this.maxBytes - kDataStart);
    while (c > 0 && classSize(c) > this.maxBytes - kDataStart) c--;
    this.#maxBlock = classSize(c);
  }

  /**
   * Allocates a block with at least `payloadBytes` of payload; returns its offset (the block
   * ref). Throws ERR_VALUE_TOO_LARGE if no heap of maxBytes could hold it, ERR_CAPACITY if full.
   */
  alloc(payloadBytes: number): number {
    const need = payloadBytes + kBlockHeaderBytes;
    if (need > this.#maxBlock) {
      throw new SabStateError(
        ErrorCode.VALUE_TOO_LARGE,
        `${this.what}: a block of ${payloadBytes} bytes cannot fit a heap of ${this.maxBytes} bytes`,
      );
    }
    const c = classOf(need);
    let ref = this.#pop(c);
    if (ref === 0) ref = this.#bump(c);
    for (let d = c + 1; ref === 0 && d < kClassCount; d++) ref = this.#pop(d);
    if (ref === 0) {
      Atomics.add(this.i32, kCapacityErrors, 1);
      throw new SabStateError(
        ErrorCode.CAPACITY,
        `${this.what}: heap full (${this.maxBytes} bytes) allocating ${payloadBytes} bytes`,
      );
    }
    crashPoint('heap.alloc.claimed');
    this.cover(ref + kBlockPrefix);
    const h = ref >> 2;
    const cls = this.i32[h + kBlockClass]! & ~kFreeBit;
    this.cover(ref + classSize(cls));
    this.i32[h + kBlockClass] = cls;
    this.i32[h + kBlockStamp] = (this.i32[h + kBlockStamp]! + 1) | 0 || 1;
    crashPoint('heap.alloc.stamped');
    Atomics.add(this.i32, kInUseBytes, classSize(cls));
    Atomics.add(this.i32, kInUseBlocks, 1);
    return ref;
  }

  /** Frees a block nobody else can reach (never published, or already unpublished and unpinned). */
  free(ref: number): void {
    this.cover(ref + kBlockPrefix);
    const h = ref >> 2;
    const cls = this.i32[h + kBlockClass]!;
    if ((cls & kFreeBit) !== 0 || cls < 0 || cls >= kClassCount) {
      throw new Error(`${this.what}: free of a block that is not allocated (offset ${ref})`);
    }
    this.i32[h + kBlockClass] = cls | kFreeBit;
    crashPoint('heap.free.marked');
    Atomics.sub(this.i32, kInUseBytes, classSize(cls));
    Atomics.sub(this.i32, kInUseBlocks, 1);
    crashPoint('heap.free.counted');
    this.#push(cls, ref);
  }

  /**
   * Frees a block that was published and has just been unpublished (its slot CAS is done):
   * at once if no reader is pinned, else later (deferred list). Called inside the write gate.
   */
  retire(ref: number): void {
    if (this.gate.pinned() > 0) {
      this.#defer(ref);
      return;
    }
    this.free(ref);
    if (Atomics.load(this.i32, kDeferredHead) !== 0) this.collect();
  }

  /**
   * Frees the deferred blocks if no reader is pinned. Returns how many were freed. Called inside
   * the write gate (the blocks between the exchange and their free are reachable from nowhere:
   * a heap sweep, which runs under the gate's freeze, must not see that moment).
   */
  collect(): number {
    let ref = Atomics.exchange(this.i32, kDeferredHead, 0);
    if (ref === 0) return 0;
    crashPoint('heap.collect.taken');
    // Checked after taking the list: a reader pinned now cannot reach these blocks (they were
    // unpublished before they were deferred); a reader pinned earlier still has its bit set.
    const pinned = this.gate.pinned() > 0;
    let n = 0;
    while (ref !== 0) {
      this.cover(ref + kBlockPrefix);
      const next = Atomics.load(this.i32, (ref >> 2) + kBlockNext);
      if (pinned) {
        this.#pushDeferred(ref);
      } else {
        this.free(ref);
        n++;
        crashPoint('heap.collect.freeing');
      }
      ref = next;
    }
    if (n) Atomics.sub(this.i32, kDeferredCount, n);
    return n;
  }

  /** Pins: until unpin(), no published block reached from now on is freed. */
  pin(): void {
    this.gate.pin();
    Atomics.add(this.i32, kPinnedReads, 1);
  }

  /**
   * Unpins; the last pinned reader frees what was deferred meanwhile (lock-free, like retire),
   * inside the write gate unless a freeze holds it (then a later retire or collect does it).
   */
  unpin(): void {
    if (!this.gate.unpin() || Atomics.load(this.i32, kDeferredHead) === 0) return;
    if (!this.gate.tryEnter()) return;
    try {
      this.collect();
    } finally {
      this.gate.leave();
    }
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
    return classSize(this.i32[(ref >> 2) + kBlockClass]! & ~kFreeBit) - kBlockHeaderBytes;
  }

  /**
   * For racing readers: the payload capacity of `ref` if it looks like an allocated block inside
   * the buffer (aligned, valid class, not free, within byteLength), else -1. Garbage-proof.
   * Covers the block: the views (read them again) reach its end.
   */
  checkBlock(ref: number): number {
    if ((ref & 15) !== 0 || ref < kDataStart || !this.cover(ref + kBlockPrefix)) return -1;
    const cls = this.i32[(ref >> 2) + kBlockClass]!;
    if (cls < 0 || cls >= kClassCount) return -1;
    const size = classSize(cls);
    return this.cover(ref + size) ? size - kBlockHeaderBytes : -1;
  }

  stats() {
    const i = this.i32;
    return {
      maxBytes: this.maxBytes,
      reservedBytes: this.sab.byteLength,
      topBytes: Atomics.load(i, kTop),
      inUseBytes: Atomics.load(i, kInUseBytes),
      inUseBlocks: Atomics.load(i, kInUseBlocks),
      deferredBlocks: Atomics.load(i, kDeferredCount),
      pinnedReaders: this.gate.pinned(),
      pinnedReads: Atomics.load(i, kPinnedReads),
      capacityErrors: Atomics.load(i, kCapacityErrors),
    };
  }

  /**
   * @internal For heap-sweep.ts only (recovery and verify run under the gate's freeze): the
   * allocator's words, read and repaired there.
   */
  sweepAccess(): SweepAccess {
    return {
      top: () => Atomics.load(this.i32, kTop),
      freeHead: (c) => Number(Atomics.load(this.#b64, this.#headIndex(c)) & kMask32),
      deferredHead: () => Atomics.load(this.i32, kDeferredHead),
      counters: () => ({
        inUseBytes: Atomics.load(this.i32, kInUseBytes), inUseBlocks: Atomics.load(this.i32, kInUseBlocks),
        deferred: Atomics.load(this.i32, kDeferredCount),
      }),
      setCounters: (bytes, blocks, deferred) => {
        Atomics.store(this.i32, kInUseBytes, bytes);
        Atomics.store(this.i32, kInUseBlocks, blocks);
        Atomics.store(this.i32, kDeferredCount, deferred);
      },
      pushFree: (c, ref) => this.#push(c, ref),
      pushDeferred: (ref) => this.#pushDeferred(ref),
      ensure: (end) => this.#ensure(end) && this.cover(end),
    };
  }

  #headIndex(c: number): number {
    return ((kFirstClassLine + c) * LINE_BYTES) >> 3;
  }

  #pop(c: number): number {
    const i = this.#headIndex(c);
    for (;;) {
      const head = Atomics.load(this.#b64, i);
      const ref = Number(head & kMask32);
      if (ref === 0) return 0;
      this.cover(ref + kBlockPrefix);
      // May be garbage if another thread popped and reused the block: then the tag moved and
      // the CAS below fails.
      const next = Atomics.load(this.i32, (ref >> 2) + kBlockNext) >>> 0;
      const tagged = (((head >> 32n) + 1n) & kMask32) << 32n;
      if (Atomics.compareExchange(this.#b64, i, head, tagged | BigInt(next)) === head) return ref;
    }
  }

  #push(c: number, ref: number): void {
    const i = this.#headIndex(c);
    for (;;) {
      const head = Atomics.load(this.#b64, i);
      Atomics.store(this.i32, (ref >> 2) + kBlockNext, Number(head & kMask32));
      const tagged = (((head >> 32n) + 1n) & kMask32) << 32n;
      if (Atomics.compareExchange(this.#b64, i, head, tagged | BigInt(ref)) === head) return;
    }
  }

  #bump(c: number): number {
    const size = classSize(c);
    for (;;) {
      const top = Atomics.load(this.i32, kTop);
      const end = top + size;
      if (end > this.maxBytes) return 0;
      if (Atomics.compareExchange(this.i32, kTop, top, end) !== top) continue;
      if (!this.#ensure(end)) {
        // Could not grow (out of memory): give the space back if nobody bumped after us.
        Atomics.compareExchange(this.i32, kTop, end, top);
        return 0;
      }
      // Cover before writing: a typed-array write past a view's end is silently dropped.
      this.cover(end);
      this.i32[(top >> 2) + kBlockClass] = c;
      return top;
    }
  }

  /** Grows the buffer to at least `end` bytes. False if the system refused the memory. */
  #ensure(end: number): boolean {
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

  #defer(ref: number): void {
    this.#pushDeferred(ref);
    crashPoint('heap.defer.pushed');
    Atomics.add(this.i32, kDeferredCount, 1);
  }

  #pushDeferred(ref: number): void {
    this.cover(ref + kBlockPrefix);
    for (;;) {
      const head = Atomics.load(this.i32, kDeferredHead);
      Atomics.store(this.i32, (ref >> 2) + kBlockNext, head);
      if (Atomics.compareExchange(this.i32, kDeferredHead, head, ref) === head) return;
    }
  }
}
