/**
 * Hash benchmarks, JS (src/internal/hash/hash.ts) against the native helper (native/), side by side
 * (`npm run bench:hash`), in ns per key:
 * 1. single keys: hashString(55-character hotkey), hashPair(hotkey, 'BTCUSD');
 * 2. batches of 8..256 and 10,000 hotkeys (hashStrings), and pairs (hashPairs);
 * 3. a bulk load of 13,000 (hotkey, trade pair) keys: from strings (hashPairs), and from their
 *    LE32(len) ‖ hotkey ‖ trade pair records already in a SharedArrayBuffer (hashBytes; the JS
 *    column is what src/internal/hash/native.ts's JS fallback does: halfSipHashBytes per subarray).
 * The native column loads the binary directly (SABSTATE_NATIVE does not apply); without a
 * binary only the JS column is printed. BENCH_MS (default 300) sets the time per task.
 */
import { Bench } from 'tinybench';
import { halfSipHashBytes, hashKeyFromSeed, hashPair, hashString, utf16leBytes } from '../src/internal/hash/hash.ts';
import { type NativeHash, loadNativeHash, nativeBinaryPath } from '../src/internal/hash/native.ts';
import { prng } from '../support/prng.ts';

const ms = Number(process.env.BENCH_MS ?? 300);
const key = hashKeyFromSeed(0x9e3779b97f4a7c15n);

let native: NativeHash | null = null;
try {
  native = loadNativeHash('on', nativeBinaryPath()).hash;
} catch (e) {
  console.log(`native helper not available (${e instanceof Error ? e.message : String(e)}): JS only`);
}

// 55-character hotkeys over the base58 alphabet, from a seeded PRNG.
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const rand = prng(42);
const hotkey = (): string => Array.from({ length: 55 }, () => B58[Math.floor(rand() * B58.length)]!).join('');
const hotkeys = Array.from({ length: 10_000 }, hotkey);
const HK = hotkeys[0]!;
const tps = Array.from({ length: 51 }, (_, i) => `TP${i}USD`);

// The 13,056 (256 hotkeys x 51 trade pairs) keys of a full positions table.
const bulkA: string[] = [];
const bulkB: string[] = [];
for (const h of hotkeys.slice(0, 256)) for (const t of tps) (bulkA.push(h), bulkB.push(t));
const BULK = bulkA.length;
// ... and the same keys as LE32(len a) ‖ UTF16LE(a) ‖ UTF16LE(b) records in a SharedArrayBuffer.
const recs = bulkA.map((a, i) => {
  const m = new Uint8Array(4 + 2 * (a.length + bulkB[i]!.length));
  new DataView(m.buffer).setUint32(0, a.length, true);
  m.set(utf16leBytes(a + bulkB[i]!), 4);
  return m;
});
const bytes = new Uint8Array(new SharedArrayBuffer(recs.reduce((n, r) => n + r.length, 0)));
const offsets = new Uint32Array(BULK);
const lengths = new Uint32Array(BULK);
let at = 0;
recs.forEach((r, i) => {
  bytes.set(r, at);
  offsets[i] = at;
  lengths[i] = r.length;
  at += r.length;
});

let sink = 0;
const REPS = 100;
const out = new Uint32Array(BULK);

interface Case {
  name: string;
  keys: number;
  js: () => void;
  native: (n: NativeHash) => void;
}

