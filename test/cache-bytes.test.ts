// The per-thread caches of decoded orders are bounded in bytes of JS heap, not only in entries
// (issue 12: "caches bounded in bytes"; issue 11: the soak workers' V8 heaps were not flat, the
// record memo kept up to 2^18 decoded orders alive). The engine-level test counts what a thread
// really keeps alive: WeakRefs to every order a read returned, a full GC, and the estimated heap
// bytes of the orders still alive must stay within orderCacheBytes + recordMemoBytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { OrderCache, RecordMemo, heapBytesOf, freezeAndSize } from '../src/domains/positions/cache.ts';
import { decodeOrder, encodeOrder } from '../src/internal/codec/codec.ts';
import { createEngine, type Position } from '../src/index.ts';
import { realPositions } from '../support/data.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const KiB = 1024;
const real = realPositions() as unknown as Position[];
const realOrders = real.flatMap((p) => p.orders as Record<string, unknown>[]);
const encoded = realOrders.map((o) => encodeOrder(o).slice());

test('OrderCache: filled with real decoded orders past its byte budget, holds at most the budget', () => {
  const budget = 64 * KiB;
  const c = new OrderCache(1 << 20, budget);
  let charged = 0;
  for (let k = 0; k < 2000; k++) {
    const b = encoded[k % encoded.length]!;
    const v = c.put(8 * k, 1, decodeOrder(b), b.length);
    charged += heapBytesOf(v);
    assert.ok(c.bytes <= budget, `after ${k + 1} puts: ${c.bytes} bytes held, budget ${budget}`);
  }
  assert.ok(charged > 10 * budget, `the run put ${charged} bytes of orders`);
  assert.ok(c.size > 0 && c.size < 2000, `held ${c.size} orders`);
  assert.ok(c.bytes >= (budget >> 1), `held ${c.bytes} bytes: the budget is used, not only bounded`);
  const big = decodeOrder(encoded[0]!);
  const small = new OrderCache(16, 4096);
  small.put(8, 1, { many: new Array(1000).fill('x'.repeat(40)) }, 100);
  assert.is(small.size, 0, 'a value larger than the whole budget is not kept');
  assert.ok(Object.isFrozen(small.put(16, 1, big, 10)), 'but it is frozen and returned');
});

test('RecordMemo: lists are charged the orders they keep alive; the byte budget holds', () => {
  const budget = 128 * KiB;
  const c = new OrderCache(1 << 20, 1 << 30);
  const m = new RecordMemo(1 << 20, 1 << 20, budget);
  const orders = encoded.slice(0, 50).map((b, k) => c.put(8 * k, 1, decodeOrder(b), b.length));
  const listBytes = orders.reduce((s: number, o) => s + heapBytesOf(o), 0);
  for (let k = 0; k < 100; k++) {
    m.put(8 * k, 1, orders);
    assert.ok(m.bytes <= budget, `after ${k + 1} lists: ${m.bytes} bytes charged, budget ${budget}`);
  }
  assert.ok(m.size >= 1 && m.size <= Math.floor(budget / listBytes), `held ${m.size} lists of ${listBytes} bytes of orders each`);
  assert.is(m.get(0, 1), undefined, 'the oldest list was dropped');
  assert.is(m.get(8 * 99, 1), orders, 'the newest is kept as given');
  m.put(8 * 1000, 1, new Array(Math.ceil(budget / heapBytesOf(orders[0])) + 1).fill(orders[0]));
  assert.is(m.get(8 * 1000, 1), undefined, 'a list charged more than the budget is not kept');
  assert.is(m.get(8 * 99, 1), orders, 'and evicts nothing');
  // An order this thread did not cache is walked (the same estimate).
  const m2 = new RecordMemo(16, 1 << 20, 1 << 20);
  const plain = { a: 'x'.repeat(100), b: [1.5, 2] };
  m2.put(8, 1, [plain]);
  assert.ok(m2.bytes >= heapBytesOf(plain) + 8, `charged ${m2.bytes}`);
});

