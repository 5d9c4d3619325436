/**
 * Queue benchmarks, sabstate ring vs a MessagePort channel, side by side in one run
 * (`npm run bench:queue`). Messages are JSON like the validator's websocket notice: a hotkey, a
 * trade pair and an order padded to about 1 KB; and a small one of about 100 bytes.
 * 1. One thread, push+pop (tinybench, batches of 1000): ring push+pop vs port1.postMessage +
 *    receiveMessageOnPort(port2) (the synchronous way to drain a port on one thread).
 * 2. Across threads, 1 producer -> 1 consumer and 3 -> 1, messages/s from a start barrier to the
 *    last message: ring with a blocking pop consumer, ring with a popAsync consumer, and
 *    MessagePorts (one channel per producer, the consumer's 'message' events). The port has no
 *    backpressure (postMessage never refuses), the ring does (capacity 1024: a producer that
 *    finds it full retries, napping 20 µs after 64 tries).
 * This file is also its own worker script (roles below). BENCH_MS (default 1000) sets tinybench's
 * time per task; BENCH_N (default 100000) messages per producer in the cross-thread cases.
 */
import { Bench } from 'tinybench';
import { MessageChannel, type MessagePort, isMainThread, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { once } from 'node:events';
import { GeneralDomain, createGeneralHandle, resolveGeneralOptions } from '../src/domains/general.ts';
import type { GeneralHandle } from '../src/domains/general.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { tsWorker } from '../support/workers.ts';

const key = hashKeyFromSeed(0x9e3779b97f4a7c15n);
const HK = '5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th';
const small = { hotkey: HK, trade_pair: 'BTCUSD', n: 1 };
const order = {
  order_uuid: '0d5b2c1e-8f7a-4a3b-9c6d-2e1f0a9b8c7d', order_type: 'LONG', leverage: 0.25, price: 67123.45,
  processed_ms: 1718000000000, bid: 67120.1, ask: 67125.9, slippage: 0.0001, src: 0, rank: 12,
  price_sources: Array.from({ length: 4 }, (_, i) => ({
    source: `Polygon_ws_${i}`, timespan_ms: 1000, open: 67100 + i, close: 67110 + i, vwap: 67105.5 + i,
    high: 67130 + i, low: 67090 + i, start_ms: 1717999999000 + i, websocket: true, lag_ms: 12 + i, volume: 1.25 + i,
  })),
};
const notice = { hotkey: HK, trade_pair: 'BTCUSD', order };
const MSGS = { small, notice } as const;
type MsgKind = keyof typeof MSGS;

interface Job {
  role: 'producer' | 'ringConsumer' | 'ringAsyncConsumer' | 'portProducer' | 'portConsumer';
  handle: GeneralHandle;
  barrier: SharedArrayBuffer;
  parties: number;
  n: number;
  total: number;
  kind: MsgKind;
  ports?: MessagePort[];
}

function arrive(barrier: SharedArrayBuffer, parties: number): void {
  const b = new Int32Array(barrier);
  Atomics.add(b, 0, 1);
  Atomics.notify(b, 0);
  for (let v = Atomics.load(b, 0); v < parties; v = Atomics.load(b, 0)) Atomics.wait(b, 0, v, 10);
}

/** Warms the JIT on a private queue and a private channel, so fresh workers do not time cold code. */
function warmUp(kind: MsgKind): void {
  const h = createGeneralHandle(resolveGeneralOptions({ queues: { w: { capacity: 1024, maxMessageBytes: 2048 } } }), key);
  const w = new GeneralDomain(h, key).queue('w');
  const { port1, port2 } = new MessageChannel();
  for (let i = 0; i < 20_000; i++) {
    w.push(MSGS[kind]);
    w.pop();
    port1.postMessage(MSGS[kind]);
    receiveMessageOnPort(port2);
  }
  port1.close();
}

async function worker(job: Job): Promise<void> {
  const q = new GeneralDomain(job.handle, key).queue('q');
  const msg = MSGS[job.kind];
  warmUp(job.kind);
  arrive(job.barrier, job.parties);
  const t0 = performance.now();
  if (job.role === 'producer') {
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < job.n; i++) for (let t = 0; !q.push(msg); t++) if (t > 64) Atomics.wait(nap, 0, 0, 0.02);
    parentPort!.postMessage(0);
  } else if (job.role === 'ringConsumer') {
    for (let i = 0; i < job.total; i++) q.pop({ timeoutMs: Infinity });
    parentPort!.postMessage(performance.now() - t0);
  } else if (job.role === 'ringAsyncConsumer') {
    for (let i = 0; i < job.total; i++) await q.popAsync();
    parentPort!.postMessage(performance.now() - t0);
  } else if (job.role === 'portProducer') {
    const port = job.ports![0]!;
    for (let i = 0; i < job.n; i++) port.postMessage(msg);
    parentPort!.postMessage(0);
  } else {
    let got = 0;
    for (const port of job.ports!) {
      port.on('message', () => {
        if (++got === job.total) {
          parentPort!.postMessage(performance.now() - t0);
          for (const p of job.ports!) p.close();
        }
      });
    }
  }
}

