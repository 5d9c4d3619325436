/**
 * Eliminations and departed hotkeys on Redis: one hash each, so that a whole-set read (list,
 * entries) is one command on one key, and a whole-set replace is one RENAME.
 *
 * - eliminations (`P{sync}:eliminations`, hotkey -> row JSON; in the sync gate's slot so that
 *   `add(row, { ifEpoch })` checks the gate and writes in one script, ELIM_ADD):
 *   take is ELIM_TAKE (HGET + HDEL in one script: of racing callers exactly one gets the row);
 *   replaceAll writes the new set under a fresh key (`...:next:<random>`, PX 10 min so a writer
 *   that dies leaves nothing behind for long), then ELIM_SWAP renames it over the old key in one
 *   step: a reader (HGETALL, HEXISTS) sees the old set or the new, never a mix. Both sent as one
 *   pipeline: one round trip.
 * - departed (`P{departed}`, hotkey -> detected_ms).
 *
 * Crash table (replaceAll, the one multi-step write): killed after writing part of `next`: the
 * old set is untouched, `next` expires; killed after ELIM_SWAP was sent: the new set or the old,
 * whole. ELIM_SWAP refuses a `next` that is not whole (HLEN differs from the rows sent).
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, SabStateError, checkKey, describe } from '../errors.ts';
import { optObject } from '../options.ts';
import type { EliminationRow } from '../domains/eliminations.ts';
import type { DepartedEntry } from '../domains/departed.ts';
import type { AsyncDeparted, AsyncEliminations } from '../async/types.ts';
import { ELIM_ADD, ELIM_SWAP, ELIM_TAKE } from './scripts.ts';
import type { RedisStore } from './store.ts';

const NEXT_TTL_MS = 600_000;

/** The row's JSON after the engine's checks (an object with a valid `hotkey`), else a typed error. */
function rowJson(row: unknown, what: string): [string, string] {
  const hk = typeof row === 'object' && row !== null && !Array.isArray(row) ? (row as { hotkey?: unknown }).hotkey : null;
  if (hk === null) throw new SabStateError(ErrorCode.INVALID_VALUE, `${what} must be an object, got ${describe(row)}`);
  if (hk === undefined) throw new SabStateError(ErrorCode.INVALID_VALUE, `${what}.hotkey is missing`);
  checkKey(hk, `${what}.hotkey`);
  try {
    return [hk, JSON.stringify(row)];
  } catch (e) {
    throw new SabStateError(ErrorCode.INVALID_VALUE, `${what} is not JSON: ${(e as Error).message}`);
  }
}

export class RedisEliminations implements AsyncEliminations {
  readonly #s: RedisStore;
  constructor(store: RedisStore) {
    this.#s = store;
  }

