/**
 * Codec format constants: the tag byte table, the known object shapes and the static string
 * dictionary of format version 1 (the layout itself is described in codec.ts).
 *
 * Everything in this file is part of the on-the-wire format: the tag values, the key lists of
 * the known shapes (their order included) and the dictionary (its order included). Changing any
 * of them changes the meaning of stored bytes, so it requires a new `kFormatVersion`; decoders
 * refuse bytes whose version byte they do not know.
 */

/** First byte of every encoded value. */
export const kFormatVersion = 1;

// ---- tags (one byte before every value) ------------------------------------------------------
export const kTagNull = 0x00;
export const kTagFalse = 0x01;
export const kTagTrue = 0x02;
/** float64, 8 bytes little-endian: every number that is not an int32 (doubles, -0, 2^31+...). */
export const kTagF64 = 0x03;
/** int32, 4 bytes little-endian (integers outside the inline range 0..31). */
export const kTagI32 = 0x04;
/** ASCII string of 64 characters or more: varint length, then one byte per character. */
export const kTagStrAscii = 0x05;
/** Well-formed non-ASCII string: varint UTF-8 byte length, then the UTF-8 bytes. */
export const kTagStrUtf8 = 0x06;
/** String with a lone surrogate: varint UTF-16 unit count, then 2 bytes per unit, LE. */
export const kTagStrUtf16 = 0x07;
/** Dictionary string 128..383: one byte (index - 128) follows. */
export const kTagDictExt = 0x08;
/** Array: varint count, then the items. */
export const kTagArray = 0x09;
/** Generic object: varint count, then count × (key as a string value, value). */
export const kTagObject = 0x0a;
/** Learned shape, first use in this value: varint count, varint byte length of the keys, the
 * key strings, then the values. */
export const kTagShapeDef = 0x0b;
/** Learned shape, later use: varint index of its SHAPE_DEF in this value, then the values. */
export const kTagShapeRef = 0x0c;
/** Known shape, exact keys in exact order: the values follow, nothing else (see kShapes). */
export const kTagPosition = 0x10;
export const kTagOrder = 0x11;
export const kTagPriceSource = 0x12;
/** Integers 0..31 inline: tag = kTagSmallIntBase + value. */
export const kTagSmallIntBase = 0x20;
export const kSmallIntLimit = 32;
/** ASCII strings of 0..63 characters inline: tag = kTagShortAsciiBase + length. */
export const kTagShortAsciiBase = 0x40;
export const kShortAsciiLimit = 64;
/** Dictionary strings 0..127 inline: tag = kTagDictBase + index. */
export const kTagDictBase = 0x80;
export const kDictInlineCount = 128;
export const kDictExtCount = 256;

// ---- sizes -------------------------------------------------------------------------------------
export const kF64Bytes = 8;
export const kI32Bytes = 4;
/** Bytes of a varint holding a 32-bit count, at most. */
export const kMaxVarintBytes = 5;
export const kVarintPayloadBits = 7;
export const kVarintMore = 0x80;
export const kVarintMask = 0x7f;
/** UTF-8 bytes per UTF-16 unit, at most (a surrogate pair is 2 units for 4 bytes). */
export const kMaxUtf8PerUnit = 3;
export const kUtf16Bytes = 2;
export const kAsciiLimit = 0x80;
/** SHAPE_DEFs an encoder writes into one value at most (later new shapes are plain OBJECTs). */
export const kMaxValueShapes = 64;
/** Nesting depth of arrays and objects accepted by both encoder and decoder. */
export const kMaxDepth = 1000;

