/**
 * Positions on Redis: head and orders apart (store.ts' key table), so the order step is one
 * RPUSH of the new order plus the new head, in one script, whatever the position's history.
 *
 * Values are JSON (not the engine's binary codec): Redis holds them as text that redis-cli, the
 * Python validator and a Lua script can read, and JSON.parse keeps key order, so a position
 * comes back with its fields in the order it was saved (the head keeps `orders: null` at its
 * place; reading sets it back). What JSON cannot carry (undefined fields, BigInt, cycles) is
 * dropped or refused (ERR_INVALID_VALUE) before anything is sent.
 *
 * Every call is one round trip: save / appendOrder (POS_WRITE: fence, sync gate, one-open rule,
 * head, orders, indexes, atomic; with `{ release: true }` also the lock's release, so the order
 * step's last write and its release are one command; with `{ push }` also the queue message, so
 * the order step's notice is pushed in the same atomic step; the index read skipped when the
 * hold's grant read this open position, scripts.ts POS_WRITE "known"; a save that moves an open
 * position to another trade pair deletes its old pair's lock, which that proof needs), get (POS_GET), getOpen / getOpenHead (POS_GET_OPEN; none for
 * getOpenHead without lastOrder inside withLock of that (hotkey, tp) before this hold's first
 * write: the lock script read it when it granted the lock, locks.ts),
 * listForHotkey (POS_LIST). delete reads the uuid's trade pair (1), takes its lock (1 or more),
 * deletes fenced (1) and releases (1), like the engine's delete, which takes the lock itself.
 * hotkeys() scans the key space (SCAN, one round trip per 1000 keys): a sync-time call.
 * listForHotkey returns positions in no particular order (the engine: first-save order).
 *
 * Crash table: each write is one script, applied whole or not at all; a process killed after
 * sending it (reply lost) does not know which: the caller got ERR_CONNECTION or nothing.
 */
import { ErrorCode, SabStateError, checkKey, describe } from '../errors.ts';
import { optObject } from '../options.ts';
import type { Position } from '../domains/positions/positions.ts';
import { validateHead, validatePosition } from '../domains/positions/record.ts';
import type { AsyncLockContext, AsyncOpenPositionHead, AsyncPositions, AsyncWriteOptions, PositionHead } from '../async/types.ts';
import { POS_DELETE, POS_GET, POS_GET_OPEN, POS_LIST, POS_WRITE } from './scripts.ts';
import { GROUP, type RedisQueue } from './general.ts';
import { checkPush } from '../async/lock-guards.ts';
import { type RedisStore, dec, enc } from './store.ts';
import type { RedisLocks } from './locks.ts';

function json(v: unknown, what: string): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch (e) {
    throw new SabStateError(ErrorCode.INVALID_VALUE, `${what} is not JSON: ${(e as Error).message}`);
  }
  if (s === undefined) throw new SabStateError(ErrorCode.INVALID_VALUE, `${what} is not JSON, got ${describe(v)}`);
  return s;
}

/** The head's JSON: every field of `p`, `orders` null at its place (appended last if absent). */
function headJson(p: Record<string, unknown>): string {
  // A plain head with `orders: null` in place (what getOpenHead returns): its JSON as it is, no copy.
  if (p.orders === null && Object.getPrototypeOf(p) === Object.prototype) return json(p, 'position');
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(p)) out[k] = k === 'orders' ? null : p[k];
  if (!('orders' in out)) out.orders = null;
  return json(out, 'position');
}

function readPosition(head: string, orders: string[]): Position {
  const p = JSON.parse(head) as Position;
  p.orders = orders.map((o) => JSON.parse(o) as unknown);
  return p;
}

/** A write's options, checked: ifEpoch ('' for none), release (the hold's last write frees the lock), lock (its context, checked by holdOf), push. */
interface WriteOptions {
  epoch: string;
  release: boolean;
  lock: unknown;
  push: { queue: string; message: unknown } | undefined;
}

function checkWriteOptions(opts: unknown): WriteOptions {
  if (opts === undefined) return { epoch: '', release: false, lock: undefined, push: undefined };
  const o = optObject(opts, 'options');
  const { ifEpoch, release, lock } = o;
  if (ifEpoch !== undefined && (typeof ifEpoch !== 'number' || !Number.isInteger(ifEpoch))) throw new TypeError('options.ifEpoch must be an integer');
  if (release !== undefined && typeof release !== 'boolean') throw new TypeError('options.release must be a boolean');
  return { epoch: ifEpoch === undefined ? '' : String(ifEpoch), release: release === true, lock, push: checkPush(o.push) };
}

