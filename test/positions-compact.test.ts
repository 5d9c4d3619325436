/**
 * Issue 11, the 70 % property at the positions level: random sequences of saves (positions of 1
 * to 150 orders, several miners and trade pairs, each under its lock as saveLocked does),
 * appends and deletes on a 4 MiB heap never get ERR_CAPACITY while the live bytes stay below
 * 70 % of maxBytes. A heap that never moves live data cannot promise that (Robson's bound; the
 * heap-level property of test/heap-reuse.test.ts stays skipped for that reason): the positions
 * domain can, because a record is reachable only through its table slot, so it moves records
 * to make room (positions/compact.ts).
 *
 * Live bytes: the same sequence is played on a second domain with a 64 MiB heap (the shadow),
 * whose heap in-use bytes after the operation are what the small heap would hold if it could
 * (record blocks, chunks, index entries; nothing is pinned, so nothing is deferred). When the
 * small heap refuses with ERR_CAPACITY, the run fails if the shadow's live bytes are below 70 %;
 * else the run ends there. At the end both hold the same positions, and verify() is clean.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SabStateError } from '../src/errors.ts';
import type { Position, PositionHead } from '../src/domains/positions/positions.ts';
import { SharedHeap } from '../src/internal/store/heap.ts';
import { fcParams } from './helpers/seed.ts';
import { topTrigger } from '../src/domains/positions/compact.ts';
import { seed, stressScale } from './helpers/seed.ts';
import { bundledWorker, inbox, runWorkers } from './helpers/workers.ts';
import { type Fixture, type StressKey, fixture, problem, saveLocked } from './workers/positions-fixture.ts';

const COMPACT_WORKER = new URL('./workers/positions-compact-worker.ts', import.meta.url);
const PIN_WORKER = new URL('./workers/heap-pin-worker.ts', import.meta.url);

const MAX = 4 << 20;
const SHADOW = 64 << 20;
const LIMIT = 0.7 * MAX;
const MINERS = 6;
const PAIRS = ['BTCUSD', 'ETHUSD', 'SOLUSD', 'XRPUSD'];
const hkOf = (m: number): string => `5CompactMiner${String(m).padStart(3, '0')}xfBcA7Ur5iiAS343xwvrYHTUfBjB`;

/** One step: `r` picks the kind (steered by the live share), `a` and `b` pick targets, `n` sizes. */
interface Step { r: number; a: number; b: number; n: number; pad: number }
const steps = fc.array(
  fc.record({ r: fc.integer({ min: 0, max: 999_999 }).map((x) => x / 1e6), a: fc.nat(1 << 20), b: fc.nat(1 << 20), n: fc.integer({ min: 1, max: 150 }), pad: fc.nat(400) }),
  { minLength: 800, maxLength: 1500, size: 'max' },
);

function order(k: number, pad: number): Record<string, unknown> {
  return {
    order_type: k % 2 ? 'LONG' : 'SHORT', leverage: 0.25 + k / 1000, price: 60_000 + k, processed_ms: 1_711_443_744_885 + k,
    order_uuid: `00000000-0000-4000-8000-${String(k).padStart(12, '0')}`, price_sources: [], note: 'x'.repeat((pad * (k + 7)) % 401),
  };
}

/** What both domains hold, as the model knows it: per key, the trade pair and whether it is open. */
interface Known { hk: string; uuid: string; tp: string; open: boolean }

interface Run {
  small: Fixture;
  shadow: Fixture;
  known: Known[];
  nextUuid: number;
  /** The operations that went through, by kind. */
  done: Record<string, number>;
  /** Why the run ended early (a refusal at or above 70 %), or ''. */
  ended: string;
  /** A refusal below 70 %: the property's counterexample. */
  failure: string;
  /**
   * The position the refused operation wrote, with its value in the small domain before it
   * (undefined for a new one): the shadow took the operation (to measure what the small heap
   * would have held), the small domain must still hold the value before (refused means
   * unchanged). Comparing that position with the shadow's was this test's own bug: a run that
   * ended on a refused resave or append at or above 70 % failed the property (seed 1485909600,
   * run 8: a resave refused at 97.2 % live), and shrinking its 1,500 steps outlasted the
   * suite's 300 s file timeout.
   */
  refused?: { k: Known; value: Position | undefined };
}

