// The stress workload a guest runs on itself (vsmmu stress): a seeded list of operations on
// its own devices, executed one per step, each checked against a model of what the guest
// mapped. It runs inside the guest (on its thread, or as its steps in sim mode), so the
// program that started it is never the bottleneck.
//
// Operations (each an intention, skipped when the state does not allow it, so that any
// sub-list of a list is still a valid list: that is what shrinking removes):
//   map / map-range      map free IOVA slots of a device (and PASID) to its buffers
//   unmap                strict: unmap, then the range TLBIs Linux gathers, then CMD_SYNC
//   unmap-lazy + flush   flush-queue mode: unmap without invalidation, later TLBI_NH_ASID + SYNC
//   dma-write / dma-read a DMA to a slot: mapped -> the bytes land at (come from) its buffer;
//                        unmapped and invalidated -> F_TRANSLATION, which must reach this
//                        guest's event queue with the device's vSID, SSID and the IOVA
//   reattach             detach (abort STE), attach again to a new ASID (STE + CD change)
//   pasid / unpasid      attach / detach a PASID (CD[ssid]) of a device
//   fault-burst          DMAs to several unmapped slots at once (event-queue pressure)
//   irq                  take the vSMMU interrupt now
// Checked at every step: no stale translation after unmap + TLBI + SYNC; DMA data where the
// model says; every fault record provoked by this guest (its vSIDs, a provoked IOVA); at
// the end, every provoked fault delivered at least once (identical events may merge) unless
// the event queue overflowed.
import type { DmaResult } from '../devices/dma-device.ts';
import type { GuestFault } from './driver.ts';
import type { GuestKernel } from './kernel.ts';
import { prng } from '../prng.ts';
import { sameBytes } from '../mem/bytes.ts';

export const STRESS_OPS = [
  'map', 'map-range', 'unmap', 'unmap-lazy', 'flush', 'dma-write', 'dma-read', 'reattach', 'pasid', 'unpasid', 'fault-burst', 'irq',
] as const;
export type StressOpName = (typeof STRESS_OPS)[number];

/** One intention: [op index in STRESS_OPS, device index, ssid, slot, extra]. */
export type StressOp = readonly [number, number, number, number, number];

/** Relative weights of STRESS_OPS, in order. */
const WEIGHTS = [14, 4, 10, 5, 3, 22, 12, 2, 2, 2, 2, 2];
const SLOTS = 16;
/** SSIDs 0 (the device's default domain) and 1..PASIDS. */
const PASIDS = 2;
const IOVA_BASE = 0x1000_0000;
const PAGE = 4096;
const HISTORY = 32;
/** How long finish() waits for fault records still in flight (ms on the guest's clock). */
const SETTLE_MS = 500;

export interface GuestStressParams {
  /** Seed of this guest's operations. */
  readonly seed: number;
  /** Operations to generate. */
  readonly ops: number;
  /** Keep only these operation indices (shrinking); absent: all. */
  readonly keep?: readonly number[];
}

export interface GuestStressReport {
  readonly guest: string;
  /** Operations executed (skipped intentions not counted). */
  readonly ops: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly dmas: number;
  readonly faultsProvoked: number;
  readonly faultsSeen: number;
  readonly overflowed: boolean;
  readonly violations: readonly string[];
  /** The operations before the first violation (the last HISTORY of them). */
  readonly history: readonly string[];
}

/** The operations of a seed: a pure function of (seed, n, devices). */
export function stressOps(seed: number, n: number, devices: number): StressOp[] {
  const next = prng(seed);
  const total = WEIGHTS.reduce((x, y) => x + y, 0);
  const out: StressOp[] = [];
  for (let i = 0; i < n; i++) {
    let w = next() % total;
    let op = 0;
    while (w >= WEIGHTS[op]!) w -= WEIGHTS[op++]!;
    const ssid = next() % 4 === 0 ? 1 + (next() % PASIDS) : 0;
    out.push([op, next() % Math.max(1, devices), ssid, next() % SLOTS, next()]);
  }
  return out;
}

interface Space {
  /** Attached (CD present for this ssid). */
  attached: boolean;
  /** slot -> IPA of its buffer page, for mapped slots. */
  readonly mapped: Map<number, number>;
  /** Unmapped without invalidation yet (flush-queue mode): DMA there may still hit. */
  readonly lazy: Set<number>;
}

