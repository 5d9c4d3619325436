/**
 * How a position is stored: one record (its encoded head and a list of chunk refs) plus one
 * immutable chunk per order, so an order costs the head and the new order, not the history.
 *
 * Record value (in the records table, key (miner_hotkey, position_uuid)), 8-aligned:
 *
 * | bytes                | name         | what |
 * | -------------------- | ------------ | ---- |
 * | 0                    | kPosFlags    | Int32: bit 0 kOpenFlag (is_closed_position === false) |
 * | 4                    | kPosHeadLen  | Int32: bytes of the encoded head |
 * | 8                    | kPosOrders   | Int32: n, the number of orders |
 * | 12                   | kPosTpLen    | Int32: UTF-16 units of the trade pair id |
 * | 16 .. 16 + 8n        | refs         | n x (Int32 chunk offset, Int32 chunk stamp), in order |
 * | then                 | trade pair   | the id's UTF-16 units |
 * | then                 | head         | encodePositionHead bytes (the `orders` key's place kept) |
 *
 * Chunk (a bare heap block): payload Int32 kChunkLen, then the encodeOrder bytes. A chunk is
 * written once by the saving thread, before the record that refers to it is published (the
 * slot CAS publishes both), and freed (retired) only by a later save or delete of the same
 * position, which holds the position's (hotkey, trade pair) lock, after the record version
 * that no longer refers to it is published. Readers without the lock copy refs and chunk bytes
 * inside the record's read window: the slot word validates all of it (sync/versioned-word.ts), and every
 * length, offset and stamp is bounds-checked first (notWhole() on garbage: the table retries).
 *
 * The values of the open index (key (hotkey, trade pair) -> uuid) and of the hotkey index's
 * entries (positions/hotkey-index.ts) are the uuid's UTF-16 units.
 */
import { ErrorCode, MAX_KEY_LENGTH, SabStateError, checkKey, describe } from '../../errors.ts';
import type { SharedHeap } from '../../internal/store/heap.ts';
import { unitsToString, writeUnits } from '../../internal/store/record-block.ts';
import { notWhole } from '../../internal/store/version.ts';
import { forgetBuffer } from '../../internal/codec/decode.ts';
import type { OrderCache, RecordMemo } from './cache.ts';

const kPosFlags = 0;
const kPosHeadLen = 1;
const kPosOrders = 2;
const kPosTpLen = 3;
export const kPosRefsByte = 16;
export const kOpenFlag = 1;
const kChunkLen = 0;
export const kChunkHeaderBytes = 4;
const kMaxKeyUnits = MAX_KEY_LENGTH;

/** What a reader copies out of a record. */
export const ReadMode = {
  /** flags, trade pair, refs */
  META: 0,
  /** and the head bytes and orders (cached values or chunk bytes) */
  FULL: 1,
  /** FULL if open, else META */
  FULL_IF_OPEN: 2,
  /** FULL if closed, else META */
  FULL_IF_CLOSED: 3,
} as const;
export type ReadModeValue = (typeof ReadMode)[keyof typeof ReadMode];

export interface RawRecord {
  open: boolean;
  tp: string;
  /** This version: the record block and its stamp. */
  ref: number;
  stamp: number;
  /** [offset0, stamp0, offset1, stamp1, ...] */
  refs: number[];
  /** Copied head bytes (null in META mode), valid until this thread's next readRecordValue. */
  head: Uint8Array | null;
  /** Per order: the cached decoded order, or the copied chunk bytes to decode (null in META). */
  parts: unknown[] | null;
  /** The whole order list from the RecordMemo (then parts is null); do not modify. */
  memo: readonly unknown[] | null;
}

export interface ValidHead {
  hotkey: string;
  uuid: string;
  tp: string;
  open: boolean;
}
export interface ValidPosition extends ValidHead {
  orders: unknown[];
}

function invalid(msg: string): never {
  throw new SabStateError(ErrorCode.INVALID_VALUE, msg);
}

/** Checks the fields the engine indexes on; the rest is checked by the codec on encode. */
export function validatePosition(p: unknown): ValidPosition {
  const v = validateHead(p, 'position') as ValidPosition;
  const orders = (p as Record<string, unknown>).orders;
  if (!Array.isArray(orders)) invalid(`position.orders must be an array, got ${describe(orders)}`);
  v.orders = orders;
  return v;
}

/**
 * The same checks for a head without orders (appendOrder): `orders` must be absent or null (as
 * getOpenHead returns it), so that a whole position given by mistake is refused, not truncated.
 */
