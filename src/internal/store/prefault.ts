/**
 * Prefault (`createEngine({ prefault })`): every page of the engine's shared memory that the
 * order path would otherwise touch for the first time, touched once at creation instead, by the
 * creating thread, before the handle exists anywhere else.
 *
 * Why: a SharedArrayBuffer's pages are given memory by the kernel on their first write (a minor
 * page fault: 0.5-1 µs on bare Linux, about 17 µs on the 2-core VM the benchmarks run on). The
 * tables (records, open index, per-hotkey index: 16 MiB at the defaults) are first-touched at
 * random as keys arrive, and the positions heap grows by every stored order (about 500 bytes:
 * one fresh 4 KiB page every ~8 orders), so without this about one order in nine paid a fault
 * (issue 12). Moving the touch ahead onto some later order only moves the same faults around
 * (one order then pays many: a worse max); touching at creation takes them off the order path.
 * The price is resident memory from the start: every buffer's current length (about 20 MiB at
 * the defaults, most of it the three positions tables, plus each declared queue's ring), plus the
 * positions heap's headroom when `prefault` is a number of bytes.
 *
 * Algorithm: for each SharedArrayBuffer of the handle, one `Atomics.add(i32, i, 0)` per 4 KiB
 * page of its current length: a write (so the page gets its own memory, not the shared zero
 * page a read would map) that leaves every word as it was (restored state is kept; memory past
 * a heap's kTop stays zero, as heap-sweep.ts checks). With a number n, the positions heap is
 * first grown to cover n bytes past its top (kTop, after a restore), in steps of kGrowStep,
 * capped at its maxBytes, and those pages touched too. The growth is what the first bump past
 * byteLength would do (heap-lists.ts ensure); the heap's views cover the longer buffer lazily.
 *
 * Slots: none of its own. It writes no word's value (adds of 0) and reads kTop (heap-layout.ts)
 * once; the only shared state it changes is the heap buffer's byteLength (grow, a SeqCst
 * read-modify-write of the shared length), before any other thread can see the buffer.
 *
 * CRASH TABLE (a thread terminated right after the step). Prefault runs inside createEngine,
 * before `engine.handle()` can have been passed to any worker, so nobody else is attached and
 * there is nothing to recover; and it changes no word, so even a reader would see no difference.
 *
 * | protocol | after step                       | leaves                                   | recovery |
 * | -------- | -------------------------------- | ---------------------------------------- | -------- |
 * | prefault | heap grown (sab.grow)            | a longer buffer, all zero past kTop: what a bump's growth leaves | none needed: the bump area is zero; the creator's death means no engine was handed out |
 * | prefault | some pages touched (adds of 0)   | every word unchanged, some pages resident | none needed |
 */
import { kGrowStep, kTop } from './heap-layout.ts';

/** The stride of the touch: the smallest page size of the platforms Node runs on. */
export const kTouchStride = 4096;

/** Every SharedArrayBuffer reachable from a handle (plain data: objects, arrays, buffers), each once. */
export function buffersOf(handle: unknown): SharedArrayBuffer[] {
  const out = new Set<SharedArrayBuffer>();
  const seen = new Set<object>();
  const walk = (v: unknown): void => {
    if (v instanceof SharedArrayBuffer) {
      out.add(v);
      return;
    }
    if (typeof v !== 'object' || v === null || seen.has(v) || ArrayBuffer.isView(v)) return;
    seen.add(v);
    for (const x of Object.values(v)) walk(x);
  };
  walk(handle);
  return [...out];
}

/** Touches every page of `sab` from byte `from` to `to` (default: its length) once, changing no word. Returns the pages touched. */
export function touchPages(sab: SharedArrayBuffer, from = 0, to = sab.byteLength): number {
  const i32 = new Int32Array(sab, 0, sab.byteLength >> 2);
  const end = Math.min(to, i32.length << 2);
  let n = 0;
  for (let p = from & ~(kTouchStride - 1); p < end; p += kTouchStride) {
    Atomics.add(i32, p >> 2, 0);
    n++;
  }
  return n;
}

/**
 * Grows a heap's buffer (created by heap-layout.ts createHeapHandle) to hold `headroom` bytes past
 * its top, capped at maxBytes, as the first bump past byteLength would (heap-lists.ts ensure).
 * Creation only: no other thread may use the heap yet. Returns the buffer's new length.
 */
export function growHeap(heap: { readonly sab: SharedArrayBuffer; readonly maxBytes: number }, headroom: number): number {
  const top = Atomics.load(new Int32Array(heap.sab, 0, kTop + 1), kTop);
  const end = Math.min(heap.maxBytes, top + headroom);
  if (end > heap.sab.byteLength) heap.sab.grow(Math.min(heap.maxBytes, Math.ceil(end / kGrowStep) * kGrowStep));
  return heap.sab.byteLength;
}

/**
 * `createEngine({ prefault })`: with a number, the positions heap first grown to that many bytes
 * past its top; then every buffer of the handle touched through its length. Returns the pages touched.
 */
export function prefaultEngine(
  handle: { readonly positions: { readonly heap: { readonly sab: SharedArrayBuffer; readonly maxBytes: number } } }, prefault: true | number,
): number {
  if (typeof prefault === 'number' && prefault > 0) growHeap(handle.positions.heap, prefault);
  let pages = 0;
  for (const sab of buffersOf(handle)) pages += touchPages(sab);
  return pages;
}
