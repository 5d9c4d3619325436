/**
 * A shared heap: variable-size blocks in one growable SharedArrayBuffer, every byte of allocator
 * state inside the buffer, so any thread allocates and frees. Freed memory serves any size.
 * SharedHeap (this file: alloc, free, retire, collect, pin) extends HeapMerge (heap-merge.ts:
 * merge of free neighbours, give-back of the top run), which extends HeapLists (heap-lists.ts:
 * free lists, bitmap, best fit, views and growth). Slots: heap-layout.ts; size classes and block
 * words: heap-classes.ts; stats: heap-stats.ts; checker and repair: heap-sweep.ts.
 *
 * Algorithm: segregated fits with deferred coalescing (dlmalloc's fastbins and consolidate, made
 * lock-free), best fit for large requests, and a bump pointer that moves back (give-back).
 * - alloc(n): a request of class c < kLargeClass (4 KiB and less) pops its class list (one CAS:
 *   the hot path); else the slow path. Slow path, small: the smallest non-empty larger list
 *   gives a block (split below), a bounded merge (mergeSlice) first if much carved memory is
 *   free (worthMerging),
 *   then fresh memory from the bump pointer kTop (CAS up; the thread that moves it past
 *   byteLength grows the buffer first). Large (over 4 KiB, cut to n rounded to 16): best fit;
 *   if none, a merge if anything was freed since the last and best fit again; then the bump
 *   pointer. Heap full: wait for
 *   a running merge (at most kMergeWaitMs), merge, best fit over every head, bump; ERR_CAPACITY
 *   only after that.
 * - Split: a block larger than wanted by kMinBlock or more is cut: the tail's header first, then
 *   the head shrunk (a walk after a crash between the two still sees one whole block), then the
 *   tail listed.
 * - free(ref): the free bit set, the counters lowered; the block that ends at kTop goes back to
 *   the bump area (heap-merge.ts giveBack), any other is listed; every 16th free of a thread
 *   checks whether a bounded merge (mergeSlice) is due (shrinkDue).
 * - Bound (SharedHeap.bound, this thread's): while a top compaction (positions/compact.ts) moves
 *   blocks below an offset, its allocations come from the free lists only (no bump, no merge, no
 *   wait) and a refusal is not counted as a capacity error; when the lists have nothing, from
 *   the compactor's withheld window blocks (`held`) below `heldBelow`, lowest first.
 * - Stamps: every allocation takes a fresh stamp from one clock (kStampClock, Atomics.add), so
 *   (offset, stamp) names one allocation for 2^32 allocations, even when the offset was inside
 *   a merged block in between.
 * - Safe reclamation for lock-free readers (table.ts): `retire` frees a published block at once
 *   unless some reader is pinned (the bounded-retry fallback of sync/versioned-word.ts); then the
 *   block goes on a deferred list, freed by a later retire, `collect`, or the last unpin. A reader
 *   pins before it loads a slot word and unpins after its last copy, so a block it reached cannot
 *   be freed (nor merged or split: only free blocks are) under it (proof in sync/write-gate.ts,
 *   section "pins").
 *
 * Slots this file writes: kTop (CAS up), kInUseBytes, kInUseBlocks, kCapacityErrors, kStampClock,
 * kSplits, kDeferredCount, kPinnedReads, kCompactStops (countStop) (Atomics.add / sub), kFreeAfterMerge (store of a lower
 * value, worthMerging), kDeferredHead (exchange, collect); a block's size and stamp words (plain,
 * by the thread that owns the block). Publication: a block's header and payload are plain writes
 * by its owner; the atomic store that publishes its offset (a table slot CAS) makes them visible
 * to readers; a push's CAS publishes its header and kBlockNext to the popper or the merger.
 *
 * Rule for the domains: every alloc, free, retire and collect runs inside the heap's write gate
 * (gate.run / enter; unpin's collect uses tryEnter and skips while frozen), so that under the
 * gate's freeze no block is between two of these steps except a dead thread's. Splits, merges
 * and best fits happen inside alloc or free, so inside the gate too.
 *
 * CRASH TABLE (a thread terminated right after the step; recovery = engine.watch: the dead
 * thread's gate slot and pin bit cleared, then under the freeze the sweep of heap-sweep.ts, which
 * walks every block, rebuilds every free list (joining free neighbours) and sets every counter
 * from the walk). The lists' rows (pop, push, best fit): heap-lists.ts; merge and give-back:
 * heap-merge.ts.
 *
 * | protocol    | after step                               | leaves                                   | recovery |
 * | ----------- | ---------------------------------------- | ---------------------------------------- | -------- |
 * | alloc       | pop CAS / best fit / bump CAS (heap.alloc.claimed) | a block on no list, still marked free (pop, best fit) or zeroed / past byteLength (bump) | sweep: a free block on no list is listed; a zero size word starts a hole, carved into one free block; kTop past the buffer: the buffer is grown |
 * | alloc bump  | grow failed, kTop CAS back               | nothing (or, if a bump came between, a hole) | sweep: the hole is carved into a free block |
 * | alloc split | tail header, head shrunk (heap.split.cut) | two free blocks on no list              | sweep lists them (joined: they are neighbours) |
 * | alloc split | tail pushed (heap.split.listed)          | the head, free, on no list; list c's byte count short | sweep lists it; counts from the walk |
 * | alloc       | size + stamp (heap.alloc.stamped)        | an allocated block nothing refers to; counters short | sweep frees it, counters set from the walk |
 * | alloc       | counters                                 | as above, counters right                 | sweep frees it |
 * | free        | free bit (heap.free.marked)              | a free block on no list; counters high   | sweep lists it; counters from the walk |
 * | free        | counters (heap.free.counted)             | a free block on no list                  | sweep lists it |
 * | free        | listed, or given back                    | as heap-lists.ts (list) or heap-merge.ts (give-back) | as there |
 * | retire      | deferred push (heap.defer.pushed)        | kDeferredCount one short                 | counters from the walk |
 * | collect     | exchange (heap.collect.taken)            | the deferred blocks reachable from nowhere | sweep frees them (defers while pinned) |
 * | collect     | each free (heap.collect.freeing)         | the rest of the list, as above           | as above |
 * | pin         | mask bit set (gate.pin.set)              | a pin: every retire defers               | the bit cleared (sync/write-gate.ts); the next retire / collect frees the deferred |
 * | withhold    | a list taken (heap.withhold.taken)       | its blocks, and the window's blocks of lists taken before, free on no list | sweep lists them; counts from the walk |
 * | withhold    | done, before restore                     | the window's free blocks on no list (counted on their lists) | as above |
 * | alloc held  | taken from `held` (#takeHeld), cut (heap.split.cut), tail back in `held` (heap.split.listed), stamped | as alloc's rows for a popped block (free, on no list), its tail on no list like every withheld block | as there; the held blocks as withhold's |
 * | restore     | some pushed                              | the rest free on no list                 | as above |
 */
