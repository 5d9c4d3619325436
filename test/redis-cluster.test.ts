// Redis Cluster readiness: every key of one operation in one hash slot.
//
// 1. Declared keys, by CRC16: the conformance suite runs on a plain redis-server while a MONITOR
//    connection records every command the engines send; then, for every script call (EVALSHA /
//    EVAL: KEYS are its numkeys arguments) and every other command (its keys from COMMAND
//    GETKEYS), the keys' slots, computed here (CRC16-XMODEM of the key's hash tag, mod 16384: a
//    non-cluster server has no CLUSTER KEYSLOT), must be equal. The one known exception is
//    counted and named: a positions write with { ifEpoch }, whose script reads the sync gate
//    (slot {sync}) beside the hotkey's keys.
// 2. What the server enforces: the same suite on a one-node Redis Cluster (`--cluster-enabled
//    yes`, every slot on the one node: cheap, one process), where a command or a script whose
//    keys span two slots is refused (CROSSSLOT), keys built inside scripts included. The ifEpoch
//    test is skipped there with the reason (not built: see src/redis/engine.ts, "Cluster").
// Skipped with a visible line where redis-server is not installed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { skipRedisSuite } from './helpers/redis-skip.ts';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRedisEngine } from '../src/index.ts';
import { CONFORMANCE_GENERAL, conformance } from './conformance.ts';
import { redisUnavailableReason, startRedis } from '../support/redis-server.ts';

/** CRC16-XMODEM (poly 0x1021, init 0), as Redis Cluster's keyHashSlot uses. */
function crc16(buf: Uint8Array): number {
  let crc = 0;
  for (const b of buf) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}
/** The cluster slot of `key`: its hash tag (first `{`, then the first `}` after it, non-empty) or the whole key. */
export function keySlot(key: string): number {
  const b = Buffer.from(key, 'utf8');
  const open = b.indexOf(0x7b);
  if (open >= 0) {
    const close = b.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(b.subarray(open + 1, close)) % 16384;
  }
  return crc16(b) % 16384;
}

const IF_EPOCH_TEST = 'positions: with { ifEpoch } a write during or after a newer sync is ERR_STALE_EPOCH, unchanged';
const IF_EPOCH_WHY = 'on Redis Cluster a positions write with { ifEpoch } is CROSSSLOT (its script reads the sync gate, slot {sync}); needs the epoch replicated into each hotkey slot (not built)';
const PUSH_TEST = 'positions: a write with { push } pushes its message once written; a refused write pushes nothing; a full queue resolves false (written, not pushed); a bad queue or message writes nothing';
const PUSH_WHY = 'on Redis Cluster a positions write with { push } is CROSSSLOT (its script pushes to the queue, slot {queue:name}); on Cluster, push after the write (queue.push) (not built: a fallback when the server is a cluster)';

