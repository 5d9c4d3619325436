/**
 * A named bounded MPMC queue: Dmitry Vyukov's bounded MPMC queue (per-slot sequence numbers),
 * one SharedArrayBuffer region per queue, messages copied into the slots.
 *
 * Algorithm (Vyukov, "Bounded MPMC queue", 1024cores.net; crossbeam's `ArrayQueue` is the same
 * with stamps). Positions `tail` (next push) and `head` (next pop) only grow; slot `i = pos & mask`
 * carries a sequence number `seq`:
 *   seq == pos        the slot is free for the push at position pos
 *   seq == pos + 1    the slot holds the message pushed at pos, ready for the pop at pos
 *   seq == pos + cap  the pop at pos released it: free for the push at pos + cap (next lap)
 * push: read tail; if its slot's seq == tail, CAS tail -> tail + 1 claims the slot; write the
 *   payload; Atomics.store(seq, tail + 1) publishes it. seq < tail (a lap behind): full.
 * pop: read head; if its slot's seq == head + 1, CAS head -> head + 1 claims it; copy the payload
 *   out; Atomics.store(seq, head + cap) hands the slot back to producers. seq < head + 1: empty.
 * Positions and sequences are Int32 and wrap modulo 2^32; every comparison is the signed
 * difference `(a - b) | 0`, exact while |a - b| < 2^31 (capacity is at most 2^24). The capacity is
 * a power of two so that `pos & mask` stays right across the 2^32 wrap (2^32 is a multiple of it),
 * and at least 2 (with one slot "ready for the pop at pos" and "free for the push at pos + 1"
 * would be the same seq).
 *
 * "Full" and "empty" are Vyukov's: a push may see full while the consumer that claimed the oldest
 * slot is still copying it out, a pop may see empty while the producer that claimed the next slot
 * is still writing it. Both are momentary; when the queue is quiescent they are exact.
 *
 * Region (after the 128-byte header, whose params are [capacity, maxMessageBytes]):
 *
 * | slot          | line | written by              | how                 | publishes / meaning |
 * | ------------- | ---- | ----------------------- | ------------------- | ------------------- |
 * | kTail         | 1    | producers               | Atomics.compareExchange | claims a slot for a push |
 * | kTailWraps    | 1    | the producer moving tail -1 -> 0 | Atomics.add | pushes = wraps * 2^32 + tail (stats) |
 * | kFull         | 1    | producers refused       | Atomics.add         | stats only |
 * | kHead         | 2    | consumers               | Atomics.compareExchange | claims a slot for a pop |
 * | kHeadWraps    | 2    | the consumer moving head -1 -> 0 | Atomics.add | pops, as kTailWraps |
 * | kEmpty        | 2    | consumers finding none  | Atomics.add         | stats only |
 * | kWaiters      | 3    | consumers (slow path)   | Atomics.add / sub   | consumers announced before waiting |
 * | kSignal       | 3    | producers, if kWaiters > 0 | Atomics.add      | the futex word consumers wait on |
 * | kWaits        | 3    | consumers               | Atomics.add         | stats: blocking waits entered |
 * | slot + kSeq   | slot | producer, then consumer | Atomics.store       | publishes the payload (see above) |
 * | slot + kMeta  | slot | the claiming producer   | plain               | length * 4 + type tag, published by kSeq |
 * | slot payload  | slot | the claiming producer   | plain (Uint8Array.set) | published by kSeq |
 *
 * Ordering (every Atomics operation is sequentially consistent, one total order):
 * - The producer's plain writes of kMeta and the payload come before its Atomics.store of kSeq;
 *   the consumer reads kMeta and the payload only after its Atomics.load saw that kSeq value. The
 *   seq store publishes the payload; the order matters because a consumer may claim the slot the
 *   moment kSeq says ready.
 * - The consumer copies the payload out BEFORE its Atomics.store(kSeq, head + cap): after that
 *   store a producer may overwrite the slot.
 *
 * Waking consumers without a notify per push. A consumer that found the queue empty and wants to
 * wait does: (C1) Atomics.add(kWaiters, 1); then, in a loop, (C2) s = Atomics.load(kSignal);
 * (C3) try to pop; (C4) Atomics.wait(kSignal, s). A producer, after (P1) its kSeq store, does
 * (P2) Atomics.load(kWaiters) and only if it is > 0: (P3) Atomics.add(kSignal, 1) and
 * Atomics.notify(kSignal) (all waiters). No lost wakeup: if P2 precedes C1 in the total order, then
 * P1 < C1 < C3 and the pop at C3 sees the message (or another consumer took it). If C1 precedes
 * P2, the producer bumps kSignal: if that bump precedes C2, then P1 < C2 < C3 and C3 sees the
 * message; otherwise C4's Atomics.wait either finds kSignal != s and returns at once, or was
 * already asleep and is woken by the notify. Notify wakes ALL waiters: with "one" a consumer woken
 * for a message published behind a not-yet-published slot could fall asleep again while the later
 * producer's wake went to someone else, leaving a message behind a sleeping consumer.
 * A pending Atomics.waitAsync does not keep Node's event loop alive, so popAsync holds a ref'ed
 * interval while it waits and clears it after.
 */
