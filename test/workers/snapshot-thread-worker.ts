// Worker of test/snapshot-concurrent.test.ts: snapshots the shared engine into one directory n
// times (n = 0: forever, after posting "started"); reports the generations and any error.
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';

const { handle, dir, n } = workerData as { handle: Parameters<typeof attachEngine>[0]; dir: string; n: number };
const e = attachEngine(handle);
const gens: number[] = [];
const errors: string[] = [];
for (let i = 0; n === 0 || i < n; i++) {
  try {
    gens.push(e.snapshot(dir).generation);
  } catch (err) {
    errors.push(`${(err as { code?: string }).code ?? 'raw'}: ${(err as Error).message}`);
  }
  if (n === 0 && i === 0) parentPort!.postMessage('started');
}
parentPort!.postMessage({ gens, errors });
