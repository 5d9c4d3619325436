/**
 * Named small maps of the general domain (`engine.general.map(name)`): string key → small JSON
 * value (the validator's other shared dicts, such as miner account sizes read on every order).
 * Each map is one heap and one table of table.ts in its own buffers; values are encoded by
 * codec.ts. Reads are lock-free (versioned slot words); writes are lock-free upserts / removals,
 * except the first insert of a key, which takes the table's claim mutex for a few probes.
 * Every write runs inside the heap's write gate so that `consistentEntries()` can freeze the map
 * for a snapshot.
 *
 * This module is the GeneralMapProvider the engine passes to the general domain.
 */
import { OneTableStore } from '../internal/store/store-recovery.ts';
import { ErrorCode, SabStateError, capacityHint, checkKey } from '../errors.ts';
import { decodeValue, encodeValue } from '../internal/codec/codec.ts';
import type { HashKey } from '../internal/hash/hash.ts';
import { type HeapHandle, SharedHeap, createHeapHandle } from '../internal/store/heap.ts';
import { SharedTable } from '../internal/store/table.ts';
import { type TableHandle, createTableHandle } from '../internal/store/table-layout.ts';
import { type GeneralMapProvider, MAP_DEFAULTS, type MapSizes, type MapStore } from './general.ts';

/** Default keys per map and heap bytes per map (growable from 256 KiB): options.general.maps. */
export const MAP_MAX_RECORDS = MAP_DEFAULTS.maxRecords;
export const MAP_MAX_BYTES = MAP_DEFAULTS.maxBytes;
/** Largest encoded value: maps hold small values. */
export const MAP_MAX_VALUE_BYTES = 64 * 1024;

interface MapPart {
  readonly heap: HeapHandle;
  readonly table: TableHandle;
}

export class SharedMap extends OneTableStore implements MapStore {
  readonly #table: SharedTable;
  readonly #name: string;
  readonly #decode = (u8: Uint8Array, at: number, len: number): unknown => decodeValue(u8, at, len);

  constructor(part: MapPart, name: string, key: HashKey) {
    const heap = new SharedHeap(part.heap, key, `map ${name} heap`);
    const table = new SharedTable(part.table, heap, key, `map ${name}`);
    super(heap, table);
    this.#name = name;
    this.#table = table;
  }

  get size(): number {
    return this.#table.size;
  }

  get(key: string): unknown {
    checkKey(key, 'key');
    return this.#table.read(key, undefined, this.#decode);
  }

  has(key: string): boolean {
    checkKey(key, 'key');
    return this.#table.has(key);
  }

  set(key: string, value: unknown): void {
    checkKey(key, 'key');
    const bytes = encodeValue(value, 'value');
    if (bytes.length > MAP_MAX_VALUE_BYTES) {
      throw new SabStateError(ErrorCode.VALUE_TOO_LARGE, `map ${this.#name}: value of ${bytes.length} encoded bytes, at most ${MAP_MAX_VALUE_BYTES}`);
    }
    try {
      this.store.write(() => this.#table.set(key, undefined, bytes));
    } catch (e) {
      throw capacityHint(e, `options.general.maps.${this.#name}.maxRecords or .maxBytes (declare the map as { ${this.#name}: { maxRecords, maxBytes } })`);
    }
  }

  delete(key: string): boolean {
    checkKey(key, 'key');
    return this.store.write(() => this.#table.delete(key));
  }

  /** Every entry, lock-free: each value whole, the array not a snapshot while writers run. */
  entries(): Array<[string, unknown]> {
    return this.#table.scan((k, _b, u8, at, len) => [k, this.#decode(u8, at, len)]);
  }

  /** Every entry with writers held back: a consistent view (snapshots). */
  consistentEntries(timeoutMs?: number): Array<[string, unknown]> {
    return this.store.consistent(() => this.entries(), timeoutMs);
  }
}

export const sharedMapProvider: GeneralMapProvider = {
  create(_name: string, key: HashKey, sizes: MapSizes = MAP_DEFAULTS): MapPart {
    return { heap: createHeapHandle(sizes.maxBytes, key, Math.min(256 * 1024, sizes.maxBytes)), table: createTableHandle(sizes.maxRecords, key) };
  },
  attach(part: unknown, name: string, key: HashKey): MapStore {
    return new SharedMap(part as MapPart, name, key);
  },
};
