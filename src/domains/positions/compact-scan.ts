/**
 * What the positions compaction (compact.ts) knows of the heap before it moves anything: which
 * blocks are movable (a record's block and chunks, an index entry, a hotkey's counter), and the
 * blocks of the heap in address order, each free, movable or fixed. Reads only: every figure is a
 * hint, re-read under the record's lock before a move (compact.ts), so this file writes no
 * shared word and has no slot or crash table.
 *
 * - scanMovable: records.scan, open.scan and byHotkey.scan (read windows, like every reader)
 *   give each record's block and chunk refs and each index entry's block. The record (hotkey,
 *   uuid) of a write in flight, and its own entries, are left out (not movable).
 * - walkBlocks: the size word of each block from kDataStart to kTop. The walk races with other
 *   threads' splits and merges: a size word that is no block's ends it, and what lies past it
 *   counts as one fixed block.
 * - fits: whether a set of copies can be cut from a set of free blocks (best fit, largest
 *   first), the simulation both triggers run before they move anything.
 * - claimBlock / claimFixed: a block the scan did not reach (fixed), claimed after the walk if
 *   it is by then a published record or index entry: a record block names its key (record-
 *   block.ts), and the table's slot of that key must name the block (a validated read). What
 *   the scan missed is mostly what other threads published while it ran (top compaction: the
 *   block that stopped the window, compact.ts T2).
 */
import { kBlockFreeBit, kBlockHeaderBytes, kBlockSizeWord, kDataStart, sizeOfWord } from '../../internal/store/heap.ts';
import { kTop } from '../../internal/store/heap-layout.ts';
import type { SharedTable } from '../../internal/store/table.ts';
import { readRecord } from '../../internal/store/record-block.ts';
import { RETRY } from '../../internal/sync/versioned-word.ts';
import { MAX_KEY_LENGTH } from '../../errors.ts';
import { ReadMode, readRecordValue, readUuid } from './record.ts';
import type { PositionStore } from './store.ts';

export const kFree = 0;
export const kMovable = 1;
export const kFixed = 2;

/** One record as the scan saw it. */
export interface Rec {
  hotkey: string;
  uuid: string;
  tp: string;
  /** Its record block and that block's size. */
  ref: number;
  size: number;
}

/**
 * An index entry as the scan saw it: open index (hotkey, tp) -> uuid, moved under (hotkey, tp)'s
 * lock; hotkey index entry (hotkey, seq) -> uuid, under the lock of that position's pair; a
 * hotkey's counter (tp undefined), by CAS alone (its writers all CAS from the version they read
 * and read again when the CAS fails: hotkey-index.ts).
 */
export interface Ent {
  t: SharedTable;
  a: string;
  b: string | undefined;
  tp: string | undefined;
}

export interface Movable {
  recs: Rec[];
  /** Block (record block or chunk) -> index in recs. */
  owner: Map<number, number>;
  ents: Ent[];
  /** Entry block -> index in ents. */
  entOwner: Map<number, number>;
}

/** No movable block yet (what claimBlock then fills: the late blocks, the tail pass). */
export function emptyMovable(): Movable {
  return { recs: [], owner: new Map(), ents: [], entOwner: new Map() };
}

