/**
 * The engine's one blocking wait: every sync wait of the engine (mutex, write-gate freeze, sync
 * gate, queue) sleeps through `waitWord`, so that what a waiting thread may do between sleeps is
 * decided in one place.
 *
 * Why it exists (issue 9, finding 7): engine.watch() learns that a worker died from the Worker's
 * 'exit' event, delivered by the watching thread's event loop. If that thread blocks in a sync
 * wait on a word the dead worker held, its event loop never runs, and without more the wait would
 * end only at its timeout (never, without one). So a thread that watches workers installs a death
 * check here (engine-recovery.ts). While any check is installed, a wait sleeps in slices of
 * kSliceMs; after each slice that times out it runs the checks, which recover (phase 1, which
 * never waits) every watched worker proved dead by the thread registry (threads.ts: its OS thread
 * is gone), and then returns 'not-equal' if the word it waits on has changed, as Atomics.wait
 * would have. A thread with no check installed (every thread that watches nothing) waits in one
 * plain Atomics.wait. The checks run only from a wait that has already slept kSliceMs, never on a
 * fast path.
 */

/** How long a watching thread sleeps between death checks while it waits. */
export const kSliceMs = 50;

/** A death check: returns true if it recovered a thread. Must never wait. */
export type DeathCheck = () => boolean;

const checks = new Set<DeathCheck>();
let checking = false;

/** Installs a check for this thread's waits (engine-recovery.ts). */
export function addDeathCheck(c: DeathCheck): void {
  checks.add(c);
}

export function removeDeathCheck(c: DeathCheck): void {
  checks.delete(c);
}

function runChecks(): boolean {
  if (checking) return false; // a check's recovery never waits; if it ever did, no recursion
  checking = true;
  let any = false;
  try {
    for (const c of checks) any = c() || any;
  } finally {
    checking = false;
  }
  return any;
}

/** Atomics.wait(i32, index, value, timeoutMs): 'ok' (woken), 'not-equal', 'timed-out'. */
export function waitWord(i32: Int32Array, index: number, value: number, timeoutMs = Infinity): 'ok' | 'not-equal' | 'timed-out' {
  if (checks.size === 0 || timeoutMs <= kSliceMs) return Atomics.wait(i32, index, value, timeoutMs);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return 'timed-out';
    const r = Atomics.wait(i32, index, value, Math.min(left, kSliceMs));
    if (r !== 'timed-out') return r;
    if (runChecks() && Atomics.load(i32, index) !== value) return 'not-equal';
  }
}
