/**
 * The native hash helper (native/) against the JS hash (src/internal/hash/hash.ts), and the loader's
 * selection (src/internal/hash/native.ts).
 *
 * Native-only tests need native/sabstate-hash.node (`npm run build:native`, needs cargo); without
 * it they are skipped, and the file says why. The self-test, the JS batch entry points and the
 * SABSTATE_NATIVE selection (child processes, one per environment) run either way.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SabStateError } from '../src/errors.ts';
import {
  HASH_VECTORS,
  type HashKey,
  halfSipHashBytes,
  hashKeyFromSeed,
  hashPair,
  hashString,
  utf16leBytes,
} from '../src/internal/hash/hash.ts';
import {
  NATIVE_ABI,
  NATIVE_MIN_BATCH,
  type NativeHash,
  type NativeModule,
  hashBytesInto,
  hashPairsInto,
  hashStringsInto,
  loadNativeHash,
  nativeBinaryPath,
  selfTest,
} from '../src/internal/hash/native.ts';
import { fcParams } from './helpers/seed.ts';

const root = new URL('..', import.meta.url).pathname;
const binary = nativeBinaryPath();

// ---- which tests can run ---------------------------------------------------------------------

let native: NativeHash | null = null;
let why = '';
if (process.env.SABSTATE_NATIVE === '0') why = 'SABSTATE_NATIVE=0 is set';
else if (!existsSync(binary)) why = `${binary} not found (npm run build:native builds it when cargo is on PATH)`;
// Loading throws on a self-test mismatch: that fails this file, as it should.
else native = loadNativeHash('on', binary).hash;
if (native === null) console.log(`# native hash helper absent: native-only tests are SKIPPED (${why})`);
else console.log(`# native hash helper: ${binary}`);

const ntest = native !== null ? test : test.skip;
const N = (): NativeHash => native!;

// ---- generators ---------------------------------------------------------------------------------

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u));
const tricky = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', 'a', 'é', '\u0000', '\uffff');
/** Strings with lone surrogates, non-BMP characters, and lengths across the native stack buffer. */
const str = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: codeUnit }),
  fc.string({ unit: tricky }),
  fc.string({ unit: codeUnit, minLength: 300, maxLength: 700 }),
);
const seed64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });

/** LE32(a.length) ‖ UTF16LE(a) ‖ UTF16LE(b): the message of hashPair. */
function pairMessage(a: string, b: string): Uint8Array {
  const m = new Uint8Array(4 + 2 * (a.length + b.length));
  new DataView(m.buffer).setUint32(0, a.length, true);
  m.set(utf16leBytes(a + b), 4);
  return m;
}

/** Messages laid out in a SharedArrayBuffer after `pad` bytes, with `gap` bytes between them. */
function layout(msgs: Uint8Array[], pad: number, gap: number) {
  const total = msgs.reduce((n, m) => n + m.length + gap, pad);
  const bytes = new Uint8Array(new SharedArrayBuffer(Math.max(1, total)));
  const offsets = new Uint32Array(msgs.length);
  const lengths = new Uint32Array(msgs.length);
  let at = pad;
  msgs.forEach((m, i) => {
    bytes.set(m, at);
    offsets[i] = at;
    lengths[i] = m.length;
    at += m.length + gap;
  });
  return { bytes, offsets, lengths };
}

/** The native module's exports, computed by the JS hash: a module that agrees by construction. */
function jsModule(): NativeModule {
  const k = (k0: number, k1: number): HashKey => ({ k0, k1 });
  return {
    abi: NATIVE_ABI,
    hashString: (k0, k1, s) => hashString(k(k0, k1), s),
    hashPair: (k0, k1, a, b) => hashPair(k(k0, k1), a, b),
    hashStrings: (k0, k1, keys, out) => {
      keys.forEach((s, i) => (out[i] = hashString(k(k0, k1), s)));
      return out;
    },
    hashPairs: (k0, k1, as, bs, out) => {
      as.forEach((a, i) => (out[i] = hashPair(k(k0, k1), a, typeof bs === 'string' ? bs : bs[i]!)));
      return out;
    },
    hashBytes: (k0, k1, bytes, offsets, lengths, out) => {
      offsets.forEach((o, i) => (out[i] = halfSipHashBytes(k(k0, k1), bytes.subarray(o, o + lengths[i]!))));
      return out;
    },
  };
}

// ---- native == JS ------------------------------------------------------------------------------

ntest('native: HASH_VECTORS, single calls and the self-test', () => {
  for (const [seed, a, b, h] of HASH_VECTORS) {
    const key = hashKeyFromSeed(seed);
    assert.is(b === null ? N().hashString(key, a) : N().hashPair(key, a, b), h, JSON.stringify([seed.toString(16), a, b]));
  }
});

