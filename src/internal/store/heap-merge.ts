/**
 * The heap's merge of free neighbours and its give-back of the top run (SharedHeap's middle
 * class: it extends heap-lists.ts, heap.ts extends it). Slots: heap-layout.ts.
 *
 * Algorithm: deferred coalescing, dlmalloc's fastbins and malloc_consolidate made lock-free (Lea,
 * "A Memory Allocator"; glibc malloc.c). Every block records its own size (a boundary tag at its
 * start), so the blocks tile [kDataStart, kTop) and any run of free neighbours can become one.
 * - Merge (consolidate): a thread takes EVERY free list at once (one CAS per list swaps the head
 *   for empty), so it owns every listed free block; it sorts them by offset, joins each run of
 *   neighbours into one block (ONE header store: the first block's size becomes the run's), and
 *   lists the results from the highest address down, so that each list pops its lowest block
 *   first. Concurrent allocators see empty lists meanwhile: they split, carve, or (heap full)
 *   wait for the merge at most kMergeWaitMs (kMerging), then retry.
 *   When it runs: when a request over 4 KiB finds no fit and anything was freed since the last
 *   merge (heap.ts); always before ERR_CAPACITY; in a top compaction (positions/compact.ts).
 * - Slice (a bounded merge, issue 12): what the triggers start, since they fire inside
 *   ordinary writes (an order that took the whole merge paid 47-76 ms for about 210,000 free
 *   blocks): before carving more when free memory is at least carved / kMergeShare and grew by
 *   carved / kMergeStep since the last merge (worthMerging); after a free when free memory is at
 *   least carved / kShrinkShare and kMinShrinkBytes and grew as much (shrinkDue). A slice takes
 *   at most kSliceBlocks blocks: lists in class order from this thread's cursor, each taken
 *   whole while its byte count / class size (a bound on its length) fits what is left of the
 *   budget; a longer list gives its newest blocks up to the budget (popped: a sample, its older
 *   blocks wait for a whole merge) and ends the slice. The cursor moves past every list the
 *   slice visited, so successive slices go round all of them. Then as the merge: sorted, runs
 *   joined, the highest given back if it ends at kTop, the rest listed. The bound is exact but
 *   for pushes that race a whole-list take (between its byte-count load and its CAS).
 *   Why not boundary tags coalesced at every free, or pages moved between classes: joining a
 *   block with its neighbour at free time needs the neighbour's state and its removal from the
 *   middle of a list, which no single CAS does; a page pool (mimalloc, jemalloc) needs per-page
 *   live counts kept exact under concurrent frees, the same problem. Here a merge or a split is
 *   one header store on blocks the thread owns, so a dead thread leaves only free blocks on no
 *   list, which the sweep lists again.
 * - Give-back: memory past kTop is always zero (the sweep tells a dead bump's unwritten block by
 *   its zero size word). When a merge's highest run ends at kTop, the thread (which owns it)
 *   zeroes it, then CASes kTop from the run's end down to its start; a bump that came first
 *   makes the CAS fail, and the run is listed as usual. A free of the block that ends at kTop
 *   does the same with that block (heap.ts), and when that lowers kTop to the end of the highest
 *   run the last merge listed (kHighRunEnd), merges again to give that run back. So "carved"
 *   follows the live data; the buffer itself never shrinks (SharedArrayBuffers cannot).
 *
 * Slots this file writes: kMerging (add / sub; a slice too), kMerges, kMergedBlocks, kTopReturns,
 * kReturnedBytes (add, stats), kHighRunEnd and kFreeAfterMerge (store), kTop (CAS down), the
 * taken lists' heads and byte counts (through heap-lists.ts), and the size word of a run's first
 * block (plain: the thread owns the run).
 *
 * CRASH TABLE (a thread terminated right after the step; recovery = the sweep of heap-sweep.ts
 * under the write gate's freeze, which walks every block, rebuilds every free list joining free
 * neighbours, gives a free run that ends at kTop back, and sets every counter from the walk):
 *
 * | protocol  | after step                         | leaves                                   | recovery |
 * | --------- | ---------------------------------- | ---------------------------------------- | -------- |
 * | merge     | kMerging + 1 (heap.merge.begun)    | kMerging stuck: full-heap allocators wait kMergeWaitMs, then retry without it | the sweep stores 0 |
 * | merge     | every list taken (heap.merge.taken) | every free block on no list             | sweep lists them all (joined) |
 * | merge     | a run joined (heap.merge.joined)   | one bigger free block on no list (its inner headers are payload now) | as above |
 * | merge     | a block listed (heap.merge.listed) | the rest on no list                      | as above |
 * | merge     | kHighRunEnd, kFreeAfterMerge stored | hints only, kMerging stuck              | the sweep stores kMerging 0 and kFreeAfterMerge |
 * | slice     | kMerging + 1 (heap.merge.begun)    | as merge                                 | as merge |
 * | slice     | lists taken or blocks popped (heap.merge.sliced) | the taken and popped blocks free on no list; their lists' byte counts lowered | sweep lists them all (joined); counts from the walk |
 * | slice     | joined, listed, given back, hints  | as the merge's rows above (the same steps, the same points) | as there |
 * | give-back | top run zeroed (heap.top.zeroed)   | a zero run below kTop (a hole); in a merge, the rest on no list | sweep: the hole ends at kTop, so it goes back to the bump area (kTop lowered); the rest listed |
 * | give-back | kTop CAS down                      | the run past kTop, zero; in a merge, the rest on no list; in a free, counters right | sweep lists the rest |
 * | give-back | CAS failed, header written back    | a free block on no list                  | sweep lists it |
 */
