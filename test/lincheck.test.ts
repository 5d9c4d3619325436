// The linearizability check of the queue (issue 9, finding 11): histories of concurrent push / pop /
// size recorded from 4 worker threads on a capacity-4 queue, checked by test/helpers/lincheck.ts
// against a sequential bounded FIFO. The check must pass on the ring even with peers stalled at
// every step, and must fail on deliberately broken variants (a pop that answers empty spuriously;
// the previous Vyukov ring with a stalled peer), which shows that it can fail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { createRingRegion } from '../src/internal/store/ring-layout.ts';
import { checkLinearizable, queueModel } from './helpers/lincheck.ts';
import type { Operation, QueueInput, QueueOutput } from './helpers/lincheck.ts';
import { fcParams, seed, stressScale } from './helpers/seed.ts';
import { runWorkers } from './helpers/workers.ts';
import type { LincheckJob, LincheckRecord } from './workers/ring-lincheck-worker.ts';
import { createVyukov } from './workers/ring-vyukov.ts';

type Op = Operation<QueueInput, QueueOutput>;
const WORKER = new URL('./workers/ring-lincheck-worker.ts', import.meta.url);
const key = hashKeyFromSeed(0x11_5eedn);
const CAPACITY = 4;
const WORKERS = 4;
const model = queueModel(CAPACITY);
fcParams(); // prints the seed that the worker PRNGs derive from

const op = (client: number, input: QueueInput, output: QueueOutput, call: number, ret: number): Op => ({ client, input, output, call, ret });
const push = (v: number, ok: boolean, call: number, ret: number, client = 0): Op => op(client, { op: 'push', value: v }, ok, call, ret);
const pop = (v: number | null, call: number, ret: number, client = 1): Op => op(client, { op: 'pop' }, v, call, ret);
const size = (n: number, call: number, ret: number, client = 2): Op => op(client, { op: 'size' }, n, call, ret);
const isOk = (h: Op[], cap = CAPACITY): boolean => checkLinearizable(queueModel(cap), h).ok;

test('lincheck: hand-made histories, linearizable or not', () => {
  // Sequential.
  assert.ok(isOk([push(1, true, 0, 1), push(2, true, 2, 3), pop(1, 4, 5), size(1, 6, 7), pop(2, 8, 9), pop(null, 10, 11)]));
  // A pop that overlaps the push of the value it returns.
  assert.ok(isOk([pop(7, 0, 3), push(7, true, 1, 2)]));
  // Overlapping pushes may land in either order.
  assert.ok(isOk([push(1, true, 0, 5), push(2, true, 1, 4, 3), pop(2, 6, 7), pop(1, 8, 9)]));
  // Empty while a push is in flight is fine; empty after it returned is not.
  assert.ok(isOk([push(1, true, 0, 3), pop(null, 1, 2)]));
  assert.not.ok(isOk([push(1, true, 0, 1), pop(null, 2, 3)]));
  // Full only when full (capacity 2).
  assert.ok(isOk([push(1, true, 0, 1), push(2, true, 2, 3), push(3, false, 4, 5)], 2));
  assert.not.ok(isOk([push(1, true, 0, 1), pop(1, 2, 3), push(2, true, 4, 5), push(3, false, 6, 7)], 2));
  // Full while the pop that frees a slot is in flight is fine.
  assert.ok(isOk([push(1, true, 0, 1), push(2, true, 2, 3), pop(1, 4, 9), push(3, false, 5, 6)], 2));
  // FIFO, and a value popped twice or never pushed.
  assert.not.ok(isOk([push(1, true, 0, 1), push(2, true, 2, 3), pop(2, 4, 5)]));
  assert.not.ok(isOk([push(1, true, 0, 1), pop(1, 2, 3), pop(1, 4, 5)]));
  assert.not.ok(isOk([pop(5, 0, 1)]));
  // size must be a count the queue had at some instant within the call.
  assert.ok(isOk([push(1, true, 0, 3), size(0, 1, 2), size(1, 4, 5)]));
  assert.not.ok(isOk([push(1, true, 0, 1), push(2, true, 2, 3), size(3, 4, 5)]));
  const r = checkLinearizable(model, [push(1, true, 0, 1), pop(null, 2, 3)]);
  assert.match(r.explanation ?? '', /cannot linearize.*pop\(\) -> empty/);
});

