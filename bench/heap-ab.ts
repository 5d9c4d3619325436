/**
 * Before / after benchmark of the heap (issue 11), side by side: `node --import tsx
 * bench/heap-ab.ts --base DIR [--rounds N] [--ms N]`, DIR a checkout of the tree to compare
 * against (e.g. `git archive main | tar -x -C DIR`, with node_modules linked). Each round runs
 * one child process per tree, in alternating order (base, new, new, base, ...), so the machine's
 * load falls on both alike; each child imports the library from its tree and times, on one
 * thread, for --ms each (default 1500):
 * Each task first runs --ms / 2 untimed (warm-up: optimized code), then --ms timed.
 * - order step, n orders (n = 1, 10, 100, and the real median position): inside withLock,
 *   getOpen, one real order appended, save; then the same with the last order taken off again
 *   (so the position keeps its size); the time is per save.
 * - position churn: 2000 live positions of the real shapes (1..100 orders); each step saves a
 *   new one and deletes the oldest (the heap's split / merge paths on the new tree).
 * - heap alloc + free: 4096 live blocks of 16 B .. 4 KB, each step frees one at random and
 *   allocates another (the allocator alone).
 * Reported per task: the median over rounds of wall ns / op and CPU ns / op (process.cpuUsage,
 * user + system), and new / base ratios.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { realPositionTexts } from '../support/data.ts';

type Obj = Record<string, unknown>;
interface Row { task: string; wallNs: number; cpuNs: number }

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

async function child(tree: string, ms: number): Promise<Row[]> {
  const imp = (p: string): Promise<Obj> => import(pathToFileURL(resolve(tree, p)).href) as Promise<Obj>;
  const { hashKeyFromSeed } = (await imp('src/internal/hash/hash.ts')) as { hashKeyFromSeed(s: bigint): unknown };
  // The lock domain's class, and its options and handle (split out into layout.ts by issue 15).
  const L = { ...(await imp('src/domains/locks/layout.ts')), ...(await imp('src/domains/locks/locks.ts')) } as Record<string, (...a: unknown[]) => unknown>;
  const P = (await imp('src/domains/positions/positions.ts')) as Record<string, (...a: unknown[]) => unknown>;
  const H = (await imp('src/internal/store/heap.ts')) as Record<string, (...a: unknown[]) => unknown>;
  const key = hashKeyFromSeed(0x5eedn);
  const LockDomain = L.LockDomain as unknown as new (...a: unknown[]) => { withLock<T>(hk: string, tp: string, fn: () => T): T };
  const PositionsDomain = P.PositionsDomain as unknown as new (...a: unknown[]) => {
    save(p: Obj): void; getOpen(hk: string, tp: string): Obj | undefined; delete(hk: string, uuid: string): boolean;
  };
  const SharedHeap = H.SharedHeap as unknown as new (...a: unknown[]) => { alloc(n: number): number; free(r: number): void };
  const locks = new LockDomain(L.createLockHandle!(L.resolveLockOptions!(undefined), key), key);
  const d = new PositionsDomain(P.createPositionsHandle!(P.resolvePositionsOptions!({ maxRecords: 1 << 15, maxBytes: 512 << 20 }), key), key, { locks });
  const real = realPositionTexts().map((t) => JSON.parse(t) as Obj);
  const orders = real.flatMap((p) => p.orders as Obj[]);
  const tpOf = (p: Obj): string => (typeof p.trade_pair === 'string' ? p.trade_pair : ((p.trade_pair as unknown[])[0] as string));
  const bySize = [...real].sort((a, b) => JSON.stringify(a).length - JSON.stringify(b).length);
  const rows: Row[] = [];
  const time = (task: string, step: () => void): void => {
    for (const w0 = performance.now(); performance.now() - w0 < ms / 2;) for (let i = 0; i < 20; i++) step(); // warm: optimized code before timing
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < ms) {
      for (let i = 0; i < 50; i++) step();
      n += 50;
    }
    const wall = (performance.now() - t0) * 1e6 / n;
    const c = process.cpuUsage(c0);
    rows.push({ task, wallNs: wall, cpuNs: ((c.user + c.system) * 1e3) / n });
  };

  const orderStep = (name: string, base: Obj, n: number, k: number): void => {
    const hk = `5OrderStep${k}${'x'.repeat(40)}`;
    const tp = tpOf(base);
    const p: Obj = { ...base, miner_hotkey: hk, position_uuid: `ab-${k}`, is_closed_position: false, close_ms: null, orders: Array.from({ length: n }, (_, i) => orders[i % orders.length]) };
    locks.withLock(hk, tp, () => d.save(p));
    let grow = true;
    time(name, () => {
      locks.withLock(hk, tp, () => {
        const open = d.getOpen(hk, tp)!;
        const next = { ...open, orders: grow ? [...(open.orders as Obj[]), orders[(open.orders as Obj[]).length % orders.length]] : (open.orders as Obj[]).slice(0, -1) };
        d.save(next);
      });
      grow = !grow;
    });
  };
  orderStep('order step, 1-order position', real[0]!, 1, 1);
  orderStep('order step, 10-order position', real[0]!, 10, 2);
  orderStep('order step, 100-order position', real[0]!, 100, 3);
  const median = bySize[bySize.length >> 1]!;
  orderStep('order step, real median position', median, (median.orders as Obj[]).length, 4);

  // position churn
  let seq = 0;
  let x = 12345;
  const rnd = (): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x / 2 ** 32; };
  const liveQ: Array<[string, string]> = [];
  const fresh = (): Obj => {
    const t = real[Math.floor(rnd() * real.length)]!;
    const nOrders = 1 + Math.floor(rnd() ** 2 * 100);
    return { ...t, miner_hotkey: `5Churn${seq % 256}${'y'.repeat(40)}`, position_uuid: `c-${seq++}`, is_closed_position: true, orders: Array.from({ length: nOrders }, (_, i) => orders[(i + seq) % orders.length]) };
  };
  const put = (): void => {
    const p = fresh();
    locks.withLock(p.miner_hotkey as string, tpOf(p), () => d.save(p));
    liveQ.push([p.miner_hotkey as string, p.position_uuid as string]);
  };
  for (let i = 0; i < 2000; i++) put();
  time('position churn (save one, delete oldest; 2000 live)', () => {
    put();
    const [hk, uuid] = liveQ.shift()!;
    d.delete(hk, uuid);
  });

  const heap = new SharedHeap(H.createHeapHandle!(64 << 20, key), key, 'bench heap');
  const live = new Int32Array(4096);
  for (let i = 0; i < live.length; i++) live[i] = heap.alloc(16 + Math.floor(rnd() ** 3 * 4080));
  time('heap alloc + free (4096 live, 16 B..4 KB)', () => {
    const i = Math.floor(rnd() * live.length);
    heap.free(live[i]!);
    live[i] = heap.alloc(16 + Math.floor(rnd() ** 3 * 4080));
  });
  return rows;
}

const here = fileURLToPath(new URL('..', import.meta.url));
if (process.argv.includes('--child')) {
  const rows = await child(process.argv[process.argv.indexOf('--child') + 1]!, Number(arg('ms') ?? 1500));
  process.stdout.write(`${JSON.stringify(rows)}\n`);
} else {
  const base = arg('base');
  if (base === undefined || !existsSync(resolve(base, 'src/internal/store/heap.ts'))) throw new Error('--base DIR: a checkout of the tree to compare against');
  const rounds = Number(arg('rounds') ?? 5);
  const ms = arg('ms') ?? '1500';
  const runs: Record<'base' | 'new', Row[][]> = { base: [], new: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Array<'base' | 'new'> = r % 2 === 0 ? ['base', 'new'] : ['new', 'base'];
    for (const which of order) {
      const tree = which === 'base' ? resolve(base) : here;
      const out = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', tree, '--ms', ms], { encoding: 'utf8', cwd: here, maxBuffer: 1 << 24 });
      if (out.status !== 0) throw new Error(`${which}: ${out.stderr}`);
      runs[which].push(JSON.parse(out.stdout.trim().split('\n').pop()!) as Row[]);
      process.stderr.write(`round ${r + 1} ${which} done\n`);
    }
  }
  const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]!; };
  console.log(`\nHeap before / after (${rounds} rounds, alternating processes, ${ms} ms per task; node ${process.version}, ${process.platform}-${process.arch})`);
  console.log('| task | base wall ns/op | new wall ns/op | new / base | base CPU ns/op | new CPU ns/op | new / base CPU |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  runs.base[0]!.forEach((row, i) => {
    const bw = med(runs.base.map((r) => r[i]!.wallNs));
    const nw = med(runs.new.map((r) => r[i]!.wallNs));
    const bc = med(runs.base.map((r) => r[i]!.cpuNs));
    const nc = med(runs.new.map((r) => r[i]!.cpuNs));
    console.log(`| ${row.task} | ${bw.toFixed(0)} | ${nw.toFixed(0)} | ${(nw / bw).toFixed(3)} | ${bc.toFixed(0)} | ${nc.toFixed(0)} | ${(nc / bc).toFixed(3)} |`);
  });
}
