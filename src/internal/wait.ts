/**
 * The engine's one blocking wait: every sync wait of the engine (mutex, write-gate freeze, sync
 * gate, queue) sleeps through `waitWord`, so that what a waiting thread may do between sleeps is
 * decided in one place.
 *
 * Why it exists (issue 9, finding 7, NOT fixed): engine.watch() learns that a worker died from the
 * Worker's 'exit' event, delivered by the watching thread's event loop. If that thread blocks in
 * a sync wait on a word the dead worker held, its event loop never runs and the wait ends only at
 * its timeout. A fix must let such a wait learn of the death synchronously, from a signal that is
 * true only once the dead thread can no longer run JavaScript. One was tried and withdrawn:
 * Node's Worker handle, whose `loopIdleTime()` reads -1 once the worker is stopped, polled between
 * 50 ms slices of these waits. It passed the two tests, but it rests on a Node internal, reads -1
 * also before a worker's environment exists, and whether it can read -1 while a terminating
 * thread still runs JavaScript was not established (Node 20's source was not at hand); a
 * recovery made then would release what that thread still writes under.
 * test/recovery-starved.test.ts keeps the two failing tests, skipped. The remaining design: a supervisor thread of the engine's
 * (whose event loop never blocks) that starts the workers itself and so receives their 'exit'.
 */

/** Atomics.wait(i32, index, value, timeoutMs): 'ok' (woken), 'not-equal', 'timed-out'. */
export function waitWord(i32: Int32Array, index: number, value: number, timeoutMs = Infinity): 'ok' | 'not-equal' | 'timed-out' {
  return Atomics.wait(i32, index, value, timeoutMs);
}
