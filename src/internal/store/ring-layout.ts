/**
 * The ring region's layout: its Int32 slot constants, its byte sizes, its region spec and its
 * creation, and the two wrap-count helpers that read or settle a side's position. Which thread
 * writes each of these words, how, and what publishes it is the slot table in ring.ts's header,
 * with the protocol (push, pop, waiting, recovery) it belongs to; this file only places them.
 *
 * CRASH TABLE of what this file writes:
 * | step | a thread terminated right after it leaves | recovery |
 * | ---- | ----------------------------------------- | -------- |
 * | createRingRegion (zeroed by createRegion, header plain) | a buffer not yet shared with anyone | nothing to recover |
 * | settleWrap: the one Atomics.store of kHi (recovery's own step, while the dead thread's tag still holds the side's lock) | the wrap count settled, the lock still held by the dead tag | recovery runs again: settleWrap is idempotent (after its store hi is even, so a second run stores nothing), then ring.ts's recovery releases the lock |
 * | ringStartAtForTest | a test's unshared ring | tests only |
 * The push, pop and waiting protocols' rows are in ring.ts's crash table.
 */
import type { HashKey } from '../hash/hash.ts';
import { HEADER_BYTES, LINE_BYTES, LINE_INTS, RegionKind, alignLine, createRegion } from '../region.ts';
import type { RegionSpec } from '../region.ts';

/** Layout of the ring region (a header param: a buffer of another layout does not attach). */
const RING_LAYOUT = 2;

// Int32 slots, one line per writer group (ring.ts's slot table).
export const kTail = LINE_INTS, kTailHi = kTail + 1, kHeadSeen = kTail + 2;
export const kPopLock = 2 * LINE_INTS, kHead = kPopLock + 1, kHeadHi = kPopLock + 2, kTailSeen = kPopLock + 3, kEmpty = kPopLock + 4;
export const kPushLock = 3 * LINE_INTS, kFull = kPushLock + 1, kWaiters = kPushLock + 2, kSignal = kPushLock + 3, kWaits = kPushLock + 4;
export const kWaiterTag = kPushLock + 5;
/** Waiter slots: the rest of line 3 (bits 0 .. 26 of kWaiters). */
export const MAX_ANNOUNCED = LINE_INTS - 5;
/** Byte offset of slot 0 and its Int32 index; Int32 offset of kMeta in a slot; the payload's byte offset. */
const kSlotsByte = HEADER_BYTES + 3 * LINE_BYTES;
export const kSlot0 = kSlotsByte >> 2;
export const kMeta = 0, kPayloadByte = 8;
const TWO_32 = 2 ** 32;

/** Largest capacity and message size accepted (the region must fit in 2 GiB). */
export const RING_MAX_CAPACITY = 2 ** 24;
export const RING_MAX_MESSAGE_BYTES = 2 ** 24;
export const RING_MAX_BYTES = 2 ** 31;

/** Bytes of one slot: meta, payload, rounded to whole lines (no false sharing of slots). */
export function ringSlotBytes(maxMessageBytes: number): number {
  return alignLine(kPayloadByte + maxMessageBytes);
}

/** Bytes of a ring region. */
export function ringRegionBytes(capacity: number, maxMessageBytes: number): number {
  return kSlotsByte + capacity * ringSlotBytes(maxMessageBytes);
}

export function ringSpec(key: HashKey, capacity: number, maxMessageBytes: number): RegionSpec {
  return { kind: RegionKind.RING, key, params: [capacity, maxMessageBytes, RING_LAYOUT] };
}

/** Allocates and initialises a ring region (capacity: a power of two; callers checked sizes). */
export function createRingRegion(key: HashKey, capacity: number, maxMessageBytes: number): SharedArrayBuffer {
  // All zero is the empty ring at position 0: locks free, no waiter.
  return createRegion(ringSpec(key, capacity, maxMessageBytes), ringRegionBytes(capacity, maxMessageBytes));
}

/** A position with its wrap count (see ring.ts's header): for stats. */
export function count(i32: Int32Array, kHi: number, kPos: number): number {
  for (;;) {
    const hi = Atomics.load(i32, kHi);
    const pos = Atomics.load(i32, kPos);
    if (Atomics.load(i32, kHi) !== hi) continue;
    const wraps = (hi >>> 1) + ((hi & 1) !== 0 && pos === 0 ? 1 : 0);
    return wraps * TWO_32 + (pos >>> 0);
  }
}

/** Recovery, while the dead thread's tag still holds the side's lock: finish or undo its wrap count. */
export function settleWrap(i32: Int32Array, kHi: number, kPos: number): void {
  const hi = Atomics.load(i32, kHi);
  if ((hi & 1) !== 0) Atomics.store(i32, kHi, Atomics.load(i32, kPos) === 0 ? hi + 1 : hi - 1);
}

/** @internal Tests only: moves a fresh, unshared ring's head and tail to `pos` (to test the 2^32 wrap). */
export function ringStartAtForTest(sab: SharedArrayBuffer, _capacity: number, _maxMessageBytes: number, pos: number): void {
  const i32 = new Int32Array(sab);
  for (const k of [kTail, kHeadSeen, kHead, kTailSeen]) i32[k] = pos | 0;
}
