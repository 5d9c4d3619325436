// The public boundary, case by case (issues 10 and 14): close() closes everything; per-call
// options are checked like engine options (one error kind, one message form, a code); argument
// shapes of withLocks; non-function callbacks; messages that say what to do; a code per kind of
// unknown name; map capacities as options. The generated counterpart is boundary-fuzz.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attachEngine, createEngine, ErrorCode, SabStateError } from '../src/index.ts';
import type { Engine, Position } from '../src/index.ts';
import { SMALL_ENGINE } from './helpers/temp.ts';

const HK = '5GhCxfBcA7Ur5iiAS343xwvrYHTUfBjBi4JimiL5LhujRT9t';

function engine(): Engine {
  return createEngine({ ...SMALL_ENGINE, general: { queues: { q: { capacity: 4 } }, counters: ['c'], maps: ['m'] } });
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('did not throw');
}

async function rejected(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('did not reject');
}

test('close(): every later call on the engine and everything obtained from it is ERR_CLOSED; twice is a no-op', async () => {
  const e = engine();
  const q = e.general.queue('q');
  const c = e.general.counter('c');
  const m = e.general.map('m');
  const gate = e.general.syncGate;
  const locks = e.locks;
  e.close();
  e.close(); // no-op
  const calls: Array<[string, () => unknown]> = [
    ['handle', () => e.handle()], ['stats', () => e.stats()], ['verify', () => e.verify()], ['snapshot', () => e.snapshot('/tmp/x')],
    ['options', () => e.options], ['statsTable', () => e.statsTable()],
    ['withLock', () => locks.withLock(HK, 'BTCUSD', () => 1)], ['withLocks', () => e.locks.withLocks([[HK, 'BTCUSD']], () => 1)],
    ['acquire', () => e.locks.acquire(HK, 'BTCUSD')], ['isHeld', () => e.locks.isHeld(HK, 'BTCUSD')],
    ['positions.get', () => e.positions.get(HK, 'u')], ['positions.size', () => e.positions.size], ['positions.hotkeys', () => e.positions.hotkeys()],
    ['eliminations.add', () => e.eliminations.add({ hotkey: HK })], ['eliminations.list', () => e.eliminations.list()],
    ['departed.has', () => e.departed.has(HK)], ['departed.mark', () => e.departed.mark(HK, 1)],
    ['general.queue', () => e.general.queue('q')], ['queue.push', () => q.push('x')], ['queue.pop', () => q.pop()], ['queue.size', () => q.size],
    ['counter.add', () => c.add(1)], ['counter.get', () => c.get()], ['map.set', () => m.set('k', 1)], ['map.get', () => m.get('k')],
    ['syncGate.begin', () => gate.begin()], ['syncGate.current', () => gate.current()],
  ];
  for (const [what, call] of calls) assert.is(thrown(call).code, 'ERR_CLOSED', what);
  assert.is((await rejected(q.popAsync())).code, 'ERR_CLOSED', 'popAsync');
  assert.is((await rejected(locks.withLockAsync(HK, 'BTCUSD', () => 1))).code, 'ERR_CLOSED', 'withLockAsync');
  assert.match(thrown(() => e.stats()).message, /the engine is closed/);
});

test('close() of one view leaves other views of the same buffers working', () => {
  const e = engine();
  const other = attachEngine(e.handle());
  e.general.counter('c').add(3);
  e.close();
  assert.is(thrown(() => e.general.counter('c').get()).code, 'ERR_CLOSED');
  assert.is(other.general.counter('c').add(1), 4);
  other.close();
});

