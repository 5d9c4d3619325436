/**
 * The positions domain: every miner's positions, open and closed, in shared tables over one
 * shared heap, with lock-free reads (README, guarantees 1-3 and 5).
 *
 * Structures (all on the table.ts / heap.ts code, one heap for the domain):
 * - records:  (miner_hotkey, position_uuid) -> record (head + chunk refs, positions/record.ts),
 *             one immutable chunk per order; per thread, decoded orders are cached by chunk
 *             and whole order lists by record version (positions/cache.ts).
 * - open:     (miner_hotkey, trade pair id) -> uuid of the open position: the order path reads
 *             one position, never a miner's history.
 * - byHotkey: the per-hotkey index (positions/hotkey-index.ts): a counter per hotkey and one entry per
 *             position, (hotkey, number) -> uuid, in first-save order: listForHotkey and
 *             hotkeys(). Written lock-free (CAS): writers of different trade pairs of one hotkey
 *             do not share a lock. A new position costs the same for a miner's first and 500th.
 *
 * The order step without the history: getOpenHead reads the open position's head (every field
 * but `orders`), its order count and, on request, its last order; appendOrder writes a new head
 * and one new chunk and keeps the earlier chunks (positions/write.ts): neither decodes, compares
 * nor copies an earlier order, so its cost does not grow with the position's orders.
 *
 * Writers: save, appendOrder and delete of a position run under its (hotkey, trade pair) lock, so records
 * and open-index entries have one writer at a time; the writes publish in this order, each a
 * single CAS: hotkey index (new position only) -> record -> open index; then the blocks no
 * longer referenced are retired. A reader between two steps sees a state that the next step
 * completes (getOpen checks that the record it finds is open and of that trade pair). A save
 * that fails (validation, ERR_CAPACITY, codec errors) has published nothing; if the record
 * cannot be inserted after its uuid went into the hotkey index, the uuid is taken out again
 * (and skipped by readers if even that fails). All publishing steps run inside the heap's
 * write gate (sync/write-gate.ts) so entriesRaw() can see the domain with no save half done.
 */
import { ErrorCode, SabStateError, checkKey, describe, capacityHint } from '../../errors.ts';
import { DEFAULTS } from '../../defaults.ts';
import { optionError, callOptions, optEpoch, resolveSizes } from '../../options.ts';
import { decodeOrder, decodePositionHead } from '../../internal/codec/codec.ts';
import type { HashKey } from '../../internal/hash/hash.ts';
import { type HeapHandle, type HeapStats, MAX_HEAP_BYTES, MIN_HEAP_BYTES, createHeapHandle } from '../../internal/store/heap.ts';
import type { TableStats } from '../../internal/store/table.ts';
import { type TableHandle, createTableHandle } from '../../internal/store/table-layout.ts';
import type { StoreRecovery } from '../../internal/store/store-recovery.ts';
import { PositionWriter } from './write.ts';
import { PositionStore } from './store.ts';
import {
  type HeadRecord, type RawRecord, ReadMode, type ReadModeValue, chunkBytes, readHeadValue, readRecordValue, readUuid, recordHead,
  type ValidHead, type ValidPosition, validateHead, validatePosition,
} from './record.ts';

const MAX_RECORDS_LIMIT = 1 << 22;

/** A position as the validator writes it (unknown fields are kept byte for byte). */
export interface Position {
  miner_hotkey: string;
  position_uuid: string;
  trade_pair: string | unknown[];
  orders: unknown[];
  is_closed_position: boolean;
  [field: string]: unknown;
}

/** A position without its orders: what getOpenHead gives and appendOrder takes. */
export interface PositionHead {
  miner_hotkey: string;
  position_uuid: string;
  trade_pair: string | unknown[];
  /** null (getOpenHead) or absent: the orders stay in shared memory. */
  orders?: null;
  is_closed_position: boolean;
  [field: string]: unknown;
}

