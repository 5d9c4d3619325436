/**
 * The record block of a SharedTable (table.ts): one heap block (heap.ts) that holds a key and
 * its value, so that the one slot-word CAS that publishes the block changes both at once.
 *
 * Algorithm: write once, publish, never write again. The allocating thread fills the block with
 * plain writes (allocRecord, then the value at valueOffset) before the CAS of table.ts
 * (publish / claim) that names it; a change of value is a new block, and the old one is retired
 * (heap.ts). Lock-free readers reach a block through a slot word they may already be too late
 * for: the block may be freed and reused under them. So every reader here checks what it reads
 * against heap.checkBlock before it trusts it, and either answers false (keyMatches), computes
 * from the caller's key instead of reading (valueAt), or throws RETRY (keyOf, valueLen); the
 * slot word, loaded again, then decides whether the answer counts (versioned-word.ts `validated`).
 *
 * Block payload (offsets from heap.payload(ref); Int32 slots, then UTF-16 units, then bytes):
 *
 * | bytes                  | name         | written by | how |
 * | ---------------------- | ------------ | ---------- | --- |
 * | 0 (Int32 0)            | kRecHash     | allocator  | plain; the key's seeded hash, as in the slot's kHint |
 * | 4 (Int32 1)            | kRecKeyA     | allocator  | plain; UTF-16 units of a (<= kMaxKeyUnits) |
 * | 8 (Int32 2)            | kRecKeyB     | allocator  | plain; units of b, or kNoSecond for a one-string key |
 * | 12 (Int32 3)           | kRecValueLen | allocator  | plain; bytes of the value |
 * | 16 (kRecKeyByte)       | key          | allocator  | plain; a's units then b's, padded to 8 bytes |
 * | then (8-aligned)       | value        | allocator  | plain; opaque to the table |
 *
 * Publication: all plain, all before the slot CAS that publishes the block's offset; the CAS
 * (sequentially consistent, like every Atomics operation) makes them visible to any thread
 * that loads the word after it. Nobody writes a published block: readers see it whole or, if it
 * was freed since, see garbage that the checks above turn into a retry.
 */
import { MAX_KEY_LENGTH } from '../../errors.ts';
import type { SharedHeap } from './heap.ts';
import { RETRY } from '../sync/versioned-word.ts';

const kRecHash = 0;
const kRecKeyA = 1;
const kRecKeyB = 2;
const kRecValueLen = 3;
const kRecKeyByte = 16;
/** Longest key part (UTF-16 units): the public key limit (errors.ts), bounds-checked by readers. */
const kMaxKeyUnits = MAX_KEY_LENGTH;
/** kRecKeyB of a single-string key. */
export const kNoSecond = -1;

/**
 * Copies or decodes a value in a read window: (heap bytes, value offset, value length, record
 * block ref: with heap.stampOf(ref) it names this version of the record).
 */
export type ValueReader<T> = (u8: Uint8Array, at: number, len: number, ref: number) => T;
/** Visits a whole record: its key (a, b), then the ValueReader arguments. */
export type RecordReader<T> = (a: string, b: string | undefined, u8: Uint8Array, at: number, len: number, ref: number) => T;

const align8 = (n: number): number => (n + 7) & ~7;

type Slice = (this: ArrayBufferView, start: number, end: number) => string;
/**
 * Node's Buffer.prototype.ucs2Slice (a native UTF-16LE decode of any ArrayBufferView's bytes, one
 * string allocated, no view, no argument list), used where the platform is little-endian (the
 * units are stored in its byte order); elsewhere, or without Buffer, the portable loop below.
 */
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const bufferProto = (globalThis as { Buffer?: { prototype: { ucs2Slice?: Slice; ucs2Write?: Write } } }).Buffer?.prototype;
const ucs2Slice: Slice | undefined = littleEndian ? bufferProto?.ucs2Slice : undefined;
type Write = (this: ArrayBufferView, s: string, byteOffset: number, byteLength: number) => number;
/**
 * Node's Buffer.prototype.ucs2Write, its counterpart: a native copy of a string's UTF-16 code
 * units, as they are (lone surrogates included), into any ArrayBufferView's bytes from a byte
 * offset; little-endian platforms only, as ucs2Slice.
 */
const ucs2Write: Write | undefined = littleEndian ? bufferProto?.ucs2Write : undefined;

/**
 * A string from UTF-16 units of a (shared) view: Node's native decode (3-4x faster than apply
 * for a 36-unit uuid, no view made), else a char loop when short, else apply (never spread).
 * Racing writes give a garbage string, never an out-of-bounds read (the view bounds the slice).
 */
export function unitsToString(u16: Uint16Array, start: number, n: number): string {
  if (ucs2Slice !== undefined) return ucs2Slice.call(u16, start << 1, (start + n) << 1);
  if (n > 8) return String.fromCharCode.apply(null, u16.subarray(start, start + n) as unknown as number[]);
  let r = '';
  for (let k = 0; k < n; k++) r += String.fromCharCode(u16[start + k]!);
  return r;
}

/**
 * Writes the UTF-16 code units of `s` at byte `at` (2-aligned) of a block this thread owns (alloc
 * covered it): Node's native ucs2Write where the platform is little-endian (about 0.2 vs 0.3 µs
 * for a hotkey and a uuid, 84 units), else a char loop. Reads back with unitsToString.
 */
