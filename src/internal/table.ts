/**
 * A shared open-addressing hash table of variable-size records with lock-free reads. Keys are
 * one string or a (string, string) pair, values opaque bytes; records live in a SharedHeap.
 *
 * Algorithm: linear probing over a power-of-two array of slots (at least twice maxRecords, so
 * the load stays <= 1/2), the seeded hash of hash.ts (hashString / hashPair). Each slot is ONE
 * 64-bit word (offset of the record block | version << 32), published by CAS: the versioned
 * word protocol of seqlock.ts. A record block holds the key and the value, so a slot changes
 * key and value in the same atomic step and lookups compare the full key, never the hash only.
 * - Lookup: probe from hash & mask; an EMPTY word ends the chain; TOMB is skipped; a LIVE slot
 *   whose hint differs is skipped; else the key is compared, then the word is loaded again:
 *   if it moved, the slot is examined again (a compare on a freed block proves nothing).
 * - Update / delete (lock-free): CAS the found word to (new block | TOMB, version + 1); on
 *   failure start over. The old block is then retired (heap.ts). `expect` turns it into a
 *   compare-and-set on a word read earlier (read-modify-write without a lock: `update`).
 * - Insert of a new key: under the table's claim mutex (mutex.ts, owner in the word), probe
 *   again, then take the first TOMB of the chain, or the EMPTY ending it: store the hint, then
 *   CAS the word. Only claimers (and the trim below) change EMPTY or TOMB words, so under the
 *   mutex they are stable, and a key can never be inserted twice.
 * - Deletion: tombstones (keys never move, so a lock-free reader's probe cannot miss a key
 *   that stays present). Inserts reuse them; when non-EMPTY slots pass 3/4 of the table, the
 *   claimer trims every run of TOMBs followed by EMPTY back to EMPTY (no chain passes through
 *   such a run to a live key, so no lookup changes its answer).
 *
 * Region (RegionKind.TABLE, params [slots, maxRecords]):
 *
 * | line | slot            | name        | written by         | how |
 * | ---- | --------------- | ----------- | ------------------ | --- |
 * | 0    | Int32 0..31     | header      | creator            | region.ts |
 * | 1    | Int32 0         | kMutex      | claimers           | futex word (mutex.ts) |
 * | 2    | Int32 0         | kLive       | claim / delete     | Atomics.add / sub |
 * | 2    | Int32 1         | kUsed       | claim / trim       | Atomics, under kMutex (non-EMPTY slots) |
 * | 2    | Int32 2         | kTombs      | delete / claim     | Atomics.add / sub |
 * | 3    | Int32 0..5      | k*Count     | writers, retriers  | Atomics.add (stats) |
 * | 4+   | 16 bytes / slot | kWord       | writers            | BigUint64 CAS only: offset | version << 32 |
 * |      | (+8)            | kHint       | claimer            | Atomics.store before the claiming CAS: key hash |
 *
 * Word offsets: 0 EMPTY (never used, or trimmed), 1 TOMB, >= kDataStart a record block.
 * Record block payload: kRecHash, kRecKeyA (units of a), kRecKeyB (units of b, or -1 for a
 * single-string key), kRecValueLen, then the key's UTF-16 units, padded to 8, then the value
 * (8-aligned). All plain writes by the owner before the publishing CAS.
 */
import { threadId } from 'node:worker_threads';
import { ErrorCode, SabStateError } from '../errors.ts';
import { type HashKey, hashPair, hashString } from './hash.ts';
import { type SharedHeap, kBlockHeaderBytes } from './heap.ts';
import { forceRelease, lockSlow, tagOf, tryLock, unlock } from './mutex.ts';
import { LINE_BYTES, LINE_INTS, RegionKind, type RegionSpec, checkRegion, createRegion } from './region.ts';
import { RETRY, ReadRetry, kMaxOptimisticReads } from './seqlock.ts';

const kMutex = 1 * LINE_INTS;
const kLive = 2 * LINE_INTS;
const kUsed = kLive + 1;
const kTombs = kLive + 2;
const kInserts = 3 * LINE_INTS;
const kUpdates = kInserts + 1;
const kDeletes = kInserts + 2;
const kReadRetries = kInserts + 3;
const kPinnedReads = kInserts + 4;
const kTrims = kInserts + 5;
const kFirstSlotByte = 4 * LINE_BYTES;
const kSlotBytes = 16;
const kHintByte = 8;
const kEmpty = 0;
const kTomb = 1;
const kMask32 = 0xffffffffn;
const kRecHash = 0;
const kRecKeyA = 1;
const kRecKeyB = 2;
const kRecValueLen = 3;
const kRecKeyByte = 16;
/** kRecKeyB of a single-string key. */
export const kNoSecond = -1;
const kClaimTimeoutMs = 10_000;

