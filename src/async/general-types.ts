/**
 * The general domain of the AsyncEngine contract (types.ts holds the contract's semantics and the
 * other domains): named queues, counters and maps declared at creation, and the sync gate, every
 * method returning a Promise. Implemented by src/async/sab-adapter.ts and src/redis/general.ts.
 */
import type { GateState } from '../internal/sync/sync-gate.ts';

/**
 * A bounded queue declared at creation (`engine.general.queue(name)`). Messages are strings, bytes
 * (Uint8Array) or JSON values. On Redis a stream: a message popped by a consumer that dies before
 * its next pop is delivered again to another (at least once).
 */
export interface AsyncQueue {
  /**
   * Pushes a message; resolves to false only when the queue is full (nothing pushed).
   * @throws {@link SabStateError} `ERR_VALUE_TOO_LARGE` (the promise rejects) if the encoded message
   *   exceeds the queue's `maxMessageBytes`.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` (the promise rejects) if `msg` is not JSON, a
   *   string or bytes.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  push(msg: unknown): Promise<boolean>;
  /**
   * Pops a message; undefined only when the queue stayed empty for `timeoutMs` (default 0: do not
   * wait). On Redis it also acknowledges the message this consumer popped before.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   * @throws (the promise rejects) TypeError or RangeError if `opts` is malformed.
   */
  pop(opts?: { timeoutMs?: number }): Promise<unknown>;
  /**
   * Pops up to `max` messages at once, oldest first, without waiting: an empty array only when
   * the queue is empty. A consumer draining a busy queue pays one call (on Redis one round trip)
   * per batch instead of one per message. On Redis it also acknowledges what this consumer popped
   * before (the last pop or popMany); a consumer that dies before its next pop has its whole
   * batch delivered again to another (at least once), so `claimIdleMs` must exceed the time it
   * takes to handle a batch.
   * @throws (the promise rejects) RangeError if `max` is not an integer from 1 to 4096.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  popMany(max: number): Promise<unknown[]>;
  /**
   * Messages queued and not yet delivered.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  size(): Promise<number>;
}

/** A named counter declared at creation (`engine.general.counter(name)`). */
export interface AsyncCounter {
  /**
   * Adds `n` (a safe integer, default 1; negative subtracts) and resolves to the new value.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` (the promise rejects) if `n` is not a safe
   *   integer (counter unchanged).
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  add(n?: number): Promise<number>;
  /**
   * The current value (0 if never added to).
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  get(): Promise<number>;
}

/** A small named map declared at creation (`engine.general.map(name)`); on Redis, values are JSON. */
export interface AsyncMap {
  /**
   * The value of `key`, or undefined.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `key` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  get(key: string): Promise<unknown>;
  /**
   * Sets `key` to `value`.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `key` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` (the promise rejects) if `value` cannot be stored
   *   (on Redis: is not JSON).
   * @throws {@link SabStateError} `ERR_VALUE_TOO_LARGE` / `ERR_CAPACITY` (toAsyncEngine; the promise
   *   rejects) if the encoded value is too large or the map is full.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  set(key: string, value: unknown): Promise<void>;
  /**
   * True if `key` is in the map.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `key` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  has(key: string): Promise<boolean>;
  /**
   * Removes `key`; true if it was there.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` (the promise rejects) if `key` is not a non-empty string of at most 256 characters.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  delete(key: string): Promise<boolean>;
  /**
   * Every (key, value) pair.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  entries(): Promise<Array<[string, unknown]>>;
  /**
   * Entries in the map.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  size(): Promise<number>;
}

/**
 * The sync gate (`engine.general.syncGate`): the sync epoch and whether a sync is in progress.
 * Writes made with `{ ifEpoch }` are refused (ERR_STALE_EPOCH) once a newer sync began.
 */
export interface AsyncSyncGate {
  /**
   * Marks a sync in progress, bumps the epoch and resolves to the new epoch, once no write admitted
   * under the old epoch can still land.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  begin(): Promise<number>;
  /**
   * Clears in-progress; the epoch stays. Idempotent.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  end(): Promise<void>;
  /**
   * The epoch and whether a sync is in progress.
   * @throws {@link SabStateError} `ERR_CONNECTION` (Redis; the promise rejects) if Redis cannot be reached or dropped
   *   the connection.
   */
  current(): Promise<GateState>;
}

/** Queues, counters and maps declared at creation, and the sync gate (`engine.general`). */
export interface AsyncGeneral {
  /**
   * The queue declared as `name` (synchronous: no round trip).
   * @throws {@link SabStateError} `ERR_UNKNOWN_QUEUE` (thrown, not a rejected promise) if no queue
   *   `name` was declared.
   */
  queue(name: string): AsyncQueue;
  /**
   * The counter declared as `name` (synchronous: no round trip).
   * @throws {@link SabStateError} `ERR_UNKNOWN_COUNTER` (thrown, not a rejected promise) if no counter
   *   `name` was declared.
   */
  counter(name: string): AsyncCounter;
  /**
   * The map declared as `name` (synchronous: no round trip).
   * @throws {@link SabStateError} `ERR_UNKNOWN_MAP` (thrown, not a rejected promise) if no map `name`
   *   was declared.
   */
  map(name: string): AsyncMap;
  /** The sync gate. */
  readonly syncGate: AsyncSyncGate;
}
