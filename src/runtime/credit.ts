// A domain's CPU cap on threads, as Xen's credit2 enforces `cap` (xl sched-credit -c, xl.cfg
// cap=): a budget of cap% of a period (CAP_PERIOD_MS, credit2's 10 ms replenishment period)
// that the domain's vCPU consumes while it runs; once it is spent the vCPU parks until the
// next period (Atomics.wait with a timeout: the core is free meanwhile); each period adds a
// budget's worth, up to one budget, so an overrun is paid back from the next (credit2 does
// the same).
//
// What is charged: the vCPU thread's own CPU time (process.threadCpuUsage: user + system, so
// what the thread really ran, not the time it waited for a core on a loaded host), which
// includes the DMA engines that run on the guest's thread, plus the time Xen's thread spent
// handling the domain's traps (in Xen that runs on the trapping vCPU and is charged to it;
// here Xen times each trap of a capped domain and publishes it on the trap channel,
// TrapServiceTime) and its vSMMU's continuations (command queue work left over by the
// per-trap budget, CMD_SYNCs completing: work of its traps, split, as a hypercall
// continuation is charged to its caller). Not charged: Xen's handling of the SMMU's
// interrupts (event forwarding: interrupt context in Xen) and the SMMU's time (hardware).
//
// Where it acts: `tick()` is called at every read of the guest's clock (workers/guest-host.ts),
// which every guest loop does (workload deadlines, driver polls, trap timing): the points at
// which a real vCPU's timer interrupt could preempt it. A parked read returns the time after
// the park, as a descheduled vCPU sees. The thread's CPU is sampled at most every SAMPLE_MS of
// wall time (a sample costs ~1.5 us), so a budget is overrun by at most about that much
// before the vCPU parks.
import { CAP_PERIOD_MS, SchedWords, type SchedDesc } from '../ports/sched.ts';
import type { TrapServiceTime } from '../ports/trap.ts';

const SAMPLE_MS = 0.25;

/** The clocks the cap reads; injectable for tests. */
export interface CreditClocks {
  /** Wall clock, ms. */
  readonly now: () => number;
  /** This thread's CPU time, ms. */
  readonly cpu: () => number;
  /** Parks the thread until `word[index]` changes from `value` or `ms` pass. */
  readonly park: (word: Int32Array, index: number, value: number, ms: number) => void;
}

export const THREAD_CLOCKS: CreditClocks = {
  now: () => performance.now(),
  cpu: () => {
    const u = process.threadCpuUsage();
    return (u.user + u.system) / 1000;
  },
  park: (word, index, value, ms) => void Atomics.wait(word, index, value, ms),
};

export class CreditCap {
  readonly #words: SchedWords;
  readonly #xen: TrapServiceTime | null;
  readonly #clk: CreditClocks;
  /** The cap in force (0: none), as last read from the shared word. */
  #cap = 0;
  /** Budget left in this period, ms (negative: an overrun the next periods pay back). */
  #budget = 0;
  #periodEnd = 0;
  #lastSample = 0;
  #lastCpu = 0;
  #lastXen = 0;

  constructor(sched: SchedDesc, xen: TrapServiceTime | null, clocks: CreditClocks = THREAD_CLOCKS) {
    this.#words = new SchedWords(sched);
    this.#xen = xen;
    this.#clk = clocks;
  }

  /** A preemption point: charges what ran since the last sample; parks once the budget is spent. */
  tick(): void {
    const cap = Atomics.load(this.#words.i32, SchedWords.CAP_INDEX);
    if (cap !== this.#cap) this.#start(cap);
    if (cap === 0) return;
    const clk = this.#clk;
    let now = clk.now();
    if (now - this.#lastSample < SAMPLE_MS) return;
    this.#charge(now);
    this.#refill(now);
    while (this.#budget <= 0) {
      // Spent: off the core until the next period (or until the cap changes).
      clk.park(this.#words.i32, SchedWords.CAP_INDEX, cap, this.#periodEnd - now);
      const t = clk.now();
      this.#words.parked((t - now) * 1000);
      now = t;
      if (Atomics.load(this.#words.i32, SchedWords.CAP_INDEX) !== cap) return; // the next tick starts afresh
      this.#refill(now);
    }
    // Parked time is no CPU; start the next sample from here.
    this.#lastSample = now;
  }

  /** The cap changed (or is first seen): a full budget, a period starting now. */
  #start(cap: number): void {
    this.#cap = cap;
    this.#xen?.request(cap !== 0);
    if (cap === 0) return;
    const now = this.#clk.now();
    this.#budget = this.#full();
    this.#periodEnd = now + CAP_PERIOD_MS;
    this.#lastSample = now;
    this.#lastCpu = this.#clk.cpu();
    this.#lastXen = this.#xen?.us() ?? 0;
  }

  #full(): number {
    return (this.#cap / 100) * CAP_PERIOD_MS;
  }

  #charge(now: number): void {
    const cpu = this.#clk.cpu();
    const xen = this.#xen?.us() ?? 0;
    const xenMs = ((xen - this.#lastXen) >>> 0) / 1000;
    const used = Math.max(0, cpu - this.#lastCpu) + xenMs;
    this.#lastCpu = cpu;
    this.#lastXen = xen;
    this.#lastSample = now;
    this.#budget -= used;
    this.#words.charged(used * 1000, xenMs * 1000);
  }

  /** Adds a budget per period begun since the last refill, up to one budget. */
  #refill(now: number): void {
    if (now < this.#periodEnd) return;
    const periods = Math.floor((now - this.#periodEnd) / CAP_PERIOD_MS) + 1;
    this.#periodEnd += periods * CAP_PERIOD_MS;
    this.#budget = Math.min(this.#full(), this.#budget + periods * this.#full());
  }
}
