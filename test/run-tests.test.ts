/**
 * The test runner (scripts/run-tests.mjs) names the test that was running when a file died or
 * was killed at its hard timeout (issue 14). Runs the runner on two fixture files
 * (test/fixtures/runner/): one whose second test calls process.exit(7), one whose second test
 * never settles. Each runner run has its own hard timeout (spawnSync), so a runner that hangs
 * fails this test instead of hanging CI.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('..', import.meta.url));
const runner = fileURLToPath(new URL('../scripts/run-tests.mjs', import.meta.url));

function runRunner(fixture: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [runner, `test/fixtures/runner/${fixture}`], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 180_000,
  });
  assert.is(r.error, undefined, `the runner itself did not finish: ${String(r.error)}`);
  return { status: r.status, out: r.stdout + r.stderr };
}

test('a file that exits mid-test: the runner names that test and fails the file', () => {
  const { status, out } = runRunner('dies.ts');
  assert.is(status, 1, out);
  assert.match(out, 'test/fixtures/runner/dies.ts: exited with code 7 while running test "dies half way" of suite "runner fixture"');
  assert.match(out, '0 passed, 1 failed, 0 skipped');
  assert.not.match(out, 'never reached');
});

test('a file killed at its hard timeout: the runner names the test that never settled', () => {
  // 20 s: loading tsx and uvu takes a few seconds on a loaded machine; the hang is forever.
  const { status, out } = runRunner('hangs.ts', { SABSTATE_TEST_FILE_TIMEOUT_MS: '20000' });
  assert.is(status, 1, out);
  assert.match(out, 'HARD TIMEOUT after 20000 ms (deadlock?) while running test "waits forever" of the file\'s top-level tests');
});

test.run();
