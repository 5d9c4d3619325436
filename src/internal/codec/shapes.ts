/**
 * Codec learned shapes: the decoder's per-thread cache of object shapes met in SHAPE_DEF values,
 * with an object-literal builder compiled for the shapes met often.
 *
 * Objects that are not a static known shape (a later validator version's orders, elimination
 * rows, ...) are written as SHAPE_DEF (the key list, then the values) the first time a key list
 * appears in an encoded value and SHAPE_REF (its index, then the values) after that. Building
 * such an object key by key (`o[k] = v`, one map transition per key) costs about 10x an object
 * literal, so for a shape used kCompileAfterUses times the decoder compiles, once per thread,
 *     new Function('r', 'return { "k0": r(), "k1": r(), ... }')
 * (`r` = readValue; object literal values are evaluated left to right, so the values are read
 * in order). Keys enter the source only as JSON string literals (`["__proto__"]` is written as
 * a computed key, which defines an own property instead of setting the prototype), so no input
 * can inject code. Where code generation is disallowed (--disallow-code-generation-from-strings)
 * the decoder keeps building key by key.
 *
 * The cache is direct-mapped by a hash (FNV-1a of the length and the bytes at both ends) of the
 * key list's encoded bytes, whose length the SHAPE_DEF gives: a SHAPE_DEF met again is
 * recognised by hashing and comparing its key bytes, without decoding the keys.
 * Entries and compiled builders are bounded (kCacheSlots, kMaxCachedKeyBytes, kMaxCompiledKeys),
 * so hostile input can only cost work proportional to its size.
 */

export type Builder = (read: () => unknown) => Record<string, unknown>;

export interface ShapeEntry {
  /** The key list's encoded bytes (a copy). */
  readonly bytes: Uint8Array;
  readonly keys: readonly string[];
  build: Builder | null;
  uses: number;
}

const kCacheSlots = 1024;
const kSlotMask = kCacheSlots - 1;
/** A shape is compiled when it has been decoded this many times on this thread. */
const kCompileAfterUses = 3;
/** Larger shapes are always built key by key. */
const kMaxCompiledKeys = 256;
/** Key lists longer than this (in bytes) are not cached, so not compiled either. */
const kMaxCachedKeyBytes = 4096;
const kFnvOffset = 0x811c9dc5;
const kFnvPrime = 0x01000193;

const slots: (ShapeEntry | undefined)[] = new Array<ShapeEntry | undefined>(kCacheSlots).fill(undefined);
let codegen = true;

/** The slot of a key list: its length and up to kHashedBytes bytes at each end (compared anyway). */
const kHashedBytes = 8;
function hashBytes(b: Uint8Array, start: number, end: number): number {
  let h = Math.imul(kFnvOffset ^ (end - start), kFnvPrime);
  const head = Math.min(end, start + kHashedBytes);
  for (let i = start; i < head; i++) h = Math.imul(h ^ b[i]!, kFnvPrime);
  for (let i = Math.max(head, end - kHashedBytes); i < end; i++) h = Math.imul(h ^ b[i]!, kFnvPrime);
  return (h ^ (h >>> 16)) & kSlotMask;
}

/** The cached shape whose key bytes are b[start, end), or undefined. */
export function findShape(b: Uint8Array, start: number, end: number): ShapeEntry | undefined {
  const e = slots[hashBytes(b, start, end)];
  if (e === undefined) return undefined;
  const k = e.bytes;
  const n = end - start;
  if (k.length !== n) return undefined;
  for (let i = 0; i < n; i++) if (k[i] !== b[start + i]) return undefined;
  return e;
}

/** Caches a shape (evicting the one in its slot); one with very long keys is not cached. */
export function addShape(b: Uint8Array, start: number, end: number, keys: readonly string[]): ShapeEntry {
  const cached = end - start <= kMaxCachedKeyBytes;
  const e: ShapeEntry = { bytes: cached ? b.slice(start, end) : new Uint8Array(0), keys, build: null, uses: 0 };
  if (cached) slots[hashBytes(b, start, end)] = e;
  return e;
}

function compile(keys: readonly string[]): Builder | null {
  if (!codegen || keys.length > kMaxCompiledKeys) return null;
  const fields = keys.map((k) => `${k === '__proto__' ? '["__proto__"]' : JSON.stringify(k)}: r()`);
  try {
    return new Function('r', `'use strict'; return { ${fields.join(', ')} };`) as Builder;
  } catch {
    codegen = false; // code generation from strings is disallowed here
    return null;
  }
}

/** Counts one decode of the shape; compiles its builder when it has become common. */
export function useShape(e: ShapeEntry): Builder | null {
  if (e.build === null && ++e.uses >= kCompileAfterUses) e.build = compile(e.keys);
  return e.build;
}