/** What getOpenHead returns: the open position without its orders, and how many it has. */
export interface OpenPositionHead {
  /**
   * Every field of the position as saved, same key order, with `orders` null at its place (the
   * orders stay in shared memory). A fresh object: change it and pass it to appendOrder.
   */
  position: PositionHead & { orders: null };
  /** The number of orders stored. */
  orderCount: number;
  /** With `{ lastOrder: true }`: the last order (frozen, shared with this thread's reads), else undefined. */
  lastOrder: Record<string, unknown> | undefined;
}

export interface PositionsOptions {
  readonly maxRecords: number;
  readonly maxBytes: number;
}
export interface PositionsHandle {
  readonly heap: HeapHandle;
  readonly records: TableHandle;
  readonly open: TableHandle;
  readonly byHotkey: TableHandle;
}
/** What save/delete need of the lock domain (a LockDomain fits). */
export interface PositionLocks {
  isHeldByCurrentThread(hotkey: string, tradePairId: string): boolean;
  withLock<T>(hotkey: string, tradePairId: string, fn: () => T): T;
  /** One attempt, never waits (a LockDomain has it): with it, a full heap is compacted (positions/compact.ts). */
  tryAcquire?(hotkey: string, tradePairId: string): { release(): void } | null;
}
/** The sync gate's guarded write (general domain). */
export interface SaveGate {
  guard<T>(ifEpoch: number, fn: () => T): T;
}
export interface PositionsDeps {
  readonly locks: PositionLocks;
  readonly gate?: SaveGate;
  /** Decoded orders cached by this thread (default DEFAULT_ORDER_CACHE_SIZE, positions/cache.ts). */
  readonly orderCacheSize?: number;
  /** Order lists of record versions remembered by this thread (default 1024; 0: none). */
  readonly recordMemoSize?: number;
  /** Byte budgets of those two caches (DEFAULT_ORDER_CACHE_BYTES, DEFAULT_RECORD_MEMO_BYTES, positions/cache.ts). */
  readonly orderCacheBytes?: number;
  readonly recordMemoBytes?: number;
}
export interface RawPositionEntry {
  hotkey: string;
  positionUuid: string;
  tradePairId: string;
  open: boolean;
  /** encodePositionHead bytes (decodePositionHead, then set `orders`). */
  head: Uint8Array;
  /** encodeOrder bytes of every order, in order. */
  orders: Uint8Array[];
}
/**
 * `engine.stats().positions`; `operations` counts this thread's calls only, the rest is the whole
 * engine's.
 */
export interface PositionsStats {
  records: number;
  open: number;
  hotkeys: number;
  /** Operations by this thread's instance. */
  operations: { gets: number; lists: number; saves: number; deletes: number };
  bytesUsed: number;
  bytesReserved: number;
  bytesCapacity: number;
  readRetries: number;
  pinnedReads: number;
  /**
   * This thread's caches: decoded orders by chunk, and whole order lists by record version; `bytes`
   * the orders' estimated JS heap bytes (at most threadOptions.orderCacheBytes), `listBytes` what
   * the lists are charged (at most threadOptions.recordMemoBytes: the orders they keep alive too).
   */
  orderCache: { size: number; hits: number; misses: number; lists: number; listHits: number; bytes: number; listBytes: number };
  /**
   * This thread's compactions (positions/compact.ts), by trigger. Capacity: allocations refused
   * with ERR_CAPACITY that moved records to make room (`runs`; `failed` found no room), records
   * moved, bytes copied, records skipped because their lock was busy. `top`: top compactions
   * (carved / in use high) that moved something, records and entries moved, bytes copied (the
   * whole engine's: heap.topCompactions), and `attempts`: runs that took the flag (each a scan).
   */
  compaction: { runs: number; failed: number; relocations: number; movedBytes: number; busy: number; top: { runs: number; relocations: number; movedBytes: number; attempts: number } };
  heap: HeapStats;
  tables: { records: TableStats; open: TableStats; byHotkey: TableStats };
}

/**
 * Defaults sized for the validator: 256 hotkeys x 512 positions (open and closed) = 131072
 * records; a heap of up to 1 GiB (it starts at 1 MiB and grows on demand), room for 13056 open
 * positions of 100 KB and the closed history besides (stored positions take about their JSON
 * size, see bench/positions.ts).
 */
