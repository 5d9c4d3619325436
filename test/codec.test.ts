import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import {
  decodeOrder,
  decodePositionHead,
  decodeValue,
  encodeOrder,
  encodePositionHead,
  encodeValue,
  kFormatVersion,
  kMaxDepth,
} from '../src/internal/codec/codec.ts';
import { SabStateError } from '../src/errors.ts';
import { fcParams, prng } from './helpers/seed.ts';
import { realPositionTexts } from '../support/data.ts';

type Obj = Record<string, unknown>;
const RAW: string[] = realPositionTexts();
const fresh = (i: number): Obj => JSON.parse(RAW[i]!) as Obj;

/** Structural equality that also checks key order, own "__proto__" keys and Object.is on numbers. */
function exact(a: unknown, b: unknown, path = 'v'): string | null {
  const show = (x: unknown): string => (Object.is(x, -0) ? '-0' : String(x));
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b) ? null : `${path}: ${show(a)} vs ${show(b)}`;
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return a === b ? null : `${path}: ${show(a)} vs ${show(b)}`;
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array vs object`;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return `${path}: keys ${ka} vs ${kb}`;
  for (const k of ka) {
    const d = exact((a as Obj)[k], (b as Obj)[k], Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`);
    if (d) return d;
  }
  return null;
}

/** The decoded value must be plain: Object.prototype objects, own "__proto__" never a prototype. */
function plain(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (Array.isArray(v)) return Object.getPrototypeOf(v) === Array.prototype && v.every(plain);
  return Object.getPrototypeOf(v) === Object.prototype && Object.values(v).every(plain);
}

function roundTrip(v: unknown): unknown {
  const bytes = encodeValue(v).slice();
  const d = decodeValue(bytes);
  const diff = exact(v, d);
  if (diff) assert.unreachable(`round trip differs at ${diff}`);
  assert.ok(plain(d), 'decoded value is plain');
  return d;
}

function splitRoundTrip(p: Obj): Obj {
  roundTrip(p);
  const head = decodePositionHead(encodePositionHead(p).slice());
  const orders = (p.orders as unknown[]).map((o, i) => decodeOrder(encodeOrder(o, `position.orders[${i}]`).slice()));
  assert.is(head.orders, null);
  head.orders = orders;
  const diff = exact(p, head);
  if (diff) assert.unreachable(`split round trip differs at ${diff}`);
  return head;
}

/** An object with these own keys in this order ("__proto__" included, as an own key). */
function build(entries: [string, unknown][]): Obj {
  const o: Obj = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  return o;
}

function invalid(fn: () => unknown, message: string | RegExp): void {
  let e: unknown = null;
  try {
    fn();
  } catch (x) {
    e = x;
  }
  assert.instance(e, SabStateError, 'throws a SabStateError');
  assert.is((e as SabStateError).code, 'ERR_INVALID_VALUE');
  if (typeof message === 'string') assert.is((e as Error).message, message);
  else assert.match((e as Error).message, message);
}

test('smoke: scalars, strings, arrays, objects', () => {
  const values: unknown[] = [
    null, true, false, 0, -0, 1, 31, 32, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53,
    Number.MAX_VALUE, Number.MIN_VALUE, -5e-324, 0.1, 1713344522329, '', 'a', 'x'.repeat(63), 'x'.repeat(64),
    'é', '日本', '😀', '\ud800', 'a\udfffb', '\ufeffBOM', 'LONG', 'BTC/USD', 'FAILED_CHALLENGE_PERIOD_DRAWDOWN',
    [], [[]], {}, { a: 1, b: [1, 'two', null] }, { '1': 1, b: 2, '0': 0 }, [-0, { x: -0 }],
    Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])), Array.from({ length: 1000 }, (_, i) => i * 1.5),
  ];
  for (const v of values) roundTrip(v);
  assert.ok(Object.is(decodeValue(encodeValue(-0)), -0));
  const b = encodeValue({ a: 1 }).slice();
  assert.is(b[0], kFormatVersion); // the version byte leads; others are refused
  b[0] = kFormatVersion + 1;
  assert.throws(() => decodeValue(b), /codec: corrupt input.*version/);
});

