// The eliminations domain under thread death (issue 9), point by point: for every crash point
// on the path of each write (add, add with ifEpoch, take, delete, replaceAll, a refused
// replaceAll), whatever module declares it (eliminations, and the sync gate, write gate, table
// and heap steps inside), a worker is driven there and terminated; then recovery phase 1
// (releaseAllOwnedBy) and the checks: list() is the model before or after the op (exactly
// which, for the domain's own points), size matches, the spare table is empty; then phase 2
// (repair), verify() finds nothing, the heap holds exactly the live rows, and every write goes
// on. Also a dead writer's leftover set. The first pass of every point is visited, and the last
// pass of the domain's own repeated points (of every point with SABSTATE_STRESS_SCALE >= 2).
// Worker: test/workers/eliminations-worker.ts ('op', 'probe' roles), bundled (about 70 workers: a
// tsx boot each took this file past its 300 s bound on a machine loaded to 30). No timing assertions: each
// wait is bounded by a timeout that fails the test. Crash storms: eliminations-crash.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Worker } from 'node:worker_threads';
import { createEngine } from '../src/index.ts';
import type { Engine, EliminationRow } from '../src/index.ts';
import { crashPoints } from '../src/internal/crash.ts';
import { killAtCrashPoint } from './helpers/crash.ts';
import { code } from './helpers/errors.ts';
import { stressScale } from './helpers/seed.ts';
import { bundledWorker, runWorkers } from './helpers/workers.ts';
import {
  CRASH_ENGINE, CRASH_NEW_SET, CRASH_OPS, CRASH_SETUP, type CrashOp, crashAfter, crashEngine, crashRow, liveAndSpare,
} from './workers/eliminations-shared.ts';

const WORKER = new URL('./workers/eliminations-worker.ts', import.meta.url);
/** Hard bound on a worker reaching its crash point (start-up under load included). */
const REACH_MS = 60_000;
/** Bound on recovery's freeze and on the writer lock afterwards: a throw fails the test. */
const WAIT_MS = 10_000;
const visited = new Set<string>();
const running = new Set<Worker>();
test.after.each(async () => {
  await Promise.all([...running].map((w) => w.terminate()));
  running.clear();
});

type Rows = ReadonlyMap<string, EliminationRow>;
const modelOf = (rows: readonly EliminationRow[]): Map<string, EliminationRow> => new Map(rows.map((r) => [r.hotkey, r]));
const canon = (rows: Iterable<EliminationRow>): string => JSON.stringify([...rows].sort((a, b) => (a.hotkey < b.hotkey ? -1 : 1)));

const fresh = crashEngine;

function start(e: Engine, data: Record<string, unknown>): Worker {
  const w = bundledWorker(WORKER, { workerData: { handle: e.handle(), ctl: new SharedArrayBuffer(64), workers: 1, ...data } });
  running.add(w);
  w.once('exit', () => running.delete(w));
  w.on('error', () => {}); // reported through killAtCrashPoint / once()
  return w;
}

const tables = liveAndSpare;

/** Heap bytes a fresh engine uses for exactly these rows. */
function bytesFor(rows: Rows): number {
  const ref = createEngine(CRASH_ENGINE);
  ref.eliminations.replaceAll([...rows.values()]);
  return ref.stats().eliminations.heap.inUseBytes;
}

/** The crash points op passes on a fresh engine, in order, with how many times each. */
async function probe(op: CrashOp): Promise<Array<[string, number]>> {
  const e = fresh();
  const [r] = await runWorkers<{ points: Array<[string, number]> }>(
    WORKER, [{ role: 'probe', op, handle: e.handle(), ctl: new SharedArrayBuffer(64), workers: 1 }], REACH_MS, undefined, bundledWorker,
  );
  return r!.points;
}

/** Which state a worker stopped at an eliminations point must leave: before or after its op. */
function outcome(point: string): 'before' | 'after' | 'either' {
  switch (point) {
    case 'eliminations.write.locked':
    case 'eliminations.write.entered':
    case 'eliminations.replaceAll.leftover':
    case 'eliminations.replaceAll.filled':
    case 'eliminations.replaceAll.undone':
    case 'gate.guard.announced':
    case 'gate.guard.admitted':
      return 'before';
    case 'eliminations.add.published':
    case 'eliminations.take.removed':
    case 'eliminations.delete.removed':
    case 'eliminations.replaceAll.flipped':
    case 'eliminations.replaceAll.cleared':
    case 'eliminations.write.left':
    case 'gate.guard.written':
      return 'after';
    default:
      return 'either'; // a step inside the mutex, gate, table or heap: its CAS decides
  }
}

/**
 * Recovery of dead thread `id` as engine.watch runs it, and every check of the domain:
 * returns the rows the op left (the model before or after it).
 */
