// Compaction of positions (src/domains/positions/compact.ts) while other threads write and read.
// Compaction runs inside a positions write whose heap allocation was refused with ERR_CAPACITY:
// it moves other writers' records and index entries (their locks taken with one tryAcquire, a
// counter by its CAS) while those writers save, append and delete, and lock-free readers copy.
// The heap is kept near full: one-order "ballast" positions fill it, every other one is deleted
// (small holes everywhere, no contiguous room), so a growing position's record block is refused
// and compacts. Writers and readers: test/helpers/compact-race-worker.ts (what each does, and the
// ledger of acknowledged writes). Checked at the end: every position against the ledger, exactly
// (own positions: the acknowledged order count; shared ones: each writer's acknowledged orders,
// each once, in order: no lost update, no double), nothing else stored or listed, the ballast
// unchanged, readers saw only whole records, engine.verify() clean, and compaction ran.
// A second run has no ballast: a 160 KiB heap filled by the writers' own positions (grown by the
// main thread first), so compaction's windows hold records their writers are writing.
// Then one run per compaction crash point (positions.compact.copied / .published / .retired): a
// writer terminated there while the others write; after recovery (engine.watch) the same checks,
// exact for the dead writer too (its write in flight was not published: compaction runs before a
// write's record CAS, so recovery undoes it).
// Sizes scale with SABSTATE_STRESS_SCALE; the seed is printed (replay: SABSTATE_SEED).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Worker } from 'node:worker_threads';
import { createEngine } from '../src/index.ts';
import type { Engine, Position } from '../src/index.ts';
import { ErrorCode, SabStateError } from '../src/errors.ts';
import { seed, stressScale } from './helpers/seed.ts';
import { bundledWorker, runWorkers } from './helpers/workers.ts';
import { killAtCrashPoint } from './helpers/crash.ts';
import {
  BALLAST, LEDGER_INTS, MAX_WRITERS, OWN, OWN_PAIRS, type RaceJob, type RaceResult, SHARED, SHARED_PAIRS, ackAt, checkShared, kCompactions,
  kProblems, kRefused, notWhole, ownAt, ownUuid, sharedAt, sharedUuid,
} from './helpers/compact-race-worker.ts';

const WORKER = new URL('./helpers/compact-race-worker.ts', import.meta.url);
const WRITERS = 4;
const READERS = 2;
const OPS = Math.max(50, Math.round(300 * stressScale));
/** The whole run, worker start-up included (a deadlock fails here instead of hanging). */
const HARD_MS = 240_000;
const MAX_BYTES = 1 << 20;
/** The heap of the run without ballast: the writers' own positions, grown first by preseed, fill it. */
const SMALL_BYTES = Number(process.env.SABSTATE_COMPACT_RACE_SMALL ?? 160 << 10);

console.log(`positions-compact-race seed: ${seed} (replay with SABSTATE_SEED=${seed}); ${WRITERS} writers x ${OPS} operations, ${READERS} readers`);

function newEngine(maxBytes = MAX_BYTES): Engine {
  return createEngine({ lockStripes: 1024, positions: { maxRecords: 1 << 14, maxBytes } });
}

/**
 * One-order closed positions until the heap refuses one, then every other one deleted: about
 * half the heap live, in small pieces. Returns the survivors as [hotkey, uuid, JSON as saved].
 */
function ballast(engine: Engine): Array<[string, string, string]> {
  const saved: Array<[string, string, string]> = [];
  for (let k = 0; ; k++) {
    const p: Position = {
      miner_hotkey: BALLAST(k), position_uuid: `ballast-${k}`, trade_pair: 'BTCUSD', n: 1,
      orders: [{ order_uuid: `ballast-${k}-1`, i: 1, w: -1, price: k, note: 'b'.repeat(k % 97) }], is_closed_position: true,
    };
    try {
      engine.locks.withLock(p.miner_hotkey, 'BTCUSD', () => engine.positions.save(p));
    } catch (e) {
      if (e instanceof SabStateError && e.code === ErrorCode.CAPACITY) break;
      throw e;
    }
    saved.push([p.miner_hotkey, p.position_uuid, JSON.stringify(p)]);
  }
  const kept: Array<[string, string, string]> = [];
  saved.forEach(([hk, uuid, json], k) => {
    if (k % 2 === 0) assert.ok(engine.positions.delete(hk, uuid));
    else kept.push([hk, uuid, json]);
  });
  return kept;
}

/**
 * The writers' own positions grown by the main thread (in the ledger, as a writer would) until
 * the heap is `share` full, refuses an order, or each has OWN_START orders: the writers then start on a heap of
 * their own records, so compaction's windows hold positions they are writing.
 */