const cases: Case[] = [
  // Single-key cases loop REPS times per sample, so the timer's own cost does not count.
  {
    name: 'hashString(55-char hotkey)',
    keys: REPS,
    js: () => {
      for (let i = 0; i < REPS; i++) sink ^= hashString(key, HK);
    },
    native: (n) => {
      for (let i = 0; i < REPS; i++) sink ^= n.hashString(key, HK);
    },
  },
  {
    name: "hashPair(hotkey, 'BTCUSD')",
    keys: REPS,
    js: () => {
      for (let i = 0; i < REPS; i++) sink ^= hashPair(key, HK, 'BTCUSD');
    },
    native: (n) => {
      for (let i = 0; i < REPS; i++) sink ^= n.hashPair(key, HK, 'BTCUSD');
    },
  },
  {
    name: "hashString('BTCUSD') (6 chars)",
    keys: REPS,
    js: () => {
      for (let i = 0; i < REPS; i++) sink ^= hashString(key, 'BTCUSD');
    },
    native: (n) => {
      for (let i = 0; i < REPS; i++) sink ^= n.hashString(key, 'BTCUSD');
    },
  },
];
for (const size of [4, 8, 16, 32, 64, 256, 10_000]) {
  const ks = hotkeys.slice(0, size);
  const reps = Math.max(1, Math.floor(256 / size));
  cases.push({
    name: `batch of ${size.toLocaleString('en')} hotkeys (hashStrings)`,
    keys: size * reps,
    js: () => {
      for (let r = 0; r < reps; r++) for (let i = 0; i < size; i++) out[i] = hashString(key, ks[i]!);
    },
    native: (n) => {
      for (let r = 0; r < reps; r++) n.hashStrings(key, ks, out);
    },
  });
}
for (const size of [256, 10_000]) {
  const as = bulkA.slice(0, size);
  cases.push({
    name: `batch of ${size.toLocaleString('en')} (hotkey, 'BTCUSD') (hashPairs)`,
    keys: size,
    js: () => {
      for (let i = 0; i < size; i++) out[i] = hashPair(key, as[i]!, 'BTCUSD');
    },
    native: (n) => void n.hashPairs(key, as, 'BTCUSD', out),
  });
}
cases.push(
  {
    name: `bulk load ${BULK.toLocaleString('en')} pairs from strings (hashPairs)`,
    keys: BULK,
    js: () => {
      for (let i = 0; i < BULK; i++) out[i] = hashPair(key, bulkA[i]!, bulkB[i]!);
    },
    native: (n) => void n.hashPairs(key, bulkA, bulkB, out),
  },
  {
    name: `bulk load ${BULK.toLocaleString('en')} pairs from SAB bytes (hashBytes)`,
    keys: BULK,
    js: () => {
      for (let i = 0; i < BULK; i++) out[i] = halfSipHashBytes(key, bytes.subarray(offsets[i]!, offsets[i]! + lengths[i]!));
    },
    native: (n) => void n.hashBytes(key, bytes, offsets, lengths, out),
  },
);

// Both columns compute the same thing: check once before timing.
if (native) {
  for (const c of cases) {
    out.fill(0);
    c.js();
    const want = out.slice();
    out.fill(0);
    c.native(native);
    if (!c.name.startsWith('hash') && want.some((h, i) => h !== out[i])) throw new Error(`${c.name}: native and JS differ`);
  }
}

const bench = new Bench({ time: ms, warmup: true });
for (const c of cases) {
  bench.add(`js ${c.name}`, c.js);
  const n = native;
  if (n) bench.add(`native ${c.name}`, () => c.native(n));
}
await bench.run();

const nsPerCall = (name: string): number => {
  const t = bench.tasks.find((x) => x.name === name);
  const r = t?.result as { latency?: { mean: number } } | undefined;
  return (r?.latency?.mean ?? NaN) * 1e6;
};
const fmt = (x: number): string => (Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1));

console.log(`\nHash, ns per key (mean; BENCH_MS=${ms}; node ${process.version}, ${process.platform}-${process.arch})`);
console.log('| case | JS ns/key | native ns/key | JS / native |');
console.log('| --- | ---: | ---: | ---: |');
for (const c of cases) {
  const js = nsPerCall(`js ${c.name}`) / c.keys;
  const nat = native ? nsPerCall(`native ${c.name}`) / c.keys : NaN;
  const ratio = native ? `${(js / nat).toFixed(2)}x` : '-';
  console.log(`| ${c.name} | ${fmt(js)} | ${fmt(nat)} | ${ratio} |`);
}
console.log('\nJS / native > 1: native is faster. (sink', sink & 1, ')');
