/**
 * Codec encoder: JSON values to the bytes of codec.ts (format table there).
 *
 * One growable scratch buffer per thread (module state): `endEncode` returns a view of it,
 * valid until the next encode on this thread. Objects whose own keys are exactly a known shape
 * (position, order, price source) are written as a shape tag and their values only, read with
 * named property loads; every other object with its own key list, as a learned shape
 * (SHAPE_DEF, then SHAPE_REF; shapes.ts) or an OBJECT, so unknown, missing or reordered
 * fields are kept as they are.
 *
 * The hot path keeps no path and no set of ancestors: any non-JSON value, and any nesting deeper
 * than kMaxDepth (which is how a cycle shows), throws `kInvalid`; the caller then walks the
 * value again slowly (codec.ts, describeInvalid) to name the offending path.
 */
import * as format from './format.ts';
import { type EncoderShape, matchShape, shapeFor, useWriter } from './shapes.ts';

// Module-level copies of the format constants: V8 folds a module's own consts into optimized
// code, but loads (and TDZ-checks) an imported binding at every use, which costs about 2 ns
// per tag test in the hot loops.
const {
  kAsciiLimit, kDictIndex, kDictInlineCount, kDictMaxLength, kF64Bytes, kFormatVersion,
  kI32Bytes, kMaxDepth, kMaxUtf8PerUnit, kMaxValueShapes, kMaxVarintBytes, kOrderKeys,
  kPositionKeys, kPriceSourceKeys, kShortAsciiLimit, kSmallIntLimit, kTagArray, kTagDictBase,
  kTagDictExt, kTagF64, kTagFalse, kTagI32, kTagNull, kTagObject, kTagOrder, kTagPosition,
  kTagPriceSource, kTagShapeDef, kTagShapeRef, kTagShortAsciiBase, kTagSmallIntBase,
  kTagStrAscii, kTagStrUtf16, kTagStrUtf8, kTagTrue, kUtf16Bytes, kVarintMask, kVarintMore,
  kVarintPayloadBits,
} = format;

/** Thrown by the hot path for any invalid value; never escapes codec.ts. */
export const kInvalid: unique symbol = Symbol('codec.invalid');

const kInitialScratch = 16 * 1024;
/** A scratch buffer grown past this is dropped at the next encode (old views stay valid). */
const kMaxRetainedScratch = 1024 * 1024;
/** Worst-case bytes of one tag plus a fixed-size payload. */
const kMaxScalarBytes = 1 + kF64Bytes;

const utf8 = new TextEncoder();
const ObjectProto = Object.prototype;

let out = new Uint8Array(kInitialScratch);
let view = new DataView(out.buffer);
let cap = out.length;
let pos = 0;
let depth = 0;

function grow(need: number): void {
  let n = cap * 2;
  while (n < pos + need) n *= 2;
  const next = new Uint8Array(n);
  next.set(out.subarray(0, pos));
  out = next;
  view = new DataView(next.buffer);
  cap = n;
  views.fill(undefined);
}

/**
 * endEncode's views of the scratch buffer by length (`out.subarray(0, n)`), each made once per
 * scratch buffer: a view is about 100 bytes, and the order step returns three (the order, the
 * head, the notice: issue 12). Dropped whenever `out` is replaced, so a view always shows the
 * current scratch; what it shows is valid until the next encode, as before (only the object is
 * shared between encodes of one length). Bounded: lengths up to kCachedViews, so at most
 * kCachedViews views (about 400 KiB) and this array (32 KiB) per thread.
 */
const kCachedViews = 4096;
const views: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(kCachedViews + 1).fill(undefined);

function writeVarint(n: number): void {
  while (n >= kVarintMore) {
    out[pos++] = (n & kVarintMask) | kVarintMore;
    n >>>= kVarintPayloadBits;
  }
  out[pos++] = n;
}

function varintSize(n: number): number {
  let s = 1;
  while (n >= kVarintMore) {
    n >>>= kVarintPayloadBits;
    s++;
  }
  return s;
}

function writeNumber(v: number): void {
  if (pos + kMaxScalarBytes > cap) grow(kMaxScalarBytes);
  if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
    if (v >= 0 && v < kSmallIntLimit) {
      out[pos++] = kTagSmallIntBase + v;
    } else {
      out[pos] = kTagI32;
      view.setInt32(pos + 1, v, true);
      pos += 1 + kI32Bytes;
    }
  } else if (v - v === 0) {
    out[pos] = kTagF64;
    view.setFloat64(pos + 1, v, true);
    pos += 1 + kF64Bytes;
  } else {
    throw kInvalid;
  }
}

