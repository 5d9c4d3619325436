// bench/soak-trend.ts: the soak's memory trend (low-water of the first and last third after
// warm-up, least-squares slope per minute), on made-up samples whose answer is known.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { samplesOfTable, soakTrend, trendLine } from '../bench/soak-trend.ts';
import type { SoakSample } from '../bench/soak.ts';

const MiB = 2 ** 20;
const sample = (s: number, rssMiB: number, lowMiB: number): SoakSample => ({
  s, ops: s * 1000, liveBytes: 0, positions: 0, inUseBytes: 0, carvedBytes: 0, freeBytes: 0, fragmentation: 1, merges: 0, compactions: 0,
  rssBytes: rssMiB * MiB, mainHeapBytes: 0, workerHeapBytes: 0, arrayBufferBytes: 0, workerHeapLowBytes: lowMiB * MiB, heapBufferBytes: 0,
  peakFragmentation: 1, polls: 0, pollsAbove13: 0,
});

test('a sawtooth without growth: equal low-waters, slope about 0', () => {
  // 10 minutes, a sample every 6 s; RSS saws between 300 and 500 MiB every minute.
  const xs = Array.from({ length: 101 }, (_, i) => sample(6 * i, 300 + 20 * (i % 10), 80 + (i % 10)));
  const t = soakTrend(xs, { seconds: 600 });
  assert.is(t.rss.firstLowMiB, 300);
  assert.is(t.rss.lastLowMiB, 300);
  assert.is(t.rss.ratio, 1);
  // A least-squares line through whole teeth leans a little (the tooth is a ramp): small against the 180 MiB amplitude.
  assert.ok(Math.abs(t.rss.slopeMiBPerMin) < 3, `slope ${t.rss.slopeMiBPerMin}`);
  assert.is(t.workerHeapLow.firstLowMiB, 80);
  assert.ok(t.samples >= 85 && t.samples <= 91, `${t.samples} samples after the first tenth`);
});

test('a leak of 5 MiB per minute shows in the last third and in the slope', () => {
  const xs = Array.from({ length: 101 }, (_, i) => sample(6 * i, 300 + 0.5 * i, 100 + 0.5 * i));
  const t = soakTrend(xs, { seconds: 600 });
  assert.ok(Math.abs(t.rss.slopeMiBPerMin - 5) < 1e-9, `slope ${t.rss.slopeMiBPerMin}`);
  assert.ok(t.rss.lastLowMiB > t.rss.firstLowMiB + 20);
  assert.match(trendLine(t), /slope \+5\.0 MiB\/min/);
});

test('samplesOfTable reads soak.md rows back (MiB columns to bytes)', () => {
  const md = ['head', '', '| s | ops |', '| - | - |', '| 5 | 1000 | 1.0 | 10 | 2.0 | 3.0 | 0.5 | 1.500 | 4 | 1 | 400.0 | 20.0 | 90.0 | 80.0 | 9.0 | 17.2 |', ''].join('\n');
  const [r] = samplesOfTable(md);
  assert.is(r!.s, 5);
  assert.is(r!.rssBytes, 400 * MiB);
  assert.is(r!.workerHeapLowBytes, 80 * MiB);
  assert.is(r!.fragmentation, 1.5);
});

test('samplesOfTable reads the peak column of tables since the eighth session (and the old tables without it)', () => {
  const row = '| 5 | 1000 | 1.0 | 10 | 2.0 | 3.0 | 0.5 | 1.500 | 1.720 | 4 | 1 | 400.0 | 20.0 | 90.0 | 80.0 | 9.0 | 17.2 |';
  const [r] = samplesOfTable(['| s |', '| - |', row, ''].join('\n'));
  assert.is(r!.fragmentation, 1.5);
  assert.is(r!.peakFragmentation, 1.72);
  assert.is(r!.merges, 4);
  assert.is(r!.rssBytes, 400 * MiB);
  assert.is(r!.heapBufferBytes, 17.2 * MiB);
  const [old] = samplesOfTable('| 5 | 1000 | 1.0 | 10 | 2.0 | 3.0 | 0.5 | 1.500 | 4 | 1 | 400.0 | 20.0 | 90.0 | 80.0 | 9.0 | 17.2 |\n');
  assert.is(old!.peakFragmentation, 1.5);
  assert.is(old!.merges, 4);
});

test.run();
