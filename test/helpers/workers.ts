/**
 * Runs real worker_threads for stress tests, with a hard timeout: if the workers have not all
 * finished in `timeoutMs`, every one is terminated and the promise rejects, so a deadlock fails
 * the test instead of hanging CI. Workers are TypeScript files; they inherit the parent's
 * `--import tsx` through process.execArgv.
 */
import { Worker } from 'node:worker_threads';

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
  const workers = datas.map((d) => new Worker(file, { workerData: d, transferList: transferList(d) as never }));
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
