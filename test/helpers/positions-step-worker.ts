// Worker for test/positions-index-touch.test.ts: attaches the engine and runs ONE positions write
// (a save under its lock, or a delete), pausing at each crash point of `pauses` in turn (the
// first pass of pauses[0], then the first pass of pauses[1] after it, ...). At pause k it posts
// { atCrashPoint, step: k } and sleeps until the main thread has raised `resume`[0] above k
// (step-workers.ts `go`). It never throws: it posts { done: true, result } or { done: false, code,
// message } (a refusal is an outcome the test checks, not a crash), then its compaction counts.
// Unlike test/workers/positions-pause-worker.ts (one pause, errors thrown), several pauses let
// the main thread act between two later steps of the same write (fill the heap, read the index).
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle, Position } from '../../src/index.ts';
import { setCrashHook } from '../../src/internal/crash.ts';

export interface StepJob {
  handle: EngineHandle;
  op: 'save' | 'delete';
  position?: Position;
  hotkey?: string;
  uuid?: string;
  /** Crash points to pause at, in this order. */
  pauses: string[];
}

export interface StepData extends StepJob {
  resume: SharedArrayBuffer;
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'pauses' in (workerData as object)) {
  const job = workerData as StepData;
  const e = attachEngine(job.handle);
  const resume = new Int32Array(job.resume);
  let step = 0;
  setCrashHook((name) => {
    if (step >= job.pauses.length || name !== job.pauses[step]) return;
    const k = step++;
    parentPort!.postMessage({ atCrashPoint: name, step: k });
    while (Atomics.load(resume, 0) <= k) Atomics.wait(resume, 0, Atomics.load(resume, 0));
  });
  let out: Record<string, unknown>;
  try {
    let result: unknown;
    if (job.op === 'save') {
      const p = job.position!;
      e.locks.withLock(p.miner_hotkey, p.trade_pair as string, () => e.positions.save(p));
      result = true;
    } else {
      result = e.positions.delete(job.hotkey!, job.uuid!);
    }
    out = { done: true, result };
  } catch (err) {
    const x = err as { code?: unknown; message?: unknown };
    out = { done: false, code: x.code, message: String(x.message) };
  }
  setCrashHook(null);
  parentPort!.postMessage({ ...out, paused: step, compaction: e.positions.stats().compaction });
}
