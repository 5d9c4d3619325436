// Shared between test/maps.test.ts and test/workers/maps-worker.ts.

/** Int32 slots of the `ctl` SharedArrayBuffer. */
export const kReady = 0; // start barrier: workers that arrived
export const kDone = 1; // incrementers that finished
export const kPhase = 2; // racers: barrier before the final pass

/** A key that incrementers set and delete in turn (tombstones and re-inserts under readers). */
export const CHURN = 'churn';

/**
 * The value stored for count n: every field is a function of n, of a size that varies with n
 * (so updates move between heap block classes), so a reader can tell a whole value from a torn
 * one. Several hundred bytes: a decode takes long enough for a racing writer to reuse the block,
 * so a missing read validation shows up as a torn value (checked by breaking table.ts on purpose).
 */
export function wholeValue(n: number): { a: number; pad: string; list: number[]; nested: Array<{ n: number; half: number }>; b: number } {
  return { a: n, pad: 'p'.repeat((n % 37) * 20), list: [n, -n, n * 0.5], nested: Array.from({ length: 8 + (n % 5) }, () => ({ n, half: n / 2 })), b: n };
}

export function isWhole(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const a = (v as { a?: unknown }).a;
  return typeof a === 'number' && JSON.stringify(v) === JSON.stringify(wholeValue(a));
}

export interface IncrResult {
  counts: Record<string, number>;
  errors: string[];
}
export interface MapReaderResult {
  reads: number;
  scans: number;
  violations: string[];
}

/** A racer's value for key index i (written without a lock by worker w, step n). */
export function racerValue(i: number, w: number, n: number): { i: number; w: number; n: number; pad: string; i2: number } {
  return { i, w, n, pad: 'q'.repeat((i * 3 + w + n) % 40), i2: i };
}

export function isRacerValue(key: string, v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const { i, w, n } = v as { i?: unknown; w?: unknown; n?: unknown };
  if (typeof i !== 'number' || typeof w !== 'number' || typeof n !== 'number' || key !== `r${i}`) return false;
  return JSON.stringify(v) === JSON.stringify(racerValue(i, w, n));
}
