import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { GeneralDomain, createGeneralHandle, resolveGeneralOptions } from '../src/domains/general.ts';
import type { GeneralHandle } from '../src/domains/general.ts';
import { SabStateError } from '../src/errors.ts';
import { encodeValue } from '../src/internal/codec/codec.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { Ring } from '../src/internal/store/ring.ts';
import { createRingRegion, ringStartAtForTest } from '../src/internal/store/ring-layout.ts';
import { fcParams, seed, stressScale } from './helpers/seed.ts';
import { runWorkers } from './helpers/workers.ts';
import { ID_BITS, checkMessage } from './workers/ring-messages.ts';
import { code } from './helpers/errors.ts';

const WORKER = new URL('./workers/ring-worker.ts', import.meta.url);
const key = hashKeyFromSeed(0x5eed_1234n);

function general(queues: Record<string, { capacity?: number; maxMessageBytes?: number }>, counters: string[] = []) {
  const handle = createGeneralHandle(resolveGeneralOptions({ queues, counters }), key);
  return { handle, a: new GeneralDomain(handle, key), b: new GeneralDomain(handle, key) };
}

const make8k = () => general({ q: { capacity: 8, maxMessageBytes: 8192 } });

test('smoke: every kind comes back as pushed, through another instance', () => {
  const { a, b } = general({ q: { capacity: 16, maxMessageBytes: 64 } });
  const msgs: unknown[] = [{ hotkey: 'hk', n: 1.5, ok: true, x: null }, [1, 'a'], 42, null, false, 'héllo', '', '\ud800x', new Uint8Array([1, 2, 3]), new Uint8Array(0)];
  for (const m of msgs) assert.ok(a.queue('q').push(m));
  assert.is(b.queue('q').size, msgs.length);
  for (const m of msgs) assert.equal(b.queue('q').pop(), m);
  const buf = Buffer.from('abc');
  a.queue('q').push(buf);
  const out = b.queue('q').pop();
  assert.ok(out instanceof Uint8Array);
  assert.equal([...(out as Uint8Array)], [...buf]);
  assert.is(a.queue('q').pop(), undefined);
  assert.is(a.queue('q').size, 0);
  const st = a.stats().queues.q!;
  assert.equal({ pushes: st.pushes, pops: st.pops, full: st.full, empty: st.empty, size: st.size }, { pushes: 11, pops: 11, full: 0, empty: 1, size: 0 });
});

test('smoke: popped bytes are independent copies (slab views and large ones)', () => {
  const { a } = make8k();
  const q = a.queue('q');
  const kept: Uint8Array[] = [];
  for (let round = 0; round < 40; round++) {
    for (const len of [0, 1, 7, 100, 4096, 4097, 8000]) {
      assert.ok(q.push(new Uint8Array(len).fill((round + len) & 255)));
      const out = q.pop() as Uint8Array;
      assert.ok(out instanceof Uint8Array && out.length === len);
      assert.is(out.byteOffset % 8, 0);
      kept.push(out);
    }
  }
  let k = 0;
  for (let round = 0; round < 40; round++) {
    for (const len of [0, 1, 7, 100, 4096, 4097, 8000]) {
      const out = kept[k++]!;
      assert.ok(out.every((b) => b === ((round + len) & 255)), `message ${round}/${len} kept its bytes`);
    }
  }
});

test('smoke: too large and invalid messages throw and leave the queue unchanged', () => {
  const { a } = general({ q: { capacity: 4, maxMessageBytes: 16 } });
  const q = a.queue('q');
  assert.ok(q.push('x'.repeat(16)));
  assert.ok(q.push(new Uint8Array(16)));
  assert.is(code(() => q.push('x'.repeat(17))), 'ERR_VALUE_TOO_LARGE');
  assert.is(code(() => q.push('é'.repeat(9))), 'ERR_VALUE_TOO_LARGE'); // 18 UTF-8 bytes
  assert.is(code(() => q.push(new Uint8Array(17))), 'ERR_VALUE_TOO_LARGE');
  assert.is(code(() => q.push({ a: 'x'.repeat(20) })), 'ERR_VALUE_TOO_LARGE');
  assert.is(code(() => q.push(undefined)), 'ERR_INVALID_VALUE');
  assert.is(code(() => q.push({ f: () => 1 })), 'ERR_INVALID_VALUE');
  assert.is(code(() => q.pop({ timeoutMs: -1 })), 'ERR_INVALID_OPTION');
  assert.is(q.size, 2);
  assert.is(q.pop(), 'x'.repeat(16));
  assert.equal(q.pop(), new Uint8Array(16));
  assert.is(q.stats().pushes, 2);
});

