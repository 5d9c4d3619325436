/**
 * The sync gate: an epoch plus an in-progress flag, and guarded writes that land only if no sync
 * is in progress and the epoch is the one the writer read.
 *
 * It replaces the Python validator's `sync_in_progress` flag and `sync_epoch` value, where a save
 * checked the flag and the epoch, then wrote: a sync that began between the check and the write
 * let a stale save land. Here the check and the write are ordered against `begin()` by
 * announcements: a guarded write in flight holds one slot of the region, with its thread's tag in
 * it (a reader-side announcement, like the per-CPU counts of SRCU, but one word per write so that
 * the slot is the ONLY record of it: claimed in one atomic step, cleared in one, and readable by
 * recovery). begin() is rare and scans every slot.
 *
 *   guard(ifEpoch, fn), outermost on its thread:      begin():
 *     G1 CAS a free slot 0 -> tag                         B1 Atomics.store(kSyncOwner, tag)
 *        (none free: ERR_CAPACITY, nothing written)       B2 CAS kState -> (epoch + 1, in progress)
 *     G2 s = Atomics.load(kState)                         B3 for every slot: v = Atomics.load(slot);
 *        s != (ifEpoch, idle): R1, G4, throw                 while v != 0 (a write in flight):
 *     G3 fn()                                                B3a CAS slot v -> v | kWaited (if unset)
 *     G4 old = Atomics.exchange(slot, 0);                    B3b Atomics.wait(slot, v | kWaited)
 *        if old has kWaited: Atomics.notify(slot)            v = Atomics.load(slot)
 *     R1 (refused) Atomics.add(kRefused, 1)               return epoch + 1
 *   end(): E1 Atomics.and(kState, ~1)
 *
 * Why a guarded write either completes before begin() returns or is refused. Every Atomics
 * operation is sequentially consistent: all the steps above of all threads sit in one total
 * order. Take a guard that holds slot k and a begin(). If B2 precedes G2, G2 reads the
 * in-progress state (or, after end(), a newer epoch than ifEpoch, since epochs only grow) and the
 * write is refused. Otherwise G1 < G2 < B2 < every load of B3. From G1 until its G4, slot k holds
 * tag or tag | kWaited: B3a only adds the bit, another guard's G1 fails on a non-zero slot, and
 * only the guard's own G4 (or recovery of its dead thread, below) clears it. So every B3 load of
 * slot k before G4 sees it busy, begin() moves past slot k only after a load that follows G4,
 * and G4 follows fn (G3) in the guard's thread: fn is complete when begin() returns. A guard
 * that claims a slot begin() has already passed does so after that B3 load, so after B2: its G2
 * refuses it.
 * No lost wakeup: begin() sleeps only in B3b, Atomics.wait(slot, w) with w = v | kWaited, which
 * returns at once unless the slot still holds w. If B3a's CAS (or an earlier begin's) precedes
 * G4, G4's exchange returns a value with kWaited and notifies; if G4 precedes B3a, the CAS fails
 * and begin() loads the slot again. No global count, nothing for begin() to miss.
 * Nested guard() calls on one thread run inside the outermost one's slot (no shared step but
 * G2). begin() inside a guarded fn on the same thread would wait for itself, so it throws.
 * fn must be synchronous: its writes must be done when it returns.
 *
 * Region (RegionKind.GATE, params [GATE_LAYOUT]):
 *
 * | slot                     | line   | written by                      | how                     | meaning |
 * | ------------------------ | ------ | ------------------------------- | ----------------------- | ------- |
 * | kState                   | 1      | begin(), end(), recovery        | Atomics.compareExchange / and | epoch * 2 + inProgress |
 * | kSyncOwner               | 1      | begin() (B1)                    | Atomics.store           | tag of the thread that last called begin() |
 * | kRefused                 | 2      | refused guards (R1)             | Atomics.add             | stats only |
 * | kSlots + k * LINE_INTS   | 3 + k  | guard (G1, G4), begin (B3a), recovery | CAS 0 -> tag, exchange 0, CAS +kWaited, CAS -> 0 | 0 free; tag: a guarded write of that thread in flight; + kWaited: a begin() sleeps on it |
 *
 * tag = tagOf(threadId) of thread-tag.ts: never 0, two low bits clear (kWaited is bit 0).
 *
 * Slots: GATE_SLOTS of them, each on its own 128-byte line; a thread holds one only while its
 * outermost guarded write is in flight (so the slots are not used up by threads that come and
 * go), and tries the slot it used last first. More than GATE_SLOTS threads inside guarded writes
 * at the same moment: the extra guard is REFUSED with ERR_CAPACITY naming the limit, before any
 * shared write (fn does not run; the caller may retry). There is no unrecoverable path.
 *
 * CRASH TABLE. A thread may die between any two steps; engine.watch then calls
 * releaseAllOwnedBy(deadThreadId), which (X1) clears every slot holding the dead thread's tag
 * (CAS v -> 0) and notifies it, as G4 would, and (X2) ends the sync if the dead thread was the
 * syncer: if kState is in progress and kSyncOwner holds its tag, CAS kState s -> s & ~1, as its
 * end() would have (like the Python validator's `finally: sync_in_progress = False`; nothing
 * stays held for a dead thread, guarantee 8).
 *
 * | crash point after           | what it leaves                                  | recovery |
 * | --------------------------- | ----------------------------------------------- | -------- |
 * | G1 `gate.guard.announced`   | slot = tag; fn not run                           | X1: slot freed, a waiting begin() woken; the write never started |
 * | G2 `gate.guard.admitted`    | same (G2 only loads)                             | X1 |
 * | inside fn                   | slot = tag; fn's own steps (its domain's crash table) | the domain completes or undoes the write; X1 |
 * | G3 `gate.guard.written`     | slot = tag; the write complete                   | X1: the write completed (before begin() returns) |
 * | R1 `gate.guard.refused`     | slot = tag; refused, counted; fn not run         | X1 |
 * | G4                          | nothing                                          | - |
 * | B1 `gate.begin.owned`       | kSyncOwner = tag; no sync begun                  | X2 finds no sync in progress: nothing; the stale owner word is read only with the in-progress bit |
 * | B2 `gate.begin.flagged`     | sync in progress, epoch + 1 (begin complete but for the drain) | X2 ends the sync: the epoch stays, later writes carrying it are admitted |
 * | B3a `gate.begin.marked`     | as B2, and kWaited on a busy slot                | X2; the stray bit costs that guard's G4 one notify |
 * | B3 (a finished drain)       | as B2                                            | X2 |
 * | E1                          | one step: nothing half-done                      | - |
 *
 * Recovery order matters (engine.ts): the domains' recovery of a dead guarded write (rolling it
 * forward or back) must run before X1, or a begin() woken by X1 could return while that write
 * is still being completed.
 * One sync thread at a time is expected (as before: a second begin() while in progress bumps
 * the epoch again, and the first end() ends it for both); with concurrent syncers kSyncOwner
 * names only the last one, so X2 may end another thread's sync or miss the dead one's.
 *
 * The epoch is 31 bits (kState >>> 1): it wraps after 2^31 syncs.
 */
