// Shared between test/sync-gate.test.ts and test/workers/sync-gate-worker.ts: the Int32 slots
// of the `ctl` SharedArrayBuffer (64 bytes).
export const kWrites = 0; // guarded writes that ran (each adds 1)
export const kHeld = 1; // the holder is inside its guarded write
export const kRelease = 2; // the test lets the holder's write finish
export const kOps = 3; // storm workers: operations done
export const CTL_BYTES = 64;
