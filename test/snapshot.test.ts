// engine.snapshot(dir) and createEngine({ restoreFrom: dir }): round trip of every domain with the
// real data, generations, damaged snapshots refused whole (ERR_SNAPSHOT_CORRUPT), restore with
// overriding options, and a snapshot taken while workers keep saving.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, attachEngine, SabStateError } from '../src/index.ts';
import type { Engine, EngineOptions, Position } from '../src/index.ts';
import { realDeparted, realPositionTexts } from '../support/data.ts';
import { runWorkers } from './helpers/workers.ts';
import type { SaverData } from './workers/engine-fixture.ts';
import { SMALL_ENGINE, tempDirs } from './helpers/temp.ts';
import { engineSeedOf } from '../src/engine.ts';
import { decodeValue, encodeValue } from '../src/internal/codec/codec.ts';

const WORKER = new URL('./workers/engine-worker.ts', import.meta.url);
const HK = '5GhCxfBcA7Ur5iiAS343xwvrYHTUfBjBi4JimiL5LhujRT9t';
const OPTIONS = {
  ...SMALL_ENGINE,
  general: { queues: { orders: { capacity: 64, maxMessageBytes: 512 } }, counters: ['orders_seen', 'syncs', 'never'], maps: ['accounts', 'empty'] },
} satisfies EngineOptions;

const tempDir = tempDirs('sabstate-snapshot-', test);

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

const tpOf = (p: Record<string, unknown>): string => (typeof p.trade_pair === 'string' ? p.trade_pair : String((p.trade_pair as unknown[])[0]));

function saveLocked(e: Engine, p: Record<string, unknown>): void {
  e.locks.withLock(p.miner_hotkey as string, tpOf(p), () => e.positions.save(p as Position));
}

const REASONS = ['ZOMBIE', 'PLAGIARISM', 'MAX_TOTAL_DRAWDOWN', 'FAILED_CHALLENGE_PERIOD_TIME', 'FAILED_CHALLENGE_PERIOD_DRAWDOWN', 'LIQUIDATED'];

/** An engine holding the real data in every domain. */
function populated(options: EngineOptions = OPTIONS): Engine {
  const e = createEngine(options);
  for (const t of realPositionTexts()) saveLocked(e, JSON.parse(t) as Record<string, unknown>);
  const departed = Object.entries(realDeparted());
  for (const [hk, v] of departed) e.departed.mark(hk, v.detected_ms);
  REASONS.forEach((reason, i) => {
    e.eliminations.add({
      hotkey: departed[i]![0], elimination_initiated_time_ms: 1_733_000_000_000 + i, dd: 0.1 + i / 100, reason,
      ...(i % 2 ? { price_info: { BTCUSD: 97_000.5, ETHUSD: 3_400.25 }, return_info: { dd_stats: [0.9, 0.95], n: i } } : {}),
    });
  });
  e.general.counter('orders_seen').add(123_456);
  e.general.counter('syncs').add(-7);
  const acct = e.general.map('accounts');
  acct.set(HK, 25_000);
  acct.set('5C511WZdVSCAcTVLTcheFAwvDvmDH7une5h7cXsUEJjnYWPs', { account_size: 100_000, updated_ms: 1_746_396_435_687, tier: 'gold' });
  acct.set('unicode-é-😀', ['a', 1.5, null, true, { nested: [1, 2, 3] }]);
  acct.set('flag', false);
  acct.set('nothing', null);
  acct.set('text', 'Zürich "quoted" \\ back');
  e.general.queue('orders').push({ in: 'flight', minusZero: -0 }); // persisted since snapshot format 2
  e.general.queue('orders').push('text');
  for (let i = 0; i < 2; i++) {
    e.general.syncGate.begin();
    e.general.syncGate.end();
  }
  e.general.queue('orders').push(new Uint8Array([1, 2, 3]));
  return e;
}

