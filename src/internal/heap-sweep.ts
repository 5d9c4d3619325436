/**
 * The heap's invariant checker and its repair (recovery of leaks): a walk of every block, every
 * free list, the deferred list and everything the domain's tables reach.
 *
 * Why a sweep and not a per-step undo: a thread may die between any two steps of alloc, free,
 * retire, collect or a domain's write (heap.ts crash table). What it leaves is always one of:
 * an allocated block that nothing reaches (built and not published yet, or unpublished and not
 * retired yet, or taken off the deferred list and not freed yet), a block marked free that is on
 * no free list, or counters that miss one step. A walk tells all three apart from the state
 * itself, so recovery needs no record of what the dead thread was doing.
 *
 * Precondition: no write is in flight and none can start (the caller holds the domain's write
 * gate freeze, after recovery cleared the dead thread's gate slot), and every allocation,
 * free, retire and collect of a gated domain happens inside gate.run (heap.ts): so every block
 * a live thread holds unpublished is impossible at that moment, and an allocated block nothing
 * reaches is garbage. Pinned readers may still copy from a block a dead writer unpublished and
 * never retired: while any reader is pinned such a block is deferred, not freed.
 *
 * The walk: blocks are contiguous from kDataStart to kTop (the bump pointer only grows, and each
 * block's class gives its size). A bump whose thread died between its claim of kTop and its
 * header write leaves a HOLE of fresh, zeroed memory whose size nothing records. A hole must not
 * be read as class-0 blocks (an allocated class-0 block also has a zero class word): a 48-byte
 * hole read as two 32-byte blocks would end 16 bytes inside the next block, and freeing the second
 * would hand out memory that block still uses (the kill storm found exactly that). Every block
 * that was ever allocated has a non-zero stamp (heap.ts: stamps skip 0), and every block the
 * sweep carves has a non-zero class word (the free bit), so a zero class word with a zero stamp
 * starts a hole, which runs in 16-byte steps to the next non-zero class or stamp word, or to kTop.
 * The sweep carves holes into free blocks. Cost: O(blocks + records); recovery and verify only.
 */
import { SharedHeap, classOf, classSize, kBlockClassWord, kBlockFreeBit, kBlockNextWord, kBlockStampWord, kClassCount, kDataStart } from './heap.ts';

/** Called by the domain for every block its published state refers to. */
export type Mark = (ref: number, what: string) => void;

export interface HeapCheck {
  /** Every violation found (empty: the heap is sound). */
  violations: string[];
  blocks: number;
  /** Allocated blocks that nothing reaches (a dead thread's leak). */
  leaked: number[];
  /** Blocks marked free that sit on no free list. */
  strayFree: number[];
  /** Holes left by a dead bump: [start, end) of zeroed memory that no block header describes. */
  holes: Array<[number, number]>;
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
    const cls = heap.i32[(off >> 2) + kBlockClassWord]!;
    if (cls === 0 && heap.i32[(off >> 2) + kBlockStampWord] === 0) {
      let end = off + 16;
      while (end < limit && heap.i32[(end >> 2) + kBlockClassWord] === 0 && heap.i32[(end >> 2) + kBlockStampWord] === 0) end += 16;
      holes.push([off, end]);
      off = end;
      continue;
    }
    const c = cls & ~kBlockFreeBit;
    if (c < 0 || c >= kClassCount || (cls & ~(kBlockFreeBit | 0xffff)) !== 0) {
      violations.push(`${heap.what}: block at ${off} has no valid class (${cls}); the walk stops there`);
      break;
    }
    blocks.set(off, cls);
    off += classSize(c);
  }
  if (off !== limit && violations.length === 0) violations.push(`${heap.what}: the last block ends at ${off}, top is ${top}`);

  const onList = new Set<number>();
  for (let c = 0; c < kClassCount; c++) {
    for (let r = a.freeHead(c); r !== 0; r = Atomics.load(heap.i32, (r >> 2) + kBlockNextWord) >>> 0) {
      const cls = blocks.get(r);
      if (cls === undefined) { violations.push(`${heap.what}: free list ${c} holds ${r}, which is not a block`); break; }
      if (onList.has(r)) { violations.push(`${heap.what}: free list ${c} holds ${r} twice (a cycle)`); break; }
      if ((cls & kBlockFreeBit) === 0) violations.push(`${heap.what}: allocated block ${r} sits on free list ${c}`);
      else if ((cls & ~kBlockFreeBit) !== c) violations.push(`${heap.what}: block ${r} of class ${cls & ~kBlockFreeBit} sits on free list ${c}`);
      onList.add(r);
    }
  }
  const deferred = new Set<number>();
  for (let r = a.deferredHead(); r !== 0; r = Atomics.load(heap.i32, (r >> 2) + kBlockNextWord)) {
    const cls = blocks.get(r);
    if (cls === undefined) { violations.push(`${heap.what}: the deferred list holds ${r}, which is not a block`); break; }
    if (deferred.has(r)) { violations.push(`${heap.what}: the deferred list holds ${r} twice (a cycle)`); break; }
    if ((cls & kBlockFreeBit) !== 0) violations.push(`${heap.what}: free block ${r} sits on the deferred list`);
    deferred.add(r);
  }

  const reached = new Set<number>();
  reach((ref, what) => {
    const cls = blocks.get(ref);
    if (cls === undefined) violations.push(`${heap.what}: ${what} refers to ${ref}, which is not a block`);
    else if ((cls & kBlockFreeBit) !== 0) violations.push(`${heap.what}: ${what} refers to free block ${ref}`);
    else if (deferred.has(ref)) violations.push(`${heap.what}: ${what} refers to retired block ${ref}`);
    reached.add(ref);
  });

  const leaked: number[] = [];
  const strayFree: number[] = [];
  let inUseBytes = 0;
  let inUseBlocks = 0;
  for (const [ref, cls] of blocks) {
    if ((cls & kBlockFreeBit) !== 0) {
      if (!onList.has(ref)) strayFree.push(ref);
      continue;
    }
    inUseBytes += classSize(cls);
    inUseBlocks++;
    if (!reached.has(ref) && !deferred.has(ref)) leaked.push(ref);
  }
  return { violations, blocks: blocks.size, leaked, strayFree, holes, inUseBytes, inUseBlocks, deferred: deferred.size };
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
  return out;
}

