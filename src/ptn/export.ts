/**
 * exportValidatorTree(engine, dir): writes the engine's state as the validator's tree (tree.ts),
 * every file atomically (temp file, fsync, rename), as JSON the Python validator reads back to
 * the same values (py-json.ts). A position is written under open/ or closed/ by its state, and
 * the file of the same uuid under the other state directory is removed (the validator moves a
 * position's file when it closes). With `prune: true`, position files that the engine no longer
 * holds are removed too, so the tree mirrors the engine: under every hotkey directory of the tree,
 * including hotkeys the engine holds no position of any more (all deleted).
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../internal/fs-atomic.ts';
import { pyJsonDumps } from './py-json.ts';
import { DEPARTED_FILE, ELIMINATIONS_FILE, MINERS_DIR, POSITIONS_DIR, type TreeEngine, isClosed, tradePairIdOf } from './tree.ts';

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
 * Writes the engine's state as the validator's `validation/` tree under `dir`, each file atomically
 * (temp file, fsync, rename); returns counts.
 * @throws the file system's error (e.g. EACCES, ENOSPC) if a file cannot be written; files already
 *   written stay whole.
 */
export function exportValidatorTree(engine: TreeEngine, dir: string, options: ExportOptions = {}): ExportReport {
  const report: ExportReport = { positions: 0, eliminations: 0, departed: 0, removed: 0 };
  const hotkeys = engine.positions.hotkeys();
  if (options.prune) {
    const held = new Set(hotkeys);
    for (const hk of listDirs(join(dir, MINERS_DIR))) if (!held.has(hk)) hotkeys.push(hk);
  }
  for (const hotkey of hotkeys) {
    const posDir = join(dir, MINERS_DIR, hotkey, POSITIONS_DIR);
    const written = new Set<string>();
    for (const p of engine.positions.listForHotkey(hotkey)) {
      const tp = tradePairIdOf(p);
      const uuid = p.position_uuid;
      if (tp === undefined || typeof uuid !== 'string') continue; // save() never lets such a record in
      const state = isClosed(p) ? 'closed' : 'open';
      const other = state === 'open' ? 'closed' : 'open';
      writeFileAtomic(join(posDir, tp, state, uuid), pyJsonDumps(p));
      written.add(join(tp, state, uuid));
      try {
        rmSync(join(posDir, tp, other, uuid));
        report.removed++;
      } catch {
        // not there: nothing to move
      }
      report.positions++;
    }
    if (options.prune) {
      for (const tp of listDirs(posDir)) {
        for (const state of ['open', 'closed']) {
          for (const f of listFiles(join(posDir, tp, state))) {
            if (!written.has(join(tp, state, f))) {
              rmSync(join(posDir, tp, state, f));
              report.removed++;
            }
          }
        }
      }
    }
  }
  // Table order is arbitrary: sort by hotkey so that exports are deterministic and diff well.
  const rows = [...engine.eliminations.list()].sort((a, b) => String(a.hotkey) < String(b.hotkey) ? -1 : String(a.hotkey) > String(b.hotkey) ? 1 : 0);
  writeFileAtomic(join(dir, ELIMINATIONS_FILE), pyJsonDumps({ eliminations: rows }));
  report.eliminations = rows.length;
  const departed: Record<string, { detected_ms: number }> = {};
  const entries = engine.departed.entries().sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [hotkey, info] of entries) departed[hotkey] = { detected_ms: info.detected_ms };
  writeFileAtomic(join(dir, DEPARTED_FILE), pyJsonDumps({ departed_hotkeys: departed }));
  report.departed = Object.keys(departed).length;
  return report;
}
