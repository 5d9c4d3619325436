/**
 * The shared table's whole-region passes, each a scan of every slot: the trim of tombstone runs
 * (an inserter's step, under the claim mutex), and what recovery and verify run under the write
 * gate's freeze (mark the blocks slots name, recount the record counters, release a dead claimer),
 * plus the stats read. SharedTable (table.ts) calls these with its views; its header's crash
 * table says which step each repair completes.
 */
import { ErrorCode, SabStateError } from '../../errors.ts';
import { forceRelease, lockSlow, tryLock, unlock } from '../sync/mutex.ts';
import { tagOf } from '../sync/thread-tag.ts';
import { nextWord, wordRef } from '../sync/versioned-word.ts';
import {
  kDeletes, kEmpty, kInserts, kLive, kMutex, kPinnedReads, kReadRetries, kTomb, kTombs, kTrims, kUpdates, kUsed, wordIndex,
} from './table-layout.ts';

/** How long an inserter or recovery waits for the claim mutex. */
export const kClaimTimeoutMs = 10_000;

/** A table's views and names, as the passes need them. */
export interface TableView {
  readonly i32: Int32Array;
  readonly b64: BigUint64Array;
  /** slots - 1. */
  readonly mask: number;
  readonly what: string;
}

/** Under the claim mutex: every run of TOMBs that ends at an EMPTY becomes EMPTY. */
export function trimTombs({ i32, b64, mask }: TableView): void {
  let e = 0;
  while (e <= mask && wordRef(Atomics.load(b64, wordIndex(e))) !== kEmpty) e++;
  if (e > mask) return;
  let nextEmpty = true;
  let trimmed = 0;
  for (let k = 1; k <= mask; k++) {
    const j = (e - k) & mask;
    const w = Atomics.load(b64, wordIndex(j));
    if (wordRef(w) === kEmpty) nextEmpty = true;
    else if (wordRef(w) !== kTomb) nextEmpty = false;
    else if (nextEmpty && Atomics.compareExchange(b64, wordIndex(j), w, nextWord(w, kEmpty)) === w) trimmed++;
  }
  Atomics.sub(i32, kUsed, trimmed);
  Atomics.sub(i32, kTombs, trimmed);
  Atomics.add(i32, kTrims, 1);
}

/** Releases the claim mutex if a dead thread held it (engine.watch), and wakes its waiters. */
export function releaseClaimOwnedBy(i32: Int32Array, deadThreadId: number): number {
  const n = forceRelease(i32, kMutex, tagOf(deadThreadId)) ? 1 : 0;
  Atomics.notify(i32, kMutex);
  return n;
}

/** Marks every record block a slot names (heap-sweep.ts). Under the gate's freeze. */
export function markTableBlocks({ b64, mask, what }: TableView, mark: (ref: number, what: string) => void): void {
  for (let i = 0; i <= mask; i++) {
    const ref = wordRef(Atomics.load(b64, wordIndex(i)));
    if (ref > kTomb) mark(ref, `${what} slot ${i}`);
  }
}

/**
 * The record counters recomputed from the slots (a writer killed between its CAS and its
 * counter update leaves them one off). Under the gate's freeze and, to repair, the claim mutex
 * (taken with `tag`), so no slot changes meanwhile. Returns the differences found (verify) and,
 * with `repair`, fixes them.
 */
export function recountTable({ i32, b64, mask, what }: TableView, tag: number, repair: boolean): string[] {
  let live = 0;
  let tombs = 0;
  for (let i = 0; i <= mask; i++) {
    const ref = wordRef(Atomics.load(b64, wordIndex(i)));
    if (ref === kTomb) tombs++;
    else if (ref !== kEmpty) live++;
  }
  const out: string[] = [];
  const check = (k: number, name: string, want: number): void => {
    const have = Atomics.load(i32, k);
    if (have === want) return;
    out.push(`${what}: ${name} counter says ${have}, the slots hold ${want}`);
    if (repair) Atomics.store(i32, k, want);
  };
  const run = (): void => {
    check(kLive, 'records', live);
    check(kTombs, 'tombstones', tombs);
    check(kUsed, 'used slots', live + tombs);
  };
  if (!repair) {
    run();
    return out;
  }
  if (tryLock(i32, kMutex, tag) !== 0 && !lockSlow(i32, kMutex, tag, kClaimTimeoutMs)) {
    throw new SabStateError(ErrorCode.LOCK_TIMEOUT, `${what}: insert lock not free within ${kClaimTimeoutMs} ms during recovery`);
  }
  try {
    run();
  } finally {
    unlock(i32, kMutex);
  }
  return out;
}

/** The table's counters (shared, read now). */
export function tableStats(i32: Int32Array, maxRecords: number, slots: number) {
  const at = (k: number): number => Atomics.load(i32, k);
  return {
    maxRecords, slots, records: at(kLive), tombstones: at(kTombs), usedSlots: at(kUsed),
    inserts: at(kInserts), updates: at(kUpdates), deletes: at(kDeletes), readRetries: at(kReadRetries),
    pinnedReads: at(kPinnedReads), trims: at(kTrims),
  };
}