export interface SweepResult {
  /** Leaked blocks given back (freed, or deferred while a reader is pinned). */
  reclaimed: number;
  /** Free blocks put back on their free list. */
  relisted: number;
  /** What could not be repaired (a corrupt structure, not a crash). */
  violations: string[];
}

/**
 * Recovery: frees every leaked block (defers it while a reader is pinned), puts stray free
 * blocks back on their lists, and sets the counters to what the walk found. Under the freeze.
 */
export function sweepHeap(heap: SharedHeap, reach: (mark: Mark) => void): SweepResult {
  const r = checkHeap(heap, reach, true);
  if (r.violations.length) return { reclaimed: 0, relisted: 0, violations: r.violations };
  const a = heap.sweepAccess();
  const pinned = heap.gate.pinned() > 0;
  let inUseBytes = r.inUseBytes;
  let inUseBlocks = r.inUseBlocks;
  let deferred = r.deferred;
  for (const ref of r.strayFree) a.pushFree(heap.i32[(ref >> 2) + kBlockClassWord]! & ~kBlockFreeBit, ref);
  for (const [start, end] of r.holes) carveHole(heap, start, end);
  for (const ref of r.leaked) {
    const c = heap.i32[(ref >> 2) + kBlockClassWord]!;
    if (pinned) {
      a.pushDeferred(ref);
      deferred++;
      continue;
    }
    heap.i32[(ref >> 2) + kBlockClassWord] = c | kBlockFreeBit;
    a.pushFree(c, ref);
    inUseBytes -= classSize(c);
    inUseBlocks--;
  }
  a.setCounters(inUseBytes, inUseBlocks, deferred);
  return { reclaimed: r.leaked.length + r.holes.length, relisted: r.strayFree.length, violations: [] };
}

/**
 * Cuts the hole [start, end) into free blocks of whole classes (largest first, never leaving
 * a 16-byte rest: the smallest block is 32) and lists them. A hole is a sum of dead bumps, each
 * a class size (a multiple of 16, at least 32).
 */
function carveHole(heap: SharedHeap, start: number, end: number): void {
  const a = heap.sweepAccess();
  let off = start;
  while (end - off >= 32) {
    const left = end - off;
    let c = classOf(left);
    while (c > 0 && (classSize(c) > left || (left - classSize(c) !== 0 && left - classSize(c) < 32))) c--;
    heap.i32[(off >> 2) + kBlockClassWord] = c | kBlockFreeBit;
    heap.i32[(off >> 2) + kBlockStampWord] = 1;
    a.pushFree(c, off);
    off += classSize(c);
  }
}
