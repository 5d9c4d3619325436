/**
 * Every crash point, the whole engine: for each point declared by the library (src/internal/
 * crash.ts), a worker runs the workload of test/workers/crash-engine-worker.ts, is stopped at the
 * point's second pass and terminated there; engine.watch recovers it; then the engine must be
 * sound: verify() finds nothing, no stripe is held, getOpen agrees with listForHotkey, the queue
 * takes a full lap, a sync can begin. At the end everything is deleted and every heap's in-use
 * bytes are back to zero. Points that a single worker's workload cannot reach (steps taken only
 * under contention) are visited by the suites named in ELSEWHERE; the test proves every point is
 * visited here or there.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine } from '../src/index.ts';
import { crashPoints } from '../src/internal/crash.ts';
import { SMALL_ENGINE } from './helpers/temp.ts';
import { killAtCrashPoint } from './helpers/crash.ts';
import { bundledWorker } from './helpers/workers.ts';
import { TP } from './workers/crash-engine-worker.ts';
import { assertDeletesToZero, assertEngineSound } from './helpers/engine-checks.ts';

const WORKER = new URL('./workers/crash-engine-worker.ts', import.meta.url);
const QUEUE_CAPACITY = 8;

/** Points reached only under contention or by another structure's own suite: name prefix -> suite. */
const ELSEWHERE: Array<[string, string]> = [
  ['mutex.', 'test/locks-crash.test.ts'], // the waiters' and the recovering thread's steps: contention
  ['locks.recover.', 'test/locks-crash.test.ts'],
  ['gate.begin.marked', 'test/sync-gate.test.ts'], // begin() sleeping on a busy guard slot
  ['eliminations.replaceAll.leftover', 'test/eliminations-crash-points.test.ts'], // after a dead writer's half set
  ['eliminations.replaceAll.undone', 'test/eliminations-crash-points.test.ts'], // a refused replaceAll
  ['ring.push.wrap', 'test/ring-crash.test.ts'], // a push or pop moving a position across 2^32
  ['ring.pop.wrap', 'test/ring-crash.test.ts'],
  ['ring.push.signalled', 'test/ring-crash.test.ts'], // a push waking an announced consumer
  ['threads.register.claimed', 'test/recovery-starved.test.ts'], // once per thread, inside attachEngine
  ['heap.split.', 'test/heap-crash.test.ts'], // splits, merges and exact fits: a heap that is full or fragmented
  ['heap.merge.', 'test/heap-crash.test.ts'],
  ['heap.fit.', 'test/heap-crash.test.ts'],
  ['heap.top.', 'test/heap-crash.test.ts'], // a free or merge giving the top back
  ['heap.withhold.', 'test/heap-crash.test.ts'], // a top compaction's window with free blocks above it
];

test('every crash point: killed there, recovered, the engine is sound; then everything deleted, heaps back to zero', async () => {
  const engine = createEngine({
    ...SMALL_ENGINE,
    general: { queues: { notices: { capacity: QUEUE_CAPACITY, maxMessageBytes: 256 } }, maps: ['accountSizes'] },
  });
  const points = [...crashPoints().keys()].sort();
  assert.ok(points.length >= 20, `only ${points.length} crash points declared`);
  const reached: string[] = [];
  const notReached: string[] = [];
  let run = 0;
  for (const name of points) {
    const w = bundledWorker(WORKER, { workerData: { handle: engine.handle(), crashAt: { name, skip: 1 }, rounds: 60, run: run++ } });
    engine.watch(w);
    const hit = await killAtCrashPoint(w, 60_000);
    (hit ? reached : notReached).push(name);
    if (process.env.SABSTATE_DEBUG) console.log(`  ${name}: ${hit ? 'killed there' : 'not reached'}`);
    await engine.whenRecovered();
    if (process.env.SABSTATE_DEBUG) console.log(`  ${name}: recovered`, engine.stats().watch);
    assertEngineSound(engine, { tradePair: TP, queue: 'notices', capacity: QUEUE_CAPACITY, after: `after a kill at ${name}` });
  }
  console.log(`  crash points: ${points.length} declared, ${reached.length} reached by the workload here`);
  const unvisited = notReached.filter((p) => !ELSEWHERE.some(([prefix]) => p.startsWith(prefix)));
  assert.equal(unvisited, [], 'every crash point is visited here or by a suite named in ELSEWHERE');

  assertDeletesToZero(engine, ['accountSizes']);
});

test.run();
