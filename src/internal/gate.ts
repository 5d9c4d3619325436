/**
 * The sync gate: an epoch plus an in-progress flag, and guarded writes that land only if no sync
 * is in progress and the epoch is the one the writer read.
 *
 * It replaces the Python validator's `sync_in_progress` flag and `sync_epoch` value, where a save
 * checked the flag and the epoch, then wrote: a sync that began between the check and the write
 * let a stale save land. Here the check and the write are ordered against `begin()` by an
 * "active writers" count (a reader-side announcement, like a SRCU / rwlock read count):
 *
 *   guard(ifEpoch, fn):                      begin():
 *     G1 Atomics.add(kActive, 1)                B1 CAS kState -> (epoch + 1, in progress)
 *     G2 s = Atomics.load(kState)               B2 Atomics.add(kBeginWaiting, 1)
 *        s != (ifEpoch, idle): G4, throw        B3 loop: a = Atomics.load(kActive);
 *     G3 fn()                                        a == 0: done; else Atomics.wait(kActive, a)
 *     G4 Atomics.sub(kActive, 1); if it was 1   B4 Atomics.sub(kBeginWaiting, 1); return epoch + 1
 *        and Atomics.load(kBeginWaiting) > 0:
 *        Atomics.notify(kActive)
 *
 * Why a guarded write either completes before begin() returns or is refused. Every Atomics
 * operation is sequentially consistent: all of G1..G4 and B1..B4 of all threads sit in one total
 * order. Take a guard and a begin. If B1 precedes G2, G2 reads the in-progress state (or, after
 * end(), a newer epoch than ifEpoch, since epochs only grow) and the write is refused. Otherwise
 * G1 < G2 < B1 < every load of B3, and kActive counts this guard from G1 until its G4; so every
 * B3 load before G4 sees a >= 1, and the load that lets begin() return comes after G4, which comes
 * after fn (G3) in the guard's own thread. So fn is complete when begin() returns.
 * No lost wakeup for begin(): only the G4 that brings kActive to 0 notifies. If its load of
 * kBeginWaiting precedes B2, then it precedes B3's loads, which read 0 (or a newer guard, which
 * will notify in turn). If B2 precedes it, the notify comes: either begin() is asleep and wakes,
 * or B3's Atomics.wait(kActive, a) with a != 0 finds kActive != a and returns at once.
 * Nested guard() calls on one thread only add to kActive and never wait: no deadlock. begin()
 * inside a guarded fn on the same thread would wait for itself, so it throws instead.
 * fn must be synchronous: its writes must be done when it returns.
 *
 * Region (RegionKind.GATE, params [1]):
 *
 * | slot          | line | written by                | how                     | meaning |
 * | ------------- | ---- | ------------------------- | ----------------------- | ------- |
 * | kState        | 1    | begin(), end()            | Atomics.compareExchange / and | epoch * 2 + inProgress |
 * | kBeginWaiting | 1    | begin()                   | Atomics.add / sub       | a begin() waits in B3 |
 * | kRefused      | 1    | refused guards            | Atomics.add             | stats only |
 * | kActive       | 2    | every guard               | Atomics.add / sub       | guarded writes in flight |
 *
 * Recovery of a dead writer: a worker terminated inside fn never runs G4, so its guard would
 * stay counted in kActive and every later begin() would wait (until its timeoutMs). So each
 * thread also counts its own guards in flight in a slot of its own (kSlots: up to kSlotCount
 * threads, each slot on its own line; the thread claims one by CAS of its tag on first use).
 * G1 and G4 add / subtract on the slot too (the slot after kActive in G1, before it in G4, so
 * the slot never counts more than the thread's share of kActive: recovery can never drive
 * kActive below the guards really in flight; a thread killed between the two adds leaves one
 * guard unrecoverable, which begin()'s timeoutMs bounds). releaseAllOwnedBy(deadThread), called by
 * engine.watch after the worker has exited, takes the slot's count with Atomics.exchange,
 * subtracts it from kActive (notifying a waiting begin() as G4 would), and frees the slot. A
 * thread beyond kSlotCount guards without a slot: its guards cannot be recovered (documented
 * limit; begin()'s timeoutMs still bounds the wait).
 *
 * | kSlots + k*LINE_INTS     | slot k | claiming thread / recovery | CAS 0 -> tag, store 0 | owner tag |
 * | kSlots + k*LINE_INTS + 1 | slot k | owner thread / recovery    | Atomics.add / exchange | its guards in flight |
 *
 * The epoch is 31 bits (kState >>> 1): it wraps after 2^31 syncs. One sync thread at a time is
 * expected: a second begin() while in progress bumps the epoch again; end() clears the flag.
 */
