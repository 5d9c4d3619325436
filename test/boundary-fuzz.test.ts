// Bad input at every public method (issue 10): fast-check throws generated arguments (anything,
// null-prototype objects, sparse arrays, symbols, bigints, -0, strings where pairs are expected,
// non-function callbacks, options with unknown keys...) mixed with good ones at each method, and
// checks each outcome:
//   - refused: a SabStateError with a documented code, or an option error (TypeError /
//     RangeError with code ERR_INVALID_OPTION); its message readable; the whole visible state
//     AND the heap bytes in use unchanged;
//   - accepted: an exact round trip where the call stores something (map.set -> get, push -> pop,
//     add -> get, mark -> get, counter.add -> get), -0 and key order included;
//   - never a raw error (TypeError without a code...), never a call that takes over 2 s (a hang).
// Counts are printed (inputs tried, refusals, accepted, raw errors, hangs, wrong round trips).
// SABSTATE_FUZZ_RUNS raises the runs per method (default 80: a few seconds of CPU in `npm test`).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createEngine, ErrorCode, SabStateError, exportValidatorTree, importValidatorTree } from '../src/index.ts';
import type { Engine, Position } from '../src/index.ts';
import { fcParams } from './helpers/seed.ts';
import { SMALL_ENGINE, tempDirs } from './helpers/temp.ts';

const RUNS = Number(process.env.SABSTATE_FUZZ_RUNS ?? 80) || 80;
const HANG_MS = 2000;
const tempDir = tempDirs('sabstate-fuzz-', test);
const CODES = new Set<string>(Object.values(ErrorCode));
const HK = '5GhCxfBcA7Ur5iiAS343xwvrYHTUfBjBi4JimiL5LhujRT9t';

const counts = { inputs: 0, refused: 0, accepted: 0, raw: 0, hangs: 0, wrongRoundTrips: 0, stateChangedOnRefusal: 0 };
const failures: string[] = [];

// ---- values ------------------------------------------------------------------------------------

function nullProto(o: Record<string, unknown>): Record<string, unknown> {
  return Object.assign(Object.create(null) as Record<string, unknown>, o);
}
const sparse = (n: number): unknown[] => new Array(n);
const weird = fc.constantFrom<unknown>(
  nullProto({}), nullProto({ a: 1 }), nullProto({ timeoutMs: 5 }), nullProto({ hotkey: 'hk' }),
  sparse(1), sparse(3), [, ['a', 'b']], ['ab'], [null], [['a']], [['a', 'b', 'c']], [[1, 2]], [[HK, null]], [['', 'x']],
  { toString: () => { throw new Error('toString called'); } }, { [Symbol.toPrimitive]: () => { throw new Error('toPrimitive called'); } },
  Symbol('s'), () => 1, -0, NaN, Infinity, -Infinity, -1, 1.5, 2 ** 53, 2 ** 31, '', 'x'.repeat(300), '\ud800', 0n, 10n,
  true, false, null, undefined, { timeout: 5 }, { timeoutMs: -1 }, { timeoutMs: 'x' }, { timeoutMs: NaN }, { ifEpoch: -1 },
  { ifEpoch: null }, { ifEpoch: 1.5 }, { open: 'yes' }, { prune: 1 }, { onError: 'ignore' }, new Uint8Array(2), new Date(0),
  new Map([[1, 2]]), [1, 2, 3], { hotkey: 5 }, { hotkey: '' }, { hotkey: 'hk', x: undefined }, { [Symbol('k')]: 1 },
);
const bad: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: weird },
  { weight: 2, arbitrary: fc.anything({ withNullPrototype: true, withSparseArray: true, withBigInt: true, withBoxedValues: true, maxDepth: 2 }) },
);
const key = fc.oneof(fc.constantFrom(HK, 'BTCUSD', 'ETHUSD', 'k', 'uuid-1'), fc.string({ minLength: 1, maxLength: 8 }));
const json: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 2 }).map((v) => v);
/** A slot: a good value most of the time, a bad one otherwise. */
const slot = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 1, arbitrary: good }, { weight: 2, arbitrary: bad });

