// runBench(): the multi-guest benchmark matrix of `vsmmu bench`. For each guest count, one
// system (Xen, the SMMU, the guests on their threads) runs every workload in turn; each
// guest runs its workload on its own thread as one control call (src/guest/bench-workloads.ts),
// so the main thread only starts cells and collects counts and latency samples. The limits
// (src/bench/limits.ts) are measured once before the matrix, and a bare ping-pong runs
// beside every cell's load: every figure is reported beside its limit, as a ratio.
import { cpus, loadavg } from 'node:os';
import type { BenchWorkloadParams, BenchWorkloadReport } from '../guest/bench-workloads.ts';
import { SMMU_CPUS, THREAD_PRIORITIES, type DomainOptions, type SmmuCpu, type SystemOptions, type ThreadPriority } from '../system/options.ts';
import type { Domain } from '../system/domain.ts';
import { createSystem } from '../system/system.ts';
import { VsmmuError } from '../errors.ts';
import { isXenProfileName, XEN_PROFILE_NAMES, type XenProfileName } from '../xen/profile.ts';
import { packageVersion } from '../cli/version.ts';
import { cpuBetween, cpuSnapshot } from './cpu.ts';
import { measureLimits, startPinger, type Limits, type Pinger } from './limits.ts';
import { figure, histogramOf, jain, latencyFigures, summarizeNs, type LatencyFigures, type Percentiles } from './stats.ts';
import {
  BENCH_MAX_GUESTS, BENCH_SCHEMA_ID, BENCH_WORKLOADS,
  type BenchCell, type BenchGuestFigures, type BenchMachine, type BenchReport, type BenchTarget, type BenchVictim, type BenchWorkload,
} from './report.ts';

export interface BenchOptions {
  /** Guest counts, each a system of its own (default 1, 2, 4, 8). */
  readonly guests?: readonly number[];
  /** Seconds per cell (default 2); noisy runs twice that (victims alone, then with the flood). */
  readonly seconds?: number;
  /** Workloads (default all of BENCH_WORKLOADS). */
  readonly workloads?: readonly BenchWorkload[];
  /**
   * Xen's policy profiles, each a system of its own per guest count: a name, a comma list
   * ("rfc,hardened") or an array (default hardened). Cells of the same workload and guest
   * count follow each other, one per profile, in the order given.
   */
  readonly profile?: string | readonly string[];
  /** The SMMU's and Xen's thread priority (createSystem's `priority`, default 'hardware-first'). */
  readonly priority?: ThreadPriority;
  /** Where the SMMU's thread runs (createSystem's `smmuCpu`, default 'shared'). */
  readonly smmuCpu?: SmmuCpu;
  /**
   * noisy: the flooding guest's CPU cap in a second noisy series, `noisy cap N%`, beside the
   * uncapped `noisy` (Xen's credit cap, % of one CPU: `domain.schedule({ cap })`); 0 runs the
   * uncapped series only (default DEFAULT_NOISY_CAP).
   */
  readonly noisyCap?: number;
  /** Milliseconds per limit measurement (default 200). */
  readonly limitMs?: number;
  /** Called when a cell starts and about 5 times a second while it runs. */
  readonly onProgress?: (p: BenchProgress) => void;
}

export interface BenchProgress {
  /** Cells done so far, and in all. */
  readonly done: number;
  readonly cells: number;
  readonly series: string;
  readonly guests: number;
  /** Seconds of load run so far, and in all (an estimate: boot times come on top). */
  readonly elapsedS: number;
  readonly totalS: number;
}

/**
 * The flooding guest's default cap in the capped noisy series: on the 2-core machine of
 * docs/security.md (shared with other benchmarks), capped at 5% it left the victims a median
 * 0.81-0.93x of their throughput (>= 0.8x in most runs) and their trap p99 within 2.5x; at
 * 10% and 25% they kept 0.48-0.79x (`node bench/noisy.ts --cap 5,10,25`).
 */
