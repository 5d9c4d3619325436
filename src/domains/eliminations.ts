/**
 * The eliminations domain (`engine.eliminations`): elimination rows by hotkey, the validator's
 * `{hotkey, elimination_initiated_time_ms, dd, reason, price_info?, return_info?}` (extra fields
 * kept, encoded by codec.ts), in its own buffers: one heap, two tables (A and B) on it, and a
 * control region.
 *
 * Algorithm: double buffering with a generation word. Table `gen & 1` is the live set, the other
 * (the spare) is EMPTY outside a writer's critical section.
 * - Reads (get, has, list, size) are lock-free: g = load(kGen); read table g & 1; if
 *   load(kGen) !== g, start again. Inside a table each record is read under its slot's
 *   versioned word (table.ts).
 * - Writes (add, take, delete, replaceAll) take the domain's writer mutex (low traffic: rows
 *   change a few times an hour), then do ALL their table and control-word steps inside ONE call of
 *   the store's `write` (the write gate of write-gate.ts): so under the gate's freeze (recovery's repair,
 *   verify) no write of this domain is half-way, and the spare table is empty unless a dead
 *   writer left it otherwise. add / take / delete act on the live table.
 * - replaceAll(rows): fills the spare table, `Atomics.add(kGen, 1)` makes it live in one step,
 *   then empties the old table (now the spare). Readers that started on the old table before the
 *   flip see kGen moved at their final check and read again; the new table was written only
 *   while it was not live. So a reader sees the whole old set or the whole new one, never a mix.
 *   A refused replaceAll (ERR_CAPACITY while filling) empties the spare again: the heap is left
 *   as it was (its blocks freed, or deferred while a reader is pinned).
 * - take(hotkey): under the mutex, the table's atomic remove-and-return: of any number of
 *   racing takers (any threads) exactly one gets the row.
 *
 * Control region (RegionKind.CONTROL, params [maxRecords, ELIMINATIONS_LAYOUT]):
 * | line | slot     | name    | written by               | how |
 * | ---- | -------- | ------- | ------------------------ | --- |
 * | 0    | 0..31    | header  | creator                  | region.ts |
 * | 1    | Int32 0  | kMutex  | writers, recovery        | futex word (mutex.ts): the writer's tag |
 * | 2    | Int32 0  | kGen    | replaceAll, under kMutex and the gate | Atomics.add: publishes the spare table's rows |
 *
 * The rows' plain writes into the heap are published by each table's slot CAS (table.ts); the
 * flip publishes "this table is the set" and nothing else.
 *
 * CRASH TABLE. A writer may die between any two steps (also inside the mutex, gate, table and
 * heap steps: their files' crash tables). Recovery is engine.watch: phase 1
 * `releaseAllOwnedBy(dead)` (never waits): the tables' claim mutexes and the dead thread's
 * gate slot and pin are released (store-recovery.ts); then, if the dead thread holds the writer
 * mutex, it was inside a write and no live writer can be: while the mutex is still held,
 * recovery (X1) empties the spare table and (X2) recounts both tables' counters (table.ts
 * recount, which asks that no slot change meanwhile: only holders of this mutex write these
 * tables), inside a gate.tryEnter (if a freeze holds writers back, both wait for phase 2), then
 * (X3) force-releases the mutex and wakes its waiters. Until phase 2 a live replaceAll empties
 * a leftover spare itself (`eliminations.replaceAll.leftover`). Phase 2 `repair()` (under the
 * gate's freeze) does X1 and the recount again and sweeps the heap (heap-sweep.ts: blocks the
 * dead writer allocated and never published, or unpublished and never retired).
 *
 * | op         | crash point after                      | the dead writer leaves                    | recovery gives |
 * | ---------- | -------------------------------------- | ----------------------------------------- | -------------- |
 * | any write  | mutex acquired `eliminations.write.locked` | the mutex held                        | X3: never started |
 * | any write  | gate entered `eliminations.write.entered`  | the mutex held, its gate slot active  | slot cleared, X3: never started |
 * | add        | table.set `eliminations.add.published` | the row published (one slot CAS)          | completed |
 * | add        | inside table.set: before / after its CAS | a built block no one refers to / the row published, counters or the old block pending | never started, the sweep frees it / completed, X2 and the sweep |
 * | take       | table.take `eliminations.take.removed` | the row removed (its CAS)                 | completed: the dead thread took it, no one else gets it |
 * | delete     | table.delete `eliminations.delete.removed` | the row removed                       | completed |
 * | replaceAll | a leftover removed `eliminations.replaceAll.leftover` | a dead writer's half set partly gone | X1 (as the next replaceAll would) |
 * | replaceAll | a row filled `eliminations.replaceAll.filled` | the spare holds part of the new set | X1: never started (the live set untouched) |
 * | replaceAll | flip `eliminations.replaceAll.flipped` | the new set live; the old one still in the spare | X1: completed |
 * | replaceAll | an old row removed `eliminations.replaceAll.cleared` | the new set live; the old one partly gone | X1: completed |
 * | replaceAll | a row undone `eliminations.replaceAll.undone` (refused) | part of the refused set left | X1: refused, the state as before |
 * | any write  | gate left `eliminations.write.left`    | the mutex held                            | X3: completed |
 * Recovery is idempotent: if the recovering thread dies, running it again completes it.
 */