const reason = redisUnavailableReason();
if (reason !== null) {
  skipRedisSuite('redis cluster slots', reason);
} else {
  // Both servers up before any suite runs (uvu starts running at the first tick after run()).
  const plain = await startRedis();
  const cluster = await startRedis({ cluster: true });
  const prefix = `slots:${randomBytes(4).toString('hex')}:`;
  const admin = new Redis(plain.url);
  const monBase = new Redis(plain.url);
  const mon = await monBase.monitor(); // every await before the first run(): see above
  const crc = suite('CRC16 key slot');
  crc('matches the slots Redis Cluster documents', () => {
    assert.is(keySlot('123456789'), 0x31c3 % 16384); // the CRC16-XMODEM check value
    assert.is(keySlot('foo'), 12182);
    assert.is(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
    assert.is(keySlot('a{}b'), crc16(Buffer.from('a{}b')) % 16384);
  });
  crc.run();

  // 1. Declared keys on a plain server, recorded by MONITOR.
  const seen: string[][] = [];
  mon.on('monitor', (_t: string, args: string[], source: string) => {
    if (source !== 'lua' && args.some((a) => a.startsWith(prefix))) seen.push(args);
  });
  let n = 0;
  conformance('Redis, keys recorded', async () => {
    const opts = { url: plain.url, keyPrefix: `${prefix}${n++}:`, lockTtlMs: 5000, general: CONFORMANCE_GENERAL };
    const a = await createRedisEngine(opts);
    const b = await createRedisEngine(opts);
    return { a, b, close: async () => { await a.close(); await b.close(); } };
  });

  const slots = suite('every call touches one slot');
  slots('script calls: their KEYS in one slot; other commands: their keys in one slot', async () => {
    await new Promise((r) => setTimeout(r, 300)); // the last MONITOR lines
    mon.disconnect();
    monBase.disconnect();
    let scripts = 0;
    let commands = 0;
    let ifEpochWrites = 0;
    let pushWrites = 0;
    const bad: string[] = [];
    for (const args of seen) {
      const name = args[0]!.toUpperCase();
      let keys: string[];
      if (name === 'EVALSHA' || name === 'EVAL') {
        scripts++;
        keys = args.slice(3, 3 + Number(args[2]));
      } else {
        commands++;
        keys = (await admin.call('COMMAND', 'GETKEYS', ...args).catch(() => [])) as string[];
      }
      const distinct = new Set(keys.map(keySlot));
      if (distinct.size <= 1) continue;
      const write = keys.some((k) => k.includes('}:head:'));
      const others = keys.filter((k) => keySlot(k) !== keySlot(keys[0]!));
      if (write && others.every((k) => k.endsWith('{sync}:gate') || k.includes('{queue:'))) {
        if (others.some((k) => k.endsWith('{sync}:gate'))) ifEpochWrites++;
        if (others.some((k) => k.includes('{queue:'))) pushWrites++;
      } else bad.push(`${name} ${keys.join(' ')}`);
    }
    console.log(`  ${scripts} script calls and ${commands} other commands checked; the known exceptions: writes with ifEpoch ${ifEpochWrites}, writes with push ${pushWrites}`);
    assert.ok(scripts > 100, `only ${scripts} script calls recorded`);
    assert.ok(ifEpochWrites > 0, 'the ifEpoch test ran (the exception is seen, so this check would see others)');
    assert.ok(pushWrites > 0, 'the push test ran');
    assert.equal(bad, [], 'calls whose keys span slots');
  });
  slots.skip(`positions writes with { ifEpoch } in one slot: ${IF_EPOCH_WHY}`, () => {});
  slots.skip(`positions writes with { push } in one slot: ${PUSH_WHY}`, () => {});
  slots('stop', async () => {
    admin.disconnect();
    await plain.stop();
  });
  slots.run();

  // 2. The server enforces it: a one-node cluster.
  conformance('Redis Cluster, one node', async () => {
    const opts = { url: cluster.url, keyPrefix: `cl:${randomBytes(6).toString('hex')}:`, lockTtlMs: 5000, general: CONFORMANCE_GENERAL };
    const a = await createRedisEngine(opts);
    const b = await createRedisEngine(opts);
    return { a, b, close: async () => { await a.close(); await b.close(); } };
  }, { [IF_EPOCH_TEST]: IF_EPOCH_WHY, [PUSH_TEST]: PUSH_WHY });
  const cl = suite('redis cluster: the limit, shown');
  cl('a positions write with { ifEpoch } is refused by the cluster (CROSSSLOT), and writes nothing', async () => {
    const e = await createRedisEngine({ url: cluster.url, keyPrefix: 'limit:' });
    try {
      const p = { miner_hotkey: 'hk', position_uuid: 'u', trade_pair: 'BTCUSD', orders: [], is_closed_position: false };
      const { epoch } = await e.general.syncGate.current();
      let err: unknown;
      try {
        await e.locks.withLock('hk', 'BTCUSD', () => e.positions.save(p, { ifEpoch: epoch }));
      } catch (x) {
        err = x;
      }
      assert.match(String((err as Error)?.message), 'CROSSSLOT');
      assert.is(await e.positions.get('hk', 'u'), undefined);
    } finally {
      await e.close();
    }
  });
  cl('a positions write with { push } is refused by the cluster (CROSSSLOT), and writes and pushes nothing', async () => {
    const e = await createRedisEngine({ url: cluster.url, keyPrefix: 'limit-push:', general: CONFORMANCE_GENERAL });
    try {
      const p = { miner_hotkey: 'hk', position_uuid: 'u', trade_pair: 'BTCUSD', orders: [], is_closed_position: false };
      let err: unknown;
      try {
        await e.locks.withLock('hk', 'BTCUSD', (lock) => e.positions.save(p, { lock, push: { queue: 'q', message: 1 } }));
      } catch (x) {
        err = x;
      }
      assert.match(String((err as Error)?.message), 'CROSSSLOT');
      assert.is(await e.positions.get('hk', 'u'), undefined);
      assert.is(await e.general.queue('q').size(), 0);
    } finally {
      await e.close();
    }
  });
  cl('stop', async () => {
    await cluster.stop();
  });
  cl.run();
}