// ---- known shapes ----------------------------------------------------------------------------
/** `Position.to_json_string()` of the validator, in its key order (orders at index 4). */
export const kPositionKeys = [
  'miner_hotkey',
  'position_uuid',
  'open_ms',
  'trade_pair',
  'orders',
  'current_return',
  'close_ms',
  'return_at_close',
  'net_leverage',
  'average_entry_price',
  'initial_entry_price',
  'position_type',
  'is_closed_position',
] as const;
export const kOrderKeys = ['order_type', 'leverage', 'price', 'processed_ms', 'order_uuid', 'price_sources'] as const;
export const kPriceSourceKeys = [
  'source',
  'timespan_ms',
  'open',
  'close',
  'vwap',
  'high',
  'low',
  'start_ms',
  'websocket',
  'lag_ms',
  'volume',
] as const;

// ---- static dictionary -----------------------------------------------------------------------
// Keys and enum values of the validator's JSON; a string equal to an entry is one byte (index
// < 128) or two. Keys of the known shapes come first; trade pair ids, then their names.
const kTradePairIds = [
  'BTCUSD', 'ETHUSD', 'SOLUSD', 'XRPUSD', 'DOGEUSD',
  'AUDCAD', 'AUDCHF', 'AUDUSD', 'AUDJPY', 'AUDNZD', 'CADCHF', 'CADJPY', 'CHFJPY', 'EURAUD',
  'EURCAD', 'EURUSD', 'EURCHF', 'EURGBP', 'EURJPY', 'EURNZD', 'NZDCAD', 'NZDCHF', 'NZDJPY',
  'NZDUSD', 'GBPAUD', 'GBPCAD', 'GBPCHF', 'GBPJPY', 'GBPNZD', 'GBPUSD', 'USDCAD', 'USDCHF',
  'USDJPY', 'USDMXN', 'XAUUSD', 'XAGUSD', 'SPX', 'DJI', 'NDX', 'VIX', 'FTSE', 'GDAXI',
];

function pairName(id: string): string {
  const kBaseLength = 3;
  const kQuoteLength = 3;
  return id.length === kBaseLength + kQuoteLength || id === 'DOGEUSD'
    ? `${id.slice(0, id.length - kQuoteLength)}/${id.slice(id.length - kQuoteLength)}`
    : id;
}

export const kDictionary: readonly string[] = [
  ...kPositionKeys,
  ...kOrderKeys,
  ...kPriceSourceKeys,
  // elimination rows, departed hotkeys, on-disk wrappers
  'hotkey', 'elimination_initiated_time_ms', 'dd', 'reason', 'price_info', 'return_info',
  'detected_ms', 'departed_hotkeys', 'eliminations',
  // fields of later validator versions
  'src', 'bid', 'ask', 'slippage', 'quote_usd_rate', 'usd_base_rate', 'value', 'execution_type',
  'limit_price', 'stop_loss', 'take_profit', 'is_closed', 'account_size', 'timestamp_ms',
  'trade_pair_id', 'quantity', 'margin_loan', 'bracket_orders', 'MARKET', 'LIMIT',
  // enum values
  'LONG', 'SHORT', 'FLAT',
  'TwelveData_ws', 'TwelveData_rest', 'Polygon_ws', 'Polygon_rest', 'Tiingo_ws', 'Tiingo_rest',
  'ZOMBIE', 'PLAGIARISM', 'MAX_TOTAL_DRAWDOWN', 'FAILED_CHALLENGE_PERIOD_TIME',
  'FAILED_CHALLENGE_PERIOD_DRAWDOWN', 'LIQUIDATED',
  ...kTradePairIds,
  ...kTradePairIds.map(pairName).filter((n) => n.includes('/')),
];

/** Longest dictionary entry: longer strings skip the dictionary lookup. */
export const kDictMaxLength = kDictionary.reduce((m, s) => Math.max(m, s.length), 0);

/** string → dictionary index. */
export const kDictIndex: ReadonlyMap<string, number> = new Map(kDictionary.map((s, i) => [s, i]));

if (kDictionary.length > kDictInlineCount + kDictExtCount || kDictIndex.size !== kDictionary.length) {
  throw new Error('codec-format: the dictionary has duplicates or too many entries');
}
