// Seeded corruption of every snapshot file, the manifest included (issue 10): each damaged copy
// must be refused whole with ERR_SNAPSHOT_CORRUPT; a load that returns an engine is a silent
// wrong load unless its state is exactly the original's. Also: targeted edits of the manifest
// that used to load silently (an option key, a counter or map name, single digits of sizes), and
// a format-1 snapshot (JSON parts, seed in the manifest) still restores, with a fresh seed.
// SABSTATE_CORRUPT_RUNS sets the damaged copies per file (default 30).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, SabStateError } from '../src/index.ts';
import type { Engine, Position } from '../src/index.ts';
import { engineSeedOf } from '../src/engine.ts';
import { prng, seed } from './helpers/seed.ts';
import { realDeparted, realPositionTexts } from '../support/data.ts';
import { SMALL_ENGINE, tempDirs } from './helpers/temp.ts';

const RUNS = Number(process.env.SABSTATE_CORRUPT_RUNS ?? 30) || 30;
const tempDir = tempDirs('sabstate-corrupt-', test);
const OPTIONS = { ...SMALL_ENGINE, general: { queues: { orders: { capacity: 16, maxMessageBytes: 512 } }, counters: ['orders'], maps: ['accountSizes'] } };
const counts = { corruptions: 0, refused: 0, identicalLoads: 0, silentWrongLoads: 0, otherErrors: 0 };

function populated(): Engine {
  const e = createEngine(OPTIONS);
  for (const t of realPositionTexts().slice(0, 12)) {
    const p = JSON.parse(t) as Position & { trade_pair: unknown };
    const tp = typeof p.trade_pair === 'string' ? p.trade_pair : (p.trade_pair as string[])[0]!;
    e.locks.withLock(p.miner_hotkey, tp, () => e.positions.save(p));
  }
  for (const [hk, v] of Object.entries(realDeparted()).slice(0, 40)) e.departed.mark(hk, v.detected_ms);
  e.eliminations.add({ hotkey: 'elim-1', reason: 'ZOMBIE', dd: -0 });
  e.general.counter('orders').add(1234);
  e.general.map('accountSizes').set('hk-1', { size: 25_000, minus: -0 });
  e.general.queue('orders').push({ order: 1 });
  e.general.syncGate.begin();
  e.general.syncGate.end();
  return e;
}

function dump(e: Engine): string {
  const byKey = <T>(a: Array<[string, T]>) => a.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return JSON.stringify(
    {
      options: e.options,
      positions: e.positions.hotkeys().sort().map((hk) => e.positions.listForHotkey(hk)),
      eliminations: e.eliminations.list(),
      departed: byKey(e.departed.entries()),
      counters: e.general.counterNames().map((n) => [n, e.general.counter(n).get()]),
      maps: e.general.mapNames().map((n) => [n, byKey(e.general.map(n).entries())]),
      queues: e.general.queueNames().map((n) => [n, e.general.queue(n).size]),
      epoch: e.general.syncGate.current(),
    },
    (_k, v: unknown) => (Object.is(v, -0) ? '-0' : v),
  );
}

let pristine: { files: Map<string, Buffer>; dump: string } | undefined;
function original(): { files: Map<string, Buffer>; dump: string } {
  if (pristine === undefined) {
    const dir = tempDir();
    const e = populated();
    e.snapshot(dir);
    pristine = { files: new Map(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n))])), dump: dump(createEngine({ restoreFrom: dir })) };
  }
  return pristine;
}

/** A copy of the snapshot with `name` replaced by `bytes`; restores it and classifies the outcome. */
function tryDamaged(name: string, bytes: Buffer, what: string): void {
  const o = original();
  const dir = tempDir();
  for (const [n, b] of o.files) writeFileSync(join(dir, n), n === name ? bytes : b);
  counts.corruptions++;
  let e: Engine | undefined;
  try {
    e = createEngine({ restoreFrom: dir });
  } catch (err) {
    if (err instanceof SabStateError && err.code === 'ERR_SNAPSHOT_CORRUPT') {
      counts.refused++;
      return;
    }
    counts.otherErrors++;
    assert.unreachable(`${what}: not ERR_SNAPSHOT_CORRUPT: ${String(err)}`);
  }
  if (dump(e!) === o.dump) counts.identicalLoads++;
  else {
    counts.silentWrongLoads++;
    assert.unreachable(`${what}: loaded a different state`);
  }
}

