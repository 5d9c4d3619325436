/**
 * The soak's memory trend (issue 11, "RSS flat"; issue 12, "the JS heap flat after warm-up"):
 * over the samples after warm-up (as bench/soak.ts's summary takes them), split in thirds by
 * time, the low-water mark of the process RSS and of the workers' V8 heaps (their sum at its
 * lowest between samples) in the first third and in the last, their ratio, and the slope of a
 * least-squares line through every sample, MiB per minute. A low-water mark is what survives the
 * collections: a heap that only holds more garbage between two mark-compacts shows in the
 * range, not in the low-water mark; a leak raises the last third's low above the first's and
 * gives a positive slope.
 *
 * `soakTrend(samples, options)` and `trendLine` for bench/soak.ts's report; as a command it reads
 * a soak.md table already written (give that run's --minutes / --seconds / --ops and warm-up):
 *   node --import tsx bench/soak-trend.ts --from-table soak.md --minutes 20
 */
import { fileURLToPath } from 'node:url';
import type { SoakOptions, SoakSample } from './soak.ts';

export interface SoakTrendFigure {
  /** Low-water mark (MiB) over the first and the last third of the samples after warm-up, and last / first. */
  firstLowMiB: number;
  lastLowMiB: number;
  ratio: number;
  /** Least-squares slope over every sample after warm-up, MiB per minute of the run. */
  slopeMiBPerMin: number;
}

export interface SoakTrend {
  samples: number;
  /** Minutes the samples after warm-up span. */
  minutes: number;
  rss: SoakTrendFigure;
  workerHeapLow: SoakTrendFigure;
}

const MiB = 2 ** 20;

function figure(xs: number[], ys: number[]): SoakTrendFigure {
  const n = ys.length;
  const third = Math.max(1, Math.floor(n / 3));
  const firstLowMiB = Math.min(...ys.slice(0, third)) / MiB;
  const lastLowMiB = Math.min(...ys.slice(n - third)) / MiB;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return { firstLowMiB, lastLowMiB, ratio: lastLowMiB / firstLowMiB, slopeMiBPerMin: sxx === 0 ? 0 : sxy / sxx / MiB };
}

/** The trend of the samples after warm-up (the last sample, taken after the stop, left out as in soak.ts's summary). */
export function soakTrend(samples: SoakSample[], o: SoakOptions): SoakTrend {
  const byOps = o.ops !== undefined;
  const total = byOps ? o.ops! : (o.seconds ?? 60);
  const warmup = o.warmup ?? total / 10;
  const after = samples.slice(0, -1).filter((s) => (byOps ? s.ops : s.s) >= warmup);
  if (after.length < 3) throw new RangeError(`soakTrend: ${after.length} samples after warm-up (need 3)`);
  const minutes = after.map((s) => s.s / 60);
  return {
    samples: after.length,
    minutes: minutes[minutes.length - 1]! - minutes[0]!,
    rss: figure(minutes, after.map((s) => s.rssBytes)),
    workerHeapLow: figure(minutes, after.map((s) => s.workerHeapLowBytes)),
  };
}

export function trendLine(t: SoakTrend): string {
  const f = (x: SoakTrendFigure): string =>
    `${x.firstLowMiB.toFixed(1)} -> ${x.lastLowMiB.toFixed(1)} MiB (${x.ratio.toFixed(2)}x), slope ${x.slopeMiBPerMin >= 0 ? '+' : ''}${x.slopeMiBPerMin.toFixed(1)} MiB/min`;
  return `Trend after warm-up (${t.samples} samples over ${t.minutes.toFixed(1)} min; low-water of the first third -> of the last third, least-squares slope): RSS ${f(t.rss)}; workers' V8 heaps at their lowest ${f(t.workerHeapLow)}.`;
}

/** The samples of a soak.md table (bench/soak.ts's columns; MiB figures back to bytes, to 0.1 MiB). */
export function samplesOfTable(md: string): SoakSample[] {
  const rows = md.split('\n').filter((l) => /^\| \d/.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => Number(c.trim())));
  return rows.map((row) => {
    // Tables since the eighth session have a 'peak since the last sample' column after carved / in use.
    const peak = row.length >= 17 ? row[8]! : row[7]!;
    const c = row.length >= 17 ? [...row.slice(0, 8), ...row.slice(9)] : row;
    return {
      s: c[0]!, ops: c[1]!, liveBytes: c[2]! * MiB, positions: c[3]!, inUseBytes: c[4]! * MiB, carvedBytes: c[5]! * MiB, freeBytes: c[6]! * MiB,
      fragmentation: c[7]!, merges: c[8]!, compactions: c[9]!, rssBytes: c[10]! * MiB, mainHeapBytes: c[11]! * MiB, workerHeapBytes: c[12]! * MiB,
      workerHeapLowBytes: c[13]! * MiB, arrayBufferBytes: c[14]! * MiB, heapBufferBytes: c[15]! * MiB, peakFragmentation: peak, polls: 0, pollsAbove13: 0,
    };
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const tableAt = process.argv.indexOf('--from-table');
  if (tableAt >= 0 && process.argv[tableAt + 1] !== undefined) {
    // The trend of a soak already run: --from-table soak.md --seconds N --warmup-s N (as that run's).
    const { readFileSync } = await import('node:fs');
    const num = (name: string): number | undefined => {
      const i = process.argv.indexOf(`--${name}`);
      return i < 0 ? undefined : Number(process.argv[i + 1]);
    };
    const ops = num('ops');
    const o: SoakOptions = ops !== undefined ? { ops, warmup: num('warmup-ops') } : { seconds: num('seconds') ?? (num('minutes') ?? 1) * 60, warmup: num('warmup-s') };
    console.log(trendLine(soakTrend(samplesOfTable(readFileSync(process.argv[tableAt + 1]!, 'utf8')), o)));
    process.exit(0);
  }
  console.error('usage: node --import tsx bench/soak-trend.ts --from-table soak.md (--minutes N | --seconds N | --ops N) [--warmup-s N | --warmup-ops N]');
  process.exitCode = 2;
}