export const DEFAULT_NOISY_CAP = 5;

interface Spec {
  readonly workload: BenchWorkload;
  /** noisy: the flooding guest's cap (0: none). */
  readonly cap?: number;
  readonly series: string;
  readonly size: number;
  readonly pattern: 'hit' | 'walk' | null;
  readonly params: Omit<BenchWorkloadParams, 'vSid' | 'durationMs'>;
}

/**
 * The SMMU's IOTLB in the benchmark systems (createSystem's smmu.iotlbEntries): it holds the
 * TLB-hit windows of every guest (16 pages each, 16 guests at most), and a quarter of one
 * walk-heavy window, so the walk series' sweep misses on every page.
 */
const BENCH_IOTLB_ENTRIES = 512;
const WALK_PAGES = 4 * BENCH_IOTLB_ENTRIES;

/** The stream variants: 4 KiB with TLB hits first (the headline series), then the rest. */
const STREAM: readonly Spec[] = [
  { workload: 'stream', series: 'stream', size: 4096, pattern: 'hit', params: { kind: 'stream', size: 4096, pages: 16 } },
  { workload: 'stream', series: 'stream 64B', size: 64, pattern: 'hit', params: { kind: 'stream', size: 64, pages: 16 } },
  { workload: 'stream', series: 'stream 64KiB', size: 65536, pattern: 'hit', params: { kind: 'stream', size: 65536, pages: 16 } },
  { workload: 'stream', series: 'stream walk', size: 4096, pattern: 'walk', params: { kind: 'stream', size: 4096, pages: WALK_PAGES, walk: true } },
];

function specsOf(w: BenchWorkload, noisyCap: number): readonly Spec[] {
  switch (w) {
    case 'stream': return STREAM;
    case 'strict': return [{ workload: w, series: w, size: 4096, pattern: null, params: { kind: 'strict' } }];
    case 'lazy': return [{ workload: w, series: w, size: 4096, pattern: null, params: { kind: 'lazy' } }];
    case 'reconfig': return [{ workload: w, series: w, size: 4096, pattern: null, params: { kind: 'reconfig' } }];
    case 'noisy': {
      const noisy: Spec = { workload: w, series: w, size: 4096, pattern: 'hit', cap: 0, params: { kind: 'stream', size: 4096, pages: 16 } };
      return noisyCap === 0 ? [noisy] : [noisy, { ...noisy, series: noisySeries(noisyCap), cap: noisyCap }];
    }
  }
}

const NOISY = 'noisy';

/** The series of the noisy cells whose flooding guest is capped at `cap`%. */
export function noisySeries(cap: number): string {
  return `noisy cap ${cap}%`;
}
const GUEST_MEMORY_MIB = 64;

/**
 * The system of a benchmark with `guests` guests (guest1..guestN, two DMA devices each) and,
 * with `noisy`, the flooding guest `noisy`: its SMMU, host memory and domains, shared by
 * `vsmmu bench` and the scripts in bench/ that measure the same systems.
 */
export function benchSystem(guests: number, noisy: boolean): Pick<SystemOptions, 'smmu' | 'memory' | 'domains'> {
  return {
    smmu: { iotlbEntries: BENCH_IOTLB_ENTRIES },
    memory: (128 + (GUEST_MEMORY_MIB + 16) * (guests + 1)) * 1048576,
    domains: domainsFor(guests, noisy),
  };
}

function domainsFor(guests: number, noisy: boolean): DomainOptions[] {
  const doms: DomainOptions[] = [];
  const dom = (name: string, i: number): DomainOptions => ({
    name, memory: `${GUEST_MEMORY_MIB}M`, viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x100 * i }, { name: 'dma1', sid: 0x100 * i + 1 }],
  });
  for (let g = 1; g <= guests; g++) doms.push(dom(`guest${g}`, g));
  if (noisy) doms.push(dom(NOISY, guests + 1));
  return doms;
}

