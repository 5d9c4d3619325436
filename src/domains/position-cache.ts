/**
 * The per-thread cache of decoded orders, keyed by the chunk that holds each order.
 *
 * A position's orders are stored as immutable chunks (heap blocks, position-record.ts), each
 * named by (offset, stamp): the heap bumps a block's stamp on every allocation, so the pair
 * names one allocation and its bytes never change while it is allocated. A decoded order can
 * therefore be kept per thread and handed out again whenever a validated record refers to the
 * same (offset, stamp): iterating the orders of a 100-order position costs 100 Map lookups,
 * not 100 decodes. The objects are deep-frozen (shared between every caller of this thread).
 *
 * Eviction: insertion-ordered Map with a size cap; an entry that is hit after more than half
 * the cap of newer insertions moves to the back (a cheap approximate LRU: hits on fresh entries
 * cost no Map write). When the cap is passed, the oldest eighth is dropped. One entry per
 * offset: a new stamp at the same offset replaces the old entry, so no stale entry can be hit.
 */

export interface CachedChunk {
  readonly off: number;
  readonly stamp: number;
  readonly value: unknown;
  tick: number;
}

export const DEFAULT_ORDER_CACHE_SIZE = 32768;
export const DEFAULT_RECORD_MEMO_SIZE = 8192;

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

/**
 * A frozen deep copy of a JSON value that the codec has just encoded (so: plain objects, arrays,
 * finite numbers, strings, booleans, null). It equals what decoding its bytes would give, for a
 * fraction of the cost: key order kept, undefined properties dropped (as the codec drops them),
 * "__proto__" kept as an own key (defineProperty, never a prototype change), -0 kept.
 */
export function frozenCopy<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const a = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) a[i] = frozenCopy(v[i]);
    return Object.freeze(a) as T;
  }
  const o: Record<string, unknown> = {};
  const src = v as Record<string, unknown>;
  for (const k of Object.keys(src)) {
    const x = src[k];
    if (x === undefined) continue;
    if (k === '__proto__') Object.defineProperty(o, k, { value: frozenCopy(x), enumerable: true, writable: true, configurable: true });
    else o[k] = frozenCopy(x);
  }
  return Object.freeze(o) as T;
}

export class OrderCache {
  readonly #map = new Map<number, CachedChunk>();
  readonly #cap: number;
  #tick = 0;
  hits = 0;
  misses = 0;

  constructor(cap = DEFAULT_ORDER_CACHE_SIZE) {
    this.#cap = Math.max(16, cap);
  }

  get size(): number {
    return this.#map.size;
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

  /** Caches a freshly decoded value of chunk (off, stamp); deep-freezes it and returns it. */
  put(off: number, stamp: number, value: unknown): unknown {
    const e: CachedChunk = { off, stamp, value, tick: ++this.#tick };
    deepFreeze(value);
    this.#map.delete(off);
    this.#map.set(off, e);
    this.misses++;
    if (this.#map.size > this.#cap) {
      let drop = this.#cap >> 3;
      for (const k of this.#map.keys()) {
        this.#map.delete(k);
        if (--drop <= 0) break;
      }
    }
    return value;
  }

  /**
   * Caches a value that is already deep-frozen (a frozenCopy of an order this thread has just
   * written into chunk (off, stamp)): no freeze walk, not counted as a miss.
   */
  keep(off: number, stamp: number, value: unknown): void {
    const e: CachedChunk = { off, stamp, value, tick: ++this.#tick };
    this.#map.delete(off);
    this.#map.set(off, e);
    if (this.#map.size > this.#cap) {
      let drop = this.#cap >> 3;
      for (const k of this.#map.keys()) {
        this.#map.delete(k);
        if (--drop <= 0) break;
      }
    }
  }

  clear(): void {
    this.#map.clear();
  }
}

/**
 * The per-thread memo of whole order lists, keyed by record version: (record block, stamp) ->
 * the frozen orders of that version, in order. A read of a version seen before copies the list
 * (one slice, no per-order lookup); a save whose orders are that list plus new ones reuses the
 * chunks by identity (one compare per order at the same index). Filled by reads, and by
 * saves that add at most a couple of orders (position-write.ts). Same eviction as OrderCache.
 */
export class RecordMemo {
  readonly #map = new Map<number, { stamp: number; orders: readonly unknown[] }>();
  readonly #cap: number;
  hits = 0;

  /** cap 0 disables the memo (then saves re-encode every order: for measurements). */
  constructor(cap = DEFAULT_RECORD_MEMO_SIZE) {
    this.#cap = Math.max(0, cap);
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
    if (this.#cap === 0) return;
    this.#map.delete(ref);
    this.#map.set(ref, { stamp, orders });
    if (this.#map.size > this.#cap) {
      let drop = Math.max(1, this.#cap >> 3);
      for (const k of this.#map.keys()) {
        this.#map.delete(k);
        if (--drop <= 0) break;
      }
    }
  }
}
