/**
 * Monitoring of the lock domain (src/domains/locks/locks.ts): the stats lines of its region, the
 * snapshot `LockDomain.stats()` returns, and the slow-lock hook (its options, timing and report).
 *
 * Nothing here runs on the uncontended path. The stats lines are lines 1 and 2 of the lock
 * region (their slots are rows of the layout table in layout.ts): line 1 holds
 * kRecoveries, kTimeouts, kMaxWaitUs (Int32) and kWaitTotalUs (BigInt64), line 2 the wait
 * histogram. They are written only by a thread that waited for a stripe (recordWait), gave up
 * waiting (countTimeout) or released a dead thread's stripes (countRecoveries), so an
 * uncontended acquire touches its stripe's own line and nothing else.
 *
 * Ordering: every slot here is changed by Atomics only (add, or a CAS loop for the maximum),
 * and no other write depends on it: they are counters, nothing is published through them. A
 * snapshot loads each slot on its own: the values are each exact, the set is not a snapshot
 * of one instant (good enough for monitoring).
 *
 * Histogram: bucket b counts waits with floor(log2(µs)) = b (b = 0 also counts waits under
 * 1 µs), kHistBuckets buckets; a snapshot drops the trailing empty ones.
 *
 * Crash table. recordWait makes three independent atomic steps (total, maximum, histogram);
 * the other writers make one. Nothing is published through these slots and no invariant ties
 * them together, so whatever a dead thread left is a valid (if incomplete) statistic:
 *
 * | operation       | a thread terminated after ...      | leaves                                   | recovery |
 * | --------------- | ---------------------------------- | ---------------------------------------- | -------- |
 * | recordWait      | the total's Atomics.add            | the wait in the total, not in max / histogram | none: monitoring, one wait uncounted |
 * | recordWait      | the maximum's CAS                  | the wait in total and max, not in the histogram | none, as above |
 * | recordWait      | the histogram's Atomics.add        | the wait fully counted                   | none needed |
 * | countTimeout, countRecoveries | their one Atomics.add | counted or not                          | none needed |
 */
import {
  WIDE_PER_LINE, at, kHistBuckets, kHistLine, kMaxWaitUs, kRecoveries, kStatsLine, kTimeouts, kWaitTotalUs,
} from './layout.ts';

/** What the slow-lock hook receives (times in milliseconds). */
export interface SlowLockInfo {
  hotkey: string;
  tradePair: string;
  waitMs: number;
  holdMs: number;
}
/** An installed slow-lock hook. */
export interface SlowLock {
  readonly hook: (info: SlowLockInfo) => void;
  readonly thresholdMs: number;
}
/** `engine.stats().locks` (whole engine). */
export interface LockStats {
  stripes: number;
  acquisitions: number;
  contended: number;
  contendedShare: number;
  reentered: number;
  held: number;
  waitTotalMs: number;
  waitMaxMs: number;
  /** Waits by duration: bucket b counts waits of 2^b to 2^(b+1) microseconds (b = 0 includes < 1 µs). */
  waitHistogramUs: number[];
  timeouts: number;
  recoveries: number;
}
/** The per-stripe part of a snapshot: sums over the stripe lines (locks.ts). */
export interface StripeTotals {
  stripes: number;
  acquisitions: number;
  contended: number;
  reentered: number;
  held: number;
}

// ---- the slow-lock hook -------------------------------------------------------------------------

/** Checks the arguments of onSlowLock: the hook to install, or null (removed). */
export function slowLockOf(hook: ((info: SlowLockInfo) => void) | null, opts: { thresholdMs?: number }): SlowLock | null {
  if (hook !== null && typeof hook !== 'function') throw new TypeError('hook must be a function or null');
  const t = opts.thresholdMs ?? 10;
  if (typeof t !== 'number' || !(t >= 0)) throw new TypeError('options.thresholdMs must be a non-negative number');
  return hook === null ? null : { hook, thresholdMs: t };
}

/**
 * The times of the timed withLock calls of one LockDomain (one thread): withLock sets
 * `acquiredAt` right after it takes the stripe, only while a hook is installed; NaN means it
 * did not take it (re-entered, or timed out).
 */
export class SlowLockTimer {
  acquiredAt = Number.NaN;

  /** Runs `run`, then (returned or thrown) report(wait until acquiredAt, hold from it to now). */
  timed<T>(run: () => T, report: (waitMs: number, holdMs: number) => void): T {
    const outer = this.acquiredAt; // a timed withLock around this one (re-entrant nesting)
    const t0 = performance.now();
    this.acquiredAt = Number.NaN;
    try {
      return run();
    } finally {
      const t2 = performance.now();
      const t1 = Number.isNaN(this.acquiredAt) ? t0 : this.acquiredAt; // NaN: re-entered or timed out
      this.acquiredAt = outer;
      report(t1 - t0, t2 - t1);
    }
  }
}

/** Calls the hook (if any) when the wait or the hold reached its threshold. */
export function reportSlow(slow: SlowLock | null, hotkey: string, tradePair: string, waitMs: number, holdMs: number): void {
  if (slow !== null && (waitMs >= slow.thresholdMs || holdMs >= slow.thresholdMs)) slow.hook({ hotkey, tradePair, waitMs, holdMs });
}

// ---- the stats lines: written on the contended and failure paths only ---------------------------

/** A wait of `ms` for a stripe: total, maximum and histogram bucket. */
export function recordWait(w: Int32Array, big: BigInt64Array, ms: number): void {
  const us = Math.min(Math.round(ms * 1000), 0x7fffffff);
  const max = at(kStatsLine, kMaxWaitUs);
  Atomics.add(big, at(kStatsLine, kWaitTotalUs, WIDE_PER_LINE), BigInt(us));
  for (let m = Atomics.load(w, max); us > m; ) {
    const seen = Atomics.compareExchange(w, max, m, us);
    if (seen === m) break;
    m = seen;
  }
  const b = us <= 1 ? 0 : Math.min(31 - Math.clz32(us), kHistBuckets - 1);
  Atomics.add(w, at(kHistLine, b), 1);
}

/** A wait that gave up (ERR_LOCK_TIMEOUT). */
export function countTimeout(w: Int32Array): void {
  Atomics.add(w, at(kStatsLine, kTimeouts), 1);
}

/** n stripes of a dead thread released (releaseAllOwnedBy). */
export function countRecoveries(w: Int32Array, n: number): void {
  Atomics.add(w, at(kStatsLine, kRecoveries), n);
}

/** The snapshot: the stripe totals, then the stats lines. */
export function lockStats(w: Int32Array, big: BigInt64Array, t: StripeTotals): LockStats {
  const hist: number[] = [];
  for (let b = 0; b < kHistBuckets; b++) hist.push(Atomics.load(w, at(kHistLine, b)));
  while (hist.length > 1 && hist[hist.length - 1] === 0) hist.pop();
  return {
    stripes: t.stripes,
    acquisitions: t.acquisitions,
    contended: t.contended,
    contendedShare: t.acquisitions ? t.contended / t.acquisitions : 0,
    reentered: t.reentered,
    held: t.held,
    waitTotalMs: Number(Atomics.load(big, at(kStatsLine, kWaitTotalUs, WIDE_PER_LINE))) / 1000,
    waitMaxMs: Atomics.load(w, at(kStatsLine, kMaxWaitUs)) / 1000,
    waitHistogramUs: hist,
    timeouts: Atomics.load(w, at(kStatsLine, kTimeouts)),
    recoveries: Atomics.load(w, at(kStatsLine, kRecoveries)),
  };
}
