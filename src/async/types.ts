/**
 * AsyncEngine: the engine's contract beyond one process (issue 16). The same domains and
 * method names as the SharedArrayBuffer engine, every method returning a Promise, so that the
 * validator's order path does not change when its state moves from shared memory
 * (`toAsyncEngine(engine)`, src/async/sab-adapter.ts) to Redis (`createRedisEngine(...)`,
 * src/redis/engine.ts).
 *
 * Semantics both implementations keep (test/conformance.ts checks them on both):
 * - `locks.withLock(hk, tp, fn)` runs `fn` (sync or async) holding the (hk, tp) lock and returns
 *   its value; writes made inside it (positions.save / appendOrder) carry the lock: on Redis the
 *   lock's fencing token, checked by the write script itself, so a holder that lost its lock (TTL
 *   passed, another holder took it) has its write refused with ERR_LOCK_NOT_HELD.
 * - save / appendOrder outside the lock of the position's (hotkey, trade pair): ERR_LOCK_NOT_HELD.
 *   At most one open position per (hotkey, trade pair) (ERR_INVALID_VALUE). `{ ifEpoch }`:
 *   refused with ERR_STALE_EPOCH during or after a newer sync, atomically with the write.
 * - eliminations.take: exactly one of racing callers gets the row; replaceAll: readers see the
 *   old set or the new, never a mix.
 * - queues: push is false only when the queue is full; pop({ timeoutMs }) undefined only when it
 *   stayed empty for timeoutMs (0: do not wait).
 * - Errors are SabStateErrors with the engine's codes; a store that cannot be reached is
 *   ERR_CONNECTION (Redis only). Refused means unchanged.
 */
import type { Position, PositionHead } from '../domains/positions/positions.ts';
import type { EliminationRow } from '../domains/eliminations.ts';
import type { DepartedEntry } from '../domains/departed.ts';
import type { AsyncGeneral } from './general-types.ts';

export type { PositionHead };

/** What getOpenHead returns (the shape of the SharedArrayBuffer engine's order step, issue 12). */
export interface AsyncOpenPositionHead {
  /** Every field of the position, same key order, `orders` null at its place. */
  position: PositionHead & { orders: null };
  /** The number of orders stored. */
  orderCount: number;
  /** With `{ lastOrder: true }`: the last order, else undefined. */
  lastOrder: Record<string, unknown> | undefined;
}

/**
 * What withLock and withLocks pass to `fn`: the locks it runs under, for the calls made inside
 * `fn` to carry explicitly (`{ lock }` on positions.save / appendOrder / getOpenHead / delete and
 * on a nested withLock). On Redis, an `fn` that declares a parameter (takes the context) is run
 * without AsyncLocalStorage: the context alone carries its holds, so the calls inside it must pass
 * `{ lock }` (a write without it is refused, ERR_LOCK_NOT_HELD; a nested withLock without it
 * waits for the outer one). An `fn` that takes no parameter runs as before: its holds follow the
 * async task (AsyncLocalStorage), `{ lock }` optional. Why: AsyncLocalStorage turns on promise
 * hooks for every promise of the thread (Node 20), a large part of the order step's CPU. On the
 * SharedArrayBuffer engine the context carries nothing (the stripe is the thread's).
 */
export interface AsyncLockContext {
  /** Always true: marks a context made by withLock. */
  readonly asyncLockContext: true;
}

/** Options of {@link AsyncLocks.withLock}. */
export interface AsyncLockOptions {
  /** Longest wait for the lock in ms (default: the implementation's; ERR_LOCK_TIMEOUT after). */
  timeoutMs?: number;
  /**
   * The context of the enclosing withLock (what it passed to its `fn`), to nest in it: on Redis a
   * key it holds is re-entered at once, and the inner context carries the outer holds too.
   */
  lock?: AsyncLockContext;
}

/**
 * The locks of an {@link AsyncEngine} (`engine.locks`): one per (hotkey, trade pair), held across
 * `await`s; positions.save / appendOrder are accepted only inside the lock of their position.
 */
