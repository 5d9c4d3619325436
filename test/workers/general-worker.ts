// Worker for test/general.test.ts. Roles:
// - 'adder': after a start barrier, `count` times counter('hits').add() (returns the values it
//   got) and counter('twos').add(2).
// - 'syncer': `syncs` times: spin, begin(), note the epoch in kBeginReturned, check that no
//   guarded write lands while the sync is in progress (kLogLen unchanged up to end()), end().
// - 'writer': until the syncer is done: read current(), pick ifEpoch (sometimes stale), spin,
//   then guard(ifEpoch, write): the write spins, appends ifEpoch to the log, and checks that no
//   begin() for a newer epoch returned while it ran.
// - 'holder': inside guard(), signals flag[0], holds `ms` milliseconds, then sets flag[1].
import { parentPort, workerData } from 'node:worker_threads';
import { GeneralDomain } from '../../src/domains/general.ts';
import type { GeneralHandle } from '../../src/domains/general.ts';
import { SabStateError } from '../../src/errors.ts';
import type { HashKey } from '../../src/internal/hash/hash.ts';
import { prng } from '../helpers/seed.ts';
import { LOG_ENTRIES, kBeginReturned, kDone, kEntries, kLogLen, kReady, kViolations } from './general-log.ts';

interface Data {
  role: 'adder' | 'syncer' | 'writer' | 'holder';
  handle: GeneralHandle;
  key: HashKey;
  log: SharedArrayBuffer;
  workers: number;
  seed: number;
  count?: number;
  syncs?: number;
  spinOut?: number;
  spinIn?: number;
  staleRate?: number;
  ms?: number;
}

const d = workerData as Data;
const general = new GeneralDomain(d.handle, d.key);
const gate = general.syncGate;
const log = new Int32Array(d.log);
const rnd = prng(d.seed);
let sink = 0;
const spin = (n: number): void => {
  for (let k = 0; k < n; k++) sink = (sink + Math.imul(k, 31)) | 0;
};

if (d.role !== 'holder') {
  Atomics.add(log, kReady, 1);
  while (Atomics.load(log, kReady) < d.workers) Atomics.wait(log, kReady, Atomics.load(log, kReady), 1);
}

if (d.role === 'adder') {
  const hits = general.counter('hits');
  const twos = general.counter('twos');
  const got = new Float64Array(d.count!);
  for (let i = 0; i < d.count!; i++) {
    got[i] = hits.add();
    twos.add(2);
  }
  parentPort!.postMessage({ got });
} else if (d.role === 'syncer') {
  let violations = 0;
  for (let s = 0; s < d.syncs!; s++) {
    spin(Math.floor(rnd() * d.spinOut!));
    const epoch = gate.begin({ timeoutMs: 20_000 });
    Atomics.store(log, kBeginReturned, epoch);
    const before = Atomics.load(log, kLogLen);
    spin(Math.floor(rnd() * d.spinOut!));
    if (Atomics.load(log, kLogLen) !== before) violations++;
    if (!gate.current().inProgress) violations++;
    gate.end();
  }
  Atomics.store(log, kDone, 1);
  parentPort!.postMessage({ violations });
} else if (d.role === 'writer') {
  let landed = 0;
  let refused = 0;
  while (Atomics.load(log, kDone) === 0) {
    const cur = gate.current();
    const ifEpoch = rnd() < d.staleRate! && cur.epoch > 0 ? cur.epoch - 1 : cur.epoch;
    spin(Math.floor(rnd() * d.spinOut!));
    try {
      gate.guard(ifEpoch, () => {
        spin(Math.floor(rnd() * d.spinIn!));
        const i = Atomics.add(log, kLogLen, 1);
        if (i < LOG_ENTRIES) log[kEntries + i] = ifEpoch;
        // No begin() of a newer epoch may have returned while this write runs.
        if (Atomics.load(log, kBeginReturned) > ifEpoch) Atomics.add(log, kViolations, 1);
      });
      landed++;
    } catch (e) {
      if (!(e instanceof SabStateError) || e.code !== 'ERR_STALE_EPOCH') throw e;
      refused++;
    }
  }
  parentPort!.postMessage({ landed, refused });
} else {
  const flag = new Int32Array(d.log);
  gate.guard(gate.current().epoch, () => {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const until = performance.now() + d.ms!;
    while (performance.now() < until) spin(1000);
    Atomics.store(flag, 1, 1);
  });
  parentPort!.postMessage({ sink });
}
