// The benchmark workloads (`vsmmu bench`), run inside a guest as one control call each so
// the main thread never drives them op by op. Each runs for `durationMs` on the runner's
// clock and returns counts plus bounded latency samples (ns) the caller turns into
// histograms:
//   - stream:   DMA through a mapped window, TLB-hit (few pages) or walk-heavy (one
//               transaction per page over more pages than the SMMU's IOTLB holds: the
//               runner sizes it with createSystem's smmu.iotlbEntries);
//   - strict:   Linux's strict DMA API: map, DMA, unmap + TLBI + CMD_SYNC per buffer;
//   - lazy:     Linux's flush queue: each buffer mapped at a fresh IOVA and unmapped after
//               its DMA without invalidation (iommu_unmap_fast); when the queue fills, the
//               domain is invalidated at once: TLBI_NH_ASID + CMD_SYNC (flushAsid);
//   - reconfig: STE/CD changes of a second device (a new domain and ASID each time, as a
//               re-attach) between bursts of DMA on the first;
//   - flood:    the noisy guest: bursts of raw TLBI commands, a faulting DMA whose event it
//               waits for (fault-to-interrupt latency), and DMA (`flood` picks the parts);
//   - spin:     a guest that only computes (no trap, no DMA): the control of the noisy
//               neighbour, what one more busy thread costs the others on this machine.
// Every workload probes its trap latency (a read of the vSMMU's IDR0, trapped to Xen) about
// once per `probeEveryMs`.

import { cmdOf, encodeCommand, CMD_WORDS } from '../arch/commands.ts';
import type { DmaDevice, DmaResult } from '../devices/dma-device.ts';
import type { AttachOptions, GuestFault } from './driver.ts';
import type { GuestDmaRequest } from './kernel.ts';

export type BenchWorkloadKind = 'stream' | 'strict' | 'lazy' | 'reconfig' | 'flood' | 'spin';

/** The parts of the flood that run (each default true). */
export interface FloodParts {
  /** FLOOD_CMDS raw TLBI_NH_VA + CMD_SYNC, waited for. */
  readonly tlbi?: boolean;
  /** A DMA to an unmapped IOVA and its F_TRANSLATION event, waited for through the interrupt. */
  readonly fault?: boolean;
  /** BURST / 2 DMAs through the window. */
  readonly dma?: boolean;
}

/** The kernel API the benchmark workloads use (GuestKernel implements it). */
export interface BenchKernel {
  readonly vsmmuBase: number;
  readonly driver: {
    attachment(vSid: number): { asid: number; granule: number } | null;
    stats(): { readonly tlbiCommands: number; readonly cdSyncs: number; readonly steSyncs: number };
    /** TLBI_NH_ASID of the device's domain + CMD_SYNC (the flush queue's invalidation). */
    flushAsid(vSid: number, ssid?: number): void;
  };
  attach(vSid: number, opts?: AttachOptions): unknown;
  alloc(bytes: number, align?: number): number;
  free(ipa: number): void;
  map(vSid: number, iova: number, ipa: number, length: number, prot?: number | string): void;
  unmap(vSid: number, iova: number, length: number, ssid?: number, sync?: boolean): number;
  dma(vSid: number, req: GuestDmaRequest): DmaResult;
  issueCommands(commands: readonly (readonly number[])[], sync?: boolean): unknown[];
  faults(since?: number): GuestFault[];
  pollIrq(): number;
  waitIrq(timeoutMs: number): number;
  mmioRead(gpa: number, size?: 4 | 8): [number, number];
  now(): number;
}

export interface BenchWorkloadParams {
  readonly kind: BenchWorkloadKind;
  readonly vSid: number;
  /** reconfig: the device whose STE/CD change (default vSid + 1). */
  readonly vSid2?: number;
  readonly durationMs: number;
  /** Bytes per DMA (default 4096). */
  readonly size?: number;
  /** stream: pages of the window (default 16: TLB hits; many pages: walk-heavy). */
  readonly pages?: number;
  /** stream: one transaction per page (stride 4 KiB) instead of packing the window. */
  readonly walk?: boolean;
  /** Transactions in flight on the device (default 128: half the device's descriptor ring). */
  readonly depth?: number;
  /** ASID of the device's domain (default 1). */
  readonly asid?: number;
  /** About how often to probe the trap latency (default 1 ms). */
  readonly probeEveryMs?: number;
  /** flood: which parts run (default all). */
  readonly flood?: FloodParts;
}

