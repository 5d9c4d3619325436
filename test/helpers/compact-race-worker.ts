// Worker for test/positions-compact-race.test.ts: a writer or a lock-free reader of the positions
// domain on a heap kept near full, so that writes are refused and compact (positions/compact.ts)
// while the other threads write and read.
//
// Writers (role 'writer', id w) save, append to and delete their own positions (hotkey OWN(w),
// one open position per pair of OWN_PAIRS) and the shared ones (hotkey SHARED, one open position
// per pair of SHARED_PAIRS, written by every writer), each under its (hotkey, pair) lock. Every
// order carries `i` (its place in the position, from 1), the writer `w` and, in a shared
// position, `s` (that writer's own count in it, from 1); every head carries `n` (its order count),
// so a record is whole when n equals its order count and every order's i its place.
// What each write that returned (an acknowledged write) changed is written at once, under the same
// lock, into the LEDGER (an Int32Array on a SharedArrayBuffer, the layout below), so the main
// thread knows every acknowledged write even of a writer terminated mid-operation:
//   own slot (w, k): [gen, n]    the position OWN(w) / OWN_PAIRS[k] is own uuid (w, k, gen) with n orders (0: none)
//   shared (w, s):   acked        writer w's orders in the current shared position of SHARED_PAIRS[s]
//   shared slot s:   [gen, exists] the current shared position is shared uuid (s, gen), if exists
//   kProblems, kRefused, kWritersDone, kCompactions: counters (Atomics.add)
// A writer that deletes a shared position (under its lock) checks the deleted content against
// the ledger first (each writer's orders: exactly its acknowledged ones, s = 1..acked), reports a
// mismatch as a problem, then zeroes the slot's acks and moves to the next generation.
// Readers (role 'reader') loop until every counted writer is done: listForHotkey of every hotkey
// (each position whole, no uuid listed twice), getOpenHead with the last order (n = the count,
// the last order's i = the count), get of ballast positions (equal to what was saved).
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle, Position } from '../../src/index.ts';
import { prng } from '../../support/prng.ts';
import { type CrashAt, stopAtCrashPoint } from './crash.ts';

export const OWN_PAIRS = ['BTCUSD', 'ETHUSD', 'SOLUSD', 'XRPUSD'];
export const SHARED_PAIRS = ['BTCUSD', 'ETHUSD', 'SOLUSD'];
export const SHARED = '5CompactShared';
export const OWN = (w: number): string => `5CompactOwn${w}`;
export const ownUuid = (w: number, k: number, gen: number): string => `own-${w}-${k}-${gen}`;
export const sharedUuid = (s: number, gen: number): string => `shared-${s}-${gen}`;
export const BALLAST = (k: number): string => `5CompactBallast${k % 8}`;
/** Own positions deleted past this many orders, shared ones past SHARED_MAX: the live set stays bounded. */
const OWN_MAX = 60;
const SHARED_MAX = 80;

// Ledger layout (Int32 indexes).
export const kProblems = 0;
export const kRefused = 1;
export const kWritersDone = 2;
export const kCompactions = 3;
const kHeader = 8;
export const MAX_WRITERS = 8;
export const ownAt = (w: number, k: number): number => kHeader + 2 * (w * OWN_PAIRS.length + k);
export const ackAt = (w: number, s: number): number => kHeader + 2 * MAX_WRITERS * OWN_PAIRS.length + w * SHARED_PAIRS.length + s;
export const sharedAt = (s: number): number => kHeader + 2 * MAX_WRITERS * OWN_PAIRS.length + MAX_WRITERS * SHARED_PAIRS.length + 2 * s;
export const LEDGER_INTS = sharedAt(SHARED_PAIRS.length);

export interface RaceJob {
  handle: EngineHandle;
  ledger: SharedArrayBuffer;
  role: 'writer' | 'reader';
  id: number;
  seed: number;
  /** Writer: operations to run (Infinity: until terminated). */
  ops: number;
  /** Reader: stop once this many writers are done. */
  writers: number;
  /** Reader: the writers' ids are 0 .. allWriters-1 (their hotkeys are read). */
  allWriters: number;
  /** Ballast positions the readers check (uuid -> JSON as saved). */
  ballast?: Array<[string, string, string]>;
  crashAt?: CrashAt;
  /**
   * Writer 0, halfway through its operations: one save larger than the whole heap (refused after a
   * compaction ran), so that a compaction runs while the others write whatever the interleaving
   * (without it, the small-heap run could end with none: seed 823109102 under load, 1 run in 5).
   */
  forceCompaction?: boolean;
}