test('lincheck: property: sequential runs with widened intervals pass; a changed output fails', () => {
  const cmd = fc.oneof(fc.constant<'push' | 'pop' | 'size'>('push'), fc.constant<'push' | 'pop' | 'size'>('pop'), fc.constant<'push' | 'pop' | 'size'>('size'));
  fc.assert(
    fc.property(fc.array(fc.tuple(cmd, fc.nat(3), fc.nat(3)), { minLength: 1, maxLength: 60 }), fc.nat(), (cmds, pick) => {
      // Run the model sequentially: op i occupies [4i, 4i + 1]; then widen each interval by up to 3
      // slots each way (the sequential order stays a valid linearization).
      const q: number[] = [];
      const seq: Op[] = [];
      const wide: Op[] = [];
      cmds.forEach(([c, before, after], i) => {
        let input: QueueInput;
        let output: QueueOutput;
        if (c === 'push') {
          input = { op: 'push', value: i };
          output = q.length < CAPACITY;
          if (output) q.push(i);
        } else if (c === 'pop') {
          input = { op: 'pop' };
          output = q.shift() ?? null;
        } else {
          input = { op: 'size' };
          output = q.length;
        }
        seq.push(op(i % 4, input, output, 4 * i, 4 * i + 1));
        wide.push(op(i % 4, input, output, 4 * i - before, 4 * i + 1 + after + 0.5));
      });
      assert.ok(checkLinearizable(model, seq).ok, 'sequential');
      assert.ok(checkLinearizable(model, wide).ok, 'widened');
      // Change one output in the sequential history: always illegal there.
      const k = pick % seq.length;
      const o = seq[k]!;
      const bad: QueueOutput =
        o.input.op === 'push' ? !o.output : o.input.op === 'size' ? (o.output as number) + 1 : o.output === null ? 999 : null;
      const mutated = seq.map((x, j) => (j === k ? { ...x, output: bad } : x));
      assert.not.ok(checkLinearizable(model, mutated).ok, 'mutated');
    }),
    fcParams(300),
  );
});

interface Recorded {
  history: Op[];
  full: number;
  empty: number;
  sizes: number;
}

async function record(variant: LincheckJob['variant'], stall: number, ops: number, round: number): Promise<Recorded> {
  const sab = variant === 'vyukov' ? createVyukov(CAPACITY) : createRingRegion(key, CAPACITY, 64);
  const clock = new SharedArrayBuffer(8);
  const datas: LincheckJob[] = Array.from({ length: WORKERS }, (_, client) => ({
    variant, sab, key, capacity: CAPACITY, maxMessageBytes: 64, clock, workers: WORKERS, client, ops,
    seed: (seed + round * 1009 + client * 7919) | 0, stall,
  }));
  const recs = await runWorkers<LincheckRecord>(WORKER, datas, 120_000);
  const history: Op[] = [];
  let full = 0;
  let empty = 0;
  let sizes = 0;
  recs.forEach((r, client) => {
    r.kind.forEach((kind, i) => {
      const [call, ret, out] = [r.call[i]!, r.ret[i]!, r.out[i]!];
      if (kind === 0) {
        history.push(push(r.arg[i]!, out === 1, call, ret, client));
        if (out === 0) full++;
      } else if (kind === 1) {
        history.push(pop(out < 0 ? null : out, call, ret, client));
        if (out < 0) empty++;
      } else {
        history.push(size(out, call, ret, client));
        sizes++;
      }
    });
  });
  return { history, full, empty, sizes };
}

const OPS = Math.round(250 * stressScale);

async function expectLinearizable(variant: 'ring', stall: number, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const { history, full, empty } = await record(variant, stall, OPS, round);
    const r = checkLinearizable(model, history);
    console.log(`  ${variant}, stall ${stall}: ${history.length} operations (${full} full, ${empty} empty answers): ${r.ok ? 'linearizable' : 'NOT linearizable'} in ${r.steps} steps`);
    assert.ok(r.ok, `round ${round} (seed ${seed}): ${r.unknown ? 'search gave up' : r.explanation}`);
  }
}

/** A broken variant: at least one of `rounds` histories must fail the check. */
async function expectCaught(variant: 'spuriousEmpty' | 'vyukov', stall: number, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const { history, full, empty } = await record(variant, stall, OPS, round);
    const r = checkLinearizable(model, history);
    console.log(`  ${variant}, stall ${stall}: ${history.length} operations (${full} full, ${empty} empty answers): ${r.ok ? 'linearizable' : 'NOT linearizable (as it should be)'}`);
    if (!r.ok && !r.unknown) {
      console.log(r.explanation!.split('\n').map((l) => `    ${l}`).join('\n'));
      return;
    }
  }
  assert.unreachable(`the checker never caught the broken ${variant} queue in ${rounds} histories (seed ${seed})`);
}

test('linearizable: the ring, 4 workers on a capacity-4 queue, peers stalled at every crash point', async () => {
  await expectLinearizable('ring', 0.05, 4);
});

test('linearizable: the ring, 4 workers on a capacity-4 queue, no injected stalls', async () => {
  await expectLinearizable('ring', 0, 2);
});

test('lincheck catches a broken queue: pop answers empty spuriously', async () => {
  await expectCaught('spuriousEmpty', 0, 5);
});

test('lincheck catches a broken queue: the previous Vyukov ring with a peer stalled mid-operation', async () => {
  await expectCaught('vyukov', 0.2, 5);
});

test.run();
