// Shared between test/eliminations.test.ts, test/eliminations-crash.test.ts and
// test/workers/eliminations-worker.ts: the control words of the stress runs, the rows of the
// replaceAll sets, the workers' result shapes, and the operations driven to crash points.
import { createEngine } from '../../src/index.ts';
import type { Engine, EliminationRow } from '../../src/index.ts';
import { MIN_HEAP_BYTES, SharedHeap } from '../../src/internal/store/heap.ts';
import { SharedTable } from '../../src/internal/store/table.ts';

/** Int32 slots of the `ctl` SharedArrayBuffer (64 bytes). */
export const kReady = 0; // start barrier: workers that arrived
export const kDone = 1; // the writer (replacer / syncer) finished: readers and writers stop
export const kBarriers = 4; // takers: one start barrier per round from here on

/**
 * The set of replaceAll round `round`: round even = set A (gen 'A', hotkeys hk0..hk199), odd =
 * set B (gen 'B', hk100..hk299). Every field is a function of (hotkey index, round), so a reader
 * can tell a whole row of one round from a torn one or a mix.
 */
export function rowsOfSet(round: number): EliminationRow[] {
  const gen = round % 2 === 0 ? 'A' : 'B';
  const first = gen === 'A' ? 0 : 100;
  return Array.from({ length: 200 }, (_, k) => rowOf(first + k, round));
}

export function rowOf(i: number, round: number): EliminationRow {
  return {
    hotkey: `hk${i}`,
    elimination_initiated_time_ms: 1_717_000_000_000 + round,
    dd: i / 1000,
    reason: 'FAILED_CHALLENGE_PERIOD_DRAWDOWN',
    gen: round % 2 === 0 ? 'A' : 'B',
    round,
    pad: 'x'.repeat((i * 7 + round) % 64),
  };
}

export interface TakerResult {
  /** Per round, the hotkeys this worker took. */
  taken: string[][];
  errors: string[];
}
export interface ReaderResult {
  lists: number;
  gets: number;
  roundsSeen: number;
  violations: string[];
}
export interface StaleSyncResult {
  /** [epoch E that begin() returned, size at that moment (every row then has epoch < E)]. */
  counts: Array<[number, number]>;
  violations: string[];
}
export interface StaleWriterResult {
  landed: string[];
  refused: number;
}

// ---- crash points (test/eliminations-crash.test.ts) -------------------------------------------

/** One write of the domain, run by an 'op' worker (stopped at a crash point) or a 'probe'. */
export type CrashOp = 'add-new' | 'add-update' | 'add-guarded' | 'take' | 'delete' | 'replaceAll' | 'replaceAll-refused';
export const CRASH_OPS: readonly CrashOp[] = ['add-new', 'add-update', 'add-guarded', 'take', 'delete', 'replaceAll', 'replaceAll-refused'];

/** A small row whose every field is a function of (hotkey, version). */
export function crashRow(hotkey: string, v: number, blob = 0): EliminationRow {
  const r: EliminationRow = { hotkey, elimination_initiated_time_ms: 1_717_000_000_000 + v, dd: v / 100, reason: 'MAX_TOTAL_DRAWDOWN', v };
  if (blob > 0) r.blob = 'b'.repeat(blob);
  return r;
}
/** Present before every op. */
export const CRASH_SETUP: readonly EliminationRow[] = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'].map((hk) => crashRow(hk, 1));
/** The set replaceAll installs: two hotkeys kept (new versions), the rest new. */
export const CRASH_NEW_SET: readonly EliminationRow[] = ['r0', 'r4', 's0', 's1', 's2'].map((hk) => crashRow(hk, 7));
/** A set the heap of CRASH_ENGINE cannot hold next to the live one: refused with ERR_CAPACITY mid-fill. */
export const CRASH_BIG_SET: readonly EliminationRow[] = Array.from({ length: 16 }, (_, i) => crashRow(`big${i}`, 9, 9000));
/** Engine options of the crash runs: a heap small enough (64 KiB of data) for CRASH_BIG_SET to fill. */
export const CRASH_ENGINE = { eliminations: { maxRecords: 64, maxBytes: MIN_HEAP_BYTES } } as const;

/** A fresh engine of CRASH_ENGINE holding CRASH_SETUP (main thread). */
export function crashEngine(): Engine {
  const e = createEngine(CRASH_ENGINE);
  for (const r of CRASH_SETUP) e.eliminations.add(r);
  return e;
}

/** White-box view of the domain's two tables: [live, spare]. */
export function liveAndSpare(e: Engine): [SharedTable, SharedTable] {
  const h = e.handle();
  const key = { k0: h.seed[0], k1: h.seed[1] };
  const heap = new SharedHeap(h.eliminations.heap, key, 'test heap');
  const t = h.eliminations.tables.map((x, i) => new SharedTable(x, heap, key, `test table ${i}`));
  const live = e.stats().eliminations.generation & 1;
  return [t[live]!, t[1 - live]!];
}

/** Runs op; returns what it returned (take: the row), or the refused error's code. */
export function crashOp(engine: Engine, op: CrashOp): unknown {
  const el = engine.eliminations;
  switch (op) {
    case 'add-new':
      return el.add(crashRow('n0', 3));
    case 'add-update':
      return el.add(crashRow('r1', 3));
    case 'add-guarded':
      return el.add(crashRow('n0', 3), { ifEpoch: engine.general.syncGate.current().epoch });
    case 'take':
      return el.take('r2');
    case 'delete':
      return el.delete('r3');
    case 'replaceAll':
      return el.replaceAll(CRASH_NEW_SET as EliminationRow[]);
    case 'replaceAll-refused':
      try {
        el.replaceAll(CRASH_BIG_SET as EliminationRow[]);
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'not refused';
  }
}

/** The rows after op completed, from the rows before it. */
export function crashAfter(op: CrashOp, before: ReadonlyMap<string, EliminationRow>): Map<string, EliminationRow> {
  const m = new Map(before);
  if (op === 'add-new' || op === 'add-guarded') m.set('n0', crashRow('n0', 3));
  else if (op === 'add-update') m.set('r1', crashRow('r1', 3));
  else if (op === 'take') m.delete('r2');
  else if (op === 'delete') m.delete('r3');
  else if (op === 'replaceAll') return new Map(CRASH_NEW_SET.map((r) => [r.hotkey, r]));
  return m;
}

/** One random write over 40 small hotkeys (kill storms). */
export function stormStep(el: Engine['eliminations'], rnd: () => number): void {
  const hk = (): string => `k${Math.floor(rnd() * 40)}`;
  const p = rnd();
  if (p < 0.08) el.replaceAll(Array.from({ length: 5 + Math.floor(rnd() * 20) }, () => crashRow(hk(), Math.floor(rnd() * 1000))));
  else if (p < 0.55) el.add(crashRow(hk(), Math.floor(rnd() * 1000), rnd() < 0.1 ? 300 : 0));
  else if (p < 0.8) el.take(hk());
  else el.delete(hk());
}
