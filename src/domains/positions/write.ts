/**
 * The write side of the positions domain: save and delete, run under the position's (hotkey,
 * trade pair) lock (checked or taken by positions.ts).
 *
 * save(pos):
 *   1. read the current record (META: flags, trade pair, chunk refs) and its slot word, and the
 *      open-index entry of (hotkey, trade pair). Stable: only lock holders write them.
 *   2. build the new version in blocks nobody else can reach: an order that is one of the
 *      frozen objects of the current version's order list as this thread read it (RecordMemo,
 *      positions/cache.ts) keeps its chunk; every other order is encoded into a new chunk; then
 *      the head is encoded and the record block written. Any error here (codec refusal,
 *      ERR_CAPACITY) frees what was built: nothing was published. An allocation refused with
 *      ERR_CAPACITY (here, the open-index entry's, or the hotkey index's in step 3) first has
 *      other records moved to open a contiguous free range (positions/compact.ts: their locks
 *      taken with one try each; this write's own record is not moved) and is tried once more.
 *   3. inside the heap's write gate: add the uuid to the hotkey index (new position only), CAS
 *      the record slot from the word read in 1 (a different word means some thread wrote
 *      without the lock: the save starts over), then set or clear the open-index entry.
 *   4. retire the old record block and the old chunks the new version does not refer to. They
 *      are unreachable from the published state, and retire() defers the free while a pinned
 *      reader may still copy them (heap.ts).
 * Cost of a save on a position of n orders: one new chunk per order not in the version this
 * thread read (by identity, RecordMemo), a record of 16 + 8n bytes + trade pair + head.
 *
 * append(head, order) (positions.appendOrder), the order step without the history:
 *   1. locate the current record (flags, trade pair, order count, where its refs are; nothing
 *      copied) and its slot word, or take what this thread's getOpenHead located if the slot
 *      still holds that word (LastHead, positions/cache.ts). Stable: only lock holders write it,
 *      and only they retire it.
 *   2. inside the write gate: encode the order into one new chunk, encode the head, allocate
 *      the record block and fill it: the old refs copied inside the heap (one copyWithin of 8n
 *      bytes, no order read, decoded or compared), the new chunk's ref, trade pair, head.
 *   3. as save's step 3 (the same protocol, its own crash points: positions.append.*).
 *   4. retire the old record block only: every chunk stays referenced.
 * Its cost does not depend on the number of earlier orders beyond the copyWithin (bench/
 * order-path.ts, flatness case), nor on the miner's number of positions (positions/hotkey-index.ts).
 *
 * After each save, append and delete (outside the write gate, nothing of this thread in
 * flight), the top compaction's trigger is ticked (positions/compact.ts tick: a decrement; every
 * 64th, two loads; a delete that removed something, also two loads while the trigger is backed off).
 *
 * Writes of one thread do not nest: a save or append started while another is in flight (from a
 * getter or toJSON of the value being encoded) is refused with ERR_INVALID_VALUE before it reads
 * anything (the codec encodes into one scratch per thread: the nested write stored a corrupt
 * record before the check). No closure is made per write: the write gate is entered and left
 * around steps 2-3 (SeqGate.enter / leave, what run() does).
 *
 * delete(hotkey, uuid): reads the record's trade pair, takes that lock, re-reads, removes the
 * record (CAS with the word read under the lock), clears the open index if it names this uuid,
 * retires the blocks, and takes the uuid out of the hotkey index.
 *
 * CRASH TABLE (a thread terminated right after the step; recovery: engine.watch, then under the
 * write gate's freeze checkPositions(repair) (positions/repair.ts), table recount, heap sweep).
 * Save and append publish with the same steps; their points differ only in name (save / append):
 *
 * | step (crash point)                         | leaves                                       | recovery |
 * | ------------------------------------------ | -------------------------------------------- | -------- |
 * | 2: blocks allocated, not published         | blocks nothing refers to                     | sweep frees them (the write never happened) |
 * | index counter taken (positions.index.counted) | a hole in the hotkey's index              | nothing needed (positions/hotkey-index.ts) |
 * | listed (positions.{save,append}.listed)    | an index entry naming a uuid with no record  | repair removes it: undone |
 * | open index set (….indexed)                 | that, and an open-index entry naming no open record | repair removes both: undone |
 * | record CAS (….published)                   | the new version published; a closing write's open entry still set; old blocks unretired | repair clears the stale open entry (completed); sweep frees the old blocks |
 * | open index cleared (….unindexed)           | old blocks unretired                         | sweep frees them |
 * | delete: record removed (positions.delete.removed) | an open entry naming no record; an index entry naming no record | repair removes both: completed |
 * | delete: open index cleared (positions.delete.unindexed) | the index entry; blocks unretired     | repair removes the entry; sweep frees the blocks |
 * | delete: index entry removed, counter not yet lowered (positions.index.trimmed) | a counter past missing entries | nothing needed; a counter alone: repair removes it |
 */
