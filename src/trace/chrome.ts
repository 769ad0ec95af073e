// Collected trace rings -> Chrome Trace Event JSON (the format ui.perfetto.dev and
// chrome://tracing open). Deterministic: the same dumps give the same bytes (processes
// sorted by name, events by time with fixed tie-breaks, keys in a fixed order, no wall-clock
// field), so a simulation replayed from its seed writes an identical file.
//
// Layout: one process per actor (pid 1.. in name order), one thread per track (tid =
// pid * 1000 + track + 1; tid pid * 1000 carries the process's counters), each named by a
// metadata event. Times are microseconds from `origin` (default: the earliest event).
//
// Flow chains come from several rings and a ring forgets its oldest events, so chains are
// rebuilt here: the events of one id in time order form chains (an 's' opens one; an 'f'
// closes it); a chain missing its start begins at its first step, one missing its end ends
// at its last step, and a chain of one event is dropped. Each chain gets a fresh id and one
// name (its first event's), as the format matches the three phases by (id, cat, name).

import type { TraceArgs, TraceDump, TraceEvent } from './tracer.ts';

/** One event of the Chrome Trace Event format (the subset written here). */
export interface ChromeTraceEvent {
  readonly name: string;
  readonly cat?: string;
  readonly ph: 'X' | 'i' | 'C' | 's' | 't' | 'f' | 'M' | 'B' | 'E';
  readonly ts?: number;
  readonly dur?: number;
  readonly pid: number;
  readonly tid?: number;
  readonly s?: 't';
  readonly id?: number;
  readonly bp?: 'e';
  readonly args?: Readonly<Record<string, unknown>>;
}

/** A trace file: `JSON.stringify`-able; `formatChromeTrace` writes it one event per line. */
export interface ChromeTrace {
  readonly traceEvents: readonly ChromeTraceEvent[];
  readonly displayTimeUnit: 'ns';
  readonly otherData: Readonly<Record<string, string | number>>;
}

export interface ChromeTraceOptions {
  /** Time zero (ms of the recorders' clock); default: the earliest event. */
  readonly origin?: number;
  /** Added to otherData (e.g. the seed); values must be deterministic for byte-identical files. */
  readonly metadata?: Readonly<Record<string, string | number>>;
}

interface Ev {
  ph: TraceEvent['ph'];
  ts: number;
  dur: number;
  pid: number;
  tid: number;
  name: string;
  args: TraceArgs | undefined;
  id: number;
  value: number;
  /** Stable tie-break: position in the merged input. */
  seq: number;
}

const RANK: Readonly<Record<string, number>> = { X: 0, C: 1, i: 2, s: 3, t: 4, f: 5 };

/** Microseconds with nanosecond resolution, as a plain number. */
function us(ms: number): number {
  return Math.round(ms * 1e6) / 1e3;
}

