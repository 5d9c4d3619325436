/**
 * The write gate: lets a snapshot (or recovery's repair) see a domain with no write in flight,
 * and records the pins of readers that fell back from optimistic reads (versioned-word.ts,
 * sections 1 and 2, which this file's sections 3 and 4 complete).
 *
 * 3. THE WRITE GATE (a snapshot's "brief domain-wide writer lock"). Domain writers wrap their
 *    publishing steps in `gate.run(fn)`; `gate.freeze(fn)` runs fn when no write is in flight
 *    and holds new ones back until fn returns. Every thread announces itself in a slot of its
 *    own (one per 128-byte line, claimed on first use by CAS 0 -> its tag), so a dead thread's
 *    announcement can be found and cleared (releaseAllOwnedBy, called by engine.watch):
 *
 *    writer: W1 Atomics.store(mySlot, tag | kSlotActive)   W2 f = Atomics.load(kFrozen)
 *               f !== 0: W4, wait while kFrozen === f, start again
 *            W3 fn()  W4 Atomics.store(mySlot, tag); if kWaiting > 0: notify mySlot
 *    freeze: F1 CAS kFrozen 0 -> my tag (else wait for the other freezer)
 *            F2 Atomics.add(kWaiting, 1)  F3 for every slot: wait while it has kSlotActive
 *            F4 fn()  F5 Atomics.sub(kWaiting, 1); Atomics.store(kFrozen, 0); notify kFrozen
 *    Every Atomics operation is sequentially consistent: if F1 precedes W2 the writer backs
 *    off; otherwise W1 precedes F1, so F3 sees the active bit and waits for W4, which follows
 *    fn. No lost wakeup: F3 sleeps with Atomics.wait(slot, active value), which returns at once
 *    if W4 already stored. A writer inside fn never waits (it must not take locks inside the
 *    gate), so freezing cannot deadlock with the lock domain.
 *    More than kGateSlots threads: the extra ones count in kOverflow (Atomics.add / sub),
 *    which works the same way but cannot be recovered (documented limit: a domain attached by
 *    more than kGateSlots threads at once).
 *
 * 4. PINS, one bit per thread. A pinned reader (section 2) is recorded by ONE idempotent atomic
 *    operation: Atomics.or of its slot's bit into the pin mask (kPinMask0 / kPinMask1, 64 bits
 *    for the 64 slots); unpin is one Atomics.and of the bit's complement. Nested pins of one
 *    thread are counted in a private field; only the outermost pin and unpin touch the mask.
 *    retire() asks "is anybody pinned?" with two loads. Why a mask and not a count plus a
 *    per-thread record: a count changed by Atomics.add and a record stored beside it are two
 *    steps, and a thread terminated between them leaves a count that recovery cannot correct
 *    (it cannot tell whether the add happened): one leaked pin stops every later free (an
 *    8 MiB heap with one live position filled up after about 10,000 saves). A bit set or
 *    cleared is its own record: recovery clears the dead thread's bit, whatever it was doing.
 *    Threads beyond kGateSlots pin through kPinOverflow (add / sub), unrecoverable like kOverflow.
 *    The proof of section 2 holds with "kPinned >= 1" read as "some bit of the mask is set".
 *
 * CRASH TABLE (what a thread terminated right after each step leaves; recovery is
 * releaseAllOwnedBy(deadThreadId), called by engine.watch once the thread has exited):
 *
 * | protocol | after step                         | leaves                               | recovery |
 * | -------- | ---------------------------------- | ------------------------------------ | -------- |
 * | claim    | CAS slot 0 -> tag                  | a slot owned by a dead thread        | slot CAS to 0 |
 * | run      | W1 store slot active               | a write in flight (freeze waits)     | slot cleared, waiter notified; blocks the write allocated are reclaimed by the heap sweep |
 * | run      | W3 inside fn                       | same                                 | same, then the domain's repair completes or undoes fn's publishes |
 * | run      | W4 store slot idle                 | nothing                              | slot freed |
 * | pin      | Atomics.or(mask, bit)              | a pin (every retire defers)          | Atomics.and(mask, ~bit); deferred blocks collected |
 * | unpin    | Atomics.and(mask, ~bit)            | deferred blocks not yet collected    | collect() |
 * | freeze   | F1 CAS kFrozen -> tag              | writers held back                    | kFrozen CAS back to 0, notify |
 * | freeze   | F2 add kWaiting                    | kWaiting one too high (extra notifies only) | kWaiting counted per freezer: subtracted with kFrozen |
 * | freeze   | F4 inside fn                       | as F2                                | as F2 |
 * | freeze   | F5 sub kWaiting, store kFrozen 0   | nothing                              | nothing |
 *
 * | Int32 (base +)    | name         | written by        | how |
 * | ----------------- | ------------ | ----------------- | --- |
 * | 0                 | kPinMask0    | pinned readers of slots 0..31; recovery | Atomics.or / and (retire loads it) |
 * | 1                 | kFrozen      | freezer           | CAS to its tag, Atomics.store 0 |
 * | 2                 | kWaiting     | freezer           | Atomics.add / sub |
 * | 3                 | kOverflow    | slotless writers  | Atomics.add / sub |
 * | 4                 | kPinMask1    | pinned readers of slots 32..63; recovery | Atomics.or / and |
 * | 5                 | kPinOverflow | slotless pinned readers | Atomics.add / sub |
 * | slot s (own line) | kSlot        | its thread; recovery | Atomics.store: 0 free, tag idle, tag + kSlotActive writing (tag: thread-tag.ts) |
 *
 * Limits: a freezer that dies leaves kFrozen set until releaseAllOwnedBy(threadId): writers
 * wait in the meantime. A freeze waiting for a dead writer that nobody recovered times out
 * (ERR_LOCK_TIMEOUT); reads and writes go on.
 */
