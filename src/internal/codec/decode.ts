/**
 * Codec decoder: the bytes of codec.ts (format table there) back to JSON values.
 *
 * State is module-level (one decode at a time per thread; the decoder calls no user code). The
 * views over the input's ArrayBuffer are cached per buffer, so decoding records copied into one
 * reused buffer allocates no views. Known shapes are rebuilt with object literals (one hidden
 * class per shape, no per-key stores), learned shapes with the compiled builders of
 * shapes.ts once they are common; other objects key by key, "__proto__" with
 * Object.defineProperty so that it stays an own data property and never sets a prototype.
 * (The "decoder calls no user code" holds for builders too: they are generated from keys only.)
 *
 * Safety on garbage: every read is bounds-checked against the end of the input, every count and
 * length is bounded by the bytes left (an item takes at least one byte), nesting by kMaxDepth.
 * So the work and the memory of one decode are linear in the input size and corrupt input ends
 * in a plain `Error` whose message starts with "codec: corrupt input" (never a hang, never an
 * out-of-bounds read, never a SabStateError: the caller decides what corruption means).
 */
import * as format from './format.ts';
import { type ShapeEntry, addShape, findShape, useShape } from './shapes.ts';

// Module-level copies of the format constants: V8 folds a module's own consts into optimized
// code, but loads (and TDZ-checks) an imported binding at every use, which costs about 2 ns
// per tag test in the hot loops.
const {
  kDictInlineCount, kDictionary, kF64Bytes, kFormatVersion, kI32Bytes, kMaxDepth,
  kMaxVarintBytes, kTagArray, kTagDictBase, kTagDictExt, kTagF64, kTagFalse, kTagI32, kTagNull,
  kTagObject, kTagOrder, kTagPosition, kTagPriceSource, kTagShapeDef, kTagShapeRef,
  kTagShortAsciiBase, kTagSmallIntBase, kTagStrAscii, kTagStrUtf16, kTagStrUtf8, kTagTrue,
  kUtf16Bytes, kVarintMask, kVarintMore, kVarintPayloadBits,
} = format;

type Slice = (this: Uint8Array, start: number, end: number) => string;
const nodeBuffer = (globalThis as { Buffer?: { prototype: { latin1Slice?: Slice; utf8Slice?: Slice } } }).Buffer;
const latin1Slice: Slice | undefined = nodeBuffer?.prototype.latin1Slice;
const utf8Slice: Slice | undefined = nodeBuffer?.prototype.utf8Slice;
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const fcc = String.fromCharCode;
/** Strings up to this length are built with String.fromCharCode, longer ones by a native slice. */
const kShortString = 12;
/** Code units per String.fromCharCode call when building a long UTF-16 string. */
const kCharChunk = 4096;
const kVarintShiftBase = 2 ** kVarintPayloadBits;

let src: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
let view: DataView<ArrayBufferLike> = new DataView(src.buffer);
let cached: ArrayBufferLike = src.buffer;
const viewSrcs0 = src;
const viewViews0 = view;
/**
 * The views of the last kViewBuffers buffers decoded from (round robin): a thread decodes from a
 * few buffers in turn (the positions copy-out buffer, a queue's scratch, a map's heap), and one
 * cached buffer made a Uint8Array and a DataView at every switch (about 300 bytes per order on
 * the order path). Views are fixed-length, even over a growable SharedArrayBuffer (a
 * length-tracking view reads several times slower); one that is too short for the input (the
 * buffer grew) is made again. Holds these buffers alive until replaced.
 */
const kViewBuffers = 4;
const viewBufs: (ArrayBufferLike | null)[] = new Array<ArrayBufferLike | null>(kViewBuffers).fill(null);
const viewSrcs: Uint8Array<ArrayBufferLike>[] = new Array<Uint8Array<ArrayBufferLike>>(kViewBuffers).fill(src);
const viewViews: DataView<ArrayBufferLike>[] = new Array<DataView<ArrayBufferLike>>(kViewBuffers).fill(view);
let viewNext = 0;

/** Points src / view at `buf`, whose bytes up to `need` are decoded. */
function useBuffer(buf: ArrayBufferLike, need: number): void {
  if (buf === cached && need <= src.length) return;
  for (let i = 0; i < kViewBuffers; i++) {
    if (viewBufs[i] === buf && need <= viewSrcs[i]!.length) {
      cached = buf;
      src = viewSrcs[i]!;
      view = viewViews[i]!;
      return;
    }
  }
  const len = buf.byteLength;
  cached = buf;
  src = new Uint8Array(buf, 0, len);
  view = new DataView(buf, 0, len);
  let i = viewBufs.indexOf(buf);
  if (i < 0) {
    i = viewNext;
    viewNext = (viewNext + 1) % kViewBuffers;
  }
  viewBufs[i] = buf;
  viewSrcs[i] = src;
  viewViews[i] = view;
}
/**
 * Drops the cached views of `buf` (a private buffer its owner replaced: positions/record.ts's
 * copy-out buffer), so that the cache does not keep it alive.
 */
