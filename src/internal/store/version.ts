/**
 * What a table read hands back to its caller: the version token (the slot word a read saw of one
 * key, and its slot), the "must be absent" expectation, and the one way a reader's copy function
 * says that what it copied does not hold together. The table that fills and checks them is
 * table.ts (its header: the versioned word, the probe, the CAS that takes a Version).
 */
import { RETRY } from '../sync/versioned-word.ts';

/**
 * Called by a reader's copy function (ValueReader, RecordReader) when what it copied does not hold
 * together (a length or offset out of bounds, a stamp that moved): the read is retried, or, if it
 * was pinned, reported as a corrupt structure (versioned-word.ts, section 2).
 */
export function notWhole(): never {
  throw RETRY;
}

/**
 * A version token: what a read() saw of one key, the two halves of its slot word (`ver`, the
 * version, and `ref`, the record block: 0 (kEmpty) if absent) and its slot (-1 if none). read()
 * hands it back into a token its caller owns (reused: no allocation per read), and publish() /
 * remove() take it as their expectation, so the caller never reads the table's state. Numbers,
 * not the 64-bit word: a read makes no BigInt (table.ts, "Int32 halves").
 */
export class Version {
  ver = 0;
  ref = 0;
  slot = -1;

  /** The whole slot word (version << 32 | ref; 0n if absent): for tests and messages. */
  get word(): bigint {
    return (BigInt(this.ver >>> 0) << 32n) | BigInt(this.ref >>> 0);
  }
}

/** The expectation "the key is absent" (publish of a new key only). */
export const ABSENT: Readonly<Version> = Object.freeze(new Version());
