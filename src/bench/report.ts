// The report of `vsmmu bench` (runBench): its TypeScript types and the JSON Schema of
// `vsmmu bench --json` (BENCH_SCHEMA, documented in docs/performance.md). Every measured
// figure is a Figure: its value beside the limit measured in the same run, and the ratio.
import type { Limits } from './limits.ts';
import type { SmmuCpu, ThreadPriority } from '../system/options.ts';
import type { Figure, LatencyFigures, Percentiles } from './stats.ts';
import type { XenProfileName } from '../xen/profile.ts';

export const BENCH_WORKLOADS = ['stream', 'strict', 'lazy', 'reconfig', 'noisy'] as const;
export type BenchWorkload = (typeof BENCH_WORKLOADS)[number];
/** Guest counts the matrix accepts. */
export const BENCH_MAX_GUESTS = 16;
export const BENCH_SCHEMA_ID = 'vsmmu-bench/1';

export interface BenchGuestFigures {
  readonly name: string;
  readonly dmaPerS: Figure;
  readonly mibPerS: Figure;
  readonly invalidationsPerS: Figure;
  readonly faults: number;
  /** The first error the guest's workload hit, if any. */
  readonly error: string | null;
}

export interface BenchVictim {
  readonly name: string;
  /** DMA/s of the victim with the flooding guest running, beside its DMA/s without it. */
  readonly throughput: Figure;
  /** p99 of its trap latency probes with the flooding guest, beside its p99 without it (us; null without samples). */
  readonly trapP99: Figure | null;
}

/** noisy: the flooding guest, its CPU cap (Xen's credit cap) and what its scheduler charged. */
export interface BenchFlooder {
  readonly name: string;
  /** % of one CPU (0: none; `--noisy-cap`). */
  readonly cap: number;
  /** Periods whose budget it spent, and was parked for. */
  readonly parks: number;
  /** CPU charged to it while the flood ran (its thread and Xen's service of its traps), ms, and Xen's part. */
  readonly chargedMs: number;
  readonly xenMs: number;
}

export interface BenchCpu {
  /** Thread name: MainThread, smmu, xen, guest:NAME. */
  readonly thread: string;
  /** CPU time during the cell beside the cell's wall time (ratio: share of one core). */
  readonly cpu: Figure;
}

export interface BenchCell {
  /** Xen's policy profile the cell ran under (reports saved before profiles: absent, hardened). */
  readonly profile?: XenProfileName;
  readonly workload: BenchWorkload;
  /** The series it belongs to: the workload, or a stream variant ("stream 64B", "stream walk"). */
  readonly series: string;
  /** Bytes per DMA. */
  readonly size: number;
  /** stream: TLB hits (a few pages) or walk-heavy (a transaction per page over many). */
  readonly pattern: 'hit' | 'walk' | null;
  readonly guests: number;
  readonly seconds: number;
  readonly aggregate: {
    readonly dmaPerS: Figure;
    readonly mibPerS: Figure;
    readonly invalidationsPerS: Figure;
    readonly reconfigsPerS: number;
  };
  readonly perGuest: readonly BenchGuestFigures[];
  /** Jain's index over the guests' DMA/s (limit 1). */
  readonly fairness: Figure;
  /** Trapped MMIO reads while the cell runs, beside a bare ping-pong running beside the same load. */
  readonly trapLatency: LatencyFigures;
  /** TLBI + CMD_SYNC (strict, lazy, noisy) or STE/CD change (reconfig), beside the bare relay. */
  readonly syncLatency: LatencyFigures | null;
  /** A faulting DMA to its event taken by the guest (noisy), beside the bare relay. */
  readonly faultToIrq: LatencyFigures | null;
  /** The bare ping-pong beside the load, as measured. */
  readonly pingPongBeside: Percentiles;
  /** CPU time per actor thread (empty where threads cannot be read, not Linux). */
  readonly cpu: readonly BenchCpu[];
  /** noisy: each victim's throughput with the flood beside without. */
  readonly victims: readonly BenchVictim[] | null;
  /**
   * noisy: the worst victim's ratio between the two halves of its rounds without the flood
   * (the lower rate over the higher): the victims' statistic with no flood at all, the
   * scheduler's noise among identical guests (null otherwise; absent in reports saved before it).
   */
  readonly victimControl?: number | null;
  /** noisy: the flooding guest (reports saved before caps: absent). */
  readonly flooder: BenchFlooder | null;
  readonly errors: readonly string[];
}

export interface BenchTarget {
  readonly name: string;
  /** null: not measured in this run (a workload or guest count missing). */
  readonly ok: boolean | null;
  readonly detail: string;
}

export interface BenchMachine {
  readonly cpus: number;
  readonly model: string;
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
  readonly loadavg: readonly number[];
  /** The priority of the SMMU's and Xen's threads in force (System.priority; absent in
   *  reports saved before it): 'equal' where the process could not raise it. */
  readonly priority?: ThreadPriority;
  /** The CPU the SMMU's thread had to itself (System.smmuCpu), null where it shared them;
   *  absent in reports saved before it. */
  readonly smmuCpu?: number | null;
}

