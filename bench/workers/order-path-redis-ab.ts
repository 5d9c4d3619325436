/**
 * Where an order's CPU goes on Redis, sabstate on Redis beside the hand-written peer, in one
 * process on one redis-server: `npm run bench:redis:ab` (BENCH_N orders per round, default 3000;
 * BENCH_ROUNDS rounds, default 4, which side goes first alternates). Each round, for each side:
 * FLUSHALL, the same seeded state (the fixture's real positions and departed hotkeys, 64 miners
 * of which two eliminated, account sizes), 300 warmup orders, then BENCH_N orders by one sequential task
 * (the same seeded order stream for both sides): this process's CPU per order (node), the
 * redis-server process's CPU per order (/proc), the commands Redis ran per order (INFO
 * commandstats: script calls and the commands inside them); then the notices
 * drained one per call (the peer's LPOP, sabstate's popMany(1)), CPU per notice. At the end, per
 * side, every command Redis ran per order and its µs inside Redis (INFO commandstats: a script's
 * µs include its commands'). BENCH_SIDES=sabstate (or peer) runs one side alone (for a profile).
 * Not a throughput benchmark (one task, no consumer thread): bench/order-path.ts is.
 */
import { readFileSync } from 'node:fs';
import { createRedisEngine } from '../../src/index.ts';
import { redisUnavailableReason, startRedis } from '../../support/redis-server.ts';
import { flushNotices, noticeLane, orderStep } from '../../examples/redis/order-process.ts';
import { QUEUE, type Tally as DemoTally } from '../../examples/redis/shared.ts';
import { fixturesPresent, makeHotkey, prng, realDeparted, realPositionTexts } from '../../examples/validator/shared.ts';
import type { Position } from '../../examples/validator/shared.ts';
import { pick, type Setup } from './order-path-common.ts';
import { peerOrder, redisClient, seedRedis } from '../peers/redis-store.ts';
import { BENCH_REDIS_GENERAL, seedSabstateRedis } from './order-path-redis-sabstate.ts';

