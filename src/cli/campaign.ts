// `vsmmu campaign`: stress and fuzz seeds spread over machines by a BullMQ queue on Redis
// (src/campaign). start queues the seeds in chunks; work, on any number of machines, runs
// them; status and report read the results the workers left in Redis.
import { intOption, parse } from './args.ts';
import type { CliIo } from './io.ts';
import { printable } from './text.ts';
import { VsmmuError } from '../errors.ts';
import { MAX_SEED, campaignReport, campaignStatus, startCampaign, workCampaign } from '../campaign/campaign.ts';
import type { CampaignReport, CampaignStatus, RunnerOptions } from '../campaign/types.ts';

export const CAMPAIGN_HELP = `Usage: vsmmu campaign <start|work|status|report> --queue redis://HOST:PORT [options]

Stress and fuzz campaigns across machines: the seeds go in chunks onto a BullMQ queue on a
Redis server; any number of workers, on any machines that reach it, pull chunks and run
their seeds on a local pool of threads. A worker that dies has its chunk taken over by
another once its lock expires; every seed's result is recorded once, in Redis, with the
campaign. See docs/campaigns.md.

  vsmmu campaign start  --queue URL --kind stress|fuzz --seeds A..B [options]
  vsmmu campaign work   --queue URL [--until-empty] [--concurrency N]
  vsmmu campaign status --queue URL [--json]
  vsmmu campaign report --queue URL [--json]

Options (every subcommand):
  --queue URL         the Redis server: redis://HOST:PORT, or redis://:PASSWORD@HOST:PORT/DB
  --name NAME         the campaign (default 'default'); campaigns share a server by name
  --json              print the result as JSON on stdout
  -h, --help          show this help
start:
  --kind K            stress, fuzz, or any name with --runner
  --seeds A..B        the seeds, first and last included (0..${MAX_SEED})
  --chunk N           seeds per chunk: what a worker takes at once and what is retried
                      (default 10, 1..10000)
  --profile P         Xen's policy profile the seeds run under: hardened (default), rfc, v3
  --guests G          guests per run (stress: default 3, 1..16; fuzz: 3, 2..8)
  --rounds R          stress: operations per guest and run (default 400, 1..1000000)
  --runner FILE       a module exporting runSeed(seed, options) that runs the seeds instead
                      of a built-in kind (the same path on every worker machine)
  --option KEY=VALUE  an option for the runner (repeatable; numbers and true/false are
                      passed as such). stress: mode=threads (default sim), strategy=pct or
                      round-robin, depth=D, chaos=false, mutation=NAME (a planted bug, see
                      vsmmu stress --help); fuzz: iterations=N, mode=threads; both:
                      shrink=false (failing seeds are shrunk by default), shrinkRuns=N;
                      a --runner module: its own
work:
  --concurrency N     seeds at the same time on this machine (default: its cores, 1..256)
  --until-empty       exit once no chunk is waiting or running (default: serve until ^C)
  --deadline S        stop taking chunks after S seconds, finish those held, exit
  --lock-ms N         a held chunk's lock, renewed while its worker lives (default 30000)
  --stalled-ms N      how often to look for chunks of dead workers (default 15000)
  --worker NAME       this worker's name in status and report (default HOST/PID)

Exit status: 0 done (report: no failure), 1 a seed failed (report) or the queue does not
answer, 2 bad usage.
`;

const COMMON = {
  help: { type: 'boolean', short: 'h' },
  queue: { type: 'string' },
  name: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const SUBCOMMANDS = ['start', 'work', 'status', 'report'] as const;

function usage(msg: string): VsmmuError {
  return new VsmmuError('EVSMMU_USAGE', `${msg} (see 'vsmmu campaign --help')`);
}

/** A..B, both whole numbers from 0 to MAX_SEED, A <= B. */
export function seedRange(text: string): { first: number; last: number } {
  const m = /^(\d+)\.\.(\d+)$/.exec(text);
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first > MAX_SEED || last > MAX_SEED) throw usage(`--seeds takes A..B with whole numbers from 0 to ${MAX_SEED}, not '${text}'`);
  if (last < first) throw usage(`--seeds ${text} is empty: the last seed comes before the first`);
  return { first, last };
}