import { ErrorCode, SabStateError } from '../../errors.ts';
import { crashPoint, declareCrashPoints } from '../../internal/crash.ts';
import { encodeOrder, encodePositionHead } from '../../internal/codec/codec.ts';
import { Version } from '../../internal/store/version.ts';
import { recordPayloadBytes, writeUnits } from '../../internal/store/record-block.ts';
import type { SharedTable } from '../../internal/store/table.ts';
import type { PositionStore } from './store.ts';
import { type CompactionStats, Compactor } from './compact.ts';
import {
  type RawRecord, ReadMode, type RecordLoc, type ValidHead, type ValidPosition, kChunkHeaderBytes, locateRecord, readRecordValue,
  readUuid, recordValueBytes, writeAppendedRecord, writeChunk, writeRecordValue,
} from './record.ts';

interface Locks {
  isHeldByCurrentThread(hotkey: string, tradePairId: string): boolean;
  withLock<T>(hotkey: string, tradePairId: string, fn: () => T): T;
  /** Without it, an allocation refused with ERR_CAPACITY is not retried after a compaction (positions/compact.ts). */
  tryAcquire?(hotkey: string, tradePairId: string): { release(): void } | null;
}

interface Built {
  ref: number;
  /** The new version's chunk refs (save), or null (append: every old chunk kept, one added). */
  refs: number[] | null;
  /** Chunks written for this write. */
  fresh: number[];
  published: boolean;
}
/** What #check and #publish need of the version replaced (a RawRecord for save, a RecordLoc for append). */
interface Old {
  open: boolean;
  tp: string;
  /** Chunk refs (save: those the new version drops are retired); null for append (none dropped). */
  refs: number[] | null;
}
/** The crash points of one publishing protocol (save or append: the same steps). */
interface Points {
  op: string;
  listed: string;
  indexed: string;
  published: string;
  unindexed: string;
}
const SAVE: Points = {
  op: 'positions.save', listed: 'positions.save.listed', indexed: 'positions.save.indexed', published: 'positions.save.published', unindexed: 'positions.save.unindexed',
};
const APPEND: Points = {
  op: 'positions.appendOrder', listed: 'positions.append.listed', indexed: 'positions.append.indexed', published: 'positions.append.published',
  unindexed: 'positions.append.unindexed',
};

declareCrashPoints('positions', [
  ...Object.values(SAVE).slice(1), ...Object.values(APPEND).slice(1), 'positions.delete.removed', 'positions.delete.unindexed',
]);

/** Starts of a save or delete whose expected slot word moved (only a writer without the lock can do that). */
const kMaxAttempts = 8;
type Reader<T> = (u8: Uint8Array, at: number, len: number, ref: number) => T;

export class PositionWriter {
  readonly #s: PositionStore;
  readonly #locks: Locks;
  readonly #meta: Reader<RawRecord>;
  readonly #uuid: Reader<string>;
  readonly #locate: Reader<RecordLoc>;
  /** A save or append of this thread is in flight (#write). */
  #active = false;
  /** What #buildAppend returns (one chunk, no refs list), rewritten per append. */
  readonly #appended: Built = { ref: 0, refs: null, fresh: [0], published: false };
  /** The version #writeOnce read (its expectation at publish), rewritten per write. */
  readonly #seen = new Version();
  /** Moves records to make room when an allocation is refused (positions/compact.ts); null without tryAcquire. */
  readonly #compactor: Compactor | null;

  constructor(store: PositionStore, locks: Locks) {
    this.#s = store;
    this.#locks = locks;
    this.#compactor = typeof locks.tryAcquire === 'function' ? new Compactor(store, { tryAcquire: locks.tryAcquire.bind(locks) }) : null;
    // One RecordLoc and one Built per writer, rewritten by each append: writes do not nest (#write).
    const loc: RecordLoc = { at: 0, len: 0, open: false, tp: '', n: 0, headLen: 0, refs: null };
    this.#locate = (_u8, at, len) => locateRecord(store.heap, at, len, loc);
    this.#meta = (_u8, at, len, ref) => readRecordValue(store.heap, at, len, ref, ReadMode.META, store.cache, store.memo);
    this.#uuid = (_u8, at, len) => readUuid(store.heap, at, len);
  }