export function resolvePositionsOptions(raw: unknown, path = 'options.positions'): PositionsOptions {
  return resolveSizes(raw, path, {
    maxRecords: DEFAULTS.positions.maxRecords, maxRecordsLimit: MAX_RECORDS_LIMIT,
    maxBytes: () => DEFAULTS.positions.maxBytes, minBytes: MIN_HEAP_BYTES, maxBytesLimit: MAX_HEAP_BYTES,
  });
}

export function createPositionsHandle(opts: PositionsOptions, key: HashKey): PositionsHandle {
  return {
    heap: createHeapHandle(opts.maxBytes, key),
    records: createTableHandle(opts.maxRecords, key),
    open: createTableHandle(opts.maxRecords, key),
    // One entry per position plus one counter per hotkey (positions/hotkey-index.ts).
    byHotkey: createTableHandle(2 * opts.maxRecords, key),
  };
}

/**
 * The positions domain (`engine.positions`): every miner's positions, open and closed, with lock-free
 * reads. A position needs `miner_hotkey`, `position_uuid`, `trade_pair` (an id or the legacy array
 * `[id, ...]`), `orders` (an array) and `is_closed_position` (a boolean); other fields are kept as
 * they are.
 */
export class PositionsDomain {
  readonly #store: PositionStore;
  readonly #writer: PositionWriter;
  readonly #locks: PositionLocks;
  readonly #gate: SaveGate | undefined;
  readonly #ops = { gets: 0, lists: 0, saves: 0, deletes: 0 };
  readonly #readers: Array<(u8: Uint8Array, at: number, len: number, ref: number) => RawRecord>;
  readonly #uuidReader: (u8: Uint8Array, at: number, len: number) => string;
  readonly #headReaders: Array<(u8: Uint8Array, at: number, len: number) => HeadRecord>;
  /** The arguments of the write #gated runs (#guarded). */
  readonly #args: { v: ValidHead | null; obj: object | null; order: unknown } = { v: null, obj: null, order: null };
  readonly #gated = (): void => this.#writeNow(this.#args.v!, this.#args.obj!, this.#args.order);

