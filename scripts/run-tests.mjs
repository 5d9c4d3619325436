#!/usr/bin/env node
// Runs every test/**/*.test.ts in its own Node process (TypeScript through tsx), one after the
// other, each under a hard timeout (SABSTATE_TEST_FILE_TIMEOUT_MS, default 300000), so a deadlock
// fails that file instead of hanging CI. Prints each file's output, then one closing line
// "N passed, N failed, N skipped". Exit code 1 if any test or file failed.
// Usage: node scripts/run-tests.mjs [substring-filter ...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const timeoutMs = Number(process.env.SABSTATE_TEST_FILE_TIMEOUT_MS ?? 300_000);
const filters = process.argv.slice(2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = walk(join(root, 'test')).filter(
  (f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)),
);

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, NODE_DISABLE_COLORS: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, timedOut, ms: Date.now() - started });
    });
  });
}

let passed = 0;
let failed = 0;
let skipped = 0;
const bad = [];
for (const file of files) {
  const rel = relative(root, file);
  console.log(`\n# ${rel}`);
  const r = await runFile(file);
  // uvu prints a summary per file: "Total: N", "Passed: N", "Skipped: N".
  const num = (label) => { const m = r.out.match(new RegExp(`${label}:\\s+(\\d+)`)); return m ? Number(m[1]) : 0; };
  const total = num('Total');
  const ok = num('Passed');
  const skip = num('Skipped');
  passed += ok;
  skipped += skip;
  let fileFailed = total - ok; // uvu's Total already leaves skipped tests out
  if (r.timedOut) { console.log(`# ${rel}: HARD TIMEOUT after ${timeoutMs} ms (deadlock?)`); fileFailed = Math.max(fileFailed, 1); }
  else if (r.code !== 0 && fileFailed === 0) { console.log(`# ${rel}: exited with code ${r.code}`); fileFailed = 1; }
  else if (total === 0 && skip === 0) { console.log(`# ${rel}: ran no test`); fileFailed = 1; }
  failed += fileFailed;
  if (fileFailed > 0) bad.push(rel);
  console.log(`# ${rel}: ${ok} passed, ${fileFailed} failed, ${skip} skipped in ${(r.ms / 1000).toFixed(1)} s`);
}
console.log('');
if (bad.length) console.log(`failing files: ${bad.join(', ')}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
