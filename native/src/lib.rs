//! sabstate-hash: the optional N-API hashing helper of sabstate.
//!
//! Algorithm. HalfSipHash-1-3 (Aumasson & Bernstein's SipHash, 32-bit-word variant of the
//! reference implementation; one compression round per word, three finalization rounds), keyed by
//! the engine's 64-bit seed split into k0 = low and k1 = high 32 bits. It computes exactly what
//! src/internal/hash/hash.ts computes, bit for bit (siphash.rs; HASH_VECTORS pin both):
//!   hashString(s)  = HalfSipHash-1-3(UTF16LE(s))                      code unit by code unit,
//!   hashPair(a, b) = HalfSipHash-1-3(LE32(a.length) ‖ UTF16LE(a) ‖ UTF16LE(b))   lone surrogates
//!   hashBytes      = HalfSipHash-1-3(bytes)                           included.
//! So hashing the bytes of a string already stored UTF-16LE in a buffer gives its hashString, and
//! hashing a stored `LE32(len a) ‖ a ‖ b` record gives its hashPair.
//!
//! JS API (module.exports of sabstate-hash.node; src/internal/hash/native.ts wraps it, nobody else
//! calls it). k0, k1 are int32 or uint32 numbers (taken modulo 2^32); results are uint32.
//!
//! | export                                         | returns | does                                      |
//! | ---------------------------------------------- | ------- | ----------------------------------------- |
//! | `abi`                                          | 1       | version of this table; the loader checks it |
//! | `hashString(k0, k1, s)`                        | number  | one string                                |
//! | `hashPair(k0, k1, a, b)`                       | number  | one pair                                  |
//! | `hashStrings(k0, k1, keys, out)`               | out     | out[i] = hashString(keys[i])              |
//! | `hashPairs(k0, k1, as, bs, out)`               | out     | out[i] = hashPair(as[i], bs[i]); `bs` may be one string for every i |
//! | `hashBytes(k0, k1, bytes, offsets, lengths, out)` | out  | out[i] = HalfSipHash-1-3 of bytes[offsets[i] .. offsets[i] + lengths[i]] |
//!
//! `keys`, `as`, `bs` are arrays of strings; `bytes` a Uint8Array (over an ArrayBuffer or a
//! SharedArrayBuffer, growable or not); `offsets`, `lengths`, `out` Uint32Arrays, offsets and
//! lengths in bytes; `out` at least as long as the input. Bad arguments throw a TypeError
//! (`ERR_INVALID_ARG_TYPE`) or RangeError (`ERR_OUT_OF_RANGE`) and leave `out` unchanged: every
//! result is computed into a local buffer first and copied to `out` only when all succeeded.
//!
//! Memory safety: copy or read, never hold.
//! - Strings are copied out of V8 (`napi_get_value_string_utf16`, into a stack buffer, a heap
//!   buffer past 320 units) and hashed from the copy.
//! - Typed-array memory is read through raw pointers with relaxed atomic loads (and `out` written
//!   with relaxed atomic stores), never through a `&[u8]`: a SharedArrayBuffer may be written by
//!   other threads while we read, which would be a data race (undefined behaviour) for plain Rust
//!   references, and is a defined (if meaningless) read with atomics. Consistency of what is read
//!   is the caller's business (the tables copy keys under their seqlock).
//! - Every offset + length is checked against the view's byte length, read once at the start of
//!   the call, with overflow-checked arithmetic, before a byte is read. A SharedArrayBuffer can
//!   only grow, never shrink or move, so a range in bounds at the start stays mapped.
//! - No pointer outlives the call, and none is held across a call that can run JavaScript:
//!   `hashStrings` / `hashPairs` read array elements (`napi_get_element` can run a getter, which
//!   could resize or detach `out`), so they fetch `out`'s pointer and length afresh after the loop.
//!   `hashBytes` runs no JavaScript between fetching its pointers and its last read.
//! - No global state: the addon is context-aware and loads in every worker thread. Panics abort
//!   (profile.release), they never unwind into node; slices are indexed with bounds checks, raw
//!   pointers only inside the ranges checked above.
//!
//! Files: siphash.rs (the hash, pure Rust, unit-tested by `cargo test`), addon.rs (the N-API glue
//! and the exports table), napi.rs (the N-API C declarations), ../build.rs (link flags).

// The hash is plain Rust; the N-API glue is left out of `cargo test` builds, whose test
// executable could not link the napi_* symbols that only node provides.
mod siphash;
#[cfg(not(test))]
mod addon;
#[cfg(not(test))]
mod napi;
