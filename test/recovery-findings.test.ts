/**
 * Issue 9's findings 4 and 5, each as a test that fails on the code before the fix:
 * - 4: a reader terminated between the steps of pin() or unpin() left the heap's pin count too
 *   high with nothing to recover it (every later retire deferred: a heap with one live position
 *   filled up). Now a pin is one idempotent bit per thread: recovery clears it.
 * - 8: a writer killed between a record's publication and the open index's left an open
 *   position that listForHotkey showed and getOpen did not; the order path then opened a second
 *   one. (Before the fix, with only a crash point added at that step: getOpen undefined, the list
 *   ['u1'].) Now the save publishes the open index first, and recovery repairs either order.
 * - 5: a save whose open-index insert was refused had already published its record (getOpen
 *   found the position on neither trade pair, the old blocks were never retired). Now every step
 *   that can be refused comes before the record's publication and a refusal undoes the rest.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { createEngine } from '../src/index.ts';
import type { Position } from '../src/index.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { MIN_HEAP_BYTES, SharedHeap, createHeapHandle } from '../src/internal/store/heap.ts';
import { SharedTable } from '../src/internal/store/table.ts';
import { SabStateError } from '../src/errors.ts';
import { prng, seed, stressScale } from './helpers/seed.ts';
import { SMALL_ENGINE } from './helpers/temp.ts';
import { bundledWorker, tsWorker } from './helpers/workers.ts';
import { killAtCrashPoint } from './helpers/crash.ts';
import { TP, hotkeyOf } from './workers/crash-engine-worker.ts';

const PIN_WORKER = new URL('./workers/pin-loop-worker.ts', import.meta.url);

test('finding 4: readers killed at random moments inside pin / unpin leave no pin once recovered; frees go on', async () => {
  console.log(`  seed ${seed}`);
  const rnd = prng(seed);
  const h = createHeapHandle(MIN_HEAP_BYTES * 4, hashKeyFromSeed(seed));
  const heap = new SharedHeap(h, hashKeyFromSeed(seed), 'test heap');
  const kills = Math.round(24 * stressScale);
  for (let k = 0; k < kills; k++) {
    const w = tsWorker(PIN_WORKER, { workerData: { heap: h, seed } });
    const [{ threadId }] = (await once(w, 'message')) as [{ threadId: number }];
    await new Promise((r) => setTimeout(r, rnd() * 5));
    await w.terminate();
    heap.gate.releaseAllOwnedBy(threadId);
    assert.is(heap.gate.pinned(), 0, `kill ${k}: a pin is left for a dead reader`);
  }
  // A heap that is not pinned frees at once: far more allocations than fit stay possible.
  for (let i = 0; i < 20_000; i++) heap.gate.run(() => heap.retire(heap.alloc(1000)));
  assert.is(heap.stats().inUseBlocks, 0);
  assert.is(heap.stats().deferredBlocks, 0);
});

function position(hk: string, uuid: string, tp: string, open: boolean, orders = 1): Position {
  const os = Array.from({ length: orders }, (_, k) => ({ order_uuid: `${uuid}-${k}`, price: 100 + k, leverage: 0.5 }));
  return { miner_hotkey: hk, position_uuid: uuid, trade_pair: tp, orders: os, is_closed_position: !open };
}

test('finding 5: a save whose open-index insert is refused publishes nothing (state and heap unchanged)', () => {
  const e = createEngine(SMALL_ENGINE);
  const hk = '5Refused';
  // A closed position to reopen, and an open one on another pair: the hotkey list exists, so the
  // only inserts of the refused save are the open index's (and the record's, for a new uuid).
  e.locks.withLock(hk, 'ETHUSD', () => e.positions.save(position(hk, 'u-eth', 'ETHUSD', true)));
  e.locks.withLock(hk, 'BTCUSD', () => e.positions.save(position(hk, 'u-closed', 'BTCUSD', false, 2)));
  const before = JSON.stringify({ s: e.stats().positions.records, o: e.stats().positions.open, b: e.stats().positions.bytesUsed, l: e.positions.listForHotkey(hk) });
  const publish = SharedTable.prototype.publish;
  let refused = 0;
  SharedTable.prototype.publish = function (this: SharedTable, ...args: Parameters<typeof publish>) {
    // The open index is the table keyed (hotkey, trade pair): refuse its new entries.
    if (args[1] === 'BTCUSD' && args[4] === undefined) {
      refused++;
      throw new SabStateError('ERR_CAPACITY', 'open index full (test)');
    }
    return publish.apply(this, args);
  };
  try {
    for (const p of [position(hk, 'u-closed', 'BTCUSD', true, 3), position(hk, 'u-new', 'BTCUSD', true)]) {
      let err: unknown;
      try {
        e.locks.withLock(hk, 'BTCUSD', () => e.positions.save(p));
      } catch (x) {
        err = x;
      }
      assert.instance(err, SabStateError, `the save of ${p.position_uuid} is refused`);
      assert.is(e.positions.getOpen(hk, 'BTCUSD'), undefined, `no open position after the refused save of ${p.position_uuid}`);
      assert.is(e.positions.listForHotkey(hk, { open: true }).length, 1, 'only the ETHUSD position is open');
      const after = JSON.stringify({ s: e.stats().positions.records, o: e.stats().positions.open, b: e.stats().positions.bytesUsed, l: e.positions.listForHotkey(hk) });
      assert.is(after, before, `records, open count, heap bytes and stored positions unchanged after the refused save of ${p.position_uuid}`);
    }
  } finally {
    SharedTable.prototype.publish = publish;
  }
  assert.ok(refused >= 2);
  assert.equal(e.verify().violations, []);
  // The same saves go through once the index takes entries again.
  e.locks.withLock(hk, 'BTCUSD', () => e.positions.save(position(hk, 'u-closed', 'BTCUSD', true, 3)));
  assert.is(e.positions.getOpen(hk, 'BTCUSD')?.position_uuid, 'u-closed');
});

const CRASH_WORKER = new URL('./workers/crash-engine-worker.ts', import.meta.url);

for (const point of ['positions.save.indexed', 'positions.save.published']) {
  test(`finding 8: a writer opening a position killed at ${point}: getOpen agrees with the list; no second open position`, async () => {
    const e = createEngine({ ...SMALL_ENGINE, general: { queues: { notices: { capacity: 8, maxMessageBytes: 256 } }, maps: ['accountSizes'] } });
    const w = bundledWorker(CRASH_WORKER, { workerData: { handle: e.handle(), crashAt: { name: point }, rounds: 4, run: 0 } });
    e.watch(w);
    assert.ok(await killAtCrashPoint(w, 60_000), `the worker reached ${point}`);
    await e.whenRecovered();
    const hk = hotkeyOf(0);
    const listed = e.positions.listForHotkey(hk, { open: true }).map((p) => p.position_uuid);
    assert.equal([e.positions.getOpen(hk, TP)?.position_uuid].filter((u) => u !== undefined), listed, 'getOpen agrees with the open list');
    // The order path: no open position found means open one; one found means append to it.
    e.locks.withLock(hk, TP, () => {
      const open = e.positions.getOpen(hk, TP);
      e.positions.save(open ?? position(hk, 'u-second', TP, true));
    });
    assert.is(e.positions.listForHotkey(hk, { open: true }).length, 1, 'one open position');
    assert.equal(e.verify().violations, []);
  });
}

test.run();
