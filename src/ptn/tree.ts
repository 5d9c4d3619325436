/**
 * The validator's on-disk tree, as the Python validator lays it out:
 *
 *   validation/miners/{hotkey}/positions/{trade_pair_id}/{open|closed}/{position_uuid}
 *       one JSON position per file, no extension (`Position.to_json_string()`)
 *   validation/eliminations.json        {"eliminations": [row, ...]}
 *   validation/departed_hotkeys.json    {"departed_hotkeys": {hotkey: {"detected_ms": int}}}
 *
 * `dir` given to import/export is the `validation` directory itself.
 * The engine is seen through the small structural interface below, so this module depends only
 * on the public API of the domains.
 */

import { ErrorCode, SabStateError, describe } from '../errors.ts';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type PositionLike = Record<string, unknown> & { miner_hotkey: string; position_uuid: string };

export interface TreeEngine {
  readonly locks: { withLock<T>(hotkey: string, tradePairId: string, fn: () => T): T };
  readonly positions: {
    save(position: Record<string, unknown>): void;
    hotkeys(): string[];
    listForHotkey(hotkey: string): readonly Record<string, unknown>[];
  };
  readonly eliminations: { add(row: Record<string, unknown>): void; list(): readonly Record<string, unknown>[] };
  readonly departed: { mark(hotkey: string, detectedMs: number): void; entries(): [string, { detected_ms: number }][] };
}

export const MINERS_DIR = 'miners';
export const POSITIONS_DIR = 'positions';
export const ELIMINATIONS_FILE = 'eliminations.json';
export const DEPARTED_FILE = 'departed_hotkeys.json';

/** The trade pair id of a position: `trade_pair` if a string, else the legacy array's first item. */
export function tradePairIdOf(p: Record<string, unknown>): string | undefined {
  const tp = p.trade_pair;
  if (typeof tp === 'string') return tp;
  if (Array.isArray(tp) && typeof tp[0] === 'string') return tp[0];
  return undefined;
}

export function isClosed(p: Record<string, unknown>): boolean {
  return p.is_closed_position === true;
}

/** The engine argument of importValidatorTree / exportValidatorTree: ERR_INVALID_ARGUMENT unless it has the domains used. */
export function checkEngine(engine: unknown, what: string): asserts engine is TreeEngine {
  const e = engine as Partial<Record<'locks' | 'positions' | 'eliminations' | 'departed', unknown>> | null;
  if (typeof e !== 'object' || e === null || ['locks', 'positions', 'eliminations', 'departed'].some((d) => typeof e[d as 'locks'] !== 'object' || e[d as 'locks'] === null)) {
    throw new SabStateError(ErrorCode.INVALID_ARGUMENT, `${what}: engine must be an engine (createEngine / attachEngine), got ${describe(engine)}`);
  }
}
