import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, SabStateError } from '../src/errors.ts';
import { decodeOrder, decodePositionHead } from '../src/internal/codec/codec.ts';
import { type Position, PositionsDomain, resolvePositionsOptions } from '../src/domains/positions/positions.ts';
import { fixture, realPositionObjects, saveLocked, tpOf } from './workers/positions-fixture.ts';
import { code } from './helpers/errors.ts';
import { setCrashHook } from '../src/internal/crash.ts';

const real = realPositionObjects();
const HK = real[0]!.miner_hotkey;

function pos(uuid: string, tp: string, open: boolean, orders: unknown[] = [], hk = HK): Position {
  return { miner_hotkey: hk, position_uuid: uuid, open_ms: 1, trade_pair: tp, orders, current_return: 1, is_closed_position: !open };
}

test('real data: the 63 positions round-trip exactly; the 3 open ones are found by getOpen', () => {
  const f = fixture();
  for (const p of real) saveLocked(f, p);
  assert.is(f.positions.size, 63);
  for (const p of real) assert.is(JSON.stringify(f.positions.get(p.miner_hotkey, p.position_uuid)), JSON.stringify(p), p.position_uuid);
  const open = real.filter((p) => p.is_closed_position === false);
  assert.is(open.length, 3);
  for (const p of open) assert.is(JSON.stringify(f.positions.getOpen(HK, tpOf(p))), JSON.stringify(p));
  assert.is(f.positions.getOpen(HK, 'NOPE'), undefined);
  assert.is(f.positions.listForHotkey(HK).length, 63);
  assert.equal(f.positions.listForHotkey(HK).map((p) => p.position_uuid), real.map((p) => p.position_uuid), 'first-save order');
  assert.is(f.positions.listForHotkey(HK, { open: true }).length, 3);
  assert.is(f.positions.listForHotkey(HK, { open: false }).length, 60);
  assert.equal(f.positions.hotkeys(), [HK]);
  assert.is(f.positions.listForHotkey('unknown').length, 0);
  const st = f.positions.stats();
  assert.is(st.records, 63);
  assert.is(st.open, 3);
  assert.is(st.hotkeys, 1);
  assert.ok(st.bytesUsed > 0 && st.bytesUsed < st.bytesCapacity);
});

test('entriesRaw: every record as codec bytes, decodes back to the saved positions', () => {
  const f = fixture();
  for (const p of real) saveLocked(f, p);
  const raw = f.positions.entriesRaw();
  assert.is(raw.length, 63);
  const byUuid = new Map(real.map((p) => [p.position_uuid, p]));
  for (const e of raw) {
    const head = decodePositionHead(e.head);
    head.orders = e.orders.map((o) => decodeOrder(o));
    assert.is(JSON.stringify(head), JSON.stringify(byUuid.get(e.positionUuid)));
    assert.is(e.hotkey, HK);
    assert.is(e.open, byUuid.get(e.positionUuid)!.is_closed_position === false);
  }
});

test('returned objects: fresh heads and arrays, frozen shared orders; caller objects untouched', () => {
  const f = fixture();
  const p = real.find((x) => x.orders.length >= 3)!;
  saveLocked(f, p);
  assert.ok(!Object.isFrozen(p.orders[0]), 'save does not freeze the caller objects');
  const a = f.positions.get(HK, p.position_uuid)!;
  const b = f.positions.get(HK, p.position_uuid)!;
  assert.is.not(a, b);
  assert.is.not(a.orders, b.orders);
  assert.is(a.orders[0], b.orders[0], 'orders decoded once per chunk and shared');
  assert.ok(Object.isFrozen(a.orders[0]));
  assert.throws(() => {
    'use strict';
    (a.orders[0] as Record<string, unknown>).price = 1;
  });
  a.current_return = 2;
  a.orders.push({ order_type: 'FLAT', leverage: 0 });
  assert.is(b.orders.length, p.orders.length, 'a fresh array per read');
  // A copied and changed order is encoded again, not mistaken for the cached chunk.
  const changed = { ...(a.orders[1] as object), price: 12345 };
  a.orders[1] = changed;
  f.locks.withLock(HK, tpOf(p), () => f.positions.save(a));
  const c = f.positions.get(HK, p.position_uuid)!;
  assert.is(JSON.stringify(c), JSON.stringify(a));
  assert.is((c.orders[1] as { price: number }).price, 12345);
});

