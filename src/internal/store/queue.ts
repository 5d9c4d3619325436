/**
 * What a queue looks like from outside: the `Queue` interface the package exports (Ring
 * implements it, ring.ts), its message type, the options of pop / popAsync and their checker,
 * and the stats it reports. No shared memory here.
 */
import { callOptions, optTimeoutMs } from '../../options.ts';

/**
 * A message: any JSON value, a string, or bytes (a Uint8Array, Buffer included). pop returns the
 * same kind: a fresh object, a string, or a Uint8Array of its own (a view that may have a
 * byteOffset: small ones share a private slab, like Buffer's pool).
 */
export type RingMessage = unknown;

/** Options of pop / popAsync. */
export interface PopOptions {
  /**
   * Longest wait in ms, for a message to come and for a consumer stalled mid-pop. 0 (pop's
   * default): do not wait for a message; a message already in the queue is still returned, after
   * waiting for a stalled consumer if one is in the way. Infinity (popAsync's default): no limit.
   */
  timeoutMs?: number;
}

/**
 * pushes / pops: from the positions and their wrap counts (exact when quiescent); full: refused
 * pushes; empty: pops that returned undefined; waits: blocking waits entered by consumers;
 * waiting: consumers announced as waiting now.
 */
export interface RingStats {
  capacity: number; maxMessageBytes: number; size: number;
  pushes: number; pops: number; full: number; empty: number; waits: number; waiting: number;
}

/** pop / popAsync options: { timeoutMs } only, checked like every per-call option (options.ts). */
export function popTimeout(options: unknown, dflt: number): number {
  if (options === undefined) return dflt;
  return optTimeoutMs(callOptions(options, 'options', ['timeoutMs']).timeoutMs, 'options.timeoutMs', dflt);
}

/**
 * A named MPMC queue (`engine.general.queue(name)`): a bounded ring of messages in shared memory;
 * full and empty answers are linearizable. What the package exports (a type; Ring implements it).
 */
export interface Queue<T = RingMessage> {
  /** The name it was declared under. */
  readonly name: string;
  /** Messages it holds at most. */
  readonly capacity: number;
  /** Largest encoded message. */
  readonly maxMessageBytes: number;
  /** Messages in the queue now (linearizable). */
  readonly size: number;
  /**
   * Pushes a message; false only when the queue is full (state unchanged).
   * @throws {@link SabStateError} `ERR_VALUE_TOO_LARGE` if the encoded message exceeds `maxMessageBytes`.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` if the codec cannot encode `msg`.
   */
  push(msg: T): boolean;
  /**
   * Pops a message; undefined only when the queue is empty (for timeoutMs, default 0).
   * @throws TypeError or RangeError if `options` is malformed (state unchanged).
   */
  pop(options?: PopOptions): T | undefined;
  /**
   * Pops a message, waiting with Atomics.waitAsync (never blocks the thread); default no timeout.
   * @throws (the promise rejects) TypeError or RangeError if `options` is malformed.
   */
  popAsync(options?: PopOptions): Promise<T | undefined>;
  /** Pushes, pops, full and empty answers, waits, and the size now (shared counters). */
  stats(): RingStats;
}