  /** @internal Built by the engine: use `engine.positions`. */
  constructor(handle: PositionsHandle, key: HashKey, deps: PositionsDeps) {
    if (typeof deps?.locks?.isHeldByCurrentThread !== 'function' || typeof deps.locks.withLock !== 'function') {
      throw new TypeError('PositionsDomain needs deps.locks (a LockDomain)');
    }
    if (deps.gate !== undefined && typeof deps.gate.guard !== 'function') throw new TypeError('deps.gate must have guard(ifEpoch, fn)');
    const store = new PositionStore(handle, key, deps.orderCacheSize, deps.recordMemoSize, deps.orderCacheBytes, deps.recordMemoBytes);
    const heap = store.heap;
    this.#store = store;
    this.#locks = deps.locks;
    this.#gate = deps.gate;
    this.#writer = new PositionWriter(store, deps.locks);
    this.#readers = [ReadMode.META, ReadMode.FULL, ReadMode.FULL_IF_OPEN, ReadMode.FULL_IF_CLOSED].map(
      (mode: ReadModeValue) => (_u8: Uint8Array, at: number, len: number, ref: number) =>
        readRecordValue(heap, at, len, ref, mode, store.cache, store.memo),
    );
    this.#uuidReader = (_u8, at, len) => readUuid(heap, at, len);
    const scratch: HeadRecord = { at: 0, len: 0, open: false, tp: '', n: 0, headLen: 0, head: new Uint8Array(0), headAt: 0, lastOff: 0, lastStamp: 0, last: undefined };
    this.#headReaders = [false, true].map((last) => (_u8: Uint8Array, at: number, len: number) => readHeadValue(heap, at, len, last, store.cache, scratch));
  }

  /** Positions stored (open and closed; lock-free). */
  get size(): number {
    return this.#store.records.size;
  }

  /**
   * The position, exactly as saved (same fields, same key order), or undefined. Returns a fresh
   * object and a fresh `orders` array, but the ORDER OBJECTS ARE FROZEN and shared with other
   * reads of this thread (decoded once per chunk): copy an order before changing it. Appending
   * to `orders` (or replacing some) and saving from the same thread is the intended use: the
   * orders still the same objects keep their stored chunks and are not encoded again.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` or `positionUuid` is not a non-empty
   *   string of at most 256 characters.
   */
  get(hotkey: string, positionUuid: string): Position | undefined {
    checkKey(hotkey, 'hotkey');
    checkKey(positionUuid, 'positionUuid');
    this.#ops.gets++;
    const raw = this.#store.records.read(hotkey, positionUuid, this.#readers[ReadMode.FULL]!);
    return raw === undefined ? undefined : this.#decode(raw);
  }

  /**
   * The open position of (hotkey, trade pair), or undefined. Same object rules as get().
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` or `tradePairId` is not a non-empty
   *   string of at most 256 characters.
   */
  getOpen(hotkey: string, tradePairId: string): Position | undefined {
    checkKey(hotkey, 'hotkey');
    checkKey(tradePairId, 'tradePairId');
    this.#ops.gets++;
    const uuid = this.#store.open.read(hotkey, tradePairId, this.#uuidReader);
    if (uuid === undefined) return undefined;
    const raw = this.#store.records.read(hotkey, uuid, this.#readers[ReadMode.FULL_IF_OPEN]!);
    if (raw === undefined || !raw.open || raw.tp !== tradePairId) return undefined;
    return this.#decode(raw);
  }

  /**
   * The positions of a hotkey in the order they were first saved; `{ open: true }` only open
   * ones, `{ open: false }` only closed ones. Each position is a whole version; the list is not
   * a snapshot across positions. Same object rules as get().
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` is not a non-empty string of at most
   *   256 characters.
   * @throws TypeError or RangeError if `opts` is malformed (state unchanged).
   */
  listForHotkey(hotkey: string, opts?: { open?: boolean }): Position[] {
    checkKey(hotkey, 'hotkey');
    const open = callOptions(opts, 'options', ['open']).open;
    if (open !== undefined && typeof open !== 'boolean') throw optionError('options.open must be a boolean');
    this.#ops.lists++;
    const uuids = this.#store.index.list(hotkey);
    const mode = open === undefined ? ReadMode.FULL : open ? ReadMode.FULL_IF_OPEN : ReadMode.FULL_IF_CLOSED;
    const out: Position[] = [];
    for (const uuid of uuids) {
      const raw = this.#store.records.read(hotkey, uuid, this.#readers[mode]!);
      if (raw === undefined || (open !== undefined && raw.open !== open)) continue;
      out.push(this.#decode(raw));
    }
    return out;
  }

  /** Hotkeys that have at least one position. */
  hotkeys(): string[] {
    const { index, records } = this.#store;
    const out = new Set<string>();
    for (const e of index.entries()) if (e.seq >= 0 && !out.has(e.hotkey) && records.has(e.hotkey, e.uuid)) out.add(e.hotkey);
    return [...out];
  }

  /**
   * The open position of (hotkey, trade pair) without its orders, or undefined: what the order
   * step needs (the head fields, the order count, with `{ lastOrder: true }` the last order). Its
   * cost does not depend on the number of orders. Lock-free, like getOpen.
   */
  getOpenHead(hotkey: string, tradePairId: string, opts?: { lastOrder?: boolean }): OpenPositionHead | undefined {
    checkKey(hotkey, 'hotkey');
    checkKey(tradePairId, 'tradePairId');
    const last = opts === undefined ? undefined : callOptions(opts, 'options', ['lastOrder']).lastOrder;
    if (last !== undefined && typeof last !== 'boolean') throw optionError('options.lastOrder must be a boolean');
    this.#ops.gets++;
    const uuid = this.#store.open.read(hotkey, tradePairId, this.#uuidReader);
    if (uuid === undefined) return undefined;
    const lastHead = this.#store.memo.head;
    const raw = this.#store.records.read(hotkey, uuid, this.#headReaders[last === true ? 1 : 0]!, undefined, lastHead.seen);
    if (raw === undefined || !raw.open || raw.tp !== tradePairId) return undefined;
    lastHead.keep(hotkey, uuid, raw); // appendOrder takes the location if the slot has not moved (positions/cache.ts)
    const position = decodePositionHead(raw.head, raw.headAt, raw.headLen) as OpenPositionHead['position'];
    let lastOrder: Record<string, unknown> | undefined;
    if (raw.last instanceof Uint8Array) lastOrder = this.#store.cache.put(raw.lastOff, raw.lastStamp, decodeOrder(raw.last), raw.last.length) as Record<string, unknown>;
    else lastOrder = raw.last as Record<string, unknown> | undefined;
    return { position, orderCount: raw.n, lastOrder };
  }

  /**
   * The order step: stores `head` (every field of the position but `orders`, which must be null
   * or absent: getOpenHead's `position`, changed) and appends `order` to the position's stored
   * orders, without reading, comparing or copying the earlier ones. A position not stored yet
   * is created with this one order. Same rules as save: the calling thread holds the (hotkey,
   * trade pair) lock (ERR_LOCK_NOT_HELD), at most one open position per (hotkey, trade pair)
   * (ERR_INVALID_VALUE), `{ ifEpoch }` refused during or after a newer sync (ERR_STALE_EPOCH),
   * a position stored under another trade pair is ERR_INVALID_VALUE (save moves positions);
   * whatever it refuses, it has written nothing. The caller's objects are not changed.
   */
  appendOrder(head: PositionHead, order: Record<string, unknown>, opts?: { ifEpoch?: number }): void {
    const v = validateHead(head);
    if (typeof order !== 'object' || order === null || Array.isArray(order)) {
      throw new SabStateError(ErrorCode.INVALID_VALUE, `order must be an object, got ${order === null ? 'null' : Array.isArray(order) ? 'an array' : typeof order}`);
    }
    this.#guarded('positions.appendOrder', v, opts, head, order);
  }

  /**
   * The common rules of save and appendOrder: options checked, the lock held, the write under the
   * sync gate's guard with ifEpoch. The write is `#writer.append(obj, order, v)` (appendOrder) or
   * `#writer.save(obj, v)` (save, order null); under the gate it runs as #gated, made once, which
   * reads its arguments from #args (saved and restored around the call: a nested write, were
   * one possible, would not see the outer's), so that no closure is made per write.
   */
  #guarded(op: string, v: ValidHead, opts: { ifEpoch?: number } | undefined, obj: object, order: unknown): void {
    const { hotkey, tp } = v;
    const ifEpoch = opts === undefined ? undefined : optEpoch(callOptions(opts, 'options', ['ifEpoch']).ifEpoch, 'options.ifEpoch');
    if (ifEpoch !== undefined && this.#gate === undefined) {
      throw optionError(`${op}: options.ifEpoch needs the sync gate, and this PositionsDomain was created without deps.gate`);
    }
    if (!this.#locks.isHeldByCurrentThread(hotkey, tp)) {
      throw new SabStateError(
        ErrorCode.LOCK_NOT_HELD,
        `${op}: this thread does not hold the lock of (${describe(hotkey)}, ${describe(tp)}); call it inside engine.locks.withLock(hotkey, tradePairId, fn)`,
      );
    }
    this.#ops.saves++;
    const a = this.#args;
    const saved0 = a.v;
    const saved1 = a.obj;
    const saved2 = a.order;
    try {
      if (ifEpoch === undefined) this.#writeNow(v, obj, order);
      else {
        a.v = v;
        a.obj = obj;
        a.order = order;
        this.#gate!.guard(ifEpoch, this.#gated);
      }
    } catch (e) {
      throw capacityHint(e, 'options.positions.maxRecords or options.positions.maxBytes');
    } finally {
      a.v = saved0;
      a.obj = saved1;
      a.order = saved2;
    }
  }

  #writeNow(v: ValidHead, obj: object, order: unknown): void {
    if (order === null) this.#writer.save(obj, v as ValidPosition);
    else this.#writer.append(obj, order, v);
  }

  /**
   * Saves (inserts or replaces) a position. The calling thread must hold the (miner_hotkey,
   * trade pair) lock (ERR_LOCK_NOT_HELD otherwise). At most one open position per (hotkey,
   * trade pair): saving a second open one with another uuid is ERR_INVALID_VALUE; saving it
   * closed takes it out of the open index. With `{ ifEpoch }` the write runs inside the sync
   * gate's guard and is refused (ERR_STALE_EPOCH) during or after a newer sync. Bad input is
   * refused before anything is written. The caller's objects are not changed or frozen.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` if a required field is missing or of the wrong
   *   type, or another position of that (hotkey, trade pair) is open.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `miner_hotkey`, `position_uuid` or the trade
   *   pair id is not a valid key.
   * @throws {@link SabStateError} `ERR_LOCK_NOT_HELD` unless this thread holds the (hotkey, trade
   *   pair) lock: call it inside `engine.locks.withLock`.
   * @throws {@link SabStateError} `ERR_STALE_EPOCH` with `ifEpoch`, if a sync began since that epoch
   *   was read (nothing saved: read the epoch again and retry).
   * @throws {@link SabStateError} `ERR_VALUE_TOO_LARGE` if an order or the position head is larger
   *   than a heap block can be.
   * @throws {@link SabStateError} `ERR_CAPACITY` if the domain is full (`options.positions.maxRecords`
   *   / `maxBytes`); nothing is saved. A heap allocation refused first moves stored positions to
   *   open a contiguous free range and is tried once more (positions/compact.ts): the refusal
   *   comes only if that fails too.
   * @throws TypeError or RangeError if `opts` is malformed (state unchanged).
   */
  save(position: Position, opts?: { ifEpoch?: number }): void {
    const v = validatePosition(position);
    this.#guarded('positions.save', v, opts, position, null);
  }

  /**
   * Deletes a position (takes its (hotkey, trade pair) lock itself). True if it existed.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` or `positionUuid` is not a non-empty
   *   string of at most 256 characters.
   */
  delete(hotkey: string, positionUuid: string): boolean {
    checkKey(hotkey, 'hotkey');
    checkKey(positionUuid, 'positionUuid');
    this.#ops.deletes++;
    return this.#writer.delete(hotkey, positionUuid, this.#readers[ReadMode.META]!);
  }

  /**
   * Every stored position, whole, consistent for the whole domain (entriesRaw, decoded): what a
   * snapshot holds.
   * @internal For snapshots.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` if a write in flight does not finish within `timeoutMs`.
   */
  consistentEntries(timeoutMs?: number): Position[] {
    return this.entriesRaw(timeoutMs).map((e) => {
      const p = decodePositionHead(e.head);
      p.orders = e.orders.map((b) => decodeOrder(b));
      return p as Position;
    });
  }

  /**
   * Every stored position as raw codec bytes, consistent for the whole domain: runs while no
   * save or delete is in flight and holds new ones back until it returns (the heap's write
   * gate; ERR_LOCK_TIMEOUT after timeoutMs if a write never finishes, e.g. a killed worker).
   * @internal For snapshots.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` if a write in flight does not finish within `timeoutMs`.
   */
  entriesRaw(timeoutMs?: number): RawPositionEntry[] {
    const { heap, records } = this.#store;
    return this.#store.consistent(
      () =>
        records.scan((hotkey, uuid, _u8, at, len, ref) => {
          const meta = readRecordValue(heap, at, len, ref, ReadMode.META, this.#store.cache, this.#store.memo);
          const orders: Uint8Array[] = [];
          for (let k = 0; k < meta.refs.length; k += 2) orders.push(chunkBytes(heap, meta.refs[k]!));
          const head = recordHead(heap, at, len);
          return { hotkey, positionUuid: uuid!, tradePairId: meta.tp, open: meta.open, head, orders };
        }),
      timeoutMs,
    );
  }

  /**
   * Moves a stored position's blocks to new ones, as compaction does when the heap is full
   * (positions/compact.ts): the same bytes, a new version. Takes the position's lock with one
   * attempt; false if it is absent, its lock is busy, or there is no room.
   * @internal For tests of the compaction's protocol (test/crash-points.test.ts).
   */
  relocate(hotkey: string, positionUuid: string): boolean {
    checkKey(hotkey, 'hotkey');
    checkKey(positionUuid, 'positionUuid');
    const tp = this.#store.records.read(hotkey, positionUuid, this.#readers[ReadMode.META]!)?.tp;
    return tp !== undefined && this.#writer.relocate(hotkey, positionUuid, tp);
  }

  /**
   * The top compaction now (positions/compact.ts lowerTop: live blocks near the top moved below,
   * the top lowered), whatever its trigger says. True if it moved something.
   * @internal For tests and the crash-points workload (writes run it themselves when carved /
   * in use is high).
   */
  compactTop(): boolean {
    return this.#writer.compactTop();
  }

  /**
   * Recovery after a thread died (engine.watch): its insert mutexes, gate slot, pin and freeze released.
   * @internal Recovery plumbing, called by the engine (engine.watch / engine.verify).
   */
  releaseAllOwnedBy(deadThreadId: number): number {
    return this.#store.releaseAllOwnedBy(deadThreadId);
  }

  /**
   * After releaseAllOwnedBy of every dead thread: under the freeze, a save or delete a dead
   * thread left half done is completed or undone (positions/repair.ts), counters recounted and
   * leaked blocks swept (store-recovery.ts).
   * @internal Recovery plumbing, called by the engine (engine.watch / engine.verify).
   */
  repair(timeoutMs?: number): StoreRecovery {
    return this.#store.repair(timeoutMs);
  }

  /**
   * Every violation of the domain's invariants (records, open index, lists, heap), [] if sound.
   * @internal Recovery plumbing, called by the engine (engine.watch / engine.verify).
   */
  verify(timeoutMs?: number, exited?: ReadonlySet<number>): string[] {
    return this.#store.verify(timeoutMs, exited);
  }

  /** Counts and memory of the domain; `operations` counts this thread's calls only. */
  stats(): PositionsStats {
    const { heap, records, open, byHotkey, cache, memo } = this.#store;
    const h = heap.stats();
    const t = { records: records.stats(), open: open.stats(), byHotkey: byHotkey.stats() };
    return {
      records: t.records.records,
      open: t.open.records,
      hotkeys: this.#store.index.hotkeyCount(),
      operations: { ...this.#ops },
      bytesUsed: h.inUseBytes,
      bytesReserved: h.reservedBytes,
      bytesCapacity: h.maxBytes,
      readRetries: t.records.readRetries + t.open.readRetries + t.byHotkey.readRetries,
      pinnedReads: t.records.pinnedReads + t.open.pinnedReads + t.byHotkey.pinnedReads,
      orderCache: { size: cache.size, hits: cache.hits, misses: cache.misses, lists: memo.size, listHits: memo.hits, bytes: cache.bytes, listBytes: memo.bytes },
      compaction: structuredClone(this.#writer.compaction ?? { runs: 0, failed: 0, relocations: 0, movedBytes: 0, busy: 0, top: { runs: 0, relocations: 0, movedBytes: 0, attempts: 0 } }),
      heap: h,
      tables: t,
    };
  }

  #decode(raw: RawRecord): Position {
    const pos = decodePositionHead(raw.head!) as Position;
    if (raw.memo !== null) {
      pos.orders = raw.memo.slice();
      return pos;
    }
    const parts = raw.parts!;
    const orders = new Array<unknown>(parts.length);
    const cache = this.#store.cache;
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k];
      orders[k] = p instanceof Uint8Array ? cache.put(raw.refs[2 * k]!, raw.refs[2 * k + 1]!, decodeOrder(p), p.length) : p;
    }
    this.#store.memo.put(raw.ref, raw.stamp, orders);
    pos.orders = orders.slice();
    return pos;
  }
}

