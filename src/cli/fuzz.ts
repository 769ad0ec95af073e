// `vsmmu fuzz`: a hostile guest beside well-behaved guests, structure-aware inputs from a
// seed, invariants after every input (src/fuzz). Several seeds fan out on a piscina pool
// (each run has its own system). A failure prints the command that replays it; --shrink
// reduces its input list and --out saves it for --replay.
import { readFileSync, writeFileSync } from 'node:fs';
import { intOption, parse } from './args.ts';
import type { CliIo } from './io.ts';
import { VsmmuError } from '../errors.ts';
import { seedPool } from '../runtime/seed-pool.ts';
import { runFuzzSeed, type FuzzOptions, type FuzzReport } from '../fuzz/run.ts';
import type { FuzzOp } from '../fuzz/ops.ts';
import { campaignSummary, summaryText } from '../fuzz/summary.ts';

export const FUZZ_HELP = `Usage: vsmmu fuzz [options]

A hostile guest writes anything to its vSMMU registers and anything into its own RAM
(stream tables, STEs, CDs, stage-1 tables, commands with any fields, queue bases and sizes,
pointers into MMIO, past its RAM and beyond memory, PROD far past the queue, wrap abuse,
CMD_SYNC and invalidation storms, EL2/stage-2 invalidations, SMMUEN toggling) and DMAs
through its devices, beside well-behaved guests that map, unmap and DMA and check their
data, their faults and their invalidations. After every input: host memory no guest owns
is untouched, every other guest's data intact, nothing thrown but coded answers, nothing
hung, no guest dead, no internal bug in Xen; after teardown system.accounting() is 0.

Options:
  --seed S          the (first) seed (default 1, 0..4294967295)
  --seeds K         a campaign of K seeds S, S+1, ... on a pool of threads (default 1)
  --iterations N    inputs per seed after the hostile's set-up (default 2000, 1..10000000)
  --guests G        guests per run: one hostile, G-1 well-behaved (default 3, 2..8)
  --sim             all actors on one thread under a seeded scheduler: a seed replays exactly (default)
  --threads         every actor on its own worker thread (real concurrency)
  --profile P       Xen's policy profile: hardened (default), rfc or v3 (docs/profiles.md)
  --jobs J          seeds run at the same time (default 1, 1..16)
  --shrink          shrink a failing seed's inputs (delta debugging, at most 40 reruns)
  --out FILE        with --shrink: write the smallest failing input list to FILE
  --replay FILE     run the input list in FILE (from --out) instead of a seed's
  --json            print the reports as JSON
  -h, --help        show this help

Exit status: 0 every seed held, 1 an invariant broke, 2 bad usage.
`;

export async function fuzzCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('fuzz', argv, {
    help: { type: 'boolean', short: 'h' },
    seed: { type: 'string' },
    seeds: { type: 'string' },
    iterations: { type: 'string' },
    guests: { type: 'string' },
    sim: { type: 'boolean' },
    threads: { type: 'boolean' },
    profile: { type: 'string' },
    jobs: { type: 'string' },
    shrink: { type: 'boolean' },
    out: { type: 'string' },
    replay: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.out(FUZZ_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new VsmmuError('EVSMMU_USAGE', `takes no files (see 'vsmmu fuzz --help')`);
  if (values.sim && values.threads) throw new VsmmuError('EVSMMU_USAGE', 'pass --sim or --threads, not both');
  const first = intOption('fuzz', 'seed', values.seed, 1, 0, 0xffff_ffff);
  const seeds = intOption('fuzz', 'seeds', values.seeds, 1, 1, 100_000);
  const jobs = intOption('fuzz', 'jobs', values.jobs, 1, 1, 16);
  const opts: FuzzOptions = {
    iterations: intOption('fuzz', 'iterations', values.iterations, 2000, 1, 10_000_000),
    guests: intOption('fuzz', 'guests', values.guests, 3, 2, 8),
    mode: values.threads ? 'threads' : 'sim',
    ...(values.profile !== undefined ? { profile: values.profile } : {}),
    ...(values.shrink ? { shrink: true } : {}),
  };
  if (values.replay !== undefined) {
    let ops: FuzzOp[];
    try {
      ops = JSON.parse(readFileSync(values.replay, 'utf8')) as FuzzOp[];
    } catch (e) {
      throw new VsmmuError('EVSMMU_USAGE', `--replay ${values.replay}: not a saved input list (${e instanceof Error ? e.message : String(e)})`);
    }
    if (!Array.isArray(ops)) throw new VsmmuError('EVSMMU_USAGE', `--replay ${values.replay}: not a saved input list`);
    return finish(io, [await runFuzzSeed(first, { ...opts, ops, shrink: false })], values.json === true, values.out);
  }
  const reports: FuzzReport[] = [];
  if (seeds === 1 && jobs === 1) {
    reports.push(await runFuzzSeed(first, opts));
    if (!values.json) io.out(fuzzLine(reports[0] as FuzzReport));
  } else {
    const pool = seedPool<{ seed: number } & FuzzOptions, FuzzReport>('fuzz', jobs, { idleTimeout: 1000 });
    try {
      await Promise.all(Array.from({ length: seeds }, async (_, i) => {
        const r = await pool.run({ seed: first + i, ...opts });
        reports.push(r);
        if (!values.json) io.out(fuzzLine(r));
      }));
    } finally {
      await pool.destroy();
    }
    reports.sort((a, b) => a.seed - b.seed);
  }
  return finish(io, reports, values.json === true, values.out);
}

function finish(io: CliIo, reports: readonly FuzzReport[], json: boolean, out: string | undefined): number {
  const s = campaignSummary(reports);
  if (json) io.out(`${JSON.stringify({ ok: s.failed === 0, summary: s, reports }, null, 2)}\n`);
  else io.out(summaryText(s));
  const bad = reports.find((r) => !r.ok && r.minimal !== undefined);
  if (bad?.minimal !== undefined && out !== undefined) {
    writeFileSync(out, `${JSON.stringify(bad.minimal)}\n`);
    if (!json) io.out(`smallest failing input list of seed ${bad.seed} (${bad.minimal.length} inputs): ${out}\n  replay: ${bad.replay} --replay ${out}\n`);
  }
  if (s.failed > 0) {
    throw new VsmmuError('EVSMMU_CHECK', `${s.failed} of ${reports.length} fuzz run(s) broke an invariant, seed(s) ${reports.filter((r) => !r.ok).map((r) => r.seed).join(', ')} (see the replay commands above)`);
  }
  return 0;
}

/** One seed's line (a failure carries its violations and the command that replays it). */
export function fuzzLine(r: FuzzReport): string {
  const what = `${r.inputs} inputs, ${(r.elapsedMs / 1000).toFixed(1)} s${r.digest !== undefined ? `, digest ${r.digest}` : ''}`;
  if (r.ok) return `seed ${r.seed}: ok, ${what}\n`;
  const v = r.violations.map((x) => `  ${x.kind} after input ${x.step}: ${x.what}\n`).join('');
  const min = r.minimal !== undefined ? `  shrunk to ${r.minimal.length} inputs\n` : '';
  return `seed ${r.seed}: FAILED, ${what}\n${v}${min}  replay: ${r.replay}\n`;
}
