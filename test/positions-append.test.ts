// The order step without the history (issue 12): positions.getOpenHead / appendOrder, and the
// per-hotkey index (positions/hotkey-index.ts). Unit semantics, refusals that leave the state unchanged,
// and a real worker_threads run with several hotkeys shared by every thread (no lost update, the
// index complete and in first-save order). Costs (flatness, GC) are in bench/order-path.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine } from '../src/index.ts';
import { ErrorCode } from '../src/errors.ts';
import { SharedHeap } from '../src/internal/store/heap.ts';
import type { Position, PositionHead } from '../src/domains/positions/positions.ts';
import { seed, stressScale } from './helpers/seed.ts';
import { runWorkers } from './helpers/workers.ts';
import { code } from './helpers/errors.ts';
import { fixture, realPositionObjects, saveLocked, tpOf } from './workers/positions-fixture.ts';
import type { AppendWorkerData } from './workers/positions-append-worker.ts';

const real = realPositionObjects();
const HK = real[0]!.miner_hotkey;
const start = real.find((p) => p.is_closed_position === false)!;
const TP = tpOf(start);
const order = (n: number): Record<string, unknown> => ({ ...(start.orders[0] as object), order_uuid: `new-${n}`, n });
/** The position as get() returns it, as JSON: what must not move when a write is refused. */
const state = (f: ReturnType<typeof fixture>): string =>
  JSON.stringify([f.positions.size, f.positions.stats().heap.inUseBlocks, f.positions.stats().bytesUsed, f.positions.listForHotkey(HK)]);

test('getOpenHead: every field but the orders (orders null in its place), the count, the last order on request', () => {
  const f = fixture();
  for (const p of real) saveLocked(f, p);
  for (const p of real.filter((x) => x.is_closed_position === false)) {
    const h = f.positions.getOpenHead(HK, tpOf(p))!;
    assert.is(JSON.stringify(h.position), JSON.stringify({ ...p, orders: null }), 'same fields, same key order');
    assert.is(h.orderCount, p.orders.length);
    assert.is(h.lastOrder, undefined, 'the last order only when asked');
    const withLast = f.positions.getOpenHead(HK, tpOf(p), { lastOrder: true })!;
    assert.equal(withLast.lastOrder, p.orders.at(-1));
    assert.ok(Object.isFrozen(withLast.lastOrder));
    h.position.net_leverage = 99; // a fresh object: changing it changes nothing stored
    assert.is.not(f.positions.getOpenHead(HK, tpOf(p))!.position.net_leverage, 99);
  }
  assert.is(f.positions.getOpenHead(HK, 'NOPE'), undefined);
  assert.is(f.positions.getOpenHead('unknown', TP), undefined);
  const closed = real.find((x) => x.is_closed_position === true)!;
  if (real.every((x) => x.is_closed_position || tpOf(x) !== tpOf(closed))) assert.is(f.positions.getOpenHead(HK, tpOf(closed)), undefined);
  assert.throws(() => f.positions.getOpenHead(HK, TP, { lastOrder: 1 } as never), (e: unknown) => e instanceof TypeError);
});

