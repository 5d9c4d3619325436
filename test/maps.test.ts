// The general domain's named maps (engine.general.map(name), src/domains/shared-map.ts): unit
// suites (smoke, JSON round trips, errors, capacity, attach), a fast-check model run through two
// engine instances on the same buffers, and a worker stress run (read-modify-write increments
// under engine.locks, readers that must only ever see whole values). Worker: workers/maps-worker.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createEngine, attachEngine, SabStateError } from '../src/index.ts';
import type { Engine, GeneralMap } from '../src/index.ts';
import { encodeValue } from '../src/internal/codec/codec.ts';
import { MAP_MAX_RECORDS, MAP_MAX_VALUE_BYTES } from '../src/domains/shared-map.ts';
import { fcParams, seed, stressScale } from './helpers/seed.ts';
import { runWorkers } from './helpers/workers.ts';
import { CHURN, type IncrResult, type MapReaderResult, isRacerValue, isWhole, wholeValue } from './workers/maps-shared.ts';
import { code } from './helpers/errors.ts';

const WORKER = new URL('./workers/maps-worker.ts', import.meta.url);
const HK = '5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th';

function make(maps = ['accountSizes']): { e: Engine; m: GeneralMap } {
  const e = createEngine({ general: { maps } });
  return { e, m: e.general.map('accountSizes') };
}

/** The whole visible state of a map, canonical (sorted by key, key order kept inside values). */
function state(m: GeneralMap): string {
  return JSON.stringify({ size: m.size, entries: m.entries().sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) });
}

function refused(m: GeneralMap, expect: string, fn: () => unknown, what = expect): void {
  const before = state(m);
  assert.is(code(fn), expect, what);
  assert.is(state(m), before, `${what}: state unchanged`);
}

// ---- smoke ---------------------------------------------------------------------------------------

test('smoke: declared maps; get / set / has / delete / entries / size', () => {
  const { e, m } = make(['accountSizes', 'other']);
  assert.equal(e.general.mapNames(), ['accountSizes', 'other']);
  assert.is(m.size, 0);
  assert.equal(m.entries(), []);
  assert.is(m.get(HK), undefined);
  assert.is(m.has(HK), false);
  m.set(HK, 125_000);
  m.set('5Other', 50_000);
  assert.is(m.get(HK), 125_000);
  assert.ok(m.has(HK));
  assert.is(m.size, 2);
  m.set(HK, 130_000); // overwrite: same size
  assert.is(m.get(HK), 130_000);
  assert.is(m.size, 2);
  assert.equal(m.entries().sort(), [[HK, 130_000], ['5Other', 50_000]]);
  // maps are separate
  const other = e.general.map('other');
  assert.is(other.size, 0);
  assert.is(other.get(HK), undefined);
  other.set(HK, 'x');
  assert.is(m.get(HK), 130_000);
  assert.equal(e.stats().general.maps, { accountSizes: { size: 2 }, other: { size: 1 } });
  // delete
  assert.is(m.delete(HK), true);
  assert.is(m.delete(HK), false);
  assert.is(m.get(HK), undefined);
  assert.is(m.has(HK), false);
  assert.is(m.size, 1);
  assert.is(m.delete('5NeverThere'), false);
  // re-set after delete
  m.set(HK, 1);
  assert.is(m.get(HK), 1);
  assert.is(m.size, 2);
  // the same map object every call
  assert.is(e.general.map('accountSizes'), m);
});