import { ErrorCode, SabStateError } from '../../errors.ts';
import type { HashKey } from '../hash/hash.ts';
import { LINE_INTS, checkRegion } from '../region.ts';
import { crashPoint, declareCrashPoints } from '../crash.ts';
import { WriteGate } from '../sync/write-gate.ts';
import {
  classOf, classSize, floorClass, kBlockHeaderBytes, kBlockNext, kBlockPrefix, kBlockSize, kBlockStamp, kClassCount, kFreeBit, kLargeClass,
  kMinBlock, kSizeLowBits,
} from './heap-classes.ts';
import {
  type HeapHandle, kCapacityErrors, kDataStart, kDeferredCount, kDeferredHead, kFirstGateSlotLine, kFreeAfterMerge, kGateBase,
  kHighRunEnd, kInUseBlocks, kInUseBytes, kMerging, kNonEmpty, kPinnedReads, kSplits, kStampClock, kTop, freeIndexOf, headIndexOf,
  heapSpecOf, kCompacting, kCompactions, kCompactMoves, kCompactBytes, kCompactAttempts, kCompactStops,
} from './heap-layout.ts';
import { HeapMerge, kSliceBlocks } from './heap-merge.ts';
import { type SweepAccess, heapStats } from './heap-stats.ts';

export { classOf, classSize, floorClass, kBlockHeaderBytes, kClassCount, kMinBlock, sizeOfWord } from './heap-classes.ts';
/** Block header words and the free bit, for heap-sweep.ts. */
export { kBlockSize as kBlockSizeWord, kBlockStamp as kBlockStampWord, kBlockNext as kBlockNextWord, kFreeBit as kBlockFreeBit } from './heap-classes.ts';
export { type HeapHandle, MAX_HEAP_BYTES, MIN_HEAP_BYTES, createHeapHandle, kDataStart, kPageBytes } from './heap-layout.ts';
export type { HeapStats, SweepAccess } from './heap-stats.ts';

declareCrashPoints('heap', [
  'heap.alloc.claimed', 'heap.alloc.stamped', 'heap.free.marked', 'heap.free.counted', 'heap.defer.pushed', 'heap.collect.taken',
  'heap.collect.freeing', 'heap.split.cut', 'heap.split.listed', 'heap.withhold.taken',
]);

