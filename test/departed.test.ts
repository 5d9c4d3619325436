import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ErrorCode, SabStateError } from '../src/errors.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { DepartedDomain, createDepartedHandle, resolveDepartedOptions } from '../src/domains/departed.ts';
import { realDeparted } from '../support/data.ts';
import { fcParams, seed } from './helpers/seed.ts';
import { code } from './helpers/errors.ts';

const key = hashKeyFromSeed(BigInt(seed >>> 0));

function make(raw?: unknown) {
  const handle = createDepartedHandle(resolveDepartedOptions(raw), key);
  return { handle, d: new DepartedDomain(handle, key) };
}

test('real data: the 367 departed hotkeys load and answer', () => {
  const { d, handle } = make();
  const data = realDeparted();
  const entries = Object.entries(data);
  assert.is(entries.length, 367);
  for (const [hk, v] of entries) d.mark(hk, v.detected_ms);
  assert.is(d.size, 367);
  for (const [hk, v] of entries) {
    assert.ok(d.has(hk));
    assert.equal(d.get(hk), { detected_ms: v.detected_ms });
  }
  assert.is(d.get('5NotDeparted'), undefined);
  assert.is(d.has('5NotDeparted'), false);
  const back = Object.fromEntries(d.entries());
  assert.equal(back, data);
  assert.equal(Object.fromEntries(d.consistentEntries().map(([k, ms]) => [k, { detected_ms: ms }])), data);
  // another instance on the same buffers (another thread would attach the same way)
  const other = new DepartedDomain(handle, key);
  assert.is(other.size, 367);
  assert.equal(other.get(entries[5]![0]), entries[5]![1]);
  const st = d.stats();
  assert.is(st.records, 367);
  assert.ok(st.bytesUsed > 0 && st.bytesUsed <= st.bytesCapacity);
});

test('smoke: mark overwrites, delete, size', () => {
  const { d } = make();
  d.mark('hk', 1);
  d.mark('hk', -5);
  assert.equal(d.get('hk'), { detected_ms: -5 });
  assert.is(d.size, 1);
  d.mark('hk2', 2 ** 53 - 1);
  assert.equal(d.get('hk2'), { detected_ms: 2 ** 53 - 1 });
  assert.is(d.delete('hk'), true);
  assert.is(d.delete('hk'), false);
  assert.is(d.get('hk'), undefined);
  assert.equal(d.entries(), [['hk2', { detected_ms: 2 ** 53 - 1 }]]);
  d.delete('hk2');
  assert.is(d.stats().bytesUsed, 0);
});

test('validation: ERR_INVALID_KEY / ERR_INVALID_VALUE, nothing written', () => {
  const { d } = make();
  for (const k of ['', 'x'.repeat(257), 5, null, undefined]) {
    assert.is(code(() => d.mark(k as string, 1)), ErrorCode.INVALID_KEY);
    assert.is(code(() => d.get(k as string)), ErrorCode.INVALID_KEY);
    assert.is(code(() => d.has(k as string)), ErrorCode.INVALID_KEY);
    assert.is(code(() => d.delete(k as string)), ErrorCode.INVALID_KEY);
  }
  for (const ms of [NaN, Infinity, -Infinity, 1.5, '1', null, undefined, 1n]) {
    assert.is(code(() => d.mark('hk', ms as number)), ErrorCode.INVALID_VALUE, String(ms));
  }
  assert.is(d.size, 0);
  assert.is(d.stats().bytesUsed, 0);
});

test('capacity: maxRecords hotkeys, then ERR_CAPACITY; re-marking an existing one still works', () => {
  const { d } = make({ maxRecords: 5 });
  for (let i = 0; i < 5; i++) d.mark(`hk${i}`, i);
  assert.is(code(() => d.mark('hk5', 5)), ErrorCode.CAPACITY);
  d.mark('hk2', 22);
  assert.equal(d.get('hk2'), { detected_ms: 22 });
  assert.is(d.size, 5);
  d.delete('hk0');
  d.mark('hk5', 5);
  assert.is(d.size, 5);
});

test('options', () => {
  const o = resolveDepartedOptions(undefined);
  assert.is(o.maxRecords, 16384);
  assert.ok(o.maxBytes >= 16384 * 640);
  assert.throws(() => resolveDepartedOptions({ maxRecords: -1 }), /options\.departed\.maxRecords must be a positive integer/);
  assert.throws(() => resolveDepartedOptions({ maxBytes: 10 }), /options\.departed\.maxBytes must be at least/);
  assert.throws(() => resolveDepartedOptions({ max: 10 }), /options\.departed\.max is not a known option/);
});

test('model: mark / delete / get through two instances match a Map', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('mark', 'delete', 'get', 'entries'), fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), fc.integer(), fc.boolean()), { maxLength: 80 }),
      (ops) => {
        const { d, handle } = make({ maxRecords: 4 });
        const e = new DepartedDomain(handle, key);
        const model = new Map<string, number>();
        for (const [op, hk, ms, second] of ops) {
          const x = second ? e : d;
          if (op === 'mark') {
            const full = !model.has(hk) && model.size >= 4;
            assert.is(code(() => x.mark(hk, ms)), full ? ErrorCode.CAPACITY : undefined);
            if (!full) model.set(hk, ms);
          } else if (op === 'delete') {
            assert.is(x.delete(hk), model.delete(hk));
          } else if (op === 'get') {
            assert.equal(x.get(hk), model.has(hk) ? { detected_ms: model.get(hk) } : undefined);
          } else {
            assert.equal(new Map(x.entries().map(([k, v]) => [k, v.detected_ms])), model);
          }
          assert.is(x.size, model.size);
        }
      },
    ),
    fcParams(200),
  );
});

test.run();
