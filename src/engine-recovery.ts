/**
 * Recovery of a dead thread, for the whole engine: the one mechanism behind engine.watch(), and
 * the invariant checker behind engine.verify().
 *
 * A thread may die between any two of its shared-memory steps. Every structure's file has a
 * crash table: for each step, what the dead thread leaves and how recovery completes or undoes
 * it. Recovery has two phases, the same for every structure:
 *
 * 1. RELEASE (in the worker's 'exit' handler, never waits): every word that names the dead
 *    thread is given back and its waiters woken: lock stripes and the stripes' waiters
 *    (locks.ts), table insert mutexes, write-gate slots, pin bits and freezes (store-recovery.ts),
 *    queue locks (ring.ts), sync-gate guards (sync-gate.ts), the eliminations writer (eliminations.ts).
 *    After it nothing is held, pinned, claimed or counted for the dead thread, and no waiter
 *    sleeps on a word the dead thread would have changed.
 * 2. REPAIR (scheduled after the handler, so that every worker that died at the same moment has
 *    had its phase 1 first): per store, under its write gate's freeze, the half-done multi-step
 *    writes are completed or undone from the state itself (positions: the open index and the
 *    hotkey lists; every table: its counters) and the heap is swept (leaked blocks freed, free
 *    blocks relisted, counters set from a walk). A freeze that cannot be had within
 *    kRepairFreezeMs (a write in flight that does not finish: another dead thread not yet
 *    released) is tried again later; repair never blocks the event loop for long.
 *
 * Live threads go on between the two phases: the states a dead writer leaves are ones that
 * readers and writers already handle (each crash table says how). `whenRecovered()` resolves
 * once no repair is pending (tests and operators wait on it before verify()).
 */
import type { Worker } from 'node:worker_threads';
import { ErrorCode, SabStateError } from './errors.ts';
import type { StoreRecovery } from './internal/store/store-recovery.ts';
import { type ThreadRegistry, osThreadExists } from './internal/sync/threads.ts';
import { type DeathCheck, addDeathCheck, removeDeathCheck } from './internal/sync/wait.ts';


interface Recoverable {
  releaseAllOwnedBy(deadThreadId: number): number;
}
interface Repairable extends Recoverable {
  repair(timeoutMs?: number): StoreRecovery;
  verify(timeoutMs?: number, exited?: ReadonlySet<number>): string[];
}

export interface RecoveryParts {
  readonly locks: Recoverable;
  /** Stores with a heap: released, then repaired and verified. */
  readonly stores: () => Array<[string, Repairable]>;
  /** Structures without a heap: released only. */
  readonly others: () => Recoverable[];
  /** Which OS thread runs each attached worker (the synchronous death check: threads.ts). */
  readonly threads: ThreadRegistry;
}

/** What `engine.watch()` saw and recovered, in `stats().watch` (this thread's watches). */
export interface WatchStats {
  /** Watched workers that exited. */
  exited: number;
  /** Of those, recovered from inside a wait of this thread (their OS thread gone, before the 'exit' event). */
  recoveredWhileWaiting: number;
  /** Lock stripes released. */
  recoveredLocks: number;
  /** Other words released (insert mutexes, gate slots, pins, guards, queue locks, freezes). */
  recoveredOther: number;
  /** Repair passes run, and what they repaired and reclaimed. */
  repairs: number;
  repaired: number;
  reclaimedBlocks: number;
  /** Repairs waiting (a freeze not yet obtained). */
  pendingRepairs: number;
}

/** How long one repair attempt waits for writes in flight before it yields and tries again. */
const kRepairFreezeMs = 250;
const kRetryMs = 20;

export class EngineRecovery {
  readonly #p: RecoveryParts;
  readonly #stats: WatchStats = { exited: 0, recoveredWhileWaiting: 0, recoveredLocks: 0, recoveredOther: 0, repairs: 0, repaired: 0, reclaimedBlocks: 0, pendingRepairs: 0 };
  readonly #exited = new Set<number>();
  #pending = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  #error: unknown = null;
  /** Watched workers not yet known dead, checked from this thread's waits (finding 7). */
  readonly #watched = new Set<number>();
  readonly #check: DeathCheck = () => this.#checkWatched();
  /** Inside recoverThread or a repair: the wait hook stays out (no re-entrant recovery). */
  #busy = false;

