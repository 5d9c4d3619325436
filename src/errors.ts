/**
 * Typed errors with stable codes (README, guarantee 5).
 *
 * Every error the library throws on purpose is a `SabStateError` whose `code` is one of
 * `ErrorCode`. Codes are part of the public contract: they never change meaning. Bad input
 * leaves the shared state unchanged: every public method validates before it writes.
 * Option errors at the boundary are plain `TypeError` / `RangeError` with one message form:
 * `options.positions.maxBytes must be a positive integer`.
 */

export const ErrorCode = {
  INVALID_KEY: 'ERR_INVALID_KEY',
  INVALID_VALUE: 'ERR_INVALID_VALUE',
  VALUE_TOO_LARGE: 'ERR_VALUE_TOO_LARGE',
  CAPACITY: 'ERR_CAPACITY',
  LOCK_TIMEOUT: 'ERR_LOCK_TIMEOUT',
  LOCK_NOT_HELD: 'ERR_LOCK_NOT_HELD',
  STALE_EPOCH: 'ERR_STALE_EPOCH',
  LAYOUT_MISMATCH: 'ERR_LAYOUT_MISMATCH',
  UNKNOWN_QUEUE: 'ERR_UNKNOWN_QUEUE',
  SNAPSHOT_CORRUPT: 'ERR_SNAPSHOT_CORRUPT',
  NATIVE_UNAVAILABLE: 'ERR_NATIVE_UNAVAILABLE',
  CLOSED: 'ERR_CLOSED',
  /** A remote store (createRedisEngine) could not be reached or dropped the connection mid-call. */
  CONNECTION: 'ERR_CONNECTION',
} as const;

/** One of the codes of {@link ErrorCode}. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The error every sabstate operation throws for bad input, a full structure, a timeout or a refused
 * write; `code` is stable (one of {@link ErrorCode}), the message is for people. The state is
 * unchanged when it is thrown.
 */
export class SabStateError extends Error {
  readonly code: ErrorCodeValue;
  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SabStateError';
    this.code = code;
  }
}

/** Longest key accepted (UTF-16 code units): keys are non-empty strings of at most 256 characters. */
export const MAX_KEY_LENGTH = 256;

/** Throws ERR_INVALID_KEY unless `key` is a non-empty string of at most MAX_KEY_LENGTH units. */
export function checkKey(key: unknown, what: string): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new SabStateError(
      ErrorCode.INVALID_KEY,
      `${what} must be a non-empty string of at most ${MAX_KEY_LENGTH} characters, got ${describe(key)}`,
    );
  }
}

/** Short description of a value for error messages (never the whole value). */
export function describe(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > 40 ? `a string of length ${value.length}` : JSON.stringify(value);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

// ---- option checks: one message form at the public boundary --------------------------------

export function optPositiveInt(value: unknown, path: string, dflt: number, max = 2 ** 31 - 1): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${path} must be a positive integer`);
  }
  if (value <= 0 || value > max) throw new RangeError(`${path} must be a positive integer at most ${max}`);
  return value;
}

export function optPowerOfTwo(value: unknown, path: string, dflt: number, max = 2 ** 24): number {
  const n = optPositiveInt(value, path, dflt, max);
  if ((n & (n - 1)) !== 0) throw new RangeError(`${path} must be a power of two`);
  return n;
}

/** Unknown option keys: `${path}.${k} is not a known option (known: a, b)`, the one form everywhere. */
export function checkKnownKeys(o: Record<string, unknown>, path: string, known: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) {
      const at = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
      throw new TypeError(`${at} is not a known option (known: ${known.join(', ')})`);
    }
  }
}

export function optObject(value: unknown, path: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${path} must be an object`);
  }
  return value as Record<string, unknown>;
}