// ---- the engine and what "unchanged" means ------------------------------------------------------

function makeEngine(): Engine {
  const e = createEngine({
    ...SMALL_ENGINE,
    general: { queues: { q: { capacity: 8, maxMessageBytes: 4096 } }, counters: ['c'], maps: ['m'] },
  });
  const p = { miner_hotkey: HK, position_uuid: 'uuid-1', trade_pair: 'BTCUSD', is_closed_position: false, orders: [{ price: 1, processed_ms: 1 }] };
  e.locks.withLock(HK, 'BTCUSD', () => e.positions.save(p as unknown as Position));
  e.eliminations.add({ hotkey: HK, reason: 'ZOMBIE', dd: -0 });
  e.departed.mark('gone', 1_700_000_000_000);
  e.general.map('m').set('k', { v: -0, list: [1, 'two'] });
  e.general.counter('c').add(5);
  return e;
}

/** Canonical text of a value: -0, holes and key order visible. */
function canon(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v !== 'object' || v === null) return typeof v === 'string' ? JSON.stringify(v) : String(v);
  if (v instanceof Uint8Array) return `u8[${[...v].join(',')}]`;
  if (Array.isArray(v)) {
    const out: string[] = [];
    for (let i = 0; i < v.length; i++) out.push(i in v ? canon(v[i]) : 'hole');
    return `[${out.join(',')}]`;
  }
  // Properties whose value is undefined are dropped by the codec, as by JSON.stringify (documented in codec.ts).
  return `{${Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canon((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

function fingerprint(e: Engine): string {
  const s = e.stats();
  const byKey = <T>(a: Array<[string, T]>) => a.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return canon({
    positions: e.positions.hotkeys().sort().map((hk) => e.positions.listForHotkey(hk)),
    eliminations: e.eliminations.list().sort((a, b) => (a.hotkey < b.hotkey ? -1 : 1)),
    departed: byKey(e.departed.entries()),
    counter: e.general.counter('c').get(),
    map: byKey(e.general.map('m').entries()),
    queue: e.general.queue('q').size,
    gate: e.general.syncGate.current(),
    heap: [s.positions.heap.inUseBytes, s.eliminations.heap.inUseBytes, s.departed.heap.inUseBytes],
    held: s.locks.held,
  });
}

// ---- the methods --------------------------------------------------------------------------------

type Check = (e: Engine, args: unknown[], result: unknown) => string | undefined;
interface Method {
  name: string;
  args: fc.Arbitrary<unknown[]>;
  call: (e: Engine, a: unknown[]) => unknown;
  /** On acceptance: undefined if the round trip holds, else what differs. */
  check?: Check;
  /** Share of RUNS (methods that write files when they accept: each snapshot fsyncs). */
  share?: number;
}

const fn = fc.constant(() => 1);
const any = (...xs: fc.Arbitrary<unknown>[]) => fc.tuple(...xs) as fc.Arbitrary<unknown[]>;
const f = <T>(x: unknown) => x as T;

const METHODS: Method[] = [
  { name: 'locks.withLock', args: any(slot(key), slot(key), slot(fn), slot(fc.constant({ timeoutMs: 10 }))), call: (e, a) => e.locks.withLock(f(a[0]), f(a[1]), f(a[2]), f(a[3])) },
  { name: 'locks.withLocks', args: any(slot(fc.array(fc.tuple(key, key), { maxLength: 3 })), slot(fn), slot(fc.constant(undefined))), call: (e, a) => e.locks.withLocks(f(a[0]), f(a[1]), f(a[2])) },
  { name: 'locks.acquire', args: any(slot(key), slot(key), slot(fc.constant({ timeoutMs: 10 }))), call: (e, a) => e.locks.acquire(f(a[0]), f(a[1]), f(a[2])).release() },
  { name: 'locks.tryAcquire', args: any(slot(key), slot(key)), call: (e, a) => e.locks.tryAcquire(f(a[0]), f(a[1]))?.release() },
  { name: 'locks.isHeld', args: any(slot(key), slot(key)), call: (e, a) => e.locks.isHeld(f(a[0]), f(a[1])) },
  { name: 'locks.ownerOf', args: any(slot(key), slot(key)), call: (e, a) => e.locks.ownerOf(f(a[0]), f(a[1])) },
  { name: 'locks.onSlowLock', args: any(slot(fc.constant(null)), slot(fc.constant({ thresholdMs: 5 }))), call: (e, a) => e.locks.onSlowLock(f(a[0]), f(a[1])) },
  { name: 'positions.get', args: any(slot(key), slot(key)), call: (e, a) => e.positions.get(f(a[0]), f(a[1])) },
  { name: 'positions.getOpen', args: any(slot(key), slot(key)), call: (e, a) => e.positions.getOpen(f(a[0]), f(a[1])) },
  { name: 'positions.listForHotkey', args: any(slot(key), slot(fc.constant({ open: true }))), call: (e, a) => e.positions.listForHotkey(f(a[0]), f(a[1])) },
  {
    name: 'positions.save',
    args: any(slot(fc.record({ miner_hotkey: fc.constant(HK), position_uuid: key, trade_pair: fc.constant('ETHUSD'), is_closed_position: fc.constant(true), orders: fc.array(json, { maxLength: 2 }) })), slot(fc.constant(undefined))),
    call: (e, a) => e.locks.withLock(HK, 'ETHUSD', () => e.positions.save(f(a[0]), f(a[1]))),
    check: (e, a) => {
      const p = a[0] as Position;
      const back = e.positions.get(HK, p.position_uuid);
      return canon(back) === canon(p) ? undefined : `saved ${canon(p)}, read ${canon(back)}`;
    },
  },
  { name: 'positions.delete', args: any(slot(key), slot(key)), call: (e, a) => e.positions.delete(f(a[0]), f(a[1])) },
  {
    name: 'eliminations.add',
    args: any(slot(fc.record({ hotkey: key, reason: fc.string(), dd: fc.double() })), slot(fc.constant(undefined))),
    call: (e, a) => e.eliminations.add(f(a[0]), f(a[1])),
    check: (e, a) => {
      const r = a[0] as { hotkey: string };
      const back = e.eliminations.get(r.hotkey);
      return canon(back) === canon(r) ? undefined : `added ${canon(r)}, read ${canon(back)}`;
    },
  },
  { name: 'eliminations.get', args: any(slot(key)), call: (e, a) => e.eliminations.get(f(a[0])) },
  { name: 'eliminations.take', args: any(slot(key)), call: (e, a) => e.eliminations.take(f(a[0])) },
  {
    name: 'eliminations.replaceAll',
    args: any(slot(fc.array(fc.record({ hotkey: key, dd: fc.double() }), { maxLength: 3 }))),
    call: (e, a) => e.eliminations.replaceAll(f(a[0])),
  },
  {
    name: 'departed.mark',
    args: any(slot(key), slot(fc.integer())),
    call: (e, a) => e.departed.mark(f(a[0]), f(a[1])),
    check: (e, a) => (Object.is(e.departed.get(a[0] as string)?.detected_ms, a[1]) ? undefined : `marked ${canon(a[1])}, read ${canon(e.departed.get(a[0] as string))}`),
  },
  { name: 'departed.has', args: any(slot(key)), call: (e, a) => e.departed.has(f(a[0])) },
  { name: 'departed.delete', args: any(slot(key)), call: (e, a) => e.departed.delete(f(a[0])) },
  { name: 'general.queue', args: any(slot(fc.constant('q'))), call: (e, a) => e.general.queue(f(a[0])) },
  { name: 'general.counter', args: any(slot(fc.constant('c'))), call: (e, a) => e.general.counter(f(a[0])) },
  { name: 'general.map', args: any(slot(fc.constant('m'))), call: (e, a) => e.general.map(f(a[0])) },
  {
    name: 'queue.push',
    args: any(slot(json)),
    call: (e, a) => e.general.queue('q').push(a[0]),
    check: (e, a, r) => {
      if (r !== true) return `push returned ${canon(r)} on a queue with room`;
      const back = e.general.queue('q').pop();
      return canon(back) === canon(a[0]) ? undefined : `pushed ${canon(a[0])}, popped ${canon(back)}`;
    },
  },
  // A message is pushed first: a pop without timeoutMs on an empty queue waits (documented), not a hang.
  { name: 'queue.pop', args: any(slot(fc.constant({ timeoutMs: 0 }))), call: (e, a) => popOne(e, (q) => q.pop(f(a[0]))) },
  { name: 'queue.popAsync', args: any(slot(fc.constant({ timeoutMs: 0 }))), call: (e, a) => popOne(e, (q) => q.popAsync(f(a[0]))) },
  {
    name: 'counter.add',
    args: any(slot(fc.integer({ min: -1000, max: 1000 }))),
    call: (e, a) => e.general.counter('c').add(f(a[0])),
    check: (_e, a, r) => (typeof r === 'number' ? undefined : `add(${canon(a[0])}) returned ${canon(r)}`),
  },
  {
    name: 'map.set',
    args: any(slot(key), slot(json)),
    call: (e, a) => e.general.map('m').set(f(a[0]), a[1]),
    check: (e, a) => {
      const back = e.general.map('m').get(a[0] as string);
      return canon(back) === canon(a[1]) ? undefined : `set ${canon(a[1])}, read ${canon(back)}`;
    },
  },
  { name: 'map.get', args: any(slot(key)), call: (e, a) => e.general.map('m').get(f(a[0])) },
  { name: 'map.delete', args: any(slot(key)), call: (e, a) => e.general.map('m').delete(f(a[0])) },
  { name: 'syncGate.begin', args: any(slot(fc.constant({ timeoutMs: 100 }))), call: (e, a) => { e.general.syncGate.begin(f(a[0])); e.general.syncGate.end(); } },
  { name: 'engine.verify', args: any(slot(fc.constant({ timeoutMs: 1000 }))), call: (e, a) => e.verify(f(a[0])) },
  { name: 'engine.watch', args: any(bad), call: (e, a) => e.watch(f(a[0])) },
  { name: 'engine.snapshot', args: any(bad), call: (e, a) => e.snapshot(f(a[0])), share: 0.25 },
  { name: 'createEngine', args: any(bad, bad), call: (_e, a) => createEngine(f(a[0]), f(a[1])), share: 0.5 },
  { name: 'exportValidatorTree', args: any(slot(fc.constant('engine')), bad, bad), call: (e, a) => exportValidatorTree(a[0] === 'engine' ? e : f(a[0]), f(a[1]), f(a[2])), share: 0.25 },
  { name: 'importValidatorTree', args: any(slot(fc.constant('engine')), bad, bad), call: (e, a) => importValidatorTree(a[0] === 'engine' ? e : f(a[0]), f(a[1]), f(a[2])), share: 0.25 },
];

/** Pushes one message, pops with `pop`; on a refusal takes the message back out (state as before). */
function popOne(e: Engine, pop: (q: ReturnType<Engine['general']['queue']>) => unknown): unknown {
  const q = e.general.queue('q');
  q.push('m');
  let out: unknown;
  try {
    out = pop(q);
  } catch (err) {
    q.pop();
    throw err;
  }
  // popAsync refuses by rejecting: take the message back out then too.
  return out instanceof Promise ? out.catch((err: unknown) => { q.pop(); throw err; }) : out;
}

function classify(err: unknown): string | undefined {
  if (err instanceof SabStateError) return CODES.has(err.code) ? undefined : `unknown code ${err.code}`;
  if ((err instanceof TypeError || err instanceof RangeError) && (err as { code?: unknown }).code === ErrorCode.INVALID_OPTION) return undefined;
  return `raw ${err instanceof Error ? err.name : typeof err}: ${err instanceof Error ? err.message : ''}`;
}

async function settle(v: unknown): Promise<{ ok: boolean; value?: unknown; error?: unknown }> {
  if (v instanceof Promise) {
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('hang')), HANG_MS)));
    try {
      return { ok: true, value: await Promise.race([v, hang]) };
    } catch (e) {
      return { ok: false, error: e };
    } finally {
      clearTimeout(timer);
    }
  }
  return { ok: true, value: v };
}

for (const m of METHODS) {
  test(`bad input: ${m.name}`, async () => {
    failures.length = 0;
    const e = makeEngine();
    const snapDir = tempDir();
    await fc.assert(
      fc.asyncProperty(m.args, async (args) => {
        counts.inputs++;
        const before = fingerprint(e);
        const t0 = performance.now();
        let out: { ok: boolean; value?: unknown; error?: unknown };
        try {
          // Paths that look like directories go to a temp dir of the suite, never elsewhere.
          const at = m.name === 'engine.snapshot' ? 0 : m.name.endsWith('ValidatorTree') ? 1 : -1;
          const a = [...args];
          if (at >= 0 && typeof a[at] === 'string' && a[at] !== '') a[at] = `${snapDir}/${(a[at] as string).replace(/[^\w]/g, '_')}`;
          out = await settle(m.call(e, a));
        } catch (err) {
          out = { ok: false, error: err };
        }
        const ms = performance.now() - t0;
        if (ms > HANG_MS || (out.error instanceof Error && out.error.message === 'hang')) {
          counts.hangs++;
          failures.push(`${m.name}(${args.map(canon).join(', ')}): took ${ms.toFixed(0)} ms`);
          return;
        }
        if (!out.ok) {
          const why = classify(out.error);
          try {
            String((out.error as Error).message);
          } catch {
            failures.push(`${m.name}: the error's message throws`);
          }
          if (why !== undefined) {
            counts.raw++;
            failures.push(`${m.name}(${args.map(canon).join(', ')}): ${why}`);
            return;
          }
          counts.refused++;
          const after = fingerprint(e);
          if (after !== before) {
            counts.stateChangedOnRefusal++;
            failures.push(`${m.name}(${args.map(canon).join(', ')}): refused (${(out.error as SabStateError).code}) but the state changed:\n  ${before}\n  ${after}`);
          }
          return;
        }
        counts.accepted++;
        const wrong = m.check?.(e, args, out.value);
        if (wrong !== undefined) {
          counts.wrongRoundTrips++;
          failures.push(`${m.name}(${args.map(canon).join(', ')}): ${wrong}`);
        }
      }),
      { ...fcParams(Math.max(10, Math.round(RUNS * (m.share ?? 1)))), endOnFailure: true },
    );
    assert.equal(failures, [], failures.slice(0, 5).join('\n'));
  });
}