import { threadId } from 'node:worker_threads';
import { ErrorCode, SabStateError } from '../errors.ts';
import type { HashKey } from './hash.ts';
import { tagOf } from './mutex.ts';
import { HEADER_BYTES, LINE_BYTES, LINE_INTS, RegionKind, checkRegion, createRegion } from './region.ts';
import type { RegionSpec } from './region.ts';

const kState = LINE_INTS;
const kBeginWaiting = kState + 1;
const kRefused = kState + 2;
const kActive = 2 * LINE_INTS;
const kSlots = 3 * LINE_INTS;
const kSlotCount = 64;
const kSlotTag = 0;
const kSlotCountWord = 1;
const GATE_BYTES = HEADER_BYTES + (2 + kSlotCount) * LINE_BYTES;
const GATE_LAYOUT = 2;

export interface GateState {
  epoch: number;
  inProgress: boolean;
}

export interface BeginOptions {
  /** How long to wait for guarded writes in flight (default Infinity). */
  timeoutMs?: number;
}

export function gateSpec(key: HashKey): RegionSpec {
  return { kind: RegionKind.GATE, key, params: [GATE_LAYOUT] };
}

/** Allocates a gate region: epoch 0, no sync in progress. */
export function createGateRegion(key: HashKey): SharedArrayBuffer {
  return createRegion(gateSpec(key), GATE_BYTES);
}

/**
 * Guards in flight on this thread, per region object: begin() inside one would deadlock. Two
 * SyncGate instances built on the same buffer object in one thread share the count.
 */
const localDepth = new WeakMap<SharedArrayBuffer, { depth: number }>();

export class SyncGate {
  #i32: Int32Array;
  #local: { depth: number };
  /** Index in i32 of this thread's count slot; -1: not claimed yet; -2: none free. */
  #slot = -1;

