/**
 * The positions domain's per-hotkey index: which positions a miner has, in first-save order,
 * at a cost per new position that does not depend on how many the miner already has.
 *
 * Algorithm: a sequence number per hotkey and one small table entry per position, in the
 * domain's byHotkey table (table.ts, lock-free reads, CAS writes):
 *   (hotkey)            -> kIdxNext: Int32, the next sequence number (entries ever assigned)
 *   (hotkey, seqKey(i)) -> the uuid of the position listed i-th (UTF-16 units)
 * Adding a position: (1) raise the counter by one (a compare-and-set loop publishing a new 4-byte
 * block: two writers of different trade pairs of one hotkey, who do not share a lock, get
 * different numbers), (2) publish the entry (hotkey, seqKey(i)) -> uuid, (3) touch the counter:
 * its slot word moves, so a trim that looked at the entries before (2) fails its CAS and looks
 * again; if the counter is at least i+1 (the common case) with table.touch, one CAS to the next
 * version of the same block (nothing allocated or retired; first tried on the version step (1)
 * published, with no read: it holds i+1), else (a trim lowered or removed it) with a new block
 * holding i+1. Entries' keys are hashed with the table's key directly, not through the table's
 * memo: each (hotkey, number) is hashed about once per listing. Three table writes of fixed size: the same cost for a miner's
 * first position and its 500th (the previous design re-encoded the miner's whole uuid list,
 * about 55 µs at 110-180 positions). Listing reads the counter, then entries 0 .. n-1, skipping
 * the missing ones (deleted positions; a number taken by a writer that died before step 2).
 * Removing a position removes its entry: by number when the writer knows it (a save undoing its
 * own listing: O(1)), else by a search from the newest entry (delete: O(positions opened since)),
 * then lowers the counter past missing entries at its end (trimCount), so numbers are reused.
 *
 * Slot table (values in the byHotkey table; each value is written once, into a block nobody else
 * can reach, then published by the table's slot CAS, table-record.ts):
 *
 * | key                 | name      | written by                          | how / published by |
 * | ------------------- | --------- | ----------------------------------- | ------------------ |
 * | (hotkey)            | kIdxNext  | any writer of a new position of the hotkey (no common lock); trims | table.publish with the version read (CAS: a new block); add's touch: table.touch (CAS: same block, next version) |
 * | (hotkey, seqKey(i)) | entry     | the writer that got i from kIdxNext, recovery (repair) | table.publish (claim) |
 * | (hotkey, seqKey(i)) | (removed) | delete, a save undoing its listing, recovery | table.remove CAS |
 *
 * Crash table (a thread terminated right after the step; recovery: positions/repair.ts under the
 * write gate's freeze):
 *
 * | step                                   | leaves                                   | recovery |
 * | -------------------------------------- | ---------------------------------------- | -------- |
 * | counter CAS (positions.index.counted)  | number i taken, no entry: a hole         | nothing needed: readers skip holes; the record was not published (listing comes first), so no position is unlisted |
 * | entry published (positions.index.written) | an entry naming a uuid with no record, perhaps past the counter (a trim lowered it) | repair removes the entry (the save is undone) |
 * | counter touched (table.touch, or a new block) (the caller's `listed` point) | an entry naming a uuid with no record (if the record was not published after) | repair removes the entry (the save is undone) |
 * | entry removed (positions.index.trimmed: the hotkey's last ones) | a counter past missing entries (none left: a counter alone) | nothing needed (readers skip holes); a counter alone is removed by repair (the delete completed) |
 * | counter lowered or removed             | done                                     | nothing |
 *
 * Refusals (ERR_CAPACITY: the entry's block or the counter's rewrite finds no room) undo what
 * the add did: the entry removed, the number given back by trimCount (a counter with no entry left
 * is removed, which allocates nothing). Before, a refused first position of a miner left a counter
 * with no entry (verify() reported it; test/positions.test.ts "refused means unchanged").
 *
 * Races without a crash: a writer that took number i from a counter that was then lowered past
 * it or removed (trimCount, after a delete) either finds entry i taken (it takes another number)
 * or raises the counter past i at step (3); either way before its record is published, so no
 * reader sees a stored position missing from the list. A trim (another pair's delete: no common
 * lock) looks at the entries after reading the counter and CASes from that read: if the entry
 * was written after its look, step (3) comes after it too, and either moved the slot word before
 * the trim's CAS (which fails and looks again) or raises the counter the trim lowered. (Without
 * step (3) the trim lowered the counter past a fresh entry: the position was stored but not
 * listed, and a later save listed it twice: test/positions-index-race.test.ts.)
 */
