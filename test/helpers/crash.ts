/**
 * Drives a worker to a named crash point (src/internal/crash.ts) and terminates it there.
 *
 * Worker side: `stopAtCrashPoint(workerData.crashAt)` installs a hook that, the first time the
 * named point is reached (after `skip` earlier passes), posts `{ atCrashPoint: name }` and blocks
 * the thread for good with Atomics.wait, so the worker is frozen exactly between the two
 * shared-memory steps that the point separates. Main side: `killAtCrashPoint(worker, ms)` waits
 * for that message and terminates the worker; it resolves `true` if the point was reached, `false`
 * if the worker exited on its own first (the point was not on its path), and rejects on timeout.
 */
import type { Worker } from 'node:worker_threads';
import { parentPort } from 'node:worker_threads';
import { setCrashHook } from '../../src/internal/crash.ts';

export interface CrashAt {
  /** The crash point's name. */
  name: string;
  /** Passes to let through before stopping (default 0: the first). */
  skip?: number;
}

/** Worker side: stop (forever) at the crash point; returns immediately. */
export function stopAtCrashPoint(at: CrashAt | undefined): void {
  if (at === undefined) return;
  let skip = at.skip ?? 0;
  const forever = new Int32Array(new SharedArrayBuffer(4));
  setCrashHook((name) => {
    if (name !== at.name || skip-- > 0) return;
    setCrashHook(null);
    parentPort?.postMessage({ atCrashPoint: name });
    for (;;) Atomics.wait(forever, 0, 0);
  });
}

/** Main side: resolves true once the worker reached its crash point and has been terminated. */
export function killAtCrashPoint(worker: Worker, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      void worker.terminate();
      reject(new Error(`worker did not reach its crash point within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (reached: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!reached) {
        resolve(false);
        return;
      }
      worker.once('exit', () => resolve(true));
      void worker.terminate();
    };
    worker.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && 'atCrashPoint' in m) finish(true);
    });
    worker.once('error', (e) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(e);
    });
    worker.once('exit', () => finish(false));
  });
}