test('order objects from another engine are encoded again, never mistaken for a chunk of this heap', () => {
  const f1 = fixture();
  const f2 = fixture();
  saveLocked(f1, pos('p', 'BTCUSD', true, [{ order_uuid: 'A', price: 1 }]));
  saveLocked(f2, pos('p', 'BTCUSD', true, [{ order_uuid: 'B', price: 2 }]));
  const a = f1.positions.get(HK, 'p')!;
  // Same layout in both heaps: the order from f1 names a chunk offset and stamp that f2 also has.
  const moved = { ...pos('p', 'BTCUSD', true), orders: [a.orders[0]] };
  saveLocked(f2, moved);
  assert.equal(f2.positions.get(HK, 'p')!.orders, [{ order_uuid: 'A', price: 1 }]);
  const fresh = new PositionsDomain(f2.handle, f2.key, { locks: f2.locks }); // no cache: reads the heap
  assert.equal(fresh.get(HK, 'p')!.orders, [{ order_uuid: 'A', price: 1 }]);
  // The link to the chunk is invisible: not in JSON, keys or spread copies.
  const o = a.orders[0] as object;
  assert.equal(Object.keys(o), ['order_uuid', 'price']);
  assert.is(JSON.stringify(o), '{"order_uuid":"A","price":1}');
  assert.is(Object.getOwnPropertySymbols({ ...o }).length, 0);
});

test('order step: getOpen + append + save adds one block per order (the history is not copied)', () => {
  const f = fixture();
  const p = real.find((x) => x.is_closed_position === false)!;
  const tp = tpOf(p);
  saveLocked(f, p);
  const blocks0 = f.positions.stats().heap.inUseBlocks;
  for (let i = 0; i < 20; i++) {
    f.locks.withLock(HK, tp, () => {
      const o = f.positions.getOpen(HK, tp)!;
      o.orders.push({ ...(p.orders[0] as object), order_uuid: `new-${i}` });
      f.positions.save(o);
    });
  }
  const st = f.positions.stats();
  assert.is(st.heap.inUseBlocks, blocks0 + 20, 'one chunk per appended order, the record block replaced');
  const last = f.positions.getOpen(HK, tp)!;
  assert.is(last.orders.length, p.orders.length + 20);
  assert.is(JSON.stringify(last.orders.slice(0, p.orders.length)), JSON.stringify(p.orders));
  assert.ok(st.orderCache.misses <= p.orders.length + 20, `each order decoded once (${st.orderCache.misses} decodes)`);
  // Reads fill the caches, the thread's own writes do not (issue 12: no per-order copies kept):
  // each save finds the list its getOpen read; each getOpen decodes the one order saved last.
  assert.ok(st.orderCache.listHits >= 20, 'save found the order list of the version getOpen read');
});

