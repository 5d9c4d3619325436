/**
 * The eliminations domain (`engine.eliminations`): elimination rows by hotkey, the validator's
 * `{hotkey, elimination_initiated_time_ms, dd, reason, price_info?, return_info?}` (extra fields
 * kept, encoded by codec.ts), in its own buffers: one heap, two tables (A and B) on it, and a
 * control region.
 *
 * Algorithm: double buffering with a generation word. Table `gen & 1` is the live set.
 * - Reads (get, has, list) are lock-free: g = load(kGen); read table g & 1; if load(kGen) !== g,
 *   start again. Inside a table each record is read under its slot's versioned word (table.ts).
 * - Writes (add, take, delete, replaceAll) take the domain's writer mutex (low traffic: rows
 *   change a few times an hour), so a point write never lands in a table that replaceAll is
 *   about to retire. add / take / delete act on the live table.
 * - replaceAll(rows): clears the spare table (gen + 1) & 1, fills it with the new rows, then
 *   `Atomics.add(kGen, 1)` makes it live in one step. The spare table is only written while it
 *   is not live, and only after a flip; a reader that started on it before the flip sees kGen
 *   moved at its final check and reads again. So a reader sees the whole old set or the whole
 *   new one, never a mix.
 * - take(hotkey): under the mutex, the table's atomic remove-and-return: of any number of
 *   racing takers (any threads) exactly one gets the row.
 *
 * Control region (RegionKind.CONTROL, params [maxRecords]):
 *
 * | line | slot     | name    | written by            | how |
 * | ---- | -------- | ------- | --------------------- | --- |
 * | 0    | 0..31    | header  | creator               | region.ts |
 * | 1    | Int32 0  | kMutex  | writers               | futex word (mutex.ts) |
 * | 2    | Int32 0  | kGen    | replaceAll, under kMutex | Atomics.add: publishes the spare table's rows |
 *
 * The rows' plain writes into the heap are published by each table's slot CAS (table.ts); the
 * flip publishes "this table is the set" and nothing else.
 */
import { threadId } from 'node:worker_threads';
import { ErrorCode, SabStateError, checkKey, checkKnownKeys, describe, optObject, optPositiveInt } from '../errors.ts';
import { decodeValue, encodeValue } from '../internal/codec.ts';
import type { HashKey } from '../internal/hash.ts';
import { type HeapHandle, type HeapStats, MAX_HEAP_BYTES, MIN_HEAP_BYTES, SharedHeap, createHeapHandle } from '../internal/heap.ts';
import { forceRelease, lockSlow, tagOf, tryLock, unlock } from '../internal/mutex.ts';
import { LINE_BYTES, LINE_INTS, RegionKind, type RegionSpec, checkRegion, createRegion } from '../internal/region.ts';
import { SharedTable, type TableHandle, createTableHandle } from '../internal/table.ts';

const kMutex = 1 * LINE_INTS;
const kGen = 2 * LINE_INTS;
const kControlBytes = 3 * LINE_BYTES;
const kWriterTimeoutMs = 30_000;
export const DEFAULT_ELIMINATIONS_MAX_RECORDS = 4096;
/** Heap bytes per row in the default maxBytes: two sets (A and B) of rows of up to ~1.5 KB. */
const kBytesPerRecord = 2 * 2048;
const MAX_RECORDS_LIMIT = 1 << 20;

export type EliminationRow = Record<string, unknown> & { hotkey: string };

export interface EliminationsOptions {
  readonly maxRecords: number;
  readonly maxBytes: number;
}
export interface EliminationsHandle {
  readonly control: SharedArrayBuffer;
  readonly heap: HeapHandle;
  readonly tables: readonly [TableHandle, TableHandle];
  readonly maxRecords: number;
}
export interface EliminationsStats {
  records: number;
  generation: number;
  operations: { reads: number; writes: number };
  bytesUsed: number;
  bytesCapacity: number;
  readRetries: number;
  heap: HeapStats;
}
/** The sync gate's guard (general domain): runs a write only if the epoch still holds. */
export interface EpochGuard {
  guard<T>(ifEpoch: number, fn: () => T): T;
}

