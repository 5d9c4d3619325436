/**
 * Options on a restore (createEngine({ restoreFrom })): the caller's options and the manifest's
 * are each checked once, and combine field by field. A bad caller option is ERR_INVALID_OPTION
 * (checked before the snapshot is read, so also when the snapshot is missing or damaged); a bad
 * manifest field is ERR_SNAPSHOT_CORRUPT; a caller's field overrides the snapshot's, the rest is
 * the snapshot's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../src/index.ts';
import { code } from './helpers/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'sabstate-restore-options-'));
const options = {
  lockStripes: 64,
  positions: { maxRecords: 1000, maxBytes: 16 << 20 },
  general: { queues: { q: { capacity: 8, maxMessageBytes: 64 } }, counters: ['c'], maps: ['m'] },
};
const dir = join(root, 'snap');
{
  const e = createEngine(options);
  e.general.queue('q').push('hello');
  e.general.counter('c').add(3);
  await e.snapshot(dir);
  e.close();
}
const manifest = readFileSync(join(dir, 'manifest.json'), 'utf8');

test('restore: no options given, the snapshot\'s options and state come back', () => {
  const e = createEngine({ restoreFrom: dir });
  const o = e.handle().options;
  assert.is(o.lockStripes, 64);
  assert.equal(o.positions, { maxRecords: 1000, maxBytes: 16 << 20 });
  assert.equal(o.general.queues.map((q) => [q.name, q.capacity, q.maxMessageBytes]), [['q', 8, 64]]);
  assert.equal([o.general.counters, o.general.maps], [['c'], ['m']]);
  assert.is(e.general.queue('q').pop(), 'hello');
  assert.is(e.general.counter('c').get(), 3);
  e.close();
});

test('restore: a caller\'s field overrides the snapshot\'s, field by field (maxRecords given keeps maxBytes)', () => {
  const e = createEngine({ restoreFrom: dir, positions: { maxRecords: 2000 }, general: { counters: ['c', 'd'] } });
  const o = e.handle().options;
  assert.equal(o.positions, { maxRecords: 2000, maxBytes: 16 << 20 });
  assert.is(o.lockStripes, 64);
  assert.equal(o.general.counters, ['c', 'd']);
  assert.equal(o.general.queues.map((q) => q.name), ['q'], 'queues not given: the snapshot\'s');
  assert.equal(o.general.maps, ['m']);
  assert.is(e.general.counter('c').get(), 3);
  e.close();
});

test('restore: a bad caller option is ERR_INVALID_OPTION, even when the snapshot is missing or its manifest bad', () => {
  assert.is(code(() => createEngine({ restoreFrom: dir, positions: { maxRecords: -1 } })), 'ERR_INVALID_OPTION');
  assert.is(code(() => createEngine({ restoreFrom: dir, lockStripes: 3 })), 'ERR_INVALID_OPTION');
  assert.is(code(() => createEngine({ restoreFrom: dir, general: { queues: { q: { capacity: 3 } } } })), 'ERR_INVALID_OPTION');
  assert.is(code(() => createEngine({ restoreFrom: join(root, 'none'), positions: { maxBytes: 1 } })), 'ERR_INVALID_OPTION');
  const bad = join(root, 'bad-stripes');
  writeManifest(bad, manifest.replace('"lockStripes": 64', '"lockStripes": 63'));
  assert.is(code(() => createEngine({ restoreFrom: bad, positions: { maxRecords: 0 } })), 'ERR_INVALID_OPTION');
});

test('restore: a bad manifest option is ERR_SNAPSHOT_CORRUPT, also when the caller overrides another field', () => {
  const cases: Array<[string, string, string]> = [
    ['stripes', '"lockStripes": 64', '"lockStripes": 63'],
    ['maxbytes', `"maxBytes": ${16 << 20}`, '"maxBytes": 1'],
    ['capacity', '"capacity": 8', '"capacity": 3'],
    ['counter', '"c"\n', '""\n'],
  ];
  for (const [name, from, to] of cases) {
    assert.ok(manifest.includes(from), `the manifest has ${from}`);
    const d = join(root, `bad-${name}`);
    writeManifest(d, manifest.replace(from, to));
    assert.is(code(() => createEngine({ restoreFrom: d })), 'ERR_SNAPSHOT_CORRUPT', `${from} -> ${to}`);
    assert.is(code(() => createEngine({ restoreFrom: d, departed: { maxRecords: 100 } })), 'ERR_SNAPSHOT_CORRUPT', `${from} -> ${to}, departed given`);
  }
});

/** A copy of the snapshot directory with `text` as its manifest. */
function writeManifest(d: string, text: string): void {
  rmSync(d, { recursive: true, force: true });
  cpSync(dir, d, { recursive: true });
  writeFileSync(join(d, 'manifest.json'), text);
}

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
