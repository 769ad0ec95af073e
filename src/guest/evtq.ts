// The driver's event queue consumer (Linux arm_smmu_evtq_thread): pops records from CONS to
// PROD (page-1 registers), writes CONS back after each record, re-reads PROD, notices an
// overflow when PROD.OVFLG differs from the copy it had (events were lost), and once the
// queue is empty acknowledges it by copying OVFLG into CONS.OVACKFLG.

import { EVT_BYTES, EVT_WORDS } from '../arch/events.ts';
import { VsmmuError } from '../errors.ts';
import type { GuestMemoryPort, MmioPort } from './ports.ts';
import { fieldMask, R } from '../arch/registers.ts';
import { PROD_OVFLG as Q_OVF, qEmpty, qIdx } from '../arch/queue.ts';
import { qIncOvf } from './queue-math.ts';

// Linux uses the page-1 EVENTQ_PROD / EVENTQ_CONS (FACTS §1.2).
const EVENTQ_PROD_P1 = R.EVENTQ_PROD;
const EVENTQ_CONS_P1 = R.EVENTQ_CONS;

export interface EvtqStats {
  events: number;
  overflows: number;
  drains: number;
}

export class EventQueue {
  readonly base: number;
  readonly log2: number;
  /** Software copies: index + wrap, bit 31 = OVFLG (prod) / OVACKFLG (cons). */
  prod = 0;
  cons = 0;
  readonly stats: EvtqStats = { events: 0, overflows: 0, drains: 0 };
  private readonly mmio: MmioPort;
  private readonly ram: GuestMemoryPort;
  private readonly rec = new Uint32Array(EVT_WORDS);
  private readonly budget: number;

  constructor(mmio: MmioPort, ram: GuestMemoryPort, base: number, log2: number) {
    this.mmio = mmio;
    this.ram = ram;
    this.base = base;
    this.log2 = log2;
    // A hostile SMMU could keep PROD moving forever: one drain handles at most a few
    // queue-fulls, the rest waits for the next interrupt.
    this.budget = 4 << log2;
  }

  /** EVENTQ_BASE low/high words: WA (bit 62) | ADDR | LOG2SIZE. */
  baseReg(): [number, number] {
    const lo = ((this.base % 4294967296) & ~31 | this.log2) >>> 0;
    const hi = ((Math.floor(this.base / 4294967296) & 0x000fffff) | fieldMask('EVENTQ_BASE', 'WA', true)) >>> 0;
    return [lo, hi];
  }

  /**
   * Drains the queue, calling `onEvent` with each raw record (8 words, reused: copy what you
   * keep). Returns the number of records consumed.
   */
  drain(onEvent: (words: Uint32Array) => void): number {
    this.stats.drains++;
    let n = 0;
    do {
      while (!qEmpty(this.prod, this.cons, this.log2) && n < this.budget) {
        this.read(qIdx(this.cons, this.log2));
        this.cons = qIncOvf(this.cons, this.log2);
        this.mmio.write32(EVENTQ_CONS_P1, this.cons);
        n++;
        this.stats.events++;
        onEvent(this.rec);
      }
      const prod = this.mmio.read32(EVENTQ_PROD_P1) >>> 0;
      if (((prod ^ this.prod) & Q_OVF) !== 0) this.stats.overflows++; // "EVTQ overflow detected -- events lost"
      this.prod = prod;
    } while (!qEmpty(this.prod, this.cons, this.log2) && n < this.budget);
    // Linux queue_sync_cons_ovf: we are up to date, acknowledge the overflow.
    if (((this.prod ^ this.cons) & Q_OVF) !== 0) {
      this.cons = ((this.prod & Q_OVF) | (this.cons & ~Q_OVF)) >>> 0;
      this.mmio.write32(EVENTQ_CONS_P1, this.cons);
    }
    return n;
  }

  private read(idx: number): void {
    const addr = this.base + idx * EVT_BYTES;
    for (let k = 0; k < EVT_WORDS / 2; k++) {
      const lo = this.ram.load64(addr + 8 * k);
      if (lo === -1) {
        throw new VsmmuError('EVSMMU_GUEST_RANGE', `event queue slot 0x${addr.toString(16)} is not guest RAM`, { ipa: addr });
      }
      this.rec[2 * k] = lo >>> 0;
      this.rec[2 * k + 1] = this.ram.hi >>> 0;
    }
  }
}
