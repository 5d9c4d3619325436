// Worker for test/eliminations.test.ts. Every role attaches to the engine, then waits at a start
// barrier (ctl[kReady] reaches `workers`) so the threads really overlap. Roles:
// - 'taker': per round (a barrier each), take(hk) over every hotkey of the round, all workers
//   in the same order (even rounds) or from a random start (odd), a get() before some takes;
//   returns the hotkeys it got per round, and any row that was not the one stored there.
// - 'replacer': replaceAll(rowsOfSet(r)) for r = 1..rounds, then sets ctl[kDone].
// - 'forever': replaceAll(rowsOfSet(r)) for r = 1, 2, ... (ctl[kDone] = last finished round)
//   until it is terminated.
// - 'reader': until ctl[kDone]: list() must be one whole set (200 rows, one gen, one round, the
//   hotkeys of that gen, every field matching), rounds never go back; get() of keys in both
//   sets / in one set agree with the same rules; size is always 200.
// - 'syncer': `syncs` times (and for at least minMs): spin, begin(), note [E, size], check
//   that size (and now and then list()) does not move while the sync is in progress, end().
//   Then sets ctl[kDone].
// - 'writer': until ctl[kDone] (or maxLanded): read the epoch, pick ifEpoch (sometimes stale,
//   sometimes ahead), spin, add({hotkey: fresh, epoch: ifEpoch}, { ifEpoch }).
// - 'op' (test/eliminations-crash.test.ts): stopAtCrashPoint(crashAt), then one operation
//   (crashOp in eliminations-shared.ts); posts { done, result } if it is not stopped.
// - 'probe': the same operation with a hook that records every crash point it passes: posts
//   { points: [name, passes][] } in the order of first pass.
// - 'storm': until terminated, a seeded mix of add / take / delete / replaceAll over small rows,
//   counting in ctl[kDone].
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine, SabStateError } from '../../src/index.ts';
import type { EliminationRow, EngineHandle } from '../../src/index.ts';
import { setCrashHook } from '../../src/internal/crash.ts';
import { type CrashAt, stopAtCrashPoint } from '../helpers/crash.ts';
import { prng } from '../helpers/seed.ts';
import {
  type CrashOp, type ReaderResult, type StaleSyncResult, type StaleWriterResult, type TakerResult, crashOp, kBarriers, kDone, kReady, rowOf, stormStep,
} from './eliminations-shared.ts';

interface Data {
  role: 'taker' | 'replacer' | 'forever' | 'reader' | 'syncer' | 'writer' | 'op' | 'probe' | 'storm';
  op?: CrashOp;
  crashAt?: CrashAt;
  handle: EngineHandle;
  ctl: SharedArrayBuffer;
  workers: number;
  seed?: number;
  hotkeys?: string[][];
  rounds?: number;
  syncs?: number;
  syncGap?: number;
  syncHold?: number;
  writerSpin?: number;
  staleRate?: number;
  id?: number;
  maxLanded?: number;
  minMs?: number;
}

const d = workerData as Data;
const engine = attachEngine(d.handle);
const el = engine.eliminations;
const ctl = new Int32Array(d.ctl);
const rnd = prng(d.seed ?? 1);
let sink = 0;
const spin = (n: number): void => {
  for (let k = 0; k < n; k++) sink = (sink + Math.imul(k, 31)) | 0;
};

Atomics.add(ctl, kReady, 1);
while (Atomics.load(ctl, kReady) < d.workers) Atomics.wait(ctl, kReady, Atomics.load(ctl, kReady), 1);