/** The movable blocks: every record and index entry but those of (hotkey, uuid) (a write in flight; '' for none). */
export function scanMovable(s: PositionStore, hotkey: string, uuid: string): Movable {
  const heap = s.heap;
  const { cache, memo, open, byHotkey } = s;
  const recs: Rec[] = [];
  const owner = new Map<number, number>();
  // The scan hands back only validated copies (a read window's attempt that failed is retried).
  const seen = s.records.scan((hk, id, _u8, at, len, ref) => {
    if (hk === hotkey && id === uuid) return null;
    const meta = readRecordValue(heap, at, len, ref, ReadMode.META, cache, memo);
    return { hotkey: hk, uuid: id!, tp: meta.tp, ref, size: heap.capacityOf(ref) + kBlockHeaderBytes, refs: meta.refs };
  });
  const tpOf = new Map<string, string>();
  for (const r of seen) {
    if (r === null) continue;
    const k = recs.push(r) - 1;
    owner.set(r.ref, k);
    tpOf.set(`${r.hotkey}\u0000${r.uuid}`, r.tp);
    for (let i = 0; i < r.refs.length; i += 2) owner.set(r.refs[i]!, k);
  }
  // Index entries move too (else they pin every hole between them): those of the write in
  // flight's own position stay.
  const ents: Ent[] = [];
  const entOwner = new Map<number, number>();
  for (const e of open.scan((hk, tp, _u8, at, len, ref) => ({ hk, tp: tp!, uuid: readUuid(heap, at, len), ref }))) {
    if (e.hk === hotkey && e.uuid === uuid) continue;
    entOwner.set(e.ref, ents.push({ t: open, a: e.hk, b: e.tp, tp: e.tp }) - 1);
  }
  for (const e of byHotkey.scan((hk, b, _u8, at, len, ref) => ({ hk, b, uuid: b === undefined ? '' : readUuid(heap, at, len), ref }))) {
    if (e.b === undefined) {
      entOwner.set(e.ref, ents.push({ t: byHotkey, a: e.hk, b: undefined, tp: undefined }) - 1);
      continue;
    }
    const tp = tpOf.get(`${e.hk}\u0000${e.uuid}`);
    if (tp !== undefined) entOwner.set(e.ref, ents.push({ t: byHotkey, a: e.hk, b: e.b, tp }) - 1);
  }
  return { recs, owner, ents, entOwner };
}

export interface Blocks {
  at: number[];
  size: number[];
  kind: number[];
  /** kTop when the walk began. */
  top: number;
  /** The walk stopped early (a racing change): its last block is what lay past it, counted fixed. */
  raced: boolean;
}

/**
 * Block `ref`, which the scan did not reach (fixed), claimed for m if it is, now, a published
 * record or index entry: a record block names its key (record-block.ts), and the table's slot of
 * that key must name `ref` (read in a read window, validated). A record claims its chunks too. A
 * write published after the scan began is the usual case: the scan takes milliseconds, and other
 * threads' new blocks land in the recycled blocks near the top. A hint like the scan: every move
 * re-reads its record under the lock. True if claimed.
 */
export function claimBlock(s: PositionStore, m: Movable, ref: number): boolean {
  const { heap, cache, memo, records, open, byHotkey } = s;
  let key: [string, string | undefined];
  try {
    key = readRecord(heap, ref, (a, b) => [a, b] as [string, string | undefined]);
  } catch (e) {
    if (e === RETRY) return false;
    throw e;
  }
  const [a, b] = key;
  if (a.length === 0 || a.length > MAX_KEY_LENGTH || (b !== undefined && (b.length === 0 || b.length > MAX_KEY_LENGTH))) return false;
  const size = heap.capacityOf(ref) + kBlockHeaderBytes;
  if (b !== undefined) {
    const meta = records.read(a, b, (_u8, at, len, r) => (r === ref ? readRecordValue(heap, at, len, r, ReadMode.META, cache, memo) : null));
    if (meta) {
      const k = m.recs.push({ hotkey: a, uuid: b, tp: meta.tp, ref, size }) - 1;
      m.owner.set(ref, k);
      for (let i = 0; i < meta.refs.length; i += 2) m.owner.set(meta.refs[i]!, k);
      return true;
    }
    if (open.read(a, b, (_u8, _at, _len, r) => r === ref) === true) {
      m.entOwner.set(ref, m.ents.push({ t: open, a, b, tp: b }) - 1);
      return true;
    }
  }
  const uuid = byHotkey.read(a, b, (_u8, at, len, r) => (r !== ref ? null : b === undefined ? '' : readUuid(heap, at, len)));
  if (uuid === undefined || uuid === null) return false;
  if (b === undefined) {
    m.entOwner.set(ref, m.ents.push({ t: byHotkey, a, b: undefined, tp: undefined }) - 1);
    return true;
  }
  const tp = records.read(a, uuid, (_u8, at, len, r) => readRecordValue(heap, at, len, r, ReadMode.META, cache, memo).tp);
  if (tp === undefined) return false;
  m.entOwner.set(ref, m.ents.push({ t: byHotkey, a, b, tp }) - 1);
  return true;
}

