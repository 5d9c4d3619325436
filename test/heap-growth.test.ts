/**
 * Heap growth seen by a thread that did not grow the buffer (issue 9, finding 12): a reader that
 * attached (made its fixed-length views) before another thread grew the growable
 * SharedArrayBuffer must read every block written past its views, through every library read
 * path, on the FIRST touch (the path's checkBlock / cover is what extends its views).
 *
 * The worker attaches, reports its views' length and waits; only then does this thread write,
 * and it checks that every block it writes lies past the worker's views (no timing: a sleep
 * instead of the handshake let a slow worker attach after the growth and prove nothing).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine } from '../src/index.ts';
import type { Position } from '../src/index.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { MIN_HEAP_BYTES, SharedHeap, createHeapHandle } from '../src/internal/store/heap.ts';
import { SharedTable } from '../src/internal/store/table.ts';
import { createTableHandle } from '../src/internal/store/table-layout.ts';
import { seed } from './helpers/seed.ts';
import { runWorkers } from './helpers/workers.ts';
import {
  departedKey, growthElimination, growthPosition, kCount, kDeparted, kDepartedViews, kEliminations, kEliminationsViews, kGo, kMapEntries,
  kMapName, kPositions, kReady, kSize, kViews, mapValue, pattern, patternDiff, tableKey,
} from './workers/heap-growth-fixture.ts';

const WORKER = new URL('./workers/heap-growth-worker.ts', import.meta.url);
const key = hashKeyFromSeed(BigInt(seed >>> 0));

/** Polls until pred() holds; rethrows the worker run's failure instead of waiting forever. */
async function until(pred: () => boolean, run: Promise<unknown>): Promise<void> {
  let failed: unknown;
  let done = false;
  run.then(() => { done = true; }, (e: unknown) => { failed = e ?? new Error('worker failed'); });
  while (!pred()) {
    if (failed !== undefined) throw failed;
    if (done) throw new Error('the worker finished before the handshake');
    await new Promise((r) => setTimeout(r, 2));
  }
}

function go(ctl: Int32Array, k: number): void {
  Atomics.store(ctl, kGo, k);
  Atomics.notify(ctl, kGo);
}

const ROUNDS = ['get', 'has', 'scan', 'delete', 'update', 'take', 'get', 'has', 'scan'];

