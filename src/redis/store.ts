/**
 * One Redis engine's connection and key space: runs scripts and commands (each call one round
 * trip, counted), maps their errors (connection.ts), and names every key.
 *
 * Key layout (every key under `keyPrefix`; parts percent-encoded so that no hotkey, trade pair or
 * uuid can break a hash tag or collide with another key: `%`, `{`, `}`, `:`):
 *
 * | key                               | type   | holds                                         |
 * | --------------------------------- | ------ | --------------------------------------------- |
 * | P{hk}:lock:<tp>                   | string | `<fence>:<random>` of the holder, PX ttl      |
 * | P{hk}:fence                       | string | INCR per lock grant (the fencing tokens)      |
 * | P{hk}:head:<uuid>                 | hash   | h: the position's JSON, `orders` null in      |
 * |                                   |        | place; n: its order count (read with the head |
 * |                                   |        | by the lock grant: no LLEN)                   |
 * | P{hk}:orders:<uuid>               | list   | one JSON order per element, in order          |
 * | P{hk}:pos                         | hash   | `o:<tp>` -> uuid of its open position, and    |
 * |                                   |        | `u:<uuid>` -> trade pair, every position of hk |
 * |                                   |        | (one hash: a write reads both in one HMGET)   |
 * | P{sync}:gate                      | hash   | epoch, busy (the sync gate)                   |
 * | P{sync}:eliminations              | hash   | hotkey -> row JSON                            |
 * | P{sync}:eliminations:next:<rand>  | hash   | a replaceAll being written (PX 10 min)        |
 * | P{departed}                       | hash   | hotkey -> detected_ms                         |
 * | P{general}:counter:<name>         | string | INCRBY                                        |
 * | P{general}:map:<name>             | hash   | key -> value JSON                             |
 * | P{queue:<name>}                   | stream | entries {<kind>: value}, kind j / s / b      |
 * |                                   |        | (JSON, string, base64 bytes); group sabstate  |
 */
import { createHash } from 'node:crypto';
import type { ScriptDef } from './scripts.ts';
import { type RedisClient, type ServerInfo, mapError } from './connection.ts';

