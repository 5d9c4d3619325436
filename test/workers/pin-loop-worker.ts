// Worker for test/recovery-findings.test.ts: pins and unpins a heap in a tight loop until it is
// terminated (finding 4: a thread killed between the steps of pin or unpin). Posts its threadId
// once it is looping.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { SharedHeap, type HeapHandle } from '../../src/internal/store/heap.ts';
import { hashKeyFromSeed } from '../../src/internal/hash/hash.ts';

const d = workerData as { heap: HeapHandle; seed: number };
const heap = new SharedHeap(d.heap, hashKeyFromSeed(d.seed), 'test heap');
parentPort!.postMessage({ threadId });
for (;;) {
  heap.pin();
  heap.unpin();
}
