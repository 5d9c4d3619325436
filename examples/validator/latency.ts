/**
 * Latency histograms of the demo and of bench/order-path.ts: 16 buckets per octave of
 * microseconds (each about 4.4 % wide), 320 buckets (up to 2^20 µs; slower orders count in the
 * last). Bucket 0 is below 1 µs; bucket b > 0 holds [2^((b-1)/16), 2^(b/16)) µs. A percentile is
 * reported as its bucket's upper bound. The Python peer of the benchmark uses the same formula.
 *
 * Shared rows: each worker writes only its own row with plain writes; the main thread sums the
 * rows for the live p50 / p99 (a racy read is fine for a progress line) and again after every
 * worker has exited (exact).
 */
export const BUCKETS = 320;
export const PER_OCTAVE = 16;

export function bucketOf(us: number): number {
  if (us < 1) return 0;
  return Math.min(BUCKETS - 1, Math.floor(Math.log2(us) * PER_OCTAVE) + 1);
}

/** Upper bound of a bucket in microseconds. */
export function bucketUpperUs(b: number): number {
  return b === 0 ? 1 : 2 ** (b / PER_OCTAVE);
}

/** One row of BUCKETS Int32 counts per worker. */
export function createHistograms(workers: number): SharedArrayBuffer {
  return new SharedArrayBuffer(workers * BUCKETS * 4);
}

/** The per-worker rows of a createHistograms buffer. */
export function histogramRows(sab: SharedArrayBuffer): Int32Array[] {
  return Array.from({ length: sab.byteLength / (BUCKETS * 4) }, (_, i) => new Int32Array(sab, i * BUCKETS * 4, BUCKETS));
}

/** Percentiles (upper bounds, µs) of the summed rows; NaN when the rows are empty. */
export function percentilesOf(rows: ArrayLike<number>[], ps: number[]): { count: number; values: number[] } {
  const sum = new Float64Array(BUCKETS);
  for (const row of rows) for (let b = 0; b < BUCKETS; b++) sum[b]! += row[b] ?? 0;
  let count = 0;
  for (const c of sum) count += c;
  const values = ps.map((p) => {
    const target = count * p;
    let acc = 0;
    for (let b = 0; b < BUCKETS; b++) {
      acc += sum[b]!;
      if (acc >= target && acc > 0) return bucketUpperUs(b);
    }
    return NaN;
  });
  return { count, values };
}

/** percentilesOf over the rows of a createHistograms buffer, 0 when nothing was recorded yet. */
export function percentiles(sab: SharedArrayBuffer, ps: number[]): { count: number; values: number[] } {
  const r = percentilesOf(histogramRows(sab), ps);
  return { count: r.count, values: r.values.map((v) => (Number.isNaN(v) ? 0 : v)) };
}

/** The summed rows of a createHistograms buffer (one row), to take interval differences from. */
export function sumRows(sab: SharedArrayBuffer): Float64Array {
  const sum = new Float64Array(BUCKETS);
  for (const row of histogramRows(sab)) for (let b = 0; b < BUCKETS; b++) sum[b]! += row[b]!;
  return sum;
}

export interface Progress {
  /** Seconds since the go. */
  elapsedS: number;
  done: number;
  total: number;
  /** The last interval: its length, orders in it, and its latency percentiles (µs, 0 if none). */
  intervalS: number;
  intervalOrders: number;
  p50Us: number;
  p99Us: number;
  queued: number;
  syncs: number;
}

const us = (v: number): string => (v >= 10_000 ? `${(v / 1000).toFixed(0)} ms` : v >= 1000 ? `${(v / 1000).toFixed(1)} ms` : `${v.toFixed(0)} µs`);

/**
 * The demo's live progress line: cumulative figures first ("total"), then the last interval's
 * ("last 1.0 s": orders/s and latency percentiles of the orders finished in it), then the queue
 * and syncs. Fields are dropped from the end, then the line cut, so that it fits `columns`
 * (a line that wraps cannot be overwritten in place with `\r`).
 */
export function progressLine(p: Progress, columns: number): string {
  const pct = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100;
  const rate = p.intervalS > 0 ? Math.round(p.intervalOrders / p.intervalS) : 0;
  const fields = [
    `total ${p.done.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')} orders (${pct} %) in ${p.elapsedS.toFixed(1)} s`,
    `last ${p.intervalS.toFixed(1)} s: ${rate.toLocaleString('en-US')} orders/s, p50 ${us(p.p50Us)}, p99 ${us(p.p99Us)}`,
    `queue ${p.queued}`,
    `syncs ${p.syncs}`,
  ];
  const width = Math.max(20, columns - 1);
  while (fields.length > 1 && fields.join(' | ').length > width) fields.pop();
  const line = fields.join(' | ');
  return line.length > width ? line.slice(0, width) : line;
}