import { ErrorCode, SabStateError } from '../../errors.ts';
import { type HashKey, hashPair } from '../../internal/hash/hash.ts';
import { crashPoint, declareCrashPoints } from '../../internal/crash.ts';
import type { SharedHeap } from '../../internal/store/heap.ts';
import type { SharedTable } from '../../internal/store/table.ts';
import { ABSENT, Version, notWhole } from '../../internal/store/version.ts';
import { writeUnits } from '../../internal/store/record-block.ts';
import { readUuid } from './record.ts';

declareCrashPoints('positions', ['positions.index.counted', 'positions.index.written', 'positions.index.trimmed']);

const kIdxNext = 0;
const kIdxBytes = 4;

/** The second key of the i-th entry of a hotkey. */
export const seqKey = (i: number): string => i.toString(36);

function counterBytes(n: number): Uint8Array {
  const b = new Uint8Array(kIdxBytes);
  new DataView(b.buffer).setInt32(kIdxNext, n, true);
  return b;
}
function counterOf(b: Uint8Array | undefined): number {
  if (b === undefined || b.length !== kIdxBytes) return 0;
  return new DataView(b.buffer, b.byteOffset, b.length).getInt32(kIdxNext, true);
}

export class HotkeyIndex {
  readonly #t: SharedTable;
  readonly #heap: SharedHeap;
  readonly #readCount: (u8: Uint8Array, at: number, len: number) => number;
  readonly #readUuid: (u8: Uint8Array, at: number, len: number) => string;
  /** The counter's version as add read it (its compare-and-sets' expectation); add runs one at a time per thread. */
  readonly #seen = new Version();
  /**
   * The hash of an entry's key (hotkey, seqKey(i)): hashPair with the table's key, not the
   * table's memo (table-hash.ts), which would keep every (hotkey, number) ever listed, each hashed
   * about once (a memo miss and two Map inserts per new position). Without `key`, the table's.
   */
  readonly #entryHash: (hotkey: string, b: string) => number;