/** The heap's in-use bytes (a view of the domain's heap: stats() would count the hotkeys too, O(slots)). */
const heaps = new WeakMap<Fixture, SharedHeap>();
function live(f: Fixture): number {
  let h = heaps.get(f);
  if (h === undefined) heaps.set(f, (h = new SharedHeap(f.handle.heap, f.key, 'view')));
  return h.stats().inUseBytes;
}

/** Runs `op` on both domains, the small one first. False when the run ends here. */
function both(run: Run, kind: string, k: Known, before: Position | undefined, op: (f: Fixture) => void): boolean {
  try {
    op(run.small);
  } catch (e) {
    if (!(e instanceof SabStateError && e.code === 'ERR_CAPACITY')) throw e;
    run.refused = { k, value: before };
    op(run.shadow);
    const l = live(run.shadow);
    const st = run.small.positions.stats();
    const what = `${kind} refused with ERR_CAPACITY at ${(100 * l / MAX).toFixed(1)}% live (${l} bytes; small heap: in use ${st.heap.inUseBytes}, carved ${st.heap.carvedBytes}, free ${st.heap.freeBytes}; compaction ${JSON.stringify(st.compaction)}) after ${JSON.stringify(run.done)}`;
    if (l < LIMIT) run.failure = what;
    else run.ended = what;
    return false;
  }
  op(run.shadow);
  run.done[kind] = (run.done[kind] ?? 0) + 1;
  return true;
}

function withLock(f: Fixture, k: Known, fn: () => void): void {
  f.locks.withLock(k.hk, k.tp, fn);
}

/** One step on both domains; false when the run ends. */
function step(run: Run, s: Step): boolean {
  const share = live(run.shadow) / MAX;
  // Below 60 %: mostly new positions; 60-69.5 %: a mix that grows; above: mostly deletes.
  const grow = share < 0.6 ? 0.8 : share < 0.695 ? 0.5 : 0.05;
  const known = run.known;
  if (known.length === 0 || s.r < grow) {
    const hk = hkOf(s.a % MINERS);
    const tp = PAIRS[s.b % PAIRS.length]!;
    const uuid = `c0000000-0000-4000-8000-${String(run.nextUuid++).padStart(12, '0')}`;
    const open = !known.some((k) => k.open && k.hk === hk && k.tp === tp) && s.n % 3 === 0;
    const p: Position = {
      miner_hotkey: hk, position_uuid: uuid, open_ms: 1_711_443_744_885, trade_pair: tp, current_return: 1 + s.pad / 1000,
      orders: Array.from({ length: s.n }, (_, k) => order(k, s.pad)), is_closed_position: !open,
    };
    const k: Known = { hk, uuid, tp, open };
    if (!both(run, 'new', k, undefined, (f) => withLock(f, k, () => f.positions.save(p)))) return false;
    known.push(k);
    return true;
  }
  const k = known[s.a % known.length]!;
  const rest = (s.r - grow) / (1 - grow);
  if (rest < 0.3) {
    // Append one order (the order step), to an open or a closed position.
    const cur = run.small.positions.get(k.hk, k.uuid)!;
    const head: PositionHead = { ...cur, orders: null, current_return: 1 + s.b / 1e7 };
    return both(run, 'append', k, cur, (f) => withLock(f, k, () => f.positions.appendOrder(head, order(cur.orders.length, s.pad))));
  }
  if (rest < 0.55) {
    // Save it again: some orders dropped or added; sometimes closed.
    const cur = run.small.positions.get(k.hk, k.uuid)!;
    const n = 1 + (s.n % 150);
    const orders = n <= cur.orders.length ? cur.orders.slice(0, n) : [...cur.orders, ...Array.from({ length: n - cur.orders.length }, (_, j) => order(cur.orders.length + j, s.pad))];
    const close = k.open && s.b % 4 === 0;
    const p: Position = { ...cur, orders, is_closed_position: !k.open || close };
    if (!both(run, 'resave', k, cur, (f) => withLock(f, k, () => f.positions.save(p)))) return false;
    if (close) k.open = false;
    return true;
  }
  if (!both(run, 'delete', k, run.small.positions.get(k.hk, k.uuid), (f) => void f.positions.delete(k.hk, k.uuid))) return false;
  known.splice(known.indexOf(k), 1);
  return true;
}