test('validation: typed errors before any write, state unchanged', () => {
  const f = fixture();
  saveLocked(f, pos('u1', 'BTCUSD', true, [{ a: 1 }]));
  const state = () => JSON.stringify([f.positions.size, f.positions.stats().bytesUsed, f.positions.stats().heap.inUseBlocks, f.positions.listForHotkey(HK)]);
  const before = state();
  const bad: Array<[unknown, string]> = [
    [null, ErrorCode.INVALID_VALUE],
    [[], ErrorCode.INVALID_VALUE],
    ['x', ErrorCode.INVALID_VALUE],
    [{ ...pos('u2', 'BTCUSD', true), miner_hotkey: undefined }, ErrorCode.INVALID_KEY],
    [{ ...pos('u2', 'BTCUSD', true), miner_hotkey: '' }, ErrorCode.INVALID_KEY],
    [{ ...pos('u2', 'BTCUSD', true), position_uuid: 'x'.repeat(257) }, ErrorCode.INVALID_KEY],
    [{ ...pos('u2', 'BTCUSD', true), trade_pair: 7 }, ErrorCode.INVALID_VALUE],
    [{ ...pos('u2', 'BTCUSD', true), trade_pair: [] }, ErrorCode.INVALID_KEY],
    [{ ...pos('u2', 'BTCUSD', true), orders: {} }, ErrorCode.INVALID_VALUE],
    [{ ...pos('u2', 'BTCUSD', true), is_closed_position: 'no' }, ErrorCode.INVALID_VALUE],
    [pos('u2', 'BTCUSD', false, [{ price: NaN }]), ErrorCode.INVALID_VALUE],
    [pos('u2', 'BTCUSD', false, [{ a: 1 }, () => 1]), ErrorCode.INVALID_VALUE],
    [{ ...pos('u2', 'BTCUSD', false), extra: 10n }, ErrorCode.INVALID_VALUE],
    [{ ...pos('u1', 'BTCUSD', true), extra: new Map() }, ErrorCode.INVALID_VALUE],
  ];
  f.locks.withLock(HK, 'BTCUSD', () => {
    for (const [p, c] of bad) assert.is(code(() => f.positions.save(p as Position)), c, JSON.stringify(p, (_k, v) => (typeof v === 'bigint' ? 'bigint' : v)));
  });
  assert.is(state(), before);
  assert.is(code(() => f.positions.get('', 'u1')), ErrorCode.INVALID_KEY);
  assert.is(code(() => f.positions.getOpen(HK, 5 as unknown as string)), ErrorCode.INVALID_KEY);
  assert.is(code(() => f.positions.delete(HK, '')), ErrorCode.INVALID_KEY);
});

test('locks: save needs the (hotkey, trade pair) lock; delete takes it itself', () => {
  const f = fixture();
  assert.is(code(() => f.positions.save(pos('u1', 'BTCUSD', true))), ErrorCode.LOCK_NOT_HELD);
  f.locks.withLock(HK, 'ETHUSD', () => assert.is(code(() => f.positions.save(pos('u1', 'BTCUSD', true))), ErrorCode.LOCK_NOT_HELD));
  assert.is(f.positions.size, 0);
  saveLocked(f, pos('u1', 'BTCUSD', true));
  // moving a uuid to another trade pair needs both locks
  f.locks.withLock(HK, 'ETHUSD', () => assert.is(code(() => f.positions.save(pos('u1', 'ETHUSD', true))), ErrorCode.LOCK_NOT_HELD));
  f.locks.withLocks([[HK, 'ETHUSD'], [HK, 'BTCUSD']], () => f.positions.save(pos('u1', 'ETHUSD', true)));
  assert.is(f.positions.getOpen(HK, 'BTCUSD'), undefined);
  assert.is(f.positions.getOpen(HK, 'ETHUSD')!.position_uuid, 'u1');
  assert.is(f.positions.delete(HK, 'u1'), true);
  assert.is(f.locks.isHeld(HK, 'ETHUSD'), false);
  assert.is(f.positions.delete(HK, 'u1'), false);
  assert.is(f.positions.getOpen(HK, 'ETHUSD'), undefined);
  // delete inside the caller's own withLock: re-entrant
  saveLocked(f, pos('u2', 'BTCUSD', true));
  assert.is(f.locks.withLock(HK, 'BTCUSD', () => f.positions.delete(HK, 'u2')), true);
  assert.equal(f.positions.hotkeys(), []);
  assert.is(f.positions.stats().bytesUsed, 0, 'everything freed');
});

