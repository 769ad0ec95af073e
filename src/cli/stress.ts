// `vsmmu stress`: seeded stress runs of the whole system, fanned out on a piscina pool (each
// run is independent: its own SMMU, Xen and guests). Sim mode (the default) replays a seed
// exactly; a failing seed prints the command that replays it, and --shrink reduces it.
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { intOption, parse } from './args.ts';
import type { CliIo } from './io.ts';
import { VsmmuError } from '../errors.ts';
import { seedPool } from '../runtime/seed-pool.ts';
import { SIM_STRATEGIES, type SimStrategy } from '../sim/scheduler.ts';
import { mutation } from '../sim/mutations.ts';
import { shrinkStress } from '../system/shrink.ts';
import { parseKeep, type StressOptions, type StressReport } from '../system/stress.ts';
import { PROFILE_HELP, profileOption } from './profile.ts';

export const STRESS_HELP = `Usage: vsmmu stress [options]

Seeded stress runs of the whole system. In each run every guest (a vSMMU and two devices)
runs its own seeded operations: map and unmap with single and range TLBIs, lazy unmaps
flushed by TLBI_NH_ASID, STE and CD reconfiguration with PASIDs, DMA reads and writes,
provoked faults and fault bursts; meanwhile guests are killed, destroyed and created.
Checked continuously: every DMA byte stays in its guest's p2m, no stale translation after
unmap + TLBI + CMD_SYNC, DMA data where mapped, every fault reaches its owner with its
vSID, SSID and IOVA, no guest dies unless killed, Xen counts no internal bug.

Sim mode (the default) runs each seed on one thread under a seeded scheduler: the same seed
gives the same run and the same digest. --threads runs the same operations on real threads.

Options:
  --seeds N|A..B  how many runs (seeds S, S+1, ...), or the seeds A to B (default 4)
  --seed S        the first seed (default: random, 0..2147483647)
  --sim           one thread, a seeded schedule, exact replay (default)
  --threads       real worker threads (real concurrency, no exact replay)
  --strategy X    sim schedule: random, pct or round-robin (default random)
  --depth D       PCT depth (default 3, 1..64)
  --guests G      guests per run at the start (default 3, 1..16)
  --rounds R      operations per guest (default 400, 1..1000000)
  --no-chaos      no guest killed, destroyed or created mid-run
  --keep LIST     run only these operations: g1:3,17;g2: (what --shrink prints)
  --shrink        reduce the first failing seed to a minimal failing run (sim mode)
  --mutation M    plant a bug the checkers must catch (sim mode): forget-range-tlbi,
                  early-sync, wrong-vsid, tlbi-without-vmid, stale-cd-after-cfgi
  --jobs J        runs at the same time (default: the cores in sim mode, 1 on threads)
  --profile P     ${PROFILE_HELP}
  --trace FILE    write a timeline to FILE (Chrome Trace Event JSON for ui.perfetto.dev,
                  docs/tracing.md): the lowest failing seed's run, or the first seed's
  --json          print the reports as JSON on stdout
  -h, --help      show this help

Exit status: 0 every run held, 1 a run failed, 2 bad usage.
`;

/** "--seeds 1..200" or "--seeds 20" (with --seed). */
function seedRange(seeds: string | undefined, seed: string | undefined): { first: number; count: number } {
  const range = seeds === undefined ? null : /^(\d+)\.\.(\d+)$/.exec(seeds);
  if (range) {
    const a = intOption('stress', 'seeds', range[1], 0, 0, 2 ** 31 - 1);
    const b = intOption('stress', 'seeds', range[2], 0, 0, 2 ** 31 - 1);
    if (b < a || b - a >= 1_000_000) throw new VsmmuError('EVSMMU_USAGE', `--seeds ${seeds}: write A..B with A <= B and at most 1000000 seeds (see 'vsmmu stress --help')`);
    if (seed !== undefined) throw new VsmmuError('EVSMMU_USAGE', `--seed goes with --seeds N, not with a range --seeds ${seeds} (see 'vsmmu stress --help')`);
    return { first: a, count: b - a + 1 };
  }
  const count = intOption('stress', 'seeds', seeds, 4, 1, 1_000_000);
  // A random first seed may be 0, so the replay command must accept 0.
  const first = seed === undefined ? Math.floor(Math.random() * 2 ** 30) : intOption('stress', 'seed', seed, 0, 0, 2 ** 31 - 1);
  return { first, count };
}

