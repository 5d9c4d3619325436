// The engine: option checking at the public boundary (one test per message), defaults, handle and
// attach across workers for every domain, ERR_LAYOUT_MISMATCH for tampered handles, watch recovery,
// stats counting, statsTable, close.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { createEngine, attachEngine, SabStateError } from '../src/index.ts';
import type { Engine, EngineHandle, EngineOptions, Position } from '../src/index.ts';
import { MAX_HEAP_BYTES, MIN_HEAP_BYTES } from '../src/internal/store/heap.ts';
import { ringRegionBytes } from '../src/internal/store/ring-layout.ts';
import { realPositionTexts } from '../support/data.ts';
import { tsWorker } from './helpers/workers.ts';
import type { AllData, AllResult, HoldData } from './workers/engine-fixture.ts';
import { code } from './helpers/errors.ts';
import { SMALL_ENGINE } from './helpers/temp.ts';
import { engineSeedOf } from '../src/engine.ts';

const WORKER = new URL('./workers/engine-worker.ts', import.meta.url);
const HK = '5GhCxfBcA7Ur5iiAS343xwvrYHTUfBjBi4JimiL5LhujRT9t';
/** Small sizes: tests create many engines. */
const SMALL = SMALL_ENGINE;

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** createEngine(options) throws exactly `type` with exactly `message`. */
function refused(options: unknown, type: typeof TypeError | typeof RangeError, message: string): void {
  const e = caught(() => createEngine(options as EngineOptions));
  if (e === undefined) assert.unreachable(`createEngine(${JSON.stringify(options, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}) did not throw; expected ${type.name}: ${message}`);
  assert.is((e as Error).constructor, type, `${String(e)}: expected a ${type.name}`);
  assert.is((e as Error).message, message);
}

const tpOf = (p: Record<string, unknown>): string => (typeof p.trade_pair === 'string' ? p.trade_pair : String((p.trade_pair as unknown[])[0]));

function saveLocked(e: Engine, p: Record<string, unknown>): void {
  e.locks.withLock(p.miner_hotkey as string, tpOf(p), () => e.positions.save(p as Position));
}

