#!/usr/bin/env node
// Runs every test/**/*.test.ts in its own Node process (TypeScript through tsx), one after the
// other, each under a hard timeout (SABSTATE_TEST_FILE_TIMEOUT_MS, default 300000), so a deadlock
// fails that file instead of hanging CI. Prints each file's output, then one closing line
// "N passed, N failed, N skipped". Exit code 1 if any test or file failed. When a file dies
// (a non-zero exit with no failed test reported, a signal) or is killed at its timeout, the
// runner names the test that was running: each file's process preloads scripts/test-trace.mjs,
// which reports every test start on file descriptor 3.
// Usage: node scripts/run-tests.mjs [substring-filter | path/to/file.ts ...]
//   A filter selects the test/**/*.test.ts files whose path contains it; an argument naming an
//   existing .ts file runs that file (the runner's own test uses this).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const timeoutMs = Number(process.env.SABSTATE_TEST_FILE_TIMEOUT_MS ?? 300_000);
const args = process.argv.slice(2);
const explicit = args.filter((a) => a.endsWith('.ts') && existsSync(a)).map((a) => resolve(a));
const filters = args.filter((a) => !explicit.includes(resolve(a)));
const trace = new URL('./test-trace.mjs', import.meta.url).pathname;

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = explicit.length > 0 && filters.length === 0
  ? explicit
  : [...explicit, ...walk(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)))];

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', trace, file], {
      cwd: root,
      env: { ...process.env, NODE_DISABLE_COLORS: '1', FORCE_COLOR: '0', SABSTATE_TEST_TRACE_FD: '3' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
    // The last complete "<suite>\t<test>" line from test-trace.mjs: the test running now
    // ('' as the test: between tests, in a suite's after hooks, or no test started yet).
    let traced = '';
    let current;
    child.stdio[3].setEncoding('utf8');
    child.stdio[3].on('data', (d) => {
      traced += d;
      const lines = traced.split('\n');
      traced = lines.pop();
      const last = lines.at(-1);
      if (last !== undefined) {
        const [suite, test] = last.split('\t');
        current = { suite, test };
      }
    });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, timedOut, current, ms: Date.now() - started });
    });
  });
}

/** Where a file stopped, from its last trace line. */
function running(current) {
  if (current === undefined) return 'before any test started (while loading the file or its imports)';
  const suite = current.suite ? `suite "${current.suite}"` : 'the file\'s top-level tests';
  return current.test ? `while running test "${current.test}" of ${suite}` : `between tests of ${suite} (in a hook, or after its last test)`;
}

let passed = 0;
let failed = 0;
let skipped = 0;
const bad = [];
for (const file of files) {
  const rel = relative(root, file);
  console.log(`\n# ${rel}`);
  const r = await runFile(file);
  if (r.out.length > 0 && !r.out.endsWith('\n')) console.log('');
  // uvu prints a summary per file: "Total: N", "Passed: N", "Skipped: N".
  const num = (label) => { const m = r.out.match(new RegExp(`${label}:\\s+(\\d+)`)); return m ? Number(m[1]) : 0; };
  const total = num('Total');
  const ok = num('Passed');
  const skip = num('Skipped');
  passed += ok;
  skipped += skip;
  let fileFailed = total - ok; // uvu's Total already leaves skipped tests out
  if (r.timedOut) { console.log(`# ${rel}: HARD TIMEOUT after ${timeoutMs} ms (deadlock?) ${running(r.current)}`); fileFailed = Math.max(fileFailed, 1); }
  else if (r.code !== 0 && fileFailed === 0) { console.log(`# ${rel}: ${r.signal ? `killed by ${r.signal}` : `exited with code ${r.code}`} ${running(r.current)}`); fileFailed = 1; }
  else if (total === 0 && skip === 0) { console.log(`# ${rel}: ran no test`); fileFailed = 1; }
  failed += fileFailed;
  if (fileFailed > 0) bad.push(rel);
  console.log(`# ${rel}: ${ok} passed, ${fileFailed} failed, ${skip} skipped in ${(r.ms / 1000).toFixed(1)} s`);
}
console.log('');
if (bad.length) console.log(`failing files: ${bad.join(', ')}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
