// `vsmmu run`: Xen with guests on worker threads; every guest checks its DMA path, then
// streams DMA for --seconds; a summary, and exit 0 only if every check held.
import { intOption, parse, seconds, MAX_SECONDS } from './args.ts';
import type { CliIo } from './io.ts';
import { VsmmuError } from '../errors.ts';
import { printable } from './text.ts';
import { PROFILE_HELP, profileOption } from './profile.ts';
import { runScenario, MAX_GUESTS, type ScenarioReport, type ScenarioProgress } from '../system/scenario.ts';

export const RUN_HELP = `Usage: vsmmu run [options] [domain.cfg ...]

Boot Xen (viommu=1) with guests, each in its own worker thread beside the Xen and physical
SMMU threads. Every guest with a vSMMU probes its Linux-like driver, attaches each device,
maps a buffer, DMAs into it through stage 1 + stage 2, checks the bytes, unmaps (TLBI +
CMD_SYNC), DMAs again and expects the F_TRANSLATION fault through its event queue and
interrupt. A guest without a vSMMU checks stage-2-only DMA. Then every guest streams DMA
for --seconds. Prints a summary; exits 0 only if every check held.

Without files: the built-in scenario, --guests guests with a vSMMU and two devices each,
plus a guest without one. With files: one guest per xl.cfg file (see 'vsmmu dt --help').

Options:
  --guests N        guests with a vSMMU in the built-in scenario (default 2, 0..${MAX_GUESTS})
  --seconds S       how long every guest streams DMA after its checks, 0..${MAX_SECONDS}
                    (default 1; 0 skips streaming)
  --memory SIZE     host memory, 32M..16G, e.g. 1G (default: enough for the guests,
                    at least 512M)
  --cmdline TEXT    Xen's command line (default "viommu=1")
  --trace FILE      write a timeline of the run to FILE (Chrome Trace Event JSON for
                    ui.perfetto.dev; the last 65536 events of each thread, docs/tracing.md)
  --profile NAME    ${PROFILE_HELP}
  --json            print the report as JSON on stdout
  -h, --help        show this help

Exit status: 0 every check held, 1 a check failed or a guest crashed or hung, 2 bad usage
or input (a message naming the file and line, ending with its [EVSMMU_*] code).
`;

export async function runCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('run', argv, {
    help: { type: 'boolean', short: 'h' },
    guests: { type: 'string' },
    seconds: { type: 'string' },
    memory: { type: 'string' },
    cmdline: { type: 'string' },
    profile: { type: 'string' },
    json: { type: 'boolean' },
    trace: { type: 'string' },
  });
  if (values.help) {
    io.out(RUN_HELP);
    return 0;
  }
  if (positionals.length > 0 && values.guests !== undefined) {
    throw new VsmmuError('EVSMMU_USAGE', `--guests applies to the built-in scenario only; with xl.cfg files every file is a guest (see 'vsmmu run --help')`);
  }
  const guests = intOption('run', 'guests', values.guests, 2, 0, MAX_GUESTS);
  const secs = seconds('run', values.seconds, 1);
  const profile = profileOption('run', values.profile);
  // Each file keeps its name, so messages say guest.cfg:2:10.
  const domains = positionals.length > 0 ? positionals.map((file) => ({ file, xlcfg: io.readFile(file) })) : undefined;
  const showProgress = io.tty && !values.json && secs > 1;
  let report: ScenarioReport;
  try {
    report = await runScenario({
      guests,
      seconds: secs,
      ...(values.memory !== undefined ? { memory: values.memory } : {}),
      ...(values.cmdline !== undefined ? { cmdline: values.cmdline } : {}),
      profile,
      ...(domains ? { domains } : {}),
      ...(values.trace !== undefined ? { traceFile: values.trace } : {}),
      ...(showProgress ? { onProgress: (p: ScenarioProgress) => io.err(`\r${progressLine(p)}`) } : {}),
    });
  } finally {
    // However the run ends, the terminal line is left clean for what follows.
    if (showProgress) io.err('\r\x1b[K');
  }
  for (const w of report.warnings) io.err(`vsmmu run: warning: ${printable(w)}\n`);
  io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : summary(report));
  if (!report.ok) throw new VsmmuError('EVSMMU_CHECK', `${failureList(report)} (see the report)`);
  return 0;
}

/** The failed checks, named by guest: the one line a failed run ends with. */
export function failureList(r: ScenarioReport): string {
  const failed = r.guests.flatMap((g) => (g.checks.length === 0 ? [`${g.name}: no check ran`] : g.checks.filter((c) => !c.ok).map((c) => `${g.name}: ${c.name}`)));
  const shown = failed.slice(0, 3).join('; ');
  return `${failed.length} check(s) failed: ${shown}${failed.length > 3 ? `; and ${failed.length - 3} more` : ''}`;
}

function progressLine(p: ScenarioProgress): string {
  const t = `${(p.elapsedMs / 1000).toFixed(1)}/${(p.totalMs / 1000).toFixed(1)} s`;
  return `streaming DMA ${t}  ${p.dmas.toLocaleString('en')} DMAs  ${(p.bytes / 1048576).toFixed(1)} MiB`;
}

function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

export function summary(r: ScenarioReport): string {
  const lines: string[] = [];
  for (const g of r.guests) {
    lines.push(`${g.name} (viommu ${g.viommu})`);
    for (const c of g.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  }
  lines.push('');
  lines.push(`${'guest'.padEnd(12)}${pad('DMAs', 9)}${pad('MiB', 9)}${pad('DMA/s', 9)}${pad('faults', 8)}${pad('inval', 7)}${pad('trap p50', 10)}${pad('p99 us', 9)}`);
  for (const g of r.guests) {
    const lat = g.trapLatency;
    lines.push(
      `${g.name.padEnd(12)}${pad(g.dmas, 9)}${pad((g.bytes / 1048576).toFixed(1), 9)}${pad(g.stream ? Math.round(g.stream.rate) : '-', 9)}` +
        `${pad(g.faultsReceived, 8)}${pad(g.invalidationsForwarded, 7)}${pad(lat ? lat.p50Us.toFixed(1) : '-', 10)}${pad(lat ? lat.p99Us.toFixed(1) : '-', 9)}`,
    );
  }
  lines.push('');
  lines.push(`SMMU: ${r.smmu.translations} translations, IOTLB hit rate ${(r.smmu.iotlbHitRate * 100).toFixed(1)}%, ${r.smmu.commands} commands, ${r.smmu.events} events`);
  const failed = r.guests.flatMap((g) => g.checks.filter((c) => !c.ok)).length;
  lines.push(`${r.ok ? 'PASS' : 'FAIL'}: ${failed === 0 ? 'every check held' : `${failed} check(s) failed`} (${(r.elapsedMs / 1000).toFixed(1)} s)`);
  return `${lines.join('\n')}\n`;
}