ntest('native: strings around the 320-unit stack buffer and long strings', () => {
  const key = hashKeyFromSeed(0xdeadbeefcafebaben);
  for (const n of [0, 1, 2, 317, 318, 319, 320, 321, 322, 639, 640, 641, 100_000]) {
    const s = Array.from({ length: n }, (_, i) => String.fromCharCode((i * 7919) & 0xffff)).join('');
    assert.is(N().hashString(key, s), hashString(key, s), `length ${n}`);
    assert.is(N().hashPair(key, s, s), hashPair(key, s, s), `pair of length ${n}`);
    assert.equal(N().hashStrings(key, [s, 'x', s]), Uint32Array.of(hashString(key, s), hashString(key, 'x'), hashString(key, s)));
  }
});

ntest('native: property: hashString and hashPair equal the JS hash (any 64-bit seed)', () => {
  fc.assert(
    fc.property(seed64, str, str, (seed, a, b) => {
      const key = hashKeyFromSeed(seed);
      assert.is(N().hashString(key, a), hashString(key, a));
      assert.is(N().hashPair(key, a, b), hashPair(key, a, b));
    }),
    fcParams(1000),
  );
});

ntest('native: property: batches (hashStrings, hashPairs with arrays and with one b) equal the JS hash', () => {
  fc.assert(
    fc.property(seed64, fc.array(fc.tuple(str, str), { maxLength: 40 }), str, (seed, rows, one) => {
      const key = hashKeyFromSeed(seed);
      const as = rows.map((r) => r[0]);
      const bs = rows.map((r) => r[1]);
      assert.equal([...N().hashStrings(key, as)], as.map((a) => hashString(key, a)));
      assert.equal([...N().hashPairs(key, as, bs)], as.map((a, i) => hashPair(key, a, bs[i]!)));
      assert.equal([...N().hashPairs(key, as, one)], as.map((a) => hashPair(key, a, one)));
      // A longer out keeps its tail.
      const out = new Uint32Array(as.length + 2).fill(7);
      assert.is(N().hashStrings(key, as, out), out);
      assert.equal([...out.subarray(as.length)], [7, 7]);
    }),
    fcParams(300),
  );
});

ntest('native: property: hashBytes over a SharedArrayBuffer equals the reference, hashString and hashPair', () => {
  fc.assert(
    fc.property(
      seed64,
      fc.array(fc.tuple(str, fc.option(str, { nil: null })), { maxLength: 30 }),
      fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }),
      fc.nat(7),
      fc.nat(3),
      (seed, rows, raw, pad, gap) => {
        const key = hashKeyFromSeed(seed);
        const msgs = rows.map(([a, b]) => (b === null ? utf16leBytes(a) : pairMessage(a, b)));
        const { bytes, offsets, lengths } = layout([...msgs, ...raw], pad, gap);
        const got = N().hashBytes(key, bytes, offsets, lengths);
        rows.forEach(([a, b], i) => assert.is(got[i], b === null ? hashString(key, a) : hashPair(key, a, b)));
        raw.forEach((r, j) => assert.is(got[rows.length + j], halfSipHashBytes(key, r)));
        assert.equal(hashBytesInto(key, bytes, offsets, lengths), got);
      },
    ),
    fcParams(300),
  );
});

ntest('native: hashBytes reads a growable SharedArrayBuffer through a length-tracking view', () => {
  const key = hashKeyFromSeed(5n);
  const sab = new SharedArrayBuffer(16, { maxByteLength: 4096 });
  const view = new Uint8Array(sab);
  sab.grow(1024);
  const msg = utf16leBytes('5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th');
  view.set(msg, 900);
  const out = N().hashBytes(key, view, Uint32Array.of(900), Uint32Array.of(msg.length));
  assert.is(out[0], hashString(key, '5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th'));
});

