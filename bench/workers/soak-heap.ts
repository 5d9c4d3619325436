/**
 * What holds a soak worker's V8 heap (issue 11, RSS flat; issue 12, caches bounded in bytes): with
 * SOAK_HEAP_PROFILE=DIR each soak worker runs V8's sampling heap profiler over its life (objects
 * still alive only) and, when the run stops it, writes DIR/worker-<slot>-<seed>.json: the heap's
 * statistics after a full GC, its spaces, this thread's cache stats, and the
 * live bytes by allocation site (function and file:line of the allocation, and its two callers),
 * largest first. A worker killed by the soak writes nothing; the ones alive at the stop do.
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A full GC (a worker cannot be given --expose-gc: the flag set at run time, gc from a new context). */
export function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

export async function heapProfileStart(): Promise<Session> {
  const s = new Session();
  s.connect();
  await s.post('HeapProfiler.startSampling', { samplingInterval: 4096 });
  return s;
}

export async function heapProfileWrite(s: Session, dir: string, name: string, stats: unknown): Promise<void> {
  fullGc();
  const { profile } = (await s.post('HeapProfiler.getSamplingProfile')) as unknown as { profile: { head: ProfileNode } };
  await s.post('HeapProfiler.stopSampling');
  s.disconnect();
  const bySite = new Map<string, number>();
  let total = 0;
  const frame = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\//, '')}:${n.callFrame.lineNumber + 1}`;
  const walk = (n: ProfileNode, up: string[]): void => {
    if (n.selfSize > 0) {
      const site = [frame(n), ...up.slice(0, 2)].join(' < ');
      bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, [frame(n), ...up]);
  };
  walk(profile.head, []);
  const h = getHeapStatistics();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, x.space_used_size]));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({
    usedHeapBytes: h.used_heap_size, totalHeapBytes: h.total_heap_size, externalBytes: h.external_memory, spaces, stats,
    sampledLiveBytes: total, sites: [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 40),
  }, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v), 2));
}
