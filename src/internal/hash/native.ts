/**
 * Loader of the optional native hash helper (native/, Rust over N-API), and the batch hashing
 * entry points that use it where it is faster than the JS hash.
 *
 * The helper computes exactly the hash of hash.ts (HalfSipHash-1-3 over UTF-16 code units,
 * hashString / hashPair, the 64-bit seed as k0/k1 halves), bit for bit; see native/src/lib.rs
 * for its exports table and how it reads SharedArrayBuffer memory. It is optional: sabstate is
 * complete without it, and a build without cargo has no binary.
 *
 * Selection. Nothing is loaded at import. The first call to `nativeHash()` / `hashBackend()`
 * decides, once per thread, from the environment:
 *
 * | SABSTATE_NATIVE | binary absent                | loads, self-test passes | self-test mismatch |
 * | --------------- | ---------------------------- | ----------------------- | ------------------ |
 * | unset or `auto` | JS                           | native                  | hard error         |
 * | `1`             | ERR_NATIVE_UNAVAILABLE       | native                  | hard error         |
 * | `0`             | JS (the binary is not read)  | JS                      | JS                 |
 *
 * A binary that exists but does not load (another platform's, a stale `abi`) counts as absent
 * under auto, with a process warning, and is ERR_NATIVE_UNAVAILABLE under `1`. The hard error is
 * a SabStateError ERR_NATIVE_UNAVAILABLE too (its message says "disagrees"): a helper that hashes
 * differently from the JS code would put keys on other stripes and slots than the threads that
 * use the JS hash, so it must never be used. The self-test runs every HASH_VECTORS row through
 * every entry point (single, batch, bytes in a SharedArrayBuffer at unaligned offsets).
 * SABSTATE_NATIVE_PATH overrides where the binary is looked for (tests, packaging).
 *
 * Where native wins (bench/hash.ts, native/README.md): not on single keys, where one N-API call
 * costs more than hashing a 55-character key in JS, so hash.ts stays the hot path for locks and
 * lookups. It wins on batches and on bytes already in a buffer: `hashStringsInto`,
 * `hashPairsInto` and `hashBytesInto` below use it from NATIVE_MIN_BATCH keys on, the JS hash
 * below that or when the backend is JS. Same results either way.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SabStateError } from '../../errors.ts';
import { HASH_VECTORS, type HashKey, halfSipHashBytes, hashKeyFromSeed, hashPair, hashString, utf16leBytes } from './hash.ts';

/** The exports of sabstate-hash.node (native/src/lib.rs); k0, k1 are the key's halves. */
export interface NativeModule {
  readonly abi: number;
  hashString(k0: number, k1: number, s: string): number;
  hashPair(k0: number, k1: number, a: string, b: string): number;
  hashStrings(k0: number, k1: number, keys: readonly string[], out: Uint32Array): Uint32Array;
  hashPairs(k0: number, k1: number, a: readonly string[], b: readonly string[] | string, out: Uint32Array): Uint32Array;
  hashBytes(k0: number, k1: number, bytes: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, out: Uint32Array): Uint32Array;
}

/** The version of the exports table this loader speaks (`abi` in native/src/lib.rs). */
export const NATIVE_ABI = 1;

/** The native helper, with the key as hash.ts passes it. `out` defaults to a new array. */
export interface NativeHash {
  hashString(key: HashKey, s: string): number;
  hashPair(key: HashKey, a: string, b: string): number;
  /** out[i] = hashString(key, keys[i]). */
  hashStrings(key: HashKey, keys: readonly string[], out?: Uint32Array): Uint32Array;
  /** out[i] = hashPair(key, a[i], b[i]), or hashPair(key, a[i], b) when b is one string. */
  hashPairs(key: HashKey, a: readonly string[], b: readonly string[] | string, out?: Uint32Array): Uint32Array;
  /**
   * out[i] = HalfSipHash-1-3 of bytes[offsets[i] .. offsets[i] + lengths[i]] (offsets and
   * lengths in bytes): hashString of a key stored as UTF-16LE, hashPair of a stored
   * LE32(a.length) ‖ a ‖ b. `bytes` may view a SharedArrayBuffer. RangeError if a key is out of
   * bounds (nothing written).
   */
  hashBytes(key: HashKey, bytes: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, out?: Uint32Array): Uint32Array;
}

export type NativeMode = 'auto' | 'on' | 'off';

export interface NativeStatus {
  readonly backend: 'native' | 'js';
  readonly mode: NativeMode;
  /** Where the binary was looked for. */
  readonly path: string;
  /** Why this backend: "loaded, self-test passed", "binary not found", "SABSTATE_NATIVE=0"... */
  readonly reason: string;
}

/**
 * Byte batches from this many keys on go native when the backend is native (bench/hash.ts).
 * Strings always use the JS hash: with its state in local variables it is as fast as one N-API
 * call for a single key and faster for batches (each key costs a string copy out of V8 on the
 * native side). Keys that already sit in a buffer are where native wins (about 10x).
 */
