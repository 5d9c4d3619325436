/**
 * A shared heap: variable-size blocks in one growable SharedArrayBuffer, every byte of allocator
 * state inside the buffer, so any thread allocates and frees. Freed memory serves any size.
 *
 * Algorithm: segregated fits with deferred coalescing: dlmalloc's "fastbins" and their
 * malloc_consolidate, made lock-free (Lea, "A Memory Allocator"; glibc malloc.c). Every block
 * records its own size (a boundary tag at its start), so the blocks tile [kDataStart, kTop)
 * and any run of free neighbours can become one block.
 * - Size classes: 16..256 bytes in steps of 16, then eight per power of two (288, 320, ...,
 *   512, 576, ...): at most 12.5% internal waste, a class computed with one clz32 (four per
 *   power of two wasted up to 25%, which a heap kept below 70% live cannot afford). A request is
 *   rounded up to its class, except by the last resort below and for large blocks
 *   (kLargeClass, over 4 KiB: cut to the request rounded to 16). One lock-free Treiber stack of
 *   free blocks per class: a free block
 *   of `size` bytes sits on list floorClass(size) (the largest class <= size), so every block on
 *   list c can serve a request of class c. The hot path is unchanged from the class-only heap:
 *   one CAS to pop, one to push.
 * - Split (alloc, slow path): when list c is empty, the smallest non-empty larger list gives a
 *   block; the part beyond classSize(c) (any multiple of 16) becomes a free block of its own
 *   and goes on its floor list. Freed memory of any class so serves any smaller request.
 * - Merge (consolidate, slow path): a thread takes EVERY free list at once (one CAS per list
 *   swaps the head for empty), so it owns every listed free block; it sorts them by offset,
 *   joins each run of neighbours into one block (one header store: the first block's size
 *   becomes the run's), and lists the results. Freed memory of any classes so serves any larger
 *   request. It runs when a request finds no fitting free block and free memory is at least 1/8
 *   of what the bump pointer carved and has grown by 1/32 of it since the last merge (before
 *   carving more), and whenever the bump area is exhausted (before ERR_CAPACITY).
 * - Best fit (large requests, and the last resort of any request before ERR_CAPACITY): a
 *   request of n bytes (rounded to 16) merges first if anything was freed since the last merge
 *   (dlmalloc consolidates its fastbins before every large request), then the first list from
 *   floorClass(n) up that holds a block of at least n bytes gives its smallest such block, the
 *   lowest address on a tie (the thread takes that whole list, keeps the block, and pushes the
 *   others back highest first, so the list pops its lowest first). dlmalloc 2.7 is pure best
 *   fit from 512 bytes up (ties FIFO; here the lowest address), and glibc's _int_malloc calls
 *   malloc_consolidate before a large request; best fit and address-ordered first fit keep the
 *   large free runs whole (Johnstone, Wilson, "The Memory Fragmentation Problem: Solved?",
 *   1998). Smaller requests keep TLSF's "good fit": their class list, then the next non-empty.
 *   Why deferred coalescing and not boundary tags coalesced at every free (or pages moved
 *   between classes): joining a block with its neighbour at free time needs the neighbour's
 *   state and its removal from the middle of a list, which no single CAS does; every lock-free
 *   design of it either locks neighbours or leaves half-merged blocks a dead thread cannot
 *   explain. A page pool (mimalloc, jemalloc) needs per-page counts of live blocks kept exact
 *   under concurrent frees and a page's blocks pulled off a shared list when it empties: the
 *   same problem. Here a merge or a split is ONE header store on blocks the thread owns
 *   exclusively (taken off every list), so a thread that dies mid-way leaves only free blocks
 *   on no list, which the sweep (heap-sweep.ts) lists again. Concurrent allocators see empty
 *   lists while a merge runs: they split, carve, or (heap full) wait a bounded time for the
 *   merge to end (kMerging), then retry; the only wait on the allocation path, at most
 *   kMergeWaitMs, taken only when the heap is otherwise full.
 * - Free-list heads are 64-bit words (offset | tag << 32) changed by CAS on a BigUint64Array;
 *   the tag counts every push, pop and take-all, so a pop that read a stale `next` (ABA) fails.
 * - The bump pointer kTop moves forward by CAS. Memory past kTop is always zero: the sweep
 *   recognises a dead bump's unwritten block by its zero size word. It moves back only when a
 *   merge finds its highest free run ending at kTop (give-back): the merging thread owns that
 *   run, zeroes it, then CASes kTop from the run's end down to its start (a bump that came first
 *   makes the CAS fail: the run is listed as usual); a free of the block that ends at kTop does
 *   the same with that block, and when that lowers kTop to the end of the highest run the last
 *   merge listed (kHighRunEnd), merges again to give that run back. So "carved" follows the live data; the
 *   buffer itself never shrinks (SharedArrayBuffers cannot). A merge runs after a free too, when
 *   free memory is at least carved / kShrinkShare and grew by carved / kMergeStep since the last. The
 *   thread that moves kTop past byteLength grows the buffer (SharedArrayBuffer.prototype.grow,
 *   by half again at least) before it writes the block. A block is reached only through an
 *   atomic publish made after the grow, so every thread sees a byteLength that covers it:
 *   grow() is a SeqCst read-modify-write of the shared length and the byteLength getter a
 *   SeqCst load of it (ECMA-262); V8 keeps no per-thread copy (test/heap-growth.test.ts).
 *   A thread that did not grow learns the new length only in `cover`: never bound a walk by
 *   `this.u8.length` without covering first. The views (u8, u16, i32, f64) are FIXED-length
 *   views of the buffer, replaced by longer ones when a block lies past them (`cover`, called by
 *   alloc, free and checkBlock): V8 reads length-tracking views about 7x slower per element.
 *   Rule for users: read `heap.u8` etc. again after any call that may cover (alloc, checkBlock,
 *   free, retire); never keep a view across one.
 * - Stamps: every allocation takes a fresh stamp from one clock (kStampClock, Atomics.add), so
 *   (offset, stamp) names one allocation for 2^32 allocations, even when the offset was inside
 *   a merged block in between (a per-offset counter would be lost with the block's header).
 * - Safe reclamation for lock-free readers (table.ts): `retire` frees a published block at once
 *   unless some reader is pinned (the bounded-retry fallback of sync/versioned-word.ts); then the block goes
 *   on a deferred list, freed by a later retire, `collect`, or the last unpin. A reader pins
 *   before it loads a slot word and unpins after its last copy, so a block it reached cannot be
 *   freed (nor merged or split: only free blocks are) under it (proof in sync/write-gate.ts, section "pins").
 *
 * Block header words, size classes: heap-classes.ts.
 *
 * Region (RegionKind.HEAP, params [maxBytes]); lines of 128 bytes:
 *
 * | line | Int32 slot     | name            | written by            | how |
 * | ---- | -------------- | --------------- | --------------------- | --- |
 * | 0    | 0..31          | header          | creator               | region.ts |
 * | 1    | 0              | kTop            | allocators; consolidate; sweep | CAS up (bump), CAS down (a merge's top run, zeroed first); the sweep stores |
 * | 2    | 0              | kInUseBytes     | alloc / free          | Atomics.add / sub (block sizes) |
 * | 2    | 1              | kInUseBlocks    | alloc / free          | Atomics.add / sub |
 * | 2    | 2              | kCapacityErrors | failed alloc          | Atomics.add |
 * | 2    | 3              | kStampClock     | alloc                 | Atomics.add |
 * | 3    | 0              | kDeferredHead   | retire / collect      | CAS push, Atomics.exchange take-all (ABA-free) |
 * | 3    | 1              | kDeferredCount  | retire / collect      | Atomics.add / sub |
 * | 3    | 2              | kPinnedReads    | pinned readers        | Atomics.add (stats) |
 * | 4    | 0..3           | gate words      | writers, pinned readers, freezer | sync/write-gate.ts WriteGate (kPinned, kFrozen, ...) |
 * | 5    | 0              | kMerging        | consolidating threads; sweep | Atomics.add / sub; the sweep stores 0 |
 * | 5    | 1              | kMerges         | consolidate           | Atomics.add (stats) |
 * | 5    | 2              | kFreeAfterMerge | consolidate, alloc slow path | Atomics.store: free bytes after the last merge (or their low since) |
 * | 5    | 3              | kSplits         | alloc slow path       | Atomics.add (stats) |
 * | 5    | 4              | kMergedBlocks   | consolidate           | Atomics.add (stats: blocks joined into a neighbour) |
 * | 5    | 5              | kTopReturns     | consolidate           | Atomics.add (stats: top runs given back to the bump area) |
 * | 5    | 6              | kReturnedBytes  | consolidate           | Atomics.add (stats: their bytes) |
 * | 5    | 7              | kHighRunEnd     | consolidate           | Atomics.store: end of the highest run it listed (a hint: a free that lowers kTop to it merges again) |
 * | 5    | 8..14          | kNonEmpty       | push; scan            | Atomics.or after a push onto an empty list; Atomics.and by a scan that found the list empty, which then loads the head again and ORs back if a push came between (so a non-empty list's bit is set once its pusher's OR is done) |
 * | 6+c  | BigUint64 0    | free head of c  | alloc / free / consolidate; sweep | CAS (offset, tag) |
 * | 6+c  | Int32 2        | free bytes of c | alloc / free / split / consolidate; sweep | Atomics.add / sub; the sweep stores the walk's sum |
 * | 6+kClassCount+k | 0    | gate slot k     | its thread            | sync/write-gate.ts WriteGate (kGateSlots lines) |
 *
 * Publication: a block's header and payload are plain writes by the thread that owns it; the
 * atomic store that publishes its offset (a table slot CAS) makes them visible to readers. A
 * push's CAS publishes its header and kBlockNext stores to the popper (or the merger). kTop,
 * counters: Atomics only. A split writes the tail's header before it shrinks the head: a walk
 * after a crash between the two still sees one whole block.
 *
 * Rule for the domains: every alloc, free, retire and collect runs inside the heap's write gate
 * (gate.run / enter; unpin's collect uses tryEnter and skips while frozen), so that under the
 * gate's freeze no block is between two of these steps except a dead thread's. Splits and
 * merges happen inside alloc, so inside the gate too.
 *
 * CRASH TABLE (a thread terminated right after the step; recovery = engine.watch: the dead
 * thread's gate slot and pin bit cleared, then under the freeze the sweep of heap-sweep.ts,
 * which walks every block, rebuilds every free list (joining free neighbours) and sets every
 * counter from the walk):
 *
 * | protocol    | after step                               | leaves                                   | recovery |
 * | ----------- | ---------------------------------------- | ---------------------------------------- | -------- |
 * | alloc       | pop CAS / bump CAS (heap.alloc.claimed)  | a block on no list, still marked free (pop) or zeroed / past byteLength (bump) | sweep: a free block on no list is listed; a zero size word starts a hole, carved into one free block; kTop past the buffer: the buffer is grown |
 * | alloc split | tail header, head shrunk (heap.split.cut) | two free blocks on no list              | sweep lists them (joined: they are neighbours) |
 * | alloc split | tail pushed (heap.split.listed)          | the head, free, on no list; list c's byte count short | sweep lists it; counts from the walk |
 * | alloc       | size + stamp (heap.alloc.stamped)        | an allocated block nothing refers to; counters short | sweep frees it, counters set from the walk |
 * | alloc       | counters                                 | as above, counters right                 | sweep frees it |
 * | merge       | kMerging + 1 (heap.merge.begun)          | kMerging stuck: full-heap allocators wait kMergeWaitMs, then retry without it | the sweep stores 0 |
 * | merge       | every list taken (heap.merge.taken)      | every free block on no list              | sweep lists them all (joined) |
 * | merge       | a run joined (heap.merge.joined)         | one bigger free block on no list (its inner headers are payload now) | as above |
 * | merge       | a block listed (heap.merge.listed)       | the rest on no list                      | as above |
 * | give-back   | top run zeroed (heap.top.zeroed)         | a zero run below kTop (a hole); in a merge, the rest on no list | sweep: the hole ends at kTop, so it goes back to the bump area (kTop lowered); the rest listed |
 * | give-back   | kTop CAS down                            | the run past kTop, zero; in a merge, the rest on no list; in a free, counters right | sweep lists the rest |
 * | best fit    | list taken (heap.fit.taken)              | its blocks on no list                    | sweep lists them |
 * | best fit    | others pushed back                       | the kept block, free, on no list; list's byte count high | sweep lists it; counts from the walk |
 * | free        | free bit (heap.free.marked)              | a free block on no list; counters high   | sweep lists it; counters from the walk |
 * | free        | counters (heap.free.counted)             | a free block on no list                  | sweep lists it |
 * | free        | push CAS                                 | list c's byte count short                | counts from the walk |
 * | any push    | CAS onto an empty list, before its OR    | list c unmarked in kNonEmpty: #takeLarger skips it (the full-heap path scans every head) | the sweep rebuilds the lists, each first push sets the bit |
 * | retire      | deferred push (heap.defer.pushed)        | kDeferredCount one short                 | counters from the walk |
 * | collect     | exchange (heap.collect.taken)            | the deferred blocks reachable from nowhere | sweep frees them (defers while pinned) |
 * | collect     | each free (heap.collect.freeing)         | the rest of the list, as above           | as above |
 * | pin         | mask bit set (gate.pin.set)              | a pin: every retire defers               | the bit cleared (sync/write-gate.ts); the next retire / collect frees the deferred |
 */
