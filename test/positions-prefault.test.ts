// createEngine({ prefault }) (src/internal/store/prefault.ts): every page of the engine's buffers,
// and with a number of bytes the positions heap's headroom past its top, touched once at creation.
// Asserted: the pages are resident afterwards (writing them again takes almost no minor page
// faults, where the same writes into a fresh engine's memory take one per page: the control that
// shows the counter works); every word keeps its value (a restored state is whole, memory past
// kTop stays zero, verify() clean) and later writes work through the grown buffer; the option's
// check at the boundary; the default leaves the heap at its initial size; and the option is a
// creation step, kept neither in engine.options nor in snapshots.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine } from '../src/index.ts';
import type { Engine, Position } from '../src/index.ts';
import { kTop } from '../src/internal/store/heap-layout.ts';
import { buffersOf, growHeap, touchPages } from '../src/internal/store/prefault.ts';
import { SMALL_ENGINE, tempDirs } from './helpers/temp.ts';

const tempDir = tempDirs('sabstate-prefault-', test);
const MiB = 1 << 20;

const pos = (hk: string, i: number, open: boolean): Position => ({
  miner_hotkey: hk, position_uuid: `${hk}-p${i}`, trade_pair: open ? `TP${i}` : 'BTCUSD', is_closed_position: !open,
  orders: Array.from({ length: 1 + (i % 5) }, (_, k) => ({ order_uuid: `${hk}-p${i}-o${k}`, price: 100 + k, leverage: 0.1 * k })),
  unknown_field: { kept: [i, -0] },
});

function fill(engine: Engine, n: number): Position[] {
  const out: Position[] = [];
  for (let i = 0; i < n; i++) {
    const p = pos(`5Prefault${i % 7}`, i, i % 3 === 0);
    engine.locks.withLock(p.miner_hotkey, p.trade_pair as string, () => engine.positions.save(p));
    out.push(p);
  }
  return out;
}

const heapOf = (e: Engine): { sab: SharedArrayBuffer; maxBytes: number } => e.handle().positions.heap;
const topOf = (e: Engine): number => Atomics.load(new Int32Array(heapOf(e).sab), kTop);
const faults = (): number => process.resourceUsage().minorPageFault;
/** Minor faults taken while writing (adds of 0) one word per page of [from, to). */
function faultsTouching(sab: SharedArrayBuffer, from: number, to: number): { pages: number; faults: number } {
  const f0 = faults();
  const pages = touchPages(sab, from, to);
  return { pages, faults: faults() - f0 };
}
function zeroPastTop(e: Engine): boolean {
  const { sab } = heapOf(e);
  const u8 = new Uint8Array(sab);
  for (let i = topOf(e); i < u8.length; i++) if (u8[i] !== 0) return false;
  return true;
}
const thpAlways = ((): boolean => {
  try {
    return readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').includes('[always]');
  } catch {
    return false;
  }
})();

test('prefault: n: the positions heap holds n bytes past its top, resident; every buffer resident', () => {
  const e = createEngine({ ...SMALL_ENGINE, prefault: 8 * MiB });
  const { sab } = heapOf(e);
  const top = topOf(e);
  assert.ok(sab.byteLength >= top + 8 * MiB, `heap buffer ${sab.byteLength} bytes, top ${top}`);
  assert.ok(zeroPastTop(e), 'memory past kTop is zero');
  const heap = faultsTouching(sab, top, top + 8 * MiB);
  console.log(`  prefaulted heap headroom: ${heap.faults} minor faults writing ${heap.pages} pages`);
  assert.ok(heap.faults < heap.pages / 8, `${heap.faults} faults for ${heap.pages} prefaulted pages`);
  let pages = 0;
  let taken = 0;
  for (const b of buffersOf(e.handle())) {
    const r = faultsTouching(b, 0, b.byteLength);
    pages += r.pages;
    taken += r.faults;
  }
  console.log(`  every buffer: ${taken} minor faults writing ${pages} pages`);
  assert.ok(taken < pages / 8, `${taken} faults for ${pages} prefaulted pages`);
  assert.ok(zeroPastTop(e), 'still zero past kTop after the writes');
  e.close();
});

