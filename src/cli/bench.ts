// `vsmmu bench`: the multi-guest benchmark matrix (src/bench/runner.ts): a table with a
// progress bar on a terminal, --json (BENCH_SCHEMA), --svg charts, --markdown for
// docs/performance.md. Exit 0 when the matrix ran; missed targets are reported, not fatal.
import { writeFileSync } from 'node:fs';
import { parse } from './args.ts';
import type { CliIo } from './io.ts';
import { VsmmuError } from '../errors.ts';
import { XEN_PROFILE_NAMES } from '../xen/profile.ts';
import type { SmmuCpu, ThreadPriority } from '../system/options.ts';
import { DEFAULT_NOISY_CAP, runBench, type BenchProgress } from '../bench/runner.ts';
import { BENCH_MAX_GUESTS, BENCH_SCHEMA_ID, BENCH_WORKLOADS, type BenchReport, type BenchWorkload } from '../bench/report.ts';
import { progressBar, renderTable } from '../bench/table.ts';
import { renderSvg } from '../bench/svg.ts';
import { benchMarkdown, spliceDoc } from '../bench/markdown.ts';

export const BENCH_HELP = `Usage: vsmmu bench [options]

Multi-guest throughput and latency benchmarks. For each guest count, Xen, the SMMU and the
guests run on their threads and every workload runs in each guest for --seconds:
  stream    DMA reads/writes, 128 in flight: 4 KiB with TLB hits, 64 B, 64 KiB, and walk-heavy
            (4 KiB, one page each over 4x the pages a 512-entry IOTLB holds)
  strict    map, DMA, unmap + TLBI + CMD_SYNC per buffer (Linux's strict DMA API)
  lazy      a flush queue of 256 buffers, unmapped as used, invalidated together by one
            TLBI_NH_ASID + CMD_SYNC
  reconfig  STE/CD changes of a second device between bursts of DMA on the first
  noisy     the guests stream alone, then beside one more guest flooding TLBIs, faults and DMA;
            again with the flooding guest capped (series "noisy cap N%", --noisy-cap)
Every figure is reported beside a limit measured in the same run, as a ratio: bare SAB
memcpy (MiB/s), a bare ring (DMA/s), a bare three-thread relay (TLBI + SYNC), a bare
ping-pong running beside the same load (trap latency).

Options:
  --guests LIST     guest counts, e.g. 1,2,4 (default 1,2,4,8; each 1..${BENCH_MAX_GUESTS})
  --seconds S       seconds per cell (default 2; noisy takes twice that)
  --workloads LIST  a subset of ${BENCH_WORKLOADS.join(',')} (default all)
  --profile LIST    Xen's policy profiles, e.g. rfc,hardened: each cell runs under each,
                    side by side (default hardened; ${XEN_PROFILE_NAMES.join(', ')}; docs/profiles.md)
  --noisy-cap N     noisy: also run it with the flooding guest capped at N% of one CPU (Xen's
                    credit cap, as xl sched-credit -c N; default ${DEFAULT_NOISY_CAP}, 0: uncapped only)
  --priority P      hardware-first (default): the SMMU's and Xen's threads run 5 nice
                    steps above the guests' (needs CAP_SYS_NICE or root; else equal, and the
                    report says so); equal: every thread at the process's priority
  --smmu-cpu C      shared (default): the SMMU's thread runs on any CPU; dedicated: on a CPU
                    of its own, the guests and Xen on the others (needs 2 CPUs or more and
                    taskset; else shared, and the report says so)
  --json            print the report as JSON (schema ${'vsmmu-bench/1'}, docs/performance.md)
  --svg FILE        write charts: throughput vs guests per workload, trap latency percentiles
                    (needs the optional packages vega and vega-lite: npm install vega vega-lite)
  --markdown FILE   write the report into FILE's generated section (docs/performance.md)
  --from FILE       render a report saved by --json (table, --svg, --markdown) instead of running
  -h, --help        show this help

Exit status: 0 the matrix ran (targets missed are reported, not failures), 1 a run failed,
2 bad usage.
`;

function list(name: string, text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new VsmmuError('EVSMMU_USAGE', `--${name} takes a comma-separated list, not '${text}' (see 'vsmmu bench --help')`);
  return parts;
}

