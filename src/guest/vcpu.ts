// The guest's vCPU as its kernel sees it: loads/stores to RAM go to GuestRam (the domain's
// p2m), loads/stores to an emulated MMIO region (the vSMMU window) trap to Xen through the
// injected TrapPort — a synchronous port call: the vCPU stops until Xen answers, as a
// trapped access stops a real vCPU — and an abort answer is a synchronous external abort (a
// coded error here). Interrupts arrive on the IRQ lines of its GIC view (src/ports IrqLines:
// pending bits, no waiting): one line per INTID it handles (the vSMMU's SPI 33); waiting for
// one (WFI) is the runner's IrqWaitPort. Every trapped access is timed with the injected clock.

import { VsmmuError } from '../errors.ts';
import { IrqLines, type IrqDesc } from '../ports/irq.ts';
import { LatencyRecorder } from './latency.ts';
import { regAt } from '../arch/registers.ts';
import { NO_TRACE, type Tracer } from '../trace/tracer.ts';
import { pollClock, type GuestClock, type IrqWaitPort, type MmioPort } from './ports.ts';

/** A trapped MMIO access, as the vCPU issues it (Trap channel or an in-process handler). */
export interface TrapPort {
  /**
   * One access of `size` bytes (4 or 8) at `ipa`; writes carry (lo, hi). Returns true when
   * Xen answered ok (a read's value in valueLo/valueHi), false for an abort.
   */
  access(write: boolean, size: number, ipa: number, lo: number, hi: number): boolean;
  readonly valueLo: number;
  readonly valueHi: number;
  /** The vCPU is gone: the hypervisor stops serving this port. */
  close?(): void;
}

function checkAccess(ipa: number, size: number): void {
  if (size !== 4 && size !== 8) throw new VsmmuError('EVSMMU_INVAL', `MMIO access size ${String(size)}: 4 or 8 bytes`, { size });
  if (!(Number.isSafeInteger(ipa) && ipa >= 0)) throw new VsmmuError('EVSMMU_INVAL', `MMIO address ${String(ipa)} is not a guest physical address`, { ipa });
}

export interface VcpuOptions {
  readonly trap: TrapPort;
  /** The vCPU's interrupt inputs and which bank line carries which INTID. */
  readonly irq?: { readonly desc: IrqDesc; readonly lines: Readonly<Record<number, number>> };
  /** WFI (default: look once, never wait). */
  readonly irqWait?: IrqWaitPort;
  /** Times trapped accesses (default: a polling clock). */
  readonly clock?: GuestClock;
  /** Trace points: each trapped access from entry to answer. */
  readonly tracer?: Tracer;
}

export class Vcpu {
  readonly latency = new LatencyRecorder();
  private readonly trap: TrapPort;
  private readonly irqBank: IrqLines | null;
  private readonly intidLine: Map<number, number>;
  private aborts = 0;
  private readonly now: GuestClock;
  private readonly irqWait: IrqWaitPort | null;
  private readonly tr: Tracer;
  /** Base of the last register window mapped (traps are named after its registers). */
  private winBase = -1;

  constructor(o: VcpuOptions) {
    this.trap = o.trap;
    this.tr = o.tracer ?? NO_TRACE;
    this.now = o.clock ?? pollClock();
    this.irqWait = o.irqWait ?? null;
    this.irqBank = o.irq ? new IrqLines(o.irq.desc) : null;
    this.intidLine = new Map(Object.entries(o.irq?.lines ?? {}).map(([k, v]) => [Number(k), v]));
  }

  /** A 32-bit load from emulated MMIO at `ipa`; throws EVSMMU_GUEST_SEA on an abort. */
  mmioRead32(ipa: number): number {
    const t0 = this.now();
    const s = this.tr.enabled ? this.tr.stamp() : 0;
    const ok = this.trap.access(false, 4, ipa, 0, 0);
    this.latency.record(this.now() - t0);
    if (this.tr.enabled) this.traced(s, false, ipa, this.trap.valueLo, ok);
    if (!ok) throw this.sea(false, ipa);
    return this.trap.valueLo >>> 0;
  }

  mmioWrite32(ipa: number, value: number): void {
    const t0 = this.now();
    const s = this.tr.enabled ? this.tr.stamp() : 0;
    const ok = this.trap.access(true, 4, ipa, value >>> 0, 0);
    this.latency.record(this.now() - t0);
    if (this.tr.enabled) this.traced(s, true, ipa, value, ok);
    if (!ok) throw this.sea(true, ipa);
  }

