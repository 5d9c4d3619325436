// Worker for test/heap-growth.test.ts: a reader that attached BEFORE another thread grew the heap
// reads what that thread wrote past its views, each read path's first touch of those blocks.
// Modes:
// - 'table': a SharedHeap + SharedTable of its own; for each round k (heap-growth-fixture.ts),
//   reports its views, waits for the parent's records, then runs `rounds[k-1]` ('get', 'has',
//   'scan', 'delete', 'update', 'take') on them as its first touch and checks the bytes. Posts
//   { failures, views }.
// - 'engine': attachEngine before anything is written; reports each domain's reserved bytes (its
//   views' length: nothing covered since), waits, then reads every domain through the public API
//   (positions get / getOpen / listForHotkey / hotkeys, eliminations get / has / list, departed get
//   / has / entries, a map's get / entries) and compares with heap-growth-fixture.ts. Posts { failures }.
import { isDeepStrictEqual } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import { hashKeyFromSeed } from '../../src/internal/hash/hash.ts';
import { type HeapHandle, SharedHeap } from '../../src/internal/store/heap.ts';
import { SharedTable } from '../../src/internal/store/table.ts';
import type { TableHandle } from '../../src/internal/store/table-layout.ts';
import type { EngineHandle } from '../../src/index.ts';
import {
  departedKey, growthElimination, kDepartedViews, kEliminationsViews, growthPosition, kCount, kDeparted, kEliminations, kGo, kHotkeys, kMapEntries, kMapName, kPositions,
  kReady, kSize, kViews, mapValue, pattern, patternDiff, tableKey,
} from './heap-growth-fixture.ts';

interface TableData { mode: 'table'; heap: HeapHandle; table: TableHandle; seed: number; ctl: SharedArrayBuffer; rounds: string[] }
interface EngineData { mode: 'engine'; handle: EngineHandle; ctl: SharedArrayBuffer }

const d = workerData as TableData | EngineData;
const ctl = new Int32Array(d.ctl);
const failures: string[] = [];
const fail = (s: string): void => void (failures.length < 20 && failures.push(s));

function ready(k: number, views: number): void {
  Atomics.store(ctl, kViews, views);
  Atomics.store(ctl, kReady, k);
  Atomics.notify(ctl, kReady);
  while (Atomics.load(ctl, kGo) !== k) Atomics.wait(ctl, kGo, k - 1, 100);
}