export function validateHead(p: unknown, name = 'head'): ValidHead {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) invalid(`${name} must be an object, got ${describe(p)}`);
  const o = p as Record<string, unknown>;
  checkKey(o.miner_hotkey, `${name}.miner_hotkey`);
  checkKey(o.position_uuid, `${name}.position_uuid`);
  const t = o.trade_pair;
  if (typeof t !== 'string' && !Array.isArray(t)) {
    invalid(`${name}.trade_pair must be a trade pair id or the legacy array [id, ...], got ${describe(t)}`);
  }
  const tp: unknown = typeof t === 'string' ? t : t[0];
  checkKey(tp, `${name}.trade_pair id`);
  if (name !== 'position' && o.orders !== undefined && o.orders !== null) {
    invalid(`${name}.orders must be null or absent (appendOrder adds one order; save writes whole positions), got ${describe(o.orders)}`);
  }
  if (typeof o.is_closed_position !== 'boolean') {
    invalid(`${name}.is_closed_position must be a boolean, got ${describe(o.is_closed_position)}`);
  }
  return { hotkey: o.miner_hotkey, uuid: o.position_uuid, tp, open: o.is_closed_position === false };
}

/** Bytes of a record value. */
export function recordValueBytes(orders: number, tpLen: number, headLen: number): number {
  return kPosRefsByte + 8 * orders + 2 * tpLen + headLen;
}

/** Writes a record value at byte `at` of the heap (a block this thread owns). */
export function writeRecordValue(heap: SharedHeap, at: number, open: boolean, tp: string, refs: number[], head: Uint8Array): void {
  const q = at >> 2;
  const n = refs.length >> 1;
  heap.writeInt32(q + kPosFlags, open ? kOpenFlag : 0);
  heap.writeInt32(q + kPosHeadLen, head.length);
  heap.writeInt32(q + kPosOrders, n);
  heap.writeInt32(q + kPosTpLen, tp.length);
  const r = q + (kPosRefsByte >> 2);
  for (let k = 0; k < refs.length; k++) heap.writeInt32(r + k, refs[k]!);
  writeUnits(heap, at + kPosRefsByte + 8 * n, tp);
  heap.writeBytes(at + kPosRefsByte + 8 * n + 2 * tp.length, head);
}

/** Where a record is and what appendOrder needs of it (read under the lock: the block stays). */
export interface RecordLoc {
  /** Byte offset of the value in the heap, and its length. */
  at: number;
  len: number;
  open: boolean;
  tp: string;
  /** Number of orders. */
  n: number;
  headLen: number;
  /** Not copied (null): an append keeps every chunk. */
  refs: null;
}

/** The fields locate() reads. */
interface Located {
  open: boolean;
  tp: string;
  n: number;
  headLen: number;
}

/** Reads a record's flags, trade pair and counts into `out` in a read window, its lengths checked (notWhole). */
function locate(heap: SharedHeap, at: number, len: number, out: Located): void {
  const i32 = heap.i32;
  const q = at >> 2;
  const headLen = i32[q + kPosHeadLen]!;
  const n = i32[q + kPosOrders]!;
  const tpLen = i32[q + kPosTpLen]!;
  if (!(headLen >= 0 && n >= 0 && tpLen > 0 && tpLen <= kMaxKeyUnits) || recordValueBytes(n, tpLen, headLen) !== len) notWhole();
  out.open = (i32[q + kPosFlags]! & kOpenFlag) !== 0;
  out.tp = unitsToString(heap.u16, (at + kPosRefsByte + 8 * n) >> 1, tpLen);
  out.n = n;
  out.headLen = headLen;
}

/**
 * locateRecord in a read window, into `out` (the writer's scratch: one write per thread at a
 * time, positions/write.ts): the record's lengths checked, its refs not copied.
 */
export function locateRecord(heap: SharedHeap, at: number, len: number, out: RecordLoc): RecordLoc {
  out.at = at;
  out.len = len;
  locate(heap, at, len, out);
  return out;
}

/**
 * Writes the record value of an append at byte `at` (a block this thread owns): the refs of the
 * record `old` (located under the lock: it cannot change or be freed meanwhile) copied inside
 * the heap with one copyWithin, then the new chunk's (offset, stamp), the trade pair, the head.
 */
export function writeAppendedRecord(
  heap: SharedHeap, at: number, open: boolean, tp: string, old: RecordLoc | undefined, chunk: number, head: Uint8Array,
): void {
  const q = at >> 2;
  const n = old === undefined ? 0 : old.n;
  heap.writeInt32(q + kPosFlags, open ? kOpenFlag : 0);
  heap.writeInt32(q + kPosHeadLen, head.length);
  heap.writeInt32(q + kPosOrders, n + 1);
  heap.writeInt32(q + kPosTpLen, tp.length);
  const r = q + (kPosRefsByte >> 2);
  if (n > 0) heap.copyInt32(r, (old!.at + kPosRefsByte) >> 2, 2 * n);
  heap.writeInt32(r + 2 * n, chunk);
  heap.writeInt32(r + 2 * n + 1, heap.stampOf(chunk));
  writeUnits(heap, at + kPosRefsByte + 8 * (n + 1), tp);
  heap.writeBytes(at + kPosRefsByte + 8 * (n + 1) + 2 * tp.length, head);
}

