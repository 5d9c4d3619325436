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
 * Bounded in bytes of JS heap (issue 12; issue 11's soak: the workers' V8 heaps were not flat),
 * not only in entries: every cached order is charged its estimated heap size (heapBytesOf:
 * V8's 64-bit layout, measured within a few percent of the heap's growth on the real orders,
 * BENCHMARKS.md), counted by the same walk that freezes it. Eviction: insertion-ordered Map
 * with a cap in entries AND in bytes (DEFAULT_ORDER_CACHE_BYTES): an entry that is hit after
 * more than half the cap of newer insertions moves to the back (a cheap approximate LRU: hits
 * on fresh entries cost no Map write). When a cap is passed, the oldest entries are dropped
 * until both are at 7/8. One entry per offset: a new stamp at the same offset replaces the old
 * entry, so no stale entry can be hit.
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
  /** Estimated JS heap bytes of the value (heapBytesOf) and its encoded bytes. */
  readonly bytes: number;
  readonly encoded: number;
  tick: number;
}

export const DEFAULT_ORDER_CACHE_SIZE: number = DEFAULTS.thread.orderCacheSize;
/** Estimated JS heap bytes of the orders an OrderCache holds, at most. */
export const DEFAULT_ORDER_CACHE_BYTES: number = DEFAULTS.thread.orderCacheBytes;
export const DEFAULT_RECORD_MEMO_SIZE: number = DEFAULTS.thread.recordMemoSize;
/** Order references the RecordMemo's lists hold in all, at most (8 bytes each). */
export const DEFAULT_RECORD_MEMO_ORDERS: number = DEFAULTS.thread.recordMemoOrders;
/** Bytes a RecordMemo charges for its lists, at most (the lists and every order they refer to). */
export const DEFAULT_RECORD_MEMO_BYTES: number = DEFAULTS.thread.recordMemoBytes;

// The estimate's layout (V8 on 64-bit, no pointer compression, as Node 20 ships): a plain object
// is a header of 3 words (map, properties, elements) and one word per property; an array is 4
// words (and length) plus a backing store of 2 words and one per element; a string 16 bytes and
// its characters (one byte each for Latin-1, two otherwise) rounded to 8; a number that is not a
// small integer a 16-byte HeapNumber; true, false, null and small integers nothing.
const kWord = 8;
const kObjectHeader = 3 * kWord;
const kArrayHeader = 4 * kWord + 2 * kWord;
const kStringHeader = 16;
const kHeapNumber = 16;
const kSmiMax = 2 ** 31 - 1;

/** Estimated JS heap bytes of a string (its characters, one byte each if they are all Latin-1). */
function stringBytes(s: string): number {
  let wide = false;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) {
      wide = true;
      break;
    }
  }
  return kStringHeader + ((((wide ? 2 : 1) * s.length) + 7) & ~7);
}

function valueBytes(v: unknown): number {
  if (typeof v === 'string') return stringBytes(v);
  if (typeof v === 'number') return Number.isInteger(v) && v >= -kSmiMax - 1 && v <= kSmiMax ? 0 : kHeapNumber;
  return 0;
}

/** The estimate's walk; with `freeze`, every object and array in `v` is frozen on the way. */
function walkBytes(v: unknown, freeze: boolean): number {
  if (typeof v !== 'object' || v === null) return valueBytes(v);
  let b: number;
  if (Array.isArray(v)) {
    b = kArrayHeader + kWord * v.length;
    for (let i = 0; i < v.length; i++) b += walkBytes(v[i], freeze);
  } else {
    b = kObjectHeader;
    for (const k in v) b += kWord + walkBytes((v as Record<string, unknown>)[k], freeze);
  }
  if (freeze) Object.freeze(v);
  return b;
}

/**
 * Freezes a freshly decoded value and everything in it (plain objects and arrays only) and
 * returns its estimated JS heap bytes (the layout above; property names are not counted: a
 * decoded object's keys are the shape's interned strings, shared).
 */
export function freezeAndSize(v: unknown): number {
  return walkBytes(v, true);
}

/** Freezes a freshly decoded value and everything in it (plain objects and arrays only). */
export function deepFreeze<T>(v: T): T {
  walkBytes(v, true);
  return v;
}

/** The estimated JS heap bytes of a value (freezeAndSize without the freeze). */
export function heapBytesOf(v: unknown): number {
  return walkBytes(v, false);
}

/** A Map entry's own cost (the entry object and its slots in the Map's table), charged per entry. */
const kEntryBytes = 96;

/**
 * This thread's decoded orders and their estimated heap bytes (put by OrderCache.put), so that a
 * RecordMemo list is charged what its orders hold without walking them again. Weak: an order
 * neither cache holds any more is collected, its entry with it.
 */
const sizes = new WeakMap<object, number>();

/** The estimated JS heap bytes of an order (as cached by this thread, else walked). */
export function orderBytes(o: unknown): number {
  return (typeof o === 'object' && o !== null ? sizes.get(o) : undefined) ?? heapBytesOf(o);
}

export class OrderCache {
  readonly #map = new Map<number, CachedChunk>();
  readonly #cap: number;
  readonly #maxBytes: number;
  #bytes = 0;
  #encoded = 0;
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

