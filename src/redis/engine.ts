/**
 * createRedisEngine: the AsyncEngine (src/async/types.ts) on Redis, for validators that outgrow
 * one process or one machine. Same domains, same method names, same error codes as the
 * SharedArrayBuffer engine; test/conformance.ts runs one suite on both.
 *
 * ```ts
 * const engine = await createRedisEngine({ url: 'redis://:password@host:6379', keyPrefix: 'validator1:',
 *   lockTtlMs: 10_000, general: { queues: { websockets: { capacity: 4096 } }, counters: ['orders'] } });
 * await engine.locks.withLock(hotkey, 'BTCUSD', async () => {
 *   const head = await engine.positions.getOpenHead(hotkey, 'BTCUSD');
 *   await engine.positions.appendOrder(nextHead(head, order), order, { ifEpoch });  // fenced
 * });
 * ```
 *
 * Options (checked here, one message form): `url` (redis:// or rediss://, user and password
 * allowed; TLS with rediss://, `tls` for its options such as a private CA) or `client` (an ioredis instance the caller configured and owns:
 * close() leaves it open); `keyPrefix` (every key lives under it: two engines with different
 * prefixes share one Redis and never see each other's state; default 'sabstate:'); `lockTtlMs`
 * (default 10000); `claimIdleMs` (queues, default 30000); `general: { queues, counters, maps }`
 * declared as for createEngine.
 *
 * Modules: connection.ts (ioredis, loaded lazily; errors; credentials), store.ts (key layout),
 * scripts.ts (every Lua script), locks.ts (fenced locks), positions.ts, tables.ts (eliminations,
 * departed), general.ts (stream queues, counters, maps, sync gate).
 *
 * Cluster: every key carries a hash tag (`{hotkey}`, `{sync}`, `{departed}`, `{general}`,
 * `{queue:name}`) and every script's keys share one tag, except a positions write with
 * `{ ifEpoch }`, which reads the gate under `{sync}`, and one with `{ push }`, which pushes to
 * `{queue:name}`: on a single Redis (or Sentinel) each is one atomic script; Redis Cluster
 * refuses them (CROSSSLOT). Running on Cluster needs the gate's epoch replicated into each
 * hotkey's slot and the push made after the write (not built).
 *
 * Round trips: the order step (withLock, getOpenHead, appendOrder with `{ release: true,
 * push }`) is 2 waits and 2 script calls when the lock is free (the lock script returns the
 * open head; the append's script pushes the notice and releases the lock;
 * examples/redis/order-process.ts); `stats().roundTrips` counts every call this engine made
 * (commands sent, not waits).
 */
import type { ConnectionOptions } from 'node:tls';
import { checkKnownKeys, optObject, optPositiveInt } from '../options.ts';
import type { AsyncEngine } from '../async/types.ts';
import { resolveGeneralOptions } from '../domains/general.ts';
import { CLIENT_OPTIONS, type RedisClient, loadRedisClass, serverInfoFromClient, serverInfoFromUrl, scrub } from './connection.ts';
import { RedisStore } from './store.ts';
import { ALL_SCRIPTS } from './scripts.ts';
import { RedisLocks } from './locks.ts';
import { RedisPositions } from './positions.ts';
import { RedisDeparted, RedisEliminations } from './tables.ts';
import { BlockingLane, RedisGeneral, type RedisQueueDecl } from './general.ts';

/** Options of {@link createRedisEngine}: exactly one of `url` and `client`. */
export interface RedisEngineOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// (TLS). */
  url?: string;
  /** An ioredis client (owned by the caller). */
  client?: object;
  /**
   * With a rediss:// `url`: TLS options for the connection (node:tls connect options), e.g.
   * `{ ca: readFileSync('ca.crt') }` for a server whose certificate a private CA signed. Default:
   * Node's trusted CAs, the server's certificate checked against the URL's host.
   */
  tls?: ConnectionOptions;
  /** Every key lives under it: engines with different prefixes never see each other's state (default 'sabstate:'). */
  keyPrefix?: string;
  /** A lock's TTL in ms, renewed while held; a dead holder's lock is free after it (default 10000). */
  lockTtlMs?: number;
  /** A queue message delivered and not acknowledged for this long (ms, default 30000) is delivered again to another consumer: make it exceed the longest handling time. */
  claimIdleMs?: number;
  /** Queues, counters and maps, declared as in createEngine's `general` option. */
  general?: {
    queues?: Record<string, { capacity?: number; maxMessageBytes?: number }>;
    counters?: string[];
    maps?: string[];
  };
}

const KNOWN = ['url', 'client', 'tls', 'keyPrefix', 'lockTtlMs', 'claimIdleMs', 'general'];