export async function stressCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('stress', argv, {
    help: { type: 'boolean', short: 'h' },
    seeds: { type: 'string' },
    seed: { type: 'string' },
    sim: { type: 'boolean' },
    threads: { type: 'boolean' },
    strategy: { type: 'string' },
    depth: { type: 'string' },
    guests: { type: 'string' },
    rounds: { type: 'string' },
    'no-chaos': { type: 'boolean' },
    keep: { type: 'string' },
    shrink: { type: 'boolean' },
    mutation: { type: 'string' },
    profile: { type: 'string' },
    jobs: { type: 'string' },
    json: { type: 'boolean' },
    trace: { type: 'string' },
  });
  if (values.help) {
    io.out(STRESS_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new VsmmuError('EVSMMU_USAGE', `takes no files (see 'vsmmu stress --help')`);
  if (values.sim && values.threads) throw new VsmmuError('EVSMMU_USAGE', `--sim and --threads exclude each other (see 'vsmmu stress --help')`);
  const mode = values.threads ? 'threads' : 'sim';
  const strategy = values.strategy;
  if (strategy !== undefined && !SIM_STRATEGIES.includes(strategy as SimStrategy)) {
    throw new VsmmuError('EVSMMU_USAGE', `--strategy takes ${SIM_STRATEGIES.join(', ')}, not '${strategy}' (see 'vsmmu stress --help')`);
  }
  if (mode === 'threads' && (strategy !== undefined || values.depth !== undefined || values.shrink || values.mutation !== undefined)) {
    throw new VsmmuError('EVSMMU_USAGE', `--strategy, --depth, --shrink and --mutation are for sim mode, not --threads (see 'vsmmu stress --help')`);
  }
  if (values.mutation !== undefined) mutation(values.mutation); // EVSMMU_USAGE names the ones there are
  const { first, count } = seedRange(values.seeds, values.seed);
  const guests = intOption('stress', 'guests', values.guests, 3, 1, 16);
  const rounds = intOption('stress', 'rounds', values.rounds, 400, 1, 1_000_000);
  const depth = values.depth === undefined ? undefined : intOption('stress', 'depth', values.depth, 3, 1, 64);
  const jobs = intOption('stress', 'jobs', values.jobs, mode === 'sim' ? Math.min(16, availableParallelism()) : 1, 1, 16);
  const keep = values.keep === undefined ? undefined : parseKeep(values.keep);
  const profile = profileOption('stress', values.profile);
  const options = (seed: number): StressOptions => ({
    seed, guests, rounds, mode,
    ...(profile !== 'hardened' ? { profile } : {}),
    ...(strategy !== undefined ? { strategy: strategy as SimStrategy } : {}),
    ...(depth !== undefined ? { depth } : {}),
    ...(values['no-chaos'] ? { chaos: false } : {}),
    ...(keep ? { keep } : {}),
    ...(values.mutation !== undefined ? { mutation: values.mutation } : {}),
  });

  const pool = seedPool<StressOptions, StressReport>('stress', jobs, { idleTimeout: 1000 });
  const reports: StressReport[] = [];
  // The trace kept: the lowest failing seed's, else the lowest seed's (the others are let go).
  let kept: StressReport | null = null;
  const better = (r: StressReport, k: StressReport | null): boolean => k === null || (r.ok === k.ok ? r.seed < k.seed : !r.ok);
  const t0 = performance.now();
  let ops = 0;
  let failed = 0;
  const progress = io.tty && !values.json ? (line: string) => io.err(`\r\x1b[K${line}`) : null;
  try {
    // At most jobs * 2 runs queued at once, so a long campaign holds no million promises.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const seed = first + next++;
        const { trace, ...r } = await pool.run({ ...options(seed), ...(values.trace !== undefined ? { trace: true } : {}) });
        if (trace !== undefined && better(r, kept)) kept = { ...r, trace };
        reports.push(r);
        ops += r.ops;
        if (!r.ok) failed++;
        if (!values.json && (!r.ok || count <= 20)) {
          if (progress) io.err('\r\x1b[K');
          io.out(stressLine(r));
        }
        progress?.(`${reports.length}/${count} runs, ${ops} operations, ${failed} failed, ${rate(ops, t0)} ops/s`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(count, jobs * 2) }, worker));
  } finally {
    if (progress) io.err('\r\x1b[K');
    await pool.destroy();
  }
  reports.sort((a, b) => a.seed - b.seed);
  if (values.trace !== undefined && kept !== null) {
    writeFileSync(values.trace, (kept as StressReport).trace ?? '');
    if (!values.json) io.out(`trace of seed ${(kept as StressReport).seed}: ${values.trace}\n`);
  }
  const bad = reports.filter((r) => !r.ok);
  let shrunk: Awaited<ReturnType<typeof shrinkStress>> = null;
  if (values.shrink && bad[0]) {
    if (!values.json) io.out(`shrinking seed ${bad[0].seed} ...\n`);
    shrunk = await shrinkStress(options(bad[0].seed));
    if (shrunk && !values.json) {
      io.out(`shrunk to ${shrunk.ops} operation(s) in ${shrunk.runs} runs: ${shrunk.report.violation}\n  replay: ${shrunk.report.replay}\n`);
    }
  }
  const summary = { runs: reports.length, operations: ops, violations: bad.length, opsPerSecond: Number(rate(ops, t0)) };
  if (values.json) io.out(`${JSON.stringify({ ok: bad.length === 0, mode, ...summary, reports, ...(shrunk ? { shrunk: { replay: shrunk.report.replay, violation: shrunk.report.violation, ops: shrunk.ops, runs: shrunk.runs } } : {}) }, null, 2)}\n`);
  else io.out(`${bad.length === 0 ? 'PASS' : 'FAIL'}: ${summary.runs} run(s) (${mode}), ${ops} operations, ${bad.length} failed, ${summary.opsPerSecond} ops/s\n`);
  if (bad.length > 0) {
    throw new VsmmuError('EVSMMU_CHECK', `${bad.length} of ${reports.length} run(s) failed, seed(s) ${bad.slice(0, 10).map((r) => r.seed).join(', ')}${bad.length > 10 ? ', ...' : ''} (see the replay commands in the report)`);
  }
  return 0;
}

function rate(ops: number, t0: number): string {
  return (ops / Math.max(1e-3, (performance.now() - t0) / 1000)).toFixed(0);
}

/** One run's line of the report (a failure carries the command that replays it). */
export function stressLine(r: Pick<StressReport, 'seed' | 'ok' | 'violation' | 'ops' | 'dmas' | 'faults' | 'elapsedMs' | 'virtualMs' | 'replay'> & { digest?: string }): string {
  const time = r.virtualMs !== undefined ? `${(r.virtualMs / 1000).toFixed(3)} s virtual` : `${((r.elapsedMs ?? 0) / 1000).toFixed(1)} s`;
  const what = `${r.ops} operations, ${r.dmas} DMAs (${r.faults} provoked faults), ${time}${r.digest ? `, digest ${r.digest}` : ''}`;
  if (r.ok) return `seed ${r.seed}: ok, ${what}\n`;
  return `seed ${r.seed}: FAILED: ${r.violation}\n  replay: ${r.replay}\n`;
}
