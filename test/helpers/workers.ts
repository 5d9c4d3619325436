/**
 * Runs real worker_threads for stress tests, with a hard timeout: if the workers have not all
 * finished in `timeoutMs`, every one is terminated and the promise rejects, so a deadlock fails
 * the test instead of hanging CI. Workers are TypeScript files started through `tsWorker`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { buildSync } from 'esbuild';

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

const bundles = new Map<string, string>();

/**
 * A Worker running a TypeScript file bundled once per process (esbuild, the compiler tsx itself
 * uses) into one ESM file: it starts in tens of milliseconds instead of the hundreds tsx needs to
 * register and compile in each new thread. For tests that start hundreds of workers (the kill
 * storm). The bundle carries its own copy of the library, like any worker's module graph.
 */
export function bundledWorker(file: URL, options: WorkerOptions = {}): Worker {
  let out = bundles.get(file.href);
  if (out === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'sabstate-worker-'));
    out = join(dir, `${basename(fileURLToPath(file), '.ts')}.mjs`);
    buildSync({
      entryPoints: [fileURLToPath(file)], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: out, logLevel: 'error',
      // Bundled CommonJS dependencies may call require(): give the ESM bundle one.
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    });
    const made = out;
    process.once('exit', () => rmSync(dirname(made), { recursive: true, force: true }));
    bundles.set(file.href, out);
  }
  return new Worker(out, options);
}

/** Resolves with p's value, or rejects with "timed out: <what> within <ms> ms" (a hard timeout). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
