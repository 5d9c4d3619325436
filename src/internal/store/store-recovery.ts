/**
 * Recovery and verification of one store (a heap, its write gate and the tables on it): the one
 * mechanism every table-backed domain (positions, departed, maps, eliminations) uses after a
 * thread died, and what engine.verify() runs.
 *
 * On the thread that saw the worker exit (engine.ts), in this order:
 * 1. each table's claim mutex is force-released if the dead thread held it, and its waiters are
 *    woken (table.ts); the dead thread's write-gate slot, pin bit and freeze are cleared
 *    (write-gate.ts): from here no word of this store names the dead thread (releaseStore: never
 *    waits, runs in the exit handler);
 * 2. (repairStore, scheduled after every pending exit has had its step 1) under the gate's freeze (every live write finished, new ones held back; the recovering
 *    thread may write): the domain's own repair completes or undoes a half-done multi-table
 *    write (positions: positions/repair.ts), then every table's counters are recounted from its
 *    slots, then the heap sweep (heap-sweep.ts) frees what nothing refers to, puts free blocks
 *    back on their lists and sets the heap counters from the walk.
 * Between 1 and 2 live threads go on: every half-done state a dead writer can leave is one that
 * readers and writers already treat right (each domain's crash table says how); step 2 tidies
 * (counters, the open index, leaked blocks), it does not guard correctness.
 */
import { type Mark, type SweepResult, sweepHeap, verifyHeap } from './heap-sweep.ts';
import type { SharedHeap } from './heap.ts';
import type { SharedTable } from './table.ts';

export interface StoreParts {
  readonly heap: SharedHeap;
  readonly tables: readonly SharedTable[];
  /** The domain's own check of its cross-table invariants; with repair, fixes what it can. */
  readonly check?: (repair: boolean) => string[];
  /** Blocks beyond the tables' record blocks that the published state refers to (chunks). */
  readonly mark?: (mark: Mark) => void;
}

export interface StoreRecovery {
  /** Invariant breaks repaired (domain repair and counters). */
  repaired: number;
  /** Heap blocks given back and free blocks relisted. */
  reclaimed: number;
  /** What could not be repaired (a corrupt structure, not a crash). */
  violations: string[];
}

function markAll(p: StoreParts): (mark: Mark) => void {
  return (mark) => {
    if (p.mark !== undefined) {
      p.mark(mark);
      return;
    }
    for (const t of p.tables) t.markBlocks(mark);
  };
}

/** Step 1 above: never waits. Returns how many locks, slots, pins and freezes were released. */
export function releaseStore(p: StoreParts, deadThreadId: number): number {
  let released = 0;
  for (const t of p.tables) released += t.releaseAllOwnedBy(deadThreadId);
  return released + p.heap.gate.releaseAllOwnedBy(deadThreadId);
}

/**
 * Step 2 above. Waits (up to `timeoutMs`, ERR_LOCK_TIMEOUT after) for every write in flight,
 * so it must run after every dead thread's step 1: a dead thread still announced in the gate
 * holds the freeze back (safely: nothing is swept while it is).
 */
export function repairStore(p: StoreParts, timeoutMs?: number): StoreRecovery {
  return p.heap.gate.freeze(
    () => {
      let repaired = p.check === undefined ? 0 : p.check(true).length;
      for (const t of p.tables) repaired += t.recount(true).length;
      const s: SweepResult = sweepHeap(p.heap, markAll(p));
      return { repaired, reclaimed: s.reclaimed + s.relisted, violations: s.violations };
    },
    timeoutMs,
    true,
  );
}

/** Every violation of the store's invariants, with no write in flight (the gate's freeze). */
export function verifyStore(p: StoreParts, timeoutMs?: number, exited?: ReadonlySet<number>): string[] {
  return p.heap.gate.freeze(() => {
    const out = p.check === undefined ? [] : p.check(false);
    for (const t of p.heap.gate.slotOwners()) {
      if (exited?.has(t)) out.push(`${p.heap.what}: a write-gate slot is still owned by exited thread ${t}`);
    }
    for (const t of p.tables) out.push(...t.recount(false));
    out.push(...verifyHeap(p.heap, markAll(p)));
    return out;
  }, timeoutMs);
}

