// Worker for test/sync-structures.test.ts: drives one synchronisation structure directly.
// - 'mutex': `rounds` times lockSlow / a non-atomic read-modify-write of data[0] / unlock.
// - 'gate': `rounds` writes through WriteGate.run, each a plain write of its own pair's first word
//   then its second (data[kPairs + 2 * index], + 1): equal whenever this writer has no write in
//   flight. (One pair per writer: writers do not exclude each other, only freezes.)
// - 'counter': `rounds` Counter.add(k) with k = 1..3.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { lockSlow, unlock } from '../../src/internal/sync/mutex.ts';
import { tagOf } from '../../src/internal/sync/thread-tag.ts';
import { WriteGate } from '../../src/internal/sync/write-gate.ts';
import { Counters } from '../../src/internal/store/counters.ts';

export interface SyncWorkerData {
  mode: 'mutex' | 'gate' | 'counter';
  rounds: number;
  /** Int32 words: [0] the mutex-protected value, [8..] the mutex / gate, [kPairs..] the gate-protected pairs. */
  sab: SharedArrayBuffer;
  /** This writer's pair (gate mode). */
  index?: number;
  counters?: { sab: SharedArrayBuffer; key: { k0: number; k1: number } };
}

export const kMutexWord = 8;
export const kGateBase = 16;
export const kGateSlotsAt = 32;
export const kPairs = 100;

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'mode' in (workerData as object)) {
  const d = workerData as SyncWorkerData;
  const i32 = new Int32Array(d.sab);
  let added = 0;
  if (d.mode === 'mutex') {
    const tag = tagOf(threadId);
    for (let r = 0; r < d.rounds; r++) {
      if (!lockSlow(i32, kMutexWord, tag, 60_000)) throw new Error('lock timed out');
      const v = i32[0]!; // plain read and write: only the mutex keeps them whole
      if (r % 64 === 0) Atomics.wait(i32, 7, 0, 0); // a point where the holder may be descheduled
      i32[0] = v + 1;
      unlock(i32, kMutexWord);
    }
  } else if (d.mode === 'gate') {
    const gate = new WriteGate(i32, kGateBase, kGateSlotsAt, 1, 'sync-worker');
    const p = kPairs + 2 * (d.index ?? 0);
    for (let r = 1; r <= d.rounds; r++) {
      gate.run(() => {
        i32[p] = r;
        for (let k = 0; k < 20; k++) Atomics.load(i32, 7); // widen the window between the two writes
        i32[p + 1] = r;
      });
    }
  } else {
    const c = new Counters(d.counters!.sab, d.counters!.key, ['hits']).get('hits')!;
    for (let r = 0; r < d.rounds; r++) {
      const k = (r % 3) + 1;
      c.add(k);
      added += k;
    }
  }
  parentPort!.postMessage({ done: true, added });
}
