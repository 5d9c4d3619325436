/**
 * The checks every recovery test makes of a whole engine (test/crash-points.test.ts,
 * test/kill-storm.test.ts): after a worker died and engine.watch recovered it, the engine is
 * sound; after everything is deleted, every heap is back to zero bytes in use.
 */
import * as assert from 'uvu/assert';
import type { Engine } from '../../src/index.ts';

/** verify() clean, no stripe held, getOpen agrees with the open list, a full queue lap, a sync. */
export function assertEngineSound(engine: Engine, opts: { tradePair: string; queue: string; capacity: number; after: string }): void {
  const { tradePair, queue, capacity, after } = opts;
  assert.equal(engine.verify({ timeoutMs: 5000 }).violations, [], `verify ${after}`);
  assert.is(engine.locks.stats().held, 0, `no stripe held ${after}`);
  for (const hk of engine.positions.hotkeys()) {
    const listed = engine.positions.listForHotkey(hk, { open: true });
    assert.ok(listed.length <= 1, `at most one open position of ${hk} ${after}`);
    assert.is(engine.positions.getOpen(hk, tradePair)?.position_uuid, listed[0]?.position_uuid, `getOpen agrees with the list for ${hk} ${after}`);
  }
  const q = engine.general.queue(queue);
  while (q.pop() !== undefined);
  for (let i = 0; i < capacity; i++) assert.ok(q.push({ i }), `push ${i} of a lap ${after}`);
  assert.not.ok(q.push({ i: -1 }), `full after a lap ${after}`);
  for (let i = 0; i < capacity; i++) assert.equal(q.pop(), { i }, `pop ${i} of a lap ${after}`);
  assert.is(q.pop(), undefined, `empty after a lap ${after}`);
  engine.general.syncGate.begin({ timeoutMs: 5000 });
  engine.general.syncGate.end();
}

/** Deletes every position, departed hotkey, map entry and elimination; every heap back to zero. */
export function assertDeletesToZero(engine: Engine, maps: readonly string[]): void {
  for (const hk of engine.positions.hotkeys()) {
    for (const p of engine.positions.listForHotkey(hk)) engine.positions.delete(hk, p.position_uuid);
  }
  for (const [hk] of engine.departed.entries()) engine.departed.delete(hk);
  for (const name of maps) {
    const m = engine.general.map(name);
    for (const [k] of m.entries()) m.delete(k);
  }
  engine.eliminations.replaceAll([]);
  const s = engine.stats();
  assert.is(s.positions.bytesUsed, 0, 'positions heap back to zero');
  assert.is(s.departed.bytesUsed, 0, 'departed heap back to zero');
  assert.is(s.eliminations.bytesUsed, 0, 'eliminations heap back to zero');
  assert.equal(engine.verify().violations, []);
}
