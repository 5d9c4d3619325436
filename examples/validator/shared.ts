/**
 * What the demo's threads share: the engine's declaration, the miners and trade pairs, the
 * deterministic order stream, and the order path itself (the code a validator's order worker runs).
 */
import { readFileSync, existsSync } from 'node:fs';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { Engine } from '../../src/index.ts';

export const QUEUE = 'websockets';
export const COUNTERS = ['ordersIn', 'saved', 'rejectedEliminated', 'rejectedDeparted', 'staleRetries', 'noticesPopped', 'queueFullWaits', 'eliminated'] as const;
export const MAPS = ['accountSizes'] as const;

/** The engine's declaration for the demo: the queue, counters and maps every thread uses. */
export const generalOptions = {
  queues: { [QUEUE]: { capacity: 4096, maxMessageBytes: 4096 } },
  counters: [...COUNTERS],
  maps: [...MAPS],
};

/** 28 tradeable pairs of the validator (ids as in its TradePair enum), legacy array form. */
export const TRADE_PAIRS: [string, string, number, number, number][] = [
  ['BTCUSD', 'BTC/USD', 0.001, 0.01, 0.5], ['ETHUSD', 'ETH/USD', 0.001, 0.01, 0.5], ['SOLUSD', 'SOL/USD', 0.001, 0.01, 0.5],
  ['XRPUSD', 'XRP/USD', 0.001, 0.01, 0.5], ['DOGEUSD', 'DOGE/USD', 0.001, 0.01, 0.5], ['ADAUSD', 'ADA/USD', 0.001, 0.01, 0.5],
  ['AUDCAD', 'AUD/CAD', 7e-5, 0.001, 500], ['AUDJPY', 'AUD/JPY', 7e-5, 0.001, 500], ['AUDUSD', 'AUD/USD', 7e-5, 0.001, 500],
  ['CADCHF', 'CAD/CHF', 7e-5, 0.001, 500], ['CADJPY', 'CAD/JPY', 7e-5, 0.001, 500], ['CHFJPY', 'CHF/JPY', 7e-5, 0.001, 500],
  ['EURCAD', 'EUR/CAD', 7e-5, 0.001, 500], ['EURCHF', 'EUR/CHF', 7e-5, 0.001, 500], ['EURGBP', 'EUR/GBP', 7e-5, 0.001, 500],
  ['EURJPY', 'EUR/JPY', 7e-5, 0.001, 500], ['EURUSD', 'EUR/USD', 7e-5, 0.001, 500], ['GBPJPY', 'GBP/JPY', 7e-5, 0.001, 500],
  ['GBPUSD', 'GBP/USD', 7e-5, 0.001, 500], ['NZDUSD', 'NZD/USD', 7e-5, 0.001, 500], ['USDCAD', 'USD/CAD', 7e-5, 0.001, 500],
  ['USDCHF', 'USD/CHF', 7e-5, 0.001, 500], ['USDJPY', 'USD/JPY', 7e-5, 0.001, 500], ['USDMXN', 'USD/MXN', 7e-5, 0.001, 500],
  ['NZDJPY', 'NZD/JPY', 7e-5, 0.001, 500], ['GBPCAD', 'GBP/CAD', 7e-5, 0.001, 500], ['SPX', 'SPX', 5e-5, 0.001, 20],
  ['NDX', 'NDX', 5e-5, 0.001, 20],
];

export const FIXTURES = new URL('../../test/fixtures/ptn/', import.meta.url);

/** Real positions (text exactly as the Python validator wrote them). */
export function realPositionTexts(): string[] {
  return JSON.parse(readFileSync(new URL('ptn-miner-positions.json', FIXTURES), 'utf8')) as string[];
}
export function realDeparted(): Record<string, { detected_ms: number }> {
  return (JSON.parse(readFileSync(new URL('ptn-departed-hotkeys.json', FIXTURES), 'utf8')) as { departed_hotkeys: Record<string, { detected_ms: number }> }).departed_hotkeys;
}
export function fixturesPresent(): boolean {
  return existsSync(new URL('ptn-miner-positions.json', FIXTURES));
}

