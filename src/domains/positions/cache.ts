/**
 * The per-thread cache of decoded orders, keyed by the chunk that holds each order.
 *
 * A position's orders are stored as immutable chunks (heap blocks, positions/record.ts), each
 * named by (offset, stamp): the heap bumps a block's stamp on every allocation, so the pair
 * names one allocation and its bytes never change while it is allocated. A decoded order can
 * therefore be kept per thread and handed out again whenever a validated record refers to the
 * same (offset, stamp): iterating the orders of a 100-order position costs 100 Map lookups,
 * not 100 decodes. The objects are deep-frozen (shared between every caller of this thread).
 *
 * Eviction: insertion-ordered Map with a cap in entries AND in bytes (the encoded size of the
 * orders held, DEFAULT_ORDER_CACHE_BYTES; a decoded order takes a few times its encoded size):
 * an entry that is hit after more than half the cap of newer insertions moves to the back (a
 * cheap approximate LRU: hits on fresh entries cost no Map write). When a cap is passed, the
 * oldest entries are dropped until both are at 7/8. One entry per offset: a new stamp at the
 * same offset replaces the old entry, so no stale entry can be hit.
 *
 * Only reads fill the caches: a thread's own writes are not copied into them (the order step,
 * appendOrder, keeps no per-order object alive; issue 12 measured 2.8 µs per order and most of
 * the GC pressure in the deep copies a save used to keep).
 */
import { DEFAULTS } from '../../defaults.ts';
import type { SharedTable } from '../../internal/store/table.ts';
import { Version } from '../../internal/store/version.ts';
import type { RecordLoc } from './record.ts';

export interface CachedChunk {
  readonly off: number;
  readonly stamp: number;
  readonly value: unknown;
  readonly bytes: number;
  tick: number;
}

export const DEFAULT_ORDER_CACHE_SIZE: number = DEFAULTS.thread.orderCacheSize;
/** Encoded bytes of the orders an OrderCache holds, at most. */
export const DEFAULT_ORDER_CACHE_BYTES: number = DEFAULTS.thread.orderCacheBytes;
export const DEFAULT_RECORD_MEMO_SIZE: number = DEFAULTS.thread.recordMemoSize;
/** Order references the RecordMemo's lists hold in all, at most (8 bytes each). */
export const DEFAULT_RECORD_MEMO_ORDERS: number = DEFAULTS.thread.recordMemoOrders;

/** Freezes a freshly decoded value and everything in it (plain objects and arrays only). */
export function deepFreeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) deepFreeze(v[i]);
  } else {
    for (const k in v) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return Object.freeze(v);
}

export class OrderCache {
  readonly #map = new Map<number, CachedChunk>();
  readonly #cap: number;
  readonly #maxBytes: number;
  #bytes = 0;
  #tick = 0;
  hits = 0;
  misses = 0;

