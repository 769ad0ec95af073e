// Trace points: what an actor holds to record a timeline, and the bounded ring it records
// into. An actor is given a `Tracer` (one per actor: its process in the timeline) and checks
// one field at each point:
//
//     if (this.tr.enabled) this.tr.instant('evtq', 'event', { sid });
//
// so a point costs one property load while nobody listens (no call, no allocation), as
// undici's `channel.hasSubscribers` checks. Timestamps come from the clock the runner
// injects (threads: one wall clock shared by every thread; sim: virtual time); nothing here
// reads a clock, waits or touches a thread API.
//
// Recording: a `TraceRecorder` is one ring of fixed size (the last `capacity` events, older
// ones overwritten) shared by the tracers of the actors on one thread (sim: every actor).
// Its time stamps strictly increase (a stamp that would not is moved just past the last),
// so a slice recorded after its inner events and the flow points inside it nest exactly
// even under a virtual clock that stands still within a step. Slices are recorded once,
// when they end ('X' with the start stamp taken at their beginning), so a ring that drops
// its oldest events never holds half a slice.

/** Arguments of an event (numbers and short strings; cloned across threads). */
export type TraceArgs = Readonly<Record<string, number | string | boolean>>;

/** Phases recorded: complete slice, instant, counter, flow start / step / end. */
export type TracePhase = 'X' | 'i' | 'C' | 's' | 't' | 'f';
const PHASES: readonly TracePhase[] = ['X', 'i', 'C', 's', 't', 'f'];

/** One recorded event as collected (times in ms of the recorder's clock). */
export interface TraceEvent {
  readonly ph: TracePhase;
  readonly ts: number;
  /** 'X': duration (ms). */
  readonly dur?: number;
  /** Index of the process in TraceDump.processes. */
  readonly pid: number;
  /** Index of the track in that process's `tracks`. */
  readonly tid: number;
  readonly name: string;
  readonly args?: TraceArgs;
  /** Flow events: the chain id. */
  readonly id?: number;
  /** Counters: the value. */
  readonly value?: number;
}

/** What a recorder hands over: its processes and tracks, and its events oldest first. */
export interface TraceDump {
  readonly processes: readonly { readonly name: string; readonly tracks: readonly string[] }[];
  readonly events: readonly TraceEvent[];
  /** Events overwritten because the ring was full. */
  readonly dropped: number;
}

export interface TraceStartOptions {
  /** Events kept per recorder (the ring's size; default 65536). */
  readonly capacity?: number;
}

export const DEFAULT_TRACE_CAPACITY = 65536;
const MAX_CAPACITY = 1 << 24;

/**
 * Flow chain ids: `space` 0 is the physical command queue, `space` domid + 1 a guest's
 * command queue; `pos` a queue position with its wrap bit (< 2^20). Both ends of a chain
 * compute the id from what they see (the producer's PROD, the consumer's CONS).
 */
export function flowId(space: number, pos: number): number {
  return space * 2097152 + (pos & 0x1fffff) + 1;
}

/** Chain id space of domain `domid`'s guest command queue. */
export function guestFlowSpace(domid: number): number {
  return domid + 1;
}

/** One actor's trace points (its process in the timeline). */
export class Tracer {
  /** Checked at every trace point: false while nobody records. */
  enabled = false;
  /** A flow chain the work in progress was caused by (0: none): the next flow started on
   *  this tracer also steps it (a guest command -> the physical commands it caused). */
  cause = 0;
  readonly #rec: TraceRecorder | null;
  readonly #pid: number;
  readonly #tracks = new Map<string, number>();

  /** @internal use TraceRecorder.tracer() or NO_TRACE */
  constructor(rec: TraceRecorder | null, pid: number) {
    this.#rec = rec;
    this.#pid = pid;
  }

  /** A time stamp (ms) for the start of a slice; later stamps are strictly greater. */
  stamp(): number {
    return this.#rec === null ? 0 : this.#rec.stamp();
  }

