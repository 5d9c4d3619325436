/**
 * A ring's messages in private memory: how push turns a message into bytes and a type tag (UTF-8
 * for a well-formed string, the bytes themselves, the JSON codec for the rest), and how pop turns
 * a slot's bytes back into the kind that was pushed. Thread-private: one per Ring; it never
 * touches the shared region except to copy out of it (ring.ts holds the protocol).
 */
import { ErrorCode, SabStateError } from '../../errors.ts';
import { decodeValue, encodeValue } from '../codec/codec.ts';
import type { RingMessage } from './queue.ts';

/** Type tags kept in kMeta so that pop returns the kind that was pushed. */
export const TAG_JSON = 0, TAG_STRING = 1, TAG_BYTES = 2;
const SLAB_BYTES = 64 * 1024;
const SLAB_MAX_VIEW = 4096;

export class RingMessages {
  /** The type tag of the last encode's bytes. */
  tag = TAG_JSON;
  readonly #name: string;
  readonly #maxMessageBytes: number;
  /** Private (non-shared) buffer: strings are encoded here, payloads copied out here. */
  #scratch: Uint8Array;
  /** Private slab that popped bytes messages are views of (see #bytesOut). */
  #slab = new ArrayBuffer(SLAB_BYTES);
  #slabOff = 0;
  #enc = new TextEncoder();
  #dec = new TextDecoder();

  constructor(name: string, maxMessageBytes: number) {
    this.#name = name;
    this.#maxMessageBytes = maxMessageBytes;
    this.#scratch = new Uint8Array(maxMessageBytes);
  }

  /**
   * The message's bytes (its tag in `tag`); they may alias private scratch, so the caller copies
   * them before the next encode. Throws ERR_VALUE_TOO_LARGE / ERR_INVALID_VALUE before the caller
   * touches the queue.
   */
  encode(msg: unknown): Uint8Array {
    let bytes: Uint8Array;
    if (typeof msg === 'string' && msg.isWellFormed()) {
      // Strings go as UTF-8; ill-formed ones (lone surrogates) go through the JSON codec, which
      // keeps them.
      const r = this.#enc.encodeInto(msg, this.#scratch);
      if (r.read < msg.length) this.#tooLarge(`a string of length ${msg.length}`);
      bytes = this.#scratch.subarray(0, r.written);
      this.tag = TAG_STRING;
    } else if (msg instanceof Uint8Array) {
      bytes = msg;
      this.tag = TAG_BYTES;
    } else {
      bytes = encodeValue(msg); // may alias the codec's scratch: copied by the caller before any encode
      this.tag = TAG_JSON;
    }
    if (bytes.length > this.#maxMessageBytes) this.#tooLarge(`a message of ${bytes.length} bytes`);
    return bytes;
  }

  /**
   * The message of `len` bytes at `from` in `u8` (the ring's shared slot: the caller holds the pop
   * lock, so no producer writes these bytes until it releases it) with type tag `tag`, decoded.
   * JSON is decoded in place: the decoder reads the slot directly (its views of the ring's buffer
   * are cached, decode.ts), so a pop makes no copy and no view of its own (issue 12: a view and a
   * copy per pop). Bytes are copied into a fresh view; strings go through a private copy.
   */
  decode(u8: Uint8Array, from: number, len: number, tag: number): RingMessage {
    if (tag === TAG_BYTES) {
      const out = this.#bytesOut(len);
      out.set(u8.subarray(from, from + len));
      return out;
    }
    if (tag === TAG_JSON) return decodeValue(u8, from, len);
    this.#scratch.set(u8.subarray(from, from + len));
    return this.#dec.decode(this.#scratch.subarray(0, len));
  }

  /**
   * A fresh view for a popped bytes message. Small ones are carved out of a private 64 KB slab
   * (as Node's Buffer pool does): allocating an ArrayBuffer per message costs about 2 µs, a view
   * about 30 ns. The view has a byteOffset (aligned to 8); the slab lives while a view does.
   */
  #bytesOut(len: number): Uint8Array {
    if (len > SLAB_MAX_VIEW) return new Uint8Array(len);
    if (this.#slabOff + len > SLAB_BYTES) {
      this.#slab = new ArrayBuffer(SLAB_BYTES);
      this.#slabOff = 0;
    }
    const view = new Uint8Array(this.#slab, this.#slabOff, len);
    this.#slabOff = (this.#slabOff + len + 7) & ~7;
    return view;
  }

  #tooLarge(what: string): never {
    throw new SabStateError(
      ErrorCode.VALUE_TOO_LARGE,
      `queue ${JSON.stringify(this.#name)}: ${what} exceeds maxMessageBytes ${this.#maxMessageBytes}`,
    );
  }
}