  constructor(cap = DEFAULT_ORDER_CACHE_SIZE, maxBytes = DEFAULT_ORDER_CACHE_BYTES) {
    this.#cap = Math.max(16, cap);
    this.#maxBytes = Math.max(4096, maxBytes);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Encoded bytes of the orders held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The cached value of chunk (off, stamp), or undefined (orders are never undefined). */
  get(off: number, stamp: number): unknown {
    const e = this.#map.get(off);
    if (e === undefined || e.stamp !== stamp) return undefined;
    if (this.#tick - e.tick > this.#cap >> 1) {
      this.#map.delete(off);
      this.#map.set(off, e);
      e.tick = ++this.#tick;
    }
    this.hits++;
    return e.value;
  }

  /** Caches a freshly decoded value of chunk (off, stamp) of `bytes` encoded bytes; deep-freezes it and returns it. */
  put(off: number, stamp: number, value: unknown, bytes: number): unknown {
    const e: CachedChunk = { off, stamp, value, bytes, tick: ++this.#tick };
    deepFreeze(value);
    const had = this.#map.get(off);
    if (had !== undefined) {
      this.#bytes -= had.bytes;
      this.#map.delete(off);
    }
    this.#map.set(off, e);
    this.#bytes += bytes;
    this.misses++;
    if (this.#map.size > this.#cap || this.#bytes > this.#maxBytes) this.#shrink();
    return value;
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }

  #shrink(): void {
    const n = this.#cap - (this.#cap >> 3);
    const b = this.#maxBytes - (this.#maxBytes >> 3);
    for (const [k, e] of this.#map) {
      if (this.#map.size <= n && this.#bytes <= b) break;
      this.#map.delete(k);
      this.#bytes -= e.bytes;
    }
  }
}

/**
 * The per-thread memo of whole order lists, keyed by record version: (record block, stamp) ->
 * the frozen orders of that version, in order. A read of a version seen before copies the list
 * (one slice, no per-order lookup); a save whose orders are that list plus new ones reuses the
 * chunks by identity (one compare per order at the same index). Filled by reads only. Capped in
 * lists and in order references held (DEFAULT_RECORD_MEMO_ORDERS); same eviction as OrderCache.
 */
export class RecordMemo {
  /** Where the record this thread's last getOpenHead read is (LastHead, below). */
  readonly head = new LastHead();
  readonly #map = new Map<number, { stamp: number; orders: readonly unknown[] }>();
  readonly #cap: number;
  readonly #maxOrders: number;
  #orders = 0;
  hits = 0;

  /** cap 0 disables the memo (then saves re-encode every order: for measurements). */
  constructor(cap = DEFAULT_RECORD_MEMO_SIZE, maxOrders = DEFAULT_RECORD_MEMO_ORDERS) {
    this.#cap = Math.max(0, cap);
    this.#maxOrders = Math.max(1, maxOrders);
  }

  get size(): number {
    return this.#map.size;
  }

  /** The orders of record version (ref, stamp), or undefined. Do not modify the array. */
  get(ref: number, stamp: number): readonly unknown[] | undefined {
    const e = this.#map.get(ref);
    if (e === undefined || e.stamp !== stamp) return undefined;
    this.hits++;
    return e.orders;
  }

  /** Remembers the orders (frozen cached values, kept as given) of version (ref, stamp). */
  put(ref: number, stamp: number, orders: readonly unknown[]): void {
    if (this.#cap === 0 || orders.length > this.#maxOrders) return;
    const had = this.#map.get(ref);
    if (had !== undefined) {
      this.#orders -= had.orders.length;
      this.#map.delete(ref);
    }
    this.#map.set(ref, { stamp, orders });
    this.#orders += orders.length;
    if (this.#map.size <= this.#cap && this.#orders <= this.#maxOrders) return;
    const n = this.#cap - Math.max(1, this.#cap >> 3);
    const m = this.#maxOrders - (this.#maxOrders >> 3);
    for (const [k, e] of this.#map) {
      if (this.#map.size <= n && this.#orders <= m) break;
      this.#map.delete(k);
      this.#orders -= e.orders.length;
    }
  }
}

/**
 * Where the record this thread's last getOpenHead read is (issue 12): its location (a RecordLoc:
 * value offset and length, flags, trade pair, order count, head length) and the slot word it was
 * read under. appendOrder of the same (hotkey, uuid), which needs exactly that location, takes it
 * instead of probing the records table and locating the record again, provided the slot still
 * holds that word (SharedTable.holds: its two halves loaded again). That is enough: a published
 * record block is never written and not freed while published, and every change of the slot
 * moves its version, so what was located in it is the current version's. Taken at most once:
 * the append replaces the record (and a retry of it reads the table). One entry per thread.
 */
export class LastHead {
  /** The read's version token (getOpenHead passes it to the table's read). */
  readonly seen = new Version();
  readonly #kept = new Version();
  readonly #loc: RecordLoc = { at: 0, len: 0, open: false, tp: '', n: 0, headLen: 0, refs: null };
  #hotkey = '';
  #uuid = '';

  /** After a validated read of (hotkey, uuid) into `seen`: keeps its location. */
  keep(hotkey: string, uuid: string, at: Readonly<Omit<RecordLoc, 'refs'>>): void {
    this.#hotkey = hotkey;
    this.#uuid = uuid;
    const k = this.#kept;
    k.ver = this.seen.ver;
    k.ref = this.seen.ref;
    k.slot = this.seen.slot;
    const l = this.#loc;
    l.at = at.at;
    l.len = at.len;
    l.open = at.open;
    l.tp = at.tp;
    l.n = at.n;
    l.headLen = at.headLen;
  }

  /**
   * The kept location if it is (hotkey, uuid)'s and `records` still holds its version (copied
   * into `seen`: the expectation of the publish), else undefined (read the table). Forgets it.
   */
  take(hotkey: string, uuid: string, records: SharedTable, seen: Version): RecordLoc | undefined {
    if (this.#hotkey !== hotkey || this.#uuid !== uuid) return undefined;
    this.#hotkey = '';
    this.#uuid = '';
    const k = this.#kept;
    if (!records.holds(k)) return undefined;
    seen.ver = k.ver;
    seen.ref = k.ref;
    seen.slot = k.slot;
    return this.#loc;
  }
}
