// A worker of the soak run (bench/soak.ts): the validator's lifecycle for the miners it owns,
// on the real shapes of test/fixtures/ptn. Each miner belongs to one worker at a time (its
// replacement after a kill takes it over), so a miner's ledger entry has one writer.
//
// Ledger (Int32Array, kLedgerInts per miner; Float64Array `bytes`, one per miner):
// | Int32   | name      | written by         | how |
// | ------- | --------- | ------------------ | --- |
// | 0       | kPending  | the owner          | Atomics.store 1 before an operation, 0 after its counts |
// | 1       | kPositions| the owner          | plain, while pending; positions the miner has now |
// | 2       | kOrders   | the owner          | plain, while pending; orders over those positions |
// | bytes[m]|           | the owner          | plain, while pending; JSON bytes of those positions |
// A worker killed mid-operation leaves kPending = 1: the next owner (or the final check)
// recounts that miner from the engine (`reconcile`); every other miner must match exactly.
import { parentPort, workerData } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import { type EngineHandle, type Position, SabStateError, attachEngine } from '../../src/index.ts';
import { prng } from '../../support/prng.ts';
import { fullGc, heapProfileStart, heapProfileWrite } from './soak-heap.ts';

export const kLedgerInts = 4;
export const kPending = 0;
export const kPositions = 1;
export const kOrders = 2;
/** Shared counters (Int32Array `counters`): operations by kind, reconciled miners, capacity errors. */
export const Counter = { orders: 0, opened: 1, closed: 2, syncs: 3, departures: 4, reconciled: 5, capacity: 6, ops: 7 } as const;
export const kCounters = 8;

export interface SoakWorkerData {
  handle: EngineHandle;
  /** The real positions' JSON texts (test/fixtures/ptn): the shapes of every position written. */
  templates: string[];
  hotkeys: string[];
  miners: number[];
  ledger: SharedArrayBuffer;
  bytes: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  stop: SharedArrayBuffer;
  seed: number;
  /** Int32 per worker slot: this worker's V8 heap in use, KiB (the parent sums them for the RSS breakdown). */
  mem: SharedArrayBuffer;
  slot: number;
  /** Stop every worker (the `stop` word) once the operations completed reach this (0: the parent stops them). */
  maxOps: number;
}

type Obj = Record<string, unknown>;
const tpOf = (p: Position): string => (typeof p.trade_pair === 'string' ? p.trade_pair : ((p.trade_pair as unknown[])[0] as string));
const size = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));

/** Recounts miner m from the engine into the ledger (after a kill left it pending). */
export function reconcile(engine: ReturnType<typeof attachEngine>, hk: string, ledger: Int32Array, bytes: Float64Array, m: number): void {
  const all = engine.positions.listForHotkey(hk);
  ledger[m * kLedgerInts + kPositions] = all.length;
  ledger[m * kLedgerInts + kOrders] = all.reduce((s, p) => s + p.orders.length, 0);
  bytes[m] = all.reduce((s, p) => s + size(p), 0);
  Atomics.store(ledger, m * kLedgerInts + kPending, 0);
}

