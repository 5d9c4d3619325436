// fast-check model run of the positions domain: save / appendOrder / get / getOpenHead / delete /
// getOpen / listForHotkey through TWO PositionsDomain instances attached to the same buffers (each with its own order
// cache), against a plain Map model.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { code } from './helpers/errors.ts';
import { type Position, PositionsDomain } from '../src/domains/positions/positions.ts';
import { fcParams } from './helpers/seed.ts';
import { type Fixture, fixture, realPositionObjects } from './workers/positions-fixture.ts';

const HOTKEYS = ['hkA', 'hkB'];
const TPS = ['BTCUSD', 'ETHUSD', 'EURUSD'];
const UUIDS = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
const tpOfUuid = (u: number): string => TPS[u % TPS.length]!;
const REAL_ORDERS = realPositionObjects().flatMap((p) => p.orders).slice(0, 40);

interface Model {
  recs: Map<string, Position>;
  order: Map<string, string[]>;
  tick: number;
}
interface Real {
  f: Fixture;
  inst: [PositionsDomain, PositionsDomain];
}
const mk = (hk: string, uuid: string) => `${hk}|${uuid}`;
const json = (v: unknown) => JSON.stringify(v);

function openOf(m: Model, hk: string, tp: string): Position | undefined {
  for (const p of m.recs.values()) if (p.miner_hotkey === hk && p.trade_pair === tp && !p.is_closed_position) return p;
  return undefined;
}

/**
 * A write expected to be refused (ERR_INVALID_VALUE, nothing written) exactly when it opens a
 * second position on (hotkey, trade pair); otherwise the model takes `next`.
 */
function writeAndFollow(m: Model, r: Real, hk: string, uuid: string, tp: string, opening: boolean, write: () => void, next: object): void {
  const other = openOf(m, hk, tp);
  const conflict = opening && other !== undefined && other.position_uuid !== uuid;
  assert.is(code(() => r.f.locks.withLock(hk, tp, write)), conflict ? 'ERR_INVALID_VALUE' : undefined);
  if (conflict) return;
  if (!m.recs.has(mk(hk, uuid))) m.order.set(hk, [...(m.order.get(hk) ?? []), uuid]);
  m.recs.set(mk(hk, uuid), JSON.parse(json(next)) as Position);
}

class SaveCmd implements fc.Command<Model, Real> {
  constructor(
    readonly i: 0 | 1, readonly hk: string, readonly u: number, readonly open: boolean,
    readonly add: number, readonly fromStore: boolean, readonly tweak: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const uuid = UUIDS[this.u]!;
    const tp = tpOfUuid(this.u);
    const d = r.inst[this.i];
    const stored = this.fromStore ? d.get(this.hk, uuid) : undefined;
    const had = m.recs.get(mk(this.hk, uuid));
    if (this.fromStore) assert.is(json(stored), json(had));
    const p: Position = stored ?? { miner_hotkey: this.hk, position_uuid: uuid, open_ms: m.tick, trade_pair: tp, orders: [], is_closed_position: false };
    for (let k = 0; k < this.add; k++) p.orders.push({ ...(REAL_ORDERS[(m.tick + k) % REAL_ORDERS.length] as object), n: m.tick + k });
    if (this.tweak && p.orders.length > 0) p.orders[0] = { ...(p.orders[0] as object), tweak: m.tick };
    p.is_closed_position = !this.open;
    p.current_return = m.tick++;
    writeAndFollow(m, r, this.hk, uuid, tp, this.open, () => d.save(p), p);
  }
  toString(): string {
    return `save#${this.i}(${this.hk},${UUIDS[this.u]},${this.open ? 'open' : 'closed'},+${this.add}${this.fromStore ? ',stored' : ''}${this.tweak ? ',tweak' : ''})`;
  }
}

/** appendOrder of one order to position u (its head from getOpenHead, or from the model, or new). */
class AppendCmd implements fc.Command<Model, Real> {
  constructor(readonly i: 0 | 1, readonly hk: string, readonly u: number, readonly close: boolean, readonly viaHead: boolean) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const [uuid, tp, d] = [UUIDS[this.u]!, tpOfUuid(this.u), r.inst[this.i]];
    const had = m.recs.get(mk(this.hk, uuid));
    const open = openOf(m, this.hk, tp);
    let head: Record<string, unknown> | undefined;
    if (this.viaHead && open !== undefined && open.position_uuid === uuid) {
      const got = d.getOpenHead(this.hk, tp, { lastOrder: true })!;
      assert.is(json(got.position), json({ ...open, orders: null }));
      assert.is(got.orderCount, open.orders.length);
      assert.is(json(got.lastOrder), json(open.orders.at(-1)));
      head = got.position;
    }
    head ??= had !== undefined ? { ...had, orders: null } : { miner_hotkey: this.hk, position_uuid: uuid, trade_pair: tp, orders: null, open_ms: m.tick };
    head = { ...head, current_return: m.tick, is_closed_position: this.close };
    const o = { ...(REAL_ORDERS[m.tick % REAL_ORDERS.length] as object), n: m.tick++ };
    writeAndFollow(m, r, this.hk, uuid, tp, !this.close, () => d.appendOrder(head as never, o), { ...head, orders: [...(had?.orders ?? []), o] });
  }
  toString(): string {
    return `append#${this.i}(${this.hk},${UUIDS[this.u]},${this.close ? 'close' : 'open'}${this.viaHead ? ',head' : ''})`;
  }
}