test('seeded corruption of every snapshot file: one-byte changes, truncations, appended bytes', () => {
  console.log(`corruption seed: ${seed} (replay with SABSTATE_SEED=${seed})`);
  const rnd = prng(seed);
  const o = original();
  assert.equal([...o.files.keys()].sort(), ['departed.1.bin', 'eliminations.1.bin', 'general.1.bin', 'manifest.json', 'positions.1.bin']);
  for (const [name, b] of o.files) {
    for (let r = 0; r < RUNS; r++) {
      const kind = r % 5;
      const copy = Buffer.from(b);
      if (kind < 3) {
        const at = Math.floor(rnd() * copy.length);
        copy[at] = copy[at]! ^ (1 + Math.floor(rnd() * 255));
        tryDamaged(name, copy, `${name}: byte ${at} changed`);
      } else if (kind === 3) {
        const n = Math.floor(rnd() * copy.length);
        tryDamaged(name, copy.subarray(0, n), `${name}: truncated to ${n}`);
      } else {
        tryDamaged(name, Buffer.concat([copy, Buffer.from([Math.floor(rnd() * 256)])]), `${name}: a byte appended`);
      }
    }
  }
});

test('the manifest edits that used to load silently are refused', () => {
  const text = original().files.get('manifest.json')!.toString('utf8');
  const edits: Array<[string, string]> = [
    ['"maxRecords": 1024', '"maxRecords": 1025'], ['"maxBytes"', '"maxBytez"'], ['"orders"', '"ordezs"'], ['"accountSizes"', '"accountSizis"'],
    ['"capacity": 16', '"capacity": 32'], ['"maxMessageBytes": 512', '"maxMessageBytes": 612'], ['"generation": 1', '"generation": 2'],
    ['"version": 2', '"version": 1'], ['sha256:', 'sha257:'],
  ];
  for (const [from, to] of edits) {
    assert.ok(text.includes(from), `the manifest has ${from}`);
    tryDamaged('manifest.json', Buffer.from(text.replace(from, to), 'utf8'), `manifest: ${from} -> ${to}`);
  }
  assert.not.ok(/hashSeed|seed/i.test(text), 'the manifest carries no seed');
});

test('format 1 (JSON parts, a seed in the manifest) still restores, with a fresh seed', () => {
  const dir = tempDir();
  mkdirSync(dir, { recursive: true });
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const parts: Record<string, unknown> = {
    positions: [],
    eliminations: [{ hotkey: 'e1', reason: 'ZOMBIE' }],
    departed: [['gone', 1_700_000_000_000]],
    general: { counters: { orders: 7 }, maps: { accountSizes: [['hk', 5]] } },
  };
  const files: Record<string, { name: string; bytes: number; sha256: string }> = {};
  for (const [k, v] of Object.entries(parts)) {
    const b = Buffer.from(JSON.stringify(v));
    writeFileSync(join(dir, `${k}.3.json`), b);
    files[k] = { name: `${k}.3.json`, bytes: b.length, sha256: sha(b) };
  }
  const manifest = {
    format: 'sabstate-snapshot', version: 1, generation: 3, createdAt: 1, files,
    meta: {
      layoutVersion: JSON.parse(original().files.get('manifest.json')!.toString('utf8').split('\nsha256:')[0]!).meta.layoutVersion,
      hashSeed: '12345',
      options: { lockStripes: 64, positions: { maxRecords: 64, maxBytes: 1 << 20 }, eliminations: { maxRecords: 16 }, departed: { maxRecords: 64 } },
      general: { queues: { orders: { capacity: 16, maxMessageBytes: 512 } }, counters: ['orders'], maps: ['accountSizes'] },
    },
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  const e = createEngine({ restoreFrom: dir });
  assert.is.not(engineSeedOf(e), 12345n, 'a format-1 seed is not reused');
  assert.is(e.general.counter('orders').get(), 7);
  assert.equal(e.general.map('accountSizes').get('hk'), 5);
  assert.equal(e.departed.get('gone'), { detected_ms: 1_700_000_000_000 });
  assert.is(e.eliminations.size, 1);
  // the next snapshot into that directory is format 2, generation 4, and removes the format-1 files
  assert.is(e.snapshot(dir).generation, 4);
  assert.equal(readdirSync(dir).sort(), ['departed.4.bin', 'eliminations.4.bin', 'general.4.bin', 'manifest.json', 'positions.4.bin']);
});

test('counts', () => {
  console.log(`snapshot corruption: ${JSON.stringify(counts)}`);
  assert.is(counts.silentWrongLoads + counts.otherErrors, 0);
  assert.is(counts.refused + counts.identicalLoads, counts.corruptions);
});

test.run();