if (parentPort !== null && (workerData as { soak?: boolean } | null)?.soak === true) {
  const d = workerData as SoakWorkerData;
  // SOAK_THREAD_OPTIONS (JSON): this thread's cache options (attachEngine's threadOptions), for
  // measuring what the caches hold; SOAK_HEAP_PROFILE=DIR: what holds this worker's V8 heap at its
  // stop (soak-heap.ts).
  const engine = attachEngine(d.handle, process.env.SOAK_THREAD_OPTIONS ? JSON.parse(process.env.SOAK_THREAD_OPTIONS) : undefined);
  const profiling = process.env.SOAK_HEAP_PROFILE ? await heapProfileStart() : undefined;
  const ledger = new Int32Array(d.ledger);
  const bytes = new Float64Array(d.bytes);
  const counters = new Int32Array(d.counters);
  const stop = new Int32Array(d.stop);
  const mem = new Int32Array(d.mem);
  const rnd = prng(d.seed);
  const template = d.templates.map((t) => JSON.parse(t) as Position);
  const orders = template.flatMap((p) => p.orders as Obj[]);
  const pairs = [...new Set(template.map(tpOf))];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

  for (const m of d.miners) {
    if (Atomics.load(ledger, m * kLedgerInts + kPending) !== 0) {
      reconcile(engine, d.hotkeys[m]!, ledger, bytes, m);
      Atomics.add(counters, Counter.reconciled, 1);
    }
  }

  const newOrder = (type?: string): Obj => ({
    ...structuredClone(pick(orders)), ...(type ? { order_type: type, leverage: 0 } : {}), order_uuid: randomUUID(), processed_ms: Date.now(),
  });

  /** One order on (hk, tp): open a position, add an order, or close it at its target length. */
  const orderStep = (m: number, hk: string, tp: string): void => {
    const at = m * kLedgerInts;
    engine.locks.withLock(hk, tp, () => {
      const open = engine.positions.getOpen(hk, tp);
      if (open === undefined) {
        const p = {
          ...structuredClone(pick(template)), miner_hotkey: hk, position_uuid: randomUUID(), trade_pair: tp, orders: [newOrder()],
          is_closed_position: false, close_ms: null, soak_target: 5 + Math.floor(rnd() ** 2 * 96),
        } as Position;
        engine.positions.save(p);
        ledger[at + kPositions]!++;
        ledger[at + kOrders]!++;
        bytes[m] = bytes[m]! + size(p);
        Atomics.add(counters, Counter.opened, 1);
        return;
      }
      const before = size(open);
      const p = { ...open, orders: [...open.orders] } as Position;
      const close = p.orders.length + 1 >= ((open as Obj).soak_target as number);
      p.orders.push(newOrder(close ? 'FLAT' : undefined));
      if (close) {
        p.is_closed_position = true;
        (p as Obj).close_ms = Date.now();
      }
      engine.positions.save(p);
      ledger[at + kOrders]!++;
      bytes[m] = bytes[m]! + size(p) - before;
      Atomics.add(counters, close ? Counter.closed : Counter.orders, 1);
    });
  };

  /** A sync (the miner's positions replaced by the template's, re-keyed) or a departure (all deleted). */
  const replaceAll = (m: number, hk: string, depart: boolean): void => {
    const at = m * kLedgerInts;
    const old = engine.positions.listForHotkey(hk);
    const fresh = depart ? [] : template.map((t) => ({ ...structuredClone(t), miner_hotkey: hk, position_uuid: randomUUID() }) as Position);
    const keys = [...new Set([...old, ...fresh].map(tpOf))].map((tp) => [hk, tp] as const);
    engine.locks.withLocks(keys, () => {
      for (const p of old) engine.positions.delete(hk, p.position_uuid);
      for (const p of fresh) engine.positions.save(p);
    });
    if (depart) engine.departed.mark(hk, Date.now());
    else if (engine.departed.has(hk)) engine.departed.delete(hk);
    ledger[at + kPositions] = fresh.length;
    ledger[at + kOrders] = fresh.reduce((s, p) => s + p.orders.length, 0);
    bytes[m] = fresh.reduce((s, p) => s + size(p), 0);
    Atomics.add(counters, depart ? Counter.departures : Counter.syncs, 1);
  };

  const liveEvery = Number(process.env.SOAK_LIVE_EVERY ?? 0);
  let sinceLive = 0;
  while (Atomics.load(stop, 0) === 0) {
    const m = pick(d.miners);
    const hk = d.hotkeys[m]!;
    const r = rnd();
    Atomics.store(ledger, m * kLedgerInts + kPending, 1);
    try {
      if (r < 0.0015) replaceAll(m, hk, false);
      else if (r < 0.0025) replaceAll(m, hk, true);
      else orderStep(m, hk, pick(pairs));
    } catch (e) {
      if (!(e instanceof SabStateError) || e.code !== 'ERR_CAPACITY') throw e;
      // A refused save changed nothing, but a sync refused half-way has deleted and saved some:
      // recount. Counted; the run fails on any.
      reconcile(engine, hk, ledger, bytes, m);
      Atomics.add(counters, Counter.capacity, 1);
    }
    Atomics.store(ledger, m * kLedgerInts + kPending, 0);
    const done = Atomics.add(counters, Counter.ops, 1) + 1;
    if (d.maxOps > 0 && done >= d.maxOps) Atomics.store(stop, 0, 1);
    if ((done & 255) === 0) {
      // This worker's V8 heap in use now, and its low-water mark since the main thread's last
      // sample (the second half of mem; the main thread resets it): the low follows what survives
      // collections, the current value also holds garbage not yet collected.
      const kib = process.memoryUsage().heapUsed >> 10;
      Atomics.store(mem, d.slot, kib);
      const low = (mem.length >> 1) + d.slot;
      const was = Atomics.load(mem, low);
      if (was === 0 || kib < was) Atomics.store(mem, low, kib);
    }
    if (liveEvery > 0 && ++sinceLive >= liveEvery) {
      // SOAK_LIVE_EVERY=N (a measuring mode): every N operations of this worker a full GC, and the
      // heap in use right after it goes into the low-water slot: what this worker keeps alive,
      // without the garbage a low-water mark between samples still holds (issue 11: the soak's
      // "after GC" column mixed both). Changes the run (forced collections): not for RSS figures.
      sinceLive = 0;
      fullGc();
      const kib = process.memoryUsage().heapUsed >> 10;
      const low = (mem.length >> 1) + d.slot;
      const was = Atomics.load(mem, low);
      if (was === 0 || kib < was) Atomics.store(mem, low, kib);
    }
  }
  if (profiling !== undefined) await heapProfileWrite(profiling, process.env.SOAK_HEAP_PROFILE!, `worker-${d.slot}-${d.seed}`, engine.stats().positions);
  parentPort.postMessage({ done: true });
}
