// Named exports only; types apart.
export { createEngine, attachEngine, Engine } from './engine.ts';
export { SabStateError, ErrorCode } from './errors.ts';
export { LockDomain } from './domains/locks.ts';

export type { EngineOptions, EngineHandle, EngineStats } from './engine.ts';
export type { ErrorCodeValue } from './errors.ts';
export type { LockCallOptions, LockStats } from './domains/locks.ts';
