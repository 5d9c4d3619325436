/**
 * The eliminations domain's regions: the control region (its claim mutex and generation word,
 * each on its own line), the heap and the two tables it flips between, their sizes from the
 * options, and their creation. Who writes each control word, how, and the protocol that flips
 * the tables (with its crash table) are in eliminations.ts's header.
 */
import { DEFAULTS } from '../defaults.ts';
import { type StoreSizes, perRecordRules, resolveSizes } from '../options.ts';
import type { HashKey } from '../internal/hash/hash.ts';
import { type HeapHandle, MAX_HEAP_BYTES, MIN_HEAP_BYTES, createHeapHandle } from '../internal/store/heap.ts';
import { LINE_BYTES, LINE_INTS, RegionKind, type RegionSpec, createRegion } from '../internal/region.ts';
import { type TableHandle, createTableHandle } from '../internal/store/table-layout.ts';

export const kMutex = 1 * LINE_INTS;
export const kGen = 2 * LINE_INTS;
export const kControlBytes = 3 * LINE_BYTES;
/** Control region layout: 2 = the spare table is empty outside writes (checked by verify). */
const ELIMINATIONS_LAYOUT = 2;
const MAX_RECORDS_LIMIT = 1 << 20;

/** What a thread needs to attach to the domain (structured-clonable): control region, heap, both tables. */
export interface EliminationsHandle {
  readonly control: SharedArrayBuffer;
  readonly heap: HeapHandle;
  readonly tables: readonly [TableHandle, TableHandle];
  readonly maxRecords: number;
}

/** Sizes of the eliminations store (resolved options.eliminations). */
export type EliminationsOptions = StoreSizes;

export function resolveEliminationsOptions(raw: unknown, path = 'options.eliminations'): EliminationsOptions {
  return resolveSizes(raw, path, perRecordRules(DEFAULTS.eliminations, MAX_RECORDS_LIMIT, MIN_HEAP_BYTES, MAX_HEAP_BYTES));
}

export function controlSpec(maxRecords: number, key: HashKey): RegionSpec {
  return { kind: RegionKind.CONTROL, key, params: [maxRecords, ELIMINATIONS_LAYOUT] };
}

export function createEliminationsHandle(opts: EliminationsOptions, key: HashKey): EliminationsHandle {
  return {
    control: createRegion(controlSpec(opts.maxRecords, key), kControlBytes),
    heap: createHeapHandle(opts.maxBytes, key, 1 << 20),
    tables: [createTableHandle(opts.maxRecords, key), createTableHandle(opts.maxRecords, key)],
    maxRecords: opts.maxRecords,
  };
}