export interface RaceResult {
  role: string;
  id: number;
  ops: number;
  refused: number;
  reads: number;
  problems: string[];
  compaction: { runs: number; failed: number; relocations: number; movedBytes: number; busy: number };
}

type Order = { order_uuid: string; i: number; w: number; s?: number; price: number; note: string };

/** Why p is not one whole version, or ''. */
export function notWhole(p: Position | undefined): string {
  if (p === undefined) return 'missing';
  if (p.n !== p.orders.length) return `head n=${String(p.n)} but ${p.orders.length} orders`;
  for (let k = 0; k < p.orders.length; k++) {
    const o = p.orders[k] as Order;
    if (o.i !== k + 1) return `order ${k} has i=${o.i}`;
  }
  return '';
}

/**
 * A shared position's orders against the ledger: writer w's orders are exactly s = 1..acked(w),
 * in order. The problem, or ''.
 */
export function checkShared(p: Position, acked: (w: number) => number, writers: number): string {
  const seen = new Array<number>(writers).fill(0);
  for (const o of p.orders as Order[]) {
    if (o.w < 0 || o.w >= writers) return `an order of unknown writer ${o.w}`;
    if (o.s !== ++seen[o.w]!) return `writer ${o.w}'s order s=${String(o.s)} at its ${seen[o.w]}th place (lost or doubled)`;
  }
  for (let w = 0; w < writers; w++) {
    if (seen[w] !== acked(w)) return `writer ${w}: ${seen[w]} orders stored, ${acked(w)} acknowledged`;
  }
  return '';
}

const isCapacity = (e: unknown): boolean => (e as { code?: unknown }).code === 'ERR_CAPACITY';

