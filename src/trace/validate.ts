// Checks a trace against the Trace Event format as viewers read it: what ui.perfetto.dev
// needs to draw every slice, counter and arrow. Returns the problems found ([]: valid).
//   - every event has a phase, a name, a numeric pid (and tid, ts where the phase needs them);
//   - every pid is named by a process_name metadata event, every (pid, tid) that carries an
//     event by a thread_name;
//   - on each thread, B/E pair up (same name, in time order) and X slices nest;
//   - every flow (id, cat, name) starts with one 's', ends with one 'f', steps with 't' in
//     time order, and each of its points lies inside a slice of its thread.

import type { ChromeTrace, ChromeTraceEvent } from './chrome.ts';

export function validateChromeTrace(t: ChromeTrace | { readonly traceEvents: readonly ChromeTraceEvent[] }): string[] {
  const bad: string[] = [];
  const evs = t.traceEvents;
  const procNames = new Set<number>();
  const threadNames = new Set<string>();
  for (const e of evs) {
    if (e.ph !== 'M') continue;
    if (e.name === 'process_name' && typeof e.args?.['name'] === 'string') procNames.add(e.pid);
    if (e.name === 'thread_name' && typeof e.args?.['name'] === 'string') threadNames.add(`${e.pid}:${e.tid ?? e.pid}`);
  }
  const slices = new Map<string, { ts: number; end: number }[]>();
  const stacks = new Map<string, string[]>();
  const flows = new Map<string, ChromeTraceEvent[]>();
  const sorted = evs.filter((e) => e.ph !== 'M').map((e, i) => ({ e, i }));
  sorted.sort((a, b) => (a.e.ts ?? 0) - (b.e.ts ?? 0) || a.i - b.i);
  let i = 0;
  for (const { e } of sorted) {
    i++;
    const where = `event ${i} (${e.ph} "${e.name}")`;
    if (typeof e.name !== 'string' || typeof e.pid !== 'number' || typeof e.tid !== 'number' || typeof e.ts !== 'number' || !Number.isFinite(e.ts)) {
      bad.push(`${where}: needs name, numeric pid, tid and ts`);
      continue;
    }
    const key = `${e.pid}:${e.tid}`;
    if (!procNames.has(e.pid)) bad.push(`${where}: pid ${e.pid} has no process_name`);
    if (!threadNames.has(key)) bad.push(`${where}: tid ${e.tid} of pid ${e.pid} has no thread_name`);
    switch (e.ph) {
      case 'X': {
        if (typeof e.dur !== 'number' || e.dur < 0) bad.push(`${where}: X needs dur >= 0`);
        let l = slices.get(key);
        if (l === undefined) slices.set(key, (l = []));
        l.push({ ts: e.ts, end: e.ts + (e.dur ?? 0) });
        break;
      }
      case 'B': {
        let st = stacks.get(key);
        if (st === undefined) stacks.set(key, (st = []));
        st.push(e.name);
        let l = slices.get(key);
        if (l === undefined) slices.set(key, (l = []));
        l.push({ ts: e.ts, end: Infinity });
        break;
      }
      case 'E': {
        const st = stacks.get(key);
        const top = st?.pop();
        if (top === undefined) bad.push(`${where}: E without B`);
        else if (e.name !== top && e.name !== '') bad.push(`${where}: E closes "${top}"`);
        const l = slices.get(key);
        const open = l?.findLast((s) => s.end === Infinity);
        if (open) open.end = e.ts;
        break;
      }
      case 'C':
        if (e.args === undefined || Object.values(e.args).some((v) => typeof v !== 'number')) bad.push(`${where}: counter args must be numbers`);
        break;
      case 's':
      case 't':
      case 'f': {
        if (typeof e.id !== 'number') {
          bad.push(`${where}: flow needs an id`);
          break;
        }
        const fk = `${e.id}|${e.cat ?? ''}|${e.name}`;
        let l = flows.get(fk);
        if (l === undefined) flows.set(fk, (l = []));
        l.push(e);
        break;
      }
      case 'i':
        break;
      default:
        bad.push(`${where}: unknown phase`);
    }
  }
  for (const [key, st] of stacks) if (st.length > 0) bad.push(`thread ${key}: B "${st.join('", "')}" without E`);
  // X slices on a thread nest (a slice that starts inside another ends inside it).
  for (const [key, l] of slices) {
    const ordered = [...l].sort((a, b) => a.ts - b.ts || b.end - a.end);
    const open: number[] = [];
    for (const s of ordered) {
      while (open.length > 0 && (open[open.length - 1] as number) <= s.ts) open.pop();
      const top = open[open.length - 1];
      if (top !== undefined && s.end > top) bad.push(`thread ${key}: slice at ${s.ts} overlaps its parent without nesting`);
      open.push(s.end);
    }
  }
  const inSlice = (e: ChromeTraceEvent): boolean =>
    (slices.get(`${e.pid}:${e.tid}`) ?? []).some((s) => s.ts <= (e.ts ?? 0) && (e.ts ?? 0) <= s.end);
  for (const [fk, l] of flows) {
    const phases = l.map((e) => e.ph).join('');
    if (!/^st*f$/.test(phases)) bad.push(`flow ${fk}: phases ${phases} (one s, steps, one f)`);
    for (const e of l) if (!inSlice(e)) bad.push(`flow ${fk}: ${e.ph} at ${e.ts} is inside no slice of its thread`);
  }
  return bad;
}
