/**
 * Main side of test/helpers/positions-step-worker.ts: starts a worker that runs one positions
 * write paused at a list of crash points in turn, and steps it (test/positions-index-touch.test.ts).
 */
import type { Worker } from 'node:worker_threads';
import type { StepData, StepJob } from './positions-step-worker.ts';
import { bundledWorker, inbox } from './workers.ts';

const WORKER = new URL('./positions-step-worker.ts', import.meta.url);

/** A started step worker. */
export interface Stepper {
  w: Worker;
  /** Resolves with the pause message of `step` (its crash point reached); rejects after the hard timeout. */
  paused(step: number): Promise<Record<string, unknown>>;
  /** Lets the worker go on past its current pause. */
  go(): void;
  /** Resolves with the final message ({ done: true, result } or { done: false, code, message }). */
  finished(): Promise<Record<string, unknown>>;
}

/** Starts the worker (bundled: tens of ms to start) on `job`; hardMs bounds each wait for a message. */
export function stepWorker(job: StepJob, hardMs: number): Stepper {
  const resume = new SharedArrayBuffer(4);
  const data: StepData = { ...job, resume };
  const w = bundledWorker(WORKER, { workerData: data });
  const from = inbox(w, hardMs);
  const r = new Int32Array(resume);
  return {
    w,
    paused: (step) => from((m) => 'atCrashPoint' in m && m.step === step),
    go: () => {
      Atomics.add(r, 0, 1);
      Atomics.notify(r, 0);
    },
    finished: () => from((m) => 'done' in m),
  };
}
