// The deterministic scheduler: every actor (the SMMU, Xen, each guest, each DMA engine) on
// the calling thread, one step at a time, in an order drawn from a seed, with virtual time.
//
// A scheduling point is one actor step. Code that waits (a vCPU stopped on a trapped access,
// a driver polling for CMD_SYNC, a program awaiting a DMA) calls runUntil(ready): the
// scheduler steps the other actors until `ready()` holds. A waiting actor is "on the stack"
// and is never stepped again until its wait returns, so waits nest: a guest whose vCPU
// waits may see another guest's step run inside that wait (its vCPU stalls meanwhile, as a
// vCPU stalls while the host runs others). Strategies pick among the actors that have work:
//   random       uniformly (the default);
//   pct          Probabilistic Concurrency Testing (Burckhardt et al., ASPLOS 2010): the
//                runnable actor of highest priority runs; at depth-1 change points drawn
//                from the first `pctSteps` steps the running actor drops below all others;
//   round-robin  in turn.
// Virtual time advances by `stepUs` per step and jumps to the next deadline when no actor
// has work. Same seed, same options, same program: same steps, same digest.
import { VsmmuError } from '../errors.ts';
import { Digest } from './digest.ts';
import { Random } from '../prng.ts';

export type SimStrategy = 'random' | 'pct' | 'round-robin';

export interface SimOptions {
  /** The seed of the run: the schedule and everything drawn from it. */
  readonly seed: number;
  /** How the next actor is chosen (default 'random'). */
  readonly strategy?: SimStrategy;
  /** PCT's depth d (d - 1 priority change points; default 3). */
  readonly depth?: number;
  /** PCT's horizon k: change points fall in the first k steps (default 100 000). */
  readonly pctSteps?: number;
  /** Virtual time of one step, in microseconds (default 1). */
  readonly stepUs?: number;
  /** Bound on the steps of one wait before it counts as a livelock (default 20 000 000). */
  readonly maxWaitSteps?: number;
  /**
   * Give the system's physical memory back to a pool of this thread when the system closes,
   * for the next sim system of the same size (default false): for campaigns that run seed
   * after seed. Only the pages written are cleared on reuse, so a run sees the same bytes as
   * with new memory; a program must not touch a closed system's memory any more.
   */
  readonly recycleMemory?: boolean;
}

/** What the scheduler drives (the runtime's Steppable, with a name). */
export interface SimActor {
  readonly name: string;
  step(now: number): number;
  hasWork(): boolean;
  nextDeadline?(now: number): number;
  /**
   * Its steps may wait on other actors (a guest's vCPU traps to Xen). Such a step never
   * starts while an actor that serves waits (Xen in a control call of its own) is held:
   * nested inside that call it could never be answered.
   */
  readonly blocking?: boolean;
}

interface Entry {
  readonly id: number;
  readonly actor: SimActor;
  /** On the stack (stepping, or inside a wait of its own): not steppable now. */
  busy: boolean;
  /** PCT priority (higher runs first). */
  prio: number;
}

export const SIM_STRATEGIES: readonly SimStrategy[] = ['random', 'pct', 'round-robin'];

const SIM_KEYS = ['seed', 'strategy', 'depth', 'pctSteps', 'stepUs', 'maxWaitSteps', 'recycleMemory'];

