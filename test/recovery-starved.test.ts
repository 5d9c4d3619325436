/**
 * Issue 9, finding 7 (NOT FIXED: both tests are skipped, and fail when run): recovery runs on the
 * watching thread's event loop; if that thread blocks in a sync wait on something a dead worker
 * held, the worker's 'exit' event is never delivered and the wait ends only at its timeout
 * (ERR_LOCK_TIMEOUT after 15 s here; never without one). src/internal/wait.ts says what was
 * tried (a synchronous death check from Node's Worker handle, withdrawn: an internal whose
 * timing against a terminating thread was not established) and the design that remains (a supervisor thread that starts
 * the workers and so receives their 'exit').
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Worker } from 'node:worker_threads';
import { createEngine } from '../src/index.ts';
import { SMALL_ENGINE } from './helpers/temp.ts';
import { bundledWorker } from './helpers/workers.ts';

const HOLD = new URL('./workers/engine-worker.ts', import.meta.url);
const CRASH = new URL('./workers/crash-engine-worker.ts', import.meta.url);

function exited(w: Worker): Promise<void> {
  return new Promise((r) => w.once('exit', () => r()));
}

test.skip('the watching thread blocked in withLock on a dead worker\'s stripe recovers it and gets the lock', async () => {
  const e = createEngine(SMALL_ENGINE);
  const flag = new Int32Array(new SharedArrayBuffer(16));
  const w = bundledWorker(HOLD, { workerData: { mode: 'hold', handle: e.handle(), flag: flag.buffer, keys: [['5Starved', 'BTCUSD']] } });
  e.watch(w);
  const gone = exited(w);
  for (let t = 0; Atomics.load(flag, 0) === 0; t++) {
    assert.ok(t < 600, 'the worker took the lock');
    await new Promise((r) => setTimeout(r, 50));
  }
  void w.terminate(); // the thread stops; its 'exit' cannot be delivered while this thread blocks
  let got: unknown;
  try {
    got = e.locks.withLock('5Starved', 'BTCUSD', () => 'got it', { timeoutMs: 15_000 });
  } catch (err) {
    got = (err as { code?: string }).code;
  }
  assert.is(got, 'got it', 'the blocked watcher recovered the dead holder\'s stripe');
  await gone;
  await e.whenRecovered();
  assert.is(e.stats().watch.exited, 1, 'recovered once, not again on the exit event');
  assert.equal(e.verify().violations, []);
});

test.skip('the watching thread blocked in syncGate.begin() on a dead worker\'s guarded write recovers it', async () => {
  const e = createEngine({ ...SMALL_ENGINE, general: { queues: { notices: { capacity: 8, maxMessageBytes: 256 } }, maps: ['accountSizes'] } });
  const w = bundledWorker(CRASH, { workerData: { handle: e.handle(), crashAt: { name: 'gate.guard.admitted' }, rounds: 10, run: 0 } });
  e.watch(w);
  const gone = exited(w);
  await new Promise<void>((r, j) => {
    w.on('message', (m: { atCrashPoint?: string }) => (m.atCrashPoint !== undefined ? r() : j(new Error('worker finished'))));
  });
  void w.terminate();
  let epoch: unknown;
  try {
    epoch = e.general.syncGate.begin({ timeoutMs: 15_000 });
  } catch (err) {
    epoch = (err as { code?: string }).code;
  }
  assert.is(typeof epoch, 'number', `begin() returned an epoch (got ${String(epoch)})`);
  e.general.syncGate.end();
  await gone;
  await e.whenRecovered();
  assert.equal(e.verify().violations, []);
});

test.run();
