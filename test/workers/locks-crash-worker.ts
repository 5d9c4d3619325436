// Worker for test/locks-crash.test.ts: one role in a lock protocol, optionally stopped (for good)
// at a named crash point so the test can terminate it there. Every role reports through its own
// control words `ctl` (Int32Array), never through the event loop of the main thread, because the
// main thread may be blocked (in a recovery hook) while it waits for the answer.
//
// ctl[0]: progress. 'hold' sets 1 once it holds the key; 'wait' adds 1 each time it is about to
//         sleep on the lock word (crash point mutex.lock.marked); 'server' sets 1 once attached.
// ctl[1]: command from the test. 'hold' releases when it becomes non-zero; 'server' runs one
//         acquire + release per increment.
// ctl[2]: 'wait' sets 1 once it holds the key. 'server''s answer to each command: 1 = after its
//         guard's release() the stripe was still held by this thread, 2 = it was free, 3 = acquire
//         failed.
//
// Modes:
// - 'hold': withLock(key) (nested `depth` extra times: re-entrant), signal, wait for ctl[1], leave.
// - 'wait': withLock(key) with no timeout (or withLockAsync if `async`); posts { got: true } once
//   it held the key, or { error } if it threw.
// - 'recover': locks.releaseAllOwnedBy(dead), posts the count.
// - 'server': see ctl above; acquire with a 10 s timeout.
// Any mode: `crashAt` stops the thread at that crash point (posting { atCrashPoint }, the protocol
// of test/helpers/crash.ts's killAtCrashPoint).
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';
import { setCrashHook } from '../../src/internal/crash.ts';
import type { CrashAt } from '../helpers/crash.ts';

interface Data {
  mode: 'hold' | 'wait' | 'recover' | 'server';
  handle: EngineHandle;
  ctl: SharedArrayBuffer;
  key: [string, string];
  depth?: number;
  async?: boolean;
  dead?: number;
  crashAt?: CrashAt;
}

const d = workerData as Data;
const ctl = new Int32Array(d.ctl);
const engine = attachEngine(d.handle);
const [hk, tp] = d.key;

let skip = d.crashAt?.skip ?? 0;
const forever = new Int32Array(new SharedArrayBuffer(4));
setCrashHook((name) => {
  if (name === 'mutex.lock.marked' && d.mode === 'wait') {
    Atomics.add(ctl, 0, 1);
    Atomics.notify(ctl, 0);
  }
  if (d.crashAt === undefined || name !== d.crashAt.name || skip-- > 0) return;
  setCrashHook(null);
  parentPort!.postMessage({ atCrashPoint: name });
  for (;;) Atomics.wait(forever, 0, 0);
});

function nest(depth: number, fn: () => void): void {
  engine.locks.withLock(hk, tp, depth === 0 ? fn : () => nest(depth - 1, fn));
}

if (d.mode === 'hold') {
  nest(d.depth ?? 0, () => {
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    while (Atomics.load(ctl, 1) === 0) Atomics.wait(ctl, 1, 0, 1000);
  });
  parentPort!.postMessage('released');
} else if (d.mode === 'wait') {
  const got = (): void => {
    Atomics.store(ctl, 2, 1);
    Atomics.notify(ctl, 2);
    parentPort!.postMessage({ got: engine.locks.isHeldByCurrentThread(hk, tp) });
  };
  try {
    if (d.async) await engine.locks.withLockAsync(hk, tp, got);
    else engine.locks.withLock(hk, tp, got);
  } catch (e) {
    parentPort!.postMessage({ error: String(e) });
  }
} else if (d.mode === 'recover') {
  parentPort!.postMessage({ released: engine.locks.releaseAllOwnedBy(d.dead!) });
} else if (d.mode === 'server') {
  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
  for (let done = 0; ; ) {
    const cmd = Atomics.load(ctl, 1);
    if (cmd === done) {
      Atomics.wait(ctl, 1, cmd, 1000);
      continue;
    }
    done = cmd;
    let answer = 3;
    try {
      const g = engine.locks.acquire(hk, tp, { timeoutMs: 10_000 });
      g.release();
      answer = engine.locks.isHeldByCurrentThread(hk, tp) ? 1 : 2;
    } catch {
      answer = 3;
    }
    Atomics.store(ctl, 2, answer);
    Atomics.notify(ctl, 2);
  }
}
