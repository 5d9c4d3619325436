/**
 * Compaction of the positions heap: records are MOVED (their blocks copied byte for byte into new
 * blocks) on two triggers. (a) Capacity: when a positions write's allocation is refused with
 * ERR_CAPACITY, so that a contiguous free range opens where the request fits, and the allocation
 * is tried once more (positions/write.ts). (b) Top: when carved / in use is high, so that the
 * top of the heap comes down to the live data (lowerTop, below). A heap that never moves live data cannot serve every sequence below a
 * fixed share of live bytes (Robson, JACM 1974; test/heap-reuse.test.ts); the positions domain
 * can move, because a record and its chunks are reachable only through the record's table slot.
 *
 * Algorithm (makeRoom(need), inside the heap's write gate):
 * 1. The range wanted: W bytes, the block the refused request takes (its class's size up to
 *    4 KiB, which is what a class list serves; larger: the request rounded to 16).
 * 2. Which blocks can move: records.scan (read windows, like every reader) gives each record's
 *    block and chunk refs; the scans of the open index and the hotkey index give their entries
 *    and the hotkeys' counters: those blocks are movable (index entries must move too: one sits
 *    beside almost every record, so a heap of small positions half deleted has no run of free
 *    and record blocks alone; test/positions-compact.test.ts 'scenario'). Every other
 *    allocated block (blocks of a write in flight, its own record and entries, retired blocks
 *    waiting for a pin) is not.
 * 3. Where: a walk of the blocks from kDataStart to kTop (each block's size word; the bump area
 *    [kTop, maxBytes) counts as one free block) and a sliding window over it: of the runs of
 *    whole blocks covering at least W bytes with no unmovable block, the one with the fewest
 *    movable bytes. The walk races with other threads' splits and merges: it is a hint (a
 *    size word that is no block's ends it), every move below re-reads its record under its lock.
 *    Moving a block into another hole of the same size gains nothing: the window is what gains.
 * 4. Evacuation: every record with a block in the window is moved: new chunks for its chunks in
 *    the window, and a new record block (its refs rewritten), allocated OUTSIDE the window: an
 *    allocation that lands inside it is kept (hoarded) until the end, so that the window's free
 *    blocks stay free and the copies go elsewhere (no allocator hint needed: heap*.ts unchanged).
 * 5. The hoard is freed; the retired blocks are freed once no reader is pinned (heap.collect,
 *    waited for at most kRoomPinWaitMs: the write that asked is about to allocate in the window,
 *    and a reader pinned through the moves, one descheduled mid-copy on a loaded machine, would
 *    keep the old blocks deferred and the write refused after a compaction that succeeded); a
 *    merge joins the window's blocks into one.
 * Cost: O(records + blocks) for the scan and the walk, plus the copy of the window's live
 * bytes; it runs only when an allocation was refused.
 *
 * Top compaction (lowerTop). Why: carved (kTop - kDataStart) follows the PEAK of the bytes in
 * use, not the bytes in use: memory goes back to the bump area only from the top (heap-merge.ts
 * give-back), and live blocks near the top pin it; the validator's live data swings (a sync
 * writes a miner's positions, a departure deletes them), so carved / in use drifts to peak /
 * current (1.47 median in the fourth session's 20-minute soak). Moving the top's live blocks down
 * lets the merge give the top back.
 * T0 trigger (tick, after each write or delete of a thread, positions/write.ts): every
 *    topTrigger.every-th call loads kTop and kInUseBytes; carved / in use above
 *    topTrigger.ratioMilli and carved above topTrigger.floorBytes run T1-T5 (if the ratio is
 *    still over after it, this thread's next check waits twice as long as the last, up to
 *    kMaxBackoff times `every`: a run that cannot lower the top still costs a scan and a walk;
 *    but not when the run found another thread's run in progress (kBusy): that is no reason to
 *    wait). While backed off, each delete loads the same two words: once the free bytes inside
 *    carved have grown by carved / kRefreeShare since the run that left the ratio over, the
 *    check runs at once (a departure or a sync deletes a miner's positions in one burst: that is
 *    when the ratio jumps; what pinned the top then, a write in flight at the top or a pinned
 *    reader, is likely gone). So after a burst of deletes the check comes within the burst or
 *    `every` calls after it, whatever the back-off; a heap that cannot be lowered costs at most
 *    kRefreeShare runs per carved bytes freed, plus one per back-off.
 * T1 inside the write gate, kCompacting CAS 0 -> 1 (SharedHeap.beginCompaction): one compactor at
 *    a time; a thread that loses returns (positions.compact.flagged after it).
 * T2 a merge (heap.consolidate: free neighbours joined, a free top run given back), then the
 *    window: the scan and walk of steps 2-3 (compact-scan.ts). The scan takes milliseconds while
 *    the other threads write, and their new blocks land in the recycled blocks near the top: a
 *    block the scan did not reach is claimed by its key if it is now a published record or
 *    entry (compact-scan.ts claimFixed: a record block names its key, the table's slot of that
 *    key must name the block; a record claims its chunks); one allocated after the scan began
 *    and still not claimable (a write in flight) is passed over, up to kMaxLate of them (the
 *    seventh session's instrumented soaks: every top compaction that moved nothing had been
 *    stopped by such a block, 12 of 28 in one run; stats().positions.heap.topStops counts why
 *    a run moves nothing). X = the lowest block boundary with every block of [X, kTop) free,
 *    movable or passed over and X >= kDataStart + in use x targetMilli / 1000;
 *    the copies' bytes (as step 4 counts them) must not exceed the free bytes below X, else the
 *    window is halved from its bottom, at most 6 times; a window whose gain (its bytes and those
 *    of the free run right under it, which joins the top run once the window is emptied) is
 *    under carved / kMinGainShare is not worth it (nothing moves). The free run counts: the
 *    ninth session's instrumented soak found a 1.1-1.8 MiB free run under a thin live layer at
 *    the top after bursts of deletes, the window that layer alone, and run after run stopped as
 *    too small (test/positions-compact-top 'thin live layer').
 * T3 heap.bound = X (this thread's allocations from the free lists only, never the bump area),
 *    the window's listed free blocks taken off the lists (heap.withhold: each list taken whole,
 *    the blocks below X pushed back), so that the copies find only blocks below X (before, a
 *    copy popped window blocks and hoarded them: 3,251 allocations for 760 moves in the fifth
 *    session's measure); a block freed into the window meanwhile is still hoarded (step 4),
 *    then step 4 with the window [X, maxBytes): every record or entry with a block at or above X
 *    is moved (R1-R6) into blocks below X (one above is hoarded, as in step 4), in the order of
 *    its highest block, highest first; a copy that finds no block below X goes into the
 *    lowest withheld window block that fits below the record's lowest moving block (heap.held,
 *    split as alloc splits, its tail held: a sliding compaction of the window, so the top still
 *    comes down to the highest live block); the first move that finds room in neither ends the
 *    moves (a busy lock does not: that record stays, the others go on). Why the window's own
 *    blocks: the free bytes below X are mostly holes of a few hundred bytes, the byte count
 *    that accepted the window counts them all, and the ninth session's instrumented soak found
 *    most runs stopped for room after some moves and gave nothing back, while the window held
 *    free runs of up to 1.1 MiB (test/positions-compact-top 'own free blocks'). T3b: then the blocks passed
 *    over are claimed again (their writes have had the other moves' time to publish) and what
 *    they belong to is moved the same way; one still in flight stays (the top stays above it).
 *    T3c, the tail pass (also after moves that ran out of room): the window walked again from X
 *    to the top as it is now, and every allocated block there that is not this run's own (the
 *    moved records' old blocks, the hoard, the copies placed in held blocks) and is now a
 *    published record or entry (claimBlock) moved the same way, highest first, up to kMaxTail
 *    per round, kTailRounds rounds; the first that finds no room ends it. These are the other
 *    threads' writes made while the moves ran: blocks carved past the top, or blocks freed into
 *    the window and taken again; one of them above the emptied window kept the whole window from
 *    going back (the eighth session's instrumented soak: of the runs that moved the top's
 *    blocks, most gave nothing back for that reason; test/positions-compact-top 'tail pass').
 *    The walk is a hint (other threads split and merge the blocks it crosses): each claim is
 *    checked against its table slot, each move re-reads its record under the lock.
 * T4 the withheld blocks listed again (heap.restore), the moved records' old blocks retired (R5
 *    queued them: retired one by one they would go on the LIFO lists, where other threads'
 *    allocations pop them first and pin the window again); step 5 (hoard freed, retired blocks collected, merge: the emptied window
 *    joins the free run at the top, which goes back to the bump area unless another thread
 *    bumped meanwhile; then the next free of the block above gives both back, heap.ts free).
 * T5 counts added (kCompactions, kCompactMoves, kCompactBytes: stats().positions.heap.topCompactions,
 *    this thread's in stats().positions.compaction.top), kCompacting stored 0, the gate left.
 * Cost: the scan and walk (O(records + blocks)) and the copies, at most once per check, only
 * when the ratio is over the trigger; the order path pays one decrement and a branch per write.
 *
 * Moving one record (relocate), while nobody else writes it: its (hotkey, trade pair) lock is
 * taken with tryAcquire (never waits: the writer that ran out of room holds its own lock; a
 * stripe this thread holds already is re-entered, a busy one is skipped). Why the lock and not
 * a CAS alone: a CAS move would be safe for save (its CAS from the word it read fails after a
 * move, and it starts over: a whole re-encode, since the record memo misses the new version) but
 * append copies the old record's refs inside the heap from a block the move retires, and would
 * copy garbage before its CAS failed; and both would start over at every move, up to
 * positions/write.ts's kMaxAttempts. Under the lock no write of the record is in flight, so the
 * move's CAS (from the version it read under the lock) succeeds unless a thread writes without
 * the lock, and then the move is abandoned (its new blocks freed). The record of the write that
 * asked for room is not moved: that write read it and will CAS from that version.
 *   R1 tryAcquire (hotkey, tp), R2 read the record (version `seen`, refs), R3 allocate and fill
 *   the new chunks and the new record block (copied value, refs of moved chunks rewritten),
 *   R4 CAS the record slot from `seen` (records.publish), R5 retire the old record block and
 *   the moved chunks, R6 release the lock.
 * An index entry moves the same way (one block: R1-R6 with no chunk): an open-index entry
 * (hotkey, tp) under that pair's lock, a hotkey-index entry (hotkey, i) -> uuid under the lock
 * of that position's pair (only that position's writers remove it; adds publish new keys), a
 * hotkey's counter by its CAS alone: every writer of a counter (hotkey-index.ts #takeNumber,
 * #touch (table.touch or a new block), trimCount, raiseCount) CASes from the version it read and
 * reads again when its CAS fails, so a move between its read and its CAS costs it one retry.
 * Readers are not disturbed: a lock-free reader that copied from the old blocks fails its
 * validation (the slot word moved) and reads again; a pinned reader keeps the old blocks alive
 * (retire defers). Positions read through a moved version decode again (the caches are keyed
 * by block and stamp; this thread's record memo is carried over).
 *
 * Slot table (words this file writes; all in the records table or the heap):
 *
 * | word                         | written by         | how / published by |
 * | ---------------------------- | ------------------ | ------------------ |
 * | new chunk, new record block  | the moving thread  | plain writes into blocks it allocated; published by R4 |
 * | records slot of (hk, uuid)   | the moving thread (holding the pair's lock) | table.publish CAS from the version read in R2 |
 * | open / byHotkey slot of an entry | the moving thread (the pair's lock; a counter: none) | table.publish CAS from the version read |
 * | old record block, old chunks | (nobody writes)    | retired after R4 (heap.retire: freed once no reader is pinned); a top compaction retires them at T4, all at once |
 * | hoarded blocks               | the moving thread  | allocated, never published, freed at the end |
 * | lock stripe of (hk, tp)      | the moving thread  | locks domain tryAcquire / release |
 * | heap kCompacting             | the top compactor  | CAS 0 -> 1 (T1), store 0 (T5): heap-layout.ts |
 * | heap kCompactions, kCompactMoves, kCompactBytes | the top compactor | Atomics.add at T5 (stats) |
 * | heap kCompactStops + why     | the top compactor, when it moved nothing | Atomics.add before T5 (heap.countStop: stats topStops) |
 * | heap.bound, heap.held, heap.heldBelow (this thread's SharedHeap object, not shared) | the top compactor | plain (T3, T4; heldBelow per move) |
 *
 * CRASH TABLE (a thread terminated right after the step; recovery: engine.watch releases its
 * lock stripes and gate slot, then under the write gate's freeze positions/repair.ts, the table
 * recount and the heap sweep, store-recovery.ts):
 *
 * | step (crash point)                               | leaves                                  | recovery |
 * | ------------------------------------------------ | --------------------------------------- | -------- |
 * | R1 lock taken                                    | the pair's stripe held by a dead thread | watch releases it |
 * | R3 new blocks filled (positions.compact.copied)  | allocated blocks nothing refers to; hoarded blocks | sweep frees them: the move never happened |
 * | R4 record CAS (positions.compact.published)      | the moved version published (same bytes); the old record block and moved chunks unretired; hoarded blocks | sweep frees them: the move completed |
 * | R5 old blocks retired (positions.compact.retired) | the stripe held; hoarded blocks        | watch releases the stripe; sweep frees the hoard |
 * | 5: hoard freed, collect, merge                   | as heap.ts free / collect / merge rows  | as there |
 * | T1 flag taken (positions.compact.flagged)        | kCompacting 1: no other top compaction runs | the heap sweep stores 0 (under the freeze no live thread is inside the gate, so only a dead one held it); verify() reports a flag left up |
 * | T2 merge                                         | as heap-merge.ts rows                   | as there |
 * | T2 scanned (positions.compact.scanned)           | kCompacting 1 (the scan, the walk and claimFixed write no shared word) | as T1 |
 * | T3 window withheld (heap.withhold.taken)        | the window's free blocks on no list     | the heap sweep lists them (heap.ts withhold rows) |
 * | T3 moves, T3b the late blocks' moves, T3c the tail pass's | as R1-R6 above (bound and held are this thread's: gone with it; the withheld blocks on no list, a held block taken or split for a copy: heap.ts alloc held rows); R5 only queues the old blocks (this thread's list) | as R4: the sweep frees the old blocks and copies nothing refers to, lists the held blocks |
 * | T4 release                                       | as step 5                               | as there |
 * | T5 counts added (a run that moved nothing: its topStops word), before the flag's store | kCompacting 1 | as T1 |
 * An entry's move has the same points and rows (one block instead of a record's). No move
 * changes what any slot says (the same bytes in a new block), so positions/repair.ts has nothing
 * of a move to complete or undo: each state above is a whole version of every record and entry.
 */
