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
 * | P{queue:<name>}                   | stream | entries {k: kind, v: value}; group `sabstate` |
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
   * onto each Pipeline that autopipelining makes (two per order step: about 14 KB allocated per
   * order with our 16 scripts, measured with the sampling heap profiler).
   */
  async run(s: ScriptDef, keys: readonly string[], args: readonly (string | number)[], what: string, alone = false): Promise<unknown> {
    this.roundTrips++;
    try {
      return await (alone ? this.#direct('EVALSHA', shaOf(s), keys.length, ...keys, ...args) : this.client.call('EVALSHA', shaOf(s), keys.length, ...keys, ...args));
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
   * Sends a command at once, around autopipelining, when nothing is waiting in the autopipeline
   * (so the wire order is the call order): for a call that is usually its caller's only one in
   * flight (a consumer's pop), where autopipelining only adds a Pipeline object and an event-loop
   * turn. Else autopipelined like any call. (`options.enableAutoPipelining` is read by ioredis
   * when the call is made; it is set back before this returns.)
   */
  #direct(...args: (string | number)[]): Promise<unknown> {
    const o = this.client.options;
    if (!o.enableAutoPipelining || this.client.autoPipelineQueueSize > 0) return this.client.call(...(args as [string, ...(string | number)[]]));
    o.enableAutoPipelining = false;
    try {
      return this.client.call(...(args as [string, ...(string | number)[]]));
    } finally {
      o.enableAutoPipelining = true;
    }
  }

  /**
   * Sends several commands in one round trip and resolves to their replies (the first error,
   * mapped, rejects): as one explicit pipeline (one socket write) when nothing waits in the
   * autopipeline, else into it (so the wire order is the call order).
   */
  async batch(cmds: ReadonlyArray<readonly [string, ...(string | number)[]]>, what: string): Promise<unknown[]> {
    this.roundTrips++;
    try {
      if (cmds.length === 1) return [await this.#direct(...cmds[0]!)];
      if (this.client.options.enableAutoPipelining && this.client.autoPipelineQueueSize > 0) {
        return await Promise.all(cmds.map((c) => this.client.call(...(c as [string, ...(string | number)[]]))));
      }
      const p = this.client.pipeline();
      for (const c of cmds) void p.call(...(c as [string, ...(string | number)[]]));
      const res = await p.exec();
      const out: unknown[] = [];
      for (const [err, v] of res ?? []) {
        if (err) throw err;
        out.push(v);
      }
      return out;
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
      return await this.client.call(name, ...args);
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