export function checkBenchOptions(o: BenchOptions): { guests: number[]; seconds: number; workloads: BenchWorkload[]; profiles: XenProfileName[]; noisyCap: number; priority: ThreadPriority; smmuCpu: SmmuCpu } {
  const guests = [...(o.guests ?? [1, 2, 4, 8])];
  if (guests.length === 0 || guests.some((g) => !Number.isInteger(g) || g < 1 || g > BENCH_MAX_GUESTS)) {
    throw new VsmmuError('EVSMMU_USAGE', `guests must be whole numbers from 1 to ${BENCH_MAX_GUESTS}, got ${guests.join(',') || 'none'}`);
  }
  const seconds = o.seconds ?? 2;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) throw new VsmmuError('EVSMMU_USAGE', `seconds must be more than 0 and at most 3600, got ${seconds}`);
  const workloads = [...(o.workloads ?? BENCH_WORKLOADS)];
  const bad = workloads.filter((w) => !(BENCH_WORKLOADS as readonly string[]).includes(w));
  if (workloads.length === 0 || bad.length > 0) {
    throw new VsmmuError('EVSMMU_USAGE', `unknown workload '${bad.join(',') || 'none'}' (workloads: ${BENCH_WORKLOADS.join(', ')})`);
  }
  const names = o.profile === undefined ? ['hardened'] : typeof o.profile === 'string' ? o.profile.split(',').map((s) => s.trim()) : [...o.profile];
  const unknown = names.filter((p) => !isXenProfileName(p));
  if (names.length === 0 || unknown.length > 0) {
    throw new VsmmuError('EVSMMU_USAGE', `unknown profile '${unknown.join(',') || 'none'}' (profiles: ${XEN_PROFILE_NAMES.join(', ')})`);
  }
  const profiles = [...new Set(names)] as XenProfileName[];
  const noisyCap = o.noisyCap ?? DEFAULT_NOISY_CAP;
  if (!Number.isInteger(noisyCap) || noisyCap < 0 || noisyCap > 100) {
    throw new VsmmuError('EVSMMU_USAGE', `noisy cap must be a whole percentage of one CPU from 0 (no capped series) to 100, got ${String(noisyCap)}`);
  }
  const oneOf = <T extends string>(v: T | undefined, known: readonly T[], what: string): T => {
    const x = v ?? (known[0] as T);
    if (!known.includes(x)) throw new VsmmuError('EVSMMU_USAGE', `${what} must be ${known.join(' or ')}, got ${String(x)}`);
    return x;
  };
  const priority = oneOf(o.priority, THREAD_PRIORITIES, 'priority');
  const smmuCpu = oneOf(o.smmuCpu, SMMU_CPUS, 'smmu-cpu');
  return { guests: [...new Set(guests)].sort((a, b) => a - b), seconds, workloads: [...new Set(workloads)], profiles, noisyCap, priority, smmuCpu };
}

export function machine(inForce?: { priority: ThreadPriority | null; smmuCpu: number | null }): BenchMachine {
  const c = cpus();
  return {
    cpus: c.length, model: c[0]?.model.trim() ?? 'unknown', node: process.version, platform: process.platform, arch: process.arch,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    ...(inForce?.priority ? { priority: inForce.priority } : {}),
    ...(inForce ? { smmuCpu: inForce.smmuCpu } : {}),
  };
}