/** The whole visible state of an engine, in a canonical order. */
function dump(e: Engine) {
  const positions: Record<string, string> = {};
  const open: Record<string, string | undefined> = {};
  for (const hk of e.positions.hotkeys().sort()) {
    for (const p of e.positions.listForHotkey(hk)) {
      positions[`${hk}/${p.position_uuid}`] = JSON.stringify(p);
      assert.is(JSON.stringify(e.positions.get(hk, p.position_uuid)), JSON.stringify(p));
      open[`${hk}/${tpOf(p)}`] = JSON.stringify(e.positions.getOpen(hk, tpOf(p)));
    }
  }
  const byKey = <T>(a: Array<[string, T]>) => a.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return {
    positions,
    open,
    size: e.positions.size,
    eliminations: byKey(e.eliminations.list().map((r) => [r.hotkey, JSON.stringify(r)] as [string, string])),
    departed: byKey(e.departed.entries()),
    counters: Object.fromEntries(e.general.counterNames().map((n) => [n, e.general.counter(n).get()])),
    maps: Object.fromEntries(e.general.mapNames().map((n) => [n, byKey(e.general.map(n).entries())])),
  };
}

type ManifestJson = { generation: number; files: Record<string, { name: string; bytes: number; sha256: string }>; meta: Record<string, unknown> };
function manifestOf(dir: string): ManifestJson {
  const text = readFileSync(join(dir, 'manifest.json'), 'utf8');
  return JSON.parse(text.slice(0, text.lastIndexOf('sha256:')));
}

/** Writes a manifest WITH a valid checksum line (a tampering that knows the format: only the content is wrong). */
function writeManifest(dir: string, m: unknown): void {
  const body = `${JSON.stringify(m)}\n`;
  writeFileSync(join(dir, 'manifest.json'), `${body}sha256:${createHash('sha256').update(body).digest('hex')}\n`);
}

/** Replaces a part's content and fixes its size and SHA-256 in the manifest: only the shape is wrong. */
function rewritePart(dir: string, domain: string, value: unknown): void {
  const m = manifestOf(dir);
  const f = m.files[domain]!;
  const bytes = encodeValue(value).slice();
  writeFileSync(join(dir, f.name), bytes);
  f.bytes = bytes.length;
  f.sha256 = createHash('sha256').update(bytes).digest('hex');
  writeManifest(dir, m);
}

function readPart(dir: string, domain: string): unknown {
  return decodeValue(new Uint8Array(readFileSync(join(dir, manifestOf(dir).files[domain]!.name))));
}

/** createEngine({ restoreFrom: dir }) is refused with ERR_SNAPSHOT_CORRUPT: no engine is returned. */
function corrupt(dir: string, why: RegExp): void {
  let engine: Engine | undefined;
  const err = caught(() => {
    engine = createEngine({ restoreFrom: dir });
  });
  assert.is(engine, undefined, 'an engine was returned from a damaged snapshot');
  assert.ok(err instanceof SabStateError, `expected ERR_SNAPSHOT_CORRUPT, got ${String(err)}`);
  assert.is((err as SabStateError).code, 'ERR_SNAPSHOT_CORRUPT', String(err));
  assert.match((err as Error).message, why);
}

// One snapshot of the populated engine, copied for each damage test.
let pristine: { dir: string; files: Map<string, Buffer> } | undefined;
function damageable(): string {
  if (pristine === undefined) {
    const dir = tempDir();
    populated().snapshot(dir);
    pristine = { dir, files: new Map(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n))])) };
  }
  const dir = tempDir();
  for (const [n, b] of pristine.files) writeFileSync(join(dir, n), b);
  return dir;
}

// ---- round trip --------------------------------------------------------------------------------

