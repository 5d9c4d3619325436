/**
 * Runs real worker_threads for stress tests, with a hard timeout: if the workers have not all
 * finished in `timeoutMs`, every one is terminated and the promise rejects, so a deadlock fails
 * the test instead of hanging CI. Workers are TypeScript files started through `tsWorker`.
 */
import type { Worker, WorkerOptions } from 'node:worker_threads';
import { tsWorker } from '../../support/workers.ts';

// Starting a worker on a TypeScript file is shared with the examples and benchmarks: support/.
export { bundledWorker, tsWorker } from '../../support/workers.ts';


export interface WorkerRun<R> {
  results: R[];
  workers: Worker[];
}

export function runWorkers<R = unknown>(
  file: URL,
  datas: unknown[],
  timeoutMs: number,
  transferList: (d: unknown) => ArrayBuffer[] = () => [],
  boot: (file: URL, options: WorkerOptions) => Worker = tsWorker,
): Promise<R[]> {
  const workers = datas.map((d) => boot(file, { workerData: d, transferList: transferList(d) as never }));
  return new Promise<R[]>((resolve, reject) => {
    const results: R[] = new Array(datas.length);
    let left = workers.length;
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      for (const w of workers) void w.terminate();
      reject(new Error(`workers did not finish within ${timeoutMs} ms (deadlock or livelock?)`));
    }, timeoutMs);
    workers.forEach((w, i) => {
      w.once('message', (m: R) => {
        results[i] = m;
      });
      w.once('error', (e) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (const x of workers) void x.terminate();
        reject(e);
      });
      w.once('exit', (code) => {
        if (settled) return;
        if (code !== 0) {
          settled = true;
          clearTimeout(timer);
          for (const x of workers) void x.terminate();
          reject(new Error(`worker ${i} exited with code ${code}`));
          return;
        }
        if (--left === 0) {
          settled = true;
          clearTimeout(timer);
          resolve(results);
        }
      });
    });
  });
}


/** Resolves with p's value, or rejects with "timed out: <what> within <ms> ms" (a hard timeout). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * A worker's messages, and a promise of the first one that matches `pred` (already received or
 * still to come); it rejects after `hardMs` (a hard timeout) or on the worker's error.
 */
export function inbox(w: Worker, hardMs: number): (pred: (m: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>> {
  const got: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let failed: Error | undefined;
  w.on('message', (m: Record<string, unknown>) => {
    got.push(m);
    for (const f of waiters.splice(0)) f();
  });
  w.on('error', (e) => {
    failed = e;
    for (const f of waiters.splice(0)) f();
  });
  return (pred) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker did not answer within the hard timeout (${hardMs} ms)`)), hardMs);
      const look = (): void => {
        const m = got.find(pred);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        } else if (failed) {
          clearTimeout(timer);
          reject(failed);
        } else {
          waiters.push(look);
        }
      };
      look();
    });
}
