/**
 * bench/order-path.ts, case "sabstate, one domain": one thread of the case on an engine created
 * with `lockStripes: 1`, so that every (hotkey, trade pair) maps to ONE lock word and every order
 * of every thread serialises on it (the split-nothing design: what the five domains and 4096
 * stripes buy). The order step is the sabstate one (order-path-common.ts sabOrder), unchanged.
 * Role 'order': bench/peers/thread-case.ts orderLoop; role 'consumer': pops the notice queue.
 */
import { workerData, parentPort } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';
import { prng } from '../../examples/validator/shared.ts';
import { queueDrainer, sabOrder, sabPath } from './order-path-common.ts';
import { consumerLoop, orderLoop } from '../peers/thread-case.ts';
import type { CaseData } from '../peers/thread-case.ts';

const d = workerData as CaseData & { handle: EngineHandle };
const engine = attachEngine(d.handle);

if (d.role === 'consumer') {
  parentPort!.postMessage(await consumerLoop(d, queueDrainer(engine)));
} else {
  const rnd = prng(d.seed);
  const path = sabPath(engine, d.setup.maxOrders, rnd);
  parentPort!.postMessage(await orderLoop(d, (p) => sabOrder(path, p), rnd));
}
