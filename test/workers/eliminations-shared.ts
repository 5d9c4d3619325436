// Shared between test/eliminations.test.ts and test/workers/eliminations-worker.ts: the control
// words of the stress runs, the rows of the replaceAll sets, and the workers' result shapes.
import type { EliminationRow } from '../../src/index.ts';

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