import { ErrorCode, SabStateError } from '../errors.ts';
import { decodeValue, encodeValue } from './codec.ts';
import type { HashKey } from './hash.ts';
import { HEADER_BYTES, LINE_BYTES, LINE_INTS, RegionKind, alignLine, checkRegion, createRegion } from './region.ts';
import type { RegionSpec } from './region.ts';

// Int32 slots, one line per writer group (table above).
const kTail = LINE_INTS, kTailWraps = kTail + 1, kFull = kTail + 2;
const kHead = 2 * LINE_INTS, kHeadWraps = kHead + 1, kEmpty = kHead + 2;
const kWaiters = 3 * LINE_INTS, kSignal = kWaiters + 1, kWaits = kWaiters + 2;
/** Byte offset of slot 0; Int32 offsets inside a slot, and the payload's byte offset. */
const kSlotsByte = HEADER_BYTES + 3 * LINE_BYTES;
const kSeq = 0, kMeta = 1, kPayloadByte = 8;

/** Type tags kept in kMeta so that pop returns the kind that was pushed. */
const TAG_JSON = 0, TAG_STRING = 1, TAG_BYTES = 2;

/** Tries before a blocking pop announces itself and waits. */
const SPIN_TRIES = 64;
const EMPTY: unique symbol = Symbol('empty');
const SLAB_BYTES = 64 * 1024;
const SLAB_MAX_VIEW = 4096;
const TWO_32 = 2 ** 32;

/** Largest capacity and message size accepted (the region must fit in 2 GiB). */
export const RING_MAX_CAPACITY = 2 ** 24;
export const RING_MAX_MESSAGE_BYTES = 2 ** 24;
export const RING_MAX_BYTES = 2 ** 31;

/**
 * A message: any JSON value, a string, or bytes (a Uint8Array, Buffer included). pop returns the
 * same kind: a fresh object, a string, or a Uint8Array of its own (a view that may have a
 * byteOffset: small ones share a private slab, like Buffer's pool).
 */
export type RingMessage = unknown;

export interface PopOptions {
  /** 0 (pop's default): do not wait; Infinity (popAsync's default): wait until a message comes. */
  timeoutMs?: number;
}

/**
 * pushes / pops: from the positions and their wrap counts (exact when quiescent; for a moment
 * after a 2^32 wrap, until its wrap count is bumped, 2^32 short); full: refused pushes; empty:
 * pops that returned undefined; waits: blocking waits entered by consumers.
 */
export interface RingStats {
  capacity: number; maxMessageBytes: number; size: number;
  pushes: number; pops: number; full: number; empty: number; waits: number;
}

/** Bytes of one slot: seq, meta, payload, rounded to whole lines (no false sharing of slots). */
export function ringSlotBytes(maxMessageBytes: number): number {
  return alignLine(kPayloadByte + maxMessageBytes);
}

/** Bytes of a ring region. */
export function ringRegionBytes(capacity: number, maxMessageBytes: number): number {
  return kSlotsByte + capacity * ringSlotBytes(maxMessageBytes);
}

