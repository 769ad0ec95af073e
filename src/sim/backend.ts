// Sim mode: the same actors as on threads (the SMMU, Xen, each guest kernel, each DMA engine),
// built in-process and stepped by one seeded Scheduler on the calling thread. What waits on
// threads waits here by running the scheduler (runUntil): a vCPU's trapped access, Xen's
// control-plane register polls, a driver's CMD_SYNC poll, the program's DMA or interrupt
// wait. Control calls run synchronously with their actor held on the stack, so each call's
// answer, and the steps taken meanwhile, are the same for the same seed.
import { DmaEngine } from '../devices/dma-engine.ts';
import { VsmmuError } from '../errors.ts';
import { GuestKernel, type GuestHost, type GuestWorkerData } from '../guest/kernel.ts';
import type { TrapPort } from '../guest/vcpu.ts';
import { IrqLines } from '../ports/irq.ts';
import { TRAP_OK, TrapVcpu, type TrapChannelDesc } from '../ports/trap.ts';
import { SmmuActor, type SmmuWorkerData } from '../smmu/actor.ts';
import type { Smmu } from '../smmu/smmu.ts';
import type { ActorLink, Backend, ControlApi } from '../system/backend.ts';
import { XenActor, type XenWorkerData } from '../xen/actor.ts';
import { Scheduler, type SimActor, type SimOptions } from './scheduler.ts';
import { TraceRecorder } from '../trace/tracer.ts';
import { bufferLease } from './buffers.ts';

/**
 * After each answer (a control call, a DMA, an interrupt wait), the scheduler runs on until
 * nothing has work, for at most this much virtual time (ms): what happens on threads in the
 * background while the program awaits (Xen forwarding the event of a DMA's fault, the guest
 * taking its interrupt) has happened by the program's next call, so a program that polls
 * works in both modes.
 */
const SETTLE_MS = 0.5;

export interface SimBackend extends Backend {
  readonly scheduler: Scheduler;
  /** The in-process actors, for checkers that watch the hardware (sim-mode stress). */
  readonly world: SimWorld;
}

export interface SimWorld {
  /** The physical SMMU (stress watches its data path through Smmu.onAccess). */
  smmu: Smmu | null;
}

/** A guest's vCPU stopped on its trapped access while the scheduler runs the others. */
class SimTrapPort implements TrapPort {
  readonly #v: TrapVcpu;
  readonly #s: Scheduler;
  readonly #timeoutMs: number;
  readonly #who: string;
  readonly #bound: CallBound;
  /** What an access waits for; made once (a closure per access is compiled anew after
   *  every full GC that finds none alive: V8 holds optimised code only through closures). */
  readonly #answered = (): boolean => this.#v.answered() || this.#v.closed;

  constructor(desc: TrapChannelDesc, s: Scheduler, timeoutMs: number, who: string, bound: CallBound) {
    this.#v = new TrapVcpu(desc);
    this.#s = s;
    this.#timeoutMs = timeoutMs;
    this.#who = who;
    this.#bound = bound;
  }

  get valueLo(): number {
    return this.#v.valueLo;
  }

  get valueHi(): number {
    return this.#v.valueHi;
  }

