/**
 * A separate OS process on a Redis engine, for test/redis-faults.test.ts (killed, stopped and
 * continued by the test). Started with `fork(file, [], { execArgv: ['--import', 'tsx'] })` and
 * driven over IPC. Argument: JSON `{ mode, url, keyPrefix, lockTtlMs, claimIdleMs }`.
 *
 * - mode 'hold': takes the lock of (hk, BTCUSD), reports `{ held, fence }`, waits for 'write',
 *   then saves a position marked `writer: 'child'` under that lock and reports
 *   `{ result: 'ok' | <error code> }`, then exits.
 * - mode 'consume': pops queue 'work'; for each message, marks it done in map 'done' and reports
 *   `{ done: id }`; at the message named `stopAt` it reports `{ midMessage: id }` and waits
 *   there (the test kills it mid-message). With `batch`, it takes messages by popMany(batch),
 *   reports each `{ batch: ids }`, and handles them one by one as above.
 */
import { createRedisEngine } from '../../src/index.ts';
import { SabStateError } from '../../src/errors.ts';

interface Args {
  mode: 'hold' | 'consume';
  url: string;
  keyPrefix: string;
  lockTtlMs?: number;
  claimIdleMs?: number;
  stopAt?: string;
  batch?: number;
}

const args = JSON.parse(process.argv[2]!) as Args;
const send = (m: unknown): void => void process.send!(m);
const next = (): Promise<unknown> => new Promise((r) => process.once('message', r));

const engine = await createRedisEngine({
  url: args.url,
  keyPrefix: args.keyPrefix,
  lockTtlMs: args.lockTtlMs ?? 10_000,
  claimIdleMs: args.claimIdleMs ?? 30_000,
  general: { queues: { work: { capacity: 1024, maxMessageBytes: 256 } }, maps: ['done'] },
});

if (args.mode === 'hold') {
  await engine.locks.withLock('hk', 'BTCUSD', async () => {
    send({ held: true });
    await next();
    try {
      await engine.positions.save({ miner_hotkey: 'hk', position_uuid: 'u', trade_pair: 'BTCUSD', orders: [], is_closed_position: false, writer: 'child' });
      send({ result: 'ok' });
    } catch (e) {
      send({ result: e instanceof SabStateError ? e.code : String(e) });
    }
  });
} else if (args.batch !== undefined) {
  // mode 'consume' with `batch`: popMany(batch), each message handled in turn
  const q = engine.general.queue('work');
  for (;;) {
    const ms = (await q.popMany(args.batch)) as string[];
    if (ms.length === 0) await new Promise((r) => setTimeout(r, 20));
    else send({ batch: ms });
    for (const m of ms) {
      if (m === args.stopAt) {
        send({ midMessage: m });
        await new Promise(() => {}); // killed here
      }
      await engine.general.map('done').set(m, 'child');
      send({ done: m });
    }
  }
} else {
  const q = engine.general.queue('work');
  for (;;) {
    const m = (await q.pop({ timeoutMs: 1000 })) as string | undefined;
    if (m === undefined) continue;
    if (m === args.stopAt) {
      send({ midMessage: m });
      await new Promise(() => {}); // killed here
    }
    await engine.general.map('done').set(m, 'child');
    send({ done: m });
  }
}
await engine.close();
process.disconnect();