  /** A slice on `track` from `start` (a stamp()) to now. */
  slice(track: string, name: string, start: number, args?: TraceArgs): void {
    const r = this.#rec;
    if (r === null || !this.enabled) return;
    const end = r.stamp();
    r.push('X', start, end - start, this.#pid, this.#tid(track), name, args, 0, 0);
  }

  instant(track: string, name: string, args?: TraceArgs): void {
    const r = this.#rec;
    if (r === null || !this.enabled) return;
    r.push('i', r.stamp(), 0, this.#pid, this.#tid(track), name, args, 0, 0);
  }

  /** A counter's value (one track per counter name in the process). */
  counter(name: string, value: number): void {
    const r = this.#rec;
    if (r === null || !this.enabled) return;
    r.push('C', r.stamp(), 0, this.#pid, 0, name, undefined, 0, value);
  }

  /**
   * A flow point on `track` (inside a slice recorded there around it): 's' starts chain
   * `id`, 't' steps it, 'f' ends it. A start while `cause` is set also steps the cause.
   */
  flow(track: string, ph: 's' | 't' | 'f', id: number, name = 'flow'): void {
    const r = this.#rec;
    if (r === null || !this.enabled) return;
    const tid = this.#tid(track);
    r.push(ph, r.stamp(), 0, this.#pid, tid, name, undefined, id, 0);
    if (ph === 's' && this.cause !== 0 && this.cause !== id) r.push('t', r.stamp(), 0, this.#pid, tid, name, undefined, this.cause, 0);
  }

  #tid(track: string): number {
    let t = this.#tracks.get(track);
    if (t === undefined) {
      t = this.#rec?.addTrack(this.#pid, track) ?? 0;
      this.#tracks.set(track, t);
    }
    return t;
  }
}

/** The tracer of an actor nobody traces: `enabled` stays false. */
export const NO_TRACE: Tracer = new Tracer(null, 0);

/** The bounded ring of one thread's (or one simulation's) events. */
export class TraceRecorder {
  readonly #clock: () => number;
  #cap = 0;
  #ph = new Uint8Array(0);
  #ts = new Float64Array(0);
  #dur = new Float64Array(0);
  #val = new Float64Array(0);
  #pid = new Uint16Array(0);
  #tid = new Uint16Array(0);
  #name: string[] = [];
  #args: (TraceArgs | undefined)[] = [];
  /** Events written since start (the ring holds the last min(n, cap)). */
  #n = 0;
  #last = -Infinity;
  readonly #procs: { name: string; tracks: string[] }[] = [];
  readonly #tracers: Tracer[] = [];

  /** `clock`: ms; threads: performance.timeOrigin + performance.now(), sim: virtual time. */
  constructor(clock: () => number) {
    this.#clock = clock;
  }

  /** The tracer of process `name` (an actor), recording into this ring. */
  tracer(name: string): Tracer {
    const pid = this.#procs.length;
    this.#procs.push({ name, tracks: [] });
    const t = new Tracer(this, pid);
    t.enabled = this.#cap > 0;
    this.#tracers.push(t);
    return t;
  }

  get enabled(): boolean {
    return this.#cap > 0;
  }

  /** Starts recording into an empty ring of `capacity` events (restarts if recording). */
  start(o: TraceStartOptions = {}): void {
    const cap = o.capacity ?? DEFAULT_TRACE_CAPACITY;
    if (!(Number.isInteger(cap) && cap >= 16 && cap <= MAX_CAPACITY)) throw new RangeError(`trace capacity ${String(cap)}: an integer in 16..${MAX_CAPACITY}`);
    this.#cap = cap;
    this.#ph = new Uint8Array(cap);
    this.#ts = new Float64Array(cap);
    this.#dur = new Float64Array(cap);
    this.#val = new Float64Array(cap);
    this.#pid = new Uint16Array(cap);
    this.#tid = new Uint16Array(cap);
    this.#name = new Array<string>(cap).fill('');
    this.#args = new Array<TraceArgs | undefined>(cap).fill(undefined);
    this.#n = 0;
    for (const t of this.#tracers) t.enabled = true;
  }

  /** Stops recording; the ring keeps its events until collected or restarted. */
  stop(): void {
    for (const t of this.#tracers) {
      t.enabled = false;
      t.cause = 0;
    }
  }

  /** @internal A strictly increasing time stamp (ms). */
  stamp(): number {
    const t = this.#clock();
    const last = this.#last;
    const s = t > last ? t : last + Math.max(1e-6, Math.abs(last) * 4e-16);
    this.#last = s;
    return s;
  }

  /** @internal */
  addTrack(pid: number, track: string): number {
    const tracks = this.#procs[pid]?.tracks;
    if (tracks === undefined) return 0;
    tracks.push(track);
    return tracks.length - 1;
  }

  /** @internal */
  push(ph: TracePhase, ts: number, dur: number, pid: number, tid: number, name: string, args: TraceArgs | undefined, id: number, value: number): void {
    const cap = this.#cap;
    if (cap === 0) return;
    const i = this.#n % cap;
    this.#n++;
    this.#ph[i] = PHASES.indexOf(ph);
    this.#ts[i] = ts;
    this.#dur[i] = dur;
    this.#val[i] = ph === 'C' ? value : id;
    this.#pid[i] = pid;
    this.#tid[i] = tid;
    this.#name[i] = name;
    this.#args[i] = args;
  }

  /** The ring's events, oldest first (the ring is left as it is). */
  collect(): TraceDump {
    const cap = this.#cap;
    const n = Math.min(this.#n, cap);
    const events: TraceEvent[] = [];
    for (let k = 0; k < n; k++) {
      const i = (this.#n - n + k) % cap;
      const ph = PHASES[this.#ph[i] ?? 0] ?? 'i';
      const base = { ph, ts: this.#ts[i] ?? 0, pid: this.#pid[i] ?? 0, tid: this.#tid[i] ?? 0, name: this.#name[i] ?? '' };
      const args = this.#args[i];
      const v = this.#val[i] ?? 0;
      events.push({
        ...base,
        ...(ph === 'X' ? { dur: this.#dur[i] ?? 0 } : {}),
        ...(args !== undefined ? { args } : {}),
        ...(ph === 'C' ? { value: v } : ph === 's' || ph === 't' || ph === 'f' ? { id: v } : {}),
      });
    }
    return {
      processes: this.#procs.map((p) => ({ name: p.name, tracks: [...p.tracks] })),
      events,
      dropped: Math.max(0, this.#n - cap),
    };
  }
}