test('control: the same writes into a fresh engine\'s memory take a fault per page (the counter works)', () => {
  if (thpAlways) {
    console.log('  skipped: transparent huge pages are [always] here (one fault per 2 MiB)');
    return;
  }
  const e = createEngine({ ...SMALL_ENGINE });
  const top = topOf(e);
  growHeap(heapOf(e), 8 * MiB);
  const r = faultsTouching(heapOf(e).sab, top + MiB, top + 8 * MiB);
  console.log(`  fresh heap memory: ${r.faults} minor faults writing ${r.pages} pages`);
  assert.ok(r.faults >= r.pages / 2, `${r.faults} faults for ${r.pages} fresh pages`);
  e.close();
});

test('prefault keeps a restored state whole: headroom counted from the restored top, zero past it, verify clean', () => {
  const a = createEngine({ ...SMALL_ENGINE });
  const saved = fill(a, 300);
  const dir = tempDir();
  a.snapshot(dir);
  a.close();
  const b = createEngine({ ...SMALL_ENGINE, restoreFrom: dir, prefault: 4 * MiB });
  const top = topOf(b);
  assert.ok(top > 1 << 16, `restored top ${top}`);
  assert.ok(heapOf(b).sab.byteLength >= top + 4 * MiB);
  assert.ok(zeroPastTop(b));
  for (const p of saved) assert.equal(b.positions.get(p.miner_hotkey, p.position_uuid), p);
  assert.equal(b.verify(), { ok: true, violations: [] });
  // Writes after the prefault go through the grown buffer (the heap's views cover it lazily).
  const more = fill(b, 900).slice(300);
  for (const p of more) assert.equal(b.positions.get(p.miner_hotkey, p.position_uuid), p);
  assert.equal(b.verify(), { ok: true, violations: [] });
  assert.ok(zeroPastTop(b));
  b.close();
});

test('prefault larger than positions.maxBytes stops at maxBytes; true and 0 leave the heap at its initial size', () => {
  const capped = createEngine({ ...SMALL_ENGINE, positions: { maxRecords: 1024, maxBytes: 3 * MiB + 4096 }, prefault: 2 ** 31 - 1 });
  assert.is(heapOf(capped).sab.byteLength, 3 * MiB + 4096);
  fill(capped, 200);
  assert.equal(capped.verify(), { ok: true, violations: [] });
  capped.close();
  const plain = createEngine({ ...SMALL_ENGINE });
  const initial = heapOf(plain).sab.byteLength;
  for (const prefault of [true, 0, false] as const) {
    const e = createEngine({ ...SMALL_ENGINE, prefault });
    assert.is(heapOf(e).sab.byteLength, initial, `prefault: ${String(prefault)}`);
    assert.ok(zeroPastTop(e));
    e.close();
  }
  plain.close();
});

test('options.prefault is checked at the boundary and kept out of engine.options and snapshots', () => {
  const err = (v: unknown): [string, string] => {
    try {
      createEngine({ ...SMALL_ENGINE, prefault: v as number });
    } catch (e) {
      return [(e as Error).constructor.name, `${(e as { code?: string }).code}: ${(e as Error).message}`];
    }
    return ['none', ''];
  };
  const msg = 'ERR_INVALID_OPTION: options.prefault must be true, false or a non-negative integer (bytes)';
  assert.equal(err('1 MiB'), ['TypeError', msg]);
  assert.equal(err(1.5), ['TypeError', msg]);
  assert.equal(err(null), ['TypeError', msg]);
  assert.equal(err(-1), ['RangeError', msg]);
  assert.equal(err(2 ** 31), ['RangeError', msg]);
  const e = createEngine({ ...SMALL_ENGINE, prefault: MiB });
  assert.not.ok('prefault' in e.options);
  assert.not.ok('prefault' in e.handle().options);
  const dir = tempDir();
  e.snapshot(dir);
  e.close();
  const r = createEngine({ restoreFrom: dir });
  assert.not.ok('prefault' in r.options);
  r.close();
});

test.run();