import { threadId } from 'node:worker_threads';
import { ErrorCode, SabStateError, describe } from '../../errors.ts';
import { callOptions, optTimeoutMs } from '../../options.ts';
import { crashPoint, declareCrashPoints } from '../crash.ts';
import type { HashKey } from '../hash/hash.ts';
import { claimSlot, hasTag, ownerOf, tagOf } from './thread-tag.ts';
import { HEADER_BYTES, LINE_BYTES, LINE_INTS, RegionKind, checkRegion, createRegion } from '../region.ts';
import type { RegionSpec } from '../region.ts';
import { waitWord } from './wait.ts';

declareCrashPoints('gate', [
  'gate.guard.announced',
  'gate.guard.admitted',
  'gate.guard.written',
  'gate.guard.refused',
  'gate.begin.owned',
  'gate.begin.flagged',
  'gate.begin.marked',
]);

const kState = 1 * LINE_INTS;
const kSyncOwner = kState + 1;
const kRefused = 2 * LINE_INTS;
const kSlots = 3 * LINE_INTS;
/** Guarded writes that can be in flight at once (threads inside a guard at the same moment). */
export const GATE_SLOTS = 256;
/** Low bit of a slot word: a begin() sleeps on it (tags have their two low bits clear). */
const kWaited = 1;
const GATE_BYTES = HEADER_BYTES + (2 + GATE_SLOTS) * LINE_BYTES;
const GATE_LAYOUT = 3;

/** The sync gate's state: read `epoch` before a guarded write and pass it as `{ ifEpoch }`. */
export interface GateState {
  epoch: number;
  inProgress: boolean;
}

/** Options of `syncGate.begin()`. */
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