export function resolveEliminationsOptions(raw: unknown, path = 'options.eliminations'): EliminationsOptions {
  const o = optObject(raw, path);
  checkKnownKeys(o, path, ['maxRecords', 'maxBytes']);
  const maxRecords = optPositiveInt(o.maxRecords, `${path}.maxRecords`, DEFAULT_ELIMINATIONS_MAX_RECORDS, MAX_RECORDS_LIMIT);
  const dflt = Math.min(MAX_HEAP_BYTES, MIN_HEAP_BYTES + maxRecords * kBytesPerRecord);
  const maxBytes = optPositiveInt(o.maxBytes, `${path}.maxBytes`, dflt, MAX_HEAP_BYTES);
  if (maxBytes < MIN_HEAP_BYTES) throw new RangeError(`${path}.maxBytes must be at least ${MIN_HEAP_BYTES}`);
  return { maxRecords, maxBytes };
}

function controlSpec(maxRecords: number, key: HashKey): RegionSpec {
  return { kind: RegionKind.CONTROL, key, params: [maxRecords] };
}

export function createEliminationsHandle(opts: EliminationsOptions, key: HashKey): EliminationsHandle {
  return {
    control: createRegion(controlSpec(opts.maxRecords, key), kControlBytes),
    heap: createHeapHandle(opts.maxBytes, key, 1 << 20),
    tables: [createTableHandle(opts.maxRecords, key), createTableHandle(opts.maxRecords, key)],
    maxRecords: opts.maxRecords,
  };
}

function checkRow(row: unknown, what: string): EliminationRow {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new SabStateError(ErrorCode.INVALID_VALUE, `${what} must be an object, got ${describe(row)}`);
  }
  const hk = (row as { hotkey?: unknown }).hotkey;
  if (hk === undefined) throw new SabStateError(ErrorCode.INVALID_VALUE, `${what}.hotkey is missing`);
  checkKey(hk, `${what}.hotkey`);
  return row as EliminationRow;
}

export class EliminationsDomain {
  readonly #ctl: Int32Array;
  readonly #heap: SharedHeap;
  readonly #tables: [SharedTable, SharedTable];
  readonly #tag: number;
  readonly #gate: EpochGuard | undefined;
  readonly #decode = (u8: Uint8Array, at: number, len: number): EliminationRow => decodeValue(u8.subarray(at, at + len)) as EliminationRow;
  #reads = 0;
  #writes = 0;

  constructor(handle: EliminationsHandle, key: HashKey, deps: { gate?: EpochGuard } = {}) {
    checkRegion(handle.control, controlSpec(handle.maxRecords, key), 'eliminations');
    this.#ctl = new Int32Array(handle.control);
    this.#heap = new SharedHeap(handle.heap, key, 'eliminations heap');
    this.#tables = [
      new SharedTable(handle.tables[0], this.#heap, key, 'eliminations A'),
      new SharedTable(handle.tables[1], this.#heap, key, 'eliminations B'),
    ];
    this.#tag = tagOf(threadId);
    this.#gate = deps.gate;
  }

  get size(): number {
    return this.#stable((t) => t.size);
  }

  /** Upsert by row.hotkey. With `ifEpoch`, refused (ERR_STALE_EPOCH) unless that sync epoch still holds. */
  add(row: EliminationRow, opts?: { ifEpoch?: number }): void {
    const r = checkRow(row, 'row');
    const bytes = encodeValue(r, 'row').slice();
    const write = (): void => this.#write(() => this.#live().set(r.hotkey, undefined, bytes));
    this.#writes++;
    const ifEpoch = opts?.ifEpoch;
    if (ifEpoch === undefined) return write();
    if (this.#gate === undefined) throw new TypeError('eliminations.add: ifEpoch needs the sync gate (engine.general)');
    this.#gate.guard(ifEpoch, write);
  }

  get(hotkey: string): EliminationRow | undefined {
    checkKey(hotkey, 'hotkey');
    this.#reads++;
    return this.#stable((t) => t.read(hotkey, undefined, this.#decode));
  }

  /** Lock-free, O(1): runs on every order. */
  has(hotkey: string): boolean {
    checkKey(hotkey, 'hotkey');
    this.#reads++;
    return this.#stable((t) => t.has(hotkey));
  }

  /** Atomic remove-and-return: of racing callers (any threads) exactly one gets the row. */
  take(hotkey: string): EliminationRow | undefined {
    checkKey(hotkey, 'hotkey');
    this.#writes++;
    const bytes = this.#write(() => this.#live().take(hotkey));
    return bytes === undefined ? undefined : (decodeValue(bytes) as EliminationRow);
  }

  delete(hotkey: string): boolean {
    checkKey(hotkey, 'hotkey');
    this.#writes++;
    return this.#write(() => this.#live().delete(hotkey));
  }

  /** Every row of one set (never a mix of two replaceAll generations). */
  list(): EliminationRow[] {
    this.#reads++;
    return this.#stable((t) => t.scan((_a, _b, u8, at, len) => this.#decode(u8, at, len)));
  }

  /**
   * Replaces the whole set. Every row is checked and encoded first (bad input: typed error,
   * state unchanged); rows with the same hotkey: the last wins. Readers see the old set or the
   * new one, never a mix.
   */
  replaceAll(rows: readonly EliminationRow[]): void {
    if (!Array.isArray(rows)) throw new SabStateError(ErrorCode.INVALID_VALUE, `rows must be an array, got ${describe(rows)}`);
    const byKey = new Map<string, Uint8Array>();
    // An index loop, not forEach: forEach skips holes, so [, row] or new Array(n) would pass as
    // a shorter (or empty) set instead of being refused.
    for (let i = 0; i < rows.length; i++) {
      const r = checkRow(rows[i], `rows[${i}]`);
      byKey.set(r.hotkey, encodeValue(r, `rows[${i}]`).slice());
    }
    const max = this.#tables[0].maxRecords;
    if (byKey.size > max) throw new SabStateError(ErrorCode.CAPACITY, `replaceAll: ${byKey.size} rows, the domain holds at most ${max}`);
    this.#writes++;
    this.#withMutex(() => {
      const gen = Atomics.load(this.#ctl, kGen);
      const spare = this.#tables[(gen + 1) & 1]!;
      this.#heap.gate.run(() => {
        for (const hk of spare.scan((a) => a)) spare.delete(hk);
        for (const [hk, bytes] of byKey) spare.set(hk, undefined, bytes);
      });
      Atomics.add(this.#ctl, kGen, 1);
    });
  }