test('appendOrder: the stored position is the head plus the orders so far; one chunk per order, earlier chunks kept', () => {
  const f = fixture();
  saveLocked(f, start);
  const blocks0 = f.positions.stats().heap.inUseBlocks;
  const expect: Position = structuredClone(start);
  for (let i = 0; i < 30; i++) {
    f.locks.withLock(HK, TP, () => {
      const h = f.positions.getOpenHead(HK, TP)!;
      const next = { ...h.position, net_leverage: i, current_return: 1 + i / 100 };
      f.positions.appendOrder(next, order(i));
      Object.assign(expect, { net_leverage: i, current_return: 1 + i / 100 });
      expect.orders.push(order(i));
    });
  }
  assert.is(f.positions.stats().orderCache.size, 0, 'neither getOpenHead nor appendOrder decoded or cached an order');
  assert.is(JSON.stringify(f.positions.get(HK, start.position_uuid)), JSON.stringify(expect));
  assert.is(JSON.stringify(f.positions.getOpen(HK, TP)), JSON.stringify(expect));
  assert.is(f.positions.stats().heap.inUseBlocks, blocks0 + 30, 'one new chunk per order; the record block replaced');
  // save still works on top of appended versions, and appendOrder on top of saved ones.
  f.locks.withLock(HK, TP, () => {
    const p = f.positions.getOpen(HK, TP)!;
    p.orders.push(order(100));
    f.positions.save(p);
    f.positions.appendOrder({ ...f.positions.getOpenHead(HK, TP)!.position, is_closed_position: true }, order(101));
  });
  expect.orders.push(order(100), order(101));
  expect.is_closed_position = true;
  assert.is(f.positions.getOpen(HK, TP), undefined, 'closed by the append: out of the open index');
  assert.is(JSON.stringify(f.positions.get(HK, start.position_uuid)), JSON.stringify(expect));
  assert.equal(f.positions.verify(), []);
});

test('appendOrder after the position moved since getOpenHead (a save, another append): appends to the current version, not the one read', () => {
  // appendOrder takes the record's location from this thread's last getOpenHead only while the
  // slot word is the one that read saw (LastHead, positions/cache.ts); every other write moves it.
  const f = fixture();
  saveLocked(f, start);
  const expect: Position = structuredClone(start);
  f.locks.withLock(HK, TP, () => {
    const h = f.positions.getOpenHead(HK, TP)!;
    // The position rewritten whole (one order more) after the head was read: the old record block is retired.
    const p = f.positions.getOpen(HK, TP)!;
    p.orders.push(order(1));
    f.positions.save(p);
    expect.orders.push(order(1));
    f.positions.appendOrder(h.position, order(2));
    expect.orders.push(order(2));
  });
  assert.is(JSON.stringify(f.positions.get(HK, start.position_uuid)), JSON.stringify(expect), 'both orders kept, in order');
  f.locks.withLock(HK, TP, () => {
    const h1 = f.positions.getOpenHead(HK, TP)!;
    f.positions.appendOrder(h1.position, order(3)); // takes the kept location
    f.positions.appendOrder(h1.position, order(4)); // the same head again: the slot moved, read again
    expect.orders.push(order(3), order(4));
  });
  assert.is(JSON.stringify(f.positions.get(HK, start.position_uuid)), JSON.stringify(expect));
  assert.is(f.positions.getOpenHead(HK, TP)!.orderCount, start.orders.length + 4);
  assert.equal(f.positions.verify(), []);
});

test('appendOrder: a position not stored yet is created with the one order, indexed and opened', () => {
  const f = fixture();
  const head: PositionHead = { miner_hotkey: HK, position_uuid: 'fresh', trade_pair: ['BTCUSD', 'BTC/USD'], orders: null, net_leverage: 0.1, is_closed_position: false };
  f.locks.withLock(HK, 'BTCUSD', () => f.positions.appendOrder(head, order(0)));
  assert.is(JSON.stringify(f.positions.getOpen(HK, 'BTCUSD')), JSON.stringify({ ...head, orders: [order(0)] }));
  assert.equal(f.positions.listForHotkey(HK).map((p) => p.position_uuid), ['fresh']);
  assert.equal(f.positions.hotkeys(), [HK]);
  // Without an `orders` key the head keeps its own key order; `orders` comes last on reads.
  const { orders: _drop, ...bare } = head;
  f.locks.withLock(HK, 'ETHUSD', () => f.positions.appendOrder({ ...bare, position_uuid: 'bare', trade_pair: 'ETHUSD' }, order(1)));
  assert.equal(Object.keys(f.positions.get(HK, 'bare')!).at(-1), 'orders');
  assert.equal(f.positions.verify(), []);
});

