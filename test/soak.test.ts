/**
 * The short soak (issue 11): bench/soak.ts for a few seconds on a small engine: the validator's
 * lifecycle from two worker threads, one killed at every kill tick and replaced; then the
 * invariant checker finds nothing, every miner's positions, orders and JSON bytes equal the
 * ledger, no write was refused for capacity, and the heap's carved / in use stays bounded.
 * The long run is `npm run soak -- --minutes N` (BENCHMARKS.md).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runSoak } from '../bench/soak.ts';
import { seed, stressScale } from './helpers/seed.ts';
import { within } from './helpers/workers.ts';

test('short soak: orders, syncs, departures, killed workers; verify sound, counts exact, never full', async () => {
  const seconds = Math.max(8, Math.round(12 * stressScale));
  const lines: string[] = [];
  const r = await within(
    runSoak({ seconds, workers: 2, miners: 12, maxMiB: 24, sampleMs: 2000, killEveryMs: 2500, killOdds: 1, seed, log: (l) => lines.push(l) }),
    seconds * 1000 + 120_000,
    'the short soak',
  );
  console.log(`  soak seed ${seed}: ${r.counts.ops} operations, ${r.kills} kills, ${r.counts.reconciled} recounted, ${r.positions} positions, ${r.orders} orders`);
  assert.equal(r.violations, [], 'engine.verify()');
  assert.equal(r.mismatches, [], 'every miner as the ledger says');
  assert.is(r.counts.capacity, 0, 'no ERR_CAPACITY');
  assert.ok(r.kills >= 2, `${r.kills} workers killed`);
  assert.ok(r.counts.orders > 100, `${r.counts.orders} orders`);
  const last = r.samples[r.samples.length - 1]!;
  assert.ok(last.fragmentation < 2, `carved / in use ${last.fragmentation}`);
});

test.run();
