/**
 * The departed domain: hotkeys that left the subnet -> `{ detected_ms }` (the validator's
 * departed_hotkeys.json), on the shared table of table.ts with fixed-size values, in its own
 * buffers (a heap region and a table region).
 *
 * Record: table key = the hotkey (single-string key), value = 8 bytes, the detected_ms as a
 * float64 (8-aligned in the record, table.ts), written by the marking thread before the
 * publishing CAS. Reads are lock-free and never block a writer (versioned-word.ts); writes are
 * lock-free upserts / removals (table.ts), except the insert of a new hotkey which takes the
 * table's insert mutex for a few probes. Every write runs inside the heap's write gate, so
 * consistentEntries() is a consistent view of the whole domain; entries() is lock-free and each entry
 * is a whole value, but the array is not a snapshot while writers run.
 */
import { OneTableStore } from '../internal/store/store-recovery.ts';
import { ErrorCode, SabStateError, checkKey, describe, capacityHint } from '../errors.ts';
import { DEFAULTS } from '../defaults.ts';
import { type StoreSizes, perRecordRules, resolveSizes } from '../options.ts';
import type { HashKey } from '../internal/hash/hash.ts';
import { type HeapHandle, type HeapStats, MAX_HEAP_BYTES, MIN_HEAP_BYTES, SharedHeap, createHeapHandle } from '../internal/store/heap.ts';
import { SharedTable, type TableStats } from '../internal/store/table.ts';
import { type TableHandle, createTableHandle } from '../internal/store/table-layout.ts';
import { notWhole } from '../internal/store/version.ts';

const kValueBytes = 8;
const MAX_RECORDS_LIMIT = 1 << 22;

export type DepartedOptions = StoreSizes;
export interface DepartedHandle {
  readonly heap: HeapHandle;
  readonly table: TableHandle;
}
/** A departed hotkey's entry, as in the validator's departed_hotkeys.json. */
export interface DepartedEntry {
  detected_ms: number;
}
/**
 * `engine.stats().departed`; `operations` counts this thread's calls only, the rest is the whole
 * engine's.
 */
export interface DepartedStats {
  records: number;
  operations: { reads: number; writes: number };
  bytesUsed: number;
  bytesReserved: number;
  bytesCapacity: number;
  readRetries: number;
  pinnedReads: number;
  heap: HeapStats;
  table: TableStats;
}

/**
 * Defaults: 16384 hotkeys (the validator has about 370 after two years), and a heap that can
 * hold all of them even with 256-character keys (maxRecords x 640 bytes + metadata; growable,
 * it starts at 1 MiB).
 */
export function resolveDepartedOptions(raw: unknown, path = 'options.departed'): DepartedOptions {
  return resolveSizes(raw, path, perRecordRules(DEFAULTS.departed, MAX_RECORDS_LIMIT, MIN_HEAP_BYTES, MAX_HEAP_BYTES));
}

export function createDepartedHandle(opts: DepartedOptions, key: HashKey): DepartedHandle {
  return { heap: createHeapHandle(opts.maxBytes, key, 1 << 20), table: createTableHandle(opts.maxRecords, key) };
}

/**
 * The departed domain (`engine.departed`): departed hotkeys and the time each was detected, in a
 * shared hash table. Reads are lock-free; writes need no lock.
 */
export class DepartedDomain extends OneTableStore {
  readonly #heap: SharedHeap;
  readonly #table: SharedTable;
  readonly #readMs: (u8: Uint8Array, at: number, len: number) => number;
  #reads = 0;
  #writes = 0;