test('every real position round-trips exactly (JSON text, key order, Object.is numbers)', () => {
  assert.is(RAW.length, 63);
  for (let i = 0; i < RAW.length; i++) {
    const p = fresh(i);
    assert.is(JSON.stringify(roundTrip(p)), JSON.stringify(p));
    assert.ok(encodeValue(p).length < JSON.stringify(p).length / 2, `position ${i} is at most half its JSON size`);
  }
});

test('head + orders split rebuilds every real position', () => {
  for (let i = 0; i < RAW.length; i++) {
    const p = fresh(i);
    const d = splitRoundTrip(p);
    assert.is(JSON.stringify(d), JSON.stringify(p));
    assert.is(Object.keys(decodePositionHead(encodePositionHead(p)))[4], 'orders');
  }
  // orders elsewhere in the key order, or absent
  const p = fresh(0);
  const moved = build(Object.entries(p).filter(([k]) => k !== 'orders').concat([['orders', p.orders]]));
  splitRoundTrip(moved);
  assert.is(Object.keys(decodePositionHead(encodePositionHead(moved))).at(-1), 'orders');
  const none = build(Object.entries(p).filter(([k]) => k !== 'orders'));
  assert.not.ok('orders' in decodePositionHead(encodePositionHead(none)));
});

test('trade_pair: legacy array and id string', () => {
  const p = fresh(5);
  assert.ok(Array.isArray(p.trade_pair));
  splitRoundTrip(p);
  for (const tp of [(p.trade_pair as unknown[])[0], 'NEWPAIR']) {
    p.trade_pair = tp;
    assert.is((roundTrip(p) as Obj).trade_pair, tp);
    splitRoundTrip(p);
  }
});

test('unknown, missing and reordered fields are kept in place', () => {
  const p = fresh(10);
  const o0 = (p.orders as Obj[])[0]!;
  const withExtra = build([...Object.entries(o0).slice(0, 2), ['src', 3], ['bid', 0.5], ...Object.entries(o0).slice(2)]);
  (p.orders as Obj[])[0] = withExtra;
  splitRoundTrip(build(Object.entries(p).reverse()));
  const s = (o0.price_sources as Obj[])[0] ?? {};
  delete s.vwap;
  Object.assign(s, { price: 'not a number', __extra: { nested: [1, 2, { deep: true }] } });
  splitRoundTrip(p);
  splitRoundTrip(Object.assign(fresh(3), { open_ms: '1711443744886', net_leverage: null, is_closed_position: { yes: 1 } }));
});

test('"__proto__" own keys stay own keys and never set a prototype', () => {
  const o = build([['a', 1], ['__proto__', { polluted: true }], ['b', [build([['__proto__', null]])]]]);
  const d = roundTrip(o) as Obj;
  assert.is(Object.getPrototypeOf(d), Object.prototype);
  assert.equal(Object.keys(d), ['a', '__proto__', 'b']);
  assert.is(({} as Obj).polluted, undefined);
  assert.equal(JSON.stringify(d), JSON.stringify(o));
  roundTrip(JSON.parse('{"__proto__": {"x": 1}, "constructor": 2, "toString": 3}'));
  roundTrip(Object.assign(Object.create(null) as Obj, { a: 1 }));
});

test('undefined: object properties are dropped (documented), root and array elements refused', () => {
  const d = decodeValue(encodeValue({ a: 1, b: undefined, c: 2 })) as Obj;
  assert.equal(Object.keys(d), ['a', 'c']);
  const p = fresh(0);
  (p as Obj).vwap = undefined;
  ((p.orders as Obj[])[0]!).price = undefined;
  const q = decodeValue(encodeValue(p)) as Obj;
  assert.not.ok('price' in (q.orders as Obj[])[0]!);
  invalid(() => encodeValue(undefined), 'value is undefined');
  invalid(() => encodeValue([1, undefined]), 'value[1] is undefined');
  // eslint-disable-next-line no-sparse-arrays
  invalid(() => encodeValue({ a: [1, , 3] }), 'value.a[1] is undefined');
});