  /** A load of `size` bytes (4 or 8) at `ipa`: [lo, hi]. Throws EVSMMU_GUEST_SEA on an abort. */
  mmioRead(ipa: number, size: 4 | 8): [number, number] {
    checkAccess(ipa, size);
    const t0 = this.now();
    const s = this.tr.enabled ? this.tr.stamp() : 0;
    const ok = this.trap.access(false, size, ipa, 0, 0);
    this.latency.record(this.now() - t0);
    if (this.tr.enabled) this.traced(s, false, ipa, this.trap.valueLo, ok);
    if (!ok) throw this.sea(false, ipa);
    return [this.trap.valueLo >>> 0, size === 8 ? this.trap.valueHi >>> 0 : 0];
  }

  mmioWrite(ipa: number, size: 4 | 8, lo: number, hi = 0): void {
    checkAccess(ipa, size);
    const t0 = this.now();
    const s = this.tr.enabled ? this.tr.stamp() : 0;
    const ok = this.trap.access(true, size, ipa, lo >>> 0, size === 8 ? hi >>> 0 : 0);
    this.latency.record(this.now() - t0);
    if (this.tr.enabled) this.traced(s, true, ipa, lo, ok);
    if (!ok) throw this.sea(true, ipa);
  }

  /** An MmioPort over the window at `base` (offsets relative to it), as a driver maps it. */
  window(base: number, size: number): MmioPort {
    this.winBase = base;
    const check = (off: number): number => {
      if (!(Number.isInteger(off) && off >= 0 && off + 4 <= size)) {
        throw new VsmmuError('EVSMMU_INVAL', `MMIO offset 0x${off.toString(16)} outside the 0x${size.toString(16)}-byte window`, { offset: off });
      }
      return base + off;
    };
    return {
      read32: (off) => this.mmioRead32(check(off)),
      write32: (off, v) => this.mmioWrite32(check(off), v),
    };
  }

  /** A trapped access from entry (`s`) to Xen's answer, named after the register it reached. */
  private traced(s: number, write: boolean, ipa: number, value: number, ok: boolean): void {
    const reg = this.winBase >= 0 ? regAt(ipa - this.winBase)?.name : undefined;
    const name = reg ?? `0x${ipa.toString(16)}`;
    this.tr.slice('vcpu0', `trap ${write ? 'write' : 'read'} ${name}`, s, { reg: name, value: `0x${(value >>> 0).toString(16)}`, answer: ok ? 'ok' : 'abort' });
  }

  /** The vCPU stops (its domain's guest is shutting down). */
  close(): void {
    this.trap.close?.();
    this.latency[Symbol.dispose](); // its histogram goes to the next vCPU on this thread
  }

  get abortCount(): number {
    return this.aborts;
  }

  // ---- interrupts

  private line(intid: number): number {
    const l = this.intidLine.get(intid);
    if (l === undefined || !this.irqBank) throw new VsmmuError('EVSMMU_INVAL', `INTID ${intid} is not wired to this vCPU`, { intid });
    return l;
  }

  /** Whether INTID `intid` is pending (a load, no trap). */
  irqPending(intid: number): boolean {
    return this.irqBank !== null && (this.irqBank.pending() & (1 << this.line(intid))) !== 0;
  }

  /** Acknowledges INTID `intid` (edge: clears the latch; level: stays while asserted). */
  ackIrq(intid: number): boolean {
    return this.irqBank !== null && this.irqBank.take(1 << this.line(intid)) !== 0;
  }

  /** Blocks until one of `intids` is pending; returns the pending ones ([] on timeout). */
  waitIrq(intids: readonly number[], timeoutMs = Infinity): number[] {
    if (!this.irqBank) return [];
    let mask = 0;
    for (const i of intids) mask |= 1 << this.line(i);
    const got = this.irqWait ? this.irqWait.wait(mask, timeoutMs) : this.irqBank.pending() & mask;
    return intids.filter((i) => (got & (1 << this.line(i))) !== 0);
  }

  async waitIrqAsync(intids: readonly number[], timeoutMs = Infinity): Promise<number[]> {
    if (!this.irqBank) return [];
    let mask = 0;
    for (const i of intids) mask |= 1 << this.line(i);
    const got = this.irqWait?.waitAsync ? await this.irqWait.waitAsync(mask, timeoutMs) : this.irqBank.pending() & mask;
    return intids.filter((i) => (got & (1 << this.line(i))) !== 0);
  }

  private sea(write: boolean, ipa: number): VsmmuError {
    this.aborts++;
    return new VsmmuError('EVSMMU_GUEST_SEA', `synchronous external abort: MMIO ${write ? 'write' : 'read'} at IPA 0x${ipa.toString(16)} was aborted by the hypervisor`, {
      ipa, write,
    });
  }
}
