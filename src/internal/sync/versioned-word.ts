/**
 * Optimistic reads of versioned words (a seqlock without its odd phase) and their bounded-retry
 * fallback. The write gate that pins use and that lets a snapshot see a domain with no write in
 * flight is write-gate.ts.
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
 *    (table.ts loads the word as its two Int32 halves, version first, and validates by the
 *    version half: the same argument, since every change of the word changes its version;
 *    its header says why the order of the two loads matters.)
 *    Why it is enough: a block is freed only by the thread whose CAS unpublished it, after
 *    that CAS. If the reader copied from a block that was freed (and maybe reused) meanwhile,
 *    that CAS came after the reader's load of w1 (the reader saw the block published) and
 *    before the free; every Atomics operation is sequentially consistent, so the reader's later
 *    load of w2 sees a word at least as new as that CAS: w2 !== w1 (versions do not repeat
 *    within 2^32 changes of one slot), and the copy is thrown away. The copy is made of plain
 *    reads racing with writes, so it may be garbage: readers bounds-check every length and
 *    offset before using it and treat any exception as "retry" unless the word is unchanged
 *    (then the data was a whole version and the exception is real). The JS memory model gives
 *    no ordering between those plain reads and the later SC load of w2: every validation puts
 *    readFence() (section 3) between the copy and the load of w2, which orders them on ARM64;
 *    the bounds checks make even a reordered read safe.
 *
 * 2. BOUNDED RETRIES. A reader retries at most kMaxOptimisticReads times, then PINS the heap
 *    (WriteGate.pin(): its bit in the pin mask, write-gate.ts section 4), reads once without validation, and unpins. While a
 *    reader is pinned, retire() defers frees to a list instead of freeing (heap.ts). Why the
 *    pinned read is whole: the reader pins before it loads the word; a block it reaches was
 *    published at that load, so the CAS that unpublishes it and the writer's following
 *    `Atomics.load(kPinned)` come after the pin, see kPinned >= 1, and defer. `collect()` takes
 *    the deferred list first and checks kPinned after, so a reader still pinned keeps it
 *    alive; a reader pinned later cannot reach those blocks. A pinned read makes no retry
 *    loop and waits for nothing: it always terminates, and it never blocks a writer.
 *
 * 3. THE READ FENCE (ARM64). A reader copies with plain loads, then validates with
 *    Atomics.load. On ARM64 V8 emits LDAR for Atomics.load, which is acquire-only: it keeps LATER
 *    accesses after it, not EARLIER plain loads before it, so without more a validated copy could
 *    mix two versions (Linux puts smp_rmb() in read_seqcount_retry for the same reason).
 *    `readFence()` is a release-ordered read-modify-write on a word private to this thread
 *    (Atomics.add(fence, 0, 1): LDAXR/STLXR on ARM64, LOCK XADD on x86-64). A release keeps every
 *    earlier load and store before it, and ARM64 keeps a store-release before a later
 *    load-acquire (RCsc), so: plain copy < fence < validating Atomics.load. This rests on V8's
 *    code generation for Atomics on ARM64 and x86-64, not on the ECMAScript memory model (which
 *    gives racing plain reads no order at all); the readers' bounds checks keep even a torn copy
 *    from reading outside the buffer. On x86-64 (TSO) loads are not reordered with loads and
 *    the fence only costs its few ns (bench/read-fence.ts measures it).
 *
 * No crash table: a reader makes no shared write but its pin (write-gate.ts, "pin"), and a
 * writer's publish is one CAS of the word (a dead writer leaves the old or the new version).
 */
/** Optimistic attempts before a reader pins. */
export const kMaxOptimisticReads = 8;

/** Thrown by readers' copy functions when what they read does not hold together. */
export class ReadRetry extends Error {
  constructor() {
    super('sabstate: inconsistent read (retried)');
    this.name = 'ReadRetry';
  }
}
/** One preallocated instance: throwing it costs no stack capture. */
export const RETRY = new ReadRetry();

// ---- the versioned word (section 1) ---------------------------------------------------------

const kMask32 = 0xffffffffn;
/** The block offset a word names (or a marker below the heap's data start). */
export const wordRef = (w: bigint): number => Number(w & kMask32);
/** The word that replaces w: offset `ref`, version + 1 (mod 2^32: versions never reset). */
export const nextWord = (w: bigint, ref: number): bigint => ((((w >> 32n) + 1n) & kMask32) << 32n) | BigInt(ref);

/** An attempt's answer when the word moved under it (or what it copied did not hold together). */
export const MOVED: unique symbol = Symbol('moved');
export type Moved = typeof MOVED;

/**
 * The reader side (sections 1, 2): `attempt(false)` up to kMaxOptimisticReads times while it
 * answers MOVED (`retried()` counts each), then `attempt(true)` once between pin() and unpin().
 * A pinned attempt must not answer MOVED or throw RETRY: nothing can move under it, so that
 * would be a corrupt structure.
 */
export function readVersioned<T>(attempt: (pinned: boolean) => T | Moved, pins: { pin(): void; unpin(): void }, retried: () => void): T {
  for (let n = 0; n < kMaxOptimisticReads; n++) {
    const r = attempt(false);
    if (r !== MOVED) return r;
    retried();
  }
  pins.pin();
  try {
    const r = attempt(true);
    if (r !== MOVED) return r;
  } catch (e) {
    if (!(e instanceof ReadRetry)) throw e;
  } finally {
    pins.unpin();
  }
  throw new Error('sabstate: a record did not hold together while pinned (corrupt structure)');
}

/**
 * One optimistic copy: copy()'s result if `same()` (the word is unchanged) holds after it, else
 * MOVED. An exception while the word moved, or RETRY, is MOVED too; any other exception with
 * the word unchanged is real and propagates.
 */
export function validated<T>(copy: () => T, same: () => boolean): T | Moved {
  let out: T;
  try {
    out = copy();
  } catch (e) {
    readFence();
    if (e instanceof ReadRetry || !same()) return MOVED;
    throw e;
  }
  readFence(); // section 3: the copy's plain loads stay before the validating load
  return same() ? out : MOVED;
}

/**
 * This thread's private fence word (module state is per thread: each worker loads its own copy).
 * The fence adds 1 to it, so the word also counts this thread's fences (mod 2^32) for the test
 * that every lock-free read path has one (test/read-fence.test.ts); adding 1 or 0 is the same
 * read-modify-write instruction.
 */
const fenceWord = new Int32Array(new SharedArrayBuffer(4));

/**
 * Section 3: a release-ordered atomic operation between a reader's plain copy and its
 * validating Atomics.load, so that on ARM64 the copy cannot be satisfied after the validation.
 */
export function readFence(): void {
  Atomics.add(fenceWord, 0, 1);
}

/**
 * This thread's read fences so far (mod 2^32).
 * @internal For tests: every lock-free read path must fence between its copy and its validation.
 */
export function fencesSoFar(): number {
  return Atomics.load(fenceWord, 0);
}