/** Plays the steps; the counterexample's description, or '' if the property held. */
function play(ss: readonly Step[]): string {
  const run: Run = {
    small: fixture({ maxBytes: MAX, maxRecords: 1 << 14 }), shadow: fixture({ maxBytes: SHADOW, maxRecords: 1 << 14 }),
    known: [], nextUuid: 0, done: {}, ended: '', failure: '',
  };
  for (const s of ss) if (!step(run, s)) break;
  if (process.env.SABSTATE_DEBUG) console.log(`  ${(100 * live(run.shadow) / MAX).toFixed(1)}% live at the end; ${run.ended || run.failure || JSON.stringify(run.done)}`);
  if (run.failure !== '') return run.failure;
  // Whatever happened (moves included), both domains hold the same positions but the refused
  // one, which the small domain holds as before the refusal; and the small one is sound.
  const r = run.refused;
  if (r !== undefined) assert.equal(run.small.positions.get(r.k.hk, r.k.uuid), r.value, `refused (${r.k.hk}, ${r.k.uuid}) left unchanged`);
  for (const k of run.known) {
    if (k === r?.k) continue;
    const a = run.small.positions.get(k.hk, k.uuid);
    const b = run.shadow.positions.get(k.hk, k.uuid);
    assert.equal(a, b, `position (${k.hk}, ${k.uuid}) differs from the shadow's`);
  }
  assert.is(run.small.positions.size, run.known.length);
  assert.equal(run.small.positions.verify(), []);
  return '';
}

test('relocate: a position moves to new blocks, same content, a new version; verify() clean; counted', () => {
  const f = fixture({ maxBytes: 8 << 20 });
  const hk = hkOf(1);
  const p: Position = { miner_hotkey: hk, position_uuid: 'r-1', trade_pair: 'BTCUSD', orders: Array.from({ length: 40 }, (_, k) => order(k, 50)), is_closed_position: false };
  f.locks.withLock(hk, 'BTCUSD', () => f.positions.save(p));
  const before = f.positions.get(hk, 'r-1');
  const used = live(f);
  assert.ok(f.positions.relocate(hk, 'r-1'));
  assert.equal(f.positions.get(hk, 'r-1'), before);
  assert.equal(f.positions.getOpen(hk, 'BTCUSD'), before);
  assert.is(live(f), used, 'the old blocks were freed');
  const st = f.positions.stats().compaction;
  assert.is(st.relocations, 1);
  assert.ok(st.movedBytes > 40 * 50, `${st.movedBytes} bytes copied`);
  assert.equal(f.positions.verify(), []);
  // A save after the move (this thread's memo carried over) and an append still work.
  f.locks.withLock(hk, 'BTCUSD', () => f.positions.save({ ...before!, orders: [...before!.orders, order(40, 50)] }));
  f.locks.withLock(hk, 'BTCUSD', () => f.positions.appendOrder({ ...before!, orders: null }, order(41, 50)));
  assert.is(f.positions.get(hk, 'r-1')!.orders.length, 42);
  // An absent position does not move.
  assert.not.ok(f.positions.relocate(hk, 'absent'));
  assert.equal(f.positions.verify(), []);
});

