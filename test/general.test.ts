import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { GeneralDomain, createGeneralHandle, resolveGeneralOptions } from '../src/domains/general.ts';
import type { GeneralHandle, GeneralMapProvider, MapStore } from '../src/domains/general.ts';
import { SabStateError } from '../src/errors.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import type { HashKey } from '../src/internal/hash/hash.ts';
import { createRingRegion } from '../src/internal/store/ring-layout.ts';
import { fcParams, seed, stressScale } from './helpers/seed.ts';
import { runWorkers, tsWorker } from './helpers/workers.ts';
import { LOG_BYTES, LOG_ENTRIES, kEntries, kLogLen, kViolations } from './workers/general-log.ts';
import { code } from './helpers/errors.ts';

const WORKER = new URL('./workers/general-worker.ts', import.meta.url);
const key = hashKeyFromSeed(0xabcdef_0123n);

function make(general: unknown = {}, k: HashKey = key) {
  const handle = createGeneralHandle(resolveGeneralOptions(general), k);
  return { handle, a: new GeneralDomain(handle, k), b: new GeneralDomain(handle, k) };
}

function throws(fn: () => unknown, type: typeof TypeError | typeof RangeError, message: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, type);
    assert.is((e as Error).message, message);
    return;
  }
  assert.unreachable(`expected ${type.name}: ${message}`);
}

// ---- counters ------------------------------------------------------------------------------------

test('counters: add returns the new value, shared by every instance; bad n leaves it unchanged', () => {
  const { a, b } = make({ counters: ['orders', 'fills'] });
  assert.is(a.counter('orders').add(), 1);
  assert.is(b.counter('orders').add(), 2);
  assert.is(a.counter('orders').add(40), 42);
  assert.is(b.counter('orders').add(-2), 40);
  assert.is(a.counter('fills').get(), 0);
  for (const bad of [1.5, Number.NaN, 2 ** 53, '1' as unknown as number]) {
    assert.is(code(() => a.counter('orders').add(bad)), 'ERR_INVALID_VALUE', String(bad));
  }
  assert.is(b.counter('orders').get(), 40);
  assert.is(b.counter('orders').getBigInt(), 40n);
  assert.is(a.counter('orders').add(2 ** 53 - 1 - 40), 2 ** 53 - 1);
  assert.equal(a.stats().counters, { orders: 2 ** 53 - 1, fills: 0 });
  assert.is(code(() => a.counter('nope')), 'ERR_UNKNOWN_COUNTER');
  assert.equal(a.counterNames(), ['orders', 'fills']);
});

test('counters: 4 workers x N adds give the exact total, each value returned exactly once', async () => {
  const count = Math.round(25_000 * stressScale);
  const { handle, a } = make({ counters: ['hits', 'twos'] });
  const log = new SharedArrayBuffer(LOG_BYTES);
  const datas = Array.from({ length: 4 }, (_, w) => ({ role: 'adder', handle, key, log, workers: 4, seed: seed + w, count }));
  const results = await runWorkers<{ got: Float64Array }>(WORKER, datas, 60_000);
  assert.is(a.counter('hits').get(), 4 * count);
  assert.is(a.counter('twos').get(), 8 * count);
  const seen = new Uint8Array(4 * count + 1);
  for (const r of results) {
    let last = 0;
    for (const v of r.got) {
      assert.ok(v > last && v <= 4 * count && seen[v] === 0, `value ${v}`);
      seen[v] = 1;
      last = v;
    }
  }
});

// ---- the sync gate -------------------------------------------------------------------------------

test('gate: begin bumps the epoch and marks in progress; end clears; guard refuses stale writes', () => {
  const { a, b } = make();
  const g = a.syncGate;
  assert.equal(g.current(), { epoch: 0, inProgress: false });
  assert.is(g.guard(0, () => 'wrote'), 'wrote');
  assert.is(g.begin(), 1);
  assert.equal(b.syncGate.current(), { epoch: 1, inProgress: true });
  let ran = false;
  for (const e of [0, 1]) {
    assert.is(code(() => b.syncGate.guard(e, () => (ran = true))), 'ERR_STALE_EPOCH');
  }
  g.end();
  g.end(); // idempotent
  assert.equal(b.syncGate.current(), { epoch: 1, inProgress: false });
  assert.is(code(() => b.syncGate.guard(0, () => (ran = true))), 'ERR_STALE_EPOCH');
  assert.is(ran, false);
  assert.is(b.syncGate.guard(1, () => 7), 7);
  for (const bad of [-1, 0.5, Number.NaN, '1' as unknown as number]) {
    assert.is(code(() => g.guard(bad, () => (ran = true))), 'ERR_INVALID_VALUE', String(bad));
  }
  assert.is(ran, false);
  assert.equal(a.stats().gate, { epoch: 1, inProgress: false, refused: 3 });
});

