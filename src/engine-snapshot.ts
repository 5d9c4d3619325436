/**
 * Engine snapshots: what each domain contributes, and how a new engine is filled from one.
 * The files themselves (generations, manifest, SHA-256, atomic writes) are
 * internal/snapshot-files.ts.
 *
 * | part          | content                                        | consistency |
 * | ------------- | ---------------------------------------------- | ----------- |
 * | positions     | every position as its JSON value               | positions.entriesRaw(): writes held back (write gate freeze) |
 * | eliminations  | every row                                      | under the domain's writer lock |
 * | departed      | [hotkey, detected_ms] pairs                    | write gate freeze |
 * | general       | counters' values, each map's entries           | each map frozen; counters read one by one |
 *
 * Not persisted: queue contents (in-flight notices: a restored engine starts with empty queues
 * of the same declarations), lock state and statistics, the sync gate's epoch (restarts at 0
 * with no sync in progress). Values go through JSON, so a -0 comes back as 0.
 *
 * A restored engine is built completely before createEngine returns it; any inconsistency in
 * the snapshot (checksums pass but a part has the wrong shape, or a position is refused) is
 * ERR_SNAPSHOT_CORRUPT and no engine is returned.
 */
import { ErrorCode, SabStateError } from './errors.ts';
import { decodeOrder, decodePositionHead } from './internal/codec.ts';
import { LAYOUT_VERSION } from './internal/region.ts';
import { readSnapshot, writeSnapshot } from './internal/snapshot-files.ts';
import type { SharedMap } from './domains/shared-map.ts';
import type { Position } from './domains/positions.ts';
import type { EliminationRow } from './domains/eliminations.ts';
import type { Engine } from './engine.ts';

interface Meta {
  layoutVersion: number;
  hashSeed: string;
  options: { lockStripes: number; positions: unknown; eliminations: unknown; departed: unknown };
  general: { queues: Record<string, { capacity: number; maxMessageBytes: number }>; counters: string[]; maps: string[] };
}
interface GeneralPart {
  counters: Record<string, number>;
  maps: Record<string, Array<[string, unknown]>>;
}

export interface EngineSnapshotState {
  hashSeed: bigint;
  options: Meta['options'];
  generalOptions: Meta['general'];
  parts: { positions: Position[]; eliminations: EliminationRow[]; departed: Array<[string, number]>; general: GeneralPart };
}

export function writeEngineSnapshot(engine: Engine, dir: string): { generation: number; positions: number; eliminations: number; departed: number } {
  const o = engine.options;
  const meta: Meta = {
    layoutVersion: LAYOUT_VERSION,
    hashSeed: engine.hashSeed.toString(),
    options: { lockStripes: o.lockStripes, positions: o.positions, eliminations: o.eliminations, departed: o.departed },
    general: {
      queues: Object.fromEntries(o.general.queues.map((q) => [q.name, { capacity: q.capacity, maxMessageBytes: q.maxMessageBytes }])),
      counters: o.general.counters,
      maps: o.general.maps,
    },
  };
  const positions = engine.positions.entriesRaw().map((e) => {
    const p = decodePositionHead(e.head);
    p.orders = e.orders.map((b) => decodeOrder(b));
    return p;
  });
  const eliminations = engine.eliminations.listConsistent();
  const departed = engine.departed.entriesRaw();
  const general: GeneralPart = {
    counters: Object.fromEntries(o.general.counters.map((n) => [n, engine.general.counter(n).get()])),
    maps: Object.fromEntries(o.general.maps.map((n) => [n, (engine.general.map(n) as SharedMap).entriesConsistent()])),
  };
  const generation = writeSnapshot(dir, meta, { positions, eliminations, departed, general });
  return { generation, positions: positions.length, eliminations: eliminations.length, departed: departed.length };
}

function corrupt(dir: string, why: string): never {
  throw new SabStateError(ErrorCode.SNAPSHOT_CORRUPT, `snapshot ${dir}: ${why}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads and checks a snapshot directory (files and shapes); nothing is created yet. */
export function readEngineSnapshot(dir: string): EngineSnapshotState & { dir: string } {
  const s = readSnapshot(dir);
  const m = s.meta as Partial<Meta> | null;
  if (!isObj(m) || !isObj(m.options) || !isObj(m.general) || typeof m.hashSeed !== 'string' || !/^\d+$/.test(m.hashSeed)) {
    corrupt(dir, 'the manifest has no engine description');
  }
  if (m.layoutVersion !== LAYOUT_VERSION) corrupt(dir, `written by layout version ${String(m.layoutVersion)}, this library reads ${LAYOUT_VERSION}`);
  const p = s.parts;
  if (!Array.isArray(p.positions) || !p.positions.every((x) => isObj(x) && Array.isArray(x.orders))) corrupt(dir, 'positions part is malformed');
  if (!Array.isArray(p.eliminations) || !p.eliminations.every(isObj)) corrupt(dir, 'eliminations part is malformed');
  if (!Array.isArray(p.departed) || !p.departed.every((x) => Array.isArray(x) && typeof x[0] === 'string' && typeof x[1] === 'number')) {
    corrupt(dir, 'departed part is malformed');
  }
  const g = p.general as Partial<GeneralPart> | undefined;
  if (
    !isObj(g) || !isObj(g.counters) || !isObj(g.maps) ||
    !Object.values(g.counters).every((v) => Number.isSafeInteger(v)) ||
    !Object.values(g.maps).every((es) => Array.isArray(es) && es.every((x) => Array.isArray(x) && x.length === 2))
  ) {
    corrupt(dir, 'general part is malformed');
  }
  return {
    dir,
    hashSeed: BigInt(m.hashSeed!),
    options: m.options as Meta['options'],
    generalOptions: m.general as Meta['general'],
    parts: {
      positions: p.positions as Position[],
      eliminations: p.eliminations as EliminationRow[],
      departed: p.departed as Array<[string, number]>,
      general: g as GeneralPart,
    },
  };
}

/** Fills a new, empty engine (not yet shared with any thread) from a checked snapshot. */
export function restoreEngineState(engine: Engine, state: EngineSnapshotState & { dir: string }): void {
  const { parts, dir } = state;
  try {
    // Closed positions first: the open index ends with the open version of each trade pair.
    const ordered = [...parts.positions].sort((a, b) => Number(b.is_closed_position === true) - Number(a.is_closed_position === true));
    for (const p of ordered) {
      // A malformed trade pair or hotkey is refused by withLock (ERR_INVALID_KEY) or save.
      const tp: unknown = typeof p.trade_pair === 'string' ? p.trade_pair : Array.isArray(p.trade_pair) ? p.trade_pair[0] : undefined;
      engine.locks.withLock(p.miner_hotkey, tp as string, () => engine.positions.save(p));
    }
    engine.eliminations.replaceAll(parts.eliminations);
    for (const [hk, ms] of parts.departed) engine.departed.mark(hk, ms);
    for (const [name, value] of Object.entries(parts.general.counters)) {
      if (engine.options.general.counters.includes(name) && value !== 0) engine.general.counter(name).add(value);
    }
    for (const [name, entries] of Object.entries(parts.general.maps)) {
      if (!engine.options.general.maps.includes(name)) continue;
      const m = engine.general.map(name);
      for (const [k, v] of entries) m.set(k, v);
    }
  } catch (e) {
    if (e instanceof SabStateError && e.code !== ErrorCode.CAPACITY && e.code !== ErrorCode.VALUE_TOO_LARGE) {
      corrupt(dir, `a record was refused on restore (${e.code}: ${e.message})`);
    }
    throw e;
  }
}