/** The 'scenario' heap: a 4 MiB heap filled with one-order positions, every other one deleted. */
function halfLive(): { f: Fixture; o: (k: number) => Record<string, unknown> } {
  const f = fixture({ maxBytes: MAX, maxRecords: 1 << 16 });
  const hk = (k: number): string => `5Hk${k % 4}`;
  const o = (k: number): Record<string, unknown> => ({ order_uuid: `o-${k}`, price: k, leverage: 1, processed_ms: 1, note: 'x'.repeat(150) });
  let n = 0;
  for (;; n++) {
    const p: Position = { miner_hotkey: hk(n), position_uuid: `p-${n}`, trade_pair: 'BTCUSD', orders: [o(n)], is_closed_position: true };
    try {
      f.locks.withLock(p.miner_hotkey, 'BTCUSD', () => f.positions.save(p));
    } catch (e) {
      assert.is((e as SabStateError).code, 'ERR_CAPACITY');
      break;
    }
  }
  for (let k = 0; k < n; k += 2) f.positions.delete(hk(k), `p-${k}`);
  return { f, o };
}

// Failed on main (23231ff) with ERR_CAPACITY: a 4 MiB heap filled with one-order positions
// (11,252), every other one deleted (2,079,680 bytes in use, 49.6 %), then one 600-order position:
// its 4,880-byte record block found no hole. Compaction moving records alone still failed (every
// run of 4,880 bytes holds a hotkey-index entry or counter); served since index entries move too.
test('scenario: one-order positions, every other one deleted (50 % live), then a 600-order position', () => {
  const { f, o } = halfLive();
  assert.ok(live(f) < 0.55 * MAX, `${live(f)} bytes in use`);
  const big: Position = { miner_hotkey: '5Big', position_uuid: 'big', trade_pair: 'ETHUSD', orders: Array.from({ length: 600 }, (_, k) => o(k)), is_closed_position: true };
  f.locks.withLock('5Big', 'ETHUSD', () => f.positions.save(big));
  assert.is(f.positions.get('5Big', 'big')?.orders.length, 600);
  assert.equal(f.positions.verify(), []);
});

/**
 * Issue 11, sixth session (the lead saw a writer get ERR_CAPACITY right after a compaction that
 * reported success). makeRoom moves the window's records and retires their old blocks; a reader
 * pinned meanwhile (one descheduled mid-copy on a loaded machine) keeps them deferred, so the
 * window is not free when the write allocates again. Here: the 'scenario' heap (50 % live in
 * one-order positions), a worker pinned for 400 ms, then the 600-order save. It must be stored
 * (the reader unpins long before any timeout a writer would notice): with a 50 ms wait for the
 * pins (the fifth session's kPinWaitMs) the retry was refused.
 */
test('pinned: a reader pinned through the compaction (400 ms) does not make the retried write fail', async () => {
  // The top trigger off: else the deletes' top compactions leave the room at the top, and the
  // save needs no makeRoom.
  const saved = { ...topTrigger };
  topTrigger.ratioMilli = Number.MAX_SAFE_INTEGER;
  try {
    await pinnedScenario();
  } finally {
    Object.assign(topTrigger, saved);
  }
});