/** Builds the trace from the dumps of every recorder (in any order). */
export function chromeTrace(dumps: readonly TraceDump[], o: ChromeTraceOptions = {}): ChromeTrace {
  // Processes by name (stable for equal names: input order).
  const procs: { name: string; tracks: readonly string[]; dump: number; local: number }[] = [];
  dumps.forEach((d, di) => d.processes.forEach((p, pi) => procs.push({ name: p.name, tracks: p.tracks, dump: di, local: pi })));
  const order = procs.map((p, i) => ({ p, i })).sort((a, b) => (a.p.name < b.p.name ? -1 : a.p.name > b.p.name ? 1 : a.i - b.i));
  const pidOf = new Map<string, number>();
  order.forEach(({ p }, k) => pidOf.set(`${p.dump}:${p.local}`, k + 1));

  const evs: Ev[] = [];
  let dropped = 0;
  dumps.forEach((d, di) => {
    dropped += d.dropped;
    for (const e of d.events) {
      const pid = pidOf.get(`${di}:${e.pid}`);
      if (pid === undefined) continue;
      evs.push({
        ph: e.ph, ts: e.ts, dur: e.dur ?? 0, pid, tid: e.ph === 'C' ? pid * 1000 : pid * 1000 + e.tid + 1, name: e.name,
        args: e.args, id: e.id ?? 0, value: e.value ?? 0, seq: evs.length,
      });
    }
  });
  let origin = o.origin ?? Infinity;
  if (o.origin === undefined) for (const e of evs) if (e.ts < origin) origin = e.ts;
  if (!Number.isFinite(origin)) origin = 0;
  const byTime = (a: Ev, b: Ev): number =>
    a.ts - b.ts || (RANK[a.ph] ?? 9) - (RANK[b.ph] ?? 9) || b.dur - a.dur || a.pid - b.pid || a.tid - b.tid || a.seq - b.seq;
  evs.sort(byTime);

  // Flow chains, from the flow points that lie inside a slice of their track (a point whose
  // slice left the ring binds to nothing).
  const open = new Map<number, number[]>();
  const flows = new Map<number, Ev[]>();
  for (const e of evs) {
    if (e.ph === 'X') {
      let st = open.get(e.tid);
      if (st === undefined) open.set(e.tid, (st = []));
      while (st.length > 0 && (st[st.length - 1] as number) < e.ts) st.pop();
      st.push(e.ts + e.dur);
      continue;
    }
    if (e.ph !== 's' && e.ph !== 't' && e.ph !== 'f') continue;
    const st = open.get(e.tid);
    while (st !== undefined && st.length > 0 && (st[st.length - 1] as number) < e.ts) st.pop();
    if (st === undefined || st.length === 0) continue;
    let l = flows.get(e.id);
    if (l === undefined) flows.set(e.id, (l = []));
    l.push(e);
  }
  const chains: Ev[][] = [];
  for (const list of flows.values()) {
    let cur: Ev[] = [];
    const close = (): void => {
      if (cur.length >= 2) chains.push(cur);
      cur = [];
    };
    for (const e of list) {
      if (e.ph === 's') close();
      cur.push(e);
      if (e.ph === 'f') close();
    }
    close();
  }
  chains.sort((a, b) => byTime(a[0] as Ev, b[0] as Ev));
  const keep = new Set<Ev>();
  chains.forEach((c, k) => {
    const name = (c[0] as Ev).name;
    c.forEach((e, j) => {
      e.ph = j === 0 ? 's' : j === c.length - 1 ? 'f' : 't';
      e.id = k + 1;
      e.name = name;
      keep.add(e);
    });
  });

  const out: ChromeTraceEvent[] = [];
  for (const { p } of order) {
    const pid = pidOf.get(`${p.dump}:${p.local}`) ?? 0;
    out.push({ name: 'process_name', ph: 'M', pid, args: { name: p.name } });
    out.push({ name: 'process_sort_index', ph: 'M', pid, args: { sort_index: pid } });
    out.push({ name: 'thread_name', ph: 'M', pid, tid: pid * 1000, args: { name: 'counters' } });
    p.tracks.forEach((t, k) => {
      out.push({ name: 'thread_name', ph: 'M', pid, tid: pid * 1000 + k + 1, args: { name: t } });
      out.push({ name: 'thread_sort_index', ph: 'M', pid, tid: pid * 1000 + k + 1, args: { sort_index: k + 1 } });
    });
  }
  for (const e of evs) {
    const ts = us(e.ts - origin);
    switch (e.ph) {
      case 'X':
        out.push({ name: e.name, cat: 'vsmmu', ph: 'X', ts, dur: us(e.dur), pid: e.pid, tid: e.tid, ...(e.args ? { args: e.args } : {}) });
        break;
      case 'i':
        out.push({ name: e.name, cat: 'vsmmu', ph: 'i', ts, pid: e.pid, tid: e.tid, s: 't', ...(e.args ? { args: e.args } : {}) });
        break;
      case 'C':
        out.push({ name: e.name, cat: 'vsmmu', ph: 'C', ts, pid: e.pid, tid: e.tid, args: { value: e.value } });
        break;
      default:
        if (!keep.has(e)) break;
        out.push({ name: e.name, cat: 'flow', ph: e.ph, ts, pid: e.pid, tid: e.tid, id: e.id, ...(e.ph === 'f' ? { bp: 'e' as const } : {}) });
    }
  }
  return {
    traceEvents: out,
    displayTimeUnit: 'ns',
    otherData: { producer: 'vsmmu', droppedEvents: dropped, ...(o.metadata ?? {}) },
  };
}

/** The trace as JSON text, one event per line (stable bytes for equal traces). */
export function formatChromeTrace(t: ChromeTrace): string {
  const lines = t.traceEvents.map((e) => JSON.stringify(e));
  return `{"displayTimeUnit":${JSON.stringify(t.displayTimeUnit)},"otherData":${JSON.stringify(t.otherData)},"traceEvents":[\n${lines.join(',\n')}\n]}\n`;
}

/** Dumps straight to JSON text (what a sim runner calls with its shared recorder's dump). */
export function traceJson(dumps: readonly TraceDump[], o: ChromeTraceOptions = {}): string {
  return formatChromeTrace(chromeTrace(dumps, o));
}