export class RedisPositions implements AsyncPositions {
  readonly #s: RedisStore;
  readonly #locks: RedisLocks;
  saves = 0;
  appends = 0;
  reads = 0;
  /** getOpenHead calls answered from the lock's hold (no round trip). */
  prefetched = 0;

  /** The declared queue of a name (ERR_UNKNOWN_QUEUE otherwise): a write's `{ push }`. */
  readonly #queue: (name: string) => RedisQueue;

  constructor(store: RedisStore, locks: RedisLocks, queue: (name: string) => RedisQueue) {
    this.#s = store;
    this.#locks = locks;
    this.#queue = queue;
  }

  async get(hotkey: string, positionUuid: string): Promise<Position | undefined> {
    checkKey(hotkey, 'hotkey');
    checkKey(positionUuid, 'positionUuid');
    this.reads++;
    const b = this.#s.base(hotkey);
    const u = enc(positionUuid);
    const r = (await this.#s.run(POS_GET, [`${b}head:${u}`, `${b}orders:${u}`], [], 'positions.get')) as [string, string[]] | null;
    return r === null ? undefined : readPosition(r[0], r[1]);
  }

  async getOpen(hotkey: string, tradePairId: string): Promise<Position | undefined> {
    checkKey(hotkey, 'hotkey');
    checkKey(tradePairId, 'tradePairId');
    this.reads++;
    const b = this.#s.base(hotkey);
    const r = (await this.#s.run(POS_GET_OPEN, [`${b}pos`], [b, tradePairId, 'full'], 'positions.getOpen')) as [string, string[]] | null;
    return r === null ? undefined : readPosition(r[0], r[1]);
  }

  async getOpenHead(hotkey: string, tradePairId: string, opts?: { lastOrder?: boolean; lock?: AsyncLockContext }): Promise<AsyncOpenPositionHead | undefined> {
    checkKey(hotkey, 'hotkey');
    checkKey(tradePairId, 'tradePairId');
    const o = opts === undefined ? undefined : optObject(opts, 'options');
    const last = o?.lastOrder;
    if (last !== undefined && typeof last !== 'boolean') throw new TypeError('options.lastOrder must be a boolean');
    const hold = this.#locks.holdOf(hotkey, tradePairId, o?.lock);
    this.reads++;
    // Answered from the lock's hold unless the last order is asked for (or the hold wrote since).
    const held = last === true ? undefined : hold?.open;
    let r: [string, number, string?] | null;
    if (held !== undefined) {
      this.prefetched++;
      r = held;
    } else {
      const b = this.#s.base(hotkey);
      const mode = last === true ? 'last' : 'head';
      r = (await this.#s.run(POS_GET_OPEN, [`${b}pos`], [b, tradePairId, mode], 'positions.getOpenHead')) as [string, number, string?] | null;
    }
    if (r === null) return undefined;
    return {
      position: JSON.parse(r[0]) as AsyncOpenPositionHead['position'],
      orderCount: r[1],
      lastOrder: r[2] === undefined ? undefined : (JSON.parse(r[2]) as Record<string, unknown>),
    };
  }

  async listForHotkey(hotkey: string, opts?: { open?: boolean }): Promise<Position[]> {
    checkKey(hotkey, 'hotkey');
    const open = opts === undefined ? undefined : optObject(opts, 'options').open;
    if (open !== undefined && typeof open !== 'boolean') throw new TypeError('options.open must be a boolean');
    this.reads++;
    const b = this.#s.base(hotkey);
    const rows = (await this.#s.run(POS_LIST, [`${b}pos`], [b], 'positions.listForHotkey')) as Array<[string, string[]]>;
    const all = rows.map(([h, o]) => readPosition(h, o));
    return open === undefined ? all : all.filter((p) => (p.is_closed_position === false) === open);
  }

  async save(position: Position, opts?: AsyncWriteOptions): Promise<boolean> {
    const v = validatePosition(position);
    const o = checkWriteOptions(opts);
    const head = headJson(position as Record<string, unknown>);
    const orders = v.orders.map((x, i) => json(x, `position.orders[${i}]`));
    const pushed = await this.#write('save', v, o, head, orders, 'positions.save');
    this.saves++;
    return pushed;
  }

  async appendOrder(head: PositionHead, order: Record<string, unknown>, opts?: AsyncWriteOptions): Promise<boolean> {
    const v = validateHead(head); // the engine's check (orders null or absent), no copy
    if (typeof order !== 'object' || order === null || Array.isArray(order)) {
      throw new SabStateError(ErrorCode.INVALID_VALUE, `order must be an object, got ${describe(order)}`);
    }
    const o = checkWriteOptions(opts);
    const hj = headJson(head as Record<string, unknown>);
    const pushed = await this.#write('append', v, o, hj, [json(order, 'order')], 'positions.appendOrder');
    this.appends++;
    return pushed;
  }

  async delete(hotkey: string, positionUuid: string, opts?: { lock?: AsyncLockContext }): Promise<boolean> {
    checkKey(hotkey, 'hotkey');
    checkKey(positionUuid, 'positionUuid');
    const lock = opts === undefined ? undefined : optObject(opts, 'options').lock;
    if (lock !== undefined) this.#locks.holdOf(hotkey, '', lock); // checked before any round trip
    const b = this.#s.base(hotkey);
    const u = enc(positionUuid);
    for (;;) {
      const tp = (await this.#s.cmd('positions.delete', 'HGET', `${b}pos`, `u:${positionUuid}`)) as string | null;
      if (tp === null) return false;
      const r = await this.#locks.withLock(hotkey, tp, async (ctx) => {
        const hold = this.#locks.holdOf(hotkey, tp, ctx)!;
        hold.open = undefined;
        const keys = [hold.key, `${b}head:${u}`, `${b}orders:${u}`, `${b}pos`];
        return (await this.#s.run(POS_DELETE, keys, [hold.value, positionUuid, tp], 'positions.delete')) as number;
      }, lock === undefined ? undefined : { lock: lock as AsyncLockContext });
      if (r >= 0) return r === 1;
      // moved to another trade pair between the read and the lock: read it again
    }
  }

  async hotkeys(): Promise<string[]> {
    const p = this.#s.prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
    const out = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = (await this.#s.cmd('positions.hotkeys', 'SCAN', cursor, 'MATCH', `${p}{*}:pos`, 'COUNT', 1000)) as [string, string[]];
      cursor = next;
      for (const k of keys) out.add(dec(k.slice(this.#s.prefix.length + 1, k.length - '}:pos'.length)));
    } while (cursor !== '0');
    return [...out];
  }

  /** The write (POS_WRITE); false only when a `{ push }` found its queue full (written, not pushed). */
  async #write(mode: 'save' | 'append', v: { hotkey: string; uuid: string; tp: string; open: boolean }, o: WriteOptions, head: string, orders: string[], what: string): Promise<boolean> {
    const { epoch, release } = o;
    const hold = this.#locks.holdOf(v.hotkey, v.tp, o.lock);
    if (hold === undefined) {
      throw new SabStateError(ErrorCode.LOCK_NOT_HELD, `${what}: this task does not hold the lock of (${v.hotkey}, ${v.tp})`);
    }
    // The push's queue and message checked (and encoded) before anything is sent: refused means unchanged.
    const q = o.push === undefined ? undefined : this.#queue(o.push.queue);
    const msg = q === undefined ? undefined : q.encode(o.push!.message);
    const b = this.#s.base(v.hotkey);
    const u = enc(v.uuid);
    // The gate key (slot {sync}) only when the write is checked against it, the stream key only
    // with a push; else the lock key again (unread by the script), so that a write without them
    // touches one slot (Cluster).
    const keys = [hold.key, `${b}head:${u}`, `${b}orders:${u}`, `${b}pos`, epoch === '' ? hold.key : this.#s.gateKey(), q === undefined ? hold.key : q.key];
    // known: the grant read this uuid as the open position of (hotkey, tp) and this hold has not
    // written since (hold.open still set): the script skips its index read (scripts.ts POS_WRITE, "known").
    const known = hold.open != null && hold.openUuid === v.uuid ? '1' : '0';
    hold.open = undefined; // whatever the outcome (a lost reply included): read it from Redis from now on
    const args: Array<string | number> = [hold.value, epoch, v.uuid, v.tp, v.open ? '1' : '0', head, mode, release ? '1' : '0', known];
    if (q === undefined) args.push('', '', '', '');
    else args.push(q.capacity, msg![0], msg![1], GROUP);
    for (const x of orders) args.push(x);
    // Gathered with the turn's other commands (store.ts #send): in the pipelined order step the
    // next order's reads and grant are issued in the same turn, and go out in the same write.
    const sent = this.#s.run(POS_WRITE, keys, args, what);
    // The release of withLock (or guard.release()) waits for this reply: sent only if the script refused.
    if (release) hold.releasing = sent.then(() => (hold.released = true), () => (hold.released = false));
    const r = await sent;
    if (q !== undefined) q.counted(r === 1);
    return r === 1;
  }
}
