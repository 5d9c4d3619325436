/**
 * Peer "lmdb-js" of bench/order-path.ts: the validator's state in one LMDB environment (the `lmdb`
 * package), opened by every thread, as a Node user wanting state shared between threads would
 * write it. Values are encoded by lmdb-js's own msgpackr (its default `encoding: 'msgpack'`).
 *
 * Options a user tuning for speed would set: `noSync` and `noMetaSync` (no fsync: the state is
 * rebuilt at start, like the engine's), `compression: false`. `useWritemap` is left off:
 * `useWritemap: true` crashed lmdb 3.5.6 with two threads in `mdb_freelist_save` (issue 13).
 *
 * Named databases of the environment:
 *   eliminations   hotkey → elimination row           read outside any write transaction
 *   departed       hotkey → { detected_ms }            read outside any write transaction
 *   accountSizes   hotkey → number
 *   open           "hotkey|trade pair" → open position (the validator's JSON shape)
 *   closed         position_uuid → closed position
 *   notices        uint32 sequence → notice (a FIFO: the consumer reads a range and removes it)
 *   meta           'seq' → last notice sequence written
 *
 * The (hotkey, trade pair) lock is LMDB's single writer: every order's read-modify-write is one
 * `transactionSync` (reads inside it see the latest committed state and no other writer runs).
 */
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import type { Position } from '../../examples/validator/shared.ts';
import { decide, tpIdOf } from '../workers/order-path-common.ts';
import type { Notice, Pick, Setup } from '../workers/order-path-common.ts';

export interface LmdbState {
  env: RootDatabase;
  eliminations: Database<unknown, string>;
  departed: Database<{ detected_ms: number }, string>;
  accountSizes: Database<number, string>;
  open: Database<Position, string>;
  closed: Database<Position, string>;
  notices: Database<Notice, number>;
  meta: Database<number, string>;
}

/** Opens (creating if needed) the environment at `path` with the speed options above. */
export function openLmdb(path: string): LmdbState {
  const env = open({ path, noSync: true, noMetaSync: true, compression: false, useWritemap: false, maxDbs: 8 });
  const db = <V, K extends string | number = string>(name: string, keyEncoding?: 'uint32'): Database<V, K> =>
    env.openDB<V, K>({ name, compression: false, ...(keyEncoding ? { keyEncoding } : {}) });
  return {
    env,
    eliminations: db('eliminations'),
    departed: db('departed'),
    accountSizes: db('accountSizes'),
    open: db('open'),
    closed: db('closed'),
    notices: db<Notice, number>('notices', 'uint32'),
    meta: db('meta'),
  };
}

/** Writes the setup's state (one transaction). */
export function seedLmdb(s: LmdbState, setup: Setup): void {
  s.env.transactionSync(() => {
    for (const hk of setup.eliminated) s.eliminations.putSync(hk, { hotkey: hk, reason: 'PLAGIARISM' });
    for (const [hk, v] of Object.entries(setup.departed)) s.departed.putSync(hk, v);
    for (const [hk, v] of Object.entries(setup.accountSizes)) s.accountSizes.putSync(hk, v);
    for (const p of setup.positions) {
      if (p.is_closed_position) s.closed.putSync(p.position_uuid, p);
      else s.open.putSync(`${p.miner_hotkey}|${tpIdOf(p)}`, p);
    }
    s.meta.putSync('seq', 0);
  });
}

/** Orders stored in every position, open and closed. */
export function countLmdbOrders(s: LmdbState): number {
  let n = 0;
  for (const { value } of s.open.getRange()) n += value.orders.length;
  for (const { value } of s.closed.getRange()) n += value.orders.length;
  return n;
}

/**
 * The order path on LMDB: eliminated? departed? (plain reads, no transaction: the fail-early
 * checks), then ONE write transaction (LMDB's single writer is the lock): account size, open
 * position, next position, save, notice appended under the next sequence number. True if saved.
 */
export function lmdbOrder(s: LmdbState, p: Pick, rnd: () => number, maxOrders: number): boolean {
  if (s.eliminations.doesExist(p.hotkey) || s.departed.doesExist(p.hotkey)) return false;
  const key = `${p.hotkey}|${p.tp[0]}`;
  s.env.transactionSync(() => {
    const accountSize = s.accountSizes.get(p.hotkey);
    const open = s.open.get(key);
    const { next, notice } = decide(p, open, accountSize, maxOrders, rnd);
    if (next.is_closed_position) {
      s.closed.putSync(next.position_uuid, next);
      if (open !== undefined) s.open.removeSync(key);
    } else s.open.putSync(key, next);
    const seq = (s.meta.get('seq') ?? 0) + 1;
    s.meta.putSync('seq', seq);
    s.notices.putSync(seq, notice);
  });
  return true;
}

/** The consumer's step: reads and removes up to 256 notices in sequence order (one write transaction); how many. */
export function lmdbPopNotices(s: LmdbState): number {
  return s.env.transactionSync(() => {
    let k = 0;
    for (const { key, value } of s.notices.getRange({ limit: 256 })) {
      if (value.hotkey === '') throw new Error(`notice ${key} without a hotkey`);
      s.notices.removeSync(key);
      k++;
    }
    return k;
  });
}
