/**
 * Seeded 32-bit hashing of keys, on JS strings as they are (no encoding step).
 *
 * Algorithm: HalfSipHash-1-3 (Aumasson & Bernstein's SipHash, 32-bit-word variant from the
 * reference implementation; the Linux kernel's `hsiphash` uses the same 1-3 round counts for
 * hash tables). It is a keyed PRF, so without the 64-bit seed nobody can choose hotkeys that pile
 * onto one lock stripe or one probe chain (README, guarantee 6); murmur-style hashes have
 * seed-independent multicollisions and would not give that. All arithmetic is 32-bit
 * (`+ | 0`, `<<`, `>>>`, `^`), which JavaScript does natively.
 *
 * Message bytes. A string is hashed as its UTF-16LE bytes, code unit by code unit (lone
 * surrogates included), so the result equals the reference HalfSipHash of those bytes: the
 * test vectors of the reference implementation check the rounds. A pair (a, b) is the message
 *   LE32(a.length) ‖ UTF16LE(a) ‖ UTF16LE(b)
 * which is unambiguous (the length says where a ends). Two code units make one 32-bit word,
 * the first in the low half. The final word is (byteLength & 0xff) << 24 | tail, where tail is
 * the last code unit when the unit count is odd.
 *
 * The native helper (native/) computes exactly this; `HASH_VECTORS` below pin it.
 */

/** A 64-bit key as two 32-bit halves (k0 = low 32 bits, k1 = high 32 bits of the seed). */
export interface HashKey {
  readonly k0: number;
  readonly k1: number;
}

/** Builds the key from a seed given as a bigint or a non-negative safe integer. */
export function hashKeyFromSeed(seed: bigint | number): HashKey {
  const s = BigInt.asUintN(64, BigInt(seed));
  return { k0: Number(s & 0xffffffffn) | 0, k1: Number(s >> 32n) | 0 };
}

/** The 64-bit seed of a key, as a bigint. */
export function seedFromHashKey(key: HashKey): bigint {
  return (BigInt(key.k1 >>> 0) << 32n) | BigInt(key.k0 >>> 0);
}

// The hot functions keep the four state words in local variables (V8 keeps them in registers;
// module-level `let`s cost about 3x). The round is therefore written out where it is used:
//   v0 += v1; v1 = rotl(v1, 5) ^ v0; v0 = rotl(v0, 16); v2 += v3; v3 = rotl(v3, 8) ^ v2;
//   v0 += v3; v3 = rotl(v3, 7) ^ v0; v2 += v1; v1 = rotl(v1, 13) ^ v2; v2 = rotl(v2, 16)

/** Final block then three finalization rounds (the "3" of 1-3). Returns an unsigned 32-bit value. */
function finish(v0: number, v1: number, v2: number, v3: number, b: number): number {
  v3 ^= b;
  for (let r = 0; r < 4; r++) {
    if (r === 1) {
      v0 ^= b;
      v2 ^= 0xff;
    }
    v0 = (v0 + v1) | 0; v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
    v0 = (v0 + v3) | 0; v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
    v2 = (v2 + v1) | 0; v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2; v2 = (v2 << 16) | (v2 >>> 16);
  }
  return (v1 ^ v3) >>> 0;
}

/** HalfSipHash-1-3 of the UTF-16LE bytes of `s`. */
export function hashString(key: HashKey, s: string): number {
  let v0 = key.k0;
  let v1 = key.k1;
  let v2 = 0x6c796765 ^ key.k0;
  let v3 = 0x74656462 ^ key.k1;
  const n = s.length;
  const even = n & ~1;
  for (let i = 0; i < even; i += 2) {
    const m = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    v3 ^= m;
    v0 = (v0 + v1) | 0; v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
    v0 = (v0 + v3) | 0; v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
    v2 = (v2 + v1) | 0; v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2; v2 = (v2 << 16) | (v2 >>> 16);
    v0 ^= m;
  }
  const tail = n & 1 ? s.charCodeAt(n - 1) : 0;
  return finish(v0, v1, v2, v3, (((n * 2) & 0xff) << 24) | tail);
}

/**
 * HalfSipHash-1-3 of LE32(a.length) ‖ UTF16LE(a) ‖ UTF16LE(b): the key of (hotkey, trade pair).
 * Three tight loops (the length word, a's pairs, the word that may straddle a and b, b's pairs):
 * the round is written out in each, as above.
 */
