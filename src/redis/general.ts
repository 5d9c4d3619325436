/**
 * The general domain on Redis: queues, counters, maps and the sync gate.
 *
 * Queues are Redis Streams read through one consumer group (`sabstate`), not lists. Why: with a
 * list, LPOP removes the message as it is delivered, so a consumer that dies between receiving
 * it and handling it loses it (and BLMOVE to a processing list needs a reaper that knows which
 * consumer died). A stream keeps each delivered message in the group's pending list, owned by
 * its consumer, with its idle time; a message a dead consumer left is claimed by the next pop of
 * another consumer once idle for `claimIdleMs` (XAUTOCLAIM, tried by a consumer's pop at most
 * every claimIdleMs / 4, so within 1.25 x claimIdleMs of its last delivery), so nothing is lost. Delivery is
 * therefore at least once when a consumer dies (the claimed message may have been handled
 * already; it is counted in `stats().queues.<name>.claimed`) and exactly once otherwise.
 *
 * A message is acknowledged (XACK, then XDEL: the stream does not grow) by the same consumer's
 * next pop of that queue, in the same round trip (XACK, XDEL and XREADGROUP sent together; the
 * QUEUE_POP script when a claim is due), or by close(): asking for the next message, or
 * closing, says the previous one was handled. `claimIdleMs` (default 30 s) must
 * exceed the longest handling time, else a slow live consumer's message is redelivered.
 * push (QUEUE_PUSH) refuses (false) only when the messages queued and not yet delivered fill the
 * declared capacity; size() counts those. The stream also holds each consumer's one delivered,
 * unacknowledged message (so at most capacity + consumers entries).
 * pop({ timeoutMs }): one poll (#take); if empty and timeoutMs > 0, XREADGROUP BLOCK on a connection of
 * its own (blocking pops of one engine take turns on it), in slices of at most 1 s so that
 * messages left by a dead consumer are claimed while waiting.
 * Messages: a string, bytes (a Uint8Array: pop returns a Uint8Array) or any JSON value, kept as
 * one field per entry: its name the kind (s / b / j), its value the string, base64 or JSON (one
 * field, not `k` and `v` fields: two strings fewer per message for Redis to store and send and
 * for the consumer to parse; entries of that earlier layout are still read).
 *
 * Counters: INCRBY on one key each. Maps: one hash each, values as JSON. Sync gate: one hash
 * (epoch, busy); begin is GATE_BEGIN (HINCRBY + HSET in one script). Guarded writes check the
 * gate inside their own write script, so once begin() has returned no write admitted under the
 * old epoch can still land: there is nothing in flight to wait for (unlike the SharedArrayBuffer
 * gate, whose writes are several steps).
 *
 * Unknown queue, counter or map names: ERR_UNKNOWN_QUEUE, ERR_UNKNOWN_COUNTER, ERR_UNKNOWN_MAP, as in
 * the engine (declared at creation).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ErrorCode, SabStateError, checkKey, describe } from '../errors.ts';
import type { GateState } from '../internal/sync/sync-gate.ts';
import type { AsyncCounter, AsyncGeneral, AsyncMap, AsyncQueue, AsyncSyncGate } from '../async/general-types.ts';
import { checkPopMax } from '../async/lock-guards.ts';
import { GATE_BEGIN, QUEUE_ACK, QUEUE_POP, QUEUE_PUSH, QUEUE_SIZE, type ScriptDef } from './scripts.ts';
import type { RedisClient } from './connection.ts';
import type { RedisStore } from './store.ts';

export const GROUP = 'sabstate';

export interface RedisQueueDecl {
  capacity: number;
  maxMessageBytes: number;
}

export interface RedisQueueStats {
  pushes: number;
  pops: number;
  full: number;
  empty: number;
  claimed: number;
}

/** The declared `name` of `kind`, else ERR_UNKNOWN_QUEUE naming the declared ones (the engine's message). */
function declared<T>(all: Map<string, T>, kind: 'queue' | 'counter' | 'map', name: string): T {
  const v = all.get(name);
  if (v !== undefined) return v;
  const names = [...all.keys()].map((n) => JSON.stringify(n)).join(', ') || 'none';
  const code = kind === 'queue' ? ErrorCode.UNKNOWN_QUEUE : kind === 'counter' ? ErrorCode.UNKNOWN_COUNTER : ErrorCode.UNKNOWN_MAP;
  throw new SabStateError(code, `no ${kind} named ${JSON.stringify(name)} was declared (declared: ${names})`);
}