export function ringSpec(key: HashKey, capacity: number, maxMessageBytes: number): RegionSpec {
  return { kind: RegionKind.RING, key, params: [capacity, maxMessageBytes] };
}

/** Allocates and initialises a ring region (capacity: a power of two; callers checked sizes). */
export function createRingRegion(key: HashKey, capacity: number, maxMessageBytes: number): SharedArrayBuffer {
  const sab = createRegion(ringSpec(key, capacity, maxMessageBytes), ringRegionBytes(capacity, maxMessageBytes));
  const i32 = new Int32Array(sab);
  const stride = ringSlotBytes(maxMessageBytes) >> 2;
  // Plain writes before the buffer is shared (see region.ts): slot i is free for the push at i.
  for (let i = 0; i < capacity; i++) i32[(kSlotsByte >> 2) + i * stride + kSeq] = i;
  return sab;
}

function badTimeout(t: unknown): SabStateError | undefined {
  if (typeof t === 'number' && t >= 0) return undefined;
  return new SabStateError(ErrorCode.INVALID_VALUE, `timeoutMs must be a non-negative number, got ${String(t)}`);
}

export class Ring {
  readonly name: string;
  readonly capacity: number;
  readonly maxMessageBytes: number;
  #i32: Int32Array;
  #u8: Uint8Array;
  /** capacity - 1, and the slot stride in Int32 units. */
  #mask: number;
  #stride: number;
  /** Private (non-shared) buffer: strings are encoded here, payloads copied out here. */
  #scratch: Uint8Array;
  /** Private slab that popped bytes messages are views of (see #bytesOut). */
  #slab = new ArrayBuffer(SLAB_BYTES);
  #slabOff = 0;
  /** Position claimed by the last #claimPush. */
  #pushPos = 0;
  #enc = new TextEncoder();
  #dec = new TextDecoder();