export function hashPair(key: HashKey, a: string, b: string): number {
  let v0 = key.k0;
  let v1 = key.k1;
  let v2 = 0x6c796765 ^ key.k0;
  let v3 = 0x74656462 ^ key.k1;
  const na = a.length;
  const nb = b.length;
  let m = na;
  v3 ^= m;
  v0 = (v0 + v1) | 0; v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0; v0 = (v0 << 16) | (v0 >>> 16);
  v2 = (v2 + v3) | 0; v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
  v0 = (v0 + v3) | 0; v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
  v2 = (v2 + v1) | 0; v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2; v2 = (v2 << 16) | (v2 >>> 16);
  v0 ^= m;
  const evenA = na & ~1;
  for (let i = 0; i < evenA; i += 2) {
    m = a.charCodeAt(i) | (a.charCodeAt(i + 1) << 16);
    v3 ^= m;
    v0 = (v0 + v1) | 0; v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
    v0 = (v0 + v3) | 0; v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
    v2 = (v2 + v1) | 0; v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2; v2 = (v2 << 16) | (v2 >>> 16);
    v0 ^= m;
  }
  let j = 0;
  const total = na + nb;
  if (na & 1) {
    // The last unit of a shares a word with the first unit of b, or is the tail.
    if (nb === 0) return finish(v0, v1, v2, v3, (((4 + total * 2) & 0xff) << 24) | a.charCodeAt(na - 1));
    m = a.charCodeAt(na - 1) | (b.charCodeAt(0) << 16);
    v3 ^= m;
    v0 = (v0 + v1) | 0; v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
    v0 = (v0 + v3) | 0; v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
    v2 = (v2 + v1) | 0; v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2; v2 = (v2 << 16) | (v2 >>> 16);
    v0 ^= m;
    j = 1;
  }
  const endB = j + ((nb - j) & ~1);
  for (; j < endB; j += 2) {
    m = b.charCodeAt(j) | (b.charCodeAt(j + 1) << 16);
    v3 ^= m;
    v0 = (v0 + v1) | 0; v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
    v0 = (v0 + v3) | 0; v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
    v2 = (v2 + v1) | 0; v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2; v2 = (v2 << 16) | (v2 >>> 16);
    v0 ^= m;
  }
  const tail = j < nb ? b.charCodeAt(nb - 1) : 0;
  return finish(v0, v1, v2, v3, (((4 + total * 2) & 0xff) << 24) | tail);
}

/**
 * Reference HalfSipHash-c-d over bytes, 32-bit output, for tests and vectors only. With c = 2,
 * d = 4 it reproduces the reference implementation's `vectors_hsip32`.
 */
export function halfSipHashBytes(key: HashKey, bytes: Uint8Array, c = 1, d = 3): number {
  let v0 = key.k0;
  let v1 = key.k1;
  let v2 = 0x6c796765 ^ key.k0;
  let v3 = 0x74656462 ^ key.k1;
  const round = (): void => {
    v0 = (v0 + v1) | 0; v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
    v0 = (v0 + v3) | 0; v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
    v2 = (v2 + v1) | 0; v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2; v2 = (v2 << 16) | (v2 >>> 16);
  };
  const n = bytes.length;
  const whole = n & ~3;
  for (let i = 0; i < whole; i += 4) {
    const m = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    v3 ^= m;
    for (let r = 0; r < c; r++) round();
    v0 ^= m;
  }
  let b = (n & 0xff) << 24;
  for (let i = whole; i < n; i++) b |= bytes[i]! << (8 * (i - whole));
  v3 ^= b;
  for (let r = 0; r < c; r++) round();
  v0 ^= b;
  v2 ^= 0xff;
  for (let r = 0; r < d; r++) round();
  return (v1 ^ v3) >>> 0;
}

/** UTF-16LE bytes of a string, code unit by code unit (tests, vectors, the native helper's input). */
export function utf16leBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    out[2 * i] = u & 0xff;
    out[2 * i + 1] = u >>> 8;
  }
  return out;
}

/**
 * Fixed vectors: [seed, a, b | null, hash]. b === null means hashString(a), else hashPair(a, b).
 * Any implementation of the sabstate hash (the native helper included) must reproduce them.
 * They were computed by this file and cross-checked against halfSipHashBytes, which in turn
 * reproduces the reference implementation's published HalfSipHash-2-4 vectors.
 */
