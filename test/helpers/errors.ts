import { SabStateError } from '../../src/errors.ts';

/** Runs fn; the SabStateError code it threw, a description of any other throw, or undefined. */
export function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof SabStateError ? e.code : `not a SabStateError: ${String(e)}`;
  }
  return undefined;
}
