// Faults of the Redis engine, with real processes and a real redis-server (skipped with a visible
// line where redis-server is not installed):
// - a process killed while holding a lock: the lock is free after its TTL for another process;
// - a process stopped (SIGSTOP) while holding a lock past its TTL, another holder granted it, then
//   continued: its late write is refused by the fence (ERR_LOCK_NOT_HELD), the state is the new
//   holder's (Kleppmann's paused-client case);
// - a consumer killed mid-message: its message is claimed by another consumer, nothing lost;
// - Redis killed (SIGKILL) mid-run and restarted with appendonly yes: calls fail with
//   ERR_CONNECTION while it is down, work again after, and no acknowledged write is lost.
// Every wait has a bound that fails the test (lock timeoutMs, `within`), none is a speed target.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { SabStateError, createRedisEngine, type AsyncEngine } from '../src/index.ts';
import { type RedisServer, redisUnavailableReason, startRedis } from '../support/redis-server.ts';

const CHILD = new URL('./helpers/redis-child.ts', import.meta.url);
const reason = redisUnavailableReason();
const s = suite('redis faults');

/** Rejects if `p` has not settled within ms (a hang fails the test). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_r, rej) => (t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/**
 * The surviving consumer `e` takes messages with `take` until m0..m(n-1) are each done by the
 * killed child (map 'done') or taken here, and `claimed` are all taken here (within 60 s).
 */
async function survivorTakes(e: AsyncEngine, n: number, claimed: string[], take: () => Promise<string[]>): Promise<string[]> {
  const mine: string[] = [];
  const deadline = Date.now() + 60_000;
  for (;;) {
    const all = new Set([...(await e.general.map('done').entries()).map(([k]) => k), ...mine]);
    if (all.size === n && claimed.every((m) => mine.includes(m))) return mine;
    assert.ok(Date.now() < deadline, `still missing: ${Array.from({ length: n }, (_, i) => `m${i}`).filter((m) => !all.has(m) || (claimed.includes(m) && !mine.includes(m))).join(' ')}`);
    mine.push(...(await take()));
  }
}