if (d.mode === 'table') {
  const key = hashKeyFromSeed(BigInt(d.seed >>> 0));
  const heap = new SharedHeap(d.heap, key, 'growth heap');
  const table = new SharedTable(d.table, heap, key, 'growth table');
  const views: number[] = [];
  for (let k = 1; k <= d.rounds.length; k++) {
    const path = d.rounds[k - 1]!;
    views.push(heap.u8.length);
    ready(k, heap.u8.length);
    const n = Atomics.load(ctl, kCount);
    const size = Atomics.load(ctl, kSize);
    const where = (i: number): string => `round ${k} (${path}) record ${i}`;
    const check = (i: number, u8: Uint8Array, at: number, len: number): void => {
      const j = patternDiff(u8, at, len, k, i, size);
      if (j !== -1) fail(`${where(i)}: ${j === -2 ? `length ${len}, want ${size}` : `byte ${j} differs`}`);
    };
    if (path === 'scan') {
      const seen = new Set<number>();
      table.scan((a, _b, u8, at, len) => {
        const m = /^round(\d+)-rec(\d+)$/.exec(a);
        if (m && Number(m[1]) === k) {
          seen.add(Number(m[2]));
          check(Number(m[2]), u8, at, len);
        }
        return 0;
      });
      for (let i = 0; i < n; i++) if (!seen.has(i)) fail(`${where(i)}: missing from scan`);
      continue;
    }
    // Last written first: the farthest block is the first one this thread touches.
    for (let i = n - 1; i >= 0; i--) {
      const name = tableKey(k, i);
      if (path === 'get') {
        const v = table.get(name);
        if (v === undefined) fail(`${where(i)}: missing`);
        else check(i, v, 0, v.length);
      } else if (path === 'has') {
        if (!table.has(name)) fail(`${where(i)}: has() is false`);
      } else if (path === 'delete') {
        if (!table.delete(name)) fail(`${where(i)}: delete() found nothing`);
      } else if (path === 'update') {
        let calls = 0;
        const changed = table.update(name, undefined, (old) => {
          calls++;
          if (old === undefined) fail(`${where(i)}: update saw no value`);
          else check(i, old, 0, old.length);
          return pattern(k + 1000, i, size);
        });
        if (!changed || calls === 0) fail(`${where(i)}: update changed nothing`);
      } else if (path === 'take') {
        const v = table.take(name);
        if (v === undefined) fail(`${where(i)}: take() found nothing`);
        else check(i, v, 0, v.length);
      } else {
        throw new Error(`unknown path ${path}`);
      }
    }
  }
  parentPort!.postMessage({ failures, views });
} else {
  const engine = attachEngine(d.handle);
  // Reads of absent keys first: every read path is compiled and has run once before the growth.
  if (engine.positions.get('hk0', 'none') !== undefined || engine.eliminations.get('none') !== undefined) fail('an empty engine has data');
  const s = engine.stats();
  Atomics.store(ctl, kDepartedViews, s.departed.bytesReserved);
  Atomics.store(ctl, kEliminationsViews, s.eliminations.heap.reservedBytes);
  ready(1, s.positions.bytesReserved);
  // positions, last saved first
  for (let i = kPositions - 1; i >= 0; i--) {
    const want = growthPosition(i);
    const got = engine.positions.get(want.miner_hotkey, want.position_uuid);
    if (!isDeepStrictEqual(got, want)) fail(`positions.get ${want.position_uuid}: ${got === undefined ? 'missing' : 'differs'}`);
    const open = engine.positions.getOpen(want.miner_hotkey, `TP${i}`);
    const wantOpen = want.is_closed_position ? undefined : want;
    if (!isDeepStrictEqual(open, wantOpen)) fail(`positions.getOpen ${want.miner_hotkey} TP${i}: ${open === undefined ? 'missing' : 'differs'}`);
  }
  for (let h = 0; h < kHotkeys; h++) {
    const want = new Map<string, unknown>();
    for (let i = h; i < kPositions; i += kHotkeys) want.set(`pos-${i}`, growthPosition(i));
    const list = engine.positions.listForHotkey(`hk${h}`);
    if (list.length !== want.size) fail(`positions.listForHotkey hk${h}: ${list.length} positions, want ${want.size}`);
    for (const p of list) if (!isDeepStrictEqual(p, want.get(p.position_uuid))) fail(`positions.listForHotkey hk${h}: ${p.position_uuid} differs`);
  }
  const hks = engine.positions.hotkeys().sort();
  const wantHks = Array.from({ length: kHotkeys }, (_, h) => `hk${h}`).sort();
  if (!isDeepStrictEqual(hks, wantHks)) fail(`positions.hotkeys: ${hks.length} hotkeys, want ${wantHks.length}`);
  // eliminations
  for (let i = kEliminations - 1; i >= 0; i--) {
    const want = growthElimination(i);
    if (!engine.eliminations.has(want.hotkey)) fail(`eliminations.has ${want.hotkey} is false`);
    if (!isDeepStrictEqual(engine.eliminations.get(want.hotkey), want)) fail(`eliminations.get ${want.hotkey} differs or is missing`);
  }
  const rows = engine.eliminations.list();
  if (rows.length !== kEliminations) fail(`eliminations.list: ${rows.length} rows, want ${kEliminations}`);
  for (const r of rows) if (!isDeepStrictEqual(r, growthElimination((r as unknown as { i: number }).i))) fail(`eliminations.list: ${r.hotkey} differs`);
  // departed
  for (let i = kDeparted - 1; i >= 0; i--) {
    const got = engine.departed.get(departedKey(i));
    if (got?.detected_ms !== 1_700_000_000_000 + i) fail(`departed.get ${i}: ${got === undefined ? 'missing' : got.detected_ms}`);
  }
  const entries = engine.departed.entries();
  if (entries.length !== kDeparted) fail(`departed.entries: ${entries.length}, want ${kDeparted}`);
  // a map
  const map = engine.general.map(kMapName);
  for (let i = kMapEntries - 1; i >= 0; i--) {
    if (!isDeepStrictEqual(map.get(`m${i}`), mapValue(i))) fail(`map.get m${i} differs or is missing`);
  }
  const me = map.entries();
  if (me.length !== kMapEntries) fail(`map.entries: ${me.length}, want ${kMapEntries}`);
  for (const [k, v] of me) if (!isDeepStrictEqual(v, mapValue(Number(k.slice(1))))) fail(`map.entries ${k} differs`);
  parentPort!.postMessage({ failures });
}
