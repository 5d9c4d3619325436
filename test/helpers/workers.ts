/**
 * Runs real worker_threads for stress tests, with a hard timeout: if the workers have not all
 * finished in `timeoutMs`, every one is terminated and the promise rejects, so a deadlock fails
 * the test instead of hanging CI. Workers are TypeScript files started through `tsWorker`.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A Worker running a TypeScript file. `--import tsx` does not reach worker threads on Node 20
 * (module hooks are per thread), so the worker boots from a tiny ESM snippet that registers
 * tsx's loader in its own thread, then imports the file.
 */
export function tsWorker(file: URL, options: WorkerOptions = {}): Worker {
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(file.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

export interface WorkerRun<R> {
  results: R[];
  workers: Worker[];
}

export function runWorkers<R = unknown>(
  file: URL,
  datas: unknown[],
  timeoutMs: number,
  transferList: (d: unknown) => ArrayBuffer[] = () => [],
): Promise<R[]> {
  const workers = datas.map((d) => tsWorker(file, { workerData: d, transferList: transferList(d) as never }));
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