  /** Every row, consistent for the whole domain (held writers; for snapshots). */
  listConsistent(timeoutMs?: number): EliminationRow[] {
    return this.#withMutex(() => this.#live().scan((_a, _b, u8, at, len) => this.#decode(u8, at, len)), timeoutMs);
  }

  /** Recovery after a thread died (engine.watch). */
  releaseAllOwnedBy(deadThreadId: number): number {
    return (
      (forceRelease(this.#ctl, kMutex, tagOf(deadThreadId)) ? 1 : 0) +
      this.#tables[0].releaseAllOwnedBy(deadThreadId) +
      this.#tables[1].releaseAllOwnedBy(deadThreadId) +
      (this.#heap.gate.releaseIfOwnedBy(deadThreadId) ? 1 : 0)
    );
  }

  stats(): EliminationsStats {
    const h = this.#heap.stats();
    const a = this.#tables[0].stats();
    const b = this.#tables[1].stats();
    return {
      records: this.size,
      generation: Atomics.load(this.#ctl, kGen),
      operations: { reads: this.#reads, writes: this.#writes },
      bytesUsed: h.inUseBytes,
      bytesCapacity: h.maxBytes,
      readRetries: a.readRetries + b.readRetries,
      heap: h,
    };
  }

  #live(): SharedTable {
    return this.#tables[Atomics.load(this.#ctl, kGen) & 1]!;
  }

  /** Runs a lock-free read against the live table; again if a replaceAll flipped meanwhile. */
  #stable<T>(fn: (t: SharedTable) => T): T {
    for (;;) {
      const g = Atomics.load(this.#ctl, kGen);
      const out = fn(this.#tables[g & 1]!);
      if (Atomics.load(this.#ctl, kGen) === g) return out;
    }
  }

  #write<T>(fn: () => T): T {
    return this.#withMutex(() => this.#heap.gate.run(fn));
  }

  #withMutex<T>(fn: () => T, timeoutMs = kWriterTimeoutMs): T {
    if (tryLock(this.#ctl, kMutex, this.#tag) !== 0 && !lockSlow(this.#ctl, kMutex, this.#tag, timeoutMs)) {
      throw new SabStateError(ErrorCode.LOCK_TIMEOUT, `eliminations writer lock not acquired within ${timeoutMs} ms`);
    }
    try {
      return fn();
    } finally {
      unlock(this.#ctl, kMutex);
    }
  }
}
