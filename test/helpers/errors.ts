import { SabStateError } from '../../src/errors.ts';

/** Runs fn; the SabStateError code (or option error code) it threw, a description of any other throw, or undefined. */
export function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof SabStateError) return e.code;
    // Option errors: TypeError / RangeError carrying code ERR_INVALID_OPTION (errors.ts).
    if ((e instanceof TypeError || e instanceof RangeError) && (e as { code?: unknown }).code === 'ERR_INVALID_OPTION') return 'ERR_INVALID_OPTION';
    return `not a SabStateError: ${String(e)}`;
  }
  return undefined;
}
