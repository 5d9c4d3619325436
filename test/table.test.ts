import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SabStateError } from '../src/errors.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { MIN_HEAP_BYTES, SharedHeap, createHeapHandle } from '../src/internal/store/heap.ts';
import { SharedTable } from '../src/internal/store/table.ts';
import { createTableHandle, refIndex, tableSlotsFor, verIndex } from '../src/internal/store/table-layout.ts';
import { Version } from '../src/internal/store/version.ts';
import { fcParams, seed, stressScale } from './helpers/seed.ts';
import { runWorkers } from './helpers/workers.ts';
import { code } from './helpers/errors.ts';

const WORKER = new URL('./workers/positions-table-worker.ts', import.meta.url);
const key = hashKeyFromSeed(BigInt(seed >>> 0));
const enc = new TextEncoder();
const dec = new TextDecoder();

function make(maxRecords: number, maxBytes = 8 << 20) {
  const heapHandle = createHeapHandle(maxBytes, key);
  const tableHandle = createTableHandle(maxRecords, key);
  const heap = new SharedHeap(heapHandle, key, 'test heap');
  const table = new SharedTable(tableHandle, heap, key, 'test table');
  return { heapHandle, tableHandle, heap, table };
}

const str = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : dec.decode(v));

test('smoke: string and pair keys, get / has / set / delete / take / scan', () => {
  const { table, heap } = make(64);
  assert.is(table.get('a'), undefined);
  table.set('a', undefined, enc.encode('one'));
  table.set('ab', 'c', enc.encode('pair ab|c'));
  table.set('a', 'bc', enc.encode('pair a|bc'));
  assert.is(str(table.get('a')), 'one');
  assert.is(str(table.get('ab', 'c')), 'pair ab|c');
  assert.is(str(table.get('a', 'bc')), 'pair a|bc');
  assert.is(table.get('ab'), undefined, 'a single key is not a pair key');
  assert.is(table.size, 3);
  table.set('a', undefined, enc.encode('uno'));
  assert.is(str(table.get('a')), 'uno');
  assert.is(table.size, 3);
  assert.ok(table.has('a', 'bc'));
  assert.is(table.delete('a', 'bc'), true);
  assert.is(table.delete('a', 'bc'), false);
  assert.is(table.has('a', 'bc'), false);
  assert.is(str(table.take('ab', 'c')), 'pair ab|c');
  assert.is(table.take('ab', 'c'), undefined);
  table.set('é😀\ud800', 'z', new Uint8Array(0));
  assert.equal(table.get('é😀\ud800', 'z'), new Uint8Array(0));
  const all = table.scan((a, b, u8, at, len) => [a, b, dec.decode(u8.slice(at, at + len))]);
  assert.equal(all.sort(), [['a', undefined, 'uno'], ['é😀\ud800', 'z', '']].sort());
  const st = table.stats();
  assert.is(st.records, 2);
  assert.is(st.inserts, 4);
  table.delete('a');
  table.delete('é😀\ud800', 'z');
  assert.is(heap.stats().inUseBytes, 0, 'every record block was freed');
});

test('capacity: maxRecords records, then ERR_CAPACITY; updates and deletes still work', () => {
  const { table } = make(10);
  assert.is(table.slots, tableSlotsFor(10));
  for (let i = 0; i < 10; i++) table.set(`k${i}`, undefined, enc.encode(`v${i}`));
  assert.is(code(() => table.set('k10', undefined, enc.encode('x'))), 'ERR_CAPACITY');
  assert.is(table.size, 10);
  assert.is(table.get('k10'), undefined);
  table.set('k3', undefined, enc.encode('v3b'));
  assert.is(str(table.get('k3')), 'v3b');
  table.delete('k0');
  table.set('k10', undefined, enc.encode('x'));
  assert.is(str(table.get('k10')), 'x');
  for (let i = 1; i <= 10; i++) assert.ok(table.has(`k${i}`), `k${i}`);
});

test('value too large for the heap: ERR_VALUE_TOO_LARGE, table unchanged', () => {
  const { table, heap } = make(4, MIN_HEAP_BYTES);
  assert.is(code(() => table.set('big', undefined, new Uint8Array(MIN_HEAP_BYTES))), 'ERR_VALUE_TOO_LARGE');
  assert.is(table.size, 0);
  assert.is(heap.stats().inUseBytes, 0);
});