test('smoke: pop and popAsync wait up to timeoutMs, and popAsync gets a later push', async () => {
  const { a, b } = general({ q: { capacity: 4 } });
  let t = performance.now();
  assert.is(a.queue('q').pop({ timeoutMs: 30 }), undefined);
  assert.ok(performance.now() - t >= 29, 'pop waited');
  t = performance.now();
  assert.is(await a.queue('q').popAsync({ timeoutMs: 30 }), undefined);
  assert.ok(performance.now() - t >= 29, 'popAsync waited');
  const later = a.queue('q').popAsync();
  setTimeout(() => b.queue('q').push({ late: true }), 20);
  assert.equal(await later, { late: true });
  const st = a.stats().queues.q!;
  assert.is(st.empty, 2);
  assert.ok(st.waits >= 3, `waits ${st.waits}`);
  try {
    await a.queue('q').popAsync({ timeoutMs: Number.NaN });
    assert.unreachable();
  } catch (e) {
    assert.is((e as SabStateError).code, 'ERR_INVALID_OPTION');
  }
});

test('smoke: a pending popAsync keeps the process alive until it times out', () => {
  const src = `
    import { Ring } from ${JSON.stringify(new URL('../src/internal/store/ring.ts', import.meta.url).href)};
    import { createRingRegion } from ${JSON.stringify(new URL('../src/internal/store/ring-layout.ts', import.meta.url).href)};
    const key = { k0: 1, k1: 2 };
    const q = new Ring(createRingRegion(key, 4, 64), key, 'q', 4, 64);
    const t = performance.now();
    q.popAsync({ timeoutMs: 150 }).then((v) => console.log('resolved', v, Math.round(performance.now() - t) >= 149));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { encoding: 'utf8', timeout: 20_000 });
  assert.is(r.stdout.trim(), 'resolved undefined true', r.stderr);
});

test('capacity: exactly capacity messages fit; FIFO over many laps', () => {
  const { a, b } = general({ q: { capacity: 8, maxMessageBytes: 32 } });
  const q = a.queue('q');
  assert.is(q.capacity, 8);
  for (let i = 0; i < 8; i++) assert.ok(q.push(i));
  assert.is(q.push(8), false);
  assert.is(q.size, 8);
  assert.is(b.queue('q').pop(), 0);
  assert.ok(q.push(8));
  let next = 1;
  let pushed = 9;
  for (let round = 0; round < 5000; round++) {
    const k = round % 9;
    for (let j = 0; j < k; j++) if (q.push(pushed)) pushed++;
    for (let j = 0; j < (round * 7) % 9; j++) {
      const v = b.queue('q').pop();
      if (v === undefined) break;
      assert.is(v, next++);
    }
  }
  while (next < pushed) assert.is(q.pop(), next++);
  assert.is(q.pop(), undefined);
  const st = q.stats();
  assert.is(st.pushes, pushed);
  assert.is(st.pops, pushed);
  assert.ok(st.full > 0 && st.empty > 0);
});

test('capacity: positions cross the 2^32 wrap (Int32 positions, wrap counters in stats)', () => {
  const sab = createRingRegion(key, 4, 16);
  ringStartAtForTest(sab, 4, 16, -6);
  const q = new Ring(sab, key, 'w', 4, 16);
  let next = 0;
  let pushed = 0;
  for (let i = 0; i < 40; i++) {
    while (q.push(pushed)) pushed++;
    assert.is(q.size, 4);
    assert.is(q.pop(), next++);
    assert.is(q.pop(), next++);
  }
  const st = q.stats();
  // Started at 2^32 - 6: pushes = 2^32 - 6 + pushed, which needs the wrap counter.
  assert.is(st.pushes, 2 ** 32 - 6 + pushed);
  assert.is(st.pops, 2 ** 32 - 6 + next);
  assert.is(q.size, pushed - next);
});

test('full_empty: refused pushes and empty pops are reported as values and counted', () => {
  const { a } = general({ q: { capacity: 2, maxMessageBytes: 8 } });
  const q = a.queue('q');
  let full = 0;
  let empty = 0;
  for (let i = 0; i < 100; i++) {
    if (!q.push(i)) full++;
    if (!q.push(i)) full++;
    if (!q.push(i)) full++;
    if (i % 3 === 0) {
      while (q.pop() !== undefined);
      empty++;
    }
  }
  const st = q.stats();
  assert.is(st.full, full);
  assert.is(st.empty, empty);
  assert.ok(full > 0 && empty > 0);
  assert.is(st.pushes - st.pops, q.size);
});

interface Got {
  got: Int32Array;
  ticks?: number;
}

/** Exactly once, and each consumer saw each producer's messages in the order they were pushed. */
function checkDelivery(gots: Int32Array[], producers: number, count: number): void {
  const seen = new Uint8Array(producers << ID_BITS);
  let total = 0;
  gots.forEach((got, c) => {
    const last = new Int32Array(producers).fill(-1);
    for (const id of got) {
      const p = Math.floor(id / 2 ** ID_BITS);
      const i = id % 2 ** ID_BITS;
      assert.ok(p >= 0 && p < producers && i < count, `bad id ${p}:${i}`);
      assert.ok(seen[id] === 0, `message ${p}:${i} delivered twice`);
      seen[id] = 1;
      assert.ok(i > last[p]!, `consumer ${c}: producer ${p}'s ${i} after ${last[p]}`);
      last[p] = i;
      total++;
    }
  });
  assert.is(total, producers * count, 'every message delivered');
}