function encodeMessage(msg: unknown, max: number, name: string): [string, string] {
  let kv: [string, string];
  if (typeof msg === 'string') kv = ['s', msg];
  else if (msg instanceof Uint8Array) kv = ['b', Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength).toString('base64')];
  else {
    let s: string | undefined;
    try {
      s = JSON.stringify(msg);
    } catch {
      s = undefined;
    }
    if (s === undefined) throw new SabStateError(ErrorCode.INVALID_VALUE, `queue ${JSON.stringify(name)}: a message must be JSON, a string or bytes, got ${describe(msg)}`);
    kv = ['j', s];
  }
  const bytes = kv[0] === 'b' ? (msg as Uint8Array).byteLength : Buffer.byteLength(kv[1]);
  if (bytes > max) {
    throw new SabStateError(ErrorCode.VALUE_TOO_LARGE, `queue ${JSON.stringify(name)}: message of ${bytes} bytes, maxMessageBytes is ${max}`);
  }
  return kv;
}

/**
 * A stream entry's message: one field, its name the kind (j JSON, s string, b base64 bytes), its
 * value the message; an entry of the earlier layout ({k: kind, v: value}, two fields) is read too.
 */
function decodeMessage(fields: string[]): unknown {
  let k = fields[0];
  let v = fields[1] ?? 'null';
  if (fields.length !== 2) {
    k = 'j';
    v = 'null';
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'k') k = fields[i + 1]!;
      else if (fields[i] === 'v') v = fields[i + 1]!;
    }
  }
  if (k === 's') return v;
  if (k === 'b') return new Uint8Array(Buffer.from(v, 'base64'));
  return JSON.parse(v) as unknown;
}

/**
 * One blocking connection per engine, taken in turns (a blocked command holds its connection),
 * made on first use and made again after it ended (a restart of Redis, a failed connect).
 */
export class BlockingLane {
  #conn: RedisClient | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  readonly #make: () => RedisClient;
  constructor(make: () => RedisClient) {
    this.#make = make;
  }
  run<T>(fn: (c: RedisClient) => Promise<T>): Promise<T> {
    const next = this.#tail.then(async () => fn(await this.#connected()));
    this.#tail = next.catch(() => undefined);
    return next;
  }
  async #connected(): Promise<RedisClient> {
    let c = this.#conn;
    if (c !== undefined && c.status === 'end') {
      c.disconnect();
      c = undefined;
    }
    if (c === undefined) {
      c = this.#conn = this.#make();
      try {
        await c.connect();
      } catch (e) {
        c.disconnect();
        this.#conn = undefined;
        throw e;
      }
    }
    return c;
  }
  close(): void {
    this.#conn?.disconnect();
  }
}

export class RedisQueue implements AsyncQueue {
  readonly #s: RedisStore;
  readonly #name: string;
  readonly #key: string;
  readonly #decl: RedisQueueDecl;
  readonly #consumer: string;
  readonly #claimIdleMs: number;
  readonly #lane: BlockingLane;
  /** The ids of the last delivery to this consumer (one pop or one popMany), acknowledged by the next pop or close(). */
  #unacked: string[] = [];
  #lastClaim = -Infinity;
  readonly stats: RedisQueueStats = { pushes: 0, pops: 0, full: 0, empty: 0, claimed: 0 };

  constructor(store: RedisStore, name: string, decl: RedisQueueDecl, consumer: string, claimIdleMs: number, lane: BlockingLane) {
    this.#s = store;
    this.#name = name;
    this.#key = store.queueKey(name);
    this.#decl = decl;
    this.#consumer = consumer;
    this.#claimIdleMs = claimIdleMs;
    this.#lane = lane;
  }

  /** The stream and its group, made again if Redis lost them (a restart without persistence). */
  async ensureGroup(): Promise<void> {
    try {
      await this.#s.cmd('queue', 'XGROUP', 'CREATE', this.#key, GROUP, '0', 'MKSTREAM');
    } catch (e) {
      if (!/BUSYGROUP/.test((e as Error).message)) throw e;
    }
  }

