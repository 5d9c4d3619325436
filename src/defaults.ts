/**
 * Every default of the engine's options and of a thread's caches, in one object (the README's
 * capacity table gives each with what happens at its limit). Sized for the validator: 256
 * hotkeys x 51 trade pairs, positions up to 100 KB. The option checkers (options.ts and each
 * domain's resolver) read them from here and nowhere else.
 */
export const DEFAULTS = Object.freeze({
  /** Lock stripes (options.lockStripes): a power of two. */
  lockStripes: 4096,
  /** options.positions: 131072 positions, a 1 GiB heap (growable). */
  positions: Object.freeze({ maxRecords: 131072, maxBytes: 2 ** 30 }),
  /** options.eliminations: 4096 rows; heap bytes per row in the default maxBytes (two tables). */
  eliminations: Object.freeze({ maxRecords: 4096, bytesPerRecord: 2 * 2048 }), // two sets (A and B) of rows of up to ~1.5 KB
  /**
   * options.departed: 16384 hotkeys (the validator has about 370 after two years); heap bytes
   * per record in the default maxBytes: the block class of a 256-character key (640).
   */
  departed: Object.freeze({ maxRecords: 16384, bytesPerRecord: 640 }),
  /** Each named map (options.general.maps.<name>): 16,384 records, 64 MiB. */
  map: Object.freeze({ maxRecords: 16384, maxBytes: 64 * 2 ** 20 }),
  /** Each queue (options.general.queues.<name>). */
  queue: Object.freeze({ capacity: 1024, maxMessageBytes: 4096 }),
  /**
   * A thread's private caches of decoded positions (ThreadOptions): decoded orders (entries, and
   * estimated JS heap bytes: a real order is about 1 KB decoded), and order lists of record
   * versions (lists, order references, and bytes charged: the lists and the orders they keep alive).
   */
  thread: Object.freeze({
    orderCacheSize: 32768, orderCacheBytes: 16 * 2 ** 20, recordMemoSize: 8192, recordMemoOrders: 1 << 18, recordMemoBytes: 8 * 2 ** 20,
  }),
});
