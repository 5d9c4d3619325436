// Worker for test/ring-crash.test.ts. Roles:
// - 'op': stops forever at crash point `crashAt` (test/helpers/crash.ts) while doing one queue
//   operation: push(msg), pop() or pop({ timeoutMs }); the test terminates it there. Posts
//   { done } if the operation finished without reaching the point.
// - 'throw': throws from crash point `throwAt` (once) inside the operation, in this thread, and
//   posts { threw, result } (the operation's error message, or its result if it did not throw).
// - 'lap': checks that the queue holds exactly `expected` (in order) and takes full laps of push
//   and pop: fills it to capacity (one more push must be refused), drains it (exact contents,
//   then empty), then pushes and pops `capacity` more. Throws, naming every difference.
// - 'pause': like 'op', but at `crashAt` it posts { atCrashPoint } and waits until word 0 of
//   `resume` is 1, then finishes its operation and posts { done } (a peer stalled, not dead).
// - 'script': posts { started }, then runs `script` (push / pop steps) and posts { results }.
import { parentPort, workerData } from 'node:worker_threads';
import { setCrashHook } from '../../src/internal/crash.ts';
import type { HashKey } from '../../src/internal/hash/hash.ts';
import { Ring } from '../../src/internal/store/ring.ts';
import { stopAtCrashPoint } from '../helpers/crash.ts';

export interface CrashJob {
  role: 'op' | 'throw' | 'lap' | 'pause' | 'script';
  sab: SharedArrayBuffer;
  key: HashKey;
  capacity: number;
  maxMessageBytes: number;
  op?: 'push' | 'pop' | 'popWait';
  msg?: unknown;
  timeoutMs?: number;
  crashAt?: string;
  throwAt?: string;
  expected?: unknown[];
  resume?: SharedArrayBuffer;
  script?: Array<{ op: 'push'; msg: unknown } | { op: 'pop' }>;
}

const d = workerData as CrashJob;
const q = new Ring(d.sab, d.key, 'q', d.capacity, d.maxMessageBytes);

function run(): unknown {
  if (d.op === 'push') return q.push(d.msg);
  if (d.op === 'pop') return q.pop();
  return q.pop({ timeoutMs: d.timeoutMs ?? 60_000 });
}

function lap(expected: unknown[]): void {
  // Every difference is noted and the lap goes on, so that a wedged queue shows how it is wedged.
  const show = (v: unknown): string => JSON.stringify(v);
  const problems: string[] = [];
  if (q.size !== expected.length) problems.push(`size ${q.size}, expected ${expected.length} (${show(expected)})`);
  const fresh: unknown[] = [];
  for (let i = expected.length; i < d.capacity; i++) {
    const m = `lap-${i}`;
    if (q.push(m)) fresh.push(m);
    else problems.push(`push refused as full with ${i} of ${d.capacity} queued (size ${q.size})`);
  }
  if (q.push('one-too-many')) problems.push(`push accepted with ${d.capacity} of ${d.capacity} queued`);
  const want = [...expected, ...fresh];
  const got: unknown[] = [];
  for (let i = 0; i <= d.capacity + 1; i++) {
    const v = q.pop();
    if (v === undefined) break;
    got.push(v);
  }
  if (show(got) !== show(want)) problems.push(`popped ${show(got)}, expected ${show(want)}`);
  if (q.size !== 0) problems.push(`size ${q.size} after pop() answered empty`);
  let pushed = 0;
  for (let i = 0; i < d.capacity; i++) {
    if (q.push(i)) pushed++;
    else problems.push(`second lap: push ${i} refused as full (size ${q.size})`);
  }
  for (let i = 0; i < pushed; i++) {
    const v = q.pop();
    if (v !== i) problems.push(`second lap: popped ${show(v)}, expected ${i} (size ${q.size})`);
  }
  if (q.pop() !== undefined || q.size !== 0) problems.push('second lap: not empty at the end');
  if (problems.length > 0) throw new Error(problems.join('; '));
}

if (d.role === 'op') {
  stopAtCrashPoint(d.crashAt === undefined ? undefined : { name: d.crashAt });
  parentPort!.postMessage({ done: run() });
} else if (d.role === 'throw') {
  let armed = true;
  setCrashHook((name) => {
    if (armed && name === d.throwAt) {
      armed = false;
      throw new RangeError(`injected at ${name}`);
    }
  });
  let out: { threw?: string; result?: unknown };
  try {
    out = { result: run() };
  } catch (e) {
    out = { threw: (e as Error).message };
  }
  setCrashHook(null);
  parentPort!.postMessage({ ...out, reached: !armed });
} else if (d.role === 'pause') {
  const resume = new Int32Array(d.resume!);
  setCrashHook((name) => {
    if (name !== d.crashAt) return;
    setCrashHook(null);
    parentPort!.postMessage({ atCrashPoint: name });
    while (Atomics.load(resume, 0) === 0) Atomics.wait(resume, 0, 0);
  });
  parentPort!.postMessage({ done: run() });
} else if (d.role === 'script') {
  parentPort!.postMessage({ started: true });
  const results = d.script!.map((s) => (s.op === 'push' ? q.push(s.msg) : q.pop()));
  parentPort!.postMessage({ results });
} else {
  lap(d.expected!);
  parentPort!.postMessage({ ok: true });
}
