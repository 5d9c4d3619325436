/**
 * Typed errors with stable codes (README, guarantee 5).
 *
 * Every error the library throws on purpose is a `SabStateError` whose `code` is one of
 * `ErrorCode`. Codes are part of the public contract: they never change meaning. Bad input
 * leaves the shared state unchanged: every public method validates before it writes.
 * Option errors (engine options, thread options and every per-call options object such as
 * withLock's `{ timeoutMs }`) are `TypeError` / `RangeError` (wrong type / out of range, as
 * Node's own argument errors) carrying `code: 'ERR_INVALID_OPTION'`, with one message form:
 * `options.positions.maxBytes must be a positive integer`, `options.timeout is not a known
 * option (known: timeoutMs)`. They are built by the checkers of options.ts and nowhere else.
 *
 * Messages never throw themselves: every user value goes through describe(), which reads no
 * property of the value and calls none of its methods (null-prototype objects, symbols, proxies
 * and objects with throwing toString / toJSON are described by their kind only).
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
  UNKNOWN_COUNTER: 'ERR_UNKNOWN_COUNTER',
  UNKNOWN_MAP: 'ERR_UNKNOWN_MAP',
  /** A per-call or engine option of the wrong type or out of range (TypeError / RangeError). */
  INVALID_OPTION: 'ERR_INVALID_OPTION',
  /** An argument that is neither a key nor a value: a callback that is not a function, a path that is not a string, a worker that is not a Worker. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** The file system refused a snapshot, restore, import or export (the system code, e.g. ENOSPC, in the message and `cause`). */
  IO: 'ERR_IO',
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

/**
 * Short description of a value for error messages (never the whole value). Never throws: it
 * reads no property of the value and calls none of its methods (template literals and String()
 * call toString / Symbol.toPrimitive, which a null-prototype object lacks and a hostile one
 * overrides).
 */
export function describe(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string of length ${value.length}` : JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? 'the number -0' : `the number ${value}`;
    case 'bigint':
      return `the bigint ${value}n`;
    case 'boolean':
      return `${value}`;
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (value === null) return 'null';
      try {
        if (Array.isArray(value)) return `an array of length ${value.length}`;
        return Object.getPrototypeOf(value) === null ? 'an object without a prototype' : 'an object';
      } catch {
        return 'an object'; // a revoked proxy
      }
  }
}

/** An argument error (SabStateError): keys, values and callbacks have their own codes. */
export function argError(code: ErrorCodeValue, message: string): SabStateError {
  return new SabStateError(code, message);
}

/** Throws ERR_INVALID_ARGUMENT unless `fn` is a function. */
export function checkFunction(fn: unknown, what: string): asserts fn is (...args: never[]) => unknown {
  if (typeof fn !== 'function') throw argError(ErrorCode.INVALID_ARGUMENT, `${what} must be a function, got ${describe(fn)}`);
}

/**
 * An ERR_CAPACITY from a table or heap, re-thrown with the option to raise (`hint`); any other
 * error unchanged. Used in a catch clause of each domain's writes (free when nothing throws).
 */
export function capacityHint(e: unknown, hint: string): unknown {
  if (!(e instanceof SabStateError) || e.code !== ErrorCode.CAPACITY || e.message.includes('raise ')) return e;
  return new SabStateError(ErrorCode.CAPACITY, `${e.message}; raise ${hint}`, { cause: e });
}

/**
 * Runs a file-system step of a snapshot, restore, import or export; a system error (ENOENT,
 * EACCES, ENOSPC, ENAMETOOLONG...) becomes ERR_IO naming the operation and the system code,
 * with the original as `cause`. SabStateErrors pass through.
 */
export function withIo<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SabStateError) throw e;
    const sys = (e as NodeJS.ErrnoException | null)?.code;
    if (typeof sys !== 'string') throw e;
    throw new SabStateError(ErrorCode.IO, `${what}: ${sys} (${(e as Error).message})`, { cause: e });
  }
}