import { threadId } from 'node:worker_threads';
import { ErrorCode, SabStateError, checkKey, describe, capacityHint } from '../errors.ts';
import { optionError, callOptions, optEpoch } from '../options.ts';
import { decodeValue, encodeValue } from '../internal/codec/codec.ts';
import { crashPoint, declareCrashPoints } from '../internal/crash.ts';
import type { HashKey } from '../internal/hash/hash.ts';
import { type HeapStats, SharedHeap } from '../internal/store/heap.ts';
import { forceRelease, holderOf, lockSlow, tryLock, unlock, wakeWaiters } from '../internal/sync/mutex.ts';
import { tagOf } from '../internal/sync/thread-tag.ts';
import { checkRegion } from '../internal/region.ts';
import { Store, type StoreRecovery } from '../internal/store/store-recovery.ts';
import { SharedTable } from '../internal/store/table.ts';
import { type EliminationsHandle, controlSpec, kControlBytes, kGen, kMutex } from './eliminations-layout.ts';

declareCrashPoints('eliminations', [
  'eliminations.write.locked',
  'eliminations.write.entered',
  'eliminations.write.left',
  'eliminations.add.published',
  'eliminations.take.removed',
  'eliminations.delete.removed',
  'eliminations.replaceAll.leftover',
  'eliminations.replaceAll.filled',
  'eliminations.replaceAll.flipped',
  'eliminations.replaceAll.cleared',
  'eliminations.replaceAll.undone',
]);

const kWriterTimeoutMs = 30_000;
/**
 * An elimination row as the validator writes it: `hotkey` plus any fields
 * (`elimination_initiated_time_ms`, `dd`, `reason`, ...), kept as they are.
 */
export type EliminationRow = Record<string, unknown> & { hotkey: string };

/**
 * `engine.stats().eliminations`; `operations` counts this thread's calls only, the rest is the whole
 * engine's.
 */
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

function checkRow(row: unknown, what: string): EliminationRow {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new SabStateError(ErrorCode.INVALID_VALUE, `${what} must be an object, got ${describe(row)}`);
  }
  const hk = (row as { hotkey?: unknown }).hotkey;
  if (hk === undefined) throw new SabStateError(ErrorCode.INVALID_VALUE, `${what}.hotkey is missing`);
  checkKey(hk, `${what}.hotkey`);
  return row as EliminationRow;
}

/**
 * The eliminations domain (`engine.eliminations`): elimination rows by hotkey, in two shared tables
 * flipped by a generation word, so `replaceAll` is atomic for readers. Reads are lock-free.
 */
export class EliminationsDomain {
  readonly #ctl: Int32Array;
  readonly #heap: SharedHeap;
  readonly #tables: [SharedTable, SharedTable];
  readonly #tag: number;
  readonly #gate: EpochGuard | undefined;
  readonly #decode = (u8: Uint8Array, at: number, len: number): EliminationRow => decodeValue(u8, at, len) as EliminationRow;
  readonly #store: Store;
  #reads = 0;
  #writes = 0;

  /** @internal Built by the engine: use `engine.eliminations`. */
  constructor(handle: EliminationsHandle, key: HashKey, deps: { gate?: EpochGuard } = {}) {
    const control = checkRegion(handle.control, controlSpec(handle.maxRecords, key), 'eliminations');
    if (control.byteLength !== kControlBytes) {
      throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `eliminations: control region of ${control.byteLength} bytes, expected ${kControlBytes}`);
    }
    this.#ctl = new Int32Array(control);
    this.#heap = new SharedHeap(handle.heap, key, 'eliminations heap');
    this.#tables = [
      new SharedTable(handle.tables[0], this.#heap, key, 'eliminations A'),
      new SharedTable(handle.tables[1], this.#heap, key, 'eliminations B'),
    ];
    this.#tag = tagOf(threadId);
    this.#gate = deps.gate;
    this.#store = new Store({ heap: this.#heap, tables: this.#tables, check: (repair) => this.#checkSpare(repair) });
  }

