/**
 * A shared open-addressing hash table of variable-size records with lock-free reads. Keys are
 * one string or a (string, string) pair, values opaque bytes; records live in a SharedHeap.
 *
 * Algorithm: linear probing over a power-of-two array of slots (at least 2 x maxRecords: load
 * <= 1/2), keyed by the seeded hash of hash.ts. Each slot is ONE 64-bit word (offset of the
 * record block | version << 32) changed only by CAS: the versioned word of versioned-word.ts. A record
 * block holds key and value, so key and value change in one atomic step, and lookups compare
 * the full key, never the hash only.
 * - Lookup: probe from hash & mask; EMPTY ends the chain, TOMB is skipped, a slot whose hint
 *   differs is skipped; else the key is compared and the word loaded again: if it moved, the
 *   slot is examined again (a compare on a freed block proves nothing). A read copies the value
 *   and checks the word is unchanged; it makes one attempt inline, then up to
 *   kMaxOptimisticReads more, then one pinned attempt that cannot fail (versioned-word.ts section 2):
 *   it always terminates and never waits for a writer, dead or alive.
 * - Int32 halves: a lock-free reader loads the word as its two Int32 halves, never as a BigInt
 *   (a BigUint64 load allocates a BigInt, several per probe): the version half FIRST, then the
 *   offset half, and it validates by loading the version half again. Why that is the word:
 *   every change of a word is one 64-bit CAS that increments its version (#casAt, #claim,
 *   trimTombs all go through nextWord / #wordOf), so an unchanged version (mod 2^32, as the
 *   whole word's check) means no CAS fell between the two version loads, hence the offset
 *   loaded between them is that version's. A CAS between the version load and the offset load
 *   gives a mixed pair, which the validating load rejects (it sees a later version); loading
 *   the offset first would not be safe (an old offset with the new version would validate).
 *   The loads are sequentially consistent Atomics of one thread, so they stay in program order
 *   (LDAR on ARM64, plain MOV under x86-64's TSO); that a 32-bit load of half of a word written
 *   by one 64-bit CAS sees one side of that CAS is the hardware's single-copy atomicity of
 *   aligned accesses, which V8's Atomics compile to (the same footing as versioned-word.ts
 *   section 3). A pinned probe, which nothing validates, loads the word in one 64-bit load.
 *   Writers still CAS the whole word (BigInt): version and offset change in one step.
 * - Update / delete, lock-free: CAS the found word to (new block | TOMB, version + 1), else
 *   start over; then retire the old block (heap.ts). With `expect` (a word read before) it is a
 *   compare-and-set: read-modify-write without a lock (`update`). `touch` CASes a word to
 *   (same block, version + 1): the value stays, a compare-and-set that expects the old word fails.
 * - Insert of a new key, under the claim mutex (mutex.ts, owner in the word): probe again, take
 *   the first TOMB of the chain or the EMPTY that ends it, store the hint, CAS the word. Only
 *   claimers and the trim change EMPTY / TOMB words, so under the mutex they hold still and a
 *   key is never inserted twice.
 * - Deletion: tombstones. Keys never move, so a lock-free probe cannot miss a key that stays
 *   present. Inserts reuse tombstones; when non-EMPTY slots pass 3/4, the claimer trims every
 *   run of TOMBs that ends at an EMPTY back to EMPTY (no chain passes such a run to a live key:
 *   no lookup changes its answer).
 *
 * Region (RegionKind.TABLE, params [slots, maxRecords]):
 *
 * | line | slot            | name        | written by         | how |
 * | ---- | --------------- | ----------- | ------------------ | --- |
 * | 0    | Int32 0..31     | header      | creator            | region.ts |
 * | 1    | Int32 0         | kMutex      | claimers           | futex word (mutex.ts) |
 * | 2    | Int32 0, 1, 2   | kLive, kUsed, kTombs | claim, delete, trim | Atomics (kUsed: non-EMPTY slots, under kMutex) |
 * | 3    | Int32 0..5      | k*Count     | writers, retriers  | Atomics.add (stats) |
 * | 4+   | 16 bytes / slot | kWord       | writers            | BigUint64 CAS only: offset, version << 32 (read as Int32 halves: refIndex, verIndex) |
 * |      | +8              | kHint       | claimer            | Atomics.store before the claiming CAS: the key's hash |
 *
 * Word offsets: kEmpty 0 (never used, or trimmed), kTomb 1, else a record block: its layout, its
 * writer and its garbage-proof readers are in record-block.ts.
 *
 * Writes (set, delete, take, update, and the domains' publish / remove) run inside the heap's
 * write gate, so recovery's sweep (heap-sweep.ts, under the gate's freeze) never sees a block
 * between its allocation and its publication, or between its unpublication and its retirement.
 *
 * CRASH TABLE (a thread terminated right after the step; recovery = engine.watch: gate slot
 * cleared, then under the gate's freeze the domain's repair, recount(true) and the heap sweep):
 *
 * | protocol | after step                      | leaves                                  | recovery |
 * | -------- | ------------------------------- | --------------------------------------- | -------- |
 * | any write| allocRecord                     | an allocated block nothing refers to    | sweep frees it |
 * | claim    | tryLock / lockSlow (kMutex)     | the claim mutex held by a dead thread   | releaseAllOwnedBy: forceRelease, notify all |
 * | claim    | hint store (table.claim.hinted) | a hint on an EMPTY / TOMB slot: ignored | nothing needed |
 * | claim    | slot CAS (table.claim.published)| the record published, kLive / kUsed / kTombs one off | recount(true) |
 * | claim    | counters (table.claim.counted)  | the mutex held                          | forceRelease |
 * | claim    | trim, mid-run                   | some TOMB runs trimmed, counters off    | recount(true) |
 * | cas      | slot CAS (table.cas.done)       | counters one off; the old block unretired | recount(true); sweep frees the block (deferred while pinned) |
 * | touch    | slot CAS to version + 1, same block (table.cas.done) | nothing but the update counter | recount(true) |
 * | delete / take / update | remove CAS        | as cas                                  | as cas |
 */