  /** Estimated JS heap bytes held: the orders (heapBytesOf) and the entries; at most maxBytes after any put. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Encoded bytes of the orders held. */
  get encodedBytes(): number {
    return this.#encoded;
  }

  get maxBytes(): number {
    return this.#maxBytes;
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

  /**
   * Caches a freshly decoded value of chunk (off, stamp), `encoded` bytes long; deep-freezes it and
   * returns it. A value larger than the whole budget is frozen and returned, not kept.
   */
  put(off: number, stamp: number, value: unknown, encoded: number): unknown {
    const size = freezeAndSize(value);
    if (typeof value === 'object' && value !== null) sizes.set(value, size);
    const bytes = size + kEntryBytes;
    const had = this.#map.get(off);
    if (had !== undefined) {
      this.#bytes -= had.bytes;
      this.#encoded -= had.encoded;
      this.#map.delete(off);
    }
    this.misses++;
    if (bytes > this.#maxBytes) return value;
    this.#map.set(off, { off, stamp, value, bytes, encoded, tick: ++this.#tick });
    this.#bytes += bytes;
    this.#encoded += encoded;
    if (this.#map.size > this.#cap || this.#bytes > this.#maxBytes) this.#shrink();
    return value;
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
    this.#encoded = 0;
  }

  #shrink(): void {
    const n = this.#cap - (this.#cap >> 3);
    const b = this.#maxBytes - (this.#maxBytes >> 3);
    for (const [k, e] of this.#map) {
      if (this.#map.size <= n && this.#bytes <= b) break;
      this.#map.delete(k);
      this.#bytes -= e.bytes;
      this.#encoded -= e.encoded;
    }
  }
}

interface MemoEntry {
  stamp: number;
  orders: readonly unknown[];
  bytes: number;
}

/**
 * The per-thread memo of whole order lists, keyed by record version: (record block, stamp) ->
 * the frozen orders of that version, in order. A read of a version seen before copies the list
 * (one slice, no per-order lookup); a save whose orders are that list plus new ones reuses the
 * chunks by identity (one compare per order at the same index). Filled by reads only.
 *
 * A list keeps its orders alive after the OrderCache dropped them, so it is charged what it can
 * hold (issue 11's soak: up to 2^18 order references kept 100-300 MiB of decoded orders alive
 * over three workers): its entry and array, and the estimated heap bytes of every order in it
 * (orderBytes; an order shared by several lists, or with the OrderCache, is charged in each: an
 * upper bound). Capped in lists, in order references (DEFAULT_RECORD_MEMO_ORDERS) and in those
 * bytes (DEFAULT_RECORD_MEMO_BYTES); same eviction as OrderCache. So the two caches of a thread
 * hold at most orderCacheBytes + recordMemoBytes of orders, whatever the positions' lengths.
 */
export class RecordMemo {
  /** Where the record this thread's last getOpenHead read is (LastHead, below). */
  readonly head = new LastHead();
  readonly #map = new Map<number, MemoEntry>();
  readonly #cap: number;
  readonly #maxOrders: number;
  readonly #maxBytes: number;
  #orders = 0;
  #bytes = 0;
  hits = 0;

  /** cap 0 disables the memo (then saves re-encode every order: for measurements). */
  constructor(cap = DEFAULT_RECORD_MEMO_SIZE, maxOrders = DEFAULT_RECORD_MEMO_ORDERS, maxBytes = DEFAULT_RECORD_MEMO_BYTES) {
    this.#cap = Math.max(0, cap);
    this.#maxOrders = Math.max(1, maxOrders);
    this.#maxBytes = Math.max(4096, maxBytes);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Bytes charged for the lists held (see the class comment); at most maxBytes after any put. */
  get bytes(): number {
    return this.#bytes;
  }

  get maxBytes(): number {
    return this.#maxBytes;
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
    if (this.#cap === 0) return;
    const had = this.#map.get(ref);
    if (had !== undefined) {
      this.#orders -= had.orders.length;
      this.#bytes -= had.bytes;
      this.#map.delete(ref);
    }
    if (orders.length > this.#maxOrders) return;
    let bytes = kEntryBytes + kArrayHeader + kWord * orders.length;
    for (let k = 0; k < orders.length && bytes <= this.#maxBytes; k++) bytes += orderBytes(orders[k]);
    if (bytes > this.#maxBytes) return;
    this.#map.set(ref, { stamp, orders, bytes });
    this.#orders += orders.length;
    this.#bytes += bytes;
    if (this.#map.size <= this.#cap && this.#orders <= this.#maxOrders && this.#bytes <= this.#maxBytes) return;
    const n = this.#cap - Math.max(1, this.#cap >> 3);
    const m = this.#maxOrders - (this.#maxOrders >> 3);
    const b = this.#maxBytes - (this.#maxBytes >> 3);
    for (const [k, e] of this.#map) {
      if (this.#map.size <= n && this.#orders <= m && this.#bytes <= b) break;
      this.#map.delete(k);
      this.#orders -= e.orders.length;
      this.#bytes -= e.bytes;
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