const kMask32 = 0xffffffffn;

/** The bytes of a block cut for a request of class c needing `need` bytes: the class size up to 4 KiB, else `need` rounded to 16. */
function blockBytes(c: number, need: number): number {
  return c < kLargeClass ? classSize(c) : (need + kSizeLowBits) & ~kSizeLowBits;
}

export class SharedHeap extends HeapMerge {
  /** The domain's write gate (snapshots): its words live in this region. */
  readonly gate: WriteGate;
  readonly what: string;
  readonly #maxBlock: number;
  /** Frees by this thread (when to check whether a merge is due). */
  #frees = 0;
  /**
   * While nonzero, THIS thread's allocations are served from the free lists only: no bump, no
   * merge, no wait; a refusal throws ERR_CAPACITY without counting it in kCapacityErrors. A top
   * compaction (positions/compact.ts lowerTop) sets it to the start of the window it empties, so
   * that its copies land below it (a block it gets above is kept back by the compactor and freed
   * at its end: each such block leaves the lists, so the retries end).
   */
  bound = 0;
  /**
   * While `bound` is set, a top compaction's withheld window blocks (withhold: free, on no list,
   * this thread's), sorted by address: when the lists have no block for a copy, THIS thread's
   * allocation takes the lowest of them that fits and ends at or below `heldBelow` (the lowest
   * window block of the record being moved), split as alloc splits, its tail kept here (not
   * listed). So a copy that finds no room below the window still moves down inside it (a
   * sliding compaction of the window), and the top comes down to the highest live block.
   * `fromHeld`: set by an allocation that came from here, cleared by the caller before it
   * allocates (the compactor keeps such a block, where it hoards a window block the lists gave).
   */
  held: number[] | null = null;
  heldBelow = 0;
  fromHeld = false;