test('heapBytesOf: the estimate follows what a value holds (strings, doubles, arrays, nesting)', () => {
  const empty = heapBytesOf({});
  assert.ok(empty > 0);
  assert.is(heapBytesOf({ a: 1 }), empty + 8, 'a small integer is in its slot');
  assert.is(heapBytesOf({ a: 1.5 }), empty + 8 + 16, 'a double is a HeapNumber');
  assert.is(heapBytesOf({ a: 'x'.repeat(17) }), empty + 8 + 16 + 24, 'Latin-1 characters one byte each, rounded to 8');
  assert.is(heapBytesOf({ a: '\u4e2d'.repeat(4) }), empty + 8 + 16 + 8, 'other characters two bytes each');
  assert.is(heapBytesOf([1, 2, 3]) - heapBytesOf([]), 24);
  assert.is(heapBytesOf({ a: { b: {} } }), 3 * empty + 16);
  const v = { a: [{ b: 'y' }], c: null, d: true };
  const before = heapBytesOf(v);
  assert.is(freezeAndSize(v), before, 'freezeAndSize counts what heapBytesOf counts');
  assert.ok(Object.isFrozen(v) && Object.isFrozen(v.a) && Object.isFrozen(v.a[0]), 'and freezes deeply');
});

/**
 * Saves `count` positions of the real shapes with `each` orders apiece (every order its own),
 * reads them all twice (get, then listForHotkey), and returns the estimated heap bytes of the
 * orders the reading thread still keeps alive after a full GC (WeakRefs to every order read).
 */
async function keptAfterReads(e: ReturnType<typeof createEngine>, count: number, each: number): Promise<{ kept: number; orders: number }> {
  const hk = (k: number): string => `5Bytes${String(k % 24).padStart(3, '0')}${'x'.repeat(40)}`;
  let n = 0;
  for (let k = 0; k < count; k++) {
    const t = real[k % real.length]!;
    const orders = Array.from({ length: each }, () => ({ ...realOrders[n % realOrders.length]!, order_uuid: `u-${n++}` }));
    const p = { ...t, miner_hotkey: hk(k), position_uuid: `p-${k}`, trade_pair: `TP${k}`, is_closed_position: false, orders } as Position;
    e.locks.withLock(hk(k), `TP${k}`, () => e.positions.save(p));
  }
  const refs: WeakRef<object>[] = [];
  for (let round = 0; round < 2; round++) {
    for (let k = 0; k < count; k++) for (const o of e.positions.get(hk(k), `p-${k}`)!.orders) refs.push(new WeakRef(o as object));
    for (let h = 0; h < 24; h++) for (const p of e.positions.listForHotkey(hk(h))) for (const o of p.orders) refs.push(new WeakRef(o as object));
  }
  await new Promise((r) => setImmediate(r));
  gc();
  gc();
  const alive = new Set<object>();
  for (const r of refs) {
    const o = r.deref();
    if (o !== undefined) alive.add(o);
  }
  return { kept: [...alive].reduce((s, o) => s + heapBytesOf(o), 0), orders: alive.size };
}

test('engine: the orders a thread keeps alive after many reads stay within orderCacheBytes + recordMemoBytes', async () => {
  const orderCacheBytes = 256 * KiB;
  const recordMemoBytes = 256 * KiB;
  const e = createEngine({ positions: { maxRecords: 8192, maxBytes: 64 * 2 ** 20 } }, { orderCacheBytes, recordMemoBytes });
  try {
    // 240 positions of 40 orders (about 10 MB decoded).
    const { kept, orders } = await keptAfterReads(e, 240, 40);
    const st = e.stats().positions.orderCache;
    assert.ok(st.bytes <= orderCacheBytes, `order cache ${st.bytes} bytes, budget ${orderCacheBytes}`);
    assert.ok(st.listBytes <= recordMemoBytes, `record memo ${st.listBytes} bytes, budget ${recordMemoBytes}`);
    assert.ok(st.misses > 9600, `the reads decoded ${st.misses} orders`);
    assert.ok(kept <= orderCacheBytes + recordMemoBytes, `${orders} orders (${kept} bytes) still alive, budgets ${orderCacheBytes} + ${recordMemoBytes}`);
    assert.ok(orders > 0, 'the caches keep something');
  } finally {
    e.close();
  }
});

test('engine: at the default budgets (16 MiB + 8 MiB) a thread keeps at most that alive, whatever it read', async () => {
  // 1000 positions of 40 orders (about 40 MB decoded): the memo's 2^18 order references alone
  // used to keep every one of them alive.
  const e = createEngine({ positions: { maxRecords: 8192, maxBytes: 256 * 2 ** 20 } });
  try {
    const { kept, orders } = await keptAfterReads(e, 1000, 40);
    assert.ok(kept <= 24 * 2 ** 20, `${orders} orders (${(kept / 2 ** 20).toFixed(1)} MiB) still alive, default budgets 16 + 8 MiB`);
  } finally {
    e.close();
  }
});

test.run();