import { ErrorCode, SabStateError } from '../../errors.ts';
import type { HashKey } from '../hash/hash.ts';
import { LINE_BYTES, LINE_INTS, RegionKind, type RegionSpec, checkRegion, createRegion } from '../region.ts';
import { crashPoint, declareCrashPoints } from '../crash.ts';
import { WriteGate, kGateSlots } from '../sync/write-gate.ts';
import {
  classOf, classSize, floorClass, kBlockHeaderBytes, kBlockNext, kBlockPrefix, kBlockSize, kBlockStamp, kClassCount, kFreeBit,
  kLargeClass, kMinBlock, kSizeLowBits,
} from './heap-classes.ts';

export { classOf, classSize, floorClass, kBlockHeaderBytes, kClassCount, kMinBlock, sizeOfWord } from './heap-classes.ts';
/** Block header words and the free bit, for heap-sweep.ts. */
export { kBlockSize as kBlockSizeWord, kBlockStamp as kBlockStampWord, kBlockNext as kBlockNextWord, kFreeBit as kBlockFreeBit } from './heap-classes.ts';

declareCrashPoints('heap', [
  'heap.alloc.claimed', 'heap.alloc.stamped', 'heap.free.marked', 'heap.free.counted', 'heap.defer.pushed', 'heap.collect.taken',
  'heap.collect.freeing', 'heap.split.cut', 'heap.split.listed', 'heap.merge.begun', 'heap.merge.taken', 'heap.merge.joined',
  'heap.merge.listed', 'heap.top.zeroed', 'heap.fit.taken',
]);

