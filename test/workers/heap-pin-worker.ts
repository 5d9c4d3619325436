// Worker for test/positions-compact.test.ts 'pinned': a reader that stays pinned. It pins the
// heap (as a lock-free reader does around its copy), posts 'pinned', stays pinned `holdMs` (a
// reader descheduled mid-copy on a loaded machine), unpins, posts 'unpinned'.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedHeap, type HeapHandle } from '../../src/internal/store/heap.ts';
import { hashKeyFromSeed } from '../../src/internal/hash/hash.ts';

const d = workerData as { heap: HeapHandle; seed: number; holdMs: number };
const heap = new SharedHeap(d.heap, hashKeyFromSeed(BigInt(d.seed)), 'positions heap');
heap.pin();
parentPort!.postMessage({ pinned: true });
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, d.holdMs);
heap.unpin();
parentPort!.postMessage({ unpinned: true });
