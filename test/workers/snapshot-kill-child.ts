// Child process of test/snapshot-kill.test.ts: changes an engine step by step and, after each
// step, snapshots it (mode "snapshot") or exports it as the validator's tree (mode "export")
// into argv[3], forever; prints "ready" once the first one is complete. The parent SIGKILLs it
// at a random moment. Step k leaves a state that says k everywhere, so a torn load is visible:
//   snapshot: counter gen = k, departed hk-1..hk-k, position p with k orders, map k = k,
//             queue q holding 1..k (capacity 1024), the sync epoch k
//   export:   positions u1..uk of hotkey H (u1..u(k-1) closed, uk open, trade pair TPi),
//             eliminations e1..ek, departed d1..dk
import { createEngine, exportValidatorTree } from '../../src/index.ts';
import type { Position } from '../../src/index.ts';

const [mode, dir] = [process.argv[2], process.argv[3]!];
const H = '5GhCxfBcA7Ur5iiAS343xwvrYHTUfBjBi4JimiL5LhujRT9t';
const e = createEngine({
  lockStripes: 64, positions: { maxRecords: 4096, maxBytes: 64 << 20 }, eliminations: { maxRecords: 4096 }, departed: { maxRecords: 4096 },
  general: { queues: { q: { capacity: 1024, maxMessageBytes: 64 } }, counters: ['gen'], maps: ['m'] },
});
const order = (i: number) => ({ order_uuid: `o${i}`, price: 100 + i, processed_ms: 1_700_000_000_000 + i, leverage: -0 });
const pos = (uuid: string, tp: string, closed: boolean, orders: unknown[]) =>
  ({ miner_hotkey: H, position_uuid: uuid, trade_pair: tp, is_closed_position: closed, open_ms: 1_700_000_000_000, orders }) as unknown as Position;

for (let k = 1; ; k++) {
  if (mode === 'snapshot') {
    e.general.counter('gen').add(1);
    e.departed.mark(`hk-${k}`, k);
    e.locks.withLock(H, 'BTCUSD', () => e.positions.save(pos('p', 'BTCUSD', false, Array.from({ length: k }, (_, i) => order(i)))));
    e.general.map('m').set('k', k);
    if (k <= 1024) e.general.queue('q').push(k);
    e.general.syncGate.begin();
    e.general.syncGate.end();
    e.snapshot(dir);
  } else {
    if (k > 1) e.locks.withLock(H, `TP${k - 1}`, () => e.positions.save(pos(`u${k - 1}`, `TP${k - 1}`, true, [order(0), order(k)])));
    e.locks.withLock(H, `TP${k}`, () => e.positions.save(pos(`u${k}`, `TP${k}`, false, [order(0)])));
    e.eliminations.add({ hotkey: `e${k}`, reason: 'ZOMBIE', k });
    e.departed.mark(`d${k}`, k);
    exportValidatorTree(e, dir);
  }
  if (k === 1) process.stdout.write('ready\n');
}