export interface AsyncLocks {
  /**
   * Runs `fn` (sync or async) holding the (hotkey, trade pair) lock and resolves to its value;
   * the lock is released when `fn`'s promise settles. `fn` gets the lock context
   * ({@link AsyncLockContext}). On Redis the hold belongs to the async task, or to that context
   * when `fn` takes it (re-entrant per task or through `{ lock }`, fenced: a holder whose TTL
   * passed has its writes refused); the
   * SharedArrayBuffer adapter holds the engine's stripe for the thread (not re-entrant: a nested
   * withLock on the same stripe waits for the outer one).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` or `tradePairId`
   *   is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` (the promise rejects) with `timeoutMs`, if the
   *   lock was not free in time (`fn` not run).
   * @throws {@link SabStateError} `ERR_INVALID_ARGUMENT` (toAsyncEngine; the promise rejects) if `fn`
   *   is not a function.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   * @throws (the promise rejects) TypeError or RangeError if `opts` is malformed, and whatever `fn`
   *   throws or rejects with, after the lock is released.
   */
  withLock<T>(hotkey: string, tradePairId: string, fn: (lock: AsyncLockContext) => T | Promise<T>, opts?: AsyncLockOptions): Promise<T>;
  /**
   * True if some holder (any thread, on Redis any process) holds the lock of this key right now;
   * on the SharedArrayBuffer engine, the stripe the key falls on. A hint: it may change at once.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` or `tradePairId`
   *   is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  isHeld(hotkey: string, tradePairId: string): Promise<boolean>;
  /**
   * Runs `fn` holding the locks of every key and resolves to its value. The locks are taken one at
   * a time in one global order (the SharedArrayBuffer adapter: ascending stripe, each stripe once;
   * Redis: ascending lock key, each key once), so callers asking for the same keys in any order
   * cannot deadlock; `timeoutMs` bounds the whole acquisition. Writes to any of the keys' positions
   * inside `fn` carry their lock, as inside withLock.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if a key is not a non-empty
   *   string of at most 256 characters (no lock taken).
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` (the promise rejects) with `timeoutMs`, if the
   *   locks were not all taken in time (none held after, `fn` not run).
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be
   *   reached or dropped the connection.
   * @throws (the promise rejects) TypeError if `keys` is not an array of [hotkey, tradePairId]
   *   pairs or `fn` is not a function, and whatever `fn` throws or rejects with, after the locks
   *   are released.
   */
  withLocks<T>(keys: ReadonlyArray<readonly [string, string]>, fn: (lock: AsyncLockContext) => T | Promise<T>, opts?: AsyncLockOptions): Promise<T>;
  /**
   * Takes the (hotkey, trade pair) lock and resolves to a guard; `await guard.release()` (or
   * `await using guard = ...`) gives it back. For a critical section that does not fit a callback.
   * Not re-entrant: a second acquire of a key this engine holds by a guard waits for it. The hold
   * belongs to this engine object (all its async tasks), as the SharedArrayBuffer engine's stripe
   * belongs to its thread: writes made by any task of this engine while the guard is held carry
   * the lock (on Redis, fenced, renewed until release).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` or `tradePairId`
   *   is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` (the promise rejects) with `timeoutMs`, if the
   *   lock was not free in time.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be
   *   reached or dropped the connection.
   * @throws (the promise rejects) TypeError or RangeError if `opts` is malformed.
   */
  acquire(hotkey: string, tradePairId: string, opts?: AsyncLockOptions): Promise<AsyncLockGuard>;
  /**
   * One attempt, never waits: a guard (as {@link AsyncLocks.acquire}), or null if the lock is held.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` or `tradePairId`
   *   is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be
   *   reached or dropped the connection.
   */
  tryAcquire(hotkey: string, tradePairId: string): Promise<AsyncLockGuard | null>;
}

