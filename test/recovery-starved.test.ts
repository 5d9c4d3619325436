/**
 * Issue 9, finding 7: recovery ran only on the watching thread's event loop; if that thread
 * blocked in a sync wait on something a dead worker held, the worker's 'exit' event was never
 * delivered and the wait ended only at its timeout (ERR_LOCK_TIMEOUT after 15 s here; never
 * without one). Now a watching thread's waits check, between slices, whether a watched worker's
 * OS thread is gone (src/internal/sync/threads.ts, wait.ts) and recover it there. The first two tests
 * failed before that (they were kept skipped); the third shows a live holder is never taken for
 * dead.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { type Engine, createEngine } from '../src/index.ts';
import { ThreadRegistry, osThreadExists } from '../src/internal/sync/threads.ts';
import { SMALL_ENGINE } from './helpers/temp.ts';
import { bundledWorker } from './helpers/workers.ts';
import { killAtCrashPoint } from './helpers/crash.ts';

const HOLD = new URL('./workers/engine-worker.ts', import.meta.url);
const CRASH = new URL('./workers/crash-engine-worker.ts', import.meta.url);

function exited(w: Worker): Promise<void> {
  return new Promise((r) => w.once('exit', () => r()));
}

/** A watched worker that takes the lock (hotkey, BTCUSD) and holds it (for holdMs, or until terminated). */
async function holder(e: Engine, hotkey: string, holdMs?: number): Promise<{ w: Worker; gone: Promise<void> }> {
  const flag = new Int32Array(new SharedArrayBuffer(16));
  const w = bundledWorker(HOLD, { workerData: { mode: 'hold', handle: e.handle(), flag: flag.buffer, keys: [[hotkey, 'BTCUSD']], ...(holdMs === undefined ? {} : { holdMs }) } });
  e.watch(w);
  const gone = exited(w);
  for (let t = 0; Atomics.load(flag, 0) === 0; t++) {
    assert.ok(t < 1500, 'the worker took the lock');
    await new Promise((r) => setTimeout(r, 20));
  }
  return { w, gone };
}

test('the watching thread blocked in withLock on a dead worker\'s stripe recovers it and gets the lock', async () => {
  const e = createEngine(SMALL_ENGINE);
  const { w, gone } = await holder(e, '5Starved');
  void w.terminate(); // the thread stops; its 'exit' cannot be delivered while this thread blocks
  let got: unknown;
  try {
    got = e.locks.withLock('5Starved', 'BTCUSD', () => 'got it', { timeoutMs: 15_000 });
  } catch (err) {
    got = (err as { code?: string }).code;
  }
  assert.is(got, 'got it', 'the blocked watcher recovered the dead holder\'s stripe');
  assert.is(e.stats().watch.recoveredWhileWaiting, 1, 'recovered from inside the wait');
  await gone;
  await e.whenRecovered();
  assert.is(e.stats().watch.exited, 1, 'recovered once, not again on the exit event');
  assert.equal(e.verify().violations, []);
});

test('the watching thread blocked in syncGate.begin() on a dead worker\'s guarded write recovers it', async () => {
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
  assert.is(e.stats().watch.recoveredWhileWaiting, 1, 'recovered from inside the wait');
  e.general.syncGate.end();
  await gone;
  await e.whenRecovered();
  assert.equal(e.verify().violations, []);
});

test('a live holder is waited for, not recovered: the blocked watcher gets the lock when the holder releases it', async () => {
  const e = createEngine(SMALL_ENGINE);
  const { gone } = await holder(e, '5Alive', 700);
  const t0 = Date.now();
  const got = e.locks.withLock('5Alive', 'BTCUSD', () => 'got it', { timeoutMs: 15_000 });
  assert.is(got, 'got it');
  assert.ok(Date.now() - t0 >= 300, 'waited for the holder');
  assert.is(e.stats().watch.recoveredWhileWaiting, 0, 'a live thread is never recovered');
  assert.is(e.stats().watch.recoveredLocks, 0);
  await gone;
  await e.whenRecovered();
  assert.is(e.stats().watch.exited, 1);
  assert.equal(e.verify().violations, []);
});

test('the thread registry: a worker registers its OS thread on attach, recovery frees the slot', async () => {
  const e = createEngine(SMALL_ENGINE);
  const reg = new ThreadRegistry(e.handle().threads);
  assert.is(reg.registered(), 0, 'the main thread does not register');
  const { w, gone } = await holder(e, '5Reg');
  const tid = reg.tidOf(w.threadId);
  if (existsSync('/proc/thread-self')) {
    assert.ok(tid > 0, 'registered with its tid');
    assert.ok(osThreadExists(tid), 'its OS thread is alive');
  } else {
    console.log('  (no /proc/thread-self on this system: nothing is registered; recovery comes from the exit event)');
    assert.is(tid, 0);
  }
  await w.terminate();
  await gone;
  await e.whenRecovered();
  if (tid > 0) assert.not.ok(osThreadExists(tid), 'the OS thread is gone once the worker has exited');
  assert.is(reg.registered(), 0, 'the slot is free again');
});

test('a worker killed between its registry claim and its tid (threads.register.claimed): its exit frees the slot', async () => {
  const e = createEngine({ ...SMALL_ENGINE, general: { queues: { notices: { capacity: 8, maxMessageBytes: 256 } }, maps: ['accountSizes'] } });
  const reg = new ThreadRegistry(e.handle().threads);
  const w = bundledWorker(CRASH, { workerData: { handle: e.handle(), crashAt: { name: 'threads.register.claimed' }, rounds: 3, run: 0, hookBeforeAttach: true } });
  e.watch(w);
  const hit = await killAtCrashPoint(w, 60_000);
  if (!existsSync('/proc/thread-self')) {
    assert.not.ok(hit, 'nothing registers without /proc/thread-self');
    return;
  }
  assert.ok(hit, 'reached threads.register.claimed');
  await e.whenRecovered();
  assert.is(reg.registered(), 0, 'the claimed slot is free again');
  assert.equal(e.verify().violations, []);
});

test.run();