test('per-call options: unknown keys refused, one kind (TypeError / RangeError with code ERR_INVALID_OPTION), one message form', async () => {
  const e = engine();
  const forms: Array<[string, () => unknown]> = [
    ['withLock', () => e.locks.withLock(HK, 'BTCUSD', () => 1, { timeout: 5 } as never)],
    ['withLocks', () => e.locks.withLocks([[HK, 'BTCUSD']], () => 1, { timeout: 5 } as never)],
    ['acquire', () => e.locks.acquire(HK, 'BTCUSD', { timeout: 5 } as never)],
    ['pop', () => e.general.queue('q').pop({ timeout: 5 } as never)],
    ['begin', () => e.general.syncGate.begin({ timeout: 5 } as never)],
    ['verify', () => e.verify({ timeout: 5 } as never)],
    ['snapshot', () => e.snapshot('/nonexistent-dir-never-written', { timeout: 5 } as never)],
  ];
  for (const [what, call] of forms) {
    const err = thrown(call);
    assert.ok(err instanceof TypeError, `${what}: ${String(err)}`);
    assert.is(err.code, 'ERR_INVALID_OPTION', what);
    assert.is(err.message, 'options.timeout is not a known option (known: timeoutMs)', what);
  }
  assert.is((await rejected(e.general.queue('q').popAsync({ timeout: 5 } as never))).message, 'options.timeout is not a known option (known: timeoutMs)');
  // timeoutMs: one check everywhere
  const bad: Array<[string, (o: never) => unknown]> = [
    ['withLock', (o) => e.locks.withLock(HK, 'BTCUSD', () => 1, o)], ['withLocks', (o) => e.locks.withLocks([[HK, 'BTCUSD']], () => 1, o)],
    ['acquire', (o) => e.locks.acquire(HK, 'BTCUSD', o)], ['pop', (o) => e.general.queue('q').pop(o)],
    ['begin', (o) => e.general.syncGate.begin(o)], ['verify', (o) => e.verify(o)],
  ];
  for (const [what, call] of bad) {
    for (const [v, Kind] of [[-1, RangeError], ['5', TypeError], [NaN, TypeError], [null, TypeError]] as const) {
      const err = thrown(() => call({ timeoutMs: v } as never));
      assert.ok(err instanceof Kind, `${what} ${String(v)}: ${String(err)}`);
      assert.is(err.code, 'ERR_INVALID_OPTION');
      assert.is(err.message, 'options.timeoutMs must be a non-negative number of milliseconds', `${what} ${String(v)}`);
    }
  }
  // options that are not objects: the same kind, for every method that takes options
  const p = { miner_hotkey: HK, position_uuid: 'u', trade_pair: 'BTCUSD', is_closed_position: false, orders: [] };
  for (const call of [
    () => e.eliminations.add({ hotkey: HK }, true as never),
    () => e.locks.withLock(HK, 'BTCUSD', () => e.positions.save(p as unknown as Position, true as never)),
    () => e.positions.listForHotkey(HK, 5 as never),
  ]) {
    const err = thrown(call);
    assert.is(err.code, 'ERR_INVALID_OPTION');
    assert.is(err.message, 'options must be an object');
  }
  assert.is(e.eliminations.size, 0, 'eliminations.add(row, true) stored nothing');
  // engine option errors carry the code too
  assert.is(thrown(() => createEngine({ lockStripes: 3 })).code, 'ERR_INVALID_OPTION');
  assert.is(thrown(() => createEngine({ nope: 1 } as never)).code, 'ERR_INVALID_OPTION');
});

test('withLocks: holes, nulls, strings where pairs are expected, wrong arity: ERR_INVALID_KEY at once, nothing locked', () => {
  const e = engine();
  const cases: Array<[unknown, RegExp]> = [
    [new Array(1), /keys\[0\] must be a \[hotkey, tradePairId\] pair, got a hole/],
    [[, [HK, 'BTCUSD']], /keys\[0\] must be a \[hotkey, tradePairId\] pair, got a hole/],
    [[null], /keys\[0\] must be a \[hotkey, tradePairId\] pair, got null/],
    [['ab'], /keys\[0\] must be a \[hotkey, tradePairId\] pair, got "ab"/],
    [[['a']], /keys\[0\] must be a \[hotkey, tradePairId\] pair, got an array of length 1/],
    [[[HK, 'BTCUSD', 'x']], /got an array of length 3/],
    [[[HK, null]], /keys\[0\]\[1\] \(tradePairId\) must be a non-empty string/],
    ['ab', /keys must be an array of \[hotkey, tradePairId\] pairs, got "ab"/],
    [Object.create(null), /got an object without a prototype/],
  ];
  for (const [keys, why] of cases) {
    const t0 = performance.now();
    const err = thrown(() => e.locks.withLocks(keys as never, () => 1));
    assert.ok(performance.now() - t0 < 1000, 'refused at once');
    assert.ok(err instanceof SabStateError, String(err));
    assert.is(err.code, 'ERR_INVALID_KEY');
    assert.match(err.message, why);
  }
  assert.is(e.stats().locks.held, 0);
});

test('callbacks that are not functions: ERR_INVALID_ARGUMENT, nothing locked', async () => {
  const e = engine();
  for (const fn of [42, null, undefined, 'fn', Object.create(null)]) {
    const err = thrown(() => e.locks.withLock(HK, 'BTCUSD', fn as never));
    assert.is(err.code, 'ERR_INVALID_ARGUMENT');
    assert.match(err.message, /^withLock: fn must be a function, got /);
    assert.is(thrown(() => e.locks.withLocks([[HK, 'BTCUSD']], fn as never)).code, 'ERR_INVALID_ARGUMENT');
    assert.is((await rejected(e.locks.withLockAsync(HK, 'BTCUSD', fn as never))).code, 'ERR_INVALID_ARGUMENT');
  }
  assert.is(thrown(() => e.locks.onSlowLock(5 as never)).code, 'ERR_INVALID_ARGUMENT');
  assert.is(thrown(() => e.watch({} as never)).code, 'ERR_INVALID_ARGUMENT');
  assert.is(e.stats().locks.held, 0);
});

