/**
 * How often the heap's 70 % property fails (test/heap-reuse.test.ts, issue 11), over many sampled
 * runs, beside an ideal allocator replayed on the same runs:
 * `node --import tsx bench/heap-fit-rate.ts [--runs N] [--mib M] [--first S] [--model]`.
 * Run k draws one case of the test's own `phases` arbitrary with fast-check seed S + k
 * (fc.sample, one run), plays it on a fresh heap of M MiB (default 4), and counts an
 * ERR_CAPACITY below 70 % live (or a verify() finding) as a failure; each failure is printed
 * with its seed and phases. --model replays the same runs on a model instead of the heap:
 * address-ordered best fit, every free coalesced with its neighbours at once, a bump pointer
 * that moves back, the heap's size rounding (kLargeClass): what placement alone could reach.
 */
import fc from 'fast-check';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { classOf, classSize, kLargeClass } from '../src/internal/store/heap-classes.ts';
import { SharedHeap, createHeapHandle, kBlockHeaderBytes, kDataStart } from '../src/internal/store/heap.ts';
import { verifyHeap } from '../src/internal/store/heap-sweep.ts';
import { type Phase, type PhaseAlloc, phases, playPhases } from '../test/workers/heap-phases.ts';

/** One allocator: alloc returns a ref or -1 (full); check returns violations at the end. */
interface Alloc extends PhaseAlloc { check(live: number[]): string[] }

const key = hashKeyFromSeed(1n);

function heapAlloc(maxBytes: number): Alloc {
  const heap = new SharedHeap(createHeapHandle(maxBytes, key), key, 'rate heap');
  return {
    alloc: (n) => { try { return heap.alloc(n); } catch { return -1; } },
    free: (r) => heap.free(r),
    check: (live) => heap.gate.freeze(() => verifyHeap(heap, (mark) => { for (const r of live) mark(r, 'live'); }), 1000),
  };
}

function modelAlloc(maxBytes: number): Alloc {
  let top = kDataStart;
  const holes: Array<[number, number]> = []; // [start, size], by address
  const sizes = new Map<number, number>();
  return {
    alloc(payload) {
      const need = payload + kBlockHeaderBytes;
      const c = classOf(need);
      const size = c < kLargeClass ? classSize(c) : (need + 15) & ~15;
      let best = -1;
      for (let i = 0; i < holes.length; i++) if (holes[i]![1] >= size && (best < 0 || holes[i]![1] < holes[best]![1])) best = i;
      let ref: number;
      if (best < 0) {
        if (top + size > maxBytes) return -1;
        ref = top;
        top += size;
      } else {
        const h = holes[best]!;
        ref = h[0];
        if (h[1] === size) holes.splice(best, 1);
        else { h[0] += size; h[1] -= size; }
      }
      sizes.set(ref, size);
      return ref;
    },
    free(ref) {
      let a = ref;
      let s = sizes.get(ref)!;
      sizes.delete(ref);
      let lo = 0;
      for (let hi = holes.length; lo < hi;) { const m = (lo + hi) >> 1; if (holes[m]![0] < a) lo = m + 1; else hi = m; }
      if (lo > 0 && holes[lo - 1]![0] + holes[lo - 1]![1] === a) { lo--; a = holes[lo]![0]; s += holes[lo]![1]; holes.splice(lo, 1); }
      if (lo < holes.length && a + s === holes[lo]![0]) { s += holes[lo]![1]; holes.splice(lo, 1); }
      if (a + s === top) top = a;
      else holes.splice(lo, 0, [a, s]);
    },
    check: () => [],
  };
}

function run(a: Alloc, maxBytes: number, ps: Phase[]): string | undefined {
  const r = playPhases(a, maxBytes, ps);
  if ('error' in r) return r.error;
  const v = a.check(r.live);
  return v.length > 0 ? `verify: ${v.join('; ')}` : undefined;
}

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const runs = arg('runs', 2000);
const mib = arg('mib', 4);
const first = arg('first', 1);
const model = process.argv.includes('--model');
const maxBytes = mib << 20;
let failed = 0;
const t0 = performance.now();
for (let s = first; s < first + runs; s++) {
  const [ps] = fc.sample(phases, { seed: s, numRuns: 1 }) as Phase[][];
  const why = run(model ? modelAlloc(maxBytes) : heapAlloc(maxBytes), maxBytes, ps!);
  if (why === undefined) continue;
  failed++;
  console.log(`seed ${s}: ${why}; phases ${JSON.stringify(ps)}`);
}
console.log(`${model ? 'model (ideal best fit)' : 'heap'}, ${mib} MiB: ${failed} / ${runs} runs failed (seeds ${first}..${first + runs - 1}; ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
