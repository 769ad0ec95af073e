// vsmmu's public API. Everything an embedding program or an external test calls is here, and
// so is every type those calls accept or return (test/package/exports.test.ts checks it).
// The architecture's formats (registers, STE/CD, commands, events, the walker) are the
// separate entry 'vsmmu/arch' (src/arch/index.ts).
export { createSystem, System } from './system/system.ts';
export type { SystemStats, SystemAccounting, HostMemory, SimState } from './system/system.ts';
export type { SimOptions, SimStrategy } from './sim/scheduler.ts';
export { Domain, Device } from './system/domain.ts';
export type { DmaRequest, DmaOutcome, DomainSchedule } from './system/domain.ts';
export type { SystemOptions, SmmuSystemOptions, DomainOptions, DeviceOptions, XlCfgFile, ThreadPriority, SmmuCpu } from './system/options.ts';
export { VsmmuError } from './errors.ts';
export { ERROR_CODES, isErrorCode } from './errors.ts';
export type { ErrorCode, ErrorKind, ErrorRecord, CodeInfo as ErrorCodeInfo } from './errors.ts';

// A domain as Xen configured it (Domain.config).
export type { DomainConfig, DomainDevice, PassthroughKeys, IomemRange } from './xen/xlcfg.ts';
export type { DtNode, DtProp, DtValue } from './dt/dts.ts';
export type { ViommuTypeName } from './xen/viommu.ts';
// Xen's policy profiles (SystemOptions.xen.profile) and the panic rfc/v3 can end in (System.panic).
export { XEN_PROFILE_NAMES } from './xen/profile.ts';
export type { XenProfileName, XenPanic } from './xen/profile.ts';
// The physical SMMU's features (SystemOptions.smmu, System.features).
export type { SmmuFeatures } from './arch/features.ts';
export type { EventRecord } from './arch/events.ts';

// What the guest's driver and devices report (Domain.driver, Device.dma).
export type { ProbeInfo, Attachment, GuestFault, DriverStats as GuestDriverStats } from './guest/driver.ts';
export type { DmaFault, DmaDeviceStats } from './devices/dma-device.ts';
export type { GuestStats, ProtSpec } from './guest/kernel.ts';
export type { LatencySummary } from './guest/latency.ts';
export type { CmdqStats } from './guest/cmdq.ts';
export type { EvtqStats } from './guest/evtq.ts';

// System.stats(): the SMMU's and Xen's counters.
export type { SmmuStats } from './smmu/smmu.ts';
export type { CacheCounters, IotlbStats } from './smmu/iotlb.ts';
export type { ConfigCacheStats } from './smmu/config-cache.ts';
export type { CommandStats } from './smmu/cmdq.ts';
export type { EventQueueStats } from './smmu/evtq.ts';
export type { PortStats } from './smmu/ports.ts';
export type { XenStats, XenAccounting } from './xen/xen.ts';
export type { DriverStats as XenDriverStats } from './xen/smmu-driver.ts';
export type { DomainInfo, DomainDeviceInfo, DomainStats } from './xen/domain.ts';
export type { VsmmuStats } from './xen/vsmmuv3.ts';
export type { P2mRange } from './mem/guest-ram.ts';

// system.trace: the timeline (docs/tracing.md), its Chrome Trace Event JSON and checker.
export type { SystemTrace, TraceStopOptions } from './system/trace.ts';
export type { TraceStartOptions } from './trace/tracer.ts';
export type { ChromeTrace, ChromeTraceEvent } from './trace/chrome.ts';
export { formatChromeTrace } from './trace/chrome.ts';
export { validateChromeTrace } from './trace/validate.ts';

// The reports `vsmmu run --json` and `vsmmu stress --json` print.
export type { ScenarioReport, GuestReport, Check as ScenarioCheck } from './system/scenario.ts';
export type { StressReport } from './system/stress.ts';

// Hostile-guest fuzzing (`vsmmu fuzz`): one seed's run, and the report a pool worker returns.
export { runFuzzSeed } from './fuzz/run.ts';
export type { FuzzOptions, FuzzReport, FuzzViolation, FuzzCoverage, ViolationKind as FuzzViolationKind } from './fuzz/run.ts';
export type { FuzzOp } from './fuzz/ops.ts';

// Multi-guest benchmarks (`vsmmu bench`): runBench and the report `vsmmu bench --json` prints.
export { runBench } from './bench/runner.ts';
export type { BenchOptions, BenchProgress } from './bench/runner.ts';
export { BENCH_SCHEMA, BENCH_WORKLOADS } from './bench/report.ts';
export type { BenchReport, BenchCell, BenchGuestFigures, BenchVictim, BenchFlooder, BenchCpu, BenchTarget, BenchMachine, BenchWorkload } from './bench/report.ts';
export type { Figure as BenchFigure, LatencyFigures as BenchLatencyFigures, Percentiles as BenchPercentiles } from './bench/stats.ts';
export type { Limits as BenchLimits } from './bench/limits.ts';

// Campaigns (`vsmmu campaign`): stress and fuzz seeds across machines on a BullMQ queue on
// Redis (bullmq and ioredis are optional peer dependencies, loaded when a campaign call runs).
export { startCampaign, workCampaign, campaignStatus, campaignReport } from './campaign/campaign.ts';
export { CAMPAIGN_KINDS } from './campaign/types.ts';
export type {
  CampaignKind, CampaignTarget, StartCampaignOptions, StartCampaignResult, CampaignSpec, WorkCampaignOptions, WorkCampaignResult,
  CampaignStatus, CampaignWorkerStatus, CampaignReport, CampaignFailure, CampaignFinder, CampaignLostChunk, SeedResult, SeedRunner, RunnerOptions,
} from './campaign/types.ts';