test('delete and reuse: churn far past the slot count never fills the table (tombstones reused / trimmed)', () => {
  const { table, heap } = make(8);
  for (let i = 0; i < 4000; i++) {
    table.set(`key${i}`, 'x', enc.encode(String(i)));
    if (i >= 5) assert.is(table.delete(`key${i - 5}`, 'x'), true);
  }
  for (let i = 3995; i < 4000; i++) assert.is(str(table.get(`key${i}`, 'x')), String(i));
  assert.is(table.size, 5);
  const st = table.stats();
  assert.ok(st.usedSlots <= table.slots, 'some EMPTY slot is left');
  assert.ok(st.trims > 0 || st.tombstones < table.slots);
  for (let i = 3995; i < 4000; i++) table.delete(`key${i}`, 'x');
  assert.is(heap.stats().inUseBytes, 0);
});

test('collisions in a small table: keys sharing a home slot are all found, by full key', () => {
  const { table } = make(8); // 16 slots
  const home = (k: string) => table.hash(k) & (table.slots - 1);
  const target = home('seed');
  const same: string[] = [];
  for (let i = 0; same.length < 7; i++) if (home(`c${i}`) === target) same.push(`c${i}`);
  same.forEach((k, i) => table.set(k, undefined, enc.encode(String(i))));
  same.forEach((k, i) => assert.is(str(table.get(k)), String(i), k));
  // delete from the middle of the chain: later keys are still reachable through the tombstone
  table.delete(same[2]!);
  assert.is(table.get(same[2]!), undefined);
  for (const k of same.slice(3)) assert.ok(table.has(k), k);
  table.set('new', undefined, enc.encode('n'));
  assert.is(str(table.get('new')), 'n');
  // equal hashes of different keys cannot be confused: the full key is compared
  assert.is(table.get('c-nonexistent'), undefined);
});

test('update: read-modify-write; null deletes, undefined leaves', () => {
  const { table } = make(8);
  const inc = (old: Uint8Array | undefined) => enc.encode(String(Number(old === undefined ? 0 : dec.decode(old)) + 1));
  for (let i = 0; i < 5; i++) table.update('n', undefined, inc);
  assert.is(str(table.get('n')), '5');
  assert.is(table.update('n', undefined, () => undefined), false);
  assert.is(table.update('n', undefined, () => null), true);
  assert.is(table.has('n'), false);
  assert.is(table.update('n', undefined, () => null), false);
});

test('int32 halves: a read takes version and block as one word, across the version wrap; a token off by either half is refused', () => {
  const { table, heap, tableHandle } = make(8);
  const i32 = new Int32Array(tableHandle.sab);
  table.set('k', undefined, enc.encode('one'));
  const seen = new Version();
  const readK = (): string | undefined => table.read('k', undefined, (u8, at, len) => dec.decode(u8.slice(at, at + len)), table.hash('k'), seen);
  assert.is(readK(), 'one');
  const slot = seen.slot;
  assert.is(seen.ref, i32[refIndex(slot)]! >>> 0, 'the token names the slot word\'s block half');
  // The version half at its last value: the next write wraps it to 0 (versions are mod 2^32).
  i32[verIndex(slot)] = -1;
  assert.is(readK(), 'one');
  assert.is(seen.ver, -1);
  assert.is(seen.word, (0xffffffffn << 32n) | BigInt(seen.ref), 'word: the two halves');
  const h = table.hash('k');
  const publish = (text: string, expect: Version): number => {
    heap.gate.enter();
    try {
      const bytes = enc.encode(text);
      const ref = table.allocRecord('k', undefined, h, bytes.length);
      heap.u8.set(bytes, table.valueOffset(ref));
      const r = table.publish('k', undefined, h, ref, expect);
      if (r === -1) heap.free(ref);
      else if (r > 0) heap.retire(r);
      return r;
    } finally {
      heap.gate.leave();
    }
  };
  const forged = (ver: number, ref: number): Version => Object.assign(new Version(), { ver, ref, slot });
  assert.is(publish('x', forged(-1, seen.ref + 8)), -1, 'the right version with another block: refused');
  assert.is(publish('x', forged(-2, seen.ref)), -1, 'the right block at another version: refused');
  assert.is(readK(), 'one', 'refused means unchanged');
  assert.ok(publish('two', seen) > 0, 'the current token: published');
  assert.is(readK(), 'two');
  assert.is(seen.ver, 0, 'the version wrapped from 2^32 - 1 to 0');
  assert.is(publish('x', forged(-1, seen.ref)), -1, 'the version before the wrap: refused');
  const inc = (old: Uint8Array | undefined) => enc.encode(`${dec.decode(old)}!`);
  assert.ok(table.update('k', undefined, inc));
  assert.is(str(table.get('k')), 'two!');
  assert.is(readK(), 'two!');
  assert.is(seen.ver, 1);
  assert.ok(table.delete('k'));
  assert.is(table.has('k'), false);
  assert.is(table.stats().readRetries, 0);
  assert.is(heap.stats().inUseBlocks, 0);
});

