// The event queue producer (FACTS §1.17, §6; spec §7.4). Every record is 32 bytes written
// with four single-copy-atomic 64-bit stores, then EVENTQ_PROD is published.
//   - EVENTQEN = 0 (CR0ACK): the event is not delivered (dropped, no overflow).
//   - Queue full: the event is discarded and, unless an overflow is already active
//     (OVFLG != OVACKFLG), EVENTQ_PROD.OVFLG is toggled. No GERROR (QEMU's deviation).
//     Later events are written again as soon as there is space.
//   - A store outside memory: GERROR.EVENTQ_ABT_ERR, the event is lost.
// The caller raises the event-queue interrupt after a service step that wrote records.

import { encodeEvent, eventName, EVT, type EventRecord, EVT_WORDS } from '../arch/events.ts';
import { getField, R, regAt } from '../arch/registers.ts';
import { EVT_ENTRY_BYTES, qBase, qCount, qEmpty, qEntryAddr, qFull, qLog2Eff, qOverflowed, qProduced } from '../arch/queue.ts';
import type { WordWriter } from '../arch/types.ts';
import { VsmmuError } from '../errors.ts';
import type { RegisterPage } from './regpage.ts';
import { NO_TRACE, type Tracer } from '../trace/tracer.ts';

export const EVT_WRITTEN = 0;
export const EVT_OVERFLOW = 1;
export const EVT_DISABLED = 2;
export const EVT_ABORT = 3;
/** Merged into the identical record still waiting in the queue (spec 7.3.1). */
export const EVT_MERGED = 4;

export interface EventQueueStats {
  written: number;
  droppedOverflow: number;
  droppedDisabled: number;
  droppedAbort: number;
  overflows: number;
  /** Records merged into an identical one still in the queue (STE.MEV = 1, spec 7.3.1). */
  merged: number;
  byType: Record<string, number>;
}

/**
 * A queue's base and effective log2 size from its BASE register: LOG2SIZE capped at the
 * IDR1 maximum, ADDR[55:5] with the bits below the queue size (at least 32 bytes) treated
 * as zero.
 */
export function latchQueue(page: RegisterPage, off: number, entryBytes: number, maxLog2: number): { base: number; log2: number } {
  const def = regAt(off);
  const lo = page.load(off);
  const hi = page.load(off + 4);
  if (def === undefined) throw new VsmmuError('EVSMMU_INTERNAL', `no queue BASE register at 0x${off.toString(16)}`);
  const log2 = qLog2Eff(getField(def, 'LOG2SIZE', lo, hi), maxLog2);
  return { base: qBase(getField(def, 'ADDR', lo, hi) * 32, log2, entryBytes), log2 };
}

export class EventQueue {
  private base = 0;
  private log2 = 0;
  private readonly words = new Uint32Array(EVT_WORDS);
  /** Records written since the caller last took `pendingIrq`. */
  pendingIrq = false;
  readonly stats: EventQueueStats = { written: 0, droppedOverflow: 0, droppedDisabled: 0, droppedAbort: 0, overflows: 0, merged: 0, byType: {} };
  /** The last record written and the PROD it left (merging compares with it while unconsumed). */
  private readonly last = new Uint32Array(EVT_WORDS);
  private lastProd = -1;
  /** Trace points: each record written, each overflow. */
  tr: Tracer = NO_TRACE;

  private readonly page: RegisterPage;
  private readonly mem: WordWriter;
  private readonly maxLog2: number;
  private readonly onAbort: () => void;

  constructor(page: RegisterPage, mem: WordWriter, maxLog2: number, onAbort: () => void) {
    this.page = page;
    this.mem = mem;
    this.maxLog2 = maxLog2;
    this.onAbort = onAbort;
  }

  private traced(what: string, e: EventRecord, prod: number, cons: number): void {
    traceEvent(this.tr, what, e, prod);
    if (prod >= 0) this.tr.counter('evtq depth', qCount(prod, cons, this.log2));
  }