function preseed(engine: Engine, L: Int32Array, writers: number, share: number): number {
  const OWN_START = 55;
  let n = 0;
  for (; n < OWN_START && engine.stats().positions.bytesUsed < share * engine.stats().positions.bytesCapacity; n++) {
    for (let w = 0; w < writers; w++) {
      for (let k = 0; k < OWN_PAIRS.length; k++) {
        const uuid = ownUuid(w, k, 0);
        const tp = OWN_PAIRS[k]!;
        const o = { order_uuid: `${uuid}-${n + 1}`, i: n + 1, w, price: 100 + n, note: 'x'.repeat((37 * (n + 1) + 11 * w + k) % 200) };
        try {
          engine.locks.withLock(OWN(w), tp, () => {
            engine.positions.appendOrder({ miner_hotkey: OWN(w), position_uuid: uuid, trade_pair: tp, n: n + 1, is_closed_position: false }, o);
          });
        } catch (e) {
          // Full (compaction included): the writers start from here.
          if (e instanceof SabStateError && e.code === ErrorCode.CAPACITY) return n;
          throw e;
        }
        L[ownAt(w, k) + 1] = n + 1;
      }
    }
  }
  return n;
}

/** Every position against the ledger, exactly; the ballast unchanged; nothing else stored; verify() clean. */
function checkFinal(engine: Engine, L: Int32Array, writers: number, kept: Array<[string, string, string]>, after: string): void {
  const ps = engine.positions;
  let expected = kept.length;
  for (let w = 0; w < writers; w++) {
    const want: string[] = [];
    for (let k = 0; k < OWN_PAIRS.length; k++) {
      const gen = L[ownAt(w, k)]!;
      const n = L[ownAt(w, k) + 1]!;
      const uuid = ownUuid(w, k, gen);
      const p = ps.get(OWN(w), uuid);
      if (n === 0) {
        assert.is(p, undefined, `${uuid} was deleted or never acknowledged ${after}`);
        continue;
      }
      want.push(uuid);
      assert.is(notWhole(p), '', `${uuid} ${after}`);
      assert.is(p!.orders.length, n, `${uuid}: acknowledged orders ${after}`);
      assert.ok(p!.orders.every((o) => (o as { w: number }).w === w), `${uuid}: only its writer's orders ${after}`);
      for (let g = 0; g < gen; g++) assert.is(ps.get(OWN(w), ownUuid(w, k, g)), undefined, `${ownUuid(w, k, g)} deleted ${after}`);
    }
    assert.equal(ps.listForHotkey(OWN(w)).map((p) => p.position_uuid).sort(), want.sort(), `the list of ${OWN(w)} ${after}`);
    expected += want.length;
  }
  const sharedWant: string[] = [];
  for (let s = 0; s < SHARED_PAIRS.length; s++) {
    const gen = L[sharedAt(s)]!;
    const uuid = sharedUuid(s, gen);
    const p = ps.get(SHARED, uuid);
    if (L[sharedAt(s) + 1] === 0) {
      assert.is(ps.getOpen(SHARED, SHARED_PAIRS[s]!), undefined, `no shared position of ${SHARED_PAIRS[s]} ${after}`);
      continue;
    }
    sharedWant.push(uuid);
    assert.is(notWhole(p), '', `${uuid} ${after}`);
    assert.is(checkShared(p!, (x) => L[ackAt(x, s)]!, MAX_WRITERS), '', `${uuid}: every acknowledged order once ${after}`);
  }
  assert.equal(ps.listForHotkey(SHARED).map((p) => p.position_uuid).sort(), sharedWant.sort(), `the shared list ${after}`);
  expected += sharedWant.length;
  for (const [hk, uuid, json] of kept) assert.is(JSON.stringify(ps.get(hk, uuid)), json, `ballast ${uuid} ${after}`);
  assert.is(ps.size, expected, `positions stored ${after}`);
  assert.equal(engine.verify({ timeoutMs: 10_000 }).violations, [], `verify ${after}`);
  assert.is(engine.locks.stats().held, 0, `no stripe held ${after}`);
}

function jobs(engine: Engine, ledger: SharedArrayBuffer, kept: Array<[string, string, string]>, ids: number[], readers: number, allWriters: number, ops = OPS, forceCompaction = false): RaceJob[] {
  const base = { handle: engine.handle(), ledger, writers: ids.length, allWriters, ops, forceCompaction };
  return [
    ...ids.map((id): RaceJob => ({ ...base, role: 'writer', id, seed: (seed + 7919 * id) | 0 })),
    ...Array.from({ length: readers }, (_, r): RaceJob => ({ ...base, role: 'reader', id: r, seed: (seed ^ (104_729 * (r + 1))) | 0, ballast: kept })),
  ];
}