test('round trip of every domain with the real data', () => {
  const a = populated();
  const dir = tempDir();
  const r = a.snapshot(dir);
  assert.equal(r, { generation: 1, positions: 63, eliminations: 6, departed: 367, queued: 3 });
  const b = createEngine({ restoreFrom: dir });
  const da = dump(a);
  const db = dump(b);
  assert.equal(db, da);
  // every real position, exactly as written by the validator (same fields, same order)
  const texts = realPositionTexts();
  assert.is(Object.keys(db.positions).length, 63);
  for (const t of texts) {
    const p = JSON.parse(t) as Record<string, unknown>;
    assert.is(JSON.stringify(b.positions.get(HK, p.position_uuid as string)), JSON.stringify(p));
  }
  assert.is(b.positions.listForHotkey(HK).length, 63);
  assert.is(b.positions.listForHotkey(HK, { open: false }).length, 60);
  // the 3 open ones
  const opens = texts.map((t) => JSON.parse(t) as Record<string, unknown>).filter((p) => p.is_closed_position === false);
  assert.is(opens.length, 3);
  for (const p of opens) assert.is(JSON.stringify(b.positions.getOpen(HK, tpOf(p))), JSON.stringify(p));
  assert.equal(b.positions.listForHotkey(HK, { open: true }).map((p) => p.position_uuid).sort(), opens.map((p) => p.position_uuid).sort());
  assert.is(b.positions.getOpen(HK, 'BTCUSD'), undefined);
  // departed, eliminations, general
  assert.is(b.departed.size, 367);
  for (const [hk, v] of Object.entries(realDeparted())) assert.equal(b.departed.get(hk), v);
  assert.is(b.eliminations.size, 6);
  assert.equal(b.eliminations.list().map((x) => x.reason).sort(), [...REASONS].sort());
  assert.equal(b.general.map('accounts').get('unicode-é-😀'), ['a', 1.5, null, true, { nested: [1, 2, 3] }]);
  assert.is(b.general.map('accounts').get('flag'), false);
  assert.is(b.general.map('accounts').get('nothing'), null);
  assert.is(b.general.map('empty').size, 0);
  assert.equal(db.counters, { orders_seen: 123_456, syncs: -7, never: 0 });
  // a fresh seed (re-keyed), same declarations; queue contents and the sync epoch kept
  assert.is.not(engineSeedOf(b), engineSeedOf(a));
  assert.equal(b.options, a.options);
  assert.is(b.general.queue('orders').size, 3);
  const m0 = b.general.queue('orders').pop() as Record<string, unknown>;
  assert.equal(m0, { in: 'flight', minusZero: -0 });
  assert.ok(Object.is(m0.minusZero, -0), '-0 kept in a queued message');
  assert.is(b.general.queue('orders').pop(), 'text');
  assert.equal([...(b.general.queue('orders').pop() as Uint8Array)], [1, 2, 3]);
  assert.is(b.general.syncGate.current().epoch, 2);
  // the restored engine is a normal engine: shareable and writable
  const c = attachEngine(b.handle());
  const p = JSON.parse(texts[0]!) as Record<string, unknown>;
  saveLocked(c, { ...p, position_uuid: 'new-uuid' });
  assert.is(b.positions.size, 64);
  assert.is(b.stats().positions.records, 64);
});

test('an empty engine round trips too (into a directory that does not exist yet)', () => {
  const dir = join(tempDir(), 'not', 'yet', 'there');
  const a = createEngine({ lockStripes: 64, positions: { maxRecords: 64, maxBytes: 1 << 20 } });
  assert.equal(a.snapshot(dir), { generation: 1, positions: 0, eliminations: 0, departed: 0, queued: 0 });
  const b = createEngine({ restoreFrom: dir });
  assert.equal(dump(b), dump(a));
  assert.equal(b.options, a.options);
});

test('a second snapshot into the same dir bumps the generation and removes the old files', () => {
  const e = populated();
  const dir = tempDir();
  assert.is(e.snapshot(dir).generation, 1);
  assert.equal(readdirSync(dir).sort(), ['departed.1.bin', 'eliminations.1.bin', 'general.1.bin', 'manifest.json', 'positions.1.bin']);
  // change every domain
  const first = e.positions.listForHotkey(HK)[0]!;
  assert.ok(e.positions.delete(HK, first.position_uuid));
  e.departed.mark('new-departed', 1);
  e.eliminations.take(e.eliminations.list()[0]!.hotkey);
  e.general.counter('never').add(1);
  e.general.map('empty').set('k', 'v');
  const r = e.snapshot(dir);
  assert.equal(r, { generation: 2, positions: 62, eliminations: 5, departed: 368, queued: 3 });
  assert.equal(readdirSync(dir).sort(), ['departed.2.bin', 'eliminations.2.bin', 'general.2.bin', 'manifest.json', 'positions.2.bin']);
  assert.is(manifestOf(dir).generation, 2);
  const b = createEngine({ restoreFrom: dir });
  assert.equal(dump(b), dump(e));
  assert.is(b.positions.get(HK, first.position_uuid), undefined);
  assert.equal(b.general.map('empty').get('k'), 'v');
  assert.is(e.snapshot(dir).generation, 3);
  assert.equal(readdirSync(dir).filter((n) => n !== 'manifest.json').sort(), ['departed.3.bin', 'eliminations.3.bin', 'general.3.bin', 'positions.3.bin']);
  // a damaged old manifest does not stop a new snapshot: it is replaced, by a generation above
  // every file in the directory (never over a file the old manifest named)
  writeFileSync(join(dir, 'manifest.json'), 'garbage');
  assert.is(e.snapshot(dir).generation, 4);
  assert.equal(dump(createEngine({ restoreFrom: dir })), dump(e));
  assert.equal(readdirSync(dir).sort(), ['departed.4.bin', 'eliminations.4.bin', 'general.4.bin', 'manifest.json', 'positions.4.bin']);
});

