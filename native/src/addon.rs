//! The N-API glue: argument checks, copies out of V8, the exports table. See lib.rs for the
//! API and the memory-safety rules this file follows.

use core::ffi::{c_char, CStr};
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};

use crate::napi::*;
use crate::siphash::{hash_bytes, hash_pair_units, hash_units};

/// Version of the JS-facing table above. Bump when an export changes shape.
const ABI: u32 = 1;

/// Strings up to this many units (minus the terminator napi writes) are copied to the stack.
/// Keys are at most 256 units (README: keys; MAX_KEY_LENGTH in src/errors.ts), so the heap buffer is for odd callers only.
const STACK_UNITS: usize = 320;

/// Handles made by `napi_get_element` are released every this many elements.
const SCOPE_CHUNK: usize = 1024;

/// An exception is pending in JS; the callback returns NULL and node throws it.
struct Thrown;
type R<T> = Result<T, Thrown>;

fn c_message(msg: &str) -> Vec<u8> {
    let mut v: Vec<u8> = msg.bytes().filter(|&b| b != 0).collect();
    v.push(0);
    v
}

unsafe fn type_error(env: napi_env, msg: &str) -> Thrown {
    let m = c_message(msg);
    napi_throw_type_error(env, c"ERR_INVALID_ARG_TYPE".as_ptr(), m.as_ptr() as *const c_char);
    Thrown
}

unsafe fn range_error(env: napi_env, msg: &str) -> Thrown {
    let m = c_message(msg);
    napi_throw_range_error(env, c"ERR_OUT_OF_RANGE".as_ptr(), m.as_ptr() as *const c_char);
    Thrown
}

/// The first N arguments; missing ones are `undefined` (napi fills them in).
unsafe fn args<const N: usize>(env: napi_env, info: napi_callback_info) -> R<[napi_value; N]> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let st = napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut());
    if st != NAPI_OK {
        return Err(type_error(env, "sabstate-hash: cannot read the call's arguments"));
    }
    Ok(argv)
}

unsafe fn key(env: napi_env, a0: napi_value, a1: napi_value) -> R<(u32, u32)> {
    let mut k0 = 0i32;
    let mut k1 = 0i32;
    if napi_get_value_int32(env, a0, &mut k0) != NAPI_OK || napi_get_value_int32(env, a1, &mut k1) != NAPI_OK {
        return Err(type_error(env, "k0 and k1 must be numbers (the seed's low and high 32 bits)"));
    }
    Ok((k0 as u32, k1 as u32))
}

