// A domain's scheduling parameters and what its vCPU's scheduler accounted, as words in a SAB
// shared by the toolstack (the system, which sets the cap, as `xl sched-credit -c` does) and
// the thread running the domain's vCPU (src/runtime/credit.ts, which enforces it). A cap
// change is one store plus a wake-up of the vCPU if it is parked for its budget, so it takes
// effect while the guest is busy in a long call. This module never waits.
//
// SAB layout (each writer on its own 64-byte line):
//   line 0  Int32 CAP: % of one physical CPU (0: no cap); the toolstack writes it and
//           notifies: a vCPU parked for its budget waits on this word
//   line 1  BigInt64, written by the vCPU's thread: PARKS (periods whose budget ran out),
//           PARKED_US (wall us parked for budget), CHARGED_US (CPU us charged while capped:
//           the thread's own and Xen's trap service), XEN_US (the part that was Xen's)
import { VsmmuError } from '../errors.ts';

/** Xen credit2's budget replenishment period (CSCHED2_BDGT_REPL_PERIOD): 10 ms. */
export const CAP_PERIOD_MS = 10;

const CAP = 0;
const PARKS = 8;
const PARKED_US = 9;
const CHARGED_US = 10;
const XEN_US = 11;
const SCHED_BYTES = 128;

export interface SchedDesc {
  readonly sab: SharedArrayBuffer;
}

/** What a domain's scheduler was set to and has accounted so far. */
export interface SchedCounters {
  /** % of one physical CPU the vCPU may use (0: no cap). */
  readonly cap: number;
  /** Periods in which the budget ran out and the vCPU parked until the next one. */
  readonly parks: number;
  /** Wall time parked for budget, ms. */
  readonly parkedMs: number;
  /** CPU time charged to the domain while capped, ms: its vCPU thread's and Xen's trap service. */
  readonly chargedMs: number;
  /** The part of `chargedMs` that was Xen handling the domain's traps. */
  readonly xenMs: number;
}

export function createSched(cap = 0): SchedDesc {
  const sab = new SharedArrayBuffer(SCHED_BYTES);
  new Int32Array(sab)[CAP] = cap;
  return { sab };
}

/** The shared words, for either side. */
export class SchedWords {
  readonly i32: Int32Array;
  readonly #b64: BigInt64Array;

  constructor(desc: SchedDesc) {
    if (!(desc?.sab instanceof SharedArrayBuffer) || desc.sab.byteLength !== SCHED_BYTES) {
      throw new VsmmuError('EVSMMU_INVAL', 'not a scheduler SAB (createSched)');
    }
    this.i32 = new Int32Array(desc.sab);
    this.#b64 = new BigInt64Array(desc.sab);
  }

  /** The word a vCPU parked for its budget waits on (a cap change wakes it). */
  static readonly CAP_INDEX = CAP;

  get cap(): number {
    return Atomics.load(this.i32, CAP);
  }

  /** Sets the cap and wakes the vCPU if it is parked for its budget. */
  setCap(cap: number): void {
    Atomics.store(this.i32, CAP, cap);
    Atomics.notify(this.i32, CAP);
  }

  /** vCPU side: one park of `us` microseconds. */
  parked(us: number): void {
    Atomics.add(this.#b64, PARKS, 1n);
    Atomics.add(this.#b64, PARKED_US, BigInt(Math.round(us)));
  }

  /** vCPU side: CPU charged, `us` in all of which `xenUs` were Xen's. */
  charged(us: number, xenUs: number): void {
    Atomics.add(this.#b64, CHARGED_US, BigInt(Math.round(us)));
    if (xenUs > 0) Atomics.add(this.#b64, XEN_US, BigInt(Math.round(xenUs)));
  }

  counters(): SchedCounters {
    const us = (i: number): number => Number(Atomics.load(this.#b64, i)) / 1000;
    return { cap: this.cap, parks: Number(Atomics.load(this.#b64, PARKS)), parkedMs: us(PARKED_US), chargedMs: us(CHARGED_US), xenMs: us(XEN_US) };
  }
}