  access(write: boolean, size: number, ipa: number, lo: number, hi: number): boolean {
    const v = this.#v;
    v.post(write, size, ipa % 4294967296 >>> 0, Math.floor(ipa / 4294967296) >>> 0, lo >>> 0, hi >>> 0);
    const deadline = this.#s.now + this.#timeoutMs;
    if (!this.#bound.wait(this.#answered, this.#timeoutMs)) {
      if (this.#s.now >= deadline) return false; // an unanswered access aborts, as on threads
      throw new VsmmuError('EVSMMU_SIM_DEADLOCK', `sim: ${this.#who}'s vCPU trapped on IPA 0x${ipa.toString(16)} and no actor can answer it (seed ${this.#s.seed}, step ${this.#s.steps})`, { seed: this.#s.seed, step: this.#s.steps });
    }
    if (!v.answered()) throw new VsmmuError('EVSMMU_TRAP_CLOSED', `${this.#who}: its trap channel was closed (the domain is gone)`);
    return v.take() === TRAP_OK;
  }

  close(): void {
    this.#v.close();
  }
}

/**
 * The bound on one control call into a guest (createSystem's guestTimeoutMs, in virtual
 * time): every wait inside the call runs the scheduler at most until the call's deadline,
 * and past it the call ends with EVSMMU_DOMAIN_HUNG, as the timer of a hung worker does.
 */
class CallBound {
  #deadline = Infinity;
  readonly #s: Scheduler;
  readonly #timeoutMs: number;
  readonly #what: string;

  constructor(s: Scheduler, timeoutMs: number, what: string) {
    this.#s = s;
    this.#timeoutMs = timeoutMs;
    this.#what = what;
  }

  /** Runs a call with its deadline. */
  call<R>(method: string, run: () => R): R {
    this.#deadline = this.#s.now + this.#timeoutMs;
    try {
      return run();
    } catch (e) {
      if (e instanceof VsmmuError && e.code === 'EVSMMU_DOMAIN_HUNG') {
        throw new VsmmuError('EVSMMU_DOMAIN_HUNG', `${this.#what}: no answer to ${method} within ${this.#timeoutMs} ms of virtual time; the guest was killed and the domain destroyed`, { method, timeoutMs: this.#timeoutMs });
      }
      throw e;
    } finally {
      this.#deadline = Infinity;
    }
  }

  /** runUntil within the call's deadline; throws EVSMMU_DOMAIN_HUNG once it has passed. */
  wait(ready: () => boolean, timeoutMs: number): boolean {
    const left = this.#deadline - this.#s.now;
    const ok = this.#s.runUntil(ready, Math.min(timeoutMs, left));
    if (!ok && this.#s.now >= this.#deadline) throw new VsmmuError('EVSMMU_DOMAIN_HUNG', `${this.#what} hung`);
    return ok;
  }
}

/** The wait-for-a-register of Xen's control plane: run the hardware until it holds. */
function simPollRegister(s: Scheduler) {
  return (_page: unknown, read32: (off: number) => number, off: number, done: (v: number) => boolean, timeoutMs: number): number | undefined => {
    let v = read32(off);
    if (done(v)) return v;
    return s.runUntil(() => done((v = read32(off))), timeoutMs) ? v : undefined;
  };
}

/**
 * Control calls on an in-process actor, as the control plane makes them on threads: each
 * answers a promise of a structured clone (no shared objects), errors as VsmmuErrors.
 * The actor is held on the stack meanwhile; every call and answer goes into the digest.
 */
function localLink<T extends object>(s: Scheduler, name: string, obj: T, held: SimActor | null, dispose: () => Promise<void>, bound?: CallBound): ActorLink<T> & { die(e: VsmmuError): void } {
  let ended: VsmmuError | null = null;
  const deaths: ((e: VsmmuError) => void)[] = [];
  let closing: Promise<void> | null = null;
  const die = (e: VsmmuError): void => {
    if (ended) return;
    ended = e;
    closing ??= dispose(); // off the scheduler at once, as a killed thread
    for (const f of deaths) f(e);
  };
  const api = new Proxy({}, {
    get: (_t, method: string | symbol) => (...args: unknown[]): Promise<unknown> => {
      if (ended) return Promise.reject(ended);
      const fn = (obj as Record<string | symbol, unknown>)[method];
      if (typeof fn !== 'function') return Promise.reject(new VsmmuError('EVSMMU_INTERNAL', `${name} has no method ${String(method)}`));
      try {
        const call = (): unknown => (fn as (...a: unknown[]) => unknown).apply(obj, args);
        const run = bound ? (): unknown => bound.call(String(method), call) : call;
        const r = held ? s.hold(held, run) : run();
        s.observe(String(method), r);
        s.settle(SETTLE_MS);
        return Promise.resolve(structuredClone(r));
      } catch (e) {
        const err = VsmmuError.fromRecord(VsmmuError.recordOf(e));
        s.observe(`${String(method)}!`, err.code);
        if (err.code === 'EVSMMU_DOMAIN_HUNG') die(err);
        else if (err.code === 'EVSMMU_SIM_DEADLOCK' || err.code === 'EVSMMU_SIM_LIVELOCK') {
          // The actor can never answer again: as a hung worker on threads.
          die(new VsmmuError('EVSMMU_DOMAIN_HUNG', `${name}: ${err.message}`, { cause: VsmmuError.recordOf(err) }));
        }
        return Promise.reject(ended ?? err);
      }
    },
  }) as ControlApi<T>;
  const end = (e: VsmmuError): Promise<void> => {
    ended ??= e;
    closing ??= dispose();
    return closing;
  };
  return {
    name, api,
    close: () => end(new VsmmuError('EVSMMU_ACTOR_CLOSED', `actor ${name} is closed`)),
    destroy: () => end(new VsmmuError('EVSMMU_ACTOR_DESTROYED', `actor ${name} was destroyed`)),
    onDeath: (fn) => void deaths.push(fn),
    die,
  };
}

export function simBackend(o: SimOptions): SimBackend {
  const s = new Scheduler(o);
  const world: SimWorld = { smmu: null };
  // One ring for every actor, on virtual time: the same seed gives the same trace.
  const rec = new TraceRecorder(() => s.now);
  const tracers = new Map<string, ReturnType<TraceRecorder['tracer']>>();
  const tracer = (name: string): ReturnType<TraceRecorder['tracer']> => {
    let t = tracers.get(name);
    if (t === undefined) tracers.set(name, (t = rec.tracer(name)));
    return t;
  };
  const engineActor = (engine: DmaEngine, name: string): SimActor => ({ name, step: () => engine.step(), hasWork: () => engine.hasWork() });

  return {
    mode: 'sim',
    priority: null,
    smmuCpu: null,
    scheduler: s,
    world,
    trace: {
      tracer,
      start: async (t) => rec.start(t),
      stop: async () => rec.stop(),
      collect: async () => [rec.collect()],
    },

    async startSmmu(data: SmmuWorkerData) {
      const lease = bufferLease();
      const actor = new SmmuActor(data, { clock: () => s.now, tracer: tracer('smmu'), buffers: lease.take });
      const smmu = actor.smmu;
      world.smmu = smmu;
      const me: SimActor = { name: 'smmu', step: (now) => smmu.step(now), hasWork: () => smmu.hasWork(), nextDeadline: (now) => smmu.nextDeadline(now) };
      const remove = s.add(me);
      return localLink(s, 'smmu', actor, me, async () => {
        remove();
        await actor[Symbol.asyncDispose]();
        lease.release(); // the last actor to go: nothing on this thread uses a port any more
      });
    },

    async startXen(data: XenWorkerData) {
      // Booting probes and enables the SMMU: the scheduler runs it meanwhile.
      const actor = new XenActor(data, { pollRegister: simPollRegister(s), tracer: tracer('xen') });
      const me: SimActor = { name: 'xen', step: (now) => actor.step(now), hasWork: () => actor.hasWork(), nextDeadline: () => actor.nextDeadline() };
      const remove = s.add(me);
      return localLink(s, 'xen', actor, me, async () => {
        remove();
        await actor[Symbol.asyncDispose]();
      });
    },

    async startGuest(data: GuestWorkerData, name: string, timeoutMs = Infinity) {
      const removals: (() => void)[] = [];
      const bound = new CallBound(s, timeoutMs, `domain "${name}"`);
      const tr = tracer(`guest ${name}`);
      const engines = new Map((data.hardware ?? []).map((h) => [h.name, new DmaEngine(h, tr, h.name)]));
      for (const [dev, engine] of engines) removals.push(s.add(engineActor(engine, `${name}/${dev}`)));
      const irq = data.irq ? new IrqLines(data.irq.desc) : null;
      const host: GuestHost = {
        clock: () => s.now,
        tracer: tr,
        trapPort: (desc, t) => new SimTrapPort(desc, s, t, `guest ${name}`, bound),
        ...(irq ? { irqWait: { wait: (mask: number, t: number) => (bound.wait(() => (irq.pending() & mask) !== 0, t) ? irq.pending() & mask : 0) } } : {}),
        sleepUntil: (due) => void bound.wait(() => s.now >= due, Math.max(0, due - s.now)),
        pause: () => Promise.resolve(),
        relax: () => {
          let turns = 0;
          bound.wait(() => turns++ > 0, Infinity); // one step of another actor
        },
        // The engines are actors of their own: waiting for one is running the scheduler.
        waitDevice: () => (ready, t) => bound.wait(ready, t),
      };
      let kernel: GuestKernel;
      try {
        kernel = GuestKernel.fromWorkerData(data, host);
      } catch (e) {
        for (const r of removals) r();
        throw new VsmmuError('EVSMMU_ACTOR_START', `actor guest:${name} failed to start: ${VsmmuError.recordOf(e).message}`, { actor: `guest:${name}`, cause: VsmmuError.recordOf(e) });
      }
      // The idle vCPU takes its vSMMU interrupt as a step of its own (on threads: its WFI
      // loop). A level line that stays high with nothing to do backs off for 1 ms.
      let quietUntil = 0;
      const me: SimActor = {
        name: `guest:${name}`,
        blocking: true,
        hasWork: () => kernel.stressPending() || (irq !== null && (irq.pending() & 1) !== 0 && kernel.driver.probed !== null && s.now >= quietUntil),
        nextDeadline: () => (irq !== null && (irq.pending() & 1) !== 0 && s.now < quietUntil ? quietUntil : Infinity),
        step: (now) => {
          try {
            // A pending interrupt first, as the vCPU takes it before its next instruction.
            const n = kernel.pollIrq();
            if (n === 0 && irq !== null && (irq.pending() & 1) !== 0) quietUntil = now + 1;
            return bound.call('stressStep', () => kernel.stressStep()) ? n + 1 : n;
          } catch (e) {
            // What kills a guest's thread kills this guest only, never the run.
            const err = VsmmuError.fromRecord(VsmmuError.recordOf(e));
            link.die(err.code === 'EVSMMU_DOMAIN_HUNG' ? err : new VsmmuError('EVSMMU_DOMAIN_CRASHED', `domain "${name}": its guest threw in a step (${err.message}); the domain was destroyed`, { cause: VsmmuError.recordOf(err) }));
            return 0;
          }
        },
      };
      removals.push(s.add(me));
      const link = localLink(s, `guest:${name}`, kernel, me, async () => {
        for (const r of removals) r();
        await kernel[Symbol.asyncDispose]();
      }, bound);
      return link;
    },

    addEngine(engine, name) {
      return s.add(engineActor(engine, name));
    },

    async wait(ready, timeoutMs) {
      const got = s.runUntil(ready, timeoutMs);
      s.settle(SETTLE_MS);
      return got;
    },

    now: () => s.now,
  };
}
