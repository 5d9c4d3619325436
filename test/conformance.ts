/**
 * The AsyncEngine conformance suite: one set of tests written against the AsyncEngine interface
 * (src/async/types.ts), run on every implementation: test/conformance-sab.test.ts (the
 * SharedArrayBuffer engine through toAsyncEngine) and test/redis-conformance.test.ts (Redis, a
 * real redis-server, with and without a password). Each test gets fresh state and two handles
 * on it (`a`, `b`: the same engine twice for the SharedArrayBuffer engine, two connections for
 * Redis), and asserts final states, never timings.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AsyncEngine, AsyncLockContext } from '../src/index.ts';
import type { Position } from '../src/domains/positions/positions.ts';
import { SabStateError } from '../src/errors.ts';

const codeOf = (e: unknown): string => (e instanceof SabStateError ? e.code : `not a SabStateError: ${String(e)}`);

export interface Backend {
  a: AsyncEngine;
  b: AsyncEngine;
  close(): Promise<void>;
}
/** The general domain every backend is created with. */
export const CONFORMANCE_GENERAL = {
  queues: { q: { capacity: 4, maxMessageBytes: 1024 }, big: { capacity: 1024, maxMessageBytes: 1024 } },
  counters: ['c'],
  maps: ['m'],
};

const HK = 'hk-5F{tag}:x';
const TP = 'BTCUSD';

function pos(uuid: string, over: Record<string, unknown> = {}): Position {
  return {
    miner_hotkey: HK,
    position_uuid: uuid,
    open_ms: 1,
    trade_pair: [TP, 'BTC/USD', 0.003, 0.001, 0.5],
    orders: [{ order_type: 'LONG', leverage: 0.5, price: 100, order_uuid: `${uuid}-o0` }],
    is_closed_position: false,
    unknown_field: { kept: [1, 'two', null] },
    ...over,
  } as Position;
}

/**
 * Two producers (a, b) push `n` tagged messages each into queue 'big' while two consumers (one per
 * handle) take them with `take`; every message must arrive exactly once.
 */
async function twoByTwo(a: AsyncEngine, b: AsyncEngine, n: number, take: (e: AsyncEngine) => Promise<string[]>): Promise<void> {
  const produce = async (e: AsyncEngine, tag: string): Promise<void> => {
    for (let i = 0; i < n; i++) while (!(await e.general.queue('big').push(`${tag}${i}`))) await new Promise((r) => setImmediate(r));
  };
  const got: string[] = [];
  let done = 0;
  const consume = async (e: AsyncEngine): Promise<void> => {
    while (done < 2 || (await e.general.queue('big').size()) > 0) got.push(...(await take(e)));
  };
  const consumers = [consume(a), consume(b)];
  await Promise.all([produce(a, 'a').then(() => done++), produce(b, 'b').then(() => done++)]);
  await Promise.all(consumers);
  assert.is(got.length, 2 * n);
  assert.is(new Set(got).size, 2 * n);
}

/**
 * The order step with `{ release: true }`, `per` times from each of four tasks on two handles:
 * getOpenHead, then an append of one order (not awaited inside fn, as the order step sends it,
 * so it goes out with fn's end). With `explicit`, fn takes the lock context and passes `{ lock }`.
 */
async function releasingSteps(a: AsyncEngine, b: AsyncEngine, per: number, explicit: boolean): Promise<void> {
  const step = async (e: AsyncEngine, tag: string, i: number, lock?: AsyncLockContext): Promise<{ w: Promise<boolean> }> => {
    const h = (await e.positions.getOpenHead(HK, TP, lock === undefined ? undefined : { lock }))!;
    await new Promise((r) => setImmediate(r));
    const w = e.positions.appendOrder({ ...h.position, n: h.orderCount }, { order_uuid: `${tag}-${i}` }, { release: true, lock });
    w.catch(() => undefined);
    return { w };
  };
  const task = async (e: AsyncEngine, tag: string): Promise<void> => {
    for (let i = 0; i < per; i++) {
      const fn = explicit ? (lock: AsyncLockContext) => step(e, tag, i, lock) : () => step(e, tag, i);
      await (await e.locks.withLock(HK, TP, fn, { timeoutMs: 60_000 })).w;
    }
  };
  await Promise.all([task(a, 'a1'), task(a, 'a2'), task(b, 'b1'), task(b, 'b2')]);
}