import { ErrorCode, SabStateError } from '../../errors.ts';
import { crashPoint, declareCrashPoints } from '../../internal/crash.ts';
import { classOf, classSize, kBlockHeaderBytes } from '../../internal/store/heap.ts';
import { kLargeClass } from '../../internal/store/heap-classes.ts';
import { kDataStart, kDeferredHead, kInUseBytes, kTop } from '../../internal/store/heap-layout.ts';
import { Version } from '../../internal/store/version.ts';
import { type Ent, type Movable, claimBlock, claimFixed, emptyMovable, fits, kFixed, kFree, kMovable, lowerBound, scanMovable, walkBlocks, windowMoves } from './compact-scan.ts';
import { type RawRecord, ReadMode, kChunkHeaderBytes, kPosRefsByte, readRecordValue } from './record.ts';
import type { PositionStore } from './store.ts';

declareCrashPoints('positions', ['positions.compact.flagged', 'positions.compact.scanned', 'positions.compact.copied', 'positions.compact.published', 'positions.compact.retired']);

/** What compaction needs of the lock domain (a LockDomain fits). */
export interface TryLocks {
  tryAcquire(hotkey: string, tradePairId: string): { release(): void } | null;
}

/** This thread's compaction counts (PositionsStats.compaction). */
export interface CompactionStats {
  /** makeRoom calls: allocations refused with ERR_CAPACITY that compaction answered. */
  runs: number;
  /** Of those, how many found no window it could empty, or could not move every record of it (a busy lock, no room). */
  failed: number;
  /** Records moved (one new record version each). */
  relocations: number;
  /** Bytes copied into new blocks (record blocks and chunks). */
  movedBytes: number;
  /** Records not moved because another thread held their lock. */
  busy: number;
  /** This thread's top compactions (lowerTop) that moved something, records and entries they moved, bytes copied. */
  top: { runs: number; relocations: number; movedBytes: number; attempts: number };
}