export function writeUnits(heap: SharedHeap, at: number, s: string): void {
  if (ucs2Write !== undefined) {
    ucs2Write.call(heap.u8, s, at, s.length << 1);
    return;
  }
  const u16 = heap.u16;
  const u = at >> 1;
  for (let k = 0; k < s.length; k++) u16[u + k] = s.charCodeAt(k);
}

// ---- the owner: the thread that allocated the block, or whose CAS unpublished it -------------

/** Allocates a record block for (a, b) with room for valueLen bytes; returns its ref. */
/** Payload bytes of a record block of key (a, b) with a value of valueLen bytes (what allocRecord asks the heap for). */
export function recordPayloadBytes(a: string, b: string | undefined, valueLen: number): number {
  return kRecKeyByte + align8(2 * (a.length + (b === undefined ? 0 : b.length))) + valueLen;
}

export function allocRecord(heap: SharedHeap, a: string, b: string | undefined, h: number, valueLen: number): number {
  const lb = b === undefined ? 0 : b.length;
  const ref = heap.alloc(recordPayloadBytes(a, b, valueLen));
  const q = heap.payload(ref) >> 2;
  const i32 = heap.i32;
  i32[q + kRecHash] = h;
  i32[q + kRecKeyA] = a.length;
  i32[q + kRecKeyB] = b === undefined ? kNoSecond : lb;
  i32[q + kRecValueLen] = valueLen;
  const at = (q << 2) + kRecKeyByte;
  writeUnits(heap, at, a);
  if (lb > 0) writeUnits(heap, at + 2 * a.length, b!);
  return ref;
}

/** Byte offset (in heap.u8) of the value of a record block this thread owns. */
export function valueOffset(heap: SharedHeap, ref: number): number {
  const q = heap.payload(ref) >> 2;
  const lb = heap.i32[q + kRecKeyB]!;
  return (q << 2) + kRecKeyByte + align8(2 * (heap.i32[q + kRecKeyA]! + Math.max(lb, 0)));
}

/** A copy of the value bytes of a record block this thread owns (covered by heap.checkBlock). */
export function copyOwnedValue(heap: SharedHeap, ref: number): Uint8Array {
  const at = valueOffset(heap, ref);
  return heap.u8.slice(at, at + heap.i32[(heap.payload(ref) >> 2) + kRecValueLen]!);
}

// ---- readers in a read window: the block may be garbage ---------------------------------------

/** True if block `ref` holds key (a, b) with hash h; false on any mismatch or garbage. */
export function keyMatches(heap: SharedHeap, ref: number, a: string, b: string | undefined, h: number): boolean {
  const la = a.length;
  const lb = b === undefined ? 0 : b.length;
  if (heap.checkBlock(ref) < kRecKeyByte + 2 * (la + lb)) return false;
  const q = heap.payload(ref) >> 2;
  const { i32, u16 } = heap;
  if (i32[q + kRecHash] !== h || i32[q + kRecKeyA] !== la || i32[q + kRecKeyB] !== (b === undefined ? kNoSecond : lb)) return false;
  const u = (q << 1) + (kRecKeyByte >> 1);
  for (let k = 0; k < la; k++) if (u16[u + k] !== a.charCodeAt(k)) return false;
  for (let k = 0; k < lb; k++) if (u16[u + la + k] !== b!.charCodeAt(k)) return false;
  return true;
}

/** fn on the value of block `ref` whose key is (a, b) (RETRY if garbage). */
export function readValue<T>(heap: SharedHeap, ref: number, a: string, b: string | undefined, fn: ValueReader<T>): T {
  const at = valueAt(heap, ref, a, b);
  const len = valueLen(heap, ref, at);
  return fn(heap.u8, at, len, ref);
}

/** fn on the key and value of block `ref`, for scan (RETRY if garbage). */
export function readRecord<T>(heap: SharedHeap, ref: number, fn: RecordReader<T>): T {
  const [a, b] = keyOf(heap, ref);
  const at = valueAt(heap, ref, a, b);
  const len = valueLen(heap, ref, at);
  return fn(a, b, heap.u8, at, len, ref);
}

/** The key of a record block (RETRY if garbage). */
function keyOf(heap: SharedHeap, ref: number): [string, string | undefined] {
  const cap = heap.checkBlock(ref);
  if (cap < kRecKeyByte) throw RETRY;
  const q = heap.payload(ref) >> 2;
  const la = heap.i32[q + kRecKeyA]!;
  const lb = heap.i32[q + kRecKeyB]!;
  if (!(la >= 0 && la <= kMaxKeyUnits && lb >= kNoSecond && lb <= kMaxKeyUnits) || cap < kRecKeyByte + 2 * (la + Math.max(lb, 0))) throw RETRY;
  const u = (q << 1) + (kRecKeyByte >> 1);
  return [unitsToString(heap.u16, u, la), lb === kNoSecond ? undefined : unitsToString(heap.u16, u + la, lb)];
}

/** Value offset of block `ref` whose key is (a, b): computed, not read (garbage-proof). */
function valueAt(heap: SharedHeap, ref: number, a: string, b: string | undefined): number {
  return heap.payload(ref) + kRecKeyByte + align8(2 * (a.length + (b === undefined ? 0 : b.length)));
}

/** Value length, bounds-checked against the block (RETRY if garbage). */
function valueLen(heap: SharedHeap, ref: number, at: number): number {
  const cap = heap.checkBlock(ref);
  const len = heap.i32[(heap.payload(ref) >> 2) + kRecValueLen]!;
  if (cap < 0 || len < 0 || at + len > heap.payload(ref) + cap) throw RETRY;
  return len;
}