/** Runs the matrix; resolves to the report (the same as `vsmmu bench --json`). */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const { guests, seconds, workloads, profiles, noisyCap, priority, smmuCpu } = checkBenchOptions(options);
  const t0 = performance.now();
  const date = new Date().toISOString();
  const plan = guests.flatMap((g) => profiles.flatMap((p) => workloads.flatMap((w) => specsOf(w, noisyCap).map((s) => ({ g, p, s })))));
  const totalS = plan.reduce((t, c) => t + (c.s.workload === 'noisy' ? 2 : 1) * seconds, 0);
  let doneS = 0;
  let done = 0;
  const limits = await measureLimits(options.limitMs ?? 200);
  const cells: BenchCell[] = [];
  const noisy = workloads.includes('noisy');
  const pinger = await startPinger(1);
  let inForce: { priority: ThreadPriority | null; smmuCpu: number | null } | undefined;
  try {
    for (const g of guests) for (const p of profiles) {
      await using sys = await createSystem({
        ...benchSystem(g, noisy),
        guestTimeoutMs: seconds * 2000 + 60_000,
        xen: { profile: p },
        sim: false, // timing on real threads, whatever VSMMU_SIM says
        priority,
        smmuCpu,
      });
      inForce ??= { priority: sys.priority, smmuCpu: sys.smmuCpu };
      await Promise.all(sys.domains.map((d) => d.driver.probe()));
      for (const { g: cg, p: cp, s } of plan) {
        if (cg !== g || cp !== p) continue;
        const progress = (elapsedS: number): void =>
          options.onProgress?.({ done, cells: plan.length, series: s.series, guests: g, elapsedS: Math.min(totalS, doneS + elapsedS), totalS });
        progress(0);
        const cellStart = performance.now();
        const tick = options.onProgress ? setInterval(() => progress((performance.now() - cellStart) / 1000), 200) : null;
        try {
          cells.push({ profile: p, ...(await runCell(sys.domains, s, g, seconds, limits, pinger)) });
        } finally {
          if (tick) clearInterval(tick);
        }
        doneS += (s.workload === 'noisy' ? 2 : 1) * seconds;
        done++;
      }
    }
  } finally {
    await pinger.close();
  }
  return {
    schema: BENCH_SCHEMA_ID,
    version: packageVersion(),
    date,
    machine: machine(inForce),
    options: {
      guests, seconds, workloads, profile: options.profile === undefined ? null : profiles.join(','), noisyCap: workloads.includes('noisy') ? noisyCap : 0,
      priority, smmuCpu,
    },
    limits,
    cells: sideBySide(cells, profiles),
    // The targets are the default profile's (the first one given).
    targets: targets(cells.filter((c) => c.profile === profiles[0]), limits),
    elapsedMs: Math.round(performance.now() - t0),
  };
}

/** Cells in the matrix's order, those of one workload variant and guest count adjacent, by profile. */
function sideBySide(cells: readonly BenchCell[], profiles: readonly XenProfileName[]): BenchCell[] {
  const series = [...new Set(cells.map((c) => c.series))];
  const key = (c: BenchCell): number[] => [c.guests, series.indexOf(c.series), profiles.indexOf(c.profile ?? 'hardened')];
  return [...cells].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return (ka[0]! - kb[0]!) || (ka[1]! - kb[1]!) || (ka[2]! - kb[2]!);
  });
}

interface Ran {
  readonly domain: Domain;
  readonly report: BenchWorkloadReport | null;
  readonly error: string | null;
}

async function runOn(domains: readonly Domain[], paramsOf: (d: Domain) => BenchWorkloadParams): Promise<Ran[]> {
  return Promise.all(
    domains.map(async (d): Promise<Ran> => {
      try {
        const report: BenchWorkloadReport = await d.call('workloadBench', paramsOf(d));
        return { domain: d, report, error: report.error };
      } catch (e) {
        const err = e as { code?: string; message?: string };
        return { domain: d, report: null, error: `${err.code ?? 'ERROR'}: ${err.message ?? String(e)}` };
      }
    }),
  );
}

function rate(n: number, ms: number): number {
  return ms > 0 ? (n * 1000) / ms : 0;
}