export interface BenchReport {
  readonly schema: typeof BENCH_SCHEMA_ID;
  readonly version: string;
  readonly date: string;
  readonly machine: BenchMachine;
  readonly options: {
    readonly guests: readonly number[];
    readonly seconds: number;
    readonly workloads: readonly BenchWorkload[];
    readonly profile: string | null;
    /** The flooding guest's cap in the capped noisy series (0: none run; reports saved before caps: absent). */
    readonly noisyCap?: number;
    /** The priority asked for (createSystem's `priority`; absent in reports saved before it). */
    readonly priority?: ThreadPriority;
    /** Where the SMMU's thread was asked to run (createSystem's `smmuCpu`; absent in reports saved before it). */
    readonly smmuCpu?: SmmuCpu;
  };
  readonly limits: Limits;
  readonly cells: readonly BenchCell[];
  readonly targets: readonly BenchTarget[];
  readonly elapsedMs: number;
}

// ---- JSON Schema (draft 2020-12) of BenchReport -------------------------------------------

const num = { type: 'number' } as const;
const str = { type: 'string' } as const;
const figureSchema = {
  type: 'object',
  required: ['value', 'unit', 'limit', 'limitName', 'ratio'],
  properties: { value: num, unit: str, limit: num, limitName: str, ratio: num },
} as const;
const percentiles = {
  type: 'object',
  required: ['count', 'p50Us', 'p99Us', 'p999Us', 'maxUs'],
  properties: { count: num, p50Us: num, p99Us: num, p999Us: num, maxUs: num },
} as const;
const latency = {
  type: 'object',
  required: ['count', 'p50', 'p99', 'p999', 'max'],
  properties: { count: num, p50: { $ref: '#/$defs/figure' }, p99: { $ref: '#/$defs/figure' }, p999: { $ref: '#/$defs/figure' }, max: { $ref: '#/$defs/figure' } },
} as const;
const fig = { $ref: '#/$defs/figure' } as const;
const nullable = (s: object): object => ({ oneOf: [{ type: 'null' }, s] });

export const BENCH_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: BENCH_SCHEMA_ID,
  title: 'vsmmu bench --json',
  type: 'object',
  required: ['schema', 'version', 'date', 'machine', 'options', 'limits', 'cells', 'targets', 'elapsedMs'],
  $defs: { figure: figureSchema, percentiles, latency },
  properties: {
    schema: { const: BENCH_SCHEMA_ID },
    version: str,
    date: str,
    machine: { type: 'object', required: ['cpus', 'model', 'node', 'platform', 'arch', 'loadavg'] },
    options: { type: 'object', required: ['guests', 'seconds', 'workloads', 'profile'] },
    limits: {
      type: 'object',
      required: ['memcpyMiBs', 'ringPerS', 'relay', 'pingPong'],
      properties: { memcpyMiBs: num, ringPerS: num, relay: { $ref: '#/$defs/percentiles' }, pingPong: { $ref: '#/$defs/percentiles' } },
    },
    cells: {
      type: 'array',
      items: {
        type: 'object',
        required: ['workload', 'series', 'size', 'pattern', 'guests', 'seconds', 'aggregate', 'perGuest', 'fairness', 'trapLatency', 'syncLatency', 'faultToIrq', 'pingPongBeside', 'cpu', 'victims', 'flooder', 'errors'],
        properties: {
          profile: { enum: ['hardened', 'rfc', 'v3'] },
          workload: { enum: [...BENCH_WORKLOADS] },
          series: str,
          size: num,
          guests: num,
          seconds: num,
          aggregate: { type: 'object', required: ['dmaPerS', 'mibPerS', 'invalidationsPerS', 'reconfigsPerS'], properties: { dmaPerS: fig, mibPerS: fig, invalidationsPerS: fig, reconfigsPerS: num } },
          perGuest: { type: 'array', items: { type: 'object', required: ['name', 'dmaPerS', 'mibPerS', 'invalidationsPerS', 'faults', 'error'], properties: { dmaPerS: fig, mibPerS: fig, invalidationsPerS: fig } } },
          fairness: fig,
          trapLatency: { $ref: '#/$defs/latency' },
          syncLatency: nullable({ $ref: '#/$defs/latency' }),
          faultToIrq: nullable({ $ref: '#/$defs/latency' }),
          pingPongBeside: { $ref: '#/$defs/percentiles' },
          cpu: { type: 'array', items: { type: 'object', required: ['thread', 'cpu'], properties: { thread: str, cpu: fig } } },
          victimControl: nullable(num),
          victims: nullable({ type: 'array', items: { type: 'object', required: ['name', 'throughput', 'trapP99'], properties: { name: str, throughput: fig, trapP99: nullable(fig) } } }),
          flooder: nullable({ type: 'object', required: ['name', 'cap', 'parks', 'chargedMs', 'xenMs'], properties: { name: str, cap: num, parks: num, chargedMs: num, xenMs: num } }),
          errors: { type: 'array', items: str },
        },
      },
    },
    targets: { type: 'array', items: { type: 'object', required: ['name', 'ok', 'detail'] } },
    elapsedMs: num,
  },
} as const;
