/**
 * A shared latency histogram per worker: 8 buckets per octave of microseconds (about 9 % wide),
 * 256 buckets (up to about 2^32 µs). Each worker writes only its own row with plain writes; the
 * main thread sums the rows for the live p50 / p99 (a racy read is fine for a progress line) and
 * again after every worker has exited (exact).
 */
export const BUCKETS = 256;
const PER_OCTAVE = 8;

export function bucketOf(us: number): number {
  if (us < 1) return 0;
  return Math.min(BUCKETS - 1, Math.floor(Math.log2(us) * PER_OCTAVE) + 1);
}

/** Upper bound of a bucket in microseconds. */
export function bucketUpperUs(b: number): number {
  return b === 0 ? 1 : 2 ** (b / PER_OCTAVE);
}

export function createHistograms(workers: number): SharedArrayBuffer {
  return new SharedArrayBuffer(workers * BUCKETS * 4);
}

export function percentiles(sab: SharedArrayBuffer, ps: number[]): { count: number; values: number[] } {
  const all = new Int32Array(sab);
  const sum = new Float64Array(BUCKETS);
  for (let i = 0; i < all.length; i++) sum[i % BUCKETS]! += all[i]!;
  let count = 0;
  for (const c of sum) count += c;
  const values = ps.map((p) => {
    const target = count * p;
    let acc = 0;
    for (let b = 0; b < BUCKETS; b++) {
      acc += sum[b]!;
      if (acc >= target && acc > 0) return bucketUpperUs(b);
    }
    return 0;
  });
  return { count, values };
}
