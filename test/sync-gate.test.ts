// The sync gate (src/internal/sync/sync-gate.ts) under thread death: a worker driven to each of the gate's
// crash points and terminated there, recovery with releaseAllOwnedBy(its threadId), then the
// gate's invariants (no guard counted for the dead thread, begin() returns, the dead thread's
// write completed or never started, a dead syncer's sync ended); the slot limit (ERR_CAPACITY);
// a begin() asleep on a dead guard is woken by recovery; a seeded kill storm.
// Worker: test/workers/sync-gate-worker.ts. No timing assertions: every wait is bounded by a
// timeout that fails the test (begin's timeoutMs, killAtCrashPoint's, the file's hard timeout).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { GeneralDomain, createGeneralHandle, resolveGeneralOptions } from '../src/domains/general.ts';
import type { GeneralHandle } from '../src/domains/general.ts';
import { crashPoints } from '../src/internal/crash.ts';
import { GATE_SLOTS, gateSlotIndex } from '../src/internal/sync/sync-gate.ts';
import type { SyncGate } from '../src/internal/sync/sync-gate.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { tagOf } from '../src/internal/sync/thread-tag.ts';
import { killAtCrashPoint } from './helpers/crash.ts';
import { code } from './helpers/errors.ts';
import { prng, seed, stressScale } from './helpers/seed.ts';
import { tsWorker } from './helpers/workers.ts';
import { CTL_BYTES, kHeld, kOps, kRelease, kWrites } from './workers/sync-gate-shared.ts';

const WORKER = new URL('./workers/sync-gate-worker.ts', import.meta.url);
const key = hashKeyFromSeed(0x5eed_9a7e_0010n);
/** Hard bound on a worker reaching its crash point (worker start-up under load included). */
const REACH_MS = 60_000;
/** begin()'s bound once nothing should hold it back: a throw (ERR_LOCK_TIMEOUT) fails the test. */
const BEGIN_MS = 10_000;
const visited = new Set<string>();
/** Workers a test started: terminated after it, whatever happened (a failed test leaves none). */
const running = new Set<Worker>();
test.after.each(async () => {
  await Promise.all([...running].map((w) => w.terminate()));
  running.clear();
});

/** once(w, event), never an unhandled rejection if the test has failed before awaiting it. */
function onceQuiet(w: Worker, event: string): Promise<unknown[]> {
  const p = once(w, event);
  p.catch(() => {});
  return p;
}

function make(): { handle: GeneralHandle; gate: SyncGate; ctl: Int32Array } {
  const handle = createGeneralHandle(resolveGeneralOptions({}), key);
  return { handle, gate: new GeneralDomain(handle, key).syncGate, ctl: new Int32Array(new SharedArrayBuffer(CTL_BYTES)) };
}

function start(handle: GeneralHandle, ctl: Int32Array, data: Record<string, unknown>): Worker {
  const w = tsWorker(WORKER, { workerData: { handle, key, ctl: ctl.buffer, ...data } });
  running.add(w);
  w.once('exit', () => running.delete(w));
  w.on('error', () => {}); // reported through the promises that wait for the worker
  return w;
}

/** Starts a worker in `role`, drives it to crash point `name`, terminates it; its threadId. */
async function killAt(handle: GeneralHandle, ctl: Int32Array, name: string, data: Record<string, unknown>): Promise<number> {
  const w = start(handle, ctl, { ...data, crashAt: { name } });
  const id = w.threadId;
  assert.ok(await killAtCrashPoint(w, REACH_MS), `the worker reached ${name}`);
  visited.add(name);
  return id;
}