class GetCmd implements fc.Command<Model, Real> {
  constructor(readonly i: 0 | 1, readonly hk: string, readonly u: number) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const uuid = UUIDS[this.u]!;
    assert.is(json(r.inst[this.i].get(this.hk, uuid)), json(m.recs.get(mk(this.hk, uuid))));
  }
  toString(): string {
    return `get#${this.i}(${this.hk},${UUIDS[this.u]})`;
  }
}

class DeleteCmd implements fc.Command<Model, Real> {
  constructor(readonly i: 0 | 1, readonly hk: string, readonly u: number) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const uuid = UUIDS[this.u]!;
    const had = m.recs.delete(mk(this.hk, uuid));
    if (had) m.order.set(this.hk, m.order.get(this.hk)!.filter((x) => x !== uuid));
    assert.is(r.inst[this.i].delete(this.hk, uuid), had);
  }
  toString(): string {
    return `delete#${this.i}(${this.hk},${UUIDS[this.u]})`;
  }
}

class GetOpenCmd implements fc.Command<Model, Real> {
  constructor(readonly i: 0 | 1, readonly hk: string, readonly t: number) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const tp = TPS[this.t]!;
    assert.is(json(r.inst[this.i].getOpen(this.hk, tp)), json(openOf(m, this.hk, tp)));
  }
  toString(): string {
    return `getOpen#${this.i}(${this.hk},${TPS[this.t]})`;
  }
}

class ListCmd implements fc.Command<Model, Real> {
  constructor(readonly i: 0 | 1, readonly hk: string, readonly open: boolean | undefined) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const all = (m.order.get(this.hk) ?? []).map((u) => m.recs.get(mk(this.hk, u))!);
    const want = this.open === undefined ? all : all.filter((p) => p.is_closed_position === !this.open);
    const got = r.inst[this.i].listForHotkey(this.hk, this.open === undefined ? undefined : { open: this.open });
    assert.is(json(got), json(want));
    assert.is(r.inst[this.i].size, m.recs.size);
    const hks = [...new Set([...m.recs.values()].map((p) => p.miner_hotkey))].sort();
    assert.equal(r.inst[this.i].hotkeys().sort(), hks);
  }
  toString(): string {
    return `list#${this.i}(${this.hk},${this.open})`;
  }
}

const inst = fc.constantFrom<0 | 1>(0, 1);
const hk = fc.constantFrom(...HOTKEYS);
const uuid = fc.nat(UUIDS.length - 1);
const commands = [
  fc.tuple(inst, hk, uuid, fc.boolean(), fc.nat(3), fc.boolean(), fc.boolean()).map(([i, h, u, o, a, s, t]) => new SaveCmd(i, h, u, o, a, s, t)),
  fc.tuple(inst, hk, uuid, fc.boolean(), fc.boolean()).map(([i, h, u, c, v]) => new AppendCmd(i, h, u, c, v)),
  fc.tuple(inst, hk, uuid).map(([i, h, u]) => new GetCmd(i, h, u)),
  fc.tuple(inst, hk, uuid).map(([i, h, u]) => new DeleteCmd(i, h, u)),
  fc.tuple(inst, hk, fc.nat(TPS.length - 1)).map(([i, h, t]) => new GetOpenCmd(i, h, t)),
  fc.tuple(inst, hk, fc.option(fc.boolean(), { nil: undefined })).map(([i, h, o]) => new ListCmd(i, h, o)),
];

test('model: two instances on one handle behave like a Map; deleting everything frees every byte', () => {
  fc.assert(
    fc.property(fc.commands(commands, { maxCommands: 80, size: 'max' }), (cmds) => {
      const f = fixture({ maxRecords: 64, maxBytes: 4 << 20 });
      const real: Real = { f, inst: [f.positions, new PositionsDomain(f.handle, f.key, { locks: f.locks, orderCacheSize: 16 })] };
      const model: Model = { recs: new Map(), order: new Map(), tick: 1 };
      fc.modelRun(() => ({ model, real }), cmds);
      for (const p of model.recs.values()) assert.ok(real.inst[1].delete(p.miner_hotkey, p.position_uuid));
      assert.is(f.positions.size, 0);
      assert.is(f.positions.stats().bytesUsed, 0, 'no leak');
    }),
    fcParams(150),
  );
});

test.run();
