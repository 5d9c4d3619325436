/**
 * Engine snapshots: what each domain contributes, and how a new engine is filled from one.
 * The files themselves (generations, checksummed manifest, SHA-256 of every file, atomic
 * writes, the crash table of a snapshot on disk) are internal/snapshot-files.ts.
 *
 * | part          | content                                        | consistency |
 * | ------------- | ---------------------------------------------- | ----------- |
 * | positions     | every position, whole                          | positions.consistentEntries(): writes held back (write gate freeze) |
 * | eliminations  | every row                                      | eliminations.consistentEntries(): under the domain's writer lock |
 * | departed      | [hotkey, detected_ms] pairs                    | departed.consistentEntries(): write gate freeze |
 * | general       | counters (exact 64-bit, as decimal strings), each map's entries, each queue's messages (type + payload bytes), the sync epoch | each map's consistentEntries() (frozen); each queue under both its locks; counters and the epoch read one by one |
 *
 * Every domain hands its entries over by one name, `consistentEntries` (store-recovery.ts): this
 * file never decodes a domain's bytes itself.
 *
 * Every part is encoded by the codec (lossless like the engine: -0, key order, unknown fields,
 * lone surrogates). Not persisted: lock state and statistics, and whether a sync was in
 * progress (a restored engine has none in progress, at the saved epoch).
 *
 * The hash seed is never written: a restored engine gets a fresh random seed, unless the caller
 * pins one with createEngine({ restoreFrom, hashSeed }). A leaked snapshot therefore says
 * nothing about the seed of any running engine (README, "The hash seed").
 *
 * A restored engine is built completely before createEngine returns it; any inconsistency in
 * the snapshot (checksums pass but a part has the wrong shape, or a record is refused) is
 * ERR_SNAPSHOT_CORRUPT and no engine is returned.
 */
import { ErrorCode, SabStateError } from './errors.ts';
import { decodeValue, encodeValue } from './internal/codec/codec.ts';
import { LAYOUT_VERSION } from './internal/region.ts';
import { readSnapshot, writeSnapshot } from './internal/files/snapshot-files.ts';
import { MAP_DEFAULTS } from './domains/general.ts';
import type { Position } from './domains/positions/positions.ts';
import type { EliminationRow } from './domains/eliminations.ts';
import type { Engine } from './engine.ts';
import { loadPositions } from './ptn/tree.ts';

interface Meta {
  layoutVersion: number;
  options: { lockStripes: number; positions: unknown; eliminations: unknown; departed: unknown };
  general: { queues: Record<string, { capacity: number; maxMessageBytes: number }>; counters: string[]; maps: unknown };
}
type QueuedMessage = ['string' | 'bytes' | 'json', string];
interface GeneralPart {
  counters: Record<string, number | string>;
  maps: Record<string, Array<[string, unknown]>>;
  queues: Record<string, QueuedMessage[]>;
  syncEpoch: number;
}

export interface EngineSnapshotState {
  options: Meta['options'];
  generalOptions: Meta['general'];
  parts: { positions: Position[]; eliminations: EliminationRow[]; departed: Array<[string, number]>; general: GeneralPart };
}

/** What `engine.snapshot(dir)` wrote: the generation number and how many records of each kind. */
export interface SnapshotReport {
  /** The generation written (higher than every generation already in the directory). */
  generation: number;
  /** Positions, elimination rows and departed hotkeys written. */
  positions: number;
  eliminations: number;
  departed: number;
  /** Queue messages written (in flight at the moment of the copy). */
  queued: number;
}

function encodePart(value: unknown, name: string): Uint8Array {
  return encodeValue(value, name).slice();
}

export function writeEngineSnapshot(engine: Engine, dir: string): SnapshotReport {
  const o = engine.options;
  const meta: Meta = {
    layoutVersion: LAYOUT_VERSION,
    options: { lockStripes: o.lockStripes, positions: o.positions, eliminations: o.eliminations, departed: o.departed },
    general: {
      queues: Object.fromEntries(o.general.queues.map((q) => [q.name, { capacity: q.capacity, maxMessageBytes: q.maxMessageBytes }])),
      counters: o.general.counters,
      maps: o.general.mapSizes === undefined ? o.general.maps : Object.fromEntries(o.general.maps.map((n) => [n, { ...(o.general.mapSizes![n] ?? MAP_DEFAULTS) }])),
    },
  };
  const positions = engine.positions.consistentEntries();
  const eliminations = engine.eliminations.consistentEntries();
  const departed = engine.departed.consistentEntries();
  let queued = 0;
  const general: GeneralPart = {
    counters: Object.fromEntries(o.general.counters.map((n) => [n, engine.general.counter(n).getBigInt().toString()])),
    maps: Object.fromEntries(o.general.maps.map((n) => [n, engine.general.mapStore(n).consistentEntries()])),
    queues: Object.fromEntries(
      o.general.queues.map((q) => {
        const msgs = engine.general.ring(q.name).snapshotContents();
        queued += msgs.length;
        return [q.name, msgs.map((m): QueuedMessage => [m.type, Buffer.from(m.payload).toString('base64')])];
      }),
    ),
    syncEpoch: engine.general.syncGate.current().epoch,
  };
  const generation = writeSnapshot(dir, meta, {
    positions: encodePart(positions, 'positions'),
    eliminations: encodePart(eliminations, 'eliminations'),
    departed: encodePart(departed, 'departed'),
    general: encodePart(general, 'general'),
  });
  return { generation, positions: positions.length, eliminations: eliminations.length, departed: departed.length, queued };
}