test('table read paths (get, has, scan, delete, update, take) in a thread attached before another thread grew the heap: every record read on the first touch', async () => {
  const h = createHeapHandle(256 << 20, key, MIN_HEAP_BYTES);
  const th = createTableHandle(4096, key);
  const heap = new SharedHeap(h, key, 'growth heap');
  const table = new SharedTable(th, heap, key, 'growth table');
  const ctlBuf = new SharedArrayBuffer(64);
  const ctl = new Int32Array(ctlBuf);
  const run = runWorkers<{ failures: string[]; views: number[] }>(WORKER, [{ mode: 'table', heap: h, table: th, seed, ctl: ctlBuf, rounds: ROUNDS }], 120_000);
  const n = 8;
  const fillers: number[] = [];
  const sizes: number[] = [];
  for (let k = 1; k <= ROUNDS.length; k++) {
    await until(() => Atomics.load(ctl, kReady) === k, run);
    const views = Atomics.load(ctl, kViews);
    // Every block of this round past the worker's views: use up the bump space below them first
    // (kept allocated, so no later round gets it back).
    while (heap.stats().topBytes < views) fillers.push(heap.alloc(Math.min(views - heap.stats().topBytes, 1 << 22)));
    const size = 2000 * 2 ** (k - 1); // a larger class each round
    sizes.push(size);
    for (let i = 0; i < n; i++) {
      const name = tableKey(k, i);
      const hh = table.hash(name);
      heap.gate.run(() => {
        let ref = table.allocRecord(name, undefined, hh, size);
        // Merged free blocks of earlier rounds (the worker's deletes) may serve it below the
        // views: kept allocated as fillers, so the record comes from past the views.
        while (ref < views) {
          fillers.push(ref);
          ref = table.allocRecord(name, undefined, hh, size);
        }
        assert.ok(ref >= views, `round ${k}: record ${i} at ${ref} lies past the worker's views (${views} bytes)`);
        heap.u8.set(pattern(k, i, size), table.valueOffset(ref));
        assert.is(table.publish(name, undefined, hh, ref), 0);
      });
    }
    assert.ok(heap.sab.byteLength > views, `round ${k}: this thread grew the buffer past the worker's views`);
    Atomics.store(ctl, kCount, n);
    Atomics.store(ctl, kSize, size);
    go(ctl, k);
  }
  const [r] = await run;
  assert.equal(r!.failures, [], 'the worker read every record, each byte right');
  for (let k = 1; k < r!.views.length; k++) assert.ok(r!.views[k]! > r!.views[k - 1]!, `round ${k}'s reads extended the worker's views`);
  // And back: this thread reads what the worker wrote (update allocated past this thread's views).
  ROUNDS.forEach((path, j) => {
    const k = j + 1;
    for (let i = 0; i < n; i++) {
      const v = table.get(tableKey(k, i));
      if (path === 'delete' || path === 'take') assert.is(v, undefined, `${tableKey(k, i)} is gone`);
      else {
        assert.ok(v !== undefined, `${tableKey(k, i)} is present`);
        const want = path === 'update' ? [k + 1000, i] : [k, i];
        assert.is(patternDiff(v!, 0, v!.length, want[0]!, want[1]!, sizes[j]!), -1, `${tableKey(k, i)} reads back`);
      }
    }
  });
});

test('every domain read path in a thread attached before the growth: positions, eliminations, departed and a map read back whole', async () => {
  const engine = createEngine({ hashSeed: BigInt(seed >>> 0), general: { maps: [kMapName] } });
  const ctlBuf = new SharedArrayBuffer(64);
  const ctl = new Int32Array(ctlBuf);
  const run = runWorkers<{ failures: string[] }>(WORKER, [{ mode: 'engine', handle: engine.handle(), ctl: ctlBuf }], 120_000);
  await until(() => Atomics.load(ctl, kReady) === 1, run);
  const views = { positions: Atomics.load(ctl, kViews), departed: Atomics.load(ctl, kDepartedViews), eliminations: Atomics.load(ctl, kEliminationsViews) };
  const s0 = engine.stats();
  assert.is(views.positions, s0.positions.bytesReserved, 'the worker attached before anything was written');
  for (let i = 0; i < kPositions; i++) {
    const p: Position = growthPosition(i);
    engine.locks.withLock(p.miner_hotkey, `TP${i}`, () => engine.positions.save(p));
  }
  for (let i = 0; i < kEliminations; i++) engine.eliminations.add(growthElimination(i) as never);
  for (let i = 0; i < kDeparted; i++) engine.departed.mark(departedKey(i), 1_700_000_000_000 + i);
  const map = engine.general.map(kMapName);
  for (let i = 0; i < kMapEntries; i++) map.set(`m${i}`, mapValue(i));
  const s1 = engine.stats();
  assert.ok(s1.positions.bytesReserved >= 3 * views.positions, `positions heap grew 3x past the worker's views (${views.positions} -> ${s1.positions.bytesReserved})`);
  assert.ok(s1.departed.bytesReserved >= 3 * views.departed, `departed heap grew 3x (${views.departed} -> ${s1.departed.bytesReserved})`);
  assert.ok(s1.eliminations.heap.reservedBytes >= 2 * views.eliminations, `eliminations heap grew 2x (${views.eliminations} -> ${s1.eliminations.heap.reservedBytes})`);
  go(ctl, 1);
  const [r] = await run;
  assert.equal(r!.failures, [], 'the worker read every record whole');
});

test.run();
