/**
 * The option checkers: one message form, one error kind, at every public boundary (errors.ts
 * says which). Engine options, thread options and every per-call options object go through
 * these and nothing else; internals trust what they return.
 */
import { ErrorCode } from './errors.ts';

/** The option error: TypeError (wrong type) or RangeError (out of range), with code ERR_INVALID_OPTION. */
export function optionError(message: string, range = false): TypeError & { code: 'ERR_INVALID_OPTION' } {
  const e = (range ? new RangeError(message) : new TypeError(message)) as TypeError & { code: 'ERR_INVALID_OPTION' };
  Object.defineProperty(e, 'code', { value: ErrorCode.INVALID_OPTION, enumerable: true });
  return e;
}

export function optPositiveInt(value: unknown, path: string, dflt: number, max = 2 ** 31 - 1): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw optionError(`${path} must be a positive integer`);
  }
  if (value <= 0 || value > max) throw optionError(`${path} must be a positive integer at most ${max}`, true);
  return value;
}

export function optPowerOfTwo(value: unknown, path: string, dflt: number, max = 2 ** 24): number {
  const n = optPositiveInt(value, path, dflt, max);
  if ((n & (n - 1)) !== 0) throw optionError(`${path} must be a power of two`, true);
  return n;
}

/** A timeout in milliseconds: undefined is `dflt`; else a non-negative number (Infinity allowed, NaN not). */
export function optTimeoutMs(value: unknown, path: string, dflt = Infinity): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || Number.isNaN(value)) throw optionError(`${path} must be a non-negative number of milliseconds`);
  if (value < 0) throw optionError(`${path} must be a non-negative number of milliseconds`, true);
  return value;
}

/** An epoch for ifEpoch: a non-negative integer. */
export function optEpoch(value: unknown, path: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw optionError(`${path} must be a non-negative integer`);
  if (value < 0) throw optionError(`${path} must be a non-negative integer`, true);
  return value;
}

/** Unknown option keys: `${path}.${k} is not a known option (known: a, b)`, the one form everywhere. */
export function checkKnownKeys(o: Record<string, unknown>, path: string, known: readonly string[]): void {
  // The own keys in Reflect.ownKeys's order (names, then symbols), without it: it allocated
  // about 390 bytes per call, on every write with options (the order step's appendOrder).
  for (const k of Object.getOwnPropertyNames(o)) {
    if (!known.includes(k)) {
      const at = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
      throw optionError(`${at} is not a known option (known: ${known.join(', ')})`);
    }
  }
  if (Object.getOwnPropertySymbols(o).length > 0) throw optionError(`${path} has a symbol key, not a known option (known: ${known.join(', ')})`);
}

/** An options object: undefined is {}; else a non-array object (a null prototype is fine). */
export function optObject(value: unknown, path: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw optionError(`${path} must be an object`);
  }
  return value as Record<string, unknown>;
}

/**
 * A per-call options object checked like the engine's: an object (or undefined) whose own keys
 * are all in `known`. Returns it (or an empty object). Used by every method that takes options.
 */
export function callOptions(value: unknown, path: string, known: readonly string[]): Record<string, unknown> {
  const o = optObject(value, path);
  if (value !== undefined) checkKnownKeys(o, path, known);
  return o;
}

/** A table-backed store's sizes, resolved: records it holds, and its heap's bytes. */
export interface StoreSizes {
  readonly maxRecords: number;
  readonly maxBytes: number;
}

/** What a store's sizes resolve against: the default maxRecords and its limit, maxBytes's default (from maxRecords) and range. */
export interface SizeRules {
  readonly maxRecords: number;
  readonly maxRecordsLimit: number;
  readonly maxBytes: (maxRecords: number) => number;
  readonly minBytes: number;
  readonly maxBytesLimit: number;
}

/**
 * Rules of a store whose heap grows with its records (eliminations, departed): maxBytes defaults
 * to minBytes plus bytesPerRecord for each record, at most maxBytesLimit.
 */
export function perRecordRules(
  d: { readonly maxRecords: number; readonly bytesPerRecord: number }, maxRecordsLimit: number, minBytes: number, maxBytesLimit: number,
): SizeRules {
  return { maxRecords: d.maxRecords, maxRecordsLimit, maxBytes: (n) => Math.min(maxBytesLimit, minBytes + n * d.bytesPerRecord), minBytes, maxBytesLimit };
}

/**
 * `{ maxRecords?, maxBytes? }` of a table-backed store (options.positions, options.eliminations,
 * options.departed, each of options.general.maps): the one resolver of that shape.
 */
export function resolveSizes(raw: unknown, path: string, r: SizeRules): StoreSizes {
  const o = optObject(raw, path);
  checkKnownKeys(o, path, ['maxRecords', 'maxBytes']);
  const maxRecords = optPositiveInt(o.maxRecords, `${path}.maxRecords`, r.maxRecords, r.maxRecordsLimit);
  const maxBytes = optPositiveInt(o.maxBytes, `${path}.maxBytes`, r.maxBytes(maxRecords), r.maxBytesLimit);
  if (maxBytes < r.minBytes) throw optionError(`${path}.maxBytes must be at least ${r.minBytes}`, true);
  return { maxRecords, maxBytes };
}
