// Named exports only; types apart. Functions and values here; every class is exported as a type
// (the engine builds them: createEngine / attachEngine, engine.locks, engine.general.queue(name)...).
export { createEngine, attachEngine } from './engine.ts';
export { SabStateError, ErrorCode } from './errors.ts';
export { importValidatorTree } from './ptn/import.ts';
export { exportValidatorTree } from './ptn/export.ts';
export { hashBackend } from './internal/hash/native.ts';
export { toAsyncEngine } from './async/sab-adapter.ts';
export { createRedisEngine } from './redis/engine.ts';

export type { Engine, EngineHandle, EngineStats } from './engine.ts';
export type { QueueNames, CounterNames, MapNames, EngineOptions, QueueOptions, ResolvedEngineOptions, ThreadOptions } from './engine-options.ts';
export type { ErrorCodeValue } from './errors.ts';
export type { LockDomain, LockStats, SlowLockInfo } from './domains/locks/locks.ts';
export type { LockCallOptions, LockGuard } from './domains/locks/local.ts';
export type { PositionsDomain, OpenPositionHead, Position, PositionHead, PositionsStats } from './domains/positions/positions.ts';
export type { EliminationsDomain, EliminationRow, EliminationsStats } from './domains/eliminations.ts';
export type { DepartedDomain, DepartedEntry, DepartedStats } from './domains/departed.ts';
export type { GeneralDomain, GeneralMap, GeneralStats } from './domains/general.ts';
export type { Queue, PopOptions, RingStats as QueueStats } from './internal/store/queue.ts';
export type { Counter } from './internal/store/counters.ts';
export type { SyncGate, GateState, BeginOptions } from './internal/sync/sync-gate.ts';
export type { WatchStats } from './engine-recovery.ts';
export type { ImportReport, ImportError, ImportOptions } from './ptn/import.ts';
export type { ExportReport, ExportOptions } from './ptn/export.ts';
export type { SnapshotReport } from './engine-snapshot.ts';
export type {
  AsyncEngine, AsyncLocks, AsyncPositions, AsyncEliminations, AsyncDeparted, AsyncOpenPositionHead, AsyncLockOptions, AsyncLockGuard, AsyncWriteOptions, AsyncLockContext,
} from './async/types.ts';
export type { AsyncGeneral, AsyncQueue, AsyncCounter, AsyncMap, AsyncSyncGate } from './async/general-types.ts';
export type { RedisEngineOptions } from './redis/engine.ts';