test('JSON values round trip: objects (key order kept), arrays, numbers, strings, booleans, null', () => {
  const { m } = make();
  const values: unknown[] = [
    0, -0, 1, -1, 31, 32, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, -(2 ** 53), 0.1 + 0.2, 1e-300, -1.7976931348623157e308,
    '', 'ascii', 'é✓😀', '\ud800 lone', 'x'.repeat(1000),
    true, false, null,
    [], [1, 'a', null, [true, [false]], { k: 1 }],
    {}, { z: 1, a: 2, m: { y: [1, 2], b: null } }, { 10: 'ten', 2: 'two', b: 'b' },
    JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}'),
    { account_size: 125000.5, updated_ms: 1_717_000_000_000, history: Array.from({ length: 50 }, (_, i) => ({ t: i, v: i * 1.5 })) },
  ];
  values.forEach((v, i) => m.set(`k${i}`, v));
  values.forEach((v, i) => {
    const got = m.get(`k${i}`);
    assert.is(JSON.stringify(got), JSON.stringify(v), `k${i}`);
    assert.equal(got, v, `k${i}`);
    if (typeof v === 'number') assert.ok(Object.is(got, v), `k${i}: ${v} bit for bit`);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) assert.equal(Object.keys(got as object), Object.keys(v));
  });
  const proto = m.get(`k${values.length - 2}`) as object;
  assert.ok(Object.prototype.hasOwnProperty.call(proto, '__proto__'));
  assert.is(({} as { polluted?: boolean }).polluted, undefined);
  assert.is(m.size, values.length);
  assert.is(m.entries().length, values.length);
  // values are copies: mutating the input or a returned value changes nothing stored
  const obj = { a: [1, 2] };
  m.set('copy', obj);
  obj.a.push(3);
  (m.get('copy') as { a: number[] }).a.push(4);
  assert.equal(m.get('copy'), { a: [1, 2] });
  // undefined-valued object fields are dropped, as JSON.stringify drops them
  m.set('u', { a: undefined, b: 1 });
  assert.equal(Object.keys(m.get('u') as object), ['b']);
});

// ---- errors --------------------------------------------------------------------------------------

test('errors: unknown map name -> ERR_UNKNOWN_MAP', () => {
  const { e } = make();
  assert.is(code(() => e.general.map('nope')), 'ERR_UNKNOWN_MAP');
  assert.is(code(() => e.general.map('')), 'ERR_UNKNOWN_MAP');
  assert.is(code(() => e.general.map(5 as unknown as string)), 'ERR_UNKNOWN_MAP');
  assert.is(code(() => e.general.map('AccountSizes')), 'ERR_UNKNOWN_MAP');
  const none = createEngine();
  assert.is(code(() => none.general.map('accountSizes')), 'ERR_UNKNOWN_MAP');
  assert.equal(none.general.mapNames(), []);
  // a queue or counter name is not a map
  const q = createEngine({ general: { queues: { ws: { capacity: 4 } }, counters: ['orders'] } });
  assert.is(code(() => q.general.map('ws')), 'ERR_UNKNOWN_MAP');
  assert.is(code(() => q.general.map('orders')), 'ERR_UNKNOWN_MAP');
});

