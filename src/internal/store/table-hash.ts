/**
 * A thread's memo of key hashes for one table (hash() is pure: the seeded hash of hash.ts). A
 * hotkey of 48 characters and a uuid cost a SipHash-like pass over 84 characters (about 0.8 µs),
 * several per order; the memo costs two Map lookups (V8 caches a string's own hash).
 *
 * Two generations, so that the keys in use survive when the memo is full: a key is looked up in
 * the young generation, then in the old one (a hit there is copied into the young one); a miss
 * is hashed and remembered in the young one. When the young generation holds kGenEntries keys
 * or kGenUnits UTF-16 units of key text, it becomes the old one and the old one is dropped. So
 * the memo holds at most 2 x kGenEntries keys and 2 x kGenUnits units of key text (bounded in
 * bytes: at most 4 MiB of key text and 32,768 Map entries per table and thread), and a working
 * set up to kGenEntries keys (the validator's 256 hotkeys x 51 trade pairs: 13,056) is answered
 * from it after its first pass. The one generation it replaces started over past 4,096 keys: a
 * working set larger than that (the benchmark's 256 x 28 open keys) missed most of the time, and
 * a miss cost more than no memo (1.1 µs against 0.8 µs per hash).
 * Thread-private; no shared memory.
 */
import { type HashKey, hashPair, hashString } from '../hash/hash.ts';

/** Keys one generation holds, at most. */
export const kGenEntries = 16384;
/** UTF-16 units of key text one generation holds, at most (2 MiB of text: 1 Mi units). */
export const kGenUnits = 1 << 20;

export class KeyHashes {
  readonly #key: HashKey;
  #young1 = new Map<string, number>();
  #old1 = new Map<string, number>();
  #young2 = new Map<string, Map<string, number>>();
  #old2 = new Map<string, Map<string, number>>();
  #entries = 0;
  #units = 0;
  /** Hashes computed (memo misses), for tests and diagnostics. */
  misses = 0;

  constructor(key: HashKey) {
    this.#key = key;
  }

  hash(a: string, b?: string): number {
    if (b === undefined) {
      let h = this.#young1.get(a);
      if (h !== undefined) return h;
      h = this.#old1.get(a);
      if (h === undefined) {
        h = hashString(this.#key, a) | 0;
        this.misses++;
      }
      this.#count(a.length);
      this.#young1.set(a, h);
      return h;
    }
    let h = this.#young2.get(a)?.get(b);
    if (h !== undefined) return h;
    h = this.#old2.get(a)?.get(b);
    if (h === undefined) {
      h = hashPair(this.#key, a, b) | 0;
      this.misses++;
    }
    this.#count(a.length + b.length);
    let m = this.#young2.get(a);
    if (m === undefined) this.#young2.set(a, (m = new Map()));
    m.set(b, h);
    return h;
  }

  /** Keys and units of key text held now (both generations). */
  held(): { entries: number; units: number } {
    let entries = this.#young1.size + this.#old1.size;
    let units = 0;
    for (const k of this.#young1.keys()) units += k.length;
    for (const k of this.#old1.keys()) units += k.length;
    for (const g of [this.#young2, this.#old2]) {
      for (const [a, m] of g) {
        entries += m.size;
        for (const b of m.keys()) units += a.length + b.length;
      }
    }
    return { entries, units };
  }

  /** Counts one key about to enter the young generation; first turns it old if it is full. */
  #count(units: number): void {
    if (this.#entries + 1 <= kGenEntries && this.#units + units <= kGenUnits) {
      this.#entries++;
      this.#units += units;
      return;
    }
    this.#old1 = this.#young1;
    this.#old2 = this.#young2;
    this.#young1 = new Map();
    this.#young2 = new Map();
    this.#entries = 1;
    this.#units = units;
  }
}
