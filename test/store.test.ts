/**
 * Direct unit suite for the version token (store/version.ts: Version, ABSENT, notWhole, as
 * table.read hands them back and publish / remove take them) and the store composition
 * (store/store-recovery.ts: Store's write, enter / leave, tryWrite, consistent, and its recovery
 * and verification), on one heap and one table in this thread.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { SharedHeap, createHeapHandle } from '../src/internal/store/heap.ts';
import { SharedTable } from '../src/internal/store/table.ts';
import { createTableHandle } from '../src/internal/store/table-layout.ts';
import { ABSENT, Version, notWhole } from '../src/internal/store/version.ts';
import { Store } from '../src/internal/store/store-recovery.ts';
import { seed } from './helpers/seed.ts';
import { code } from './helpers/errors.ts';

const key = hashKeyFromSeed(BigInt(seed >>> 0));
const enc = new TextEncoder();
const dec = new TextDecoder();

function make() {
  const heap = new SharedHeap(createHeapHandle(8 << 20, key), key, 'store heap');
  const table = new SharedTable(createTableHandle(64, key), heap, key, 'store table');
  return { heap, table, store: new Store({ heap, tables: [table] }) };
}

/** Publishes `text` as the value of `k` with expectation `expect`; the old block is retired. */
function put(t: SharedTable, k: string, text: string, expect?: Readonly<Version>): number {
  const bytes = enc.encode(text);
  const h = t.hash(k);
  const ref = t.allocRecord(k, undefined, h, bytes.length);
  t.heap.u8.set(bytes, t.valueOffset(ref));
  const r = t.publish(k, undefined, h, ref, expect);
  if (r === -1) t.heap.free(ref);
  else if (r > 0) t.heap.retire(r);
  return r;
}
const text = (t: SharedTable, k: string): string | undefined => {
  const v = t.get(k);
  return v === undefined ? undefined : dec.decode(v);
};
const read = (t: SharedTable, k: string, seen: Version): string | undefined =>
  t.read(k, undefined, (u8, at, len) => dec.decode(u8.slice(at, at + len)), t.hash(k), seen);

test('version: a fresh token and ABSENT say "absent" (word 0n, slot -1); ABSENT is frozen', () => {
  const v = new Version();
  assert.is(v.word, 0n);
  assert.is(v.slot, -1);
  assert.is(ABSENT.word, 0n);
  assert.is(ABSENT.slot, -1);
  assert.ok(Object.isFrozen(ABSENT));
});

test('version: read fills the caller\'s token (absent, then the version it read), each write moves it', () => {
  const { table, store } = make();
  const seen = new Version();
  assert.is(read(table, 'k', seen), undefined);
  assert.equal([seen.word, seen.slot], [0n, -1]);
  store.write(() => put(table, 'k', 'one', ABSENT));
  assert.is(read(table, 'k', seen), 'one');
  assert.ok(seen.word !== 0n && seen.slot >= 0, 'a present key has a word and a slot');
  const first = seen.word;
  store.write(() => put(table, 'k', 'two', seen));
  assert.is(read(table, 'k', seen), 'two');
  assert.ok(seen.word !== first, 'the new version has another word');
});

test('version: a stale token is refused (-1) and leaves the value unchanged; ABSENT refuses a present key', () => {
  const { table, store } = make();
  const old = new Version();
  store.write(() => put(table, 'k', 'one'));
  read(table, 'k', old);
  const now = new Version();
  read(table, 'k', now);
  assert.ok(store.write(() => put(table, 'k', 'two', now)) > 0, 'the current token: accepted (the old block retired)');
  assert.is(text(table, 'k'), 'two');
  assert.is(store.write(() => put(table, 'k', 'three', old)), -1, 'stale: refused');
  assert.is(text(table, 'k'), 'two', 'refused means unchanged');
  assert.is(store.write(() => put(table, 'k', 'four', ABSENT)), -1, 'ABSENT on a present key: refused');
  assert.is(text(table, 'k'), 'two');
  assert.is(store.write(() => table.remove('k', undefined, table.hash('k'), old)), -1, 'remove with a stale token: refused');
  assert.is(text(table, 'k'), 'two');
  const cur = new Version();
  read(table, 'k', cur);
  const gone = store.write(() => table.remove('k', undefined, table.hash('k'), cur));
  assert.ok(gone > 0, 'remove with the current token: the old block');
  table.heap.retire(gone);
  assert.is(text(table, 'k'), undefined);
  assert.is(table.size, 0);
  assert.equal(store.verify(), []);
});

test('version: notWhole makes a reader retry, so a read whose copy throws it once still answers', () => {
  const { table, store } = make();
  store.write(() => put(table, 'k', 'one'));
  let calls = 0;
  const got = table.read('k', undefined, (u8, at, len) => {
    if (++calls === 1) notWhole();
    return dec.decode(u8.slice(at, at + len));
  });
  assert.is(got, 'one');
  assert.is(calls, 2);
});

test('Store: write runs fn inside the gate and returns its value; enter / leave is the same without a closure', () => {
  const { table, store } = make();
  assert.is(store.write(() => put(table, 'a', 'x')), 0);
  store.enter();
  try {
    put(table, 'b', 'y');
  } finally {
    store.leave();
  }
  assert.equal([text(table, 'a'), text(table, 'b')], ['x', 'y']);
  assert.equal(store.verify(), []);
});

test('Store: consistent waits for a write in flight (ERR_LOCK_TIMEOUT after its timeout), and runs once it left', () => {
  const { table, store } = make();
  store.enter();
  try {
    assert.is(code(() => store.consistent(() => 1, 50)), 'ERR_LOCK_TIMEOUT');
  } finally {
    store.leave();
  }
  store.write(() => put(table, 'a', 'x'));
  assert.equal(store.consistent(() => table.scan((k) => k)), ['a']);
});

test('Store: tryWrite runs fn (true) when no freeze holds writers back, refuses (false, fn not run) inside one', () => {
  const { table, store } = make();
  assert.is(store.tryWrite(() => void put(table, 'a', 'x')), true);
  let ran = false;
  const inside = store.consistent(() => store.tryWrite(() => void (ran = true)));
  assert.is(inside, false);
  assert.is(ran, false);
  assert.is(text(table, 'a'), 'x');
});

test('Store: an exception inside write leaves the gate (a later consistent does not wait)', () => {
  const { store } = make();
  assert.throws(() => store.write(() => { throw new Error('boom'); }), /boom/);
  assert.is(store.consistent(() => 7, 1000), 7);
});

test('Store: recovery and verify on a sound store: nothing released, nothing repaired, no violation', () => {
  const { table, store } = make();
  store.write(() => put(table, 'a', 'x'));
  assert.is(store.releaseAllOwnedBy(12345), 0);
  const r = store.repair(5000);
  assert.is(r.repaired, 0);
  assert.equal(r.violations, []);
  assert.equal(store.verify(5000), []);
  assert.is(text(table, 'a'), 'x');
});

test('Store: a block allocated and never published (a writer killed mid-write) is swept by repair', () => {
  const { table, store } = make();
  store.write(() => put(table, 'a', 'x'));
  store.write(() => table.allocRecord('b', undefined, table.hash('b'), 16));
  assert.ok(store.verify().length > 0, 'verify reports the leaked block');
  const r = store.repair(5000);
  assert.ok(r.reclaimed >= 1, `reclaimed ${r.reclaimed}`);
  assert.equal(store.verify(), []);
  assert.is(text(table, 'a'), 'x');
});

test.run();
