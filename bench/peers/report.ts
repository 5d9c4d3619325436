/**
 * The results of bench/order-path.ts: one row per (design, order threads), the Markdown table,
 * the JSON file and the two SVG charts (bench/chart.ts) written to bench/results/ (or
 * BENCH_RESULTS_DIR; BENCH_RESULTS_DIR=- writes nothing).
 *
 * Ratios are "sabstate ÷ peer" on orders/s with the same number of order threads (of the
 * one-thread sabstate variants, the whole path ÷ the variant), from the same
 * run (the peers ran one after the other in one process, minutes apart at most): the figure to
 * compare across runs and machines, unlike the absolute orders/s of a loaded 2-core machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, hostname } from 'node:os';
import { barChartSvg } from '../chart.ts';

export type Kind = 'sabstate' | 'one-domain' | 'lmdb' | 'redis' | 'redis-sabstate' | 'js-server' | 'python' | 'python-5';

/** GC of a case's order threads in the timed window: per 10,000 orders, and pause per order (µs). */
export interface GcFigures {
  minorPer10k: number;
  majorPer10k: number;
  pauseUsPerOrder: number;
}

export interface Result {
  kind: Kind;
  /**
   * A one-thread sabstate variant's name (the whole path, the path before issue 12, the floor);
   * the whole path is recorded first, so that it is the row the ratios and charts take.
   */
  variant?: string;
  threads: number;
  orders: number;
  rate: number;
  p50: number;
  p99: number;
  /** Upper bound of the slowest order's histogram bucket (µs). */
  max: number;
  /** CPU time of every thread / process of the case during the timed window, per order (µs). */
  cpuUsPerOrder: number;
  /** The same by thread kind (order threads, consumer, server thread / process...), µs per order. */
  cpuUsByKind: Record<string, number>;
  /** Resident memory of every process of the case at the end of the timed window (bytes; NaN unknown). */
  rssBytes: number;
  /** CPU of each order thread alone per order (µs), averaged over the order threads; absent where not measured. */
  threadCpuUsPerOrder?: number;
  /** GC of the order threads in the timed window; absent where not measured. */
  gc?: GcFigures;
  check: string;
  ok: boolean;
  /** Set by bench/chart-order-path.ts: the median over rounds of each round's sabstate ÷ this. */
  sabstateRatio?: number;
}

export const NAMES: Record<Kind, string> = {
  sabstate: 'sabstate, five domains',
  'one-domain': 'sabstate, one domain (1 lock stripe)',
  lmdb: 'lmdb-js (transactionSync)',
  redis: 'Redis 7 + ioredis (loopback)',
  'redis-sabstate': 'sabstate on Redis (createRedisEngine, loopback)',
  'js-server': 'JS server thread (MessagePort)',
  python: 'Python Manager, one',
  'python-5': 'Python Managers, five',
};
const ORDER: Kind[] = ['sabstate', 'one-domain', 'lmdb', 'redis', 'redis-sabstate', 'js-server', 'python-5', 'python'];

/** The row of (kind, threads) that ratios and charts take: the first (of the one-thread variants, the whole path). */
const rowOf = (rs: Result[], kind: Kind, threads: number): Result | undefined => rs.find((r) => r.kind === kind && r.threads === threads);
const rateOf = (rs: Result[], kind: Kind, threads: number): number | undefined => rowOf(rs, kind, threads)?.rate;
/** The design's name, and the variant's where there is one. */
export const nameOf = (r: Pick<Result, 'kind' | 'variant'>): string => `${NAMES[r.kind]}${r.variant === undefined ? '' : `, ${r.variant}`}`;

/** sabstate (five domains) ÷ this row, on orders/s with as many order threads. */
export function ratioOf(rs: Result[], r: Result): number | undefined {
  if (r.sabstateRatio !== undefined) return r.sabstateRatio;
  const s = rateOf(rs, 'sabstate', r.threads);
  return s === undefined || r.rate <= 0 ? undefined : s / r.rate;
}

const us = (x: number): string => (!Number.isFinite(x) ? '—' : x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
const ratioText = (x: number | undefined): string => (x === undefined ? '—' : `${x >= 100 ? Math.round(x) : x.toFixed(2)}x`);
const mib = (b: number): string => (Number.isFinite(b) ? (b / 2 ** 20).toFixed(0) : '—');
const gcText = (g: GcFigures | undefined): string => (g === undefined ? '—' : `${g.minorPer10k.toFixed(1)} / ${g.majorPer10k.toFixed(1)} / ${g.pauseUsPerOrder.toFixed(2)}`);

export function sortResults(rs: Result[]): Result[] {
  return [...rs].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind) || a.threads - b.threads);
}

