/**
 * Shared test helpers: the printed seed for fast-check and the stress scale.
 *
 * SABSTATE_SEED fixes the fast-check seed (printed by every property suite so a failure can be
 * replayed); SABSTATE_STRESS_SCALE multiplies worker stress sizes (default 1).
 */
export const seed: number = process.env.SABSTATE_SEED ? Number(process.env.SABSTATE_SEED) : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;

let printed = false;
/** fast-check parameters with the run's seed; prints it once per process. */
export function fcParams(numRuns?: number): { seed: number; numRuns?: number } {
  if (!printed) {
    console.log(`fast-check seed: ${seed} (replay with SABSTATE_SEED=${seed})`);
    printed = true;
  }
  return numRuns === undefined ? { seed } : { seed, numRuns };
}

export const stressScale: number = Number(process.env.SABSTATE_STRESS_SCALE ?? 1) || 1;

export { prng } from '../../support/prng.ts';