import { threadId } from 'node:worker_threads';
import { ErrorCode, SabStateError } from '../../errors.ts';
import type { HashKey } from '../hash/hash.ts';
import type { SharedHeap } from './heap.ts';
import { crashPoint, declareCrashPoints } from '../crash.ts';
import { lockSlow, tryLock, unlock } from '../sync/mutex.ts';
import { tagOf } from '../sync/thread-tag.ts';
import { checkRegion } from '../region.ts';
import { MOVED, type Moved, ReadRetry, kMaxOptimisticReads, nextWord, readFence, readVersioned, validated, wordRef } from '../sync/versioned-word.ts';
import { type RecordReader, type ValueReader, allocRecord, copyOwnedValue, keyMatches, readRecord, readValue, valueOffset } from './record-block.ts';
import { KeyHashes } from './table-hash.ts';
import {
  type TableHandle, hintIndex, kDeletes, kEmpty, kInserts, kLive, kLowHalf, kMutex, kPinnedReads, kReadRetries, kTomb, kTombs,
  kUpdates, kUsed, refIndex, tableSpec, verIndex, wordIndex,
} from './table-layout.ts';
import { Version } from './version.ts';
import { type TableView, kClaimTimeoutMs, markTableBlocks, recountTable, releaseClaimOwnedBy, tableStats, trimTombs } from './table-repair.ts';

export { kNoSecond, type ValueReader } from './record-block.ts';

declareCrashPoints('table', ['table.claim.locked', 'table.claim.hinted', 'table.claim.published', 'table.claim.counted', 'table.cas.done']);

export type TableStats = ReturnType<typeof tableStats>;
// The readers of has / get / update, made once (an arrow written at the call is a new closure per call).
const present: ValueReader<true> = () => true;
const copyValue: ValueReader<Uint8Array> = (u8, at, len) => u8.slice(at, at + len);
type Change = (old: Uint8Array | undefined) => Uint8Array | null | undefined;

export class SharedTable {
  readonly heap: SharedHeap;
  readonly slots: number;
  readonly maxRecords: number;
  readonly what: string;
  readonly #i32: Int32Array;
  readonly #b64: BigUint64Array;
  readonly #mask: number;
  readonly #tag: number;
  readonly #pins: { pin(): void; unpin(): void };
  /** Its views, for the whole-region passes of table-repair.ts. */
  readonly #view: TableView;
  readonly #retried = (): void => void Atomics.add(this.#i32, kReadRetries, 1);
  /** Word halves (version, block) and slot of the record the last probe found (0, 0, -1: none). */
  #ver = 0;
  #ref = 0;
  #slot = -1;
  /** Scratch to make a 64-bit word from its halves with one BigInt (#wordOf). Thread-private. */
  readonly #w32 = new Uint32Array(2);
  readonly #w64 = new BigUint64Array(this.#w32.buffer);
  /** Where a claim of the last probed key goes: first TOMB, or the EMPTY ending the chain. */
  #target = -1;
  /** This thread's memo of key hashes (table-hash.ts). */
  readonly #hashes: KeyHashes;