/** Runs one cross-thread case; returns messages/s (best of `reps`). */
async function crossThread(producers: number, consumer: 'ringConsumer' | 'ringAsyncConsumer' | 'portConsumer', kind: MsgKind, n: number, reps = 3): Promise<number> {
  let best = 0;
  for (let r = 0; r < reps; r++) {
    const handle = createGeneralHandle(resolveGeneralOptions({ queues: { q: { capacity: 1024, maxMessageBytes: 2048 } } }), key);
    const barrier = new SharedArrayBuffer(4);
    const base = { handle, barrier, parties: producers + 1, n, total: producers * n, kind };
    const file = new URL(import.meta.url);
    const ws = [];
    if (consumer === 'portConsumer') {
      const chans = Array.from({ length: producers }, () => new MessageChannel());
      ws.push(tsWorker(file, { workerData: { ...base, role: consumer, ports: chans.map((c) => c.port2) }, transferList: chans.map((c) => c.port2) }));
      for (const c of chans) ws.push(tsWorker(file, { workerData: { ...base, role: 'portProducer', ports: [c.port1] }, transferList: [c.port1] }));
    } else {
      ws.push(tsWorker(file, { workerData: { ...base, role: consumer } }));
      for (let p = 0; p < producers; p++) ws.push(tsWorker(file, { workerData: { ...base, role: 'producer' } }));
    }
    const [ms] = (await once(ws[0]!, 'message')) as [number];
    await Promise.all(ws.map((w) => w.terminate()));
    best = Math.max(best, (producers * n) / (ms / 1000));
  }
  return best;
}

async function main(): Promise<void> {
  const ms = Number(process.env.BENCH_MS ?? 1000);
  const n = Number(process.env.BENCH_N ?? 100_000);
  const handle = createGeneralHandle(resolveGeneralOptions({ queues: { q: { capacity: 1024, maxMessageBytes: 2048 } } }), key);
  const q = new GeneralDomain(handle, key).queue('q');
  const { port1, port2 } = new MessageChannel();
  port2.unref();
  const kBatch = 1000;
  const bench = new Bench({ time: ms, warmup: true });
  for (const kind of ['small', 'notice'] as const) {
    const msg = MSGS[kind];
    bench
      .add(`ring push+pop, ${kind}`, () => {
        for (let k = 0; k < kBatch; k++) {
          q.push(msg);
          q.pop();
        }
      })
      .add(`MessagePort post+receive, ${kind}`, () => {
        for (let k = 0; k < kBatch; k++) {
          port1.postMessage(msg);
          receiveMessageOnPort(port2);
        }
      });
  }
  await bench.run();
  port1.close();
  const rate = (name: string): number => {
    const r = bench.tasks.find((t) => t.name === name)!.result as { latency?: { mean: number } };
    return (kBatch / r.latency!.mean) * 1000;
  };
  const fmt = (x: number): string => `${(x / 1e6).toFixed(3)} M/s`;
  const bytes = (kind: MsgKind): number => Buffer.byteLength(JSON.stringify(MSGS[kind]));
  console.log(`\nOne thread, push+pop pairs per second (Node ${process.version}, ${ms} ms per task)`);
  console.log('| message | ring | MessagePort | ring / port |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const kind of ['small', 'notice'] as const) {
    const a = rate(`ring push+pop, ${kind}`);
    const b = rate(`MessagePort post+receive, ${kind}`);
    console.log(`| ${kind} (${bytes(kind)} B JSON) | ${fmt(a)} | ${fmt(b)} | ${(a / b).toFixed(2)} |`);
  }

  console.log(`\nAcross threads, messages/s, ${n} messages per producer (notice: half), best of 3, workers warmed up`);
  console.log('| case | message | ring, pop() | ring, popAsync() | MessagePort | pop / port | popAsync / port |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const producers of [1, 3]) {
    for (const kind of ['small', 'notice'] as const) {
      const nn = kind === 'notice' ? Math.round(n / 2) : n;
      const a = await crossThread(producers, 'ringConsumer', kind, nn);
      const b = await crossThread(producers, 'ringAsyncConsumer', kind, nn);
      const c = await crossThread(producers, 'portConsumer', kind, nn);
      console.log(`| ${producers} -> 1 | ${kind} | ${fmt(a)} | ${fmt(b)} | ${fmt(c)} | ${(a / c).toFixed(2)} | ${(b / c).toFixed(2)} |`);
    }
  }
  const st = q.stats();
  console.log(`\nring stats (one-thread queue): pushes ${st.pushes}, pops ${st.pops}, full ${st.full}, empty ${st.empty}`);
}

if (isMainThread) await main();
else await worker(workerData as Job);
