// Real worker_threads stress of the positions domain: read-modify-write order steps under
// withLock from 4 threads (no lost update), lock-free readers on 2 more (every read is one
// whole version), no leak after deletes, and a writer terminated mid-save.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { type Position } from '../src/domains/positions/positions.ts';
import { decodeOrder, decodePositionHead } from '../src/internal/codec/codec.ts';
import { seed, stressScale } from './helpers/seed.ts';
import { runWorkers, tsWorker } from './helpers/workers.ts';
import { type StressKey, fixture, problem, realPositionObjects, saveLocked } from './workers/positions-fixture.ts';

const WORKER = new URL('./workers/positions-stress-worker.ts', import.meta.url);
const real = realPositionObjects();
const biggest = real.flatMap((p) => p.orders).reduce((a, b) => (JSON.stringify(b).length > JSON.stringify(a).length ? b : a)) as Record<string, unknown>;
// Padded so that the heap grows past its initial 1 MiB while the threads run.
const template = { ...biggest, pad: 'p'.repeat(1200) };
const start = real.find((p) => p.is_closed_position === false)!;
const keySeed = 99;

function setup(hotkeys: number, tps: string[]) {
  const f = fixture({ maxRecords: 1024, maxBytes: 256 << 20, seed: keySeed });
  const keys: StressKey[] = [];
  for (let h = 0; h < hotkeys; h++) {
    for (const tp of tps) {
      const k = { hk: `5Stress${h}${'x'.repeat(40)}`, tp, uuid: `uuid-${h}-${tp}` };
      keys.push(k);
      const p: Position = { ...start, miner_hotkey: k.hk, position_uuid: k.uuid, trade_pair: tp, base: start.orders.length, counter: 0 };
      saveLocked(f, p);
    }
  }
  return { f, keys };
}

test('stress: 4 writers (order steps under withLock) and 2 lock-free readers; no lost update, no torn read, no leak', async () => {
  const { f, keys } = setup(2, ['BTCUSD', 'ETHUSD', 'EURUSD']);
  const writers = 4;
  const readers = 2;
  const iterations = Math.round(300 * stressScale);
  const flag = new SharedArrayBuffer(16);
  const base = { locks: f.lockHandle, positions: f.handle, keySeed, seed, flag, parties: writers + readers, keys, template };
  const w = runWorkers<{ mine: number[] }>(WORKER, Array.from({ length: writers }, (_, id) => ({ ...base, mode: 'write', id, iterations })), 90_000);
  const r = runWorkers<{ reads: number; bad: string[] }>(WORKER, Array.from({ length: readers }, (_, id) => ({ ...base, mode: 'read', id: 10 + id })), 90_000);
  // Meanwhile the main thread takes consistent views (write gate freeze) while the writers run.
  let views = 0;
  let done = false;
  void w.finally(() => (done = true)).catch(() => {});
  while (!done) {
    await new Promise((res) => setTimeout(res, 20));
    for (const e of f.positions.entriesRaw()) {
      const head = decodePositionHead(e.head) as Position;
      head.orders = e.orders.map((o) => decodeOrder(o));
      assert.is(problem(head), '', 'entriesRaw record whole');
    }
    views++;
  }
  const res = await w;
  Atomics.store(new Int32Array(flag), 1, 1);
  const rd = await r;
  for (const x of rd) {
    assert.equal(x.bad, [], 'every read was one whole version');
    assert.ok(x.reads > 0);
  }
  keys.forEach((k, i) => {
    const steps = res.reduce((s, x) => s + x.mine[i]!, 0);
    const p = f.positions.get(k.hk, k.uuid)!;
    assert.is(problem(p), '');
    assert.is(p.counter, steps, `${k.hk} ${k.tp}: no lost update`);
    assert.is(p.orders.length, start.orders.length + steps);
  });
  const st = f.positions.stats();
  assert.ok(st.bytesReserved > 1 << 20, `the heap grew during the run (${st.bytesReserved} bytes)`);
  console.log(`  ${writers * iterations} order steps, ${views} entriesRaw views, ${rd.reduce((s, x) => s + x.reads, 0)} reads; read retries ${st.readRetries}, pinned reads ${st.pinnedReads}; ${(st.bytesUsed / 1024).toFixed(0)} KiB in use`);
  for (const k of keys) assert.ok(f.positions.delete(k.hk, k.uuid));
  assert.is(f.positions.size, 0);
  assert.is(f.positions.stats().heap.inUseBytes, 0, 'heap usage back to its baseline');
});

test('a writer terminated mid-save leaves every position whole; readers and other writers go on', async () => {
  const { f, keys } = setup(1, ['BTCUSD', 'ETHUSD']);
  const flag = new SharedArrayBuffer(16);
  const fl = new Int32Array(flag);
  const base = { locks: f.lockHandle, positions: f.handle, keySeed, seed, flag, parties: 1, keys, template };
  for (let round = 0; round < 3; round++) {
    const w = tsWorker(WORKER, { workerData: { ...base, mode: 'forever', id: round } });
    const [{ threadId }] = (await once(w, 'message')) as [{ threadId: number }];
    const target = Atomics.load(fl, 2) + 20 + Math.floor(Math.random() * 40);
    const deadline = Date.now() + 30_000;
    while (Atomics.load(fl, 2) < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    await w.terminate();
    // The dead thread may hold a stripe (recovery, as engine.watch does) and an insert mutex.
    f.locks.releaseAllOwnedBy(threadId);
    f.positions.releaseAllOwnedBy(threadId);
    for (const k of keys) {
      const p = f.positions.getOpen(k.hk, k.tp);
      assert.is(problem(p), '', `round ${round} ${k.tp}`);
      f.locks.withLock(k.hk, k.tp, () => {
        const q = f.positions.getOpen(k.hk, k.tp)!;
        q.counter = (q.counter as number) + 1;
        q.orders.push({ ...template, seq: q.counter });
        f.positions.save(q);
      });
      assert.is(problem(f.positions.get(k.hk, k.uuid)), '');
    }
  }
  const st = f.positions.stats();
  // A killed writer can leak the blocks it had built (never corrupt): bounded by a few per kill.
  for (const k of keys) f.positions.delete(k.hk, k.uuid);
  const leaked = f.positions.stats().heap.inUseBlocks;
  console.log(`  3 writers killed mid-run; ${Atomics.load(fl, 2)} steps; ${leaked} blocks leaked by the killed writers (records ${st.records})`);
  assert.ok(leaked <= 3 * 4, `leak bounded (${leaked} blocks)`);
});

test.run();
