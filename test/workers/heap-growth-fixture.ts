/**
 * Shared by test/heap-growth.test.ts and its worker (heap-growth-worker.ts): the control words
 * of the round protocol and the deterministic data both sides build, so the worker checks what
 * it reads against values it computes itself.
 *
 * Round protocol on an Int32Array `ctl` (one writer per word):
 * - worker: ctl[kViews] = its heap views' length (heap.u8.length), then ctl[kReady] = k, notify;
 *   then it waits for ctl[kGo] === k and, as its FIRST touch of anything written in round k,
 *   runs round k's read path.
 * - main: waits for ctl[kReady] === k, writes the round's records so that every block lies past
 *   ctl[kViews] (so the worker's views cannot reach them: another thread grew the buffer after
 *   the worker made its views), then ctl[kCount], ctl[kSize], ctl[kGo] = k, notify.
 */
import type { Position } from '../../src/index.ts';

export const kReady = 0;
export const kGo = 1;
export const kViews = 2;
export const kCount = 3;
export const kSize = 4;
/** Engine mode: the departed and eliminations heaps' reserved bytes when the worker attached. */
export const kDepartedViews = 5;
export const kEliminationsViews = 6;

/** Value bytes of record i of round k (size bytes). */
export function pattern(k: number, i: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let j = 0; j < size; j++) out[j] = (k * 31 + i * 7 + j * 13 + (j >> 8)) & 0xff;
  return out;
}

/** Index of the first byte where u8[at..at+len) differs from pattern(k, i, size), -1 if equal. */
export function patternDiff(u8: Uint8Array, at: number, len: number, k: number, i: number, size: number): number {
  if (len !== size) return -2;
  for (let j = 0; j < size; j++) if (u8[at + j] !== ((k * 31 + i * 7 + j * 13 + (j >> 8)) & 0xff)) return j;
  return -1;
}

export const tableKey = (k: number, i: number): string => `round${k}-rec${i}`;

// ---- engine data (each domain grows well past its initial buffer) ------------------------------

export const kPositions = 300;
export const kHotkeys = 20;
export const kEliminations = 100;
export const kDeparted = 5000;
export const kMapEntries = 48;
export const kMapName = 'growth';

const blob = (seedChar: number, n: number, tag: number): string => String.fromCharCode(97 + (seedChar % 26)).repeat(n) + `#${tag}`;

export function growthPosition(i: number): Position {
  const orders = Array.from({ length: 8 }, (_, j) => ({
    order_uuid: `o${i}-${j}`, order_type: j % 2 ? 'SHORT' : 'LONG', price: 100 + i + j / 8, processed_ms: 1_700_000_000_000 + i * 10 + j,
    note: blob(i + j, 1500, i * 8 + j),
  }));
  return {
    miner_hotkey: `hk${i % kHotkeys}`, position_uuid: `pos-${i}`, open_ms: 1_700_000_000_000 + i, trade_pair: `TP${i}`,
    is_closed_position: i % 3 === 0, orders, ver: i,
  } as unknown as Position;
}

export function growthElimination(i: number): { hotkey: string; reason: string; i: number } {
  return { hotkey: `el-${i}`, reason: blob(i, 30_000, i), i };
}

export function departedKey(i: number): string {
  return `dep-${i}-`.padEnd(256, String.fromCharCode(97 + (i % 26)));
}

export function mapValue(i: number): { i: number; blob: string } {
  return { i, blob: blob(i * 3, 30_000, i) };
}