  /** Attaches to a ring region; throws ERR_LAYOUT_MISMATCH unless it is exactly this ring. */
  constructor(sab: unknown, key: HashKey, name: string, capacity: number, maxMessageBytes: number) {
    const region = checkRegion(sab, ringSpec(key, capacity, maxMessageBytes), `queue ${JSON.stringify(name)}`);
    if (region.byteLength !== ringRegionBytes(capacity, maxMessageBytes)) {
      throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `queue ${JSON.stringify(name)}: region of ${region.byteLength} bytes`);
    }
    this.name = name;
    this.capacity = capacity;
    this.maxMessageBytes = maxMessageBytes;
    this.#i32 = new Int32Array(region);
    this.#u8 = new Uint8Array(region);
    this.#mask = capacity - 1;
    this.#stride = ringSlotBytes(maxMessageBytes) >> 2;
    this.#scratch = new Uint8Array(maxMessageBytes);
  }

  /** Messages in the queue: approximate under concurrency, exact when quiescent. */
  get size(): number {
    const n = (Atomics.load(this.#i32, kTail) - Atomics.load(this.#i32, kHead)) | 0;
    return n < 0 ? 0 : n > this.capacity ? this.capacity : n;
  }

  /**
   * Pushes a message; false when the queue is full (state unchanged). Throws ERR_VALUE_TOO_LARGE
   * when its encoding exceeds maxMessageBytes, ERR_INVALID_VALUE when it is not JSON, a string or
   * bytes; both before touching the queue.
   */
  push(msg: RingMessage): boolean {
    let bytes: Uint8Array;
    let tag: number;
    if (typeof msg === 'string' && msg.isWellFormed()) {
      // Strings go as UTF-8; ill-formed ones (lone surrogates) go through the JSON codec, which
      // keeps them.
      const r = this.#enc.encodeInto(msg, this.#scratch);
      if (r.read < msg.length) this.#tooLarge(`a string of length ${msg.length}`);
      bytes = this.#scratch.subarray(0, r.written);
      tag = TAG_STRING;
    } else if (msg instanceof Uint8Array) {
      bytes = msg;
      tag = TAG_BYTES;
    } else {
      bytes = encodeValue(msg); // may alias the codec's scratch: copied below before any encode
      tag = TAG_JSON;
    }
    if (bytes.length > this.maxMessageBytes) this.#tooLarge(`a message of ${bytes.length} bytes`);
    const slot = this.#claimPush();
    if (slot < 0) return false;
    const i32 = this.#i32;
    i32[slot + kMeta] = bytes.length * 4 + tag;
    this.#u8.set(bytes, slot * 4 + kPayloadByte);
    // Publish: the plain writes above become visible to the consumer that loads this seq.
    Atomics.store(i32, slot + kSeq, (this.#pushPos + 1) | 0);
    if (Atomics.load(i32, kWaiters) !== 0) this.#wake();
    return true;
  }

  /** Pops a message; undefined when empty after timeoutMs (default 0: no wait). */
  pop(options?: PopOptions): RingMessage | undefined {
    const t = options?.timeoutMs;
    const bad = t === undefined ? undefined : badTimeout(t);
    if (bad) throw bad;
    const v = this.#tryPop();
    if (v !== EMPTY) return v;
    if (t === undefined || t === 0) return this.#empty();
    return this.#popSlow(t);
  }

  /** Pops a message, waiting with Atomics.waitAsync (never blocks the thread); default no timeout. */
  popAsync(options?: PopOptions): Promise<RingMessage | undefined> {
    const t = options?.timeoutMs ?? Infinity;
    const bad = badTimeout(t);
    if (bad) return Promise.reject(bad);
    const v = this.#tryPop();
    if (v !== EMPTY) return Promise.resolve(v);
    if (t === 0) return Promise.resolve(this.#empty());
    return this.#popAsyncSlow(t);
  }

  stats(): RingStats {
    const a = this.#i32;
    const count = (wraps: number, pos: number): number => Atomics.load(a, wraps) * TWO_32 + (Atomics.load(a, pos) >>> 0);
    const { capacity, maxMessageBytes, size } = this;
    const [full, empty, waits] = [kFull, kEmpty, kWaits].map((k) => Atomics.load(a, k) >>> 0) as [number, number, number];
    return { capacity, maxMessageBytes, size, pushes: count(kTailWraps, kTail), pops: count(kHeadWraps, kHead), full, empty, waits };
  }

  // ---- fast path ---------------------------------------------------------------------------

  /** Claims the slot of the next push: its Int32 index, or -1 when full. */
  #claimPush(): number {
    const i32 = this.#i32;
    let pos = Atomics.load(i32, kTail);
    for (;;) {
      const slot = (kSlotsByte >> 2) + (pos & this.#mask) * this.#stride;
      const dif = (Atomics.load(i32, slot + kSeq) - pos) | 0;
      if (dif === 0) {
        const seen = Atomics.compareExchange(i32, kTail, pos, (pos + 1) | 0);
        if (seen === pos) {
          if (pos === -1) Atomics.add(i32, kTailWraps, 1);
          this.#pushPos = pos;
          return slot;
        }
        pos = seen;
      } else if (dif < 0) {
        Atomics.add(i32, kFull, 1);
        return -1;
      } else {
        pos = Atomics.load(i32, kTail);
      }
    }
  }

  /** One pop attempt: the message, or EMPTY. */
  #tryPop(): RingMessage | typeof EMPTY {
    const i32 = this.#i32;
    let pos = Atomics.load(i32, kHead);
    let slot: number;
    for (;;) {
      slot = (kSlotsByte >> 2) + (pos & this.#mask) * this.#stride;
      const dif = (Atomics.load(i32, slot + kSeq) - ((pos + 1) | 0)) | 0;
      if (dif === 0) {
        const seen = Atomics.compareExchange(i32, kHead, pos, (pos + 1) | 0);
        if (seen === pos) break;
        pos = seen;
      } else if (dif < 0) {
        return EMPTY;
      } else {
        pos = Atomics.load(i32, kHead);
      }
    }
    if (pos === -1) Atomics.add(i32, kHeadWraps, 1);
    // Copy out first (the kSeq load above made the producer's writes visible), then release.
    const meta = i32[slot + kMeta]!;
    const len = meta >>> 2;
    const tag = meta & 3;
    const from = slot * 4 + kPayloadByte;
    const out = tag === TAG_BYTES ? this.#bytesOut(len) : this.#scratch;
    out.set(this.#u8.subarray(from, from + len));
    Atomics.store(i32, slot + kSeq, (pos + this.capacity) | 0);
    if (tag === TAG_BYTES) return out;
    const view = out.subarray(0, len);
    return tag === TAG_STRING ? this.#dec.decode(view) : decodeValue(view);
  }

  /**
   * A fresh view for a popped bytes message. Small ones are carved out of a private 64 KB slab
   * (as Node's Buffer pool does): allocating an ArrayBuffer per message costs about 2 µs, a view
   * about 30 ns. The view has a byteOffset (aligned to 8); the slab lives while a view does.
   */
  #bytesOut(len: number): Uint8Array {
    if (len > SLAB_MAX_VIEW) return new Uint8Array(len);
    if (this.#slabOff + len > SLAB_BYTES) {
      this.#slab = new ArrayBuffer(SLAB_BYTES);
      this.#slabOff = 0;
    }
    const view = new Uint8Array(this.#slab, this.#slabOff, len);
    this.#slabOff = (this.#slabOff + len + 7) & ~7;
    return view;
  }

  #empty(): undefined {
    Atomics.add(this.#i32, kEmpty, 1);
    return undefined;
  }

  #tooLarge(what: string): never {
    throw new SabStateError(
      ErrorCode.VALUE_TOO_LARGE,
      `queue ${JSON.stringify(this.name)}: ${what} exceeds maxMessageBytes ${this.maxMessageBytes}`,
    );
  }

  // ---- slow path ---------------------------------------------------------------------------

  /** Producer side of the wakeup protocol (P3): bump the futex word, wake every waiter. */
  #wake(): void {
    Atomics.add(this.#i32, kSignal, 1);
    Atomics.notify(this.#i32, kSignal);
  }

  #popSlow(timeoutMs: number): RingMessage | undefined {
    for (let i = 0; i < SPIN_TRIES; i++) {
      const v = this.#tryPop();
      if (v !== EMPTY) return v;
    }
    const i32 = this.#i32;
    const deadline = performance.now() + timeoutMs;
    Atomics.add(i32, kWaiters, 1); // C1
    try {
      for (;;) {
        const s = Atomics.load(i32, kSignal); // C2
        const v = this.#tryPop(); // C3
        if (v !== EMPTY) return v;
        const left = deadline - performance.now();
        if (left <= 0) return this.#empty();
        Atomics.add(i32, kWaits, 1);
        Atomics.wait(i32, kSignal, s, left); // C4
      }
    } finally {
      Atomics.sub(i32, kWaiters, 1);
    }
  }

  async #popAsyncSlow(timeoutMs: number): Promise<RingMessage | undefined> {
    const i32 = this.#i32;
    const deadline = performance.now() + timeoutMs;
    // Keeps the event loop alive while waiting: a pending waitAsync alone does not.
    const keepAlive = setInterval(() => {}, 1 << 30);
    Atomics.add(i32, kWaiters, 1); // C1
    try {
      for (;;) {
        const s = Atomics.load(i32, kSignal); // C2
        const v = this.#tryPop(); // C3
        if (v !== EMPTY) return v;
        const left = deadline - performance.now();
        if (left <= 0) return this.#empty();
        Atomics.add(i32, kWaits, 1);
        const r = Atomics.waitAsync(i32, kSignal, s, left); // C4
        if (r.async) await r.value;
      }
    } finally {
      Atomics.sub(i32, kWaiters, 1);
      clearInterval(keepAlive);
    }
  }
}

/** @internal Tests only: moves a fresh, unshared ring's head and tail to `pos` (to test the 2^32 wrap). */
export function ringStartAtForTest(sab: SharedArrayBuffer, capacity: number, maxMessageBytes: number, pos: number): void {
  const i32 = new Int32Array(sab);
  const stride = ringSlotBytes(maxMessageBytes) >> 2;
  i32[kTail] = pos | 0;
  i32[kHead] = pos | 0;
  for (let k = 0; k < capacity; k++) {
    const p = (pos + k) | 0;
    i32[(kSlotsByte >> 2) + (p & (capacity - 1)) * stride + kSeq] = p;
  }
}
