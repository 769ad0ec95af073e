// A guest domain as Xen holds it: its RAM (physical runs mapped at the Xen guest layout),
// its p2m, its VMID, its passed-through devices, and its vSMMU when it has one.

import type { PageAllocator } from '../mem/alloc.ts';
import { GuestRam, type P2mRange } from '../mem/guest-ram.ts';
import type { PhysMemory } from '../mem/phys.ts';
import { VsmmuError } from '../errors.ts';
import { ramBanks } from './layout.ts';
import { P2m } from './p2m.ts';
import type { VSmmuV3, VsmmuStats } from './vsmmuv3.ts';
import type { DomainConfig, DomainDevice } from './xlcfg.ts';

/** Largest physically contiguous run Xen tries for guest RAM (a 4K-granule level-2 block). */
const RAM_CHUNK = 2 * 1024 * 1024;

export interface DomainStats {
  /** Physical events of the domain's devices Xen kept (stage-2 faults and the rest). */
  eventsKept: number;
  s2Faults: number;
  /** Physical events forwarded into the guest's virtual event queue. */
  eventsForwarded: number;
}

export interface DomainDeviceInfo {
  readonly name: string;
  readonly sid: number;
  /** The guest's name for it (-1 without a vSMMU). */
  readonly vsid: number;
}

export interface DomainInfo {
  readonly domid: number;
  readonly name: string;
  readonly vmid: number;
  readonly memory: number;
  readonly viommu: string;
  readonly ipaBits: number;
  readonly ram: readonly P2mRange[];
  readonly devices: readonly DomainDeviceInfo[];
  readonly stats: DomainStats;
  readonly vsmmu: VsmmuStats | null;
}

export class Domain {
  readonly domid: number;
  readonly config: DomainConfig;
  readonly vmid: number;
  readonly p2m: P2m;
  /** The guest's RAM by IPA (what the vSMMU reads the guest's queues and tables through). */
  readonly ram: GuestRam;
  readonly stats: DomainStats = { eventsKept: 0, s2Faults: 0, eventsForwarded: 0 };
  readonly devices = new Map<number, DomainDevice>();
  vsmmu: VSmmuV3 | null = null;
  /** Level of the guest's vSMMU interrupt (SPI 33), for whoever delivers it. */
  irqLevel = false;
  onIrq: (level: boolean) => void = () => {};
  private readonly runs: number[] = [];
  private readonly alloc: PageAllocator;
  private readonly mem: PhysMemory;

  /** Allocates and scrubs the domain's RAM and maps it in a new p2m; EVSMMU_NOMEM leaves nothing behind. */
  constructor(domid: number, config: DomainConfig, vmid: number, mem: PhysMemory, alloc: PageAllocator, oas: number, ipaBits = 40) {
    this.domid = domid;
    this.config = config;
    this.vmid = vmid;
    this.mem = mem;
    this.alloc = alloc;
    this.p2m = new P2m({ mem, alloc, ipaBits, oas });
    try {
      for (const bank of ramBanks(config.memory)) this.mapBank(bank.base, bank.size);
    } catch (e) {
      this.release();
      throw e;
    }
    this.ram = new GuestRam(mem, this.p2m.lookup);
  }

  private mapBank(ipa: number, size: number): void {
    if (ipa + size > 2 ** this.p2m.ipaBits) {
      throw new VsmmuError('EVSMMU_NOMEM', `guest RAM up to IPA 0x${(ipa + size).toString(16)} exceeds the ${this.p2m.ipaBits}-bit IPA space`);
    }
    let done = 0;
    while (done < size) {
      let chunk = Math.min(RAM_CHUNK, size - done);
      let pa = -1;
      while (pa < 0) {
        pa = this.alloc.alloc(chunk, chunk >= RAM_CHUNK ? RAM_CHUNK : 4096);
        if (pa >= 0) break;
        if (chunk <= 4096) {
          throw new VsmmuError('EVSMMU_NOMEM', `not enough physical memory for ${this.config.memory} bytes of RAM for domain "${this.config.name}"`, { domain: this.config.name });
        }
        chunk = Math.max(4096, chunk / 2);
      }
      this.runs.push(pa);
      // A guest never sees another guest's data: a run used before is cleared (a run never
      // allocated is still zero, and left untouched so the host commits no page for it).
      if (!this.alloc.lastFresh) this.mem.fill(pa, chunk, 0);
      this.p2m.map(ipa + done, pa, chunk);
      done += chunk;
    }
  }

  /**
   * Frees the p2m tables and the RAM. The caller has quiesced the devices first. The RAM is
   * scrubbed when it is next allocated (mapBank clears every run used before), so tearing a
   * domain down never touches pages its guest left untouched.
   */
  release(): void {
    for (const pa of this.runs) this.alloc.free(pa);
    this.runs.length = 0;
    this.p2m.destroy();
  }

  /** Pages the domain holds: its RAM and its stage-2 tables (accounting). */
  pages(): number {
    return Math.ceil(this.config.memory / 4096) + Math.ceil(this.p2m.tableBytes / 4096);
  }

  info(): DomainInfo {
    return {
      domid: this.domid,
      name: this.config.name,
      vmid: this.vmid,
      memory: this.config.memory,
      viommu: this.config.viommu,
      ipaBits: this.p2m.ipaBits,
      ram: this.p2m.mapped,
      devices: [...this.devices.values()].map((d) => ({ name: d.name, sid: d.sid, vsid: this.vsmmu?.vsids.vsidOf(d.sid) ?? -1 })),
      stats: { ...this.stats },
      vsmmu: this.vsmmu ? structuredClone(this.vsmmu.stats) : null,
    };
  }
}
