/**
 * Named 64-bit counters: one BigInt64 cell per counter, each on its own 128-byte line, all the
 * counters of an engine in one region (RegionKind.CELLS, params [count]).
 *
 * Algorithm: none beyond one read-modify-write. `add(n)` is `Atomics.add` on a BigInt64Array
 * (a single sequentially consistent RMW: no lost update, no CAS loop); `get()` is `Atomics.load`.
 * The cell is exact modulo 2^64 (it wraps to negative past 2^63 - 1, like any int64). Values come
 * back as numbers: exact while |value| <= Number.MAX_SAFE_INTEGER (2^53 - 1, i.e. 9e15 events,
 * some 285 years at a million adds per second), rounded to the nearest double beyond that;
 * `getBigInt()` returns the exact cell. The BigInt conversion costs an allocation per call, which
 * is cheaper than a two-word CAS loop on an Int32 pair and keeps the add a single atomic RMW.
 *
 * Region (64-bit slots; the names live in the handle, in the same order):
 *
 * | slot                          | name   | written by        | how        | publishes     |
 * | ----------------------------- | ------ | ----------------- | ---------- | ------------- |
 * | header (bytes 0..127)         |        | creator, once     | plain      | sharing the buffer |
 * | kCell0 + i * kCellStride      | cell i | any thread        | Atomics.add | itself (no plain data) |
 *
 * Ordering: nothing is published through a counter; each add is one SC RMW, so the values a
 * thread sees only grow (for non-negative n) and every add is counted exactly once.
 *
 * Crash table: every operation is one atomic step, so there is no step between two to die in.
 *
 * | operation | a thread terminated ...          | leaves                            | recovery |
 * | --------- | -------------------------------- | --------------------------------- | -------- |
 * | add(n)    | before its Atomics.add           | the cell as it was (not counted)  | none needed |
 * | add(n)    | after its Atomics.add            | the cell counted (the caller never saw the value) | none needed |
 * | get()     | anywhere                         | nothing (a load)                  | none needed |
 */
import { ErrorCode, SabStateError, describe } from '../../errors.ts';
import type { HashKey } from '../hash/hash.ts';
import { HEADER_BYTES, LINE_BYTES, RegionKind, checkRegion, createRegion } from '../region.ts';
import type { RegionSpec } from '../region.ts';

/** BigInt64 index of cell 0 (just after the header) and of the stride between cells (one line). */
const kCell0 = HEADER_BYTES / 8;
const kCellStride = LINE_BYTES / 8;

export function countersSpec(key: HashKey, count: number): RegionSpec {
  return { kind: RegionKind.CELLS, key, params: [count] };
}

export function countersRegionBytes(count: number): number {
  return HEADER_BYTES + count * LINE_BYTES;
}

/** Allocates a region of `count` zeroed counter cells. */
export function createCountersRegion(key: HashKey, count: number): SharedArrayBuffer {
  return createRegion(countersSpec(key, count), countersRegionBytes(count));
}

/**
 * A named 64-bit counter (`engine.general.counter(name)`), on its own cache line; every update is one
 * atomic add.
 */
export class Counter {
  readonly name: string;
  #cells: BigInt64Array;
  #i: number;

  /** @internal built by Counters; `cells` spans the whole region. */
  constructor(cells: BigInt64Array, index: number, name: string) {
    this.#cells = cells;
    this.#i = kCell0 + index * kCellStride;
    this.name = name;
  }

  /**
   * Adds `n` (a safe integer, default 1; negative subtracts) and returns the new value as a
   * number. Throws ERR_INVALID_VALUE (counter unchanged) for anything else.
   * @throws {@link SabStateError} `ERR_INVALID_VALUE` if `n` is not a safe integer.
   */
  add(n = 1): number {
    if (n === 1) return Number(Atomics.add(this.#cells, this.#i, 1n) + 1n);
    if (!Number.isSafeInteger(n)) {
      throw new SabStateError(
        ErrorCode.INVALID_VALUE,
        `counter ${JSON.stringify(this.name)}: add(n) needs a safe integer (a number), got ${describe(n)}`,
      );
    }
    const d = BigInt(n);
    return Number(BigInt.asIntN(64, Atomics.add(this.#cells, this.#i, d) + d));
  }

  /** The current value as a number (see the range note at the top of the file). */
  get(): number {
    return Number(Atomics.load(this.#cells, this.#i));
  }

  /** The exact 64-bit value. */
  getBigInt(): bigint {
    return Atomics.load(this.#cells, this.#i);
  }
}

/** Every counter of a region, by name. */
export class Counters {
  #byName = new Map<string, Counter>();

  /** Attaches to a counters region; ERR_LAYOUT_MISMATCH unless it holds exactly `names.length` cells. */
  constructor(sab: unknown, key: HashKey, names: readonly string[]) {
    const region = checkRegion(sab, countersSpec(key, names.length), 'counters');
    if (region.byteLength !== countersRegionBytes(names.length)) {
      throw new SabStateError(ErrorCode.LAYOUT_MISMATCH, `counters: region of ${region.byteLength} bytes`);
    }
    const cells = new BigInt64Array(region);
    names.forEach((name, i) => this.#byName.set(name, new Counter(cells, i, name)));
  }

  get(name: string): Counter | undefined {
    return this.#byName.get(name);
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }

  /** name -> value, as numbers. */
  values(): Array<[string, number]> {
    return [...this.#byName].map(([name, c]) => [name, c.get()]);
  }
}