/**
 * When the top compaction runs (lowerTop), for this thread (module state: tests lower it, each
 * thread in its own module instance): carved / in use above `ratioMilli` / 1000 and carved above
 * `floorBytes`, checked (two loads) at every `every`-th write or delete of the thread; it lowers
 * the top to about `targetMilli` / 1000 of the bytes in use. A check that found nothing to move
 * makes the next wait twice as long (up to kMaxBackoff x every).
 */
export const topTrigger = { ratioMilli: 1200, floorBytes: 1 << 20, every: 64, targetMilli: 1100 };
const kMaxBackoff = 1024;
/** While backed off, a delete runs the check early once the free bytes inside carved grew by carved / kRefreeShare since the run that left the ratio over. */
const kRefreeShare = 16;
/**
 * Why a top compaction moved nothing (heap.countStop; stats().positions.heap.topStops, in this
 * order): the highest fixed block (no scan reached it) under the top stopped the window, and it
 * was allocated after the scan began (a write in flight, or published too late for the scan) /
 * waiting on the deferred list (retired, a reader pinned) / older (in flight before the scan);
 * the walk raced; the window's copies would not fit below it; the window was under the minimum
 * gain with no fixed block; the moves all failed (busy locks, no room after all).
 */
export const TopStop = { fixedNew: 0, fixedDeferred: 1, fixedOld: 2, walkRaced: 3, noRoom: 4, small: 5, movedNone: 6 } as const;
/** Fixed blocks allocated after the top compaction's scan began that its window may pass over (#topWindow). */
const kMaxLate = 8;
/** The tail pass (T3c): blocks claimed per round, rounds. */
const kMaxTail = 64;
const kTailRounds = 2;
/** #lowerTop: another thread's top compaction holds the flag. */
const kBusy = -1;
/** A top window smaller than carved / kMinGainShare is not worth a scan and a move. */
const kMinGainShare = 32;

