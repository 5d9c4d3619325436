/**
 * bench/order-path.ts, peer A: the Manager design without Python. ONE thread owns the state in
 * plain Maps and arrays; client threads reach it only through request/response messages on their
 * MessagePort, one round trip per call, each call awaited (order-path-client.ts), exactly as the
 * validator's `multiprocessing.Manager` proxies did.
 *
 * Requests are `[id, op, a, b]`, replies `[id, value]` or `[id, undefined, error]`. Ops:
 *   ping()                                             a client's first call: the server is up
 *   eliminated(hk) departed(hk) accountSize(hk)       lookups
 *   lock(hk, tp) unlock(hk, tp)                        per-(hotkey, trade pair) lock; a lock
 *                                                      request on a held key is answered when it
 *                                                      is handed over (FIFO)
 *   getOpen(hk, tp) save(position)                     save refused unless the caller holds the lock
 *   push(notice) pop()                                 the notice queue (unbounded, like a Manager
 *                                                      Queue); pop waits up to 20 ms, then null
 * From the main thread (parentPort): 'report' → { storedOrders, pushed, popped, queued, locksHeld }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { Position } from '../../examples/validator/shared.ts';
import { tpIdOf } from './order-path-common.ts';
import type { Notice, Setup } from './order-path-common.ts';

interface Data {
  setup: Setup;
  ports: MessagePort[];
}
type Request = [id: number, op: string, a?: unknown, b?: unknown];

const d = workerData as Data;
const eliminations = new Map<string, unknown>(d.setup.eliminated.map((hk) => [hk, { hotkey: hk, reason: 'PLAGIARISM' }]));
const departed = new Map(Object.entries(d.setup.departed));
const accountSizes = new Map(Object.entries(d.setup.accountSizes));
const open = new Map<string, Position>(); // `${hotkey}|${tp}` → open position
const closed = new Map<string, Position>(); // position_uuid → closed position
for (const p of d.setup.positions) {
  if (p.is_closed_position) closed.set(p.position_uuid, p);
  else open.set(`${p.miner_hotkey}|${tpIdOf(p)}`, p);
}
interface LockState {
  holder: number;
  waiters: Array<[client: number, id: number]>;
}
const locks = new Map<string, LockState>();
const notices: Notice[] = [];
let head = 0;
let pushed = 0;
let popped = 0;
const parked: Array<{ client: number; id: number; timer: NodeJS.Timeout }> = [];

function reply(client: number, id: number, value: unknown, error?: string): void {
  d.ports[client]!.postMessage(error === undefined ? [id, value] : [id, undefined, error]);
}

function handle(client: number, [id, op, a, b]: Request): void {
  switch (op) {
    case 'ping':
      return reply(client, id, true);
    case 'eliminated':
      return reply(client, id, eliminations.has(a as string));
    case 'departed':
      return reply(client, id, departed.has(a as string));
    case 'accountSize':
      return reply(client, id, accountSizes.get(a as string));
    case 'lock': {
      const key = `${a as string}|${b as string}`;
      const l = locks.get(key);
      if (l === undefined) {
        locks.set(key, { holder: client, waiters: [] });
        return reply(client, id, true);
      }
      l.waiters.push([client, id]); // answered by the unlock that hands it over
      return;
    }
    case 'unlock': {
      const key = `${a as string}|${b as string}`;
      const l = locks.get(key);
      if (l === undefined || l.holder !== client) return reply(client, id, undefined, 'ERR_LOCK_NOT_HELD');
      const next = l.waiters.shift();
      if (next === undefined) locks.delete(key);
      else {
        l.holder = next[0];
        reply(next[0], next[1], true);
      }
      return reply(client, id, true);
    }
    case 'getOpen':
      return reply(client, id, open.get(`${a as string}|${b as string}`));
    case 'save': {
      const p = a as Position;
      const key = `${p.miner_hotkey}|${tpIdOf(p)}`;
      if (locks.get(key)?.holder !== client) return reply(client, id, undefined, 'ERR_LOCK_NOT_HELD');
      if (p.is_closed_position) {
        closed.set(p.position_uuid, p);
        if (open.get(key)?.position_uuid === p.position_uuid) open.delete(key);
      } else open.set(key, p);
      return reply(client, id, true);
    }
    case 'push': {
      pushed++;
      const w = parked.shift();
      if (w !== undefined) {
        clearTimeout(w.timer);
        popped++;
        return void (reply(w.client, w.id, a), reply(client, id, true));
      }
      notices.push(a as Notice);
      return reply(client, id, true);
    }
    case 'pop': {
      if (head < notices.length) {
        const m = notices[head++];
        if (head > 4096 && head * 2 > notices.length) {
          notices.splice(0, head);
          head = 0;
        }
        popped++;
        return reply(client, id, m);
      }
      const w = {
        client, id,
        timer: setTimeout(() => {
          parked.splice(parked.indexOf(w), 1);
          reply(client, id, null);
        }, 20),
      };
      parked.push(w);
      return;
    }
    default:
      return reply(client, id, undefined, `unknown op ${op}`);
  }
}

d.ports.forEach((port, client) => port.on('message', (m: Request) => handle(client, m)));
parentPort!.on('message', (m: string) => {
  if (m !== 'report') return;
  let storedOrders = 0;
  for (const p of open.values()) storedOrders += p.orders.length;
  for (const p of closed.values()) storedOrders += p.orders.length;
  parentPort!.postMessage({ storedOrders, pushed, popped, queued: notices.length - head, locksHeld: locks.size });
});
