// A campaign's figures: inputs tried, invariant breaks by kind, and coverage merged over its
// seeds (which input classes, physical commands, event types and vSMMU answers it reached),
// so that a campaign that misses a class shows it.
import type { FuzzReport, ViolationKind } from './run.ts';

export interface FuzzSummary {
  readonly seeds: number;
  readonly failed: number;
  readonly inputs: number;
  readonly breaks: Readonly<Record<ViolationKind, number>>;
  readonly elapsedMs: number;
  /** Merged coverage: counts by class. */
  readonly coverage: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export function campaignSummary(reports: readonly FuzzReport[]): FuzzSummary {
  const breaks: Record<ViolationKind, number> = { isolation: 0, data: 0, fault: 0, throw: 0, hang: 0, dead: 0, 'xen-bug': 0, leak: 0 };
  const coverage: Record<string, Record<string, number>> = {};
  let inputs = 0;
  let elapsedMs = 0;
  for (const r of reports) {
    inputs += r.inputs;
    elapsedMs = Math.max(elapsedMs, r.elapsedMs);
    for (const v of r.violations) breaks[v.kind]++;
    for (const [part, counts] of Object.entries(r.coverage)) {
      const into = (coverage[part] ??= {});
      for (const [k, n] of Object.entries(counts as Record<string, number>)) into[k] = (into[k] ?? 0) + n;
    }
  }
  return { seeds: reports.length, failed: reports.filter((r) => !r.ok).length, inputs, breaks, elapsedMs, coverage };
}

function top(m: Readonly<Record<string, number>> | undefined): string {
  const e = Object.entries(m ?? {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return e.length === 0 ? '(none)' : e.map(([k, n]) => `${k} ${n}`).join(', ');
}

export function summaryText(s: FuzzSummary): string {
  const c = s.coverage;
  const inputs = c['inputs'] ?? {};
  const cls = (prefix: string): number => Object.keys(inputs).filter((k) => k.startsWith(prefix)).length;
  const b = s.breaks;
  return [
    `${s.failed === 0 ? 'PASS' : 'FAIL'}: ${s.seeds} seed(s), ${s.inputs} inputs; isolation breaks ${b.isolation}, data errors ${b.data}, lost faults ${b.fault}, hangs ${b.hang}, throws ${b.throw}, dead guests ${b.dead}, Xen bugs ${b['xen-bug']}, leaks ${b.leak}`,
    `coverage: ${Object.keys(inputs).length} input classes (${cls('cmd:')} command kinds, ${cls('reg:')} registers, ${cls('ste:')} STE kinds, ${cls('cd:')} CD kinds, ${cls('pt:')} table kinds)`,
    `  physical commands: ${top(c['physCommands'])}`,
    `  physical events: ${top(c['physEvents'])}`,
    `  hostile guest's events: ${top(c['guestEvents'])}`,
    `  hostile DMA: ${top(c['dma'])}`,
    `  vSMMU answers: ${top(c['vsmmu'])}`,
    `  coded answers: ${top(c['answers'])}`,
    '',
  ].join('\n');
}