ntest('native: bad arguments throw typed errors and leave out unchanged', () => {
  const key = hashKeyFromSeed(1n);
  const bytes = new Uint8Array(new SharedArrayBuffer(16));
  const out = new Uint32Array(2).fill(9);
  const throwsWith = (fn: () => unknown, name: string, re: RegExp) => {
    try {
      fn();
    } catch (e) {
      assert.instance(e, Error);
      assert.is((e as Error).name, name);
      assert.match((e as Error).message, re);
      return;
    }
    assert.unreachable(`no ${name} for ${re}`);
  };
  throwsWith(() => N().hashBytes(key, bytes, Uint32Array.of(0, 14), Uint32Array.of(2, 4), out), 'RangeError', /key 1: bytes \[14, 14 \+ 4\)/);
  throwsWith(() => N().hashBytes(key, bytes, Uint32Array.of(0xffffffff), Uint32Array.of(0xffffffff), out), 'RangeError', /outside/);
  throwsWith(() => N().hashBytes(key, bytes, Uint32Array.of(0, 1), Uint32Array.of(2), out), 'RangeError', /lengths has 1/);
  throwsWith(() => N().hashBytes(key, new Uint16Array(8) as never, Uint32Array.of(0), Uint32Array.of(2), out), 'TypeError', /Uint8Array/);
  throwsWith(() => N().hashStrings(key, ['a', 1 as never], out), 'TypeError', /keys\[1\] must be a string/);
  throwsWith(() => N().hashStrings(key, 'ab' as never, out), 'TypeError', /array of strings/);
  throwsWith(() => N().hashStrings(key, ['a', 'b', 'c'], out), 'RangeError', /out has 2 elements, 3 needed/);
  throwsWith(() => N().hashPairs(key, ['a', 'b'], ['c'], out), 'RangeError', /bs has 1/);
  throwsWith(() => N().hashString(key, 42 as never), 'TypeError', /s must be a string/);
  throwsWith(() => N().hashString({ k0: 'x', k1: 0 } as never, 'a'), 'TypeError', /k0 and k1/);
  assert.equal([...out], [9, 9]);
  // A getter that throws: its exception comes through, out unchanged.
  const keys = ['a', 'b'];
  Object.defineProperty(keys, 1, {
    get() {
      throw new Error('boom');
    },
  });
  throwsWith(() => N().hashStrings(key, keys, out), 'Error', /boom/);
  assert.equal([...out], [9, 9]);
});