export function markdownTable(rs: Result[]): string {
  const lines = [
    '| design | order threads | orders/s | p50 µs | p99 µs | max µs | CPU µs/order | CPU µs/order by thread kind | per order thread µs/order | GC: scavenges / mark-compacts per 10k orders / pause µs/order | RSS MiB | sabstate ÷ this |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const r of sortResults(rs)) {
    const kinds = Object.entries(r.cpuUsByKind).map(([k, v]) => `${k} ${us(v)}`).join(', ') || '—';
    lines.push(
      `| ${nameOf(r)} | ${r.threads} | ${Math.round(r.rate).toLocaleString('en-US')} | ${us(r.p50)} | ${us(r.p99)} | ${us(r.max)} | ${us(r.cpuUsPerOrder)} | ${kinds} | ` +
        `${us(r.threadCpuUsPerOrder ?? NaN)} | ${gcText(r.gc)} | ${mib(r.rssBytes)} | ${ratioText(ratioOf(rs, r))} |`,
    );
  }
  return lines.join('\n');
}

function charts(rs: Result[], subtitle: string): { orders: string; p99: string } {
  const threads = [...new Set(rs.map((r) => r.threads))].sort((a, b) => a - b);
  const kinds = ORDER.filter((k) => rs.some((r) => r.kind === k));
  const groups = threads.map((t) => `${t} order thread${t === 1 ? '' : 's'}`);
  const series = (f: (r: Result) => number) =>
    kinds.map((k) => ({ name: NAMES[k], values: threads.map((t) => rowOf(rs, k, t)).map((r) => (r === undefined ? undefined : f(r))) }));
  return {
    orders: barChartSvg({ title: `Order path: orders/s (higher is better) ${subtitle}`, yLabel: 'orders/s', groups, series: series((r) => r.rate) }),
    p99: barChartSvg({ title: `Order path: p99 latency (lower is better) ${subtitle}`, yLabel: 'p99 µs', groups, series: series((r) => r.p99) }),
  };
}

export interface RunInfo {
  ms: number;
  warmMs: number;
  state: string;
  notes: string[];
  loadStart: number[];
  /** Re-rendering an earlier run (BENCH_FROM): its date and load average at the end. */
  date?: string;
  loadEnd?: number[];
  /** Medians of several runs (bench/chart-order-path.ts): how many, and every run's own results. */
  rounds?: { count: number; runs: unknown[] };
}

/** Writes order-path.json, order-path.md, order-path-orders.svg, order-path-p99.svg; returns the directory or undefined. */
export function writeResults(rs: Result[], info: RunInfo): string | undefined {
  const dir = process.env.BENCH_RESULTS_DIR ?? new URL('../results/', import.meta.url).pathname;
  if (dir === '-') return undefined;
  mkdirSync(dir, { recursive: true });
  const date = info.date ?? new Date().toISOString();
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', memoryBytes: totalmem(), platform: `${process.platform}-${process.arch}`, hostname: hostname() };
  const json = {
    benchmark: 'bench/order-path.ts', date, node: process.version, machine,
    loadAverage: { start: info.loadStart, end: info.loadEnd ?? loadavg() },
    msPerCase: info.ms, warmupMs: info.warmMs, state: info.state, notes: info.notes,
    results: sortResults(rs).map((r) => ({ design: nameOf(r), ...r, sabstateRatio: ratioOf(rs, r) ?? null })),
    ...(info.rounds === undefined ? {} : { rounds: info.rounds }),
  };
  writeFileSync(`${dir}/order-path.json`, `${JSON.stringify(json, null, 2)}\n`);
  const what = info.rounds === undefined ? 'Order path' : `Order path, medians of ${info.rounds.count} runs (each run every design in turn; the ratio is the median of each run's ratio)`;
  const head = `${what}, ${date.slice(0, 16).replace('T', ' ')} UTC, node ${process.version}, ${machine.platform}, ${machine.cpus} cores (${machine.cpuModel}), ` +
    `load average ${info.loadStart.map((x) => x.toFixed(2)).join(' / ')} at start; ${info.ms} ms per case after ${info.warmMs} ms of warmup per thread; ${info.state}.`;
  writeFileSync(`${dir}/order-path.md`, `${head}\n\n${markdownTable(rs)}\n${info.notes.map((n) => `\n${n}`).join('\n')}\n`);
  const c = charts(rs, `(${machine.cpus} cores, node ${process.version})`);
  writeFileSync(`${dir}/order-path-orders.svg`, c.orders);
  writeFileSync(`${dir}/order-path-p99.svg`, c.p99);
  return dir;
}
