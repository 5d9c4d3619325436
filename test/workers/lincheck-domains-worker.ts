// Worker for test/lincheck-domains.test.ts: runs a seeded random mix of operations on one shared
// engine and records each with its input, its output and the times of its call and its return,
// both taken from one shared counter (Atomics.add), so the histories of all workers merge on one
// real-time clock (as test/workers/ring-lincheck-worker.ts does for the queue).
// Domains:
// - 'elim': engine.eliminations add / get / has / take / delete / replaceAll / list over a few
//   hotkeys. Every row written carries a `dd` no other write uses, so an output names the write
//   it came from; every row read is checked whole (hotkey, reason, time and price_info agree
//   with its dd), a row that is not is recorded as -1 (no model state holds it) and in `torn`.
//   `mix` (MIXES) sets the operation weights: every operation, replaceAll as the only write, or
//   two writers against two list() loops.
// - 'reg': each position (one uuid per (hotkey, trade pair)) is a register: writers save a new
//   distinct `ver` under withLock(hk, tp), opened or closed at random, now and then delete it;
//   readers call get(hk, uuid) and getOpen(hk, tp) lock-free and record the version seen.
// Variants (deliberately broken, to show the check can fail):
// - 'takeKeeps' (elim): take() returns the row without removing it (a get).
// - 'pieceMeal' (elim): replaceAll applied row by row (delete / add per hotkey, a nap between),
//   so readers can see a mix of the old and the new set.
// - 'cachedReads' (reg): reads served from a copy this thread cached at an earlier read, for up
//   to 3 reads of that key after it (not invalidated by any write, not even its own).
// `stall` is the chance, at each crash point a write passes (eliminations.*, positions.*, table.*,
// gate.*, heap.*), of sleeping 0.2-1 ms there: a writer descheduled between two of its steps.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EliminationRow, EngineHandle, Position } from '../../src/index.ts';
import { setCrashHook } from '../../src/internal/crash.ts';
import { prng } from '../helpers/seed.ts';

export const HOTKEYS = [
  '5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th',
  '5HEo565WAy4Dbq3Sv271SAi7syBSofyfhhwRNjFNSM2gP9M2',
  '5F1sxW5apTPEYfDJUoHTRG4kGaUmkb3YVi5hwt5A9Fu8Gi6a',
  '5CSHrvBiEJAFAAj7YAr5y8jzmpFajRsV9PahphPGi7P8PZrA',
] as const;

/** The registers of the 'reg' runs: one uuid per (hotkey, trade pair); two share a hotkey. */
export const REGISTERS = [
  { hk: HOTKEYS[0], tp: 'BTCUSD', uuid: '0a7c2e4e-reg0-4c8e-9f1b-6d1c2b3a4f50' },
  { hk: HOTKEYS[0], tp: 'ETHUSD', uuid: '1b8d3f5f-reg1-4d9f-8a2c-7e2d3c4b5a61' },
  { hk: HOTKEYS[1], tp: 'BTCUSD', uuid: '2c9e4a6a-reg2-4ea0-9b3d-8f3e4d5c6b72' },
] as const;

export type ElimInput =
  | { op: 'add'; k: number; dd: number }
  | { op: 'get'; k: number }
  | { op: 'has'; k: number }
  | { op: 'take'; k: number }
  | { op: 'delete'; k: number }
  | { op: 'replaceAll'; rows: Array<[number, number]> }
  | { op: 'list' };
/** add / replaceAll: null; get / take: the dd or null (absent); has / delete: boolean; list: [k, dd] sorted by k. */
export type ElimOutput = null | number | boolean | Array<[number, number]>;

export type RegInput = { op: 'save'; r: number; ver: number; open: boolean } | { op: 'delete'; r: number } | { op: 'get'; r: number } | { op: 'getOpen'; r: number };
/** save: null; delete: existed?; get: { ver, open } or null; getOpen: the ver or null. */
export type RegOutput = null | boolean | number | { ver: number; open: boolean };

/**
 * Eliminations mixes (operation weights by client): 'all', every operation from every client;
 * 'replaceAll', replaceAll as the only write (list() against whole-set replacements);
 * 'listRace', clients 0-1 add and delete, clients 2-3 only list().
 */
export const MIXES = {
  all: () => ({ add: 24, get: 18, has: 10, take: 14, delete: 8, replaceAll: 10, list: 16 }),
  replaceAll: () => ({ replaceAll: 25, get: 25, has: 15, list: 35 }),
  listRace: (client: number) => (client < 2 ? { add: 50, delete: 25, take: 25 } : { list: 100 }),
} satisfies Record<string, (client: number) => Partial<Record<ElimInput['op'], number>>>;