  /** Attaches to a gate region; ERR_LAYOUT_MISMATCH unless it is one. */
  constructor(sab: unknown, key: HashKey) {
    const region = checkRegion(sab, gateSpec(key), 'syncGate');
    if (region.byteLength !== GATE_BYTES) {
      throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `syncGate: region of ${region.byteLength} bytes`);
    }
    this.#i32 = new Int32Array(region);
    let local = localDepth.get(region);
    if (local === undefined) localDepth.set(region, (local = { depth: 0 }));
    this.#local = local;
  }

  /** The epoch and whether a sync is in progress (one atomic load: a consistent pair). */
  current(): GateState {
    const s = Atomics.load(this.#i32, kState);
    return { epoch: s >>> 1, inProgress: (s & 1) === 1 };
  }

  /**
   * Marks a sync in progress and bumps the epoch; returns the new epoch once every guarded write
   * admitted under the old state has completed. Throws ERR_LOCK_TIMEOUT after `timeoutMs` (the
   * sync stays begun: writes are refused until end()).
   */
  begin(options?: BeginOptions): number {
    const timeoutMs = options?.timeoutMs ?? Infinity;
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      throw new SabStateError(ErrorCode.INVALID_VALUE, `timeoutMs must be a non-negative number, got ${String(timeoutMs)}`);
    }
    if (this.#local.depth > 0) {
      throw new Error('syncGate.begin() called inside a guarded write on the same thread (it would wait for itself)');
    }
    const i32 = this.#i32;
    let s = Atomics.load(i32, kState);
    for (;;) {
      const next = (((s >>> 1) + 1) << 1) | 1; // B1
      const seen = Atomics.compareExchange(i32, kState, s, next);
      if (seen === s) {
        s = next;
        break;
      }
      s = seen;
    }
    // A first B3 load: 0 means every guard admitted under the old state is done (see above).
    if (Atomics.load(i32, kActive) !== 0) this.#drain(timeoutMs, s >>> 1);
    return s >>> 1;
  }

  /** Clears in-progress; the epoch stays. Idempotent. */
  end(): void {
    Atomics.and(this.#i32, kState, ~1);
  }

  /**
   * @internal Runs `fn` (a write) only if no sync is in progress and the epoch is `ifEpoch`,
   * atomically with respect to begin(); throws ERR_STALE_EPOCH otherwise (fn not run). Used by
   * positions.save and eliminations.add. `fn` must be synchronous.
   */
  guard<T>(ifEpoch: number, fn: () => T): T {
    const i32 = this.#i32;
    const slot = this.#slot >= 0 ? this.#slot : this.#claimSlot();
    Atomics.add(i32, kActive, 1); // G1
    if (slot >= 0) Atomics.add(i32, slot + kSlotCountWord, 1);
    const s = Atomics.load(i32, kState); // G2
    if ((s & 1) !== 0 || s >>> 1 !== ifEpoch) this.#refuse(s, ifEpoch);
    const local = this.#local;
    local.depth++;
    try {
      return fn(); // G3
    } finally {
      local.depth--;
      this.#leave(); // G4
    }
  }

  /** Refused guarded writes since creation. */
  refused(): number {
    return Atomics.load(this.#i32, kRefused) >>> 0;
  }

  // ---- slow paths --------------------------------------------------------------------------

  #leave(): void {
    const i32 = this.#i32;
    if (this.#slot >= 0) Atomics.sub(i32, this.#slot + kSlotCountWord, 1);
    if (Atomics.sub(i32, kActive, 1) === 1 && Atomics.load(i32, kBeginWaiting) !== 0) {
      Atomics.notify(i32, kActive);
    }
  }

  /** Claims a count slot for this thread (once per thread and region): its index, or -2. */
  #claimSlot(): number {
    if (this.#slot !== -1) return this.#slot;
    const tag = tagOf(threadId);
    for (let k = 0; k < kSlotCount; k++) {
      const at = kSlots + k * LINE_INTS;
      const seen = Atomics.compareExchange(this.#i32, at + kSlotTag, 0, tag);
      if (seen === 0 || seen === tag) return (this.#slot = at);
    }
    return (this.#slot = -2);
  }

  /**
   * Recovery (engine.watch, after the worker exited): forgets the guarded writes the dead thread
   * had in flight, so begin() stops waiting for them, and frees its slot. Returns how many.
   */
  releaseAllOwnedBy(deadThreadId: number): number {
    const i32 = this.#i32;
    const tag = tagOf(deadThreadId);
    for (let k = 0; k < kSlotCount; k++) {
      const at = kSlots + k * LINE_INTS;
      if (Atomics.load(i32, at + kSlotTag) !== tag) continue;
      const n = Atomics.exchange(i32, at + kSlotCountWord, 0);
      if (n > 0 && Atomics.sub(i32, kActive, n) === n && Atomics.load(i32, kBeginWaiting) !== 0) {
        Atomics.notify(i32, kActive);
      }
      Atomics.store(i32, at + kSlotTag, 0);
      return n;
    }
    return 0;
  }

  #refuse(s: number, ifEpoch: number): never {
    this.#leave();
    if (typeof ifEpoch !== 'number' || !Number.isInteger(ifEpoch) || ifEpoch < 0) {
      throw new SabStateError(ErrorCode.INVALID_VALUE, `ifEpoch must be a non-negative integer, got ${String(ifEpoch)}`);
    }
    Atomics.add(this.#i32, kRefused, 1);
    const why = (s & 1) === 1 ? 'a sync is in progress' : 'the epoch moved on';
    throw new SabStateError(
      ErrorCode.STALE_EPOCH,
      `write refused: ${why} (epoch ${s >>> 1}, the write carries epoch ${ifEpoch})`,
    );
  }

  /** B2..B4: waits until no guarded write admitted under the old state is in flight. */
  #drain(timeoutMs: number, epoch: number): void {
    const i32 = this.#i32;
    const deadline = performance.now() + timeoutMs;
    Atomics.add(i32, kBeginWaiting, 1); // B2
    try {
      for (;;) {
        const a = Atomics.load(i32, kActive); // B3
        if (a === 0) return;
        const left = deadline - performance.now();
        if (left <= 0) {
          throw new SabStateError(
            ErrorCode.LOCK_TIMEOUT,
            `syncGate.begin: ${a} guarded write(s) still in flight after ${timeoutMs} ms (epoch ${epoch} stays in progress)`,
          );
        }
        Atomics.wait(i32, kActive, a, left);
      }
    } finally {
      Atomics.sub(i32, kBeginWaiting, 1); // B4
    }
  }
}
