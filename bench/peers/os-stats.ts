/**
 * What bench/order-path.ts measures about threads and processes, from Linux's /proc (NaN on a
 * system without it, never an exception): the CPU time of one thread of this process or of
 * another process, and a process's resident memory.
 *
 * CPU per thread kind: every worker of a case writes its OS thread id into its slot of a shared
 * Int32Array (thread-case.ts `tidWorker`) before its file runs; the main thread reads
 * /proc/self/task/<tid>/stat of each at the start and the end of the timed window. Times are in
 * clock ticks (10 ms on Linux), so a 2 s window resolves CPU per thread to about 0.5 %.
 */
import { readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on every Linux ABI Node supports

/** User + system CPU ms from the text of a /proc/<...>/stat file. */
function cpuMsOfStat(path: string): number {
  try {
    const s = readFileSync(path, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return NaN;
  }
}

/** CPU ms of one thread of this process, by OS id. */
export const threadCpuMs = (tid: number): number => (tid > 0 ? cpuMsOfStat(`/proc/self/task/${tid}/stat`) : NaN);

/** CPU ms of the calling thread alone (a worker's own: /proc/thread-self). */
export const ownThreadCpuMs = (): number => cpuMsOfStat('/proc/thread-self/stat');

/** CPU ms of a process (every thread), by pid. */
export const processCpuMs = (pid: number): number => cpuMsOfStat(`/proc/${pid}/stat`);

/** Resident memory of a process in bytes (VmRSS), NaN where unknown. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? NaN : Number(m[1]) * 1024;
  } catch {
    return NaN;
  }
}

/**
 * CPU of the case's threads by kind over a window: `start()` reads every listed thread, `stop()`
 * returns ms per kind (threads whose id is 0, i.e. not published, are left out).
 */
export class ThreadCpu {
  readonly #kinds: [kind: string, tids: Int32Array, from: number, to: number][] = [];
  #t0 = new Map<number, number>();

  /** Slots [from, to) of `tids` belong to thread kind `kind`. */
  add(kind: string, tids: SharedArrayBuffer, from: number, to: number): this {
    this.#kinds.push([kind, new Int32Array(tids), from, to]);
    return this;
  }

  #each(f: (tid: number) => void): void {
    for (const [, a, from, to] of this.#kinds) for (let i = from; i < to; i++) if (a[i]! > 0) f(a[i]!);
  }

  start(): void {
    this.#t0 = new Map();
    this.#each((tid) => this.#t0.set(tid, threadCpuMs(tid)));
  }

  stop(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [kind, a, from, to] of this.#kinds) {
      let ms = 0;
      for (let i = from; i < to; i++) if (a[i]! > 0) ms += threadCpuMs(a[i]!) - (this.#t0.get(a[i]!) ?? NaN);
      out[kind] = (out[kind] ?? 0) + ms;
    }
    return out;
  }
}
