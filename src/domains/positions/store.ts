/**
 * The positions domain's store: the shared store composition (`Store`, store-recovery.ts: the
 * write gate, consistent views, recovery and verification) over one heap and its three tables
 * (records, the open index, the hotkey index), with the domain's own check and mark
 * (positions/repair.ts) and this thread's caches. Built once per thread by PositionsDomain; the
 * writer (positions/write.ts) and the repair read its parts. The order step enters the write
 * gate with `enter()` / `leave()` (no closure per call).
 */
import type { HashKey } from '../../internal/hash/hash.ts';
import { SharedHeap } from '../../internal/store/heap.ts';
import { SharedTable } from '../../internal/store/table.ts';
import { Store } from '../../internal/store/store-recovery.ts';
import { OrderCache, RecordMemo } from './cache.ts';
import { HotkeyIndex } from './hotkey-index.ts';
import { checkPositions, markPositionBlocks } from './repair.ts';
import type { PositionsHandle } from './positions.ts';

export class PositionStore extends Store {
  readonly heap: SharedHeap;
  /** uuid records by (hotkey, uuid). */
  readonly records: SharedTable;
  /** (hotkey, trade pair) -> uuid of the open position. */
  readonly open: SharedTable;
  readonly byHotkey: SharedTable;
  /** The per-hotkey index over byHotkey (positions/hotkey-index.ts). */
  readonly index: HotkeyIndex;
  /** This thread's decoded orders by chunk, and whole order lists by record version. */
  readonly cache: OrderCache;
  readonly memo: RecordMemo;

  constructor(handle: PositionsHandle, key: HashKey, orderCacheSize?: number, recordMemoSize?: number, orderCacheBytes?: number, recordMemoBytes?: number) {
    const heap = new SharedHeap(handle.heap, key, 'positions heap');
    const byHotkey = new SharedTable(handle.byHotkey, heap, key, 'positions hotkey index');
    const records = new SharedTable(handle.records, heap, key, 'positions');
    const open = new SharedTable(handle.open, heap, key, 'positions open index');
    // check and mark run only during recovery and verify, long after the constructor returned.
    let self: PositionStore | undefined;
    super({
      heap, tables: [records, open, byHotkey],
      check: (repair) => checkPositions(self!, repair), mark: (mark) => markPositionBlocks(self!, mark),
    });
    self = this;
    this.heap = heap;
    this.records = records;
    this.open = open;
    this.byHotkey = byHotkey;
    this.index = new HotkeyIndex(byHotkey, heap, key);
    this.cache = new OrderCache(orderCacheSize, orderCacheBytes);
    this.memo = new RecordMemo(recordMemoSize, undefined, recordMemoBytes);
  }
}
