/**
 * The shared heap's region: where every word of allocator state lives, and the region's creation.
 * The heap is four files by concern (issue 11), each with its own algorithm, slots and crash rows:
 * - heap-lists.ts: the free lists (tagged Treiber stacks), the non-empty bitmap, best fit, the
 *   deferred list's push, the views and the buffer's growth;
 * - heap-merge.ts: the merge of free neighbours (deferred coalescing) and the give-back of the
 *   top run to the bump area;
 * - heap.ts: SharedHeap: alloc (pop, split, bump), free, retire, collect, pin, and the overview;
 * - heap-stats.ts: what stats() reports; heap-classes.ts: size classes and block words;
 *   heap-sweep.ts: the invariant checker and the repair (recovery).
 *
 * Algorithm: none here (creation only): the creator zeroes the region (createRegion), writes the
 * region header and kTop = kDataStart, and hands the buffer out; no other thread sees it before.
 *
 * Region (RegionKind.HEAP, params [maxBytes]); lines of 128 bytes. Every slot, who writes it and
 * how (the file named is where the protocol and its crash rows are):
 *
 * | line | Int32 slot     | name            | written by            | how |
 * | ---- | -------------- | --------------- | --------------------- | --- |
 * | 0    | 0..31          | header          | creator               | region.ts |
 * | 1    | 0              | kTop            | bump (heap.ts); give-back (heap-merge.ts); sweep | CAS up (bump), CAS down (a top run, zeroed first); the sweep stores |
 * | 2    | 0              | kInUseBytes     | alloc / free (heap.ts) | Atomics.add / sub (block sizes) |
 * | 2    | 1              | kInUseBlocks    | alloc / free          | Atomics.add / sub |
 * | 2    | 2              | kCapacityErrors | failed alloc          | Atomics.add |
 * | 2    | 3              | kStampClock     | alloc                 | Atomics.add |
 * | 3    | 0              | kDeferredHead   | retire / collect (heap.ts, heap-lists.ts) | CAS push, Atomics.exchange take-all (ABA-free) |
 * | 3    | 1              | kDeferredCount  | retire / collect      | Atomics.add / sub |
 * | 3    | 2              | kPinnedReads    | pinned readers        | Atomics.add (stats) |
 * | 4    | 0..3           | gate words      | writers, pinned readers, freezer | sync/write-gate.ts WriteGate (kPinned, kFrozen, ...) |
 * | 5    | 0              | kMerging        | merging threads (heap-merge.ts); sweep | Atomics.add / sub; the sweep stores 0 |
 * | 5    | 1              | kMerges         | merge                 | Atomics.add (stats) |
 * | 5    | 2              | kFreeAfterMerge | merge, alloc slow path | Atomics.store: free bytes after the last merge (or their low since) |
 * | 5    | 3              | kSplits         | alloc slow path       | Atomics.add (stats) |
 * | 5    | 4              | kMergedBlocks   | merge                 | Atomics.add (stats: blocks joined into a neighbour) |
 * | 5    | 5              | kTopReturns     | give-back             | Atomics.add (stats: top runs given back to the bump area) |
 * | 5    | 6              | kReturnedBytes  | give-back             | Atomics.add (stats: their bytes) |
 * | 5    | 7              | kHighRunEnd     | merge                 | Atomics.store: end of the highest run it listed (a hint: a free that lowers kTop to it merges again) |
 * | 5    | 8..14          | kNonEmpty       | push; scans (heap-lists.ts) | Atomics.or after a push onto an empty list; Atomics.and by a scan that found the list empty, which then loads the head again and ORs back if a push came between |
 * | 5    | 15             | kCompacting     | the top compaction (positions/compact.ts, through SharedHeap.beginCompaction / endCompaction); sweep | CAS 0 -> 1 (one compactor at a time, inside the write gate), store 0 at its end; the sweep stores 0 |
 * | 5    | 16..18         | kCompactions, kCompactMoves, kCompactBytes | the top compaction's end | Atomics.add (stats: compactions that lowered the top, blocks' owners moved, bytes copied) |
 * | 5    | 19             | kCompactAttempts | beginCompaction when it took the flag | Atomics.add (stats: top compactions begun, each a scan and a walk) |
 * | 5    | 20..26         | kCompactStops   | the top compaction, when it moved nothing (countStop) | Atomics.add (stats: why, by positions/compact.ts TopStop) |
 * | 6+c  | BigUint64 0    | free head of c  | pop / push / take-all (heap-lists.ts); sweep | CAS (offset, tag) |
 * | 6+c  | Int32 2        | free bytes of c | list / take / best fit / merge; sweep | Atomics.add / sub; the sweep stores the walk's sum |
 * | 6+kClassCount+k | 0    | gate slot k     | its thread            | sync/write-gate.ts WriteGate (kGateSlots lines) |
 *
 * CRASH TABLE: creation is one thread's before the handle is shared; a creator that dies leaves
 * a buffer nobody attached to. The protocols' tables: heap-lists.ts, heap-merge.ts, heap.ts.
 */