import { threadId } from 'node:worker_threads';
import { ErrorCode, SabStateError } from '../../errors.ts';
import { crashPoint, declareCrashPoints } from '../crash.ts';
import { claimSlot, hasTag, ownerOf, tagOf } from './thread-tag.ts';
import { waitWord } from './wait.ts';

/** Default time a freeze waits for writes in flight. */
export const kFreezeTimeoutMs = 10_000;

const kPinMask0 = 0;
const kFrozen = 1;
const kWaiting = 2;
const kOverflow = 3;
const kPinMask1 = 4;
const kPinOverflow = 5;
/** Words of the gate itself (then the slots, each on its own line). */
export const kGateWords = 6;
/** Thread slots of a write gate (two 32-bit pin mask words). */
export const kGateSlots = 64;
const kSlotActive = 1;
const kNoSlot = -2;

declareCrashPoints('write-gate', ['gate.run.announced', 'gate.run.left', 'gate.pin.set', 'gate.freeze.frozen', 'gate.freeze.waiting']);

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

export class WriteGate {
  readonly #i32: Int32Array;
  readonly #base: number;
  readonly #slots: number;
  readonly #stride: number;
  readonly #tag: number;
  readonly #what: string;
  /** Index of this instance's slot word, -1 not claimed yet, kNoSlot if none was free. */
  #slot = -1;
  /** Slot number of #slot, -1 without one. */
  #slotIndex = -1;
  #bits = 0;
  #depth = 0;
  #pins = 0;
  /** True while this thread runs a freeze(fn, t, true): its own writes pass. */
  #ownWrites = false;

  /**
   * Gate words at i32[base ..], kGateSlots slot words at i32[slots + k * stride] (stride: Int32s
   * per line, so each slot has its line).
   */
  constructor(i32: Int32Array, base: number, slots: number, stride: number, what: string) {
    this.#i32 = i32;
    this.#base = base;
    this.#slots = slots;
    this.#stride = stride;
    this.#tag = tagOf(threadId);
    this.#what = what;
  }

  /** Runs a write (fn must not wait for anything: no lock inside). */
  run<T>(fn: () => T): T {
    this.enter();
    try {
      return fn();
    } finally {
      this.leave();
    }
  }

