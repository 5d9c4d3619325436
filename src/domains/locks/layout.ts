/**
 * The lock region's layout: every line and slot of the one SharedArrayBuffer of the lock domain
 * (locks.ts: the stripes and the snapshot mutex; lock-stats.ts: the stats lines). Lines of 128
 * bytes = 32 Int32 slots; every index is computed here, through `at`, nowhere by hand.
 *
 * | line        | slot / view           | name           | written by                | how |
 * | ----------- | --------------------- | -------------- | ------------------------- | --- |
 * | 0           | Int32 0..31           | header         | creator, once             | plain, before sharing (region.ts) |
 * | 1           | Int32 0               | kRecoveries    | recovering thread         | Atomics.add |
 * | 1           | Int32 1               | kTimeouts      | timed-out waiter          | Atomics.add |
 * | 1           | Int32 2               | kMaxWaitUs     | contended acquirer        | CAS loop (max) |
 * | 1           | BigInt64 2            | kWaitTotalUs   | contended acquirer        | Atomics.add |
 * | 1           | Int32 16              | kSnapshotMutex | engine.snapshot()         | Atomics only: a futex word (mutex.ts), owner tag in it |
 * | 2           | Int32 0..31           | kHistLine + b  | contended acquirer        | Atomics.add: waits with floor(log2(µs)) = b |
 * | 3 + s       | Int32 0               | kState         | any thread                | Atomics only: the futex word of stripe s (mutex.ts) |
 * | 3 + s       | Float64 1             | kAcquired      | the owner, while holding  | plain; acquisitions of this stripe |
 * | 3 + s       | Float64 2             | kContended     | the owner, while holding  | plain; acquisitions that had to wait |
 * | 3 + s       | Float64 3             | kReentered     | the owner, while holding  | plain; re-entrant entries |
 *
 * Int32 1 of a stripe line is unused: re-entrancy depth is not shared state (locks.ts).
 *
 * Publication: the plain per-stripe slots are written only by the thread that holds the stripe,
 * between the acquiring CAS and the releasing `Atomics.exchange` of kState, so the mutex itself
 * orders them (the next owner sees them). `stats()` reads them without the lock: a racy but
 * untorn-enough snapshot for monitoring (each value is one aligned 8-byte word). The stats lines
 * 1 and 2 are written only on the contended path, so the uncontended path touches the stripe's
 * own line and nothing else.
 *
 * CRASH TABLE. This file places the words and creates the region; its own writes are the
 * header's, plain, by the creator before the buffer is shared with any thread (a creator that
 * dies there leaves a buffer nobody else holds: nothing to recover). The protocols that write
 * the words above have their crash tables with them: the stripes' futex words in mutex.ts and
 * locks.ts, the snapshot mutex in locks-engine.ts / mutex.ts, the statistics in lock-stats.ts
 * (each one atomic step, or independent steps with no invariant between them).
 */
import { DEFAULTS } from '../../defaults.ts';
import { optPowerOfTwo } from '../../options.ts';
import type { HashKey } from '../../internal/hash/hash.ts';
import { HEADER_BYTES, LINE_BYTES, LINE_INTS, RegionKind, type RegionSpec, createRegion } from '../../internal/region.ts';

/** Elements of one line in the region's 8-byte views (Float64Array, BigInt64Array). */
export const WIDE_PER_LINE = LINE_BYTES / 8;

/**
 * The index of `slot` of line `line` in a view of the region with `perLine` elements a line
 * (LINE_INTS for the Int32Array, WIDE_PER_LINE for the 8-byte views): the one offset computation.
 */
export function at(line: number, slot: number, perLine: number = LINE_INTS): number {
  return line * perLine + slot;
}

/** Line 1: counters and wait times. */
export const kStatsLine = HEADER_BYTES / LINE_BYTES;
/** Line 2: the wait histogram (kHistBuckets Int32 slots). */
export const kHistLine = kStatsLine + 1;
/** Line 3 + s: stripe s. */
export const kFirstStripeLine = kHistLine + 1;

// Line 1 (kStatsLine)
export const kRecoveries = 0;
export const kTimeouts = 1;
export const kMaxWaitUs = 2;
/** BigInt64 slot of line 1 (bytes 16..23). */
export const kWaitTotalUs = 2;
export const kHistBuckets = 32;
/** Int32 index of the snapshot mutex word (line 1, slot 16). */
export const kSnapshotMutex = at(kStatsLine, 16);

// A stripe's line
const kState = 0;
/** Float64 slots of a stripe's line. */
export const kAcquired = 1;
export const kContended = 2;
export const kReentered = 3;

/** Bytes of a lock region of `stripes` stripes. */
export function lockRegionBytes(stripes: number): number {
  return (kFirstStripeLine + stripes) * LINE_BYTES;
}

/** Int32 index of stripe s's futex word. */
export function stripeWord(s: number): number {
  return at(kFirstStripeLine + s, kState);
}

/** Float64 index of one of stripe s's counters (kAcquired, kContended, kReentered). */
export function stripeCounter(s: number, which: number): number {
  return at(kFirstStripeLine + s, which, WIDE_PER_LINE);
}

// ---- the region: options, header spec, allocation -------------------------------------------

export interface LockOptions {
  readonly stripes: number;
}
export interface LockHandle {
  readonly sab: SharedArrayBuffer;
  readonly stripes: number;
}

export function resolveLockOptions(raw: unknown, path = 'options.lockStripes'): LockOptions {
  return { stripes: optPowerOfTwo(raw, path, DEFAULTS.lockStripes, 1 << 20) };
}

export function specOf(stripes: number, key: HashKey): RegionSpec {
  return { kind: RegionKind.LOCKS, key, params: [stripes] };
}

export function createLockHandle(opts: LockOptions, key: HashKey): LockHandle {
  const bytes = lockRegionBytes(opts.stripes);
  return { sab: createRegion(specOf(opts.stripes, key), bytes), stripes: opts.stripes };
}
