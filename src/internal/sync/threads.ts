/**
 * The thread registry: which operating-system thread runs each worker attached to an engine, so
 * that a thread blocked in one of the engine's waits can learn that a watched worker has died
 * without its event loop (issue 9, finding 7).
 *
 * Why: engine.watch(worker) learns of a death from the Worker's 'exit' event, which only the
 * watching thread's event loop delivers. While that thread blocks in a sync wait on a word the
 * dead worker held (withLock, syncGate.begin() with no timeout), the event is never delivered and
 * recovery never runs. The blocked thread needs a signal it can read synchronously that is true
 * only once the dead thread can run no more JavaScript.
 *
 * The signal: a Node worker runs all of its JavaScript on one OS thread of its own (one libuv
 * thread per Worker). On Linux, `/proc/thread-self` names the calling thread's id (tid), and the
 * kernel removes `/proc/self/task/<tid>` once that thread has exited. So: a registered tid whose
 * task directory is gone belongs to a thread that has exited, whose last stores are done and which
 * will never run again. That is proof of death, not a guess from a timeout. The converse does not
 * hold, and need not: a task directory that still exists may belong to a terminating thread still
 * in its cleanup, or (after the kernel reused the number) to another thread; then the wait goes on
 * and recovery comes from the 'exit' event as before. A wrong answer can only be "alive", never
 * "dead". Where /proc/thread-self does not exist (macOS, Windows, a /proc-less container) nothing
 * is registered and the 'exit' event is the only signal: the README says so.
 *
 * Algorithm. kSlots slots of two Int32 words: [threadId, tid].
 * - register (a worker thread, when it attaches an engine): find a slot whose id is 0, claim it by
 *   CAS 0 -> threadId, then Atomics.store its tid. One slot per thread and engine; a full registry
 *   registers nothing (the thread is then recovered from its 'exit' event only).
 * - tidOf(threadId) (the watching thread, from a wait): scan for the id, Atomics.load the tid.
 * - release(threadId) (recovery, once the thread is known dead): Atomics.store tid 0, then CAS
 *   threadId -> 0. The order matters: a registrant that claims the slot right after the CAS writes
 *   its own tid after ours, never before it.
 *
 * Slot table:
 * | word       | written by                         | how                  | published by        |
 * | slot.id    | registrant (0 -> id), recovery (id -> 0) | CAS            | itself              |
 * | slot.tid   | registrant (after its claim), recovery (-> 0 before the id) | Atomics.store | itself |
 *
 * Crash table:
 * | step (thread terminated right after it) | left behind                  | recovery           |
 * | register: claim CAS (threads.register.claimed) | slot {id, tid 0}             | tidOf gives 0: no synchronous check for this thread; its 'exit' event recovers it and release() frees the slot |
 * | register: tid store                     | slot {id, tid}               | the registered state: a blocked watcher sees the task directory gone and recovers the thread; release() frees the slot |
 * | release: tid store (watcher died)       | slot {id, tid 0}             | the thread was already recovered; the slot stays taken until a later release of the same id, which never comes: one slot lost per watching thread that dies in these two steps (the registry then has kSlots - 1) |
 */

import { readlinkSync, existsSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';
import { crashPoint, declareCrashPoints } from '../crash.ts';

declareCrashPoints('threads', ['threads.register.claimed']);

export const kThreadSlots = 256;
const kIdWord = 0;
const kTidWord = 1;
const kSlotInts = 2;

export function createThreadRegistry(): SharedArrayBuffer {
  return new SharedArrayBuffer(kThreadSlots * kSlotInts * 4);
}

let myTid: number | undefined;

/** This OS thread's Linux tid, or 0 where /proc/thread-self does not exist. */
function ownTid(): number {
  if (myTid !== undefined) return myTid;
  let tid = 0;
  try {
    // "<pid>/task/<tid>": the calling thread's entry (readlinkSync runs on the calling thread).
    const m = /\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'));
    if (m !== null) tid = Number(m[1]);
  } catch {
    tid = 0;
  }
  myTid = tid;
  return tid;
}

/** Whether the OS thread `tid` of this process still exists (see the header for what a "yes" means). */
export function osThreadExists(tid: number): boolean {
  return existsSync(`/proc/self/task/${tid}`);
}

export class ThreadRegistry {
  readonly #i32: Int32Array;

  constructor(sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength !== kThreadSlots * kSlotInts * 4) {
      throw new TypeError('the thread registry must be a SharedArrayBuffer of the engine handle');
    }
    this.#i32 = new Int32Array(sab);
  }

  /** Registers the calling worker thread (the main thread's death is the process's). Idempotent. */
  registerSelf(): void {
    if (isMainThread) return;
    const tid = ownTid();
    if (tid === 0 || this.#slotOf(threadId) >= 0) return;
    for (let s = 0; s < kThreadSlots; s++) {
      const base = s * kSlotInts;
      if (Atomics.load(this.#i32, base + kIdWord) !== 0) continue;
      if (Atomics.compareExchange(this.#i32, base + kIdWord, 0, threadId) !== 0) continue;
      crashPoint('threads.register.claimed');
      Atomics.store(this.#i32, base + kTidWord, tid);
      return;
    }
  }

  /** The tid a thread registered, or 0 (not registered, or not yet). */
  tidOf(id: number): number {
    const s = this.#slotOf(id);
    return s < 0 ? 0 : Atomics.load(this.#i32, s * kSlotInts + kTidWord);
  }

  /** Frees a dead thread's slot. */
  release(id: number): void {
    const s = this.#slotOf(id);
    if (s < 0) return;
    Atomics.store(this.#i32, s * kSlotInts + kTidWord, 0);
    Atomics.compareExchange(this.#i32, s * kSlotInts + kIdWord, id, 0);
  }

  /** Slots taken (tests). */
  registered(): number {
    let n = 0;
    for (let s = 0; s < kThreadSlots; s++) if (Atomics.load(this.#i32, s * kSlotInts + kIdWord) !== 0) n++;
    return n;
  }

  #slotOf(id: number): number {
    for (let s = 0; s < kThreadSlots; s++) if (Atomics.load(this.#i32, s * kSlotInts + kIdWord) === id) return s;
    return -1;
  }
}