/**
 * The fixed blocks of b from index `from` up claimed (claimBlock) and marked movable, with the
 * chunks of the records claimed. How many blocks became movable.
 */
export function claimFixed(s: PositionStore, m: Movable, b: Blocks, from: number): number {
  const n = b.at.length - (b.raced ? 1 : 0);
  for (let k = from; k < n; k++) if (b.kind[k] === kFixed) claimBlock(s, m, b.at[k]!);
  let c = 0;
  for (let k = from; k < n; k++) {
    if (b.kind[k] === kFixed && (m.owner.has(b.at[k]!) || m.entOwner.has(b.at[k]!))) {
      b.kind[k] = kMovable;
      c++;
    }
  }
  return c;
}

/** The blocks from `from` (kDataStart, or a block boundary) to kTop in address order (a hint: see the header). */
export function walkBlocks(s: PositionStore, m: Movable, from = kDataStart): Blocks {
  const heap = s.heap;
  const top = Atomics.load(heap.i32, kTop);
  const at: number[] = [];
  const size: number[] = [];
  const kind: number[] = [];
  for (let p = from; p < top;) {
    if (!heap.cover(p + 16)) break;
    const w = heap.i32[(p >> 2) + kBlockSizeWord]!;
    const n = sizeOfWord(w);
    if (n === 0 || p + n > top) break;
    at.push(p);
    size.push(n);
    kind.push((w & kBlockFreeBit) !== 0 ? kFree : m.owner.has(p) || m.entOwner.has(p) ? kMovable : kFixed);
    p += n;
  }
  const end = at.length === 0 ? from : at[at.length - 1]! + size[size.length - 1]!;
  const raced = end !== top;
  if (raced) {
    // The walk stopped early (a racing change): what lies past it is unknown.
    at.push(end);
    size.push(top - end);
    kind.push(kFixed);
  }
  return { at, size, kind, top, raced };
}

/**
 * What emptying blocks [i, e) of `b` moves: `order`, the records (k >= 0: m.recs[k]) and entries
 * (k < 0: m.ents[-k - 1]) in the order of their highest block in the window, highest first (if
 * room runs out part way, what moved is the top, which is what gives back); and the sizes of the
 * copies (every moved chunk and entry, and a new record block per moved record).
 */
export function windowMoves(b: Blocks, m: Movable, i: number, e: number): { order: number[]; needs: number[] } {
  const moving = new Set<number>();
  const order: number[] = [];
  const needs: number[] = [];
  for (let k = e - 1; k >= i; k--) {
    if (b.kind[k] !== kMovable) continue;
    const en = m.entOwner.get(b.at[k]!);
    if (en !== undefined) {
      order.push(-en - 1);
      needs.push(b.size[k]!);
      continue;
    }
    const r = m.owner.get(b.at[k]!)!;
    if (!moving.has(r)) order.push(r);
    moving.add(r);
    // The record blocks are added below, once per record.
    if (m.recs[r]!.ref !== b.at[k]) needs.push(b.size[k]!);
  }
  for (const r of moving) needs.push(m.recs[r]!.size);
  return { order, needs };
}

/** The first index of sorted `a` whose value is at least x. */
export function lowerBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Whether blocks of `needs` bytes can be cut from free blocks of `free` bytes (sorted; consumed):
 * largest need first, each from the smallest free block that holds it, the rest of it kept.
 */
export function fits(needs: number[], free: number[]): boolean {
  needs.sort((x, y) => y - x);
  for (const n of needs) {
    const k = lowerBound(free, n);
    if (k === free.length) return false;
    const rest = free[k]! - n;
    free.splice(k, 1);
    if (rest >= 16) free.splice(lowerBound(free, rest), 0, rest);
  }
  return true;
}
