/**
 * The general domain (`engine.general`): named MPMC queues, named 64-bit counters, named small
 * maps and the sync gate, each in its own SharedArrayBuffer region(s), declared at creation:
 *
 *   general: { queues: { websockets: { capacity: 4096, maxMessageBytes: 4096 } },
 *              counters: ['orders'], maps: ['accountSizes'] }
 *
 * Queues (internal/ring.ts: a two-lock bounded ring): `push` false only when the queue really is
 * full, `pop` undefined only when it really is empty or its timeout passed, `size` exact: all
 * three linearizable, also while another thread is stalled mid-operation (it is waited for, spin
 * then sleep). A thread that dies mid-push or mid-pop holds a queue lock until engine.watch calls
 * `releaseQueuesOwnedBy(its threadId)`, which completes or undoes its operation on every queue.
 *
 * Regions: one per queue (RegionKind.RING, see internal/ring.ts), one for all counters
 * (RegionKind.CELLS, internal/counters.ts), one for the gate (RegionKind.GATE, internal/gate.ts);
 * maps are whatever their provider allocates. The handle carries the buffers and the declared
 * names and sizes (a plain structured-clonable object); the constructor checks every region's
 * header against them and throws ERR_LAYOUT_MISMATCH on any difference.
 *
 * Unknown names: queue(name) throws ERR_UNKNOWN_QUEUE, counter(name) ERR_UNKNOWN_COUNTER and
 * map(name) ERR_UNKNOWN_MAP, each naming the declared ones and the option that declares them.
 *
 * Maps are declared by name (`maps: ['accountSizes']`, default sizes) or with their capacities
 * (`maps: { accountSizes: { maxRecords: 100000, maxBytes: 2 ** 28 } }`); a full map is
 * ERR_CAPACITY naming the option to raise.
 *
 * Maps: the map structure lives on the shared hash table (domains/shared-map.ts). A
 * `GeneralMapProvider` plugs it in: `create` allocates one map's regions on the creating thread
 * and returns its structured-clonable handle part; `attach` checks that part and returns the
 * facade. engine.ts passes the same provider to createGeneralHandle and to every GeneralDomain.
 * Without a provider, declaring maps is an options error.
 */
import { ErrorCode, MAX_KEY_LENGTH, SabStateError, describe } from '../errors.ts';
import { DEFAULTS } from '../defaults.ts';
import { checkKnownKeys, optObject, optPositiveInt, optPowerOfTwo, optionError, resolveSizes } from '../options.ts';
import { Counters, createCountersRegion } from '../internal/store/counters.ts';
import type { Counter } from '../internal/store/counters.ts';
import { SyncGate, createGateRegion } from '../internal/sync/sync-gate.ts';
import type { HashKey } from '../internal/hash/hash.ts';
import type { ConsistentEntries, StoreRecovery } from '../internal/store/store-recovery.ts';
import { Ring } from '../internal/store/ring.ts';
import { RING_MAX_BYTES, RING_MAX_CAPACITY, RING_MAX_MESSAGE_BYTES, createRingRegion, ringRegionBytes } from '../internal/store/ring-layout.ts';
import type { Queue, RingStats } from '../internal/store/queue.ts';

export const GENERAL_DEFAULTS = DEFAULTS.queue;
/** Most counters (or maps) one engine declares. */
export const MAX_GENERAL_NAMES = 65536;

export interface QueueDecl {
  name: string;
  capacity: number;
  maxMessageBytes: number;
}

export interface ResolvedGeneralOptions {
  queues: QueueDecl[];
  counters: string[];
  maps: string[];
  /** Capacities of the maps declared with them (`maps: { name: { maxRecords, maxBytes } }`), defaults filled in; others have MAP_DEFAULTS. */
  mapSizes?: Record<string, MapSizes>;
}

export interface MapSizes {
  maxRecords: number;
  maxBytes: number;
}
/** Default capacities of a named map (options.general.maps.<name>.maxRecords / maxBytes). */
export const MAP_DEFAULTS: MapSizes = DEFAULTS.map;
export const MAP_MAX_RECORDS_LIMIT = 1 << 22;

export interface GeneralHandle {
  queues: Array<QueueDecl & { sab: SharedArrayBuffer }>;
  counters: { names: string[]; sab: SharedArrayBuffer };
  gate: SharedArrayBuffer;
  maps: Array<{ name: string; part: unknown }>;
}