function guestFigures(r: Ran, limits: Limits): BenchGuestFigures {
  const rep = r.report;
  const ms = rep?.elapsedMs ?? 0;
  return {
    name: r.domain.name,
    dmaPerS: figure(rate(rep?.dmas ?? 0, ms), 'DMA/s', limits.ringPerS, 'bare ring records/s'),
    mibPerS: figure(rate((rep?.bytes ?? 0) / 1048576, ms), 'MiB/s', limits.memcpyMiBs, 'bare memcpy MiB/s, one core'),
    invalidationsPerS: figure(rate(rep?.invalidations ?? 0, ms), 'TLBI/s', relayPerS(limits), 'bare relays/s'),
    faults: rep?.faults ?? 0,
    error: r.error,
  };
}

function relayPerS(l: Limits): number {
  return l.relay.p50Us > 0 ? 1e6 / l.relay.p50Us : 0;
}

function latencyOf(ran: readonly Ran[], pick: (r: BenchWorkloadReport) => readonly number[], limit: Percentiles, name: string): LatencyFigures | null {
  const lists = ran.flatMap((r) => (r.report ? [pick(r.report)] : []));
  if (lists.every((l) => l.length === 0)) return null;
  return latencyFigures(summarizeNs(histogramOf(lists)), limit, name);
}

/** Two runs of the same guest as one: counts and time added, samples joined. */
function merge(a: Ran | undefined, b: Ran): Ran {
  if (!a) return b;
  const x = a.report;
  const y = b.report;
  const report: BenchWorkloadReport | null = x && y
    ? {
        ...x,
        elapsedMs: x.elapsedMs + y.elapsedMs, dmas: x.dmas + y.dmas, bytes: x.bytes + y.bytes, faults: x.faults + y.faults,
        invalidations: x.invalidations + y.invalidations, syncs: x.syncs + y.syncs, reconfigs: x.reconfigs + y.reconfigs,
        trapNs: [...x.trapNs, ...y.trapNs], syncNs: [...x.syncNs, ...y.syncNs], faultIrqNs: [...x.faultIrqNs, ...y.faultIrqNs],
        error: x.error ?? y.error,
      }
    : (x ?? y);
  return { domain: a.domain, report, error: a.error ?? b.error };
}

/** noisy alternates victims-alone and victims-with-the-flood rounds, so both see the same
 *  drift of a shared machine (and of the threads' adaptive spinning). */
const NOISY_ROUNDS = 4;
/**
 * Warm-up before a cell's measured run: rounds of WARMUP_ROUND_MS until the aggregate DMA
 * rate of a round is within WARMUP_STEADY of the round before (steady state), for at least
 * two rounds and at most the cell's own length (but WARMUP_MAX_MS).
 */
const WARMUP_ROUND_MS = 250;
const WARMUP_STEADY = 0.05;
const WARMUP_MAX_MS = 3000;

/**
 * Runs the cell's workload unmeasured until its rate is steady. V8 optimises each isolate's
 * hot code on helper threads that compete with the guests for the two cores: with 8 guests
 * that took seconds, and a fixed 0.5 s warm-up measured the 8-guest stream at 1.5 M DMA/s
 * where a 3 s one measured 2.0 M (1 guest: 3.1 M and 3.7 M).
 */
export async function warmUp(domains: readonly Domain[], cellMs: number, paramsOf: (ms: number) => (d: Domain) => BenchWorkloadParams): Promise<void> {
  const most = Math.min(WARMUP_MAX_MS, Math.max(2 * WARMUP_ROUND_MS, cellMs));
  let last = -1;
  for (let spent = 0; spent < most; spent += WARMUP_ROUND_MS) {
    const ran = await runOn(domains, paramsOf(WARMUP_ROUND_MS));
    if (ran.some((r) => r.error !== null)) return; // the measured run reports it
    const now = ran.reduce((t, r) => t + rate(r.report?.dmas ?? 0, r.report?.elapsedMs ?? 0), 0);
    if (last > 0 && Math.abs(now - last) <= WARMUP_STEADY * last) return;
    last = now;
  }
}