interface Dev {
  readonly name: string;
  readonly vSid: number;
  asid: number;
  /** By ssid. */
  readonly spaces: Space[];
  /** Buffer page of (ssid, slot). */
  readonly bufs: number[];
}

/**
 * A fault record's identity: type, vSID, SSID, and the page of InputAddr (0 for types that
 * leave it reserved). The page, not the address: with STE.MEV the SMMU may merge records
 * that differ only in InputAddr[11:0] (spec 7.3.1), so one record can stand for several.
 */
const key = (type: string, vSid: number, ssid: number, iova: number): string =>
  `${type} ${vSid}/${ssid}/0x${(iova - (iova % PAGE)).toString(16)}`;

export class GuestStress {
  readonly #k: GuestKernel;
  readonly #ops: StressOp[];
  readonly #keep: ReadonlySet<number> | null;
  #i = 0;
  readonly #devs: Dev[] = [];
  #nextAsid = 1;
  #faultSeq = 0;
  /** Provoked faults not yet seen: key -> count. */
  readonly #expected = new Map<string, number>();
  readonly #provokedKeys = new Set<string>();
  readonly #seenKeys = new Set<string>();
  readonly #violations: string[] = [];
  /** The last HISTORY operations run, each as its description (formatted on demand). */
  readonly #history: (() => string)[] = [];
  readonly #counts: Record<string, number> = {};
  #executed = 0;
  #dmas = 0;
  #provoked = 0;
  #seen = 0;
  #finished: GuestStressReport | null = null;
  /** PASIDs need a CD table with SSIDs (the vSMMU's SSIDSIZE). */
  readonly #ssidBits: number;

  constructor(kernel: GuestKernel, p: GuestStressParams) {
    this.#k = kernel;
    const info = kernel.driver.probed ?? kernel.probe();
    this.#ssidBits = Math.min(2, info.features.ssidBits);
    const devs = kernel.devices().filter((d) => d.vSid >= 0);
    this.#ops = stressOps(p.seed, p.ops, devs.length);
    this.#keep = p.keep ? new Set(p.keep) : null;
    for (const d of devs) {
      const asid = this.#nextAsid++;
      kernel.attach(d.vSid, { asid, ssidBits: this.#ssidBits });
      const bufs: number[] = [];
      // Every DMA writes the bytes it checks first: the pages need no clearing.
      for (let i = 0; i < (1 + PASIDS) * SLOTS; i++) bufs.push(kernel.allocPages(PAGE, PAGE));
      this.#devs.push({
        name: d.name, vSid: d.vSid, asid, bufs,
        spaces: Array.from({ length: 1 + PASIDS }, (_, ssid) => ({ attached: ssid === 0, mapped: new Map(), lazy: new Set() })),
      });
    }
    this.#faultSeq = kernel.faults().at(-1)?.seq ?? 0;
  }

  /** Whether operations remain (none after a violation). */
  get pending(): boolean {
    return this.#finished === null && this.#i < this.#ops.length && this.#violations.length === 0;
  }

