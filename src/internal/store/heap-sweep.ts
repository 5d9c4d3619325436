/**
 * The heap's invariant checker and its repair (recovery of leaks): a walk of every block, every
 * free list, the deferred list and everything the domain's tables reach.
 *
 * Why a sweep and not a per-step undo: a thread may die between any two steps of alloc (with
 * its split), a merge, free, retire, collect or a domain's write (the crash tables of heap.ts,
 * heap-lists.ts and heap-merge.ts). What it leaves is always one of: an allocated block that
 * nothing reaches (built and not published yet, or unpublished and not retired yet, or taken
 * off the deferred list and not freed yet),
 * free blocks on no free list (popped, split, taken by a merge, joined), a hole of fresh memory
 * past a dead bump, counters that miss a step, or kMerging or kCompacting (a top compaction's
 * flag, positions/compact.ts) left up. A walk tells them all apart
 * from the state itself, so recovery needs no record of what the dead thread was doing.
 *
 * Precondition: no write is in flight and none can start (the caller holds the domain's write
 * gate freeze, after recovery cleared the dead thread's gate slot), and every allocation,
 * free, retire and collect of a gated domain happens inside gate.run (heap.ts): so every block
 * a live thread holds unpublished is impossible at that moment, an allocated block nothing
 * reaches is garbage, and no merge or split is running. Pinned readers may still copy from a
 * block a dead writer unpublished and never retired: while any reader is pinned such a block is
 * deferred, not freed.
 *
 * The walk: blocks tile [kDataStart, kTop) (memory past kTop is zero, and each block's size
 * word gives its size; a merge's one store makes the inner headers payload, a split writes the
 * tail's header before it shrinks the head). A bump whose thread died between its claim of kTop
 * and its header store leaves a HOLE of fresh, zeroed memory whose size nothing records: a
 * block's size word is never 0, so a zero word starts a hole, which runs in 16-byte steps to the
 * next non-zero size word, or to kTop. (A hole must not be skipped by guessing a size: a 48-byte
 * hole read as two 32-byte blocks would end inside the next block; the kill storm found that.)
 *
 * The repair rebuilds every free list from the walk: it empties them all, then lists each run of
 * free neighbours (free blocks, holes, and leaked blocks it frees) as ONE block, so recovery
 * also coalesces; a run that ends at kTop goes back to the bump area (zeroed, kTop lowered to its
 * start, as a merge's give-back does); and it sets every counter (in use, deferred, free bytes
 * per list, kMerging, kCompacting).
 * Cost: O(blocks + records); recovery and verify only.
 */
import {
  SharedHeap, floorClass, kBlockFreeBit, kBlockNextWord, kBlockSizeWord, kClassCount, kDataStart, sizeOfWord,
} from './heap.ts';

/** Called by the domain for every block its published state refers to. */
export type Mark = (ref: number, what: string) => void;

export interface HeapCheck {
  /** Every violation found (empty: the heap is sound). */
  violations: string[];
  /** Every block in address order: offset -> size word (size, + free bit while free). */
  blocks: Map<number, number>;
  /** Allocated blocks that nothing reaches (a dead thread's leak). */
  leaked: number[];
  /** Blocks marked free that sit on no free list. */
  strayFree: number[];
  /** Holes left by a dead bump: [start, end) of zeroed memory that no block header describes. */
  holes: Array<[number, number]>;
  /** Bytes on each free list, as the walk of the lists finds them. */
  listBytes: number[];
  reached: Set<number>;
  deferredSet: Set<number>;
  inUseBytes: number;
  inUseBlocks: number;
  deferred: number;
}

