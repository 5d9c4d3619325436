/**
 * A thread's memo of key hashes for one table (hash() is pure: the seeded hash of hash.ts). A
 * hotkey of 48 characters and a uuid cost a SipHash-like pass over 84 characters, several per
 * order; the memo costs two Map lookups (V8 caches a string's own hash). At most
 * kHashMemoEntries keys, then it starts over (bounded in bytes: keys are at most 256 characters).
 * Thread-private; no shared memory.
 */
import { type HashKey, hashPair, hashString } from '../hash/hash.ts';

/** Keys whose hash one memo remembers, at most. */
const kHashMemoEntries = 4096;

export class KeyHashes {
  readonly #key: HashKey;
  readonly #memo1 = new Map<string, number>();
  readonly #memo2 = new Map<string, Map<string, number>>();
  #entries = 0;

  constructor(key: HashKey) {
    this.#key = key;
  }

  hash(a: string, b?: string): number {
    if (b === undefined) {
      let h = this.#memo1.get(a);
      if (h === undefined) {
        h = hashString(this.#key, a) | 0;
        this.#memoize();
        this.#memo1.set(a, h);
      }
      return h;
    }
    let m = this.#memo2.get(a);
    let h = m?.get(b);
    if (h === undefined) {
      h = hashPair(this.#key, a, b) | 0;
      this.#memoize();
      m = this.#memo2.get(a);
      if (m === undefined) this.#memo2.set(a, (m = new Map()));
      m.set(b, h);
    }
    return h;
  }

  #memoize(): void {
    if (++this.#entries <= kHashMemoEntries) return;
    this.#memo1.clear();
    this.#memo2.clear();
    this.#entries = 1;
  }
}