export const NATIVE_MIN_BATCH = 16;

/** Where the binary is looked for: SABSTATE_NATIVE_PATH, else native/sabstate-hash.node. */
export function nativeBinaryPath(): string {
  const p = process.env.SABSTATE_NATIVE_PATH;
  // src/internal/hash/native.ts and dist/internal/hash/native.js are both three levels below the root.
  return p !== undefined && p !== '' ? p : fileURLToPath(new URL('../../../native/sabstate-hash.node', import.meta.url));
}

function modeFromEnv(): NativeMode {
  const v = process.env.SABSTATE_NATIVE;
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === '1') return 'on';
  if (v === '0') return 'off';
  throw new TypeError(`SABSTATE_NATIVE must be 0, 1 or unset, got ${JSON.stringify(v)}`);
}

function unavailable(message: string, cause?: unknown): SabStateError {
  return new SabStateError(ErrorCode.NATIVE_UNAVAILABLE, message, cause === undefined ? undefined : { cause });
}

/** Wraps the raw module in the HashKey-taking interface. */
export function wrapNative(m: NativeModule): NativeHash {
  return {
    hashString: (key, s) => m.hashString(key.k0, key.k1, s),
    hashPair: (key, a, b) => m.hashPair(key.k0, key.k1, a, b),
    hashStrings: (key, keys, out = new Uint32Array(keys.length)) => m.hashStrings(key.k0, key.k1, keys, out),
    hashPairs: (key, a, b, out = new Uint32Array(a.length)) => m.hashPairs(key.k0, key.k1, a, b, out),
    hashBytes: (key, bytes, offsets, lengths, out = new Uint32Array(offsets.length)) =>
      m.hashBytes(key.k0, key.k1, bytes, offsets, lengths, out),
  };
}

/**
 * Checks a native module against HASH_VECTORS and the JS hash, through every entry point.
 * Throws ERR_NATIVE_UNAVAILABLE ("... disagrees ...") on the first difference.
 */
export function selfTest(m: NativeModule): void {
  const w = wrapNative(m);
  const fail = (what: string, got: unknown, want: number): never => {
    throw unavailable(
      `the native hash helper disagrees with the JS hash (${what}: got ${String(got)}, expected ${want}); ` +
        `rebuild it (npm run build:native) or set SABSTATE_NATIVE=0`,
    );
  };
  const seeds = [...new Set(HASH_VECTORS.map((v) => v[0]))];
  for (const seed of seeds) {
    const key = hashKeyFromSeed(seed);
    const rows = HASH_VECTORS.filter((v) => v[0] === seed);
    // The message bytes of every row, at odd offsets in a SharedArrayBuffer.
    const msgs = rows.map(([, a, b]) => {
      if (b === null) return utf16leBytes(a);
      const msg = new Uint8Array(4 + 2 * (a.length + b.length));
      new DataView(msg.buffer).setUint32(0, a.length, true);
      msg.set(utf16leBytes(a + b), 4);
      return msg;
    });
    const total = msgs.reduce((n, x) => n + x.length + 1, 1);
    const bytes = new Uint8Array(new SharedArrayBuffer(total));
    const offsets = new Uint32Array(rows.length);
    const lengths = new Uint32Array(rows.length);
    let at = 1;
    msgs.forEach((msg, i) => {
      bytes.set(msg, at);
      offsets[i] = at;
      lengths[i] = msg.length;
      at += msg.length + 1;
    });
    const viaBytes = w.hashBytes(key, bytes, offsets, lengths);
    const singles = rows.filter((r) => r[2] === null);
    const viaStrings = w.hashStrings(key, singles.map((r) => r[1]));
    const pairs = rows.filter((r) => r[2] !== null);
    const viaPairs = w.hashPairs(key, pairs.map((r) => r[1]), pairs.map((r) => r[2] ?? ''));
    let si = 0;
    let pi = 0;
    rows.forEach(([, a, b, want], i) => {
      const label = `seed 0x${seed.toString(16)}, ${JSON.stringify(b === null ? a : [a, b])}`;
      const js = b === null ? hashString(key, a) : hashPair(key, a, b);
      if (js !== want) fail(`JS hash of ${label}`, js, want);
      const one = b === null ? w.hashString(key, a) : w.hashPair(key, a, b);
      if (one !== want) fail(label, one, want);
      const batch = b === null ? viaStrings[si++] : viaPairs[pi++];
      if (batch !== want) fail(`batch ${label}`, batch, want);
      if (viaBytes[i] !== want) fail(`bytes ${label}`, viaBytes[i], want);
    });
    const same = w.hashPairs(key, ['a', 'abc'], 'BTCUSD');
    if (same[0] !== hashPair(key, 'a', 'BTCUSD')) fail('hashPairs with one b', same[0], hashPair(key, 'a', 'BTCUSD'));
    if (same[1] !== hashPair(key, 'abc', 'BTCUSD')) fail('hashPairs with one b', same[1], hashPair(key, 'abc', 'BTCUSD'));
  }
}

