/**
 * The shared table's region: its Int32 and 64-bit slot offsets, its size for a record count, its
 * region spec and its creation. Who writes each word, how, and what publishes it is the region
 * table in table.ts's header, with the protocol it belongs to; this file only places the words.
 */
import type { HashKey } from '../hash/hash.ts';
import { LINE_BYTES, LINE_INTS, RegionKind, type RegionSpec, createRegion } from '../region.ts';

export const kMutex = 1 * LINE_INTS;
export const kLive = 2 * LINE_INTS;
export const kUsed = kLive + 1;
export const kTombs = kLive + 2;
export const kInserts = 3 * LINE_INTS;
export const kUpdates = kInserts + 1;
export const kDeletes = kInserts + 2;
export const kReadRetries = kInserts + 3;
export const kPinnedReads = kInserts + 4;
export const kTrims = kInserts + 5;
const kFirstSlotByte = 4 * LINE_BYTES;
const kSlotBytes = 16;
const kHintByte = 8;
/** Word offsets that are not record blocks: never used (or trimmed), and deleted. */
export const kEmpty = 0;
export const kTomb = 1;

/** What a thread needs to attach to a table (structured-clonable). */
export interface TableHandle {
  readonly sab: SharedArrayBuffer;
  readonly slots: number;
  readonly maxRecords: number;
}

/** Index of slot's word in a BigUint64Array view of the region. */
export function wordIndex(slot: number): number {
  return (kFirstSlotByte + slot * kSlotBytes) >> 3;
}

/** Where the low (offset) half of a 64-bit word sits among its two Int32s: 0 little-endian, 1 big. */
export const kLowHalf = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;

/**
 * Indexes of the two halves of slot's word in an Int32Array view of the region: the low half
 * (the block offset: `ref`) and the high half (the version: `ver`), in the platform's byte order.
 */
export function refIndex(slot: number): number {
  return ((kFirstSlotByte + slot * kSlotBytes) >> 2) + kLowHalf;
}
export function verIndex(slot: number): number {
  return ((kFirstSlotByte + slot * kSlotBytes) >> 2) + 1 - kLowHalf;
}

/** Index of slot's hint in an Int32Array view of the region. */
export function hintIndex(slot: number): number {
  return (kFirstSlotByte + slot * kSlotBytes + kHintByte) >> 2;
}

/** Slots for maxRecords records: a power of two, at least 2 x maxRecords (load <= 1/2). */
export function tableSlotsFor(maxRecords: number): number {
  let s = 8;
  while (s < maxRecords * 2) s *= 2;
  return s;
}

export function tableSpec(slots: number, maxRecords: number, key: HashKey): RegionSpec {
  return { kind: RegionKind.TABLE, key, params: [slots, maxRecords] };
}

export function createTableHandle(maxRecords: number, key: HashKey): TableHandle {
  const slots = tableSlotsFor(maxRecords);
  return { sab: createRegion(tableSpec(slots, maxRecords, key), kFirstSlotByte + slots * kSlotBytes), slots, maxRecords };
}
