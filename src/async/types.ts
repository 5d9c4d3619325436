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
import type { Position } from '../domains/positions.ts';
import type { EliminationRow } from '../domains/eliminations.ts';
import type { DepartedEntry } from '../domains/departed.ts';
import type { GateState } from '../internal/gate.ts';

/** A position head: every field but `orders`, which is null (or absent when written). */
export type PositionHead = Omit<Position, 'orders'> & { orders?: null };

/** What getOpenHead returns (the shape of the SharedArrayBuffer engine's order step, issue 12). */
export interface AsyncOpenPositionHead {
  /** Every field of the position, same key order, `orders` null at its place. */
  position: Omit<Position, 'orders'> & { orders: null };
  /** The number of orders stored. */
  orderCount: number;
  /** With `{ lastOrder: true }`: the last order, else undefined. */
  lastOrder: Record<string, unknown> | undefined;
}

export interface AsyncLockOptions {
  /** Longest wait for the lock in ms (default: the implementation's; ERR_LOCK_TIMEOUT after). */
  timeoutMs?: number;
}

export interface AsyncLocks {
  withLock<T>(hotkey: string, tradePairId: string, fn: () => T | Promise<T>, opts?: AsyncLockOptions): Promise<T>;
  isHeld(hotkey: string, tradePairId: string): Promise<boolean>;
}

export interface AsyncPositions {
  get(hotkey: string, positionUuid: string): Promise<Position | undefined>;
  getOpen(hotkey: string, tradePairId: string): Promise<Position | undefined>;
  getOpenHead(hotkey: string, tradePairId: string, opts?: { lastOrder?: boolean }): Promise<AsyncOpenPositionHead | undefined>;
  listForHotkey(hotkey: string, opts?: { open?: boolean }): Promise<Position[]>;
  save(position: Position, opts?: { ifEpoch?: number }): Promise<void>;
  appendOrder(head: PositionHead, order: Record<string, unknown>, opts?: { ifEpoch?: number }): Promise<void>;
  delete(hotkey: string, positionUuid: string): Promise<boolean>;
  hotkeys(): Promise<string[]>;
}

export interface AsyncEliminations {
  add(row: EliminationRow, opts?: { ifEpoch?: number }): Promise<void>;
  get(hotkey: string): Promise<EliminationRow | undefined>;
  has(hotkey: string): Promise<boolean>;
  take(hotkey: string): Promise<EliminationRow | undefined>;
  delete(hotkey: string): Promise<boolean>;
  list(): Promise<EliminationRow[]>;
  replaceAll(rows: readonly EliminationRow[]): Promise<void>;
  size(): Promise<number>;
}

export interface AsyncDeparted {
  mark(hotkey: string, detectedMs: number): Promise<void>;
  get(hotkey: string): Promise<DepartedEntry | undefined>;
  has(hotkey: string): Promise<boolean>;
  delete(hotkey: string): Promise<boolean>;
  entries(): Promise<Array<[string, DepartedEntry]>>;
  size(): Promise<number>;
}

export interface AsyncQueue {
  push(msg: unknown): Promise<boolean>;
  pop(opts?: { timeoutMs?: number }): Promise<unknown>;
  size(): Promise<number>;
}

export interface AsyncCounter {
  add(n?: number): Promise<number>;
  get(): Promise<number>;
}

export interface AsyncMap {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  has(key: string): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  entries(): Promise<Array<[string, unknown]>>;
  size(): Promise<number>;
}

export interface AsyncSyncGate {
  begin(): Promise<number>;
  end(): Promise<void>;
  current(): Promise<GateState>;
}

export interface AsyncGeneral {
  queue(name: string): AsyncQueue;
  counter(name: string): AsyncCounter;
  map(name: string): AsyncMap;
  readonly syncGate: AsyncSyncGate;
}

export interface AsyncEngine {
  /** 'sab' (toAsyncEngine) or 'redis' (createRedisEngine). */
  readonly backend: 'sab' | 'redis';
  readonly locks: AsyncLocks;
  readonly positions: AsyncPositions;
  readonly eliminations: AsyncEliminations;
  readonly departed: AsyncDeparted;
  readonly general: AsyncGeneral;
  /** A plain object per domain; never holds credentials. */
  stats(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}
