/**
 * The header every domain's SharedArrayBuffer starts with, and its check on attach.
 *
 * Layout: the first 128 bytes (one line of its own, 32 Int32 slots) of every region.
 *
 * | slot          | name          | written by          | how                          |
 * | ------------- | ------------- | ------------------- | ---------------------------- |
 * | 0             | kMagic        | creator, once       | plain, before the buffer is shared |
 * | 1             | kVersion      | creator, once       | plain                        |
 * | 2             | kKind         | creator, once       | plain                        |
 * | 3, 4          | kSeedLo/Hi    | creator, once       | plain (the engine's hash key) |
 * | 5             | kParamCount   | creator, once       | plain                        |
 * | 6 .. 31       | kParams + i   | creator, once       | plain (domain sizes: stripes, capacities...) |
 *
 * Publication: the header is written before the buffer is handed to any other thread; handing a
 * SharedArrayBuffer to a worker (postMessage / workerData) is a synchronizing operation, so every
 * plain write above is visible to the attaching thread. Nobody writes the header afterwards.
 * Everything after byte 128 belongs to the domain's own structure.
 */
import { ErrorCode, SabStateError } from '../errors.ts';
import type { HashKey } from './hash/hash.ts';

export const HEADER_BYTES = 128;
/** Bytes of one cache line as the design fixes it (two 64-byte lines: adjacent-line prefetch). */
export const LINE_BYTES = 128;
export const LINE_INTS = LINE_BYTES / 4;

export const MAGIC = 0x53414253; // 'SABS'
/** Bumped whenever any structure's layout changes: an engine never attaches across versions. */
export const LAYOUT_VERSION = 1;

/** Domain kinds. One number per kind of region; add new ones at the end. */
export const RegionKind = {
  LOCKS: 1,
  HEAP: 2,
  TABLE: 3,
  RING: 4,
  CELLS: 5,
  GATE: 6,
  /** A small control region of one domain (writer mutex, generation words). */
  CONTROL: 7,
} as const;
export type RegionKindValue = (typeof RegionKind)[keyof typeof RegionKind];

const kMagic = 0;
const kVersion = 1;
const kKind = 2;
const kSeedLo = 3;
const kSeedHi = 4;
const kParamCount = 5;
const kParams = 6;
export const MAX_PARAMS = 32 - kParams;

export interface RegionSpec {
  readonly kind: RegionKindValue;
  readonly key: HashKey;
  /** Domain sizes, integers in the Int32 range; attach compares every one. */
  readonly params: readonly number[];
}

/** Rounds n up to a multiple of LINE_BYTES. */
export function alignLine(n: number): number {
  return Math.ceil(n / LINE_BYTES) * LINE_BYTES;
}

/**
 * Allocates a region of `bytes` bytes and writes its header. With `maxBytes` the buffer is
 * growable up to that size (Node 20: `new SharedArrayBuffer(n, { maxByteLength })`).
 */
export function createRegion(spec: RegionSpec, bytes: number, maxBytes?: number): SharedArrayBuffer {
  if (spec.params.length > MAX_PARAMS) throw new RangeError(`a region has at most ${MAX_PARAMS} params`);
  const size = Math.max(bytes, HEADER_BYTES);
  const sab =
    maxBytes !== undefined && maxBytes > size
      ? new SharedArrayBuffer(size, { maxByteLength: maxBytes })
      : new SharedArrayBuffer(size);
  const h = new Int32Array(sab, 0, HEADER_BYTES / 4);
  h[kMagic] = MAGIC;
  h[kVersion] = LAYOUT_VERSION;
  h[kKind] = spec.kind;
  h[kSeedLo] = spec.key.k0;
  h[kSeedHi] = spec.key.k1;
  h[kParamCount] = spec.params.length;
  spec.params.forEach((p, i) => {
    h[kParams + i] = p;
  });
  return sab;
}

/** Checks that `sab` is a region of exactly `spec`; throws ERR_LAYOUT_MISMATCH naming the difference. */
export function checkRegion(sab: unknown, spec: RegionSpec, what: string): SharedArrayBuffer {
  const fail = (why: string): never => {
    throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `${what}: ${why}`);
  };
  if (!(sab instanceof SharedArrayBuffer)) return fail('not a SharedArrayBuffer');
  if (sab.byteLength < HEADER_BYTES) return fail(`buffer of ${sab.byteLength} bytes has no header`);
  const h = new Int32Array(sab, 0, HEADER_BYTES / 4);
  if (h[kMagic] !== MAGIC) return fail('bad magic (not a sabstate region)');
  if (h[kVersion] !== LAYOUT_VERSION) {
    return fail(`layout version ${h[kVersion]}, this library reads version ${LAYOUT_VERSION}`);
  }
  if (h[kKind] !== spec.kind) return fail(`region kind ${h[kKind]}, expected ${spec.kind}`);
  if (h[kSeedLo] !== spec.key.k0 || h[kSeedHi] !== spec.key.k1) return fail('hash seed differs');
  if (h[kParamCount] !== spec.params.length) {
    return fail(`${h[kParamCount]} size params, expected ${spec.params.length}`);
  }
  spec.params.forEach((p, i) => {
    if (h[kParams + i] !== p) fail(`size param ${i} is ${h[kParams + i]}, expected ${p}`);
  });
  return sab;
}

/** The params stored in a region's header (no check). */
export function regionParams(sab: SharedArrayBuffer): number[] {
  const h = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const n = h[kParamCount] ?? 0;
  return Array.from(h.subarray(kParams, kParams + n));
}