/** Allocates and fills a chunk for encoded order bytes; returns its ref. */
export function writeChunk(heap: SharedHeap, bytes: Uint8Array): number {
  const ref = heap.alloc(kChunkHeaderBytes + bytes.length);
  const p = heap.payload(ref);
  heap.writeInt32((p >> 2) + kChunkLen, bytes.length);
  heap.writeBytes(p + kChunkHeaderBytes, bytes);
  return ref;
}

/**
 * This thread's copy-out buffer: readRecordValue copies a record's head and missing chunks here
 * (the decoder caches its views per input buffer, so decoding from one reused buffer allocates
 * no view and no ArrayBuffer). The copies are valid until the next readRecordValue of this
 * thread: decode them before reading again. It grows for a large record and goes back to its
 * initial size at the next read once past kMaxRetainedScratch (a per-thread cache bounded in
 * bytes: one large read does not keep megabytes per thread for good); the decoder forgets its
 * views of the dropped buffer (forgetBuffer), so nothing keeps it alive but older copies.
 */
const kInitialScratch = 1 << 16;
const kMaxRetainedScratch = 1 << 20;
let scratch = new Uint8Array(kInitialScratch);
let cursor = 0;

/** The copy-out buffer's bytes now (tests, diagnostics). */
export function copyOutBytes(): number {
  return scratch.length;
}

/** Buffers replaced while copying the last record (its copies in them are still in use until the next read). */
const replaced: ArrayBufferLike[] = [];

/**
 * Starts a record's copies at the buffer's start: the previous record's copies are dead now, so
 * the decoder forgets the buffers replaced meanwhile, and a buffer grown past
 * kMaxRetainedScratch is dropped too.
 */
function resetScratch(): void {
  cursor = 0;
  if (replaced.length > 0) {
    for (const b of replaced) forgetBuffer(b);
    replaced.length = 0;
  }
  if (scratch.length > kMaxRetainedScratch) {
    forgetBuffer(scratch.buffer);
    scratch = new Uint8Array(kInitialScratch);
  }
}

function copyOut(heap: SharedHeap, from: number, n: number): Uint8Array {
  const at = copyOutAt(heap, from, n);
  return scratch.subarray(at, at + n);
}

/** copyOut without the view: the offset of the copy in `scratch` (read `scratch` after the call). */
function copyOutAt(heap: SharedHeap, from: number, n: number): number {
  if (cursor + n > scratch.length) {
    // Earlier views keep the old buffer (already copied, still valid); new copies go to a new one.
    replaced.push(scratch.buffer);
    scratch = new Uint8Array(Math.max(n, scratch.length * 2));
    cursor = 0;
  }
  const at = cursor;
  scratch.set(heap.u8.subarray(from, from + n), at);
  cursor += n;
  return at;
}

/**
 * Copies a record out of the heap inside a read window (head and missing chunks into this
 * thread's scratch buffer, see copyOut). Calls notWhole() on anything that does not hold together
 * (a racing writer freed and reused the blocks).
 */
export function readRecordValue(
  heap: SharedHeap, at: number, len: number, ref: number, mode: ReadModeValue, cache: OrderCache, memo: RecordMemo,
): RawRecord {
  const i32 = heap.i32;
  const q = at >> 2;
  const flags = i32[q + kPosFlags]!;
  const headLen = i32[q + kPosHeadLen]!;
  const n = i32[q + kPosOrders]!;
  const tpLen = i32[q + kPosTpLen]!;
  if (!(headLen >= 0 && n >= 0 && tpLen > 0 && tpLen <= kMaxKeyUnits) || recordValueBytes(n, tpLen, headLen) !== len) notWhole();
  const refs = new Array<number>(2 * n);
  const r = q + (kPosRefsByte >> 2);
  for (let k = 0; k < 2 * n; k++) refs[k] = i32[r + k]!;
  const u = (at + kPosRefsByte + 8 * n) >> 1;
  const tp = unitsToString(heap.u16, u, tpLen);
  const open = (flags & kOpenFlag) !== 0;
  const stamp = heap.stampOf(ref);
  const full = mode === ReadMode.FULL || (mode === ReadMode.FULL_IF_OPEN && open) || (mode === ReadMode.FULL_IF_CLOSED && !open);
  if (!full) return { open, tp, ref, stamp, refs, head: null, parts: null, memo: null };
  const hs = at + kPosRefsByte + 8 * n + 2 * tpLen;
  resetScratch();
  const head = copyOut(heap, hs, headLen);
  const known = memo.get(ref, stamp);
  if (known !== undefined && known.length === n) return { open, tp, ref, stamp, refs, head, parts: null, memo: known };
  const parts = new Array<unknown>(n);
  for (let k = 0; k < n; k++) {
    const off = refs[2 * k]!;
    const stamp = refs[2 * k + 1]!;
    const hit = cache.get(off, stamp);
    if (hit !== undefined) {
      parts[k] = hit;
      continue;
    }
    const cap = heap.checkBlock(off);
    if (cap < kChunkHeaderBytes || heap.stampOf(off) !== stamp) notWhole();
    const p = heap.payload(off);
    const clen = heap.i32[(p >> 2) + kChunkLen]!; // heap.i32 again: checkBlock may have covered more
    if (clen < 0 || clen > cap - kChunkHeaderBytes) notWhole();
    parts[k] = copyOut(heap, p + kChunkHeaderBytes, clen);
  }
  return { open, tp, ref, stamp, refs, head, parts, memo: null };
}

