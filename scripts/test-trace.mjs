// Preloaded into each test file's process by scripts/run-tests.mjs (`--import`): reports which
// uvu test is running, so that when a file dies (process.exit, a crash, an uncaught error on a
// timer) or is killed at its hard timeout, the runner can name the test that was running.
//
// How: uvu's runner sets `context.__suite__` (at suite creation) and `context.__test__` (before
// each test, '' after the last) on the suite's context object: documented uvu behaviour since
// 0.5.2, and its only per-test signal. Accessors of those two names on Object.prototype see
// those assignments: each setter keeps the value on the object itself (reads give it back as
// before) and writes one line `<suite>\t<test>\n` to the file descriptor named by
// SABSTATE_TEST_TRACE_FD, synchronously, so that the line is out before the test's first step
// (a SIGKILL right after still leaves it with the runner). Without that variable this file does
// nothing.
import { writeSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

const fd = Number(process.env.SABSTATE_TEST_TRACE_FD);
if (isMainThread && Number.isInteger(fd) && fd > 2) {
  const values = new WeakMap();
  const get = (name) => function () { return values.get(this)?.[name]; };
  const set = (name) => function (v) {
    let o = values.get(this);
    if (!o) values.set(this, (o = { __suite__: undefined, __test__: undefined }));
    o[name] = v;
    if (name === '__test__') {
      try {
        writeSync(fd, `${String(o.__suite__ ?? '').replace(/[\t\n]/g, ' ')}\t${String(v ?? '').replace(/[\t\n]/g, ' ')}\n`);
      } catch {
        // The runner closed its end: nothing to report to.
      }
    }
  };
  for (const name of ['__suite__', '__test__']) {
    Object.defineProperty(Object.prototype, name, { get: get(name), set: set(name), configurable: true, enumerable: false });
  }
}
