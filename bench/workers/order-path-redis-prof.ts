/**
 * BENCH_CPU_PROF=<dir>: a V8 CPU profile of one thread of the Redis cases (order-path-redis.ts,
 * order-path-redis-sabstate.ts), written as `<dir>/<case>-W<threads>-<role><index>.cpuprofile`
 * (open in Chrome DevTools or summarise by function). An order thread is profiled over its timed
 * window (start() at the barrier), the consumer over its whole run. Unset: no profiler, no cost.
 */
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = process.env.BENCH_CPU_PROF;

export interface ThreadProfile {
  start(): void;
  stop(): void;
}

/** A profiler for this thread (a no-op unless BENCH_CPU_PROF is set). */
export function threadProfile(kind: string, threads: number, role: string, index: number): ThreadProfile {
  if (DIR === undefined || DIR === '') return { start: () => undefined, stop: () => undefined };
  const s = new Session();
  s.connect();
  let on = false;
  return {
    start: () => {
      if (on) return;
      on = true;
      s.post('Profiler.enable');
      s.post('Profiler.setSamplingInterval', { interval: 100 });
      s.post('Profiler.start');
    },
    stop: () => {
      if (!on) return;
      on = false;
      s.post('Profiler.stop', (err, r) => {
        if (err !== null) throw err;
        mkdirSync(DIR, { recursive: true });
        writeFileSync(join(DIR, `${kind}-W${threads}-${role}${index}.cpuprofile`), JSON.stringify(r.profile));
        s.disconnect();
      });
    },
  };
}