async function stress(producers: number, consumers: number, role: 'consumer' | 'asyncConsumer' | 'main', capacity: number) {
  const count = Math.round(4000 * stressScale);
  const { handle, a } = general({ q: { capacity, maxMessageBytes: 256 } }, ['consumed']);
  const workers = producers + (role === 'main' ? 0 : consumers);
  const flag = new SharedArrayBuffer(4);
  const base = { handle, key, queue: 'q', flag, workers, maxPad: 200, total: producers * count, consumers };
  const datas = [
    ...Array.from({ length: producers }, (_, p) => ({ ...base, role: 'producer', p, count, seed: seed + p })),
    ...(role === 'main' ? [] : Array.from({ length: consumers }, (_, c) => ({ ...base, role, seed: seed + 100 + c }))),
  ];
  const run = runWorkers<Got & { refused?: number }>(WORKER, datas, 60_000);
  const gots: Int32Array[] = [];
  if (role === 'main') {
    // This thread is the consumer: popAsync never blocks its event loop (the timer keeps firing).
    const q = a.queue('q');
    const consumed = a.counter('consumed');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const got: number[] = [];
    while (consumed.get() < producers * count) {
      got.push(checkMessage(await q.popAsync()));
      consumed.add();
    }
    clearInterval(ticker);
    assert.ok(ticks > 0, 'event loop kept running');
    gots.push(Int32Array.from(got));
  }
  const results = await run;
  for (const r of results.slice(producers)) gots.push(r.got);
  if (role === 'asyncConsumer') assert.ok(results.slice(producers).every((r) => (r.ticks ?? 0) > 0), 'event loop kept running');
  checkDelivery(gots, producers, count);
  const st = a.stats().queues.q!;
  const stops = role === 'main' ? 0 : consumers - 1;
  assert.is(st.pushes, producers * count + stops);
  assert.is(st.pops, producers * count + stops);
  assert.is(st.size, 0);
  return st;
}

test('mpmc: 3 producers x 1 consumer, capacity 4, every message exactly once in producer order', async () => {
  const st = await stress(3, 1, 'consumer', 4);
  assert.ok(st.full > 0, 'full was hit');
});

test('mpmc: 3 producers x 3 consumers, capacity 8', async () => {
  await stress(3, 3, 'consumer', 8);
});

test('mpmc: 3 producers x 1 popAsync consumer on a worker event loop, capacity 4', async () => {
  await stress(3, 1, 'asyncConsumer', 4);
});

test('mpmc: 3 producers x this thread consuming with popAsync, capacity 8', async () => {
  await stress(3, 1, 'main', 8);
});

test('linearizable: fc.commands model (array) through two instances on the same handle', () => {
  type Model = { items: unknown[] };
  type Real = { q: [GeneralDomain, GeneralDomain] };
  const MAX = 48;
  const size = (v: unknown): number =>
    v instanceof Uint8Array ? v.length : typeof v === 'string' && v.isWellFormed() ? Buffer.byteLength(v) : encodeValue(v).length;
  class Push implements fc.Command<Model, Real> {
    constructor(readonly v: unknown, readonly via: 0 | 1) {}
    check = () => true;
    run(m: Model, r: Real): void {
      const q = r.q[this.via].queue('q');
      if (size(this.v) > MAX) {
        assert.is(code(() => q.push(this.v)), 'ERR_VALUE_TOO_LARGE');
      } else {
        const ok = q.push(this.v);
        assert.is(ok, m.items.length < q.capacity);
        if (ok) m.items.push(this.v);
      }
      assert.is(q.size, m.items.length);
    }
    toString = () => `push(${JSON.stringify(this.v)}) via ${this.via}`;
  }
  class Pop implements fc.Command<Model, Real> {
    constructor(readonly via: 0 | 1) {}
    check = () => true;
    run(m: Model, r: Real): void {
      const q = r.q[this.via].queue('q');
      const v = q.pop();
      if (m.items.length === 0) assert.is(v, undefined);
      else assert.equal(v, m.items.shift());
      assert.is(q.size, m.items.length);
    }
    toString = () => `pop via ${this.via}`;
  }
  const via = fc.constantFrom<0 | 1>(0, 1);
  const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ unit: 'binary', maxLength: 30 }), fc.uint8Array({ maxLength: 60 }));
  const commands = [value.chain((v) => via.map((w) => new Push(v, w))), via.map((w) => new Pop(w))];
  fc.assert(
    fc.property(fc.commands(commands, { maxCommands: 200 }), fc.constantFrom(2, 4, 8), (cmds, capacity) => {
      const { a, b } = general({ q: { capacity, maxMessageBytes: MAX } });
      fc.modelRun(() => ({ model: { items: [] }, real: { q: [a, b] } }), cmds);
      const st = a.stats().queues.q!;
      assert.is(st.pushes - st.pops, st.size);
    }),
    fcParams(200),
  );
});

test.run();
