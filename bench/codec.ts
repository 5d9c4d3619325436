/**
 * Codec benchmark (`npm run bench:codec`): src/internal/codec/codec.ts against JSON (JSON.stringify +
 * TextEncoder, TextDecoder + JSON.parse) and msgpackr (a `new Packr()` with its defaults, which
 * use msgpackr's record extension, and `new Packr({ useRecords: false })`, plain MessagePack
 * maps as the standalone pack/unpack write them; neither uses structuredClone), side by side in
 * one run, on the real positions of test/fixtures/ptn (ptn-miner-positions.json):
 *   (a) one real order with 4 price sources (the one of 917 bytes of JSON),
 *   (b) the median real position (by JSON size), (c) the largest real position,
 *   (d) a synthetic 100-order position: the largest position with 100 real orders,
 *   (e) order (a) with the fields of a later validator version (no known shape: learned shapes).
 * For the positions, "split" is what the positions store does: encodePositionHead plus one
 * encodeOrder per order, each copied into a SharedArrayBuffer heap, and decodePositionHead plus
 * one decodeOrder per order (from the heap; the orders put back in place).
 * Times are medians (p50 of tinybench's samples; robust to neighbours' load) in ns per value; MB/s is of the value's JSON text (the same data for every
 * codec). Every codec's output is checked to decode to the input before timing. BENCH_MS
 * (default 300) sets the time per task. The machine may be shared: compare within one run.
 */
import { Bench } from 'tinybench';
import { Packr } from 'msgpackr';
import { isDeepStrictEqual } from 'node:util';
import {
  decodeOrder,
  decodePositionHead,
  decodeValue,
  encodeOrder,
  encodePositionHead,
  encodeValue,
} from '../src/internal/codec/codec.ts';
import { realPositionTexts } from '../support/data.ts';

type Obj = Record<string, unknown>;
const ms = Number(process.env.BENCH_MS ?? 300);
const kOrderJsonBytes = 917;
const kSyntheticOrders = 100;
/** Each task runs its codec this many times per sample on values below this size... */
const kSmallJson = 4096;
const kSmallReps = 20;

const raw: string[] = realPositionTexts();
const positions = raw.map((s) => JSON.parse(s) as Obj);
const jsonSize = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));
const bySize = [...positions].sort((a, b) => jsonSize(a) - jsonSize(b));
const allOrders = positions.flatMap((p) => p.orders as Obj[]);
const order = allOrders.find((o) => jsonSize(o) === kOrderJsonBytes && (o.price_sources as unknown[]).length === 4) ?? allOrders[0]!;
const largest = bySize[bySize.length - 1]!;
const synthetic: Obj = { ...structuredClone(largest) };
synthetic.orders = Array.from({ length: kSyntheticOrders }, (_, i) => structuredClone(allOrders[i % allOrders.length]!));

// An order as a later validator version writes it (vanta-network's Order.to_python_dict key
// order, values from the real order): no known shape, so it takes the learned-shape path.
const laterOrder: Obj = {
  trade_pair_id: 'EURCHF', trade_pair: ['EURCHF', 'EUR/CHF'], order_type: order.order_type, leverage: order.leverage,
  value: null, quantity: null, price: order.price, bid: order.price, ask: order.price, slippage: 0.0001,
  quote_usd_rate: 1.1, usd_base_rate: 1.08, processed_ms: order.processed_ms, price_sources: order.price_sources,
  order_uuid: order.order_uuid, src: 0, execution_type: 'MARKET', limit_price: null, stop_loss: null, take_profit: null,
  margin_loan: 0, bracket_orders: null,
};

const fixtures: { name: string; value: Obj; isPosition: boolean }[] = [
  { name: '(a) one order', value: order, isPosition: false },
  { name: '(b) median position', value: bySize[bySize.length >> 1]!, isPosition: true },
  { name: '(c) largest position', value: largest, isPosition: true },
  { name: '(d) 100-order position', value: synthetic, isPosition: true },
  { name: '(e) later-version order', value: laterOrder, isPosition: false },
];

const te = new TextEncoder();
const td = new TextDecoder();
const packr = new Packr();
const packrMaps = new Packr({ useRecords: false });

interface Codec {
  name: string;
  encode: (v: Obj) => Uint8Array;
  decode: (b: Uint8Array) => unknown;
}
const codecs: Codec[] = [
  { name: 'sabstate', encode: (v) => encodeValue(v), decode: (b) => decodeValue(b) },
  { name: 'JSON', encode: (v) => te.encode(JSON.stringify(v)), decode: (b) => JSON.parse(td.decode(b)) },
  { name: 'msgpackr', encode: (v) => packr.pack(v), decode: (b) => packr.unpack(b) },
  { name: 'msgpackr maps', encode: (v) => packrMaps.pack(v), decode: (b) => packrMaps.unpack(b) },
];