/**
 * Loads and self-tests the helper at `path` under `mode`, without caching: null means "use the
 * JS hash", with the reason in `status`. Throws as the table in the header says.
 */
export function loadNativeHash(mode: NativeMode, path: string): { hash: NativeHash | null; status: NativeStatus } {
  const js = (reason: string) => ({ hash: null, status: { backend: 'js' as const, mode, path, reason } });
  if (mode === 'off') return js('SABSTATE_NATIVE=0');
  if (!existsSync(path)) {
    if (mode === 'on') {
      throw unavailable(`SABSTATE_NATIVE=1 but the native hash helper is not built: ${path} not found (npm run build:native, needs cargo)`);
    }
    return js('binary not found');
  }
  let m: NativeModule;
  try {
    m = createRequire(import.meta.url)(path) as NativeModule;
    if (m.abi !== NATIVE_ABI) throw new Error(`its abi is ${String(m.abi)}, this loader speaks ${NATIVE_ABI}`);
  } catch (e) {
    const why = `the native hash helper at ${path} does not load: ${e instanceof Error ? e.message : String(e)}`;
    if (mode === 'on') throw unavailable(`SABSTATE_NATIVE=1 but ${why}`, e);
    process.emitWarning(`${why}; using the JS hash (npm run build:native to rebuild)`, { code: 'SABSTATE_NATIVE' });
    return js(why);
  }
  selfTest(m);
  return { hash: wrapNative(m), status: { backend: 'native', mode, path, reason: 'loaded, self-test passed' } };
}

let loaded: { hash: NativeHash | null; status: NativeStatus } | null = null;
let loadError: unknown = null;

function ensureLoaded(): { hash: NativeHash | null; status: NativeStatus } {
  if (loaded !== null) return loaded;
  if (loadError !== null) throw loadError;
  try {
    loaded = loadNativeHash(modeFromEnv(), nativeBinaryPath());
    return loaded;
  } catch (e) {
    loadError = e;
    throw e;
  }
}

/** The native helper when it is selected (see the header), else null. Loads on first call. */
export function nativeHash(): NativeHash | null {
  return ensureLoaded().hash;
}

/** Which hash backs the batch entry points on this thread. */
export function hashBackend(): 'native' | 'js' {
  return ensureLoaded().status.backend;
}

/** The backend, the mode, the binary's path, and why (for stats and diagnostics). */
export function nativeStatus(): NativeStatus {
  return ensureLoaded().status;
}

// ---- batch entry points: same results whichever backend runs them -------------------------------

/** out[i] = hashString(key, keys[i]). */
export function hashStringsInto(key: HashKey, keys: readonly string[], out: Uint32Array = new Uint32Array(keys.length)): Uint32Array {
  if (out.length < keys.length) throw new RangeError(`out has ${out.length} elements, ${keys.length} needed`);
  for (let i = 0; i < keys.length; i++) out[i] = hashString(key, keys[i]!);
  return out;
}

/** out[i] = hashPair(key, a[i], b[i]), or hashPair(key, a[i], b) when b is one string. */
export function hashPairsInto(
  key: HashKey,
  a: readonly string[],
  b: readonly string[] | string,
  out: Uint32Array = new Uint32Array(a.length),
): Uint32Array {
  if (typeof b !== 'string' && b.length !== a.length) throw new RangeError(`bs has ${b.length} elements, as has ${a.length}`);
  if (out.length < a.length) throw new RangeError(`out has ${out.length} elements, ${a.length} needed`);
  for (let i = 0; i < a.length; i++) out[i] = hashPair(key, a[i]!, typeof b === 'string' ? b : b[i]!);
  return out;
}

/** out[i] = HalfSipHash-1-3 of bytes[offsets[i] .. offsets[i] + lengths[i]]; see NativeHash. */
export function hashBytesInto(
  key: HashKey,
  bytes: Uint8Array,
  offsets: Uint32Array,
  lengths: Uint32Array,
  out: Uint32Array = new Uint32Array(offsets.length),
): Uint32Array {
  const n = nativeHash();
  if (n !== null && offsets.length >= NATIVE_MIN_BATCH) return n.hashBytes(key, bytes, offsets, lengths, out);
  const count = offsets.length;
  if (lengths.length !== count) throw new RangeError(`lengths has ${lengths.length} elements, offsets has ${count}`);
  if (out.length < count) throw new RangeError(`out has ${out.length} elements, ${count} needed`);
  // Same contract as the native call: read each offset and length once, check every key, then write.
  const res = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const off = offsets[i]!;
    const len = lengths[i]!;
    if (off + len > bytes.length) {
      throw new RangeError(`key ${i}: bytes [${off}, ${off} + ${len}) are outside bytes (byteLength ${bytes.length})`);
    }
    res[i] = halfSipHashBytes(key, bytes.subarray(off, off + len));
  }
  out.set(res);
  return out;
}