  /** @internal Built by the engine: use `engine.departed`. */
  constructor(handle: DepartedHandle, key: HashKey) {
    const heap = new SharedHeap(handle.heap, key, 'departed heap');
    const table = new SharedTable(handle.table, heap, key, 'departed');
    super(heap, table);
    this.#heap = heap;
    this.#table = table;
    this.#readMs = (_u8, at, len) => {
      if (len !== kValueBytes) notWhole();
      return this.#heap.f64[at >> 3]!;
    };
  }

  /** Hotkeys marked departed now (lock-free). */
  get size(): number {
    return this.#table.size;
  }

  /**
   * Records (or overwrites) the time a hotkey was detected as departed.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` is not a non-empty string of at most
   *   256 characters.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` if `detectedMs` is not an integer.
   * @throws {@link SabStateError} `ERR_CAPACITY` if the domain is full (`options.departed.maxRecords`
   *   / `maxBytes`); nothing is written.
   */
  mark(hotkey: string, detectedMs: number): void {
    checkKey(hotkey, 'hotkey');
    if (typeof detectedMs !== 'number' || !Number.isInteger(detectedMs)) {
      throw new SabStateError(ErrorCode.INVALID_VALUE, `detectedMs must be a finite integer, got ${describe(detectedMs)}`);
    }
    this.#writes++;
    const t = this.#table;
    const h = t.hash(hotkey);
    try {
      this.#markIn(t, hotkey, h, detectedMs);
    } catch (e) {
      throw capacityHint(e, 'options.departed.maxRecords or options.departed.maxBytes');
    }
  }

  #markIn(t: SharedTable, hotkey: string, h: number, detectedMs: number): void {
    this.store.write(() => {
      const ref = t.allocRecord(hotkey, undefined, h, kValueBytes);
      this.#heap.f64[t.valueOffset(ref) >> 3] = detectedMs;
      let old: number;
      try {
        old = t.publish(hotkey, undefined, h, ref);
      } catch (e) {
        this.#heap.free(ref);
        throw e;
      }
      if (old > 0) this.#heap.retire(old);
    });
  }

  /**
   * The departed entry of a hotkey, or undefined (lock-free).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` is not a non-empty string of at most
   *   256 characters.
   */
  get(hotkey: string): DepartedEntry | undefined {
    checkKey(hotkey, 'hotkey');
    this.#reads++;
    const ms = this.#table.read(hotkey, undefined, this.#readMs);
    return ms === undefined ? undefined : { detected_ms: ms };
  }

  /**
   * True if the hotkey is marked departed (lock-free, O(1): runs on every order).
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` is not a non-empty string of at most
   *   256 characters.
   */
  has(hotkey: string): boolean {
    checkKey(hotkey, 'hotkey');
    this.#reads++;
    return this.#table.has(hotkey);
  }

  /**
   * Removes a hotkey; true if it was there.
   * @throws {@link SabStateError} `ERR_INVALID_KEY` if `hotkey` is not a non-empty string of at most
   *   256 characters.
   */
  delete(hotkey: string): boolean {
    checkKey(hotkey, 'hotkey');
    this.#writes++;
    return this.store.write(() => this.#table.delete(hotkey));
  }

  /** Every entry, lock-free (each a whole value; not a snapshot while writers run). */
  entries(): Array<[string, DepartedEntry]> {
    this.#reads++;
    return this.#table.scan((hk, _b, u8, at, len) => [hk, { detected_ms: this.#readMs(u8, at, len) }]);
  }

  /**
   * Every entry as [hotkey, detected_ms], consistent for the whole domain (write gate freeze).
   * @internal For snapshots.
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` if a write in flight does not finish within `timeoutMs`.
   */
  consistentEntries(timeoutMs?: number): Array<[string, number]> {
    return this.store.consistent(() => this.#table.scan((hk, _b, u8, at, len) => [hk, this.#readMs(u8, at, len)]), timeoutMs);
  }

  /** Counts and memory of the domain; `operations` counts this thread's calls only. */
  stats(): DepartedStats {
    const h = this.#heap.stats();
    const t = this.#table.stats();
    return {
      records: t.records,
      operations: { reads: this.#reads, writes: this.#writes },
      bytesUsed: h.inUseBytes,
      bytesReserved: h.reservedBytes,
      bytesCapacity: h.maxBytes,
      readRetries: t.readRetries,
      pinnedReads: t.pinnedReads,
      heap: h,
      table: t,
    };
  }
}
