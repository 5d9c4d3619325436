/**
 * What the demo's threads share: the engine's declaration, the miners and trade pairs, the
 * deterministic order stream, the position update (the order path itself: order-path.ts).
 */
import { existsSync } from 'node:fs';
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

// The fixture readers, the PRNG and the TypeScript worker starter have one copy, in support/
// (shared with the tests and benchmarks; the demo runs from a checkout, through tsx, like them).
export { realPositionTexts, realDeparted } from '../../support/data.ts';
export { prng } from '../../support/prng.ts';
export { tsWorker } from '../../support/workers.ts';

export function fixturesPresent(): boolean {
  return existsSync(new URL('ptn-miner-positions.json', FIXTURES));
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** A deterministic SS58-looking 48-character hotkey. */
export function makeHotkey(rnd: () => number): string {
  let s = '5';
  for (let i = 0; i < 47; i++) s += B58[Math.floor(rnd() * B58.length)];
  return s;
}

/** Char codes of each byte's two hex digits: [2b] high, [2b + 1] low. */
const HEXC = new Uint16Array(512);
for (let b = 0; b < 256; b++) {
  const h = b.toString(16).padStart(2, '0');
  HEXC[2 * b] = h.charCodeAt(0);
  HEXC[2 * b + 1] = h.charCodeAt(1);
}
const DASH = 45;
/** The high and low hex digit of byte k of w (module functions: closures made per call allocated about 700 bytes a uuid). */
const hi = (w: number, k: number): number => HEXC[2 * ((w >>> (8 * k)) & 255)]!;
const lo = (w: number, k: number): number => HEXC[2 * ((w >>> (8 * k)) & 255) + 1]!;
/**
 * A version-4-shaped uuid from the seeded stream (four 32-bit draws; byte i is byte i & 3 of
 * draw i >> 2, low byte first), built as one string with no array or intermediate string (the
 * order path makes two per order).
 */
export function uuid(rnd: () => number): string {
  const w0 = (rnd() * 2 ** 32) >>> 0;
  const w1 = (rnd() * 2 ** 32) >>> 0;
  const w2 = (rnd() * 2 ** 32) >>> 0;
  const w3 = (rnd() * 2 ** 32) >>> 0;
  const b6 = ((w1 >>> 16) & 0x0f) | 0x40;
  const b8 = (w2 & 0x3f) | 0x80;
  return String.fromCharCode(
    hi(w0, 0), lo(w0, 0), hi(w0, 1), lo(w0, 1), hi(w0, 2), lo(w0, 2), hi(w0, 3), lo(w0, 3), DASH,
    hi(w1, 0), lo(w1, 0), hi(w1, 1), lo(w1, 1), DASH,
    HEXC[2 * b6]!, HEXC[2 * b6 + 1]!, hi(w1, 3), lo(w1, 3), DASH,
    HEXC[2 * b8]!, HEXC[2 * b8 + 1]!, hi(w2, 1), lo(w2, 1), DASH,
    hi(w2, 2), lo(w2, 2), hi(w2, 3), lo(w2, 3), hi(w3, 0), lo(w3, 0), hi(w3, 1), lo(w3, 1), hi(w3, 2), lo(w3, 2), hi(w3, 3), lo(w3, 3),
  );
}

export type Order = Record<string, unknown> & { order_type: string; leverage: number; price: number; processed_ms: number; order_uuid: string };
export type Position = Record<string, unknown> & {
  miner_hotkey: string;
  position_uuid: string;
  trade_pair: string | unknown[];
  orders: Order[];
  is_closed_position: boolean;
};

/**
 * The trade pair id of a position (or a head): `trade_pair` if it is a string, else the legacy
 * array's first item. The one copy the demo and the benchmarks use (the engine's own loader has
 * its checked twin, tradePairOf in src/ptn/tree.ts).
 */
export function tradePairIdOf(p: { trade_pair: string | unknown[] }): string {
  return typeof p.trade_pair === 'string' ? p.trade_pair : (p.trade_pair[0] as string);
}

/** A position without its orders, as positions.getOpenHead returns it and appendOrder takes it. */
export type PositionHead = Record<string, unknown> & {
  miner_hotkey: string;
  position_uuid: string;
  trade_pair: string | unknown[];
  orders: null;
  is_closed_position: boolean;
};

/** The head of a position opened by `order` (its first order). */
export function newHead(hotkey: string, tp: (typeof TRADE_PAIRS)[number], order: Order, newUuid: string): PositionHead {
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

/**
 * The validator's position update for one order (simplified from its Position.add_order), on the
 * head alone, IN PLACE (a head from getOpenHead is a fresh object: the order path updates it and
 * hands it to appendOrder): net leverage moves, a FLAT order (or a net leverage back to zero)
 * closes. Needs no earlier order. Returns `head`.
 */
export function updateHead(head: PositionHead, order: Order): PositionHead {
  const net = order.order_type === 'FLAT' ? 0 : Number(head.net_leverage) + order.leverage;
  const closed = order.order_type === 'FLAT' || Math.abs(net) < 1e-9;
  const ret = Number(head.current_return) * (1 + (order.price - Number(head.average_entry_price)) * 1e-6);
  head.net_leverage = closed ? 0 : net;
  head.current_return = ret;
  head.close_ms = closed ? order.processed_ms : null;
  head.position_type = closed ? 'FLAT' : head.position_type;
  head.is_closed_position = closed;
  return head;
}

/** The same update into a new object (`open` unchanged), or the head of a new position. */
export function nextHead(open: PositionHead | undefined, hotkey: string, tp: (typeof TRADE_PAIRS)[number], order: Order, newUuid: string): PositionHead {
  return open === undefined ? newHead(hotkey, tp, order, newUuid) : updateHead({ ...open }, order);
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