/// Where a string argument came from, for the error message.
#[derive(Clone, Copy)]
enum Arg {
    Named(&'static str),
    Elem(&'static str, usize),
}

unsafe fn not_a_string(env: napi_env, at: Arg) -> Thrown {
    match at {
        Arg::Named(n) => type_error(env, &format!("{n} must be a string")),
        Arg::Elem(n, i) => type_error(env, &format!("{n}[{i}] must be a string")),
    }
}

/// A reusable destination for copying one string's UTF-16 code units out of V8.
struct StrBuf {
    stack: [MaybeUninit<u16>; STACK_UNITS],
    heap: Vec<u16>,
}

impl StrBuf {
    fn new() -> StrBuf {
        StrBuf { stack: [MaybeUninit::uninit(); STACK_UNITS], heap: Vec::new() }
    }

    /// Copies the string's code units and returns them. napi copies at most bufsize - 1 units
    /// and reports how many it copied, so a full stack buffer may mean truncation: then ask the
    /// length and copy again into the heap buffer.
    unsafe fn read(&mut self, env: napi_env, v: napi_value, at: Arg) -> R<&[u16]> {
        let mut len = 0usize;
        let st = napi_get_value_string_utf16(env, v, self.stack.as_mut_ptr() as *mut u16, STACK_UNITS, &mut len);
        if st != NAPI_OK {
            return Err(not_a_string(env, at));
        }
        if len < STACK_UNITS - 1 {
            // napi initialized the first `len` units.
            return Ok(core::slice::from_raw_parts(self.stack.as_ptr() as *const u16, len));
        }
        if napi_get_value_string_utf16(env, v, ptr::null_mut(), 0, &mut len) != NAPI_OK {
            return Err(not_a_string(env, at));
        }
        self.heap.clear();
        self.heap.resize(len + 1, 0);
        let mut got = 0usize;
        if napi_get_value_string_utf16(env, v, self.heap.as_mut_ptr(), len + 1, &mut got) != NAPI_OK {
            return Err(not_a_string(env, at));
        }
        Ok(&self.heap[..got.min(len)])
    }

    /// Copies the string into an owned vector (for a `bs` shared by every pair).
    unsafe fn read_owned(&mut self, env: napi_env, v: napi_value, at: Arg) -> R<Vec<u16>> {
        Ok(self.read(env, v, at)?.to_vec())
    }
}

unsafe fn is_string(env: napi_env, v: napi_value) -> bool {
    let mut t: napi_valuetype = -1;
    napi_typeof(env, v, &mut t) == NAPI_OK && t == NAPI_STRING
}

unsafe fn array_length(env: napi_env, v: napi_value, name: &str) -> R<usize> {
    let mut is = false;
    let mut n = 0u32;
    if napi_is_array(env, v, &mut is) != NAPI_OK || !is || napi_get_array_length(env, v, &mut n) != NAPI_OK {
        return Err(type_error(env, &format!("{name} must be an array of strings")));
    }
    Ok(n as usize)
}

/// Data pointer and element count of a typed array of the wanted type. Valid until JavaScript
/// runs again on this thread (it could detach or shrink a non-shared buffer).
unsafe fn typed(env: napi_env, v: napi_value, want: napi_typedarray_type, name: &str) -> R<(*mut u8, usize)> {
    let mut is = false;
    let mut ty: napi_typedarray_type = -1;
    let mut len = 0usize;
    let mut data: *mut core::ffi::c_void = ptr::null_mut();
    let ok = napi_is_typedarray(env, v, &mut is) == NAPI_OK
        && is
        && napi_get_typedarray_info(env, v, &mut ty, &mut len, &mut data, ptr::null_mut(), ptr::null_mut()) == NAPI_OK
        && ty == want;
    if !ok {
        let kind = if want == NAPI_UINT8_ARRAY { "Uint8Array" } else { "Uint32Array" };
        return Err(type_error(env, &format!("{name} must be a {kind}")));
    }
    Ok((data as *mut u8, len))
}

/// Copies `res` into the Uint32Array `out`, fetching its memory now (after any JavaScript ran).
unsafe fn store(env: napi_env, out: napi_value, res: &[u32]) -> R<()> {
    let (p, len) = typed(env, out, NAPI_UINT32_ARRAY, "out")?;
    if len < res.len() {
        return Err(range_error(env, &format!("out has {len} elements, {} needed", res.len())));
    }
    // Uint32Array data is 4-byte aligned; out may sit in a SharedArrayBuffer, hence atomics.
    let words = p as *const AtomicU32;
    for (i, &h) in res.iter().enumerate() {
        (*words.add(i)).store(h, Relaxed);
    }
    Ok(())
}

/// Runs `f(i)` for i in 0..n inside handle scopes of SCOPE_CHUNK elements, so the handles made
/// by napi_get_element are released as we go.
unsafe fn chunked(env: napi_env, n: usize, mut f: impl FnMut(usize) -> R<()>) -> R<()> {
    let mut start = 0;
    while start < n {
        let end = n.min(start + SCOPE_CHUNK);
        let mut scope: napi_handle_scope = ptr::null_mut();
        if napi_open_handle_scope(env, &mut scope) != NAPI_OK {
            return Err(type_error(env, "sabstate-hash: cannot open a handle scope"));
        }
        let mut r = Ok(());
        for i in start..end {
            r = f(i);
            if r.is_err() {
                break;
            }
        }
        napi_close_handle_scope(env, scope);
        r?;
        start = end;
    }
    Ok(())
}

unsafe fn element(env: napi_env, arr: napi_value, i: usize) -> R<napi_value> {
    let mut v: napi_value = ptr::null_mut();
    // A failure here is a getter that threw (its exception is pending) or an index past 2^32.
    if napi_get_element(env, arr, i as u32, &mut v) != NAPI_OK {
        return Err(type_error(env, "sabstate-hash: cannot read an array element"));
    }
    Ok(v)
}

// ---- the exports ---------------------------------------------------------------------------

unsafe fn hash_string_impl(env: napi_env, info: napi_callback_info) -> R<u32> {
    let [a0, a1, s] = args::<3>(env, info)?;
    let (k0, k1) = key(env, a0, a1)?;
    let mut buf = StrBuf::new();
    Ok(hash_units(k0, k1, buf.read(env, s, Arg::Named("s"))?))
}

unsafe fn hash_pair_impl(env: napi_env, info: napi_callback_info) -> R<u32> {
    let [a0, a1, a, b] = args::<4>(env, info)?;
    let (k0, k1) = key(env, a0, a1)?;
    let mut ba = StrBuf::new();
    let mut bb = StrBuf::new();
    let ua = ba.read(env, a, Arg::Named("a"))?;
    let ub = bb.read(env, b, Arg::Named("b"))?;
    Ok(hash_pair_units(k0, k1, ua, ub))
}

unsafe fn hash_strings_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    let [a0, a1, keys, out] = args::<4>(env, info)?;
    let (k0, k1) = key(env, a0, a1)?;
    let n = array_length(env, keys, "keys")?;
    let (_, out_len) = typed(env, out, NAPI_UINT32_ARRAY, "out")?;
    if out_len < n {
        return Err(range_error(env, &format!("out has {out_len} elements, {n} needed")));
    }
    let mut res = Vec::with_capacity(n);
    let mut buf = StrBuf::new();
    chunked(env, n, |i| {
        let v = element(env, keys, i)?;
        res.push(hash_units(k0, k1, buf.read(env, v, Arg::Elem("keys", i))?));
        Ok(())
    })?;
    store(env, out, &res)?;
    Ok(out)
}

unsafe fn hash_pairs_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    let [a0, a1, as_, bs, out] = args::<5>(env, info)?;
    let (k0, k1) = key(env, a0, a1)?;
    let n = array_length(env, as_, "as")?;
    let mut ba = StrBuf::new();
    let mut bb = StrBuf::new();
    // bs: one string for every pair (copied once), or an array as long as `as`.
    let shared_b = if is_string(env, bs) { Some(bb.read_owned(env, bs, Arg::Named("bs"))?) } else { None };
    if shared_b.is_none() {
        let nb = array_length(env, bs, "bs")?;
        if nb != n {
            return Err(range_error(env, &format!("bs has {nb} elements, as has {n}")));
        }
    }
    let (_, out_len) = typed(env, out, NAPI_UINT32_ARRAY, "out")?;
    if out_len < n {
        return Err(range_error(env, &format!("out has {out_len} elements, {n} needed")));
    }
    let mut res = Vec::with_capacity(n);
    chunked(env, n, |i| {
        let va = element(env, as_, i)?;
        let ua = ba.read(env, va, Arg::Elem("as", i))?;
        let h = match &shared_b {
            Some(ub) => hash_pair_units(k0, k1, ua, ub),
            None => {
                let vb = element(env, bs, i)?;
                hash_pair_units(k0, k1, ua, bb.read(env, vb, Arg::Elem("bs", i))?)
            }
        };
        res.push(h);
        Ok(())
    })?;
    store(env, out, &res)?;
    Ok(out)
}