const kTop = 1 * LINE_INTS;
const kInUseBytes = 2 * LINE_INTS;
const kInUseBlocks = kInUseBytes + 1;
const kCapacityErrors = kInUseBytes + 2;
const kStampClock = kInUseBytes + 3;
const kDeferredHead = 3 * LINE_INTS;
const kDeferredCount = kDeferredHead + 1;
const kPinnedReads = kDeferredHead + 2;
const kGateBase = 4 * LINE_INTS;
const kMerging = 5 * LINE_INTS;
const kMerges = kMerging + 1;
const kFreeAfterMerge = kMerging + 2;
const kSplits = kMerging + 3;
const kMergedBlocks = kMerging + 4;
const kTopReturns = kMerging + 5;
const kReturnedBytes = kMerging + 6;
const kHighRunEnd = kMerging + 7;
/** kBitWords Int32 words: bit c set when free list c may be non-empty (a hint for the scan above a class). */
const kNonEmpty = kMerging + 8;
const kFirstClassLine = 6;
/** Int32 slot of a class line: the bytes on that free list. */
const kClassFreeBytes = 2;
const kBitWords = (kClassCount + 31) >> 5;
const kFirstGateSlotLine = kFirstClassLine + kClassCount;
export const kDataStart = (kFirstGateSlotLine + kGateSlots) * LINE_BYTES;

