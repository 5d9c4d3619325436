/**
 * `npm run bench:order-path:rounds`: runs bench/order-path.ts BENCH_ROUNDS times (default 3), one
 * after the other, each run every design in turn (so the designs alternate: a burst of load on the
 * machine hits one run of each, not all runs of one), then writes to bench/results/ (or
 * BENCH_RESULTS_DIR) the medians: for each (design, order threads; and one-thread variant) the median of every figure over
 * the runs, and as "sabstate ÷ this" the median of each run's own ratio (a ratio is taken within
 * one run, never across runs). The JSON keeps every run's results too. Other BENCH_* variables
 * pass through to each run. A failed run (a lost update, a crashed peer) fails the command.
 * BENCH_FROM=<a results JSON written by this command> runs nothing: it re-derives the medians,
 * table and charts from the runs kept in that file.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { markdownTable, ratioOf, writeResults } from './peers/report.ts';
import type { Result } from './peers/report.ts';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const loadStart = loadavg();
const script = new URL('./order-path.ts', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'order-path-rounds-'));
interface RunJson {
  msPerCase: number;
  warmupMs: number;
  state: string;
  notes: string[];
  loadAverage: { start: number[]; end: number[] };
  results: (Result & { design: string })[];
}
const runs: RunJson[] = [];
let failed = 0;
const from = process.env.BENCH_FROM;
const earlier = from === undefined ? undefined : (JSON.parse(readFileSync(from, 'utf8')) as { date: string; loadAverage: { start: number[]; end: number[] }; rounds: { runs: RunJson[] } });
if (earlier !== undefined) runs.push(...earlier.rounds.runs);
try {
  for (let i = 0; i < (from === undefined ? rounds : 0); i++) {
    const dir = join(tmp, String(i));
    console.log(`\n### run ${i + 1} of ${rounds}\n`);
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script], { stdio: 'inherit', env: { ...process.env, BENCH_RESULTS_DIR: dir } });
    if (r.status !== 0) failed++;
    try {
      runs.push(JSON.parse(readFileSync(join(dir, 'order-path.json'), 'utf8')) as RunJson);
    } catch {
      console.log(`run ${i + 1} wrote no results (exit ${r.status ?? r.signal})`);
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const median = (xs: number[]): number => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

const keys = new Map<string, Result[]>();
const ratios = new Map<string, number[]>();
for (const run of runs) {
  for (const r of run.results) {
    const k = `${r.kind}/${r.threads}/${r.variant ?? ''}`;
    keys.set(k, [...(keys.get(k) ?? []), r]);
    const q = ratioOf(run.results, { ...r, sabstateRatio: undefined });
    if (q !== undefined) ratios.set(k, [...(ratios.get(k) ?? []), q]);
  }
}
const merged: Result[] = [...keys.entries()].map(([k, rs]) => {
  const m = (f: (r: Result) => number): number => median(rs.map(f));
  const kinds = [...new Set(rs.flatMap((r) => Object.keys(r.cpuUsByKind)))];
  const q = ratios.get(k);
  const gcs = rs.map((r) => r.gc).filter((g) => g !== undefined);
  const gm = (f: (g: NonNullable<Result['gc']>) => number): number => median(gcs.map(f));
  return {
    kind: rs[0]!.kind, ...(rs[0]!.variant === undefined ? {} : { variant: rs[0]!.variant }), threads: rs[0]!.threads, orders: m((r) => r.orders), rate: m((r) => r.rate), p50: m((r) => r.p50), p99: m((r) => r.p99), max: m((r) => r.max),
    cpuUsPerOrder: m((r) => r.cpuUsPerOrder), cpuUsByKind: Object.fromEntries(kinds.map((x) => [x, m((r) => r.cpuUsByKind[x] ?? NaN)])),
    rssBytes: m((r) => r.rssBytes ?? NaN),
    ...(rs.some((r) => r.threadCpuUsPerOrder !== undefined) ? { threadCpuUsPerOrder: m((r) => r.threadCpuUsPerOrder ?? NaN) } : {}),
    ...(gcs.length === 0 ? {} : { gc: { minorPer10k: gm((g) => g.minorPer10k), majorPer10k: gm((g) => g.majorPer10k), pauseUsPerOrder: gm((g) => g.pauseUsPerOrder) } }),
    check: `${rs.filter((r) => r.ok).length} of ${rs.length} runs ok`, ok: rs.every((r) => r.ok),
    ...(q === undefined ? {} : { sabstateRatio: median(q) }),
  };
});

const first = runs[0];
if (first !== undefined) {
  const notes = [...new Set(runs.flatMap((r) => r.notes))];
  notes.push(`load average (1 / 5 / 15 min) at the start of each run: ${runs.map((r) => r.loadAverage.start.map((x) => x.toFixed(2)).join(' / ')).join('; ')}`);
  const when = earlier === undefined ? {} : { date: earlier.date, loadEnd: earlier.loadAverage.end };
  const dir = writeResults(merged, {
    ms: first.msPerCase, warmMs: first.warmupMs, state: first.state, notes, loadStart: earlier?.loadAverage.start ?? loadStart, rounds: { count: runs.length, runs }, ...when,
  });
  console.log(`\n## medians of ${runs.length} runs\n`);
  console.log(markdownTable(merged));
  for (const n of notes) console.log(`\n${n}`);
  if (dir !== undefined) console.log(`\nresults: ${join(dir, 'order-path.json')}, order-path.md, order-path-orders.svg, order-path-p99.svg`);
}
process.exitCode = failed > 0 || (from === undefined && runs.length < rounds) || merged.some((r) => !r.ok) ? 1 : 0;