// The positions store's path: head and orders encoded apart, each copied into one shared heap
// (as the store copies records into its SharedArrayBuffer), decoded from views of that heap.
const kHeapBytes = 1 << 20;
const heap = new Uint8Array(new SharedArrayBuffer(kHeapBytes));
let chunks: Uint8Array[] = [];
function encodeSplit(p: Obj): Uint8Array[] {
  const orders = p.orders as Obj[];
  const out = new Array<Uint8Array>(orders.length + 1);
  let at = 0;
  const put = (b: Uint8Array, i: number): void => {
    heap.set(b, at);
    out[i] = heap.subarray(at, at + b.length);
    at += b.length;
  };
  put(encodePositionHead(p), 0);
  for (let i = 0; i < orders.length; i++) put(encodeOrder(orders[i]), i + 1);
  return out;
}
/** The chunks copied into a SharedArrayBuffer of their own (kept while the decode tasks run). */
function layOut(parts: Uint8Array[]): Uint8Array[] {
  const sab = new Uint8Array(new SharedArrayBuffer(parts.reduce((n, b) => n + b.length, 0)));
  let at = 0;
  return parts.map((b) => {
    sab.set(b, at);
    at += b.length;
    return sab.subarray(at - b.length, at);
  });
}
function decodeSplit(parts: Uint8Array[]): Obj {
  const head = decodePositionHead(parts[0]!);
  const orders = new Array<Obj>(parts.length - 1);
  for (let i = 1; i < parts.length; i++) orders[i - 1] = decodeOrder(parts[i]!);
  head.orders = orders;
  return head;
}

const bench = new Bench({ time: ms, warmup: true });
let sink = 0;
const sizes: Record<string, number[]> = {};
for (const f of fixtures) {
  const reps = jsonSize(f.value) < kSmallJson ? kSmallReps : 1;
  const row: number[] = [jsonSize(f.value)];
  for (const c of codecs) {
    const bytes = c.encode(f.value).slice();
    if (!isDeepStrictEqual(c.decode(bytes), f.value)) throw new Error(`${c.name} does not round-trip ${f.name}`);
    row.push(bytes.length);
    bench.add(`${f.name} encode ${c.name}`, () => {
      for (let i = 0; i < reps; i++) sink += c.encode(f.value).length;
    });
    bench.add(`${f.name} decode ${c.name}`, () => {
      for (let i = 0; i < reps; i++) sink += (c.decode(bytes) as Obj) === null ? 1 : 0;
    });
  }
  sizes[f.name] = row;
  if (f.isPosition) {
    const parts = layOut(encodeSplit(f.value));
    if (!isDeepStrictEqual(decodeSplit(parts), f.value)) throw new Error(`split does not round-trip ${f.name}`);
    bench.add(`${f.name} encode sabstate split`, () => {
      for (let i = 0; i < reps; i++) chunks = encodeSplit(f.value);
    });
    bench.add(`${f.name} decode sabstate split`, () => {
      for (let i = 0; i < reps; i++) sink += decodeSplit(parts) === null ? 1 : 0;
    });
  }
  (f as { reps?: number }).reps = reps;
}
await bench.run();

const ns = (name: string, reps: number): number => {
  const r = bench.tasks.find((t) => t.name === name)?.result as { latency?: { p50: number } } | undefined;
  return ((r?.latency?.p50 ?? NaN) * 1e6) / reps;
};
const fmtNs = (x: number): string => (Number.isNaN(x) ? '-' : x >= 1e4 ? `${(x / 1e3).toFixed(1)} µs` : `${x.toFixed(0)} ns`);
const mbs = (bytes: number, t: number): string => (Number.isNaN(t) ? '-' : ((bytes / t) * 1e3).toFixed(0));

console.log(`\nCodec, median time per value and MB/s of JSON text (BENCH_MS=${ms}; node ${process.version}, ${process.platform}-${process.arch})`);
console.log('| value | op | sabstate | sabstate split | JSON | msgpackr | msgpackr maps | JSON / sabstate | msgpackr / sabstate | msgpackr maps / sabstate |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const f of fixtures) {
  const reps = (f as { reps?: number }).reps ?? 1;
  const json = sizes[f.name]![0]!;
  for (const op of ['encode', 'decode']) {
    const t = codecs.map((c) => ns(`${f.name} ${op} ${c.name}`, reps));
    const split = f.isPosition ? ns(`${f.name} ${op} sabstate split`, reps) : NaN;
    const cell = (x: number): string => `${fmtNs(x)}, ${mbs(json, x)} MB/s`;
    const ratio = (x: number): string => `${(x / t[0]!).toFixed(2)}x`;
    console.log(
      `| ${f.name} | ${op} | ${cell(t[0]!)} | ${f.isPosition ? cell(split) : '-'} | ${cell(t[1]!)} | ${cell(t[2]!)} | ${cell(t[3]!)} | ${ratio(t[1]!)} | ${ratio(t[2]!)} | ${ratio(t[3]!)} |`,
    );
  }
}
console.log('\nEncoded size in bytes (and vs JSON)');
console.log('| value | JSON | sabstate | msgpackr | msgpackr maps |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const f of fixtures) {
  const [json, ours, , ...rest] = sizes[f.name]!;
  console.log(`| ${f.name} | ${json} | ${[ours!, ...rest].map((b) => `${b} (${((b / json!) * 100).toFixed(0)}%)`).join(' | ')} |`);
}
console.log(`\nRatios > 1: sabstate is faster. sabstate encode returns a view of its scratch buffer (no copy);`);
console.log(`"split" copies each chunk into a shared heap. msgpackr does not keep -0 (it writes an integer 0). (sink ${sink & 1}, ${chunks.length})`);
