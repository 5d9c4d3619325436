/**
 * A ring's waiting path: how a consumer that found the queue empty waits for a message (steps C1
 * to C4 of "Waking consumers without a notify per push" in ring.ts's header, whose slot table and
 * crash table rows ring.wait.* cover these words), and how recovery withdraws a dead waiter and
 * wakes everyone. The pop itself stays in ring.ts; this file gets it as the `take` functions.
 */
import { crashPoint } from '../crash.ts';
import { claimSlot } from '../sync/thread-tag.ts';
import { waitWord } from '../sync/wait.ts';
import { MAX_ANNOUNCED, kEmpty, kHead, kPopLock, kPushLock, kSignal, kTail, kWaiterTag, kWaiters, kWaits } from './ring-layout.ts';
import type { RingMessage } from './queue.ts';

/** pop found the queue empty (a true answer), or its time ran out. */
export const EMPTY: unique symbol = Symbol('empty');
/** #round's answer: sleep #waitMs on kSignal (C4), then go round again. */
const WAIT: unique symbol = Symbol('wait');
/** Two-load checks a blocking pop makes before it announces itself and waits. */
const SPIN_TRIES = 64;
/** Re-check period of a consumer that found every waiter slot taken (waits unannounced). */
const POLL_MS = 1;

/** One pop, waiting up to lockWaitMs for a consumer stalled mid-pop: the message or EMPTY. */
export type Take = (lockWaitMs: number) => RingMessage | typeof EMPTY;
export type TakeAsync = (lockWaitMs: number) => Promise<RingMessage | typeof EMPTY>;

/** A pop that returns undefined counts itself in kEmpty (stats only). */
export function countEmpty(i32: Int32Array): undefined {
  Atomics.add(i32, kEmpty, 1);
  return undefined;
}

/**
 * Recovery (Ring.releaseAllOwnedBy): clears the dead tag's waiter slots and their kWaiters bits,
 * then wakes every waiter of both locks and of kSignal. Returns how many slots it freed.
 */
export function releaseWaiters(i32: Int32Array, tag: number): number {
  let n = 0;
  for (let i = 0; i < MAX_ANNOUNCED; i++) {
    if (Atomics.load(i32, kWaiterTag + i) !== tag) continue;
    Atomics.and(i32, kWaiters, ~(1 << i));
    if (Atomics.compareExchange(i32, kWaiterTag + i, tag, 0) === tag) n++;
  }
  // Wake everyone: the dead thread may have died between a wake-up and its next step on a lock
  // word, or after publishing a push it had not signalled yet. Waiters re-check, sleep again.
  Atomics.notify(i32, kPushLock);
  Atomics.notify(i32, kPopLock);
  Atomics.add(i32, kSignal, 1);
  Atomics.notify(i32, kSignal);
  return n;
}

/** The blocking pops of one Ring in one thread (pop with a timeout, popAsync). */
export class RingWaiting {
  readonly #i32: Int32Array;
  readonly #tag: number;
  readonly #take: Take;
  readonly #takeAsync: TakeAsync;
  /** How long C4 sleeps, set by #round right before its caller sleeps (no await in between). */
  #waitMs = 0;

  constructor(i32: Int32Array, tag: number, take: Take, takeAsync: TakeAsync) {
    this.#i32 = i32;
    this.#tag = tag;
    this.#take = take;
    this.#takeAsync = takeAsync;
  }

  popSlow(timeoutMs: number): RingMessage | undefined {
    const i32 = this.#i32;
    const deadline = performance.now() + timeoutMs;
    for (let i = 0; i < SPIN_TRIES; i++) {
      if (i > 0 && !this.#maybe()) continue;
      const v = this.#take(deadline - performance.now());
      if (v !== EMPTY) return v;
    }
    const slot = this.#announce(); // C1
    try {
      for (;;) {
        const s = Atomics.load(i32, kSignal); // C2
        const r = this.#round(this.#take(deadline - performance.now()), deadline, slot); // C3
        if (r !== WAIT) return r;
        // waitWord: Atomics.wait, in slices that let a watching thread recover dead workers (wait.ts).
        waitWord(i32, kSignal, s, this.#waitMs); // C4
      }
    } finally {
      this.#withdraw(slot);
    }
  }

  async popAsyncSlow(timeoutMs: number): Promise<RingMessage | undefined> {
    const i32 = this.#i32;
    const deadline = performance.now() + timeoutMs;
    // timeoutMs 0 comes here only to wait for a stalled consumer in the way of a message: no limit.
    const lockWait = (): number => (timeoutMs === 0 ? Infinity : deadline - performance.now());
    // Keeps the event loop alive while waiting: a pending waitAsync alone does not.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const slot = this.#announce(); // C1
    try {
      for (;;) {
        const s = Atomics.load(i32, kSignal); // C2
        const r = this.#round(await this.#takeAsync(lockWait()), deadline, slot); // C3
        if (r !== WAIT) return r;
        const w = Atomics.waitAsync(i32, kSignal, s, this.#waitMs); // C4
        if (w.async) await w.value;
      }
    } finally {
      this.#withdraw(slot);
      clearInterval(keepAlive);
    }
  }

  /** C1: claims a waiter slot and sets its kWaiters bit; the slot, or -1 if all are taken. */
  #announce(): number {
    const i = claimSlot(this.#i32, kWaiterTag, MAX_ANNOUNCED, 1, this.#tag);
    if (i < 0) return -1;
    crashPoint('ring.wait.slotClaimed');
    Atomics.or(this.#i32, kWaiters, 1 << i);
    crashPoint('ring.wait.announced');
    return i;
  }

  #withdraw(slot: number): void {
    if (slot < 0) return;
    Atomics.and(this.#i32, kWaiters, ~(1 << slot));
    crashPoint('ring.wait.withdrawn');
    Atomics.store(this.#i32, kWaiterTag + slot, 0);
  }

  /** True if a message may be there (two loads, no lock traffic): for spinning. */
  #maybe(): boolean {
    return Atomics.load(this.#i32, kTail) !== Atomics.load(this.#i32, kHead);
  }

  /**
   * One round of the waiting loop after C3, shared by popSlow and popAsyncSlow (which differ
   * only in how they take the pop lock and how they sleep): the pop's answer (the message, or
   * undefined once the deadline passed), or WAIT with #waitMs set to how long C4 sleeps on
   * kSignal (counted in kWaits; in POLL_MS slices without a waiter slot).
   */
  #round(v: RingMessage | typeof EMPTY, deadline: number, slot: number): RingMessage | undefined | typeof WAIT {
    if (v !== EMPTY) return v;
    const left = deadline - performance.now();
    if (left <= 0) return countEmpty(this.#i32);
    Atomics.add(this.#i32, kWaits, 1);
    this.#waitMs = slot < 0 ? Math.min(left, POLL_MS) : left;
    return WAIT;
  }
}
