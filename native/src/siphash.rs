//! HalfSipHash-1-3 exactly as src/internal/hash/hash.ts computes it: 32-bit words, one compression
//! round per message word, three finalization rounds, 32-bit tag `v1 ^ v3`.
//!
//! Three ways to feed the message, all producing the reference HalfSipHash of the same bytes:
//! - [`Units`]: UTF-16 code units, two per little-endian word (the first in the low half), with
//!   an optional leading 32-bit word (the `LE32(a.length)` prefix of a pair). This is how
//!   `hashString` and `hashPair` see a JS string, lone surrogates included.
//! - [`hash_bytes`]: arbitrary bytes through a byte reader (the shared-memory entry point).
//!
//! Pure Rust, no N-API here, so `cargo test` runs it without node.

/// The four 32-bit state words.
#[derive(Clone, Copy)]
pub struct Sip {
    v0: u32,
    v1: u32,
    v2: u32,
    v3: u32,
}

impl Sip {
    /// Key = the 64-bit seed as two halves: k0 = low 32 bits, k1 = high 32 bits.
    #[inline(always)]
    pub fn new(k0: u32, k1: u32) -> Sip {
        Sip { v0: k0, v1: k1, v2: 0x6c79_6765 ^ k0, v3: 0x7465_6462 ^ k1 }
    }

    #[inline(always)]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(5);
        self.v1 ^= self.v0;
        self.v0 = self.v0.rotate_left(16);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(8);
        self.v3 ^= self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(7);
        self.v3 ^= self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13);
        self.v1 ^= self.v2;
        self.v2 = self.v2.rotate_left(16);
    }

    /// One message word, one compression round (the "1" of 1-3).
    #[inline(always)]
    pub fn absorb(&mut self, m: u32) {
        self.v3 ^= m;
        self.round();
        self.v0 ^= m;
    }

    /// Final block `b = (byteLength & 0xff) << 24 | tail`, then three rounds (the "3" of 1-3).
    #[inline(always)]
    pub fn finish(mut self, b: u32) -> u32 {
        self.v3 ^= b;
        self.round();
        self.v0 ^= b;
        self.v2 ^= 0xff;
        self.round();
        self.round();
        self.round();
        self.v1 ^ self.v3
    }
}

/// Streams 32-bit words and UTF-16 code units into a [`Sip`], two units per word. A unit left
/// over at the end of one slice pairs with the first unit of the next (hashPair streams a then
/// b without concatenating them, like hash.ts).
pub struct Units {
    sip: Sip,
    pending: u32,
    has_pending: bool,
    bytes: usize,
}

impl Units {
    #[inline(always)]
    pub fn new(k0: u32, k1: u32) -> Units {
        Units { sip: Sip::new(k0, k1), pending: 0, has_pending: false, bytes: 0 }
    }

    /// A whole little-endian word. Only called first (the pair's length prefix), so never
    /// while a unit is pending.
    #[inline(always)]
    pub fn word(&mut self, w: u32) {
        debug_assert!(!self.has_pending);
        self.sip.absorb(w);
        self.bytes += 4;
    }

    #[inline(always)]
    pub fn units(&mut self, u: &[u16]) {
        self.bytes += 2 * u.len();
        let mut s = u;
        if self.has_pending {
            match s.split_first() {
                Some((&first, rest)) => {
                    self.sip.absorb(self.pending | (u32::from(first) << 16));
                    self.has_pending = false;
                    s = rest;
                }
                None => return,
            }
        }
        let mut pairs = s.chunks_exact(2);
        for p in &mut pairs {
            self.sip.absorb(u32::from(p[0]) | (u32::from(p[1]) << 16));
        }
        if let [last] = pairs.remainder() {
            self.pending = u32::from(*last);
            self.has_pending = true;
        }
    }

    #[inline(always)]
    pub fn finish(self) -> u32 {
        let tail = if self.has_pending { self.pending } else { 0 };
        self.sip.finish((((self.bytes & 0xff) as u32) << 24) | tail)
    }
}