async function pinnedScenario(): Promise<void> {
  const { f, o } = halfLive();
  const w = bundledWorker(PIN_WORKER, { workerData: { heap: f.handle.heap, seed: 7, holdMs: 400 } });
  try {
    const next = inbox(w, 60_000);
    await next((m) => m.pinned === true);
    const big: Position = { miner_hotkey: '5Big', position_uuid: 'big', trade_pair: 'ETHUSD', orders: Array.from({ length: 600 }, (_, k) => o(k)), is_closed_position: true };
    const t0 = Date.now();
    let refused = '';
    try {
      f.locks.withLock('5Big', 'ETHUSD', () => f.positions.save(big));
    } catch (e) {
      refused = (e as SabStateError).code;
    }
    const c = f.positions.stats().compaction;
    console.log(`  save with a reader pinned: ${refused || 'stored'} after ${Date.now() - t0} ms; compactions ${c.runs}, moved ${c.relocations}`);
    assert.ok(c.runs > 0 && c.relocations > 0, 'the save needed a compaction that moved records');
    assert.is(refused, '', 'the 600-order save after a compaction with a reader pinned');
    await next((m) => m.unpinned === true);
  } finally {
    await w.terminate();
  }
  assert.is(f.positions.get('5Big', 'big')?.orders.length, 600);
  assert.equal(f.positions.verify(), []);
}

/**
 * The top compaction (issue 11, fifth session). Carved (kTop - kDataStart) follows the PEAK of the
 * bytes in use: memory goes back to the bump area only from the top, and live blocks near the top
 * pin it. Here: ~8 MiB of closed positions saved in order (so the last saved lie highest), all but
 * the last 15 % deleted, then 128 re-saves of the kept ones. With the trigger off (what main did:
 * compaction only on ERR_CAPACITY) carved / in use stays far above 1.3; with the default trigger
 * (checked every 64th write or delete of a thread) the live blocks of the top are moved below and
 * the top lowered: <= 1.3, every position intact, verify() clean.
 */
function topScenario(trigger: boolean): { frag: number; st: ReturnType<Fixture['positions']['stats']> } {
  const saved = { ...topTrigger };
  if (!trigger) topTrigger.ratioMilli = Number.MAX_SAFE_INTEGER;
  try {
    const f = fixture({ maxBytes: 32 << 20, maxRecords: 1 << 13 });
    const hk = (k: number): string => `5Top${k % 4}`;
    const o = (k: number): Record<string, unknown> => ({ order_uuid: `o-${k}`, price: k, leverage: 1, processed_ms: 1, note: 'x'.repeat(150 + (k % 7) * 20) });
    const all: Position[] = [];
    for (let n = 0; n < 1600; n++) {
      const p: Position = { miner_hotkey: hk(n), position_uuid: `t-${n}`, trade_pair: 'BTCUSD', orders: Array.from({ length: 20 }, (_, k) => o(n + k)), is_closed_position: true };
      f.locks.withLock(p.miner_hotkey, 'BTCUSD', () => f.positions.save(p));
      all.push(p);
    }
    const keep = all.slice(Math.floor(all.length * 0.85));
    for (const p of all.slice(0, all.length - keep.length)) assert.ok(f.positions.delete(p.miner_hotkey, p.position_uuid));
    for (let k = 0; k < 128; k++) {
      const p = keep[k % keep.length]!;
      p.orders = [...p.orders, o(k)];
      f.locks.withLock(p.miner_hotkey, 'BTCUSD', () => f.positions.save(p));
    }
    for (const p of keep) assert.equal(f.positions.get(p.miner_hotkey, p.position_uuid), p);
    assert.is(f.positions.size, keep.length);
    assert.equal(f.positions.verify(), []);
    const st = f.positions.stats();
    return { frag: st.heap.carvedBytes / st.heap.inUseBytes, st };
  } finally {
    Object.assign(topTrigger, saved);
  }
}

test('top: all but the highest-addressed positions deleted, then writes: carved / in use <= 1.3 (trigger off: far above)', () => {
  const off = topScenario(false);
  console.log(`  trigger off: carved / in use ${off.frag.toFixed(3)} (${off.st.heap.carvedBytes} / ${off.st.heap.inUseBytes})`);
  assert.ok(off.frag > 2, `without the top compaction the top stays at the peak (${off.frag})`);
  assert.is(off.st.heap.topCompactions.runs, 0);
  const on = topScenario(true);
  const c = on.st.compaction.top;
  console.log(`  trigger on: carved / in use ${on.frag.toFixed(3)} (${on.st.heap.carvedBytes} / ${on.st.heap.inUseBytes}); top compactions ${c.runs}, moved ${c.relocations} (${c.movedBytes} bytes)`);
  assert.ok(on.frag <= 1.3, `carved / in use ${on.frag}`);
  assert.ok(c.runs > 0 && c.relocations > 0);
  assert.equal(on.st.heap.topCompactions, { runs: c.runs, moves: c.relocations, movedBytes: c.movedBytes, attempts: c.attempts }, 'the engine-wide counts are this thread\'s here');
});

