/**
 * PLACEHOLDER (JSON + TextEncoder) with the final interface; the real codec replaces the bodies.
 *
 * Interface (fixed, used by positions / eliminations / maps / queues):
 * - encodeValue(v): lossless bytes of a JSON value (key order, -0, unknown fields kept). Throws
 *   ERR_INVALID_VALUE for cycles and non-JSON values (undefined, functions, symbols, bigint,
 *   NaN/Infinity, class instances other than plain objects/arrays). The returned view may alias
 *   a scratch buffer: valid until the next encode call on this thread; copy it out before then.
 * - decodeValue(bytes): the value back (plain objects/arrays; "__proto__" keys kept as own keys).
 * - encodePositionHead / decodePositionHead: a position without its `orders` array; the head
 *   remembers where `orders` stood in the key order, and decodePositionHead returns an object
 *   whose `orders` key is at that place with the value `null` (the caller fills it in).
 * - encodeOrder / decodeOrder: one order of a position (same aliasing rule as encodeValue).
 */
import { ErrorCode, SabStateError } from '../errors.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

function check(v: unknown, seen: Set<object>): void {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new SabStateError(ErrorCode.INVALID_VALUE, `value contains a non-finite number`);
    return;
  }
  if (typeof v !== 'object') throw new SabStateError(ErrorCode.INVALID_VALUE, `value contains a ${typeof v}`);
  if (seen.has(v)) throw new SabStateError(ErrorCode.INVALID_VALUE, 'value contains a cycle');
  seen.add(v);
  if (Array.isArray(v)) for (const x of v) check(x, seen);
  else for (const k of Object.keys(v)) check((v as Record<string, unknown>)[k], seen);
  seen.delete(v);
}

export function encodeValue(v: unknown): Uint8Array {
  check(v, new Set());
  return enc.encode(JSON.stringify(v));
}

export function decodeValue(bytes: Uint8Array): unknown {
  return JSON.parse(dec.decode(bytes));
}

export function encodePositionHead(pos: Record<string, unknown>): Uint8Array {
  const head: Record<string, unknown> = {};
  for (const k of Object.keys(pos)) head[k] = k === 'orders' ? null : pos[k];
  return encodeValue(head);
}

export function decodePositionHead(bytes: Uint8Array): Record<string, unknown> {
  return decodeValue(bytes) as Record<string, unknown>;
}

export function encodeOrder(order: unknown): Uint8Array {
  return encodeValue(order);
}

export function decodeOrder(bytes: Uint8Array): Record<string, unknown> {
  return decodeValue(bytes) as Record<string, unknown>;
}