/** Checks createSystem's `sim` option: EVSMMU_BADOPTIONS naming what to fix. */
export function checkSimOptions(raw: unknown): SimOptions {
  const bad = (m: string): VsmmuError => new VsmmuError('EVSMMU_BADOPTIONS', `sim.${m}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new VsmmuError('EVSMMU_BADOPTIONS', 'sim must be an object { seed, strategy?, depth? }');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!SIM_KEYS.includes(k)) throw bad(`${k} is not an option (options: ${SIM_KEYS.join(', ')})`);
  const whole = (k: string, min: number, max: number): void => {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)) throw bad(`${k} must be a whole number ${min}..${max}, got ${String(v)}`);
  };
  if (o['seed'] === undefined) throw bad('seed is required: a whole number 0..4294967295 (the same seed replays the run)');
  whole('seed', 0, 2 ** 32 - 1);
  if (o['strategy'] !== undefined && !SIM_STRATEGIES.includes(o['strategy'] as SimStrategy)) {
    throw bad(`strategy "${String(o['strategy'])}": expected one of ${SIM_STRATEGIES.join(', ')}`);
  }
  whole('depth', 1, 64);
  whole('pctSteps', 1, 2 ** 31 - 1);
  whole('maxWaitSteps', 1, 2 ** 31 - 1);
  if (o['recycleMemory'] !== undefined && typeof o['recycleMemory'] !== 'boolean') throw bad(`recycleMemory must be true or false, got ${String(o['recycleMemory'])}`);
  const us = o['stepUs'];
  if (us !== undefined && !(typeof us === 'number' && us > 0 && us <= 1000)) throw bad(`stepUs must be above 0 and at most 1000, got ${String(us)}`);
  return o as unknown as SimOptions;
}

export class Scheduler {
  readonly seed: number;
  readonly strategy: SimStrategy;
  /** Virtual time in ms. */
  now = 0;
  /** Steps taken. */
  steps = 0;
  readonly digest = new Digest();
  readonly #rnd: Random;
  readonly #stepMs: number;
  readonly #maxWait: number;
  readonly #entries: Entry[] = [];
  #nextId = 0;
  #rr = 0;
  readonly #ready: Entry[] = [];
  /** settle()'s condition, made once. */
  readonly #idle = (): boolean => !this.busy();
  /** PCT: the steps at which the running actor's priority drops, ascending. */
  readonly #changes: number[] = [];
  #lowPrio = 0;
  /** Non-blocking actors held in a call from outside (Xen creating a domain). */
  #serversHeld = 0;
  /** Set when an actor's step threw: every later wait fails with it (the run is over). */
  #broken: VsmmuError | null = null;

  constructor(options: SimOptions) {
    const o = checkSimOptions(options);
    const strategy = o.strategy ?? 'random';
    const depth = o.depth ?? 3;
    const stepUs = o.stepUs ?? 1;
    this.seed = o.seed;
    this.strategy = strategy;
    this.#rnd = new Random(o.seed);
    this.#stepMs = stepUs / 1000;
    this.#maxWait = o.maxWaitSteps ?? 20_000_000;
    if (strategy === 'pct') {
      const k = o.pctSteps ?? 100_000;
      for (let i = 1; i < depth; i++) this.#changes.push(1 + this.#rnd.below(k));
      this.#changes.sort((a, b) => a - b);
    }
  }

  /** Adds an actor; returns its removal. */
  add(actor: SimActor): () => void {
    // PCT: initial priorities are above every change-point priority (0 .. depth-2).
    const e: Entry = { id: this.#nextId++, actor, busy: false, prio: 64 + this.#rnd.below(1 << 20) };
    this.#entries.push(e);
    return () => {
      const i = this.#entries.indexOf(e);
      if (i >= 0) this.#entries.splice(i, 1);
    };
  }

  /** Marks `actor` on the stack for the duration of `fn` (a call into it from outside). */
  hold<T>(actor: SimActor, fn: () => T): T {
    const e = this.#entryOf(actor);
    if (!e || e.busy) return fn();
    e.busy = true;
    if (!actor.blocking) this.#serversHeld++;
    try {
      return fn();
    } finally {
      e.busy = false;
      if (!actor.blocking) this.#serversHeld--;
    }
  }

  /** Mixes an observation into the run's digest (a call and its answer). */
  observe(what: string, value?: unknown): void {
    this.digest.string(what);
    if (value !== undefined) this.digest.value(value);
  }

  /**
   * Steps actors until `ready()` holds; false if `timeoutMs` of virtual time passed first, or
   * if nothing can make progress any more (no actor has work, none has a deadline).
   * Throws EVSMMU_SIM_LIVELOCK after maxWaitSteps steps without `ready()`.
   */
  runUntil(ready: () => boolean, timeoutMs = Infinity): boolean {
    const deadline = this.now + timeoutMs;
    let n = 0;
    while (!ready()) {
      if (this.#broken) throw this.#broken;
      if (this.now >= deadline) return false;
      const e = this.#pick();
      if (e === null) {
        // Nothing to do: jump to the earliest deadline (an actor's, or this wait's own).
        let next = deadline;
        for (const x of this.#entries) {
          if (!x.busy && x.actor.nextDeadline) next = Math.min(next, x.actor.nextDeadline(this.now));
        }
        if (next === Infinity) return ready();
        this.now = Math.max(next, this.now + this.#stepMs);
        continue;
      }
      if (++n > this.#maxWait) {
        throw new VsmmuError('EVSMMU_SIM_LIVELOCK', `sim: a wait took more than ${this.#maxWait} steps without its condition (seed ${this.seed}, step ${this.steps})`, { seed: this.seed, step: this.steps });
      }
      this.#run(e);
    }
    return true;
  }

  /** Runs until no actor has work, for at most `ms` of virtual time (background work). */
  settle(ms: number): void {
    this.runUntil(this.#idle, ms);
  }

  #entryOf(actor: SimActor): Entry | undefined {
    for (const e of this.#entries) if (e.actor === actor) return e;
    return undefined;
  }

  /** Whether some actor off the stack has work now. */
  busy(): boolean {
    for (const e of this.#entries) if (this.#eligible(e)) return true;
    return false;
  }

  /** Steps until no actor has work (or `maxSteps`); returns the steps taken. */
  drain(maxSteps = 1_000_000): number {
    let n = 0;
    for (let e = this.#pick(); e !== null && n < maxSteps; e = this.#pick(), n++) this.#run(e);
    return n;
  }

  #run(e: Entry): void {
    this.steps++;
    this.now += this.#stepMs;
    this.digest.int(e.id);
    while (this.#changes.length > 0 && this.#changes[0]! <= this.steps) {
      this.#changes.shift();
      e.prio = this.#lowPrio++;
    }
    e.busy = true;
    try {
      e.actor.step(this.now);
    } catch (err) {
      // A throw inside an actor is a bug of this code (guest input never throws): the run
      // cannot go on faithfully, so every wait from now on reports it.
      this.#broken = err instanceof VsmmuError ? err : new VsmmuError('EVSMMU_INTERNAL', `sim: actor ${e.actor.name} threw at step ${this.steps}: ${err instanceof Error ? err.message : String(err)}`, { actor: e.actor.name, step: this.steps });
      throw this.#broken;
    } finally {
      e.busy = false;
    }
  }

  #eligible(e: Entry): boolean {
    return !e.busy && (this.#serversHeld === 0 || !e.actor.blocking) && e.actor.hasWork();
  }

  /** The next actor to step, among those off the stack with work; null if none. */
  #pick(): Entry | null {
    const all = this.#entries;
    switch (this.strategy) {
      case 'round-robin': {
        for (let k = 0; k < all.length; k++) {
          const i = (this.#rr + k) % all.length;
          const e = all[i]!;
          if (this.#eligible(e)) {
            this.#rr = i + 1;
            return e;
          }
        }
        return null;
      }
      case 'pct': {
        let best: Entry | null = null;
        for (const e of all) if ((best === null || e.prio > best.prio) && this.#eligible(e)) best = e;
        return best;
      }
      default: {
        // Reused with a count of its own: a pick per step must not allocate (setting an
        // array's length to 0 drops its backing store, and the next push makes a new one).
        const ready = this.#ready;
        let n = 0;
        for (const e of all) if (this.#eligible(e)) ready[n++] = e;
        return n === 0 ? null : n === 1 ? ready[0]! : ready[this.#rnd.below(n)]!;
      }
    }
  }
}
