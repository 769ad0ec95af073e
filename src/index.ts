// vsmmu's public API. Everything an embedding program or an external test calls is here.
export { createSystem, System } from './system/system.ts';
export type { SystemStats, HostMemory } from './system/system.ts';
export { Domain, Device } from './system/domain.ts';
export type { DmaRequest, DmaOutcome } from './system/domain.ts';
export type { SystemOptions, DomainOptions, DeviceOptions } from './system/options.ts';
export { VsmmuError } from './errors.ts';
export { ERROR_CODES, isErrorCode } from './errors.ts';
export type { ErrorCode, ErrorKind, ErrorRecord } from './errors.ts';
export * as arch from './arch/index.ts';
