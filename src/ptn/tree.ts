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

/**
 * The trade pair of a position as stored, unchecked: `trade_pair` if a string, else the legacy
 * array's first item (the one place that knows both shapes; withLock and save check the id).
 */
export function tradePairOf(p: Record<string, unknown>): unknown {
  const tp = p.trade_pair;
  return typeof tp === 'string' ? tp : Array.isArray(tp) ? tp[0] : undefined;
}

/** The trade pair id of a position (tradePairOf), or undefined if it is not a string. */
export function tradePairIdOf(p: Record<string, unknown>): string | undefined {
  const tp = tradePairOf(p);
  return typeof tp === 'string' ? tp : undefined;
}

/**
 * Saves positions into an engine the one way a whole set is loaded (importValidatorTree and a
 * snapshot's restore): closed ones first, since a set may hold the closed version of a position
 * next to a newer open one of the same trade pair and the open index must end with the open one;
 * each by withLock(miner_hotkey, trade pair) + save. A SabStateError other than ERR_CAPACITY goes
 * to `refused` when given (the item is skipped), else it is thrown. Returns the items saved.
 */
export function loadPositions<T>(
  engine: TreeEngine, items: readonly T[], valueOf: (item: T) => Record<string, unknown>, refused?: (item: T, e: SabStateError) => void,
): T[] {
  const ordered = [...items].sort((a, b) => Number(isClosed(valueOf(b))) - Number(isClosed(valueOf(a))));
  const saved: T[] = [];
  for (const item of ordered) {
    const p = valueOf(item);
    try {
      engine.locks.withLock(p.miner_hotkey as string, tradePairOf(p) as string, () => engine.positions.save(p));
      saved.push(item);
    } catch (e) {
      if (refused === undefined || !(e instanceof SabStateError) || e.code === ErrorCode.CAPACITY) throw e;
      refused(item, e);
    }
  }
  return saved;
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