/**
 * Issue 11, sixth session: the ratio right after a departure. The 20-minute soak's peaks (1.884)
 * were single samples after a departure or a sync (a miner's positions deleted in one burst)
 * while the writers' trigger was backed off: runs that could not lower the top (something fixed
 * at the top: a write in flight, a pinned reader) had doubled the wait up to 1024 x 64 writes.
 * Here: miner D1's and D2's positions lie low, the keepers' above them, and a raw block (what a
 * write in flight would hold) at the very top; D1 departs: every run fails (the raw block pins
 * the top), and so do the runs of 1,400 writes after it: the wait doubles, five times. The raw
 * block goes; then D2 departs. Required: carved / in use <=
 * 1.3 right after D2's burst of deletes plus `every` (64) writes: 64 is the trigger's own period,
 * the bound a thread that was not backed off would meet (one check within any 64 of its calls).
 * Main's and the fifth session's trigger: still backed off, 2.2 until the wait ends.
 */
test('departure: a burst of deletes while the trigger is backed off: carved / in use <= 1.3 after the burst + 64 writes', () => {
  const f = fixture({ maxBytes: 32 << 20, maxRecords: 1 << 13 });
  const view = new SharedHeap(f.handle.heap, f.key, 'view');
  const o = (k: number): Record<string, unknown> => ({ order_uuid: `o-${k}`, price: k, leverage: 1, processed_ms: 1, note: 'x'.repeat(150 + (k % 7) * 20) });
  const make = (hk: string, n: number, orders: number): Position[] =>
    Array.from({ length: n }, (_, k) => ({ miner_hotkey: hk, position_uuid: `${hk}-${k}`, trade_pair: PAIRS[k % PAIRS.length]!, orders: Array.from({ length: orders }, (_, j) => o(k + j)), is_closed_position: true }));
  const d1 = make('5Departs1', 600, 20);
  const d2 = make('5Departs2', 300, 20);
  const keep = make('5Keeper', 600, 20);
  for (const p of [...d1, ...d2, ...keep]) saveLocked(f, p);
  const ratio = (): number => {
    const h = f.positions.stats().heap;
    return h.carvedBytes / h.inUseBytes;
  };
  const pin = view.alloc(64);
  for (const p of d1) assert.ok(f.positions.delete(p.miner_hotkey, p.position_uuid));
  // Writes while the top stays pinned (each re-save writes a new record block): checks every
  // 64th call fail and double the wait (1, 2, 4, 8, 16 x 64: 2,000 calls reach a wait of 32 x 64).
  for (let k = 0; k < 1400; k++) saveLocked(f, keep[k % keep.length]!);
  const afterD1 = ratio();
  const failed = f.positions.stats().compaction.top;
  view.free(pin);
  for (const p of d2) assert.ok(f.positions.delete(p.miner_hotkey, p.position_uuid));
  const burst = ratio();
  for (let k = 0; k < topTrigger.every; k++) {
    const p = keep[k]!;
    p.orders = [...p.orders, o(1000 + k)];
    saveLocked(f, p);
  }
  const after = ratio();
  const top = f.positions.stats().compaction.top;
  console.log(`  after D1 and 1,400 writes (top pinned): ${afterD1.toFixed(3)}, runs begun ${failed.attempts}, moved in ${failed.runs}; after D2's burst ${burst.toFixed(3)}, + ${topTrigger.every} writes ${after.toFixed(3)}; runs begun ${top.attempts}, moved in ${top.runs} (${top.relocations} moves)`);
  assert.ok(afterD1 > 1.3 && failed.attempts > 0 && failed.runs === 0, 'the raw block at the top pins it: runs begin and move nothing');
  assert.ok(after <= 1.3, `carved / in use ${after} after the departure's burst + ${topTrigger.every} writes`);
  for (const p of keep) assert.equal(f.positions.get(p.miner_hotkey, p.position_uuid), p);
  assert.is(f.positions.size, keep.length);
  assert.equal(f.positions.verify(), []);
});