async function runCell(all: readonly Domain[], s: Spec, guests: number, seconds: number, limits: Limits, pinger: Pinger): Promise<BenchCell> {
  const victims = all.filter((d) => d.name !== NOISY);
  const flooder = all.find((d) => d.name === NOISY);
  const isNoisy = s.workload === 'noisy' && flooder !== undefined;
  const ms = seconds * 1000;
  const paramsOf = (durationMs: number, kindOverride?: 'flood') => (d: Domain): BenchWorkloadParams => ({
    ...s.params,
    ...(kindOverride ? { kind: kindOverride } : {}),
    vSid: d.devices[0]?.vsid ?? 0,
    ...(d.devices[1] ? { vSid2: d.devices[1].vsid } : {}),
    durationMs,
  });
  const errors: string[] = [];
  const threads = ['MainThread', 'smmu', 'xen', ...all.map((d) => `guest:${d.name}`)];
  // Warm-up, not measured: the same workload on every guest until its rate is steady, so
  // that every thread's code is optimised and the adaptive spins have settled; for noisy,
  // then one round beside the flood (the flooding guest's code too). Without it, noisy's
  // first round without the flood ran cold and understated what the victims lose.
  await warmUp(victims, ms, paramsOf);
  if (isNoisy) await Promise.all([runOn(victims, paramsOf(ms / NOISY_ROUNDS)), runOn([flooder], paramsOf(ms / NOISY_ROUNDS, 'flood'))]);
  await pinger.begin();
  const c0 = cpuSnapshot();
  const w0 = performance.now();
  // runOn never rejects (a failed guest is a row with its error), so the pinger always stops.
  let ran: Ran[] = [];
  let flood: Ran | null = null;
  let alone: Ran[] | null = null;
  // The rounds without the flood in two halves (even and odd rounds): together the victims'
  // rates alone, against each other the control.
  const halves: [Ran[], Ran[]] = [[], []];
  const sched0 = isNoisy ? flooder.schedule({ cap: s.cap ?? 0 }) : null;
  if (isNoisy) {
    const slice = ms / NOISY_ROUNDS;
    for (let round = 0; round < NOISY_ROUNDS; round++) {
      const a = await runOn(victims, paramsOf(slice));
      const [w, f] = await Promise.all([runOn(victims, paramsOf(slice)), runOn([flooder], paramsOf(slice, 'flood'))]);
      const half = halves[round % 2] as Ran[];
      a.forEach((r, i) => (half[i] = merge(half[i], r)));
      ran = w.map((r, i) => merge(ran[i], r));
      if (f[0]) flood = merge(flood ?? undefined, f[0]);
    }
    alone = halves[1].map((r, i) => merge(halves[0][i], r));
  } else ran = await runOn(victims, paramsOf(ms));
  const wallMs = performance.now() - w0;
  const c1 = cpuSnapshot();
  const sched1 = isNoisy ? flooder.schedule() : null;
  const beside = await pinger.end();
  for (const r of [...ran, ...(flood ? [flood] : []), ...(alone ?? [])]) if (r.error) errors.push(`${r.domain.name}: ${r.error}`);
  const everyone = flood ? [...ran, flood] : ran;
  const perGuest = everyone.map((r) => guestFigures(r, limits));
  const sum = (f: (g: BenchGuestFigures) => number): number => perGuest.reduce((t, g) => t + f(g), 0);
  const reconfigs = everyone.reduce((t, r) => t + rate(r.report?.reconfigs ?? 0, r.report?.elapsedMs ?? 0), 0);
  const victimRates = ran.map((r) => rate(r.report?.dmas ?? 0, r.report?.elapsedMs ?? 0));
  let victimFigures: BenchVictim[] | null = null;
  if (alone) {
    victimFigures = ran.map((r, i) => {
      const a = alone[i];
      const p99 = (x: Ran | undefined): number => (x?.report && x.report.trapNs.length > 0 ? summarizeNs(histogramOf([x.report.trapNs])).p99Us : 0);
      const [besideP99, aloneP99] = [p99(r), p99(a)];
      return {
        name: r.domain.name,
        throughput: figure(victimRates[i] ?? 0, 'DMA/s', rate(a?.report?.dmas ?? 0, a?.report?.elapsedMs ?? 0), 'its DMA/s without the flooding guest'),
        trapP99: besideP99 > 0 && aloneP99 > 0 ? figure(besideP99, 'us', aloneP99, 'its trap p99 without the flooding guest') : null,
      };
    });
  }
  const flooderFigures = sched0 && sched1 && flooder
    ? {
        name: flooder.name, cap: sched1.cap, parks: sched1.parks - sched0.parks,
        chargedMs: Math.round(sched1.chargedMs - sched0.chargedMs), xenMs: Math.round(sched1.xenMs - sched0.xenMs),
      }
    : null;
  const relayName = 'bare three-thread relay';
  return {
    workload: s.workload,
    series: s.series,
    size: s.size,
    pattern: s.pattern,
    guests,
    seconds,
    aggregate: {
      dmaPerS: figure(sum((g) => g.dmaPerS.value), 'DMA/s', limits.ringPerS, 'bare ring records/s'),
      mibPerS: figure(sum((g) => g.mibPerS.value), 'MiB/s', limits.memcpyMiBs, 'bare memcpy MiB/s, one core'),
      invalidationsPerS: figure(sum((g) => g.invalidationsPerS.value), 'TLBI/s', relayPerS(limits), 'bare relays/s'),
      reconfigsPerS: Number(reconfigs.toPrecision(3)),
    },
    perGuest,
    fairness: figure(jain(victimRates), 'Jain', 1, 'perfect fairness'),
    trapLatency: latencyOf(everyone, (r) => r.trapNs, beside, 'bare ping-pong beside the load') ?? latencyFigures({ count: 0, p50Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 }, beside, 'bare ping-pong beside the load'),
    syncLatency: latencyOf(everyone, (r) => r.syncNs, limits.relay, relayName),
    faultToIrq: latencyOf(everyone, (r) => r.faultIrqNs, limits.relay, relayName),
    pingPongBeside: beside,
    cpu: cpuBetween(c0, c1, threads).map((c) => ({ thread: c.thread, cpu: figure(c.ms, 'ms', wallMs, 'wall time of the cell') })),
    victims: victimFigures,
    victimControl: alone ? victimControl(halves) : null,
    flooder: flooderFigures,
    errors,
  };
}

