/**
 * Compaction of the positions heap: when a positions write's allocation is refused with
 * ERR_CAPACITY, records are MOVED (their blocks copied byte for byte into new blocks) so that a
 * contiguous free range opens where the request fits, and the allocation is tried once more
 * (positions/write.ts). A heap that never moves live data cannot serve every sequence below a
 * fixed share of live bytes (Robson, JACM 1974; test/heap-reuse.test.ts); the positions domain
 * can move, because a record and its chunks are reachable only through the record's table slot.
 *
 * Algorithm (makeRoom(need), inside the heap's write gate):
 * 1. The range wanted: W bytes, the block the refused request takes (its class's size up to
 *    4 KiB, which is what a class list serves; larger: the request rounded to 16).
 * 2. Which blocks can move: records.scan (read windows, like every reader) gives each record's
 *    block and chunk refs; the scans of the open index and the hotkey index give their entries
 *    and the hotkeys' counters: those blocks are movable (index entries must move too: one sits
 *    beside almost every record, so a heap of small positions half deleted has no run of free
 *    and record blocks alone; test/positions-compact.test.ts 'scenario'). Every other
 *    allocated block (blocks of a write in flight, its own record and entries, retired blocks
 *    waiting for a pin) is not.
 * 3. Where: a walk of the blocks from kDataStart to kTop (each block's size word; the bump area
 *    [kTop, maxBytes) counts as one free block) and a sliding window over it: of the runs of
 *    whole blocks covering at least W bytes with no unmovable block, the one with the fewest
 *    movable bytes. The walk races with other threads' splits and merges: it is a hint (a
 *    size word that is no block's ends it), every move below re-reads its record under its lock.
 *    Moving a block into another hole of the same size gains nothing: the window is what gains.
 * 4. Evacuation: every record with a block in the window is moved: new chunks for its chunks in
 *    the window, and a new record block (its refs rewritten), allocated OUTSIDE the window: an
 *    allocation that lands inside it is kept (hoarded) until the end, so that the window's free
 *    blocks stay free and the copies go elsewhere (no allocator hint needed: heap*.ts unchanged).
 * 5. The hoard is freed; the retired blocks are freed once no reader is pinned (heap.collect,
 *    waited for at most kPinWaitMs); a merge joins the window's blocks into one.
 * Cost: O(records + blocks) for the scan and the walk, plus the copy of the window's live
 * bytes; it runs only when an allocation was refused.
 *
 * Moving one record (relocate), while nobody else writes it: its (hotkey, trade pair) lock is
 * taken with tryAcquire (never waits: the writer that ran out of room holds its own lock; a
 * stripe this thread holds already is re-entered, a busy one is skipped). Why the lock and not
 * a CAS alone: a CAS move would be safe for save (its CAS from the word it read fails after a
 * move, and it starts over: a whole re-encode, since the record memo misses the new version) but
 * append copies the old record's refs inside the heap from a block the move retires, and would
 * copy garbage before its CAS failed; and both would start over at every move, up to
 * positions/write.ts's kMaxAttempts. Under the lock no write of the record is in flight, so the
 * move's CAS (from the version it read under the lock) succeeds unless a thread writes without
 * the lock, and then the move is abandoned (its new blocks freed). The record of the write that
 * asked for room is not moved: that write read it and will CAS from that version.
 *   R1 tryAcquire (hotkey, tp), R2 read the record (version `seen`, refs), R3 allocate and fill
 *   the new chunks and the new record block (copied value, refs of moved chunks rewritten),
 *   R4 CAS the record slot from `seen` (records.publish), R5 retire the old record block and
 *   the moved chunks, R6 release the lock.
 * An index entry moves the same way (one block: R1-R6 with no chunk): an open-index entry
 * (hotkey, tp) under that pair's lock, a hotkey-index entry (hotkey, i) -> uuid under the lock
 * of that position's pair (only that position's writers remove it; adds publish new keys), a
 * hotkey's counter by its CAS alone: every writer of a counter (hotkey-index.ts #takeNumber,
 * #touch (table.touch or a new block), trimCount, raiseCount) CASes from the version it read and
 * reads again when its CAS fails, so a move between its read and its CAS costs it one retry.
 * Readers are not disturbed: a lock-free reader that copied from the old blocks fails its
 * validation (the slot word moved) and reads again; a pinned reader keeps the old blocks alive
 * (retire defers). Positions read through a moved version decode again (the caches are keyed
 * by block and stamp; this thread's record memo is carried over).
 *
 * Slot table (words this file writes; all in the records table or the heap):
 *
 * | word                         | written by         | how / published by |
 * | ---------------------------- | ------------------ | ------------------ |
 * | new chunk, new record block  | the moving thread  | plain writes into blocks it allocated; published by R4 |
 * | records slot of (hk, uuid)   | the moving thread (holding the pair's lock) | table.publish CAS from the version read in R2 |
 * | open / byHotkey slot of an entry | the moving thread (the pair's lock; a counter: none) | table.publish CAS from the version read |
 * | old record block, old chunks | (nobody writes)    | retired after R4 (heap.retire: freed once no reader is pinned) |
 * | hoarded blocks               | the moving thread  | allocated, never published, freed at the end |
 * | lock stripe of (hk, tp)      | the moving thread  | locks domain tryAcquire / release |
 *
 * CRASH TABLE (a thread terminated right after the step; recovery: engine.watch releases its
 * lock stripes and gate slot, then under the write gate's freeze positions/repair.ts, the table
 * recount and the heap sweep, store-recovery.ts):
 *
 * | step (crash point)                               | leaves                                  | recovery |
 * | ------------------------------------------------ | --------------------------------------- | -------- |
 * | R1 lock taken                                    | the pair's stripe held by a dead thread | watch releases it |
 * | R3 new blocks filled (positions.compact.copied)  | allocated blocks nothing refers to; hoarded blocks | sweep frees them: the move never happened |
 * | R4 record CAS (positions.compact.published)      | the moved version published (same bytes); the old record block and moved chunks unretired; hoarded blocks | sweep frees them: the move completed |
 * | R5 old blocks retired (positions.compact.retired) | the stripe held; hoarded blocks        | watch releases the stripe; sweep frees the hoard |
 * | 5: hoard freed, collect, merge                   | as heap.ts free / collect / merge rows  | as there |
 * An entry's move has the same points and rows (one block instead of a record's). No move
 * changes what any slot says (the same bytes in a new block), so positions/repair.ts has nothing
 * of a move to complete or undo: each state above is a whole version of every record and entry.
 */
