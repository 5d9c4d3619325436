/**
 * The positions domain's invariant checker and its repair: what recovery runs (under the heap's
 * write-gate freeze, before the dead thread's lock stripes are released) to complete or undo a
 * save or delete that a terminated thread left half done, and what engine.verify() reports.
 *
 * Invariants (positions/write.ts publishes in an order that keeps readers right between steps;
 * these say what must hold once no write is in flight):
 * 1. every record whose flag says open is named by the open index entry of (hotkey, its trade pair);
 * 2. every open index entry names a record of that hotkey that is open on that trade pair;
 * 3. at most one open record per (hotkey, trade pair);
 * 4. every record's uuid is in its hotkey's index (positions/hotkey-index.ts) exactly once, every entry
 *    names a stored record and lies below its hotkey's counter, and every counter has an entry;
 * 5. the blocks: records, their chunks, index entries and lists are live blocks (heap-sweep.ts).
 *
 * What a dead writer can leave (positions/write.ts crash table) breaks only 1, 2, 4 and 5, and each
 * break has one repair that makes the state what a completed or an undone write would be:
 * a missing entry of 1 is published (the save had published its record: completed), a stale
 * entry of 2 is removed (the save or delete had not reached or had passed its record: undone or
 * completed), index entries are added or removed, a counter raised past its entries or an empty
 * counter removed (4), unreachable blocks are swept (5). A break
 * of 3 cannot come from a crash (a save refuses a second open position before it publishes
 * anything) and is reported, not repaired.
 */
import type { Mark } from '../../internal/store/heap-sweep.ts';
import { Version } from '../../internal/store/version.ts';
import { ReadMode, readRecordValue, readUuid, uuidBytes } from './record.ts';
import type { PositionStore } from './store.ts';

interface Rec {
  hotkey: string;
  uuid: string;
  tp: string;
  open: boolean;
}

const pairKey = (hotkey: string, tp: string): string => `${hotkey}\u0000${tp}`;

/** Every block the domain's published state refers to (records, their chunks, entries, lists). */
export function markPositionBlocks(s: PositionStore, mark: Mark): void {
  s.records.markBlocks(mark);
  s.open.markBlocks(mark);
  s.byHotkey.markBlocks(mark);
  s.records.scan((hotkey, uuid, _u8, at, len, ref) => {
    const meta = readRecordValue(s.heap, at, len, ref, ReadMode.META, s.cache, s.memo);
    for (let k = 0; k < meta.refs.length; k += 2) mark(meta.refs[k]!, `chunk ${k >> 1} of position (${hotkey}, ${uuid})`);
    return 0;
  });
}

/**
 * Checks invariants 1-4; with `repair`, fixes 1, 2 and 4 (the caller holds the freeze, with
 * writes allowed to itself). Returns one sentence per violation found (before repair).
 */
export function checkPositions(s: PositionStore, repair: boolean): string[] {
  const { heap, records, open } = s;
  const out: string[] = [];
  const recs: Rec[] = records.scan((hotkey, uuid, _u8, at, len, ref) => {
    const meta = readRecordValue(heap, at, len, ref, ReadMode.META, s.cache, s.memo);
    return { hotkey, uuid: uuid!, tp: meta.tp, open: meta.open };
  });
  const byKey = new Map<string, Rec>();
  const openByPair = new Map<string, Rec[]>();
  for (const r of recs) {
    byKey.set(pairKey(r.hotkey, r.uuid), r);
    if (!r.open) continue;
    const k = pairKey(r.hotkey, r.tp);
    const list = openByPair.get(k);
    if (list === undefined) openByPair.set(k, [r]);
    else list.push(r);
  }
  // 2: every entry names an open record of its pair.
  const entries = open.scan((hotkey, tp, _u8, at, len) => ({ hotkey, tp: tp!, uuid: readUuid(heap, at, len) }));
  const indexed = new Set<string>();
  for (const e of entries) {
    const r = byKey.get(pairKey(e.hotkey, e.uuid));
    if (r !== undefined && r.open && r.tp === e.tp) {
      indexed.add(pairKey(e.hotkey, e.uuid));
      continue;
    }
    out.push(`positions: the open index of (${e.hotkey}, ${e.tp}) names ${e.uuid}, which is ${r === undefined ? 'not stored' : r.open ? `open on ${r.tp}` : 'closed'}`);
    if (repair) {
      const h = open.hash(e.hotkey, e.tp);
      const seen = new Version();
      if (open.read(e.hotkey, e.tp, (_u8, at, len) => readUuid(heap, at, len), h, seen) === e.uuid) {
        const o = open.remove(e.hotkey, e.tp, h, seen);
        if (o > 0) heap.retire(o);
      }
    }
  }
  // 1 and 3.
  for (const [, list] of openByPair) {
    const r = list[0]!;
    if (list.length > 1) {
      out.push(`positions: (${r.hotkey}, ${r.tp}) has ${list.length} open positions: ${list.map((x) => x.uuid).join(', ')}`);
      continue;
    }
    if (indexed.has(pairKey(r.hotkey, r.uuid))) continue;
    out.push(`positions: open position (${r.hotkey}, ${r.uuid}) on ${r.tp} is not in the open index`);
    if (repair) {
      const h = open.hash(r.hotkey, r.tp);
      const ref = open.allocRecord(r.hotkey, r.tp, h, 2 * r.uuid.length);
      heap.writeBytes(open.valueOffset(ref), uuidBytes(r.uuid));
      const o = open.publish(r.hotkey, r.tp, h, ref);
      if (o > 0) heap.retire(o);
    }
  }
  // 4.
  const listed = new Set<string>();
  const counts = new Map<string, number>();
  const seen = new Map<string, number>();
  for (const e of s.index.entries()) {
    if (e.seq < 0) {
      counts.set(e.hotkey, -1 - e.seq);
      continue;
    }
    const k = pairKey(e.hotkey, e.uuid);
    if (!byKey.has(k)) {
      out.push(`positions: the index of ${e.hotkey} names ${e.uuid} (entry ${e.seq}), which is not stored`);
      if (repair) s.index.removeAt(e.hotkey, e.seq, e.uuid);
    } else if (listed.has(k)) {
      out.push(`positions: the index of ${e.hotkey} names ${e.uuid} twice (entry ${e.seq} too)`);
      if (repair) s.index.removeAt(e.hotkey, e.seq, e.uuid);
    } else {
      listed.add(k);
      seen.set(e.hotkey, Math.max(seen.get(e.hotkey) ?? 0, e.seq + 1));
    }
  }
  for (const [hotkey, top] of seen) {
    const n = counts.get(hotkey) ?? 0;
    if (n >= top) continue;
    out.push(`positions: the index of ${hotkey} has entry ${top - 1} past its counter ${n}`);
    if (repair) s.index.raiseCount(hotkey, top);
  }
  for (const [hotkey] of counts) {
    if (seen.has(hotkey)) continue;
    out.push(`positions: the index of ${hotkey} has a counter and no entry`);
    if (repair) s.index.trimCount(hotkey);
  }
  for (const r of recs) {
    if (listed.has(pairKey(r.hotkey, r.uuid))) continue;
    out.push(`positions: (${r.hotkey}, ${r.uuid}) is not in its hotkey's index`);
    if (repair) s.index.add(r.hotkey, r.uuid);
  }
  return out;
}