// ---- damaged snapshots -------------------------------------------------------------------------

test('damaged: a flipped byte in a part file', () => {
  const dir = damageable();
  const f = join(dir, 'positions.1.bin');
  const b = readFileSync(f);
  const at = b.length >> 1;
  b[at] = b[at]! ^ 0x01;
  writeFileSync(f, b);
  corrupt(dir, /positions\.1\.bin fails its SHA-256 check/);
});

test('damaged: a truncated part file', () => {
  const dir = damageable();
  const f = join(dir, 'eliminations.1.bin');
  const n = readFileSync(f).length;
  truncateSync(f, n - 10);
  corrupt(dir, new RegExp(`eliminations\\.1\\.bin has ${n - 10} bytes, the manifest says ${n}`));
});

test('damaged: a truncated manifest', () => {
  const dir = damageable();
  const f = join(dir, 'manifest.json');
  truncateSync(f, readFileSync(f).length >> 1);
  corrupt(dir, /manifest\.json is not a sabstate manifest/);
});

test('damaged: a part file deleted', () => {
  const dir = damageable();
  unlinkSync(join(dir, 'departed.1.bin'));
  corrupt(dir, /departed\.1\.bin is missing/);
});

test('damaged: the manifest deleted', () => {
  const dir = damageable();
  unlinkSync(join(dir, 'manifest.json'));
  corrupt(dir, /no manifest\.json/);
});

test('damaged: a garbage manifest', () => {
  const dir = damageable();
  writeFileSync(join(dir, 'manifest.json'), '\u0000\u0001 not json at all');
  corrupt(dir, /manifest\.json is not a sabstate manifest/);
  writeFileSync(join(dir, 'manifest.json'), '{"format": "something-else"}');
  corrupt(dir, /not a sabstate manifest/);
  writeFileSync(join(dir, 'manifest.json'), '[1, 2, 3]');
  corrupt(dir, /not a sabstate manifest/);
  writeFileSync(join(dir, 'manifest.json'), 'null');
  corrupt(dir, /not a sabstate manifest/);
  writeFileSync(join(dir, 'manifest.json'), '{"format": "sabstate-snapshot", "version": 3}');
  corrupt(dir, /snapshot format version 3/);
  writeFileSync(join(dir, 'manifest.json'), '{"format": "sabstate-snapshot", "version": 2, "generation": 1}');
  corrupt(dir, /has no checksum line/);
  writeFileSync(join(dir, 'manifest.json'), '{"format": "sabstate-snapshot", "version": 1, "generation": 1}');
  corrupt(dir, /manifest\.json is incomplete/);
});

test('damaged: a manifest without the engine description', () => {
  const dir = damageable();
  const m = manifestOf(dir);
  writeManifest(dir, ({ ...m, meta: { ...m.meta, options: 5 } }));
  corrupt(dir, /the manifest has no engine description/);
  writeManifest(dir, ({ ...m, meta: { ...m.meta, layoutVersion: 99 } }));
  corrupt(dir, /written by layout version 99/);
});