test('errors: invalid keys, non-JSON values, values too large: typed errors, state unchanged', () => {
  const { m } = make();
  m.set(HK, { size: 1 });
  m.set('b', [1, 2]);
  for (const [what, k] of [['empty', ''], ['257 characters', 'x'.repeat(257)], ['number', 5], ['null', null], ['undefined', undefined], ['object', {}]] as const) {
    refused(m, 'ERR_INVALID_KEY', () => m.set(k as unknown as string, 1), `set: ${what} key`);
    for (const op of ['get', 'has', 'delete'] as const) refused(m, 'ERR_INVALID_KEY', () => m[op](k as unknown as string), `${op}: ${what} key`);
  }
  m.set('k'.repeat(256), 'longest key');
  assert.is(m.get('k'.repeat(256)), 'longest key');
  m.delete('k'.repeat(256));
  const cyc: Record<string, unknown> = { a: 1 };
  cyc.self = cyc;
  const arrCyc: unknown[] = [1];
  arrCyc.push({ back: arrCyc });
  const invalid: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['nested NaN', { a: { b: [1, NaN] } }],
    ['function', () => 1],
    ['nested function', { f() {} }],
    ['symbol', Symbol('s')],
    ['bigint', 10n],
    ['Date', new Date(0)],
    ['Map', new Map([[1, 2]])],
    ['typed array', new Uint8Array(2)],
    ['class instance', new (class Foo { x = 1; })()],
    ['cycle', cyc],
    ['array cycle', arrCyc],
    ['array hole', [1, , 3]], // eslint-disable-line no-sparse-arrays
  ];
  for (const [what, v] of invalid) {
    refused(m, 'ERR_INVALID_VALUE', () => m.set('new', v), `new key, ${what}`);
    refused(m, 'ERR_INVALID_VALUE', () => m.set(HK, v), `existing key, ${what}`);
  }
  // ERR_VALUE_TOO_LARGE: more than MAP_MAX_VALUE_BYTES encoded bytes. Find the longest ASCII
  // string that encodes to exactly the limit: accepted; one character more: refused.
  let n = MAP_MAX_VALUE_BYTES - 8;
  while (encodeValue('x'.repeat(n + 1)).length <= MAP_MAX_VALUE_BYTES) n++;
  assert.is(encodeValue('x'.repeat(n)).length, MAP_MAX_VALUE_BYTES);
  m.set('edge', 'x'.repeat(n));
  assert.is((m.get('edge') as string).length, n);
  m.delete('edge');
  refused(m, 'ERR_VALUE_TOO_LARGE', () => m.set('edge', 'x'.repeat(n + 1)), 'one byte over the limit');
  refused(m, 'ERR_VALUE_TOO_LARGE', () => m.set(HK, { big: 'y'.repeat(200_000) }), 'existing key, a large object');
  refused(m, 'ERR_VALUE_TOO_LARGE', () => m.set('arr', Array.from({ length: 20_000 }, (_, i) => i * 1.5)), 'a large array');
  assert.equal(m.get(HK), { size: 1 });
  assert.is(m.size, 2);
});

// ---- capacity ------------------------------------------------------------------------------------

test('capacity: MAP_MAX_RECORDS keys, then ERR_CAPACITY (state unchanged); updates and deletes still work', () => {
  const { m } = make();
  for (let i = 0; i < MAP_MAX_RECORDS; i++) m.set(`k${i}`, i);
  assert.is(m.size, MAP_MAX_RECORDS);
  refused(m, 'ERR_CAPACITY', () => m.set('one-more', 1), 'a new key in a full map');
  m.set('k7', 'updated');
  assert.is(m.get('k7'), 'updated');
  assert.ok(m.delete('k0'));
  m.set('one-more', 1);
  assert.is(m.size, MAP_MAX_RECORDS);
  assert.is(m.get('one-more'), 1);
  // churn: deletes and re-inserts (tombstones reused or trimmed) never lose room
  for (let r = 0; r < 3; r++) {
    for (let i = 1; i < 2000; i++) assert.ok(m.delete(`k${i}`));
    for (let i = 1; i < 2000; i++) m.set(`k${i}`, r);
    assert.is(m.size, MAP_MAX_RECORDS);
  }
  assert.is(m.get('k5'), 2);
});

test('capacity: a full heap (large values) -> ERR_CAPACITY with nothing written; room comes back after deletes', () => {
  const { m } = make();
  const big = (i: number): string => String(i).padStart(6, '0') + 'z'.repeat(60_000);
  let n = 0;
  let err: string | undefined;
  for (; n < 5000; n++) {
    const before = m.size;
    err = code(() => m.set(`big${n}`, big(n)));
    if (err !== undefined) {
      assert.is(m.size, before);
      assert.is(m.has(`big${n}`), false);
      break;
    }
  }
  assert.is(err, 'ERR_CAPACITY', `the heap filled up after ${n} values of 60 KB`);
  assert.ok(n > 500, `${n} values of 60 KB fit in the map's heap`);
  // again (state() would decode 64 MB twice: spot checks instead)
  const size = m.size;
  assert.is(code(() => m.set(`big${n}`, big(n))), 'ERR_CAPACITY');
  assert.is(m.size, size);
  assert.is(m.has(`big${n}`), false);
  assert.is(m.get('big3'), big(3));
  for (let i = 0; i < 10; i++) m.delete(`big${i}`);
  m.set(`big${n}`, big(n));
  assert.is(m.get(`big${n}`), big(n));
  for (let i = 10; i < n; i += 97) assert.is(m.get(`big${i}`), big(i), `big${i} intact`);
});