/** A small shared map of the validator's other dicts (account sizes...). */
export interface GeneralMap<V = unknown> {
  /**
   * The value of `key`, or undefined (lock-free).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `key` is not a non-empty string of at most 256
   *   characters.
   */
  get(key: string): V | undefined;
  /**
   * Sets `key` to `value` (JSON-like values, strings, numbers, bytes).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `key` is not a non-empty string of at most 256
   *   characters.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` if the codec cannot store `value`.
   * @throws {@link SabStateError} `ERR_VALUE_TOO_LARGE` if the encoded value is larger than 64 KiB.
   * @throws {@link SabStateError} `ERR_CAPACITY` if the map is full (16384 records, 64 MiB).
   */
  set(key: string, value: V): void;
  /**
   * True if `key` is in the map (lock-free).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `key` is not a non-empty string of at most 256
   *   characters.
   */
  has(key: string): boolean;
  /**
   * Removes `key`; true if it was there.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `key` is not a non-empty string of at most 256
   *   characters.
   */
  delete(key: string): boolean;
  /** Every entry, lock-free (each whole; not a snapshot while writers run). */
  entries(): Array<[string, V]>;
  readonly size: number;
}

/**
 * A map as the engine sees it (shared-map.ts): the public GeneralMap, its consistent entries
 * (snapshots) and its store's recovery (engine.watch / verify).
 */
export interface MapStore extends GeneralMap, ConsistentEntries<[string, unknown]> {
  releaseAllOwnedBy(deadThreadId: number): number;
  repair(timeoutMs?: number): StoreRecovery;
  verify(timeoutMs?: number, exited?: ReadonlySet<number>): string[];
}

/** Supplies the map structure (domains/shared-map.ts), see the top of the file. */
export interface GeneralMapProvider {
  create(name: string, key: HashKey, sizes: MapSizes): unknown;
  attach(part: unknown, name: string, key: HashKey): MapStore;
}

/** `engine.stats().general`: every queue, counter and map, and the sync gate (whole engine). */
export interface GeneralStats {
  queues: Record<string, RingStats>;
  counters: Record<string, number>;
  gate: { epoch: number; inProgress: boolean; refused: number };
  maps: Record<string, { size: number }>;
}

// ---- options -----------------------------------------------------------------------------------