test('gate: nested guards do not deadlock; begin inside a guard throws; a throwing write releases', () => {
  const { a } = make();
  const g = a.syncGate;
  assert.is(g.guard(0, () => g.guard(0, () => g.guard(0, () => 'deep'))), 'deep');
  assert.throws(() => g.guard(0, () => g.begin()), /inside a guarded write/);
  assert.equal(g.current(), { epoch: 0, inProgress: false });
  assert.throws(() => g.guard(0, () => {
    throw new Error('write failed');
  }), /write failed/);
  assert.is(g.begin({ timeoutMs: 1000 }), 1); // would time out if the throw had leaked the count
  g.end();
  assert.is(code(() => g.begin({ timeoutMs: -5 })), 'ERR_INVALID_OPTION');
});

function holder(handle: GeneralHandle, ms: number) {
  const flag = new SharedArrayBuffer(LOG_BYTES);
  const w = tsWorker(WORKER, { workerData: { role: 'holder', handle, key, log: flag, workers: 1, seed, ms } });
  const f = new Int32Array(flag);
  const exited = new Promise((resolve, reject) => {
    w.once('error', reject);
    w.once('exit', resolve);
  });
  const deadline = Date.now() + 30_000;
  while (Atomics.load(f, 0) === 0 && Date.now() < deadline) Atomics.wait(f, 0, 0, 50);
  assert.is(Atomics.load(f, 0), 1, 'holder entered its guarded write');
  return { f, exited };
}

test('gate: begin() returns only after a guarded write in flight in another thread completes', async () => {
  const { handle, a } = make();
  const { f, exited } = holder(handle, 300);
  const t = performance.now();
  assert.is(a.syncGate.begin(), 1);
  assert.is(Atomics.load(f, 1), 1, 'the write completed before begin returned');
  assert.ok(performance.now() - t > 50);
  a.syncGate.end();
  await exited;
});

test('gate: begin({ timeoutMs }) throws ERR_LOCK_TIMEOUT while a write is stuck; the sync stays begun', async () => {
  const { handle, a } = make();
  const { exited } = holder(handle, 600);
  assert.is(code(() => a.syncGate.begin({ timeoutMs: 50 })), 'ERR_LOCK_TIMEOUT');
  assert.equal(a.syncGate.current(), { epoch: 1, inProgress: true });
  assert.is(a.syncGate.begin(), 2); // waits for the holder
  a.syncGate.end();
  await exited;
});

test('gate property: a stale or in-sync write never lands, whatever the interleaving (2 writers, 1 syncer)', async () => {
  let landed = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        seed: fc.integer(),
        syncs: fc.integer({ min: 1, max: Math.round(150 * stressScale) }),
        spinOut: fc.integer({ min: 0, max: 20_000 }),
        spinIn: fc.integer({ min: 0, max: 5_000 }),
        staleRate: fc.double({ min: 0, max: 0.5, noNaN: true }),
      }),
      async (plan) => {
        const { handle } = make();
        const log = new SharedArrayBuffer(LOG_BYTES);
        const base = { ...plan, handle, key, log, workers: 3 };
        const rs = await runWorkers<{ violations?: number; landed?: number; refused?: number }>(
          WORKER,
          [{ ...base, role: 'syncer' }, { ...base, role: 'writer', seed: plan.seed + 1 }, { ...base, role: 'writer', seed: plan.seed + 2 }],
          60_000,
        );
        const l = new Int32Array(log);
        assert.is(rs[0]!.violations, 0, 'a write landed between begin() returning and end()');
        assert.is(Atomics.load(l, kViolations), 0, 'a write ran on after a newer begin() returned');
        const n = Math.min(Atomics.load(l, kLogLen), LOG_ENTRIES);
        for (let i = 1; i < n; i++) assert.ok(l[kEntries + i]! >= l[kEntries + i - 1]!, 'an older epoch landed after a newer one');
        if (n > 0) assert.ok(l[kEntries + n - 1]! <= plan.syncs);
        landed += (rs[1]!.landed ?? 0) + (rs[2]!.landed ?? 0);
        refused += (rs[1]!.refused ?? 0) + (rs[2]!.refused ?? 0);
      },
    ),
    fcParams(Math.max(3, Math.round(6 * stressScale))),
  );
  assert.ok(landed > 0 && refused > 0, `landed ${landed}, refused ${refused}`);
});