/// hashString: the UTF-16LE bytes of the string.
#[inline]
pub fn hash_units(k0: u32, k1: u32, s: &[u16]) -> u32 {
    let mut h = Units::new(k0, k1);
    h.units(s);
    h.finish()
}

/// hashPair: LE32(a.length) ‖ UTF16LE(a) ‖ UTF16LE(b). `a.len()` is at most 2^32 - 1 units
/// (JS strings are shorter than 2^30), so the cast is exact.
#[inline]
pub fn hash_pair_units(k0: u32, k1: u32, a: &[u16], b: &[u16]) -> u32 {
    let mut h = Units::new(k0, k1);
    h.word(a.len() as u32);
    h.units(a);
    h.units(b);
    h.finish()
}

/// HalfSipHash-1-3 of `n` bytes given by `byte(i)` for i in 0..n: the reference algorithm on
/// bytes, equal to hash.ts's `halfSipHashBytes(key, bytes)` (c = 1, d = 3). The reader decides
/// how memory is read (the N-API glue reads shared memory with relaxed atomic loads).
#[inline(always)]
pub fn hash_bytes(k0: u32, k1: u32, n: usize, byte: impl Fn(usize) -> u8) -> u32 {
    let mut sip = Sip::new(k0, k1);
    let whole = n & !3;
    let mut i = 0;
    while i < whole {
        let m = u32::from(byte(i))
            | (u32::from(byte(i + 1)) << 8)
            | (u32::from(byte(i + 2)) << 16)
            | (u32::from(byte(i + 3)) << 24);
        sip.absorb(m);
        i += 4;
    }
    let mut b = ((n & 0xff) as u32) << 24;
    while i < n {
        b |= u32::from(byte(i)) << (8 * (i - whole));
        i += 1;
    }
    sip.finish(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u64) -> (u32, u32) {
        (seed as u32, (seed >> 32) as u32)
    }

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    // A few rows of HASH_VECTORS (src/internal/hash/hash.ts); the node tests check all of them.
    #[test]
    fn vectors() {
        let (k0, k1) = key(0);
        assert_eq!(hash_units(k0, k1, &[]), 0xb650bf13);
        assert_eq!(hash_units(k0, k1, &utf16("abc")), 0x30054881);
        assert_eq!(hash_units(k0, k1, &[0xd800]), 0xcab987de);
        let (k0, k1) = key(0x706050403020100);
        assert_eq!(hash_units(k0, k1, &utf16("😀x")), 0x964e1207);
        assert_eq!(hash_pair_units(k0, k1, &utf16("a"), &utf16("BTCUSD")), 0xb948b158);
        assert_eq!(hash_pair_units(k0, k1, &[0xd800], &[0xdc00, 0x7a]), 0x84340d5f);
        assert_eq!(hash_pair_units(k0, k1, &utf16("abc"), &[]), 0x69d2be0b);
        let (k0, k1) = key(0xdeadbeefcafebabe);
        assert_eq!(hash_units(k0, k1, &utf16("BTCUSD")), 0x9bc5d4f3);
    }

    #[test]
    fn bytes_equal_units() {
        let (k0, k1) = key(0x0123456789abcdef);
        for s in ["", "a", "ab", "abc", "5DUSnf8Cv8TG5pxmYB6EzRuHxmNQK6DUc3FxCuFpFhgSZ9Th"] {
            let u = utf16(s);
            let bytes: Vec<u8> = u.iter().flat_map(|x| x.to_le_bytes()).collect();
            assert_eq!(hash_bytes(k0, k1, bytes.len(), |i| bytes[i]), hash_units(k0, k1, &u));
            let mut msg = (u.len() as u32).to_le_bytes().to_vec();
            msg.extend_from_slice(&bytes);
            msg.extend_from_slice(&[0x42, 0, 0x43, 0]);
            assert_eq!(hash_bytes(k0, k1, msg.len(), |i| msg[i]), hash_pair_units(k0, k1, &u, &[0x42, 0x43]));
        }
    }
}