  save(pos: object, v: ValidPosition): void {
    const built = this.#write(v, SAVE, pos, undefined);
    // Every order kept its chunk: they are all frozen objects of this thread's caches, so the new
    // version's list is remembered as it stands (no copy of any order), and saving the same
    // objects again (a head field changed, no order added) keeps every chunk again.
    if (built.fresh.length === 0) this.#s.memo.put(built.ref, this.#s.heap.stampOf(built.ref), v.orders.slice());
    this.#compactor?.tick();
  }

  /**
   * appendOrder: the new head plus one order, the earlier orders untouched (their chunk refs are
   * copied into the new record block with one copyWithin, never read as orders). The caller
   * holds the lock; a record that does not exist yet is created with this one order.
   */
  append(head: object, order: unknown, v: ValidHead): void {
    this.#write(v, APPEND, head, order);
    this.#compactor?.tick();
  }

  /** This thread's compaction counts, or null (no tryAcquire: no compaction). */
  get compaction(): Readonly<CompactionStats> | null {
    return this.#compactor === null ? null : this.#compactor.stats;
  }

  /**
   * Moves every block of a stored position to new blocks (the compaction's move, positions/
   * compact.ts, on one record): true if it moved. Not while this thread writes a position.
   */
  relocate(hotkey: string, uuid: string, tp: string): boolean {
    if (this.#compactor === null || this.#active) return false;
    this.#s.enter();
    try {
      return this.#compactor.relocate(hotkey, uuid, tp);
    } finally {
      this.#s.leave();
    }
  }

  /** The top compaction now, whatever the trigger says (positions/compact.ts lowerTop): true if it moved something. Not while this thread writes. */
  compactTop(): boolean {
    return this.#compactor !== null && !this.#active && this.#compactor.lowerTop();
  }

  /**
   * An allocation of this write (payloadBytes) was refused: `e` is rethrown unless it is
   * ERR_CAPACITY and a compaction made room (then the caller allocates once more; a second
   * refusal reaches the caller, everything undone as for any refusal). The record being
   * written is not moved: this write read it and publishes from that version.
   */
  #roomFor(e: unknown, payloadBytes: number, v: ValidHead): void {
    if (!(e instanceof SabStateError && e.code === ErrorCode.CAPACITY) || this.#compactor === null) throw e;
    if (!this.#compactor.makeRoom(payloadBytes, v.hotkey, v.uuid)) throw e;
  }

  /** table.allocRecord(v.hotkey, b, h, len), tried once more after a compaction if the heap refused it (#roomFor). */
  #record(table: SharedTable, b: string, h: number, len: number, v: ValidHead): number {
    try {
      return table.allocRecord(v.hotkey, b, h, len);
    } catch (e) {
      this.#roomFor(e, recordPayloadBytes(v.hotkey, b, len), v);
      return table.allocRecord(v.hotkey, b, h, len);
    }
  }

  /** writeChunk, tried once more after a compaction if the heap refused it (#roomFor). */
  #chunk(bytes: Uint8Array, v: ValidHead): number {
    try {
      return writeChunk(this.#s.heap, bytes);
    } catch (e) {
      this.#roomFor(e, kChunkHeaderBytes + bytes.length, v);
      return writeChunk(this.#s.heap, bytes);
    }
  }

  /** The check of step 1: what the current version `old` allows (save: a move needs both locks; append: no move). */
  #check(v: ValidHead, points: Points, old: Old | undefined): void {
    if (old === undefined || old.tp === v.tp) return;
    if (points === APPEND) {
      throw new SabStateError(
        ErrorCode.INVALID_VALUE,
        `positions.appendOrder: ${v.uuid} is stored under trade pair ${old.tp}, not ${v.tp} (save moves positions)`,
      );
    }
    if (!this.#locks.isHeldByCurrentThread(v.hotkey, old.tp)) {
      throw new SabStateError(
        ErrorCode.LOCK_NOT_HELD,
        `positions.save: ${v.uuid} is stored under trade pair ${old.tp}: moving it to ${v.tp} needs both locks`,
      );
    }
  }

  /**
   * Steps 1-4 of save (points SAVE, `obj` the position) and append (points APPEND, `obj` the
   * head, `order` the order) (the header comment): read the current version (stable: only lock
   * holders write it), check it, build the new blocks, publish, retire. No closure is made per
   * call: the write gate is entered and left around the build and publication.
   */
  #write(v: ValidHead, points: Points, obj: object, order: unknown): Built {
    // Writes do not nest: the codec encodes into one scratch per thread, so a write started from a
    // getter or toJSON of the value being encoded would clobber the outer one's bytes (a corrupt
    // record was stored before this check). Refused before anything is read or written.
    if (this.#active) {
      throw new SabStateError(
        ErrorCode.INVALID_VALUE,
        `${points.op}: called while this thread is writing another position (from a getter or toJSON of the value being saved); positions writes do not nest`,
      );
    }
    this.#active = true;
    try {
      return this.#writeOnce(v, points, obj, order);
    } finally {
      this.#active = false;
    }
  }