const kMask32 = 0xffffffffn;
const kGrowStep = 1 << 16;
/** Merge before carving when free memory is at least carved / kMergeShare ... */
const kMergeShare = 8;
/** ... and has grown by carved / kMergeStep since the last merge. */
const kMergeStep = 32;
/** After a free, merge (and so give the top run back) when free memory is at least carved / kShrinkShare ... */
const kShrinkShare = 5;
/** ... and at least this many bytes are free, and grew by as many since the last merge. */
const kMinShrinkBytes = 1 << 16;
/** Heap full and another thread merging: how long an allocation waits for it, at most. */
const kMergeWaitMs = 200;
/** The unit of the `poolPages` statistic. */
export const kPageBytes = 1 << 16;

/** Largest maxBytes: offsets and sizes stay below 2^31 (Int32 words). */
export const MAX_HEAP_BYTES = 2 ** 31 - 2 ** 16;
/** Smallest maxBytes: the metadata lines and a little room. */
export const MIN_HEAP_BYTES = kDataStart + kGrowStep;
const kDefaultInitialBytes = 1 << 20;


export interface SweepAccess {
  top(): number;
  freeHead(c: number): number;
  deferredHead(): number;
  counters(): { inUseBytes: number; inUseBlocks: number; deferred: number; merging: number; freeBytes: number[] };
  setCounters(inUseBytes: number, inUseBlocks: number, deferred: number, freeBytes: readonly number[]): void;
  /** Empties every free list (the sweep rebuilds them). */
  clearFreeLists(): void;
  pushFree(c: number, ref: number): void;
  pushDeferred(ref: number): void;
  ensure(end: number): boolean;
  /** Under the freeze: kTop lowered to `top` (the memory above it zeroed by the caller). */
  setTop(top: number): void;
  /** Whether list c's bit is set in the non-empty bitmap. */
  marked(c: number): boolean;
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
  /** The merge's list of taken blocks (this thread's, reused). */
  #taken = new Int32Array(1024);
  /** Best fit's blocks of one list (this thread's, reused). */
  #fitBlocks = new Int32Array(64);
  /** Frees by this thread (when to check whether a merge is due). */
  #frees = 0;

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
    let ref = c < kLargeClass ? this.#take(c) : 0;
    if (ref === 0) ref = this.#allocSlow(c, need);
    if (ref === 0) {
      Atomics.add(this.i32, kCapacityErrors, 1);
      throw new SabStateError(
        ErrorCode.CAPACITY,
        `${this.what}: heap full (${this.maxBytes} bytes) allocating ${payloadBytes} bytes`,
      );
    }
    crashPoint('heap.alloc.claimed');
    // #take and #bump covered the whole block.
    let size = this.i32[(ref >> 2) + kBlockSize]! & ~kSizeLowBits;
    // The class size, or n rounded to 16 for a large block or a best fit smaller than the class.
    const want = size >= classSize(c) && c < kLargeClass ? classSize(c) : (need + kSizeLowBits) & ~kSizeLowBits;
    if (size - want >= kMinBlock) {
      this.#split(ref, size, want);
      size = want;
    }
    const h = ref >> 2;
    this.i32[h + kBlockSize] = size;
    this.i32[h + kBlockStamp] = (Atomics.add(this.i32, kStampClock, 1) + 1) | 0 || 1;
    crashPoint('heap.alloc.stamped');
    Atomics.add(this.i32, kInUseBytes, size);
    Atomics.add(this.i32, kInUseBlocks, 1);
    return ref;
  }

  /** Frees a block nobody else can reach (never published, or already unpublished and unpinned). */
  free(ref: number): void {
    this.cover(ref + kBlockPrefix);
    const h = ref >> 2;
    const w = this.i32[h + kBlockSize]!;
    if ((w & kSizeLowBits) !== 0 || w < kMinBlock || ref < kDataStart || (ref & kSizeLowBits) !== 0) {
      throw new Error(`${this.what}: free of a block that is not allocated (offset ${ref})`);
    }
    this.i32[h + kBlockSize] = w | kFreeBit;
    crashPoint('heap.free.marked');
    Atomics.sub(this.i32, kInUseBytes, w);
    Atomics.sub(this.i32, kInUseBlocks, 1);
    crashPoint('heap.free.counted');
    // The top block goes straight back to the bump area; any other is listed.
    if (ref + w !== Atomics.load(this.i32, kTop) || !this.#giveBack(ref, ref + w)) {
      this.#list(ref, w);
      // Checked at every 16th free of this thread (five atomic loads saved on the others).
      if ((++this.#frees & 15) === 0 && this.#shrinkDue(true)) this.consolidate();
    } else if (Atomics.load(this.i32, kHighRunEnd) === ref && this.#shrinkDue(false)) {
      // The highest run the last merge listed now ends at the top: merge again to give it back.
      this.consolidate();
    }
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
   * Joins every run of free neighbours into one block (the merge of the header). Called by
   * alloc's slow path; public for tests and for a caller that wants the heap tidy (inside the
   * write gate). Returns how many blocks were joined into a neighbour.
   */
  consolidate(): number {
    Atomics.add(this.i32, kMerging, 1);
    crashPoint('heap.merge.begun');
    let taken = this.#taken;
    let n = 0;
    for (let c = 0; c < kClassCount; c++) {
      let ref = this.#takeAll(c);
      if (ref === 0) continue;
      let bytes = 0;
      while (ref !== 0) {
        if (n === taken.length) {
          const more = new Int32Array(n * 2);
          more.set(taken);
          this.#taken = taken = more;
        }
        taken[n++] = ref;
        this.cover(ref + kBlockPrefix);
        bytes += this.i32[(ref >> 2) + kBlockSize]! & ~kSizeLowBits;
        ref = Atomics.load(this.i32, (ref >> 2) + kBlockNext);
      }
      Atomics.sub(this.i32, this.#freeIndex(c), bytes);
    }
    crashPoint('heap.merge.taken');
    const sorted = taken.subarray(0, n).sort();
    // Runs from the highest address down, so that each list pops its lowest block first: the
    // live data packs toward the bottom and the large free runs stay whole (address order).
    let joined = 0;
    let highest = true;
    let highRunEnd = 0;
    for (let j = n; j > 0;) {
      let i = j - 1;
      const last = sorted[i]!;
      const end = last + (this.i32[last >> 2]! & ~kSizeLowBits);
      let start = last;
      while (i > 0) {
        const prev = sorted[i - 1]!;
        if (prev + (this.i32[prev >> 2]! & ~kSizeLowBits) !== start) break;
        start = prev;
        i--;
      }
      if (highest) {
        highest = false;
        if (this.#giveBack(start, end)) {
          joined += j - i - 1;
          j = i;
          continue;
        }
      }
      if (j - i > 1) {
        // One store joins the run: the inner headers become payload of the first block.
        this.i32[(start >> 2) + kBlockSize] = (end - start) | kFreeBit;
        joined += j - i - 1;
        crashPoint('heap.merge.joined');
      }
      if (highRunEnd === 0) highRunEnd = end;
      this.#list(start, end - start);
      crashPoint('heap.merge.listed');
      j = i;
    }
    Atomics.store(this.i32, kHighRunEnd, highRunEnd);
    Atomics.store(this.i32, kFreeAfterMerge, this.#freeEstimate());
    Atomics.add(this.i32, kMerges, 1);
    Atomics.add(this.i32, kMergedBlocks, joined);
    Atomics.sub(this.i32, kMerging, 1);
    return joined;
  }

  /**
   * A free run [start, end) this thread owns (a merge's highest run, or a block being freed): if it ends at kTop, it is
   * zeroed and kTop lowered to its start (carved memory given back to the bump area, so that
   * "carved" follows the live data). Memory past kTop must be zero (a dead bump's hole is told by
   * its zero size word), hence the zeroing first. False (and the run's first header written
   * back) if kTop is elsewhere or a bump moved it meanwhile: the caller lists the run.
   */
  #giveBack(start: number, end: number): boolean {
    if (Atomics.load(this.i32, kTop) !== end) return false;
    this.cover(end);
    this.i32.fill(0, start >> 2, end >> 2);
    crashPoint('heap.top.zeroed');
    if (Atomics.compareExchange(this.i32, kTop, end, start) === end) {
      Atomics.add(this.i32, kTopReturns, 1);
      Atomics.add(this.i32, kReturnedBytes, end - start);
      return true;
    }
    this.i32[(start >> 2) + kBlockSize] = (end - start) | kFreeBit;
    return false;
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

  stats() {
    const i = this.i32;
    const top = Atomics.load(i, kTop);
    const inUseBytes = Atomics.load(i, kInUseBytes);
    const carvedBytes = top - kDataStart;
    /** Free bytes per list, keyed by the list's class size in bytes (lists holding none left out). */
    const freeByClass: Record<number, number> = {};
    let freeBytes = 0;
    for (let c = 0; c < kClassCount; c++) {
      const b = Atomics.load(i, this.#freeIndex(c));
      if (b === 0) continue;
      freeByClass[classSize(c)] = b;
      freeBytes += b;
    }
    return {
      maxBytes: this.maxBytes,
      reservedBytes: this.sab.byteLength,
      topBytes: top,
      inUseBytes,
      inUseBlocks: Atomics.load(i, kInUseBlocks),
      deferredBlocks: Atomics.load(i, kDeferredCount),
      pinnedReaders: this.gate.pinned(),
      pinnedReads: Atomics.load(i, kPinnedReads),
      capacityErrors: Atomics.load(i, kCapacityErrors),
      /** Bytes the bump pointer has carved into blocks (used or free). */
      carvedBytes,
      /** Bytes on the free lists (carved, not in use, listed). */
      freeBytes,
      freeByClass,
      /** Never carved: what the bump pointer can still hand out (maxBytes - top). */
      poolBytes: this.maxBytes - top,
      /** poolBytes in 64 KiB pages. */
      poolPages: Math.floor((this.maxBytes - top) / kPageBytes),
      /** carved / in use: 1 is no fragmentation at all (1 as well for an empty heap). */
      fragmentation: inUseBytes > 0 ? carvedBytes / inUseBytes : 1,
      merges: Atomics.load(i, kMerges),
      mergedBlocks: Atomics.load(i, kMergedBlocks),
      splits: Atomics.load(i, kSplits),
      /** Merges whose highest run ended at the top and went back to the bump area, and its bytes. */
      topReturns: Atomics.load(i, kTopReturns),
      returnedBytes: Atomics.load(i, kReturnedBytes),
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
        deferred: Atomics.load(this.i32, kDeferredCount), merging: Atomics.load(this.i32, kMerging),
        freeBytes: Array.from({ length: kClassCount }, (_, c) => Atomics.load(this.i32, this.#freeIndex(c))),
      }),
      setCounters: (bytes, blocks, deferred, freeBytes) => {
        Atomics.store(this.i32, kInUseBytes, bytes);
        Atomics.store(this.i32, kInUseBlocks, blocks);
        Atomics.store(this.i32, kDeferredCount, deferred);
        Atomics.store(this.i32, kMerging, 0);
        for (let c = 0; c < kClassCount; c++) Atomics.store(this.i32, this.#freeIndex(c), freeBytes[c] ?? 0);
        Atomics.store(this.i32, kFreeAfterMerge, this.#freeEstimate());
      },
      clearFreeLists: () => {
        for (let c = 0; c < kClassCount; c++) this.#takeAll(c);
      },
      pushFree: (c, ref) => this.#push(c, ref),
      pushDeferred: (ref) => this.#pushDeferred(ref),
      ensure: (end) => this.#ensure(end) && this.cover(end),
      setTop: (top) => Atomics.store(this.i32, kTop, top),
      marked: (c) => (Atomics.load(this.i32, kNonEmpty + (c >> 5)) & (1 << (c & 31))) !== 0,
    };
  }

  #headIndex(c: number): number {
    return ((kFirstClassLine + c) * LINE_BYTES) >> 3;
  }

  #freeIndex(c: number): number {
    return (kFirstClassLine + c) * LINE_INTS + kClassFreeBytes;
  }

  /** Carved bytes not in use: free, being freed, or held by a merge. */
  #freeEstimate(): number {
    return Atomics.load(this.i32, kTop) - kDataStart - Atomics.load(this.i32, kInUseBytes);
  }

  /** A block off list c (covered, still marked free), or 0. */
  #take(c: number): number {
    const ref = this.#pop(c);
    if (ref === 0) return 0;
    const size = this.i32[(ref >> 2) + kBlockSize]! & ~kSizeLowBits;
    this.cover(ref + size);
    Atomics.sub(this.i32, this.#freeIndex(c), size);
    return ref;
  }

  /**
   * The slow path of alloc: a larger free block (split by alloc), a merge first if much carved
   * memory is free, fresh memory, and when the heap is full, merges until one serves.
   */
  #allocSlow(c: number, need: number): number {
    const want = classSize(c);
    let ref = 0;
    if (c >= kLargeClass) {
      // Best fit (address-ordered on ties): the smallest free block that holds `need`.
      const n = (need + kSizeLowBits) & ~kSizeLowBits;
      // Merge first if anything was freed since the last merge (dlmalloc consolidates its
      // fastbins before every large request): best fit then sees the free runs whole.
      const free = this.#freeEstimate();
      if (free >= n && free > Atomics.load(this.i32, kFreeAfterMerge) && Atomics.load(this.i32, kMerging) === 0) this.consolidate();
      ref = this.#bestFit(n, false);
      if (ref !== 0) return ref;
    } else {
      ref = this.#takeLarger(c);
      if (ref !== 0) return ref;
      if (this.#worthMerging(want)) {
        this.consolidate();
        ref = this.#take(c) || this.#takeLarger(c);
        if (ref !== 0) return ref;
      }
    }
    ref = this.#bump(c, need);
    if (ref !== 0) return ref;
    // Full. Free blocks another thread's merge holds are off every list: wait for it (bounded)
    // and merge again until a block fits or no merge is running.
    const n = (need + kSizeLowBits) & ~kSizeLowBits;
    for (let round = 0; round < 3; round++) {
      this.#waitForMerges();
      // Free memory and the bump area's rest: the merge may give the top run back, so both count.
      if (this.#freeEstimate() + this.maxBytes - Atomics.load(this.i32, kTop) < need) return 0;
      this.consolidate();
      ref = (c < kLargeClass ? this.#take(c) || this.#scanLarger(c) : 0) || this.#bestFit(n, true) || this.#bump(c, need);
      if (ref !== 0 || Atomics.load(this.i32, kMerging) === 0) return ref;
    }
    return 0;
  }

  /**
   * Best fit for a block of n bytes (n a multiple of 16): the first list from floorClass(n) up
   * that holds a block of at least n bytes gives its smallest such block (the lowest address on
   * a tie); the list's other blocks go back, highest address first, so that the list pops its
   * lowest block first. Lists are found through the kNonEmpty bitmap, or (scanAll: the full-heap
   * path) by loading every head. 0 if none fits.
   */
  #bestFit(n: number, scanAll: boolean): number {
    const first = floorClass(n);
    if (first < 0 || this.#freeEstimate() < n) return 0;
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
        if (ref === 0 && !scanAll) {
          // Empty: its bit cleared, then the head loaded again (a push in between sets it back).
          Atomics.and(this.i32, kNonEmpty + w, ~(1 << b));
          if (Atomics.load(this.i32, this.#headIndex(d) << 1) !== 0) Atomics.or(this.i32, kNonEmpty + w, 1 << b);
        }
      }
    }
    return 0;
  }

  /**
   * List d taken whole; its smallest block of at least n bytes kept (covered, still marked free),
   * the others pushed back. 0: the list was empty; -1: no block fit.
   */
  #fitIn(d: number, n: number): number {
    let ref = this.#takeAll(d);
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
    for (let j = k - 1; j >= 0; j--) this.#push(d, rest[j]!);
    if (fit === 0) return -1;
    Atomics.sub(this.i32, this.#freeIndex(d), fitSize);
    this.cover(fit + fitSize);
    return fit;
  }

  /**
   * A block off the smallest non-empty list above c, or 0 (none, or no free memory to look for).
   * Looks only at the lists the kNonEmpty bitmap marks (7 words instead of up to 199 heads); a
   * list found empty has its bit cleared, then its head loaded again (a push in between sets
   * the bit back). The bitmap is a hint: a pusher between its CAS and its OR leaves a list
   * unmarked for a moment, so the full-heap path scans every head (#scanLarger).
   */
  #takeLarger(c: number): number {
    if (this.#freeEstimate() < classSize(c)) return 0;
    const first = c + 1;
    for (let w = first >> 5; w < kBitWords; w++) {
      let bits = Atomics.load(this.i32, kNonEmpty + w);
      if (w === first >> 5) bits &= ~((1 << (first & 31)) - 1);
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const d = (w << 5) + b;
        const ref = this.#take(d);
        if (ref !== 0) return ref;
        Atomics.and(this.i32, kNonEmpty + w, ~(1 << b));
        if (Atomics.load(this.i32, this.#headIndex(d) << 1) !== 0) Atomics.or(this.i32, kNonEmpty + w, 1 << b);
      }
    }
    return 0;
  }

  /** As #takeLarger, every head loaded (the full-heap path: no hint trusted). */
  #scanLarger(c: number): number {
    if (this.#freeEstimate() < classSize(c)) return 0;
    for (let d = c + 1; d < kClassCount; d++) {
      // The head's offset is the low half of its 64-bit word (little-endian): one Int32 load, no BigInt.
      if (Atomics.load(this.i32, this.#headIndex(d) << 1) === 0) continue;
      const ref = this.#take(d);
      if (ref !== 0) return ref;
    }
    return 0;
  }

  /**
   * After a free: at least kMinShrinkBytes and carved / kShrinkShare are free, no merge runs, and
   * (if `grown`) free memory grew by kMinShrinkBytes and carved / kMergeStep since the last merge
   * (a small heap would otherwise merge at almost every free).
   */
  #shrinkDue(grown: boolean): boolean {
    const free = this.#freeEstimate();
    if (free < kMinShrinkBytes) return false;
    const carved = Atomics.load(this.i32, kTop) - kDataStart;
    if (free * kShrinkShare < carved) return false;
    if (grown) {
      const more = free - Atomics.load(this.i32, kFreeAfterMerge);
      if (more < kMinShrinkBytes || more * kMergeStep < carved) return false;
    }
    return Atomics.load(this.i32, kMerging) === 0;
  }

  #worthMerging(want: number): boolean {
    const free = this.#freeEstimate();
    const carved = Atomics.load(this.i32, kTop) - kDataStart;
    const last = Atomics.load(this.i32, kFreeAfterMerge);
    if (free < last) Atomics.store(this.i32, kFreeAfterMerge, free); // the low since the last merge
    return free >= want && free * kMergeShare >= carved && (free - last) * kMergeStep >= carved;
  }

  /** Waits until no merge runs, at most kMergeWaitMs (a merger that died leaves kMerging up until the sweep). */
  #waitForMerges(): void {
    const deadline = Date.now() + kMergeWaitMs;
    for (let m = Atomics.load(this.i32, kMerging); m > 0 && Date.now() < deadline; m = Atomics.load(this.i32, kMerging)) {
      Atomics.wait(this.i32, kMerging, m, 1);
    }
  }

  /** Cuts the free block ref (size bytes, owned) into ref (want bytes, still free) and a listed tail. */
  #split(ref: number, size: number, want: number): void {
    const tail = ref + want;
    // Tail header first: a walk after a crash between the two stores still sees one block.
    this.i32[(tail >> 2) + kBlockSize] = (size - want) | kFreeBit;
    this.i32[(ref >> 2) + kBlockSize] = want | kFreeBit;
    crashPoint('heap.split.cut');
    this.#list(tail, size - want);
    crashPoint('heap.split.listed');
    Atomics.add(this.i32, kSplits, 1);
  }

  /** Lists a free block of `size` bytes on its floor list and counts its bytes there. */
  #list(ref: number, size: number): void {
    const c = floorClass(size);
    this.#push(c, ref);
    Atomics.add(this.i32, this.#freeIndex(c), size);
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

  /** Takes the whole list c (head swapped for empty, tag moved): returns its first block, or 0. */
  #takeAll(c: number): number {
    const i = this.#headIndex(c);
    for (;;) {
      const head = Atomics.load(this.#b64, i);
      const ref = Number(head & kMask32);
      if (ref === 0) return 0;
      const tagged = (((head >> 32n) + 1n) & kMask32) << 32n;
      if (Atomics.compareExchange(this.#b64, i, head, tagged) === head) return ref;
    }
  }

  #push(c: number, ref: number): void {
    const i = this.#headIndex(c);
    for (;;) {
      const head = Atomics.load(this.#b64, i);
      const next = Number(head & kMask32);
      Atomics.store(this.i32, (ref >> 2) + kBlockNext, next);
      const tagged = (((head >> 32n) + 1n) & kMask32) << 32n;
      if (Atomics.compareExchange(this.#b64, i, head, tagged | BigInt(ref)) === head) {
        if (next === 0) Atomics.or(this.i32, kNonEmpty + (c >> 5), 1 << (c & 31));
        return;
      }
    }
  }

  #bump(c: number, need: number): number {
    const size = c < kLargeClass ? classSize(c) : (need + kSizeLowBits) & ~kSizeLowBits;
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
      this.i32[(top >> 2) + kBlockSize] = size;
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