unsafe fn hash_bytes_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    let [a0, a1, bytes, offsets, lengths, out] = args::<6>(env, info)?;
    let (k0, k1) = key(env, a0, a1)?;
    // From here to the last read no JavaScript runs, so these pointers stay valid.
    let (pb, nbytes) = typed(env, bytes, NAPI_UINT8_ARRAY, "bytes")?;
    let (po, n) = typed(env, offsets, NAPI_UINT32_ARRAY, "offsets")?;
    let (pl, nl) = typed(env, lengths, NAPI_UINT32_ARRAY, "lengths")?;
    if nl != n {
        return Err(range_error(env, &format!("lengths has {nl} elements, offsets has {n}")));
    }
    let (_, out_len) = typed(env, out, NAPI_UINT32_ARRAY, "out")?;
    if out_len < n {
        return Err(range_error(env, &format!("out has {out_len} elements, {n} needed")));
    }
    let bytes_at = pb as *const AtomicU8;
    let offs = po as *const AtomicU32;
    let lens = pl as *const AtomicU32;
    let mut res = Vec::with_capacity(n);
    for i in 0..n {
        // Each offset and length is read once: another thread may be changing them.
        let off = (*offs.add(i)).load(Relaxed) as usize;
        let len = (*lens.add(i)).load(Relaxed) as usize;
        match off.checked_add(len) {
            Some(end) if end <= nbytes => {}
            _ => {
                return Err(range_error(
                    env,
                    &format!("key {i}: bytes [{off}, {off} + {len}) are outside bytes (byteLength {nbytes})"),
                ))
            }
        }
        let base = bytes_at.add(off);
        res.push(hash_bytes(k0, k1, len, |j| (*base.add(j)).load(Relaxed)));
    }
    store(env, out, &res)?;
    Ok(out)
}

