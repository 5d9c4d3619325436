// Test-only: the queue algorithm sabstate's ring used before it became a two-lock ring (Vyukov's
// bounded MPMC queue, per-slot sequence numbers), reduced to Int32 messages, with a hook called
// between each claiming CAS and the publishing / releasing store. The linearizability test runs it
// with stalls injected there to show that the checker catches its "full" and "empty" answers
// given while a peer is stalled mid-operation (issue 9, finding 11). Not a queue to use.
//
// Layout (Int32): [0] tail, [32] head, then per slot at 64 + 2 * i: seq, value.

const kTail = 0, kHead = 32, kSlots = 64;

export function createVyukov(capacity: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer((kSlots + 2 * capacity) * 4);
  const a = new Int32Array(sab);
  for (let i = 0; i < capacity; i++) a[kSlots + 2 * i] = i;
  return sab;
}

export class Vyukov {
  #a: Int32Array;
  #cap: number;
  constructor(sab: SharedArrayBuffer, capacity: number, readonly stall: () => void = () => {}) {
    this.#a = new Int32Array(sab);
    this.#cap = capacity;
  }

  get size(): number {
    const n = Atomics.load(this.#a, kTail) - Atomics.load(this.#a, kHead);
    return n < 0 ? 0 : n > this.#cap ? this.#cap : n;
  }

  push(v: number): boolean {
    const a = this.#a;
    let pos = Atomics.load(a, kTail);
    for (;;) {
      const slot = kSlots + 2 * (pos & (this.#cap - 1));
      const dif = Atomics.load(a, slot) - pos;
      if (dif === 0) {
        const seen = Atomics.compareExchange(a, kTail, pos, pos + 1);
        if (seen === pos) {
          this.stall();
          a[slot + 1] = v;
          Atomics.store(a, slot, pos + 1);
          return true;
        }
        pos = seen;
      } else if (dif < 0) {
        return false; // "full": the slot a lap back is not released yet
      } else {
        pos = Atomics.load(a, kTail);
      }
    }
  }

  pop(): number | undefined {
    const a = this.#a;
    let pos = Atomics.load(a, kHead);
    for (;;) {
      const slot = kSlots + 2 * (pos & (this.#cap - 1));
      const dif = Atomics.load(a, slot) - (pos + 1);
      if (dif === 0) {
        const seen = Atomics.compareExchange(a, kHead, pos, pos + 1);
        if (seen === pos) {
          this.stall();
          const v = a[slot + 1]!;
          Atomics.store(a, slot, pos + this.#cap);
          return v;
        }
        pos = seen;
      } else if (dif < 0) {
        return undefined; // "empty": the head slot is not published yet
      } else {
        pos = Atomics.load(a, kHead);
      }
    }
  }
}
