/**
 * `npm run bench`: every benchmark, one after the other (each in its own process, so one does
 * not warm or pollute another), output passed through. BENCH_MS sets the time per case.
 * The results of a run are kept in BENCHMARKS.md.
 */
import { spawnSync } from 'node:child_process';

const benches = ['locks', 'hash', 'codec', 'positions', 'queue', 'order-path'];
let failed = 0;
for (const b of benches) {
  const file = new URL(`./${b}.ts`, import.meta.url).pathname;
  console.log(`\n## bench/${b}.ts\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file], { stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    failed++;
    console.log(`bench/${b}.ts exited with ${r.status ?? r.signal}`);
  }
}
process.exitCode = failed ? 1 : 0;
