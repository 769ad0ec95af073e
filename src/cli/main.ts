// The `vsmmu` command: verbs run, dt, stress, fuzz, bench and campaign. Exit status follows the
// error contract of src/errors.ts: 0 success, 1 a check or run failed (error kind 'run' or
// 'bug'), 2 a usage or input error (kind 'input'). Every error line ends with its [EVSMMU_*] code.
import { processIo, type CliIo } from './io.ts';
import { dtCommand, DT_HELP } from './dt.ts';
import { runCommand, RUN_HELP } from './run.ts';
import { benchCommand, BENCH_HELP } from './bench.ts';
import { stressCommand, STRESS_HELP } from './stress.ts';
import { campaignCommand, CAMPAIGN_HELP } from './campaign.ts';
import { fuzzCommand, FUZZ_HELP } from './fuzz.ts';
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

const VERBS: Record<string, { run: (argv: readonly string[], io: CliIo) => number | Promise<number>; help: string }> = {
  run: { run: runCommand, help: RUN_HELP },
  dt: { run: dtCommand, help: DT_HELP },
  stress: { run: stressCommand, help: STRESS_HELP },
  fuzz: { run: fuzzCommand, help: FUZZ_HELP },
  bench: { run: benchCommand, help: BENCH_HELP },
  campaign: { run: campaignCommand, help: CAMPAIGN_HELP },
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
    io.out(topic !== undefined && VERBS[topic] ? VERBS[topic].help : HELP);
    return 0;
  }
  if (verb === '-V' || verb === '--version') {
    io.out(`vsmmu ${packageVersion()}\n`);
    return 0;
  }
  const cmd = VERBS[verb];
  if (!cmd) return report(io, 'vsmmu', unknownCommand(verb));
  try {
    return await cmd.run(rest, io);
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
