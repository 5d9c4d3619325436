// Worker for test/sync-gate.test.ts. Attaches to the general domain's regions, installs
// stopAtCrashPoint(crashAt) (test/helpers/crash.ts), then plays one role:
// - 'guard': guard(epoch + delta, write) where epoch is the gate's current one and the write
//   adds 1 to ctl[kWrites] (delta 0: admitted; 1: refused). Posts { done } if it returns.
// - 'holder': guard(epoch, write) whose write sets ctl[kHeld] and waits until ctl[kRelease] is
//   set, then adds to ctl[kWrites]. Posts { done } once the guard returned.
// - 'begin': begin({ timeoutMs: 60 s }), end(). Posts { done }.
// - 'storm': until terminated: guarded writes (some stale) and, now and then, begin() / end(),
//   counting in ctl[kOps]; a seeded mix.
import { parentPort, workerData } from 'node:worker_threads';
import { GeneralDomain } from '../../src/domains/general.ts';
import type { GeneralHandle } from '../../src/domains/general.ts';
import { SabStateError } from '../../src/errors.ts';
import type { HashKey } from '../../src/internal/hash/hash.ts';
import { type CrashAt, stopAtCrashPoint } from '../helpers/crash.ts';
import { prng } from '../helpers/seed.ts';
import { kHeld, kOps, kRelease, kWrites } from './sync-gate-shared.ts';

interface Data {
  role: 'guard' | 'holder' | 'begin' | 'storm';
  handle: GeneralHandle;
  key: HashKey;
  ctl: SharedArrayBuffer;
  crashAt?: CrashAt;
  delta?: number;
  seed?: number;
}

const d = workerData as Data;
const gate = new GeneralDomain(d.handle, d.key).syncGate;
const ctl = new Int32Array(d.ctl);
stopAtCrashPoint(d.crashAt);

if (d.role === 'guard') {
  try {
    gate.guard(gate.current().epoch + (d.delta ?? 0), () => Atomics.add(ctl, kWrites, 1));
  } catch (e) {
    if (!(e instanceof SabStateError) || e.code !== 'ERR_STALE_EPOCH') throw e;
  }
  parentPort!.postMessage({ done: true });
} else if (d.role === 'holder') {
  gate.guard(gate.current().epoch, () => {
    Atomics.store(ctl, kHeld, 1);
    Atomics.notify(ctl, kHeld);
    while (Atomics.load(ctl, kRelease) === 0) Atomics.wait(ctl, kRelease, 0, 100);
    Atomics.add(ctl, kWrites, 1);
  });
  parentPort!.postMessage({ done: true });
} else if (d.role === 'begin') {
  gate.begin({ timeoutMs: 60_000 });
  gate.end();
  parentPort!.postMessage({ done: true });
} else if (d.role === 'storm') {
  const rnd = prng(d.seed ?? 1);
  for (;;) {
    const x = rnd();
    if (x < 0.04) {
      try {
        gate.begin({ timeoutMs: 100 });
      } catch (e) {
        if (!(e instanceof SabStateError) || e.code !== 'ERR_LOCK_TIMEOUT') throw e;
      }
      gate.end();
    } else {
      const epoch = gate.current().epoch + (x < 0.2 ? 1 : 0);
      try {
        gate.guard(epoch, () => {
          let s = 0;
          for (let k = 0; k < 200; k++) s = (s + Math.imul(k, 31)) | 0;
          return s;
        });
      } catch (e) {
        if (!(e instanceof SabStateError) || e.code !== 'ERR_STALE_EPOCH') throw e;
      }
    }
    Atomics.add(ctl, kOps, 1);
  }
}