if (d.role === 'taker') {
  const out: TakerResult = { taken: [], errors: [] };
  d.hotkeys!.forEach((hotkeys, round) => {
    Atomics.add(ctl, kBarriers + round, 1);
    while (Atomics.load(ctl, kBarriers + round) < d.workers) Atomics.wait(ctl, kBarriers + round, Atomics.load(ctl, kBarriers + round), 1);
    const taken: string[] = [];
    const start = round % 2 === 0 ? 0 : Math.floor(rnd() * hotkeys.length);
    for (let k = 0; k < hotkeys.length; k++) {
      const i = (start + k) % hotkeys.length;
      const hk = hotkeys[i]!;
      if (rnd() < 0.25) {
        const seen = el.get(hk);
        if (seen !== undefined && (seen.hotkey !== hk || seen.n !== i)) out.errors.push(`get(${hk}) gave ${JSON.stringify(seen)}`);
      }
      const r = el.take(hk);
      if (r === undefined) continue;
      taken.push(hk);
      if (r.hotkey !== hk || r.n !== i || r.reason !== 'MAX_TOTAL_DRAWDOWN') out.errors.push(`take(${hk}) gave ${JSON.stringify(r)}`);
    }
    out.taken.push(taken);
  });
  parentPort!.postMessage(out);
} else if (d.role === 'replacer') {
  for (let r = 1; r <= d.rounds!; r++) {
    const gen = r % 2 === 0 ? 0 : 100;
    el.replaceAll(Array.from({ length: 200 }, (_, k) => rowOf(gen + k, r)));
  }
  Atomics.store(ctl, kDone, 1);
  parentPort!.postMessage({ rounds: d.rounds });
} else if (d.role === 'forever') {
  // replaceAll without end, publishing the last finished round in ctl[kDone]: to be terminated.
  for (let r = 1; ; r++) {
    el.replaceAll(Array.from({ length: 200 }, (_, k) => rowOf((r % 2 === 0 ? 0 : 100) + k, r)));
    Atomics.store(ctl, kDone, r);
    Atomics.notify(ctl, kDone);
  }
} else if (d.role === 'reader') {
  const out: ReaderResult = { lists: 0, gets: 0, roundsSeen: 0, violations: [] };
  const bad = (m: string): void => {
    if (out.violations.length < 20) out.violations.push(m);
  };
  let last = 0;
  const seenRounds = new Set<number>();
  /** A row is whole iff it is exactly rowOf(its index, its round). */
  const whole = (r: EliminationRow): boolean => {
    const i = Number(r.hotkey.slice(2));
    return typeof r.round === 'number' && JSON.stringify(r) === JSON.stringify(rowOf(i, r.round));
  };
  const onRound = (round: number, what: string): void => {
    if (round < last) bad(`${what}: round ${round} after round ${last} was seen`);
    last = Math.max(last, round);
    seenRounds.add(round);
  };
  const checkList = (rows: EliminationRow[]): void => {
    out.lists++;
    if (rows.length !== 200) return bad(`list() gave ${rows.length} rows`);
    const round = rows[0]!.round as number;
    const first = round % 2 === 0 ? 0 : 100;
    const keys = new Set<string>();
    for (const r of rows) {
      if (r.round !== round) return bad(`list() mixed rounds ${round} and ${String(r.round)} (gens ${String(rows[0]!.gen)} / ${String(r.gen)})`);
      if (!whole(r)) return bad(`list() gave a torn row ${JSON.stringify(r)}`);
      const i = Number(r.hotkey.slice(2));
      if (i < first || i >= first + 200) return bad(`list() of round ${round} holds ${r.hotkey}`);
      keys.add(r.hotkey);
    }
    if (keys.size !== 200) return bad(`list() repeated hotkeys (${keys.size} distinct)`);
    onRound(round, 'list()');
  };
  const checkGet = (i: number): void => {
    out.gets++;
    const hk = `hk${i}`;
    const r = el.get(hk);
    const inA = i < 200;
    const inB = i >= 100;
    if (r === undefined) {
      if (inA && inB) bad(`get(${hk}) undefined, but it is in both sets`);
      return;
    }
    if (!whole(r)) return bad(`get(${hk}) gave a torn row ${JSON.stringify(r)}`);
    const round = r.round as number;
    if ((round % 2 === 0 && !inA) || (round % 2 === 1 && !inB)) return bad(`get(${hk}) gave a row of round ${round}, whose set lacks it`);
    onRound(round, `get(${hk})`);
  };
  while (Atomics.load(ctl, kDone) === 0) {
    checkList(el.list());
    for (let k = 0; k < 8; k++) checkGet(Math.floor(rnd() * 300));
    checkGet(150);
    const n = el.size;
    if (n !== 200) bad(`size ${n}`);
    const h0 = el.has('hk0');
    const h250 = el.has('hk250');
    if (typeof h0 !== 'boolean' || typeof h250 !== 'boolean') bad('has() not a boolean');
  }
  // after the writer is done: the last set, for everyone
  const rows = el.list();
  checkList(rows);
  out.roundsSeen = seenRounds.size;
  parentPort!.postMessage(out);
} else if (d.role === 'syncer') {
  const gate = engine.general.syncGate;
  const out: StaleSyncResult = { counts: [], violations: [] };
  const t0 = performance.now();
  for (let s = 0; s < d.syncs! || performance.now() - t0 < d.minMs!; s++) {
    spin(Math.floor(rnd() * d.syncGap!));
    const E = gate.begin({ timeoutMs: 20_000 });
    const n0 = el.size;
    out.counts.push([E, n0]);
    spin(Math.floor(rnd() * d.syncHold!));
    if (s % 16 === 0 && el.list().length !== n0) out.violations.push(`sync ${E}: list() disagrees with size ${n0} during the sync`);
    const n = el.size;
    if (n !== n0 && out.violations.length < 20) out.violations.push(`sync ${E}: ${n0} rows at begin(), ${n} before end()`);
    if (!gate.current().inProgress) out.violations.push(`sync ${E}: not in progress before end()`);
    gate.end();
  }
  Atomics.store(ctl, kDone, 1);
  parentPort!.postMessage(out);
} else if (d.role === 'writer') {
  const gate = engine.general.syncGate;
  const out: StaleWriterResult = { landed: [], refused: 0 };
  for (let n = 0; out.landed.length < d.maxLanded! && Atomics.load(ctl, kDone) === 0; n++) {
    const cur = gate.current();
    const x = rnd();
    const ifEpoch = x < d.staleRate! && cur.epoch > 0 ? cur.epoch - 1 : x < d.staleRate! * 1.2 ? cur.epoch + 1 : cur.epoch;
    spin(Math.floor(rnd() * d.writerSpin!));
    const hotkey = `w${d.id}-${n}`;
    try {
      el.add({ hotkey, epoch: ifEpoch, reason: 'ZOMBIE', dd: 0, elimination_initiated_time_ms: n }, { ifEpoch });
      out.landed.push(hotkey);
    } catch (e) {
      if (!(e instanceof SabStateError) || e.code !== 'ERR_STALE_EPOCH') throw e;
      out.refused++;
    }
  }
  parentPort!.postMessage(out);
} else if (d.role === 'op') {
  stopAtCrashPoint(d.crashAt);
  const result = crashOp(engine, d.op!);
  parentPort!.postMessage({ done: true, result });
} else if (d.role === 'probe') {
  const passes = new Map<string, number>(); // in the order of first pass
  setCrashHook((name) => void passes.set(name, (passes.get(name) ?? 0) + 1));
  crashOp(engine, d.op!);
  setCrashHook(null);
  parentPort!.postMessage({ points: [...passes] });
} else if (d.role === 'storm') {
  for (;;) {
    stormStep(el, rnd);
    Atomics.add(ctl, kDone, 1);
  }
}
