// `vsmmu stress`: seeded stress runs of the whole system, fanned out on a piscina pool (each
// run is independent: its own SMMU, Xen and guest threads). A failing seed prints the
// command that replays it.
import { Piscina } from 'piscina';
import { intOption, parse } from './args.ts';
import type { CliIo } from './io.ts';
import { VsmmuError } from '../errors.ts';
import { workerEntry } from '../runtime/entry.ts';
import type { StressOptions, StressReport } from '../system/stress.ts';
import { writeFileSync } from 'node:fs';

export const STRESS_HELP = `Usage: vsmmu stress [options]

Seeded stress runs of the whole system: in each run, guests with a vSMMU and two devices
each map, unmap and DMA at random, all at once, and every result is checked from outside:
a DMA to a mapped IOVA lands in the host pages of that guest's buffer, a DMA after unmap
faults with F_TRANSLATION, no guest's DMA touches another guest's memory, no guest dies,
Xen counts no internal bug. Exits 0 only if every run held; a failing seed is printed with
the command that replays it.

Options:
  --seeds N     how many runs, with seeds S, S+1, ... (default 4, 1..10000)
  --seed S      the first seed (default: random, 0..2147483647)
  --guests G    guests per run (default 3, 1..16)
  --rounds R    operations per guest and run (default 400, 1..1000000)
  --jobs J      runs at the same time (default 1, 1..16; each run has its own threads)
  --trace FILE  write a timeline to FILE (Chrome Trace Event JSON for ui.perfetto.dev,
                docs/tracing.md): the lowest failing seed's run, or the first seed's
  --json        print the reports as JSON on stdout
  -h, --help    show this help

Exit status: 0 every run held, 1 a run failed, 2 bad usage.
`;

export async function stressCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('stress', argv, {
    help: { type: 'boolean', short: 'h' },
    seeds: { type: 'string' },
    seed: { type: 'string' },
    guests: { type: 'string' },
    rounds: { type: 'string' },
    jobs: { type: 'string' },
    json: { type: 'boolean' },
    trace: { type: 'string' },
  });
  if (values.help) {
    io.out(STRESS_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new VsmmuError('EVSMMU_USAGE', `takes no files (see 'vsmmu stress --help')`);
  const seeds = intOption('stress', 'seeds', values.seeds, 4, 1, 10_000);
  // A random first seed may be 0, so the replay command must accept 0.
  const first = values.seed === undefined ? Math.floor(Math.random() * 2 ** 30) : intOption('stress', 'seed', values.seed, 0, 0, 2 ** 31 - 1);
  const guests = intOption('stress', 'guests', values.guests, 3, 1, 16);
  const rounds = intOption('stress', 'rounds', values.rounds, 400, 1, 1_000_000);
  const jobs = intOption('stress', 'jobs', values.jobs, 1, 1, 16);

  const pool = new Piscina<StressOptions, StressReport>({ filename: workerEntry('stress').href, minThreads: 0, maxThreads: jobs, idleTimeout: 1000 });
  const reports: StressReport[] = [];
  // The trace kept: the lowest failing seed's, else the first seed's (the others are let go).
  let kept: StressReport | null = null;
  const keep = (r: StressReport): boolean => kept === null || (!r.ok && (kept.ok || r.seed < kept.seed)) || (r.ok && kept.ok && r.seed < kept.seed);
  try {
    await Promise.all(
      Array.from({ length: seeds }, async (_, i) => {
        const { trace, ...r } = await pool.run({ seed: first + i, guests, rounds, ...(values.trace !== undefined ? { trace: true } : {}) });
        if (trace !== undefined && keep(r)) kept = { ...r, trace };
        reports.push(r);
        if (!values.json) io.out(stressLine(r, guests, rounds));
      }),
    );
  } finally {
    await pool.destroy();
  }
  reports.sort((a, b) => a.seed - b.seed);
  if (values.trace !== undefined && kept !== null) {
    writeFileSync(values.trace, (kept as StressReport).trace ?? '');
    if (!values.json) io.out(`trace of seed ${(kept as StressReport).seed}: ${values.trace}\n`);
  }
  const failed = reports.filter((r) => !r.ok).length;
  if (values.json) io.out(`${JSON.stringify({ ok: failed === 0, reports }, null, 2)}\n`);
  else io.out(`${failed === 0 ? 'PASS' : 'FAIL'}: ${seeds} run(s), ${failed} failed\n`);
  if (failed > 0) {
    const which = reports.filter((r) => !r.ok).map((r) => r.seed);
    throw new VsmmuError('EVSMMU_CHECK', `${failed} of ${seeds} run(s) failed, seed(s) ${which.join(', ')} (see the replay commands in the report)`);
  }
  return 0;
}

/** One run's line of the report (a failure carries the command that replays it). */
export function stressLine(r: StressReport, guests: number, rounds: number): string {
  const what = `${r.dmas} DMAs (${r.faults} expected faults), ${r.maps} maps, ${r.unmaps} unmaps, ${(r.elapsedMs / 1000).toFixed(1)} s`;
  if (r.ok) return `seed ${r.seed}: ok, ${what}\n`;
  return `seed ${r.seed}: FAILED: ${r.violation}\n  replay: vsmmu stress --seeds 1 --seed ${r.seed} --guests ${guests} --rounds ${rounds}\n`;
}