test('errors: cycles and non-JSON values name their path', () => {
  const p = fresh(20);
  ((p.orders as Obj[])[1]!).price = NaN;
  invalid(() => encodeValue(p), 'value.orders[1].price is NaN');
  invalid(() => encodeOrder((p.orders as Obj[])[1], 'position.orders[1]'), 'position.orders[1].price is NaN');
  // the head does not look into the orders: they are encoded one by one
  decodePositionHead(encodePositionHead(p));
  const c: Obj = { a: { b: [] } };
  ((c.a as Obj).b as unknown[]).push(c.a);
  invalid(() => encodeValue(c), 'value.a.b[0] is a cycle (it is value.a again)');
  const self: Obj = {};
  self.me = self;
  invalid(() => encodePositionHead(self), 'position.me is a cycle (it is position again)');
  invalid(() => encodeValue({ x: Infinity }), 'value.x is Infinity');
  invalid(() => encodeValue([-Infinity]), 'value[0] is -Infinity');
  invalid(() => encodeValue({ f: () => 1 }), 'value.f is a function');
  invalid(() => encodeValue({ 'a b': 1n }), 'value["a b"] is a bigint');
  invalid(() => encodeValue({ s: Symbol('s') }), 'value.s is a symbol');
  invalid(() => encodeValue({ d: new Date(0) }), /^value\.d is a Date/);
  invalid(() => encodeValue(new Map()), /^value is a Map/);
  invalid(() => encodeValue({ t: new Uint8Array(2) }), /^value\.t is a Uint8Array/);
  invalid(() => encodeValue({ n: new Number(1) }), /^value\.n is a Number/);
  invalid(() => encodeValue({ toJSON: () => 1 }), 'value.toJSON is a function');
  invalid(() => encodeValue([new (class Pos {})()]), /^value\[0\] is a Pos/);
  assert.is(decodeOrder(encodeOrder('LONG')), 'LONG' as unknown); // any JSON value, as before
  invalid(() => encodePositionHead([] as unknown as Obj), 'position is not an object');
  // the encoder is still usable after an error
  roundTrip(fresh(1));
});

test('shape tests see own enumerable keys only (even with Object.prototype polluted)', () => {
  const p = fresh(RAW.findIndex((r) => r.includes('"source"')));
  const src = (p.orders as Obj[]).flatMap((o) => o.price_sources as Obj[])[0]!;
  delete src.volume; // a price source without volume, and a learned (compiled) shape {a, b}
  for (let r = 0; r < 4; r++) roundTrip([{ a: r, b: r }]);
  const proto = Object.prototype as Obj;
  for (const [k, v] of [['volume', p], ['b', [{ a: 1 }, { a: 2 }]]] as const) {
    Object.defineProperty(proto, k, { value: 1, enumerable: true, configurable: true, writable: true });
    try {
      roundTrip(v);
    } finally {
      delete proto[k];
    }
  }
  Object.defineProperty(src, 'hidden', { value: 1, enumerable: false });
  roundTrip(p);
});

test('scratch buffer: growth past 1 MiB, then small values; the view aliases the scratch', () => {
  roundTrip({ s: 'z'.repeat(3 << 20), p: fresh(62) });
  roundTrip(fresh(0));
  const copy = encodeValue([1, 2, 3]).slice();
  encodeValue('something else entirely');
  assert.equal(decodeValue(copy), [1, 2, 3]);
  for (const s of ['é'.repeat(50), '日'.repeat(50), 'é'.repeat(5000), '😀'.repeat(40)]) roundTrip({ s, a: [s] });
});