test('touch and holds: touch moves the word to the next version of the same block (value unchanged, older tokens refused); holds checks a token with no probe', () => {
  const { table, heap, tableHandle } = make(8);
  const i32 = new Int32Array(tableHandle.sab);
  table.set('k', undefined, enc.encode('one'));
  const h = table.hash('k');
  const seen = new Version();
  const readK = (into: Version): string | undefined => table.read('k', undefined, (u8, at, len) => dec.decode(u8.slice(at, at + len)), h, into);
  assert.is(readK(seen), 'one');
  assert.ok(table.holds(seen), 'the token read is the slot word');
  const before = Object.assign(new Version(), seen);
  const blocks = heap.stats().inUseBlocks;
  heap.gate.enter();
  try {
    assert.ok(table.touch(seen), 'touch with the current token wins');
    assert.not.ok(table.touch(before), 'touch with the token it replaced: refused');
  } finally {
    heap.gate.leave();
  }
  assert.not.ok(table.holds(before), 'the old token no longer holds');
  const after = new Version();
  assert.is(readK(after), 'one', 'same value');
  assert.is(after.ref, before.ref, 'same block');
  assert.is(after.ver, (before.ver + 1) | 0, 'next version');
  assert.is(i32[refIndex(after.slot)]! >>> 0, before.ref);
  assert.is(heap.stats().inUseBlocks, blocks, 'nothing allocated or retired');
  assert.ok(table.holds(after));
  // A compare-and-set expecting the word before the touch fails (the reason add touches its counter).
  heap.gate.enter();
  try {
    const bytes = enc.encode('two');
    const ref = table.allocRecord('k', undefined, h, bytes.length);
    heap.u8.set(bytes, table.valueOffset(ref));
    assert.is(table.publish('k', undefined, h, ref, before), -1, 'refused after the touch');
    heap.free(ref);
    assert.not.ok(table.touch(new Version()), 'touch of an absent token: refused');
  } finally {
    heap.gate.leave();
  }
  assert.is(str(table.get('k')), 'one', 'refused means unchanged');
  table.delete('k');
  assert.not.ok(table.holds(after), 'a removed key holds no token');
});

test('keys read back from blocks (scan) are the same strings, unit for unit: non-Latin-1, astral, lone surrogates, 1 and 256 units', () => {
  const { table } = make(16);
  const keys = ['a', 'héllo', '€uro', 'x😀y', 'lone\ud800', '\udc00tail', 'k'.repeat(256), `${'€'.repeat(100)}z`];
  keys.forEach((k, i) => table.set(k, k.slice(0, 3), enc.encode(String(i))));
  const seen = table.scan((a, b, u8, at, len) => [a, b, dec.decode(u8.slice(at, at + len))] as const);
  assert.is(seen.length, keys.length);
  for (const [a, b, v] of seen) {
    const i = Number(v);
    assert.is(a, keys[i], `key ${i}`);
    assert.is(b, keys[i]!.slice(0, 3), `second part of key ${i}`);
  }
});