unsafe fn ret_u32(env: napi_env, r: R<u32>) -> napi_value {
    let mut v: napi_value = ptr::null_mut();
    if let Ok(h) = r {
        napi_create_uint32(env, h, &mut v);
    }
    v
}

unsafe fn ret_value(r: R<napi_value>) -> napi_value {
    r.unwrap_or(ptr::null_mut())
}

unsafe extern "C" fn js_hash_string(env: napi_env, info: napi_callback_info) -> napi_value {
    ret_u32(env, hash_string_impl(env, info))
}
unsafe extern "C" fn js_hash_pair(env: napi_env, info: napi_callback_info) -> napi_value {
    ret_u32(env, hash_pair_impl(env, info))
}
unsafe extern "C" fn js_hash_strings(env: napi_env, info: napi_callback_info) -> napi_value {
    ret_value(hash_strings_impl(env, info))
}
unsafe extern "C" fn js_hash_pairs(env: napi_env, info: napi_callback_info) -> napi_value {
    ret_value(hash_pairs_impl(env, info))
}
unsafe extern "C" fn js_hash_bytes(env: napi_env, info: napi_callback_info) -> napi_value {
    ret_value(hash_bytes_impl(env, info))
}

type Callback = unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value;

/// Module entry point, called by node once per JS context (main thread and each worker).
///
/// # Safety
/// Called by node with a valid `env` and `exports` object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    let exports_table: [(&CStr, Callback); 5] = [
        (c"hashString", js_hash_string),
        (c"hashPair", js_hash_pair),
        (c"hashStrings", js_hash_strings),
        (c"hashPairs", js_hash_pairs),
        (c"hashBytes", js_hash_bytes),
    ];
    for (name, cb) in exports_table {
        let mut f: napi_value = ptr::null_mut();
        if napi_create_function(env, name.as_ptr(), usize::MAX, Some(cb), ptr::null_mut(), &mut f) != NAPI_OK
            || napi_set_named_property(env, exports, name.as_ptr(), f) != NAPI_OK
        {
            return ptr::null_mut();
        }
    }
    let mut abi: napi_value = ptr::null_mut();
    if napi_create_uint32(env, ABI, &mut abi) != NAPI_OK
        || napi_set_named_property(env, exports, c"abi".as_ptr(), abi) != NAPI_OK
    {
        return ptr::null_mut();
    }
    exports
}
