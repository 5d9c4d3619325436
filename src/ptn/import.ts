/**
 * A uuid under both open/ and closed/ of one trade pair is what a move interrupted by a kill
 * leaves (the validator and exportValidatorTree both write the new file before removing the
 * old one): the NEWER version (by its own timestamps: the latest of open_ms, close_ms and its orders'
 * processed_ms; on a tie the closed one, since positions close and do not reopen; file times
 * are not used, a copied tree loses them) is loaded and the other listed in `report.superseded`, not as an error, so
 * `onError: 'refuse'` does not refuse a tree an interrupted export left.
 *
 * importValidatorTree(engine, dir, { onError }): reads a validator's `validation/` tree (see
 * tree.ts) into an engine. Two phases: every file is read and checked first, then the state is
 * written; so with `onError: 'refuse'` a tree with any malformed file is refused whole
 * (ERR_INVALID_VALUE listing the files) and the engine is left untouched. With the default
 * `'skip'`, malformed files are skipped and reported. Nothing is ever dropped silently: every
 * file is either loaded or listed in `report.errors` with its path and the reason.
 *
 * A position file is malformed when it is not JSON, not an object, or when its miner_hotkey,
 * position_uuid, trade pair or open/closed state disagrees with its path, when it is a second
 * open position for one (hotkey, trade pair), or an open/ file whose uuid is also under closed/
 * (all found before anything is written); also when
 * the engine refuses it on save (reported in 'skip' mode; in 'refuse' mode only the checks above
 * run before writing, so such a refusal is still reported, not refused whole).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SabStateError, describe, withIo } from '../errors.ts';
import { callOptions, optionError } from '../options.ts';
import { DEPARTED_FILE, ELIMINATIONS_FILE, MINERS_DIR, POSITIONS_DIR, type TreeEngine, checkEngine, isClosed, loadPositions, tradePairIdOf } from './tree.ts';

/** A file importValidatorTree skipped (or, with `onError: 'refuse'`, refused): its path and why. */
export interface ImportError {
  path: string;
  reason: string;
}
/** What importValidatorTree loaded, by kind, and every malformed file. */
export interface ImportReport {
  positions: number;
  open: number;
  closed: number;
  eliminations: number;
  departed: number;
  /** Files read (positions, eliminations.json, departed_hotkeys.json). */
  files: number;
  errors: ImportError[];
  /** Older copies of a position also found under the other state directory (not loaded). */
  superseded: ImportError[];
}
/** Options of importValidatorTree. */
export interface ImportOptions {
  /** 'skip' (default): load the rest, report the bad; 'refuse': load nothing if anything is bad. */
  onError?: 'skip' | 'refuse';
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function list(p: string): string[] {
  return isDir(p) ? readdirSync(p).filter((n) => !n.startsWith('.')).sort() : [];
}

function readJson(path: string, errors: ImportError[]): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    errors.push({ path, reason: `unreadable: ${(e as Error).message}` });
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    errors.push({ path, reason: `not JSON: ${(e as Error).message}` });
    return undefined;
  }
}

