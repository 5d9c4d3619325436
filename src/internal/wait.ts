/**
 * The engine's blocking wait: `Atomics.wait`, cut into slices on a thread that recovers dead
 * workers, so that recovery can run even while that thread is blocked.
 *
 * Why (issue 9, finding 7): engine.watch() learns that a worker died from the Worker's 'exit'
 * event, delivered by the event loop of the watching thread. If that thread blocks in a sync
 * wait (withLock, syncGate.begin(), a freeze) on a word the dead worker held, its event loop
 * never runs: the exit is never seen, the word never released, the wait never ends.
 *
 * So a thread that watches workers installs a stall hook (engine-recovery.ts). While one is
 * installed, every blocking wait of the engine sleeps at most kSliceMs at a time and calls the
 * hook between slices; the hook checks synchronously whether a watched worker's thread has
 * finished (engine-recovery.ts says how, and why that is safe) and runs the release phase of
 * recovery for it, which frees the word and wakes its waiters. Threads without a hook (workers)
 * wait as before, in one call, at no cost. The hook must not block.
 */

let stallHook: (() => void) | null = null;

/** Longest single sleep of a blocking wait while a stall hook is installed. */
export const kSliceMs = 50;

/** Installs (or with null removes) this thread's stall hook. */
export function setStallHook(fn: (() => void) | null): void {
  stallHook = fn;
}

/**
 * Atomics.wait(i32, index, value, timeoutMs), in slices with the stall hook between them when
 * one is installed. Same answers: 'ok' (woken), 'not-equal', 'timed-out' (timeoutMs elapsed).
 */
export function waitWord(i32: Int32Array, index: number, value: number, timeoutMs = Infinity): 'ok' | 'not-equal' | 'timed-out' {
  if (stallHook === null) return Atomics.wait(i32, index, value, timeoutMs);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return 'timed-out';
    const r = Atomics.wait(i32, index, value, Math.min(left, kSliceMs));
    if (r !== 'timed-out') return r;
    stallHook?.();
    if (Atomics.load(i32, index) !== value) return 'not-equal';
  }
}
