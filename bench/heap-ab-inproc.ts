/**
 * The allocator alone, A/B in ONE process (issue 11): `node --import tsx bench/heap-ab-inproc.ts
 * DIR [DIR...]`, each DIR a tree to compare (e.g. `git archive <commit> | tar -x -C DIR`; the
 * first is the reference). Every tree gets its own 256 MiB heap with 4096 live blocks of
 * 16 B .. 4 KB (one seeded sequence); a step frees a random one and allocates another. After a
 * warm-up of 200,000 steps each, 12 rounds of 300 ms per tree, in alternating order; reported:
 * the median CPU ns per step (process.cpuUsage) and its ratio to the first tree. One process, so
 * the machine's load falls on all trees alike (bench/heap-ab.ts runs one process per tree).
 */
const dirs = process.argv.slice(2);
const trees = await Promise.all(dirs.map(async (d) => ({ d, H: await import(`${d}/src/internal/store/heap.ts`), K: await import(`${d}/src/internal/hash/hash.ts`) })));
function make(t: any) {
  const key = t.K.hashKeyFromSeed(5n);
  const heap = new t.H.SharedHeap(t.H.createHeapHandle(256 << 20, key), key, 'ab');
  let x = 12345;
  const rnd = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x / 2 ** 32; };
  const live: number[] = [];
  for (let i = 0; i < 4096; i++) live.push(heap.alloc(16 + Math.floor(rnd() * 4080)));
  return () => { const k = Math.floor(rnd() * 4096); heap.free(live[k]!); live[k] = heap.alloc(16 + Math.floor(rnd() * 4080)); };
}
const steps = trees.map(make);
for (const s of steps) for (let i = 0; i < 200000; i++) s();
const cpu: number[][] = trees.map(() => []);
for (let r = 0; r < 12; r++) {
  const order = r % 2 ? [...steps.keys()].reverse() : [...steps.keys()];
  for (const j of order) {
    const c0 = process.cpuUsage(); let n = 0; const t0 = performance.now();
    while (performance.now() - t0 < 300) { for (let i = 0; i < 1000; i++) steps[j]!(); n += 1000; }
    const c = process.cpuUsage(c0); cpu[j]!.push((c.user + c.system) * 1000 / n);
  }
}
const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
trees.forEach((t, j) => console.log(`${t.d}: CPU ns/op median ${med(cpu[j]!).toFixed(0)} (${cpu[j]!.map((v) => v.toFixed(0)).join(' ')}) ratio to first ${(med(cpu[j]!) / med(cpu[0]!)).toFixed(3)}`));