  constructor(handle: TableHandle, heap: SharedHeap, key: HashKey, what: string) {
    checkRegion(handle.sab, tableSpec(handle.slots, handle.maxRecords, key), what);
    this.heap = heap;
    this.slots = handle.slots;
    this.maxRecords = handle.maxRecords;
    this.what = what;
    this.#i32 = new Int32Array(handle.sab);
    this.#b64 = new BigUint64Array(handle.sab);
    this.#hashes = new KeyHashes(key);
    this.#mask = handle.slots - 1;
    this.#tag = tagOf(threadId);
    this.#view = { i32: this.#i32, b64: this.#b64, mask: this.#mask, what };
    const pinned = (): void => void Atomics.add(this.#i32, kPinnedReads, 1);
    this.#pins = { pin: () => (pinned(), heap.pin()), unpin: () => heap.unpin() };
  }

  hash(a: string, b?: string): number {
    return this.#hashes.hash(a, b);
  }

  get size(): number {
    return Atomics.load(this.#i32, kLive);
  }

  // ---- reads: never lock, never block a writer ---------------------------------------------

  /**
   * Runs `fn` on the value of (a, b) in a read window (validated by the slot word; pinned after
   * kMaxOptimisticReads failures). `fn` only reads, may see garbage and then throws RETRY (any
   * exception on a moved word is retried). fn's result, or undefined if the key is absent.
   * With `seen`, the version the answer is of goes into it (ABSENT's if the key is absent): the
   * expectation of a later publish / remove of the same key.
   */
  read<T>(a: string, b: string | undefined, fn: ValueReader<T>, h = this.hash(a, b), seen?: Version): T | undefined {
    // The first attempt inline (no closures: the common case costs a probe and a copy).
    const first = this.#probe(a, b, h, false);
    if (first === -1) {
      if (seen !== undefined) this.#saw(seen);
      return undefined;
    }
    if (first >= 0) {
      const r = this.#copy(first, this.#ver, this.#ref, a, b, fn, false);
      if (r !== MOVED) {
        if (seen !== undefined) this.#saw(seen);
        return r;
      }
    }
    this.#retried();
    const out = readVersioned((pinned): T | undefined | Moved => {
      const slot = this.#probe(a, b, h, pinned);
      if (slot < 0) return slot === -1 ? undefined : MOVED;
      return this.#copy(slot, this.#ver, this.#ref, a, b, fn, pinned);
    }, this.#pins, this.#retried);
    if (seen !== undefined) this.#saw(seen);
    return out;
  }

  /** The version the last probe found (0, 0 and -1 if absent). */
  #saw(seen: Version): void {
    seen.ver = this.#ver;
    seen.ref = this.#ref;
    seen.slot = this.#slot;
  }

  has(a: string, b?: string): boolean {
    return this.read(a, b, present) === true;
  }

  /** A copy of the value bytes, or undefined. */
  get(a: string, b?: string): Uint8Array | undefined {
    return this.read(a, b, copyValue);
  }

  /**
   * fn(a, b, u8, at, len, ref) on every record, in a read window like read(): each record a whole
   * version, the set not a snapshot (the domain's write gate gives that). O(slots).
   */
  scan<T>(fn: RecordReader<T>): T[] {
    const out: T[] = [];
    const none = Symbol('none');
    for (let i = 0; i <= this.#mask; i++) {
      // The low half of the word first (little-endian Int32 view: cheaper than a BigInt load).
      if (Atomics.load(this.#i32, this.#wi(i) << 1) <= kTomb) continue;
      const r = readVersioned((pinned): T | typeof none | Moved => {
        const w = Atomics.load(this.#b64, this.#wi(i));
        if (wordRef(w) <= kTomb) return none;
        const copy = (): T => readRecord(this.heap, wordRef(w), fn);
        return pinned ? copy() : validated(copy, () => Atomics.load(this.#b64, this.#wi(i)) === w);
      }, this.#pins, this.#retried);
      if (r !== none) out.push(r);
    }
    return out;
  }

  // ---- writes: lock-free, except inserts of new keys (claim mutex) ----------------------------

  /** Allocates a record block for (a, b) with room for valueLen bytes; returns its ref (record-block.ts). */
  allocRecord(a: string, b: string | undefined, h: number, valueLen: number): number {
    return allocRecord(this.heap, a, b, h, valueLen);
  }

  /** Byte offset (in heap.u8) of the value of a record block this thread owns. */
  valueOffset(ref: number): number {
    return valueOffset(this.heap, ref);
  }

  /**
   * Publishes record block `ref` (allocRecord) as the value of (a, b). Returns the unpublished
   * old block (the caller retires it), 0 if the key was new, -1 if `expect` failed (ABSENT: must
   * be absent; a version read() handed back: must be current, checked by one CAS at its slot and
   * no probe: a word names one version of one record, so a slot that still holds it still holds
   * this key). ERR_CAPACITY if the key is new and the table holds maxRecords records.
   */
  publish(a: string, b: string | undefined, h: number, ref: number, expect?: Readonly<Version>): number {
    if (expect !== undefined && expect.slot >= 0 && expect.ref !== kEmpty) return this.#casAt(expect.slot, expect.ver, expect.ref, ref);
    for (;;) {
      const s = this.#probeStable(a, b, h);
      if (s >= 0) {
        if (expect !== undefined && !this.#found(expect)) return -1;
        const r = this.#casAt(s, this.#ver, this.#ref, ref);
        if (r !== -1 || expect !== undefined) return r;
      } else {
        if (expect !== undefined && expect.ref !== kEmpty) return -1;
        if (this.#claim(a, b, h, ref)) return 0;
        if (expect !== undefined) return -1;
      }
    }
  }

  /**
   * Moves the slot word that `expect` names (a version read() handed back) to the next version of
   * the SAME block: readers see the same value (a copy in flight retries), but every
   * compare-and-set that expects the old word now fails, as after a rewrite, without a block
   * allocated or retired. True if the CAS won; false if the key moved, is absent or was removed
   * since (the caller reads again).
   */
  touch(expect: Readonly<Version>): boolean {
    if (expect.slot < 0 || expect.ref <= kTomb) return false;
    return this.#casAt(expect.slot, expect.ver, expect.ref, expect.ref) !== -1;
  }

  /**
   * True if the slot that `v` names (a version read() handed back) still holds that word: the
   * version half, the block half, the version half again ("Int32 halves" above). No probe.
   */
  holds(v: Readonly<Version>): boolean {
    if (v.slot < 0 || v.ref <= kTomb) return false;
    const i32 = this.#i32;
    return Atomics.load(i32, verIndex(v.slot)) === v.ver && Atomics.load(i32, refIndex(v.slot)) >>> 0 === v.ref && Atomics.load(i32, verIndex(v.slot)) === v.ver;
  }

  /** True if the last probe found the word `expect` names. */
  #found(expect: Readonly<Version>): boolean {
    return this.#ver === expect.ver && this.#ref === expect.ref;
  }

  /** Removes (a, b): the unpublished old block (caller retires it), 0 if absent, -1 if `expect` (as publish) failed. */
  remove(a: string, b: string | undefined, h: number, expect?: Readonly<Version>): number {
    if (expect !== undefined && expect.slot >= 0 && expect.ref !== kEmpty) return this.#casAt(expect.slot, expect.ver, expect.ref, kTomb);
    for (;;) {
      const s = this.#probeStable(a, b, h);
      if (s < 0) return expect === undefined || expect.ref === kEmpty ? 0 : -1;
      if (expect !== undefined && !this.#found(expect)) return -1;
      const r = this.#casAt(s, this.#ver, this.#ref, kTomb);
      if (r !== -1 || expect !== undefined) return r;
    }
  }

  /** Upsert of a byte value. */
  set(a: string, b: string | undefined, bytes: Uint8Array): void {
    const gate = this.heap.gate;
    gate.enter();
    try {
      this.#put(a, b, this.hash(a, b), bytes);
    } finally {
      gate.leave();
    }
  }

  delete(a: string, b?: string): boolean {
    const gate = this.heap.gate;
    gate.enter();
    try {
      const old = this.remove(a, b, this.hash(a, b));
      if (old > 0) this.heap.retire(old);
      return old > 0;
    } finally {
      gate.leave();
    }
  }

  /** Atomic remove-and-return: of concurrent takers exactly one gets the value (its CAS won). */
  take(a: string, b?: string): Uint8Array | undefined {
    const gate = this.heap.gate;
    gate.enter();
    try {
      const old = this.remove(a, b, this.hash(a, b));
      if (old <= 0) return undefined;
      this.heap.checkBlock(old); // covers it: another thread may have allocated it past our views
      // Copied while the block is still allocated; if the copy throws (out of memory) the CAS
      // has happened: the row is gone and the block is retired anyway (nothing leaks).
      try {
        return copyOwnedValue(this.heap, old);
      } finally {
        this.heap.retire(old);
      }
    } finally {
      gate.leave();
    }
  }

  /**
   * Lock-free read-modify-write: fn(value or undefined) returns the new value, null to delete,
   * undefined to leave it; called again if another writer got there first (fn must be pure).
   * True if it changed the table.
   */
  update(a: string, b: string | undefined, fn: Change): boolean {
    const gate = this.heap.gate;
    gate.enter();
    try {
      return this.#update(a, b, fn);
    } finally {
      gate.leave();
    }
  }

  #update(a: string, b: string | undefined, fn: Change): boolean {
    const h = this.hash(a, b);
    const seen = new Version();
    for (;;) {
      const old = this.read(a, b, copyValue, h, seen);
      const next = fn(old);
      if (next === undefined || (next === null && old === undefined)) return false;
      const r = next === null ? this.remove(a, b, h, seen) : this.#put(a, b, h, next, seen);
      if (r === -1) continue;
      if (next === null && r > 0) this.heap.retire(r);
      return true;
    }
  }

  /** Releases the claim mutex if a dead thread held it (engine.watch), and wakes its waiters. */
  releaseAllOwnedBy(deadThreadId: number): number {
    return releaseClaimOwnedBy(this.#i32, deadThreadId);
  }

  /** Marks every record block a slot names (heap-sweep.ts). Under the gate's freeze. */
  markBlocks(mark: (ref: number, what: string) => void): void {
    markTableBlocks(this.#view, mark);
  }

  /** The record counters recomputed from the slots; with `repair`, fixed (table-repair.ts). */
  recount(repair: boolean): string[] {
    return recountTable(this.#view, this.#tag, repair);
  }

  stats(): TableStats {
    return tableStats(this.#i32, this.maxRecords, this.slots);
  }

  // ---- internals -------------------------------------------------------------------------------

  /**
   * fn on block `ref` that version `ver` of `slot` names; unless pinned, MOVED if the version
   * moved (versioned-word.ts validated; the version half alone decides: "Int32 halves" above).
   */
  #copy<T>(slot: number, ver: number, ref: number, a: string, b: string | undefined, fn: ValueReader<T>, pinned: boolean): T | Moved {
    let out: T;
    try {
      out = readValue(this.heap, ref, a, b, fn);
    } catch (e) {
      if (pinned) throw e;
      readFence();
      if (!(e instanceof ReadRetry || Atomics.load(this.#i32, verIndex(slot)) !== ver)) throw e;
      return MOVED;
    }
    if (pinned) return out;
    readFence(); // versioned-word.ts section 3: the copy's plain loads stay before the validating load
    return Atomics.load(this.#i32, verIndex(slot)) === ver ? out : MOVED;
  }

  /** Writes bytes into a new block and publishes it (frees it if not published); -1 if `expect` failed. */
  #put(a: string, b: string | undefined, h: number, bytes: Uint8Array, expect?: Readonly<Version>): number {
    const ref = this.allocRecord(a, b, h, bytes.length);
    this.heap.u8.set(bytes, this.valueOffset(ref));
    let r = -1;
    try {
      r = this.publish(a, b, h, ref, expect);
    } finally {
      if (r === -1) this.heap.free(ref);
    }
    if (r > 0) this.heap.retire(r);
    return r;
  }

  /** One CAS of a slot from word (ver, old) to (ver + 1, ref) (ref a block, or kTomb): old, or -1. */
  #casAt(slot: number, ver: number, old: number, ref: number): number {
    const expect = this.#wordOf(ver, old);
    if (Atomics.compareExchange(this.#b64, this.#wi(slot), expect, this.#wordOf(ver + 1, ref)) !== expect) return -1;
    crashPoint('table.cas.done');
    if (ref !== kTomb) {
      Atomics.add(this.#i32, kUpdates, 1);
    } else {
      Atomics.sub(this.#i32, kLive, 1);
      Atomics.add(this.#i32, kTombs, 1);
      Atomics.add(this.#i32, kDeletes, 1);
    }
    return old;
  }

  /** The 64-bit word of halves (ver, ref), versions mod 2^32 as nextWord: one BigInt made. */
  #wordOf(ver: number, ref: number): bigint {
    this.#w32[kLowHalf] = ref;
    this.#w32[1 - kLowHalf] = ver;
    return this.#w64[0]!;
  }

  #wi(slot: number): number {
    return wordIndex(slot);
  }

  #hi(slot: number): number {
    return hintIndex(slot);
  }

  /** A probe that always answers (optimistic, then pinned). */
  #probeStable(a: string, b: string | undefined, h: number): number {
    const first = this.#probe(a, b, h, false);
    if (first !== -2) return first;
    return readVersioned((pinned) => {
      const slot = this.#probe(a, b, h, pinned);
      return slot === -2 ? MOVED : slot;
    }, this.#pins, this.#retried);
  }

  /**
   * The slot of (a, b) (#ver, #ref, #slot set), -1 if absent (#target set), -2 if a slot kept
   * moving. Optimistic, it reads the word as Int32 halves, version first ("Int32 halves" above);
   * pinned, as one 64-bit load (nothing validates a pinned read: its halves must be one word's).
   */
  #probe(a: string, b: string | undefined, h: number, pinned: boolean): number {
    const i32 = this.#i32;
    let i = h & this.#mask;
    this.#target = -1;
    this.#ver = 0;
    this.#ref = 0;
    this.#slot = -1;
    for (let n = 0; n <= this.#mask; n++, i = (i + 1) & this.#mask) {
      for (let tries = 0; ; tries++) {
        let ver: number;
        let ref: number;
        if (pinned) {
          const w = Atomics.load(this.#b64, this.#wi(i));
          ver = Number(w >> 32n) | 0;
          ref = wordRef(w);
        } else {
          ver = Atomics.load(i32, verIndex(i));
          ref = Atomics.load(i32, refIndex(i)) >>> 0;
        }
        if (ref <= kTomb) {
          if (this.#target < 0) this.#target = i;
          if (ref === kEmpty) return -1;
          break;
        }
        if (Atomics.load(i32, this.#hi(i)) !== h) break;
        const match = keyMatches(this.heap, ref, a, b, h);
        if (!pinned) readFence(); // versioned-word.ts section 3: the key compare's loads before the validation
        if (pinned || Atomics.load(i32, verIndex(i)) === ver) {
          if (!match) break;
          this.#ver = ver;
          this.#ref = ref;
          this.#slot = i;
          return i;
        }
        if (tries >= kMaxOptimisticReads) return -2;
      }
    }
    return -1;
  }

  /** Inserts a new key under the claim mutex. False if the key turned out to exist. */
  #claim(a: string, b: string | undefined, h: number, ref: number): boolean {
    const i32 = this.#i32;
    if (tryLock(i32, kMutex, this.#tag) !== 0 && !lockSlow(i32, kMutex, this.#tag, kClaimTimeoutMs)) {
      throw new SabStateError(ErrorCode.LOCK_TIMEOUT, `${this.what}: insert lock not free within ${kClaimTimeoutMs} ms (a terminated worker? engine.watch releases it)`);
    }
    crashPoint('table.claim.locked');
    try {
      if (this.#probeStable(a, b, h) >= 0) return false;
      const t = this.#target;
      if (Atomics.load(i32, kLive) >= this.maxRecords || t < 0) {
        throw new SabStateError(ErrorCode.CAPACITY, `${this.what}: table full (${this.maxRecords} records)`);
      }
      const tw = Atomics.load(this.#b64, this.#wi(t));
      Atomics.store(i32, this.#hi(t), h);
      crashPoint('table.claim.hinted');
      if (Atomics.compareExchange(this.#b64, this.#wi(t), tw, nextWord(tw, ref)) !== tw) {
        throw new Error(`${this.what}: free slot changed under the insert lock`);
      }
      crashPoint('table.claim.published');
      Atomics.add(i32, kLive, 1);
      Atomics.add(i32, kInserts, 1);
      if (wordRef(tw) === kTomb) Atomics.sub(i32, kTombs, 1);
      else if ((Atomics.add(i32, kUsed, 1) + 1) * 4 > this.slots * 3) trimTombs(this.#view);
      crashPoint('table.claim.counted');
      return true;
    } finally {
      unlock(i32, kMutex);
    }
  }
}