import { ErrorCode, SabStateError } from '../../errors.ts';
import { crashPoint, declareCrashPoints } from '../../internal/crash.ts';
import { classOf, classSize, kBlockFreeBit, kBlockHeaderBytes, kBlockSizeWord, kDataStart, sizeOfWord } from '../../internal/store/heap.ts';
import { kLargeClass } from '../../internal/store/heap-classes.ts';
import { kDeferredHead, kTop } from '../../internal/store/heap-layout.ts';
import { Version } from '../../internal/store/version.ts';
import type { SharedTable } from '../../internal/store/table.ts';
import { type RawRecord, ReadMode, kChunkHeaderBytes, kPosRefsByte, readRecordValue, readUuid } from './record.ts';
import type { PositionStore } from './store.ts';

declareCrashPoints('positions', ['positions.compact.copied', 'positions.compact.published', 'positions.compact.retired']);

/** What compaction needs of the lock domain (a LockDomain fits). */
export interface TryLocks {
  tryAcquire(hotkey: string, tradePairId: string): { release(): void } | null;
}

/** This thread's compaction counts (PositionsStats.compaction). */
export interface CompactionStats {
  /** makeRoom calls: allocations refused with ERR_CAPACITY that compaction answered. */
  runs: number;
  /** Of those, how many found no window it could empty, or could not move every record of it (a busy lock, no room). */
  failed: number;
  /** Records moved (one new record version each). */
  relocations: number;
  /** Bytes copied into new blocks (record blocks and chunks). */
  movedBytes: number;
  /** Records not moved because another thread held their lock. */
  busy: number;
}

/** How long the retry waits, at most, for pinned readers to let the retired blocks go. */
const kPinWaitMs = 50;
/** Allocations a move may keep back (inside the window) before it gives up. */
const kMaxHoard = 1 << 16;
const kMovable = 1;
const kFree = 0;
const kFixed = 2;

