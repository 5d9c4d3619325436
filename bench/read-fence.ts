/**
 * Read-fence benchmark (`node --import tsx bench/read-fence.ts`): what the seqlock readers' fence
 * costs on the lock-free read paths. The fence (src/internal/sync/versioned-word.ts section 5, issue 9 finding
 * 6) is `readFence()`, an Atomics.add on a thread-private word between a reader's plain copy and
 * its validating Atomics.load; validated() and SharedTable.#copy / #probe call it.
 *
 * One process, interleaved tinybench tasks, single thread, no writer running:
 * 1. the bare fence: readFence() (when this tree has it), the same Atomics.add written inline, an
 *    Atomics.load and the loop alone (`sink ^= k`), all in loops of 1000;
 * 2. reads through the public API of an engine from createEngine (small sizes) holding the real
 *    data of test/fixtures/ptn: engine.departed.has(hotkey) (367 departed hotkeys),
 *    engine.general.map('m').get(key) (a small object), engine.positions.getOpen(hk, tp) of the
 *    real open GBPUSD position (11 orders, 8.6 KB of JSON) and engine.positions.get(hk, uuid) of
 *    a real 20-order position. Each task runs its read in a loop (ops/call below).
 * ns/op is the median (p50) of tinybench's per-call samples divided by ops/call (robust to the
 * neighbours' load); CPU ns/op is process.cpuUsage() (user + system) over each task's timed
 * phase divided by the ops in it (a mean, with tinybench's own per-call work and the process's
 * helper threads, GC and compiler, included), and CPU/wall that phase's CPU time over its wall
 * time (below 1.00: the thread was descheduled). Every task runs BENCH_ROUNDS times (default 5,
 * task order reversed every other round; BENCH_MS, default 400, ms per task and round); the
 * table gives the median round (ns/op) and the total (CPU ns/op).
 *
 * The fence disabled, for comparison, two ways (it only exists in this tree from commit 1697ae2
 * on; src/ must not be edited to switch it off):
 * - `--vs <dir>`: the same reads, in the same process and interleaved, on an engine loaded from
 *   the tree at <dir> (a checkout of an earlier commit, e.g. a `git worktree add /tmp/old
 *   c0a906a`, whose read paths differ from this one only by the fence; or a scratch copy of
 *   this tree with readFence()'s body emptied, which differs by nothing else). Each tree's read loops
 *   are compiled separately (one data: module per tree) so neither shares the other's
 *   inline-cache feedback. The ratio is the median of the per-round ratios of the two trees'
 *   tasks, which run next to each other. `--vs .` (this tree against itself) gives the noise
 *   floor of that ratio.
 * - `--before <dir>`: this file is copied to <dir>/bench/ and run there and here in alternate
 *   processes (before, after, before, after, ...; `--runs`, default 3); the table gives the
 *   median of the runs for each side, and the per-run ratios to show the noise; the rows of
 *   code that is the same on both sides (the loop, the inline Atomics) show that run's noise
 *   between processes, which on a busy machine exceeds the fence's share of a read.
 * `--runs N` with `--vs` repeats the in-process comparison N times in fresh processes the same
 * way. `--json` (used by the parent in both) prints the results as one `RESULT-JSON` line too.
 * Run with SABSTATE_NATIVE=0 for trees with and without the native hash binary alike (reads hash
 * one key in JS either way).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import type { Engine, EngineOptions } from '../src/index.ts';
import { realDeparted, realPositions } from '../support/data.ts';

const { values: args } = parseArgs({
  options: { vs: { type: 'string' }, before: { type: 'string' }, runs: { type: 'string' }, json: { type: 'boolean' } },
});
const ms = Number(process.env.BENCH_MS ?? 400);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const self = fileURLToPath(import.meta.url);
const here = resolve(self, '../..');

interface Row {
  task: string;
  variant: string;
  opsPerCall: number;
  nsP50: number;
  /** ns/op of each round (p50 of its samples), in round order. */
  p50s: number[];
  cpuNs: number;
  cpuWall: number;
}
interface RunResult {
  tree: string;
  node: string;
  rows: Row[];
  retries: Record<string, number>;
}