function corrupt(dir: string, why: string): never {
  throw new SabStateError(ErrorCode.SNAPSHOT_CORRUPT, `snapshot ${dir}: ${why}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const QUEUED_TYPES = new Set(['string', 'bytes', 'json']);

/** Reads and checks a snapshot directory (files and shapes); nothing is created yet. */
export function readEngineSnapshot(dir: string): EngineSnapshotState & { dir: string } {
  const s = readSnapshot(dir);
  const m = s.meta as Partial<Meta> | null;
  if (!isObj(m) || !isObj(m.options) || !isObj(m.general)) corrupt(dir, 'the manifest has no engine description');
  if (m.layoutVersion !== LAYOUT_VERSION) corrupt(dir, `written by layout version ${JSON.stringify(m.layoutVersion) ?? 'none'}, this library reads ${LAYOUT_VERSION}`);
  const p: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(s.parts)) {
    if (s.version === 1) p[name] = raw;
    else {
      try {
        p[name] = decodeValue(raw as Uint8Array);
      } catch (e) {
        corrupt(dir, `the ${name} part does not decode (${(e as Error).message})`);
      }
    }
  }
  if (!Array.isArray(p.positions) || !p.positions.every((x) => isObj(x) && Array.isArray(x.orders))) corrupt(dir, 'positions part is malformed');
  if (!Array.isArray(p.eliminations) || !p.eliminations.every(isObj)) corrupt(dir, 'eliminations part is malformed');
  if (!Array.isArray(p.departed) || !p.departed.every((x) => Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' && typeof x[1] === 'number')) {
    corrupt(dir, 'departed part is malformed');
  }
  const g = p.general as Partial<GeneralPart> | undefined;
  if (
    !isObj(g) || !isObj(g.counters) || !isObj(g.maps) ||
    !Object.values(g.counters).every((v) => Number.isSafeInteger(v) || (typeof v === 'string' && /^-?\d{1,20}$/.test(v))) ||
    !Object.values(g.maps).every((es) => Array.isArray(es) && es.every((x) => Array.isArray(x) && x.length === 2 && typeof x[0] === 'string'))
  ) {
    corrupt(dir, 'general part is malformed');
  }
  // Version 1 had no queues and no epoch.
  const queues = g.queues ?? {};
  const syncEpoch = g.syncEpoch ?? 0;
  if (
    !isObj(queues) || !Number.isSafeInteger(syncEpoch) || syncEpoch < 0 || syncEpoch >= 2 ** 30 ||
    !Object.values(queues).every((ms) => Array.isArray(ms) && ms.every((x) => Array.isArray(x) && x.length === 2 && QUEUED_TYPES.has(x[0]) && typeof x[1] === 'string'))
  ) {
    corrupt(dir, 'general part is malformed (queues or sync epoch)');
  }
  return {
    dir,
    options: m.options as Meta['options'],
    generalOptions: m.general as Meta['general'],
    parts: {
      positions: p.positions as Position[],
      eliminations: p.eliminations as EliminationRow[],
      departed: p.departed as Array<[string, number]>,
      general: { counters: g.counters, maps: g.maps, queues: queues as GeneralPart['queues'], syncEpoch } as GeneralPart,
    },
  };
}

/** Adds a 64-bit value (decimal string or safe integer) to a fresh counter in safe-integer steps. */
function addExact(add: (n: number) => unknown, value: number | string): void {
  let left = BigInt(value);
  const step = BigInt(Number.MAX_SAFE_INTEGER);
  while (left !== 0n) {
    const d = left > step ? step : left < -step ? -step : left;
    add(Number(d));
    left -= d;
  }
}

/** Fills a new, empty engine (not yet shared with any thread) from a checked snapshot. */
export function restoreEngineState(engine: Engine, state: EngineSnapshotState & { dir: string }): void {
  const { parts, dir } = state;
  const g = engine.general;
  try {
    // A malformed trade pair or hotkey is refused by withLock (ERR_INVALID_KEY) or save.
    loadPositions(engine, parts.positions, (p) => p);
    engine.eliminations.replaceAll(parts.eliminations);
    for (const [hk, ms] of parts.departed) engine.departed.mark(hk, ms);
    for (const [name, value] of Object.entries(parts.general.counters)) {
      if (engine.options.general.counters.includes(name)) addExact((n) => g.counter(name).add(n), value);
    }
    for (const [name, entries] of Object.entries(parts.general.maps)) {
      if (!engine.options.general.maps.includes(name)) continue;
      const m = g.map(name);
      for (const [k, v] of entries) m.set(k, v);
    }
    for (const [name, msgs] of Object.entries(parts.general.queues)) {
      if (!g.queueNames().includes(name)) continue;
      const q = g.queue(name);
      for (const [type, b64] of msgs) {
        const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
        const msg = type === 'bytes' ? bytes : type === 'string' ? new TextDecoder('utf-8', { fatal: true }).decode(bytes) : decodeValue(bytes);
        if (!q.push(msg)) {
          throw new SabStateError(ErrorCode.CAPACITY, `queue ${JSON.stringify(name)} holds ${q.capacity} messages, the snapshot has ${msgs.length}; raise options.general.queues.${name}.capacity`);
        }
      }
    }
    g.syncGate.restoreEpoch(parts.general.syncEpoch);
  } catch (e) {
    if (e instanceof SabStateError && e.code !== ErrorCode.CAPACITY && e.code !== ErrorCode.VALUE_TOO_LARGE) {
      corrupt(dir, `a record was refused on restore (${e.code}: ${e.message})`);
    }
    if (e instanceof TypeError) corrupt(dir, `a queued message does not decode (${e.message})`);
    throw e;
  }
}