/** Waits (bounded) until ctl[i] is non-zero. */
async function until(ctl: Int32Array, i: number, what: string): Promise<void> {
  const deadline = Date.now() + REACH_MS;
  while (Atomics.load(ctl, i) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  assert.ok(Atomics.load(ctl, i) !== 0, what);
}

/** After recovery: nothing counted for anyone, begin() returns the next epoch, a guard lands. */
function checkLive(gate: SyncGate, epoch: number, what: string): void {
  assert.equal(gate.guardsInFlight(), [], `${what}: no guarded write counted`);
  assert.equal(gate.current(), { epoch, inProgress: false }, `${what}: gate state`);
  let got = -1;
  assert.is(code(() => (got = gate.begin({ timeoutMs: BEGIN_MS }))), undefined, `${what}: begin() returned`);
  assert.is(got, epoch + 1, `${what}: begin()'s epoch`);
  assert.is(code(() => gate.guard(epoch + 1, () => 1)), 'ERR_STALE_EPOCH', `${what}: refused during the sync`);
  gate.end();
  let ran = false;
  gate.guard(epoch + 1, () => (ran = true));
  assert.ok(ran, `${what}: a guarded write at the new epoch lands`);
}

// ---- finding 10 ----------------------------------------------------------------------------------

test('finding 10: a guard terminated between its shared steps (gate.guard.announced) does not hold back begin() once recovered', async () => {
  const { handle, gate, ctl } = make();
  const id = await killAt(handle, ctl, 'gate.guard.announced', { role: 'guard' });
  const released = gate.releaseAllOwnedBy(id);
  // Before the fix: "syncGate.begin: 1 guarded write(s) still in flight after 10000 ms".
  let epoch = -1;
  assert.is(code(() => (epoch = gate.begin({ timeoutMs: BEGIN_MS }))), undefined, 'begin() returned');
  assert.is(epoch, 1);
  gate.end();
  assert.is(released, 1, 'recovery released the dead guard');
  assert.is(Atomics.load(ctl, kWrites), 0, 'the write never ran');
  checkLive(gate, 1, 'after recovery');
});

// ---- every crash point -----------------------------------------------------------------------------

test('crash points of guard(): terminated at each, recovered: the write completed or never started, nothing counted, begin() returns', async () => {
  const cases: Array<[name: string, delta: number, wrote: number]> = [
    ['gate.guard.announced', 0, 0],
    ['gate.guard.admitted', 0, 0],
    ['gate.guard.written', 0, 1],
    ['gate.guard.refused', 1, 0],
  ];
  for (const [name, delta, wrote] of cases) {
    const { handle, gate, ctl } = make();
    const id = await killAt(handle, ctl, name, { role: 'guard', delta });
    assert.equal(gate.guardsInFlight(), [id], `${name}: the dead guard holds its slot until recovery`);
    assert.is(gate.releaseAllOwnedBy(id), 1, `${name}: one slot released`);
    assert.is(Atomics.load(ctl, kWrites), wrote, `${name}: the write ${wrote ? 'completed' : 'never ran'}`);
    assert.is(gate.refused(), delta === 1 ? 1 : 0, `${name}: refusals counted`);
    checkLive(gate, 0, name);
    assert.is(gate.releaseAllOwnedBy(id), 0, `${name}: recovery is idempotent`);
  }
});

test('crash points of begin(): a syncer terminated at each is recovered: its sync ended (or never begun), later syncs and writes go on', async () => {
  const cases: Array<[name: string, epoch: number]> = [
    ['gate.begin.owned', 0], // no sync begun
    ['gate.begin.flagged', 1], // begun: recovery ends it, as the dead thread's end() would
  ];
  for (const [name, epoch] of cases) {
    const { handle, gate, ctl } = make();
    const id = await killAt(handle, ctl, name, { role: 'begin' });
    gate.releaseAllOwnedBy(id);
    checkLive(gate, epoch, name);
  }
});

test('crash point gate.begin.marked: a syncer terminated while waiting for a guarded write in flight', async () => {
  const { handle, gate, ctl } = make();
  const holder = start(handle, ctl, { role: 'holder' });
  const holderDone = onceQuiet(holder, 'message');
  await until(ctl, kHeld, 'the holder entered its guarded write');
  const id = await killAt(handle, ctl, 'gate.begin.marked', { role: 'begin' });
  assert.equal(gate.current(), { epoch: 1, inProgress: true }, 'the dead syncer had begun');
  assert.is(gate.releaseAllOwnedBy(id), 1, 'recovery ended the dead syncer\'s sync');
  assert.equal(gate.current(), { epoch: 1, inProgress: false });
  assert.is(gate.guardsInFlight().length, 1, 'the live holder keeps its slot');
  // The holder's write was admitted at epoch 0, before the dead begin(): it completes.
  Atomics.store(ctl, kRelease, 1);
  Atomics.notify(ctl, kRelease);
  await holderDone;
  assert.is(Atomics.load(ctl, kWrites), 1, 'the holder\'s write landed');
  checkLive(gate, 1, 'after the holder finished');
});

test('recovery wakes a begin() asleep on a dead guard\'s slot (no waiter left sleeping on a free word)', async () => {
  const { handle, gate, ctl } = make();
  const dead = await killAt(handle, ctl, 'gate.guard.admitted', { role: 'guard' });
  const syncer = start(handle, ctl, { role: 'begin' });
  const done = onceQuiet(syncer, 'message');
  // The syncer marks the dead guard's slot (kWaited) just before it sleeps on it.
  const k = slotOf(handle, dead);
  assert.ok(k >= 0, 'the dead guard holds a slot');
  const slot = gateSlotIndex(k);
  const i32 = new Int32Array(handle.gate);
  const deadline = Date.now() + REACH_MS;
  while ((Atomics.load(i32, slot) & 1) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  assert.is(Atomics.load(i32, slot) & 1, 1, 'the syncer waits on the dead guard');
  assert.is(gate.releaseAllOwnedBy(dead), 1);
  const timer = setTimeout(() => void syncer.terminate(), REACH_MS);
  const [m] = (await done) as [{ done?: boolean }];
  clearTimeout(timer);
  assert.ok(m.done, 'the syncer woke, finished its sync and ended it');
  assert.equal(gate.current(), { epoch: 1, inProgress: false });
  checkLive(gate, 1, 'after the wake-up');
});

/** The slot k (0-based) holding thread id's guard. */
function slotOf(handle: GeneralHandle, id: number): number {
  const i32 = new Int32Array(handle.gate);
  for (let k = 0; k < GATE_SLOTS; k++) if ((Atomics.load(i32, gateSlotIndex(k)) & ~1) === tagOf(id)) return k;
  return -1;
}

test('crash points: every point the gate declares was visited above', () => {
  const declared = [...crashPoints()].filter(([, m]) => m === 'gate').map(([n]) => n).sort();
  assert.ok(declared.length >= 7, `the gate declares its points (${declared.join(', ')})`);
  assert.equal([...visited].sort(), declared);
  console.log(`  ${declared.length} gate crash points visited: ${declared.join(', ')}`);
});

// ---- capacity ------------------------------------------------------------------------------------

test(`capacity: with all ${GATE_SLOTS} slots held, a guard is refused with ERR_CAPACITY naming the limit and writes nothing; recovery frees them`, () => {
  const { handle, gate } = make();
  const i32 = new Int32Array(handle.gate);
  // Fake threads 1000.. hold every slot (as if each were inside a guarded write).
  for (let k = 0; k < GATE_SLOTS; k++) Atomics.store(i32, gateSlotIndex(k), tagOf(1000 + k));
  assert.is(gate.guardsInFlight().length, GATE_SLOTS);
  let ran = false;
  let message = '';
  assert.is(code(() => {
    try {
      gate.guard(0, () => (ran = true));
    } catch (e) {
      message = (e as Error).message;
      throw e;
    }
  }), 'ERR_CAPACITY');
  assert.not.ok(ran, 'the write did not run');
  assert.ok(message.includes(String(GATE_SLOTS)), `the message names the limit: ${message}`);
  assert.is(gate.refused(), 0, 'not counted as a stale refusal');
  assert.is(gate.releaseAllOwnedBy(1000 + 17), 1);
  assert.is(gate.guard(0, () => 'in'), 'in', 'one slot free again: the guard runs');
  assert.is(gate.guardsInFlight().length, GATE_SLOTS - 1, 'and gives its slot back');
  for (let k = 0; k < GATE_SLOTS; k++) gate.releaseAllOwnedBy(1000 + k);
  assert.equal(gate.guardsInFlight(), []);
  checkLive(gate, 0, 'after the fake threads are recovered');
});

test('nested guards hold one slot; a refused nested guard leaves the outer one counted until it ends', () => {
  const { gate } = make();
  const inner = gate.guard(0, () => {
    assert.is(gate.guardsInFlight().length, 1);
    assert.is(code(() => gate.guard(5, () => 1)), 'ERR_STALE_EPOCH');
    return gate.guard(0, () => gate.guardsInFlight().length);
  });
  assert.is(inner, 1);
  assert.equal(gate.guardsInFlight(), []);
  assert.is(gate.refused(), 1);
  for (const bad of [-1, 1.5, '0', Number.NaN, null]) {
    assert.is(code(() => gate.guard(bad as number, () => 1)), 'ERR_INVALID_VALUE', String(bad));
  }
  assert.equal(gate.guardsInFlight(), [], 'a bad ifEpoch takes no slot');
});

// ---- kill storm ----------------------------------------------------------------------------------

test('kill storm: guards and one syncer terminated at random moments; after recovery nothing is counted, no sync is left in progress, begin() returns', async () => {
  const kills = Math.max(8, Math.round(24 * stressScale));
  console.log(`  storm seed ${seed} (replay with SABSTATE_SEED=${seed}), ${kills} kills`);
  const rnd = prng(seed);
  const { handle, gate, ctl } = make();
  const roles = [{ syncs: true }, { syncs: false }, { syncs: false }];
  let started = 0;
  const spawn = (i: number): { w: Worker; id: number; exited: Promise<unknown> } => {
    const w = start(handle, ctl, { role: 'storm', seed: seed + started++, ...roles[i] });
    const id = w.threadId;
    // Recovery as engine.watch does it: once the worker has exited.
    const exited = once(w, 'exit').then(() => gate.releaseAllOwnedBy(id));
    return { w, id, exited };
  };
  const live = roles.map((_, i) => spawn(i));
  const deadline = Date.now() + 4 * REACH_MS;
  for (let k = 0; k < kills; k++) {
    const i = Math.floor(rnd() * live.length);
    const ops = Atomics.load(ctl, kOps);
    while (Atomics.load(ctl, kOps) < ops + 50 + Math.floor(rnd() * 2000) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    assert.ok(Date.now() < deadline, 'the storm workers made progress');
    void live[i]!.w.terminate();
    await live[i]!.exited;
    live[i] = spawn(i);
  }
  for (const x of live) {
    void x.w.terminate();
    await x.exited;
  }
  console.log(`  ${Atomics.load(ctl, kOps)} operations, ${kills} kills, epoch ${gate.current().epoch}, ${gate.refused()} refused`);
  assert.equal(gate.guardsInFlight(), [], 'no guard counted for a dead thread');
  assert.is(gate.current().inProgress, false, 'no sync left in progress by a dead syncer');
  checkLive(gate, gate.current().epoch, 'after the storm');
});

test.run();
