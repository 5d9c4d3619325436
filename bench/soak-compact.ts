/**
 * Diagnostic (issue 11): what one top compaction costs (positions/compact.ts lowerTop), on one
 * thread. A positions domain is filled with POSITIONS closed positions of the real shapes' sizes
 * (ORDERS orders of about 300 bytes each), a random half of them is deleted after the top 15 %
 * is kept, then `positions.compactTop()` runs once: printed are the CPU milliseconds it took
 * (process.cpuUsage, this thread), the records and entries it moved, the bytes copied, carved /
 * in use before and after, and the CPU per moved record. ROUNDS rounds, each on a new domain.
 *
 *   node --import tsx bench/soak-compact.ts     POSITIONS (3000), ORDERS (20), ROUNDS (5)
 */
import { topTrigger } from '../src/domains/positions/compact.ts';
import type { Position } from '../src/domains/positions/positions.ts';
import { fixture } from '../test/workers/positions-fixture.ts';
import { prng } from '../support/prng.ts';

const POSITIONS = Number(process.env.POSITIONS ?? 3000);
const ORDERS = Number(process.env.ORDERS ?? 20);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
// Only the explicit call compacts (the writes' trigger off), so that one run is measured.
topTrigger.ratioMilli = Number.MAX_SAFE_INTEGER;

const rows: string[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const rnd = prng(round + 1);
  const f = fixture({ maxBytes: 256 << 20, maxRecords: 1 << 14, seed: round + 1 });
  const order = (k: number): Record<string, unknown> => ({ order_uuid: `o-${k}`, price: k, leverage: 1, processed_ms: 1, note: 'x'.repeat(150 + Math.floor(rnd() * 300)) });
  const all: Position[] = [];
  for (let n = 0; n < POSITIONS; n++) {
    const hk = `5Bench${n % 48}`;
    const p: Position = { miner_hotkey: hk, position_uuid: `b-${n}`, trade_pair: 'BTCUSD', orders: Array.from({ length: ORDERS }, (_, k) => order(n + k)), is_closed_position: true };
    f.locks.withLock(hk, 'BTCUSD', () => f.positions.save(p));
    all.push(p);
  }
  const keepFrom = Math.floor(all.length * 0.85);
  for (let n = 0; n < keepFrom; n++) if (rnd() < 0.5) f.positions.delete(all[n]!.miner_hotkey, all[n]!.position_uuid);
  const before = f.positions.stats().heap;
  const t0 = process.cpuUsage();
  f.positions.compactTop();
  const cpu = process.cpuUsage(t0);
  const ms = (cpu.user + cpu.system) / 1000;
  const st = f.positions.stats();
  const moved = st.compaction.top.relocations;
  if (f.positions.verify().length !== 0) throw new Error('verify() after the compaction');
  rows.push(
    `| ${round + 1} | ${ms.toFixed(1)} | ${moved} | ${(st.compaction.top.movedBytes / 2 ** 20).toFixed(2)} | ${before.fragmentation.toFixed(3)} -> ${st.heap.fragmentation.toFixed(3)} | ${moved > 0 ? ((1000 * ms) / moved).toFixed(1) : '-'} |`,
  );
}
console.log(`top compaction, ${POSITIONS} positions of ${ORDERS} orders (half of the lower 85 % deleted), one compactTop per round:\n`);
console.log('| round | CPU ms | moved | MiB copied | carved / in use | CPU µs per move |');
console.log('| - | -: | -: | -: | - | -: |');
for (const r of rows) console.log(r);
