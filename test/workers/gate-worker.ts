// Worker for the sync-gate recovery test: enters a guarded write and never leaves it (flag[0] = 1
// once inside), to be terminated there.
import { workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';

const d = workerData as { handle: EngineHandle; flag: SharedArrayBuffer };
const engine = attachEngine(d.handle);
const flag = new Int32Array(d.flag);
const gate = engine.general.syncGate;
gate.guard(gate.current().epoch, () => {
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  for (;;) Atomics.wait(flag, 1, 0, 1000);
});
