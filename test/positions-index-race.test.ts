// The per-hotkey index under two writers of different trade pairs of one miner (they do not share
// a lock), interleaved step by step with two workers paused at crash points (issue 9: "an open
// position invisible"). Found by the positions-register lincheck run: engine.verify() reported
// "the index of <hotkey> names <uuid> twice". The interleaving:
//   X (save of a new position A, pair 1) takes number i from the hotkey's counter, pauses;
//   Y (delete of B, pair 2, the miner's last entry) removes B's entry, looks at the entries
//     past the counter's end (i: missing, X has not written it), pauses before lowering it;
//   X writes entry i, sees the counter still past i, publishes A, ends;
//   Y lowers the counter below i (it is still the value Y read): entry i is past the end.
// Then A is stored but not listed (listForHotkey misses it; delete cannot find its entry, so a
// later save of A lists it a second time).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Worker } from 'node:worker_threads';
import { createEngine } from '../src/index.ts';
import type { Position } from '../src/index.ts';
import { bundledWorker, inbox } from './helpers/workers.ts';
import type { PauseJob } from './workers/positions-pause-worker.ts';

const WORKER = new URL('./workers/positions-pause-worker.ts', import.meta.url);
/** Per answer: a worker's start-up included (under load a tsx boot alone took over 20 s). */
const HARD_MS = 60_000;
const HK = '5RaceMiner';

const pos = (uuid: string, tp: string, open: boolean): Position =>
  ({ miner_hotkey: HK, position_uuid: uuid, trade_pair: tp, orders: [{ order_uuid: `${uuid}-o`, price: 1 }], is_closed_position: !open });

function start(job: Omit<PauseJob, 'resume'>): { w: Worker; resume: Int32Array; next: (key: string) => Promise<Record<string, unknown>> } {
  const resume = new SharedArrayBuffer(4);
  const w = bundledWorker(WORKER, { workerData: { ...job, resume } });
  const from = inbox(w, HARD_MS);
  return { w, resume: new Int32Array(resume), next: (key) => from((m) => key in m) };
}
/**
 * Y's trade pair: one whose lock stripe is not (HK, BTCUSD)'s. X holds that lock while paused; on
 * a shared stripe Y's delete waits for X, and the test hung until its hard timeout (with a random
 * hash seed and 4,096 stripes, about 1 run in 4,096; every run with `lockStripes: 1`).
 */
function otherPair(engine: ReturnType<typeof createEngine>): string {
  for (const tp of ['ETHUSD', 'SOLUSD', 'XRPUSD', 'ADAUSD', 'DOGEUSD', 'EURUSD', 'GBPUSD', 'AUDUSD']) {
    if (!engine.locks.withLock(HK, 'BTCUSD', () => engine.locks.isHeld(HK, tp))) return tp;
  }
  throw new Error('every candidate pair shares a lock stripe with BTCUSD');
}
const go = (r: Int32Array): void => {
  Atomics.store(r, 0, 1);
  Atomics.notify(r, 0);
};

test('a new position listed while another pair\'s delete trims the index stays listed (X counted, Y trims, X publishes, Y lowers)', async () => {
  const engine = createEngine({});
  const workers: Worker[] = [];
  const yTp = otherPair(engine);
  try {
    engine.locks.withLock(HK, yTp, () => engine.positions.save(pos('B', yTp, false)));
    const x = start({ handle: engine.handle(), op: 'save', position: pos('A', 'BTCUSD', true), pauseAt: 'positions.index.counted' });
    workers.push(x.w);
    await x.next('atCrashPoint');
    const y = start({ handle: engine.handle(), op: 'delete', hotkey: HK, uuid: 'B', pauseAt: 'positions.index.trimmed' });
    workers.push(y.w);
    // Y reaches its point: B's entry removed, the entries past the counter looked at (X's number
    // has no entry yet), the counter not yet lowered.
    await y.next('atCrashPoint');
    go(x.resume);
    assert.is((await x.next('done')).done, true);
    go(y.resume);
    assert.is((await y.next('done')).done, true);

    assert.equal(engine.positions.listForHotkey(HK).map((p) => p.position_uuid), ['A'], 'A is stored and must be listed');
    assert.equal(engine.verify().violations, []);
    // The later life of A: deleted, then saved again, it is listed once.
    assert.is(engine.positions.delete(HK, 'A'), true);
    engine.locks.withLock(HK, 'BTCUSD', () => engine.positions.save(pos('A', 'BTCUSD', true)));
    assert.equal(engine.positions.listForHotkey(HK).map((p) => p.position_uuid), ['A']);
    assert.equal(engine.verify().violations, []);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    engine.close();
  }
});

test.run();