export interface BenchWorkloadReport {
  readonly kind: BenchWorkloadKind;
  readonly elapsedMs: number;
  readonly dmas: number;
  readonly bytes: number;
  /** DMAs that faulted (flood's deliberate ones included). */
  readonly faults: number;
  /** TLBI commands issued (driver's and flood's raw ones). */
  readonly invalidations: number;
  /** CMD_SYNCs waited for after invalidations or configuration changes. */
  readonly syncs: number;
  readonly reconfigs: number;
  /** Latency samples in ns (bounded: decimated when long). */
  readonly trapNs: readonly number[];
  /** TLBI + CMD_SYNC (strict, lazy, flood) or STE/CD change (reconfig), ns. */
  readonly syncNs: readonly number[];
  /** Faulting DMA's completion to its event taken by the guest, ns. */
  readonly faultIrqNs: readonly number[];
  /** What went wrong, if anything (the workload stops at the first error). */
  readonly error: string | null;
}

const PAGE = 4096;
const SAMPLES_MAX = 16_384;
const BURST = 64;
/** Transfers per stream call: several rings' worth, so the ring stays full between calls. */
const STREAM_BURST = 1024;
const FQ_BUFFERS = 256;
const FLOOD_CMDS = 32;
const CHUNK = 64 * 1024;
const FAULT_WAIT_MS = 50;
/** IOVA bases per workload (disjoint, so a leftover mapping never aliases). */
const IOVA_STREAM = 0x2000_0000;
const IOVA_BUF = 0x3000_0000;
const IOVA_UNMAPPED = 0x7000_0000;

