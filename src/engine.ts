/**
 * The engine: five contention domains, each in its own SharedArrayBuffer(s), created on one
 * thread and attached on every other.
 *
 * - `createEngine(options)` checks every option once, at this boundary (TypeError / RangeError,
 *   one message form: `options.positions.maxBytes must be a positive integer`), and allocates.
 * - `engine.handle()` is a small structured-clonable object (SharedArrayBuffers and numbers) to
 *   pass as `workerData`; `attachEngine(handle)` builds the facades over the same memory in a
 *   worker and checks every region's header (ERR_LAYOUT_MISMATCH on any difference).
 * - `snapshot(dir)` / `createEngine({ restoreFrom: dir })`: engine-snapshot.ts.
 */
import { Worker } from 'node:worker_threads';
import { ErrorCode, SabStateError, describe, withIo } from './errors.ts';
import { callOptions, optTimeoutMs } from './options.ts';
import { type HashKey, seedFromHashKey } from './internal/hash/hash.ts';
import { LAYOUT_VERSION } from './internal/region.ts';
import { ThreadRegistry, createThreadRegistry } from './internal/sync/threads.ts';
import { EngineRecovery, type WatchStats } from './engine-recovery.ts';
import { LockDomain, type LockStats } from './domains/locks/locks.ts';
import { type LockHandle, createLockHandle } from './domains/locks/layout.ts';
import { type PositionsHandle, type PositionsStats, PositionsDomain, createPositionsHandle } from './domains/positions/positions.ts';
import { type DepartedHandle, type DepartedStats, DepartedDomain, createDepartedHandle } from './domains/departed.ts';
import { type EliminationsStats, EliminationsDomain } from './domains/eliminations.ts';
import { type EliminationsHandle, createEliminationsHandle } from './domains/eliminations-layout.ts';
import { type GeneralHandle, type GeneralStats, type MapStore, GeneralDomain, createGeneralHandle } from './domains/general.ts';
import {
  type CounterNames, type EngineOptions, type MapNames, type QueueNames, type ResolvedEngineOptions, type ThreadOptions,
  mergeResolved, resolveEngineOptions, resolveThreadOptions,
} from './engine-options.ts';
import { sharedMapProvider } from './domains/shared-map.ts';
import { formatStatsTable } from './stats-table.ts';
import { type SnapshotReport, readEngineSnapshot, restoreEngineState, writeEngineSnapshot } from './engine-snapshot.ts';
import { toAsyncEngine } from './async/sab-adapter.ts';
import { prefaultEngine } from './internal/store/prefault.ts';
import type { AsyncEngine } from './async/types.ts';


/**
 * What `engine.handle()` returns: the shared buffers and options, structured-clonable (pass it as
 * `workerData`, then `attachEngine(workerData)`).
 */
export interface EngineHandle {
  readonly kind: 'sabstate-engine';
  readonly version: number;
  readonly seed: readonly [number, number];
  readonly options: ResolvedEngineOptions;
  readonly locks: LockHandle;
  readonly positions: PositionsHandle;
  readonly eliminations: EliminationsHandle;
  readonly departed: DepartedHandle;
  readonly general: GeneralHandle;
  /** Which OS thread runs each attached worker (internal/threads.ts). */
  readonly threads: SharedArrayBuffer;
}

/** `engine.stats()`: one plain object per domain. */
export interface EngineStats {
  locks: LockStats;
  positions: PositionsStats;
  eliminations: EliminationsStats;
  departed: DepartedStats;
  general: GeneralStats;
  /** Workers watched with engine.watch() that exited, and what was recovered from them. */
  watch: WatchStats;
}


/**
 * The engine's 64-bit hash seed, for tests only: not exported from the package. The seed keeps
 * chosen keys from piling onto one lock stripe or probe chain (README, "The hash seed"); code
 * that can read it (or an image of it, such as a key's stripe) can build such keys, so the
 * public surface has neither, and snapshots do not carry it.
 */