/** Walks the heap; `reach` marks every block the domain's published state refers to. */
export function checkHeap(heap: SharedHeap, reach: (mark: Mark) => void, repairTop = false): HeapCheck {
  const a = heap.sweepAccess();
  const violations: string[] = [];
  const top = a.top();
  if (!heap.cover(top)) {
    if (!repairTop || !a.ensure(top)) violations.push(`${heap.what}: top ${top} lies past the buffer (${heap.sab.byteLength} bytes)`);
  }
  const blocks = new Map<number, number>();
  const holes: Array<[number, number]> = [];
  const limit = Math.min(top, heap.i32.length * 4);
  let off = kDataStart;
  while (off < limit) {
    const w = heap.i32[(off >> 2) + kBlockSizeWord]!;
    if (w === 0) {
      let end = off + 16;
      while (end < limit && heap.i32[(end >> 2) + kBlockSizeWord] === 0) end += 16;
      holes.push([off, end]);
      off = end;
      continue;
    }
    const size = sizeOfWord(w);
    if (size === 0 || off + size > limit) {
      violations.push(`${heap.what}: block at ${off} has no valid size (${w}); the walk stops there`);
      break;
    }
    blocks.set(off, w);
    off += size;
  }
  if (off !== limit && violations.length === 0) violations.push(`${heap.what}: the last block ends at ${off}, top is ${top}`);

  const onList = new Set<number>();
  const listBytes = new Array<number>(kClassCount).fill(0);
  for (let c = 0; c < kClassCount; c++) {
    for (let r = a.freeHead(c); r !== 0; r = Atomics.load(heap.i32, (r >> 2) + kBlockNextWord) >>> 0) {
      const w = blocks.get(r);
      if (w === undefined) { violations.push(`${heap.what}: free list ${c} holds ${r}, which is not a block`); break; }
      if (onList.has(r)) { violations.push(`${heap.what}: free list ${c} holds ${r} twice (a cycle)`); break; }
      if ((w & kBlockFreeBit) === 0) violations.push(`${heap.what}: allocated block ${r} sits on free list ${c}`);
      else if (floorClass(sizeOfWord(w)) !== c) violations.push(`${heap.what}: a free block of ${sizeOfWord(w)} bytes (${r}) sits on free list ${c}`);
      onList.add(r);
      listBytes[c] = listBytes[c]! + sizeOfWord(w);
    }
  }
  const deferredSet = new Set<number>();
  for (let r = a.deferredHead(); r !== 0; r = Atomics.load(heap.i32, (r >> 2) + kBlockNextWord)) {
    const w = blocks.get(r);
    if (w === undefined) { violations.push(`${heap.what}: the deferred list holds ${r}, which is not a block`); break; }
    if (deferredSet.has(r)) { violations.push(`${heap.what}: the deferred list holds ${r} twice (a cycle)`); break; }
    if ((w & kBlockFreeBit) !== 0) violations.push(`${heap.what}: free block ${r} sits on the deferred list`);
    deferredSet.add(r);
  }

  const reached = new Set<number>();
  reach((ref, what) => {
    const w = blocks.get(ref);
    if (w === undefined) violations.push(`${heap.what}: ${what} refers to ${ref}, which is not a block`);
    else if ((w & kBlockFreeBit) !== 0) violations.push(`${heap.what}: ${what} refers to free block ${ref}`);
    else if (deferredSet.has(ref)) violations.push(`${heap.what}: ${what} refers to retired block ${ref}`);
    reached.add(ref);
  });

  const leaked: number[] = [];
  const strayFree: number[] = [];
  let inUseBytes = 0;
  let inUseBlocks = 0;
  for (const [ref, w] of blocks) {
    if ((w & kBlockFreeBit) !== 0) {
      if (!onList.has(ref)) strayFree.push(ref);
      continue;
    }
    inUseBytes += w;
    inUseBlocks++;
    if (!reached.has(ref) && !deferredSet.has(ref)) leaked.push(ref);
  }
  return {
    violations, blocks, leaked, strayFree, holes, listBytes, reached, deferredSet, inUseBytes, inUseBlocks, deferred: deferredSet.size,
  };
}

