// Worker for test/table.test.ts (named positions-* as the positions domain's files). Modes:
// - 'count': after a start barrier, `iterations` times pick a key (seeded PRNG) and increment
//   its counter with table.update (lock-free read-modify-write). The value is the counter
//   repeated `width` times as Int32s, so a torn value shows up in 'read'.
// - 'read': until flag[1] is set, read random keys and check every value is whole.
import { parentPort, workerData } from 'node:worker_threads';
import { hashKeyFromSeed } from '../../src/internal/hash/hash.ts';
import { SharedHeap, type HeapHandle } from '../../src/internal/store/heap.ts';
import { SharedTable } from '../../src/internal/store/table.ts';
import type { TableHandle } from '../../src/internal/store/table-layout.ts';
import { prng } from '../helpers/seed.ts';

interface Data {
  mode: 'count' | 'read';
  heap: HeapHandle;
  table: TableHandle;
  seed: number;
  flag: SharedArrayBuffer;
  workers: number;
  keys: number;
  width: number;
  iterations?: number;
  id: number;
}

const d = workerData as Data;
const key = hashKeyFromSeed(d.seed);
const heap = new SharedHeap(d.heap, key, 'test heap');
const table = new SharedTable(d.table, heap, key, 'test table');
const flag = new Int32Array(d.flag);
const rnd = prng(d.seed + d.id);
const name = (k: number): [string, string] => [`hotkey-${k % 3}`, `key-${k}`];

function valueOf(n: number): Uint8Array {
  const v = new Int32Array(d.width).fill(n);
  return new Uint8Array(v.buffer);
}

Atomics.add(flag, 0, 1);
while (Atomics.load(flag, 0) < d.workers) Atomics.wait(flag, 0, Atomics.load(flag, 0), 1);

if (d.mode === 'count') {
  const mine = new Array<number>(d.keys).fill(0);
  for (let n = 0; n < d.iterations!; n++) {
    const k = Math.floor(rnd() * d.keys);
    const [a, b] = name(k);
    table.update(a, b, (old) => valueOf(old === undefined ? 1 : new Int32Array(old.buffer, old.byteOffset, 1)[0]! + 1));
    mine[k]!++;
  }
  parentPort!.postMessage({ mine });
} else {
  let reads = 0;
  let torn = 0;
  while (Atomics.load(flag, 1) === 0) {
    const [a, b] = name(Math.floor(rnd() * d.keys));
    const ok = table.read(a, b, (_u8, at, len) => {
      if (len !== 4 * d.width) return false;
      const first = heap.i32[at >> 2];
      for (let k = 1; k < d.width; k++) if (heap.i32[(at >> 2) + k] !== first) return false;
      return true;
    });
    reads++;
    if (ok === false) torn++;
  }
  parentPort!.postMessage({ reads, torn });
}