// ---- the tasks ---------------------------------------------------------------------------------

type Loop = (n: number) => number;
interface Loops {
  empty: Loop;
  inlineAdd: Loop;
  inlineLoad: Loop;
  fence: Loop | null;
  has: Loop;
  mapGet: Loop;
  getOpen: Loop;
  get20: Loop;
}
interface Args {
  departedHk: string;
  mapKey: string;
  hk: string;
  openTp: string;
  uuid20: string;
}

/**
 * The loops, as plain JS imported once per tree under a distinct data: URL: each tree gets its
 * own function literals (own feedback, own optimized code), so an engine of one tree never makes
 * the other tree's call sites polymorphic. `sink` keeps every result alive.
 */
const loopSource = (tag: string): string => `// read-fence loops: ${tag}
const word = new Int32Array(new SharedArrayBuffer(4));
let sink = 0;
export function makeLoops(e, fence, a) {
  const m = e.general.map('m');
  return {
    empty(n) { for (let k = 0; k < n; k++) sink ^= k; return sink; },
    inlineAdd(n) { for (let k = 0; k < n; k++) { Atomics.add(word, 0, 0); sink ^= k; } return sink; },
    inlineLoad(n) { for (let k = 0; k < n; k++) sink ^= Atomics.load(word, 0) + k; return sink; },
    fence: fence === undefined ? null : (n) => { for (let k = 0; k < n; k++) { fence(); sink ^= k; } return sink; },
    has(n) { for (let k = 0; k < n; k++) if (e.departed.has(a.departedHk)) sink++; return sink; },
    mapGet(n) { for (let k = 0; k < n; k++) sink += m.get(a.mapKey).n; return sink; },
    getOpen(n) { for (let k = 0; k < n; k++) sink += e.positions.getOpen(a.hk, a.openTp).orders.length; return sink; },
    get20(n) { for (let k = 0; k < n; k++) sink += e.positions.get(a.hk, a.uuid20).orders.length; return sink; },
  };
}`;

const engineOptions: EngineOptions = {
  hashSeed: 0x5eedn,
  positions: { maxRecords: 256, maxBytes: 8 << 20 },
  eliminations: { maxRecords: 64, maxBytes: 1 << 20 },
  departed: { maxRecords: 1024, maxBytes: 1 << 20 },
  general: { maps: ['m'] },
};

type Obj = Record<string, unknown>;
const tpOf = (p: Obj): string => (typeof p.trade_pair === 'string' ? p.trade_pair : ((p.trade_pair as string[])[0] as string));

/** An engine of the tree at `dir` holding the real data, and its loops. */
async function prepare(dir: string, tag: string): Promise<{ engine: Engine; loops: Loops; a: Args }> {
  const idx = (await import(pathToFileURL(resolve(dir, 'src/index.ts')).href)) as { createEngine: (o: EngineOptions) => Engine };
  const seq = (await import(pathToFileURL(resolve(dir, 'src/internal/sync/versioned-word.ts')).href)) as Obj;
  const fence = typeof seq.readFence === 'function' ? (seq.readFence as () => void) : undefined;
  const engine = idx.createEngine(engineOptions);

  const departed = Object.entries(realDeparted());
  for (const [hk, v] of departed) engine.departed.mark(hk, v.detected_ms);
  engine.general.map('m').set('5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th', { n: 1, accountSize: 250_000, updated_ms: 1718000000000 });
  const positions = realPositions();
  for (const p of positions) engine.locks.withLock(p.miner_hotkey as string, tpOf(p), () => engine.positions.save(p as never));
  const open = positions.find((p) => p.is_closed_position === false && tpOf(p) === 'GBPUSD')!;
  const p20 = positions.find((p) => (p.orders as unknown[]).length === 20)!;
  const a: Args = {
    departedHk: departed[departed.length >> 1]![0],
    mapKey: '5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th',
    hk: open.miner_hotkey as string,
    openTp: 'GBPUSD',
    uuid20: p20.position_uuid as string,
  };
  // The reads answer what was stored, before anything is timed.
  const same = (x: unknown, y: unknown): boolean => JSON.stringify(x) === JSON.stringify(y);
  if (!engine.departed.has(a.departedHk)) throw new Error('departed.has');
  if (!same(engine.positions.getOpen(a.hk, a.openTp), open)) throw new Error('getOpen round trip');
  if (!same(engine.positions.get(a.hk, a.uuid20), p20)) throw new Error('get round trip');
  const mod = (await import(`data:text/javascript,${encodeURIComponent(loopSource(tag))}`)) as {
    makeLoops: (e: Engine, f: (() => void) | undefined, a: Args) => Loops;
  };
  return { engine, loops: mod.makeLoops(engine, fence, a), a };
}