/** verify(): the violations, leaks and counter drift as sentences. */
export function verifyHeap(heap: SharedHeap, reach: (mark: Mark) => void): string[] {
  const r = checkHeap(heap, reach);
  const out = [...r.violations];
  if (r.leaked.length) out.push(`${heap.what}: ${r.leaked.length} allocated block(s) that nothing refers to (leaked), first at ${r.leaked[0]}`);
  if (r.strayFree.length) out.push(`${heap.what}: ${r.strayFree.length} free block(s) on no free list, first at ${r.strayFree[0]}`);
  if (r.holes.length) out.push(`${heap.what}: ${r.holes.length} hole(s) left by a dead allocation, first at ${r.holes[0]![0]}`);
  const c = heap.sweepAccess().counters();
  if (c.inUseBytes !== r.inUseBytes || c.inUseBlocks !== r.inUseBlocks) {
    out.push(`${heap.what}: in-use counters say ${c.inUseBytes} bytes in ${c.inUseBlocks} blocks, the walk finds ${r.inUseBytes} in ${r.inUseBlocks}`);
  }
  if (c.deferred !== r.deferred) out.push(`${heap.what}: deferred counter says ${c.deferred}, the list holds ${r.deferred}`);
  if (c.merging !== 0) out.push(`${heap.what}: ${c.merging} merge(s) marked running with no write in flight`);
  if (c.compacting !== 0) out.push(`${heap.what}: a top compaction marked running with no write in flight`);
  const a = heap.sweepAccess();
  const unmarked = r.listBytes.findIndex((b, k) => b > 0 && !a.marked(k));
  if (unmarked >= 0) out.push(`${heap.what}: free list ${unmarked} holds blocks but is not marked in the non-empty bitmap`);
  const drift = c.freeBytes.findIndex((b, k) => b !== r.listBytes[k]);
  if (drift >= 0) out.push(`${heap.what}: free list ${drift} counted at ${c.freeBytes[drift]} bytes, it holds ${r.listBytes[drift]}`);
  return out;
}

export interface SweepResult {
  /** Leaked blocks and holes given back (freed, or deferred while a reader is pinned). */
  reclaimed: number;
  /** Free blocks put back on a free list (they were on none). */
  relisted: number;
  /** What could not be repaired (a corrupt structure, not a crash). */
  violations: string[];
}

/**
 * Recovery: frees every leaked block (defers it while a reader is pinned), carves holes into
 * free memory, rebuilds every free list with each run of free neighbours as one block, and sets
 * the counters to what the walk found. Under the freeze.
 */
export function sweepHeap(heap: SharedHeap, reach: (mark: Mark) => void): SweepResult {
  const r = checkHeap(heap, reach, true);
  if (r.violations.length) return { reclaimed: 0, relisted: 0, violations: r.violations };
  const a = heap.sweepAccess();
  const pinned = heap.gate.pinned() > 0;
  let inUseBytes = r.inUseBytes;
  let inUseBlocks = r.inUseBlocks;
  let deferred = r.deferred;
  // What is free after the repair: free blocks, holes, and the leaked blocks (unless deferred).
  const free = new Map<number, number>();
  for (const [ref, w] of r.blocks) if ((w & kBlockFreeBit) !== 0) free.set(ref, sizeOfWord(w));
  for (const [start, end] of r.holes) free.set(start, end - start);
  for (const ref of r.leaked) {
    if (pinned) {
      a.pushDeferred(ref);
      deferred++;
      continue;
    }
    const size = r.blocks.get(ref)!;
    free.set(ref, size);
    inUseBytes -= size;
    inUseBlocks--;
  }
  a.clearFreeLists();
  const listBytes = new Array<number>(kClassCount).fill(0);
  const starts = [...free.keys()].sort((x, y) => x - y);
  const top = a.top();
  for (let i = 0; i < starts.length;) {
    const start = starts[i]!;
    let end = start + free.get(start)!;
    let j = i + 1;
    for (; j < starts.length && starts[j] === end; j++) end += free.get(end)!;
    if (end === top) {
      // The highest run ends at the top: back to the bump area (zeroed: memory past kTop is zero).
      heap.i32.fill(0, start >> 2, end >> 2);
      a.setTop(start);
      i = j;
      continue;
    }
    heap.i32[(start >> 2) + kBlockSizeWord] = (end - start) | kBlockFreeBit;
    const c = floorClass(end - start);
    a.pushFree(c, start);
    listBytes[c] = listBytes[c]! + end - start;
    i = j;
  }
  a.setCounters(inUseBytes, inUseBlocks, deferred, listBytes);
  return { reclaimed: r.leaked.length + r.holes.length, relisted: r.strayFree.length, violations: [] };
}