/**
 * A domain's entries as one consistent state (no write in flight while they are read), in the
 * form its snapshot part holds: the one name every domain answers by (positions, departed,
 * eliminations, each map), so a snapshot asks and never decodes a domain's bytes itself.
 */
export interface ConsistentEntries<E> {
  consistentEntries(timeoutMs?: number): E[];
}

/**
 * One store: a heap, its write gate and the tables on it, with the domain's own check and mark.
 * What a domain asks of its store: `write` (its publishing steps inside the write gate),
 * `tryWrite` (the same, never waiting), `consistent` (a view with no write in flight, for
 * snapshots and entries), and the recovery and verification above. No domain drives the gate
 * itself.
 */
export class Store {
  readonly #parts: StoreParts;

  constructor(parts: StoreParts) {
    this.#parts = parts;
  }

  /** Runs a write: fn's allocations and publishes inside the write gate. fn must not wait (no lock inside). */
  write<T>(fn: () => T): T {
    return this.#parts.heap.gate.run(fn);
  }

  /**
   * The closure-free form of write, for hot paths that must not allocate: `enter()`, the
   * publishing steps, then `leave()` in a finally. Nothing between them may wait.
   */
  enter(): void {
    this.#parts.heap.gate.enter();
  }

  /** Ends what enter() began. */
  leave(): void {
    this.#parts.heap.gate.leave();
  }

  /** Like write, but never waits: false (fn not run) while a freeze holds writers back. */
  tryWrite(fn: () => void): boolean {
    const gate = this.#parts.heap.gate;
    if (!gate.tryEnter()) return false;
    try {
      fn();
    } finally {
      gate.leave();
    }
    return true;
  }

  /**
   * fn with no write in flight and new ones held back until it returns (the write gate's freeze):
   * what it reads is one consistent state of the store. ERR_LOCK_TIMEOUT after timeoutMs if a
   * write never finishes (a killed worker nobody recovered).
   */
  consistent<T>(fn: () => T, timeoutMs?: number): T {
    return this.#parts.heap.gate.freeze(fn, timeoutMs);
  }

  /** Recovery after a thread died (engine.watch): step 1 above, never waits. */
  releaseAllOwnedBy(deadThreadId: number): number {
    return releaseStore(this.#parts, deadThreadId);
  }

  /** After releaseAllOwnedBy: step 2 above (domain repair, counters recounted, leaked blocks swept). */
  repair(timeoutMs?: number): StoreRecovery {
    return repairStore(this.#parts, timeoutMs);
  }

  /** Every violation of the store's invariants (domain check, table counters, heap), [] if sound. */
  verify(timeoutMs?: number, exited?: ReadonlySet<number>): string[] {
    return verifyStore(this.#parts, timeoutMs, exited);
  }
}

/**
 * A store of one heap and one table (departed, each named map): its recovery and verification,
 * for a domain to extend instead of writing the three delegations again; the domain writes and
 * reads consistently through `store`.
 */
export class OneTableStore {
  /**
   * The domain's store (protected: not part of the domain's API).
   * @internal
   */
  protected readonly store: Store;

  constructor(heap: SharedHeap, table: SharedTable) {
    this.store = new Store({ heap, tables: [table] });
  }

  /** Recovery after a thread died (engine.watch): its insert mutex, gate slot and pin released. */
  releaseAllOwnedBy(deadThreadId: number): number {
    return this.store.releaseAllOwnedBy(deadThreadId);
  }

  /** After releaseAllOwnedBy: counters recounted, leaked blocks swept. */
  repair(timeoutMs?: number): StoreRecovery {
    return this.store.repair(timeoutMs);
  }

  /** Every violation of the store's invariants (table counters, heap), [] if sound. */
  verify(timeoutMs?: number, exited?: ReadonlySet<number>): string[] {
    return this.store.verify(timeoutMs, exited);
  }
}