const children = new Set<ChildProcess>();
function child(args: Record<string, unknown>): { proc: ChildProcess; next: (pred: (m: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>> } {
  const proc = fork(CHILD, [JSON.stringify(args)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(proc);
  const seen: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  proc.on('message', (m) => {
    seen.push(m as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (pred: (m: Record<string, unknown>) => boolean) => {
    for (;;) {
      const i = seen.findIndex(pred);
      if (i >= 0) return seen.splice(i, 1)[0]!;
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`child exited (${proc.exitCode ?? proc.signalCode})`);
      await new Promise<void>((r) => {
        const wake = (): void => {
          proc.off('exit', wake); // one listener per wait, removed when it wakes (no pile-up)
          r();
        };
        waiters.push(wake);
        proc.once('exit', wake);
      });
    }
  };
  return { proc, next };
}
async function kill(proc: ChildProcess, sig: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(sig);
  await exited;
}

if (reason !== null) {
  console.log(`SKIP redis faults: ${reason}`);
  s.skip(`skipped: ${reason}`, () => {});
} else {
  let server: RedisServer;
  const engines: AsyncEngine[] = [];
  const open = async (o: Record<string, unknown>): Promise<AsyncEngine> => {
    const e = await createRedisEngine({ url: server.url, general: { queues: { work: { capacity: 1024, maxMessageBytes: 256 } }, maps: ['done'] }, ...o });
    engines.push(e);
    return e;
  };
  s.before(async () => {
    server = await startRedis();
  });
  s.after.each(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children.clear();
    await Promise.all(engines.splice(0).map((e) => e.close().catch(() => undefined)));
  });
  s.after(async () => {
    await server.stop();
  });

  const pos = { miner_hotkey: 'hk', position_uuid: 'u', trade_pair: 'BTCUSD', orders: [], is_closed_position: false };

  s('a process killed while holding a lock: the lock comes free after its TTL', async () => {
    const keyPrefix = `kill:${randomBytes(4).toString('hex')}:`;
    const c = child({ mode: 'hold', url: server.url, keyPrefix, lockTtlMs: 1500 });
    await within(c.next((m) => m.held === true), 60_000, 'child takes the lock');
    await kill(c.proc, 'SIGKILL');
    const e = await open({ keyPrefix, lockTtlMs: 1500 });
    assert.is(await e.locks.isHeld('hk', 'BTCUSD'), true, 'still held right after the kill (until its TTL)');
    await e.locks.withLock('hk', 'BTCUSD', () => e.positions.save({ ...pos, writer: 'parent' }), { timeoutMs: 60_000 });
    assert.is((await e.positions.get('hk', 'u'))!.writer, 'parent');
  });

  s('a holder paused past its TTL: its late write is refused by the fence', async () => {
    const keyPrefix = `pause:${randomBytes(4).toString('hex')}:`;
    const c = child({ mode: 'hold', url: server.url, keyPrefix, lockTtlMs: 1500 });
    await within(c.next((m) => m.held === true), 60_000, 'child takes the lock');
    c.proc.kill('SIGSTOP');
    const e = await open({ keyPrefix, lockTtlMs: 1500 });
    await e.locks.withLock('hk', 'BTCUSD', async () => {
      await e.positions.save({ ...pos, writer: 'parent' });
      // The paused holder wakes up while the new holder still has the lock, and writes.
      c.proc.kill('SIGCONT');
      c.proc.send('write');
      const r = await within(c.next((m) => 'result' in m), 60_000, 'child write');
      assert.is(r.result, 'ERR_LOCK_NOT_HELD');
    }, { timeoutMs: 60_000 });
    assert.is((await e.positions.get('hk', 'u'))!.writer, 'parent');
    // and after the new holder released it: still refused (its lock is gone for good)
    const c2 = child({ mode: 'hold', url: server.url, keyPrefix, lockTtlMs: 1500 });
    await within(c2.next((m) => m.held === true), 60_000, 'second child takes the lock');
    c2.proc.kill('SIGSTOP');
    await e.locks.withLock('hk', 'BTCUSD', () => e.positions.save({ ...pos, writer: 'parent2' }), { timeoutMs: 60_000 });
    c2.proc.kill('SIGCONT');
    c2.proc.send('write');
    assert.is((await within(c2.next((m) => 'result' in m), 60_000, 'child write')).result, 'ERR_LOCK_NOT_HELD');
    assert.is((await e.positions.get('hk', 'u'))!.writer, 'parent2');
  });

  s('a consumer killed mid-message: the message is claimed by another consumer, nothing lost', async () => {
    const keyPrefix = `consume:${randomBytes(4).toString('hex')}:`;
    const e = await open({ keyPrefix, claimIdleMs: 500 });
    const n = 40;
    for (let i = 0; i < n; i++) assert.is(await e.general.queue('work').push(`m${i}`), true);
    const c = child({ mode: 'consume', url: server.url, keyPrefix, claimIdleMs: 500, stopAt: 'm5' });
    await within(c.next((m) => m.midMessage === 'm5'), 60_000, 'child reaches m5');
    await kill(c.proc, 'SIGKILL');
    const done = e.general.map('done');
    const mine = await survivorTakes(e, n, ['m5'], async () => {
      const m = (await e.general.queue('work').pop({ timeoutMs: 1000 })) as string | undefined;
      return m === undefined ? [] : [m];
    });
    assert.ok(mine.includes('m5'), 'the killed consumer\'s message was claimed');
    const childDone = (await done.entries()).map(([k]) => k);
    assert.is(childDone.length + mine.length, n, 'exactly once: the killed one never finished m5');
    assert.ok(((await e.stats()).queues as Record<string, { claimed: number }>).work!.claimed >= 1);
  });

  s('a consumer killed mid-batch (popMany): its whole unacknowledged batch is claimed by another consumer, nothing lost', async () => {
    const keyPrefix = `consume-batch:${randomBytes(4).toString('hex')}:`;
    const e = await open({ keyPrefix, claimIdleMs: 500 });
    const n = 40;
    for (let i = 0; i < n; i++) assert.is(await e.general.queue('work').push(`m${i}`), true);
    const c = child({ mode: 'consume', url: server.url, keyPrefix, claimIdleMs: 500, stopAt: 'm13', batch: 8 });
    await within(c.next((m) => m.midMessage === 'm13'), 60_000, 'child reaches m13');
    const killedBatch = (await c.next((m) => Array.isArray(m.batch) && (m.batch as string[]).includes('m13'))).batch as string[];
    await kill(c.proc, 'SIGKILL');
    assert.equal(killedBatch, ['m8', 'm9', 'm10', 'm11', 'm12', 'm13', 'm14', 'm15'], 'the second batch of 8');
    const done = e.general.map('done');
    const mine = await survivorTakes(e, n, killedBatch, async () => {
      await new Promise((r) => setTimeout(r, 20));
      return (await e.general.queue('work').popMany(5)) as string[];
    });
    // The batch was never acknowledged (the child died before its next pop): all of it comes
    // again, m8..m12 a second time (at least once), m13..m15 for the first time; nothing else twice.
    const childDone = (await done.entries()).map(([k]) => k);
    assert.ok(!childDone.includes('m13'), 'the killed consumer never finished m13');
    assert.equal([...mine].sort(), Array.from({ length: n - 8 }, (_, i) => `m${i + 8}`).sort(), 'every message after the first acknowledged batch, each once');
    assert.ok(((await e.stats()).queues as Record<string, { claimed: number }>).work!.claimed >= 8);
  });

  s('Redis restarted empty (no persistence): ERR_CONNECTION while down, then queues work again (stream and group made again)', async () => {
    const mem = await startRedis();
    try {
      const e = await createRedisEngine({ url: mem.url, keyPrefix: 'empty:', general: { queues: { work: { capacity: 16, maxMessageBytes: 64 } } } });
      engines.push(e);
      assert.is(await e.general.queue('work').push('before'), true);
      await mem.stop('SIGKILL', true);
      let err: unknown;
      try {
        await e.general.queue('work').push('down');
      } catch (x) {
        err = x;
      }
      assert.is((err as SabStateError)?.code, 'ERR_CONNECTION');
      const again = await startRedis({ port: mem.port, dir: mem.dir });
      try {
        const pushed = await within((async () => {
          for (;;) {
            try {
              return await e.general.queue('work').push('after');
            } catch (x) {
              if ((x as SabStateError).code !== 'ERR_CONNECTION') throw x;
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        })(), 60_000, 'push after the restart');
        assert.is(pushed, true);
        assert.is(await e.general.queue('work').pop(), 'after');
      } finally {
        await again.stop();
      }
    } finally {
      await mem.stop();
    }
  });

  s('Redis killed mid-run and restarted (appendonly yes): typed errors, no acknowledged write lost', async () => {
    const aof = await startRedis({ appendonly: true });
    try {
      const keyPrefix = 'restart:';
      const e = await createRedisEngine({ url: aof.url, keyPrefix, lockTtlMs: 1000, general: { maps: ['m'] } });
      engines.push(e);
      const acked: number[] = [];
      const ackedOrders: number[] = [];
      const errors = new Map<string, number>();
      let i = 0;
      let stop = false;
      const state = { phase: 'before' as 'before' | 'down' | 'after' };
      let okAfter = 0;
      const writer = (async () => {
        while (!stop) {
          const k = i++;
          try {
            await e.general.map('m').set(`k${k}`, k);
            acked.push(k);
            await e.locks.withLock('hk', 'BTCUSD', async () => {
              const h = await e.positions.getOpenHead('hk', 'BTCUSD');
              const head = h?.position ?? { ...pos, orders: null };
              await e.positions.appendOrder(head, { n: k });
            }, { timeoutMs: 30_000 });
            ackedOrders.push(k);
            if (state.phase === 'after') okAfter++;
          } catch (err) {
            const c = err instanceof SabStateError ? err.code : `untyped: ${String(err)}`;
            errors.set(c, (errors.get(c) ?? 0) + 1);
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      })();
      await within((async () => { while (ackedOrders.length < 50) await new Promise((r) => setTimeout(r, 10)); })(), 60_000, 'writes before the crash');
      await aof.stop('SIGKILL', true);
      state.phase = 'down';
      await within((async () => { while ((errors.get('ERR_CONNECTION') ?? 0) < 3) await new Promise((r) => setTimeout(r, 10)); })(), 60_000, 'typed errors while down');
      const again = await startRedis({ appendonly: true, port: aof.port, dir: aof.dir });
      state.phase = 'after';
      try {
        await within((async () => { while (okAfter < 20) await new Promise((r) => setTimeout(r, 10)); })(), 120_000, 'writes after the restart');
        stop = true;
        await writer;
        assert.equal([...errors.keys()].filter((c) => c !== 'ERR_CONNECTION'), [], `only ERR_CONNECTION: ${JSON.stringify([...errors])}`);
        const stored = new Map(await e.general.map('m').entries());
        const lostMap = acked.filter((k) => stored.get(`k${k}`) !== k);
        assert.equal(lostMap, [], 'every acknowledged map write is there');
        const orders = (await e.positions.get('hk', 'u'))!.orders.map((o) => (o as { n: number }).n);
        const have = new Set(orders);
        assert.equal(ackedOrders.filter((k) => !have.has(k)), [], 'every acknowledged order is there');
        assert.is(have.size, orders.length, 'no order twice');
      } finally {
        stop = true;
        await writer;
        await again.stop();
      }
    } finally {
      await aof.stop();
    }
  });
}

s.run();