test('mt: 3 workers (order steps under withLock, fillers saved and deleted) while top compactions run; no lost update, verify() clean', async () => {
  const keySeed = 41;
  const f = fixture({ maxRecords: 1 << 12, maxBytes: 64 << 20, seed: keySeed });
  const keys: StressKey[] = [];
  for (let h = 0; h < 3; h++) {
    for (const tp of ['BTCUSD', 'ETHUSD']) {
      const k = { hk: `5CompactMt${h}${'x'.repeat(40)}`, tp, uuid: `mt-${h}-${tp}` };
      keys.push(k);
      f.locks.withLock(k.hk, tp, () => f.positions.save({
        miner_hotkey: k.hk, position_uuid: k.uuid, trade_pair: tp, is_closed_position: false, base: 1, counter: 0,
        orders: [{ order_uuid: `start-${k.uuid}`, price: 1, leverage: 1, processed_ms: 1 }],
      }));
    }
  }
  const writers = 3;
  const iterations = Math.round(500 * stressScale);
  const flag = new SharedArrayBuffer(16);
  const datas = Array.from({ length: writers }, (_, id) => ({ locks: f.lockHandle, positions: f.handle, keySeed, seed, id, flag, parties: writers, keys, iterations }));
  // Hard timeout: a deadlock (a compactor waiting on a lock, a lock holder on the compactor) fails.
  const res = await runWorkers<{ mine: number[]; compaction: { top: { runs: number; relocations: number } } }>(COMPACT_WORKER, datas, 180_000);
  keys.forEach((k, i) => {
    const steps = res.reduce((s, x) => s + x.mine[i]!, 0);
    const p = f.positions.get(k.hk, k.uuid)!;
    assert.is(problem(p), '', `${k.hk} ${k.tp}: one whole version`);
    assert.is(p.counter, steps, `${k.hk} ${k.tp}: no lost update`);
    assert.is(p.orders.length, 1 + steps);
    assert.equal(f.positions.getOpen(k.hk, k.tp), p);
  });
  assert.is(f.positions.size, keys.length, 'every filler deleted, nothing else stored');
  assert.equal(f.positions.verify(), []);
  const heap = f.positions.stats().heap;
  const top = res.reduce((s, x) => s + x.compaction.top.runs, 0);
  const moved = res.reduce((s, x) => s + x.compaction.top.relocations, 0);
  console.log(`  ${writers * iterations} order steps; top compactions ${top} (engine ${heap.topCompactions.runs}), ${moved} moves; carved / in use ${heap.fragmentation.toFixed(3)}`);
  assert.ok(top > 0 && moved > 0, 'top compactions ran during the run');
  assert.is(heap.topCompactions.runs, top);
  for (const k of keys) assert.ok(f.positions.delete(k.hk, k.uuid));
  assert.is(f.positions.stats().heap.inUseBytes, 0, 'nothing leaked');
});

test('property: saves, appends and deletes on a 4 MiB heap never get ERR_CAPACITY below 70% live', () => {
  fc.assert(
    fc.property(steps, (ss) => {
      const why = play(ss);
      if (why !== '') throw new Error(why);
    }),
    fcParams(Number(process.env.SABSTATE_COMPACT_RUNS ?? 30)),
  );
});

test.run();