  enter(): void {
    if (this.#depth++ > 0) return;
    const f = this.#base + kFrozen;
    for (;;) {
      this.#announce(true);
      crashPoint('gate.run.announced');
      const frozen = Atomics.load(this.#i32, f);
      if (frozen === 0) return;
      // Recovery's repair writes inside its own freeze (freeze(fn, t, true)): it waited for
      // every other write already, so its own need not wait.
      if (this.#ownWrites && frozen === tagOf(threadId)) return;
      this.#announce(false);
      if (frozen === tagOf(threadId)) {
        this.#depth = 0;
        throw new Error(`${this.#what}: write attempted inside this thread's own freeze (snapshot)`);
      }
      waitWord(this.#i32, f, frozen, 1000);
    }
  }

  leave(): void {
    if (--this.#depth > 0) return;
    this.#announce(false);
    crashPoint('gate.run.left');
  }

  /**
   * Readers' fallback (heap.ts): while pinned, published blocks that get retired are deferred.
   * One idempotent Atomics.or of this thread's bit (section 4); nested pins are counted privately.
   */
  pin(): void {
    if (this.#pins++ > 0) return;
    const k = this.#mySlotIndex();
    if (k >= 0) Atomics.or(this.#i32, this.#base + (k < 32 ? kPinMask0 : kPinMask1), 1 << (k & 31));
    else Atomics.add(this.#i32, this.#base + kPinOverflow, 1);
    crashPoint('gate.pin.set');
  }

  /** Returns true if this was this thread's outermost pin and no reader is pinned any more. */
  unpin(): boolean {
    if (--this.#pins > 0) return false;
    const k = this.#slotIndex;
    if (k >= 0) Atomics.and(this.#i32, this.#base + (k < 32 ? kPinMask0 : kPinMask1), ~(1 << (k & 31)));
    else Atomics.sub(this.#i32, this.#base + kPinOverflow, 1);
    return this.pinned() === 0;
  }

  /** Number of pinned readers now (threads with a pin, and slotless pins). */
  pinned(): number {
    const i = this.#i32;
    const b = this.#base;
    const m0 = Atomics.load(i, b + kPinMask0);
    const m1 = Atomics.load(i, b + kPinMask1);
    const o = Atomics.load(i, b + kPinOverflow);
    return m0 === 0 && m1 === 0 ? o : popcount(m0) + popcount(m1) + o;
  }

  /** The pin mask bits (recovery and verify). */
  pinMask(): [number, number] {
    return [Atomics.load(this.#i32, this.#base + kPinMask0), Atomics.load(this.#i32, this.#base + kPinMask1)];
  }

  /**
   * Like enter(), but never waits: false (nothing announced) if a freeze holds writers back.
   * For work a reader may do on its way out (heap.unpin's collect).
   */
  tryEnter(): boolean {
    if (this.#depth > 0) {
      this.#depth++;
      return true;
    }
    this.#announce(true);
    const frozen = Atomics.load(this.#i32, this.#base + kFrozen);
    if (frozen === 0 || (this.#ownWrites && frozen === tagOf(threadId))) {
      this.#depth = 1;
      return true;
    }
    this.#announce(false);
    return false;
  }

  /** True while this thread is inside run() / enter() (heap sweeps and asserts). */
  get inside(): boolean {
    return this.#depth > 0;
  }

  /**
   * Runs fn with no write in flight and new writes held back. Not re-entrant. With
   * `ownWrites`, fn may write through this gate (recovery's repair); otherwise a write inside
   * fn is refused (a snapshot must not change what it copies).
   */
  freeze<T>(fn: () => T, timeoutMs = kFreezeTimeoutMs, ownWrites = false): T {
    const i = this.#i32;
    const f = this.#base + kFrozen;
    const me = tagOf(threadId);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.compareExchange(i, f, 0, me);
      if (seen === 0) break;
      if (seen === me) throw new Error(`${this.#what}: freeze is not re-entrant`);
      const left = deadline - performance.now();
      if (left <= 0) this.#timeout(`another thread (${ownerOf(seen)}) holds the freeze`, timeoutMs);
      waitWord(i, f, seen, left);
    }
    crashPoint('gate.freeze.frozen');
    Atomics.add(i, this.#base + kWaiting, 1);
    crashPoint('gate.freeze.waiting');
    try {
      for (let k = 0; k <= kGateSlots; k++) {
        const w = k < kGateSlots ? this.#slots + k * this.#stride : this.#base + kOverflow;
        const busy = (v: number): boolean => (k < kGateSlots ? (v & kSlotActive) !== 0 : v !== 0);
        for (let v = Atomics.load(i, w); busy(v); v = Atomics.load(i, w)) {
          const left = deadline - performance.now();
          if (left <= 0) this.#timeout(`a write is still in flight (thread ${k < kGateSlots ? ownerOf(v) : '?'}; terminated?)`, timeoutMs);
          waitWord(i, w, v, left);
        }
      }
      this.#ownWrites = ownWrites;
      return fn();
    } finally {
      this.#ownWrites = false;
      Atomics.sub(i, this.#base + kWaiting, 1);
      Atomics.store(i, f, 0);
      Atomics.notify(i, f);
    }
  }

  /**
   * Recovery of a thread that died (engine.watch): clears its slot (a write it left in flight),
   * its pin bit, and a freeze it held. Returns how many things it released.
   */
  releaseAllOwnedBy(deadThreadId: number): number {
    const i = this.#i32;
    const tag = tagOf(deadThreadId);
    let n = 0;
    for (let k = 0; k < kGateSlots; k++) {
      const w = this.#slots + k * this.#stride;
      const v = Atomics.load(i, w);
      if (v === 0 || !hasTag(v, tag)) continue;
      const bit = 1 << (k & 31);
      const mask = this.#base + (k < 32 ? kPinMask0 : kPinMask1);
      // The pin bit first, then the slot: once the slot is free another thread may take it.
      const pinned = (Atomics.and(i, mask, ~bit) & bit) !== 0;
      if (Atomics.compareExchange(i, w, v, 0) !== v) continue;
      if (pinned || (v & kSlotActive) !== 0) n++;
      Atomics.notify(i, w);
    }
    if (Atomics.load(i, this.#base + kFrozen) === tagOf(deadThreadId)) {
      // Only the holder of kFrozen adds to kWaiting (F2): with the holder dead nobody else is
      // between F2 and F5, so the word is reset, not decremented (the add may not have happened).
      Atomics.store(i, this.#base + kWaiting, 0);
      if (Atomics.compareExchange(i, this.#base + kFrozen, tagOf(deadThreadId), 0) === tagOf(deadThreadId)) {
        Atomics.notify(i, this.#base + kFrozen);
        n++;
      }
    }
    return n;
  }

  /** Tags of the threads owning a slot now (verify: none may belong to a thread that is gone). */
  slotOwners(): number[] {
    const out: number[] = [];
    for (let k = 0; k < kGateSlots; k++) {
      const v = Atomics.load(this.#i32, this.#slots + k * this.#stride);
      if (v !== 0) out.push(ownerOf(v));
    }
    return out;
  }

  /** releaseAllOwnedBy(...) > 0 (the first version's name, kept for its callers). */
  releaseIfOwnedBy(deadThreadId: number): boolean {
    return this.releaseAllOwnedBy(deadThreadId) > 0;
  }

  stats(): { writesInFlight: number; pinned: number; frozenBy: number; slotsUsed: number } {
    const i = this.#i32;
    let active = Atomics.load(i, this.#base + kOverflow);
    let used = 0;
    for (let k = 0; k < kGateSlots; k++) {
      const v = Atomics.load(i, this.#slots + k * this.#stride);
      if (v !== 0) used++;
      if (v & kSlotActive) active++;
    }
    return { writesInFlight: active, pinned: this.pinned(), frozenBy: ownerOf(Atomics.load(i, this.#base + kFrozen)), slotsUsed: used };
  }

  /** Sets or clears this thread's active bit (or counts in kOverflow without a slot). */
  #announce(active: boolean): void {
    if (this.#mySlot() >= 0) {
      this.#setBits(active ? this.#bits | kSlotActive : this.#bits & ~kSlotActive);
      return;
    }
    const o = this.#base + kOverflow;
    if (active) Atomics.add(this.#i32, o, 1);
    else if (Atomics.sub(this.#i32, o, 1) === 1 && Atomics.load(this.#i32, this.#base + kWaiting) > 0) Atomics.notify(this.#i32, o);
  }

  #setBits(bits: number): void {
    const had = this.#bits;
    this.#bits = bits;
    Atomics.store(this.#i32, this.#slot, this.#tag | bits);
    if ((had & kSlotActive) !== 0 && (bits & kSlotActive) === 0 && Atomics.load(this.#i32, this.#base + kWaiting) > 0) {
      Atomics.notify(this.#i32, this.#slot);
    }
  }

  #mySlot(): number {
    if (this.#slot !== -1) return this.#slot;
    const k = claimSlot(this.#i32, this.#slots, kGateSlots, this.#stride, this.#tag);
    this.#slotIndex = k;
    this.#slot = k < 0 ? kNoSlot : this.#slots + k * this.#stride;
    return this.#slot;
  }

  /** This thread's slot number (0..kGateSlots-1), claiming it on first use; -1 if none was free. */
  #mySlotIndex(): number {
    this.#mySlot();
    return this.#slotIndex;
  }

  #timeout(why: string, timeoutMs: number): never {
    throw new SabStateError(ErrorCode.LOCK_TIMEOUT, `${this.#what}: freeze not obtained within ${timeoutMs} ms: ${why}`);
  }
}
