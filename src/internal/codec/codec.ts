/**
 * Codec: lossless binary encoding of the validator's JSON values (positions, orders, elimination
 * rows, map values, queue messages), faster than JSON + TextEncoder and than msgpackr on the
 * validator's real positions, both ways (bench/codec.ts).
 *
 * Interface (fixed, used by positions / eliminations / maps / queues):
 * - encodeValue(v): lossless bytes of a JSON value (key order, -0, unknown fields kept). Throws
 *   ERR_INVALID_VALUE for cycles and non-JSON values (undefined, functions, symbols, bigint,
 *   NaN/Infinity, class instances other than plain objects/arrays). The returned view may alias
 *   a scratch buffer: valid until the next encode call on this thread; copy it out before then.
 * - decodeValue(bytes, at?, len?): the value back (plain objects/arrays; "__proto__" keys kept as
 *   own keys); with at / len from bytes[at, at + len) without a view (decodePositionHead too).
 * - encodePositionHead / decodePositionHead: a position without its `orders` array; the head
 *   remembers where `orders` stood in the key order, and decodePositionHead returns an object
 *   whose `orders` key is at that place with the value `null` (the caller fills it in).
 * - encodeOrder / decodeOrder: one order of a position (same aliasing rule as encodeValue).
 * Every encode function takes an optional second argument, the name of the value in error
 * messages (default `value`, `position`, `order`): `encodeOrder(o, 'position.orders[3]')`.
 *
 * FORMAT (version 1). Byte 0 is kFormatVersion; then exactly one value; nothing after it. A
 * value is one tag byte and its payload (varint = unsigned LEB128, at most 5 bytes; all
 * fixed-size numbers little-endian). Tag values are in format.ts.
 *
 * | tag          | payload                               | value                              |
 * | ------------ | ------------------------------------- | ---------------------------------- |
 * | 0x00 0x01 0x02 | -                                   | null, false, true                  |
 * | 0x03 F64     | 8 bytes float64                       | any other number (-0, doubles,     |
 * |              |                                       | integers outside int32)            |
 * | 0x04 I32     | 4 bytes int32                         | integer in int32, not 0..31        |
 * | 0x20 + n     | -                                     | integer n, 0 <= n < 32             |
 * | 0x40 + n     | n bytes                               | ASCII string of n < 64 chars       |
 * | 0x05 ASCII   | varint n, n bytes                     | ASCII string of n >= 64 chars      |
 * | 0x06 UTF8    | varint n, n bytes UTF-8               | well-formed non-ASCII string       |
 * | 0x07 UTF16   | varint n, 2n bytes UTF-16LE units     | string with a lone surrogate       |
 * | 0x80 + i     | -                                     | dictionary string i < 128          |
 * | 0x08 DICT    | 1 byte j                              | dictionary string 128 + j          |
 * | 0x09 ARRAY   | varint n, n values                    | array                              |
 * | 0x0a OBJECT  | varint n, n × (string value, value)   | object, keys in their order        |
 * | 0x0b SHAPE_DEF | varint n, varint b, n key strings   | object; defines learned shape #k   |
 * |              | (b bytes), n values                   | (k-th SHAPE_DEF of this value)     |
 * | 0x0c SHAPE_REF | varint k, n values                  | object of learned shape #k         |
 * | 0x10 POSITION| 13 values, in kPositionKeys order     | object with exactly these keys,    |
 * | 0x11 ORDER   | 6 values, in kOrderKeys order         | in exactly this order              |
 * | 0x12 SOURCE  | 11 values, in kPriceSourceKeys order  | (an order's price source)          |
 *
 * The dictionary (format.ts) holds the keys of the known shapes, the keys of elimination
 * rows and later validator versions, enum values (LONG/SHORT/FLAT, price sources, elimination
 * reasons) and trade pair ids and names. Versioning: tags, shapes and dictionary are frozen for
 * a version; any change bumps kFormatVersion and decoders refuse versions they do not know.
 *
 * Lossless: an object whose own keys are exactly a known shape, in order, with no undefined
 * value, is written as its shape tag and its values; any other object (an added, removed or
 * reordered field, in any known or unknown object) is written with its own key list, in order:
 * a SHAPE_DEF the first time that list appears in the value, a SHAPE_REF after (an OBJECT if
 * it has an undefined value, or past kMaxValueShapes lists), so nothing is lost, and its values
 * keep using the known shapes. Learned shapes also make later validator versions (orders with
 * bid/ask/src..., which are not the known shapes) fast: shapes.ts caches them per thread
 * and compiles an object-literal builder (decode) and a named-load writer (encode) for the
 * shapes met often. Every value is
 * tagged, so a known field of an unexpected type (a vwap of null, a price that is a string)
 * needs no special case. Numbers: int32 (not -0) as integers, everything else float64, bit
 * for bit. Strings: ASCII as bytes, other well-formed strings as UTF-8, strings with lone
 * surrogates as raw UTF-16, so every JS string comes back identical. "__proto__" own keys are
 * decoded with Object.defineProperty. Integer-like keys are enumerated first by JS itself, in
 * the original as in the decoded object, so the order still matches.
 *
 * Refused (SabStateError ERR_INVALID_VALUE naming the path, `value.orders[3].price is NaN`):
 * undefined as the root or an array element (holes included), functions, symbols, bigints,
 * NaN and ±Infinity, objects whose prototype is neither Object.prototype nor null (Date, Map,
 * typed arrays, class instances, boxed primitives), cycles, nesting deeper than kMaxDepth
 * (1000) arrays/objects. Object properties whose value is undefined are DROPPED, as
 * JSON.stringify drops them; symbol-keyed and non-enumerable properties are ignored, as JSON
 * does. No toJSON call: an object with a toJSON method is refused (the method is a function).
 *
 * Decoding garbage: see decode.ts. It throws a plain Error ("codec: corrupt input ..."),
 * in time and memory linear in the input size.
 *
 * Threads and aliasing: state is per thread (module level). The view returned by an encode is
 * overwritten by the next encode on the same thread, so copy it (into shared memory) first.
 * Encoding is not re-entrant: a getter or Proxy trap of the value being encoded must not encode.
 * The decoder keeps a reference to the last input's ArrayBuffer (its views are cached).
 *
 * Why it is fast (bench/codec.ts, on the real positions: about 5-6x JSON and 3-4x msgpackr to
 * encode, 6-7x JSON and 1.7-10x msgpackr to decode; an order of a later validator version,
 * through learned shapes: 5x JSON both ways):
 * - the three shapes that make up nearly all the bytes (position, order, price source) cost one
 *   tag byte and no keys. The shape test is a for-in over V8's enum cache (no allocation),
 *   comparing interned key strings by pointer; values are read with named (monomorphic)
 *   property loads and rebuilt with object literals, so each decoded object is created in its
 *   final hidden class at once, never grown key by key;
 * - the fields of known shapes are read and written with small helpers the optimizer inlines,
 *   testing the field's usual tag first (float64 for prices and timestamps, dictionary for
 *   enums); numbers are one DataView store/load;
 * - strings: ASCII written char by char, read with String.fromCharCode (short) or one native
 *   latin1 slice; repeated keys and enum values are one dictionary byte, no string built;
 * - one growable scratch buffer per thread for encoding; the decoder caches its views per input
 *   buffer (records decoded out of one shared heap allocate no views); format constants are
 *   module-level consts in the hot modules (V8 folds those, not imported bindings);
 * - learned shapes (shapes.ts) give unknown shapes met often the same treatment through
 *   compiled builders and writers; a SHAPE_DEF already met is found by hashing its key bytes;
 * - invalid values cost nothing on the hot path: cycles show up as excess depth, and the path
 *   of the culprit is found by a second, slow walk only when the encode has failed.
 */
