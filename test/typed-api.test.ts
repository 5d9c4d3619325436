/**
 * The typed surface of issue 14: queue / map value types (`queue<T>(name)`, `map<V>(name)`),
 * queue, counter and map names typed from the options given to createEngine, and lock guards
 * usable with `using`. The `@ts-expect-error` lines are checked by `npm run typecheck` (a line
 * that stops being an error fails the typecheck); the rest runs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine } from '../src/index.ts';
import { SMALL_ENGINE } from './helpers/temp.ts';

interface Notice {
  id: number;
  hotkey: string;
}

const engine = createEngine({
  ...SMALL_ENGINE,
  general: {
    queues: { notices: { capacity: 8, maxMessageBytes: 256 } },
    counters: ['orders'] as const,
    maps: { accountSizes: { maxRecords: 64 } },
  },
});

test('queue<T>: typed messages round trip; names are the declared ones', () => {
  const q = engine.general.queue<Notice>('notices');
  assert.ok(q.push({ id: 1, hotkey: '5A' }));
  const got = q.pop();
  const id: number | undefined = got?.id;
  assert.is(id, 1);
  // @ts-expect-error: a message that is not a Notice
  const wrong = (): boolean => q.push('not a notice');
  void wrong;
  // @ts-expect-error: 'nope' is not a declared queue (and throws ERR_UNKNOWN_QUEUE at run time)
  assert.throws(() => engine.general.queue('nope'), (e: { code?: string }) => e.code === 'ERR_UNKNOWN_QUEUE');
});

test('counter and map names from the options; map<V> types its values', () => {
  assert.is(engine.general.counter('orders').add(2), 2);
  // @ts-expect-error: 'order' is not a declared counter
  assert.throws(() => engine.general.counter('order'), (e: { code?: string }) => e.code === 'ERR_UNKNOWN_COUNTER');
  const m = engine.general.map<{ account_size: number }>('accountSizes');
  m.set('5A', { account_size: 25_000 });
  const size: number | undefined = m.get('5A')?.account_size;
  assert.is(size, 25_000);
  // @ts-expect-error: a value of another type
  const wrong = (): void => m.set('5B', 'big');
  void wrong;
});

test('an engine whose options are not known statically (restored, attached, a variable) takes any name', () => {
  const options: Parameters<typeof createEngine>[0] = { ...SMALL_ENGINE, general: { counters: ['x'] } };
  const e = createEngine(options);
  assert.is(e.general.counter('x').get(), 0);
  assert.throws(() => e.general.counter('y'), (err: { code?: string }) => err.code === 'ERR_UNKNOWN_COUNTER');
});

test('a lock guard with `using`: released at the end of its block, also when the block throws', () => {
  {
    using g = engine.locks.acquire('5Using', 'BTCUSD');
    void g;
    assert.ok(engine.locks.isHeldByCurrentThread('5Using', 'BTCUSD'));
  }
  assert.not.ok(engine.locks.isHeldByCurrentThread('5Using', 'BTCUSD'), 'released at the block end');
  assert.throws(() => {
    using g = engine.locks.acquire('5Using', 'BTCUSD');
    void g;
    throw new Error('inside');
  }, /inside/);
  assert.not.ok(engine.locks.isHeldByCurrentThread('5Using', 'BTCUSD'), 'released when the block threw');
});

test.run();