test('messages never throw and never say "undefined undefined" or "got 2" for "2"', () => {
  const e = engine();
  const np = Object.create(null) as object;
  const msgs = [
    thrown(() => e.positions.get(HK, undefined as never)).message,
    thrown(() => e.general.counter('c').add('2' as never)).message,
    thrown(() => e.general.counter('c').add(np as never)).message,
    thrown(() => e.general.counter(np as never)).message,
    thrown(() => e.general.queue(np as never)).message,
    thrown(() => e.general.map(Symbol('s') as never)).message,
    thrown(() => e.locks.withLock(HK, 'BTCUSD', () => 1, { timeoutMs: np } as never)).message,
    thrown(() => e.eliminations.add({ hotkey: HK }, { ifEpoch: np } as never)).message,
  ];
  assert.is(msgs[0], 'positionUuid must be a non-empty string of at most 256 characters, got undefined');
  assert.is(msgs[1], 'counter "c": add(n) needs a safe integer (a number), got "2"');
  assert.is(msgs[2], 'counter "c": add(n) needs a safe integer (a number), got an object without a prototype');
  for (const m of msgs) assert.not.match(m, /undefined undefined|Cannot convert/);
});

test('unknown names: a code per kind, naming the option that declares them', () => {
  const e = engine();
  const q = thrown(() => e.general.queue('nope'));
  const c = thrown(() => e.general.counter('nope'));
  const m = thrown(() => e.general.map('nope'));
  assert.equal([q.code, c.code, m.code], ['ERR_UNKNOWN_QUEUE', 'ERR_UNKNOWN_COUNTER', 'ERR_UNKNOWN_MAP']);
  assert.is(c.message, 'no counter named "nope" was declared (declared: "c"); declare it in createEngine({ general: { counters: ... } })');
  assert.match(m.message, /declared: "m"\); declare it in createEngine\(\{ general: \{ maps: \.\.\. \} \}\)/);
});

test('messages that say what to do: ERR_LOCK_NOT_HELD points at withLock, ERR_CAPACITY at the option to raise', () => {
  const e = createEngine({ ...SMALL_ENGINE, departed: { maxRecords: 2 }, general: { maps: { small: { maxRecords: 4 } } } });
  const p = { miner_hotkey: HK, position_uuid: 'u', trade_pair: 'BTCUSD', is_closed_position: false, orders: [] };
  const held = thrown(() => e.positions.save(p as unknown as Position));
  assert.is(held.code, 'ERR_LOCK_NOT_HELD');
  assert.match(held.message, /call it inside engine\.locks\.withLock\(hotkey, tradePairId, fn\)/);
  const m = e.general.map('small');
  for (let i = 0; i < 4; i++) m.set(`k${i}`, i);
  const full = thrown(() => m.set('k4', 4));
  assert.is(full.code, 'ERR_CAPACITY');
  assert.match(full.message, /raise options\.general\.maps\.small\.maxRecords or \.maxBytes/);
  assert.is(m.size, 4);
  e.departed.mark('a', 1);
  e.departed.mark('b', 1);
  const dfull = thrown(() => e.departed.mark('c', 1));
  assert.is(dfull.code, 'ERR_CAPACITY');
  assert.match(dfull.message, /raise options\.departed\.maxRecords/);
  assert.equal(e.options.general.mapSizes, { small: { maxRecords: 4, maxBytes: 64 * 2 ** 20 } });
  // map sizes are checked like every option
  assert.is(thrown(() => createEngine({ general: { maps: { x: { maxRecords: 0 } } } })).code, 'ERR_INVALID_OPTION');
  assert.is(thrown(() => createEngine({ general: { maps: { x: { size: 1 } } } } as never)).message, 'options.general.maps.x.size is not a known option (known: maxRecords, maxBytes)');
});

test('the hash seed and stripes are not on the public surface', async () => {
  const e = engine();
  assert.is((e as unknown as Record<string, unknown>).hashSeed, undefined);
  const index = await import('../src/index.ts');
  assert.not.ok('stripeOfKey' in index);
  assert.not.ok('engineSeedOf' in index);
  assert.is(ErrorCode.IO, 'ERR_IO');
});

test.run();