const IDENT = /^[A-Za-z_$][\w$]*$/;
const at = (path: string, name: string): string => (IDENT.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`);


function checkName(name: unknown, path: string): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_KEY_LENGTH) {
    throw optionError(`${path} must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`);
  }
}

function resolveNames(raw: unknown, path: string): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw optionError(`${path} must be an array of names`);
  if (raw.length > MAX_GENERAL_NAMES) throw optionError(`${path} must have at most ${MAX_GENERAL_NAMES} names`, true);
  const seen = new Set<string>();
  raw.forEach((name: unknown, i) => {
    checkName(name, `${path}[${i}]`);
    if (seen.has(name)) throw optionError(`${path}[${i}] must not repeat a name (${JSON.stringify(name)})`, true);
    seen.add(name);
  });
  return [...seen];
}

/** `maps`: an array of names (default sizes) or { name: { maxRecords?, maxBytes? } }. */
function resolveMaps(raw: unknown, path: string): { maps: string[]; mapSizes?: Record<string, MapSizes> } {
  if (raw === undefined || Array.isArray(raw) || typeof raw !== 'object' || raw === null) return { maps: resolveNames(raw, path) };
  const mapSizes: Record<string, MapSizes> = {};
  const o = raw as Record<string, unknown>;
  const maps = Object.keys(o);
  if (maps.length > MAX_GENERAL_NAMES) throw optionError(`${path} must have at most ${MAX_GENERAL_NAMES} names`, true);
  for (const name of maps) {
    const mpath = at(path, name);
    if (name.length === 0 || name.length > MAX_KEY_LENGTH) throw optionError(`${path} names must be non-empty strings of at most ${MAX_KEY_LENGTH} characters`);
    mapSizes[name] = resolveSizes(o[name], mpath, {
      maxRecords: MAP_DEFAULTS.maxRecords, maxRecordsLimit: MAP_MAX_RECORDS_LIMIT,
      maxBytes: () => MAP_DEFAULTS.maxBytes, minBytes: 1 << 20, maxBytesLimit: 2 ** 31,
    });
  }
  return { maps, mapSizes };
}

/** Validates `options.general` once, at the public boundary (TypeError / RangeError). */
export function resolveGeneralOptions(raw: unknown, path = 'options.general'): ResolvedGeneralOptions {
  const o = optObject(raw, path);
  checkKnownKeys(o, path, ['queues', 'counters', 'maps']);
  const qs = optObject(o.queues, `${path}.queues`);
  const queues = Object.keys(qs).map((name): QueueDecl => {
    const qpath = at(`${path}.queues`, name);
    if (name.length === 0 || name.length > MAX_KEY_LENGTH) {
      throw optionError(`${path}.queues names must be non-empty strings of at most ${MAX_KEY_LENGTH} characters`);
    }
    const q = optObject(qs[name], qpath);
    checkKnownKeys(q, qpath, ['capacity', 'maxMessageBytes']);
    const capacity = optPowerOfTwo(q.capacity, `${qpath}.capacity`, GENERAL_DEFAULTS.capacity, RING_MAX_CAPACITY);
    // At least 2: the minimum since the first (Vyukov) ring, whose slot sequence numbers needed it.
    if (capacity < 2) throw optionError(`${qpath}.capacity must be a power of two of at least 2`, true);
    const maxMessageBytes = optPositiveInt(q.maxMessageBytes, `${qpath}.maxMessageBytes`, GENERAL_DEFAULTS.maxMessageBytes, RING_MAX_MESSAGE_BYTES);
    const bytes = ringRegionBytes(capacity, maxMessageBytes);
    if (bytes > RING_MAX_BYTES) {
      throw optionError(`${qpath} must fit in ${RING_MAX_BYTES} bytes (capacity x maxMessageBytes needs ${bytes})`, true);
    }
    return { name, capacity, maxMessageBytes };
  });
  const { maps, mapSizes } = resolveMaps(o.maps, `${path}.maps`);
  return { queues, counters: resolveNames(o.counters, `${path}.counters`), maps, ...(mapSizes === undefined ? {} : { mapSizes }) };
}

/** Allocates every region of the domain (creating thread only). */
export function createGeneralHandle(opts: ResolvedGeneralOptions, key: HashKey, maps?: GeneralMapProvider): GeneralHandle {
  if (opts.maps.length > 0 && maps === undefined) {
    // engine.ts passes sharedMapProvider; only a caller that declares no maps may omit it.
    throw new RangeError('options.general.maps must be empty until a map provider is wired in (createGeneralHandle third argument)');
  }
  return {
    queues: opts.queues.map((q) => ({ ...q, sab: createRingRegion(key, q.capacity, q.maxMessageBytes) })),
    counters: { names: [...opts.counters], sab: createCountersRegion(key, opts.counters.length) },
    gate: createGateRegion(key),
    maps: opts.maps.map((name) => ({ name, part: maps!.create(name, key, opts.mapSizes?.[name] ?? MAP_DEFAULTS) })),
  };
}

// ---- facade ------------------------------------------------------------------------------------

function mismatch(why: string): never {
  throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `general: ${why}`);
}

const UNKNOWN = {
  queue: [ErrorCode.UNKNOWN_QUEUE, 'queues'],
  counter: [ErrorCode.UNKNOWN_COUNTER, 'counters'],
  map: [ErrorCode.UNKNOWN_MAP, 'maps'],
} as const;

function unknown(kind: keyof typeof UNKNOWN, name: unknown, known: Iterable<string>): never {
  const [code, option] = UNKNOWN[kind];
  const list = [...known].map((n) => JSON.stringify(n)).join(', ') || 'none';
  throw new SabStateError(
    code,
    `no ${kind} named ${describe(name)} was declared (declared: ${list}); declare it in createEngine({ general: { ${option}: ... } })`,
  );
}

/**
 * The general domain (`engine.general`): the named queues, counters and maps declared at creation, and
 * the sync gate.
 */
export class GeneralDomain<Q extends string = string, C extends string = string, M extends string = string> {
  /** The sync gate (begin / end / current, and guard for positions.save / eliminations.add). */
  readonly syncGate: SyncGate;
  #queues = new Map<string, Ring>();
  #counters: Counters;
  #maps = new Map<string, MapStore>();

  /**
   * Attaches to the domain's regions; ERR_LAYOUT_MISMATCH on any difference.
   * @internal Built by the engine: use `engine.general`.
   */
  constructor(handle: GeneralHandle, key: HashKey, maps?: GeneralMapProvider) {
    if (typeof handle !== 'object' || handle === null) mismatch('handle is not an object');
    if (!Array.isArray(handle.queues) || !Array.isArray(handle.maps)) mismatch('handle has no queues / maps lists');
    if (typeof handle.counters !== 'object' || handle.counters === null || !Array.isArray(handle.counters.names)) {
      mismatch('handle has no counters');
    }
    for (const q of handle.queues) {
      if (this.#queues.has(q.name)) mismatch(`queue ${JSON.stringify(q.name)} appears twice`);
      this.#queues.set(q.name, new Ring(q.sab, key, q.name, q.capacity, q.maxMessageBytes));
    }
    this.#counters = new Counters(handle.counters.sab, key, handle.counters.names);
    this.syncGate = new SyncGate(handle.gate, key);
    if (handle.maps.length > 0 && maps === undefined) mismatch('the handle has maps but no map provider was given');
    for (const m of handle.maps) this.#maps.set(m.name, maps!.attach(m.part, m.name, key));
  }

  /**
   * The queue declared as `name`; ERR_UNKNOWN_QUEUE otherwise. `T` types its messages (a claim the
   * caller makes; nothing is checked at run time): `queue<Notice>('notices')`.
   * @throws {@link SabStateError} `ERR_UNKNOWN_QUEUE` if no queue `name` was declared in
   *   `options.general.queues`.
   */
  queue<T = unknown>(name: Q): Queue<T> {
    return this.ring<T>(name);
  }

  /**
   * The ring behind the queue `name`, with what snapshots need (snapshotContents).
   * @internal For snapshots (engine-snapshot.ts).
   */
  ring<T = unknown>(name: string): Ring<T> {
    return ((typeof name === 'string' ? this.#queues.get(name) : undefined) ?? unknown('queue', name, this.#queues.keys())) as Ring<T>;
  }

  /**
   * The counter declared as `name`.
   * @throws {@link SabStateError} `ERR_UNKNOWN_COUNTER` if no counter `name` was declared in
   *   `options.general.counters`.
   */
  counter(name: C): Counter {
    return (typeof name === 'string' ? this.#counters.get(name) : undefined) ?? unknown('counter', name, this.#counters.names());
  }

  /**
   * The map declared as `name`. `V` types its values (a claim the caller makes; nothing is checked
   * at run time): `map<{ account_size: number }>('accountSizes')`.
   * @throws {@link SabStateError} `ERR_UNKNOWN_MAP` if no map `name` was declared in
   *   `options.general.maps`.
   */
  map<V = unknown>(name: M): GeneralMap<V> {
    return ((typeof name === 'string' ? this.#maps.get(name) : undefined) ?? unknown('map', name, this.#maps.keys())) as GeneralMap<V>;
  }

  /**
   * The map `name` as the engine sees it (its consistent entries and its store's recovery).
   * @internal For snapshots and recovery (engine.ts, engine-snapshot.ts).
   */
  mapStore(name: string): MapStore {
    return this.#maps.get(name) ?? unknown('map', name, this.#maps.keys());
  }

  /**
   * Recovery of a dead thread (engine.watch): on every queue, completes or undoes the push or pop
   * it was in the middle of, releases its queue locks and waiter slots, and wakes every waiter.
   * Returns how many locks and waiter slots were released.
   * @internal Recovery plumbing, called by the engine (engine.watch / engine.verify).
   */
  releaseQueuesOwnedBy(deadThreadId: number): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.releaseAllOwnedBy(deadThreadId);
    return n;
  }

  /** The declared queue names. */
  queueNames(): string[] {
    return [...this.#queues.keys()];
  }

  /** The declared counter names. */
  counterNames(): string[] {
    return this.#counters.names();
  }

  /** The declared map names. */
  mapNames(): string[] {
    return [...this.#maps.keys()];
  }

  /** Queues, counters, maps and the sync gate (whole engine). */
  stats(): GeneralStats {
    const g = this.syncGate.current();
    return {
      queues: Object.fromEntries([...this.#queues].map(([n, q]) => [n, q.stats()])),
      counters: Object.fromEntries(this.#counters.values()),
      gate: { epoch: g.epoch, inProgress: g.inProgress, refused: this.syncGate.refused() },
      maps: Object.fromEntries([...this.#maps].map(([n, m]) => [n, { size: m.size }])),
    };
  }
}