/** What getOpenHead copies out of a record (head bytes in this thread's copy-out buffer). */
export interface HeadRecord {
  /** Byte offset of the record's value in the heap, and its length (LastHead, positions/cache.ts). */
  at: number;
  len: number;
  open: boolean;
  tp: string;
  /** Number of orders. */
  n: number;
  headLen: number;
  /** The copy-out buffer the head bytes are in, at headAt (no view made per read). */
  head: Uint8Array;
  headAt: number;
  /** With `last`: the last order's chunk, and its cached order or its copied bytes. */
  lastOff: number;
  lastStamp: number;
  last: unknown;
}

/**
 * Copies a record's head (and with `last` its last order, from the cache or as bytes) in a read
 * window into `out` (the caller's scratch: getOpenHead reuses one per thread and copies out what
 * it returns): never the other orders, so the cost does not depend on how many there are. notWhole()
 * on anything that does not hold together.
 */
export function readHeadValue(heap: SharedHeap, at: number, len: number, last: boolean, cache: OrderCache, out: HeadRecord): HeadRecord {
  out.at = at;
  out.len = len;
  locate(heap, at, len, out);
  const n = out.n;
  resetScratch();
  out.headAt = copyOutAt(heap, at + len - out.headLen, out.headLen);
  out.head = scratch;
  out.lastOff = 0;
  out.lastStamp = 0;
  out.last = undefined;
  if (!last || n === 0) return out;
  const r = ((at + kPosRefsByte) >> 2) + 2 * (n - 1);
  const off = heap.i32[r]!;
  const stamp = heap.i32[r + 1]!;
  out.lastOff = off;
  out.lastStamp = stamp;
  const hit = cache.get(off, stamp);
  if (hit !== undefined) {
    out.last = hit;
    return out;
  }
  const cap = heap.checkBlock(off);
  if (cap < kChunkHeaderBytes || heap.stampOf(off) !== stamp) notWhole();
  const p = heap.payload(off);
  const clen = heap.i32[(p >> 2) + kChunkLen]!;
  if (clen < 0 || clen > cap - kChunkHeaderBytes) notWhole();
  out.last = copyOut(heap, p + kChunkHeaderBytes, clen);
  return out;
}

/** A copy of a record's head bytes (in a read window, after readRecordValue checked the lengths). */
export function recordHead(heap: SharedHeap, at: number, len: number): Uint8Array {
  const headLen = heap.i32[(at >> 2) + kPosHeadLen]!;
  return heap.u8.slice(at + len - headLen, at + len);
}

/**
 * The encoded bytes of one chunk (in a read window too): a fresh copy, or with `scratch` a view
 * of this thread's copy-out buffer (valid until the next readRecordValue).
 */
export function chunkBytes(heap: SharedHeap, off: number, scratch = false): Uint8Array {
  const cap = heap.checkBlock(off);
  if (cap < kChunkHeaderBytes) notWhole();
  const p = heap.payload(off);
  const clen = heap.i32[(p >> 2) + kChunkLen]!;
  if (clen < 0 || clen > cap - kChunkHeaderBytes) notWhole();
  if (scratch) return copyOut(heap, p + kChunkHeaderBytes, clen);
  return heap.u8.slice(p + kChunkHeaderBytes, p + kChunkHeaderBytes + clen);
}

// ---- uuid values (open index, hotkey index) ------------------------------------------------------

export function uuidBytes(uuid: string): Uint8Array {
  const u = new Uint16Array(uuid.length);
  for (let k = 0; k < uuid.length; k++) u[k] = uuid.charCodeAt(k);
  return new Uint8Array(u.buffer);
}

/** Reads a uuid value in a read window. */
export function readUuid(heap: SharedHeap, at: number, len: number): string {
  if ((len & 1) !== 0 || len === 0 || len > 2 * kMaxKeyUnits) notWhole();
  return unitsToString(heap.u16, at >> 1, len >> 1);
}