test('damaged: a manifest whose options are invalid (checksums fine)', () => {
  const dir = damageable();
  const m = manifestOf(dir);
  const options = m.meta.options as Record<string, unknown>;
  writeManifest(dir, ({ ...m, meta: { ...m.meta, options: { ...options, positions: 'big' } } }));
  corrupt(dir, /the manifest's options are invalid \(options\.positions must be an object\)/);
  writeManifest(dir, ({ ...m, meta: { ...m.meta, options: { ...options, lockStripes: 100 } } }));
  corrupt(dir, /the manifest's options are invalid \(options\.lockStripes must be a power of two\)/);
  writeManifest(dir, ({ ...m, meta: { ...m.meta, general: { counters: 'x' } } }));
  corrupt(dir, /the manifest's options are invalid \(options\.general\.counters must be an array of names\)/);
});

test('damaged: a part with the wrong shape (SHA-256 matches)', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['positions', { not: 'an array' }, /positions part is malformed/],
    ['positions', [{ position_uuid: 'x' }], /positions part is malformed/],
    ['eliminations', 'rows', /eliminations part is malformed/],
    ['eliminations', [5], /eliminations part is malformed/],
    ['departed', [['hk', 'not a number']], /departed part is malformed/],
    ['departed', { hk: 1 }, /departed part is malformed/],
    ['general', [], /general part is malformed/],
    ['general', { counters: {} }, /general part is malformed/],
  ];
  for (const [domain, value, why] of cases) {
    const dir = damageable();
    rewritePart(dir, domain, value);
    corrupt(dir, why);
  }
});

test('damaged: records the engine refuses on restore (SHA-256 matches): nothing half-loaded', () => {
  const real = realPositionTexts().map((t) => JSON.parse(t) as Record<string, unknown>);
  const open = real.find((p) => p.is_closed_position === false)!;
  const cases: Array<[string, (part: unknown) => unknown, RegExp]> = [
    // a position without hotkey or trade pair
    ['positions', (ps) => [...(ps as unknown[]), { orders: [] }], /refused on restore|positions part/],
    ['positions', (ps) => [...(ps as unknown[]), { orders: [], miner_hotkey: HK, position_uuid: 'u', trade_pair: 5, is_closed_position: false }], /refused on restore|positions part/],
    // a second open position of the same (hotkey, trade pair)
    ['positions', (ps) => [...(ps as unknown[]), { ...open, position_uuid: 'second-open' }], /ERR_INVALID_VALUE/],
    ['positions', (ps) => [...(ps as unknown[]), { ...open, miner_hotkey: '' }], /ERR_INVALID_KEY/],
    ['eliminations', (rs) => [...(rs as unknown[]), { reason: 'ZOMBIE' }], /refused on restore/],
    ['departed', (ds) => [...(ds as unknown[]), ['hk', 1.5]], /refused on restore|departed part/],
    ['departed', (ds) => [...(ds as unknown[]), ['', 1]], /refused on restore|departed part/],
    ['general', (g) => ({ ...(g as object), counters: { orders_seen: 1.5 } }), /refused on restore|general part/],
    ['general', (g) => ({ ...(g as object), counters: { orders_seen: 'many' } }), /general part/],
    ['general', (g) => ({ ...(g as object), maps: { accounts: 5 } }), /general part/],
    ['general', (g) => ({ ...(g as object), maps: { accounts: [[1, 2]] } }), /refused on restore|general part/],
    ['general', (g) => ({ ...(g as object), maps: { accounts: [['k']] } }), /general part/],
  ];
  for (const [domain, change, why] of cases) {
    const dir = damageable();
    rewritePart(dir, domain, change(readPart(dir, domain)));
    corrupt(dir, why);
  }
});

// ---- restore with options ----------------------------------------------------------------------

test('restore with overriding options: given sizes win, the snapshot keeps the others', () => {
  const a = populated();
  const dir = tempDir();
  a.snapshot(dir);
  const b = createEngine({ restoreFrom: dir, positions: { maxRecords: 4096 }, departed: { maxRecords: 2048, maxBytes: 4 << 20 }, lockStripes: 1024 });
  assert.equal(dump(b), dump(a));
  assert.equal(b.options.positions, { maxRecords: 4096, maxBytes: 16 << 20 });
  assert.equal(b.options.departed, { maxRecords: 2048, maxBytes: 4 << 20 });
  assert.equal(b.options.eliminations, a.options.eliminations);
  assert.equal(b.options.general, a.options.general);
  assert.is(b.options.lockStripes, 1024);
  assert.is.not(engineSeedOf(b), engineSeedOf(a));
  // a pinned seed: same state, hashed with it
  const c = createEngine({ restoreFrom: dir, hashSeed: 42n });
  assert.is(engineSeedOf(c), 42n);
  assert.equal(dump(c), dump(a));
  // room for more than before
  for (let i = 0; i < 1100; i++) b.departed.mark(`more-${i}`, i);
  assert.is(b.departed.size, 367 + 1100);
  assert.is(code(() => { for (let i = 0; i < 1100; i++) a.departed.mark(`more-${i}`, i); }), 'ERR_CAPACITY');
  // too small for the snapshot: ERR_CAPACITY, not "corrupt"
  assert.is(code(() => createEngine({ restoreFrom: dir, positions: { maxRecords: 16 } })), 'ERR_CAPACITY');
  // bad options are still checked first
  assert.throws(() => createEngine({ restoreFrom: dir, positions: { maxRecords: -1 } }), /options.positions.maxRecords must be a positive integer/);
});

function code(fn: () => unknown): string | undefined {
  const e = caught(fn);
  return e === undefined ? undefined : e instanceof SabStateError ? e.code : `not a SabStateError: ${String(e)}`;
}

// ---- snapshot under concurrent writes ----------------------------------------------------------

test('snapshot while 2 workers keep saving: every position in it is a whole version', async () => {
  const e = createEngine(OPTIONS);
  const flag = new Int32Array(new SharedArrayBuffer(16));
  const tps = ['BTCUSD', 'ETHUSD', 'SOLUSD', 'XRPUSD', 'EURUSD', 'GBPUSD'];
  const datas: SaverData[] = [0, 1].map((w) => ({ mode: 'saver', handle: e.handle(), flag: flag.buffer as SharedArrayBuffer, hk: `saver-${w}`, tradePairs: tps }));
  const run = runWorkers<number>(WORKER, datas, 45_000);
  let stopped = false;
  const stop = () => {
    stopped = true;
    Atomics.store(flag, 1, 1);
  };
  run.catch(stop);
  const check = (positions: Record<string, unknown>[], what: string) => {
    assert.is(positions.length, 12, what);
    for (const p of positions) {
      const ver = p.ver as number;
      const orders = p.orders as Array<Record<string, unknown>>;
      assert.ok(Number.isInteger(ver) && ver >= 1, `${what}: ver ${ver}`);
      assert.is(orders.length, (ver % 7) + 1, `${what}: ${p.position_uuid} v${ver} has ${orders.length} orders`);
      for (const o of orders) {
        assert.is(o.ver, ver, `${what}: ${p.position_uuid} v${ver} holds an order of v${o.ver}`);
        assert.is(o.price, 100 + ver);
      }
      assert.is(p.current_return, 1 + ver / 1e6);
    }
  };
  try {
    while (Atomics.load(flag, 0) < 2 && !stopped) await new Promise((r) => setTimeout(r, 2));
    const dir = tempDir();
    const vers = new Set<number>();
    // at least 6 snapshots, more (up to 60) until the workers are seen to have saved in between
    for (let s = 1; (s <= 6 || (vers.size < 3 && s <= 60)) && !stopped; s++) {
      const r = e.snapshot(dir);
      assert.is(r.generation, s);
      assert.is(r.positions, 12);
      const part = readPart(dir, 'positions') as Record<string, unknown>[];
      check(part, `snapshot ${s}`);
      for (const p of part) vers.add(p.ver as number);
      if (s % 3 === 0) {
        const back = createEngine({ restoreFrom: dir });
        check([...back.positions.listForHotkey('saver-0'), ...back.positions.listForHotkey('saver-1')] as unknown as Record<string, unknown>[], `restored ${s}`);
      }
      await new Promise((r) => setTimeout(r, 15));
    }
    assert.ok(vers.size >= 3, `the workers kept saving between snapshots (versions seen: ${[...vers].join(', ')})`);
  } finally {
    stop();
  }
  const saves = await run;
  assert.ok(saves.every((n) => n >= tps.length), `saves ${saves}`);
  // at rest, the last snapshot is exactly the final state
  const dir = tempDir();
  e.snapshot(dir);
  assert.equal(dump(createEngine({ restoreFrom: dir })), dump(e));
  assert.is(e.stats().locks.held, 0);
});

test.run();
