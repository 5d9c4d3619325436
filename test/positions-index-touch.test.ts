// The hotkey index's touch (src/domains/positions/hotkey-index.ts #touch, step (3) of add) when a
// concurrent trim lowered the counter: the touch cannot be table.touch (the counter no longer
// covers the new entry), it publishes a new counter block, an ALLOCATION, which a full heap
// refuses with ERR_CAPACITY. Since issue 12's one-CAS touch no single-thread test reaches that
// allocation (test/positions.test.ts 'refused means unchanged' asserts as much). Reached here
// deterministically with two workers paused at crash points (as test/positions-index-race.test.ts):
//   X (save of a new position A, pair 1) takes number i from the counter (positions.index.counted), pauses;
//   Y (delete of B, pair 2, the entry i-1) removes B's entry, looks at the entries past it (i: no
//     entry yet), pauses (positions.index.trimmed); resumed, it lowers the counter to i-1;
//   X writes entry i, pauses (positions.index.written): the counter (i-1) does not cover it;
//   [refused case: the main thread fills the heap to the last byte]
//   X touches: a new counter block with i+1 (refused: ERR_CAPACITY; with room: published).
// Refused means unchanged: the save throws, and positions, index entries and counters are what
// they were once Y's delete was done (as if X's save never started); verify() clean; and once
// the last position is deleted the heap is back to zero bytes (nothing of X's left behind).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine } from '../src/index.ts';
import type { Engine, Position } from '../src/index.ts';
import { SharedHeap } from '../src/internal/store/heap.ts';
import { SharedTable } from '../src/internal/store/table.ts';
import { HotkeyIndex } from '../src/domains/positions/hotkey-index.ts';
import { ErrorCode, SabStateError } from '../src/errors.ts';
import { type Stepper, stepWorker } from './helpers/step-workers.ts';

/** Per answer of a worker: its start-up included (under load a worker's boot took seconds). */
const HARD_MS = 60_000;
const HK = '5TouchMiner';
const X_TP = 'BTCUSD';

const pos = (uuid: string, tp: string, open: boolean): Position =>
  ({ miner_hotkey: HK, position_uuid: uuid, trade_pair: tp, orders: [{ order_uuid: `${uuid}-o`, price: 1 }], is_closed_position: !open });

interface Views {
  heap: SharedHeap;
  index: HotkeyIndex;
}
function views(engine: Engine): Views {
  const h = engine.handle();
  const key = { k0: h.seed[0], k1: h.seed[1] };
  const heap = new SharedHeap(h.positions.heap, key, 'test view of the positions heap');
  return { heap, index: new HotkeyIndex(new SharedTable(h.positions.byHotkey, heap, key, 'test view of the hotkey index'), heap) };
}

/** Positions, index entries and counters of HK, as one comparable value. */
function state(engine: Engine, v: Views): unknown {
  const p = engine.positions;
  return {
    size: p.size,
    list: p.listForHotkey(HK),
    a: p.get(HK, 'A') ?? null,
    openX: p.getOpen(HK, X_TP) ?? null,
    entries: v.index.entries().filter((e) => e.hotkey === HK).sort((x, y) => x.seq - y.seq),
  };
}

/**
 * A trade pair for Y whose lock stripe is not X's: Y's delete takes its pair's lock while X
 * holds X_TP's, and on one stripe Y would wait for X, paused, for good (the hard timeout).
 */
function otherPair(engine: Engine): string {
  for (const tp of ['ETHUSD', 'SOLUSD', 'XRPUSD', 'ADAUSD', 'DOGEUSD', 'EURUSD', 'GBPUSD', 'AUDUSD']) {
    if (!engine.locks.withLock(HK, X_TP, () => engine.locks.isHeld(HK, tp))) return tp;
  }
  throw new Error('every candidate pair shares a stripe with X_TP');
}

/** Allocates every byte the heap has left (largest blocks first, down to one byte). */
function fill(heap: SharedHeap): number[] {
  const got: number[] = [];
  for (const size of [1 << 16, 1 << 12, 1 << 9, 64, 1]) {
    for (;;) {
      try {
        got.push(heap.alloc(size));
      } catch (e) {
        if (e instanceof SabStateError && e.code === ErrorCode.CAPACITY) break;
        throw e;
      }
    }
  }
  return got;
}

/**
 * The interleaving of the header up to X paused at positions.index.written; then `between` (the
 * main thread's act), then X goes on. Returns X's final message and the state after Y's delete.
 */