  async add(row: EliminationRow, opts?: { ifEpoch?: number }): Promise<void> {
    const [hk, json] = rowJson(row, 'row');
    const ifEpoch = opts === undefined ? undefined : optObject(opts, 'options').ifEpoch;
    if (ifEpoch !== undefined && (typeof ifEpoch !== 'number' || !Number.isInteger(ifEpoch))) throw new TypeError('options.ifEpoch must be an integer');
    const keys = [this.#s.eliminationsKey(), this.#s.gateKey()];
    await this.#s.run(ELIM_ADD, keys, [ifEpoch === undefined ? '' : String(ifEpoch), hk, json], 'eliminations.add');
  }

  async get(hotkey: string): Promise<EliminationRow | undefined> {
    checkKey(hotkey, 'hotkey');
    const v = (await this.#s.cmd('eliminations.get', 'HGET', this.#s.eliminationsKey(), hotkey)) as string | null;
    return v === null ? undefined : (JSON.parse(v) as EliminationRow);
  }

  async has(hotkey: string): Promise<boolean> {
    checkKey(hotkey, 'hotkey');
    return (await this.#s.cmd('eliminations.has', 'HEXISTS', this.#s.eliminationsKey(), hotkey)) === 1;
  }

  async take(hotkey: string): Promise<EliminationRow | undefined> {
    checkKey(hotkey, 'hotkey');
    const v = (await this.#s.run(ELIM_TAKE, [this.#s.eliminationsKey()], [hotkey], 'eliminations.take')) as string | null;
    return v === null ? undefined : (JSON.parse(v) as EliminationRow);
  }

  async delete(hotkey: string): Promise<boolean> {
    checkKey(hotkey, 'hotkey');
    return (await this.#s.cmd('eliminations.delete', 'HDEL', this.#s.eliminationsKey(), hotkey)) === 1;
  }

  async list(): Promise<EliminationRow[]> {
    const vs = (await this.#s.cmd('eliminations.list', 'HVALS', this.#s.eliminationsKey())) as string[];
    return vs.map((v) => JSON.parse(v) as EliminationRow);
  }

  async size(): Promise<number> {
    return (await this.#s.cmd('eliminations.size', 'HLEN', this.#s.eliminationsKey())) as number;
  }

  async replaceAll(rows: readonly EliminationRow[]): Promise<void> {
    if (!Array.isArray(rows)) throw new SabStateError(ErrorCode.INVALID_VALUE, `rows must be an array, got ${describe(rows)}`);
    const byKey = new Map<string, string>();
    for (let i = 0; i < rows.length; i++) {
      const [hk, json] = rowJson(rows[i], `rows[${i}]`);
      byKey.set(hk, json);
    }
    const key = this.#s.eliminationsKey();
    const next = `${key}:next:${randomBytes(9).toString('base64url')}`;
    const p = this.#s.client.pipeline();
    const flat: string[] = [];
    for (const [hk, v] of byKey) flat.push(hk, v);
    for (let i = 0; i < flat.length; i += 2000) p.hset(next, ...flat.slice(i, i + 2000));
    if (flat.length > 0) p.pexpire(next, NEXT_TTL_MS);
    // EVAL, not EVALSHA: a sync-time call, and no NOSCRIPT fallback to make inside a pipeline.
    void p.call('EVAL', ELIM_SWAP.lua, ELIM_SWAP.keys, key, next, String(byKey.size));
    this.#s.roundTrips++;
    let res: Array<[Error | null, unknown]> | null;
    try {
      res = await p.exec();
    } catch (e) {
      throw this.#s.fail(e, 'eliminations.replaceAll');
    }
    for (const [err] of res ?? []) if (err) throw this.#s.fail(err, 'eliminations.replaceAll');
  }
}

export class RedisDeparted implements AsyncDeparted {
  readonly #s: RedisStore;
  constructor(store: RedisStore) {
    this.#s = store;
  }

  async mark(hotkey: string, detectedMs: number): Promise<void> {
    checkKey(hotkey, 'hotkey');
    if (typeof detectedMs !== 'number' || !Number.isInteger(detectedMs)) {
      throw new SabStateError(ErrorCode.INVALID_VALUE, `detectedMs must be a finite integer, got ${describe(detectedMs)}`);
    }
    await this.#s.cmd('departed.mark', 'HSET', this.#s.departedKey(), hotkey, String(detectedMs));
  }

  async get(hotkey: string): Promise<DepartedEntry | undefined> {
    checkKey(hotkey, 'hotkey');
    const v = (await this.#s.cmd('departed.get', 'HGET', this.#s.departedKey(), hotkey)) as string | null;
    return v === null ? undefined : { detected_ms: Number(v) };
  }

  async has(hotkey: string): Promise<boolean> {
    checkKey(hotkey, 'hotkey');
    return (await this.#s.cmd('departed.has', 'HEXISTS', this.#s.departedKey(), hotkey)) === 1;
  }

  async delete(hotkey: string): Promise<boolean> {
    checkKey(hotkey, 'hotkey');
    return (await this.#s.cmd('departed.delete', 'HDEL', this.#s.departedKey(), hotkey)) === 1;
  }

  async entries(): Promise<Array<[string, DepartedEntry]>> {
    const flat = (await this.#s.cmd('departed.entries', 'HGETALL', this.#s.departedKey())) as string[];
    const out: Array<[string, DepartedEntry]> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, { detected_ms: Number(flat[i + 1]) }]);
    return out;
  }

  async size(): Promise<number> {
    return (await this.#s.cmd('departed.size', 'HLEN', this.#s.departedKey())) as number;
  }
}
