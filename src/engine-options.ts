/**
 * The engine's options: their types (EngineOptions and the names typed from them, ThreadOptions,
 * ResolvedEngineOptions) and their check at the public boundary (resolveEngineOptions: every
 * option checked once, one message form, defaults from defaults.ts), and how a snapshot's saved
 * options and the caller's combine on restore (mergeOption).
 */
import { randomBytes } from 'node:crypto';
import { checkKnownKeys, optObject, optPositiveInt, optionError } from './options.ts';
import { type HashKey, hashKeyFromSeed } from './internal/hash/hash.ts';
import { resolveLockOptions } from './domains/locks/layout.ts';
import { type PositionsOptions, resolvePositionsOptions } from './domains/positions/positions.ts';
import { type DepartedOptions, resolveDepartedOptions } from './domains/departed.ts';
import { type EliminationsOptions, resolveEliminationsOptions } from './domains/eliminations-layout.ts';
import { type ResolvedGeneralOptions, resolveGeneralOptions } from './domains/general.ts';

/** A queue's declaration in `options.general.queues`. */
export interface QueueOptions {
  /** Messages it holds: a power of two, at least 2 (default 1024). A full queue: `push` returns false. */
  capacity?: number;
  /** Largest encoded message (default 4096). A larger one: `push` throws ERR_VALUE_TOO_LARGE. */
  maxMessageBytes?: number;
}
/**
 * Options of `createEngine`; every field is optional. The README's capacity table gives every default
 * and what happens at the limit.
 */
export interface EngineOptions {
  /** Lock stripes: a power of two, default 4096. */
  lockStripes?: number;
  /** 64-bit hash seed (bigint or non-negative safe integer). Default: random per engine. */
  hashSeed?: bigint | number;
  /** Positions stored (default 131072) and heap bytes (default 1 GiB). Full: `save` throws ERR_CAPACITY. */
  positions?: { maxRecords?: number; maxBytes?: number };
  /** Elimination rows (default 4096) and heap bytes. Full: `add` / `replaceAll` throw ERR_CAPACITY. */
  eliminations?: { maxRecords?: number; maxBytes?: number };
  /** Departed hotkeys (default 16384) and heap bytes. Full: `mark` throws ERR_CAPACITY. */
  departed?: { maxRecords?: number; maxBytes?: number };
  /** maps: names (default capacities) or { name: { maxRecords, maxBytes } } (MAP_DEFAULTS: 16,384 records, 64 MiB). */
  general?: { queues?: Record<string, QueueOptions>; counters?: readonly string[]; maps?: readonly string[] | Record<string, { maxRecords?: number; maxBytes?: number }> };
  /** A snapshot directory (engine.snapshot) to start from. Options given here override its sizes. */
  restoreFrom?: string;
  /**
   * Touch the engine's shared memory once at creation, so that no order pays a first-touch page
   * fault (internal/store/prefault.ts). `true`: every buffer as created (about 20 MiB at the
   * defaults: tables, lock pool, each heap's first MiB; plus the declared queues' rings) becomes resident. A number
   * of bytes: the same, and the positions heap first grown to that many bytes past its top (the
   * room new orders and positions are written into; about 500 bytes per order), capped at
   * positions.maxBytes. Default false: pages are touched as the engine first writes them.
   */
  prefault?: boolean | number;
}

type Defined<T> = Exclude<T, undefined>;
type KeysOf<T> = string extends keyof Defined<T> ? string : Extract<keyof Defined<T>, string>;
type ItemsOf<T> = T extends undefined ? never : T extends readonly (infer N)[] ? (string extends N ? string : Extract<N, string>) : KeysOf<T>;
/** The general options declared in O; unknown (so: names are strings) when absent or restored from a snapshot. */
type GeneralOf<O> = O extends { restoreFrom: string } ? unknown : O extends { general: infer G } ? Defined<G> : unknown;

/**
 * The queue names declared in the options `O` given to `createEngine` (inferred from an object
 * literal), or `string` where they cannot be known (a variable typed `EngineOptions`, an attached
 * engine without a type argument): `engine.general.queue(name)` accepts these.
 */
export type QueueNames<O> = GeneralOf<O> extends { queues?: infer Q } ? KeysOf<Q> : string;
/** The counter names declared in `O` (`counters: ['a', 'b'] as const`), or `string`. */
export type CounterNames<O> = GeneralOf<O> extends { counters?: infer C } ? ItemsOf<C> : string;
/** The map names declared in `O` (an `as const` list, or the keys of an object of capacities), or `string`. */
export type MapNames<O> = GeneralOf<O> extends { maps?: infer M } ? ItemsOf<M> : string;

/**
 * Options of one thread's view of the engine (createEngine's and attachEngine's second
 * argument): sizes of this thread's private caches of decoded positions. Larger caches make
 * getOpen/save cheaper when a thread touches many positions (each cached order is a frozen
 * object of about 1-2 KB of JS heap), smaller ones save memory.
 */
export interface ThreadOptions {
  /** Decoded orders this thread keeps (default 32768). */
  orderCacheSize?: number;
  /** Position versions whose order lists this thread remembers for chunk reuse on save (default 8192). */
  recordMemoSize?: number;
  /** Estimated JS heap bytes of the decoded orders this thread keeps (default 16 MiB, 4 KiB to 2 GiB). */
  orderCacheBytes?: number;
  /** Bytes charged for the remembered order lists, the orders they keep alive included (default 8 MiB, 4 KiB to 2 GiB). */
  recordMemoBytes?: number;
}

type ResolvedThreadOptions = Pick<ThreadOptions, 'orderCacheSize' | 'recordMemoSize' | 'orderCacheBytes' | 'recordMemoBytes'>;