export interface TableHandle {
  readonly sab: SharedArrayBuffer;
  readonly slots: number;
  readonly maxRecords: number;
}

export interface TableStats {
  maxRecords: number;
  slots: number;
  records: number;
  tombstones: number;
  usedSlots: number;
  inserts: number;
  updates: number;
  deletes: number;
  readRetries: number;
  pinnedReads: number;
  trims: number;
}

/** Copies or decodes a value: (heap bytes, value offset, value length). Runs in a read window. */
export type ValueReader<T> = (u8: Uint8Array, at: number, len: number) => T;

const align8 = (n: number): number => (n + 7) & ~7;
const verOf = (w: bigint): bigint => w >> 32n;
/** Next word: version + 1 (never back to 0 within 2^32 changes), new offset. */
const nextWord = (w: bigint, ref: number): bigint => (((verOf(w) + 1n) & kMask32) << 32n) | BigInt(ref);

/** A string from UTF-16 units of a (shared) view: char loop when short, apply otherwise (never spread). */
export function unitsToString(u16: Uint16Array, start: number, n: number): string {
  if (n <= 8) {
    let r = '';
    for (let k = 0; k < n; k++) r += String.fromCharCode(u16[start + k]!);
    return r;
  }
  return String.fromCharCode.apply(null, u16.subarray(start, start + n) as unknown as number[]);
}

export function tableSlotsFor(maxRecords: number): number {
  let s = 8;
  while (s < maxRecords * 2) s *= 2;
  return s;
}

function specOf(slots: number, maxRecords: number, key: HashKey): RegionSpec {
  return { kind: RegionKind.TABLE, key, params: [slots, maxRecords] };
}

export function createTableHandle(maxRecords: number, key: HashKey): TableHandle {
  const slots = tableSlotsFor(maxRecords);
  const sab = createRegion(specOf(slots, maxRecords, key), kFirstSlotByte + slots * kSlotBytes);
  return { sab, slots, maxRecords };
}

export class SharedTable {
  readonly heap: SharedHeap;
  readonly slots: number;
  readonly maxRecords: number;
  readonly what: string;
  readonly #i32: Int32Array;
  readonly #b64: BigUint64Array;
  readonly #key: HashKey;
  readonly #mask: number;
  readonly #tag: number;
  /** Word of the slot found by the last probe / read (0n: not found). */
  #word = 0n;
  /** Slot found by the last probe / read (-1: not found). */
  #slot = -1;
  /** Claim target of the last probe: first TOMB or the EMPTY that ended the chain (-1: none). */
  #target = -1;

  constructor(handle: TableHandle, heap: SharedHeap, key: HashKey, what: string) {
    checkRegion(handle.sab, specOf(handle.slots, handle.maxRecords, key), what);
    this.heap = heap;
    this.slots = handle.slots;
    this.maxRecords = handle.maxRecords;
    this.what = what;
    this.#i32 = new Int32Array(handle.sab);
    this.#b64 = new BigUint64Array(handle.sab);
    this.#key = key;
    this.#mask = handle.slots - 1;
    this.#tag = tagOf(threadId);
  }