/** @internal Int32 index of slot k (0 <= k < GATE_SLOTS), for tests and invariant checks. */
export function gateSlotIndex(k: number): number {
  return kSlots + k * LINE_INTS;
}

/**
 * Guards in flight on this thread, per region object: begin() inside one would deadlock, and
 * only the outermost one holds a slot. Two SyncGate instances built on the same buffer object in
 * one thread share the count.
 */
const localDepth = new WeakMap<SharedArrayBuffer, { depth: number }>();

/**
 * The sync gate (`engine.general.syncGate`): the sync epoch and whether a sync is in progress. Writes
 * made with `{ ifEpoch }` are refused atomically once a newer sync began.
 */
export class SyncGate {
  readonly #i32: Int32Array;
  readonly #local: { depth: number };
  readonly #tag = tagOf(threadId);
  /** Index in i32 of the slot this thread used last (tried first). */
  #hint = gateSlotIndex(threadId % GATE_SLOTS);

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
   * @throws {@link SabStateError} `ERR_LOCK_TIMEOUT` with `timeoutMs`, if guarded writes in flight did
   *   not finish in time (the sync stays begun).
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` if `timeoutMs` is not a non-negative number.
   * @throws Error if called inside a guarded write of the same thread.
   */
  begin(options?: BeginOptions): number {
    // Checked like every per-call option (errors.ts: ERR_INVALID_OPTION, one message form).
    const timeoutMs = optTimeoutMs(callOptions(options, 'options', ['timeoutMs']).timeoutMs, 'options.timeoutMs');
    if (this.#local.depth > 0) {
      throw new Error('syncGate.begin() called inside a guarded write on the same thread (it would wait for itself)');
    }
    const i32 = this.#i32;
    Atomics.store(i32, kSyncOwner, this.#tag); // B1
    crashPoint('gate.begin.owned');
    let s = Atomics.load(i32, kState);
    for (;;) {
      const next = (((s >>> 1) + 1) << 1) | 1; // B2
      const seen = Atomics.compareExchange(i32, kState, s, next);
      if (seen === s) {
        s = next;
        break;
      }
      s = seen;
    }
    crashPoint('gate.begin.flagged');
    this.#drain(timeoutMs, s >>> 1);
    return s >>> 1;
  }

  /**
   * @internal Restore only (engine-snapshot.ts): sets the epoch of a gate no other thread has
   * seen yet, with no sync in progress.
   */
  restoreEpoch(epoch: number): void {
    Atomics.store(this.#i32, kState, epoch * 2);
  }

  /** Clears in-progress; the epoch stays. Idempotent. */
  end(): void {
    Atomics.and(this.#i32, kState, ~1); // E1
  }

  /**
   * @internal Runs `fn` (a write) only if no sync is in progress and the epoch is `ifEpoch`,
   * atomically with respect to begin(); throws ERR_STALE_EPOCH otherwise (fn not run), and
   * ERR_CAPACITY if GATE_SLOTS other threads are inside guarded writes at this moment (fn not
   * run). Used by positions.save and eliminations.add. `fn` must be synchronous.
   */
  guard<T>(ifEpoch: number, fn: () => T): T {
    if (typeof ifEpoch !== 'number' || !Number.isInteger(ifEpoch) || ifEpoch < 0) {
      throw new SabStateError(ErrorCode.INVALID_VALUE, `ifEpoch must be a non-negative integer, got ${describe(ifEpoch)}`);
    }
    const local = this.#local;
    if (local.depth > 0) return this.#nested(ifEpoch, fn);
    const i32 = this.#i32;
    let slot = this.#hint;
    if (Atomics.compareExchange(i32, slot, 0, this.#tag) !== 0) slot = this.#claimSlow(); // G1
    crashPoint('gate.guard.announced');
    const s = Atomics.load(i32, kState); // G2
    if ((s & 1) !== 0 || s >>> 1 !== ifEpoch) {
      Atomics.add(i32, kRefused, 1); // R1
      crashPoint('gate.guard.refused');
      this.#leave(slot);
      this.#refuse(s, ifEpoch);
    }
    crashPoint('gate.guard.admitted');
    local.depth = 1;
    try {
      const out = fn(); // G3
      crashPoint('gate.guard.written');
      return out;
    } finally {
      local.depth = 0;
      this.#leave(slot); // G4
    }
  }

  /** Refused guarded writes since creation. */
  refused(): number {
    return Atomics.load(this.#i32, kRefused) >>> 0;
  }

  /**
   * Thread ids with a guarded write in flight now (one entry per slot held).
   * @internal For recovery and tests.
   */
  guardsInFlight(): number[] {
    const out: number[] = [];
    for (let k = 0; k < GATE_SLOTS; k++) {
      const v = Atomics.load(this.#i32, gateSlotIndex(k));
      if (v !== 0) out.push(ownerOf(v));
    }
    return out;
  }

  /**
   * Recovery (engine.watch, after the worker exited; see the crash table): frees the slots of the
   * guarded writes the dead thread had in flight, waking a begin() that waits on them, and ends
   * the sync it had begun. Returns how many things it released.
   * @internal Recovery plumbing, called by the engine (engine.watch / engine.verify).
   */
  releaseAllOwnedBy(deadThreadId: number): number {
    const i32 = this.#i32;
    const tag = tagOf(deadThreadId);
    let n = 0;
    for (let k = 0; k < GATE_SLOTS; k++) {
      const at = gateSlotIndex(k);
      for (let v = Atomics.load(i32, at); hasTag(v, tag); v = Atomics.load(i32, at)) {
        if (Atomics.compareExchange(i32, at, v, 0) !== v) continue; // X1 (a begin() may add kWaited)
        Atomics.notify(i32, at);
        n++;
        break;
      }
    }
    const s = Atomics.load(i32, kState);
    if ((s & 1) === 1 && Atomics.load(i32, kSyncOwner) === tag && Atomics.compareExchange(i32, kState, s, s & ~1) === s) n++; // X2
    return n;
  }

  // ---- slow paths --------------------------------------------------------------------------

  /** A guard inside this thread's guarded write: no slot of its own, only G2. */
  #nested<T>(ifEpoch: number, fn: () => T): T {
    const s = Atomics.load(this.#i32, kState);
    if ((s & 1) !== 0 || s >>> 1 !== ifEpoch) {
      Atomics.add(this.#i32, kRefused, 1);
      this.#refuse(s, ifEpoch);
    }
    const local = this.#local;
    local.depth++;
    try {
      return fn();
    } finally {
      local.depth--;
    }
  }

  /** G1 when the slot used last is taken: the first free one; ERR_CAPACITY if none. */
  #claimSlow(): number {
    const k = claimSlot(this.#i32, kSlots, GATE_SLOTS, LINE_INTS, this.#tag);
    if (k >= 0) return (this.#hint = gateSlotIndex(k));
    throw new SabStateError(
      ErrorCode.CAPACITY,
      `syncGate: all ${GATE_SLOTS} guard slots are in use (at most ${GATE_SLOTS} threads can be inside guarded writes at once); the write was not made`,
    );
  }

  /** G4: frees the slot; wakes begin() if it marked the slot. */
  #leave(slot: number): void {
    if ((Atomics.exchange(this.#i32, slot, 0) & kWaited) !== 0) Atomics.notify(this.#i32, slot);
  }

  #refuse(s: number, ifEpoch: number): never {
    const why = (s & 1) === 1 ? 'a sync is in progress' : 'the epoch moved on';
    throw new SabStateError(
      ErrorCode.STALE_EPOCH,
      `write refused: ${why} (epoch ${s >>> 1}, the write carries epoch ${ifEpoch})`,
    );
  }

  /** B3: waits until no slot holds a guarded write admitted under the old state. */
  #drain(timeoutMs: number, epoch: number): void {
    const i32 = this.#i32;
    const deadline = performance.now() + timeoutMs;
    for (let k = 0; k < GATE_SLOTS; k++) {
      const at = gateSlotIndex(k);
      for (let v = Atomics.load(i32, at); v !== 0; v = Atomics.load(i32, at)) {
        if ((v & kWaited) === 0) {
          if (Atomics.compareExchange(i32, at, v, v | kWaited) !== v) continue; // B3a
          v |= kWaited;
          crashPoint('gate.begin.marked');
        }
        const left = deadline - performance.now();
        if (left <= 0) {
          throw new SabStateError(
            ErrorCode.LOCK_TIMEOUT,
            `syncGate.begin: a guarded write of thread ${ownerOf(v)} still in flight after ${timeoutMs} ms (epoch ${epoch} stays in progress; a terminated worker is recovered by engine.watch)`,
          );
        }
        waitWord(i32, at, v, left); // B3b (in slices on a watching thread: wait.ts)
      }
    }
  }
}