  /** `key`: the table's hash key (the engine's), for #entryHash. */
  constructor(table: SharedTable, heap: SharedHeap, key?: HashKey) {
    this.#t = table;
    this.#heap = heap;
    this.#entryHash = key === undefined ? (a, b) => table.hash(a, b) : (a, b) => hashPair(key, a, b) | 0;
    this.#readCount = (u8, at, len) => {
      if (len !== kIdxBytes) notWhole();
      return u8[at]! | (u8[at + 1]! << 8) | (u8[at + 2]! << 16) | (u8[at + 3]! << 24);
    };
    this.#readUuid = (_u8, at, len) => readUuid(heap, at, len);
  }

  /** Numbers assigned so far for hotkey (entries 0 .. n-1 may exist). */
  count(hotkey: string): number {
    return this.#t.read(hotkey, undefined, this.#readCount) ?? 0;
  }

  /**
   * Lists uuid under hotkey (inside the heap's write gate; the caller checked it is not listed:
   * a new record). Returns its number, for removeAt. Refused (ERR_CAPACITY) means unchanged:
   * the entry, if written, is removed and the number given back (#giveBack).
   */
  add(hotkey: string, uuid: string): number {
    const t = this.#t;
    const hc = t.hash(hotkey);
    for (;;) {
      const i = this.#takeNumber(hotkey, hc);
      crashPoint('positions.index.counted');
      const b = seqKey(i);
      const h = this.#entryHash(hotkey, b);
      let ref = 0;
      let r: number;
      try {
        ref = t.allocRecord(hotkey, b, h, 2 * uuid.length);
        writeUnits(this.#heap, t.valueOffset(ref), uuid);
        r = t.publish(hotkey, b, h, ref, ABSENT);
      } catch (e) {
        if (ref !== 0) this.#heap.free(ref);
        this.#giveBack(hotkey);
        throw e;
      }
      // Number i already has an entry: the counter was removed (the hotkey's last entry went)
      // and created again while a writer that had taken i from the old one was still listing.
      if (r === -1) {
        this.#heap.free(ref);
        continue;
      }
      crashPoint('positions.index.written');
      // Touch the counter (its slot word moves even when the value does not): a trimCount that
      // looked at the entries before ours was written, and has not yet lowered the counter, now
      // fails its CAS and looks again; one that lowered it already (below i+1) is undone here by
      // the raise. Either way before our record is published, so no reader sees the record
      // without its entry. (Reading the count and raising only if it was <= i left a window: the
      // count read before a trim's CAS that lowered it past our entry, issue 9.)
      try {
        this.#touch(hotkey, hc, i + 1);
      } catch (e) {
        const old = t.remove(hotkey, b, h);
        if (old > 0) this.#heap.retire(old);
        this.#giveBack(hotkey);
        throw e;
      }
      return i;
    }
  }

  /**
   * Step (1) of add: takes the next number, the counter raised by one with a compare-and-set
   * from the version read (a new 4-byte block published, the old one retired), again until it
   * wins. The number taken.
   */
  #takeNumber(hotkey: string, h: number): number {
    const t = this.#t;
    const seen = this.#seen;
    for (;;) {
      const n = t.read(hotkey, undefined, this.#readCount, h, seen) ?? 0;
      if (this.#setCount(hotkey, h, n + 1, seen)) return n;
    }
  }

  /**
   * Step (3) of add: the counter's slot word moved, its value raised to at least n. The common
   * case (the counter is at least n) is table.touch: one CAS to the next version of the same
   * block, nothing allocated or retired; else (a trim lowered it, or removed it) a new block with
   * n, published with a compare-and-set. Again until one wins.
   */
  #touch(hotkey: string, h: number, n: number): void {
    const t = this.#t;
    const seen = this.#seen;
    // First the version step 1 published (#setCount left it in `seen`), with no read: if the slot
    // still holds it, the counter is that block, at least n, and the CAS moves the word. Else
    // (another add or a trim came between, or step 1 inserted the counter) read and loop.
    if (seen.slot >= 0 && t.touch(seen)) return;
    for (;;) {
      const c = t.read(hotkey, undefined, this.#readCount, h, seen);
      if (c !== undefined && c >= n ? t.touch(seen) : this.#setCount(hotkey, h, n, seen)) return;
    }
  }

  /** Publishes count n for hotkey if its counter is still the version `seen` (a new block; the old retired). False if it moved. */
  #setCount(hotkey: string, h: number, n: number, seen: Version): boolean {
    const t = this.#t;
    const heap = this.#heap;
    const ref = t.allocRecord(hotkey, undefined, h, kIdxBytes);
    const at = t.valueOffset(ref) + kIdxNext;
    const u8 = heap.u8; // little-endian, as counterBytes
    u8[at] = n & 0xff;
    u8[at + 1] = (n >>> 8) & 0xff;
    u8[at + 2] = (n >>> 16) & 0xff;
    u8[at + 3] = n >>> 24;
    let r = -1;
    try {
      r = t.publish(hotkey, undefined, h, ref, seen);
    } finally {
      if (r === -1) heap.free(ref);
    }
    if (r > 0) {
      heap.retire(r);
      // The version just published, for #touch: a slot word moves to the next version number
      // (table.ts #casAt). Only a guess: if it is wrong, #touch's CAS fails and it reads.
      seen.ver = (seen.ver + 1) | 0;
      seen.ref = ref;
    } else if (r === 0) {
      seen.slot = -1; // inserted: its slot is not known without a probe
    }
    return r !== -1;
  }

  /**
   * A refused add (ERR_CAPACITY after its number was taken) gives the number back: trimCount
   * removes a counter with no entry left (no allocation) or lowers it (a new 4-byte block); if
   * even that finds no room, the number stays a hole at the end, which readers and verify() skip.
   */
  #giveBack(hotkey: string): void {
    try {
      this.trimCount(hotkey);
    } catch (e) {
      if (!(e instanceof SabStateError && e.code === ErrorCode.CAPACITY)) throw e;
    }
  }

  /** Removes entry i of hotkey if it names uuid (inside the write gate); then trimCount. */
  removeAt(hotkey: string, i: number, uuid: string): boolean {
    const done = this.#removeAt(hotkey, i, uuid);
    if (done) this.trimCount(hotkey);
    return done;
  }

  #removeAt(hotkey: string, i: number, uuid: string): boolean {
    const t = this.#t;
    const b = seqKey(i);
    const h = this.#entryHash(hotkey, b);
    const seen = new Version();
    if (t.read(hotkey, b, this.#readUuid, h, seen) !== uuid) return false;
    const old = t.remove(hotkey, b, h, seen);
    if (old > 0) this.#heap.retire(old);
    return old > 0;
  }

  /**
   * Removes the entry of hotkey naming uuid (inside the write gate), searched from the newest:
   * O(entries newer than it). A uuid is listed once (a second entry is a violation that
   * verify() reports and repair removes).
   */
  remove(hotkey: string, uuid: string): boolean {
    for (let i = this.count(hotkey) - 1; i >= 0; i--) {
      if (this.#removeAt(hotkey, i, uuid)) {
        this.trimCount(hotkey);
        return true;
      }
    }
    return false;
  }

  /**
   * Lowers the counter of a hotkey past the missing entries at its end, and removes it when no
   * entry is left: numbers are reused, so a miner whose last position goes and comes back
   * writes the same keys again (no tombstone per number ever used, table.ts), and a deleted
   * miner leaves no block behind. One CAS that fails if a writer took a number or wrote an entry
   * (add's touch) since the counter was read; the entries are looked at again on each attempt.
   * O(1) unless the entries before the last are missing too.
   */
  trimCount(hotkey: string): void {
    // The entries are looked at after each read of the counter (update's callback runs once per
    // attempt), and the CAS expects the slot word of that read: an add that wrote its entry after
    // the look touches the counter after writing it (add), so the CAS fails and the entries are
    // looked at again. Ordering: the entry's publication (a CAS) precedes the add's counter CAS;
    // if that precedes our read of the counter (seq-cst Atomics), our look (Atomics loads of the
    // slots) sees the entry.
    this.#t.update(hotkey, undefined, (old) => {
      const n = counterOf(old);
      let m = n;
      while (m > 0 && !this.#t.has(hotkey, seqKey(m - 1))) m--;
      if (old === undefined || m === n) return undefined;
      crashPoint('positions.index.trimmed');
      return m === 0 ? null : counterBytes(m);
    });
  }

  /** The uuids listed under hotkey, in first-save order (lock-free; each entry a whole version). */
  list(hotkey: string): string[] {
    const n = this.count(hotkey);
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const b = seqKey(i);
      const u = this.#t.read(hotkey, b, this.#readUuid, this.#entryHash(hotkey, b));
      if (u !== undefined) out.push(u);
    }
    return out;
  }

  /** Every entry of the table: (hotkey, number, uuid); counters as (hotkey, -1 - count, ''). O(slots). */
  entries(): Array<{ hotkey: string; seq: number; uuid: string }> {
    return this.#t.scan((hotkey, b, u8, at, len) =>
      b === undefined
        ? { hotkey, seq: -1 - this.#readCount(u8, at, len), uuid: '' }
        : { hotkey, seq: Number.parseInt(b, 36), uuid: this.#readUuid(u8, at, len) });
  }

  /** Hotkeys with a counter (an entry, or a writer listing one). O(slots). */
  hotkeyCount(): number {
    let n = 0;
    for (const e of this.entries()) if (e.seq < 0) n++;
    return n;
  }

  /** Recovery: raises the counter of hotkey to at least n (an entry found past it). */
  raiseCount(hotkey: string, n: number): void {
    this.#t.update(hotkey, undefined, (old) => (counterOf(old) >= n ? undefined : counterBytes(n)));
  }
}
