/**
 * Optimistic reads of versioned words (a seqlock without its odd phase), their bounded-retry
 * fallback, and the write gate that lets a snapshot see a domain with no write in flight.
 *
 * 1. THE VERSIONED WORD (table.ts). Every table slot is one 64-bit word (BigUint64Array):
 *    low 32 bits the offset of the current record block, high 32 bits a version that every
 *    change of the word increments. A writer never edits a published block: it fills a new
 *    block with plain writes, then publishes it with ONE Atomics.compareExchange of the word
 *    (new offset, version + 1), and only then retires the old block (heap.ts). So there is no
 *    "odd" state at all: a writer killed at any point leaves the word naming a whole version
 *    (the old one, or the new one if its CAS happened); the worst it leaves is a leaked block.
 *    Readers never wait for anybody and cannot spin on a dead writer.
 *
 *    Reader:  w1 = Atomics.load(word); copy out what w1's block holds (and what it refers to);
 *             w2 = Atomics.load(word); accept iff w1 === w2, else retry.
 *    Why it is enough: a block is freed only by the thread whose CAS unpublished it, after
 *    that CAS. If the reader copied from a block that was freed (and maybe reused) meanwhile,
 *    that CAS came after the reader's load of w1 (the reader saw the block published) and
 *    before the free; every Atomics operation is sequentially consistent, so the reader's later
 *    load of w2 sees a word at least as new as that CAS: w2 !== w1 (versions do not repeat
 *    within 2^32 changes of one slot), and the copy is thrown away. The copy is made of plain
 *    reads racing with writes, so it may be garbage: readers bounds-check every length and
 *    offset before using it and treat any exception as "retry" unless the word is unchanged
 *    (then the data was a whole version and the exception is real). The JS memory model gives
 *    no ordering between those plain reads and the later SC load of w2; on x86-64 (TSO) loads
 *    are not reordered with loads, and V8 emits ordered loads for Atomics.load on ARM64, which
 *    is what every seqlock in JS relies on; the bounds checks make even a reordered read safe.
 *
 * 2. BOUNDED RETRIES. A reader retries at most kMaxOptimisticReads times, then PINS the heap
 *    (heap.pin(): Atomics.add(kPinned, 1)), reads once without validation, and unpins. While a
 *    reader is pinned, retire() defers frees to a list instead of freeing (heap.ts). Why the
 *    pinned read is whole: the reader pins before it loads the word; a block it reaches was
 *    published at that load, so the CAS that unpublishes it and the writer's following
 *    `Atomics.load(kPinned)` come after the pin, see kPinned >= 1, and defer. `collect()` takes
 *    the deferred list first and checks kPinned after, so a reader still pinned keeps it
 *    alive; a reader pinned later cannot reach those blocks. A pinned read makes no retry
 *    loop and waits for nothing: it always terminates, and it never blocks a writer.
 *
 * 3. THE WRITE GATE (a snapshot's "brief domain-wide writer lock"). Domain writers wrap their
 *    publishing steps in `gate.run(fn)`; `gate.freeze(fn)` runs fn when no write is in flight
 *    and holds new ones back until fn returns. Same announcement scheme as the sync gate:
 *
 *    writer: W1 Atomics.add(kActive, 1)   W2 f = Atomics.load(kFrozen)
 *               f !== 0: W4, wait while kFrozen === f, start again
 *            W3 fn()  W4 Atomics.sub(kActive, 1); if it was 1 and kWaiting > 0: notify kActive
 *    freeze: F1 CAS kFrozen 0 -> my tag (else wait for the other freezer)
 *            F2 Atomics.add(kWaiting, 1)  F3 wait until Atomics.load(kActive) === 0
 *            F4 fn()  F5 Atomics.sub(kWaiting, 1); Atomics.store(kFrozen, 0); notify kFrozen
 *    If F1 precedes W2 the writer backs off; otherwise kActive counts it from W1 until W4,
 *    so F3 returns only after its fn completed. A writer inside fn never waits (it must not
 *    take locks inside the gate), so freezing cannot deadlock with the lock domain.
 *
 * | Int32 slot (base +) | name      | written by        | how |
 * | ------------------- | --------- | ----------------- | --- |
 * | 0                   | kActive   | writers           | Atomics.add / sub |
 * | 1                   | kFrozen   | freezer           | CAS to its tag, Atomics.store 0 |
 * | 2                   | kWaiting  | freezer           | Atomics.add / sub |
 *
 * Limits: a worker terminated inside gate.run leaves kActive >= 1: later freezes time out with
 * ERR_LOCK_TIMEOUT (writes and reads go on). A freezer that dies leaves kFrozen set until
 * releaseIfOwnedBy(threadId) (engine.watch): writers wait in the meantime.
 */
