/**
 * Helpers shared by the tests, the examples and the benchmarks (support/ is their one home; it is
 * not shipped in the package).
 */

/** A small seeded PRNG (mulberry32) for stress workers: same seed, same sequence. */
export function prng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