// ---- options -------------------------------------------------------------------------------------

const P = 'options.general';
test('options: general must be an object', () => throws(() => resolveGeneralOptions(5), TypeError, `${P} must be an object`));
test('options: unknown general key', () =>
  throws(() => resolveGeneralOptions({ queue: {} }), TypeError, `${P}.queue is not a known option (known: queues, counters, maps)`));
test('options: queues must be an object', () => throws(() => resolveGeneralOptions({ queues: [] }), TypeError, `${P}.queues must be an object`));
test('options: queue names non-empty', () =>
  throws(() => resolveGeneralOptions({ queues: { '': {} } }), TypeError, `${P}.queues names must be non-empty strings of at most 256 characters`));
test('options: a queue must be an object', () => throws(() => resolveGeneralOptions({ queues: { ws: 5 } }), TypeError, `${P}.queues.ws must be an object`));
test('options: unknown queue key', () =>
  throws(() => resolveGeneralOptions({ queues: { ws: { cap: 4 } } }), TypeError, `${P}.queues.ws.cap is not a known option (known: capacity, maxMessageBytes)`));
test('options: capacity must be an integer', () =>
  throws(() => resolveGeneralOptions({ queues: { ws: { capacity: 1.5 } } }), TypeError, `${P}.queues.ws.capacity must be a positive integer`));
test('options: capacity in range', () =>
  throws(() => resolveGeneralOptions({ queues: { ws: { capacity: 0 } } }), RangeError, `${P}.queues.ws.capacity must be a positive integer at most 16777216`));
test('options: capacity a power of two', () =>
  throws(() => resolveGeneralOptions({ queues: { ws: { capacity: 12 } } }), RangeError, `${P}.queues.ws.capacity must be a power of two`));
test('options: capacity at least 2', () =>
  throws(() => resolveGeneralOptions({ queues: { ws: { capacity: 1 } } }), RangeError, `${P}.queues.ws.capacity must be a power of two of at least 2`));
test('options: maxMessageBytes an integer (path quoted for odd names)', () =>
  throws(() => resolveGeneralOptions({ queues: { 'a b': { maxMessageBytes: '4096' } } }), TypeError, `${P}.queues["a b"].maxMessageBytes must be a positive integer`));
test('options: maxMessageBytes in range', () =>
  throws(() => resolveGeneralOptions({ queues: { ws: { maxMessageBytes: 2 ** 25 } } }), RangeError, `${P}.queues.ws.maxMessageBytes must be a positive integer at most 16777216`));
test('options: a queue must fit in 2 GiB', () =>
  throws(() => resolveGeneralOptions({ queues: { ws: { capacity: 2 ** 20, maxMessageBytes: 4096 } } }), RangeError,
    `${P}.queues.ws must fit in 2147483648 bytes (capacity x maxMessageBytes needs 4429185536)`));
test('options: counters must be an array', () => throws(() => resolveGeneralOptions({ counters: 'x' }), TypeError, `${P}.counters must be an array of names`));
test('options: counter names non-empty strings', () =>
  throws(() => resolveGeneralOptions({ counters: ['a', ''] }), TypeError, `${P}.counters[1] must be a non-empty string of at most 256 characters`));
test('options: counter names distinct', () =>
  throws(() => resolveGeneralOptions({ counters: ['a', 'a'] }), RangeError, `${P}.counters[1] must not repeat a name ("a")`));
test('options: at most 65536 counters', () =>
  throws(() => resolveGeneralOptions({ counters: Array.from({ length: 65537 }, (_, i) => `c${i}`) }), RangeError, `${P}.counters must have at most 65536 names`));
test('options: maps must be an array', () => throws(() => resolveGeneralOptions({ maps: 'accounts' }), TypeError, `${P}.maps must be an array of names`));
test('options: declared maps need a map provider', () =>
  throws(() => make({ maps: ['accountSizes'] }), RangeError, `${P}.maps must be empty until a map provider is wired in (createGeneralHandle third argument)`));