function writeString(s: string): void {
  const n = s.length;
  if (n <= kDictMaxLength) {
    const d = kDictIndex.get(s);
    if (d !== undefined) {
      if (pos + 2 > cap) grow(2);
      if (d < kDictInlineCount) {
        out[pos++] = kTagDictBase + d;
      } else {
        out[pos++] = kTagDictExt;
        out[pos++] = d - kDictInlineCount;
      }
      return;
    }
  }
  const need = 1 + kMaxVarintBytes + n * kMaxUtf8PerUnit;
  if (pos + need > cap) grow(need);
  const start = pos;
  let p: number;
  if (n < kShortAsciiLimit) {
    out[pos] = kTagShortAsciiBase + n;
    p = pos + 1;
  } else {
    out[pos] = kTagStrAscii;
    pos++;
    writeVarint(n);
    p = pos;
  }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= kAsciiLimit) {
      pos = start;
      writeStringSlow(s);
      return;
    }
    out[p++] = c;
  }
  pos = p;
}

/** Non-ASCII: UTF-8 when well formed, raw UTF-16 units when it holds a lone surrogate. */
function writeStringSlow(s: string): void {
  const n = s.length;
  if (s.isWellFormed()) {
    out[pos++] = kTagStrUtf8;
    const w = varintSize(n * kMaxUtf8PerUnit);
    const at = pos + w;
    const written = utf8.encodeInto(s, out.subarray(at)).written;
    const actual = varintSize(written);
    writeVarint(written);
    if (actual < w) out.copyWithin(pos, at, at + written);
    pos += written;
    return;
  }
  out[pos++] = kTagStrUtf16;
  writeVarint(n);
  for (let i = 0; i < n; i++, pos += kUtf16Bytes) view.setUint16(pos, s.charCodeAt(i), true);
}

/**
 * A value that is usually a double (a price, a timestamp): the float64 path inline, small enough
 * for the optimizer to inline at every field; anything else (int32, -0, not a number) goes
 * through writeValue.
 */
function writeNum(v: unknown): void {
  if (typeof v === 'number' && (v | 0) !== v && v - v === 0 && pos + kMaxScalarBytes <= cap) {
    out[pos] = kTagF64;
    view.setFloat64(pos + 1, v, true);
    pos += kMaxScalarBytes;
  } else {
    writeValue(v);
  }
}

export function writeValue(v: unknown): void {
  switch (typeof v) {
    case 'string':
      writeString(v);
      return;
    case 'number':
      writeNumber(v);
      return;
    case 'boolean':
      if (pos + 1 > cap) grow(1);
      out[pos++] = v ? kTagTrue : kTagFalse;
      return;
    case 'object':
      if (v === null) {
        if (pos + 1 > cap) grow(1);
        out[pos++] = kTagNull;
      } else if (Array.isArray(v)) {
        writeArray(v);
      } else {
        writeObject(v as Record<string, unknown>, false);
      }
      return;
    default:
      throw kInvalid;
  }
}

function writeArray(a: readonly unknown[]): void {
  if (++depth > kMaxDepth) throw kInvalid;
  const n = a.length;
  if (pos + 1 + kMaxVarintBytes > cap) grow(1 + kMaxVarintBytes);
  out[pos++] = kTagArray;
  writeVarint(n);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    if (x === undefined) throw kInvalid;
    writeValue(x);
  }
  depth--;
}

const kNoShape = 0;
const kShapePriceSource = 1;
const kShapeOrder = 2;
const kShapePosition = 3;

/**
 * Which known shape the object's keys are, exactly and in order (kNoShape if none). A for-in
 * walk reads V8's enum cache without allocating (Object.keys copies it); it also yields
 * enumerable inherited keys, which make the comparison fail, so a match means the own
 * enumerable string keys are exactly the shape's.
 */
function shapeOf(o: Record<string, unknown>): number {
  let known: readonly string[] = kPriceSourceKeys;
  let shape = kNoShape;
  let i = 0;
  for (const k in o) {
    if (i === 0) {
      if (k === 'source') shape = kShapePriceSource;
      else if (k === 'order_type') (shape = kShapeOrder), (known = kOrderKeys);
      else if (k === 'miner_hotkey') (shape = kShapePosition), (known = kPositionKeys);
      else return kNoShape;
    } else if (k !== known[i]) {
      return kNoShape;
    }
    i++;
  }
  return i === known.length ? shape : kNoShape;
}

/** `ordersAsNull`: the position head, whose `orders` value is written as null. */
export function writeObject(o: Record<string, unknown>, ordersAsNull: boolean): void {
  if (++depth > kMaxDepth) throw kInvalid;
  const proto = Object.getPrototypeOf(o);
  if (proto !== ObjectProto && proto !== null) throw kInvalid;
  let learned: EncoderShape | undefined;
  if (protoClean) {
    const shape = shapeOf(o);
    if (shape === kShapePriceSource ? writePriceSource(o) : shape === kShapeOrder ? writeOrder(o) : shape === kShapePosition && writePosition(o, ordersAsNull)) {
      depth--;
      return;
    }
    learned = matchShape(o);
  }
  if (learned !== undefined) {
    writeShaped(o, learned, ordersAsNull);
  } else {
    const keys = Object.keys(o);
    if (keys.length === 0) writeEntries(o, keys, ordersAsNull);
    else writeShaped(o, shapeFor(keys), ordersAsNull);
  }
  depth--;
}

