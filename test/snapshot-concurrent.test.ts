// Two threads snapshotting one directory at once (issue 10): with the engine's snapshot mutex
// every snapshot() succeeds, generations are unique and increasing, the directory always holds
// one complete generation (restorable at the end, no temp files, no older files). A worker
// terminated in the middle of its snapshots does not leave the mutex held: once engine.watch has
// recovered it, the next snapshot proceeds (hard timeouts: a deadlock fails).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { attachEngine, createEngine } from '../src/index.ts';
import type { Position } from '../src/index.ts';
import { SMALL_ENGINE, tempDirs } from './helpers/temp.ts';
import { bundledWorker, runWorkers, within } from './helpers/workers.ts';

const WORKER = new URL('./workers/snapshot-thread-worker.ts', import.meta.url);
const tempDir = tempDirs('sabstate-snapconc-', test);
const H = '5GhCxfBcA7Ur5iiAS343xwvrYHTUfBjBi4JimiL5LhujRT9t';
const N = Number(process.env.SABSTATE_SNAPSHOTS ?? 15) || 15;

function engine() {
  const e = createEngine({ ...SMALL_ENGINE, general: { queues: { q: { capacity: 64 } }, counters: ['c'], maps: ['m'] } });
  for (let i = 0; i < 30; i++) {
    e.locks.withLock(H, `TP${i}`, () => e.positions.save({ miner_hotkey: H, position_uuid: `u${i}`, trade_pair: `TP${i}`, is_closed_position: i % 2 === 0, orders: [{ i }] } as unknown as Position));
    e.departed.mark(`d${i}`, i);
  }
  return e;
}

test('two threads snapshot one directory N times each: all succeed, unique generations, one complete generation left', async () => {
  const e = engine();
  const dir = tempDir();
  const data = { handle: e.handle(), dir, n: N };
  const results = await runWorkers<{ gens: number[]; errors: string[] }>(WORKER, [data, data], 120_000);
  const errors = results.flatMap((r) => r.errors);
  assert.equal(errors, [], errors.slice(0, 3).join('\n'));
  const gens = results.flatMap((r) => r.gens).sort((a, b) => a - b);
  assert.is(gens.length, 2 * N);
  assert.equal(gens, Array.from({ length: 2 * N }, (_, i) => i + 1), 'every generation once');
  for (const r of results) assert.equal(r.gens, [...r.gens].sort((a, b) => a - b), 'increasing per thread');
  const g = 2 * N;
  assert.equal(readdirSync(dir).sort(), ['departed', 'eliminations', 'general', 'positions'].map((p) => `${p}.${g}.bin`).concat('manifest.json').sort());
  const b = createEngine({ restoreFrom: dir });
  assert.is(b.positions.size, 30);
  assert.is(b.departed.size, 30);
});

test('a worker terminated mid-snapshot: recovery frees the snapshot mutex; the next snapshot completes', async () => {
  const e = engine();
  const dir = tempDir();
  for (let round = 0; round < 3; round++) {
    const w = bundledWorker(WORKER, { workerData: { handle: e.handle(), dir, n: 0 } });
    e.watch(w);
    await within(once(w, 'message'), 60_000, 'worker started');
    await new Promise((r) => setTimeout(r, 5 + round * 7));
    await w.terminate();
    await within(e.whenRecovered(), 30_000, 'recovery');
    // timeoutMs: a mutex left held would fail here (ERR_LOCK_TIMEOUT) instead of hanging
    const g = e.snapshot(dir, { timeoutMs: 30_000 }).generation;
    assert.ok(g >= 2);
    assert.equal(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
    assert.is(createEngine({ restoreFrom: dir }).positions.size, 30);
  }
  assert.ok(e.verify().ok, JSON.stringify(e.verify().violations.slice(0, 3)));
});

test('close() does not stop recovery: a watched worker terminated after the watcher closed its view is still recovered', async () => {
  const e = engine();
  const other = attachEngine(e.handle());
  const dir = tempDir();
  const w = bundledWorker(WORKER, { workerData: { handle: e.handle(), dir, n: 0 } });
  e.watch(w);
  await within(once(w, 'message'), 60_000, 'worker started');
  e.close();
  await new Promise((r) => setTimeout(r, 10));
  await w.terminate();
  // Recovery's phase 1 ran in the closed view's 'exit' handler (before terminate() resolved),
  // without throwing ERR_CLOSED there (that would be an uncaught exception); the mutex is free.
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(other.snapshot(dir, { timeoutMs: 30_000 }).generation >= 2, 'the snapshot mutex is free');
  assert.is(createEngine({ restoreFrom: dir }).positions.size, 30);
});

test.run();
