// The encoder hands out one view per length of its scratch buffer (issue 12: no view allocated
// per encode) and writes number fields without a call per field. What must hold: every encode's
// bytes are its own value's when read before the next encode, whatever came before (same length,
// other lengths, a scratch buffer grown or dropped in between), and a view taken before the
// scratch was replaced shows that buffer (so only the current scratch's views are handed out).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decodeValue, encodeOrder, encodePositionHead, encodeValue } from '../src/internal/codec/codec.ts';
import { realPositions } from '../support/data.ts';
import { fcParams } from './helpers/seed.ts';

test('two values of one encoded length: each encode reads back as its own value', () => {
  const a = encodeValue({ k: 'aaaa' });
  const bytesA = a.slice();
  const b = encodeValue({ k: 'bbbb' });
  assert.is(a.length, b.length);
  assert.equal(decodeValue(b), { k: 'bbbb' });
  assert.equal(decodeValue(bytesA), { k: 'aaaa' }, 'a copy taken before the next encode keeps its value');
});

test('after the scratch grew or was dropped, views of every length show the new scratch', () => {
  for (let n = 0; n < 40; n++) assert.equal(decodeValue(encodeValue({ s: 'x'.repeat(n) })), { s: 'x'.repeat(n) });
  const big = encodeValue({ big: 'y'.repeat(40_000) }); // grows the scratch past its 16 KiB
  assert.equal(decodeValue(big), { big: 'y'.repeat(40_000) });
  for (let n = 0; n < 40; n++) assert.equal(decodeValue(encodeValue({ s: 'v'.repeat(n) })), { s: 'v'.repeat(n) }, `length ${n} after the grow`);
  const again = encodeValue({ s: 'z'.repeat(10) });
  assert.equal(decodeValue(again), { s: 'z'.repeat(10) });
  encodeValue({ huge: 'w'.repeat(2_000_000) }); // past 1 MiB: dropped at the next encode
  const after = encodeValue({ s: 'q'.repeat(10) });
  assert.equal(decodeValue(after), { s: 'q'.repeat(10) });
});

test('real orders and heads: encode then decode is the identity, number fields of every kind', () => {
  for (const p of realPositions()) {
    for (const o of p.orders as Record<string, unknown>[]) assert.equal(decodeValue(encodeOrder(o)), o);
    const head = { ...p, orders: null };
    assert.equal(decodeValue(encodePositionHead(head as Record<string, unknown>)), head);
  }
  // Numbers that leave the float64 fast path: integers, -0, huge, NaN-free; price sources and orders by shape.
  const ps = (n: number) => ({ source: 's', timespan_ms: n, open: n, close: -0, vwap: 1e300, high: n + 0.5, low: 2 ** 31, start_ms: -(2 ** 31) - 1, websocket: true, lag_ms: n, volume: 0.1 });
  const order = { order_type: 'LONG', leverage: 1, price: 0.5, processed_ms: 1.7e12, order_uuid: 'u', price_sources: [ps(3), ps(3.25)] };
  const back = decodeValue(encodeOrder(order)) as typeof order;
  assert.equal(back, order);
  assert.ok(Object.is(back.price_sources[0]!.close, -0), '-0 kept');
});

test('property: any sequence of encodes, each read back before the next, is its own value', () => {
  fc.assert(
    fc.property(fc.array(fc.jsonValue({ maxDepth: 3 }), { minLength: 1, maxLength: 30 }), (vals) => {
      for (const v of vals) assert.equal(decodeValue(encodeValue(v)), JSON.parse(JSON.stringify(v)));
    }),
    fcParams(200),
  );
});

test.run();
