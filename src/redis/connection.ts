/**
 * The Redis connection of createRedisEngine: ioredis loaded lazily, client options that turn a
 * connection loss into a typed error, Lua scripts run by EVALSHA with the NOSCRIPT fallback, and
 * error mapping that never lets a credential out.
 *
 * - ioredis is an optional peer dependency: `import('ioredis')` runs only when a Redis engine is
 *   created, so `import 'sabstate'` works where it is not installed.
 * - Client options (when the engine builds the client from `url`): `enableOfflineQueue: false`
 *   (a call made while disconnected fails at once instead of waiting in memory),
 *   `maxRetriesPerRequest: 0` (a call in flight when the connection drops is rejected at once),
 *   `autoResendUnfulfilledCommands: false` (a write whose reply was lost is never sent again
 *   behind the caller's back: its outcome is unknown and the caller was told so), and a
 *   reconnect strategy (50 ms steps up to 1 s), so calls work again once Redis is back; and
 *   `enableAutoPipelining: false`: the store itself writes the commands a caller issues in one
 *   turn (Promise.all of reads, a write not awaited before the next order's reads) to the
 *   socket together, one write and one wait instead of one write each (store.ts #send).
 *   Every such failure is `SabStateError` ERR_CONNECTION. A lock whose holder lost its
 *   connection is not renewed and expires after its TTL (locks.ts).
 * - Scripts: EVALSHA first; on NOSCRIPT, EVAL, which loads the script into the server's cache
 *   again, e.g. after a restart (store.ts `run`). Scripts return refusals as error
 *   replies `ERR_<CODE> message`, mapped back to SabStateError with that code.
 * - Credentials: the URL's user and password go to ioredis only. Messages are built from
 *   `host:port` (`describeServer`), never from the URL, and every message taken from ioredis or
 *   Redis is scrubbed of the password and user before it is thrown; no `cause` is attached (an
 *   AUTH ReplyError carries its arguments).
 */
import type { Redis, RedisOptions } from 'ioredis';
import { ErrorCode, SabStateError, type ErrorCodeValue } from '../errors.ts';

export type RedisClient = Redis;

const CODES = new Set<string>(Object.values(ErrorCode));

/** What errors and stats may say about the server: host:port (and db), never credentials. */
export interface ServerInfo {
  readonly where: string;
  /** Strings to cut out of any message (password, user). */
  readonly secrets: readonly string[];
}

export function serverInfoFromUrl(url: string): ServerInfo {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError('options.url must be a redis:// or rediss:// URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new TypeError('options.url must be a redis:// or rediss:// URL');
  const secrets = [u.password, decodeURIComponent(u.password), u.username, decodeURIComponent(u.username)].filter((s) => s.length >= 1);
  return { where: `${u.protocol}//${u.hostname}:${u.port || '6379'}${u.pathname.length > 1 ? u.pathname : ''}`, secrets };
}

export function serverInfoFromClient(client: Redis): ServerInfo {
  const o = client.options;
  const secrets = [o.password, o.username].filter((s): s is string => typeof s === 'string' && s.length > 0);
  return { where: `${o.tls ? 'rediss' : 'redis'}://${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`, secrets };
}

export function scrub(msg: string, info: ServerInfo): string {
  let out = msg;
  for (const s of info.secrets) out = out.split(s).join('***');
  return out;
}

/** Client options of an engine-built client (see the top of the file). */
export const CLIENT_OPTIONS: RedisOptions = {
  // RESP2: replies as arrays (ioredis 6 speaks RESP3 by default, where HGETALL and XREADGROUP
  // answer maps); ioredis 5 ignores the option and speaks RESP2.
  protocol: 2,
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  // Off: the store gathers the commands of one turn into one socket write itself (store.ts
  // #send: the socket corked for the turn), without autopipelining's Pipeline per turn.
  enableAutoPipelining: false,
  connectTimeout: 5000,
  retryStrategy: (attempt: number) => Math.min(attempt * 50, 1000),
};

/** ioredis' Redis class, loaded on first use; a clear error where the package is missing. */
export async function loadRedisClass(): Promise<new (url: string, opts: RedisOptions) => Redis> {
  let mod: { Redis?: unknown; default?: unknown };
  try {
    mod = (await import('ioredis')) as { Redis?: unknown; default?: unknown };
  } catch {
    throw new Error('createRedisEngine needs the ioredis package (an optional peer dependency of sabstate): npm install ioredis');
  }
  return (mod.Redis ?? mod.default) as new (url: string, opts: RedisOptions) => Redis;
}

/**
 * Any error out of ioredis as what the engine throws: our own refusals keep their code
 * (`ERR_X message` replies of our scripts), a server that cannot be reached, dropped the
 * connection, is loading its data or refuses the credentials is ERR_CONNECTION, anything else
 * a plain Error; every message scrubbed.
 */
export function mapError(e: unknown, info: ServerInfo, what: string): Error {
  if (e instanceof SabStateError) return e;
  const err = e as { name?: unknown; message?: unknown };
  const msg = scrub(typeof err?.message === 'string' ? err.message : String(e), info);
  if (err?.name === 'ReplyError') {
    const sp = msg.indexOf(' ');
    const head = sp < 0 ? msg : msg.slice(0, sp);
    if (CODES.has(head) && head !== ErrorCode.CONNECTION) {
      return new SabStateError(head as ErrorCodeValue, `${what}: ${msg.slice(sp + 1)}`);
    }
    if (/^(NOAUTH|WRONGPASS|LOADING|READONLY|MASTERDOWN|BUSY)\b/.test(head)) {
      return new SabStateError(ErrorCode.CONNECTION, `${what}: Redis at ${info.where} refused the call: ${head}`);
    }
    return new Error(`${what}: Redis at ${info.where} replied with an error: ${msg}`);
  }
  return new SabStateError(
    ErrorCode.CONNECTION,
    `${what}: Redis at ${info.where} is not reachable or dropped the connection (${msg}); a write in flight may or may not have been applied`,
  );
}