/**
 * noisy's control: the worst victim's ratio between the two halves of its rounds without the
 * flood (its rate in the even rounds against the odd ones, the lower over the higher), i.e. what the
 * victims' statistic reads with no flood at all: how much of a victim's "loss" is the
 * scheduler's noise among identical guests sharing the cores. Each half is half as long as
 * the measured comparison, so it reads somewhat noisier.
 */
function victimControl([even, odd]: [Ran[], Ran[]]): number | null {
  const ratios = even.flatMap((a, i) => {
    const ra = rate(a.report?.dmas ?? 0, a.report?.elapsedMs ?? 0);
    const rb = rate(odd[i]?.report?.dmas ?? 0, odd[i]?.report?.elapsedMs ?? 0);
    return ra > 0 && rb > 0 ? [Math.min(ra, rb) / Math.max(ra, rb)] : [];
  });
  return ratios.length > 0 ? Number(Math.min(...ratios).toFixed(3)) : null;
}

/** The issue's targets, checked on this run's ratios (null where the run lacks the cells). */
export function targets(cells: readonly BenchCell[], limits: Limits): BenchTarget[] {
  const stream = cells.filter((c) => c.series === 'stream').sort((a, b) => a.guests - b.guests);
  const out: BenchTarget[] = [];
  const one = stream.find((c) => c.guests === 1);
  const most = stream.at(-1);
  if (one && most && most.guests > 1) {
    const ok = most.aggregate.dmaPerS.value >= one.aggregate.dmaPerS.value && most.fairness.value >= 0.95;
    out.push({ name: 'no collapse', ok, detail: `stream 4 KiB: ${most.guests} guests ${fmt(most.aggregate.dmaPerS.value)} DMA/s vs 1 guest ${fmt(one.aggregate.dmaPerS.value)}; Jain ${most.fairness.value} (>= 0.95)` });
  } else out.push({ name: 'no collapse', ok: null, detail: 'needs stream with 1 guest and more' });
  if (stream.length > 0) {
    const best = Math.max(...stream.map((c) => c.aggregate.mibPerS.value));
    out.push({ name: 'stream bandwidth', ok: best >= 0.5 * limits.memcpyMiBs, detail: `stream 4 KiB ${fmt(best)} MiB/s = ${(best / limits.memcpyMiBs).toFixed(2)}x bare memcpy (>= 0.5x)` });
  } else out.push({ name: 'stream bandwidth', ok: null, detail: 'needs stream' });
  const loaded = stream.find((c) => c.guests === 8) ?? most;
  if (loaded && loaded.trapLatency.count > 0) {
    const t = loaded.trapLatency;
    out.push({ name: 'trap latency under load', ok: t.p50.ratio <= 2 && t.p99.ratio <= 5, detail: `${loaded.guests}-guest stream: p50 ${t.p50.ratio}x (<= 2x), p99 ${t.p99.ratio}x (<= 5x) the ping-pong beside the load` });
  } else out.push({ name: 'trap latency under load', ok: null, detail: 'needs stream' });
  // Checked on the cells whose flooding guest is capped (the administrator's containment, as
  // `xl sched-credit -c`), if the run has them; the uncapped figure is given beside.
  const noisy = cells.filter((c) => c.victims && c.victims.length > 0);
  const capped = noisy.filter((c) => (c.flooder?.cap ?? 0) > 0);
  const judged = capped.length > 0 ? capped : noisy;
  if (judged.length > 0) {
    const worstOf = (cs: readonly BenchCell[]): { dma: number; trap: number | null } => {
      const vs = cs.flatMap((c) => c.victims ?? []);
      const traps = vs.flatMap((v) => (v.trapP99 ? [v.trapP99.ratio] : []));
      return { dma: Math.min(...vs.map((v) => v.throughput.ratio)), trap: traps.length > 0 ? Math.max(...traps) : null };
    };
    const w = worstOf(judged);
    const ok = w.dma >= 0.8 && (w.trap === null || w.trap <= 5);
    const cap = capped.length > 0 ? `with the flooding guest capped at ${capped[0]?.flooder?.cap}% of a CPU: ` : '';
    const trap = w.trap === null ? '' : `, trap p99 ${w.trap}x its own without the flood (<= 5x)`;
    const controls = judged.flatMap((c) => (c.victimControl == null ? [] : [c.victimControl]));
    const control = controls.length > 0 ? ` (control, no flood at all: ${Math.min(...controls)}x)` : '';
    let detail = `${cap}worst victim keeps ${w.dma}x of its throughput without the flood (>= 0.8x)${control}${trap}`;
    const free = noisy.filter((c) => (c.flooder?.cap ?? 0) === 0);
    if (capped.length > 0 && free.length > 0) {
      const u = worstOf(free);
      detail += `; uncapped ${u.dma}x${u.trap === null ? '' : `, trap p99 ${u.trap}x`}`;
    }
    out.push({ name: 'noisy neighbour', ok, detail });
  } else out.push({ name: 'noisy neighbour', ok: null, detail: 'needs noisy' });
  return out;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en');
}
