// The scenario `vsmmu run` runs: Xen with guests, every guest checking its DMA path, then
// streaming DMA for a while. With no domains given, the built-in one: N guests with a vSMMU
// and two devices each, plus a guest without one.
import type { LatencySummary } from '../guest/latency.ts';
import type { MapDmaFaultReport, DmaStreamReport } from '../guest/workloads.ts';
import { VsmmuError } from '../errors.ts';
import type { Domain } from './domain.ts';
import type { DomainOptions, SystemOptions } from './options.ts';
import { createSystem } from './system.ts';
import type { XenProfileName } from '../xen/profile.ts';

export interface ScenarioOptions {
  /** Guests with a vSMMU in the built-in scenario (default 2). */
  readonly guests?: number;
  /** How long every guest streams DMA after its checks (default 1 s; 0 skips streaming). */
  readonly seconds?: number;
  readonly memory?: number | string;
  readonly cmdline?: string;
  /** Xen's policy profile (default 'hardened'). */
  readonly profile?: XenProfileName;
  /** Domains to run instead of the built-in ones (objects or xl.cfg texts). */
  readonly domains?: SystemOptions['domains'];
  /** Called about 5 times a second while streaming. */
  readonly onProgress?: (p: ScenarioProgress) => void;
  /** Trace the whole run into this Chrome Trace Event file (docs/tracing.md). */
  readonly traceFile?: string;
}

