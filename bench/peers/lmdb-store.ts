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
import { tpIdOf } from '../workers/order-path-common.ts';
import type { Notice, Setup } from '../workers/order-path-common.ts';

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