import { crashPoint, declareCrashPoints } from '../crash.ts';
import { classSize, kBlockNext, kBlockPrefix, kBlockSize, kClassCount, kFreeBit, kSizeLowBits } from './heap-classes.ts';
import {
  kDataStart, kFreeAfterMerge, kHighRunEnd, kMergedBlocks, kMerges, kMerging, kReturnedBytes, kTop, kTopReturns, freeIndexOf, headIndexOf,
} from './heap-layout.ts';
import { HeapLists } from './heap-lists.ts';

declareCrashPoints('heap', ['heap.merge.begun', 'heap.merge.taken', 'heap.merge.sliced', 'heap.merge.joined', 'heap.merge.listed', 'heap.top.zeroed']);

/**
 * Merge before carving when free memory is at least carved / kMergeShare ... 16 (6.25 %), was 8:
 * the seventh session's bump log of the soak (issue 11) found that 99.7 % of the blocks carved
 * past the top were small records (352-1,408 B) asked for while 5-12 % of carved was free, all of
 * it in classes below the request (the old blocks of growing records, split tails), and the
 * merge that joins such neighbours had waited for 12.5 % (test/heap-reuse 'fragments inside
 * carved'). kMergeStep still bounds how often it runs.
 */
const kMergeShare = 16;
/** ... and has grown by carved / kMergeStep since the last merge. */
const kMergeStep = 32;
/** After a free, merge (and so give the top run back) when free memory is at least carved / kShrinkShare ... */
const kShrinkShare = 5;
/** ... and at least this many bytes are free, and grew by as many since the last merge. */
const kMinShrinkBytes = 1 << 16;
/**
 * A slice's budget: blocks popped per triggered merge (about 0.3 ms at 0.26 µs a block). The
 * whole merge (every free block at once) stays for the full heap, large requests, compaction.
 */
export const kSliceBlocks = 1024;
/** Heap full and another thread merging: how long an allocation waits for it, at most. */
const kMergeWaitMs = 200;

export class HeapMerge extends HeapLists {
  /** The merge's list of taken blocks (this thread's, reused). */
  #taken = new Int32Array(1024);
  /** Where this thread's next slice starts (a class): slices resume where the last one stopped. */
  #cursor = 0;
  /** Blocks taken by this thread's merges and slices (mergeWork). */
  #work = 0;

  /**
   * Joins every run of free neighbours into one block (the merge of the header). Called by
   * alloc's slow path; public for tests and for a caller that wants the heap tidy (inside the
   * write gate). Returns how many blocks were joined into a neighbour.
   */
  consolidate(): number {
    Atomics.add(this.i32, kMerging, 1);
    crashPoint('heap.merge.begun');
    let n = 0;
    for (let c = 0; c < kClassCount; c++) n = this.#takeList(c, n);
    crashPoint('heap.merge.taken');
    return this.#joinAndList(n);
  }

