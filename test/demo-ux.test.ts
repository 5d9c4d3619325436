/**
 * The demo's output as a newcomer sees it (issue 14): usage errors are one line plus the usage,
 * never a stack; the live progress line is labelled (cumulative "total" apart from the last
 * interval's "last N s") and fits the terminal; the stats table marks the figures that are the
 * printing thread's own. The demo runs are bounded by a hard timeout.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine } from '../src/index.ts';
import { progressLine } from '../examples/validator/latency.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

function demo(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/validator/main.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.is(r.error, undefined, String(r.error));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertUsageError(r: { status: number | null; stderr: string }, firstLine: string): void {
  assert.is(r.status, 2, r.stderr);
  assert.is(r.stderr.split('\n')[0], firstLine);
  assert.match(r.stderr, /\nusage: npm start -- \[options\]\n/);
  assert.not.match(r.stderr, /\n\s+at /, `a stack trace:\n${r.stderr}`);
}

test('--import of a missing directory: one error line and the usage', () => {
  assertUsageError(demo('--import', '/nonexistent'), 'error: --import /nonexistent: no such directory');
});

test('--hotkeys beyond what the demo can seed: one error line and the usage, not ERR_CAPACITY with a stack', () => {
  assertUsageError(demo('--hotkeys', '200000'), 'error: --hotkeys must be between 8 and 100000, got 200000');
});

test('--hotkeys 20000 (more than a named map held by default): the demo sizes its accountSizes map and passes its checks', () => {
  const r = demo('--hotkeys', '20000', '--orders', '2000', '--workers', '1');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /all checks passed/);
});

test('--prefault: the positions heap room written at start, in MiB (default 512 bytes per order, at most 256), off, or a usage error', () => {
  const dflt = demo('--orders', '3000', '--workers', '1', '--quiet');
  assert.is(dflt.status, 0, dflt.stderr);
  assert.match(dflt.stdout, /; prefault 2 MiB\n/);
  assert.match(dflt.stdout, /all checks passed/);
  const off = demo('--orders', '1000', '--workers', '1', '--quiet', '--prefault', 'off');
  assert.is(off.status, 0, off.stderr);
  assert.match(off.stdout, /; prefault off\n/);
  const some = demo('--orders', '1000', '--workers', '1', '--quiet', '--prefault', '16');
  assert.is(some.status, 0, some.stderr);
  assert.match(some.stdout, /; prefault 16 MiB\n/);
  assertUsageError(demo('--prefault', 'lots'), 'error: --prefault must be a whole number, got "lots"');
});

test('--backend: sab or redis, anything else one error line and the usage', () => {
  assertUsageError(demo('--backend', 'bogus'), 'error: --backend must be sab or redis, got "bogus"');
});

test('an unknown flag: one error line and the usage', () => {
  const r = demo('--bogus');
  assert.is(r.status, 2);
  assert.match(r.stderr.split('\n')[0]!, /^error: Unknown option '--bogus'/);
  assert.not.match(r.stderr, /\n\s+at /);
});

const sample = { elapsedS: 12.34, done: 123_456, total: 200_000, intervalS: 1.002, intervalOrders: 20_512, p50Us: 45.3, p99Us: 4466.7, queued: 3, syncs: 19 };

test('progress line: labelled cumulative and per-interval figures', () => {
  const line = progressLine(sample, 200);
  assert.is(line, 'total 123,456/200,000 orders (61 %) in 12.3 s | last 1.0 s: 20,471 orders/s, p50 45 µs, p99 4.5 ms | queue 3 | syncs 19');
});

test('progress line: fits the terminal, dropping whole fields first', () => {
  for (const columns of [20, 40, 60, 80, 100, 120, 300]) {
    const line = progressLine(sample, columns);
    assert.ok(line.length <= Math.max(20, columns - 1), `${columns} columns: ${line.length} characters: ${line}`);
    assert.ok(line.startsWith('total '), line);
  }
  assert.is(progressLine(sample, 80), 'total 123,456/200,000 orders (61 %) in 12.3 s');
  assert.is(progressLine(sample, 100), 'total 123,456/200,000 orders (61 %) in 12.3 s | last 1.0 s: 20,471 orders/s, p50 45 µs, p99 4.5 ms');
});

test('stats table: the thread-local operation counts say so, and the header says what the others are', () => {
  const e = createEngine({ positions: { maxRecords: 1024, maxBytes: 1 << 22 }, eliminations: { maxRecords: 64 }, departed: { maxRecords: 64 } });
  e.departed.mark('5Hotkey', 1);
  const t = e.statsTable();
  assert.match(t, /operations \(whole engine unless "this thread"\)/);
  assert.match(t, /this thread: 0 saves, 0 gets/);
  assert.match(t, /this thread: 0 reads, 1 writes/);
  assert.not.match(t, /\(this thread\)/);
  e.close();
});

test.run();