test('a refused replaceAll (ERR_CAPACITY and ERR_INVALID_VALUE) leaves the heap and the set as they were', () => {
  const e = createEngine({ ...SMALL_ENGINE, eliminations: { maxRecords: 64, maxBytes: 2 << 20 }, general: { queues: { q: {} }, counters: ['c'], maps: ['m'] } });
  e.eliminations.replaceAll([{ hotkey: 'a', dd: 1 }]);
  const before = fingerprint(e);
  const huge = 'x'.repeat(60_000);
  // rows that fit the table but not the heap: the spare set is filled, then refused
  const rows = Array.from({ length: 60 }, (_, i) => ({ hotkey: `hk${i}`, blob: huge }));
  let err: unknown;
  try {
    e.eliminations.replaceAll(rows);
  } catch (x) {
    err = x;
  }
  assert.ok(err instanceof SabStateError, String(err));
  assert.is((err as SabStateError).code, 'ERR_CAPACITY');
  assert.match((err as Error).message, /raise options\.eliminations/);
  assert.is(fingerprint(e), before);
  for (const bad of [[{ hotkey: 'ok' }, sparse(1)[0]], Object.assign(sparse(2), { 1: { hotkey: 'b' } }), [{ hotkey: 'ok' }, null]]) {
    try {
      e.eliminations.replaceAll(bad as never);
      assert.unreachable('accepted');
    } catch (x) {
      assert.is((x as SabStateError).code, 'ERR_INVALID_VALUE');
    }
    assert.is(fingerprint(e), before);
  }
});

test('counts', () => {
  console.log(`boundary fuzz: ${JSON.stringify(counts)}`);
  assert.is(counts.raw + counts.hangs + counts.wrongRoundTrips + counts.stateChangedOnRefusal, 0);
});

test.run();