test('learned shapes: repeated unknown key lists, compiled or not, undefined values, many shapes', () => {
  const row = (i: number): Obj => build([['hotkey', `hk${i}`], ['1', i], ['__proto__', { i }], ['dd', i / 3], ['reason', 'ZOMBIE']]);
  const rows = Array.from({ length: 20 }, (_, i) => row(i));
  for (let r = 0; r < 5; r++) roundTrip(rows); // the first runs build key by key, later ones compiled
  assert.ok(encodeValue(rows).length < 20 * encodeValue(row(1)).length * 0.8, 'SHAPE_REF is shorter');
  const v2 = (i: number): Obj => ({ ...(fresh(i % 63).orders as Obj[])[0], src: 0, bid: 1.5, ask: 1.25 });
  for (let r = 0; r < 5; r++) roundTrip(Array.from({ length: 10 }, (_, i) => v2(i + r)));
  const holes = rows.map((o, i) => (i % 3 === 0 ? { ...o, dd: undefined } : o));
  const d = decodeValue(encodeValue(holes)) as Obj[];
  assert.not.ok('dd' in d[3]!);
  assert.is(d[4]!.dd, 4 / 3);
  roundTrip(Array.from({ length: 200 }, (_, i) => ({ [`k${i % 90}`]: i, x: [{ [`j${i % 70}`]: i, [`${'L'.repeat(5000)}${i % 3}`]: 1 }] })));
  const child = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '--import', 'tsx', '--input-type=module', '-e', `
    import { encodeValue, decodeValue } from './src/internal/codec/codec.ts';
    const v = Array.from({ length: 50 }, (_, i) => ({ a: i, b: [i], c: 'x' }));
    for (let r = 0; r < 5; r++) if (JSON.stringify(decodeValue(encodeValue(v))) !== JSON.stringify(v)) process.exit(3);`], { cwd: new URL('..', import.meta.url).pathname });
  assert.is(child.status, 0, `without code generation: ${String(child.stderr)}`);
});

test('nesting: kMaxDepth levels accepted, one more refused', () => {
  const nest = (n: number): unknown => Array.from({ length: n }).reduce<unknown>((v, _, i) => (i % 2 ? [v] : { k: v }), 'leaf');
  roundTrip(nest(kMaxDepth));
  invalid(() => encodeValue(nest(kMaxDepth + 1)), /nested deeper than/);
});

test('decoding from shared memory, pooled Buffers and offsets', () => {
  const v = { s: 'é😀\ud800', long: 'y'.repeat(200), p: fresh(7) };
  const bytes = encodeValue(v);
  const sab = new Uint8Array(new SharedArrayBuffer(bytes.length + 64), 13, bytes.length);
  sab.set(bytes);
  assert.is(exact(v, decodeValue(sab)), null);
  assert.is(exact(v, decodeValue(Buffer.from(bytes))), null);
  assert.equal(decodeValue(Buffer.from(encodeValue([1, 2, 3]))), [1, 2, 3]);
  assert.is(exact(v, decodeValue(sab)), null);
});

test('decoding a range (at, len) of a buffer, from more buffers in turn than the decoder keeps views of, and from a growable SharedArrayBuffer after it grew', () => {
  const values = [{ a: 1 }, [1, 'two', null], 'three', { p: fresh(3) }, 5.5, { deep: [[{ x: -0 }]] }];
  const bufs = values.map((v, i) => {
    const b = encodeValue(v);
    const u = new Uint8Array(b.length + 10 + i);
    u.set(b, 7);
    return { u, at: 7, len: b.length };
  });
  for (let round = 0; round < 3; round++) {
    values.forEach((v, i) => {
      const { u, at, len } = bufs[i]!;
      assert.is(exact(v, decodeValue(u, at, len)), null, `value ${i}, round ${round}`);
      assert.is(exact(v, decodeValue(u.subarray(at, at + len))), null, `value ${i} as a view`);
    });
  }
  const head = encodePositionHead(fresh(9) as unknown as Record<string, unknown>).slice();
  const padded = new Uint8Array(head.length + 3);
  padded.set(head, 3);
  assert.equal(decodePositionHead(padded, 3, head.length), decodePositionHead(head));
  assert.throws(() => decodeValue(bufs[0]!.u, 7, bufs[0]!.u.length), /outside/);
  // A growable SharedArrayBuffer: decoded once, grown, then decoded past its first length.
  const gsab = new SharedArrayBuffer(64, { maxByteLength: 1 << 16 });
  const big = encodeValue({ s: 'z'.repeat(1000) }).slice(); // encodeValue's bytes alias its scratch
  const small = encodeValue([7]).slice();
  new Uint8Array(gsab).set(small, 8);
  assert.equal(decodeValue(new Uint8Array(gsab), 8, small.length), [7]);
  gsab.grow(4096);
  new Uint8Array(gsab).set(big, 2000);
  assert.equal(decodeValue(new Uint8Array(gsab), 2000, big.length), { s: 'z'.repeat(1000) });
  assert.equal(decodeValue(new Uint8Array(gsab), 8, small.length), [7]);
});