export const HASH_VECTORS: ReadonlyArray<readonly [bigint, string, string | null, number]> = [
  [0x0n, "", null, 0xb650bf13],
  [0x0n, "a", null, 0x61d25cd9],
  [0x0n, "ab", null, 0xf23b7a21],
  [0x0n, "abc", null, 0x30054881],
  [0x0n, "5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th", null, 0xa4608442],
  [0x0n, "BTCUSD", null, 0xa5a6239e],
  [0x0n, "\ud800", null, 0xcab987de],
  [0x0n, "😀x", null, 0xcd566141],
  [0x0n, "é", null, 0xb2a84374],
  [0x706050403020100n, "", null, 0x5814c896],
  [0x706050403020100n, "a", null, 0x7b5c068b],
  [0x706050403020100n, "ab", null, 0x2656fa89],
  [0x706050403020100n, "abc", null, 0x6c0503c1],
  [0x706050403020100n, "5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th", null, 0x10003458],
  [0x706050403020100n, "BTCUSD", null, 0xac32ea60],
  [0x706050403020100n, "\ud800", null, 0x9a32ae21],
  [0x706050403020100n, "😀x", null, 0x964e1207],
  [0x706050403020100n, "é", null, 0xd6c5591a],
  [0xdeadbeefcafebaben, "", null, 0x4d61873e],
  [0xdeadbeefcafebaben, "a", null, 0xc4673500],
  [0xdeadbeefcafebaben, "ab", null, 0xd056e152],
  [0xdeadbeefcafebaben, "abc", null, 0xa630b087],
  [0xdeadbeefcafebaben, "5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th", null, 0x2bc5bc5c],
  [0xdeadbeefcafebaben, "BTCUSD", null, 0x9bc5d4f3],
  [0xdeadbeefcafebaben, "\ud800", null, 0xfbdce39f],
  [0xdeadbeefcafebaben, "😀x", null, 0xa2560800],
  [0xdeadbeefcafebaben, "é", null, 0xb6b790cc],
  [0x706050403020100n, "", "", 0xaff4f31f],
  [0x706050403020100n, "", "BTCUSD", 0x17b6d503],
  [0x706050403020100n, "", "\udc00z", 0x86c3a89d],
  [0x706050403020100n, "a", "", 0x5ddc94d7],
  [0x706050403020100n, "a", "BTCUSD", 0xb948b158],
  [0x706050403020100n, "a", "\udc00z", 0x0bd3f1a6],
  [0x706050403020100n, "ab", "", 0x51b351e5],
  [0x706050403020100n, "ab", "BTCUSD", 0x05a86c7c],
  [0x706050403020100n, "ab", "\udc00z", 0x8bc86586],
  [0x706050403020100n, "abc", "", 0x69d2be0b],
  [0x706050403020100n, "abc", "BTCUSD", 0xde05732e],
  [0x706050403020100n, "abc", "\udc00z", 0x73359a03],
  [0x706050403020100n, "5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th", "", 0xaac451e4],
  [0x706050403020100n, "5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th", "BTCUSD", 0xdd279ae9],
  [0x706050403020100n, "5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th", "\udc00z", 0x870615d2],
  [0x706050403020100n, "BTCUSD", "", 0xa01d90b7],
  [0x706050403020100n, "BTCUSD", "BTCUSD", 0xdaaa3cf6],
  [0x706050403020100n, "BTCUSD", "\udc00z", 0xf70dfbc6],
  [0x706050403020100n, "\ud800", "", 0x41e31038],
  [0x706050403020100n, "\ud800", "BTCUSD", 0x22edfeec],
  [0x706050403020100n, "\ud800", "\udc00z", 0x84340d5f],
  [0x706050403020100n, "😀x", "", 0xddcc6a96],
  [0x706050403020100n, "😀x", "BTCUSD", 0x9831194b],
  [0x706050403020100n, "😀x", "\udc00z", 0x5fbf95ab],
  [0x706050403020100n, "é", "", 0xea620654],
  [0x706050403020100n, "é", "BTCUSD", 0xdbc363af],
  [0x706050403020100n, "é", "\udc00z", 0xae51e5a1],
];