  /** Runs the next kept operation; false once none remains. */
  step(): boolean {
    while (this.#i < this.#ops.length && this.#keep !== null && !this.#keep.has(this.#i)) this.#i++;
    if (!this.pending) return false;
    const index = this.#i++;
    const op = this.#ops[index]!;
    const dev = this.#devs[op[1]];
    if (dev) {
      const what = this.#run(index, op, dev);
      if (what !== null) {
        this.#executed++;
        this.#history.push(what);
        if (this.#history.length > HISTORY) this.#history.shift();
        this.#counts[STRESS_OPS[op[0]]!] = (this.#counts[STRESS_OPS[op[0]]!] ?? 0) + 1;
        this.#checkFaults(index);
      }
    }
    return true;
  }

  /**
   * Runs what is left (threads: the guest's thread runs the whole list here), waits for the
   * fault records still on their way (at most SETTLE_MS), then checks that every provoked
   * fault arrived; the report.
   */
  finish(): GuestStressReport {
    if (this.#finished) return this.#finished;
    while (this.step());
    for (let t = 0; t < SETTLE_MS / 10 && this.#violations.length === 0 && this.#unseen().length > 0; t++) {
      this.#k.waitIrq(10);
      this.#checkFaults('the end');
    }
    if (this.#violations.length === 0 && !this.#snapshot().overflowed) {
      for (const k of this.#unseen()) this.#violate(`a provoked fault was never delivered: ${k} (type vSID/SSID/IOVA)`);
    }
    this.#finished = this.#snapshot();
    return this.#finished;
  }

  #unseen(): string[] {
    return [...this.#provokedKeys].filter((k) => !this.#seenKeys.has(k));
  }

  #snapshot(): GuestStressReport {
    const ev = this.#k.stats().driver;
    return {
      guest: this.#k.name, ops: this.#executed, counts: { ...this.#counts }, dmas: this.#dmas,
      faultsProvoked: this.#provoked, faultsSeen: this.#seen,
      overflowed: (ev?.evtq.overflows ?? 0) > 0 || (ev?.faultsDropped ?? 0) > 0,
      violations: [...this.#violations], history: this.#history.map((f) => f()),
    };
  }

  #violate(what: string): void {
    this.#violations.push(`guest ${this.#k.name}: ${what}`);
  }

  /** One operation; what it did, as a description to format on demand (null: skipped). */
  #run(index: number, op: StressOp, d: Dev): (() => string) | null {
    const k = this.#k;
    const [code, , ssid, slot, extra] = op;
    const name = STRESS_OPS[code]!;
    const sp = d.spaces[ssid]!;
    const iova = IOVA_BASE + slot * PAGE;
    const tag = (): string => `#${index} ${name} ${d.name} ssid ${ssid} iova 0x${iova.toString(16)}`;
    // A guest whose vSMMU has no substreams (SSIDSIZE = 0, Xen profiles rfc/v3) has no PASIDs.
    if (ssid >= 2 ** this.#ssidBits && ssid !== 0) return null;
    switch (name) {
      case 'map':
      case 'map-range': {
        if (!sp.attached) return null;
        const n = name === 'map' ? 1 : 1 + (extra % 4);
        if (slot + n > SLOTS) return null;
        for (let s = slot; s < slot + n; s++) if (sp.mapped.has(s) || sp.lazy.has(s)) return null;
        // One map call per page (buffers are not contiguous in IPA), as dma_map_sg would.
        for (let s = slot; s < slot + n; s++) {
          const ipa = d.bufs[ssid * SLOTS + s]!;
          k.map(d.vSid, IOVA_BASE + s * PAGE, ipa, PAGE, 'rw', ssid);
          sp.mapped.set(s, ipa);
        }
        return () => `${tag()} x${n}`;
      }
      case 'unmap':
      case 'unmap-lazy': {
        if (!sp.attached) return null;
        let n = 0;
        while (slot + n < SLOTS && sp.mapped.has(slot + n) && n < 1 + (extra % 4)) n++;
        if (n === 0) return null;
        k.unmap(d.vSid, iova, n * PAGE, ssid, name === 'unmap');
        for (let s = slot; s < slot + n; s++) {
          sp.mapped.delete(s);
          if (name === 'unmap-lazy') sp.lazy.add(s);
        }
        return () => `${tag()} x${n}`;
      }
      case 'flush': {
        if (!sp.attached || sp.lazy.size === 0) return null;
        k.driver.flushAsid(d.vSid, ssid);
        sp.lazy.clear();
        return tag;
      }
      case 'dma-write':
      case 'dma-read':
        return this.#dma(tag, d, ssid, slot, name === 'dma-write', extra) ? tag : null;
      case 'fault-burst': {
        // Up to 12 faults on distinct pages (records that differ only in the page offset may
        // merge), more than a small event queue holds between two interrupts.
        let n = 0;
        for (let s = 0; s < SLOTS && n < 12; s++) if (!sp.mapped.has((slot + s) % SLOTS) && !sp.lazy.has((slot + s) % SLOTS)) {
          this.#dma(tag, d, ssid, (slot + s) % SLOTS, true, extra + s);
          n++;
        }
        return n > 0 ? () => `${tag()} x${n}` : null;
      }
      case 'reattach': {
        if (ssid !== 0) return null;
        k.detach(d.vSid);
        d.asid = this.#nextAsid++;
        k.attach(d.vSid, { asid: d.asid, ssidBits: this.#ssidBits });
        // The domain went with the detach (its tables freed); PASIDs too.
        d.spaces.forEach((s, i) => {
          s.mapped.clear();
          s.lazy.clear();
          s.attached = i === 0;
        });
        { const asid = d.asid;
        return () => `${tag()} asid ${asid}`; }
      }
      case 'pasid': {
        if (ssid === 0 || sp.attached || ssid >= 2 ** this.#ssidBits) return null;
        k.attachPasid(d.vSid, ssid, { asid: this.#nextAsid++ });
        sp.attached = true;
        return tag;
      }
      case 'unpasid': {
        if (ssid === 0 || !sp.attached) return null;
        k.detachPasid(d.vSid, ssid);
        sp.attached = false;
        sp.mapped.clear();
        sp.lazy.clear();
        return tag;
      }
      case 'irq':
        k.pollIrq();
        return tag;
    }
  }

  /** One DMA checked against the model; false when nothing was checkable (lazy slot). */
  #dma(tag: () => string, d: Dev, ssid: number, slot: number, write: boolean, extra: number): boolean {
    const k = this.#k;
    const sp = d.spaces[ssid]!;
    if (sp.lazy.has(slot)) return false; // may still hit a cached translation: allowed until the flush
    const iova = IOVA_BASE + slot * PAGE;
    const off = (extra % 64) * 32;
    const data = new Uint8Array(32);
    for (let i = 0; i < 32; i++) data[i] = (extra >>> (i % 24)) + i * 31;
    const ipa = sp.mapped.get(slot);
    if (!write && ipa !== undefined) k.memWrite(ipa + off, data);
    const r: DmaResult = write
      ? k.dma(d.vSid, { op: 'write', iova: iova + off, data, ...(ssid ? { ssid } : {}) })
      : k.dma(d.vSid, { op: 'read', iova: iova + off, length: 32, ...(ssid ? { ssid } : {}) });
    this.#dmas++;
    if (ipa !== undefined) {
      if (r.status !== 'ok') this.#violate(`${tag()}: a DMA to a mapped IOVA failed: ${r.status} ${r.fault?.name ?? ''}`);
      else if (write && !sameBytes(k.memRead(ipa + off, 32), data)) this.#violate(`${tag()}: the bytes written are not at IPA 0x${ipa.toString(16)}`);
      else if (!write && !sameBytes(r.data ?? new Uint8Array(0), data)) this.#violate(`${tag()}: the bytes read are not those at IPA 0x${ipa.toString(16)}`);
      return true;
    }
    if (r.status === 'ok') {
      this.#violate(`${tag()}: a DMA to an IOVA unmapped (and invalidated) succeeded: a stale translation`);
      return true;
    }
    // Attached: a stage-1 translation fault, recorded (CD.R = 1). A PASID without a CD
    // (CD[ssid].V = 0): C_BAD_CD, InputAddr reserved. Either must reach this guest.
    const want = sp.attached ? 'F_TRANSLATION' : 'C_BAD_CD';
    if (r.fault?.name !== want || r.fault.s2 !== 0) this.#violate(`${tag()}: expected ${want} (stage 1), got ${r.status} ${r.fault?.name ?? ''}`);
    const kk = key(want, d.vSid, ssid, sp.attached ? iova + off : 0);
    this.#expected.set(kk, (this.#expected.get(kk) ?? 0) + 1);
    this.#provokedKeys.add(kk);
    this.#provoked++;
    return true;
  }

  /** Takes the fault records that arrived: each must be one this guest provoked. */
  #checkFaults(after: number | string): void {
    const fresh: GuestFault[] = this.#k.faults(this.#faultSeq);
    for (const f of fresh) {
      this.#faultSeq = Math.max(this.#faultSeq, f.seq);
      this.#seen++;
      const kk = key(f.name, f.sid, f.ssv ? f.ssid : 0, f.iova);
      if (!this.#provokedKeys.has(kk)) {
        this.#violate(`after ${typeof after === 'number' ? `#${after}` : after}: a fault record this guest did not provoke: ${f.name} vSID ${f.sid} SSID ${f.ssv ? f.ssid : '-'} IOVA 0x${f.iova.toString(16)}`);
        continue;
      }
      this.#seenKeys.add(kk);
      const left = (this.#expected.get(kk) ?? 0) - 1;
      if (left <= 0) this.#expected.delete(kk);
      else this.#expected.set(kk, left);
    }
  }
}