// ---- encoder side ------------------------------------------------------------------------------
// The encoder recognises a learned shape by a for-in walk of the object against the most recent
// key list that starts with its first key (no Object.keys allocation; exact only while
// Object.prototype has no enumerable property, which the encoder checks once per value; other
// lists with that first key are found by content from Object.keys, in shapeFor), then
// writes the SHAPE_DEF's keys as cached bytes and the values with a compiled writer,
//     new Function('o', 'w', 'const v0 = o["k0"], ...; if (v0 === undefined || ...) return false;
//                              w(v0); ...; return true;')
// whose named loads stay monomorphic, where a generic loop's `o[k]` is a megamorphic lookup.

export type Writer = (o: Record<string, unknown>, write: (v: unknown) => void) => boolean;

export interface EncoderShape {
  readonly keys: string[];
  /** The keys as written in a SHAPE_DEF (set by the encoder at the first one). */
  keyBytes: Uint8Array | null;
  write: Writer | null;
  uses: number;
  /** What it is charged against kMaxEncoderUnits (0: not remembered). */
  units: number;
}

/** Key lists remembered per first key, at most; and in all (the map is cleared past it). */
const kShapesPerFirstKey = 4;
const kMaxEncoderShapes = 4096;
/**
 * Bounded in bytes too: a remembered key list is charged its keys' UTF-16 units plus kKeyUnits per
 * key (the list's slot, the string's header, the key bytes kept in keyBytes); the map is cleared
 * past kMaxEncoderUnits in all (1 Mi units: 2 MiB of key text, about 4 MiB with the rest), and a
 * list charged more than kMaxShapeUnits (16 Ki units) is used for its one object and not
 * remembered: an object with a huge key list (a dictionary, not a record) is written as a
 * SHAPE_DEF each time, decoded the same.
 */
const kKeyUnits = 16;
const kMaxShapeUnits = 16384;
const kMaxEncoderUnits = 1 << 20;
const byFirstKey = new Map<string, EncoderShape[]>();
let encoderShapes = 0;
let encoderUnits = 0;

/** The encoder's remembered key lists and what they are charged (tests, diagnostics). */
export function encoderShapesHeld(): { shapes: number; units: number } {
  return { shapes: encoderShapes, units: encoderUnits };
}

const kNoKeys: readonly string[] = [];

/**
 * The most recently used learned shape with the object's first key, if the object's
 * enumerable keys are exactly its keys, in order (else undefined: see shapeFor).
 */
export function matchShape(o: Record<string, unknown>): EncoderShape | undefined {
  let e: EncoderShape | undefined;
  let keys: readonly string[] = kNoKeys;
  let i = 0;
  for (const k in o) {
    if (i === 0) {
      e = byFirstKey.get(k)?.[0];
      if (e === undefined) return undefined;
      keys = e.keys;
    } else if (keys[i] !== k) {
      return undefined;
    }
    i++;
  }
  return i === keys.length ? e : undefined;
}

/** The learned shape of this key list (Object.keys of an object, at least one key), made MRU. */
export function shapeFor(keys: string[]): EncoderShape {
  const n = keys.length;
  const list = byFirstKey.get(keys[0]!);
  if (list !== undefined) {
    next: for (let c = 0; c < list.length; c++) {
      const e = list[c]!;
      if (e.keys.length !== n) continue;
      for (let i = 1; i < n; i++) if (e.keys[i] !== keys[i]) continue next;
      if (c > 0) list.unshift(list.splice(c, 1)[0]!);
      return e;
    }
  }
  let units = 0;
  for (let i = 0; i < n && units <= kMaxShapeUnits; i++) units += kKeyUnits + keys[i]!.length;
  if (units > kMaxShapeUnits) return { keys, keyBytes: null, write: null, uses: 0, units: 0 };
  if (encoderShapes >= kMaxEncoderShapes || encoderUnits + units > kMaxEncoderUnits) {
    byFirstKey.clear();
    encoderShapes = 0;
    encoderUnits = 0;
  }
  const e: EncoderShape = { keys, keyBytes: null, write: null, uses: 0, units };
  const l = byFirstKey.get(keys[0]!);
  if (l === undefined) byFirstKey.set(keys[0]!, [e]);
  else if (l.unshift(e) > kShapesPerFirstKey) {
    const dropped = l.pop()!;
    encoderShapes--;
    encoderUnits -= dropped.units;
  }
  encoderShapes++;
  encoderUnits += units;
  return e;
}

function compileWriter(keys: readonly string[]): Writer | null {
  if (!codegen || keys.length > kMaxCompiledKeys) return null;
  const loads = keys.map((k, i) => `v${i} = o[${JSON.stringify(k)}]`).join(', ');
  const test = keys.map((_, i) => `v${i} === undefined`).join(' || ');
  const writes = keys.map((_, i) => `w(v${i});`).join(' ');
  try {
    return new Function('o', 'w', `'use strict'; const ${loads}; if (${test}) return false; ${writes} return true;`) as Writer;
  } catch {
    codegen = false;
    return null;
  }
}

/** Counts one encode of the shape; compiles its writer when it has become common. */
export function useWriter(e: EncoderShape): Writer | null {
  if (e.write === null && ++e.uses >= kCompileAfterUses) e.write = compileWriter(e.keys);
  return e.write;
}