interface TaskDef {
  task: string;
  variant: string;
  ops: number;
  loop: Loop;
  // accumulated over the timed phases of every round
  cpuUs: number;
  wallMs: number;
  calls: number;
  timedCalls: number;
  p50s: number[];
}

async function measure(): Promise<RunResult> {
  const trees: Array<[string, string]> = [['this', here]];
  if (args.vs !== undefined) trees.push(['control', resolve(args.vs)]);
  const prepared = [];
  for (const [variant, dir] of trees) prepared.push({ variant, ...(await prepare(dir, `${variant} ${dir}`)) });

  const defs: TaskDef[] = [];
  const def = (task: string, variant: string, ops: number, loop: Loop | null): void => {
    if (loop !== null) defs.push({ task, variant, ops, loop, cpuUs: 0, wallMs: 0, calls: 0, timedCalls: 0, p50s: [] });
  };
  // Section 1 on this tree only (the primitives are the same code in both), readFence() of each
  // tree that has it; section 2 on each tree, the trees' tasks next to each other.
  const [main] = prepared;
  def('loop alone (sink ^= k)', 'this', 1000, main!.loops.empty);
  for (const p of prepared) def('readFence()', p.variant, 1000, p.loops.fence);
  def('Atomics.add(private word, 0, 0), inline', 'this', 1000, main!.loops.inlineAdd);
  def('Atomics.load(private word, 0), inline', 'this', 1000, main!.loops.inlineLoad);
  const reads: Array<[string, number, keyof Loops]> = [
    ['departed.has(hotkey)', 100, 'has'],
    ["general.map('m').get(key)", 100, 'mapGet'],
    ['positions.getOpen(hk, tp), real 11-order position (8.6 KB)', 20, 'getOpen'],
    ['positions.get(hk, uuid), real 20-order position', 20, 'get20'],
  ];
  for (const [task, ops, k] of reads) for (const p of prepared) def(task, p.variant, ops, p.loops[k]);

  for (let r = 0; r < rounds; r++) {
    const bench = new Bench({ time: ms, warmup: true, warmupTime: r === 0 ? 250 : 50 });
    const order = r % 2 === 0 ? defs : [...defs].reverse();
    for (const d of order) {
      let cpu0 = process.cpuUsage();
      let t0 = 0;
      let calls0 = 0;
      bench.add(`${d.task} [${d.variant}]`, () => {
        d.loop(d.ops);
        d.calls++;
      }, {
        beforeAll: (mode) => {
          if (mode !== 'run') return;
          calls0 = d.calls;
          cpu0 = process.cpuUsage();
          t0 = performance.now();
        },
        afterAll: (mode) => {
          if (mode !== 'run') return;
          const c = process.cpuUsage(cpu0);
          d.cpuUs += c.user + c.system;
          d.wallMs += performance.now() - t0;
          d.timedCalls += d.calls - calls0;
        },
      });
    }
    await bench.run();
    for (const d of defs) {
      const res = bench.getTask(`${d.task} [${d.variant}]`)?.result as { state: string; latency?: { p50: number }; error?: unknown };
      if (res.state !== 'completed' || res.latency === undefined) throw new Error(`${d.task} [${d.variant}]: ${res.state} ${String(res.error)}`);
      d.p50s.push((res.latency.p50 * 1e6) / d.ops);
    }
  }
  const retries: Record<string, number> = {};
  for (const p of prepared) {
    const s = p.engine.stats() as unknown as { positions: { readRetries: number; pinnedReads: number }; departed: { readRetries: number; pinnedReads: number } };
    retries[p.variant] = s.positions.readRetries + s.positions.pinnedReads + s.departed.readRetries + s.departed.pinnedReads;
  }
  return {
    tree: here,
    node: `${process.version} ${process.platform}-${process.arch}`,
    retries,
    rows: defs.map((d) => ({
      task: d.task,
      variant: d.variant,
      opsPerCall: d.ops,
      nsP50: median(d.p50s),
      p50s: d.p50s,
      cpuNs: (d.cpuUs * 1e3) / (d.timedCalls * d.ops),
      cpuWall: d.cpuUs / 1e3 / d.wallMs,
    })),
  };
}

