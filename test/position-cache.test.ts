import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decodeValue, encodeValue } from '../src/internal/codec.ts';
import { frozenCopy } from '../src/domains/position-cache.ts';
import { realPositions } from './helpers/data.ts';
import { fcParams } from './helpers/seed.ts';

/** Deep equality that also checks key order, own "__proto__" keys and Object.is on numbers. */
function same(a: unknown, b: unknown, path = 'v'): void {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    assert.ok(Object.is(a, b), `${path}: ${String(a)} vs ${String(b)}`);
    return;
  }
  assert.is(Array.isArray(a), Array.isArray(b), `${path}: array vs object`);
  assert.equal(Object.keys(a), Object.keys(b), `${path}: keys`);
  assert.is(Object.getPrototypeOf(a), Object.getPrototypeOf(b), `${path}: prototype`);
  for (const k of Object.keys(a)) same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
}

function frozenDeep(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true;
  return Object.isFrozen(v) && Object.values(v).every(frozenDeep);
}

test('frozenCopy equals decode(encode(v)) on the real orders, frozen all the way down', () => {
  for (const p of realPositions()) {
    for (const o of p.orders as unknown[]) {
      const c = frozenCopy(o);
      same(c, decodeValue(encodeValue(o)));
      assert.ok(frozenDeep(c));
      assert.is.not(c, o);
    }
  }
});

test('property: frozenCopy equals decode(encode(v)) for arbitrary JSON (-0, __proto__, undefined fields)', () => {
  const key = fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'toString'));
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom(null, true, false, 0, -0, 1.5, -1e300, 2 ** 53),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string({ unit: 'binary' }),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.array(fc.tuple(key, fc.oneof(tie('value'), fc.constant(undefined))), { maxLength: 4 }).map((kvs) => {
        const o: Record<string, unknown> = {};
        for (const [k, v] of kvs) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
        return o;
      }),
    ),
  }));
  fc.assert(fc.property(value, (v) => same(frozenCopy(v), decodeValue(encodeValue(v)))), fcParams(300));
});

test.run();
