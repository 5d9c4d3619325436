// The shared log of the gate property (test/general.test.ts, test/workers/general-worker.ts):
// Int32 slots of a plain SharedArrayBuffer.
export const kLogLen = 0; // entries appended by landed guarded writes (Atomics.add)
export const kBeginReturned = 1; // the epoch of the last begin() that returned (syncer, Atomics.store)
export const kDone = 2; // the syncer finished (Atomics.store)
export const kReady = 3; // start barrier
export const kViolations = 4; // violations seen inside writes (Atomics.add)
export const kEntries = 8; // entry i: the ifEpoch the i-th landed write carried
export const LOG_ENTRIES = 1 << 18;
export const LOG_BYTES = (kEntries + LOG_ENTRIES) * 4;