// ---- attach --------------------------------------------------------------------------------------

test('attach: a second engine (and a structured clone of the handle) sees the same maps', () => {
  const { e, m } = make(['accountSizes', 'b']);
  const o = attachEngine(e.handle());
  const c = attachEngine(structuredClone(e.handle()));
  m.set(HK, { size: 100 });
  assert.equal(o.general.map('accountSizes').get(HK), { size: 100 });
  c.general.map('accountSizes').set(HK, { size: 200 });
  assert.equal(m.get(HK), { size: 200 });
  assert.ok(o.general.map('accountSizes').delete(HK));
  assert.is(m.has(HK), false);
  c.general.map('b').set('x', [1]);
  assert.equal(e.general.map('b').entries(), [['x', [1]]]);
  assert.equal(o.general.mapNames(), ['accountSizes', 'b']);
  assert.is(code(() => o.general.map('nope')), 'ERR_UNKNOWN_MAP');
});

// ---- model ---------------------------------------------------------------------------------------

test('model: set / get / has / delete / entries / size through two engines match a Map', () => {
  const keys = ['a', 'b', 'c', '__proto__', 'constructor', HK, 'é✓😀', 'k'.repeat(256)];
  type Who = 0 | 1;
  interface Model { m: Map<string, string> } // key -> JSON text of the value
  interface Real { maps: [GeneralMap, GeneralMap] }
  const canon = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v));
  const sortedEntries = (es: Array<[string, unknown]>): string => JSON.stringify(es.map(([k, v]) => [k, canon(v)]).sort(([a], [b]) => (a! < b! ? -1 : 1)));
  class Set_ implements fc.Command<Model, Real> {
    constructor(readonly w: Who, readonly k: string, readonly v: unknown) {}
    check() { return true; }
    run(m: Model, r: Real) {
      r.maps[this.w].set(this.k, this.v);
      m.m.set(this.k, canon(this.v));
    }
    toString() { return `set(${this.w}, ${this.k.slice(0, 8)}, ${canon(this.v).slice(0, 60)})`; }
  }
  class Get implements fc.Command<Model, Real> {
    constructor(readonly w: Who, readonly k: string) {}
    check() { return true; }
    run(m: Model, r: Real) {
      assert.is(canon(r.maps[this.w].get(this.k)), m.m.get(this.k) ?? 'undefined');
      assert.is(r.maps[this.w].has(this.k), m.m.has(this.k));
    }
    toString() { return `get+has(${this.w}, ${this.k.slice(0, 8)})`; }
  }
  class Delete implements fc.Command<Model, Real> {
    constructor(readonly w: Who, readonly k: string) {}
    check() { return true; }
    run(m: Model, r: Real) {
      assert.is(r.maps[this.w].delete(this.k), m.m.delete(this.k));
    }
    toString() { return `delete(${this.w}, ${this.k.slice(0, 8)})`; }
  }
  class Entries implements fc.Command<Model, Real> {
    constructor(readonly w: Who) {}
    check() { return true; }
    run(m: Model, r: Real) {
      const got = sortedEntries(r.maps[this.w].entries());
      const want = JSON.stringify([...m.m].sort(([a], [b]) => (a < b ? -1 : 1)));
      assert.is(got, want);
      assert.is(r.maps[this.w].size, m.m.size);
    }
    toString() { return `entries+size(${this.w})`; }
  }
  const who = fc.constantFrom<Who>(0, 1);
  const key = fc.constantFrom(...keys);
  fc.assert(
    fc.property(
      fc.commands(
        [
          fc.tuple(who, key, fc.jsonValue({ maxDepth: 3 })).map(([w, k, v]) => new Set_(w, k, v)),
          fc.tuple(who, key, fc.integer()).map(([w, k, v]) => new Set_(w, k, v)),
          fc.tuple(who, key).map(([w, k]) => new Get(w, k)),
          fc.tuple(who, key).map(([w, k]) => new Delete(w, k)),
          who.map((w) => new Entries(w)),
        ],
        { maxCommands: 80 },
      ),
      (cmds) => {
        const e = createEngine({ general: { maps: ['accountSizes'] } });
        const real: Real = { maps: [e.general.map('accountSizes'), attachEngine(e.handle()).general.map('accountSizes')] };
        fc.modelRun(() => ({ model: { m: new Map() }, real }), cmds);
      },
    ),
    { ...fcParams(150), verbose: true },
  );
});