  /** Runs a queue script; once more after making the group if Redis answered NOGROUP. */
  async #script(s: ScriptDef, args: Array<string | number>, what: string, alone = false): Promise<unknown> {
    try {
      return await this.#s.run(s, [this.#key], args, what, alone);
    } catch (e) {
      if (!/NOGROUP/.test((e as Error).message)) throw e;
      await this.ensureGroup();
      return await this.#s.run(s, [this.#key], args, what, alone);
    }
  }

  async push(msg: unknown): Promise<boolean> {
    const [k, v] = this.encode(msg);
    const ok = (await this.#script(QUEUE_PUSH, [this.#decl.capacity, k, v, GROUP], `queue(${JSON.stringify(this.#name)}).push`)) === 1;
    this.counted(ok);
    return ok;
  }

  /** The stream's key, for a positions write that pushes in its own script (`{ push }`, scripts.ts POS_WRITE). */
  get key(): string {
    return this.#key;
  }
  get capacity(): number {
    return this.#decl.capacity;
  }
  /** A message as its stream fields (kind, value); ERR_INVALID_VALUE / ERR_VALUE_TOO_LARGE as push. */
  encode(msg: unknown): [string, string] {
    return encodeMessage(msg, this.#decl.maxMessageBytes, this.#name);
  }
  /** Counts a push (made here or by a positions write's `{ push }`): pushed, or refused as full. */
  counted(ok: boolean): void {
    if (ok) this.stats.pushes++;
    else this.stats.full++;
  }

  async pop(opts?: { timeoutMs?: number }): Promise<unknown> {
    const t = opts?.timeoutMs ?? 0;
    if (typeof t !== 'number' || Number.isNaN(t) || t < 0) throw new TypeError('options.timeoutMs must be a non-negative number');
    const deadline = performance.now() + t;
    const what = `queue(${JSON.stringify(this.#name)}).pop`;
    for (;;) {
      const r = await this.#take(1, what);
      const first = r.entries[0];
      if (first !== undefined) return this.#delivered(first[0], first[1], r.claimed);
      const left = deadline - performance.now();
      if (left < 1) {
        this.stats.empty++;
        return undefined;
      }
      const block = Math.max(1, Math.min(Math.floor(left), 1000));
      let got: Array<[string, Array<[string, string[]]>]> | null;
      try {
        got = await this.#lane.run(async (c) => {
          this.#s.roundTrips++;
          return (await c.call('XREADGROUP', 'GROUP', GROUP, this.#consumer, 'COUNT', 1, 'BLOCK', block, 'STREAMS', this.#key, '>')) as
            | Array<[string, Array<[string, string[]]>]>
            | null;
        });
      } catch (e) {
        throw this.#s.fail(e, what);
      }
      const e = got?.[0]?.[1]?.[0];
      if (e !== undefined) return this.#delivered(e[0], e[1], false);
    }
  }

  async popMany(max: number): Promise<unknown[]> {
    const n = checkPopMax(max);
    const r = await this.#take(n, `queue(${JSON.stringify(this.#name)}).popMany`);
    const out: unknown[] = [];
    for (const [id, fields] of r.entries) out.push(this.#delivered(id, fields, r.claimed));
    if (out.length === 0) this.stats.empty++;
    return out;
  }

  /**
   * One poll of this consumer (pop, popMany), one round trip: acknowledges (and deletes) its last
   * delivery, then takes up to `count` messages. When a claim is due (at most every
   * claimIdleMs / 4: XAUTOCLAIM walks the pending list), QUEUE_POP, which returns messages other
   * consumers left pending first (claimed: true). Else XACK, XDEL and XREADGROUP as plain
   * commands sent together (store.ts batch), no script: a script would copy the read's reply
   * into Lua and back, per message (the consumer's main cost in Redis, with batches of 256).
   * The ack and the read need not be one atomic step: killed between them, the last delivery is
   * acknowledged and nothing new was delivered. Written at once (one socket write) unless the
   * turn's commands are being gathered (store.ts #send): a consumer's poll is usually its only
   * call in flight.
   */
  async #take(count: number, what: string): Promise<{ claimed: boolean; entries: Array<[string, string[]]> }> {
    const now = performance.now();
    const ids = this.#unacked;
    if (now - this.#lastClaim >= this.#claimIdleMs / 4) {
      this.#lastClaim = now;
      const r = (await this.#script(QUEUE_POP, [GROUP, this.#consumer, this.#claimIdleMs, '1', count, ...ids], what, true)) as Array<number | [string, string[]]>;
      this.#unacked = [];
      return { claimed: r[0] === 1, entries: r.slice(1) as Array<[string, string[]]> };
    }
    const read = ['XREADGROUP', 'GROUP', GROUP, this.#consumer, 'COUNT', count, 'STREAMS', this.#key, '>'] as const;
    const cmds = ids.length === 0 ? [read] : [['XACK', this.#key, GROUP, ...ids] as const, ['XDEL', this.#key, ...ids] as const, read];
    let res: unknown[];
    try {
      res = await this.#s.batch(cmds, what);
    } catch (e) {
      if (!/NOGROUP/.test((e as Error).message)) throw e;
      await this.ensureGroup(); // the stream is gone (a restart without persistence): nothing to ack
      res = await this.#s.batch([read], what);
    }
    this.#unacked = [];
    const got = res[res.length - 1] as Array<[string, Array<[string, string[]]>]> | null;
    return { claimed: false, entries: got?.[0]?.[1] ?? [] };
  }

  async size(): Promise<number> {
    return (await this.#script(QUEUE_SIZE, [GROUP], `queue(${JSON.stringify(this.#name)}).size`)) as number;
  }

  /** Acknowledges the last message delivered (close() calls it). */
  async ack(): Promise<void> {
    if (this.#unacked.length === 0) return;
    const ids = this.#unacked;
    await this.#s.run(QUEUE_ACK, [this.#key], [GROUP, ...ids], `queue(${JSON.stringify(this.#name)}).ack`);
    if (this.#unacked === ids) this.#unacked = [];
  }

  #delivered(id: string, fields: string[], claimed: boolean): unknown {
    this.#unacked.push(id);
    this.stats.pops++;
    if (claimed) this.stats.claimed++;
    return decodeMessage(fields);
  }
}

export class RedisGeneral implements AsyncGeneral {
  readonly #s: RedisStore;
  readonly #queues = new Map<string, RedisQueue>();
  readonly #counters = new Map<string, AsyncCounter>();
  readonly #maps = new Map<string, AsyncMap>();
  readonly syncGate: AsyncSyncGate;
  readonly consumer = `${hostname()}:${process.pid}:${randomBytes(6).toString('base64url')}`;

  constructor(store: RedisStore, decl: { queues: Map<string, RedisQueueDecl>; counters: string[]; maps: string[] }, claimIdleMs: number, lane: BlockingLane) {
    this.#s = store;
    for (const [name, d] of decl.queues) this.#queues.set(name, new RedisQueue(store, name, d, this.consumer, claimIdleMs, lane));
    for (const name of decl.counters) this.#counters.set(name, this.#counter(name));
    for (const name of decl.maps) this.#maps.set(name, this.#map(name));
    const gate = store.gateKey();
    this.syncGate = {
      begin: async () => (await store.run(GATE_BEGIN, [gate], [], 'syncGate.begin')) as number,
      end: async () => {
        await store.cmd('syncGate.end', 'HSET', gate, 'busy', '0');
      },
      current: async (): Promise<GateState> => {
        const [e, b] = (await store.cmd('syncGate.current', 'HMGET', gate, 'epoch', 'busy')) as [string | null, string | null];
        return { epoch: Number(e ?? 0), inProgress: b === '1' };
      },
    };
  }

  /** Creates each queue's stream and group if missing (MKSTREAM; BUSYGROUP: already there). */
  async init(): Promise<void> {
    for (const q of this.#queues.values()) await q.ensureGroup();
  }

  queue(name: string): RedisQueue {
    return declared(this.#queues, 'queue', name);
  }
  counter(name: string): AsyncCounter {
    return declared(this.#counters, 'counter', name);
  }
  map(name: string): AsyncMap {
    return declared(this.#maps, 'map', name);
  }
  queues(): Map<string, RedisQueue> {
    return this.#queues;
  }

  #counter(name: string): AsyncCounter {
    const s = this.#s;
    const key = s.counterKey(name);
    return {
      add: async (n = 1) => {
        if (!Number.isSafeInteger(n)) {
          throw new SabStateError(ErrorCode.INVALID_VALUE, `counter ${JSON.stringify(name)}: add(n) needs a safe integer, got ${String(n)}`);
        }
        return Number(await s.cmd(`counter(${JSON.stringify(name)}).add`, 'INCRBY', key, n));
      },
      get: async () => Number((await s.cmd(`counter(${JSON.stringify(name)}).get`, 'GET', key)) ?? 0),
    };
  }

  #map(name: string): AsyncMap {
    const s = this.#s;
    const key = s.mapKey(name);
    const what = (op: string): string => `map(${JSON.stringify(name)}).${op}`;
    return {
      get: async (k) => {
        checkKey(k, 'key');
        const v = (await s.cmd(what('get'), 'HGET', key, k)) as string | null;
        return v === null ? undefined : (JSON.parse(v) as unknown);
      },
      set: async (k, v) => {
        checkKey(k, 'key');
        let j: string | undefined;
        try {
          j = JSON.stringify(v);
        } catch {
          j = undefined;
        }
        if (j === undefined) throw new SabStateError(ErrorCode.INVALID_VALUE, `${what('set')}: value must be JSON, got ${describe(v)}`);
        await s.cmd(what('set'), 'HSET', key, k, j);
      },
      has: async (k) => {
        checkKey(k, 'key');
        return (await s.cmd(what('has'), 'HEXISTS', key, k)) === 1;
      },
      delete: async (k) => {
        checkKey(k, 'key');
        return (await s.cmd(what('delete'), 'HDEL', key, k)) === 1;
      },
      entries: async () => {
        const flat = (await s.cmd(what('entries'), 'HGETALL', key)) as string[];
        const out: Array<[string, unknown]> = [];
        for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, JSON.parse(flat[i + 1]!) as unknown]);
        return out;
      },
      size: async () => (await s.cmd(what('size'), 'HLEN', key)) as number,
    };
  }
}