// Learned shapes of this value: the key lists of the SHAPE_DEFs written so far (the arrays of
// shapes.ts's entries, so they compare by identity).
const shapes: string[][] = [];
let shapeCount = 0;
/** No enumerable property on Object.prototype (checked per value): for-in shape tests are exact. */
let protoClean = true;

function writeValues(o: Record<string, unknown>, keys: string[], ordersAsNull: boolean): boolean {
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = o[k];
    if (v === undefined) return false;
    writeValue(ordersAsNull && k === 'orders' ? null : v);
  }
  return true;
}

/**
 * An object of a learned shape: SHAPE_REF when its key list was met before in this value, else
 * SHAPE_DEF; an OBJECT when it has an undefined value (dropped, so the key list is not what is
 * written) or when the value already holds kMaxValueShapes shapes.
 */
function writeShaped(o: Record<string, unknown>, e: EncoderShape, ordersAsNull: boolean): void {
  const keys = e.keys;
  const id = shapeCount === 0 ? -1 : shapes.lastIndexOf(keys, shapeCount - 1);
  if (id < 0 && shapeCount >= kMaxValueShapes) return writeEntries(o, keys, ordersAsNull);
  const start = pos;
  if (pos + 1 + kMaxVarintBytes > cap) grow(1 + kMaxVarintBytes);
  if (id >= 0) {
    out[pos++] = kTagShapeRef;
    writeVarint(id);
  } else {
    let kb = e.keyBytes;
    if (kb === null) {
      for (let i = 0; i < keys.length; i++) writeString(keys[i]!);
      kb = e.keyBytes = out.slice(start, pos);
      pos = start;
    }
    if (pos + 1 + 2 * kMaxVarintBytes + kb.length > cap) grow(1 + 2 * kMaxVarintBytes + kb.length);
    out[pos++] = kTagShapeDef;
    writeVarint(keys.length);
    writeVarint(kb.length);
    for (let i = 0; i < kb.length; i++) out[pos + i] = kb[i]!;
    pos += kb.length;
    shapes[shapeCount++] = keys;
  }
  const shapesBefore = id >= 0 ? shapeCount : shapeCount - 1;
  const w = ordersAsNull ? null : useWriter(e);
  if (w !== null ? w(o, writeNum) : writeValues(o, keys, ordersAsNull)) return;
  pos = start; // an undefined value: rewritten as an OBJECT without it
  shapeCount = shapesBefore;
  writeEntries(o, keys, ordersAsNull);
}

/** An OBJECT: count, then key and value pairs; undefined values are dropped, as by JSON. */
function writeEntries(o: Record<string, unknown>, keys: string[], ordersAsNull: boolean): void {
  let count = 0;
  for (let i = 0; i < keys.length; i++) if (o[keys[i]!] !== undefined) count++;
  if (pos + 1 + kMaxVarintBytes > cap) grow(1 + kMaxVarintBytes);
  out[pos++] = kTagObject;
  writeVarint(count);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = o[k];
    if (v === undefined) continue;
    writeString(k);
    writeValue(ordersAsNull && k === 'orders' ? null : v);
  }
}

// Known shapes: all values loaded first; any undefined one sends the object to the learned path.
// A number field's float64 path is written out at each field (writeNum's body, not a call): a
// double loaded from an object passed to a call that is not inlined is boxed into a fresh
// HeapNumber first, and these functions make too many calls for the optimizer to inline them all
// (issue 12: 16 bytes per double field, about 280 bytes of every order's encode).
function writePriceSource(o: Record<string, unknown>): boolean {
  const a = o.source, b = o.timespan_ms, c = o.open, d = o.close, e = o.vwap, f = o.high;
  const g = o.low, h = o.start_ms, i = o.websocket, j = o.lag_ms, k = o.volume;
  if (a === undefined || b === undefined || c === undefined || d === undefined || e === undefined) return false;
  if (f === undefined || g === undefined || h === undefined || i === undefined || j === undefined || k === undefined) return false;
  if (pos + 1 > cap) grow(1);
  out[pos++] = kTagPriceSource;
  writeValue(a);
  if (typeof b === 'number' && (b | 0) !== b && b - b === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, b, true); pos += kMaxScalarBytes; } else writeValue(b);
  if (typeof c === 'number' && (c | 0) !== c && c - c === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, c, true); pos += kMaxScalarBytes; } else writeValue(c);
  if (typeof d === 'number' && (d | 0) !== d && d - d === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, d, true); pos += kMaxScalarBytes; } else writeValue(d);
  if (typeof e === 'number' && (e | 0) !== e && e - e === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, e, true); pos += kMaxScalarBytes; } else writeValue(e);
  if (typeof f === 'number' && (f | 0) !== f && f - f === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, f, true); pos += kMaxScalarBytes; } else writeValue(f);
  if (typeof g === 'number' && (g | 0) !== g && g - g === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, g, true); pos += kMaxScalarBytes; } else writeValue(g);
  if (typeof h === 'number' && (h | 0) !== h && h - h === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, h, true); pos += kMaxScalarBytes; } else writeValue(h);
  writeValue(i);
  if (typeof j === 'number' && (j | 0) !== j && j - j === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, j, true); pos += kMaxScalarBytes; } else writeValue(j);
  if (typeof k === 'number' && (k | 0) !== k && k - k === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, k, true); pos += kMaxScalarBytes; } else writeValue(k);
  return true;
}

