/** test/bench-peers.test.ts: a worker whose file reports once and ends (nothing keeps it alive). */
import { parentPort } from 'node:worker_threads';

parentPort!.postMessage('reported');
