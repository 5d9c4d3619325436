/**
 * The engine: one SharedArrayBuffer set per contention domain, created on one thread and
 * attached on every other. `createEngine(options)` checks options once at this boundary and
 * allocates; `engine.handle()` is a small structured-clonable object (SharedArrayBuffers and
 * numbers) to pass as `workerData`; `attachEngine(handle)` re-creates the facades over the same
 * memory in a worker and checks every region's header (ERR_LAYOUT_MISMATCH on any difference).
 */
import { randomBytes } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { ErrorCode, SabStateError, optObject } from './errors.ts';
import { type HashKey, hashKeyFromSeed, seedFromHashKey } from './internal/hash.ts';
import { LAYOUT_VERSION } from './internal/region.ts';
import { type LockHandle, LockDomain, type LockStats, createLockHandle, resolveLockOptions } from './domains/locks.ts';

export interface EngineOptions {
  /** Lock stripes: a power of two, default 4096. */
  lockStripes?: number;
  /** 64-bit hash seed (bigint or safe integer). Default: random per engine. */
  hashSeed?: bigint | number;
}

export interface EngineHandle {
  readonly kind: 'sabstate-engine';
  readonly version: number;
  readonly seed: readonly [number, number];
  readonly locks: LockHandle;
}

export interface EngineStats {
  locks: LockStats;
}

const KNOWN_OPTIONS = new Set(['lockStripes', 'hashSeed', 'positions', 'eliminations', 'departed', 'general', 'restoreFrom']);

function resolveSeed(raw: unknown): HashKey {
  if (raw === undefined) {
    const b = randomBytes(8);
    return { k0: b.readInt32LE(0), k1: b.readInt32LE(4) };
  }
  if (typeof raw === 'bigint') {
    if (raw < 0n || raw >= 2n ** 64n) throw new RangeError('options.hashSeed must be an integer in [0, 2^64)');
    return hashKeyFromSeed(raw);
  }
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw) || raw < 0) throw new RangeError('options.hashSeed must be a non-negative safe integer or a bigint');
    return hashKeyFromSeed(raw);
  }
  throw new TypeError('options.hashSeed must be a bigint or a non-negative safe integer');
}

export class Engine {
  readonly locks: LockDomain;
  readonly #handle: EngineHandle;
  readonly #key: HashKey;
  #closed = false;

  /** @internal use createEngine / attachEngine. */
  constructor(handle: EngineHandle) {
    this.#handle = handle;
    this.#key = { k0: handle.seed[0], k1: handle.seed[1] };
    this.locks = new LockDomain(handle.locks, this.#key);
  }

  /** The structured-clonable handle to pass to workers (`workerData`). */
  handle(): EngineHandle {
    this.#checkOpen();
    return this.#handle;
  }

  /** The engine's 64-bit hash seed. */
  get hashSeed(): bigint {
    return seedFromHashKey(this.#key);
  }

  stats(): EngineStats {
    this.#checkOpen();
    return { locks: this.locks.stats() };
  }

  /**
   * Recovers the lock stripes a worker held when it exits (for instance terminated mid-order):
   * they are released, their waiters woken, and the recovery counted in stats().
   */
  watch(worker: Worker): void {
    const id = worker.threadId;
    worker.once('exit', () => {
      this.locks.releaseAllOwnedBy(id);
    });
  }

  /** Drops this thread's view of the engine. The memory lives on while other threads use it. */
  close(): void {
    this.#closed = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new SabStateError(ErrorCode.CLOSED, 'engine is closed');
  }
}

export function createEngine(options: EngineOptions = {}): Engine {
  const o = optObject(options, 'options');
  for (const k of Object.keys(o)) if (!KNOWN_OPTIONS.has(k)) throw new TypeError(`options.${k} is not a known option`);
  const key = resolveSeed(o.hashSeed);
  const locks = createLockHandle(resolveLockOptions(o.lockStripes), key);
  return new Engine({ kind: 'sabstate-engine', version: LAYOUT_VERSION, seed: [key.k0, key.k1], locks });
}

export function attachEngine(handle: EngineHandle): Engine {
  const h = handle as Partial<EngineHandle> | null;
  if (typeof h !== 'object' || h === null || h.kind !== 'sabstate-engine') {
    throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, 'attachEngine: not an engine handle (use engine.handle())');
  }
  if (h.version !== LAYOUT_VERSION) {
    throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `attachEngine: handle of layout version ${h.version}, this library reads ${LAYOUT_VERSION}`);
  }
  return new Engine(handle);
}