function mustFailCleanly(bytes: Uint8Array): void {
  try {
    decodeValue(bytes);
  } catch (e) {
    assert.instance(e, Error);
    assert.not.instance(e, SabStateError);
    assert.match((e as Error).message, /^codec: corrupt input/);
  }
}

test('garbage and truncated input: clean errors, no hang', () => {
  const started = Date.now();
  const rnd = prng(12345);
  for (let i = 0; i < RAW.length; i += 7) {
    const good = encodeValue(fresh(i)).slice();
    for (let n = 0; n < good.length; n++) assert.throws(() => decodeValue(good.subarray(0, n)), /^codec: corrupt input/);
    for (let k = 0; k < 2000; k++) {
      const bad = good.slice();
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) bad[Math.floor(rnd() * bad.length)] = Math.floor(rnd() * 256);
      mustFailCleanly(bad);
    }
  }
  for (let k = 0; k < 5000; k++) {
    mustFailCleanly(Uint8Array.from({ length: 1 + Math.floor(rnd() * 64) }, (_, j) => (j === 0 ? kFormatVersion : Math.floor(rnd() * 256))));
  }
  // absurd counts and lengths, deep nesting bombs
  for (const b of [[0x09, 0xff, 0xff, 0xff, 0xff, 0x0f], [0x0a, 0xff, 0xff, 0xff, 0x7f], [0x05, 0xff, 0xff, 0xff, 0x7f], [0x07, 0x80, 0x80, 0x80, 0x80, 0x80]]) {
    assert.throws(() => decodeValue(Uint8Array.from([kFormatVersion, ...b])), /^codec: corrupt input/);
  }
  assert.throws(() => decodeValue(Uint8Array.from([kFormatVersion, ...new Array<number>(100000).fill(0x11)])), /nested too deep/);
  assert.throws(() => decodeValue(Uint8Array.from([kFormatVersion, ...new Array<number>(100000).fill(0x09).flatMap((t) => [t, 1])])), /nested too deep/);
  assert.throws(() => decodeValue(Uint8Array.from([kFormatVersion, 0x0c, 0x00])), /shape 0 is not defined/);
  assert.throws(() => decodeValue(Uint8Array.from([kFormatVersion, 0x0b, 0x01, 0x02, 0x80, 0x20, 0x20])), /shape keys do not fill/);
  assert.throws(() => decodeValue(new Uint8Array(0)), /empty/);
  assert.throws(() => decodeValue(Uint8Array.from([kFormatVersion, 0x00, 0x00])), /after the value/);
  assert.ok(Date.now() - started < 60_000);
});

// ---- properties --------------------------------------------------------------------------------

const loneSurrogates = fc
  .array(fc.oneof(fc.integer({ min: 0xd800, max: 0xdfff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0x7f })), { maxLength: 80 })
  .map((units) => String.fromCharCode(...units));