test('one open position per (hotkey, trade pair); closing moves it out of the open index', () => {
  const f = fixture();
  saveLocked(f, pos('a', 'BTCUSD', true, [{ n: 1 }]));
  assert.is(code(() => saveLocked(f, pos('b', 'BTCUSD', true))), ErrorCode.INVALID_VALUE);
  saveLocked(f, pos('b', 'BTCUSD', false));
  saveLocked(f, pos('c', 'ETHUSD', true));
  saveLocked(f, pos('x', 'BTCUSD', true, [], 'other-hotkey'));
  assert.is(f.positions.getOpen(HK, 'BTCUSD')!.position_uuid, 'a');
  saveLocked(f, pos('a', 'BTCUSD', false, [{ n: 1 }, { n: 2 }]));
  assert.is(f.positions.getOpen(HK, 'BTCUSD'), undefined);
  assert.is(f.positions.get(HK, 'a')!.orders.length, 2);
  saveLocked(f, pos('b', 'BTCUSD', true));
  assert.is(f.positions.getOpen(HK, 'BTCUSD')!.position_uuid, 'b');
  assert.equal(f.positions.listForHotkey(HK, { open: true }).map((p) => p.position_uuid).sort(), ['b', 'c']);
  assert.equal(f.positions.hotkeys().sort(), [HK, 'other-hotkey'].sort());
  assert.is(f.positions.stats().open, 3);
});

test('ifEpoch: needs the gate (TypeError without); runs the write inside gate.guard; a refusal writes nothing', () => {
  const f = fixture();
  assert.throws(() => f.locks.withLock(HK, 'BTCUSD', () => f.positions.save(pos('u', 'BTCUSD', true), { ifEpoch: 1 })), TypeError);
  assert.is(f.positions.size, 0);
  let current = 3;
  const calls: number[] = [];
  const gate = {
    guard<T>(ifEpoch: number, fn: () => T): T {
      calls.push(ifEpoch);
      if (ifEpoch !== current) throw new SabStateError(ErrorCode.STALE_EPOCH, 'stale');
      return fn();
    },
  };
  const g = new PositionsDomain(f.handle, f.key, { locks: f.locks, gate });
  f.locks.withLock(HK, 'BTCUSD', () => g.save(pos('u', 'BTCUSD', true), { ifEpoch: 3 }));
  current = 4;
  assert.is(code(() => f.locks.withLock(HK, 'BTCUSD', () => g.save(pos('u', 'BTCUSD', false), { ifEpoch: 3 }))), ErrorCode.STALE_EPOCH);
  assert.equal(calls, [3, 3]);
  assert.is(f.positions.getOpen(HK, 'BTCUSD')!.position_uuid, 'u', 'the refused save changed nothing');
  assert.throws(() => f.locks.withLock(HK, 'BTCUSD', () => g.save(pos('u', 'BTCUSD', true), { ifEpoch: 1.5 })), TypeError);
});

test('capacity: a full table or heap is ERR_CAPACITY and changes nothing', () => {
  const f = fixture({ maxRecords: 3 });
  for (const u of ['a', 'b', 'c']) saveLocked(f, pos(u, `TP${u}`, true));
  assert.is(code(() => saveLocked(f, pos('d', 'TPd', true, [], 'hk2'))), ErrorCode.CAPACITY);
  assert.throws(() => saveLocked(f, pos('d', 'TPd', true, [], 'hk2')), /raise options\.positions\.maxRecords or options\.positions\.maxBytes/, 'names the option to raise');
  assert.is(f.positions.size, 3);
  assert.equal(f.positions.hotkeys(), [HK], 'the hotkey list entry was rolled back');
  assert.is(f.positions.getOpen('hk2', 'TPd'), undefined);
  saveLocked(f, pos('a', 'TPa', false, [{ more: 'orders' }]));
  const small = fixture({ maxBytes: resolvePositionsOptions({ maxBytes: 1 << 17 }).maxBytes });
  const big = real.reduce((x, y) => (JSON.stringify(y).length > JSON.stringify(x).length ? y : x));
  let saved = 0;
  let err: string | undefined;
  for (let i = 0; i < 200 && err === undefined; i++) {
    const p = { ...big, position_uuid: `copy-${i}`, orders: big.orders.map((o) => ({ ...(o as object) })) };
    err = code(() => saveLocked(small, p));
    if (err === undefined) saved++;
  }
  assert.is(err, ErrorCode.CAPACITY);
  assert.is(small.positions.size, saved);
  const used = small.positions.stats().bytesUsed;
  assert.is(code(() => saveLocked(small, { ...big, position_uuid: 'one-more' })), ErrorCode.CAPACITY);
  assert.is(small.positions.stats().bytesUsed, used, 'a failed save frees what it built');
  assert.is(small.positions.get(HK, 'one-more'), undefined);
});