export function forgetBuffer(buf: ArrayBufferLike): void {
  for (let i = 0; i < kViewBuffers; i++) {
    if (viewBufs[i] === buf) {
      viewBufs[i] = null;
      viewSrcs[i] = viewSrcs0;
      viewViews[i] = viewViews0;
    }
  }
  if (cached === buf) {
    src = viewSrcs0;
    view = viewViews0;
    cached = viewSrcs0.buffer;
  }
}
let base = 0;
let p = 0;
let end = 0;
let depth = 0;

function corrupt(reason: string): never {
  throw new Error(`codec: corrupt input at byte ${p - base}: ${reason}`);
}

function readVarint(): number {
  let r = 0;
  let scale = 1;
  for (let i = 0; i < kMaxVarintBytes; i++) {
    if (p >= end) corrupt('truncated varint');
    const b = src[p++]!;
    r += (b & kVarintMask) * scale;
    if (b < kVarintMore) return r;
    scale *= kVarintShiftBase;
  }
  return corrupt('varint too long');
}

/** A count of items that take at least `minBytes` each: bounded by the bytes left. */
function readCount(minBytes: number): number {
  const n = readVarint();
  if (n * minBytes > end - p) corrupt(`count ${n} exceeds the input`);
  return n;
}

function readAscii(n: number): string {
  let q = p;
  if (q + n > end) corrupt('truncated string');
  p = q + n;
  const b = src;
  if (n > kShortString) {
    return latin1Slice !== undefined ? latin1Slice.call(b, q, q + n) : fcc.apply(null, Array.from(b.subarray(q, q + n)));
  }
  let s = '';
  for (; n >= 4; n -= 4, q += 4) s += fcc(b[q]!, b[q + 1]!, b[q + 2]!, b[q + 3]!);
  for (; n > 0; n--, q++) s += fcc(b[q]!);
  return s;
}

function readUtf8(): string {
  const n = readCount(1);
  const q = p;
  p += n;
  if (utf8Slice !== undefined) return utf8Slice.call(src, q, q + n);
  const part = src.subarray(q, q + n);
  return utf8Decoder.decode(part.buffer instanceof ArrayBuffer ? part : part.slice());
}

function readUtf16(): string {
  const n = readCount(kUtf16Bytes);
  let s = '';
  const units: number[] = [];
  for (let i = 0; i < n; i++) {
    units.push(src[p]! | (src[p + 1]! << 8));
    p += kUtf16Bytes;
    if (units.length === kCharChunk || i === n - 1) {
      s += fcc.apply(null, units);
      units.length = 0;
    }
  }
  return s;
}

function dict(i: number): string {
  const s = kDictionary[i];
  return s === undefined ? corrupt(`dictionary index ${i}`) : s;
}

export function readValue(): unknown {
  if (p >= end) corrupt('truncated value');
  const t = src[p++]!;
  if (t === kTagF64) {
    if (p + kF64Bytes > end) corrupt('truncated float64');
    const v = view.getFloat64(p, true);
    p += kF64Bytes;
    return v;
  }
  if (t >= kTagDictBase) return dict(t - kTagDictBase);
  if (t >= kTagShortAsciiBase) return readAscii(t - kTagShortAsciiBase);
  if (t >= kTagSmallIntBase) return t - kTagSmallIntBase;
  switch (t) {
    case kTagNull:
      return null;
    case kTagFalse:
      return false;
    case kTagTrue:
      return true;
    case kTagI32: {
      if (p + kI32Bytes > end) corrupt('truncated int32');
      const v = view.getInt32(p, true);
      p += kI32Bytes;
      return v;
    }
    case kTagStrAscii:
      return readAscii(readCount(1));
    case kTagStrUtf8:
      return readUtf8();
    case kTagStrUtf16:
      return readUtf16();
    case kTagDictExt:
      if (p >= end) corrupt('truncated dictionary index');
      return dict(kDictInlineCount + src[p++]!);
    case kTagArray:
      return readArray();
    case kTagObject:
      return readObject();
    case kTagShapeDef:
      return readShapeDef();
    case kTagShapeRef:
      return readShapeRef();
    case kTagPosition:
      return readPosition();
    case kTagOrder:
      return readOrder();
    case kTagPriceSource:
      return readPriceSource();
    default:
      return corrupt(`unknown tag 0x${t.toString(16)}`);
  }
}

function enter(): void {
  if (++depth > kMaxDepth) corrupt('nested too deep');
}

/**
 * An array of exactly its length: `[]` grown by push gets a backing store of 17 slots at its first
 * element (V8's growth rule), about 130 bytes more than a 1- or 2-element array needs, and decoded
 * orders keep theirs alive in the caches (issue 12). n is bounded by the bytes left (readCount).
 */