test('appendOrder refusals: typed error, nothing written', () => {
  const f = fixture();
  for (const p of real) saveLocked(f, p);
  const h = f.positions.getOpenHead(HK, TP)!.position;
  const before = state(f);
  const other = real.find((p) => p.is_closed_position === false && tpOf(p) !== TP);
  const cases: Array<[string, () => void, string]> = [
    ['lock not held', () => f.positions.appendOrder(h, order(0)), ErrorCode.LOCK_NOT_HELD],
    ['whole position given', () => f.locks.withLock(HK, TP, () => f.positions.appendOrder({ ...h, orders: [order(0)] } as never, order(1))), ErrorCode.INVALID_VALUE],
    ['order not an object', () => f.locks.withLock(HK, TP, () => f.positions.appendOrder(h, 5 as never)), ErrorCode.INVALID_VALUE],
    ['order not encodable', () => f.locks.withLock(HK, TP, () => f.positions.appendOrder(h, { price: Number.NaN })), ErrorCode.INVALID_VALUE],
    ['head not encodable', () => f.locks.withLock(HK, TP, () => f.positions.appendOrder({ ...h, bad: () => 1 }, order(0))), ErrorCode.INVALID_VALUE],
    ['a second open position', () => f.locks.withLock(HK, TP, () => f.positions.appendOrder({ ...h, position_uuid: 'second' }, order(0))), ErrorCode.INVALID_VALUE],
    ['bad key', () => f.locks.withLock(HK, TP, () => f.positions.appendOrder({ ...h, miner_hotkey: '' }, order(0))), ErrorCode.INVALID_KEY],
  ];
  if (other !== undefined) {
    cases.push(['stored under another trade pair', () => f.locks.withLock(HK, TP, () => f.positions.appendOrder({ ...h, position_uuid: other.position_uuid }, order(0))), ErrorCode.INVALID_VALUE]);
  }
  for (const [what, fn, want] of cases) {
    assert.is(code(fn), want, what);
    assert.is(state(f), before, `${what}: state unchanged`);
  }
  assert.equal(f.positions.verify(), []);
});

test('appendOrder with ifEpoch: refused during or after a newer sync, nothing written', () => {
  const e = createEngine({ positions: { maxRecords: 1024, maxBytes: 16 << 20 } });
  try {
    const head: PositionHead = { miner_hotkey: HK, position_uuid: 'g', trade_pair: TP, orders: null, is_closed_position: false };
    const { epoch } = e.general.syncGate.current();
    e.locks.withLock(HK, TP, () => e.positions.appendOrder(head, order(0), { ifEpoch: epoch }));
    e.general.syncGate.begin();
    const during = code(() => e.locks.withLock(HK, TP, () => e.positions.appendOrder(head, order(1), { ifEpoch: epoch })));
    e.general.syncGate.end();
    const after = code(() => e.locks.withLock(HK, TP, () => e.positions.appendOrder(head, order(2), { ifEpoch: epoch })));
    assert.is(during, ErrorCode.STALE_EPOCH);
    assert.is(after, ErrorCode.STALE_EPOCH);
    assert.is(e.positions.get(HK, 'g')!.orders.length, 1, 'only the first append landed');
    assert.equal(e.verify().violations, []);
  } finally {
    e.close();
  }
});

test('save: the same get() result saved again and again (a head field changed) keeps every chunk, with no copy of any order', () => {
  const f = fixture();
  saveLocked(f, start);
  const got = f.positions.get(HK, start.position_uuid)!;
  const decodes0 = f.positions.stats().orderCache.misses;
  // A pinned reader: every retired block waits in the deferred list, so it counts them.
  const heap = new SharedHeap(f.handle.heap, f.key, 'pin');
  heap.pin();
  for (let i = 0; i < 5; i++) {
    got.current_return = 1 + i;
    saveLocked(f, got);
  }
  assert.is(f.positions.stats().heap.deferredBlocks, 5, 'only the 5 record blocks were replaced: no order written again');
  heap.unpin();
  assert.is(f.positions.stats().orderCache.misses, decodes0);
  assert.is(JSON.stringify(f.positions.get(HK, start.position_uuid)), JSON.stringify({ ...start, current_return: 5 }));
});