test('options: defaults and messages', () => {
  assert.equal(resolvePositionsOptions(undefined), { maxRecords: 131072, maxBytes: 2 ** 30 });
  assert.throws(() => resolvePositionsOptions({ maxBytes: 1.5 }), /options\.positions\.maxBytes must be a positive integer/);
  assert.throws(() => resolvePositionsOptions({ maxRecords: 0 }), /options\.positions\.maxRecords must be a positive integer/);
  assert.throws(() => resolvePositionsOptions({ maxBytes: 1000 }), /must be at least/);
  assert.throws(() => resolvePositionsOptions(5), /options\.positions must be an object/);
  assert.throws(() => resolvePositionsOptions({ maxRecord: 5 }), /options\.positions\.maxRecord is not a known option/);
  const f = fixture();
  assert.throws(() => new PositionsDomain(f.handle, f.key, {} as never), TypeError);
});

test('refused means unchanged: a new miner\'s save refused with ERR_CAPACITY at whichever allocation leaves nothing behind', () => {
  // The heap fills at a different step of the save for each size (order chunk, record, open index,
  // the hotkey index's counter, its entry): each refusal must undo its steps. The last index crash
  // point passed before the refusal names the step (none: the refusal came before the index); the
  // sizes must reach the index step that allocates after the counter is taken (its entry). Since
  // issue 12's touch (hotkey-index.ts #touch: one CAS to the next version of the same block when
  // the counter already covers the entry), nothing allocates after `positions.index.written` in a
  // new miner's first save: the counter it took covers its own entry. The touch allocates only when
  // a concurrent trim lowered the counter, which one thread cannot produce here.
  const hkOf = (k: number): string => `5Refused${String(k).padStart(6, '0')}`;
  const lastPoints = new Set<string>();
  let last = '';
  setCrashHook((name) => {
    if (name === 'positions.index.counted' || name === 'positions.index.written') last = name;
  });
  try {
    for (let j = 0; j < 160; j++) {
      const f = fixture({ maxBytes: (128 << 10) + 8 * j, maxRecords: 4096 });
      let k = 0;
      let refused: SabStateError | undefined;
      for (; k < 10_000; k++) {
        last = '';
        try {
          saveLocked(f, pos(`u-${k}`, 'BTCUSD', true, [{ order_uuid: `o-${k}`, price: k }], hkOf(k)));
        } catch (e) {
          refused = e as SabStateError;
          break;
        }
      }
      assert.is(refused?.code, ErrorCode.CAPACITY, `size ${j}: filled until ERR_CAPACITY`);
      lastPoints.add(last);
      assert.is(f.positions.get(hkOf(k), `u-${k}`), undefined, `size ${j}: the refused position is not stored`);
      assert.equal(f.positions.listForHotkey(hkOf(k)), [], `size ${j}: nor listed`);
      assert.is(f.positions.size, k);
      assert.equal(f.positions.verify(), [], `size ${j}: verify after the refusal of save ${k} (last point: ${last || 'none'})`);
    }
  } finally {
    setCrashHook(null);
  }
  assert.ok(lastPoints.has('positions.index.counted'), `some size was refused right after positions.index.counted: ${[...lastPoints].join(', ')}`);
  assert.not.ok(lastPoints.has('positions.index.written'), 'a refusal after positions.index.written: the touch allocated without a trim');
});

test.run();