// ---- worker stress -------------------------------------------------------------------------------

test('stress: 4 workers increment map values under locks.withLock (exact sums); 2 readers only see whole values', async () => {
  const { e, m } = make();
  const keys = Array.from({ length: 16 }, (_, i) => `5Acct${i}`);
  const ctl = new SharedArrayBuffer(16);
  const iterations = Math.round(5000 * stressScale);
  const incrementers = 4;
  const readers = 2;
  const base = { handle: e.handle(), ctl, keys, incrementers, workers: incrementers + readers };
  const rs = await runWorkers<IncrResult | MapReaderResult>(
    WORKER,
    [
      ...Array.from({ length: incrementers }, (_, w) => ({ ...base, role: 'incr', iterations, seed: seed + w })),
      ...Array.from({ length: readers }, (_, r) => ({ ...base, role: 'reader', seed: seed + 99 + r })),
    ],
    90_000,
  );
  const incr = rs.slice(0, incrementers) as IncrResult[];
  const rd = rs.slice(incrementers) as MapReaderResult[];
  assert.equal(incr.flatMap((r) => r.errors), [], 'incrementers read whole values under the lock');
  for (const r of rd) assert.equal(r.violations, [], 'a reader saw a torn value, a value going back, or a bad size');
  let total = 0;
  for (const k of keys) {
    const want = incr.reduce((s, r) => s + r.counts[k]!, 0);
    total += want;
    const got = m.get(k);
    if (want === 0) {
      assert.is(got, undefined, k);
      continue;
    }
    assert.ok(isWhole(got), `${k}: ${JSON.stringify(got)}`);
    assert.equal(got, wholeValue(want), `${k}: no lost update`);
  }
  assert.is(total, incrementers * iterations);
  // the churn key flipped incrementers * ceil(iterations / 20) times: present iff that is odd
  const flips = incrementers * Math.ceil(iterations / 20);
  assert.is(m.has(CHURN), flips % 2 === 1);
  assert.is(m.size, keys.filter((k) => m.has(k)).length + (flips % 2));
  assert.ok(rd.every((r) => r.reads > 0 && r.scans > 0), 'every reader read while the incrementers ran');
  console.log(`  ${total} increments; readers: ${rd.map((r) => `${r.reads} value reads, ${r.scans} entries() scans`).join('; ')}`);
  const st = e.stats().locks;
  assert.is(st.held, 0);
});

test('stress: 4 workers race lock-free sets, deletes and first inserts of the same keys: one entry per key, whole values', async () => {
  const { e, m } = make();
  const racerKeys = 300;
  const ctl = new SharedArrayBuffer(16);
  const iterations = Math.round(20_000 * stressScale);
  const rs = await runWorkers<IncrResult>(
    WORKER,
    [0, 1, 2, 3].map((w) => ({ role: 'racer', handle: e.handle(), id: w, ctl, keys: [], incrementers: 0, workers: 4, racerKeys, iterations, seed: seed + 7 * w })),
    90_000,
  );
  assert.equal(rs.flatMap((r) => r.errors), [], 'racing readers saw only whole values');
  const es = m.entries();
  assert.is(es.length, racerKeys, 'entries(): one per key after the final pass');
  assert.is(new Set(es.map(([k]) => k)).size, racerKeys, 'no key twice');
  assert.is(m.size, racerKeys);
  for (const [k, v] of es) {
    assert.ok(isRacerValue(k, v), `${k}: ${JSON.stringify(v)}`);
    assert.is((v as { n: number }).n, iterations, `${k}: the final pass's value`);
  }
});

test.run();
