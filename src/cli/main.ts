// The `vsmmu` command: verbs run, dt, stress, fuzz, bench and campaign. Exit status follows the
// error contract of src/errors.ts: 0 success, 1 a check or run failed (error kind 'run' or
// 'bug'), 2 a usage or input error (kind 'input'). Every error line ends with its [EVSMMU_*] code.
import { processIo, type CliIo } from './io.ts';
import { printable } from './text.ts';
import { packageVersion } from './version.ts';
import { VsmmuError } from '../errors.ts';

export const HELP = `Usage: vsmmu <command> [options]

An emulator of an Arm SMMUv3 virtualised the way Xen does it for guests: guest domains,
the Xen trap handler and the physical SMMU run as worker threads.

Commands:
  run [domain.cfg ...]   run Xen with guests and their vSMMUv3s (default: the built-in scenario)
  dt <domain.cfg>        print the device tree Xen generates for a guest
  stress                 seeded stress runs of the whole system, checked for isolation
  fuzz                   a hostile guest beside well-behaved ones, invariants after every input
  bench                  multi-guest throughput and latency benchmarks, beside their limits
  campaign               stress and fuzz seeds across machines on a Redis queue (BullMQ)

Options:
  -h, --help             show this help ('vsmmu <command> --help' for a command's options)
  -V, --version          print the version of vsmmu

Exit status: 0 success, 1 a check or run failed, 2 bad usage or input. Every error message
ends with its code, e.g. [EVSMMU_USAGE].
`;

interface Verb {
  run(argv: readonly string[], io: CliIo): number | Promise<number>;
  readonly help: string;
}

// Each verb's module is loaded only when it runs (a `campaign work` process, started once per
// machine and worker, loads neither the benchmarks nor the fuzzer).
const VERBS: Record<string, () => Promise<Verb>> = {
  run: async () => { const m = await import('./run.ts'); return { run: m.runCommand, help: m.RUN_HELP }; },
  dt: async () => { const m = await import('./dt.ts'); return { run: m.dtCommand, help: m.DT_HELP }; },
  stress: async () => { const m = await import('./stress.ts'); return { run: m.stressCommand, help: m.STRESS_HELP }; },
  fuzz: async () => { const m = await import('./fuzz.ts'); return { run: m.fuzzCommand, help: m.FUZZ_HELP }; },
  bench: async () => { const m = await import('./bench.ts'); return { run: m.benchCommand, help: m.BENCH_HELP }; },
  campaign: async () => { const m = await import('./campaign.ts'); return { run: m.campaignCommand, help: m.CAMPAIGN_HELP }; },
};

/** The exit status for an error: its kind decides (input 2, run and bug 1). */
export function exitStatus(e: VsmmuError): 1 | 2 {
  return e.kind === 'input' ? 2 : 1;
}

/** One error line: where, the message with control characters escaped, the code. */
function report(io: CliIo, where: string, e: VsmmuError): number {
  io.err(`${where}: ${printable(e.message)} [${e.code}]\n`);
  return exitStatus(e);
}

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '-h' || verb === '--help' || verb === 'help') {
    const topic = verb === 'help' ? rest[0] : undefined;
    if (topic !== undefined && !VERBS[topic]) return report(io, 'vsmmu help', unknownCommand(topic));
    const load = topic !== undefined ? VERBS[topic] : undefined;
    io.out(load ? (await load()).help : HELP);
    return 0;
  }
  if (verb === '-V' || verb === '--version') {
    io.out(`vsmmu ${packageVersion()}\n`);
    return 0;
  }
  const load = VERBS[verb];
  if (!load) return report(io, 'vsmmu', unknownCommand(verb));
  try {
    return await (await load()).run(rest, io);
  } catch (e) {
    // Anything uncoded is a bug of vsmmu: EVSMMU_INTERNAL, exit 1, never a raw stack trace.
    return report(io, `vsmmu ${verb}`, e instanceof VsmmuError ? e : VsmmuError.fromRecord(VsmmuError.recordOf(e)));
  }
}

function unknownCommand(verb: string): VsmmuError {
  const what = verb.startsWith('-') ? 'option' : 'command';
  return new VsmmuError('EVSMMU_USAGE', `unknown ${what} '${verb}' (commands: ${Object.keys(VERBS).join(', ')}; see 'vsmmu --help')`);
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