  #writeOnce(v: ValidHead, points: Points, obj: object, order: unknown): Built {
    const { records, open, heap } = this.#s;
    const store = this.#s;
    const append = points === APPEND;
    const seen = this.#seen;
    const hRec = records.hash(v.hotkey, v.uuid);
    const hOpen = open.hash(v.hotkey, v.tp);
    for (let attempt = 0; attempt < kMaxAttempts; attempt++) {
      // An append first takes what this thread's getOpenHead located, if the slot has not moved (LastHead, positions/cache.ts).
      const old: (RawRecord | RecordLoc) | undefined = (append && attempt === 0 ? store.memo.head.take(v.hotkey, v.uuid, records, seen) : undefined) ??
        records.read<RawRecord | RecordLoc>(v.hotkey, v.uuid, append ? this.#locate : this.#meta, hRec, seen);
      this.#check(v, points, old);
      // An open record of this pair is what the open index names (invariant 1, positions/repair.ts).
      const openUuid = old !== undefined && old.open && old.tp === v.tp ? v.uuid : this.#openUuid(v.hotkey, v.tp, hOpen, v.uuid);
      if (v.open && openUuid !== undefined && openUuid !== v.uuid) {
        throw new SabStateError(
          ErrorCode.INVALID_VALUE,
          `${points.op}: (${v.hotkey}, ${v.tp}) already has the open position ${openUuid}; close it before opening ${v.uuid}`,
        );
      }
      // Built and published inside the write gate: recovery's heap sweep (under the freeze)
      // never sees this write's blocks between their allocation and their publication.
      store.enter();
      try {
        const built = append ? this.#buildAppend(obj, order, v, old as RecordLoc | undefined, hRec) : this.#build(obj, v as ValidPosition, old as RawRecord | undefined, hRec);
        let openRef = 0;
        try {
          if (v.open && openUuid !== v.uuid) {
            openRef = this.#record(open, v.tp, hOpen, 2 * v.uuid.length, v);
            writeUnits(heap, open.valueOffset(openRef), v.uuid); // as uuidBytes, with no array made
          }
        } catch (e) {
          this.#discard(built, openRef);
          throw e;
        }
        // #publish owns openRef from here: it publishes it or frees it.
        try {
          if (this.#publish(v, old, seen, built, hRec, hOpen, openRef, openUuid, points)) return built;
        } finally {
          if (!built.published) this.#discard(built, 0);
        }
      } finally {
        store.leave();
      }
    }
    throw new Error(`${points.op}: (${v.hotkey}, ${v.uuid}) keeps changing: a thread writes it without the (hotkey, trade pair) lock`);
  }

  delete(hotkey: string, uuid: string, meta: Reader<RawRecord>): boolean {
    const { records, heap } = this.#s;
    const store = this.#s;
    const h = records.hash(hotkey, uuid);
    for (let attempt = 0; attempt < kMaxAttempts; attempt++) {
      const first = records.read(hotkey, uuid, meta, h);
      if (first === undefined) return false;
      const r = this.#locks.withLock(hotkey, first.tp, (): boolean | null => {
        const seen = new Version();
        const cur = records.read(hotkey, uuid, meta, h, seen);
        if (cur === undefined) return false;
        if (cur.tp !== first.tp) return null;
        return store.write(() => {
          const prev = records.remove(hotkey, uuid, h, seen);
          if (prev <= 0) return prev === 0 ? false : null;
          crashPoint('positions.delete.removed');
          if (cur.open) this.#unindexOpen(hotkey, cur.tp, uuid);
          crashPoint('positions.delete.unindexed');
          this.#retireChunks(cur.refs, []);
          heap.retire(prev);
          this.#unlist(hotkey, uuid);
          return true;
        });
      });
      if (r !== null) {
        this.#compactor?.tick(r);
        return r;
      }
    }
    throw new Error(`positions.delete: (${hotkey}, ${uuid}) keeps changing: a thread writes it without the (hotkey, trade pair) lock`);
  }

  /**
   * The uuid the open index names for (hotkey, tp), if that record is really open there (an
   * index entry left by an interrupted write is ignored, then overwritten).
   */
  #openUuid(hotkey: string, tp: string, hOpen: number, saving: string): string | undefined {
    const uuid = this.#s.open.read(hotkey, tp, this.#uuid, hOpen);
    if (uuid === undefined || uuid === saving) return uuid;
    const rec = this.#s.records.read(hotkey, uuid, this.#meta);
    return rec !== undefined && rec.open && rec.tp === tp ? uuid : undefined;
  }

  #build(pos: object, v: ValidPosition, old: RawRecord | undefined, hRec: number): Built {
    const { heap, records, memo } = this.#s;
    const orders = v.orders;
    const n = orders.length;
    const refs = new Array<number>(2 * n);
    const fresh: number[] = [];
    // The old version's order list, if this thread read it (RecordMemo): an order that is one of
    // its frozen objects keeps that chunk. Same index: one identity compare; else a Map, built
    // once, finds moved ones.
    const listed = old === undefined ? undefined : memo.get(old.ref, old.stamp);
    const known = listed !== undefined && listed.length === old!.refs.length >> 1 ? listed : undefined;
    let index: Map<unknown, number> | null = null;
    // True while orders[0..k) are known[0..k): orders past known.length are then new (appended).
    let prefix = true;
    try {
      for (let k = 0; k < n; k++) {
        const o = orders[k];
        let j = -1;
        if (known !== undefined) {
          if (k < known.length && known[k] === o) j = k;
          else if ((k < known.length || !prefix) && typeof o === 'object' && o !== null) {
            prefix = false;
            if (index === null) index = new Map(known.map((x, i) => [x, i]));
            j = index.get(o) ?? -1;
          }
        }
        if (j >= 0) {
          refs[2 * k] = old!.refs[2 * j]!;
          refs[2 * k + 1] = old!.refs[2 * j + 1]!;
          continue;
        }
        const ref = this.#chunk(encodeOrder(o), v);
        fresh.push(ref);
        refs[2 * k] = ref;
        refs[2 * k + 1] = heap.stampOf(ref);
      }
      const head = encodePositionHead(pos as Record<string, unknown>);
      const len = recordValueBytes(n, v.tp.length, head.length);
      const ref = this.#record(records, v.uuid, hRec, len, v);
      writeRecordValue(heap, records.valueOffset(ref), v.open, v.tp, refs, head);
      return { ref, refs, fresh, published: false };
    } catch (e) {
      for (const f of fresh) heap.free(f);
      throw e;
    }
  }

  /** The new chunk and record block of an append (step 2), in blocks nobody else can reach. */
  #buildAppend(head: object, order: unknown, v: ValidHead, loc: RecordLoc | undefined, hRec: number): Built {
    const { heap, records } = this.#s;
    // The order first: encodeOrder's bytes alias the encoder's scratch, which the head's encode reuses.
    const chunk = this.#chunk(encodeOrder(order, 'order'), v);
    let ref = 0;
    try {
      const h = encodePositionHead(head as Record<string, unknown>);
      const n = loc === undefined ? 0 : loc.n;
      const len = recordValueBytes(n + 1, v.tp.length, h.length);
      ref = this.#record(records, v.uuid, hRec, len, v);
      writeAppendedRecord(heap, records.valueOffset(ref), v.open, v.tp, loc, chunk, h);
      const b = this.#appended;
      b.ref = ref;
      b.fresh[0] = chunk;
      b.published = false;
      return b;
    } catch (e) {
      heap.free(chunk);
      if (ref !== 0) heap.free(ref);
      throw e;
    }
  }

  /**
   * Step 3 (inside the write gate): hotkey index (new position), open index (opening), record,
   * then the closing or moving updates of the open index, then retirement. Each step that can
   * be refused (ERR_CAPACITY, an insert lock not free) comes before the record's CAS, and a
   * refusal undoes the steps before it: a save that throws has published nothing. The open
   * index may name the uuid before the record is open: readers check the record (getOpen), and
   * a save finding such an entry overwrites it. False (everything undone, the caller frees the
   * built blocks) if the record moved since it was read.
   */
  #publish(
    v: ValidHead, old: Old | undefined, seen: Version, built: Built, hRec: number, hOpen: number,
    openRef: number, openUuid: string | undefined, points: Points,
  ): boolean {
    const { records, open, heap, index } = this.#s;
    let listed = -1;
    let indexed = false;
    let prev = -1;
    try {
      if (old === undefined) {
        try {
          listed = index.add(v.hotkey, v.uuid);
        } catch (e) {
          // The add undid itself (hotkey-index.ts); its blocks are small.
          this.#roomFor(e, 512, v);
          listed = index.add(v.hotkey, v.uuid);
        }
        crashPoint(points.listed);
      }
      if (openRef !== 0) {
        const o = open.publish(v.hotkey, v.tp, hOpen, openRef);
        openRef = 0;
        indexed = true;
        if (o > 0) heap.retire(o);
        crashPoint(points.indexed);
      }
      prev = records.publish(v.hotkey, v.uuid, hRec, built.ref, seen);
    } finally {
      if (openRef !== 0) heap.free(openRef);
      if (prev === -1) {
        if (indexed) this.#unindexOpen(v.hotkey, v.tp, v.uuid);
        if (listed >= 0) this.#unlist(v.hotkey, v.uuid, listed);
      }
    }
    if (prev === -1) return false;
    built.published = true;
    crashPoint(points.published);
    if (!v.open && openUuid === v.uuid) this.#unindexOpen(v.hotkey, v.tp, v.uuid);
    if (old !== undefined && old.open && old.tp !== v.tp) this.#unindexOpen(v.hotkey, old.tp, v.uuid);
    crashPoint(points.unindexed);
    if (prev > 0) {
      if (old!.refs !== null) this.#retireChunks(old!.refs, built.refs!);
      heap.retire(prev);
    }
    return true;
  }

  #unindexOpen(hotkey: string, tp: string, uuid: string): void {
    const { open, heap } = this.#s;
    const h = open.hash(hotkey, tp);
    const seen = new Version();
    if (open.read(hotkey, tp, this.#uuid, h, seen) !== uuid) return;
    const o = open.remove(hotkey, tp, h, seen);
    if (o > 0) heap.retire(o);
  }

  /**
   * Takes uuid out of the hotkey index (entry `at` when the caller knows it: O(1)); if the heap
   * is too full even for that, the entry stays and readers skip it (its record is absent).
   */
  #unlist(hotkey: string, uuid: string, at = -1): void {
    try {
      if (at >= 0) this.#s.index.removeAt(hotkey, at, uuid);
      else this.#s.index.remove(hotkey, uuid);
    } catch (e) {
      if (!(e instanceof SabStateError && e.code === ErrorCode.CAPACITY)) throw e;
    }
  }

  /**
   * Retires the chunks of oldRefs that newRefs does not hold (each once). The common cases, an
   * order appended or the last ones dropped, share a prefix: only the rest is compared.
   */
  #retireChunks(oldRefs: number[], newRefs: number[]): void {
    const m = Math.min(oldRefs.length, newRefs.length);
    let p = 0;
    while (p < m && oldRefs[p] === newRefs[p]) p++;
    p &= ~1;
    if (p === oldRefs.length) return;
    const gone = new Set<number>();
    for (let k = p; k < oldRefs.length; k += 2) gone.add(oldRefs[k]!);
    // A chunk can sit twice in a version (the same order object twice): keep what newRefs holds.
    if (gone.size <= 4) {
      for (let k = 0; k < newRefs.length && gone.size > 0; k += 2) gone.delete(newRefs[k]!);
    } else {
      for (let k = 0; k < newRefs.length; k += 2) gone.delete(newRefs[k]!);
    }
    for (const off of gone) this.#s.heap.retire(off);
  }

  /** Frees a save's blocks that were never published. */
  #discard(built: Built, openRef: number): void {
    const heap = this.#s.heap;
    for (const f of built.fresh) heap.free(f);
    heap.free(built.ref);
    if (openRef !== 0) heap.free(openRef);
  }
}