const NEEDS_ENC = /[%{}:]/;
/** Percent-encodes `%`, `{`, `}` and `:` (the same function as scripts.ts' Lua `enc`). */
export function enc(s: string): string {
  if (!NEEDS_ENC.test(s)) return s;
  return s.replace(/[%{}:]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}
export function dec(s: string): string {
  return s.includes('%') ? s.replace(/%([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))) : s;
}

/** SHA1 of each script's text (what EVALSHA names), computed once per script. */
const SHAS = new WeakMap<ScriptDef, string>();
function shaOf(s: ScriptDef): string {
  let h = SHAS.get(s);
  if (h === undefined) SHAS.set(s, (h = createHash('sha1').update(s.lua).digest('hex')));
  return h;
}
const isNoScript = (e: unknown): boolean => e instanceof Error && e.message.startsWith('NOSCRIPT');

export class RedisStore {
  readonly client: RedisClient;
  readonly info: ServerInfo;
  readonly prefix: string;
  roundTrips = 0;
  connectionErrors = 0;

  constructor(client: RedisClient, info: ServerInfo, prefix: string) {
    this.client = client;
    this.info = info;
    this.prefix = prefix;
  }

  /** Base of a hotkey's keys: `P{hk}:`. */
  base(hotkey: string): string {
    return `${this.prefix}{${enc(hotkey)}}:`;
  }
  gateKey(): string {
    return `${this.prefix}{sync}:gate`;
  }
  eliminationsKey(): string {
    return `${this.prefix}{sync}:eliminations`;
  }
  departedKey(): string {
    return `${this.prefix}{departed}`;
  }
  counterKey(name: string): string {
    return `${this.prefix}{general}:counter:${enc(name)}`;
  }
  mapKey(name: string): string {
    return `${this.prefix}{general}:map:${enc(name)}`;
  }
  queueKey(name: string): string {
    return `${this.prefix}{queue:${enc(name)}}`;
  }

  /**
   * Runs a script (one round trip); errors mapped. EVALSHA, and on NOSCRIPT (a restarted or
   * flushed server) EVAL, which puts the script back in the server's cache: what ioredis'
   * defineCommand does, but sent with `call`, because defineCommand copies every defined script
   * onto each Pipeline (about 14 KB allocated per order with our 16 scripts, measured with the
   * sampling heap profiler). `alone`: usually its caller's only command in flight (a consumer's
   * poll): written at once unless a turn's commands are being gathered (see #send).
   */
  async run(s: ScriptDef, keys: readonly string[], args: readonly (string | number)[], what: string, alone = false): Promise<unknown> {
    this.roundTrips++;
    try {
      return await this.#send(['EVALSHA', shaOf(s), keys.length, ...keys, ...args], alone);
    } catch (e) {
      if (isNoScript(e)) {
        try {
          return await this.client.call('EVAL', s.lua, keys.length, ...keys, ...args);
        } catch (e2) {
          throw this.fail(e2, what);
        }
      }
      throw this.fail(e, what);
    }
  }

  /**
   * One socket write per turn of the event loop. The commands a caller issues in one turn (the
   * order step's reads with its lock grant; in the pipelined order step, order k-1's append with
   * order k's reads and grant; a consumer's ack with its read) are gathered by corking the
   * socket at the first of them and uncorking it at the turn's end (setImmediate): one write,
   * and Redis reads them in one read and answers them in one write. The wire order is the call
   * order (every command goes through the one socket, in call order). This replaces ioredis'
   * autopipelining for the clients the engine makes (CLIENT_OPTIONS): the same batching without
   * a Pipeline object per turn, a wrapper promise and a nextTick hop per command, and a reply
   * held back until every reply of its pipeline is in. `alone` with no turn being gathered:
   * written at once (no event-loop turn of delay). A client the caller made with
   * `enableAutoPipelining` keeps it: its commands go through its autopipeline, `alone` ones
   * around it when nothing waits there.
   */
  #send(args: (string | number)[], alone: boolean): Promise<unknown> {
    const c = this.client;
    const [name, ...rest] = args as [string, ...(string | number)[]];
    const o = c.options;
    if (o.enableAutoPipelining) {
      if (!alone || c.autoPipelineQueueSize > 0) return c.call(name, ...rest);
      o.enableAutoPipelining = false; // read by ioredis when the call is made; set back at once
      try {
        return c.call(name, ...rest);
      } finally {
        o.enableAutoPipelining = true;
      }
    }
    if (this.#corked === undefined && !alone) this.#cork();
    return c.call(name, ...rest);
  }

  /** The socket corked for the current turn (uncorked by setImmediate), if any. */
  #corked: { uncork(): void } | undefined;
  readonly #uncork = (): void => {
    const st = this.#corked;
    this.#corked = undefined;
    st?.uncork();
  };
  #cork(): void {
    const st = this.client.stream as { cork?(): void; uncork(): void; writable?: boolean } | undefined;
    if (this.client.status !== 'ready' || st === undefined || st.writable !== true || typeof st.cork !== 'function') return;
    st.cork();
    this.#corked = st;
    setImmediate(this.#uncork);
  }

  /**
   * Sends several commands in one round trip and resolves to their replies (the first error,
   * mapped, rejects): into the turn being gathered, else as one socket write at once (corked
   * around them); with an autopipelining client, into its autopipeline when something waits
   * there, else as one explicit pipeline.
   */
  async batch(cmds: ReadonlyArray<readonly [string, ...(string | number)[]]>, what: string): Promise<unknown[]> {
    this.roundTrips++;
    const c = this.client;
    try {
      if (cmds.length === 1) return [await this.#send([...cmds[0]!], true)];
      if (c.options.enableAutoPipelining && c.autoPipelineQueueSize === 0) {
        const p = c.pipeline();
        for (const x of cmds) void p.call(...(x as [string, ...(string | number)[]]));
        const res = await p.exec();
        const out: unknown[] = [];
        for (const [err, v] of res ?? []) {
          if (err) throw err;
          out.push(v);
        }
        return out;
      }
      const st = c.options.enableAutoPipelining || this.#corked !== undefined ? undefined : (c.stream as { cork?(): void; uncork(): void } | undefined);
      st?.cork?.();
      let sent: Array<Promise<unknown>>;
      try {
        sent = cmds.map((x) => c.call(...(x as [string, ...(string | number)[]])));
      } finally {
        st?.uncork();
      }
      return await Promise.all(sent);
    } catch (e) {
      throw this.fail(e, what);
    }
  }

  /**
   * Loads every script into the server's cache (SCRIPT LOAD each, one round trip), as
   * createRedisEngine does once connected: a NOSCRIPT reply is answered by an EVAL sent after
   * it, so the commands sent behind the refused EVALSHA in the same round trip would run before
   * that EVAL (a push, then a pop called in the same tick, reordered). With every script loaded
   * first that happens only after a SCRIPT FLUSH or a restart while the engine runs.
   */
  async loadScripts(all: readonly ScriptDef[]): Promise<void> {
    await this.batch(all.map((s) => ['SCRIPT', 'LOAD', s.lua] as const), 'createRedisEngine');
  }

  /** Runs one command (one round trip); errors mapped. */
  async cmd(what: string, name: string, ...args: (string | number)[]): Promise<unknown> {
    this.roundTrips++;
    try {
      return await this.#send([name, ...args], false);
    } catch (e) {
      throw this.fail(e, what);
    }
  }

  fail(e: unknown, what: string): Error {
    const out = mapError(e, this.info, what);
    if ((out as { code?: unknown }).code === 'ERR_CONNECTION') this.connectionErrors++;
    return out;
  }
}