// ---- tables ------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const f = (x: number | undefined, d = 1): string => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? 'n/a' : `${(a / b).toFixed(2)}x`);
const taskNames = (rows: Row[]): string[] => [...new Set(rows.map((r) => r.task))];

function singleTable(res: RunResult): string {
  const out = ['| operation | tree | ops/call | ns/op (p50) | CPU ns/op | CPU/wall |', '| --- | --- | ---: | ---: | ---: | ---: |'];
  for (const r of res.rows) out.push(`| ${r.task} | ${r.variant} | ${r.opsPerCall} | ${f(r.nsP50)} | ${f(r.cpuNs)} | ${f(r.cpuWall, 2)} |`);
  return out.join('\n');
}

/**
 * A side-by-side table: `fenced` against `unfenced`, each a list of runs' rows; the ns/op and
 * CPU ns/op columns are the medians of the runs. `paired` (both sides in the same processes):
 * the ratio is the median of the per-round ratios fenced / unfenced of the two tasks that ran
 * next to each other, over every round of every run (so a change of the machine's load between
 * rounds cancels out); otherwise the ratio of the medians. With several runs, each run's ratio.
 */
function compareTable(fenced: Row[][], unfenced: Row[][], labels: [string, string], paired: boolean): string {
  const find = (rs: Row[], task: string): Row | undefined => rs.find((r) => r.task === task);
  const pick = (runs: Row[][], task: string, key: 'nsP50' | 'cpuNs'): number[] =>
    runs.map((rs) => find(rs, task)?.[key]).filter((x): x is number => x !== undefined);
  const med = (xs: number[]): number | undefined => (xs.length === 0 ? undefined : median(xs));
  const several = fenced.length > 1;
  const out = [
    `| operation | ns/op ${labels[1]} | ns/op ${labels[0]} | ratio | CPU ns/op ${labels[1]} | CPU ns/op ${labels[0]} | CPU ratio |${several ? ' ratio per run |' : ''}`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: |${several ? ' --- |' : ''}`,
  ];
  for (const task of taskNames([...fenced.flat(), ...unfenced.flat()])) {
    const a = pick(fenced, task, 'nsP50');
    const b = pick(unfenced, task, 'nsP50');
    const ca = pick(fenced, task, 'cpuNs');
    const cb = pick(unfenced, task, 'cpuNs');
    let r = 'n/a';
    let per = 'n/a';
    if (paired) {
      const runs = fenced.map((rs, i) => {
        const x = find(rs, task);
        const y = find(unfenced[i]!, task);
        return x === undefined || y === undefined ? [] : x.p50s.map((v, k) => v / y.p50s[k]!);
      });
      if (runs.every((q) => q.length > 0)) {
        r = `${median(runs.flat()).toFixed(3)}x`;
        per = runs.map((q) => median(q).toFixed(3)).join(', ');
      }
    } else {
      r = ratio(med(a), med(b));
      if (a.length === b.length && a.length > 0) per = a.map((x, i) => (x / b[i]!).toFixed(2)).join(', ');
    }
    out.push(
      `| ${task} | ${f(med(b))} | ${f(med(a))} | ${r} | ${f(med(cb))} | ${f(med(ca))} | ${ratio(med(ca), med(cb))} |${several ? ` ${per} |` : ''}`,
    );
  }
  return out.join('\n');
}

const split = (rows: Row[], variant: string): Row[] => rows.filter((r) => r.variant === variant);
/** 'fence' / 'no fence' when only this tree has readFence(), else 'this' / 'control' (e.g. `--vs .`). */
const vsLabels = (res: RunResult): [string, string] =>
  res.rows.some((r) => r.variant === 'control' && r.task === 'readFence()') ? ['this', 'control'] : ['fence', 'no fence'];

// ---- parent: several processes ----------------------------------------------------------------

function child(tree: string, extra: string[]): RunResult {
  const file = resolve(tree, 'bench/read-fence.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, '--json', ...extra], { cwd: tree, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${file} exited with ${r.status}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT-JSON '));
  if (line === undefined) throw new Error(`${file}: no RESULT-JSON line`);
  process.stdout.write(r.stdout.split('\n').filter((l) => !l.startsWith('RESULT-JSON ')).join('\n'));
  return JSON.parse(line.slice('RESULT-JSON '.length)) as RunResult;
}

async function parent(): Promise<void> {
  const runs = Number(args.runs ?? 3);
  const header = `BENCH_MS=${ms}, BENCH_ROUNDS=${rounds}, ${runs} processes per side, node ${process.version} ${process.platform}-${process.arch}`;
  if (args.before !== undefined) {
    const before = resolve(args.before);
    const target = resolve(before, 'bench/read-fence.ts');
    if (!existsSync(target) || readFileSync(target, 'utf8') !== readFileSync(self, 'utf8')) {
      copyFileSync(self, target);
      console.log(`(copied ${self} to ${target})`);
    }
    const b: Row[][] = [];
    const a: Row[][] = [];
    for (let i = 0; i < runs; i++) {
      console.log(`\n### run ${i + 1}, before: ${before}`);
      b.push(child(before, []).rows);
      console.log(`\n### run ${i + 1}, after: ${here}`);
      a.push(child(here, []).rows);
    }
    console.log(`\n## Read fence: before (${before}) vs after (${here}), median of ${runs} runs each, alternating processes\n(${header})\n`);
    console.log(compareTable(a, b, ['after', 'before'], false));
    const same = ['loop alone (sink ^= k)', 'Atomics.add(private word, 0, 0), inline', 'Atomics.load(private word, 0), inline'];
    const r = (task: string, rs: Row[][]): number => median(rs.map((x) => x.find((y) => y.task === task)!.nsP50));
    const cal = same.map((t) => (r(t, a) / r(t, b)).toFixed(2)).join(', ');
    console.log(`\nThe same code on both sides (${same.join('; ')}): ratios ${cal}. Read ratios that differ from 1.00 by no more than these do are noise of this machine, not the fence.`);
    return;
  }
  const vs = resolve(args.vs!);
  const rs: RunResult[] = [];
  for (let i = 0; i < runs; i++) {
    console.log(`\n### run ${i + 1}, this tree vs ${vs}, one process`);
    rs.push(child(here, ['--vs', vs]));
  }
  const labels = vsLabels(rs[0]!);
  console.log(`\n## Read fence: this tree (${labels[0]}) vs ${vs} (${labels[1]}), same process, interleaved; median of ${runs} runs\n(${header})\n`);
  console.log(compareTable(rs.map((r) => split(r.rows, 'this')), rs.map((r) => split(r.rows, 'control')), labels, true));
}

// ---- main ---------------------------------------------------------------------------------------

if (args.runs !== undefined || (args.before !== undefined && !args.json)) {
  if (args.before !== undefined && args.vs !== undefined) throw new Error('--before and --vs are separate comparisons: give one');
  if (args.before === undefined && args.vs === undefined) throw new Error('--runs needs --before <dir> or --vs <dir>');
  await parent();
} else {
  const res = await measure();
  console.log(`\nRead fence, one thread (tree ${res.tree}; BENCH_MS=${ms}, BENCH_ROUNDS=${rounds}; node ${res.node}); read retries + pinned reads: ${JSON.stringify(res.retries)}\n`);
  console.log(singleTable(res));
  if (args.vs !== undefined) {
    const labels = vsLabels(res);
    console.log(`\nSame run, this tree (${labels[0]}) vs ${resolve(args.vs)} (${labels[1]}):\n`);
    console.log(compareTable([split(res.rows, 'this')], [split(res.rows, 'control')], labels, true));
  }
  if (args.json) console.log(`RESULT-JSON ${JSON.stringify(res)}`);
}