  hash(a: string, b?: string): number {
    return (b === undefined ? hashString(this.#key, a) : hashPair(this.#key, a, b)) | 0;
  }

  get size(): number {
    return Atomics.load(this.#i32, kLive);
  }

  /** The word of the record the last read() found, or 0n: pass it as `expect` to publish/remove. */
  get lastWord(): bigint {
    return this.#word;
  }

  /** The slot of that record (-1): pass it with lastWord to publish/remove to skip the probe. */
  get lastSlot(): number {
    return this.#slot;
  }

  // ---- reads: never lock, never block a writer ---------------------------------------------

  /**
   * Finds the key and runs `fn` on its value inside a read window (optimistic, validated by the
   * slot word; after kMaxOptimisticReads failures, once pinned). `fn` must only read: it may see
   * garbage and then should throw RETRY (any exception on a moved word is retried). Returns
   * fn's result, or undefined if the key is absent.
   */
  read<T>(a: string, b: string | undefined, fn: ValueReader<T>, h = this.hash(a, b)): T | undefined {
    for (let attempt = 0; attempt < kMaxOptimisticReads; attempt++) {
      const slot = this.#probe(a, b, h, false);
      if (slot === -1) return undefined;
      if (slot >= 0) {
        const w = this.#word;
        let out: T | undefined;
        let err: unknown = null;
        try {
          const ref = Number(w & kMask32);
          const at = this.#valueAt(ref, a, b);
          const len = this.#valueLen(ref, at);
          out = fn(this.heap.u8, at, len);
        } catch (e) {
          err = e;
        }
        if (Atomics.load(this.#b64, this.#wi(slot)) === w) {
          if (err === null) return out;
          if (!(err instanceof ReadRetry)) throw err;
        }
      }
      Atomics.add(this.#i32, kReadRetries, 1);
    }
    return this.#pinned(() => {
      const slot = this.#probe(a, b, h, true);
      if (slot < 0) return undefined;
      const ref = Number(this.#word & kMask32);
      const at = this.#valueAt(ref, a, b);
      const len = this.#valueLen(ref, at);
      return fn(this.heap.u8, at, len);
    });
  }

  has(a: string, b?: string): boolean {
    return this.read(a, b, () => true) === true;
  }

  /** A copy of the value bytes, or undefined. */
  get(a: string, b?: string): Uint8Array | undefined {
    return this.read(a, b, (u8, at, len) => u8.slice(at, at + len));
  }

  /**
   * Every record, each one a whole version (the set as a whole is not a snapshot: use the
   * domain's write gate for that). `fn(a, b, u8, at, len)` runs in a read window like read().
   */
  scan<T>(fn: (a: string, b: string | undefined, u8: Uint8Array, at: number, len: number) => T): T[] {
    const out: T[] = [];
    const body = (ref: number): T => {
      const cap = this.heap.checkBlock(ref);
      if (cap < kRecKeyByte) throw RETRY;
      const p = this.heap.payload(ref) >> 2;
      const la = this.heap.i32[p + kRecKeyA]!;
      const lb = this.heap.i32[p + kRecKeyB]!;
      if (!(la >= 0 && la <= 256 && lb >= kNoSecond && lb <= 256) || cap < kRecKeyByte + 2 * (la + Math.max(lb, 0))) throw RETRY;
      const u = (p << 1) + (kRecKeyByte >> 1);
      const a = unitsToString(this.heap.u16, u, la);
      const b = lb === kNoSecond ? undefined : unitsToString(this.heap.u16, u + la, lb);
      const at = this.#valueAt(ref, a, b);
      const len = this.#valueLen(ref, at);
      return fn(a, b, this.heap.u8, at, len);
    };
    for (let i = 0; i <= this.#mask; i++) {
      const wi = this.#wi(i);
      let done = false;
      for (let attempt = 0; attempt < kMaxOptimisticReads && !done; attempt++) {
        const w = Atomics.load(this.#b64, wi);
        const ref = Number(w & kMask32);
        if (ref === kEmpty || ref === kTomb) {
          done = true;
          break;
        }
        try {
          const r = body(ref);
          if (Atomics.load(this.#b64, wi) === w) {
            out.push(r);
            done = true;
          }
        } catch (e) {
          if (Atomics.load(this.#b64, wi) === w && !(e instanceof ReadRetry)) throw e;
        }
        if (!done) Atomics.add(this.#i32, kReadRetries, 1);
      }
      if (!done) {
        const r = this.#pinned(() => {
          const ref = Number(Atomics.load(this.#b64, wi) & kMask32);
          return ref === kEmpty || ref === kTomb ? RETRY : body(ref);
        });
        if (r !== RETRY) out.push(r as T);
      }
    }
    return out;
  }

  // ---- writes (lock-free except inserts of new keys) ------------------------------------------

  /** Allocates a record block for (a, b) with room for valueLen bytes; returns its ref. */
  allocRecord(a: string, b: string | undefined, h: number, valueLen: number): number {
    const lb = b === undefined ? 0 : b.length;
    const ref = this.heap.alloc(kRecKeyByte + align8(2 * (a.length + lb)) + valueLen);
    const p = this.heap.payload(ref);
    const i32 = this.heap.i32;
    i32[(p >> 2) + kRecHash] = h;
    i32[(p >> 2) + kRecKeyA] = a.length;
    i32[(p >> 2) + kRecKeyB] = b === undefined ? kNoSecond : lb;
    i32[(p >> 2) + kRecValueLen] = valueLen;
    const u16 = this.heap.u16;
    const u = (p + kRecKeyByte) >> 1;
    for (let k = 0; k < a.length; k++) u16[u + k] = a.charCodeAt(k);
    for (let k = 0; k < lb; k++) u16[u + a.length + k] = b!.charCodeAt(k);
    return ref;
  }

  /** Byte offset (in heap.u8) of the value of a record block this thread owns. */
  valueOffset(ref: number): number {
    const p = this.heap.payload(ref) >> 2;
    const lb = this.heap.i32[p + kRecKeyB]!;
    return (p << 2) + kRecKeyByte + align8(2 * (this.heap.i32[p + kRecKeyA]! + (lb === kNoSecond ? 0 : lb)));
  }

  /**
   * Publishes the record block `ref` (from allocRecord) as the value of (a, b). Returns the
   * unpublished old block (the caller retires it: heap.retire), 0 if the key was new, or -1 if
   * `expect` did not hold (0n: the key must be absent; a word from lastWord: must be current;
   * with `slot` from lastSlot too, one CAS on that slot, no probe: the word names one version of
   * one record, so if the slot still holds it, it still holds this key).
   * Throws ERR_CAPACITY if the key is new and the table holds maxRecords records.
   */
  publish(a: string, b: string | undefined, h: number, ref: number, expect?: bigint, slot = -1): number {
    if (slot >= 0 && expect !== undefined && expect !== 0n) return this.#casAt(slot, expect, ref, kUpdates);
    for (;;) {
      const slot = this.#probeStable(a, b, h);
      if (slot >= 0) {
        const w = this.#word;
        if (expect !== undefined && w !== expect) return -1;
        if (Atomics.compareExchange(this.#b64, this.#wi(slot), w, nextWord(w, ref)) === w) {
          Atomics.add(this.#i32, kUpdates, 1);
          return Number(w & kMask32);
        }
        if (expect !== undefined) return -1;
        continue;
      }
      if (expect !== undefined && expect !== 0n) return -1;
      if (this.#claim(a, b, h, ref)) return 0;
      if (expect !== undefined) return -1;
    }
  }

  /** Removes (a, b); returns the unpublished old block (caller retires it), 0 if absent, -1 if `expect` failed. */
  remove(a: string, b: string | undefined, h: number, expect?: bigint, slot = -1): number {
    if (slot >= 0 && expect !== undefined && expect !== 0n) return this.#casAt(slot, expect, kTomb, kDeletes);
    for (;;) {
      const slot = this.#probeStable(a, b, h);
      if (slot < 0) return expect === undefined || expect === 0n ? 0 : -1;
      const w = this.#word;
      if (expect !== undefined && w !== expect) return -1;
      if (Atomics.compareExchange(this.#b64, this.#wi(slot), w, nextWord(w, kTomb)) === w) {
        this.#removed();
        return Number(w & kMask32);
      }
      if (expect !== undefined) return -1;
    }
  }

  /** Upsert of a byte value. */
  set(a: string, b: string | undefined, bytes: Uint8Array): void {
    const h = this.hash(a, b);
    const ref = this.allocRecord(a, b, h, bytes.length);
    this.heap.u8.set(bytes, this.valueOffset(ref));
    let old: number;
    try {
      old = this.publish(a, b, h, ref);
    } catch (e) {
      this.heap.free(ref);
      throw e;
    }
    if (old > 0) this.heap.retire(old);
  }

  delete(a: string, b?: string): boolean {
    const old = this.remove(a, b, this.hash(a, b));
    if (old > 0) this.heap.retire(old);
    return old > 0;
  }

  /** Atomic remove-and-return: of several concurrent takers exactly one gets the value. */
  take(a: string, b?: string): Uint8Array | undefined {
    const old = this.remove(a, b, this.hash(a, b));
    if (old <= 0) return undefined;
    this.heap.checkBlock(old); // covers it: another thread may have allocated it past our views
    const at = this.valueOffset(old);
    const out = this.heap.u8.slice(at, at + this.heap.i32[(this.heap.payload(old) >> 2) + kRecValueLen]!);
    this.heap.retire(old);
    return out;
  }

  /**
   * Lock-free read-modify-write: fn(current value or undefined) returns the new value, null to
   * delete, or undefined to leave it; retried (fn called again) if another writer got there
   * first. Returns true if it changed the table. fn must be pure: it may run several times.
   */
  update(a: string, b: string | undefined, fn: (old: Uint8Array | undefined) => Uint8Array | null | undefined): boolean {
    const h = this.hash(a, b);
    for (;;) {
      const old = this.read(a, b, (u8, at, len) => u8.slice(at, at + len), h);
      const expect = this.#word;
      const next = fn(old);
      if (next === undefined) return false;
      if (next === null) {
        if (old === undefined) return false;
        const r = this.remove(a, b, h, expect);
        if (r === -1) continue;
        if (r > 0) this.heap.retire(r);
        return true;
      }
      const ref = this.allocRecord(a, b, h, next.length);
      this.heap.u8.set(next, this.valueOffset(ref));
      let r: number;
      try {
        r = this.publish(a, b, h, ref, expect);
      } catch (e) {
        this.heap.free(ref);
        throw e;
      }
      if (r === -1) {
        this.heap.free(ref);
        continue;
      }
      if (r > 0) this.heap.retire(r);
      return true;
    }
  }

  /** Releases the claim mutex if a dead thread held it (engine.watch). */
  releaseAllOwnedBy(deadThreadId: number): number {
    return forceRelease(this.#i32, kMutex, tagOf(deadThreadId)) ? 1 : 0;
  }

  stats(): TableStats {
    const i = this.#i32;
    return {
      maxRecords: this.maxRecords,
      slots: this.slots,
      records: Atomics.load(i, kLive),
      tombstones: Atomics.load(i, kTombs),
      usedSlots: Atomics.load(i, kUsed),
      inserts: Atomics.load(i, kInserts),
      updates: Atomics.load(i, kUpdates),
      deletes: Atomics.load(i, kDeletes),
      readRetries: Atomics.load(i, kReadRetries),
      pinnedReads: Atomics.load(i, kPinnedReads),
      trims: Atomics.load(i, kTrims),
    };
  }

  // ---- internals -------------------------------------------------------------------------------

  /** One CAS of a known slot from `expect` to `ref` (a block or kTomb). Old block, or -1. */
  #casAt(slot: number, expect: bigint, ref: number, counter: number): number {
    if (Atomics.compareExchange(this.#b64, this.#wi(slot), expect, nextWord(expect, ref)) !== expect) return -1;
    if (ref === kTomb) this.#removed();
    else Atomics.add(this.#i32, counter, 1);
    return Number(expect & kMask32);
  }

  #removed(): void {
    Atomics.sub(this.#i32, kLive, 1);
    Atomics.add(this.#i32, kTombs, 1);
    Atomics.add(this.#i32, kDeletes, 1);
  }

  #wi(slot: number): number {
    return (kFirstSlotByte + slot * kSlotBytes) >> 3;
  }

  #hi(slot: number): number {
    return (kFirstSlotByte + slot * kSlotBytes + kHintByte) >> 2;
  }

  #pinned<T>(fn: () => T): T {
    Atomics.add(this.#i32, kPinnedReads, 1);
    this.heap.pin();
    try {
      return fn();
    } catch (e) {
      if (e instanceof ReadRetry) throw new Error(`${this.what}: corrupt record (inconsistent while pinned)`);
      throw e;
    } finally {
      this.heap.unpin();
    }
  }

  /** Probe that always answers: optimistic, then pinned. Sets #word and #target. */
  #probeStable(a: string, b: string | undefined, h: number): number {
    const slot = this.#probe(a, b, h, false);
    if (slot !== -2) return slot;
    return this.#pinned(() => this.#probe(a, b, h, true));
  }

  /**
   * Slot holding (a, b) (and #word = its word), -1 if absent (#target = where a claim goes), or
   * -2 if a slot kept moving under the optimistic compare (retry pinned).
   */
  #probe(a: string, b: string | undefined, h: number, pinned: boolean): number {
    const b64 = this.#b64;
    let i = h & this.#mask;
    this.#target = -1;
    this.#word = 0n;
    this.#slot = -1;
    for (let n = 0; n <= this.#mask; n++, i = (i + 1) & this.#mask) {
      for (let tries = 0; ; tries++) {
        const w = Atomics.load(b64, this.#wi(i));
        const ref = Number(w & kMask32);
        if (ref === kEmpty) {
          if (this.#target < 0) this.#target = i;
          return -1;
        }
        if (ref === kTomb) {
          if (this.#target < 0) this.#target = i;
          break;
        }
        if (Atomics.load(this.#i32, this.#hi(i)) !== h) break;
        const match = this.#keyMatches(ref, a, b, h);
        if (pinned || Atomics.load(b64, this.#wi(i)) === w) {
          if (!match) break;
          this.#word = w;
          this.#slot = i;
          return i;
        }
        if (tries >= kMaxOptimisticReads) return -2;
      }
    }
    return -1;
  }

  #keyMatches(ref: number, a: string, b: string | undefined, h: number): boolean {
    const heap = this.heap;
    const la = a.length;
    const lb = b === undefined ? 0 : b.length;
    if (heap.checkBlock(ref) < kRecKeyByte + 2 * (la + lb)) return false;
    const p = heap.payload(ref) >> 2;
    const i32 = heap.i32;
    if (i32[p + kRecHash] !== h || i32[p + kRecKeyA] !== la || i32[p + kRecKeyB] !== (b === undefined ? kNoSecond : lb)) return false;
    const u16 = heap.u16;
    const u = (p << 1) + (kRecKeyByte >> 1);
    for (let k = 0; k < la; k++) if (u16[u + k] !== a.charCodeAt(k)) return false;
    for (let k = 0; k < lb; k++) if (u16[u + la + k] !== b!.charCodeAt(k)) return false;
    return true;
  }

  /** Value offset of block `ref` whose key is (a, b) (computed, not read: garbage-proof). */
  #valueAt(ref: number, a: string, b: string | undefined): number {
    return this.heap.payload(ref) + kRecKeyByte + align8(2 * (a.length + (b === undefined ? 0 : b.length)));
  }

  /** Value length, bounds-checked against the block (throws RETRY if garbage). */
  #valueLen(ref: number, at: number): number {
    const cap = this.heap.checkBlock(ref);
    const len = this.heap.i32[(this.heap.payload(ref) >> 2) + kRecValueLen]!;
    if (cap < 0 || len < 0 || at + len > this.heap.payload(ref) + cap) throw RETRY;
    return len;
  }

  /** Inserts a new key under the claim mutex. False if the key turned out to exist. */
  #claim(a: string, b: string | undefined, h: number, ref: number): boolean {
    const i32 = this.#i32;
    if (tryLock(i32, kMutex, this.#tag) !== 0 && !lockSlow(i32, kMutex, this.#tag, kClaimTimeoutMs)) {
      throw new SabStateError(ErrorCode.LOCK_TIMEOUT, `${this.what}: insert lock not free within ${kClaimTimeoutMs} ms (a terminated worker? engine.watch releases it)`);
    }
    try {
      if (this.#probeStable(a, b, h) >= 0) return false;
      const t = this.#target;
      if (Atomics.load(i32, kLive) >= this.maxRecords || t < 0) {
        throw new SabStateError(ErrorCode.CAPACITY, `${this.what}: table full (${this.maxRecords} records)`);
      }
      const tw = Atomics.load(this.#b64, this.#wi(t));
      Atomics.store(i32, this.#hi(t), h);
      if (Atomics.compareExchange(this.#b64, this.#wi(t), tw, nextWord(tw, ref)) !== tw) {
        throw new Error(`${this.what}: free slot changed under the insert lock`);
      }
      Atomics.add(i32, kLive, 1);
      Atomics.add(i32, kInserts, 1);
      if (Number(tw & kMask32) === kTomb) Atomics.sub(i32, kTombs, 1);
      else if (Atomics.add(i32, kUsed, 1) * 4 >= this.slots * 3) this.#trim();
      return true;
    } finally {
      unlock(i32, kMutex);
    }
  }

  /** Under the mutex: every run of TOMBs followed by EMPTY becomes EMPTY. */
  #trim(): void {
    const b64 = this.#b64;
    let e = 0;
    while (e <= this.#mask && Number(Atomics.load(b64, this.#wi(e)) & kMask32) !== kEmpty) e++;
    if (e > this.#mask) return;
    let nextEmpty = true;
    let trimmed = 0;
    for (let k = 1; k <= this.#mask; k++) {
      const j = (e - k) & this.#mask;
      const w = Atomics.load(b64, this.#wi(j));
      const ref = Number(w & kMask32);
      if (ref === kEmpty) nextEmpty = true;
      else if (ref === kTomb && nextEmpty) {
        if (Atomics.compareExchange(b64, this.#wi(j), w, nextWord(w, kEmpty)) === w) trimmed++;
      } else nextEmpty = false;
    }
    Atomics.sub(this.#i32, kUsed, trimmed);
    Atomics.sub(this.#i32, kTombs, trimmed);
    Atomics.add(this.#i32, kTrims, 1);
  }
}