async function rejects(p: Promise<unknown>, want: string): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `expected ${want}, resolved`);
  assert.is(codeOf(err), want, `expected ${want}, got ${String((err as Error)?.message ?? err)}`);
}

/**
 * Registers and runs the suite on one backend. `known`: tests (by name) this backend cannot pass
 * yet, each with the reason: skipped, the reason printed (a real limit stays visible, never
 * weakened into a pass).
 */
export function conformance(name: string, make: () => Promise<Backend>, known: Readonly<Record<string, string>> = {}): void {
  const all = suite<{ be?: Backend }>(`conformance (${name})`);
  const s = Object.assign((title: string, fn: () => Promise<void>) => {
    const why = known[title];
    if (why === undefined) all(title, fn);
    else {
      console.log(`SKIP conformance (${name}): "${title}": ${why}`);
      all.skip(title, fn);
    }
  }, { run: () => all.run() });
  let be: Backend;
  all.before.each(async () => {
    be = await make();
  });
  all.after.each(async () => {
    await be.close();
  });

  s('positions: save, get, getOpen, listForHotkey keep every field and key order', async () => {
    const { a, b } = be;
    const p = pos('u1');
    await a.locks.withLock(HK, TP, () => a.positions.save(p));
    const got = await b.positions.get(HK, 'u1');
    assert.equal(got, p);
    assert.equal(Object.keys(got!), Object.keys(p));
    assert.equal(await b.positions.getOpen(HK, TP), p);
    assert.equal(await b.positions.listForHotkey(HK), [p]);
    assert.equal(await b.positions.listForHotkey(HK, { open: false }), []);
    assert.ok((await b.positions.hotkeys()).includes(HK));
    assert.is(await b.positions.get(HK, 'nope'), undefined);
    assert.is(await b.positions.getOpen(HK, 'ETHUSD'), undefined);
  });

  s('positions: a save without the lock is ERR_LOCK_NOT_HELD and stores nothing', async () => {
    const { a } = be;
    await rejects(a.positions.save(pos('u1')), 'ERR_LOCK_NOT_HELD');
    await rejects(a.locks.withLock(HK, 'ETHUSD', () => a.positions.save(pos('u1'))), 'ERR_LOCK_NOT_HELD');
    assert.is(await a.positions.get(HK, 'u1'), undefined);
    assert.equal(await a.positions.listForHotkey(HK), []);
  });

  s('positions: one open position per (hotkey, trade pair); refused means unchanged', async () => {
    const { a, b } = be;
    await a.locks.withLock(HK, TP, () => a.positions.save(pos('u1')));
    await rejects(a.locks.withLock(HK, TP, () => a.positions.save(pos('u2'))), 'ERR_INVALID_VALUE');
    assert.is(await b.positions.get(HK, 'u2'), undefined);
    assert.is((await b.positions.getOpen(HK, TP))?.position_uuid, 'u1');
    // closed: out of the open index, still stored; then a new open one is accepted
    await a.locks.withLock(HK, TP, () => a.positions.save(pos('u1', { is_closed_position: true })));
    assert.is(await b.positions.getOpen(HK, TP), undefined);
    await a.locks.withLock(HK, TP, () => a.positions.save(pos('u2')));
    assert.is((await b.positions.getOpen(HK, TP))?.position_uuid, 'u2');
    assert.equal((await b.positions.listForHotkey(HK, { open: false })).map((p) => p.position_uuid), ['u1']);
    assert.equal((await b.positions.listForHotkey(HK)).map((p) => p.position_uuid).sort(), ['u1', 'u2']);
  });

  s('positions: the order step (getOpenHead + appendOrder) appends one order and keeps the rest', async () => {
    const { a, b } = be;
    await a.locks.withLock(HK, TP, () => a.positions.save(pos('u1')));
    for (let i = 1; i <= 3; i++) {
      await a.locks.withLock(HK, TP, async () => {
        const h = await a.positions.getOpenHead(HK, TP, { lastOrder: true });
        assert.ok(h);
        assert.is(h.orderCount, i);
        assert.is(h.position.orders, null);
        assert.is((h.lastOrder as { order_uuid: string }).order_uuid, `u1-o${i - 1}`);
        const head = { ...h.position, net_leverage: i };
        await a.positions.appendOrder(head, { order_type: 'LONG', order_uuid: `u1-o${i}` });
        // read again under the same hold: the write is seen
        const again = await a.positions.getOpenHead(HK, TP, { lastOrder: true });
        assert.is(again!.orderCount, i + 1);
        assert.is((again!.lastOrder as { order_uuid: string }).order_uuid, `u1-o${i}`);
        assert.is(again!.position.net_leverage, i);
      });
    }
    const p = await b.positions.getOpen(HK, TP);
    assert.equal(p!.orders.map((o) => (o as { order_uuid: string }).order_uuid), ['u1-o0', 'u1-o1', 'u1-o2', 'u1-o3']);
    assert.is(p!.net_leverage, 3);
    assert.equal(Object.keys(p!), [...Object.keys(pos('u1')), 'net_leverage']);
    const h = await b.positions.getOpenHead(HK, TP);
    assert.is(h!.orderCount, 4);
    assert.is(h!.lastOrder, undefined);
    // a whole position given to appendOrder is refused, not truncated; outside the lock too
    await rejects(a.locks.withLock(HK, TP, () => a.positions.appendOrder(p as never, { x: 1 })), 'ERR_INVALID_VALUE');
    await rejects(a.positions.appendOrder(h!.position, { x: 1 }), 'ERR_LOCK_NOT_HELD');
    assert.is((await b.positions.getOpenHead(HK, TP))!.orderCount, 4);
  });

  s('positions: with { ifEpoch } a write during or after a newer sync is ERR_STALE_EPOCH, unchanged', async () => {
    const { a, b } = be;
    const { epoch } = await a.general.syncGate.current();
    await a.locks.withLock(HK, TP, () => a.positions.save(pos('u1'), { ifEpoch: epoch }));
    const e2 = await b.general.syncGate.begin();
    assert.is(e2, epoch + 1);
    assert.equal(await a.general.syncGate.current(), { epoch: e2, inProgress: true });
    await rejects(a.locks.withLock(HK, TP, () => a.positions.save(pos('u1', { open_ms: 2 }), { ifEpoch: epoch })), 'ERR_STALE_EPOCH');
    await rejects(a.locks.withLock(HK, TP, () => a.positions.save(pos('u1', { open_ms: 2 }), { ifEpoch: e2 })), 'ERR_STALE_EPOCH');
    const h = (await a.positions.getOpenHead(HK, TP))!.position;
    await rejects(a.locks.withLock(HK, TP, () => a.positions.appendOrder(h, { o: 1 }, { ifEpoch: epoch })), 'ERR_STALE_EPOCH');
    await rejects(a.eliminations.add({ hotkey: 'e1' }, { ifEpoch: epoch }), 'ERR_STALE_EPOCH');
    await b.general.syncGate.end();
    await rejects(a.locks.withLock(HK, TP, () => a.positions.save(pos('u1', { open_ms: 2 }), { ifEpoch: epoch })), 'ERR_STALE_EPOCH');
    assert.equal(await b.positions.get(HK, 'u1'), pos('u1'));
    assert.is(await b.eliminations.has('e1'), false);
    await a.locks.withLock(HK, TP, () => a.positions.save(pos('u1', { open_ms: 3 }), { ifEpoch: e2 }));
    assert.is((await b.positions.get(HK, 'u1'))!.open_ms, 3);
  });

  s('positions: delete', async () => {
    const { a, b } = be;
    await a.locks.withLock(HK, TP, () => a.positions.save(pos('u1')));
    assert.is(await b.positions.delete(HK, 'u1'), true);
    assert.is(await b.positions.delete(HK, 'u1'), false);
    assert.is(await a.positions.get(HK, 'u1'), undefined);
    assert.is(await a.positions.getOpen(HK, TP), undefined);
    assert.ok(!(await a.positions.hotkeys()).includes(HK));
  });

  s('positions: a write with { push } pushes its message once written; a refused write pushes nothing; a full queue resolves false (written, not pushed); a bad queue or message writes nothing', async () => {
    const { a, b } = be;
    const q = b.general.queue('q');
    const push = (message: unknown, queue = 'q') => ({ push: { queue, message } });
    assert.is(await a.locks.withLock(HK, TP, (lock) => a.positions.save(pos('u1'), { lock, ...push({ n: 1 }) })), true);
    assert.equal(await q.pop(), { n: 1 });
    // the order step: getOpenHead, appendOrder with release and the notice
    await a.locks.withLock(HK, TP, async (lock) => {
      const h = (await a.positions.getOpenHead(HK, TP, { lock }))!;
      assert.is(await a.positions.appendOrder(h.position, { order_uuid: 'u1-o1' }, { lock, release: true, ...push('n2') }), true);
    });
    assert.is(await q.pop(), 'n2');
    // refused writes push nothing
    const { epoch } = await a.general.syncGate.current();
    await b.general.syncGate.begin();
    await b.general.syncGate.end();
    await rejects(a.locks.withLock(HK, TP, (lock) => a.positions.save(pos('u1', { open_ms: 2 }), { lock, ifEpoch: epoch, ...push('stale') })), 'ERR_STALE_EPOCH');
    await rejects(a.locks.withLock(HK, TP, (lock) => a.positions.save(pos('u2'), { lock, ...push('second open') })), 'ERR_INVALID_VALUE');
    await rejects(a.positions.save(pos('u1', { open_ms: 3 }), push('no lock')), 'ERR_LOCK_NOT_HELD');
    await rejects(a.locks.withLock(HK, TP, (lock) => a.positions.save(pos('u1', { open_ms: 4 }), { lock, ...push(1, 'nope') })), 'ERR_UNKNOWN_QUEUE');
    await rejects(a.locks.withLock(HK, TP, (lock) => a.positions.save(pos('u1', { open_ms: 4 }), { lock, ...push('x'.repeat(2000)) })), 'ERR_VALUE_TOO_LARGE');
    let err: unknown;
    await a.locks.withLock(HK, TP, (lock) => a.positions.save(pos('u1', { open_ms: 4 }), { lock, push: { message: 1 } } as never)).catch((e: unknown) => (err = e));
    assert.instance(err, TypeError);
    assert.is(await q.pop(), undefined);
    const p = (await b.positions.get(HK, 'u1'))!;
    assert.is(p.open_ms, 1);
    assert.equal(p.orders.map((o) => (o as { order_uuid: string }).order_uuid), ['u1-o0', 'u1-o1']);
    assert.is(await b.positions.get(HK, 'u2'), undefined);
    // a full queue: the write is made, the message not pushed, false
    for (let i = 0; i < 4; i++) assert.ok(await a.general.queue('q').push(i));
    assert.is(await a.locks.withLock(HK, TP, (lock) => a.positions.save(pos('u1', { open_ms: 5 }), { lock, ...push('full') })), false);
    assert.is((await b.positions.get(HK, 'u1'))!.open_ms, 5);
    assert.is(await q.size(), 4);
    const got: unknown[] = [];
    for (let i = 0; i < 4; i++) got.push(await q.pop());
    assert.equal(got, [0, 1, 2, 3]);
    assert.is(await q.pop(), undefined);
  });

  s('locks: no lost update (read-modify-write from two handles, many tasks)', async () => {
    const { a, b } = be;
    await a.locks.withLock(HK, TP, () => a.positions.save(pos('u1', { n: 0 })));
    const per = 20;
    const task = async (e: AsyncEngine): Promise<void> => {
      for (let i = 0; i < per; i++) {
        await e.locks.withLock(HK, TP, async () => {
          const p = (await e.positions.getOpen(HK, TP))!;
          await new Promise((r) => setImmediate(r));
          await e.positions.save({ ...p, n: (p.n as number) + 1 });
        }, { timeoutMs: 60_000 });
      }
    };
    await Promise.all([task(a), task(a), task(b), task(b)]);
    assert.is((await a.positions.getOpen(HK, TP))!.n, 4 * per);
  });

  s('positions: a write with { release: true } frees its lock (the order step); no lost update from two handles; a bad value is refused', async () => {
    const { a, b } = be;
    await a.locks.withLock(HK, TP, () => a.positions.save(pos('u1'), { release: true }));
    assert.is(await b.locks.isHeld(HK, TP), false);
    assert.equal(await b.positions.get(HK, 'u1'), pos('u1'));
    const per = 15;
    await releasingSteps(a, b, per, false);
    const p = (await b.positions.getOpen(HK, TP))!;
    assert.is(p.orders.length, 1 + 4 * per);
    assert.is(new Set(p.orders.map((o) => (o as { order_uuid: string }).order_uuid)).size, 1 + 4 * per);
    assert.is(p.n, 4 * per); // each append saw the count the one before it left: none lost
    assert.is(await a.locks.isHeld(HK, TP), false);
    let err: unknown;
    await a.locks.withLock(HK, TP, () => a.positions.save(pos('u1', { open_ms: 9 }), { release: 'yes' } as never)).catch((e: unknown) => (err = e));
    assert.instance(err, TypeError);
    assert.is((await b.positions.get(HK, 'u1'))!.open_ms, 1);
    assert.is(await b.locks.isHeld(HK, TP), false);
  });

  s('locks: an fn that takes the lock context passes it on ({ lock }): the order step from two handles, no lost update; withLocks; a bad context is a TypeError, nothing written', async () => {
    const { a, b } = be;
    await a.locks.withLock(HK, TP, (lock) => a.positions.save(pos('u1'), { lock }));
    const per = 15;
    await releasingSteps(a, b, per, true);
    const p = (await b.positions.getOpen(HK, TP))!;
    assert.is(p.orders.length, 1 + 4 * per);
    assert.is(p.n, 4 * per); // each append saw the count the one before it left: none lost
    assert.is(await a.locks.isHeld(HK, TP), false);
    const HK2 = 'hk-second';
    const p2 = { ...pos('u2'), miner_hotkey: HK2, trade_pair: 'ETHUSD' } as Position;
    await a.locks.withLocks([[HK2, 'ETHUSD'], [HK, TP]], async (lock) => {
      await a.positions.save(pos('u1', { open_ms: 5 }), { lock });
      await a.positions.save(p2, { lock });
    });
    assert.equal(await b.positions.get(HK2, 'u2'), p2);
    assert.is((await b.positions.get(HK, 'u1'))!.open_ms, 5);
    for (const bad of [{}, { asyncLockContext: 'yes' }, 5]) {
      let err: unknown;
      await a.locks.withLock(HK, TP, () => a.positions.save(pos('u1', { open_ms: 9 }), { lock: bad as never })).catch((e: unknown) => (err = e));
      assert.instance(err, TypeError, `lock ${JSON.stringify(bad)}`);
    }
    assert.is((await b.positions.get(HK, 'u1'))!.open_ms, 5);
    assert.is(await b.locks.isHeld(HK, TP), false);
  });

  s('locks: withLocks in either order from two handles: no deadlock, no lost update, writes carry every lock', async () => {
    const { a, b } = be;
    const HK2 = 'hk-second';
    const TP2 = 'ETHUSD';
    await a.general.map('m').set('x', 0);
    await a.general.map('m').set('y', 0);
    const per = 10;
    const task = async (e: AsyncEngine, reversed: boolean): Promise<void> => {
      const keys: Array<[string, string]> = reversed ? [[HK2, TP2], [HK, TP]] : [[HK, TP], [HK2, TP2], [HK, TP]];
      for (let i = 0; i < per; i++) {
        // a deadlock fails here (ERR_LOCK_TIMEOUT) instead of hanging
        await e.locks.withLocks(keys, async () => {
          const x = (await e.general.map('m').get('x')) as number;
          const y = (await e.general.map('m').get('y')) as number;
          await new Promise((r) => setImmediate(r));
          await e.general.map('m').set('x', x + 1);
          await e.general.map('m').set('y', y + 1);
        }, { timeoutMs: 60_000 });
      }
    };
    await Promise.all([task(a, false), task(a, true), task(b, false), task(b, true)]);
    assert.is(await a.general.map('m').get('x'), 4 * per);
    assert.is(await a.general.map('m').get('y'), 4 * per);
    const p2 = { ...pos('u2'), miner_hotkey: HK2, trade_pair: TP2 } as Position;
    await a.locks.withLocks([[HK, TP], [HK2, TP2]], async () => {
      await a.positions.save(pos('u1'));
      await a.positions.save(p2);
    });
    assert.equal(await b.positions.get(HK2, 'u2'), p2);
    assert.equal(await b.positions.get(HK, 'u1'), pos('u1'));
    await rejects(a.locks.withLocks([[HK, TP], [HK2, '']], () => 1), 'ERR_INVALID_KEY');
    assert.is(await a.locks.isHeld(HK, TP), false);
    assert.is(await a.locks.withLocks([], () => 5), 5);
  });

  s('locks: withLocks that cannot take every lock in time is ERR_LOCK_TIMEOUT, fn not run, nothing held after', async () => {
    const { a, b } = be;
    const HK2 = 'hk-second';
    const g = await b.locks.acquire(HK2, TP);
    let ran = false;
    await rejects(a.locks.withLocks([[HK, TP], [HK2, TP]], () => (ran = true), { timeoutMs: 50 }), 'ERR_LOCK_TIMEOUT');
    assert.is(ran, false);
    await g.release();
    assert.is(await a.locks.isHeld(HK, TP), false);
    assert.is(await a.locks.isHeld(HK2, TP), false);
    assert.is(await a.locks.withLocks([[HK, TP], [HK2, TP]], () => 'both', { timeoutMs: 60_000 }), 'both');
  });

  s('locks: acquire / tryAcquire guards: exclusive, writes carry the lock, released exactly once', async () => {
    const { a, b } = be;
    const g = await a.locks.acquire(HK, TP, { timeoutMs: 60_000 });
    assert.is(await b.locks.isHeld(HK, TP), true);
    assert.is(await b.locks.tryAcquire(HK, TP), null);
    assert.is(await a.locks.tryAcquire(HK, TP), null, 'not re-entrant');
    await rejects(b.locks.acquire(HK, TP, { timeoutMs: 30 }), 'ERR_LOCK_TIMEOUT');
    await rejects(b.locks.withLock(HK, TP, () => 1, { timeoutMs: 30 }), 'ERR_LOCK_TIMEOUT');
    await a.positions.save(pos('u1')); // under the guard: no withLock needed
    const waiter = b.locks.acquire(HK, TP, { timeoutMs: 60_000 });
    await g.release();
    await rejects(g.release(), 'ERR_LOCK_NOT_HELD');
    await g[Symbol.asyncDispose](); // after release: nothing
    const g2 = await waiter;
    assert.equal(await a.positions.get(HK, 'u1'), pos('u1'));
    await g2[Symbol.asyncDispose]();
    assert.is(await a.locks.isHeld(HK, TP), false);
    await rejects(a.positions.save(pos('u1', { open_ms: 9 })), 'ERR_LOCK_NOT_HELD');
    const g3 = await a.locks.tryAcquire(HK, TP);
    assert.ok(g3 !== null);
    await g3.release();
    assert.is(await b.locks.isHeld(HK, TP), false);
    await rejects(a.locks.acquire(HK, ''), 'ERR_INVALID_KEY');
    await rejects(a.locks.tryAcquire('', TP), 'ERR_INVALID_KEY');
  });

  s('locks: ERR_LOCK_TIMEOUT while another holder has it; free after', async () => {
    const { a, b } = be;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const holder = a.locks.withLock(HK, TP, async () => {
      entered();
      await held;
      return 7;
    });
    await inside;
    assert.is(await b.locks.isHeld(HK, TP), true);
    await rejects(b.locks.withLock(HK, TP, () => 1, { timeoutMs: 30 }), 'ERR_LOCK_TIMEOUT');
    release();
    assert.is(await holder, 7);
    assert.is(await b.locks.withLock(HK, TP, () => 8, { timeoutMs: 60_000 }), 8);
    assert.is(await b.locks.isHeld(HK, TP), false);
  });

  s('eliminations: add, get, has, list, size, delete; take gives a row to exactly one caller', async () => {
    const { a, b } = be;
    await a.eliminations.add({ hotkey: 'e1', reason: 'MAX_DRAWDOWN', dd: 0.1 });
    await a.eliminations.add({ hotkey: 'e2', reason: 'PLAGIARISM' });
    await a.eliminations.add({ hotkey: 'e1', reason: 'MAX_DRAWDOWN', dd: 0.2 }); // upsert
    assert.equal(await b.eliminations.get('e1'), { hotkey: 'e1', reason: 'MAX_DRAWDOWN', dd: 0.2 });
    assert.is(await b.eliminations.has('e2'), true);
    assert.is(await b.eliminations.size(), 2);
    assert.equal((await b.eliminations.list()).map((r) => r.hotkey).sort(), ['e1', 'e2']);
    const takes = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).eliminations.take('e1')));
    assert.is(takes.filter((r) => r !== undefined).length, 1);
    assert.is(await b.eliminations.delete('e2'), true);
    assert.is(await b.eliminations.delete('e2'), false);
    assert.is(await a.eliminations.size(), 0);
    await rejects(a.eliminations.add({ reason: 'x' } as never), 'ERR_INVALID_VALUE');
  });

  s('eliminations: replaceAll is seen whole (old set or new, never a mix)', async () => {
    const { a, b } = be;
    const set = (g: number, n: number): Array<{ hotkey: string; g: number }> => Array.from({ length: n }, (_, i) => ({ hotkey: `h${g}-${i}`, g }));
    await a.eliminations.replaceAll(set(0, 20));
    let stop = false;
    const seen: string[] = [];
    const reader = (async () => {
      while (!stop) {
        const rows = await b.eliminations.list();
        const gens = new Set(rows.map((r) => r.g));
        if (gens.size > 1 || (rows.length !== 20 && rows.length !== 30)) seen.push(JSON.stringify(rows.map((r) => r.hotkey)));
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let g = 1; g <= 10; g++) await a.eliminations.replaceAll(set(g, g % 2 === 0 ? 20 : 30));
    stop = true;
    await reader;
    assert.equal(seen, []);
    assert.is(await b.eliminations.size(), 20);
    await rejects(a.eliminations.replaceAll([{ hotkey: 'ok' }, 5 as never]), 'ERR_INVALID_VALUE');
    assert.is(await b.eliminations.size(), 20);
    await a.eliminations.replaceAll([]);
    assert.is(await b.eliminations.size(), 0);
  });

  s('departed: mark, get, has, delete, entries, size', async () => {
    const { a, b } = be;
    await a.departed.mark('d1', 1700000000000);
    await a.departed.mark('d2', 5);
    assert.equal(await b.departed.get('d1'), { detected_ms: 1700000000000 });
    assert.is(await b.departed.has('d2'), true);
    assert.is(await b.departed.size(), 2);
    assert.equal((await b.departed.entries()).sort((x, y) => x[0].localeCompare(y[0])), [['d1', { detected_ms: 1700000000000 }], ['d2', { detected_ms: 5 }]]);
    assert.is(await b.departed.delete('d1'), true);
    assert.is(await b.departed.has('d1'), false);
    await rejects(a.departed.mark('d3', 1.5), 'ERR_INVALID_VALUE');
  });

  s('queues: FIFO of every message kind; empty is undefined; full is false; unknown names are ERR_UNKNOWN_QUEUE / _COUNTER / _MAP', async () => {
    const { a, b } = be;
    const q = a.general.queue('q');
    assert.is(await q.pop(), undefined);
    assert.is(await q.push({ hotkey: HK, n: 1 }), true);
    assert.is(await q.push('text'), true);
    assert.is(await q.push(new Uint8Array([1, 2, 3])), true);
    assert.is(await q.push([1, null]), true);
    assert.is(await q.push('full'), false);
    assert.is(await q.size(), 4);
    const qb = b.general.queue('q');
    assert.equal(await qb.pop(), { hotkey: HK, n: 1 });
    assert.is(await q.push('after one pop'), true);
    assert.is(await qb.pop(), 'text');
    assert.equal([...((await qb.pop()) as Uint8Array)], [1, 2, 3]);
    assert.equal(await qb.pop(), [1, null]);
    assert.is(await qb.pop(), 'after one pop');
    assert.is(await qb.pop(), undefined);
    assert.is(await q.size(), 0);
    await rejects(q.push('x'.repeat(2000)), 'ERR_VALUE_TOO_LARGE');
    assert.throws(() => a.general.queue('nope'), (e: unknown) => codeOf(e) === 'ERR_UNKNOWN_QUEUE');
    assert.throws(() => a.general.counter('nope'), (e: unknown) => codeOf(e) === 'ERR_UNKNOWN_COUNTER');
    assert.throws(() => a.general.map('nope'), (e: unknown) => codeOf(e) === 'ERR_UNKNOWN_MAP');
  });

  s('queues: popMany takes up to max in FIFO order, [] when empty, bad max refused; two consumers of batches get each message once', async () => {
    const { a, b } = be;
    const q = a.general.queue('q');
    assert.equal(await q.popMany(3), []);
    for (const m of ['m1', { n: 2 }, 'm3']) assert.is(await q.push(m), true);
    assert.equal(await b.general.queue('q').popMany(2), ['m1', { n: 2 }]);
    assert.is(await q.push('m4'), true);
    assert.equal(await b.general.queue('q').popMany(10), ['m3', 'm4']);
    assert.equal(await b.general.queue('q').popMany(10), []);
    assert.is(await q.size(), 0);
    for (const bad of [0, -1, 1.5, 4097, Number.NaN]) {
      const err = await q.popMany(bad).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof RangeError, `popMany(${bad}): expected a RangeError, got ${String(err)}`);
    }
    // exactly once across two batch consumers and two producers
    await twoByTwo(a, b, 150, async (e) => {
      const batch = await e.general.queue('big').popMany(7);
      if (batch.length === 0) await new Promise((r) => setTimeout(r, 1));
      return batch as string[];
    });
  });

  s('queues: pop({ timeoutMs }) gets a message pushed while it waits', async () => {
    const { a, b } = be;
    const waiting = b.general.queue('q').pop({ timeoutMs: 60_000 });
    setTimeout(() => void a.general.queue('q').push('late'), 50);
    assert.is(await waiting, 'late');
  });

  s('queues: every message delivered exactly once to two producers and two consumers', async () => {
    const { a, b } = be;
    await twoByTwo(a, b, 200, async (e) => {
      const m = await e.general.queue('big').pop({ timeoutMs: 20 });
      return m === undefined ? [] : [m as string];
    });
  });

  s('counters and maps', async () => {
    const { a, b } = be;
    assert.is(await a.general.counter('c').add(), 1);
    assert.is(await b.general.counter('c').add(41), 42);
    assert.is(await a.general.counter('c').add(-2), 40);
    assert.is(await b.general.counter('c').get(), 40);
    await rejects(a.general.counter('c').add(1.5), 'ERR_INVALID_VALUE');
    const m = a.general.map('m');
    await m.set(HK, { account_size: 1000.5 });
    await m.set('k2', 'v');
    assert.equal(await b.general.map('m').get(HK), { account_size: 1000.5 });
    assert.is(await b.general.map('m').has('k2'), true);
    assert.is(await b.general.map('m').size(), 2);
    assert.is(await b.general.map('m').delete('k2'), true);
    assert.equal(await b.general.map('m').entries(), [[HK, { account_size: 1000.5 }]]);
    assert.is(await b.general.map('m').get('k2'), undefined);
  });

  s('bad keys are ERR_INVALID_KEY', async () => {
    const { a } = be;
    await rejects(a.positions.get('', 'u'), 'ERR_INVALID_KEY');
    await rejects(a.positions.getOpen(HK, 'x'.repeat(257)), 'ERR_INVALID_KEY');
    await rejects(a.eliminations.has(5 as never), 'ERR_INVALID_KEY');
    await rejects(a.departed.get(''), 'ERR_INVALID_KEY');
    await rejects(a.general.map('m').set('', 1), 'ERR_INVALID_KEY');
    await rejects(a.locks.withLock('', TP, () => 1), 'ERR_INVALID_KEY');
  });

  s.run();
}