  /** Latches EVENTQ_BASE (called when EVENTQEN goes 0 -> 1). */
  enable(): void {
    const q = latchQueue(this.page, R.EVENTQ_BASE, EVT_ENTRY_BYTES, this.maxLog2);
    this.base = q.base;
    this.log2 = q.log2;
    this.lastProd = -1;
  }

  get queueBase(): number {
    return this.base;
  }

  get queueLog2(): number {
    return this.log2;
  }

  /**
   * Delivers one record; returns EVT_WRITTEN, EVT_MERGED, EVT_OVERFLOW, EVT_DISABLED or
   * EVT_ABORT. `mergeable` (the stream's STE.MEV, or no STE located yet): a record identical
   * to the last one written, which software has not consumed yet, is merged into it.
   */
  write(e: EventRecord, enabled: boolean, mergeable = false): number {
    const name = eventName(e.type);
    this.stats.byType[name] = (this.stats.byType[name] ?? 0) + 1;
    if (!enabled) {
      this.stats.droppedDisabled++;
      return EVT_DISABLED;
    }
    const prod = this.page.load(R.EVENTQ_PROD);
    const cons = this.page.load(R.EVENTQ_CONS);
    encodeEvent(e, this.words, 0);
    if (mergeable && prod === this.lastProd && !qEmpty(prod, cons, this.log2) && sameEvent(this.words, this.last)) {
      this.stats.merged++;
      return EVT_MERGED;
    }
    if (qFull(prod, cons, this.log2)) {
      this.stats.droppedOverflow++;
      const next = qOverflowed(prod, cons);
      if (next !== prod >>> 0) {
        this.page.store(R.EVENTQ_PROD, next);
        this.page.published();
        this.stats.overflows++;
      }
      if (this.tr.enabled) this.traced('overflow', e, -1, cons);
      return EVT_OVERFLOW;
    }
    const at = qEntryAddr(this.base, prod, this.log2, EVT_ENTRY_BYTES);
    const w = this.words;
    for (let i = 0; i < 4; i++) {
      if (!this.mem.store64(at + 8 * i, w[2 * i] ?? 0, w[2 * i + 1] ?? 0)) {
        this.stats.droppedAbort++;
        this.onAbort();
        return EVT_ABORT;
      }
    }
    const next = qProduced(prod, this.log2);
    this.page.store(R.EVENTQ_PROD, next);
    this.last.set(w);
    this.lastProd = next;
    this.page.published();
    this.stats.written++;
    this.pendingIrq = true;
    if (this.tr.enabled) this.traced('event', e, next, cons);
    return EVT_WRITTEN;
  }
}

/** An event written (`prod`: EVENTQ_PROD after it) or lost to an overflow (`prod` -1). */
function traceEvent(tr: Tracer, what: string, e: EventRecord, prod: number): void {
  const type = eventName(e.type);
  tr.instant('evtq', what === 'event' ? `event ${type}` : what, prod < 0 ? { sid: e.sid, type } : { sid: e.sid, type, prod });
}

/** Types whose InputAddr[11:0] is ignored when deciding that two records are identical. */
function ignoresPageOffset(type: number): boolean {
  return type === EVT.F_TRANSL_FORBIDDEN || type === EVT.F_WALK_EABT || (type >= EVT.F_TRANSLATION && type <= EVT.F_PERMISSION);
}

/** Whether two encoded records are identical for merging (spec 7.3.1). */
function sameEvent(a: Uint32Array, b: Uint32Array): boolean {
  const lowMask = ignoresPageOffset(a[0]! & 0xff) ? 0xfffff000 : 0xffffffff;
  for (let i = 0; i < EVT_WORDS; i++) {
    const m = i === 4 ? lowMask : 0xffffffff;
    if (((a[i]! ^ b[i]!) & m) !== 0) return false;
  }
  return true;
}
