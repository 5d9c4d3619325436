/** Shared setup of the positions suites and their workers: a lock domain and a positions domain on one key. */
import { hashKeyFromSeed, type HashKey } from '../../src/internal/hash/hash.ts';
import { LockDomain } from '../../src/domains/locks/locks.ts';
import { type LockHandle, createLockHandle, resolveLockOptions } from '../../src/domains/locks/layout.ts';
import {
  PositionsDomain, createPositionsHandle, resolvePositionsOptions, type Position, type PositionsDeps, type PositionsHandle,
} from '../../src/domains/positions/positions.ts';
import { realPositions } from '../../support/data.ts';

export interface Fixture {
  key: HashKey;
  locks: LockDomain;
  lockHandle: LockHandle;
  handle: PositionsHandle;
  positions: PositionsDomain;
}

export function fixture(opts: { maxRecords?: number; maxBytes?: number; seed?: number } = {}, deps: Partial<PositionsDeps> = {}): Fixture {
  const key = hashKeyFromSeed(BigInt((opts.seed ?? 7) >>> 0));
  const lockHandle = createLockHandle(resolveLockOptions(256), key);
  const locks = new LockDomain(lockHandle, key);
  const handle = createPositionsHandle(resolvePositionsOptions({ maxRecords: opts.maxRecords ?? 4096, maxBytes: opts.maxBytes ?? 64 << 20 }), key);
  return { key, locks, lockHandle, handle, positions: new PositionsDomain(handle, key, { locks, ...deps }) };
}

export function tpOf(p: { trade_pair: unknown }): string {
  return typeof p.trade_pair === 'string' ? p.trade_pair : ((p.trade_pair as unknown[])[0] as string);
}

export function realPositionObjects(): Position[] {
  return realPositions() as unknown as Position[];
}

/** Saves under the position's own lock. */
export function saveLocked(f: { locks: LockDomain; positions: PositionsDomain }, p: Position): void {
  f.locks.withLock(p.miner_hotkey, tpOf(p), () => f.positions.save(p));
}

/** A position of the stress runs. */
export interface StressKey {
  hk: string;
  tp: string;
  uuid: string;
}

/** What every positions stress worker gets: the domains' handles, the keys, a seed, a start barrier (flag[0] counts parties). */
export interface StressWorkerData {
  locks: LockHandle;
  positions: PositionsHandle;
  keySeed: number;
  seed: number;
  id: number;
  flag: SharedArrayBuffer;
  parties: number;
  keys: StressKey[];
}

/** Stress runs: is p one whole version? Returns the reason it is not, or ''. */
export function problem(p: Position | undefined): string {
  if (p === undefined) return 'missing';
  const base = p.base as number;
  const counter = p.counter as number;
  if (counter !== p.orders.length - base) return `counter ${counter} but ${p.orders.length - base} appended orders`;
  for (let k = base; k < p.orders.length; k++) {
    if ((p.orders[k] as { seq: number }).seq !== k - base + 1) return `order ${k} has seq ${(p.orders[k] as { seq: number }).seq}`;
  }
  return '';
}