  /**
   * A bounded merge (a slice): at most `budget` free blocks popped, from the lists in class order
   * starting where this thread's last slice stopped (#cursor: resumable, so successive slices go
   * round every list), then joined and listed as consolidate does. The triggers (worthMerging,
   * shrinkDue) run slices: an order that trips one pays for `budget` blocks, not for every free
   * block of the heap (about 0.26 µs each: 210,000 free blocks took 54 ms, issue 12). Returns
   * how many blocks were joined into a neighbour.
   */
  mergeSlice(budget: number): number {
    Atomics.add(this.i32, kMerging, 1);
    crashPoint('heap.merge.begun');
    let taken = this.#taken;
    let n = 0;
    let c = this.#cursor;
    for (let seen = 0; seen < kClassCount && n < budget;) {
      // The head's offset is the low half of its 64-bit word: one Int32 load skips an empty list.
      if (Atomics.load(this.i32, headIndexOf(c) << 1) !== 0) {
        // A list that fits the budget whole (its byte count over its class size bounds its
        // length) is taken whole, as consolidate does: neighbours on small lists all meet.
        if (Math.ceil(Atomics.load(this.i32, freeIndexOf(c)) / classSize(c)) <= budget - n) {
          n = this.#takeList(c, n);
          taken = this.#taken;
        } else {
          // Too long: its newest blocks popped up to the budget (a sample: the blocks listed
          // back go on top, so the next slice would pop the same ones), and the slice ends; the
          // next resumes at the next list, so that successive slices go round every list.
          for (let ref = this.take(c); ref !== 0; ref = n < budget ? this.take(c) : 0) {
            if (n === taken.length) taken = this.#grow(n);
            taken[n++] = ref;
          }
        }
      }
      c = c + 1 === kClassCount ? 0 : c + 1;
      seen++;
    }
    this.#cursor = c;
    crashPoint('heap.merge.sliced');
    return this.#joinAndList(n);
  }

  /** List c taken whole (one CAS) into #taken from index n, its bytes uncounted: the new n. */
  #takeList(c: number, n: number): number {
    let ref = this.takeAll(c);
    if (ref === 0) return n;
    let taken = this.#taken;
    let bytes = 0;
    while (ref !== 0) {
      if (n === taken.length) taken = this.#grow(n);
      taken[n++] = ref;
      this.cover(ref + kBlockPrefix);
      bytes += this.i32[(ref >> 2) + kBlockSize]! & ~kSizeLowBits;
      ref = Atomics.load(this.i32, (ref >> 2) + kBlockNext);
    }
    Atomics.sub(this.i32, freeIndexOf(c), bytes);
    return n;
  }

  /** Blocks taken by this thread's merges and slices so far (tests: the work a call did). */
  get mergeWork(): number {
    return this.#work;
  }

  #grow(n: number): Int32Array<ArrayBuffer> {
    const more = new Int32Array(n * 2);
    more.set(this.#taken);
    return (this.#taken = more);
  }

  /**
   * The taken blocks (#taken[0..n), owned by this thread, on no list, their bytes uncounted)
   * sorted, each run of neighbours joined, the highest given back if it ends at kTop, the rest
   * listed; the merge's counters and kMerging lowered.
   */
  #joinAndList(n: number): number {
    this.#work += n;
    const sorted = this.#taken.subarray(0, n).sort();
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
        if (this.giveBack(start, end)) {
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
      this.list(start, end - start);
      crashPoint('heap.merge.listed');
      j = i;
    }
    Atomics.store(this.i32, kHighRunEnd, highRunEnd);
    Atomics.store(this.i32, kFreeAfterMerge, this.freeEstimate());
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
  protected giveBack(start: number, end: number): boolean {
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
   * After a free: at least kMinShrinkBytes and carved / kShrinkShare are free, no merge runs, and
   * (if `grown`) free memory grew by kMinShrinkBytes and carved / kMergeStep since the last merge
   * (a small heap would otherwise merge at almost every free).
   */
  protected shrinkDue(grown: boolean): boolean {
    const free = this.freeEstimate();
    if (free < kMinShrinkBytes) return false;
    const carved = Atomics.load(this.i32, kTop) - kDataStart;
    if (free * kShrinkShare < carved) return false;
    if (grown) {
      const more = free - Atomics.load(this.i32, kFreeAfterMerge);
      if (more < kMinShrinkBytes || more * kMergeStep < carved) return false;
    }
    return Atomics.load(this.i32, kMerging) === 0;
  }

  protected worthMerging(want: number): boolean {
    const free = this.freeEstimate();
    const carved = Atomics.load(this.i32, kTop) - kDataStart;
    const last = Atomics.load(this.i32, kFreeAfterMerge);
    if (free < last) Atomics.store(this.i32, kFreeAfterMerge, free); // the low since the last merge
    return free >= want && free * kMergeShare >= carved && (free - last) * kMergeStep >= carved;
  }

  /** Waits until no merge runs, at most kMergeWaitMs (a merger that died leaves kMerging up until the sweep). */
  protected waitForMerges(): void {
    const deadline = Date.now() + kMergeWaitMs;
    for (let m = Atomics.load(this.i32, kMerging); m > 0 && Date.now() < deadline; m = Atomics.load(this.i32, kMerging)) {
      Atomics.wait(this.i32, kMerging, m, 1);
    }
  }
}
