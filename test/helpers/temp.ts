import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Small engine sizes for suites that create many engines. */
export const SMALL_ENGINE = {
  lockStripes: 256,
  positions: { maxRecords: 1024, maxBytes: 16 << 20 },
  eliminations: { maxRecords: 64 },
  departed: { maxRecords: 1024 },
} as const;

/** A maker of temp directories (under os.tmpdir()) that the suite removes after its tests. */
export function tempDirs(prefix: string, suite: { after(fn: () => void): void }): () => string {
  const dirs: string[] = [];
  suite.after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}