test('options: defaults, and the path argument', () => {
  assert.equal(resolveGeneralOptions(undefined), { queues: [], counters: [], maps: [] });
  assert.equal(resolveGeneralOptions({ queues: { ws: {} } }).queues, [{ name: 'ws', capacity: 1024, maxMessageBytes: 4096 }]);
  throws(() => resolveGeneralOptions(1, 'engine.general'), TypeError, 'engine.general must be an object');
});

// ---- attach, layout, maps hook -------------------------------------------------------------------

test('attach: a second instance on the same handle (and a structured clone of it) sees the same state', () => {
  const { handle, a } = make({ queues: { ws: { capacity: 4 } }, counters: ['n'] });
  a.queue('ws').push({ hotkey: 'hk' });
  a.counter('n').add(3);
  a.syncGate.begin();
  const c = new GeneralDomain(structuredClone(handle), key);
  assert.equal(c.queue('ws').pop(), { hotkey: 'hk' });
  assert.is(c.counter('n').get(), 3);
  assert.equal(c.syncGate.current(), { epoch: 1, inProgress: true });
  assert.equal(c.queueNames(), ['ws']);
  assert.is(code(() => c.queue('nope')), 'ERR_UNKNOWN_QUEUE');
  assert.is(code(() => c.map('nope')), 'ERR_UNKNOWN_MAP');
});

test('ERR_LAYOUT_MISMATCH: another key, another size, a foreign region, a broken handle', () => {
  const { handle } = make({ queues: { ws: { capacity: 4, maxMessageBytes: 64 } }, counters: ['n'] });
  const bad = (h: unknown, k: HashKey = key) => code(() => new GeneralDomain(h as GeneralHandle, k));
  assert.is(bad(handle, hashKeyFromSeed(1n)), 'ERR_LAYOUT_MISMATCH');
  assert.is(bad({ ...handle, queues: [{ ...handle.queues[0]!, capacity: 8 }] }), 'ERR_LAYOUT_MISMATCH');
  assert.is(bad({ ...handle, queues: [{ ...handle.queues[0]!, sab: createRingRegion(key, 4, 32) }] }), 'ERR_LAYOUT_MISMATCH');
  assert.is(bad({ ...handle, counters: { ...handle.counters, names: ['n', 'm'] } }), 'ERR_LAYOUT_MISMATCH');
  assert.is(bad({ ...handle, gate: handle.counters.sab }), 'ERR_LAYOUT_MISMATCH');
  assert.is(bad({ ...handle, gate: new SharedArrayBuffer(512) }), 'ERR_LAYOUT_MISMATCH');
  assert.is(bad({ ...handle, gate: new ArrayBuffer(512) }), 'ERR_LAYOUT_MISMATCH');
  assert.is(bad({ ...handle, queues: undefined }), 'ERR_LAYOUT_MISMATCH');
  assert.is(bad(null), 'ERR_LAYOUT_MISMATCH');
  assert.is(bad({ ...handle, maps: [{ name: 'm', part: 1 }] }), 'ERR_LAYOUT_MISMATCH');
});

test('maps hook: a provider plugs maps in (create on the creating thread, attach everywhere)', () => {
  const stores = new Map<number, Map<string, unknown>>();
  const provider: GeneralMapProvider = {
    create: () => {
      stores.set(stores.size, new Map());
      return stores.size - 1;
    },
    attach: (part): MapStore => {
      const m = stores.get(part as number)!;
      return {
        get: (k) => m.get(k),
        set: (k, v) => void m.set(k, v),
        has: (k) => m.has(k),
        delete: (k) => m.delete(k),
        entries: () => [...m],
        consistentEntries: () => [...m],
        releaseAllOwnedBy: () => 0,
        repair: () => ({ repaired: 0, reclaimed: 0, violations: [] }),
        verify: () => [],
        get size() {
          return m.size;
        },
      };
    },
  };
  const handle = createGeneralHandle(resolveGeneralOptions({ maps: ['accountSizes', 'other'] }), key, provider);
  const a = new GeneralDomain(handle, key, provider);
  const b = new GeneralDomain(handle, key, provider);
  a.map('accountSizes').set('hk', { size: 1 });
  assert.equal(b.map('accountSizes').get('hk'), { size: 1 });
  assert.equal(b.stats().maps, { accountSizes: { size: 1 }, other: { size: 0 } });
  assert.equal(a.mapNames(), ['accountSizes', 'other']);
  assert.is(code(() => a.map('nope')), 'ERR_UNKNOWN_MAP');
});

test.run();
