/**
 * Starting a worker thread on a TypeScript file, for the tests, the examples and the benchmarks
 * (support/ is their one home; it is not shipped in the package).
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
  return new Worker(out, { execArgv: withoutTsx(process.execArgv), ...options });
}

/**
 * The parent's node flags minus tsx's loader: a bundle is plain JavaScript, and a worker inherits
 * `--import tsx`, which registers tsx's hooks in every new thread (about 100 ms of each worker's
 * start, more under load: most of a kill-storm death's cost).
 */
function withoutTsx(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === '--import' || a === '--loader' || a === '--experimental-loader') && /^tsx(\/|$)/.test(argv[i + 1] ?? '')) i++;
    else if (!/^--(import|loader|experimental-loader)=tsx(\/|$)/.test(a)) out.push(a);
  }
  return out;
}
