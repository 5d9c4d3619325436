/** A Redis suite that cannot run here: one visible SKIP line with the reason, and a skipped uvu test. */
import { suite } from 'uvu';

export function skipRedisSuite(name: string, reason: string): void {
  console.log(`SKIP ${name}: ${reason}`);
  const s = suite(name);
  s.skip(`skipped: ${reason}`, () => {});
  s.run();
}