/** One record as the scan saw it: its blocks (record block first, then each chunk). */
interface Rec {
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
interface Ent {
  t: SharedTable;
  a: string;
  b: string | undefined;
  tp: string | undefined;
}

/** Windows whose placement is simulated, cheapest first, before compaction gives up. */
const kCandidates = 64;

/** The first index of sorted `a` whose value is at least x. */
function lowerBound(a: number[], x: number): number {
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
function fits(needs: number[], free: number[]): boolean {
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

/** Thrown inside a move when the allocator cannot place a copy outside the window. */
const kNoRoom = new Error('no room outside the window');

export class Compactor {
  readonly #s: PositionStore;
  readonly #locks: TryLocks;
  readonly stats: CompactionStats = { runs: 0, failed: 0, relocations: 0, movedBytes: 0, busy: 0 };
  /** Blocks allocated inside the window, freed at the end of the pass. */
  #hoard: number[] = [];
  #lo = 0;
  #hi = 0;
  readonly #sleep = new Int32Array(new SharedArrayBuffer(4));

  constructor(store: PositionStore, locks: TryLocks) {
    this.#s = store;
    this.#locks = locks;
  }

  /**
   * Steps 1-5 of the header for a refused request of `payloadBytes` (inside the write gate). The
   * record (hotkey, uuid) of the write in flight is not moved. True if a window was emptied (the
   * caller tries its allocation again); false if no window could be.
   */
  makeRoom(payloadBytes: number, hotkey: string, uuid: string): boolean {
    this.stats.runs++;
    const heap = this.#s.heap;
    const need = payloadBytes + kBlockHeaderBytes;
    const c = classOf(need);
    const want = c < kLargeClass ? classSize(c) : (need + 15) & ~15;
    const { cache, memo } = this.#s;
    // The scan hands back only validated copies (a read window's attempt that failed is retried).
    const recs: Rec[] = [];
    const owner = new Map<number, number>();
    const seen = this.#s.records.scan((hk, id, _u8, at, len, ref) => {
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
    const { open, byHotkey } = this.#s;
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
    const win = this.#window(want, owner, recs, entOwner);
    if (win === null) {
      this.stats.failed++;
      return false;
    }
    let ok = true;
    this.#lo = win.lo;
    this.#hi = win.hi;
    try {
      for (const k of win.recs) {
        const r = recs[k]!;
        const moved = this.#relocate(r.hotkey, r.uuid, r.tp);
        if (moved === -1) this.stats.busy++;
        if (moved < 0) ok = false;
      }
      for (const k of win.ents) {
        const moved = this.#moveEntry(ents[k]!);
        if (moved === -1) this.stats.busy++;
        if (moved < 0) ok = false;
      }
    } finally {
      this.#release();
    }
    // Some records may not have moved (a busy lock, no room after all): the caller tries once anyway.
    if (!ok) this.stats.failed++;
    return true;
  }

  /**
   * Moves every block of (hotkey, uuid) (tests of the protocol, and a caller that wants it
   * elsewhere): the same steps as a move out of a window, the window being the record's own span.
   * True if it moved.
   */
  relocate(hotkey: string, uuid: string, tp: string): boolean {
    const { heap, records } = this.#s;
    const cur = records.read(hotkey, uuid, this.#meta());
    if (cur === undefined) return false;
    let lo = cur.ref;
    let hi = cur.ref + heap.capacityOf(cur.ref) + kBlockHeaderBytes;
    for (let k = 0; k < cur.refs.length; k += 2) {
      const r = cur.refs[k]!;
      lo = Math.min(lo, r);
      hi = Math.max(hi, r + heap.capacityOf(r) + kBlockHeaderBytes);
    }
    this.#lo = lo;
    this.#hi = hi;
    try {
      return this.#relocate(hotkey, uuid, tp) > 0;
    } finally {
      this.#release();
    }
  }

  /**
   * The window of step 3, or null. Candidates: for each block, the shortest run of whole blocks
   * from it covering `want` bytes with no fixed block; the cheapest (fewest movable bytes) first.
   * A candidate is taken only if its moves can be placed outside it: every moved record also
   * needs a new record block (the largest block of a long position), so a window of chunks whose
   * records' blocks fit no hole outside would gain nothing. The placement is simulated (best fit,
   * largest first) on the free blocks outside the window, as the walk saw them.
   */
  #window(want: number, owner: Map<number, number>, recs: Rec[], entOwner: Map<number, number>): { lo: number; hi: number; recs: number[]; ents: number[] } | null {
    const heap = this.#s.heap;
    const top = Atomics.load(heap.i32, kTop);
    const at: number[] = [];
    const size: number[] = [];
    const kind: number[] = [];
    for (let p = kDataStart; p < top;) {
      if (!heap.cover(p + 16)) break;
      const w = heap.i32[(p >> 2) + kBlockSizeWord]!;
      const s = sizeOfWord(w);
      if (s === 0 || p + s > top) break;
      at.push(p);
      size.push(s);
      kind.push((w & kBlockFreeBit) !== 0 ? kFree : owner.has(p) || entOwner.has(p) ? kMovable : kFixed);
      p += s;
    }
    const end = at.length === 0 ? kDataStart : at[at.length - 1]! + size[size.length - 1]!;
    if (end !== top) {
      // The walk stopped early (a racing change): what lies past it is unknown.
      at.push(end);
      size.push(0);
      kind.push(kFixed);
    }
    at.push(top);
    size.push(heap.maxBytes - top);
    kind.push(kFree);
    const cands: Array<{ i: number; j: number; cost: number }> = [];
    let j = 0;
    let cov = 0;
    let cost = 0;
    for (let i = 0; i < at.length; i++) {
      if (j < i) {
        j = i;
        cov = 0;
        cost = 0;
      }
      while (j < at.length && cov < want && kind[j] !== kFixed) {
        cov += size[j]!;
        if (kind[j] === kMovable) cost += size[j]!;
        j++;
      }
      if (cov >= want) cands.push({ i, j, cost });
      if (kind[i] === kFixed || j === i) {
        j = i + 1;
        cov = 0;
        cost = 0;
        continue;
      }
      cov -= size[i]!;
      if (kind[i] === kMovable) cost -= size[i]!;
    }
    cands.sort((x, y) => x.cost - y.cost);
    const free: number[] = [];
    for (let k = 0; k < at.length; k++) if (kind[k] === kFree && size[k]! >= 16) free.push(size[k]!);
    free.sort((x, y) => x - y);
    for (let t = 0; t < cands.length && t < kCandidates; t++) {
      const { i, j: e } = cands[t]!;
      const lo = at[i]!;
      const hi = at[e - 1]! + size[e - 1]!;
      const moving = new Set<number>();
      const entries: number[] = [];
      const needs: number[] = [];
      for (let k = i; k < e; k++) {
        if (kind[k] !== kMovable) continue;
        const en = entOwner.get(at[k]!);
        if (en !== undefined) {
          entries.push(en);
          needs.push(size[k]!);
          continue;
        }
        moving.add(owner.get(at[k]!)!);
        // The record blocks are added below, once per record.
        if (recs[owner.get(at[k]!)!]!.ref !== at[k]) needs.push(size[k]!);
      }
      for (const r of moving) needs.push(recs[r]!.size);
      const outside = free.slice();
      for (let k = i; k < e; k++) if (kind[k] === kFree && size[k]! >= 16) outside.splice(lowerBound(outside, size[k]!), 1);
      if (fits(needs, outside)) return { lo, hi, recs: [...moving], ents: entries };
    }
    return null;
  }

  /**
   * R1-R6 for one record: its blocks inside [#lo, #hi) copied to blocks outside, published,
   * the old ones retired. 1 moved, 0 nothing to move, -1 its lock was busy, -2 not moved (no room
   * outside the window, or written without the lock meanwhile).
   */
  #relocate(hotkey: string, uuid: string, tp: string): number {
    const guard = this.#locks.tryAcquire(hotkey, tp);
    if (guard === null) return -1;
    try {
      return this.#move(hotkey, uuid, tp);
    } finally {
      guard.release();
    }
  }

  #move(hotkey: string, uuid: string, tp: string): number {
    const { heap, records, memo } = this.#s;
    const h = records.hash(hotkey, uuid);
    const seen = new Version();
    const cur = records.read(hotkey, uuid, this.#meta(), h, seen);
    // Deleted, or (a save with both locks) moved to another pair since the scan: not ours to move.
    if (cur === undefined || cur.tp !== tp) return 0;
    const inside = (r: number): boolean => r < this.#hi && r + heap.capacityOf(r) + kBlockHeaderBytes > this.#lo;
    const moved = new Map<number, number>();
    for (let k = 0; k < cur.refs.length; k += 2) {
      const r = cur.refs[k]!;
      if (!moved.has(r) && inside(r)) moved.set(r, 0);
    }
    if (moved.size === 0 && !inside(cur.ref)) return 0;
    let ref = 0;
    let bytes = 0;
    try {
      for (const old of moved.keys()) {
        heap.checkBlock(old); // covers the whole block (a copy past a view's end would be cut short)
        const p = heap.payload(old);
        const n = kChunkHeaderBytes + heap.i32[p >> 2]!;
        const fresh = this.#alloc(() => heap.alloc(n));
        moved.set(old, fresh);
        heap.u8.copyWithin(heap.payload(fresh), p, p + n);
        bytes += n;
      }
      ref = this.#alloc(() => records.allocRecord(hotkey, uuid, h, cur.len));
      const at = records.valueOffset(ref);
      heap.u8.copyWithin(at, cur.at, cur.at + cur.len);
      bytes += cur.len;
      const q = (at + kPosRefsByte) >> 2;
      for (let k = 0; k < cur.refs.length >> 1; k++) {
        const to = moved.get(cur.refs[2 * k]!);
        if (to === undefined) continue;
        heap.writeInt32(q + 2 * k, to);
        heap.writeInt32(q + 2 * k + 1, heap.stampOf(to));
      }
      crashPoint('positions.compact.copied');
    } catch (e) {
      this.#discard(moved, ref);
      if (e === kNoRoom || (e instanceof SabStateError && e.code === ErrorCode.CAPACITY)) return -2;
      throw e;
    }
    const prev = records.publish(hotkey, uuid, h, ref, seen);
    if (prev === -1) {
      // Written without the lock since R2: that write stands, the copy goes.
      this.#discard(moved, ref);
      return -2;
    }
    crashPoint('positions.compact.published');
    for (const old of moved.keys()) heap.retire(old);
    heap.retire(prev);
    crashPoint('positions.compact.retired');
    // This thread's memo of the order list carries over (same chunks' bytes, new refs).
    const list = memo.get(cur.ref, cur.stamp);
    if (list !== undefined) memo.put(ref, heap.stampOf(ref), list);
    this.stats.relocations++;
    this.stats.movedBytes += bytes;
    return 1;
  }

  /**
   * Moves one index entry (Ent) out of the window: under its pair's lock (tryAcquire), or for a
   * counter by the CAS alone; the same steps and crash points as a record's move, one block.
   * Returns as #relocate.
   */
  #moveEntry(e: Ent): number {
    const guard = e.tp === undefined ? null : this.#locks.tryAcquire(e.a, e.tp);
    if (e.tp !== undefined && guard === null) return -1;
    try {
      const heap = this.#s.heap;
      const t = e.t;
      const h = t.hash(e.a, e.b);
      const seen = new Version();
      const cur = t.read(e.a, e.b, (_u8, at, len, ref) => ({ at, len, ref }), h, seen);
      if (cur === undefined || cur.ref >= this.#hi || cur.ref + heap.capacityOf(cur.ref) + kBlockHeaderBytes <= this.#lo) return 0;
      let ref = 0;
      try {
        ref = this.#alloc(() => t.allocRecord(e.a, e.b, h, cur.len));
        heap.u8.copyWithin(t.valueOffset(ref), cur.at, cur.at + cur.len);
        crashPoint('positions.compact.copied');
      } catch (x) {
        if (ref !== 0) heap.free(ref);
        if (x === kNoRoom || (x instanceof SabStateError && x.code === ErrorCode.CAPACITY)) return -2;
        throw x;
      }
      const prev = t.publish(e.a, e.b, h, ref, seen);
      if (prev === -1) {
        // Changed since the read (a counter's update): that write stands.
        heap.free(ref);
        return -2;
      }
      crashPoint('positions.compact.published');
      heap.retire(prev);
      crashPoint('positions.compact.retired');
      this.stats.relocations++;
      this.stats.movedBytes += cur.len;
      return 1;
    } finally {
      guard?.release();
    }
  }

  /** An allocation outside the window: what lands inside is hoarded (freed at the end), then it asks again. */
  #alloc(fn: () => number): number {
    const heap = this.#s.heap;
    for (;;) {
      const ref = fn();
      if (ref >= this.#hi || ref + heap.capacityOf(ref) + kBlockHeaderBytes <= this.#lo) return ref;
      this.#hoard.push(ref);
      if (this.#hoard.length >= kMaxHoard) throw kNoRoom;
    }
  }

  /** A reader of a record's META (flags, trade pair, refs) and where its value lies (under the lock: stable). */
  #meta(): (u8: Uint8Array, at: number, len: number, ref: number) => RawRecord & { at: number; len: number } {
    const { heap, cache, memo } = this.#s;
    return (_u8, at, len, ref) => Object.assign(readRecordValue(heap, at, len, ref, ReadMode.META, cache, memo), { at, len });
  }

  #discard(moved: Map<number, number>, ref: number): void {
    const heap = this.#s.heap;
    for (const f of moved.values()) if (f !== 0) heap.free(f);
    if (ref !== 0) heap.free(ref);
  }

  /** Step 5: the hoard freed, the retired blocks freed once no reader is pinned (bounded wait), a merge. */
  #release(): void {
    const heap = this.#s.heap;
    for (const r of this.#hoard) heap.free(r);
    this.#hoard = [];
    const deadline = Date.now() + kPinWaitMs;
    heap.collect();
    while (Atomics.load(heap.i32, kDeferredHead) !== 0 && Date.now() < deadline) {
      Atomics.wait(this.#sleep, 0, 0, 1);
      heap.collect();
    }
    heap.consolidate();
  }
}