  constructor(parts: RecoveryParts) {
    this.#p = parts;
  }

  watch(worker: Worker): void {
    const id = worker.threadId;
    if (id < 0 || this.#exited.has(id)) return; // already exited (threadId -1) or recovered
    if (this.#watched.size === 0) addDeathCheck(this.#check);
    this.#watched.add(id);
    worker.once('exit', () => this.recoverThread(id));
  }

  /** Stops the wait hook (engine.close()). The 'exit' events still recover. */
  stopWaitChecks(): void {
    removeDeathCheck(this.#check);
  }

  /**
   * The wait hook (wait.ts): recovers every watched worker whose OS thread is gone. Runs inside
   * a blocked wait of this thread, between two of its own shared-memory steps; phase 1 only
   * touches words that name the dead thread and never waits, so it is safe there. Not while this
   * thread is itself recovering (a repair waiting for its freeze): the 'exit' event or the next
   * slice does it.
   */
  #checkWatched(): boolean {
    if (this.#busy) return false;
    let any = false;
    for (const id of this.#watched) {
      const tid = this.#p.threads.tidOf(id);
      if (tid === 0 || osThreadExists(tid)) continue;
      this.#stats.recoveredWhileWaiting++;
      this.recoverThread(id);
      any = true;
    }
    return any;
  }

  /** Phase 1 for a thread known to have exited, then phase 2 scheduled. Once per thread. */
  recoverThread(deadThreadId: number): void {
    if (this.#exited.has(deadThreadId)) return;
    this.#exited.add(deadThreadId);
    if (this.#watched.delete(deadThreadId) && this.#watched.size === 0) removeDeathCheck(this.#check);
    this.#stats.exited++;
    const busy = this.#busy;
    this.#busy = true;
    try {
      this.#release(deadThreadId);
    } finally {
      this.#busy = busy;
    }
    this.#p.threads.release(deadThreadId);
    for (const [name] of this.#p.stores()) this.#pending.add(name);
    this.#schedule(0);
  }

  #release(deadThreadId: number): void {
    let other = 0;
    for (const [, s] of this.#p.stores()) other += s.releaseAllOwnedBy(deadThreadId);
    for (const o of this.#p.others()) other += o.releaseAllOwnedBy(deadThreadId);
    this.#stats.recoveredOther += other;
    this.#stats.recoveredLocks += this.#p.locks.releaseAllOwnedBy(deadThreadId);
  }

  /** Resolves when no repair is pending; rejects if a repair found a corrupt structure. */
  whenRecovered(): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Threads seen to exit (verify: none may still own a slot or a pin). */
  get exited(): ReadonlySet<number> {
    return this.#exited;
  }

  stats(): WatchStats {
    return { ...this.#stats, pendingRepairs: this.#pending.size };
  }

  /** engine.verify(): each store's violations under its freeze. */
  verify(timeoutMs?: number): string[] {
    const out: string[] = [];
    for (const [, s] of this.#p.stores()) out.push(...s.verify(timeoutMs, this.#exited));
    return out;
  }

  #schedule(ms: number): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#busy = true;
      try {
        this.#repair();
      } finally {
        this.#busy = false;
      }
    }, ms);
  }

  #repair(): void {
    for (const [name, s] of this.#p.stores()) {
      if (!this.#pending.has(name)) continue;
      let r: StoreRecovery;
      try {
        r = s.repair(kRepairFreezeMs);
      } catch (e) {
        if (e instanceof SabStateError && e.code === ErrorCode.LOCK_TIMEOUT) continue; // tried again below
        this.#fail(e);
        return;
      }
      this.#pending.delete(name);
      this.#stats.repairs++;
      this.#stats.repaired += r.repaired;
      this.#stats.reclaimedBlocks += r.reclaimed;
      if (r.violations.length) {
        this.#fail(new Error(`${name}: recovery found a corrupt structure: ${r.violations.join('; ')}`));
        return;
      }
    }
    if (this.#pending.size > 0) {
      this.#schedule(kRetryMs);
      return;
    }
    const w = this.#waiters;
    this.#waiters = [];
    for (const x of w) x.resolve();
  }

  #fail(e: unknown): void {
    this.#error = e;
    this.#pending.clear();
    const w = this.#waiters;
    this.#waiters = [];
    for (const x of w) x.reject(e);
  }
}
