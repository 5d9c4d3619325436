import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OrderCache, RecordMemo } from '../src/domains/positions/cache.ts';

test('OrderCache: bounded in bytes as well as entries; the oldest go first; a new stamp replaces', () => {
  // bytes are estimated JS heap bytes (an entry's charge: its value and the entry), encodedBytes the encoded ones.
  const one = new OrderCache(16, 1 << 20);
  one.put(0, 1, { k: 0 }, 1024);
  const e = one.bytes;
  const c = new OrderCache(1 << 20, 64 * 1024);
  for (let k = 0; k < 1000; k++) c.put(8 * k, 1, { k }, 1024);
  assert.ok(c.bytes <= 64 * 1024, `held ${c.bytes} bytes`);
  assert.ok(c.size <= Math.floor((64 * 1024) / e) && c.size >= Math.floor((56 * 1024) / e), `held ${c.size} entries of ${e} bytes`);
  assert.is(c.encodedBytes, 1024 * c.size);
  assert.is(c.get(0, 1), undefined, 'the oldest was dropped');
  assert.equal(c.get(8 * 999, 1), { k: 999 });
  assert.is(c.get(8 * 999, 2), undefined, 'another stamp at the same offset is not a hit');
  const before = c.bytes;
  const beforeEncoded = c.encodedBytes;
  c.put(8 * 999, 2, { k: -1, s: 'x'.repeat(40) }, 10);
  assert.is(c.encodedBytes, beforeEncoded - 1024 + 10, 'the replaced entry no longer counts');
  assert.is(c.bytes, before + 8 + 16 + 40, 'nor its heap bytes (the new one: a property and a 40-character string more)');
  assert.is(c.get(8 * 999, 1), undefined);
  assert.ok(Object.isFrozen(c.get(8 * 999, 2)));
  c.clear();
  assert.is(c.bytes, 0);
  assert.is(c.encodedBytes, 0);
  assert.is(c.size, 0);
});

test('OrderCache: the entry cap still holds with small entries', () => {
  const c = new OrderCache(100, 1 << 30);
  for (let k = 0; k < 1000; k++) c.put(8 * k, 1, k, 1);
  assert.ok(c.size <= 100, `held ${c.size}`);
});

test('RecordMemo: bounded in order references held, lists longer than the bound are not kept', () => {
  const m = new RecordMemo(1 << 20, 1000);
  for (let k = 0; k < 100; k++) m.put(8 * k, 1, new Array(100).fill(k));
  assert.ok(m.size <= 10, `held ${m.size} lists of 100`);
  assert.is(m.get(0, 1), undefined);
  assert.is(m.get(8 * 99, 1)?.[0], 99);
  m.put(8 * 1000, 1, new Array(1001).fill(0));
  assert.is(m.get(8 * 1000, 1), undefined);
  const off = new RecordMemo(0);
  off.put(8, 1, [1]);
  assert.is(off.get(8, 1), undefined);
});

test.run();
