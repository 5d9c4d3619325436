/**
 * What the heap reports (SharedHeap.stats(), the stats table) and the interface heap-sweep.ts
 * repairs it through. Reads only: every word is loaded with Atomics, none is written here, so
 * this file has no crash table; the words and their writers are in heap-layout.ts.
 *
 * The figures are loaded one by one, not as one snapshot: under concurrent writes they may
 * disagree by what the writers did between two loads (stats, never a check: verify() is the
 * checker, under the write gate's freeze).
 */
import { classSize, kClassCount } from './heap-classes.ts';
import {
  kCapacityErrors, kDataStart, kDeferredCount, kInUseBlocks, kInUseBytes, kMergedBlocks, kMerges, kPageBytes, kPinnedReads,
  kReturnedBytes, kSplits, kTop, kTopReturns, freeIndexOf, kCompactions, kCompactMoves, kCompactBytes, kCompactAttempts,
  kCompactStops, kStopKinds,
} from './heap-layout.ts';

/** The heap as heapStats reads it. */
export interface StatsSource {
  readonly i32: Int32Array;
  readonly sab: SharedArrayBuffer;
  readonly maxBytes: number;
  readonly gate: { pinned(): number };
}

export function heapStats(h: StatsSource) {
  const i = h.i32;
  const top = Atomics.load(i, kTop);
  const inUseBytes = Atomics.load(i, kInUseBytes);
  const carvedBytes = top - kDataStart;
  /** Free bytes per list, keyed by the list's class size in bytes (lists holding none left out). */
  const freeByClass: Record<number, number> = {};
  let freeBytes = 0;
  for (let c = 0; c < kClassCount; c++) {
    const b = Atomics.load(i, freeIndexOf(c));
    if (b === 0) continue;
    freeByClass[classSize(c)] = b;
    freeBytes += b;
  }
  return {
    maxBytes: h.maxBytes,
    reservedBytes: h.sab.byteLength,
    topBytes: top,
    inUseBytes,
    inUseBlocks: Atomics.load(i, kInUseBlocks),
    deferredBlocks: Atomics.load(i, kDeferredCount),
    pinnedReaders: h.gate.pinned(),
    pinnedReads: Atomics.load(i, kPinnedReads),
    capacityErrors: Atomics.load(i, kCapacityErrors),
    /** Bytes the bump pointer has carved into blocks (used or free). */
    carvedBytes,
    /** Bytes on the free lists (carved, not in use, listed). */
    freeBytes,
    freeByClass,
    /** Never carved: what the bump pointer can still hand out (maxBytes - top). */
    poolBytes: h.maxBytes - top,
    /** poolBytes in 64 KiB pages. */
    poolPages: Math.floor((h.maxBytes - top) / kPageBytes),
    /** carved / in use: 1 is no fragmentation at all (1 as well for an empty heap). */
    fragmentation: inUseBytes > 0 ? carvedBytes / inUseBytes : 1,
    merges: Atomics.load(i, kMerges),
    mergedBlocks: Atomics.load(i, kMergedBlocks),
    splits: Atomics.load(i, kSplits),
    /** Merges whose highest run ended at the top and went back to the bump area, and its bytes. */
    topReturns: Atomics.load(i, kTopReturns),
    returnedBytes: Atomics.load(i, kReturnedBytes),
    /** Top compactions (positions/compact.ts lowerTop) that moved something, what they moved (records and index entries), the bytes copied, and how many began (each a scan and a walk). */
    topCompactions: {
      runs: Atomics.load(i, kCompactions), moves: Atomics.load(i, kCompactMoves), movedBytes: Atomics.load(i, kCompactBytes), attempts: Atomics.load(i, kCompactAttempts),
    },
    /**
     * Top compactions that moved nothing, by what stopped them (positions/compact.ts TopStop, in
     * that order): the block under the top that no scan reached was allocated after the scan
     * began, was waiting on the deferred list, was older; the walk raced; no room below; the
     * moves all failed.
     */
    topStops: Array.from({ length: kStopKinds }, (_, k) => Atomics.load(i, kCompactStops + k)),
  };
}

export type HeapStats = ReturnType<typeof heapStats>;

/** For heap-sweep.ts only (recovery and verify, under the gate's freeze): the allocator's words. */
export interface SweepAccess {
  top(): number;
  freeHead(c: number): number;
  deferredHead(): number;
  counters(): { inUseBytes: number; inUseBlocks: number; deferred: number; merging: number; compacting: number; freeBytes: number[] };
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