async function waitFlag(flag: Int32Array, i: number, value: number, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (Atomics.load(flag, i) < value) {
    if (Date.now() > until) throw new Error(`flag[${i}] did not reach ${value} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// ---- options: one test per message -------------------------------------------------------------

const KNOWN = 'lockStripes, hashSeed, positions, eliminations, departed, general, restoreFrom, prefault';

test('options: not an object', () => {
  refused(5, TypeError, 'options must be an object');
  refused([], TypeError, 'options must be an object');
  refused(null, TypeError, 'options must be an object');
});

test('options: unknown option', () => {
  refused({ lockStripe: 64 }, TypeError, `options.lockStripe is not a known option (known: ${KNOWN})`);
  refused({ queues: {} }, TypeError, `options.queues is not a known option (known: ${KNOWN})`);
});

test('options.lockStripes: not an integer', () => {
  refused({ lockStripes: '64' }, TypeError, 'options.lockStripes must be a positive integer');
  refused({ lockStripes: 1.5 }, TypeError, 'options.lockStripes must be a positive integer');
  refused({ lockStripes: Number.NaN }, TypeError, 'options.lockStripes must be a positive integer');
});

test('options.lockStripes: out of range', () => {
  refused({ lockStripes: 0 }, RangeError, 'options.lockStripes must be a positive integer at most 1048576');
  refused({ lockStripes: -4 }, RangeError, 'options.lockStripes must be a positive integer at most 1048576');
  refused({ lockStripes: 2 ** 21 }, RangeError, 'options.lockStripes must be a positive integer at most 1048576');
});

test('options.lockStripes: not a power of two', () => {
  refused({ lockStripes: 100 }, RangeError, 'options.lockStripes must be a power of two');
  refused({ lockStripes: 3 }, RangeError, 'options.lockStripes must be a power of two');
});

test('options.hashSeed: bigint out of range', () => {
  refused({ hashSeed: -1n }, RangeError, 'options.hashSeed must be an integer in [0, 2^64)');
  refused({ hashSeed: 2n ** 64n }, RangeError, 'options.hashSeed must be an integer in [0, 2^64)');
});

test('options.hashSeed: number not a non-negative safe integer', () => {
  refused({ hashSeed: -1 }, RangeError, 'options.hashSeed must be a non-negative safe integer or a bigint');
  refused({ hashSeed: 1.5 }, RangeError, 'options.hashSeed must be a non-negative safe integer or a bigint');
  refused({ hashSeed: 2 ** 53 }, RangeError, 'options.hashSeed must be a non-negative safe integer or a bigint');
});

test('options.hashSeed: wrong type', () => {
  refused({ hashSeed: '42' }, TypeError, 'options.hashSeed must be a bigint or a non-negative safe integer');
  refused({ hashSeed: null }, TypeError, 'options.hashSeed must be a bigint or a non-negative safe integer');
});

for (const domain of ['positions', 'eliminations', 'departed'] as const) {
  test(`options.${domain}: not an object`, () => {
    refused({ [domain]: 5 }, TypeError, `options.${domain} must be an object`);
    refused({ [domain]: [] }, TypeError, `options.${domain} must be an object`);
  });

  test(`options.${domain}: unknown option`, () => {
    // A misspelled size must not be silently ignored (the default would be used instead).
    refused({ [domain]: { maxRecord: 64 } }, TypeError, `options.${domain}.maxRecord is not a known option (known: maxRecords, maxBytes)`);
  });

  test(`options.${domain}.maxRecords: not an integer`, () => {
    refused({ [domain]: { maxRecords: '64' } }, TypeError, `options.${domain}.maxRecords must be a positive integer`);
    refused({ [domain]: { maxRecords: 6.4 } }, TypeError, `options.${domain}.maxRecords must be a positive integer`);
  });

  test(`options.${domain}.maxRecords: out of range`, () => {
    const max = domain === 'eliminations' ? 2 ** 20 : 2 ** 22;
    refused({ [domain]: { maxRecords: 0 } }, RangeError, `options.${domain}.maxRecords must be a positive integer at most ${max}`);
    refused({ [domain]: { maxRecords: max + 1 } }, RangeError, `options.${domain}.maxRecords must be a positive integer at most ${max}`);
  });

  test(`options.${domain}.maxBytes: not an integer`, () => {
    refused({ [domain]: { maxBytes: 1e6 + 0.5 } }, TypeError, `options.${domain}.maxBytes must be a positive integer`);
    refused({ [domain]: { maxBytes: 10n ** 6n } }, TypeError, `options.${domain}.maxBytes must be a positive integer`);
  });

  test(`options.${domain}.maxBytes: out of range`, () => {
    refused({ [domain]: { maxBytes: -1 } }, RangeError, `options.${domain}.maxBytes must be a positive integer at most ${MAX_HEAP_BYTES}`);
    refused({ [domain]: { maxBytes: 2 ** 31 } }, RangeError, `options.${domain}.maxBytes must be a positive integer at most ${MAX_HEAP_BYTES}`);
  });

  test(`options.${domain}.maxBytes: below the smallest heap`, () => {
    refused({ [domain]: { maxBytes: MIN_HEAP_BYTES - 1 } }, RangeError, `options.${domain}.maxBytes must be at least ${MIN_HEAP_BYTES}`);
    refused({ [domain]: { maxBytes: 1 } }, RangeError, `options.${domain}.maxBytes must be at least ${MIN_HEAP_BYTES}`);
  });
}

test('options.general: not an object', () => {
  refused({ general: 'q' }, TypeError, 'options.general must be an object');
});

test('options.general: unknown option', () => {
  refused({ general: { queue: {} } }, TypeError, 'options.general.queue is not a known option (known: queues, counters, maps)');
});

test('options.general.queues: not an object', () => {
  refused({ general: { queues: ['q'] } }, TypeError, 'options.general.queues must be an object');
});

test('options.general.queues: bad name', () => {
  const m = 'options.general.queues names must be non-empty strings of at most 256 characters';
  refused({ general: { queues: { '': {} } } }, TypeError, m);
  refused({ general: { queues: { ['q'.repeat(257)]: {} } } }, TypeError, m);
});

test('options.general.queues.<name>: not an object', () => {
  refused({ general: { queues: { orders: 64 } } }, TypeError, 'options.general.queues.orders must be an object');
  // names that are not identifiers are quoted
  refused({ general: { queues: { 'web-sockets': true } } }, TypeError, 'options.general.queues["web-sockets"] must be an object');
});

test('options.general.queues.<name>: unknown option', () => {
  refused({ general: { queues: { orders: { size: 8 } } } }, TypeError, 'options.general.queues.orders.size is not a known option (known: capacity, maxMessageBytes)');
});

test('options.general.queues.<name>.capacity: not an integer', () => {
  refused({ general: { queues: { orders: { capacity: '8' } } } }, TypeError, 'options.general.queues.orders.capacity must be a positive integer');
});

test('options.general.queues.<name>.capacity: out of range', () => {
  refused({ general: { queues: { orders: { capacity: 0 } } } }, RangeError, 'options.general.queues.orders.capacity must be a positive integer at most 16777216');
  refused({ general: { queues: { orders: { capacity: 2 ** 25 } } } }, RangeError, 'options.general.queues.orders.capacity must be a positive integer at most 16777216');
});

test('options.general.queues.<name>.capacity: not a power of two', () => {
  refused({ general: { queues: { orders: { capacity: 1000 } } } }, RangeError, 'options.general.queues.orders.capacity must be a power of two');
});

test('options.general.queues.<name>.capacity: at least 2', () => {
  refused({ general: { queues: { orders: { capacity: 1 } } } }, RangeError, 'options.general.queues.orders.capacity must be a power of two of at least 2');
});

test('options.general.queues.<name>.maxMessageBytes: not an integer', () => {
  refused({ general: { queues: { orders: { maxMessageBytes: 1.5 } } } }, TypeError, 'options.general.queues.orders.maxMessageBytes must be a positive integer');
});

test('options.general.queues.<name>.maxMessageBytes: out of range', () => {
  refused({ general: { queues: { orders: { maxMessageBytes: 0 } } } }, RangeError, 'options.general.queues.orders.maxMessageBytes must be a positive integer at most 16777216');
  refused({ general: { queues: { orders: { maxMessageBytes: 2 ** 24 + 1 } } } }, RangeError, 'options.general.queues.orders.maxMessageBytes must be a positive integer at most 16777216');
});

test('options.general.queues.<name>: region too large', () => {
  const need = ringRegionBytes(2 ** 20, 4096);
  refused(
    { general: { queues: { orders: { capacity: 2 ** 20, maxMessageBytes: 4096 } } } },
    RangeError,
    `options.general.queues.orders must fit in 2147483648 bytes (capacity x maxMessageBytes needs ${need})`,
  );
});

for (const list of ['counters', 'maps'] as const) {
  test(`options.general.${list}: not an array`, () => {
    refused({ general: { [list]: 'orders' } }, TypeError, `options.general.${list} must be an array of names`);
    // maps may also be declared with their capacities: { name: { maxRecords, maxBytes } }
    refused({ general: { [list]: { orders: 1 } } }, TypeError, list === 'maps' ? 'options.general.maps.orders must be an object' : `options.general.${list} must be an array of names`);
  });

  test(`options.general.${list}: too many names`, () => {
    const names = Array.from({ length: 65537 }, (_, i) => `n${i}`);
    refused({ general: { [list]: names } }, RangeError, `options.general.${list} must have at most 65536 names`);
  });

  test(`options.general.${list}: a name that is not a non-empty string`, () => {
    refused({ general: { [list]: ['a', 7] } }, TypeError, `options.general.${list}[1] must be a non-empty string of at most 256 characters`);
    refused({ general: { [list]: [''] } }, TypeError, `options.general.${list}[0] must be a non-empty string of at most 256 characters`);
    refused({ general: { [list]: ['x'.repeat(257)] } }, TypeError, `options.general.${list}[0] must be a non-empty string of at most 256 characters`);
  });

  test(`options.general.${list}: a duplicate name`, () => {
    refused({ general: { [list]: ['a', 'b', 'a'] } }, RangeError, `options.general.${list}[2] must not repeat a name ("a")`);
  });
}

test('options.restoreFrom: not a directory path', () => {
  refused({ restoreFrom: '' }, TypeError, 'options.restoreFrom must be a directory path');
  refused({ restoreFrom: 5 }, TypeError, 'options.restoreFrom must be a directory path');
});

test('options.restoreFrom: a directory without a snapshot is ERR_SNAPSHOT_CORRUPT', () => {
  assert.is(code(() => createEngine({ restoreFrom: '/nonexistent/sabstate-no-snapshot' })), 'ERR_SNAPSHOT_CORRUPT');
});

test('options: a bad option allocates nothing and changes nothing (checked before allocation)', () => {
  // Errors come from the first bad field; later fields are never looked at.
  refused({ lockStripes: 3, positions: 5 }, RangeError, 'options.lockStripes must be a power of two');
});

// ---- defaults ----------------------------------------------------------------------------------

test('defaults: engine.options shows every default', () => {
  const e = createEngine();
  assert.equal(e.options, {
    lockStripes: 4096,
    positions: { maxRecords: 131072, maxBytes: 2 ** 30 },
    eliminations: { maxRecords: 4096, maxBytes: MIN_HEAP_BYTES + 4096 * 4096 },
    departed: { maxRecords: 16384, maxBytes: MIN_HEAP_BYTES + 16384 * 640 },
    general: { queues: [], counters: [], maps: [] },
  });
  assert.is(e.locks.stripes, 4096);
  assert.is(typeof engineSeedOf(e), 'bigint');
  // random seed per engine
  assert.is.not(engineSeedOf(createEngine(SMALL)), engineSeedOf(createEngine(SMALL)));
  e.close();
});

test('defaults: queue sizes, explicit undefined, given seed, declarations kept in order', () => {
  const e = createEngine({
    ...SMALL,
    hashSeed: 12345n,
    positions: { maxRecords: undefined, maxBytes: 8 << 20 },
    general: { queues: { b: {}, a: { capacity: 8 } }, counters: ['z', 'y'], maps: ['accounts'] },
  });
  assert.equal(e.options.general, {
    queues: [{ name: 'b', capacity: 1024, maxMessageBytes: 4096 }, { name: 'a', capacity: 8, maxMessageBytes: 4096 }],
    counters: ['z', 'y'],
    maps: ['accounts'],
  });
  assert.equal(e.options.positions, { maxRecords: 131072, maxBytes: 8 << 20 });
  assert.is(engineSeedOf(e), 12345n);
  assert.is(engineSeedOf(createEngine({ ...SMALL, hashSeed: 12345 })), 12345n);
  assert.is(engineSeedOf(createEngine({ ...SMALL, hashSeed: 2n ** 64n - 1n })), 2n ** 64n - 1n);
  assert.equal(e.general.queueNames(), ['b', 'a']);
  assert.equal(e.general.counterNames(), ['z', 'y']);
  assert.equal(e.general.mapNames(), ['accounts']);
});

// ---- handle / attach ---------------------------------------------------------------------------

test('handle: structured-clonable and small (buffers aside)', () => {
  const e = createEngine({ ...SMALL, general: { queues: { orders: { capacity: 64, maxMessageBytes: 256 } }, counters: ['c'], maps: ['m'] } });
  const h = e.handle();
  const clone = structuredClone(h);
  let buffers = 0;
  const text = JSON.stringify(h, (_k, v: unknown) => {
    if (v instanceof SharedArrayBuffer) {
      buffers++;
      return 0;
    }
    return v;
  });
  assert.ok(text.length < 2048, `handle without buffers is ${text.length} characters: ${text}`);
  assert.ok(buffers >= 12, `${buffers} buffers`);
  // nothing but plain data and SharedArrayBuffers: no functions, no class instances
  const walk = (v: unknown, path: string): void => {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v) || v instanceof SharedArrayBuffer) return;
    assert.ok(typeof v === 'object' && [Object.prototype, Array.prototype].includes(Object.getPrototypeOf(v)), `${path} is a ${typeof v}`);
    for (const [k, x] of Object.entries(v as object)) walk(x, `${path}.${k}`);
  };
  walk(h, 'handle');
  // the clone shares the memory
  const b = attachEngine(clone);
  e.general.counter('c').add(3);
  assert.is(b.general.counter('c').get(), 3);
});

test('attach across workers: a worker writes every domain, the main thread sees it all', async () => {
  const e = createEngine({ ...SMALL, general: { queues: { orders: { capacity: 64, maxMessageBytes: 512 } }, counters: ['orders_seen'], maps: ['accounts'] } });
  const texts = realPositionTexts().slice(0, 10);
  const flag = new Int32Array(new SharedArrayBuffer(16));
  const data: AllData = {
    mode: 'all', handle: e.handle(), flag: flag.buffer as SharedArrayBuffer, hk: HK, positions: texts, lockRounds: 40,
    queue: 'orders', messages: 7, counter: 'orders_seen', map: 'accounts',
  };
  const w = tsWorker(WORKER, { workerData: data });
  const result = new Promise<AllResult>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  try {
    await Promise.race([waitFlag(flag, 0, 1), result.then(() => { throw new Error('worker finished before holding the lock'); })]);
    // locks: the worker holds (HK, 'HELD') right now
    assert.is(e.locks.isHeld(HK, 'HELD'), true);
    assert.is(e.locks.ownerOf(HK, 'HELD'), w.threadId);
    assert.is(code(() => e.locks.withLock(HK, 'HELD', () => 1, { timeoutMs: 10 })), 'ERR_LOCK_TIMEOUT');
    // positions, byte for byte the values saved
    for (const t of texts) {
      const p = JSON.parse(t) as Record<string, unknown>;
      assert.is(JSON.stringify(e.positions.get(HK, p.position_uuid as string)), JSON.stringify(p));
    }
    assert.is(e.positions.size, texts.length);
    assert.equal(e.positions.hotkeys(), [HK]);
    // eliminations, departed
    assert.equal(e.eliminations.get(HK), { hotkey: HK, elimination_initiated_time_ms: 1_733_000_000_000, dd: 0.11, reason: 'MAX_TOTAL_DRAWDOWN' });
    assert.equal(e.departed.get(HK), { detected_ms: 1_746_396_435_687 });
    // general: queue, counter, map
    const q = e.general.queue('orders');
    assert.is(q.size, 7);
    for (let i = 0; i < 7; i++) assert.equal(q.pop(), { from: w.threadId, i });
    assert.is(q.pop(), undefined);
    assert.is(e.general.counter('orders_seen').get(), 5);
    assert.equal(e.general.map('accounts').get(HK), { account_size: 25_000, threadId: w.threadId });
    // shared statistics see the worker's lock acquisitions (40 rounds + 10 saves + the held one)
    assert.is(e.stats().locks.acquisitions, 40 + texts.length + 1);
    assert.is(e.stats().locks.held, 1);
    Atomics.store(flag, 1, 1);
    Atomics.notify(flag, 1);
    const r = await result;
    assert.is(r.threadId, w.threadId);
    assert.is(r.saves, texts.length);
    const [exitCode] = (await once(w, 'exit')) as [number];
    assert.is(exitCode, 0);
    assert.is(e.locks.isHeld(HK, 'HELD'), false);
    assert.is(e.stats().locks.held, 0);
    // per-thread counters stay per thread
    assert.is(e.stats().positions.operations.saves, 0);
  } finally {
    Atomics.store(flag, 1, 1);
    Atomics.notify(flag, 1);
    await w.terminate();
  }
});

// ---- ERR_LAYOUT_MISMATCH -----------------------------------------------------------------------

/** A deep copy of the handle (SharedArrayBuffers still shared) that the test may change. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;
function tampered(e: Engine, change: (h: Loose) => void): EngineHandle {
  const h = structuredClone(e.handle()) as Loose;
  change(h);
  return h as EngineHandle;
}

function mismatch(h: unknown, what: RegExp): void {
  const err = caught(() => attachEngine(h as EngineHandle));
  assert.ok(err instanceof SabStateError, `expected a SabStateError, got ${String(err)}`);
  assert.is((err as SabStateError).code, 'ERR_LAYOUT_MISMATCH');
  assert.match((err as Error).message, what);
}

const GEN = { queues: { orders: { capacity: 8, maxMessageBytes: 64 } }, counters: ['c'], maps: ['m'] };

test('ERR_LAYOUT_MISMATCH: not an engine handle, other layout version, a domain missing', () => {
  const e = createEngine({ ...SMALL, general: GEN });
  mismatch(null, /not an engine handle/);
  mismatch({ kind: 'other' }, /not an engine handle/);
  mismatch(tampered(e, (h) => { h.version = 99; }), /layout version 99/);
  for (const d of ['locks', 'positions', 'eliminations', 'departed', 'general']) {
    mismatch(tampered(e, (h) => { delete h[d]; }), new RegExp(`no ${d} domain`));
  }
  mismatch(tampered(e, (h) => { delete h.seed; }), /^attachEngine: the handle has no hash seed$/);
  mismatch(tampered(e, (h) => { h.seed = 'x'; }), /^attachEngine: the handle has no hash seed$/);
  mismatch(tampered(e, (h) => { delete h.options; }), /^attachEngine: the handle has no options$/);
  // another hash seed: every region's header disagrees
  mismatch(tampered(e, (h) => { h.seed = [h.seed[0] ^ 1, h.seed[1]]; }), /hash seed differs/);
});

test('ERR_LAYOUT_MISMATCH: tampered locks handle', () => {
  const e = createEngine({ ...SMALL, general: GEN });
  const other = createEngine({ ...SMALL, general: GEN });
  mismatch(tampered(e, (h) => { h.locks.stripes = 512; }), /^locks: size param 0 is 256, expected 512/);
  mismatch(tampered(e, (h) => { h.locks.sab = other.handle().locks.sab; }), /^locks: hash seed differs/);
  mismatch(tampered(e, (h) => { h.locks.sab = new SharedArrayBuffer(h.locks.sab.byteLength); }), /^locks: bad magic/);
  mismatch(tampered(e, (h) => { h.locks.sab = new ArrayBuffer(1024); }), /^locks: not a SharedArrayBuffer/);
});

test('ERR_LAYOUT_MISMATCH: tampered positions handle', () => {
  const e = createEngine({ ...SMALL, general: GEN });
  const other = createEngine({ ...SMALL, general: GEN });
  mismatch(tampered(e, (h) => { h.positions.heap.maxBytes = 32 << 20; }), /positions heap/);
  mismatch(tampered(e, (h) => { h.positions.records.sab = other.handle().positions.records.sab; }), /^positions: hash seed differs/);
  mismatch(tampered(e, (h) => { h.positions.open.sab = h.positions.heap.sab; }), /^positions open index: region kind/);
  mismatch(tampered(e, (h) => { h.positions.byHotkey.maxRecords = 4096; }), /^positions hotkey index/); // 2 x positions.maxRecords is 2048 (issue 12)
});

test('ERR_LAYOUT_MISMATCH: tampered eliminations handle', () => {
  const e = createEngine({ ...SMALL, general: GEN });
  const other = createEngine({ ...SMALL, general: GEN });
  mismatch(tampered(e, (h) => { h.eliminations.maxRecords = 128; }), /^eliminations: size param 0 is 64, expected 128/);
  mismatch(tampered(e, (h) => { h.eliminations.control = other.handle().eliminations.control; }), /^eliminations: hash seed differs/);
  mismatch(tampered(e, (h) => { h.eliminations.heap.sab = new SharedArrayBuffer(4096); }), /^eliminations heap: bad magic/);
  mismatch(tampered(e, (h) => { h.eliminations.tables[1].sab = h.departed.table.sab; }), /^eliminations B/);
});

test('ERR_LAYOUT_MISMATCH: tampered departed handle', () => {
  const e = createEngine({ ...SMALL, general: GEN });
  const other = createEngine({ ...SMALL, general: GEN });
  mismatch(tampered(e, (h) => { h.departed.table.sab = other.handle().departed.table.sab; }), /^departed: hash seed differs/);
  mismatch(tampered(e, (h) => { h.departed.heap.sab = h.locks.sab; }), /^departed heap: region kind/);
  mismatch(tampered(e, (h) => { h.departed.table.slots = 4; }), /^departed: /);
});

test('ERR_LAYOUT_MISMATCH: tampered general handle (queue, counters, gate, map)', () => {
  const e = createEngine({ ...SMALL, general: GEN });
  const other = createEngine({ ...SMALL, general: GEN });
  mismatch(tampered(e, (h) => { h.general.queues[0].capacity = 16; }), /^queue "orders": size param 0 is 8, expected 16/);
  mismatch(tampered(e, (h) => { h.general.queues[0].sab = other.handle().general.queues[0]!.sab; }), /^queue "orders": hash seed differs/);
  mismatch(tampered(e, (h) => { h.general.queues.push(h.general.queues[0]); }), /general: queue "orders" appears twice/);
  mismatch(tampered(e, (h) => { h.general.counters.names = ['c', 'd']; }), /^counters: size param 0 is 1, expected 2/);
  mismatch(tampered(e, (h) => { h.general.gate = h.general.counters.sab; }), /^syncGate: region kind/);
  const o = other.handle() as Loose;
  mismatch(tampered(e, (h) => { h.general.maps[0].part.table.sab = o.general.maps[0].part.table.sab; }), /^map m: hash seed differs/);
  mismatch(tampered(e, (h) => { h.general.maps = 'm'; }), /general: handle has no queues \/ maps lists/);
  // the untampered handle still attaches
  const ok = attachEngine(e.handle());
  assert.equal(ok.general.queueNames(), ['orders']);
});

test('ERR_LAYOUT_MISMATCH: a domain handle missing a part (never a TypeError)', () => {
  const e = createEngine({ ...SMALL, general: GEN });
  const parts: Array<(h: Loose) => void> = [
    (h) => { delete h.locks.sab; },
    (h) => { delete h.positions.heap; },
    (h) => { delete h.positions.records; },
    (h) => { delete h.eliminations.tables; },
    (h) => { delete h.eliminations.heap; },
    (h) => { delete h.departed.table; },
    (h) => { h.general.queues[0] = null; },
    (h) => { delete h.general.counters; },
    (h) => { delete h.general.gate; },
    (h) => { delete h.general.maps[0].part; },
  ];
  for (const change of parts) mismatch(tampered(e, change), /./);
});

// ---- watch / recovery --------------------------------------------------------------------------

test('watch: a worker terminated while holding locks; engine.watch releases them and counts it', async () => {
  const e = createEngine(SMALL);
  // two keys on different stripes
  let tp2 = 'ETHUSD';
  for (let i = 0; e.locks.stripeOf(HK, tp2) === e.locks.stripeOf(HK, 'BTCUSD'); i++) tp2 = `TP${i}`;
  const flag = new Int32Array(new SharedArrayBuffer(16));
  const data: HoldData = { mode: 'hold', handle: e.handle(), flag: flag.buffer as SharedArrayBuffer, keys: [[HK, 'BTCUSD'], [HK, tp2]] };
  const w = tsWorker(WORKER, { workerData: data });
  e.watch(w);
  try {
    await waitFlag(flag, 0, 1);
    assert.is(e.locks.ownerOf(HK, 'BTCUSD'), w.threadId);
    assert.is(e.locks.ownerOf(HK, tp2), w.threadId);
    assert.is(code(() => e.locks.withLock(HK, 'BTCUSD', () => 1, { timeoutMs: 20 })), 'ERR_LOCK_TIMEOUT');
    // a waiter blocked on the dead holder's stripe is woken by the recovery
    const waiting = e.locks.withLockAsync(HK, tp2, () => 'got it', { timeoutMs: 20_000 });
    await w.terminate();
    assert.is(await waiting, 'got it');
  } finally {
    await w.terminate();
  }
  assert.is(e.locks.isHeld(HK, 'BTCUSD'), false);
  assert.is(e.locks.withLock(HK, 'BTCUSD', () => 'free', { timeoutMs: 100 }), 'free');
  await e.whenRecovered();
  const s = e.stats();
  assert.is(s.locks.recoveries, 2);
  assert.equal(s.watch, { exited: 1, recoveredWhileWaiting: 0, recoveredLocks: 2, recoveredOther: 0, repairs: 3 + Object.keys(s.general.maps).length, repaired: 0, reclaimedBlocks: 0, pendingRepairs: 0 });
  assert.equal(e.verify(), { ok: true, violations: [] });
  assert.match(e.statsTable(), /watch +\| 1 watched workers exited +\| 2 stripes recovered/);
  // a watched worker that exits holding nothing is counted, recovers nothing
  const flag2 = new Int32Array(new SharedArrayBuffer(16));
  const w2 = tsWorker(WORKER, { workerData: { mode: 'hold', handle: e.handle(), flag: flag2.buffer, keys: [] } satisfies HoldData });
  e.watch(w2);
  await waitFlag(flag2, 0, 1);
  await w2.terminate();
  await e.whenRecovered();
  assert.equal(e.stats().watch, { exited: 2, recoveredWhileWaiting: 0, recoveredLocks: 2, recoveredOther: 0, repairs: 6, repaired: 0, reclaimedBlocks: 0, pendingRepairs: 0 });
  assert.is(e.stats().locks.recoveries, 2);
});

// ---- stats -------------------------------------------------------------------------------------

test('stats: counts after N saves, adds, marks, pushes, counter adds, map sets', () => {
  const e = createEngine({ ...SMALL, general: { queues: { orders: { capacity: 64, maxMessageBytes: 512 } }, counters: ['a', 'b'], maps: ['m'] } });
  const positions = realPositionTexts().map((t) => JSON.parse(t) as Record<string, unknown>);
  for (const p of positions) saveLocked(e, p);
  for (let i = 0; i < 9; i++) e.eliminations.add({ hotkey: `hk${i}`, reason: 'ZOMBIE', dd: 0, elimination_initiated_time_ms: i });
  for (let i = 0; i < 25; i++) e.departed.mark(`dep${i}`, 1_700_000_000_000 + i);
  const q = e.general.queue('orders');
  for (let i = 0; i < 13; i++) q.push({ i });
  for (let i = 0; i < 4; i++) q.pop();
  e.general.counter('a').add(1000);
  e.general.counter('b').add();
  e.general.counter('b').add(-3);
  for (let i = 0; i < 6; i++) e.general.map('m').set(`k${i}`, i);
  for (let i = 0; i < 3; i++) e.positions.get(HK, positions[i]!.position_uuid as string);
  e.general.syncGate.begin();
  e.general.syncGate.end();

  const s = e.stats();
  assert.is(s.positions.records, 63);
  assert.is(s.positions.open, 3);
  assert.is(s.positions.hotkeys, 1);
  assert.is(s.positions.operations.saves, 63);
  assert.is(s.positions.operations.gets, 3);
  assert.ok(s.positions.bytesUsed > 63 * 500 && s.positions.bytesUsed <= s.positions.bytesCapacity);
  assert.is(s.positions.bytesCapacity, 16 << 20);
  assert.is(s.locks.acquisitions, 63);
  assert.is(s.locks.held, 0);
  assert.is(s.locks.stripes, 256);
  assert.is(s.eliminations.records, 9);
  assert.is(s.eliminations.operations.writes, 9);
  assert.is(s.departed.records, 25);
  assert.is(s.departed.operations.writes, 25);
  assert.is(s.general.queues.orders!.pushes, 13);
  assert.is(s.general.queues.orders!.pops, 4);
  assert.is(s.general.queues.orders!.size, 9);
  assert.is(s.general.queues.orders!.capacity, 64);
  assert.equal(s.general.counters, { a: 1000, b: -2 });
  assert.equal(s.general.maps, { m: { size: 6 } });
  assert.is(s.general.gate.epoch, 1);
  assert.is(s.general.gate.inProgress, false);
  assert.equal(s.watch, { exited: 0, recoveredWhileWaiting: 0, recoveredLocks: 0, recoveredOther: 0, repairs: 0, repaired: 0, reclaimedBlocks: 0, pendingRepairs: 0 });
  // a plain object: survives JSON
  assert.equal(JSON.parse(JSON.stringify(s)).positions.records, 63);
  // replaceAll counts one write and flips the set generation
  e.eliminations.replaceAll([{ hotkey: 'x' }]);
  assert.is(e.stats().eliminations.records, 1);
  assert.is(e.stats().eliminations.generation, 1);
});

test('statsTable: a text table that mentions every domain, queue, counter and map', () => {
  const e = createEngine({ ...SMALL, general: { queues: { orders: { capacity: 8, maxMessageBytes: 64 }, websockets: {} }, counters: ['orders_seen'], maps: ['accounts'] } });
  for (const p of realPositionTexts().slice(0, 5)) saveLocked(e, JSON.parse(p) as Record<string, unknown>);
  e.general.counter('orders_seen').add(1234);
  e.general.map('accounts').set(HK, 1);
  e.general.queue('orders').push('x');
  const t = e.statsTable();
  assert.type(t, 'string');
  const lines = t.split('\n');
  assert.ok(lines.length >= 8, t);
  assert.ok(lines.every((l) => l.startsWith('|') && l.endsWith('|') && l.length === lines[0]!.length), `ragged table:\n${t}`);
  for (const word of ['locks', 'positions', 'eliminations', 'departed', 'general', 'queue orders', 'queue websockets', 'orders_seen 1,234', 'accounts 1']) {
    assert.ok(t.includes(word), `statsTable does not mention ${word}:\n${t}`);
  }
  assert.match(t, /5 saves/);
  assert.match(t, /5 records, 0 open, 1 hotkeys/);
  assert.match(t, /pushes 1/);
  assert.match(t, /1 queued of 8/);
});

// ---- close -------------------------------------------------------------------------------------

test('close: handle(), stats(), statsTable() and snapshot() then throw ERR_CLOSED; other views unaffected', () => {
  const e = createEngine({ ...SMALL, general: { counters: ['c'] } });
  const b = attachEngine(e.handle());
  e.close();
  assert.is(code(() => e.handle()), 'ERR_CLOSED');
  assert.is(code(() => e.stats()), 'ERR_CLOSED');
  assert.is(code(() => e.statsTable()), 'ERR_CLOSED');
  assert.is(code(() => e.snapshot('/nonexistent/sabstate-closed')), 'ERR_CLOSED');
  e.close(); // idempotent
  b.general.counter('c').add(2);
  assert.is(b.general.counter('c').get(), 2);
  assert.ok(b.handle().kind === 'sabstate-engine');
});

test('thread options: cache sizes per thread, checked at the boundary', () => {
  const e = createEngine({}, { orderCacheSize: 64, recordMemoSize: 16 });
  const b = attachEngine(e.handle(), { orderCacheSize: 1 << 20 });
  assert.ok(b.positions.size === 0);
  assert.throws(() => attachEngine(e.handle(), { orderCacheSize: 0 }), (x: unknown) => x instanceof RangeError && (x as Error).message === 'threadOptions.orderCacheSize must be a positive integer at most 16777216');
  assert.throws(() => attachEngine(e.handle(), { recordMemoSize: 1.5 }), (x: unknown) => x instanceof TypeError && (x as Error).message === 'threadOptions.recordMemoSize must be a positive integer');
  assert.throws(() => createEngine({}, { cache: 1 } as never), (x: unknown) => x instanceof TypeError && (x as Error).message === 'threadOptions.cache is not a known option (known: orderCacheSize, recordMemoSize, orderCacheBytes, recordMemoBytes)');
});

test('watch: a worker terminated inside a guarded write does not hold back the next sync', async () => {
  const e = createEngine(SMALL);
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const w = tsWorker(new URL('./workers/gate-worker.ts', import.meta.url), { workerData: { handle: e.handle(), flag: flag.buffer } });
  e.watch(w);
  const exited = once(w, 'exit');
  while (Atomics.load(flag, 0) === 0) await new Promise((r) => setTimeout(r, 5));
  // While the worker is inside its guard, begin() must wait for it (and here times out).
  assert.is(code(() => e.general.syncGate.begin({ timeoutMs: 50 })), 'ERR_LOCK_TIMEOUT');
  e.general.syncGate.end();
  await w.terminate();
  await exited;
  const t0 = performance.now();
  const epoch = e.general.syncGate.begin({ timeoutMs: 5000 });
  assert.ok(performance.now() - t0 < 1000, 'begin() no longer waits for the dead writer');
  assert.is(e.general.syncGate.current().inProgress, true);
  e.general.syncGate.end();
  assert.is(epoch, 2);
  assert.ok(e.stats().watch.recoveredOther >= 1);
});

test.run();