export function resolveThreadOptions(raw: unknown): ResolvedThreadOptions {
  const o = optObject(raw, 'threadOptions');
  checkKnownKeys(o, 'threadOptions', ['orderCacheSize', 'recordMemoSize', 'orderCacheBytes', 'recordMemoBytes']);
  const out: ResolvedThreadOptions = {};
  if (o.orderCacheSize !== undefined) out.orderCacheSize = optPositiveInt(o.orderCacheSize, 'threadOptions.orderCacheSize', 1, 1 << 24);
  if (o.recordMemoSize !== undefined) out.recordMemoSize = optPositiveInt(o.recordMemoSize, 'threadOptions.recordMemoSize', 1, 1 << 24);
  if (o.orderCacheBytes !== undefined) out.orderCacheBytes = optPositiveInt(o.orderCacheBytes, 'threadOptions.orderCacheBytes', 4096, 2 ** 31);
  if (o.recordMemoBytes !== undefined) out.recordMemoBytes = optPositiveInt(o.recordMemoBytes, 'threadOptions.recordMemoBytes', 4096, 2 ** 31);
  return out;
}

/** Every option after checking, with defaults filled in (kept in the handle and in snapshots). */
export interface ResolvedEngineOptions {
  lockStripes: number;
  positions: PositionsOptions;
  eliminations: EliminationsOptions;
  departed: DepartedOptions;
  general: ResolvedGeneralOptions;
}

const KNOWN_OPTIONS = ['lockStripes', 'hashSeed', 'positions', 'eliminations', 'departed', 'general', 'restoreFrom', 'prefault'];

function resolveSeed(raw: unknown): HashKey {
  if (raw === undefined) {
    const b = randomBytes(8);
    return { k0: b.readInt32LE(0), k1: b.readInt32LE(4) };
  }
  if (typeof raw === 'bigint') {
    if (raw < 0n || raw >= 2n ** 64n) throw optionError('options.hashSeed must be an integer in [0, 2^64)', true);
    return hashKeyFromSeed(raw);
  }
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw) || raw < 0) throw optionError('options.hashSeed must be a non-negative safe integer or a bigint', true);
    return hashKeyFromSeed(raw);
  }
  throw optionError('options.hashSeed must be a bigint or a non-negative safe integer');
}

/** options.prefault: false, true, or bytes of positions heap headroom (0 to 2^31 - 1; 0 is the same as true). */
function resolvePrefault(raw: unknown): boolean | number {
  if (raw === undefined || typeof raw === 'boolean') return raw ?? false;
  const msg = 'options.prefault must be true, false or a non-negative integer (bytes)';
  if (typeof raw !== 'number' || !Number.isInteger(raw)) throw optionError(msg);
  if (raw < 0 || raw > 2 ** 31 - 1) throw optionError(msg, true);
  return raw;
}

/** Checks every option (the public boundary). prefault is a creation step, not kept in the handle or snapshots. */
export function resolveEngineOptions(options: unknown): ResolvedEngineOptions & { key: HashKey; restoreFrom?: string; prefault: boolean | number } {
  const o = optObject(options, 'options');
  checkKnownKeys(o, 'options', KNOWN_OPTIONS);
  if (o.restoreFrom !== undefined && (typeof o.restoreFrom !== 'string' || o.restoreFrom === '')) {
    throw optionError('options.restoreFrom must be a directory path');
  }
  return {
    key: resolveSeed(o.hashSeed),
    lockStripes: resolveLockOptions(o.lockStripes).stripes,
    positions: resolvePositionsOptions(o.positions),
    eliminations: resolveEliminationsOptions(o.eliminations),
    departed: resolveDepartedOptions(o.departed),
    general: resolveGeneralOptions(o.general),
    prefault: resolvePrefault(o.prefault),
    ...(typeof o.restoreFrom === 'string' ? { restoreFrom: o.restoreFrom } : {}),
  };
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A restore's options: the snapshot's (`saved`, resolved from its manifest) overridden by the
 * caller's (`given`, resolved from `raw`, what the caller passed): each top-level field the
 * caller gave replaces the snapshot's, objects field by field (positions: { maxRecords } keeps
 * the snapshot's positions.maxBytes; general: { counters } keeps its queues and maps), anything
 * else whole. Both sides were checked once already; nothing is checked again here.
 */
export function mergeResolved(saved: ResolvedEngineOptions, given: ResolvedEngineOptions, raw: Record<string, unknown>): ResolvedEngineOptions {
  const pick = <T extends object>(s: T, g: T, r: unknown, groups: Record<string, ReadonlyArray<keyof T>>): T => {
    if (r === undefined) return s;
    if (!isPlain(r)) return g;
    const out = { ...s };
    for (const [k, fields] of Object.entries(groups)) {
      if (r[k] === undefined) continue;
      for (const f of fields) {
        if (f in g) out[f] = g[f];
        else delete out[f];
      }
    }
    return out;
  };
  const sizes = { maxRecords: ['maxRecords'], maxBytes: ['maxBytes'] } as const;
  return {
    lockStripes: raw.lockStripes === undefined ? saved.lockStripes : given.lockStripes,
    positions: pick(saved.positions, given.positions, raw.positions, sizes),
    eliminations: pick(saved.eliminations, given.eliminations, raw.eliminations, sizes),
    departed: pick(saved.departed, given.departed, raw.departed, sizes),
    // maps and mapSizes are one declaration (the names, and the capacities given with them).
    general: pick(saved.general, given.general, raw.general, { queues: ['queues'], counters: ['counters'], maps: ['maps', 'mapSizes'] }),
  };
}