/** A small seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** A deterministic SS58-looking 48-character hotkey. */
export function makeHotkey(rnd: () => number): string {
  let s = '5';
  for (let i = 0; i < 47; i++) s += B58[Math.floor(rnd() * B58.length)];
  return s;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** A version-4-shaped uuid from the seeded stream (four 32-bit draws). */
export function uuid(rnd: () => number): string {
  const w = [0, 0, 0, 0].map(() => (rnd() * 2 ** 32) >>> 0);
  const b = (i: number): string => HEX[(w[i >> 2]! >>> ((i & 3) * 8)) & 255]!;
  const v = HEX[((w[1]! >>> 16) & 0x0f) | 0x40]!;
  const r = HEX[((w[2]! & 0x3f) | 0x80)]!;
  return `${b(0)}${b(1)}${b(2)}${b(3)}-${b(4)}${b(5)}-${v}${b(7)}-${r}${b(9)}-${b(10)}${b(11)}${b(12)}${b(13)}${b(14)}${b(15)}`;
}

/** Starts a TypeScript worker: registers tsx's loader in the worker thread, then imports the file. */
export function tsWorker(file: URL, options: WorkerOptions = {}): Worker {
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(file.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

export type Order = Record<string, unknown> & { order_type: string; leverage: number; price: number; processed_ms: number; order_uuid: string };
export type Position = Record<string, unknown> & {
  miner_hotkey: string;
  position_uuid: string;
  trade_pair: string | unknown[];
  orders: Order[];
  is_closed_position: boolean;
};

/** A position without its orders, as positions.getOpenHead returns it and appendOrder takes it. */
export type PositionHead = Record<string, unknown> & {
  miner_hotkey: string;
  position_uuid: string;
  trade_pair: string | unknown[];
  orders: null;
  is_closed_position: boolean;
};

/**
 * The validator's position update for one order (simplified from its Position.add_order), on the
 * head alone: net leverage moves, a FLAT order (or a net leverage back to zero) closes; the
 * order itself is appended by positions.appendOrder. Needs no earlier order.
 */
export function nextHead(open: PositionHead | undefined, hotkey: string, tp: (typeof TRADE_PAIRS)[number], order: Order, newUuid: string): PositionHead {
  if (open === undefined) {
    return {
      miner_hotkey: hotkey,
      position_uuid: newUuid,
      open_ms: order.processed_ms,
      trade_pair: tp,
      orders: null,
      current_return: 1.0,
      close_ms: null,
      return_at_close: 1.0,
      net_leverage: order.leverage,
      average_entry_price: order.price,
      initial_entry_price: order.price,
      position_type: order.order_type,
      is_closed_position: false,
    };
  }
  const net = order.order_type === 'FLAT' ? 0 : Number(open.net_leverage) + order.leverage;
  const closed = order.order_type === 'FLAT' || Math.abs(net) < 1e-9;
  return {
    ...open,
    net_leverage: closed ? 0 : net,
    current_return: Number(open.current_return) * (1 + (order.price - Number(open.average_entry_price)) * 1e-6),
    close_ms: closed ? order.processed_ms : null,
    position_type: closed ? 'FLAT' : open.position_type,
    is_closed_position: closed,
  };
}

/** The same update on a whole position (for stores without an append step): nextHead plus the order. */
export function nextPosition(open: Position | undefined, hotkey: string, tp: (typeof TRADE_PAIRS)[number], order: Order, newUuid: string): Position {
  const head = nextHead(open as unknown as PositionHead | undefined, hotkey, tp, order, newUuid);
  return { ...head, orders: open === undefined ? [order] : [...open.orders, order] };
}

export function engineTotals(engine: Engine): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of COUNTERS) out[c] = engine.general.counter(c).get();
  return out;
}
