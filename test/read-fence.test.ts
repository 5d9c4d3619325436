// Issue 9, finding 6: every lock-free read path puts the read fence (a release-ordered atomic
// operation, versioned-word.ts section 3) between its plain copy and its validating load. The
// reordering it prevents exists only on ARM64 and cannot be provoked on this x86-64 machine, so
// the test checks the fence is THERE: each read below must run at least one fence per
// validation (fencesSoFar() counts this thread's fences). Before the fix no read fenced (the
// function did not exist); with the fence removed from a path, that path's case fails here.
// The cost of the fence: bench/read-fence.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine } from '../src/index.ts';
import { fencesSoFar } from '../src/internal/sync/versioned-word.ts';
import { realPositions } from '../support/data.ts';

const e = createEngine({ general: { maps: ['accountSizes'] } });
const positions = realPositions();
const open = positions.find((p) => p.is_closed_position === false) ?? positions[0]!;
const hk = open.miner_hotkey as string;
const tp = (open.trade_pair as unknown[])[0] as string;
e.locks.withLock(hk, tp, () => e.positions.save(open as never));
e.departed.mark('5Departed', 1_717_000_000_000);
e.eliminations.add({ hotkey: '5Eliminated', dd: 0.1, reason: 'MAX_TOTAL_DRAWDOWN', elimination_initiated_time_ms: 1 });
const m = e.general.map('accountSizes');
m.set(hk, { size: 100_000 });

const reads: Array<[string, () => unknown]> = [
  ['departed.has', () => e.departed.has('5Departed')],
  ['departed.get', () => e.departed.get('5Departed')],
  ['eliminations.has', () => e.eliminations.has('5Eliminated')],
  ['eliminations.get', () => e.eliminations.get('5Eliminated')],
  ['eliminations.list', () => e.eliminations.list()],
  ['map.get', () => m.get(hk)],
  ['map.has', () => m.has(hk)],
  ['positions.get', () => e.positions.get(hk, open.position_uuid as string)],
  ['positions.getOpen', () => e.positions.getOpen(hk, tp)],
  ['positions.getOpenHead', () => e.positions.getOpenHead(hk, tp)],
  ['positions.listForHotkey', () => e.positions.listForHotkey(hk)],
];

for (const [name, read] of reads) {
  test(`${name}: fences between its copy and its validation`, () => {
    const before = fencesSoFar();
    const out = read();
    assert.ok(out !== undefined && out !== false, `${name} found what was written`);
    assert.ok(fencesSoFar() - before >= 1, `${name} read without a fence (${fencesSoFar() - before})`);
  });
}

test.run();