function writeOrder(o: Record<string, unknown>): boolean {
  const a = o.order_type, b = o.leverage, c = o.price, d = o.processed_ms, e = o.order_uuid;
  const f = o.price_sources;
  if (a === undefined || b === undefined || c === undefined || d === undefined || e === undefined || f === undefined) return false;
  if (pos + 1 > cap) grow(1);
  out[pos++] = kTagOrder;
  writeValue(a);
  if (typeof b === 'number' && (b | 0) !== b && b - b === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, b, true); pos += kMaxScalarBytes; } else writeValue(b);
  if (typeof c === 'number' && (c | 0) !== c && c - c === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, c, true); pos += kMaxScalarBytes; } else writeValue(c);
  if (typeof d === 'number' && (d | 0) !== d && d - d === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, d, true); pos += kMaxScalarBytes; } else writeValue(d);
  writeValue(e); writeValue(f);
  return true;
}

function writePosition(o: Record<string, unknown>, ordersAsNull: boolean): boolean {
  const a = o.miner_hotkey, b = o.position_uuid, c = o.open_ms, d = o.trade_pair, e = o.orders;
  const f = o.current_return, g = o.close_ms, h = o.return_at_close, i = o.net_leverage;
  const j = o.average_entry_price, k = o.initial_entry_price, l = o.position_type;
  const m = o.is_closed_position;
  if (a === undefined || b === undefined || c === undefined || d === undefined || e === undefined) return false;
  if (f === undefined || g === undefined || h === undefined || i === undefined || j === undefined) return false;
  if (k === undefined || l === undefined || m === undefined) return false;
  if (pos + 1 > cap) grow(1);
  out[pos++] = kTagPosition;
  writeValue(a); writeValue(b);
  if (typeof c === 'number' && (c | 0) !== c && c - c === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, c, true); pos += kMaxScalarBytes; } else writeValue(c);
  writeValue(d);
  writeValue(ordersAsNull ? null : e);
  if (typeof f === 'number' && (f | 0) !== f && f - f === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, f, true); pos += kMaxScalarBytes; } else writeValue(f);
  if (typeof g === 'number' && (g | 0) !== g && g - g === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, g, true); pos += kMaxScalarBytes; } else writeValue(g);
  if (typeof h === 'number' && (h | 0) !== h && h - h === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, h, true); pos += kMaxScalarBytes; } else writeValue(h);
  if (typeof i === 'number' && (i | 0) !== i && i - i === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, i, true); pos += kMaxScalarBytes; } else writeValue(i);
  if (typeof j === 'number' && (j | 0) !== j && j - j === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, j, true); pos += kMaxScalarBytes; } else writeValue(j);
  if (typeof k === 'number' && (k | 0) !== k && k - k === 0 && pos + kMaxScalarBytes <= cap) { out[pos] = kTagF64; view.setFloat64(pos + 1, k, true); pos += kMaxScalarBytes; } else writeValue(k);
  writeValue(l); writeValue(m);
  return true;
}

/** Starts an encode: the version byte at offset 0 of a (possibly fresh) scratch buffer. */
export function beginEncode(): void {
  if (cap > kMaxRetainedScratch) {
    out = new Uint8Array(kInitialScratch);
    view = new DataView(out.buffer);
    cap = out.length;
    views.fill(undefined);
  }
  pos = 0;
  depth = 0;
  shapeCount = 0;
  protoClean = true;
  for (const _ in ObjectProto) protoClean = false;
  out[pos++] = kFormatVersion;
}

/** The bytes written since beginEncode: a view of the scratch buffer (one per length, see `views`). */
export function endEncode(): Uint8Array {
  if (pos > kCachedViews) return out.subarray(0, pos);
  let v = views[pos];
  if (v === undefined) views[pos] = v = out.subarray(0, pos);
  return v;
}
