// Workloads a guest runs for the CLI and the benchmarks, over its kernel's API:
//   - map-dma-fault: map a buffer, DMA into it, check the bytes (in RAM and read back),
//     unmap (TLBI + SYNC), DMA again and expect the fault: the device sees the abort, and
//     the guest receives F_TRANSLATION with its vSID and the IOVA through its event queue
//     and interrupt;
//   - dma-stream: a stream of DMA transactions of a chosen size at a chosen rate over a
//     mapped window, with per-transfer latency.

import type { DmaDevice, DmaFault, DmaResult } from '../devices/dma-device.ts';
import type { AttachOptions, GuestFault } from './driver.ts';
import type { GuestDmaRequest } from './kernel.ts';
import { LatencyRecorder, type LatencySummary } from './latency.ts';

/** The kernel API the workloads use (GuestKernel implements it). */
export interface WorkloadKernel {
  readonly driver: { attachment(vSid: number): { asid: number; granule: number } | null };
  attach(vSid: number, opts?: AttachOptions): unknown;
  alloc(bytes: number, align?: number): number;
  free(ipa: number): void;
  map(vSid: number, iova: number, ipa: number, length: number, prot?: number | string): void;
  unmap(vSid: number, iova: number, length: number): number;
  dma(vSid: number, req: GuestDmaRequest): DmaResult;
  memRead(ipa: number, length: number): Uint8Array;
  faults(since?: number): GuestFault[];
  pollIrq(): number;
  waitIrq(timeoutMs: number): number;
  /** The runner's clock (ms). */
  now(): number;
  /** Idles until `dueMs` on now()'s clock. */
  sleepUntil(dueMs: number): void;
}

export interface WorkloadStep {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly ms: number;
}

export interface MapDmaFaultParams {
  readonly vSid: number;
  /** Default 0x1000_0000. */
  readonly iova?: number;
  /** Bytes, a multiple of the granule (default 16 KiB). */
  readonly size?: number;
  /** Used when the device is not attached yet. */
  readonly attach?: AttachOptions;
  /** How long to wait for the fault's interrupt (default 2 s). */
  readonly irqTimeoutMs?: number;
}

export interface MapDmaFaultReport {
  readonly ok: boolean;
  readonly vSid: number;
  readonly iova: number;
  readonly ipa: number;
  readonly size: number;
  readonly steps: readonly WorkloadStep[];
  /** What the device saw on the DMA after unmap. */
  readonly dmaFault: DmaFault | null;
  /** The event the guest took from its event queue for it. */
  readonly fault: GuestFault | null;
}

/** The bytes map-dma-fault writes for device `vSid` (what a checker expects in memory). */
export function workloadPattern(n: number, vSid: number): Uint8Array {
  return pat(n, vSid);
}

function pat(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >>> 12)) & 0xff;
  return b;
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

export function runMapDmaFault(k: WorkloadKernel, p: MapDmaFaultParams): MapDmaFaultReport {
  const vSid = p.vSid;
  const iova = p.iova ?? 0x1000_0000;
  const size = p.size ?? 16 * 1024;
  const steps: WorkloadStep[] = [];
  let failed = false;
  const step = (name: string, fn: () => { ok: boolean; detail: string }): boolean => {
    if (failed) return false;
    const t0 = k.now();
    let r: { ok: boolean; detail: string };
    try {
      r = fn();
    } catch (e) {
      const err = e as { code?: string; message?: string };
      r = { ok: false, detail: `${err.code ?? 'ERROR'}: ${err.message ?? String(e)}` };
    }
    steps.push({ name, ok: r.ok, detail: r.detail, ms: Math.round((k.now() - t0) * 1000) / 1000 });
    if (!r.ok) failed = true;
    return r.ok;
  };
  let ipa = -1;
  let dmaFault: DmaFault | null = null;
  let fault: GuestFault | null = null;
  const data = pat(size, vSid);
  const since = k.faults().at(-1)?.seq ?? 0;

  step('attach', () => {
    const a = k.driver.attachment(vSid);
    if (a) return { ok: true, detail: `already attached (ASID ${a.asid})` };
    k.attach(vSid, p.attach ?? {});
    const b = k.driver.attachment(vSid);
    return { ok: b !== null, detail: `ASID ${b?.asid ?? '?'}, granule ${b?.granule ?? '?'}` };
  });
  step('alloc+map', () => {
    ipa = k.alloc(size, 4096);
    k.map(vSid, iova, ipa, size, 'rw');
    return { ok: true, detail: `IOVA 0x${iova.toString(16)} -> IPA 0x${ipa.toString(16)}, ${size} bytes` };
  });
  step('dma-write', () => {
    const r = k.dma(vSid, { op: 'write', iova, data });
    return { ok: r.status === 'ok' && r.bytes === size, detail: `${r.status}, ${r.bytes} bytes` };
  });
  step('check-ram', () => {
    const got = k.memRead(ipa, size);
    const d = firstDiff(got, data);
    return { ok: d < 0, detail: d < 0 ? `${size} bytes match at IPA 0x${ipa.toString(16)}` : `first difference at +0x${d.toString(16)}` };
  });
  step('dma-read', () => {
    const r = k.dma(vSid, { op: 'read', iova, length: size });
    const d = r.data ? firstDiff(r.data, data) : 0;
    return { ok: r.status === 'ok' && d < 0, detail: `${r.status}, ${r.bytes} bytes${d >= 0 ? `, first difference at +0x${d.toString(16)}` : ', match'}` };
  });
  step('unmap', () => {
    const n = k.unmap(vSid, iova, size);
    return { ok: n === size, detail: `${n} bytes unmapped (TLBI + SYNC)` };
  });
  step('dma-after-unmap', () => {
    const r = k.dma(vSid, { op: 'write', iova, data: pat(size, vSid + 1) });
    dmaFault = r.fault ?? null;
    const ok = r.status === 'fault' && r.bytes === 0 && dmaFault?.name === 'F_TRANSLATION';
    return { ok, detail: `${r.status}${dmaFault ? ` ${dmaFault.name} at 0x${dmaFault.iova.toString(16)}` : ''}, ${r.bytes} bytes` };
  });
  step('ram-unchanged', () => {
    const d = firstDiff(k.memRead(ipa, size), data);
    return { ok: d < 0, detail: d < 0 ? 'no byte written by the faulting DMA' : `changed at +0x${d.toString(16)}` };
  });
  step('fault-event', () => {
    const match = (f: GuestFault): boolean => f.sid === vSid && f.iova >= iova && f.iova < iova + size;
    const deadline = k.now() + (p.irqTimeoutMs ?? 2000);
    k.pollIrq();
    for (;;) {
      fault = k.faults(since).find(match) ?? null;
      if (fault) break;
      const left = deadline - k.now();
      if (left <= 0) break;
      k.waitIrq(left);
    }
    const f = fault as GuestFault | null;
    return {
      ok: f !== null && f.name === 'F_TRANSLATION',
      detail: f ? `${f.name} vSID ${f.sid} IOVA 0x${f.iova.toString(16)} (event #${f.seq}, ${f.rnw ? 'read' : 'write'}, S2 ${f.s2})` : 'no event in the guest event queue',
    };
  });
  if (ipa >= 0) k.free(ipa);
  return { ok: !failed, vSid, iova, ipa, size, steps, dmaFault, fault };
}