export let engineSeedOf: (engine: Engine) => bigint;

/**
 * One thread's view of the shared state: `createEngine` on the main thread, `attachEngine(handle)` in
 * each worker.
 */
export class Engine<O extends EngineOptions = EngineOptions> {
  readonly locks: LockDomain;
  readonly positions: PositionsDomain;
  readonly eliminations: EliminationsDomain;
  readonly departed: DepartedDomain;
  readonly general: GeneralDomain<QueueNames<O>, CounterNames<O>, MapNames<O>>;
  readonly #handle: EngineHandle;
  readonly #key: HashKey;
  readonly #recovery: EngineRecovery;
  #closed = false;
  #async: AsyncEngine | undefined;

  /** @internal use createEngine / attachEngine. */
  constructor(handle: EngineHandle, threadOptions?: ThreadOptions) {
    const t = resolveThreadOptions(threadOptions);
    this.#handle = handle;
    this.#key = { k0: handle.seed[0], k1: handle.seed[1] };
    this.locks = new LockDomain(handle.locks, this.#key);
    this.general = new GeneralDomain(handle.general, this.#key, sharedMapProvider);
    this.positions = new PositionsDomain(handle.positions, this.#key, { locks: this.locks, gate: this.general.syncGate, ...t });
    this.eliminations = new EliminationsDomain(handle.eliminations, this.#key, { gate: this.general.syncGate });
    this.departed = new DepartedDomain(handle.departed, this.#key);
    const threads = new ThreadRegistry(handle.threads);
    threads.registerSelf();
    // Maps are fixed at creation: taken once here, so that recovery keeps working after close().
    const general: GeneralDomain = this.general;
    const maps = general.mapNames().map((n): [string, MapStore] => [`map ${n}`, general.mapStore(n)]);
    this.#recovery = new EngineRecovery({
      threads,
      locks: this.locks,
      stores: () => [['positions', this.positions], ['eliminations', this.eliminations], ['departed', this.departed], ...maps],
      others: () => [this.general.syncGate, { releaseAllOwnedBy: (id: number) => this.general.releaseQueuesOwnedBy(id) }],
    });
  }

  /**
   * The structured-clonable handle to pass to workers (`workerData`).
   * @throws {@link SabStateError} `ERR_CLOSED` after close().
   */
  handle(): EngineHandle {
    this.#checkOpen();
    return this.#handle;
  }

  /**
   * This engine as an {@link AsyncEngine} (the interface it shares with createRedisEngine): thin,
   * every call is this engine's own (src/async/sab-adapter.ts); made once, on first use.
   */
  get async(): AsyncEngine {
    return (this.#async ??= toAsyncEngine(this));
  }

  /** The options the engine was created with, defaults filled in. */
  get options(): ResolvedEngineOptions {
    return this.#handle.options;
  }

  static {
    engineSeedOf = (e) => seedFromHashKey(e.#key);
  }

  /**
   * Per-domain statistics as a plain object.
   * @throws {@link SabStateError} `ERR_CLOSED` after close().
   */
  stats(): EngineStats {
    this.#checkOpen();
    return {
      locks: this.locks.stats(),
      positions: this.positions.stats(),
      eliminations: this.eliminations.stats(),
      departed: this.departed.stats(),
      general: this.general.stats(),
      watch: this.#recovery.stats(),
    };
  }

  /**
   * stats() as a text table, one call, for logs.
   * @throws {@link SabStateError} `ERR_CLOSED` after close().
   */
  statsTable(): string {
    return formatStatsTable(this.stats());
  }

  /**
   * Recovers what a worker left when it exits (terminated at any step, process.exit(), an
   * uncaught exception): everything it held is released and its waiters woken at once, then its
   * half-done writes are completed or undone and its leaked memory swept (engine-recovery.ts).
   * Counted in stats().watch; `whenRecovered()` resolves when the repair is done.
   */
  watch(worker: Worker): void {
    if (!(worker instanceof Worker)) {
      throw new SabStateError(ErrorCode.INVALID_ARGUMENT, `engine.watch: worker must be a Worker of node:worker_threads, got ${describe(worker)}`);
    }
    this.#recovery.watch(worker);
  }

  /**
   * Resolves once every repair after a watched worker's exit has run (rejects on corruption).
   * @throws (the promise rejects) if a repair found corruption it could not fix.
   */
  whenRecovered(): Promise<void> {
    return this.#recovery.whenRecovered();
  }

  /**
   * The invariant checker: walks every heap, table and index of the engine, each domain with
   * its writes held back for the moment of the walk, and returns a report: ok, and every
   * violation found (blocks both free and used, entries pointing outside the heap or at freed
   * blocks, counters that disagree with the walk, leaked blocks, open positions missing from the
   * open index, slots or pins of threads that have exited). Run it after a crash, or in tests.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` if a domain's writes could not be held back
   *   within `timeoutMs`.
   */
  verify(options?: { timeoutMs?: number }): { ok: boolean; violations: string[] } {
    this.#checkOpen();
    const timeoutMs = optTimeoutMs(callOptions(options, 'options', ['timeoutMs']).timeoutMs, 'options.timeoutMs', undefined);
    const violations = this.#recovery.verify(timeoutMs);
    return { ok: violations.length === 0, violations };
  }

  /**
   * Writes a snapshot of every domain to `dir` (engine-snapshot.ts): consistent per domain
   * (positions, departed and maps read with their writers held back; eliminations under its
   * writer lock; each queue under both its locks), lossless (the codec: -0, key order, unknown
   * fields), with queue contents and the sync epoch, never the hash seed; atomic on disk
   * (snapshot-files.ts: files fsynced, a checksummed manifest switched by one rename, the older
   * generation removed only after). Snapshots of one engine, from any thread, are serialized
   * by the engine's snapshot mutex.
   * @throws {@link SabStateError} `ERR_CLOSED` after close().
   * @throws {@link SabStateError} `ERR_INVALID_ARGUMENT` if `dir` is not a non-empty path,
   *   `ERR_INVALID_OPTION` for a bad `options`.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` if another snapshot of this engine or a
   *   domain's writes could not be waited for in time.
   * @throws {@link SabStateError} `ERR_IO` if `dir` cannot be written (ENOSPC, EACCES...); the
   *   previous snapshot in `dir` stays whole.
   */
  snapshot(dir: string, options?: { timeoutMs?: number }): SnapshotReport {
    this.#checkOpen();
    if (typeof dir !== 'string' || dir === '') {
      throw new SabStateError(ErrorCode.INVALID_ARGUMENT, `engine.snapshot: dir must be a non-empty directory path, got ${describe(dir)}`);
    }
    // timeoutMs bounds the wait for another thread's snapshot of this engine (ERR_LOCK_TIMEOUT).
    const timeoutMs = optTimeoutMs(callOptions(options, 'options', ['timeoutMs']).timeoutMs, 'options.timeoutMs');
    return this.locks.withSnapshotMutex(() => withIo(`engine.snapshot(${JSON.stringify(dir)})`, () => writeEngineSnapshot(this, dir)), timeoutMs);
  }

  /**
   * Closes this thread's view of the engine: every later call on the engine, its domains and
   * every queue, counter, map and gate obtained from it throws ERR_CLOSED; a second close() is a
   * no-op. The shared memory stays as it is for the other threads; a watched worker that exits
   * later is still recovered (recovery holds its own references). Nothing is held by a thread
   * between calls, so there is nothing to release.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#recovery.stopWaitChecks();
    const g: GeneralDomain = this.general;
    const objects: object[] = [
      ...g.queueNames().map((n) => g.queue(n)), ...g.counterNames().map((n) => g.counter(n)), ...g.mapNames().map((n) => g.map(n)),
      g.syncGate, this.locks, this.positions, this.eliminations, this.departed, g, this,
    ];
    for (const o of objects) closeFacade(o);
  }

  #checkOpen(): void {
    if (this.#closed) throw new SabStateError(ErrorCode.CLOSED, 'engine is closed');
  }
}

/** Methods recovery and the snapshot code call on closed facades (not public API). */
const INTERNAL_METHODS = new Set<PropertyKey>([
  'constructor', 'close', 'releaseAllOwnedBy', 'releaseQueuesOwnedBy', 'repair', 'verify', 'mapNames', 'mapStore', 'ring', 'queueNames', 'counterNames',
]);
const closedProtos = new WeakMap<object, object>();

/**
 * Closes one facade: its prototype is replaced by one whose every public method and getter
 * throws ERR_CLOSED (inheriting from the original, so that the internal methods recovery calls
 * still work). Costs nothing on the paths of an open engine.
 */
function closeFacade(o: object): void {
  const proto = Object.getPrototypeOf(o) as object;
  let closed = closedProtos.get(proto);
  if (closed === undefined) {
    closed = Object.create(proto) as object;
    for (let p: object | null = proto; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
      for (const k of Reflect.ownKeys(p)) {
        if (INTERNAL_METHODS.has(k) || Object.prototype.hasOwnProperty.call(closed, k)) continue;
        const d = Object.getOwnPropertyDescriptor(p, k)!;
        const name = typeof k === 'symbol' ? k.description ?? 'symbol' : k;
        const closedError = (): SabStateError => new SabStateError(ErrorCode.CLOSED, `${name}: the engine is closed (engine.close() was called on this thread)`);
        // The async methods refuse as they fail: by a rejected promise.
        const thrower = name.endsWith('Async') ? (): Promise<never> => Promise.reject(closedError()) : (): never => {
          throw closedError();
        };
        if (d.get !== undefined || d.set !== undefined) Object.defineProperty(closed, k, { get: thrower, set: thrower, configurable: true });
        else if (typeof d.value === 'function') Object.defineProperty(closed, k, { value: thrower, writable: true, configurable: true });
      }
    }
    closedProtos.set(proto, closed);
  }
  Object.setPrototypeOf(o, closed);
}


/**
 * Creates the engine (on the main thread): allocates every domain's shared buffers, or restores them
 * from `options.restoreFrom`.
 * `threadOptions` sizes this thread's private caches. `options.prefault` (engine-options.ts,
 * internal/store/prefault.ts) touches the buffers once here, so that orders take no first-touch page faults.
 * @throws TypeError or RangeError if an option (one message form: `options.positions.maxBytes must be
 *   a positive integer`); unknown keys are refused is malformed (state unchanged).
 * @throws {@link SabStateError} `ERR_SNAPSHOT_CORRUPT` with `restoreFrom`, if the snapshot is damaged,
 *   incomplete or does not match its manifest.
 * @throws {@link SabStateError} `ERR_CAPACITY` with `restoreFrom`, if the snapshot's state does not
 *   fit the options given.
 */
export function createEngine<O extends EngineOptions = EngineOptions>(options: O = {} as O, threadOptions?: ThreadOptions): Engine<O> {
  resolveThreadOptions(threadOptions);
  // The caller's options, checked once, before any I/O: a bad one is the caller's error
  // (ERR_INVALID_OPTION) even when the snapshot is missing or damaged.
  const r = resolveEngineOptions(options);
  let resolved: ResolvedEngineOptions = r;
  let state: ReturnType<typeof readEngineSnapshot> | undefined;
  if (r.restoreFrom !== undefined) {
    const from = r.restoreFrom;
    state = withIo(`createEngine({ restoreFrom: ${JSON.stringify(from)} })`, () => readEngineSnapshot(from));
    // No hashSeed: a restore re-keys (a fresh random seed unless the caller pins one).
    const saved: Record<string, unknown> = {
      lockStripes: state.options.lockStripes,
      positions: state.options.positions,
      eliminations: state.options.eliminations,
      departed: state.options.departed,
      general: state.generalOptions,
    };
    // The manifest's options passed its checksum-free JSON parse only: check them as options,
    // once; a bad one is the snapshot's fault.
    let fromSnapshot: ResolvedEngineOptions;
    try {
      fromSnapshot = resolveEngineOptions(saved);
    } catch (e) {
      throw new SabStateError(ErrorCode.SNAPSHOT_CORRUPT, `snapshot ${r.restoreFrom}: the manifest's options are invalid (${(e as Error).message})`, { cause: e });
    }
    // The snapshot's sizes and declarations, each field overridden by what the caller gave
    // explicitly (engine-options.ts mergeResolved); the seed is the caller's or fresh (r.key).
    resolved = mergeResolved(fromSnapshot, r, options as Record<string, unknown>);
  }
  const { key } = r;
  const opts: ResolvedEngineOptions = {
    lockStripes: resolved.lockStripes, positions: resolved.positions, eliminations: resolved.eliminations,
    departed: resolved.departed, general: resolved.general,
  };
  const engine = new Engine<O>({
    kind: 'sabstate-engine',
    version: LAYOUT_VERSION,
    seed: [key.k0, key.k1],
    options: opts,
    locks: createLockHandle({ stripes: opts.lockStripes }, key),
    positions: createPositionsHandle(opts.positions, key),
    eliminations: createEliminationsHandle(opts.eliminations, key),
    departed: createDepartedHandle(opts.departed, key),
    general: createGeneralHandle(opts.general, key, sharedMapProvider),
    threads: createThreadRegistry(),
  }, threadOptions);
  if (state !== undefined) restoreEngineState(engine, state);
  // After the restore (the heap's headroom counts from its restored top), before the handle
  // can reach any worker: nobody else is attached (prefault.ts's crash table).
  if (r.prefault !== false) prefaultEngine(engine.handle(), r.prefault);
  return engine;
}

/**
 * Attaches to an engine created by another thread, from its `engine.handle()` (in a worker:
 * `attachEngine(workerData)`).
 * @throws {@link SabStateError} `ERR_LAYOUT_MISMATCH` if `handle` is not an engine handle, or was made
 *   by a library version with another memory layout.
 * @throws TypeError or RangeError if `threadOptions` is malformed (state unchanged).
 */
export function attachEngine<O extends EngineOptions = EngineOptions>(handle: EngineHandle, threadOptions?: ThreadOptions): Engine<O> {
  resolveThreadOptions(threadOptions);
  const h = handle as Partial<EngineHandle> | null;
  if (typeof h !== 'object' || h === null || h.kind !== 'sabstate-engine') {
    throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, 'attachEngine: not an engine handle (use engine.handle())');
  }
  if (h.version !== LAYOUT_VERSION) {
    throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `attachEngine: handle of layout version ${h.version}, this library reads ${LAYOUT_VERSION}`);
  }
  for (const d of ['locks', 'positions', 'eliminations', 'departed', 'general'] as const) {
    if (typeof h[d] !== 'object' || h[d] === null) throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `attachEngine: the handle has no ${d} domain`);
  }
  if (!Array.isArray(h.seed) || h.seed.length !== 2 || !h.seed.every((x) => Number.isInteger(x))) {
    throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, 'attachEngine: the handle has no hash seed');
  }
  if (typeof h.options !== 'object' || h.options === null) throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, 'attachEngine: the handle has no options');
  if (!(h.threads instanceof SharedArrayBuffer)) throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, 'attachEngine: the handle has no thread registry');
  try {
    return new Engine<O>(handle, threadOptions);
  } catch (e) {
    // Each region's header is checked by its domain (ERR_LAYOUT_MISMATCH naming it); a handle
    // missing a part of a domain (no heap, no tables...) fails before that, on the missing part.
    if (e instanceof SabStateError) throw e;
    throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `attachEngine: the handle is malformed (${(e as Error).message})`, { cause: e });
  }
}