ntest('native: loads and agrees in a worker thread (the addon is context-aware)', async () => {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const m = require(workerData.path);
    parentPort.postMessage([m.hashString(0x03020100, 0x07060504, 'BTCUSD'), m.hashPair(0x03020100, 0x07060504, 'a', 'BTCUSD')]);`;
  const w = new Worker(code, { eval: true, workerData: { path: binary } });
  const got = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker timed out')), 20_000);
    w.once('message', (m) => (clearTimeout(timer), resolve(m)));
    w.once('error', (e) => (clearTimeout(timer), reject(e)));
  });
  await w.terminate();
  assert.equal(got, [0xac32ea60, 0xb948b158]);
});

// ---- the loader, with or without a binary -------------------------------------------------------

test('selfTest accepts a module that agrees and rejects one wrong entry point at a time', () => {
  selfTest(jsModule());
  const broken: Array<[string, (m: NativeModule) => NativeModule]> = [
    ['hashString', (m) => ({ ...m, hashString: (k0, k1, s) => (m.hashString(k0, k1, s) ^ (s === 'é' ? 1 : 0)) >>> 0 })],
    ['hashPair', (m) => ({ ...m, hashPair: (k0, k1, a, b) => (m.hashPair(k0, k1, a, b) + (b === '' ? 1 : 0)) >>> 0 })],
    ['hashStrings', (m) => ({ ...m, hashStrings: (k0, k1, keys, out) => (m.hashStrings(k0, k1, keys, out), (out[3] = 0), out) })],
    ['hashPairs', (m) => ({ ...m, hashPairs: (k0, k1, a, b, out) => (m.hashPairs(k0, k1, a, b, out), (out[out.length - 1] = 1), out) })],
    ['hashBytes', (m) => ({ ...m, hashBytes: (k0, k1, bytes, o, l, out) => (m.hashBytes(k0, k1, bytes, o, l, out), (out[0] = 0), out) })],
  ];
  for (const [what, breakIt] of broken) {
    try {
      selfTest(breakIt(jsModule()));
      assert.unreachable(`a broken ${what} passed the self-test`);
    } catch (e) {
      assert.instance(e, SabStateError, what);
      assert.is((e as SabStateError).code, 'ERR_NATIVE_UNAVAILABLE');
      assert.match((e as Error).message, /disagrees/);
    }
  }
});

test(`batch entry points equal the per-key JS hash, below and above NATIVE_MIN_BATCH (${NATIVE_MIN_BATCH})`, () => {
  fc.assert(
    fc.property(seed64, fc.array(fc.tuple(str, str), { maxLength: NATIVE_MIN_BATCH * 2 }), (seed, rows) => {
      const key = hashKeyFromSeed(seed);
      const as = rows.map((r) => r[0]);
      const bs = rows.map((r) => r[1]);
      assert.equal([...hashStringsInto(key, as)], as.map((a) => hashString(key, a)));
      assert.equal([...hashPairsInto(key, as, bs)], as.map((a, i) => hashPair(key, a, bs[i]!)));
      assert.equal([...hashPairsInto(key, as, 'BTCUSD')], as.map((a) => hashPair(key, a, 'BTCUSD')));
      const { bytes, offsets, lengths } = layout(as.map((a, i) => pairMessage(a, bs[i]!)), 3, 1);
      assert.equal([...hashBytesInto(key, bytes, offsets, lengths)], as.map((a, i) => hashPair(key, a, bs[i]!)));
    }),
    fcParams(100),
  );
});

test('JS hashBytesInto checks bounds before writing', () => {
  const key = hashKeyFromSeed(1n);
  const out = new Uint32Array(2).fill(9);
  assert.throws(() => hashBytesInto(key, new Uint8Array(8), Uint32Array.of(0, 6), Uint32Array.of(2, 4), out), /key 1: bytes \[6, 6 \+ 4\)/);
  assert.equal([...out], [9, 9]);
});

// ---- SABSTATE_NATIVE selection, one child process per environment -------------------------------

interface Probe {
  ok: boolean;
  backend?: string;
  reason?: string;
  name?: string;
  code?: string;
  message?: string;
  stderr: string;
}

const PROBE = `
import { nativeStatus, hashBackend, nativeHash } from './src/internal/hash/native.ts';
try {
  const s = nativeStatus();
  if (hashBackend() !== s.backend || (nativeHash() === null) !== (s.backend === 'js')) throw new Error('inconsistent');
  console.log(JSON.stringify({ ok: true, backend: s.backend, reason: s.reason }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, name: e.name, code: e.code, message: e.message }));
}`;

function probe(env: Record<string, string | undefined>): Promise<Probe> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('SABSTATE_NATIVE')) childEnv[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PROBE], { cwd: root, env: childEnv });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve({ ...(JSON.parse(line) as Probe), stderr: err });
      } catch {
        reject(new Error(`probe exited ${code}: ${out}\n${err}`));
      }
    });
  });
}

const missing = join(tmpdir(), 'sabstate-no-such-dir', 'sabstate-hash.node');

test('SABSTATE_NATIVE=0: JS hash, the binary is not even looked at', async () => {
  const r = await probe({ SABSTATE_NATIVE: '0' });
  assert.equal([r.ok, r.backend, r.reason], [true, 'js', 'SABSTATE_NATIVE=0']);
});

test('SABSTATE_NATIVE unset, no binary: JS hash, quietly', async () => {
  const r = await probe({ SABSTATE_NATIVE_PATH: missing });
  assert.equal([r.ok, r.backend, r.reason], [true, 'js', 'binary not found']);
  assert.not.match(r.stderr, /Warning/);
});

test('SABSTATE_NATIVE=1, no binary: SabStateError ERR_NATIVE_UNAVAILABLE with a clear message', async () => {
  const r = await probe({ SABSTATE_NATIVE: '1', SABSTATE_NATIVE_PATH: missing });
  assert.equal([r.ok, r.name, r.code], [false, 'SabStateError', 'ERR_NATIVE_UNAVAILABLE']);
  assert.match(r.message ?? '', /not built: .*sabstate-hash\.node not found \(npm run build:native/);
});

test('a binary that does not load: JS with a warning under auto, ERR_NATIVE_UNAVAILABLE under 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sabstate-native-'));
  try {
    const bad = join(dir, 'sabstate-hash.node');
    writeFileSync(bad, 'not a shared library');
    const auto = await probe({ SABSTATE_NATIVE_PATH: bad });
    assert.equal([auto.ok, auto.backend], [true, 'js']);
    assert.match(auto.reason ?? '', /does not load/);
    assert.match(auto.stderr, /SABSTATE_NATIVE.*does not load/);
    const on = await probe({ SABSTATE_NATIVE: '1', SABSTATE_NATIVE_PATH: bad });
    assert.equal([on.ok, on.name, on.code], [false, 'SabStateError', 'ERR_NATIVE_UNAVAILABLE']);
    assert.match(on.message ?? '', /does not load/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SABSTATE_NATIVE=yes: rejected, one message form', async () => {
  const r = await probe({ SABSTATE_NATIVE: 'yes' });
  assert.equal([r.ok, r.name, r.message], [false, 'TypeError', 'SABSTATE_NATIVE must be 0, 1 or unset, got "yes"']);
});

ntest('SABSTATE_NATIVE unset or 1, binary built: native, self-test passed', async () => {
  const [auto, on] = await Promise.all([probe({}), probe({ SABSTATE_NATIVE: '1' })]);
  assert.equal([auto.ok, auto.backend, auto.reason], [true, 'native', 'loaded, self-test passed']);
  assert.equal([on.ok, on.backend], [true, 'native']);
});

test.run();