export interface DmaStreamParams {
  readonly vSid: number;
  /** Default 0x2000_0000. */
  readonly iova?: number;
  /** Bytes per DMA (default 4096). */
  readonly size?: number;
  /** Number of DMAs (default 1000). */
  readonly count?: number;
  /** DMAs per second; 0 or absent: as fast as possible, `depth` in flight. */
  readonly rate?: number;
  /** Transactions the device keeps in flight when not rate-limited (default 32). */
  readonly depth?: number;
  readonly op?: 'read' | 'write' | 'mixed';
  /** Bytes of the mapped window the stream cycles over (default min(count, 64) x size, page-rounded). */
  readonly window?: number;
  readonly attach?: AttachOptions;
}

export interface DmaStreamReport {
  readonly count: number;
  readonly ok: number;
  readonly faults: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  /** DMAs per second achieved. */
  readonly rate: number;
  readonly mibPerS: number;
  /** Per-DMA completion latency. */
  readonly latency: LatencySummary;
}


/** `dev` is the device of `p.vSid` (the kernel's own, not reachable through the control API). */
export function runDmaStream(k: WorkloadKernel, p: DmaStreamParams, dev: DmaDevice): DmaStreamReport {
  const vSid = p.vSid;
  const iova = p.iova ?? 0x2000_0000;
  const size = Math.max(1, Math.floor(p.size ?? 4096));
  const count = Math.max(0, Math.floor(p.count ?? 1000));
  const page = 4096;
  const window = Math.ceil((p.window ?? Math.min(Math.max(count, 1), 64) * size) / page) * page;
  if (!k.driver.attachment(vSid)) k.attach(vSid, p.attach ?? {});
  const ipa = k.alloc(window, page);
  k.map(vSid, iova, ipa, window, 'rw');
  using lat = new LatencyRecorder(); // its histogram goes to the next stream's
  const data = pat(size, 7);
  const slots = Math.max(1, Math.floor(window / size));
  let ok = 0;
  let faults = 0;
  let bytes = 0;
  const period = p.rate && p.rate > 0 ? 1000 / p.rate : 0;
  const t0 = k.now();
  const writeOf = (i: number): boolean => p.op === 'write' || p.op === undefined || (p.op === 'mixed' && (i & 1) === 0);
  try {
    if (period === 0) {
      // As fast as possible: the device keeps `depth` transactions in flight.
      const r = dev.stream(
        { count, size, depth: p.depth ?? 128, iovaOf: (i) => iova + (i % slots) * size, writeOf, src: data },
        (_i, _ok, ms) => lat.record(ms),
      );
      ok = r.ok;
      faults = r.faults;
      bytes = r.bytes;
    } else for (let i = 0; i < count; i++) {
      if (period > 0) {
        const due = t0 + i * period;
        if (k.now() < due) k.sleepUntil(due);
      }
      const write = writeOf(i);
      const at = iova + (i % slots) * size;
      const s = k.now();
      const r = write ? k.dma(vSid, { op: 'write', iova: at, data }) : k.dma(vSid, { op: 'read', iova: at, length: size });
      lat.record(k.now() - s);
      if (r.status === 'ok') ok++;
      else faults++;
      bytes += r.bytes;
    }
  } finally {
    k.unmap(vSid, iova, window);
    k.free(ipa);
  }
  const elapsedMs = k.now() - t0;
  return {
    count, ok, faults, bytes,
    elapsedMs: Math.round(elapsedMs * 1000) / 1000,
    rate: elapsedMs > 0 ? Math.round((count / elapsedMs) * 1000) : 0,
    mibPerS: elapsedMs > 0 ? Math.round((bytes / 1048576 / (elapsedMs / 1000)) * 100) / 100 : 0,
    latency: lat.summary(),
  };
}