function recoverAndCheck(e: Engine, id: number, before: Rows, after: Rows, expect: 'before' | 'after' | 'either', what: string): Rows {
  const el = e.eliminations;
  el.releaseAllOwnedBy(id); // phase 1 (the sync gate last: see sync-gate.ts)
  e.general.syncGate.releaseAllOwnedBy(id);
  const got = canon(el.list());
  const isBefore = got === canon(before.values());
  const isAfter = got === canon(after.values());
  assert.ok(isBefore || isAfter, `${what}: list() is the set before or after the op (never a mix): ${got}`);
  if (expect === 'before') assert.ok(isBefore, `${what}: the op never happened`);
  if (expect === 'after') assert.ok(isAfter, `${what}: the op completed`);
  const rows = isAfter ? after : before;
  assert.is(el.size, rows.size, `${what}: size matches the rows`);
  const [live, spare] = tables(e);
  assert.is(live.size, rows.size, `${what}: the live table's count`);
  assert.is(spare.scan((a) => a).length, 0, `${what}: the spare table is empty`);
  assert.is(spare.size, 0, `${what}: the spare table's count`);
  // phase 2: under the freeze, counters and the heap sweep; then nothing is wrong anywhere
  const r = el.repair(WAIT_MS);
  assert.equal(r.violations, [], `${what}: repair found no corruption`);
  assert.equal(el.verify(WAIT_MS, new Set([id])), [], `${what}: verify() after repair`);
  const h = e.stats().eliminations.heap;
  assert.is(h.inUseBytes, bytesFor(rows), `${what}: the heap holds exactly the live rows`);
  assert.is(h.deferredBlocks, 0, `${what}: nothing deferred`);
  // nothing held: the writer lock, the sync gate; every write goes on
  assert.is(code(() => el.consistentEntries(WAIT_MS)), undefined, `${what}: the writer lock is free`);
  assert.equal(e.general.syncGate.guardsInFlight(), [], `${what}: no guard counted`);
  const gate = e.general.syncGate;
  assert.is(code(() => gate.begin({ timeoutMs: WAIT_MS })), undefined, `${what}: begin() returns`);
  gate.end();
  const some = [...rows.keys()][0];
  if (some !== undefined) {
    assert.is(canon([el.take(some)!]), canon([rows.get(some)!]), `${what}: take gives the row`);
    assert.is(el.take(some), undefined, `${what}: once`);
  }
  el.add(crashRow('z9', 5), { ifEpoch: gate.current().epoch });
  el.replaceAll(CRASH_SETUP as EliminationRow[]);
  assert.is(canon(el.list()), canon(CRASH_SETUP), `${what}: a replaceAll afterwards`);
  assert.is(el.size, CRASH_SETUP.length);
  assert.is(e.stats().eliminations.heap.inUseBytes, bytesFor(modelOf(CRASH_SETUP)), `${what}: heap after the replaceAll`);
  return rows;
}

/** Drives op to (point, skip) on a fresh engine, kills it there, recovers, checks. */
async function scenario(op: CrashOp, point: string, skip: number): Promise<void> {
  const e = fresh();
  const before = modelOf(CRASH_SETUP);
  const after = crashAfter(op, before);
  const w = start(e, { role: 'op', op, crashAt: { name: point, skip } });
  const id = w.threadId;
  const what = `${op} killed at ${point}${skip ? ` (pass ${skip + 1})` : ''}`;
  assert.ok(await killAtCrashPoint(w, REACH_MS), `${what}: reached`);
  visited.add(point);
  recoverAndCheck(e, id, before, after, outcome(point), what);
}

// ---- every point on every write's path --------------------------------------------------------

for (const op of CRASH_OPS) {
  test(`crash points of ${op}: each point on its path, killed there, recovered: before or after, never between`, async () => {
    const points = await probe(op);
    assert.ok(points.length > 0, `${op} passes crash points`);
    const runs: Array<[string, number]> = [];
    for (const [p, n] of points) {
      runs.push([p, 0]);
      if (n > 1 && (p.startsWith('eliminations.') || stressScale >= 2)) runs.push([p, n - 1]);
    }
    // Two at a time: worker start-up dominates.
    for (let i = 0; i < runs.length; i += 2) {
      await Promise.all(runs.slice(i, i + 2).map(([p, k]) => scenario(op, p, k)));
    }
    console.log(`  ${op}: ${runs.length} kills at ${points.length} points (${points.map(([p, n]) => (n > 1 ? `${p} x${n}` : p)).join(', ')})`);
  });
}

test('a dead writer\'s half set in the spare table: verify() reports it, the next replaceAll (or repair) clears it; killed while clearing it', async () => {
  const e = fresh();
  const [, spare] = tables(e);
  // What a replaceAll that died mid-fill and was never repaired leaves (recovery's X1 skipped
  // because a freeze held writers back at that moment).
  spare.set('ghost1', undefined, new Uint8Array([1, 2, 3]));
  spare.set('ghost2', undefined, new Uint8Array([4]));
  assert.ok(e.eliminations.verify(WAIT_MS).some((v) => v.includes('spare table')), 'verify() reports the leftover set');
  assert.is(canon(e.eliminations.list()), canon(CRASH_SETUP), 'readers never see it');
  const w = start(e, { role: 'op', op: 'replaceAll', crashAt: { name: 'eliminations.replaceAll.leftover' } });
  const id = w.threadId;
  assert.ok(await killAtCrashPoint(w, REACH_MS), 'reached');
  visited.add('eliminations.replaceAll.leftover');
  recoverAndCheck(e, id, modelOf(CRASH_SETUP), crashAfter('replaceAll', modelOf(CRASH_SETUP)), 'before', 'replaceAll killed clearing leftovers');
  // And a live replaceAll clears them itself.
  const [, spare2] = tables(e);
  spare2.set('ghost3', undefined, new Uint8Array([5]));
  e.eliminations.replaceAll(CRASH_NEW_SET as EliminationRow[]);
  assert.is(canon(e.eliminations.list()), canon(CRASH_NEW_SET));
  assert.equal(e.eliminations.verify(WAIT_MS), []);
});

test('crash points: every point the eliminations domain declares was visited', () => {
  const declared = [...crashPoints()].filter(([, m]) => m === 'eliminations').map(([n]) => n).sort();
  assert.ok(declared.length >= 11, declared.join(', '));
  assert.equal(declared.filter((n) => !visited.has(n)), [], 'points never visited');
  const others = [...visited].filter((n) => !n.startsWith('eliminations.')).sort();
  console.log(`  ${declared.length} eliminations points, and ${others.length} of other modules on the way: ${others.join(', ')}`);
});

test.run();