/** A bounded sample list: when full, every other sample is dropped and the keep rate halves. */
class Samples {
  readonly list: number[] = [];
  #every = 1;
  #n = 0;
  add(ms: number): void {
    if (this.#n++ % this.#every !== 0) return;
    this.list.push(Math.max(1, Math.round(ms * 1e6)));
    if (this.list.length >= SAMPLES_MAX) {
      let w = 0;
      for (let r = 0; r < this.list.length; r += 2) this.list[w++] = this.list[r] as number;
      this.list.length = w;
      this.#every *= 2;
    }
  }
}

function fill(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}

export function runBenchWorkload(k: BenchKernel, p: BenchWorkloadParams, devOf: (vSid: number) => DmaDevice): BenchWorkloadReport {
  if (p.kind === 'spin') return spin(k, p.durationMs);
  const size = Math.max(1, Math.floor(p.size ?? PAGE));
  const depth = Math.max(1, Math.floor(p.depth ?? 128));
  const probeEvery = p.probeEveryMs ?? 1;
  const asid = p.asid ?? 1;
  const trap = new Samples();
  const sync = new Samples();
  const faultIrq = new Samples();
  let dmas = 0;
  let bytes = 0;
  let faults = 0;
  let rawTlbi = 0;
  let syncs = 0;
  let reconfigs = 0;
  let error: string | null = null;
  const tlbiBefore = k.driver.stats().tlbiCommands;
  const cleanup: (() => void)[] = [];
  const idr0 = k.vsmmuBase; // IDR0 is at offset 0 of page 0
  const t0 = k.now();
  let workEnd = t0;
  const end = t0 + p.durationMs;
  let nextProbe = t0;
  const probe = (): void => {
    const now = k.now();
    if (now < nextProbe) return;
    nextProbe = now + probeEvery;
    const s = k.now();
    k.mmioRead(idr0, 4);
    trap.add(k.now() - s);
  };
  const account = (r: { ok: number; faults: number; bytes: number }, n: number): void => {
    dmas += n;
    bytes += r.bytes;
    faults += r.faults;
  };
  const ensureAttached = (vSid: number, a: number): void => {
    const cur = k.driver.attachment(vSid);
    if (!cur || cur.asid !== a) k.attach(vSid, { asid: a });
  };
  // A mapped window the device streams over: `slots` places of `size` bytes at `stride`.
  // Backed by CHUNK-sized buffers (the kernel's RAM may be fragmented), mapped back to back.
  const window = (vSid: number, pages: number): { iova: number; slots: number; stride: number } => {
    const len = Math.ceil(Math.max(pages * PAGE, size) / CHUNK) * CHUNK;
    const ipas: number[] = [];
    let mapped = 0;
    cleanup.push(() => {
      if (mapped > 0) k.unmap(vSid, IOVA_STREAM, mapped);
      for (const ipa of ipas) k.free(ipa);
    });
    for (; mapped < len; mapped += CHUNK) {
      const ipa = k.alloc(CHUNK, PAGE);
      ipas.push(ipa);
      k.map(vSid, IOVA_STREAM + mapped, ipa, CHUNK, 'rw');
    }
    const stride = p.walk ? Math.max(PAGE, Math.ceil(size / PAGE) * PAGE) : size;
    return { iova: IOVA_STREAM, slots: Math.max(1, Math.floor(len / stride)), stride };
  };
  const src = fill(size, p.vSid);

  try {
    ensureAttached(p.vSid, asid);
    const dev = devOf(p.vSid);
    const win = window(p.vSid, p.pages ?? (p.kind === 'stream' ? 16 : 4));
    let at = 0;
    const burst = (n: number): void => {
      const base = at;
      const r = dev.stream({ count: n, size, depth, iovaOf: (i) => win.iova + ((base + i) % win.slots) * win.stride, writeOf: (i) => ((base + i) & 1) === 0, src });
      at = (at + n) % win.slots;
      account(r, n);
    };

    if (p.kind === 'stream') {
      // Walk-heavy when the window has more pages than the IOTLB has entries: the sweep
      // evicts every translation before its page comes round again.
      while (k.now() < end) {
        burst(STREAM_BURST);
        probe();
      }
    } else if (p.kind === 'strict' || p.kind === 'lazy') {
      // A pool of buffers (dma_alloc'd once); each use maps it at the next IOVA, as the
      // IOVA allocator hands them out.
      const len = Math.ceil(size / PAGE) * PAGE;
      const pool = Math.min(FQ_BUFFERS, 64);
      const bufs: number[] = [];
      for (let i = 0; i < pool; i++) bufs.push(k.alloc(len, PAGE));
      cleanup.push(() => bufs.forEach((b) => k.free(b)));
      const lazy = p.kind === 'lazy';
      const fq = lazy ? FQ_BUFFERS : 1;
      let pending = 0; // buffers unmapped since the last flush (lazy)
      for (let n = 0; k.now() < end; n++) {
        const slot = n % fq;
        const iova = IOVA_BUF + slot * len;
        k.map(p.vSid, iova, bufs[n % pool] as number, len, 'rw');
        pending++;
        const r = k.dma(p.vSid, { op: (n & 1) === 0 ? 'write' : 'read', iova, ...((n & 1) === 0 ? { data: src } : { length: size }) });
        dmas++;
        bytes += r.bytes;
        if (r.status !== 'ok') faults++;
        if (!lazy) {
          // strict: dma_unmap: the range's TLBIs + CMD_SYNC.
          const s = k.now();
          k.unmap(p.vSid, iova, len);
          sync.add(k.now() - s);
          syncs++;
          pending = 0;
        } else {
          // iommu_unmap_fast: the leaves cleared, the invalidation deferred to the queue.
          k.unmap(p.vSid, iova, len, 0, false);
          if (slot === fq - 1) {
            const s = k.now();
            k.driver.flushAsid(p.vSid);
            sync.add(k.now() - s);
            syncs++;
            pending = 0;
          }
        }
        probe();
      }
      if (pending > 0) {
        // The queue's last, partial flush (also timed: a short cell may see no full queue).
        const s = k.now();
        k.driver.flushAsid(p.vSid);
        sync.add(k.now() - s);
        syncs++;
      }
    } else if (p.kind === 'reconfig') {
      const vSid2 = p.vSid2 ?? p.vSid + 1;
      const dev2 = devOf(vSid2);
      const ipa = k.alloc(PAGE, PAGE);
      cleanup.push(() => k.free(ipa));
      // The page is left mapped in the second device's current domain: unmapped first.
      cleanup.push(() => void (k.driver.attachment(vSid2) && k.unmap(vSid2, IOVA_BUF, PAGE)));
      const asids = [asid + 100, asid + 101];
      for (let n = 0; k.now() < end; n++) {
        burst(BURST / 2);
        // A new domain for the second device: abort STE, CD cleared, TLBI_NH_ASID of the old
        // domain, new CD, valid STE, each with its CFGI + CMD_SYNC.
        const s = k.now();
        k.attach(vSid2, { asid: asids[n & 1] as number });
        sync.add(k.now() - s);
        reconfigs++;
        k.map(vSid2, IOVA_BUF, ipa, PAGE, 'rw');
        const r = dev2.write(IOVA_BUF, src.subarray(0, Math.min(size, PAGE)));
        dmas++;
        bytes += r.bytes;
        if (r.status !== 'ok') faults++;
        probe();
      }
    } else {
      // flood: raw TLBIs of its own ASID (Xen forwards them), a fault per round, DMA.
      const words: number[][] = [];
      for (let i = 0; i < FLOOD_CMDS; i++) {
        const w = new Array<number>(CMD_WORDS).fill(0);
        encodeCommand(cmdOf('TLBI_NH_VA', { asid, leaf: 1, addr: IOVA_STREAM + i * PAGE }), w);
        words.push(w);
      }
      let since = k.faults().at(-1)?.seq ?? 0;
      const parts = { tlbi: p.flood?.tlbi ?? true, fault: p.flood?.fault ?? true, dma: p.flood?.dma ?? true };
      // With no part at all, the guest idles (WFI) between its trap-latency probes.
      const idle = !parts.tlbi && !parts.fault && !parts.dma;
      for (let n = 0; k.now() < end; n++) {
        if (idle) {
          probe();
          k.waitIrq(Math.max(0.01, Math.min(probeEvery, end - k.now())));
          continue;
        }
        if (parts.tlbi) {
          const s = k.now();
          k.issueCommands(words, true);
          sync.add(k.now() - s);
          rawTlbi += FLOOD_CMDS;
          syncs++;
        }
        if (parts.dma) burst(BURST / 2);
        probe();
        if (!parts.fault) continue;
        // A DMA into an address never mapped: the device aborts, the guest gets the event.
        const bad = IOVA_UNMAPPED + (n % 4096) * PAGE;
        const r = dev.read(bad, 64);
        dmas++;
        if (r.status !== 'ok') faults++;
        const f0 = k.now();
        const deadline = f0 + FAULT_WAIT_MS;
        k.pollIrq();
        for (;;) {
          const got = k.faults(since).find((f) => f.iova === bad);
          if (got) {
            faultIrq.add(k.now() - f0);
            since = got.seq;
            break;
          }
          const left = deadline - k.now();
          if (left <= 0) break;
          k.waitIrq(Math.min(left, 5));
        }
      }
    }
  } catch (e) {
    const err = e as { code?: string; message?: string };
    error = `${err.code ?? 'ERROR'}: ${err.message ?? String(e)}`;
  } finally {
    workEnd = k.now();
    for (const c of cleanup.reverse()) {
      try {
        c();
      } catch {
        // best effort: the report carries the first error already
      }
    }
  }
  return {
    kind: p.kind,
    elapsedMs: workEnd - t0,
    dmas, bytes, faults,
    invalidations: k.driver.stats().tlbiCommands - tlbiBefore + rawTlbi,
    syncs, reconfigs,
    trapNs: trap.list, syncNs: sync.list, faultIrqNs: faultIrq.list,
    error,
  };
}

/**
 * The spin workload: computes until the end, with no trap, DMA or command. A clock that did
 * not move over a chunk of work is virtual time (sim mode), where there is no core to take:
 * it ends at once.
 */
function spin(k: BenchKernel, durationMs: number): BenchWorkloadReport {
  const t0 = k.now();
  const end = t0 + durationMs;
  let now = t0;
  let x = 1;
  while (now < end) {
    for (let i = 0; i < 4096; i++) x = (Math.imul(x, 48271) + i) | 0;
    const t = k.now();
    if (t === now) break;
    now = t;
  }
  return {
    // (x & 0) is 0: it keeps the loop's work live for the compiler.
    kind: 'spin', elapsedMs: now - t0 + (x & 0), dmas: 0, bytes: 0, faults: 0, invalidations: 0, syncs: 0, reconfigs: 0,
    trapNs: [], syncNs: [], faultIrqNs: [], error: null,
  };
}
