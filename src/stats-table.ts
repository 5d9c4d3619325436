/**
 * engine.statsTable(): the per-domain statistics as one text table for logs. Every figure is
 * the whole engine's (read from shared memory) except the per-domain operation counts of
 * positions, eliminations and departed, which count the calling thread's calls only: those
 * cells start with "this thread:", and the column's header says so.
 */
import type { EngineStats } from './engine.ts';
import type { HeapStats } from './internal/store/heap.ts';

const mb = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
const n = (x: number): string => Math.round(x).toLocaleString('en-US');
/** Widest cell of the text table before it wraps. */
const kWidth = 56;

const kib = (b: number): string => (b >= 2 ** 20 ? mb(b) : `${(b / 1024).toFixed(1)} KiB`);

/** A heap's row: carved against in use (the fragmentation figure), the free lists, the uncarved pool. */
function heapRow(name: string, h: HeapStats): [string, string, string, string] {
  const top = Object.entries(h.freeByClass).sort((a, b) => b[1] - a[1]).slice(0, 3);
  return [
    `${name} heap`,
    `${mb(h.carvedBytes)} carved, ${mb(h.inUseBytes)} in use, carved / in use ${h.fragmentation.toFixed(2)}`,
    `${n(h.inUseBlocks)} blocks, ${kib(h.freeBytes)} free on the lists${top.length ? ` (most in ${top.map(([c, b]) => `${c} B: ${kib(b)}`).join(', ')})` : ''}`,
    `pool ${n(h.poolPages)} pages of 64 KiB uncarved; ${n(h.merges)} merges, ${n(h.splits)} splits; full ${n(h.capacityErrors)} times`,
  ];
}

export function formatStatsTable(s: EngineStats): string {
  const l = s.locks;
  const rows: [string, string, string, string][] = [
    [
      'locks',
      `${n(l.acquisitions)} acquisitions, ${(l.contendedShare * 100).toFixed(2)} % contended, ${n(l.reentered)} re-entered`,
      `${l.stripes} stripes, ${l.held} held`,
      `wait total ${l.waitTotalMs.toFixed(1)} ms, max ${l.waitMaxMs.toFixed(2)} ms; timeouts ${l.timeouts}, recoveries ${l.recoveries}`,
    ],
    [
      'positions',
      `this thread: ${n(s.positions.operations.saves)} saves, ${n(s.positions.operations.gets)} gets`,
      `${n(s.positions.records)} records, ${n(s.positions.open)} open, ${n(s.positions.hotkeys)} hotkeys`,
      `${mb(s.positions.bytesUsed)} used of ${mb(s.positions.bytesCapacity)}; read retries ${n(s.positions.readRetries)}`,
    ],
    [
      'eliminations',
      `this thread: ${n(s.eliminations.operations.reads)} reads, ${n(s.eliminations.operations.writes)} writes`,
      `${n(s.eliminations.records)} rows, set generation ${s.eliminations.generation}`,
      `${mb(s.eliminations.bytesUsed)} used of ${mb(s.eliminations.bytesCapacity)}; read retries ${n(s.eliminations.readRetries)}`,
    ],
    [
      'departed',
      `this thread: ${n(s.departed.operations.reads)} reads, ${n(s.departed.operations.writes)} writes`,
      `${n(s.departed.records)} hotkeys`,
      `${mb(s.departed.bytesUsed)} used of ${mb(s.departed.bytesCapacity)}; read retries ${n(s.departed.readRetries)}`,
    ],
  ];
  for (const [name, h] of [['positions', s.positions.heap], ['eliminations', s.eliminations.heap], ['departed', s.departed.heap]] as const) {
    rows.push(heapRow(name, h));
  }
  for (const [name, q] of Object.entries(s.general.queues)) {
    const qs = q as unknown as Record<string, number>;
    rows.push([
      `queue ${name}`,
      Object.entries(qs).filter(([k]) => k !== 'capacity' && k !== 'size').map(([k, v]) => `${k} ${n(v)}`).join(', '),
      `${n(qs.size ?? 0)} queued of ${n(qs.capacity ?? 0)}`,
      '',
    ]);
  }
  const counters = Object.entries(s.general.counters).map(([k, v]) => `${k} ${n(v)}`).join(', ');
  rows.push(['general', counters || 'no counters', `sync epoch ${s.general.gate.epoch}${s.general.gate.inProgress ? ' (in progress)' : ''}`, `stale saves refused ${n(s.general.gate.refused)}; maps ${Object.entries(s.general.maps).map(([k, v]) => `${k} ${v.size}`).join(', ') || 'none'}`]);
  if (s.watch.exited > 0) {
    const w = s.watch;
    rows.push(['watch', `${w.exited} watched workers exited`, `${w.recoveredLocks} stripes recovered`, `${w.recoveredOther} other recoveries; ${w.repairs} repairs, ${w.repaired} fixed, ${w.reclaimedBlocks} blocks reclaimed`]);
  }
  const head: [string, string, string, string] = ['domain', 'operations (whole engine unless "this thread")', 'records', 'memory / waits'];
  // Long cells wrap at ", " so that the table stays readable in a log (each cell at most kWidth).
  const wrap = (cell: string): string[] => {
    const out: string[] = [];
    let line = '';
    for (const part of cell.split(/(?<=,) /)) {
      if (line !== '' && line.length + 1 + part.length > kWidth) {
        out.push(line);
        line = part;
      } else line = line === '' ? part : `${line} ${part}`;
    }
    out.push(line);
    return out;
  };
  const lines: string[][] = [];
  for (const r of [head, ...rows]) {
    const cells = r.map(wrap);
    const h = Math.max(...cells.map((c) => c.length));
    for (let i = 0; i < h; i++) lines.push(cells.map((c) => c[i] ?? ''));
    if (r === head) lines.push([]);
  }
  const w = [0, 1, 2, 3].map((c) => Math.max(...lines.map((l) => (l[c] ?? '').length)));
  return lines
    .map((l) => (l.length === 0 ? `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|` : `| ${l.map((x, c) => x.padEnd(w[c]!)).join(' | ')} |`))
    .join('\n');
}