export interface DomainsJob {
  domain: 'elim' | 'reg';
  mix?: keyof typeof MIXES;
  variant: 'genuine' | 'takeKeeps' | 'pieceMeal' | 'cachedReads';
  handle: EngineHandle;
  clock: SharedArrayBuffer;
  workers: number;
  client: number;
  ops: number;
  seed: number;
  stall: number;
}

export interface DomainsRecord {
  ops: Array<{ input: ElimInput | RegInput; output: ElimOutput | RegOutput; call: number; ret: number }>;
  /** Rows or positions read that were not one whole written version. */
  torn: string[];
}

/** The worker's run (the test imports this module's constants and types, and runs nothing). */
function run(d: DomainsJob): void {
  const rnd = prng(d.seed);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const sleep = (ms: number): void => void Atomics.wait(nap, 0, 0, ms);
  // Its own PRNG: how many crash points a write passes depends on timing, the operations must not.
  const stallRnd = prng(d.seed ^ 0x57a11);
  const stall = (): void => {
    if (d.stall > 0 && stallRnd() < d.stall) sleep(0.2 + stallRnd() * 0.8);
  };
  const engine = attachEngine(d.handle);
  const rec: DomainsRecord = { ops: [], torn: [] };
  const clock = new Int32Array(d.clock);
  let fresh = 0;
  /** A value no other write of the run uses (never 0). */
  const nextValue = (): number => d.client * 1_000_000 + ++fresh;
  const pick = (n: number): number => Math.floor(rnd() * n);

  // ---- eliminations

  const T0 = 1_717_000_000_000;
  function rowOf(k: number, dd: number): EliminationRow {
    return { hotkey: HOTKEYS[k]!, elimination_initiated_time_ms: T0 + dd, dd, reason: `r${dd}`, price_info: { dd, k } };
  }
  /** The dd of a row read for hotkey k, or -1 (and a note) if it is not one whole row of k. */
  function ddOf(k: number, row: EliminationRow): number {
    const dd = row.dd as number;
    const p = row.price_info as { dd?: unknown; k?: unknown } | undefined;
    if (row.hotkey === HOTKEYS[k] && typeof dd === 'number' && row.reason === `r${dd}` && row.elimination_initiated_time_ms === T0 + dd && p?.dd === dd && p.k === k) return dd;
    rec.torn.push(`hotkey ${k}: ${JSON.stringify(row)}`);
    return -1;
  }
  function pickOp(weights: Partial<Record<ElimInput['op'], number>>): ElimInput['op'] {
    const all = Object.entries(weights) as Array<[ElimInput['op'], number]>;
    let r = rnd() * all.reduce((a, [, w]) => a + w, 0);
    for (const [op, w] of all) if ((r -= w) < 0) return op;
    return all[all.length - 1]![0];
  }
  const kOf = (row: EliminationRow): number => HOTKEYS.indexOf(row.hotkey as (typeof HOTKEYS)[number]);

  function elimStep(): void {
    const el = engine.eliminations;
    const op = pickOp(MIXES[d.mix ?? 'all'](d.client));
    const k = pick(HOTKEYS.length);
    let input: ElimInput;
    if (op === 'add') input = { op, k, dd: nextValue() };
    else if (op === 'replaceAll') {
      const rows: Array<[number, number]> = [];
      for (let j = 0; j < HOTKEYS.length; j++) if (rnd() < 0.6) rows.push([j, nextValue()]);
      input = { op, rows };
    } else if (op === 'list') input = { op };
    else input = { op, k };
    const call = Atomics.add(clock, 0, 1);
    let output: ElimOutput;
    switch (input.op) {
      case 'add':
        el.add(rowOf(input.k, input.dd));
        output = null;
        break;
      case 'get': {
        const row = el.get(HOTKEYS[input.k]!);
        output = row === undefined ? null : ddOf(input.k, row);
        break;
      }
      case 'has':
        output = el.has(HOTKEYS[input.k]!);
        break;
      case 'take': {
        const row = d.variant === 'takeKeeps' ? el.get(HOTKEYS[input.k]!) : el.take(HOTKEYS[input.k]!);
        output = row === undefined ? null : ddOf(input.k, row);
        break;
      }
      case 'delete':
        output = el.delete(HOTKEYS[input.k]!);
        break;
      case 'replaceAll':
        if (d.variant === 'pieceMeal') {
          // Broken on purpose: not one step. Removes the hotkeys not in the new set, then adds
          // the new rows one by one, with a nap between: readers can see a mix.
          const keep = new Set(input.rows.map(([j]) => j));
          for (let j = 0; j < HOTKEYS.length; j++) {
            if (!keep.has(j) && el.delete(HOTKEYS[j]!)) sleep(0.3);
          }
          for (const [j, dd] of input.rows) {
            el.add(rowOf(j, dd));
            sleep(0.3);
          }
        } else {
          el.replaceAll(input.rows.map(([j, dd]) => rowOf(j, dd)));
        }
        output = null;
        break;
      case 'list':
        output = el
          .list()
          .map((row): [number, number] => {
            const j = kOf(row);
            return [j, j < 0 ? -1 : ddOf(j, row)];
          })
          .sort((a, b) => a[0] - b[0]);
        break;
    }
    const ret = Atomics.add(clock, 0, 1);
    rec.ops.push({ input, output, call, ret });
  }

  // ---- positions as registers

  /** Per register: the output of this thread's last real read and how many more reads it serves ('cachedReads'). */
  const cache = REGISTERS.map(() => ({ get: null as RegOutput, getOpen: null as RegOutput, left: { get: 0, getOpen: 0 } }));

  /** The version of a position read for register r, or -1 (and a note) if it is not one whole saved version. */
  function verOf(r: number, p: Position): number {
    const g = REGISTERS[r]!;
    const ver = p.ver as number;
    const last = p.orders[p.orders.length - 1] as { ver?: unknown; order_uuid?: unknown } | undefined;
    if (
      p.miner_hotkey === g.hk && p.position_uuid === g.uuid && p.trade_pair === g.tp && typeof ver === 'number' && p.current_return === ver / 1e7 &&
      last?.ver === ver && last.order_uuid === `o-${ver}` && p.orders.length <= 3
    ) {
      return ver;
    }
    rec.torn.push(`register ${r}: ${JSON.stringify(p)}`);
    return -1;
  }

  function regRead(input: { op: 'get' | 'getOpen'; r: number }): RegOutput {
    const g = REGISTERS[input.r]!;
    if (d.variant === 'cachedReads') {
      const c = cache[input.r]!;
      if (c.left[input.op] > 0) {
        // Broken on purpose: a copy from an earlier read, whatever was written since.
        c.left[input.op]--;
        return c[input.op];
      }
    }
    let out: RegOutput;
    if (input.op === 'get') {
      const p = engine.positions.get(g.hk, g.uuid);
      out = p === undefined ? null : { ver: verOf(input.r, p), open: !p.is_closed_position };
    } else {
      const p = engine.positions.getOpen(g.hk, g.tp);
      out = p === undefined ? null : p.is_closed_position ? -2 : verOf(input.r, p);
    }
    if (d.variant === 'cachedReads') {
      const c = cache[input.r]!;
      c[input.op] = out;
      c.left[input.op] = 1 + pick(3);
    }
    return out;
  }

  function regStep(): void {
    const r = rnd();
    const ri = pick(REGISTERS.length);
    const g = REGISTERS[ri]!;
    let input: RegInput;
    if (r < 0.36) input = { op: 'save', r: ri, ver: nextValue(), open: rnd() < 0.6 };
    else if (r < 0.41) input = { op: 'delete', r: ri };
    else if (r < 0.7) input = { op: 'get', r: ri };
    else input = { op: 'getOpen', r: ri };
    const call = Atomics.add(clock, 0, 1);
    let output: RegOutput;
    if (input.op === 'save') {
      const { ver, open } = input;
      engine.locks.withLock(g.hk, g.tp, () => {
        // The order path's shape: read the current version under the lock, keep up to two of its
        // orders (their stored chunks are reused), append a new one.
        const cur = engine.positions.get(g.hk, g.uuid);
        const orders: unknown[] = cur === undefined ? [] : cur.orders.slice(-2);
        orders.push({ order_uuid: `o-${ver}`, ver, price: 60_000 + (ver % 1000), leverage: 0.1, order_type: open ? 'LONG' : 'FLAT' });
        const pos: Position = {
          miner_hotkey: g.hk, position_uuid: g.uuid, open_ms: 1, trade_pair: g.tp, orders, current_return: ver / 1e7,
          is_closed_position: !open, ver,
        };
        if (orders.length > 3) throw new Error('kept too many orders');
        engine.positions.save(pos);
      });
      output = null;
    } else if (input.op === 'delete') {
      output = engine.positions.delete(g.hk, g.uuid);
    } else {
      output = regRead(input);
    }
    const ret = Atomics.add(clock, 0, 1);
    rec.ops.push({ input, output, call, ret });
  }

  // ---- run

  // The clock's word 1 is the start barrier.
  Atomics.add(clock, 1, 1);
  while (Atomics.load(clock, 1) < d.workers) Atomics.wait(clock, 1, Atomics.load(clock, 1), 1);
  setCrashHook((name) => {
    if (/^(eliminations|positions|table|gate|heap)\./.test(name)) stall();
  });
  const step = d.domain === 'elim' ? elimStep : regStep;
  for (let i = 0; i < d.ops; i++) step();
  setCrashHook(null);
  parentPort!.postMessage(rec);
}

if (!isMainThread && (workerData as Partial<DomainsJob> | null)?.domain !== undefined) run(workerData as DomainsJob);