const strings = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ minLength: 60, maxLength: 300 }),
  loneSurrogates,
  fc.constantFrom('LONG', 'BTCUSD', 'BTC/USD', 'order_type', '\ufeff', '\ufeffx', 'é'),
);
const keys = fc.oneof(
  strings,
  fc.constantFrom('__proto__', 'constructor', 'toString', 'valueOf', '0', '1', '42', '-1', '1.5', '', 'orders', 'order_type', 'source', 'miner_hotkey', 'price'),
);
const specialNumbers = [-0, 0, 31, 32, -1, 2 ** 31, -(2 ** 31), 2 ** 31 - 1, -(2 ** 31) - 1, 2 ** 53, 5e-324, -5e-324, 1e21, 0.1];
const numbers = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.maxSafeInteger(), fc.constantFrom(...specialNumbers));
const leaves = fc.oneof(numbers, strings, fc.boolean(), fc.constant(null));
const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaves,
    fc.array(tie('json'), { maxLength: 8 }),
    fc.array(fc.tuple(keys, tie('json')), { maxLength: 8 }).map(build),
  ),
}));
const deep = fc.tuple(fc.integer({ min: 1, max: kMaxDepth }), fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }), leaves).map(([n, kinds, leaf]) => {
  let v: unknown = leaf;
  for (let i = 0; i < n; i++) v = kinds[i % kinds.length] ? [v] : build([['__proto__', 1], ['d', v]]);
  return v;
});

test('property: fc.jsonValue() round-trips exactly', () => {
  fc.assert(fc.property(fc.jsonValue(), (v) => void roundTrip(v)), fcParams(2000));
});

test('property: -0, lone surrogates, "__proto__" keys, deep nesting round-trip exactly', () => {
  fc.assert(fc.property(json, (v) => void roundTrip(v)), fcParams(2000));
  fc.assert(fc.property(deep, (v) => void roundTrip(v)), fcParams(100));
});

// Mutations of real positions: at the position, an order or a price source, add a field at any
// place, remove one, move one, or give a field a value of another type.
const mutation = fc.record({
  level: fc.constantFrom('position', 'order', 'source'), kind: fc.constantFrom('add', 'remove', 'move', 'retype'),
  key: keys, value: json, which: fc.nat(), at: fc.nat(), to: fc.nat(),
});
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(p: Obj, m: Mutation): Obj {
  const orders = Array.isArray(p.orders) ? (p.orders as unknown[]) : [];
  const apply = (o: Obj): Obj => {
    const e = Object.entries(o);
    const i = e.length === 0 ? 0 : m.at % e.length;
    if (m.kind === 'add') {
      const rest = e.filter(([k]) => k !== m.key);
      rest.splice(m.at % (rest.length + 1), 0, [m.key, m.value]);
      return build(rest);
    }
    if (e.length === 0) return o;
    if (m.kind === 'remove') e.splice(i, 1);
    else if (m.kind === 'move') e.splice(m.to % e.length, 0, ...e.splice(i, 1));
    else e[i] = [e[i]![0], m.value];
    return build(e);
  };
  if (m.level === 'position') return apply(p);
  const oi = orders.length === 0 ? -1 : m.which % orders.length;
  const order = orders[oi];
  if (order === null || typeof order !== 'object' || Array.isArray(order)) return p;
  if (m.level === 'order') return (orders[oi] = apply(order as Obj)), p;
  const srcs = (order as Obj).price_sources;
  if (!Array.isArray(srcs) || srcs.length === 0) return p;
  const si = m.which % srcs.length;
  const s = srcs[si];
  if (s !== null && typeof s === 'object' && !Array.isArray(s)) srcs[si] = apply(s as Obj);
  return p;
}

test('property: mutated real positions round-trip exactly, whole and split', () => {
  fc.assert(
    fc.property(fc.nat({ max: RAW.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 6 }), (i, ms) => {
      let p = fresh(i);
      for (const m of ms) p = mutate(p, m);
      roundTrip(p);
      if (Array.isArray(p.orders)) splitRoundTrip(p);
    }),
    fcParams(1000),
  );
});

test.run();