/** The latest time a position records: open_ms, close_ms, its orders' processed_ms (-Infinity if none). */
function newestMs(p: Record<string, unknown>): number {
  let t = -Infinity;
  const see = (x: unknown): void => {
    if (typeof x === 'number' && x > t) t = x;
  };
  see(p.open_ms);
  see(p.close_ms);
  if (Array.isArray(p.orders)) for (const o of p.orders) if (isObject(o)) see(o.processed_ms);
  return t;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Loaded {
  positions: { path: string; hotkey: string; tp: string; value: Record<string, unknown> }[];
  eliminations: { path: string; row: Record<string, unknown> }[];
  departed: { path: string; hotkey: string; ms: number }[];
  files: number;
  superseded: ImportError[];
}

function readTree(dir: string, errors: ImportError[]): Loaded {
  const out: Loaded = { positions: [], eliminations: [], departed: [], files: 0, superseded: [] };
  // (hotkey, trade pair) -> the path of its open position, so that a second one is found in
  // this phase (save would refuse it only after other files were written: 'refuse' must not).
  const openAt = new Map<string, string>();
  for (const hotkey of list(join(dir, MINERS_DIR))) {
    const posDir = join(dir, MINERS_DIR, hotkey, POSITIONS_DIR);
    for (const tp of list(posDir)) {
      // closed/ first; an open/ file of a uuid also under closed/ is the leftover of a move not
      // finished (written first, removed second): the newer file wins (see the top of the file).
      const closedAt = new Map<string, { index: number; newest: number; path: string }>();
      for (const state of ['closed', 'open'] as const) {
        for (const uuid of list(join(posDir, tp, state))) {
          const path = join(posDir, tp, state, uuid);
          if (!statSync(path).isFile()) continue;
          out.files++;
          const v = readJson(path, errors);
          if (v === undefined) continue;
          const bad = (reason: string) => errors.push({ path, reason });
          if (!isObject(v)) bad('not a JSON object');
          else if (v.miner_hotkey !== hotkey) bad(`miner_hotkey ${JSON.stringify(v.miner_hotkey)} differs from the directory ${hotkey}`);
          else if (v.position_uuid !== uuid) bad(`position_uuid ${JSON.stringify(v.position_uuid)} differs from the file name`);
          else if (tradePairIdOf(v) !== tp) bad(`trade pair ${JSON.stringify(tradePairIdOf(v))} differs from the directory ${tp}`);
          else if (isClosed(v) !== (state === 'closed')) bad(`is_closed_position is ${String(v.is_closed_position)} but the file is under ${state}/`);
          else if (typeof v.is_closed_position !== 'boolean') bad(`is_closed_position is ${JSON.stringify(v.is_closed_position)}, not a boolean`);
          else if (!Array.isArray(v.orders)) bad('orders is not an array');
          else if (state === 'open' && closedAt.has(uuid) && closedAt.get(uuid)!.newest >= newestMs(v)) {
            out.superseded.push({ path, reason: `older than ${closedAt.get(uuid)!.path} (an interrupted move): the closed version is loaded` });
          } else if (state === 'open' && openAt.has(`${hotkey}\n${tp}`)) bad(`a second open position of (${hotkey}, ${tp}); ${openAt.get(`${hotkey}\n${tp}`)} is open too`);
          else {
            const entry = { path, hotkey, tp, value: v };
            const older = state === 'open' ? closedAt.get(uuid) : undefined;
            if (older !== undefined) {
              // The open file is newer (a reopened position whose move was interrupted).
              out.superseded.push({ path: older.path, reason: `older than ${path} (an interrupted move): the open version is loaded` });
              out.positions[older.index] = entry;
            } else out.positions.push(entry);
            if (state === 'open') openAt.set(`${hotkey}\n${tp}`, path);
            else closedAt.set(uuid, { index: out.positions.length - 1, newest: newestMs(v), path });
          }
        }
      }
    }
  }
  const elimPath = join(dir, ELIMINATIONS_FILE);
  if (isDir(dir) && list(dir).includes(ELIMINATIONS_FILE)) {
    out.files++;
    const v = readJson(elimPath, errors);
    if (v !== undefined) {
      const rows = isObject(v) ? v.eliminations : undefined;
      if (!Array.isArray(rows)) errors.push({ path: elimPath, reason: 'expected {"eliminations": [...]}' });
      else rows.forEach((row, i) => {
        if (isObject(row) && typeof row.hotkey === 'string' && row.hotkey !== '') out.eliminations.push({ path: elimPath, row });
        else errors.push({ path: `${elimPath}#eliminations[${i}]`, reason: 'row without a hotkey' });
      });
    }
  }
  const depPath = join(dir, DEPARTED_FILE);
  if (isDir(dir) && list(dir).includes(DEPARTED_FILE)) {
    out.files++;
    const v = readJson(depPath, errors);
    if (v !== undefined) {
      const map = isObject(v) ? v.departed_hotkeys : undefined;
      if (!isObject(map)) errors.push({ path: depPath, reason: 'expected {"departed_hotkeys": {...}}' });
      else for (const [hotkey, info] of Object.entries(map)) {
        const ms = isObject(info) ? info.detected_ms : undefined;
        if (typeof ms === 'number' && Number.isFinite(ms)) out.departed.push({ path: depPath, hotkey, ms });
        else errors.push({ path: `${depPath}#${hotkey}`, reason: 'detected_ms is not a number' });
      }
    }
  }
  return out;
}

/**
 * Reads the validator's on-disk `validation/` tree (positions, eliminations.json,
 * departed_hotkeys.json) into the engine and returns a report: counts, every malformed file with
 * its path and reason, and (`superseded`) every position found under both `open/` and `closed/`
 * of which the newer was loaded.
 * @throws {@link SabStateError} `ERR_INVALID_VALUE` if `dir` is not a directory, or (with `onError:
 *   'refuse'`) any file is malformed; nothing is imported then.
 * @throws {@link SabStateError} `ERR_CAPACITY` if the tree does not fit the engine's capacities.
 * @throws {@link SabStateError} `ERR_INVALID_ARGUMENT` for a bad `engine` or `dir`,
 *   `ERR_INVALID_OPTION` if `options.onError` is not `'skip'` or `'refuse'`; `ERR_IO` if a file
 *   cannot be read.
 */
export function importValidatorTree(engine: TreeEngine, dir: string, options?: ImportOptions): ImportReport {
  checkEngine(engine, 'importValidatorTree');
  const onError = callOptions(options, 'options', ['onError']).onError ?? 'skip';
  if (onError !== 'skip' && onError !== 'refuse') throw optionError("options.onError must be 'skip' or 'refuse'");
  if (typeof dir !== 'string' || dir === '') throw new SabStateError(ErrorCode.INVALID_ARGUMENT, `importValidatorTree: dir must be a directory path, got ${describe(dir)}`);
  if (!isDir(dir)) throw new SabStateError(ErrorCode.INVALID_VALUE, `importValidatorTree: ${dir} is not a directory`);
  const errors: ImportError[] = [];
  const t = withIo(`importValidatorTree(${JSON.stringify(dir)})`, () => readTree(dir, errors));
  if (onError === 'refuse' && errors.length > 0) {
    const list = errors.slice(0, 10).map((e) => `${e.path}: ${e.reason}`).join('; ');
    throw new SabStateError(ErrorCode.INVALID_VALUE, `importValidatorTree refused ${errors.length} malformed file(s), nothing loaded: ${list}`);
  }
  const report: ImportReport = { positions: 0, open: 0, closed: 0, eliminations: 0, departed: 0, files: t.files, errors, superseded: t.superseded };
  const saved = loadPositions(engine, t.positions, (p) => p.value, (p, e) => errors.push({ path: p.path, reason: `${e.code}: ${e.message}` }));
  for (const p of saved) {
    report.positions++;
    if (isClosed(p.value)) report.closed++;
    else report.open++;
  }
  for (const e of t.eliminations) {
    try {
      engine.eliminations.add(e.row);
      report.eliminations++;
    } catch (x) {
      if (!(x instanceof SabStateError) || x.code === ErrorCode.CAPACITY) throw x;
      errors.push({ path: e.path, reason: `${x.code}: ${x.message}` });
    }
  }
  for (const d of t.departed) {
    try {
      engine.departed.mark(d.hotkey, d.ms);
      report.departed++;
    } catch (x) {
      if (!(x instanceof SabStateError) || x.code === ErrorCode.CAPACITY) throw x;
      errors.push({ path: `${d.path}#${d.hotkey}`, reason: `${x.code}: ${x.message}` });
    }
  }
  return report;
}