import { ErrorCode, SabStateError } from '../../errors.ts';
import { decodeRoot } from './decode.ts';
import { beginEncode, endEncode, kInvalid, writeObject, writeValue } from './encode.ts';
import { kMaxDepth } from './format.ts';

export { kFormatVersion, kMaxDepth } from './format.ts';

// ---- slow path: naming the first non-JSON value ------------------------------------------------
// The encoder keeps neither a path nor the set of ancestors, to stay fast; when it throws
// kInvalid, `describeInvalid` walks the value again with both, under the encoder's rules (listed
// above), and returns the message, e.g. `value.orders[3].price is NaN`.

const kIdentifier = /^[A-Za-z_$][\w$]*$/;

function keyPath(path: string, key: string): string {
  return kIdentifier.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function kindOf(o: object): string {
  const proto: unknown = Object.getPrototypeOf(o);
  const ctor = proto !== null && typeof proto === 'object' ? (proto as { constructor?: unknown }).constructor : undefined;
  const name = typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'object with a custom prototype';
  return `a ${name} (not a plain object or array)`;
}

function walk(v: unknown, path: string, ancestors: Map<object, string>, depth: number, skip: string | null): string | null {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(v) ? null : `${path} is ${String(v)}`;
    case 'undefined':
      return `${path} is undefined`;
    case 'function':
      return `${path} is a function`;
    case 'symbol':
      return `${path} is a symbol`;
    case 'bigint':
      return `${path} is a bigint`;
    default:
      break;
  }
  if (v === null) return null;
  const o = v as object;
  const seen = ancestors.get(o);
  if (seen !== undefined) return `${path} is a cycle (it is ${seen} again)`;
  if (depth > kMaxDepth) return `${path} is nested deeper than ${kMaxDepth} arrays/objects`;
  ancestors.set(o, path);
  let found: string | null = null;
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length && found === null; i++) {
      found = walk(o[i], `${path}[${i}]`, ancestors, depth + 1, null);
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(o);
    if (proto !== Object.prototype && proto !== null) {
      found = `${path} is ${kindOf(o)}`;
    } else {
      const rec = o as Record<string, unknown>;
      for (const k of Object.keys(rec)) {
        if (k === skip) continue;
        const x = rec[k];
        if (x === undefined) continue;
        found = walk(x, keyPath(path, k), ancestors, depth + 1, null);
        if (found !== null) break;
      }
    }
  }
  ancestors.delete(o);
  return found;
}

