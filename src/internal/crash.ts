/**
 * Crash points: named places between two shared-memory steps of a multi-step protocol, where a
 * test can stop a thread (and terminate it) to check that recovery completes or undoes what the
 * thread was doing. Each structure's crash table names its points; this module only holds the
 * hook and the list of every point declared.
 *
 * Cost in production: `crashPoint(name)` is one load of a module-level variable and a compare
 * with null (V8 inlines the call); nothing runs unless a test installed a hook with
 * `setCrashHook`. Names are string literals, so no string is built on the hot path.
 *
 * Every point is declared once, at module load, with `declareCrashPoints(module, names)`, so a
 * test can list them all (`crashPoints()`) and prove that it visits each one.
 */

export type CrashHook = (name: string) => void;

let hook: CrashHook | null = null;
const declared = new Map<string, string>();

/** Called by protocols between two shared-memory steps. A no-op unless a test installed a hook. */
export function crashPoint(name: string): void {
  if (hook !== null) hook(name);
}

/** Installs (or with null removes) this thread's crash hook. Tests only. */
export function setCrashHook(fn: CrashHook | null): void {
  hook = fn;
}

/** Declares the crash points of a module (its crash table). Names are unique engine-wide. */
export function declareCrashPoints(module: string, names: readonly string[]): void {
  for (const n of names) {
    const had = declared.get(n);
    if (had !== undefined && had !== module) throw new Error(`crash point ${n} declared by ${had} and ${module}`);
    declared.set(n, module);
  }
}

/** Every crash point declared so far (by the modules loaded in this thread), with its module. */
export function crashPoints(): ReadonlyMap<string, string> {
  return declared;
}
