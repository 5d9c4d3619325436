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
  // Between the samples, carved / in use is polled (every 5 ms): each sample's peak covers its own value.
  const during = r.samples.slice(0, -1);
  assert.ok(during.every((s) => s.polls > 0 && s.peakFragmentation >= s.fragmentation && s.pollsAbove13 <= s.polls), 'polled between samples');
  assert.ok(r.summary.polls > 0 && r.summary.peakMax >= r.summary.max, `peak ${r.summary.peakMax}, sample max ${r.summary.max}`);
});

test('soak by operations: stops at the count asked, samples and kills by operation count; verify sound, counts exact', async () => {
  const ops = 8000;
  const workers = 2;
  const r = await within(
    runSoak({ ops, sampleOps: 1000, killEveryOps: 1500, killOdds: 1, workers, miners: 8, maxMiB: 16, seed, log: () => {} }),
    240_000,
    'the soak by operations',
  );
  console.log(`  soak by operations, seed ${seed}: ${r.counts.ops} operations, ${r.kills} kills, ${r.samples.length} samples, ${r.seconds.toFixed(1)} s`);
  // The worker that completes the ops-th operation stops all; the others finish the one they are in.
  assert.ok(r.counts.ops >= ops && r.counts.ops <= ops + workers - 1, `${r.counts.ops} operations for ${ops}`);
  const during = r.samples.slice(0, -1);
  assert.ok(during.length >= 2, `${during.length} samples`);
  // Each sample is taken once its threshold (a multiple of 1000) is reached, in order, never two at one.
  during.forEach((s, i) => {
    assert.ok(s.ops >= 1000 * (i + 1), `sample ${i} at ${s.ops} operations`);
    if (i > 0) assert.ok(Math.floor(s.ops / 1000) > Math.floor(during[i - 1]!.ops / 1000), `samples ${i - 1} and ${i} in one step`);
  });
  assert.ok(r.kills >= 1, `${r.kills} workers killed`);
  assert.equal(r.violations, [], 'engine.verify()');
  assert.equal(r.mismatches, [], 'every miner as the ledger says');
  assert.is(r.counts.capacity, 0, 'no ERR_CAPACITY');
  assert.match(r.summary.warmup, /^800 operations$/);
});

test.run();