function guestList(text: string | undefined): number[] | undefined {
  const parts = list('guests', text);
  if (!parts) return undefined;
  return parts.map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > BENCH_MAX_GUESTS) {
      throw new VsmmuError('EVSMMU_USAGE', `--guests takes whole numbers from 1 to ${BENCH_MAX_GUESTS}, not '${p}' (see 'vsmmu bench --help')`);
    }
    return n;
  });
}

function workloadList(text: string | undefined): BenchWorkload[] | undefined {
  const parts = list('workloads', text);
  if (!parts) return undefined;
  return parts.map((p) => {
    const w = BENCH_WORKLOADS.find((x) => x === p);
    if (!w) throw new VsmmuError('EVSMMU_USAGE', `unknown workload '${p}' (workloads: ${BENCH_WORKLOADS.join(', ')})`);
    return w;
  });
}

function secondsOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 3600) {
    throw new VsmmuError('EVSMMU_USAGE', `--seconds takes a number of seconds above 0, at most 3600, not '${text}' (see 'vsmmu bench --help')`);
  }
  return n;
}

function capOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > 100) {
    throw new VsmmuError('EVSMMU_USAGE', `--noisy-cap takes a whole percentage of one CPU from 0 to 100, not '${text}' (see 'vsmmu bench --help')`);
  }
  return n;
}

function write(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new VsmmuError('EVSMMU_FILE', `cannot write ${path}: ${code}`, { path });
  }
}

/** A report saved by `vsmmu bench --json`, checked for its schema id. */
function savedReport(path: string, text: string): BenchReport {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = null;
  }
  if (typeof v !== 'object' || v === null || (v as { schema?: unknown }).schema !== BENCH_SCHEMA_ID) {
    throw new VsmmuError('EVSMMU_FILE', `${path} is not a report of 'vsmmu bench --json' (schema ${BENCH_SCHEMA_ID})`, { path });
  }
  return v as BenchReport;
}

export async function benchCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse('bench', argv, {
    help: { type: 'boolean', short: 'h' },
    guests: { type: 'string' },
    seconds: { type: 'string' },
    workloads: { type: 'string' },
    profile: { type: 'string' },
    'noisy-cap': { type: 'string' },
    priority: { type: 'string' },
    'smmu-cpu': { type: 'string' },
    json: { type: 'boolean' },
    svg: { type: 'string' },
    markdown: { type: 'string' },
    from: { type: 'string' },
  });
  if (values.help) {
    io.out(BENCH_HELP);
    return 0;
  }
  const guests = guestList(values.guests);
  const workloads = workloadList(values.workloads);
  const seconds = secondsOption(values.seconds);
  const noisyCap = capOption(values['noisy-cap']);
  const showProgress = io.tty && !values.json;
  let report: BenchReport;
  if (values.from !== undefined) report = savedReport(values.from, io.readFile(values.from));
  else {
    try {
      report = await runBench({
        ...(guests ? { guests } : {}),
        ...(workloads ? { workloads } : {}),
        ...(seconds !== undefined ? { seconds } : {}),
        ...(values.profile !== undefined ? { profile: values.profile } : {}),
        ...(noisyCap !== undefined ? { noisyCap } : {}),
        ...(values.priority !== undefined ? { priority: values.priority as ThreadPriority } : {}),
        ...(values['smmu-cpu'] !== undefined ? { smmuCpu: values['smmu-cpu'] as SmmuCpu } : {}),
        ...(showProgress ? { onProgress: (p: BenchProgress) => io.err(`\r${progressBar(p)}\x1b[K`) } : {}),
      });
    } finally {
      if (showProgress) io.err('\r\x1b[K');
    }
  }
  if (values.svg !== undefined) write(values.svg, await renderSvg(report));
  if (values.markdown !== undefined) {
    let doc = '# Performance\n\n';
    try {
      doc = io.readFile(values.markdown);
    } catch {
      // a new page
    }
    const how = values.from !== undefined ? `vsmmu bench ${report.options.guests.length > 0 ? `--guests ${report.options.guests.join(',')} ` : ''}--seconds ${report.options.seconds} --json` : `vsmmu bench ${argv.join(' ')}`;
    write(values.markdown, spliceDoc(doc, benchMarkdown(report, how)));
  }
  io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderTable(report));
  return 0;
}