const N = Number(process.env.BENCH_N ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const why = redisUnavailableReason();
if (why !== null || !fixturesPresent()) {
  console.log(`SKIP bench:redis:ab: ${why ?? 'test/fixtures/ptn is missing'}`);
  process.exit(0);
}
const positions = realPositionTexts().map((t) => JSON.parse(t) as Position);
const rnd0 = prng(1);
const hotkeys = [...new Set(positions.map((p) => p.miner_hotkey))];
while (hotkeys.length < 64) hotkeys.push(makeHotkey(rnd0));
const accountSizes: Record<string, number> = {};
for (const hk of hotkeys) accountSizes[hk] = 50_000 + Math.floor(rnd0() * 200_000);
const templates = positions.flatMap((p) => p.orders).filter((o) => Array.isArray(o.price_sources) && o.price_sources.length > 0).slice(0, 64);
const setup: Setup = {
  hotkeys, eliminated: hotkeys.slice(-2), departed: realDeparted(), accountSizes, positions,
  seededOrders: positions.reduce((s, p) => s + p.orders.length, 0), templates, maxOrders: 100,
};

const server = await startRedis();
const admin = redisClient(server.port);
const url = `redis://127.0.0.1:${server.port}`;
const serverCpuMs = (): number => {
  const f = readFileSync(`/proc/${server.process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
};
/** Per command: [calls, µs] (INFO commandstats; a script's µs include the commands it ran). */
const commandStats = async (): Promise<Map<string, [number, number]>> => {
  const out = new Map<string, [number, number]>();
  for (const m of ((await admin.info('commandstats')) as string).matchAll(/cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/g)) {
    if (m[1] !== 'info') out.set(m[1]!, [Number(m[2]), Number(m[3])]);
  }
  return out;
};
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

interface Side {
  step(rnd: () => number): Promise<boolean>;
  flush(): Promise<void>;
  pop(): Promise<number>;
  close(): Promise<void>;
}
async function peerSide(): Promise<Side> {
  await admin.flushall();
  await seedRedis(admin, setup);
  const r = redisClient(server.port);
  const order = peerOrder(r, setup.maxOrders, 'ab');
  return {
    step: (rnd) => order(pick(rnd, setup), rnd),
    flush: async () => undefined,
    pop: async () => (await r.lpop('notices', 1))?.map((m) => JSON.parse(m) as unknown).length ?? 0,
    close: async () => r.disconnect(),
  };
}
async function sabstateSide(): Promise<Side> {
  await admin.flushall();
  const e = await createRedisEngine({ url, keyPrefix: 'ab:', general: BENCH_REDIS_GENERAL });
  await seedSabstateRedis(e, setup);
  const t: DemoTally = { ordersIn: 0, saved: 0, rejectedEliminated: 0, rejectedDeparted: 0, staleRetries: 0, queueFullWaits: 0 };
  const lane = noticeLane();
  const q = e.general.queue(QUEUE);
  return {
    step: (rnd) => orderStep(e, pick(rnd, setup), setup.maxOrders, rnd, t, lane),
    flush: () => flushNotices(lane),
    pop: async () => (await q.popMany(1)).length,
    close: () => e.close(),
  };
}

interface Row { node: number; server: number; commands: number; scripts: number; popNode: number; popServer: number }
const rows: Record<'peer' | 'sabstate', Row[]> = { peer: [], sabstate: [] };
/** BENCH_SIDES: peer,sabstate (default both; one side alone for a profile). */
const SIDES = new Set((process.env.BENCH_SIDES ?? 'peer,sabstate').split(','));
/** Per side, per command over every timed window: [calls, µs inside Redis]. */
const byCommand: Record<'peer' | 'sabstate', Map<string, [number, number]>> = { peer: new Map(), sabstate: new Map() };
console.log(`bench:redis:ab: ${N} orders per side per round, ${ROUNDS} rounds, redis-server ${server.version}; ${hotkeys.length} miners, ${positions.length} positions`);
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of (round % 2 === 0 ? (['peer', 'sabstate'] as const) : (['sabstate', 'peer'] as const)).filter((k) => SIDES.has(k))) {
      const side = kind === 'peer' ? await peerSide() : await sabstateSide();
      const rnd = prng(100 + round);
      for (let i = 0; i < 300; i++) await side.step(rnd);
      await side.flush();
      while ((await side.pop()) > 0);
      const c0 = await commandStats();
      const [n0, s0] = [cpuUs(), serverCpuMs()];
      for (let i = 0; i < N; i++) await side.step(rnd);
      await side.flush();
      const [n1, s1] = [cpuUs(), serverCpuMs()];
      const c1 = await commandStats();
      let popped = 0;
      for (let n = await side.pop(); n > 0; n = await side.pop()) popped += n;
      const [n2, s2] = [cpuUs(), serverCpuMs()];
      let commands = 0;
      let scripts = 0;
      for (const [k, [calls, usec]] of c1) {
        const d = calls - (c0.get(k)?.[0] ?? 0);
        const acc = byCommand[kind].get(k) ?? [0, 0];
        byCommand[kind].set(k, [acc[0] + d, acc[1] + usec - (c0.get(k)?.[1] ?? 0)]);
        commands += d; // a script call and each command it runs
        if (k === 'evalsha' || k === 'eval') scripts += d;
      }
      const row: Row = {
        node: (n1 - n0) / N, server: ((s1 - s0) * 1000) / N, commands: commands / N, scripts: scripts / N,
        popNode: (n2 - n1) / Math.max(1, popped), popServer: ((s2 - s1) * 1000) / Math.max(1, popped),
      };
      rows[kind].push(row);
      console.log(`  round ${round} ${kind.padEnd(8)} node ${row.node.toFixed(0)} µs, redis-server ${row.server.toFixed(0)} µs per order; ${row.commands.toFixed(2)} commands run per order (${row.scripts.toFixed(2)} scripts); pop: node ${row.popNode.toFixed(0)}, redis-server ${row.popServer.toFixed(0)} µs per notice`);
      await side.close();
    }
  }
} finally {
  admin.disconnect();
  await server.stop();
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const kind of ['peer', 'sabstate'] as const) {
  const n = rows[kind].length * N;
  if (n === 0) continue;
  const cmds = [...byCommand[kind]].filter(([, [c]]) => c > 0).sort((x, y) => y[1][1] - x[1][1]);
  console.log(`\n${kind}: per order, commands Redis ran and their µs inside Redis (INFO commandstats; a script's µs include its commands'):`);
  for (const [k, [c, us]] of cmds) console.log(`  ${k.padEnd(14)} ${(c / n).toFixed(2).padStart(6)} calls ${(us / n).toFixed(2).padStart(7)} µs`);
}
if (rows.peer.length === 0 || rows.sabstate.length === 0) process.exit(0);
console.log('\nmedians over the rounds (sabstate ÷ peer):');
for (const [k, label] of [['node', 'node CPU µs/order'], ['server', 'redis-server CPU µs/order'], ['commands', 'commands run by Redis per order'], ['popNode', 'consumer node CPU µs/notice'], ['popServer', 'consumer redis-server CPU µs/notice']] as const) {
  const p = median(rows.peer.map((r) => r[k]));
  const s = median(rows.sabstate.map((r) => r[k]));
  console.log(`  ${label.padEnd(36)} peer ${p.toFixed(1).padStart(7)}  sabstate ${s.toFixed(1).padStart(7)}  ${(s / p).toFixed(2)}x`);
}
