/** Shared by test/engine.test.ts, test/snapshot.test.ts and their worker (engine-worker.ts). */
import type { EngineHandle, Position } from '../../src/index.ts';

export interface AllData {
  mode: 'all';
  handle: EngineHandle;
  flag: SharedArrayBuffer;
  hk: string;
  /** Position texts to save (each under its own (hotkey, trade pair) lock). */
  positions: string[];
  lockRounds: number;
  queue: string;
  messages: number;
  counter: string;
  map: string;
}
export interface HoldData {
  mode: 'hold';
  handle: EngineHandle;
  flag: SharedArrayBuffer;
  keys: [string, string][];
  /** Release the locks after this long (default: hold until terminated). */
  holdMs?: number;
}
export interface SaverData {
  mode: 'saver';
  handle: EngineHandle;
  flag: SharedArrayBuffer;
  hk: string;
  tradePairs: string[];
}
export interface AllResult {
  threadId: number;
  saves: number;
}

export function saverPosition(hk: string, tp: string, ver: number): Position {
  const orders = Array.from({ length: (ver % 7) + 1 }, (_, i) => ({
    order_type: i % 2 ? 'SHORT' : 'LONG', leverage: 0.1 * (i + 1), price: 100 + ver, processed_ms: 1_700_000_000_000 + ver * 10 + i,
    order_uuid: `${tp}-${ver}-${i}`, ver,
  }));
  return {
    miner_hotkey: hk, position_uuid: `${hk}-${tp}`, open_ms: 1_700_000_000_000, trade_pair: tp, orders,
    current_return: 1 + ver / 1e6, is_closed_position: false, ver,
  } as unknown as Position;
}