/**
 * Connects to Redis and resolves to an {@link AsyncEngine} on it: the domains, method names and error
 * codes of the SharedArrayBuffer engine, its state shared by every process using the same
 * `keyPrefix`. With `url`, needs the optional peer dependency ioredis.
 * @throws {@link SabStateError} `ERR_CONNECTION` (the promise rejects) if Redis cannot be reached or
 *   refuses the credentials.
 * @throws (the promise rejects) TypeError or RangeError if `options` is malformed (neither or both of
 *   `url` and `client`, a URL that is not redis:// or rediss://, a client speaking RESP3...), and
 *   Error if ioredis is not installed.
 */
export async function createRedisEngine(options: RedisEngineOptions): Promise<AsyncEngine> {
  const o = optObject(options, 'options');
  checkKnownKeys(o, 'options', KNOWN);
  if ((o.url === undefined) === (o.client === undefined)) throw new TypeError('options.url or options.client must be given (one of them)');
  const prefix = o.keyPrefix ?? 'sabstate:';
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 256) {
    throw new TypeError('options.keyPrefix must be a non-empty string of at most 256 characters');
  }
  const lockTtlMs = optPositiveInt(o.lockTtlMs, 'options.lockTtlMs', 10_000);
  const claimIdleMs = optPositiveInt(o.claimIdleMs, 'options.claimIdleMs', 30_000);
  const g = resolveGeneralOptions(o.general, 'options.general');
  const queues = new Map<string, RedisQueueDecl>(g.queues.map((q) => [q.name, { capacity: q.capacity, maxMessageBytes: q.maxMessageBytes }]));

  let client: RedisClient;
  let owned: boolean;
  let info;
  if (o.url !== undefined) {
    if (typeof o.url !== 'string') throw new TypeError('options.url must be a redis:// or rediss:// URL');
    info = serverInfoFromUrl(o.url);
    if (o.tls !== undefined && (typeof o.tls !== 'object' || o.tls === null || !o.url.startsWith('rediss://'))) {
      throw new TypeError('options.tls must be an object of TLS options, given with a rediss:// URL');
    }
    const Redis = await loadRedisClass();
    client = new Redis(o.url, o.tls === undefined ? CLIENT_OPTIONS : { ...CLIENT_OPTIONS, tls: o.tls });
    owned = true;
  } else {
    if (o.tls !== undefined) throw new TypeError('options.tls must be given with options.url (a client brings its own TLS options)');
    if (typeof o.client !== 'object' || o.client === null || typeof (o.client as { call?: unknown }).call !== 'function') {
      throw new TypeError('options.client must be an ioredis client');
    }
    client = o.client as RedisClient;
    if ((client.options as { protocol?: unknown }).protocol === 3) {
      throw new TypeError('options.client must speak RESP2 (ioredis 6: new Redis(url, { protocol: 2 }))');
    }
    info = serverInfoFromClient(client);
    owned = false;
  }
  // ioredis logs unhandled 'error' events to the console with the error; ours are surfaced by the calls.
  let lastError = '';
  const onError = (e: Error): void => {
    lastError = e.message;
  };
  client.on('error', onError);
  const store = new RedisStore(client, info, prefix);
  const lane = new BlockingLane(() => {
    // lazyConnect: the lane connects it (BlockingLane); a caller's client made without lazyConnect
    // would have its duplicate connect by itself, and the lane's connect() then threw "already connecting"
    const c = client.duplicate({ lazyConnect: true });
    c.on('error', onError);
    return c;
  });
  try {
    if (owned) await client.connect();
    await store.cmd('createRedisEngine', 'PING');
    await store.loadScripts(ALL_SCRIPTS);
  } catch (e) {
    if (owned) client.disconnect();
    // ioredis rejects connect() with "Connection is closed."; the cause came as an 'error' event.
    const why = lastError !== '' && e instanceof Error && !(e as { name?: string }).name?.includes('ReplyError') ? new Error(`${e.message} ${lastError}`) : e;
    throw store.fail(why, 'createRedisEngine');
  }
  const locks = new RedisLocks(store, lockTtlMs);
  const general = new RedisGeneral(store, { queues, counters: g.counters, maps: g.maps }, claimIdleMs, lane);
  const positions = new RedisPositions(store, locks, (name) => general.queue(name));
  try {
    await general.init();
  } catch (e) {
    if (owned) client.disconnect();
    throw e;
  }
  let closed = false;
  const engine: AsyncEngine = {
    backend: 'redis',
    locks,
    positions,
    eliminations: new RedisEliminations(store),
    departed: new RedisDeparted(store),
    general,
    stats: async () => {
      const qs: Record<string, unknown> = {};
      for (const [name, q] of general.queues()) qs[name] = { ...q.stats };
      return {
        backend: 'redis',
        server: scrub(info.where, info),
        keyPrefix: prefix,
        status: client.status,
        roundTrips: store.roundTrips,
        connectionErrors: store.connectionErrors,
        locks: locks.stats(),
        positions: { saves: positions.saves, appends: positions.appends, reads: positions.reads, headsFromLock: positions.prefetched },
        queues: qs,
      };
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const q of general.queues().values()) await q.ack().catch(() => undefined);
      lane.close();
      client.off('error', onError);
      if (owned) {
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }
    },
  };
  return engine;
}