function readArray(): unknown[] {
  enter();
  const n = readCount(1);
  const a: unknown[] = new Array<unknown>(n);
  for (let i = 0; i < n; i++) a[i] = readValue();
  depth--;
  return a;
}

function readObject(): Record<string, unknown> {
  enter();
  const n = readCount(2);
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = readValue();
    if (typeof k !== 'string') corrupt('object key is not a string');
    const v = readValue();
    if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
    else o[k] = v;
  }
  depth--;
  return o;
}

// Learned shapes (shapes.ts): the entries of this value's SHAPE_DEFs, by index.
const shapes: ShapeEntry[] = [];
let shapeCount = 0;

function readShapeDef(): Record<string, unknown> {
  const n = readCount(2);
  const bytes = readCount(1);
  const start = p;
  const stop = p + bytes;
  let e = findShape(src, start, stop);
  if (e === undefined) {
    const keys: string[] = [];
    for (let i = 0; i < n; i++) {
      const k = readValue();
      if (typeof k !== 'string' || p > stop) corrupt('bad shape key');
      keys.push(k);
    }
    if (p !== stop) corrupt('shape keys do not fill their length');
    e = addShape(src, start, stop, keys);
  }
  p = stop;
  shapes[shapeCount++] = e;
  return readShaped(e);
}

function readShapeRef(): Record<string, unknown> {
  const id = readVarint();
  if (id >= shapeCount) corrupt(`shape ${id} is not defined`);
  return readShaped(shapes[id]!);
}

function readShaped(e: ShapeEntry): Record<string, unknown> {
  enter();
  const build = useShape(e);
  let o: Record<string, unknown>;
  if (build !== null) {
    o = build(readNum);
  } else {
    o = {};
    for (const k of e.keys) {
      const v = readValue();
      if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
      else o[k] = v;
    }
  }
  depth--;
  return o;
}

// Fast paths for the fields of known shapes: the tag that field usually has is tested inline
// (small enough for the optimizer to inline), anything else goes through readValue.
function readNum(): unknown {
  const q = p;
  if (src[q] === kTagF64 && q + 1 + kF64Bytes <= end) {
    p = q + 1 + kF64Bytes;
    return view.getFloat64(q + 1, true);
  }
  return readValue();
}

function readStr(): unknown {
  const t = src[p];
  if (t !== undefined && t >= kTagDictBase && p < end) {
    p++;
    return dict(t - kTagDictBase);
  }
  return readValue();
}

// Known shapes: values in the order of kPositionKeys / kOrderKeys / kPriceSourceKeys.
function readPriceSource(): Record<string, unknown> {
  enter();
  const source = readStr(), timespan_ms = readValue(), open = readNum(), close = readNum();
  const vwap = readNum(), high = readNum(), low = readNum(), start_ms = readNum();
  const websocket = readValue(), lag_ms = readValue(), volume = readValue();
  depth--;
  return { source, timespan_ms, open, close, vwap, high, low, start_ms, websocket, lag_ms, volume };
}

function readOrder(): Record<string, unknown> {
  enter();
  const order_type = readStr(), leverage = readNum(), price = readNum();
  const processed_ms = readNum(), order_uuid = readValue(), price_sources = readValue();
  depth--;
  return { order_type, leverage, price, processed_ms, order_uuid, price_sources };
}

function readPosition(): Record<string, unknown> {
  enter();
  // Number fields through readNum (its float64 path inline), as readOrder's: no boxed double per field.
  const miner_hotkey = readValue(), position_uuid = readValue(), open_ms = readNum();
  const trade_pair = readValue(), orders = readValue(), current_return = readNum();
  const close_ms = readNum(), return_at_close = readNum(), net_leverage = readNum();
  const average_entry_price = readNum(), initial_entry_price = readNum();
  const position_type = readValue(), is_closed_position = readValue();
  depth--;
  return {
    miner_hotkey, position_uuid, open_ms, trade_pair, orders, current_return, close_ms,
    return_at_close, net_leverage, average_entry_price, initial_entry_price, position_type,
    is_closed_position,
  };
}

/**
 * Decodes one whole encoded value: version byte, one value, nothing after it. The input is
 * `bytes`, or with `at` and `len` bytes[at, at + len) (no view made by the caller).
 */
export function decodeRoot(bytes: Uint8Array, at = 0, len = bytes.byteLength - at): unknown {
  if (!(at >= 0 && len >= 0 && at + len <= bytes.byteLength)) throw new RangeError(`codec: range ${at} + ${len} outside ${bytes.byteLength} bytes`);
  base = p = bytes.byteOffset + at;
  end = p + len;
  useBuffer(bytes.buffer, end);
  depth = 0;
  shapeCount = 0;
  if (p >= end) corrupt('empty input');
  if (src[p] !== kFormatVersion) corrupt(`unknown format version ${src[p]}`);
  p++;
  const v = readValue();
  if (p !== end) corrupt(`${end - p} bytes after the value`);
  return v;
}