/**
 * The message for a value the encoder refused, naming its path from `root`; null when the walk
 * finds nothing (cannot happen unless a getter changed the value between the two walks).
 * `skip`: a key of the root object not to walk (the position head skips `orders`).
 */
function describeInvalid(v: unknown, root: string, skip: string | null = null): string | null {
  return walk(v, root, new Map(), 1, skip);
}

function invalid(e: unknown, v: unknown, name: string, skip: string | null): unknown {
  if (e !== kInvalid) return e;
  const msg = describeInvalid(v, name, skip) ?? `${name} is not a JSON value`;
  return new SabStateError(ErrorCode.INVALID_VALUE, msg);
}

export function encodeValue(v: unknown, name = 'value'): Uint8Array {
  beginEncode();
  try {
    writeValue(v);
  } catch (e) {
    throw invalid(e, v, name, null);
  }
  return endEncode();
}

export function decodeValue(bytes: Uint8Array, at?: number, len?: number): unknown {
  return decodeRoot(bytes, at, len);
}

/**
 * The position without its orders: `orders` is written as null at its place in the key order
 * (a position without an `orders` key, or with orders undefined, has none in the head either).
 */
export function encodePositionHead(pos: Record<string, unknown>, name = 'position'): Uint8Array {
  if (typeof pos !== 'object' || pos === null || Array.isArray(pos)) {
    throw new SabStateError(ErrorCode.INVALID_VALUE, `${name} is not an object`);
  }
  beginEncode();
  try {
    writeObject(pos, true);
  } catch (e) {
    throw invalid(e, pos, name, 'orders');
  }
  return endEncode();
}

/** A head encoded by encodePositionHead; throws (plain Error) if the bytes hold no object. */
export function decodePositionHead(bytes: Uint8Array, at?: number, len?: number): Record<string, unknown> {
  const v = decodeRoot(bytes, at, len);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new Error('codec: corrupt input: a position head is not an object');
  }
  return v as Record<string, unknown>;
}

/** One order; like encodeValue (any JSON value is accepted, as an order's own checks are not ours). */
export function encodeOrder(order: unknown, name = 'order'): Uint8Array {
  return encodeValue(order, name);
}

/** An order encoded by encodeOrder (typed as an object; a non-object order comes back as it was). */
export function decodeOrder(bytes: Uint8Array): Record<string, unknown> {
  return decodeRoot(bytes) as Record<string, unknown>;
}