test('bounded retries: a reader whose record changes on every attempt falls back to one pinned read', () => {
  const { table, heap } = make(8);
  table.set('k', undefined, enc.encode('v0'));
  let calls = 0;
  const got = table.read('k', undefined, (u8, at, len) => {
    const v = dec.decode(u8.slice(at, at + len));
    // A write inside the read window: the slot word moves, so the optimistic copy is refused.
    table.set('k', undefined, enc.encode(`v${++calls}`));
    return v;
  });
  const st = table.stats();
  assert.is(st.pinnedReads, 1, 'fell back to the pinned read once');
  assert.is(st.readRetries, calls - 1);
  assert.is(got, `v${calls - 1}`, 'the pinned read returned the whole version it found');
  assert.is(str(table.get('k')), `v${calls}`);
  assert.is(heap.stats().deferredBlocks, 0, 'the block retired while pinned was freed later');
  assert.is(heap.stats().inUseBlocks, 1);
});

test('model: set / delete / take / get through two instances on the same buffers match a Map', () => {
  const keys = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j');
  const sub = fc.option(fc.constantFrom('x', 'y'), { nil: undefined });
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(fc.constantFrom('set', 'delete', 'take', 'get', 'update'), keys, sub, fc.string({ maxLength: 40 }), fc.boolean()),
        { maxLength: 120 },
      ),
      (ops) => {
        const { heapHandle, tableHandle, table, heap } = make(6);
        const other = new SharedTable(tableHandle, new SharedHeap(heapHandle, key, 'h2'), key, 't2');
        const model = new Map<string, string>();
        for (const [op, a, b, v, second] of ops) {
          const t = second ? other : table;
          const mk = `${a}|${b ?? ''}|${b === undefined}`;
          if (op === 'set' || op === 'update') {
            const full = !model.has(mk) && model.size >= 6;
            const c = code(() => (op === 'set' ? t.set(a, b, enc.encode(v)) : t.update(a, b, () => enc.encode(v))));
            assert.is(c, full ? 'ERR_CAPACITY' : undefined);
            if (!full) model.set(mk, v);
          } else if (op === 'delete') {
            assert.is(t.delete(a, b), model.delete(mk));
          } else if (op === 'take') {
            assert.is(str(t.take(a, b)), model.get(mk));
            model.delete(mk);
          } else {
            assert.is(str(t.get(a, b)), model.get(mk));
          }
          assert.is(t.size, model.size);
        }
        for (const [mk, v] of model) {
          const [a, b, single] = mk.split('|');
          assert.is(str(other.get(a!, single === 'true' ? undefined : b)), v);
        }
        const live = heap.stats().inUseBlocks;
        assert.is(live, model.size, 'one block per record, nothing leaked');
      },
    ),
    fcParams(200),
  );
});

test('mpmc: lock-free update() from 4 threads loses no increment; 2 readers never see a torn value', async () => {
  const workers = 4;
  const readers = 2;
  const keys = 12;
  const width = 64;
  const iterations = Math.round(4000 * stressScale);
  const { heapHandle, tableHandle, table, heap } = make(64, 16 << 20);
  const flag = new SharedArrayBuffer(8);
  const common = { heap: heapHandle, table: tableHandle, seed, flag, workers: workers + readers, keys, width };
  const writers = runWorkers<{ mine: number[] }>(WORKER, Array.from({ length: workers }, (_, id) => ({ ...common, mode: 'count', iterations, id })), 120_000);
  const reading = runWorkers<{ reads: number; torn: number }>(WORKER, Array.from({ length: readers }, (_, id) => ({ ...common, mode: 'read', id: 100 + id })), 120_000);
  const res = await writers;
  Atomics.store(new Int32Array(flag), 1, 1);
  const rd = await reading;
  for (let k = 0; k < keys; k++) {
    const expected = res.reduce((s, r) => s + r.mine[k]!, 0);
    const v = table.get(`hotkey-${k % 3}`, `key-${k}`);
    const got = v === undefined ? 0 : new Int32Array(v.buffer, v.byteOffset, 1)[0];
    assert.is(got, expected, `key ${k}`);
  }
  for (const r of rd) {
    assert.is(r.torn, 0);
    assert.ok(r.reads > 0);
  }
  const st = table.stats();
  console.log(`  table mpmc: ${st.updates} updates, ${rd.reduce((s, r) => s + r.reads, 0)} reads, ${st.readRetries} read retries, ${st.pinnedReads} pinned`);
  heap.collect();
  assert.is(heap.stats().inUseBlocks, keys);
});

test.run();