function runWriter(job: RaceJob): RaceResult {
  const e = attachEngine(job.handle);
  stopAtCrashPoint(job.crashAt);
  const L = new Int32Array(job.ledger);
  const rnd = prng(job.seed);
  const w = job.id;
  const hk = OWN(w);
  const problems: string[] = [];
  const problem = (what: string): void => {
    Atomics.add(L, kProblems, 1);
    if (problems.length < 10) problems.push(`writer ${w}: ${what}`);
  };
  let refused = 0;
  const pad = (): string => 'x'.repeat(Math.floor(rnd() * rnd() * 400));
  const order = (uuid: string, i: number, s?: number): Order =>
    ({ order_uuid: `${uuid}-${i}`, i, w, ...(s === undefined ? {} : { s }), price: 100 + i, note: pad() });

  const own = (k: number): void => {
    const tp = OWN_PAIRS[k]!;
    const at = ownAt(w, k);
    e.locks.withLock(hk, tp, () => {
      const gen = L[at]!;
      const n = L[at + 1]!;
      const uuid = ownUuid(w, k, gen);
      if (n === 0) {
        const m = 1 + Math.floor(rnd() * 3);
        const orders = Array.from({ length: m }, (_, j) => order(uuid, j + 1));
        e.positions.save({ miner_hotkey: hk, position_uuid: uuid, trade_pair: tp, n: m, orders, is_closed_position: false });
        Atomics.store(L, at + 1, m);
        return;
      }
      const r = rnd();
      if (r < 0.2 || n > OWN_MAX) {
        if (e.positions.delete(hk, uuid) !== true) problem(`delete of its own ${uuid} found nothing`);
        Atomics.store(L, at + 1, 0);
        Atomics.store(L, at, gen + 1);
        return;
      }
      if (r < 0.65) {
        const h = e.positions.getOpenHead(hk, tp);
        if (h?.position.position_uuid !== uuid || h.orderCount !== n) {
          problem(`getOpenHead(${hk}, ${tp}): ${h?.position.position_uuid} with ${h?.orderCount} orders, ledger ${uuid} with ${n}`);
          return;
        }
        e.positions.appendOrder({ ...h.position, n: n + 1 }, order(uuid, n + 1));
        Atomics.store(L, at + 1, n + 1);
        return;
      }
      // A whole save: one to five orders more (the position's history re-encoded where needed).
      const p = e.positions.getOpen(hk, tp);
      const why = notWhole(p);
      if (why !== '' || p!.position_uuid !== uuid || p!.orders.length !== n) {
        problem(`getOpen(${hk}, ${tp}) under the lock: ${why || `${p!.position_uuid} with ${p!.orders.length} orders, ledger ${uuid} with ${n}`}`);
        return;
      }
      const more = 1 + Math.floor(rnd() * 5);
      const orders = [...p!.orders, ...Array.from({ length: more }, (_, j) => order(uuid, n + j + 1))];
      e.positions.save({ ...p!, n: n + more, orders });
      Atomics.store(L, at + 1, n + more);
    });
  };

  const shared = (s: number): void => {
    const tp = SHARED_PAIRS[s]!;
    const at = sharedAt(s);
    e.locks.withLock(SHARED, tp, () => {
      const gen = L[at]!;
      const uuid = sharedUuid(s, gen);
      const mine = L[ackAt(w, s)]!;
      if (L[at + 1] === 0) {
        e.positions.save({ miner_hotkey: SHARED, position_uuid: uuid, trade_pair: tp, n: 1, orders: [order(uuid, 1, 1)], is_closed_position: false });
        Atomics.store(L, ackAt(w, s), 1);
        Atomics.store(L, at + 1, 1);
        return;
      }
      const h = e.positions.getOpenHead(SHARED, tp);
      if (h?.position.position_uuid !== uuid) {
        problem(`getOpenHead(${SHARED}, ${tp}): ${h?.position.position_uuid}, ledger ${uuid}`);
        return;
      }
      const n = h.orderCount;
      const r = rnd();
      if (n >= SHARED_MAX || r < 0.03) {
        // Deleted: its content, read under the lock, is its final one; checked against every writer's acknowledged orders.
        const p = e.positions.get(SHARED, uuid);
        const why = notWhole(p) || checkShared(p!, (x) => L[ackAt(x, s)]!, MAX_WRITERS);
        if (why !== '') problem(`shared ${uuid} at its deletion: ${why}`);
        if (e.positions.delete(SHARED, uuid) !== true) problem(`delete of ${uuid} found nothing`);
        for (let x = 0; x < MAX_WRITERS; x++) Atomics.store(L, ackAt(x, s), 0);
        Atomics.store(L, at + 1, 0);
        Atomics.store(L, at, gen + 1);
        return;
      }
      if (r < 0.7) {
        e.positions.appendOrder({ ...h.position, n: n + 1 }, order(uuid, n + 1, mine + 1));
      } else {
        // Read-modify-write with save: the classic lost-update shape.
        const p = e.positions.get(SHARED, uuid)!;
        const why = notWhole(p);
        if (why !== '') {
          problem(`get(${SHARED}, ${uuid}) under the lock: ${why}`);
          return;
        }
        e.positions.save({ ...p, n: n + 1, orders: [...p.orders, order(uuid, n + 1, mine + 1)] });
      }
      Atomics.store(L, ackAt(w, s), mine + 1);
    });
  };

  /** A refused write: the biggest own position goes, to make room (deleted under its lock). */
  const relieve = (): void => {
    let best = -1;
    for (let k = 0; k < OWN_PAIRS.length; k++) if (L[ownAt(w, k) + 1]! > 0 && (best < 0 || L[ownAt(w, k) + 1]! > L[ownAt(w, best) + 1]!)) best = k;
    if (best < 0) return;
    const at = ownAt(w, best);
    e.locks.withLock(hk, OWN_PAIRS[best]!, () => {
      if (e.positions.delete(hk, ownUuid(w, best, L[at]!)) !== true) problem(`delete of its own position ${best} found nothing`);
      Atomics.store(L, at + 1, 0);
      Atomics.store(L, at, L[at]! + 1);
    });
  };

  // job.forceCompaction: orders of 1,000-byte notes past the heap's size, appended to own position
  // 0 (created if absent). Refused (ERR_CAPACITY: more than the heap holds) after its first refused
  // allocation ran a compaction; refused means unchanged, which the final exact counts check.
  const oversized = (): void => {
    const tp = OWN_PAIRS[0]!;
    const at = ownAt(w, 0);
    e.locks.withLock(hk, tp, () => {
      const n = L[at + 1]!;
      const uuid = ownUuid(w, 0, L[at]!);
      const p = n === 0 ? undefined : e.positions.getOpen(hk, tp);
      const old = p?.orders ?? [];
      const more = Math.ceil(e.stats().positions.heap.maxBytes / 1000) + 16;
      const orders = [...old, ...Array.from({ length: more }, (_, j): Order => ({ order_uuid: `${uuid}-${n + j + 1}`, i: n + j + 1, w, price: 1, note: 'x'.repeat(1000) }))];
      e.positions.save({ ...p, miner_hotkey: hk, position_uuid: uuid, trade_pair: tp, n: n + more, orders, is_closed_position: false });
      Atomics.store(L, at + 1, n + more);
    });
  };
  let ops = 0;
  for (; ops < job.ops; ops++) {
    try {
      if (job.forceCompaction === true && w === 0 && ops === job.ops >> 1) oversized();
      else if (rnd() < 0.55) own(Math.floor(rnd() * OWN_PAIRS.length));
      else shared(Math.floor(rnd() * SHARED_PAIRS.length));
    } catch (err) {
      if (!isCapacity(err)) throw err;
      refused++;
      Atomics.add(L, kRefused, 1);
      relieve();
    }
  }
  const compaction = e.positions.stats().compaction;
  Atomics.add(L, kCompactions, compaction.runs);
  return { role: 'writer', id: w, ops, refused, reads: 0, problems, compaction };
}

