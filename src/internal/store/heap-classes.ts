/**
 * The heap's size classes and block words: pure arithmetic, no shared state (the allocator and
 * its crash tables: heap.ts, heap-lists.ts, heap-merge.ts; its slots: heap-layout.ts).
 *
 * Classes: 16..256 bytes in steps of 16, then eight per power of two (288, 320, ..., 512, 576,
 * ...): at most 12.5 % internal waste, a class computed with one clz32. A free block of `size`
 * bytes sits on list floorClass(size) (the largest class <= size), so every block on list c can
 * serve a request of class c.
 *
 * Block: a header of kBlockHeaderBytes, then the payload. Blocks are 16-byte aligned, sizes are
 * multiples of 16, at least kMinBlock.
 *
 * | Int32 of block | name        | written by                  | how |
 * | -------------- | ----------- | --------------------------- | --- |
 * | 0              | kBlockSize  | allocating / freeing / splitting / merging thread (owner) | plain; size, + kFreeBit while free; 0 never (a dead bump's hole) |
 * | 1              | kBlockStamp | allocating thread           | plain; from kStampClock, never 0 |
 * | 2 (payload)    | kBlockNext  | pushing thread              | Atomics.store; next free / deferred block while not allocated |
 */

/** Number of size classes: 16 of 16-byte steps up to 256, then 8 per power of two up to 2^31. */
export const kClassCount = 16 + 8 * 23;
export const kBlockHeaderBytes = 8;
/**
 * Smallest block: header and the free-list link, 16-byte aligned. A split can so always cut a
 * block to exactly its class: no allocation carries a remainder it could not give back, and the
 * bytes in use do not depend on the heap's history (only an exact fit and large blocks differ).
 */
export const kMinBlock = 16;
export const kBlockSize = 0;
export const kBlockStamp = 1;
export const kBlockNext = 2;
export const kFreeBit = 1;
/** Low bits of a size word that a block size never has (sizes are multiples of 16). */
export const kSizeLowBits = 15;
/** Bytes of a block header plus the free-list link: what free() and checkBlock() touch first. */
export const kBlockPrefix = 16;
/**
 * Large blocks, from class kLargeClass (over 4 KiB) up: cut to the request rounded to 16 bytes,
 * not to the class (the class's 12.5 % is too much where one block is a large share of the
 * heap); their allocation takes the best fit (the smallest free block that holds it, the lowest
 * on a tie), and when none fits, merges if anything was freed since the last merge and looks
 * again, before it carves more. Measured on the 70 % property (test/heap-reuse.test.ts; issue 11
 * notes, s3): at 4 MiB, 2000 runs, 16 fail with over 8 KiB and the class list's first fit, 15
 * with this; an ideal best fit coalescing every free fails 12 (bench/heap-fit-rate.ts).
 */
export const kLargeClass = 48;

/** Class of a block of n bytes (header included): the smallest class of at least n bytes. */
export function classOf(n: number): number {
  if (n <= 256) return n <= 16 ? 0 : (n - 1) >> 4;
  const e = 31 - Math.clz32(n - 1); // n in (2^e, 2^(e+1)], 8 <= e <= 30
  // ceil((n - 2^e) / 2^(e-3)) - 1: which eighth step above 2^e
  return 16 + (e - 8) * 8 + ((n - (1 << e) - 1) >> (e - 3));
}

function computeClassSize(c: number): number {
  if (c < 16) return 16 * (c + 1);
  const e = 8 + ((c - 16) >> 3);
  return 2 ** e + (((c - 16) & 7) + 1) * 2 ** (e - 3);
}
const kClassSizes = Float64Array.from({ length: kClassCount }, (_, c) => computeClassSize(c));

/** Bytes of a block of class c (header included). */
export function classSize(c: number): number {
  return kClassSizes[c]!;
}

/** The free list of a free block of `size` bytes: the largest class of at most `size` bytes. */
export function floorClass(size: number): number {
  const c = classOf(size);
  return kClassSizes[c] === size ? c : c - 1;
}

/** A size word's block size (0 if the word is no block's). */
export function sizeOfWord(w: number): number {
  const size = w & ~kSizeLowBits;
  return (w & kSizeLowBits & ~kFreeBit) === 0 && size >= kMinBlock ? size : 0;
}