test('hotkey index: first-save order over 600 positions, deletes anywhere, a deleted miner leaves no block', () => {
  const f = fixture({ maxRecords: 2048 });
  const uuids: string[] = [];
  for (let i = 0; i < 600; i++) {
    const uuid = `p${i}`;
    uuids.push(uuid);
    const tp = i % 2 === 0 ? 'BTCUSD' : 'ETHUSD';
    f.locks.withLock(HK, tp, () => f.positions.appendOrder({ miner_hotkey: HK, position_uuid: uuid, trade_pair: tp, orders: null, is_closed_position: i < 598 }, order(i)));
  }
  assert.equal(f.positions.listForHotkey(HK).map((p) => p.position_uuid), uuids);
  for (const i of [0, 17, 300, 599]) assert.ok(f.positions.delete(HK, `p${i}`));
  const left = uuids.filter((u) => !['p0', 'p17', 'p300', 'p599'].includes(u));
  assert.equal(f.positions.listForHotkey(HK).map((p) => p.position_uuid), left);
  assert.equal(f.positions.listForHotkey(HK, { open: true }).map((p) => p.position_uuid), ['p598']);
  assert.is(f.positions.stats().hotkeys, 1);
  assert.equal(f.positions.verify(), []);
  for (const u of left) assert.ok(f.positions.delete(HK, u));
  assert.equal(f.positions.hotkeys(), []);
  assert.is(f.positions.stats().hotkeys, 0);
  assert.is(f.positions.stats().heap.inUseBytes, 0, 'the counter went with the last entry');
  // A miner coming back starts a new list.
  f.locks.withLock(HK, 'BTCUSD', () => f.positions.appendOrder({ miner_hotkey: HK, position_uuid: 'again', trade_pair: 'BTCUSD', orders: null, is_closed_position: false }, order(0)));
  assert.equal(f.positions.listForHotkey(HK).map((p) => p.position_uuid), ['again']);
});

test('workers: order steps with appendOrder from 4 threads on shared hotkeys; no lost update, every position indexed once', async () => {
  const f = fixture({ maxRecords: 8192, maxBytes: 128 << 20, seed: 5 });
  const keys: Array<{ hk: string; tp: string }> = [];
  for (let h = 0; h < 3; h++) for (const tp of ['BTCUSD', 'ETHUSD', 'EURUSD', 'SPX']) keys.push({ hk: `5App${h}${'x'.repeat(40)}`, tp });
  const workers = 4;
  const iterations = Math.round(600 * stressScale);
  const closeAt = 7;
  const base = {
    locks: f.lockHandle, positions: f.handle, keySeed: 5, seed, barrier: new SharedArrayBuffer(4), parties: workers, keys,
    template: start.orders[0] as Record<string, unknown>, iterations, closeAt,
  };
  const datas: AppendWorkerData[] = Array.from({ length: workers }, (_, id) => ({ ...base, id }));
  const res = await runWorkers<{ mine: number[] }>(new URL('./workers/positions-append-worker.ts', import.meta.url), datas, 120_000);
  keys.forEach((k, i) => {
    const steps = res.reduce((s, x) => s + x.mine[i]!, 0);
    const list = f.positions.listForHotkey(k.hk).filter((p) => tpOf(p) === k.tp);
    const stored = list.reduce((s, p) => s + p.orders.length, 0);
    assert.is(stored, steps, `${k.hk} ${k.tp}: every order stored once (no lost update)`);
    list.forEach((p, j) => {
      assert.equal(p.orders.map((o) => (o as { seq: number }).seq), Array.from({ length: p.orders.length }, (_, s) => s + 1), 'orders in sequence');
      assert.is(p.count, p.orders.length, 'head and orders of one version');
      assert.is(p.is_closed_position, j < list.length - 1 || p.orders.length === closeAt, 'all but the last closed');
    });
    assert.is(new Set(list.map((p) => p.position_uuid)).size, list.length, 'each position listed once');
  });
  assert.is(f.positions.size, f.positions.hotkeys().reduce((s, hk) => s + f.positions.listForHotkey(hk).length, 0), 'every record is listed');
  assert.equal(f.positions.verify(), []);
  console.log(`  ${workers * iterations} appends, ${f.positions.size} positions over ${keys.length} keys`);
});