import type { HashKey } from '../hash/hash.ts';
import { LINE_BYTES, LINE_INTS, RegionKind, type RegionSpec, createRegion } from '../region.ts';
import { kGateSlots } from '../sync/write-gate.ts';
import { kClassCount } from './heap-classes.ts';

export const kTop = 1 * LINE_INTS;
export const kInUseBytes = 2 * LINE_INTS;
export const kInUseBlocks = kInUseBytes + 1;
export const kCapacityErrors = kInUseBytes + 2;
export const kStampClock = kInUseBytes + 3;
export const kDeferredHead = 3 * LINE_INTS;
export const kDeferredCount = kDeferredHead + 1;
export const kPinnedReads = kDeferredHead + 2;
export const kGateBase = 4 * LINE_INTS;
export const kMerging = 5 * LINE_INTS;
export const kMerges = kMerging + 1;
export const kFreeAfterMerge = kMerging + 2;
export const kSplits = kMerging + 3;
export const kMergedBlocks = kMerging + 4;
export const kTopReturns = kMerging + 5;
export const kReturnedBytes = kMerging + 6;
export const kHighRunEnd = kMerging + 7;
/** kBitWords Int32 words: bit c set when free list c may be non-empty (a hint for the scan above a class). */
export const kNonEmpty = kMerging + 8;
export const kBitWords = (kClassCount + 31) >> 5;
/** 1 while a thread runs a top compaction (positions/compact.ts lowerTop): one at a time. */
export const kCompacting = kNonEmpty + kBitWords;
export const kCompactions = kCompacting + 1;
export const kCompactMoves = kCompacting + 2;
export const kCompactBytes = kCompacting + 3;
export const kCompactAttempts = kCompacting + 4;
/** kStopKinds Int32 words: top compactions that moved nothing, by what stopped them (positions/compact.ts TopStop). */
export const kCompactStops = kCompacting + 5;
export const kStopKinds = 7;
export const kFirstClassLine = 6;
/** Int32 slot of a class line: the bytes on that free list. */
export const kClassFreeBytes = 2;
export const kFirstGateSlotLine = kFirstClassLine + kClassCount;
export const kDataStart = (kFirstGateSlotLine + kGateSlots) * LINE_BYTES;

/** The buffer grows in steps of this many bytes (and by half again at least). */
export const kGrowStep = 1 << 16;
/** The unit of the `poolPages` statistic. */
export const kPageBytes = 1 << 16;
/** Largest maxBytes: offsets and sizes stay below 2^31 (Int32 words). */
export const MAX_HEAP_BYTES = 2 ** 31 - 2 ** 16;
/** Smallest maxBytes: the metadata lines and a little room. */
export const MIN_HEAP_BYTES = kDataStart + kGrowStep;
const kDefaultInitialBytes = 1 << 20;

export interface HeapHandle {
  readonly sab: SharedArrayBuffer;
  readonly maxBytes: number;
}

export function heapSpecOf(maxBytes: number, key: HashKey): RegionSpec {
  return { kind: RegionKind.HEAP, key, params: [maxBytes] };
}

/** A new heap region of at most maxBytes (MIN_HEAP_BYTES..MAX_HEAP_BYTES, checked by the caller's options). */
export function createHeapHandle(maxBytes: number, key: HashKey, initialBytes = kDefaultInitialBytes): HeapHandle {
  if (!Number.isInteger(maxBytes) || maxBytes < MIN_HEAP_BYTES || maxBytes > MAX_HEAP_BYTES) {
    throw new RangeError(`heap maxBytes must be an integer from ${MIN_HEAP_BYTES} to ${MAX_HEAP_BYTES}`);
  }
  const initial = Math.min(maxBytes, Math.max(MIN_HEAP_BYTES, initialBytes));
  const sab = createRegion(heapSpecOf(maxBytes, key), initial, maxBytes);
  new Int32Array(sab)[kTop] = kDataStart;
  return { sab, maxBytes };
}

/** The Int32 index of list c's free-byte count; the BigUint64 index of its head. */
export function freeIndexOf(c: number): number {
  return (kFirstClassLine + c) * LINE_INTS + kClassFreeBytes;
}

export function headIndexOf(c: number): number {
  return ((kFirstClassLine + c) * LINE_BYTES) >> 3;
}