import { threadId } from 'node:worker_threads';
import { ErrorCode, SabStateError } from '../errors.ts';
import { ownerOf, tagOf } from './mutex.ts';

/** Optimistic attempts before a reader pins. */
export const kMaxOptimisticReads = 8;
/** Default time a freeze waits for writes in flight. */
export const kFreezeTimeoutMs = 10_000;

/** Thrown by readers' copy functions when what they read does not hold together. */
export class ReadRetry extends Error {
  constructor() {
    super('sabstate: inconsistent read (retried)');
    this.name = 'ReadRetry';
  }
}
/** One preallocated instance: throwing it costs no stack capture. */
export const RETRY = new ReadRetry();

const kActive = 0;
const kFrozen = 1;
const kWaiting = 2;

export class WriteGate {
  readonly #i32: Int32Array;
  readonly #base: number;
  readonly #tag: number;
  readonly #what: string;

  constructor(i32: Int32Array, base: number, what: string) {
    this.#i32 = i32;
    this.#base = base;
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
    const a = this.#base + kActive;
    const f = this.#base + kFrozen;
    for (;;) {
      Atomics.add(this.#i32, a, 1);
      const frozen = Atomics.load(this.#i32, f);
      if (frozen === 0) return;
      this.leave();
      if (frozen === this.#tag) {
        throw new Error(`${this.#what}: write attempted inside this thread's own freeze (snapshot)`);
      }
      Atomics.wait(this.#i32, f, frozen, 1000);
    }
  }

  leave(): void {
    const a = this.#base + kActive;
    if (Atomics.sub(this.#i32, a, 1) === 1 && Atomics.load(this.#i32, this.#base + kWaiting) > 0) {
      Atomics.notify(this.#i32, a);
    }
  }

  /** Runs fn with no write in flight and new writes held back. Not re-entrant. */
  freeze<T>(fn: () => T, timeoutMs = kFreezeTimeoutMs): T {
    const i = this.#i32;
    const f = this.#base + kFrozen;
    const a = this.#base + kActive;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.compareExchange(i, f, 0, this.#tag);
      if (seen === 0) break;
      if (seen === this.#tag) throw new Error(`${this.#what}: freeze is not re-entrant`);
      const left = deadline - performance.now();
      if (left <= 0) this.#timeout(`another thread (${ownerOf(seen)}) holds the freeze`, timeoutMs);
      Atomics.wait(i, f, seen, left);
    }
    Atomics.add(i, this.#base + kWaiting, 1);
    try {
      for (let n = Atomics.load(i, a); n !== 0; n = Atomics.load(i, a)) {
        const left = deadline - performance.now();
        if (left <= 0) this.#timeout(`${n} write(s) still in flight (a terminated worker?)`, timeoutMs);
        Atomics.wait(i, a, n, left);
      }
      return fn();
    } finally {
      Atomics.sub(i, this.#base + kWaiting, 1);
      Atomics.store(i, f, 0);
      Atomics.notify(i, f);
    }
  }

  /** Clears a freeze left by a dead thread. */
  releaseIfOwnedBy(deadThreadId: number): boolean {
    const f = this.#base + kFrozen;
    if (Atomics.compareExchange(this.#i32, f, tagOf(deadThreadId), 0) !== tagOf(deadThreadId)) return false;
    Atomics.notify(this.#i32, f);
    return true;
  }

  stats(): { writesInFlight: number; frozenBy: number } {
    return {
      writesInFlight: Atomics.load(this.#i32, this.#base + kActive),
      frozenBy: ownerOf(Atomics.load(this.#i32, this.#base + kFrozen)),
    };
  }

  #timeout(why: string, timeoutMs: number): never {
    throw new SabStateError(ErrorCode.LOCK_TIMEOUT, `${this.#what}: freeze not obtained within ${timeoutMs} ms: ${why}`);
  }
}
