/**
 * The 70 % property's workload (issue 11), shared by test/heap-reuse.test.ts and
 * bench/heap-fit-rate.ts: phases, each with its own size range (small, medium, up to a 100 KB
 * position) and its own share of frees, so that the sizes freed in one phase are not the ones
 * asked for in the next. A request is skipped when it would take the live bytes (payload plus
 * block header of every live allocation) to 70 % of maxBytes or more; an allocator that cannot
 * serve one below that fails the run.
 */
import fc from 'fast-check';
import { kBlockHeaderBytes } from '../../src/internal/store/heap-classes.ts';

export interface Phase { range: [number, number]; steps: number; frees: number; seed: number }

export const phases = fc.array(
  fc.record({
    range: fc.constantFrom<[number, number]>([1, 256], [200, 1024], [1000, 8192], [4096, 32 << 10], [16 << 10, 100 << 10]),
    steps: fc.integer({ min: 20, max: 3000 }), frees: fc.double({ min: 0, max: 0.7, noNaN: true }), seed: fc.nat(),
  }),
  { minLength: 1, maxLength: 8 },
);

/** An allocator under test: alloc returns a block ref, or -1 when it is full. */
export interface PhaseAlloc {
  alloc(payloadBytes: number): number;
  free(ref: number): void;
}

/** Plays the phases: the refs still live at the end, or why the run failed (a request refused below 70 % live). */
export function playPhases(a: PhaseAlloc, maxBytes: number, ps: readonly Phase[]): { live: number[] } | { error: string } {
  const live: Array<[number, number]> = [];
  let liveBytes = 0;
  for (const p of ps) {
    let x = p.seed;
    const next = (): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x / 2 ** 32; };
    for (let k = 0; k < p.steps; k++) {
      if (next() < p.frees) {
        const at = Math.floor(next() * live.length);
        if (live.length === 0) continue;
        const [ref, n] = live.splice(at, 1)[0]!;
        a.free(ref);
        liveBytes -= n;
        continue;
      }
      const want = p.range[0] + Math.floor(next() * (p.range[1] - p.range[0] + 1));
      const n = want + kBlockHeaderBytes;
      if (liveBytes + n >= 0.7 * maxBytes) continue;
      const ref = a.alloc(want);
      if (ref < 0) return { error: `ERR_CAPACITY for ${want} bytes at ${((liveBytes + n) / maxBytes * 100).toFixed(1)}% live` };
      live.push([ref, n]);
      liveBytes += n;
    }
  }
  return { live: live.map(([r]) => r) };
}