function optionValue(text: string): string | number | boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  return /^-?\d+(\.\d+)?$/.test(text) && Number.isFinite(Number(text)) ? Number(text) : text;
}

function runnerOptions(list: readonly string[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list ?? []) {
    const eq = kv.indexOf('=');
    if (eq < 1) throw usage(`--option takes KEY=VALUE, not '${kv}'`);
    out[kv.slice(0, eq)] = optionValue(kv.slice(eq + 1));
  }
  return out;
}

function deadlineOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 2_000_000) throw usage(`--deadline takes a number of seconds from 0 to 2000000, not '${text}'`);
  return Math.round(n * 1000);
}

export async function campaignCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.out(CAMPAIGN_HELP);
    return 0;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw usage(`unknown subcommand '${printable(sub)}' (subcommands: ${SUBCOMMANDS.join(', ')})`);
  const verb = `campaign ${sub}`;
  const { values, positionals } = parse('campaign', rest, {
    ...COMMON,
    kind: { type: 'string' },
    seeds: { type: 'string' },
    chunk: { type: 'string' },
    profile: { type: 'string' },
    guests: { type: 'string' },
    rounds: { type: 'string' },
    runner: { type: 'string' },
    option: { type: 'string', multiple: true },
    concurrency: { type: 'string' },
    'until-empty': { type: 'boolean' },
    deadline: { type: 'string' },
    'lock-ms': { type: 'string' },
    'stalled-ms': { type: 'string' },
    worker: { type: 'string' },
  });
  if (values.help) {
    io.out(CAMPAIGN_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usage(`${verb} takes no arguments, only options`);
  const allowed: Record<(typeof SUBCOMMANDS)[number], readonly string[]> = {
    start: ['kind', 'seeds', 'chunk', 'profile', 'guests', 'rounds', 'runner', 'option'],
    work: ['concurrency', 'until-empty', 'deadline', 'lock-ms', 'stalled-ms', 'worker'],
    status: [],
    report: [],
  };
  const own = allowed[sub as (typeof SUBCOMMANDS)[number]];
  for (const k of Object.keys(values)) {
    if (!(k in COMMON) && !own.includes(k)) throw usage(`${verb} takes no --${k}`);
  }
  if (values.queue === undefined) throw usage(`${verb} needs --queue redis://HOST:PORT`);
  const target = { queue: values.queue, ...(values.name === undefined ? {} : { name: values.name }) };

  if (sub === 'start') {
    if (values.kind === undefined) throw usage('campaign start needs --kind (stress or fuzz)');
    if (values.seeds === undefined) throw usage('campaign start needs --seeds A..B');
    const seeds = seedRange(values.seeds);
    const options: RunnerOptions = {
      ...runnerOptions(values.option),
      ...(values.guests === undefined ? {} : { guests: intOption('campaign', 'guests', values.guests, 3, 1, 16) }),
      ...(values.rounds === undefined ? {} : { rounds: intOption('campaign', 'rounds', values.rounds, 400, 1, 1_000_000) }),
    };
    const r = await startCampaign({
      ...target,
      kind: values.kind,
      seeds,
      chunk: intOption('campaign', 'chunk', values.chunk, 10, 1, 10_000),
      options,
      ...(values.profile === undefined ? {} : { profile: values.profile }),
      ...(values.runner === undefined ? {} : { runner: values.runner }),
    });
    if (values.json) io.out(`${JSON.stringify(r, null, 2)}\n`);
    else {
      const s = r.spec;
      const what = `campaign ${s.name}: ${s.kind}, seeds ${s.first}..${s.last} in ${r.chunks} chunk(s) of ${s.chunk}`;
      io.out(r.created ? `started ${what}\n` : `already started, unchanged: ${what}\n`);
    }
    return 0;
  }

  if (sub === 'work') {
    const stop = new AbortController();
    const onSignal = (): void => {
      if (stop.signal.aborted) process.exit(130); // a second ^C: leave now, chunks go back after their locks expire
      io.err('vsmmu campaign work: finishing the chunks held, then exiting (^C again to leave at once)\n');
      stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const deadlineMs = deadlineOption(values.deadline);
      const r = await workCampaign({
        ...target,
        ...(values.concurrency === undefined ? {} : { concurrency: intOption('campaign', 'concurrency', values.concurrency, 1, 1, 256) }),
        untilEmpty: values['until-empty'] === true,
        ...(deadlineMs === undefined ? {} : { deadlineMs }),
        ...(values['lock-ms'] === undefined ? {} : { lockMs: intOption('campaign', 'lock-ms', values['lock-ms'], 30_000, 200, 3_600_000) }),
        ...(values['stalled-ms'] === undefined ? {} : { stalledMs: intOption('campaign', 'stalled-ms', values['stalled-ms'], 15_000, 100, 3_600_000) }),
        ...(values.worker === undefined ? {} : { worker: values.worker }),
        signal: stop.signal,
        onSeed: (r, recorded) => {
          if (!r.ok && recorded && !values.json) io.out(`seed ${r.seed}: FAILED: ${printable(r.violations.join('; '))}\n  replay: ${printable(r.replay)}\n`);
        },
      });
      if (values.json) io.out(`${JSON.stringify(r, null, 2)}\n`);
      else io.out(`worker ${printable(r.worker)}: ${r.seeds} seed(s) in ${r.chunks} chunk(s), ${r.failed} failed, ${r.duplicates} already recorded elsewhere, ${(r.elapsedMs / 1000).toFixed(1)} s\n`);
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  if (sub === 'status') {
    const s = await campaignStatus(target);
    io.out(values.json ? `${JSON.stringify(s, null, 2)}\n` : statusText(s));
    return 0;
  }

  const r = await campaignReport(target);
  io.out(values.json ? `${JSON.stringify(r, null, 2)}\n` : reportText(r));
  if (r.failures.length > 0 || r.lostChunks.length > 0) {
    const lost = r.lostChunks.length > 0 ? `, ${r.lostChunks.length} lost chunk(s)` : '';
    throw new VsmmuError('EVSMMU_CHECK', `campaign ${r.name}: ${r.failures.length} distinct failure(s)${lost} (see the replay commands in the report)`);
  }
  return 0;
}

export function statusText(s: CampaignStatus): string {
  const pct = s.total > 0 ? ((100 * s.done) / s.total).toFixed(1) : '100.0';
  const c = s.chunks;
  const lines = [
    `campaign ${s.name} (${s.kind}, seeds ${s.first}..${s.last}): ${s.done}/${s.total} seeds done (${pct}%)${s.finished ? ', finished' : ''}`,
    `  ${s.ops} operations, ${s.violations} failing seed(s), ${s.failures} distinct failure(s), ${(s.elapsedMs / 1000).toFixed(1)} s`,
    `  chunks: ${c.completed}/${c.total} completed, ${c.active} running, ${c.waiting} waiting, ${c.failed} failed`,
    ...s.workers.map((w) => `  worker ${printable(w.worker)}: ${w.seeds} seeds, ${w.ops} operations, ${w.violations} failing, ${w.seedsPerS.toFixed(2)} seeds/s`),
  ];
  return `${lines.join('\n')}\n`;
}

export function reportText(r: CampaignReport): string {
  const head = `campaign ${r.name} (${r.kind}): ${r.done}/${r.total} seeds done, ${r.failures.length} distinct failure(s)${r.finished ? '' : ' so far'}\n`;
  return (
    head +
    r.failures
      .map((f) => {
        const finders = f.finders.map((x) => `seed ${x.seed} on ${printable(x.worker)}`).join(', ');
        const lines = [
          `failure ${printable(f.digest)} (first at seed ${f.seed}): ${printable(f.violations.join('; '))}`,
          `  replay: ${printable(f.replay)}`,
          ...(f.shrunk === undefined ? [] : [`  shrunk: ${printable(f.shrunk)}`]),
          `  found by: ${finders}`,
        ];
        return `${lines.join('\n')}\n`;
      })
      .join('') +
    r.lostChunks.map((l) => `lost chunk ${l.first}..${l.last}: ${printable(l.reason)} (its seeds without a result did not run to the end: run them with vsmmu stress/fuzz --seeds ${l.first}..${l.last})\n`).join('')
  );
}