/** How long the retry waits, at most, for pinned readers to let the retired blocks go. */
const kPinWaitMs = 50;
/**
 * The same for makeRoom (a write refused with ERR_CAPACITY waits for it): the window is free only
 * once the moved records' old blocks are, and the write allocates there next. Readers pin only
 * around a copy, so this bounds the time a descheduled reader may take (test/positions-compact
 * 'pinned': 400 ms pinned, the 50 ms wait left the write refused); a dead reader's pin is
 * cleared when its exit is seen (engine.watch).
 */
const kRoomPinWaitMs = 2000;
/** Allocations a move may keep back (inside the window) before it gives up. */
const kMaxHoard = 1 << 16;
/** Windows whose placement is simulated, cheapest first, before compaction gives up. */
const kCandidates = 64;

/** Thrown inside a move when the allocator cannot place a copy outside the window. */
const kNoRoom = new Error('no room outside the window');

export class Compactor {
  readonly #s: PositionStore;
  readonly #locks: TryLocks;
  readonly stats: CompactionStats = { runs: 0, failed: 0, relocations: 0, movedBytes: 0, busy: 0, top: { runs: 0, relocations: 0, movedBytes: 0, attempts: 0 } };
  /** Multiple of topTrigger.every until the next check: doubled while runs leave the ratio over the trigger. */
  #backoff = 1;
  /** Writes and deletes of this thread until the next check of the top trigger (tick). */
  #countdown = 1;
  /** Free bytes inside carved (carved - in use) when a run last left the ratio over the trigger (tick). */
  #freeAtFail = 0;
  /** Records and entries moved, bytes copied by this thread (#move, #moveEntry): each trigger counts its share. */
  #moved = 0;
  #copied = 0;
  /** Top compaction: the window's free blocks taken off the lists at T3 (heap.withhold), listed again at T4. */
  #held: number[] = [];
  /** Blocks allocated inside the window, freed at the end of the pass. */
  #hoard: number[] = [];
  /** Top compaction: the copies placed in the window's withheld blocks (heap.held), not the tail pass's to move. */
  #placed = new Set<number>();
  /**
   * Top compaction only: the moved records' old blocks, retired at T4 (not at R5) all at once
   * right before the merge, so that no other thread's allocation pops one of them off a LIFO list
   * meanwhile and pins the window again. Null: retired at R5.
   */
  #late: number[] | null = null;
  #lo = 0;
  #hi = 0;
  readonly #sleep = new Int32Array(new SharedArrayBuffer(4));

  constructor(store: PositionStore, locks: TryLocks) {
    this.#s = store;
    this.#locks = locks;
  }