export interface ScenarioProgress {
  readonly elapsedMs: number;
  readonly totalMs: number;
  readonly dmas: number;
  readonly bytes: number;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface GuestReport {
  readonly name: string;
  readonly viommu: string;
  readonly checks: readonly Check[];
  readonly dmas: number;
  readonly bytes: number;
  /** Faults the guest took from its event queue. */
  readonly faultsReceived: number;
  /** Guest invalidations and CFGI commands Xen forwarded to the physical SMMU. */
  readonly invalidationsForwarded: number;
  readonly trapLatency: LatencySummary | null;
  readonly stream: { readonly dmas: number; readonly rate: number; readonly mibPerS: number } | null;
}

export interface ScenarioReport {
  readonly ok: boolean;
  readonly elapsedMs: number;
  readonly guests: readonly GuestReport[];
  readonly smmu: { readonly translations: number; readonly iotlbHitRate: number; readonly commands: number; readonly events: number };
  readonly warnings: readonly string[];
}

const STREAM_CHUNK = 256;
/** Most guests with a vSMMU the built-in scenario runs. */
export const MAX_GUESTS = 64;

export function defaultDomains(guests: number): DomainOptions[] {
  const doms: DomainOptions[] = [];
  for (let g = 1; g <= guests; g++) {
    doms.push({ name: `guest${g}`, memory: '32M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x100 * g }, { name: 'dma1', sid: 0x100 * g + 1 }] });
  }
  doms.push({ name: 'plain', memory: '16M', viommu: 'none', devices: [{ name: 'dma0', sid: 0x10 }] });
  return doms;
}

interface Tally {
  dmas: number;
  bytes: number;
  checks: Check[];
  /** Streaming only: DMAs, bytes and milliseconds spent (null before any streaming). */
  stream: { dmas: number; bytes: number; ms: number } | null;
}

export async function runScenario(o: ScenarioOptions = {}): Promise<ScenarioReport> {
  const guests = o.guests ?? 2;
  if (!Number.isInteger(guests) || guests < 0 || guests > MAX_GUESTS) throw new VsmmuError('EVSMMU_USAGE', `guests must be a whole number from 0 to ${MAX_GUESTS}, got ${guests}`);
  const seconds = o.seconds ?? 1;
  const domains = o.domains ?? defaultDomains(guests);
  const memory = o.memory ?? Math.max(512, 64 + 48 * domains.length) * 1024 * 1024;
  const t0 = performance.now();
  await using sys = await createSystem({ memory, xen: { cmdline: o.cmdline ?? 'viommu=1', ...(o.profile === undefined ? {} : { profile: o.profile }) }, domains });
  const tallies = new Map<Domain, Tally>(sys.domains.map((d) => [d, { dmas: 0, bytes: 0, checks: [], stream: null }]));
  if (o.traceFile !== undefined) await sys.trace.start();

  await Promise.all(sys.domains.map((d) => checkDomain(d, tallies.get(d)!)));

  if (seconds > 0) {
    const totalMs = seconds * 1000;
    const start = performance.now();
    const timer = o.onProgress
      ? setInterval(() => {
          let dmas = 0;
          let bytes = 0;
          for (const t of tallies.values()) (dmas += t.dmas), (bytes += t.bytes);
          o.onProgress?.({ elapsedMs: performance.now() - start, totalMs, dmas, bytes });
        }, 200)
      : null;
    try {
      await Promise.all(sys.domains.map((d) => streamDomain(d, tallies.get(d)!, start + totalMs)));
    } finally {
      if (timer) clearInterval(timer);
    }
  }

  if (o.traceFile !== undefined) await sys.trace.stop({ file: o.traceFile });
  const st = await sys.stats();
  const xenDomains = new Map(st.xenDomains.map((x) => [x.name, x]));
  const reports = sys.domains.map((d): GuestReport => {
    const t = tallies.get(d)!;
    const g = st.domains[d.name];
    const guest = g && 'trapLatency' in g ? g : null;
    const sm = t.stream;
    return {
      name: d.name,
      viommu: d.viommu,
      checks: t.checks,
      dmas: t.dmas,
      bytes: t.bytes,
      faultsReceived: guest?.driver?.evtq.events ?? 0,
      invalidationsForwarded: xenDomains.get(d.name)?.vsmmu?.forwarded ?? 0,
      trapLatency: guest && guest.trapLatency.count > 0 ? guest.trapLatency : null,
      stream: sm && sm.ms > 0 ? { dmas: sm.dmas, rate: (sm.dmas * 1000) / sm.ms, mibPerS: sm.bytes / 1048576 / (sm.ms / 1000) } : null,
    };
  });
  const smmu = st.smmu;
  return {
    ok: reports.every((r) => r.checks.length > 0 && r.checks.every((c) => c.ok)),
    elapsedMs: performance.now() - t0,
    guests: reports,
    smmu: {
      translations: smmu.translations,
      iotlbHitRate: smmu.iotlb.lookups > 0 ? smmu.iotlb.hits / smmu.iotlb.lookups : 0,
      commands: smmu.commands.executed,
      events: smmu.events.written,
    },
    warnings: sys.warnings,
  };
}

async function checkDomain(d: Domain, t: Tally): Promise<void> {
  const check = (name: string, ok: boolean, detail: string): void => void t.checks.push({ name, ok, detail });
  try {
    if (d.viommu === 'smmuv3') {
      const probe = await d.driver.probe();
      check('probe', true, `vSMMU stage 1, ${probe.strtab.twoLevel ? '2-level' : 'linear'} stream table`);
      for (const [i, dev] of d.devices.entries()) {
        const r: MapDmaFaultReport = await d.call('workloadMapDmaFault', { vSid: dev.vsid, iova: 0x1000_0000 + i * 0x100_0000, attach: { asid: i + 1 } });
        const failed = r.steps.find((s) => !s.ok);
        check(`${dev.name}: map, DMA, check, unmap, fault`, r.ok, failed ? `${failed.name}: ${failed.detail}` : (r.steps.at(-1)?.detail ?? ''));
        t.dmas += 3;
        t.bytes += 2 * r.size;
      }
    } else {
      for (const [i, dev] of d.devices.entries()) {
        // Stage 2 only: the device's addresses are IPAs.
        const ipa = 0x4000_0000 + 0x10_0000 + i * 0x1_0000;
        const data = Uint8Array.from({ length: 4096 }, (_, k) => (k + dev.sid) & 0xff);
        const w = await dev.dma({ iova: ipa, data });
        const r = await dev.dma({ iova: ipa, length: 4096 });
        const same = r.ok && r.data !== undefined && Buffer.compare(r.data, data) === 0 && Buffer.compare(d.memory.read(ipa, 4096), data) === 0;
        check(`${dev.name}: stage-2 DMA`, w.ok && same, same ? '4096 bytes written and read back through stage 2' : 'data mismatch');
        const out = await dev.dma({ iova: 0x4000_0000 + d.config.memory, length: 4 });
        check(`${dev.name}: outside RAM`, !out.ok && 'fault' in out && 's2' in out.fault && out.fault.s2 === 1, out.ok ? 'DMA outside RAM succeeded' : 'stage-2 fault, kept by Xen');
        t.dmas += 3;
        t.bytes += 8192;
      }
    }
  } catch (e) {
    const err = e as { code?: string; message?: string };
    check('guest', false, `${err.code ?? 'ERROR'}: ${err.message ?? String(e)}`);
  }
}

/** Streaming counts toward both the guest's totals and its streaming rate. */
function addStream(t: Tally, dmas: number, bytes: number, ms: number): void {
  t.dmas += dmas;
  t.bytes += bytes;
  t.stream ??= { dmas: 0, bytes: 0, ms: 0 };
  t.stream.dmas += dmas;
  t.stream.bytes += bytes;
  t.stream.ms += ms;
}

async function streamDomain(d: Domain, t: Tally, deadline: number): Promise<void> {
  try {
    if (d.viommu === 'smmuv3') {
      const dev = d.devices[0];
      if (!dev) return;
      while (performance.now() < deadline) {
        const r: DmaStreamReport = await d.call('workloadDmaStream', { vSid: dev.vsid, iova: 0x2000_0000, size: 4096, count: STREAM_CHUNK, op: 'mixed', attach: { asid: 1 } });
        addStream(t, r.count, r.bytes, r.elapsedMs);
        if (r.faults > 0 || r.ok !== r.count) {
          t.checks.push({ name: 'stream', ok: false, detail: `${r.faults} faults in ${r.count} DMAs` });
          return;
        }
      }
    } else {
      const dev = d.devices[0];
      if (!dev) return;
      const start = performance.now();
      let n = 0;
      while (performance.now() < deadline) {
        const r = await dev.dma({ iova: 0x4000_0000 + 0x10_0000, length: 4096 });
        if (!r.ok) {
          t.checks.push({ name: 'stream', ok: false, detail: 'stage-2 DMA failed while streaming' });
          return;
        }
        n++;
      }
      addStream(t, n, n * 4096, performance.now() - start);
    }
  } catch (e) {
    const err = e as { code?: string; message?: string };
    t.checks.push({ name: 'stream', ok: false, detail: `${err.code ?? 'ERROR'}: ${err.message ?? String(e)}` });
  }
}
