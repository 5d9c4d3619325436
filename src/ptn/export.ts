/**
 * exportValidatorTree(engine, dir, { prune }?): writes the engine's state as the validator's tree (tree.ts),
 * every file atomically (temp file, fsync, rename), as JSON the Python validator reads back to
 * the same values (py-json.ts). A position is written under open/ or closed/ by its state, and
 * the file of the same uuid under the other state directory is removed (the validator moves a
 * position's file when it closes). With `prune: true`, position files that the engine no longer
 * holds are removed too, so the tree mirrors the engine: under every hotkey directory of the tree,
 * including hotkeys the engine holds no position of any more (all deleted).
 *
 * One view: every position, every elimination row and every departed hotkey is read BEFORE the
 * first file is written, so eliminations.json and departed_hotkeys.json come from the same
 * reading of the engine as the positions (each domain read whole; across domains the reads are
 * back to back, not one atomic instant). Steps, and what a kill (SIGKILL) right after each
 * leaves; every file is written by writeFileAtomic, so no file is ever partial:
 *
 * | step | after it                                         | the tree after a kill                          |
 * | ---- | ------------------------------------------------ | ---------------------------------------------- |
 * | E1   | the view read                                    | unchanged                                      |
 * | E2   | eliminations.json written                        | new eliminations, old positions and departed   |
 * | E3   | departed_hotkeys.json written                    | new eliminations and departed, old positions   |
 * | E4   | one position's new file written (open/ or closed/) | that uuid may be in BOTH open/ and closed/: import loads the newer (import.ts) |
 * | E5   | the other state's file of that uuid removed      | that uuid in one place                         |
 * | E6   | (prune) a file the engine no longer holds removed | the rest pruned by the next export             |
 *
 * So after any kill each position is in one place, or in two of which import takes the newer
 * and lists the other in `report.superseded` (never an error, so onError: 'refuse' accepts it);
 * an export run again completes the tree. A temp file of a killed writer is left as a dot-file,
 * which import ignores; the next export removes those at the top of the tree (eliminations,
 * departed), position directories keep theirs until pruned by hand (not scanned: too many).
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SabStateError, describe, withIo } from '../errors.ts';
import { callOptions, optionError } from '../options.ts';
import { removeStaleTemps, writeFileAtomic } from '../internal/files/fs-atomic.ts';
import { pyJsonDumps } from './py-json.ts';
import { DEPARTED_FILE, ELIMINATIONS_FILE, MINERS_DIR, POSITIONS_DIR, type TreeEngine, checkEngine, isClosed, tradePairIdOf } from './tree.ts';

/** Options of exportValidatorTree. */
export interface ExportOptions {
  /**
   * Also remove position files the engine no longer holds, so the tree mirrors the engine (default
   * false).
   */
  prune?: boolean;
}
/** What exportValidatorTree wrote, by kind. */
export interface ExportReport {
  positions: number;
  eliminations: number;
  departed: number;
  removed: number;
}

function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.') && statSync(join(dir, n)).isFile());
  } catch {
    return [];
  }
}
function listDirs(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => statSync(join(dir, n)).isDirectory());
  } catch {
    return [];
  }
}

/**
 * Writes the engine's state as the validator's `validation/` tree under `dir`: the whole state is
 * read first, eliminations and departed are written from that reading, then each position's new
 * file before its old one is removed; each file atomically (temp file, fsync, rename). Returns
 * counts.
 * @throws {@link SabStateError} `ERR_INVALID_ARGUMENT` for a bad `engine` or `dir`,
 *   `ERR_INVALID_OPTION` for a bad `options`.
 * @throws {@link SabStateError} `ERR_IO` if a file cannot be written (EACCES, ENOSPC...); files
 *   already written stay whole.
 */
export function exportValidatorTree(engine: TreeEngine, dir: string, options?: ExportOptions): ExportReport {
  checkEngine(engine, 'exportValidatorTree');
  if (typeof dir !== 'string' || dir === '') throw new SabStateError(ErrorCode.INVALID_ARGUMENT, `exportValidatorTree: dir must be a directory path, got ${describe(dir)}`);
  const prune = callOptions(options, 'options', ['prune']).prune ?? false;
  if (typeof prune !== 'boolean') throw optionError('options.prune must be a boolean');
  return withIo(`exportValidatorTree(${JSON.stringify(dir)})`, () => exportTree(engine, dir, prune));
}

function exportTree(engine: TreeEngine, dir: string, prune: boolean): ExportReport {
  const report: ExportReport = { positions: 0, eliminations: 0, departed: 0, removed: 0 };
  // E1: the view, read whole before anything is written (see the top of the file).
  const hotkeys = engine.positions.hotkeys();
  const positions = new Map(hotkeys.map((hk) => [hk, engine.positions.listForHotkey(hk)]));
  const rows = [...engine.eliminations.list()].sort((a, b) => byString(a.hotkey, b.hotkey));
  const entries = engine.departed.entries().sort((a, b) => byString(a[0], b[0]));
  if (prune) {
    for (const hk of listDirs(join(dir, MINERS_DIR))) if (!positions.has(hk)) positions.set(hk, []);
  }
  // Temp files of killed writers (processes that no longer exist) at the top of the tree.
  removeStaleTemps(dir, false);
  // E2, E3: eliminations and departed (small), from the view.
  writeFileAtomic(join(dir, ELIMINATIONS_FILE), pyJsonDumps({ eliminations: rows }));
  report.eliminations = rows.length;
  const departed: Record<string, { detected_ms: number }> = {};
  for (const [hotkey, info] of entries) departed[hotkey] = { detected_ms: info.detected_ms };
  writeFileAtomic(join(dir, DEPARTED_FILE), pyJsonDumps({ departed_hotkeys: departed }));
  report.departed = entries.length;
  for (const [hotkey, list] of positions) {
    const posDir = join(dir, MINERS_DIR, hotkey, POSITIONS_DIR);
    const written = new Set<string>();
    for (const p of list) {
      const tp = tradePairIdOf(p);
      const uuid = p.position_uuid;
      if (tp === undefined || typeof uuid !== 'string') continue; // save() never lets such a record in
      const state = isClosed(p) ? 'closed' : 'open';
      const other = state === 'open' ? 'closed' : 'open';
      writeFileAtomic(join(posDir, tp, state, uuid), pyJsonDumps(p)); // E4: the new file first
      written.add(join(tp, state, uuid));
      try {
        rmSync(join(posDir, tp, other, uuid)); // E5: then the old one
        report.removed++;
      } catch {
        // not there: nothing to move
      }
      report.positions++;
    }
    if (prune) {
      for (const tp of listDirs(posDir)) {
        for (const state of ['open', 'closed']) {
          for (const f of listFiles(join(posDir, tp, state))) {
            if (!written.has(join(tp, state, f))) {
              rmSync(join(posDir, tp, state, f)); // E6
              report.removed++;
            }
          }
        }
      }
    }
  }
  return report;
}

const byString = (a: unknown, b: unknown): number => {
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
};