  /**
   * Steps 1-5 of the header for a refused request of `payloadBytes` (inside the write gate). The
   * record (hotkey, uuid) of the write in flight is not moved. True if a window was emptied (the
   * caller tries its allocation again); false if no window could be.
   */
  makeRoom(payloadBytes: number, hotkey: string, uuid: string): boolean {
    this.stats.runs++;
    const need = payloadBytes + kBlockHeaderBytes;
    const c = classOf(need);
    const want = c < kLargeClass ? classSize(c) : (need + 15) & ~15;
    const m = scanMovable(this.#s, hotkey, uuid);
    const win = this.#window(want, m);
    if (win === null) {
      this.stats.failed++;
      return false;
    }
    const r = this.#evacuate(win.lo, win.hi, m, win.order, false, kRoomPinWaitMs);
    this.stats.relocations += r.moves;
    this.stats.movedBytes += r.bytes;
    // Some records may not have moved (a busy lock, no room after all): the caller tries once anyway.
    if (!r.ok) this.stats.failed++;
    return true;
  }

  /**
   * After each write or delete of this thread (positions/write.ts; `freed`: a delete): at every
   * topTrigger.every-th, the top trigger's cheap check (two loads), and lowerTop if carved / in use
   * is over it. While backed off (a run left the ratio over it), a delete also checks (two loads)
   * whether the free bytes inside carved grew by carved / kRefreeShare since that run: a
   * departure's or sync's burst of deletes is exactly when the ratio jumps, and what pinned the
   * top then (a write in flight, a pinned reader) may be gone.
   */
  tick(freed = false): void {
    const heap = this.#s.heap;
    if (--this.#countdown > 0) {
      if (!freed || this.#backoff === 1) return;
      const carved = this.#carved();
      if (this.#freeInside(carved) - this.#freeAtFail < carved / kRefreeShare) return;
    }
    this.#countdown = topTrigger.every;
    if (heap.fragmentationMilli() <= topTrigger.ratioMilli || this.#carved() < topTrigger.floorBytes) {
      this.#backoff = 1;
      return;
    }
    const r = this.#lowerTop();
    if (heap.fragmentationMilli() <= topTrigger.ratioMilli) {
      this.#backoff = 1;
    } else if (r !== kBusy) {
      // Still over (nothing to move, no room below, a fixed block at the top): wait longer, or
      // until enough is freed. Another thread's run in progress (kBusy) is no reason to wait longer.
      this.#backoff = Math.min(kMaxBackoff, this.#backoff * 2);
      this.#countdown = topTrigger.every * this.#backoff;
      this.#freeAtFail = this.#freeInside(this.#carved());
    }
  }

  /** The heap's carved bytes (kTop - kDataStart), one load. */
  #carved(): number {
    return Atomics.load(this.#s.heap.i32, kTop) - kDataStart;
  }

  /** Of `carved`, the bytes not in use (free, or held by a merge or a compaction), one more load. */
  #freeInside(carved: number): number {
    return carved - Atomics.load(this.#s.heap.i32, kInUseBytes);
  }

  /**
   * T1-T5 of the header's top compaction: one thread at a time (kCompacting), inside the write
   * gate: a merge, then the live blocks of the top window [X, kTop) moved into free blocks below
   * X, a merge that gives the emptied top back. True if it moved something. Not while this
   * thread writes a position (its own blocks in flight would pin the window).
   */
  lowerTop(): boolean {
    return this.#lowerTop() > 0;
  }

  /** lowerTop: the records and entries moved, or kBusy if another thread's top compaction holds the flag. */
  #lowerTop(): number {
    const heap = this.#s.heap;
    this.#s.enter();
    try {
      if (!heap.beginCompaction()) return kBusy;
      this.stats.top.attempts++;
      crashPoint('positions.compact.flagged');
      let r = { ok: false, moves: 0, bytes: 0 };
      try {
        heap.consolidate();
        const w = this.#topWindow();
        if (typeof w === 'number') {
          heap.countStop(w);
        } else {
          heap.bound = w.lo;
          this.#late = [];
          this.#held = heap.withhold(w.lo).sort((x, y) => x - y);
          heap.held = this.#held;
          try {
            r = this.#evacuate(w.lo, heap.maxBytes, w.m, w.order, true, kPinWaitMs, w.late);
          } finally {
            heap.bound = 0;
            heap.held = null;
          }
          if (r.moves === 0) heap.countStop(TopStop.movedNone);
        }
      } finally {
        heap.endCompaction(r.moves, r.bytes);
      }
      if (r.moves === 0) return 0;
      this.stats.top.runs++;
      this.stats.top.relocations += r.moves;
      this.stats.top.movedBytes += r.bytes;
      return r.moves;
    } finally {
      this.#s.leave();
    }
  }

  /**
   * T2: the top window. X is the lowest block boundary such that every block in [X, kTop) is free
   * or movable (after claimFixed: the blocks published since the scan began are claimed by their
   * keys; up to kMaxLate blocks allocated since and not claimable, writes in flight, are passed
   * over and returned as `late`) and X is at or above kDataStart + in use x targetMilli / 1000;
   * the bytes of the copies of its movable blocks (and a new record block per moved record) must
   * not exceed the free bytes below X, else the window is halved (from its bottom), a few times.
   * If no window gains carved / kMinGainShare (its bytes and the free run under it): why (TopStop). Not simulated block by block as makeRoom's windows are:
   * the free space below is many small holes, a whole window's copies seldom fit them all in a
   * best-fit simulation, and the moves go highest first and stop at the first that finds no room
   * (#evacuate), so a window only partly emptied still lowers the top.
   */
  #topWindow(): { lo: number; m: Movable; order: number[]; late: number[] } | number {
    const heap = this.#s.heap;
    const used = Atomics.load(heap.i32, kInUseBytes);
    const clock = heap.stampClock();
    const m = scanMovable(this.#s, '', '');
    crashPoint('positions.compact.scanned');
    const b = walkBlocks(this.#s, m);
    const { at, size, kind } = b;
    const n = at.length;
    const goal = kDataStart + Math.ceil((used * topTrigger.targetMilli) / 1000);
    const minGain = Math.max(1 << 12, Math.floor((b.top - kDataStart) / kMinGainShare));
    claimFixed(this.#s, m, b, 0);
    // A fixed block allocated after the scan began (a write in flight at the walk, published
    // since, or about to be) does not stop the window: up to kMaxLate of them are passed over
    // and tried again after the other moves (#evacuate), when their writes have published.
    const late: number[] = [];
    let i = n;
    while (i > 0 && at[i - 1]! >= goal) {
      if (kind[i - 1] === kFixed) {
        const stale = !(b.raced && i === n) && ((heap.stampOf(at[i - 1]!) - clock) | 0) > 0;
        if (!stale || late.length >= kMaxLate) break;
        late.push(at[i - 1]!);
      }
      i--;
    }
    // What emptying [at[j], top) gives back: the window and the free run right under it (the
    // merge joins them into the top run). A thin live layer over a large free run (writes carved
    // past the top while a burst of deletes freed what lay under them) gains the whole run.
    const gain = (j: number): number => {
      let k = j;
      while (k > 0 && kind[k - 1] === kFree) k--;
      return j < n ? b.top - at[k]! : 0;
    };
    const tooSmall = gain(i) < minGain;
    for (let tries = 0; i < n && gain(i) >= minGain && tries < 6; tries++) {
      const mv = windowMoves(b, m, i, n);
      let free = 0;
      for (let k = 0; k < i; k++) if (kind[k] === kFree) free += size[k]!;
      if (mv.needs.reduce((x, y) => x + y, 0) <= free) return { lo: at[i]!, m, order: mv.order, late: late.filter((r) => r >= at[i]!) };
      i += Math.max(1, (n - i) >> 1);
    }
    if (!tooSmall) return TopStop.noRoom;
    if (i === 0 || kind[i - 1] !== kFixed) return TopStop.small;
    const ref = at[i - 1]!;
    let why: number = TopStop.fixedOld;
    if (b.raced && i - 1 === n - 1) why = TopStop.walkRaced;
    else if (((heap.stampOf(ref) - clock) | 0) > 0) why = TopStop.fixedNew;
    else if (heap.isDeferred(ref)) why = TopStop.fixedDeferred;
    return why;
  }

  /**
   * Steps 1-5 of the window moves (header): every record and entry of `order` (windowMoves) has
   * its blocks inside [lo, hi) copied outside it, then the hoard is freed, the retired blocks
   * collected and the heap merged. `stopWhenFull` (the top compaction): the first move that finds
   * no room ends the moves (the others, lower, would not lower the top). ok: every one moved;
   * moves and bytes: what moved.
   */
  #evacuate(lo: number, hi: number, m: Movable, order: number[], stopWhenFull: boolean, pinWaitMs: number, late: number[] = []): { ok: boolean; moves: number; bytes: number } {
    let ok = true;
    const before = this.#moved;
    const bytes = this.#copied;
    this.#lo = lo;
    this.#hi = hi;
    try {
      // The blocks the window passed over (allocated after the scan began), claimed now that
      // their writes have had the other moves' time to publish (T3b), moved after the others.
      let full = false;
      for (const k of order) {
        const r = k >= 0 ? m.recs[k]! : null;
        const moved = r !== null ? this.#relocate(r.hotkey, r.uuid, r.tp) : this.#moveEntry(m.ents[-k - 1]!);
        if (moved === -1) this.stats.busy++;
        if (moved < 0) ok = false;
        if (moved === -2 && stopWhenFull) {
          full = true;
          break;
        }
      }
      if (!full && late.length > 0) {
        const again = emptyMovable();
        for (const ref of late) claimBlock(this.#s, again, ref);
        for (const r of again.recs) if (this.#relocate(r.hotkey, r.uuid, r.tp) < 0) ok = false;
        for (const e of again.ents) if (this.#moveEntry(e) < 0) ok = false;
      }
      // The tail pass runs after moves that ran out of room too: what it claims is highest first,
      // and each copy may go into the window's free blocks below it (heap.held).
      if (this.#late !== null) ok = this.#tailPass(lo) && ok;
    } finally {
      this.#release(pinWaitMs);
    }
    return { ok, moves: this.#moved - before, bytes: this.#copied - bytes };
  }

  /**
   * T3c (header): the other threads' blocks allocated in the window [lo, kTop) while the moves
   * ran, claimed (a walk from lo, a hint) and moved out of it. False if a move failed.
   */
  #tailPass(lo: number): boolean {
    let ok = true;
    for (let round = 0; round < kTailRounds; round++) {
      // This run's own blocks: the moved records' old blocks, the hoard, the copies in held blocks.
      const own = new Set<number>([...(this.#late ?? []), ...this.#hoard, ...this.#placed]);
      const again = emptyMovable();
      // Every allocated block walks as fixed (`again` is empty); a raced walk's last entry is no block.
      const b = walkBlocks(this.#s, again, lo);
      const blocks = b.raced ? b.at.length - 1 : b.at.length;
      let claimed = 0;
      // Highest first: the block nearest the top holds the most of the window.
      for (let k = blocks - 1; k >= 0 && claimed < kMaxTail; k--) {
        const p = b.at[k]!;
        if (b.kind[k] !== kFree && !own.has(p) && !again.owner.has(p) && !again.entOwner.has(p) && claimBlock(this.#s, again, p)) claimed++;
      }
      if (claimed === 0) break;
      for (const r of again.recs) {
        const moved = this.#relocate(r.hotkey, r.uuid, r.tp);
        if (moved < 0) ok = false;
        if (moved === -2) return false;
      }
      for (const e of again.ents) if (this.#moveEntry(e) < 0) ok = false;
    }
    return ok;
  }

  /**
   * Moves every block of (hotkey, uuid) (tests of the protocol, and a caller that wants it
   * elsewhere): the same steps as a move out of a window, the window being the record's own span.
   * True if it moved.
   */
  relocate(hotkey: string, uuid: string, tp: string): boolean {
    const { heap, records } = this.#s;
    const cur = records.read(hotkey, uuid, this.#meta());
    if (cur === undefined) return false;
    let lo = cur.ref;
    let hi = cur.ref + heap.capacityOf(cur.ref) + kBlockHeaderBytes;
    for (let k = 0; k < cur.refs.length; k += 2) {
      const r = cur.refs[k]!;
      lo = Math.min(lo, r);
      hi = Math.max(hi, r + heap.capacityOf(r) + kBlockHeaderBytes);
    }
    this.#lo = lo;
    this.#hi = hi;
    const before = this.#copied;
    try {
      if (this.#relocate(hotkey, uuid, tp) <= 0) return false;
      this.stats.relocations++;
      this.stats.movedBytes += this.#copied - before;
      return true;
    } finally {
      this.#release(kPinWaitMs);
    }
  }

  /**
   * The window of step 3, or null. Candidates: for each block, the shortest run of whole blocks
   * from it covering `want` bytes with no fixed block; the cheapest (fewest movable bytes) first.
   * A candidate is taken only if its moves can be placed outside it: every moved record also
   * needs a new record block (the largest block of a long position), so a window of chunks whose
   * records' blocks fit no hole outside would gain nothing. The placement is simulated (best fit,
   * largest first) on the free blocks outside the window, as the walk saw them.
   */
  #window(want: number, m: Movable): { lo: number; hi: number; order: number[] } | null {
    const b = walkBlocks(this.#s, m);
    const { at, size, kind } = b;
    // The bump area [kTop, maxBytes) counts as one free block.
    at.push(b.top);
    size.push(this.#s.heap.maxBytes - b.top);
    kind.push(kFree);
    const cands: Array<{ i: number; j: number; cost: number }> = [];
    let j = 0;
    let cov = 0;
    let cost = 0;
    for (let i = 0; i < at.length; i++) {
      if (j < i) {
        j = i;
        cov = 0;
        cost = 0;
      }
      while (j < at.length && cov < want && kind[j] !== kFixed) {
        cov += size[j]!;
        if (kind[j] === kMovable) cost += size[j]!;
        j++;
      }
      if (cov >= want) cands.push({ i, j, cost });
      if (kind[i] === kFixed || j === i) {
        j = i + 1;
        cov = 0;
        cost = 0;
        continue;
      }
      cov -= size[i]!;
      if (kind[i] === kMovable) cost -= size[i]!;
    }
    cands.sort((x, y) => x.cost - y.cost);
    const free: number[] = [];
    for (let k = 0; k < at.length; k++) if (kind[k] === kFree && size[k]! >= 16) free.push(size[k]!);
    free.sort((x, y) => x - y);
    for (let t = 0; t < cands.length && t < kCandidates; t++) {
      const { i, j: e } = cands[t]!;
      const mv = windowMoves(b, m, i, e);
      const outside = free.slice();
      for (let k = i; k < e; k++) if (kind[k] === kFree && size[k]! >= 16) outside.splice(lowerBound(outside, size[k]!), 1);
      if (fits(mv.needs, outside)) return { lo: at[i]!, hi: at[e - 1]! + size[e - 1]!, order: mv.order };
    }
    return null;
  }

  /**
   * R1-R6 for one record: its blocks inside [#lo, #hi) copied to blocks outside, published,
   * the old ones retired. 1 moved, 0 nothing to move, -1 its lock was busy, -2 not moved (no room
   * outside the window, or written without the lock meanwhile).
   */
  #relocate(hotkey: string, uuid: string, tp: string): number {
    const guard = this.#locks.tryAcquire(hotkey, tp);
    if (guard === null) return -1;
    try {
      return this.#move(hotkey, uuid, tp);
    } finally {
      guard.release();
    }
  }

  #move(hotkey: string, uuid: string, tp: string): number {
    const { heap, records, memo } = this.#s;
    const h = records.hash(hotkey, uuid);
    const seen = new Version();
    const cur = records.read(hotkey, uuid, this.#meta(), h, seen);
    // Deleted, or (a save with both locks) moved to another pair since the scan: not ours to move.
    if (cur === undefined || cur.tp !== tp) return 0;
    const inside = (r: number): boolean => r < this.#hi && r + heap.capacityOf(r) + kBlockHeaderBytes > this.#lo;
    const moved = new Map<number, number>();
    for (let k = 0; k < cur.refs.length; k += 2) {
      const r = cur.refs[k]!;
      if (!moved.has(r) && inside(r)) moved.set(r, 0);
    }
    if (moved.size === 0 && !inside(cur.ref)) return 0;
    // A copy that finds no room below the window may go into the window's own free blocks, below
    // every block of this record that moves (heap.held: a top compaction only).
    let low = inside(cur.ref) ? cur.ref : heap.maxBytes;
    for (const r of moved.keys()) low = Math.min(low, r);
    heap.heldBelow = low;
    let ref = 0;
    let bytes = 0;
    try {
      for (const old of moved.keys()) {
        heap.checkBlock(old); // covers the whole block (a copy past a view's end would be cut short)
        const p = heap.payload(old);
        const n = kChunkHeaderBytes + heap.i32[p >> 2]!;
        const fresh = this.#alloc(() => heap.alloc(n));
        moved.set(old, fresh);
        heap.u8.copyWithin(heap.payload(fresh), p, p + n);
        bytes += n;
      }
      ref = this.#alloc(() => records.allocRecord(hotkey, uuid, h, cur.len));
      const at = records.valueOffset(ref);
      heap.u8.copyWithin(at, cur.at, cur.at + cur.len);
      bytes += cur.len;
      const q = (at + kPosRefsByte) >> 2;
      for (let k = 0; k < cur.refs.length >> 1; k++) {
        const to = moved.get(cur.refs[2 * k]!);
        if (to === undefined) continue;
        heap.writeInt32(q + 2 * k, to);
        heap.writeInt32(q + 2 * k + 1, heap.stampOf(to));
      }
      crashPoint('positions.compact.copied');
    } catch (e) {
      this.#discard(moved, ref);
      if (e === kNoRoom || (e instanceof SabStateError && e.code === ErrorCode.CAPACITY)) return -2;
      throw e;
    }
    const prev = records.publish(hotkey, uuid, h, ref, seen);
    if (prev === -1) {
      // Written without the lock since R2: that write stands, the copy goes.
      this.#discard(moved, ref);
      return -2;
    }
    crashPoint('positions.compact.published');
    for (const old of moved.keys()) this.#retire(old);
    this.#retire(prev);
    crashPoint('positions.compact.retired');
    // This thread's memo of the order list carries over (same chunks' bytes, new refs).
    const list = memo.get(cur.ref, cur.stamp);
    if (list !== undefined) memo.put(ref, heap.stampOf(ref), list);
    this.#moved++;
    this.#copied += bytes;
    return 1;
  }

  /**
   * Moves one index entry (Ent) out of the window: under its pair's lock (tryAcquire), or for a
   * counter by the CAS alone; the same steps and crash points as a record's move, one block.
   * Returns as #relocate.
   */
  #moveEntry(e: Ent): number {
    const guard = e.tp === undefined ? null : this.#locks.tryAcquire(e.a, e.tp);
    if (e.tp !== undefined && guard === null) return -1;
    try {
      const heap = this.#s.heap;
      const t = e.t;
      const h = t.hash(e.a, e.b);
      const seen = new Version();
      const cur = t.read(e.a, e.b, (_u8, at, len, ref) => ({ at, len, ref }), h, seen);
      if (cur === undefined || cur.ref >= this.#hi || cur.ref + heap.capacityOf(cur.ref) + kBlockHeaderBytes <= this.#lo) return 0;
      heap.heldBelow = cur.ref;
      let ref = 0;
      try {
        ref = this.#alloc(() => t.allocRecord(e.a, e.b, h, cur.len));
        heap.u8.copyWithin(t.valueOffset(ref), cur.at, cur.at + cur.len);
        crashPoint('positions.compact.copied');
      } catch (x) {
        if (ref !== 0) this.#free(ref);
        if (x === kNoRoom || (x instanceof SabStateError && x.code === ErrorCode.CAPACITY)) return -2;
        throw x;
      }
      const prev = t.publish(e.a, e.b, h, ref, seen);
      if (prev === -1) {
        // Changed since the read (a counter's update): that write stands.
        this.#free(ref);
        return -2;
      }
      crashPoint('positions.compact.published');
      this.#retire(prev);
      crashPoint('positions.compact.retired');
      this.#moved++;
      this.#copied += cur.len;
      return 1;
    } finally {
      guard?.release();
    }
  }

  /**
   * An allocation outside the window: what lands inside is hoarded (freed at the end), then it
   * asks again; one from the window's withheld blocks below the record (heap.fromHeld) is kept
   * (and left alone by the tail pass).
   */
  #alloc(fn: () => number): number {
    const heap = this.#s.heap;
    for (;;) {
      heap.fromHeld = false;
      const ref = fn();
      if (heap.fromHeld) {
        this.#placed.add(ref);
        return ref;
      }
      if (ref >= this.#hi || ref + heap.capacityOf(ref) + kBlockHeaderBytes <= this.#lo) return ref;
      this.#hoard.push(ref);
      if (this.#hoard.length >= kMaxHoard) throw kNoRoom;
    }
  }

  /** A reader of a record's META (flags, trade pair, refs) and where its value lies (under the lock: stable). */
  #meta(): (u8: Uint8Array, at: number, len: number, ref: number) => RawRecord & { at: number; len: number } {
    const { heap, cache, memo } = this.#s;
    return (_u8, at, len, ref) => Object.assign(readRecordValue(heap, at, len, ref, ReadMode.META, cache, memo), { at, len });
  }

  #discard(moved: Map<number, number>, ref: number): void {
    for (const f of moved.values()) if (f !== 0) this.#free(f);
    if (ref !== 0) this.#free(ref);
  }

  /** A copy that will not be published, freed (and no longer one of this run's placed copies). */
  #free(ref: number): void {
    this.#placed.delete(ref);
    this.#s.heap.free(ref);
  }

  /** Step 5: the hoard freed, the retired blocks freed once no reader is pinned (bounded wait), a merge. */
  /** R5 for one old block: retired now, or (top compaction) at T4. */
  #retire(ref: number): void {
    if (this.#late === null) this.#s.heap.retire(ref);
    else this.#late.push(ref);
  }

  #release(pinWaitMs: number): void {
    const heap = this.#s.heap;
    heap.restore(this.#held);
    this.#held = [];
    this.#placed.clear();
    for (const r of this.#hoard) heap.free(r);
    this.#hoard = [];
    if (this.#late !== null) for (const r of this.#late) heap.retire(r);
    this.#late = null;
    const deadline = Date.now() + pinWaitMs;
    heap.collect();
    while (Atomics.load(heap.i32, kDeferredHead) !== 0 && Date.now() < deadline) {
      Atomics.wait(this.#sleep, 0, 0, 1);
      heap.collect();
    }
    heap.consolidate();
  }
}