/** A lock held through {@link AsyncLocks.acquire}: released exactly once. */
export interface AsyncLockGuard {
  /**
   * Gives the lock back (on Redis: compare-and-delete; if Redis cannot be reached the lock
   * expires after its TTL and the promise still resolves).
   * @throws {@link SabStateError} `ERR_LOCK_NOT_HELD` (the promise rejects) if released already.
   */
  release(): Promise<void>;
  /**
   * The same as release(), for `await using`; a second call does nothing.
   */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Options of a position write (save, appendOrder).
 * - `ifEpoch`: refused (ERR_STALE_EPOCH) during or after a sync newer than that epoch, atomically.
 * - `release`: this is the hold's last write. On Redis the write's own script deletes the lock
 *   once it has written (one command less per order step than a write and a separate release);
 *   from then on another holder may take the lock while fn still runs, and a later write of this
 *   hold is refused (ERR_LOCK_NOT_HELD). A refused write releases nothing (withLock releases the
 *   lock when fn ends, as without the option). On the SharedArrayBuffer engine the stripe is
 *   released when fn returns, as always: pass it only on a write that fn makes last.
 * - `push`: `{ queue, message }`: pushes `message` to the declared queue once the write is made,
 *   never for a refused write (the order step's notice). On Redis the push is in the write's
 *   own script: the write and its message are one atomic step, so a saved write's message cannot
 *   be lost between them. A full queue does not refuse the write: the write is made, the message
 *   is not pushed, and the call resolves to false (push it yourself); an unknown queue or a
 *   message the queue cannot take (ERR_UNKNOWN_QUEUE, ERR_INVALID_VALUE, ERR_VALUE_TOO_LARGE) is
 *   refused before anything is written. On the SharedArrayBuffer engine the message is checked,
 *   the write made, then the message pushed, all under the stripe the caller holds.
 *   On Redis Cluster a write with `push` spans two slots (the hotkey's and the queue's), like
 *   `ifEpoch`: see src/redis/engine.ts, "Cluster".
 */
export interface AsyncWriteOptions {
  ifEpoch?: number;
  release?: boolean;
  push?: { queue: string; message: unknown };
  /** The lock context withLock passed to `fn` (AsyncLockContext): the hold the write carries. */
  lock?: AsyncLockContext;
}

/**
 * Every miner's positions, open and closed (`engine.positions`). Writes (save, appendOrder) must
 * run inside {@link AsyncLocks.withLock} of the position's (hotkey, trade pair); reads take no lock.
 */
export interface AsyncPositions {
  /**
   * The position, with its fields in the order saved, or undefined.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` or
   *   `positionUuid` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  get(hotkey: string, positionUuid: string): Promise<Position | undefined>;
  /**
   * The open position of (hotkey, trade pair), or undefined.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` or `tradePairId`
   *   is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  getOpen(hotkey: string, tradePairId: string): Promise<Position | undefined>;
  /**
   * The open position of (hotkey, trade pair) without its orders, or undefined: the head fields,
   * the order count and, with `{ lastOrder: true }`, the last order. Its cost does not grow with the
   * position's orders; on Redis, inside withLock of that key, it is answered from the lock grant.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` or `tradePairId`
   *   is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   * @throws (the promise rejects) TypeError or RangeError if `opts` is malformed.
   */
  getOpenHead(hotkey: string, tradePairId: string, opts?: { lastOrder?: boolean; lock?: AsyncLockContext }): Promise<AsyncOpenPositionHead | undefined>;
  /**
   * The positions of a hotkey; `{ open: true }` only open ones, `{ open: false }` only closed ones.
   * In first-save order on the SharedArrayBuffer engine, in no particular order on Redis.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   * @throws (the promise rejects) TypeError or RangeError if `opts` is malformed.
   */
  listForHotkey(hotkey: string, opts?: { open?: boolean }): Promise<Position[]>;
  /**
   * Saves (inserts or replaces) a whole position, inside withLock of its (hotkey, trade pair). At
   * most one open position per (hotkey, trade pair); with `{ ifEpoch }` the write is refused during
   * or after a newer sync, atomically with it. Refused means nothing written. Resolves to true,
   * or false when a `{ push }` found its queue full (written, message not pushed). On Redis, a
   * save that moves an open position to another trade pair also frees the lock of its old trade
   * pair (a holder of it is then refused by the fence: src/redis/scripts.ts, POS_WRITE).
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` (the promise rejects) if a required field is
   *   missing or of the wrong type, a value cannot be stored (on Redis: is not JSON), another
   *   position of that (hotkey, trade pair) is open, or the uuid is stored under another trade pair
   *   (Redis).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `miner_hotkey`,
   *   `position_uuid` or the trade pair id is not a valid key.
   * @throws {@link SabStateError} `ERR_LOCK_NOT_HELD` (the promise rejects) unless the caller holds the
   *   (hotkey, trade pair) lock (on Redis: the `{ lock }` given, else this async task, with a lock not
   *   expired nor taken over).
   * @throws {@link SabStateError} `ERR_STALE_EPOCH` (the promise rejects) with `ifEpoch`, if a sync
   *   began since that epoch was read.
   * @throws {@link SabStateError} `ERR_VALUE_TOO_LARGE` / `ERR_CAPACITY` (toAsyncEngine; the promise
   *   rejects) if an order or the head is too large, or the positions domain is full.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   * @throws (the promise rejects) TypeError or RangeError if `opts` is malformed.
   */
  save(position: Position, opts?: AsyncWriteOptions): Promise<boolean>;
  /**
   * The order step: stores `head` (the fields of a {@link PositionHead}: getOpenHead's `position`,
   * changed; `orders` null or absent) and appends `order` to the stored orders without reading the
   * earlier ones; a position not stored yet is created with this one order. Same rules and result as save.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` (the promise rejects) if `head.orders` is not
   *   null or absent, a required head field is missing or of the wrong type, `order` is not an
   *   object or cannot be stored, another position of that (hotkey, trade pair) is open, or the
   *   position is stored under another trade pair.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `miner_hotkey`,
   *   `position_uuid` or the trade pair id is not a valid key.
   * @throws {@link SabStateError} `ERR_LOCK_NOT_HELD` (the promise rejects) unless the caller holds the
   *   (hotkey, trade pair) lock (on Redis: the `{ lock }` given, else this async task, with a lock not
   *   expired nor taken over).
   * @throws {@link SabStateError} `ERR_STALE_EPOCH` (the promise rejects) with `ifEpoch`, if a sync
   *   began since that epoch was read.
   * @throws {@link SabStateError} `ERR_VALUE_TOO_LARGE` / `ERR_CAPACITY` (toAsyncEngine; the promise
   *   rejects) if the order or the head is too large, or the positions domain is full.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   * @throws (the promise rejects) TypeError or RangeError if `opts` is malformed.
   */
  appendOrder(head: PositionHead, order: Record<string, unknown>, opts?: AsyncWriteOptions): Promise<boolean>;
  /**
   * Deletes a position, taking its (hotkey, trade pair) lock itself (`{ lock }`: nested in that
   * withLock, as a nested withLock); true if it existed.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` or
   *   `positionUuid` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  delete(hotkey: string, positionUuid: string, opts?: { lock?: AsyncLockContext }): Promise<boolean>;
  /**
   * Hotkeys that have at least one position. On Redis a scan of the key space: a sync-time call.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  hotkeys(): Promise<string[]>;
}

/**
 * Eliminated miners, one row per hotkey (`engine.eliminations`). take gives a row to exactly one of
 * racing callers; replaceAll swaps the whole set so that readers see the old set or the new.
 */
export interface AsyncEliminations {
  /**
   * Upserts a row by `row.hotkey`; with `{ ifEpoch }`, refused unless that sync epoch still holds.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `row.hotkey` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` (the promise rejects) if `row` is not an object
   *   with a `hotkey`, or holds a value that cannot be stored (on Redis: is not JSON).
   * @throws {@link SabStateError} `ERR_STALE_EPOCH` (the promise rejects) with `ifEpoch`, if a sync
   *   began since that epoch was read (nothing written).
   * @throws {@link SabStateError} `ERR_VALUE_TOO_LARGE` / `ERR_CAPACITY` (toAsyncEngine; the promise
   *   rejects) if the row is too large or the domain is full.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   * @throws (the promise rejects) TypeError or RangeError if `opts` is malformed.
   */
  add(row: EliminationRow, opts?: { ifEpoch?: number }): Promise<void>;
  /**
   * The row of a hotkey, or undefined.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  get(hotkey: string): Promise<EliminationRow | undefined>;
  /**
   * True if the hotkey has a row (runs on every order).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  has(hotkey: string): Promise<boolean>;
  /**
   * Atomic remove-and-return: of racing callers (any thread or process) exactly one gets the row.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  take(hotkey: string): Promise<EliminationRow | undefined>;
  /**
   * Removes the row of a hotkey; true if it was there.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  delete(hotkey: string): Promise<boolean>;
  /**
   * Every row of one set (never a mix of two replaceAll generations).
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  list(): Promise<EliminationRow[]>;
  /**
   * Replaces the whole set (rows with the same hotkey: the last wins); readers see the old set or
   * the new one, never a mix. Every row is checked first: refused means the old set unchanged.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` (the promise rejects) if `rows` is not an array
   *   or a row is malformed (on Redis also: the new set was not written whole).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if a row's hotkey is not a
   *   valid key.
   * @throws {@link SabStateError} `ERR_CAPACITY` (toAsyncEngine; the promise rejects) if the set does
   *   not fit.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  replaceAll(rows: readonly EliminationRow[]): Promise<void>;
  /**
   * Rows in the set.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  size(): Promise<number>;
}

/** Hotkeys detected as departed, with the time of detection (`engine.departed`). */
export interface AsyncDeparted {
  /**
   * Records (or overwrites) the time a hotkey was detected as departed.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` (the promise rejects) if `detectedMs` is not an
   *   integer.
   * @throws {@link SabStateError} `ERR_CAPACITY` (toAsyncEngine; the promise rejects) if the domain is
   *   full.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  mark(hotkey: string, detectedMs: number): Promise<void>;
  /**
   * The departed entry of a hotkey, or undefined.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  get(hotkey: string): Promise<DepartedEntry | undefined>;
  /**
   * True if the hotkey is marked departed (runs on every order).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  has(hotkey: string): Promise<boolean>;
  /**
   * Removes a hotkey; true if it was there.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `hotkey` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  delete(hotkey: string): Promise<boolean>;
  /**
   * Every (hotkey, entry) pair.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  entries(): Promise<Array<[string, DepartedEntry]>>;
  /**
   * Hotkeys marked departed.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  size(): Promise<number>;
}

/**
 * The engine's contract beyond one process: the domains and method names of the
 * SharedArrayBuffer engine, every method returning a Promise. Made by {@link toAsyncEngine} (shared
 * memory) or {@link createRedisEngine} (Redis); errors are {@link SabStateError}s with the engine's
 * codes, and refused means unchanged.
 */
export interface AsyncEngine {
  /** 'sab' (toAsyncEngine) or 'redis' (createRedisEngine). */
  readonly backend: 'sab' | 'redis';
  /** Per-(hotkey, trade pair) locks. */
  readonly locks: AsyncLocks;
  /** Every miner's positions. */
  readonly positions: AsyncPositions;
  /** Eliminated miners. */
  readonly eliminations: AsyncEliminations;
  /** Departed hotkeys. */
  readonly departed: AsyncDeparted;
  /** Queues, counters, maps and the sync gate. */
  readonly general: AsyncGeneral;
  /**
   * A plain object per domain; never holds credentials.
   * @throws {@link SabStateError} `ERR_CLOSED` (toAsyncEngine; the promise rejects) after close().
   */
  stats(): Promise<Record<string, unknown>>;
  /**
   * Closes this engine; a second close() does nothing, and it does not reject. toAsyncEngine closes
   * the wrapped engine (later calls: ERR_CLOSED); Redis acknowledges each queue's last message and
   * closes the connections the engine made, leaving a caller's `client` open.
   */
  close(): Promise<void>;
}