async function interleave(engine: Engine, v: Views, workers: Stepper[], between: () => void): Promise<{ x: Record<string, unknown>; afterY: unknown }> {
  const yTp = otherPair(engine);
  // C (entry 0) stays; B (entry 1) is Y's to delete: the counter is 2.
  const cTp = ['SOLUSD', 'XRPUSD'].find((tp) => tp !== yTp)!;
  engine.locks.withLock(HK, cTp, () => engine.positions.save(pos('C', cTp, false)));
  engine.locks.withLock(HK, yTp, () => engine.positions.save(pos('B', yTp, false)));
  assert.is(v.index.count(HK), 2);
  const x = stepWorker({ handle: engine.handle(), op: 'save', position: pos('A', X_TP, true), pauses: ['positions.index.counted', 'positions.index.written'] }, HARD_MS);
  workers.push(x);
  await x.paused(0);
  assert.is(v.index.count(HK), 3, 'X took number 2');
  const y = stepWorker({ handle: engine.handle(), op: 'delete', hotkey: HK, uuid: 'B', pauses: ['positions.index.trimmed'] }, HARD_MS);
  workers.push(y);
  // Y removed B's entry and looked at entries 2 (X has not written it) and 1: it will lower to 1.
  await y.paused(0);
  y.go();
  const yDone = await y.finished();
  assert.equal([yDone.done, yDone.result], [true, true], `Y's delete: ${JSON.stringify(yDone)}`);
  assert.is(v.index.count(HK), 1, 'Y lowered the counter past X\'s number');
  const afterY = state(engine, v);
  x.go();
  await x.paused(1);
  // Entry 2 names A; the counter (1) does not cover it: X's touch must publish a new block.
  assert.is(v.index.count(HK), 1);
  assert.ok(v.index.entries().some((e) => e.hotkey === HK && e.seq === 2 && e.uuid === 'A'), 'X wrote entry 2');
  between();
  x.go();
  return { x: await x.finished(), afterY };
}

test('touch after a trim, heap full: the new counter block is refused with ERR_CAPACITY, and the save leaves nothing behind', async () => {
  const engine = createEngine({ lockStripes: 256, positions: { maxRecords: 256, maxBytes: 1 << 20 } });
  const v = views(engine);
  const workers: Stepper[] = [];
  let filler: number[] = [];
  try {
    const { x, afterY } = await interleave(engine, v, workers, () => {
      filler = fill(v.heap);
      assert.ok(filler.length > 0);
    });
    assert.equal([x.done, x.code], [false, ErrorCode.CAPACITY], `X's save is refused: ${JSON.stringify(x)}`);
    assert.is(x.paused, 2, 'X passed both pauses: the refusal came after its entry was written');
    for (const r of filler) v.heap.free(r);
    assert.equal(state(engine, v), afterY, 'positions, index entries and counters as after Y\'s delete alone');
    assert.equal(engine.verify().violations, []);
    console.log(`  refused touch: X's compaction ${JSON.stringify(x.compaction)}`);
    // Nothing of X's left: with the last position deleted, no counter, no entry, no byte in use.
    for (const p of engine.positions.listForHotkey(HK)) assert.ok(engine.positions.delete(HK, p.position_uuid));
    assert.equal(v.index.entries().filter((e) => e.hotkey === HK), []);
    assert.is(engine.stats().positions.bytesUsed, 0, 'positions heap back to zero bytes in use');
    assert.equal(engine.verify().violations, []);
  } finally {
    await Promise.all(workers.map((s) => s.w.terminate()));
    engine.close();
  }
});

test('touch after a trim, with room: the new counter block raises the counter past the entry; A listed exactly once', async () => {
  const engine = createEngine({ lockStripes: 256, positions: { maxRecords: 256, maxBytes: 1 << 20 } });
  const v = views(engine);
  const workers: Stepper[] = [];
  try {
    const { x } = await interleave(engine, v, workers, () => {});
    assert.equal([x.done, x.result], [true, true], `X's save: ${JSON.stringify(x)}`);
    assert.is(v.index.count(HK), 3, 'the counter raised from 1 to 3 (a new block: table.touch keeps the value)');
    const listed = engine.positions.listForHotkey(HK).map((p) => p.position_uuid);
    assert.equal(listed.filter((u) => u === 'A'), ['A'], `A listed exactly once: ${listed.join(', ')}`);
    assert.is(listed.length, 2, `C and A: ${listed.join(', ')}`);
    assert.equal(engine.positions.getOpen(HK, X_TP)?.position_uuid, 'A');
    assert.equal(v.index.entries().filter((e) => e.hotkey === HK && e.seq >= 0).map((e) => [e.seq, e.uuid]).sort(), [[0, 'C'], [2, 'A']]);
    assert.equal(engine.verify().violations, []);
    // Its later life: deleted, saved again, listed once; then everything goes and the heap is empty.
    assert.ok(engine.positions.delete(HK, 'A'));
    engine.locks.withLock(HK, X_TP, () => engine.positions.save(pos('A', X_TP, true)));
    assert.equal(engine.positions.listForHotkey(HK).map((p) => p.position_uuid).filter((u) => u === 'A'), ['A']);
    assert.equal(engine.verify().violations, []);
    for (const p of engine.positions.listForHotkey(HK)) assert.ok(engine.positions.delete(HK, p.position_uuid));
    assert.is(engine.stats().positions.bytesUsed, 0, 'positions heap back to zero bytes in use');
    assert.equal(engine.verify().violations, []);
  } finally {
    await Promise.all(workers.map((s) => s.w.terminate()));
    engine.close();
  }
});

test.run();