  /** Rows in the live set (lock-free). */
  get size(): number {
    return this.#stable((t) => t.size);
  }

  /**
   * Upsert by row.hotkey. With `ifEpoch`, refused (ERR_STALE_EPOCH) unless that sync epoch still holds.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `row.hotkey` is not a non-empty string of at
   *   most 256 characters.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` if `row` is not an object with a `hotkey`, or
   *   holds a value the codec cannot store.
   * @throws {@link SabStateError} `ERR_VALUE_TOO_LARGE` if the encoded row is larger than a heap block
   *   can be.
   * @throws {@link SabStateError} `ERR_CAPACITY` if the domain is full
   *   (`options.eliminations.maxRecords` / `maxBytes`).
   * @throws {@link SabStateError} `ERR_STALE_EPOCH` with `ifEpoch`, if a sync began since that epoch
   *   was read (nothing written: read the epoch again and retry).
   * @throws TypeError or RangeError if `opts` is malformed (state unchanged).
   */
  add(row: EliminationRow, opts?: { ifEpoch?: number }): void {
    const r = checkRow(row, 'row');
    const ifEpoch = optEpoch(callOptions(opts, 'options', ['ifEpoch']).ifEpoch, 'options.ifEpoch');
    if (ifEpoch !== undefined && this.#gate === undefined) throw optionError('eliminations.add: options.ifEpoch needs the sync gate (engine.general)');
    const bytes = encodeValue(r, 'row').slice();
    const write = (): void => this.#write(() => this.#live().set(r.hotkey, undefined, bytes), 'eliminations.add.published');
    this.#writes++;
    try {
      if (ifEpoch === undefined) return write();
      this.#gate!.guard(ifEpoch, write);
    } catch (e) {
      throw capacityHint(e, 'options.eliminations.maxRecords or options.eliminations.maxBytes');
    }
  }

  /**
   * The row of a hotkey, or undefined (lock-free).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` is not a non-empty string of at most
   *   256 characters.
   */
  get(hotkey: string): EliminationRow | undefined {
    checkKey(hotkey, 'hotkey');
    this.#reads++;
    return this.#stable((t) => t.read(hotkey, undefined, this.#decode));
  }

  /**
   * Lock-free, O(1): runs on every order.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` is not a non-empty string of at most
   *   256 characters.
   */
  has(hotkey: string): boolean {
    checkKey(hotkey, 'hotkey');
    this.#reads++;
    return this.#stable((t) => t.has(hotkey));
  }

  /**
   * Atomic remove-and-return: of racing callers (any threads) exactly one gets the row.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` is not a non-empty string of at most
   *   256 characters.
   */
  take(hotkey: string): EliminationRow | undefined {
    checkKey(hotkey, 'hotkey');
    this.#writes++;
    const bytes = this.#write(() => this.#live().take(hotkey), 'eliminations.take.removed');
    return bytes === undefined ? undefined : (decodeValue(bytes) as EliminationRow);
  }

  /**
   * Removes the row of a hotkey; true if it was there.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` is not a non-empty string of at most
   *   256 characters.
   */
  delete(hotkey: string): boolean {
    checkKey(hotkey, 'hotkey');
    this.#writes++;
    return this.#write(() => this.#live().delete(hotkey), 'eliminations.delete.removed');
  }

  /**
   * Every row of one set (never a mix of two replaceAll generations). Each row is whole, but
   * against concurrent add / take / delete the list is not a snapshot (rows are read one slot at
   * a time): it may show a row added after one it misses. test/lincheck-domains.test.ts keeps
   * the failing linearizability check of that, skipped.
   */
  list(): EliminationRow[] {
    this.#reads++;
    return this.#stable((t) => t.scan((_a, _b, u8, at, len) => this.#decode(u8, at, len)));
  }

  /**
   * Replaces the whole set. Every row is checked and encoded first (bad input: typed error,
   * state unchanged); rows with the same hotkey: the last wins. Readers see the old set or the
   * new one, never a mix. A set the heap cannot hold: ERR_CAPACITY, the old set and the heap as
   * they were.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` if `rows` is not an array or a row is malformed
   *   (state unchanged).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if a row's hotkey is not a valid key.
   * @throws {@link SabStateError} `ERR_CAPACITY` if the set does not fit
   *   (`options.eliminations.maxRecords` / `maxBytes`; the old set stays).
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
    if (byKey.size > max) {
      throw new SabStateError(ErrorCode.CAPACITY, `replaceAll: ${byKey.size} rows, the domain holds at most ${max}; raise options.eliminations.maxRecords`);
    }
    this.#writes++;
    this.#write(() => {
      const gen = Atomics.load(this.#ctl, kGen);
      const spare = this.#tables[(gen + 1) & 1]!;
      // Normally empty; a writer that died mid-replaceAll and was not repaired yet left rows.
      this.#empty(spare, 'eliminations.replaceAll.leftover');
      try {
        for (const [hk, bytes] of byKey) {
          spare.set(hk, undefined, bytes);
          crashPoint('eliminations.replaceAll.filled');
        }
      } catch (e) {
        this.#empty(spare, 'eliminations.replaceAll.undone');
        throw capacityHint(e, 'options.eliminations.maxBytes (or maxRecords)');
      }
      Atomics.add(this.#ctl, kGen, 1); // the flip: the new set is live
      crashPoint('eliminations.replaceAll.flipped');
      this.#empty(this.#tables[gen & 1]!, 'eliminations.replaceAll.cleared');
    });
  }

  /**
   * Every row, consistent for the whole domain (writers held; for snapshots).
   * @internal For snapshots.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` if the writer lock is not free within `timeoutMs`.
   */
  consistentEntries(timeoutMs?: number): EliminationRow[] {
    return this.#withMutex(() => this.#live().scan((_a, _b, u8, at, len) => this.#decode(u8, at, len)), timeoutMs);
  }

  /**
   * Recovery phase 1 after a thread died (engine.watch; the crash table above): never waits.
   * Returns how many things it released or repaired.
   * @internal Recovery plumbing, called by the engine (engine.watch / engine.verify).
   */
  releaseAllOwnedBy(deadThreadId: number): number {
    let n = this.#store.releaseAllOwnedBy(deadThreadId);
    if (holderOf(this.#ctl, kMutex) === deadThreadId) {
      // The dead thread was inside a write and no live writer can be (it holds the mutex).
      this.#store.tryWrite(() => {
        n += this.#checkSpare(true).length; // X1
        for (const t of this.#tables) n += t.recount(true).length; // X2
      });
      if (forceRelease(this.#ctl, kMutex, tagOf(deadThreadId))) n++; // X3
    }
    wakeWaiters(this.#ctl, kMutex); // a dead unlocker or woken waiter may have left sleepers
    return n;
  }

  /**
   * Recovery phase 2 (after releaseAllOwnedBy): X1, counters, heap sweep, under the freeze.
   * @internal Recovery plumbing, called by the engine (engine.watch / engine.verify).
   */
  repair(timeoutMs?: number): StoreRecovery {
    return this.#store.repair(timeoutMs);
  }

  /**
   * Every violation of the domain's invariants ([] if sound): the spare table not empty, table
   * counters, the heap (store-recovery.ts), the writer mutex held by an exited thread.
   * @internal Recovery plumbing, called by the engine (engine.watch / engine.verify).
   */
  verify(timeoutMs?: number, exited?: ReadonlySet<number>): string[] {
    const out = this.#store.verify(timeoutMs, exited);
    const owner = holderOf(this.#ctl, kMutex);
    if (exited?.has(owner)) out.push(`eliminations: the writer mutex is held by exited thread ${owner}`);
    return out;
  }

  /** Counts and memory of the domain; `operations` counts this thread's calls only. */
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

  /** Deletes every row of a table that is not live (a writer under the mutex, or recovery). */
  #empty(t: SharedTable, point: string | null): void {
    for (const hk of t.scan((a) => a)) {
      t.delete(hk);
      if (point !== null) crashPoint(point);
    }
  }

  /** The spare table must be empty outside writes: its rows, as violations; `repair` deletes them. */
  #checkSpare(repair: boolean): string[] {
    const spare = this.#tables[(Atomics.load(this.#ctl, kGen) + 1) & 1]!;
    const rows = spare.scan((a) => a);
    if (rows.length === 0) return [];
    if (repair) this.#empty(spare, null);
    return [`eliminations: the spare table (${spare.what}) holds ${rows.length} row(s) left by a writer that died mid-replaceAll`];
  }

  /** The writer mutex, then the write gate around every step of fn; crash point `done` after fn. */
  #write<T>(fn: () => T, done: string | null = null): T {
    return this.#withMutex(() => {
      crashPoint('eliminations.write.locked');
      const out = this.#store.write(() => {
        crashPoint('eliminations.write.entered');
        const r = fn();
        if (done !== null) crashPoint(done);
        return r;
      });
      crashPoint('eliminations.write.left');
      return out;
    });
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