test('a write started while another is encoded (an order getter calling appendOrder) is refused, and the outer with it: state unchanged', () => {
  // Found while checking that #guarded's per-instance argument fields (no closure per write)
  // survive nesting: the nested write itself stored a corrupt record ("codec: corrupt input" on
  // the next read), since the codec encodes into one scratch per thread. Writes do not nest.
  const engine = createEngine();
  const epoch = engine.general.syncGate.current().epoch;
  const b: Position = { ...structuredClone(start), position_uuid: 'second-position', trade_pair: 'ZZZUSD' };
  let innerError: unknown;
  engine.locks.withLocks([[HK, TP], [HK, 'ZZZUSD']], () => {
    engine.positions.save(structuredClone(start));
    engine.positions.save(b);
  });
  const before = JSON.stringify([engine.positions.getOpen(HK, TP), engine.positions.getOpen(HK, 'ZZZUSD'), engine.positions.stats().bytesUsed]);
  engine.locks.withLocks([[HK, TP], [HK, 'ZZZUSD']], () => {
    const outer = order(1);
    Object.defineProperty(outer, 'n', {
      enumerable: true,
      get: () => {
        const h = engine.positions.getOpenHead(HK, 'ZZZUSD')!;
        try {
          engine.positions.appendOrder({ ...h.position, net_leverage: 7 }, order(2), { ifEpoch: epoch });
        } catch (e) {
          innerError = e;
          throw e;
        }
        return 1;
      },
    });
    const h = engine.positions.getOpenHead(HK, TP)!;
    assert.is(code(() => engine.positions.appendOrder({ ...h.position, net_leverage: 5 }, outer, { ifEpoch: epoch })), ErrorCode.INVALID_VALUE);
  });
  assert.is((innerError as { code?: string } | undefined)?.code, ErrorCode.INVALID_VALUE, 'the nested write is the one refused');
  assert.is(JSON.stringify([engine.positions.getOpen(HK, TP), engine.positions.getOpen(HK, 'ZZZUSD'), engine.positions.stats().bytesUsed]), before);
  assert.equal(engine.verify().violations, []);
  // And a write after it works as ever.
  engine.locks.withLock(HK, TP, () => engine.positions.appendOrder({ ...engine.positions.getOpenHead(HK, TP)!.position }, order(3), { ifEpoch: epoch }));
  assert.is(engine.positions.getOpen(HK, TP)!.orders.length, start.orders.length + 1);
  engine.close();
});

test('appendOrder options: unknown keys refused whatever their kind (string, non-enumerable, symbol), nothing written', () => {
  // checkKnownKeys lists own keys without Reflect.ownKeys (it allocated about 390 bytes a call):
  // the same keys, in the same order, must still be refused.
  const f = fixture();
  saveLocked(f, start);
  const before = state(f);
  const hidden = { ifEpoch: 0 };
  Object.defineProperty(hidden, 'secret', { value: 1, enumerable: false });
  const cases: Array<[object, RegExp]> = [
    [{ ifEpoch: 0, nope: 1 }, /options\.nope is not a known option/],
    [hidden, /options\.secret is not a known option/],
    [{ [Symbol('s')]: 1 }, /options has a symbol key/],
    [{ nope: 1, [Symbol('s')]: 1 }, /options\.nope is not a known option/],
  ];
  for (const [opts, message] of cases) {
    f.locks.withLock(HK, TP, () => {
      const h = f.positions.getOpenHead(HK, TP)!;
      assert.throws(() => f.positions.appendOrder(h.position, order(9), opts as never), (e: unknown) => e instanceof TypeError && message.test((e as Error).message));
    });
  }
  assert.is(state(f), before);
});

test.run();
