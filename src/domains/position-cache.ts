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
 * The reverse map (WeakMap order object -> chunk) lets `save` recognize an order that came
 * from this cache and keep its chunk instead of encoding it again; save checks that the chunk
 * belongs to the version it replaces, so a chunk is only reused while it is alive.
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

export const DEFAULT_ORDER_CACHE_SIZE = 16384;

function deepFreeze(v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v)) deepFreeze(x);
}

export class OrderCache {
  readonly #map = new Map<number, CachedChunk>();
  readonly #weak = new WeakMap<object, CachedChunk>();
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
    deepFreeze(value);
    const e: CachedChunk = { off, stamp, value, tick: ++this.#tick };
    this.#map.delete(off);
    this.#map.set(off, e);
    if (typeof value === 'object' && value !== null) this.#weak.set(value, e);
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

  /** The chunk an order object was decoded from, if it came from this cache. */
  chunkOf(value: unknown): CachedChunk | undefined {
    return typeof value === 'object' && value !== null ? this.#weak.get(value) : undefined;
  }

  clear(): void {
    this.#map.clear();
  }
}