  constructor(handle: HeapHandle, key: HashKey, what: string) {
    super(checkRegion(handle.sab, heapSpecOf(handle.maxBytes, key), what), handle.maxBytes);
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
    let ref = c < kLargeClass ? this.take(c) : 0;
    if (ref === 0) ref = this.bound === 0 ? this.#allocSlow(c, need) : this.#allocListed(c, need) || this.#takeHeld(c, need);
    if (ref === 0) {
      if (this.bound === 0) Atomics.add(this.i32, kCapacityErrors, 1);
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
    if (ref + w !== Atomics.load(this.i32, kTop) || !this.giveBack(ref, ref + w)) {
      this.list(ref, w);
      // Checked at every 16th free of this thread (five atomic loads saved on the others).
      if ((++this.#frees & 15) === 0 && this.shrinkDue(true)) this.mergeSlice(kSliceBlocks);
    } else if (Atomics.load(this.i32, kHighRunEnd) === ref && this.shrinkDue(false)) {
      // The highest run the last merge listed now ends at the top: merge again to give it back.
      this.mergeSlice(kSliceBlocks);
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
        this.pushDeferred(ref);
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

  stats() {
    return heapStats(this);
  }

  /** carved / in use right now, as 1000ths (two loads: the top compaction's cheap check). */
  fragmentationMilli(): number {
    const used = Atomics.load(this.i32, kInUseBytes);
    return used > 0 ? Math.floor((1000 * (Atomics.load(this.i32, kTop) - kDataStart)) / used) : 1000;
  }

  /**
   * A top compaction's window (positions/compact.ts T3): every listed free block at or above
   * `lo` taken off its list, owned by this thread (still marked free, its bytes still counted on
   * its list, as best fit's kept block), so that the copies (bound) find only blocks below and
   * none is allocated above only to be kept back. Each list is taken whole (one CAS) and the
   * blocks below `lo` pushed back highest first (the list pops its lowest first). Concurrent
   * allocators see a list empty meanwhile, as during a merge. Give them back with `restore`
   * (before the merge that joins the emptied window). Inside the gate, with the compaction flag.
   */
  withhold(lo: number): number[] {
    const held: number[] = [];
    const below: number[] = [];
    for (let c = 0; c < kClassCount; c++) {
      if (Atomics.load(this.i32, headIndexOf(c) << 1) === 0) continue;
      let ref = this.takeAll(c);
      if (ref === 0) continue;
      crashPoint('heap.withhold.taken');
      below.length = 0;
      while (ref !== 0) {
        this.cover(ref + kBlockPrefix);
        if (ref >= lo) held.push(ref);
        else below.push(ref);
        ref = Atomics.load(this.i32, (ref >> 2) + kBlockNext);
      }
      below.sort((x, y) => x - y);
      for (let j = below.length - 1; j >= 0; j--) this.push(c, below[j]!);
    }
    return held;
  }

  /** Blocks `withhold` took, back on their lists (their bytes were never uncounted). */
  restore(held: number[]): void {
    for (const ref of held) {
      this.cover(ref + kBlockPrefix);
      this.push(floorClass(this.i32[(ref >> 2) + kBlockSize]! & ~kSizeLowBits), ref);
    }
  }

  /** The top compaction's flag (kCompacting): true if this thread took it (CAS 0 -> 1). Inside the write gate. */
  beginCompaction(): boolean {
    if (Atomics.compareExchange(this.i32, kCompacting, 0, 1) !== 0) return false;
    Atomics.add(this.i32, kCompactAttempts, 1);
    return true;
  }

  /** The flag dropped and the compaction counted (stats): `moves` records and entries, `bytes` copied; lowered: the top went down. */
  endCompaction(moves: number, bytes: number): void {
    if (moves > 0) {
      Atomics.add(this.i32, kCompactions, 1);
      Atomics.add(this.i32, kCompactMoves, moves);
      Atomics.add(this.i32, kCompactBytes, bytes);
    }
    Atomics.store(this.i32, kCompacting, 0);
  }

  /** A top compaction that moved nothing, counted by why (`kind`: positions/compact.ts TopStop; stats topStops). */
  countStop(kind: number): void {
    Atomics.add(this.i32, kCompactStops + kind, 1);
  }

  /** The stamp clock now: every block allocated from here on has a newer stamp (stampOf). */
  stampClock(): number {
    return Atomics.load(this.i32, kStampClock);
  }

  /** Whether ref is on the deferred list (a walk of it, bounded: a hint, the list changes under it). */
  isDeferred(ref: number, limit = 1 << 16): boolean {
    let p = Atomics.load(this.i32, kDeferredHead);
    for (let n = 0; p !== 0 && n < limit; n++) {
      if (p === ref) return true;
      if (p < kDataStart || (p & kSizeLowBits) !== 0 || !this.cover(p + kBlockPrefix)) return false;
      p = Atomics.load(this.i32, (p >> 2) + kBlockNext);
    }
    return false;
  }

  /**
   * @internal For heap-sweep.ts only (recovery and verify run under the gate's freeze): the
   * allocator's words, read and repaired there.
   */
  sweepAccess(): SweepAccess {
    return {
      top: () => Atomics.load(this.i32, kTop),
      freeHead: (c) => Number(Atomics.load(this.b64, headIndexOf(c)) & kMask32),
      deferredHead: () => Atomics.load(this.i32, kDeferredHead),
      counters: () => ({
        inUseBytes: Atomics.load(this.i32, kInUseBytes), inUseBlocks: Atomics.load(this.i32, kInUseBlocks),
        deferred: Atomics.load(this.i32, kDeferredCount), merging: Atomics.load(this.i32, kMerging),
        compacting: Atomics.load(this.i32, kCompacting),
        freeBytes: Array.from({ length: kClassCount }, (_, c) => Atomics.load(this.i32, freeIndexOf(c))),
      }),
      setCounters: (bytes, blocks, deferred, freeBytes) => {
        Atomics.store(this.i32, kInUseBytes, bytes);
        Atomics.store(this.i32, kInUseBlocks, blocks);
        Atomics.store(this.i32, kDeferredCount, deferred);
        Atomics.store(this.i32, kMerging, 0);
        Atomics.store(this.i32, kCompacting, 0);
        for (let c = 0; c < kClassCount; c++) Atomics.store(this.i32, freeIndexOf(c), freeBytes[c] ?? 0);
        Atomics.store(this.i32, kFreeAfterMerge, this.freeEstimate());
      },
      clearFreeLists: () => {
        for (let c = 0; c < kClassCount; c++) this.takeAll(c);
      },
      pushFree: (c, ref) => this.push(c, ref),
      pushDeferred: (ref) => this.pushDeferred(ref),
      ensure: (end) => this.ensure(end) && this.cover(end),
      setTop: (top) => Atomics.store(this.i32, kTop, top),
      marked: (c) => (Atomics.load(this.i32, kNonEmpty + (c >> 5)) & (1 << (c & 31))) !== 0,
    };
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
      ref = this.bestFit(n, false);
      if (ref !== 0) return ref;
      // None: merge if anything was freed since the last merge (neighbours freed apart may hold
      // it together), before carving more.
      const free = this.freeEstimate();
      if (free >= n && free > Atomics.load(this.i32, kFreeAfterMerge) && Atomics.load(this.i32, kMerging) === 0) {
        this.consolidate();
        ref = this.bestFit(n, false);
        if (ref !== 0) return ref;
      }
    } else {
      ref = this.takeLarger(c);
      if (ref !== 0) return ref;
      if (this.worthMerging(want)) {
        this.mergeSlice(kSliceBlocks);
        ref = this.take(c) || this.takeLarger(c);
        if (ref !== 0) return ref;
      }
    }
    ref = this.#bump(c, need);
    if (ref !== 0) return ref;
    // Full. Free blocks another thread's merge holds are off every list: wait for it (bounded)
    // and merge again until a block fits or no merge is running.
    const n = (need + kSizeLowBits) & ~kSizeLowBits;
    for (let round = 0; round < 3; round++) {
      this.waitForMerges();
      // Free memory and the bump area's rest: the merge may give the top run back, so both count.
      if (this.freeEstimate() + this.maxBytes - Atomics.load(this.i32, kTop) < need) return 0;
      this.consolidate();
      ref = (c < kLargeClass ? this.take(c) || this.scanLarger(c) : 0) || this.bestFit(n, true) || this.#bump(c, need);
      if (ref !== 0 || Atomics.load(this.i32, kMerging) === 0) return ref;
    }
    return 0;
  }

  /**
   * The slow path while `bound` is set (a top compaction's copies): a larger listed block (small),
   * best fit (large); never the bump area, no merge (the compactor merged just before), no wait.
   */
  #allocListed(c: number, need: number): number {
    return c < kLargeClass ? this.takeLarger(c) : this.bestFit((need + kSizeLowBits) & ~kSizeLowBits, false);
  }

  /**
   * The lowest block of `held` (sorted by address) of at least the size alloc cuts for class c /
   * `need` that ends at or below heldBelow, taken out of `held` and uncounted from its list's
   * bytes (as `take` does), cut to that size here with its tail put back in `held` at its place
   * (counted on its list's bytes, as withheld blocks are); 0 if none. The block stays marked
   * free until alloc stamps it (crash table: as a popped block and a split).
   */
  #takeHeld(c: number, need: number): number {
    const held = this.held;
    if (held === null) return 0;
    const want = blockBytes(c, need);
    for (let k = 0; k < held.length; k++) {
      const ref = held[k]!;
      if (ref + want > this.heldBelow) break;
      this.cover(ref + kBlockPrefix);
      const size = this.i32[(ref >> 2) + kBlockSize]! & ~kSizeLowBits;
      if (size < want) continue;
      this.cover(ref + size);
      Atomics.sub(this.i32, freeIndexOf(floorClass(size)), size);
      if (size - want >= kMinBlock) {
        this.#cut(ref, size, want);
        held[k] = ref + want;
        Atomics.add(this.i32, freeIndexOf(floorClass(size - want)), size - want);
        crashPoint('heap.split.listed');
        Atomics.add(this.i32, kSplits, 1);
      } else {
        held.splice(k, 1);
      }
      this.fromHeld = true;
      return ref;
    }
    return 0;
  }

  /** Cuts the free block ref (size bytes, owned) into ref (want bytes, still free) and a listed tail. */
  #split(ref: number, size: number, want: number): void {
    this.#cut(ref, size, want);
    this.list(ref + want, size - want);
    crashPoint('heap.split.listed');
    Atomics.add(this.i32, kSplits, 1);
  }

  /** The free block ref (size bytes, owned) cut in two free blocks, want bytes and the tail (on no list). */
  #cut(ref: number, size: number, want: number): void {
    const tail = ref + want;
    // Tail header first: a walk after a crash between the two stores still sees one block.
    this.i32[(tail >> 2) + kBlockSize] = (size - want) | kFreeBit;
    this.i32[(ref >> 2) + kBlockSize] = want | kFreeBit;
    crashPoint('heap.split.cut');
  }

  #bump(c: number, need: number): number {
    const size = blockBytes(c, need);
    for (;;) {
      const top = Atomics.load(this.i32, kTop);
      const end = top + size;
      if (end > this.maxBytes) return 0;
      if (Atomics.compareExchange(this.i32, kTop, top, end) !== top) continue;
      if (!this.ensure(end)) {
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

  #defer(ref: number): void {
    this.pushDeferred(ref);
    crashPoint('heap.defer.pushed');
    Atomics.add(this.i32, kDeferredCount, 1);
  }
}