function runReader(job: RaceJob): RaceResult {
  const e = attachEngine(job.handle);
  const L = new Int32Array(job.ledger);
  const problems: string[] = [];
  const problem = (what: string): void => {
    Atomics.add(L, kProblems, 1);
    if (problems.length < 10) problems.push(`reader ${job.id}: ${what}`);
  };
  const rnd = prng(job.seed);
  const ballast = job.ballast ?? [];
  const hotkeys = [SHARED, ...Array.from({ length: job.allWriters }, (_, w) => OWN(w))];
  let reads = 0;
  while (Atomics.load(L, kWritersDone) < job.writers) {
    for (const hk of hotkeys) {
      const list = e.positions.listForHotkey(hk);
      reads++;
      const uuids = new Set<string>();
      for (const p of list) {
        if (uuids.has(p.position_uuid)) problem(`listForHotkey(${hk}) lists ${p.position_uuid} twice`);
        uuids.add(p.position_uuid);
        const why = notWhole(p);
        if (why !== '') problem(`listForHotkey(${hk}): ${p.position_uuid} torn: ${why}`);
      }
      for (const tp of hk === SHARED ? SHARED_PAIRS : OWN_PAIRS) {
        const h = e.positions.getOpenHead(hk, tp, { lastOrder: true });
        reads++;
        if (h === undefined) continue;
        const last = h.lastOrder as Order | undefined;
        if (h.position.n !== h.orderCount || last?.i !== h.orderCount) {
          problem(`getOpenHead(${hk}, ${tp}): n=${String(h.position.n)}, ${h.orderCount} orders, last order i=${String(last?.i)}`);
        }
      }
    }
    for (let j = 0; j < 8 && ballast.length > 0; j++) {
      const [bhk, uuid, json] = ballast[Math.floor(rnd() * ballast.length)]!;
      const p = e.positions.get(bhk, uuid);
      reads++;
      // Ballast positions are deleted only before the writers start: those listed here stay, moved or not.
      if (JSON.stringify(p) !== json) problem(`ballast ${uuid}: ${JSON.stringify(p)?.slice(0, 120)}`);
    }
  }
  return { role: 'reader', id: job.id, ops: 0, refused: 0, reads, problems, compaction: e.positions.stats().compaction };
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'ledger' in (workerData as object)) {
  const job = workerData as RaceJob;
  const L = new Int32Array(job.ledger);
  if (job.role === 'writer') {
    let out: RaceResult;
    try {
      out = runWriter(job);
    } finally {
      Atomics.add(L, kWritersDone, 1);
    }
    parentPort.postMessage(out);
  } else {
    parentPort.postMessage(runReader(job));
  }
}
