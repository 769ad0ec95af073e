// The `vsmmu` command: verbs run and dt. Exit status: 0 success, 1 a check or run failed,
// 2 a usage or input error (the message says what to fix).
import { processIo, type CliIo } from './io.ts';
import { dtCommand, DT_HELP } from './dt.ts';
import { runCommand, RUN_HELP } from './run.ts';
import { stressCommand, STRESS_HELP } from './stress.ts';
import { VsmmuError } from '../errors.ts';

export const HELP = `Usage: vsmmu <command> [options]

An emulator of an Arm SMMUv3 virtualised the way Xen does it for guests: guest domains,
the Xen trap handler and the physical SMMU run as worker threads.

Commands:
  run [domain.cfg ...]   run Xen with guests and their vSMMUv3s (default: the built-in scenario)
  dt <domain.cfg>        print the device tree Xen generates for a guest
  stress                 seeded stress runs of the whole system, checked for isolation

Run 'vsmmu <command> --help' for a command's options.
`;

const VERBS: Record<string, { run: (argv: readonly string[], io: CliIo) => number | Promise<number>; help: string }> = {
  run: { run: runCommand, help: RUN_HELP },
  dt: { run: dtCommand, help: DT_HELP },
  stress: { run: stressCommand, help: STRESS_HELP },
};

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '-h' || verb === '--help' || verb === 'help') {
    const topic = verb === 'help' ? rest[0] : undefined;
    io.out(topic !== undefined && VERBS[topic] ? VERBS[topic].help : HELP);
    return 0;
  }
  const cmd = VERBS[verb];
  if (!cmd) {
    io.err(`vsmmu: unknown command '${verb}' (commands: ${Object.keys(VERBS).join(', ')}; see 'vsmmu --help')\n`);
    return 2;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof VsmmuError) {
      io.err(`vsmmu ${verb}: ${e.message} [${e.code}]\n`);
      return e.kind === 'input' ? 2 : 1;
    }
    throw e;
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
