// Worker for test/positions-index-race.test.ts: attaches the engine, runs one positions write
// (a save under its lock, or a delete), paused at a named crash point until the main thread
// stores 1 into `resume`: the worker posts { atCrashPoint }, blocks in Atomics.wait, then goes on
// and posts { done }. Two such workers interleave two writers step by step.
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle, Position } from '../../src/index.ts';
import { setCrashHook } from '../../src/internal/crash.ts';

export interface PauseJob {
  handle: EngineHandle;
  op: 'save' | 'delete';
  position?: Position;
  hotkey?: string;
  uuid?: string;
  pauseAt: string;
  resume: SharedArrayBuffer;
}

const job = workerData as PauseJob;
const e = attachEngine(job.handle);
const resume = new Int32Array(job.resume);
let paused = false;
setCrashHook((name) => {
  if (paused || name !== job.pauseAt) return;
  paused = true;
  parentPort!.postMessage({ atCrashPoint: name });
  while (Atomics.load(resume, 0) === 0) Atomics.wait(resume, 0, 0);
});
let done: unknown;
if (job.op === 'save') {
  const p = job.position!;
  e.locks.withLock(p.miner_hotkey, p.trade_pair as string, () => e.positions.save(p));
  done = true;
} else {
  done = e.positions.delete(job.hotkey!, job.uuid!);
}
setCrashHook(null);
parentPort!.postMessage({ done, paused });