function report(results: RaceResult[], L: Int32Array): string {
  const c = results.filter((r) => r.role === 'writer').map((r) => r.compaction);
  const sum = (k: keyof (typeof c)[number]): number => c.reduce((a, x) => a + x[k], 0);
  const reads = results.reduce((a, r) => a + r.reads, 0);
  return `compactions ${sum('runs')} (failed ${sum('failed')}, relocations ${sum('relocations')}, moved ${sum('movedBytes')} bytes, busy ${sum('busy')}); refused ${L[kRefused]}; reads ${reads}`;
}

async function mainRun(engine: Engine, kept: Array<[string, string, string]>, what: string, seedOwn = false, ops = OPS): Promise<RaceResult[]> {
  assert.ok(WRITERS <= MAX_WRITERS);
  const ledger = new SharedArrayBuffer(4 * LEDGER_INTS);
  const L = new Int32Array(ledger);
  if (seedOwn) what += `, own positions grown to ${preseed(engine, L, WRITERS, 0.85)} orders, ${engine.stats().positions.bytesUsed} bytes in use`;
  const results = await runWorkers<RaceResult>(WORKER, jobs(engine, ledger, kept, [0, 1, 2, 3].slice(0, WRITERS), READERS, WRITERS, ops, seedOwn), HARD_MS, () => [], bundledWorker);
  console.log(`  ${what}: ${kept.length} ballast positions; ${report(results, L)}`);
  assert.equal(results.flatMap((r) => r.problems), [], 'what the writers and readers saw');
  assert.is(L[kProblems], 0);
  assert.ok(results.filter((r) => r.role === 'reader').every((r) => r.reads > 0), 'every reader read');
  // Without ballast (seedOwn) writer 0 makes one oversized save halfway (forceCompaction): a
  // compaction runs while the others write whatever the interleaving.
  assert.ok(L[kCompactions]! >= 1, `compaction ran (${L[kCompactions]} runs)`);
  // With ballast every run moved records (14-31 relocations in 8 runs); without, some runs only
  // merged free blocks (0-6 relocations in 5 runs): there the moves are reported, not required.
  if (kept.length > 0) assert.ok(results.some((r) => r.compaction.relocations > 0), 'compaction moved something while the others wrote');
  checkFinal(engine, L, WRITERS, kept, `after the run (seed ${seed})`);
  return results;
}

test('compaction under concurrent writers and lock-free readers: exact order counts, whole records, verify() clean', async () => {
  const engine = newEngine();
  try {
    await mainRun(engine, ballast(engine), '1 MiB, ballast');
  } finally {
    engine.close();
  }
});

// Without ballast the windows hold the writers' own records and entries, which they are writing
// (with ballast the cheapest windows are mostly ballast and index entries). Fewer moves happen here
// (a heap of records that grow fills up without a window that can be emptied).
test('compaction of positions the writers are writing (no ballast, a small heap): exact order counts, whole records, verify() clean', async () => {
  const engine = newEngine(SMALL_BYTES);
  try {
    await mainRun(engine, [], `${SMALL_BYTES >> 10} KiB, no ballast, ${3 * OPS} operations per writer`, true, 3 * OPS);
  } finally {
    engine.close();
  }
});

for (const point of ['positions.compact.copied', 'positions.compact.published', 'positions.compact.retired']) {
  test(`a writer terminated at ${point} while the others write: recovered, verify() clean, no acknowledged write lost`, async () => {
    const engine = newEngine();
    let victim: Worker | undefined;
    try {
      const kept = ballast(engine);
      const ledger = new SharedArrayBuffer(4 * LEDGER_INTS);
      const L = new Int32Array(ledger);
      const others = [0, 1, 2].slice(0, WRITERS - 1);
      const v = WRITERS - 1;
      const vjob: RaceJob = {
        handle: engine.handle(), ledger, role: 'writer', id: v, seed: (seed + 7919 * v) | 0, ops: Number.POSITIVE_INFINITY, writers: 0, allWriters: WRITERS,
        crashAt: { name: point },
      };
      victim = bundledWorker(WORKER, { workerData: vjob });
      engine.watch(victim);
      const running = runWorkers<RaceResult>(WORKER, jobs(engine, ledger, kept, others, 1, WRITERS), HARD_MS, () => [], bundledWorker);
      const hit = await killAtCrashPoint(victim, HARD_MS);
      assert.ok(hit, `the writer reached ${point}`);
      await engine.whenRecovered();
      const results = await running;
      console.log(`  ${point}: killed there; the others: ${report(results, L)}; watch ${JSON.stringify(engine.stats().watch)}`);
      assert.equal(results.flatMap((r) => r.problems), [], 'what the writers and readers saw');
      assert.is(L[kProblems], 0);
      checkFinal(engine, L, WRITERS, kept, `after a kill at ${point} (seed ${seed})`);
    } finally {
      await victim?.terminate();
      engine.close();
    }
  });
}

test.run();
