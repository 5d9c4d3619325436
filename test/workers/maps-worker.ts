// Worker for test/maps.test.ts. Every role attaches to the engine and waits at a start barrier
// (ctl[kReady] reaches `workers`). Roles:
// - 'incr': `iterations` read-modify-write increments of map('accountSizes') values under
//   engine.locks.withLock(key, 'map') (keys picked by a seeded PRNG, mostly two hot keys);
//   every 20th step also flips the 'churn' key (set when absent, delete when present) under its
//   lock. Returns how many increments it made per key. Bumps ctl[kDone] at the end.
// - 'racer': no locks at all: `iterations` random set / delete of keys r0..r{n-1} racing the
//   other racers (first inserts of one key from several threads, deletes against sets), reads
//   checked whole; then, after a barrier (ctl[kPhase]), sets every key once.
// - 'reader': until ctl[kDone] reaches `incrementers`: get() of random keys and, now and then,
//   entries() and size: every value must be whole (wholeValue(n)), never go back for one key,
//   and the size never exceeds the keys in play.
import { parentPort, workerData } from 'node:worker_threads';
import { attachEngine } from '../../src/index.ts';
import type { EngineHandle } from '../../src/index.ts';
import { prng } from '../helpers/seed.ts';
import {
  CHURN, type IncrResult, type MapReaderResult, isRacerValue, isWhole, kDone, kPhase, kReady, racerValue, wholeValue,
} from './maps-shared.ts';

interface Data {
  role: 'incr' | 'racer' | 'reader';
  id?: number;
  racerKeys?: number;
  handle: EngineHandle;
  ctl: SharedArrayBuffer;
  workers: number;
  incrementers: number;
  keys: string[];
  iterations?: number;
  seed: number;
}

const d = workerData as Data;
const engine = attachEngine(d.handle);
const map = engine.general.map('accountSizes');
const ctl = new Int32Array(d.ctl);
const rnd = prng(d.seed);
const keys = d.keys;

Atomics.add(ctl, kReady, 1);
while (Atomics.load(ctl, kReady) < d.workers) Atomics.wait(ctl, kReady, Atomics.load(ctl, kReady), 1);

if (d.role === 'incr') {
  const out: IncrResult = { counts: Object.fromEntries(keys.map((k) => [k, 0])), errors: [] };
  for (let n = 0; n < d.iterations!; n++) {
    // two hot keys get 70% of the increments (contended locks, frequent updates of one slot)
    const key = rnd() < 0.7 ? keys[n & 1]! : keys[Math.floor(rnd() * keys.length)]!;
    engine.locks.withLock(key, 'map', () => {
      const v = map.get(key);
      if (v !== undefined && !isWhole(v)) out.errors.push(`${key}: read ${JSON.stringify(v)} under the lock`);
      const next = v === undefined ? 1 : (v as { a: number }).a + 1;
      map.set(key, wholeValue(next));
    });
    out.counts[key]!++;
    if (n % 20 === 0) {
      engine.locks.withLock(CHURN, 'map', () => {
        const v = map.get(CHURN);
        if (v === undefined) map.set(CHURN, wholeValue(n));
        else if (!map.delete(CHURN)) out.errors.push('churn: delete of a present key returned false');
      });
    }
  }
  Atomics.add(ctl, kDone, 1);
  parentPort!.postMessage(out);
} else if (d.role === 'racer') {
  const errors: string[] = [];
  const n = d.racerKeys!;
  const w = d.id!;
  for (let s = 0; s < d.iterations!; s++) {
    const i = Math.floor(rnd() * n);
    const key = `r${i}`;
    const x = rnd();
    if (x < 0.6) map.set(key, racerValue(i, w, s));
    else if (x < 0.85) map.delete(key);
    else {
      const v = map.get(key);
      if (v !== undefined && !isRacerValue(key, v) && errors.length < 20) errors.push(`get(${key}) gave ${JSON.stringify(v)}`);
    }
  }
  Atomics.add(ctl, kPhase, 1);
  while (Atomics.load(ctl, kPhase) < d.workers) Atomics.wait(ctl, kPhase, Atomics.load(ctl, kPhase), 1);
  for (let i = 0; i < n; i++) map.set(`r${i}`, racerValue(i, w, d.iterations!));
  parentPort!.postMessage({ counts: {}, errors } satisfies IncrResult);
} else {
  const out: MapReaderResult = { reads: 0, scans: 0, violations: [] };
  const bad = (m: string): void => {
    if (out.violations.length < 20) out.violations.push(m);
  };
  const last = new Map<string, number>();
  const check = (key: string, v: unknown, how: string): void => {
    out.reads++;
    if (v === undefined) {
      if (key !== CHURN && last.has(key)) bad(`${how}(${key}) undefined after ${last.get(key)} was seen`);
      return;
    }
    if (!isWhole(v)) return bad(`${how}(${key}) gave a torn value ${JSON.stringify(v)}`);
    if (key === CHURN) return; // set and deleted: any whole value
    const a = (v as { a: number }).a;
    const prev = last.get(key) ?? 0;
    if (a < prev) bad(`${how}(${key}) went back from ${prev} to ${a}`);
    last.set(key, Math.max(prev, a));
  };
  let maxSize = 0;
  const all = [...keys, CHURN];
  for (let n = 0; Atomics.load(ctl, kDone) < d.incrementers; n++) {
    const key = all[Math.floor(rnd() * all.length)]!;
    check(key, map.get(key), 'get');
    const h = map.has(key);
    if (!h && key !== CHURN && last.has(key)) bad(`has(${key}) false after it was seen`);
    if (n % 16 === 0) {
      out.scans++;
      const seen = new Set<string>();
      for (const [k, v] of map.entries()) {
        if (seen.has(k)) bad(`entries() repeated ${k}`);
        seen.add(k);
        if (!all.includes(k)) bad(`entries() holds an unknown key ${k}`);
        check(k, v, 'entries');
      }
      const size = map.size;
      if (size > all.length || size < maxSize - 1) bad(`size ${size} (max seen ${maxSize}, keys ${all.length})`);
      maxSize = Math.max(maxSize, size);
    }
  }
  parentPort!.postMessage(out);
}
