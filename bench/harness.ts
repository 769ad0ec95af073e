// One way to report performance: every figure beside the limit measured in the same run,
// as a ratio (DESIGN.md §5). Absolute numbers on a shared 2-core machine swing by ±30%;
// ratios measured in one process are stable.
import { Bench } from 'tinybench';

export interface BenchTask {
  readonly name: string;
  /** One call performs `ops` operations (default 1); figures are per operation. */
  readonly fn: () => unknown;
  readonly ops?: number;
  readonly setup?: () => unknown;
  readonly teardown?: () => unknown;
  /** Runs before every call, outside the measured time. */
  readonly beforeEach?: () => unknown;
}

export interface BenchRatio {
  readonly name: string;
  /** The measured task and the limit (bare primitive) it is compared with. */
  readonly of: string;
  readonly vs: string;
  /** 'cost': ns/op of `of` over ns/op of `vs`; 'throughput': ops/s of `of` over `vs`. */
  readonly kind: 'cost' | 'throughput';
  readonly target?: { readonly op: '<=' | '>='; readonly value: number };
}

export interface TaskFigure {
  readonly name: string;
  readonly nsPerOp: number;
  readonly opsPerSec: number;
  readonly samples: number;
  readonly rme: number;
}

export interface RatioFigure {
  readonly name: string;
  readonly of: string;
  readonly vs: string;
  readonly kind: 'cost' | 'throughput';
  readonly ratio: number;
  readonly target?: string;
  readonly met?: boolean;
}

export interface SuiteResult {
  readonly suite: string;
  readonly node: string;
  readonly tasks: readonly TaskFigure[];
  readonly ratios: readonly RatioFigure[];
}

export interface SuiteOptions {
  readonly tasks: readonly BenchTask[];
  readonly ratios: readonly BenchRatio[];
  /** Milliseconds per task (default 400; VSMMU_BENCH_TIME overrides). */
  readonly time?: number;
}

export async function benchSuite(suite: string, opts: SuiteOptions): Promise<SuiteResult> {
  const time = Number(process.env['VSMMU_BENCH_TIME'] ?? opts.time ?? 400);
  const bench = new Bench({ time, warmup: true, warmupTime: Math.min(200, time) });
  for (const t of opts.tasks) {
    const hooks: { beforeAll?: () => void; afterAll?: () => void; beforeEach?: () => void } = {};
    if (t.setup) hooks.beforeAll = () => void t.setup?.();
    if (t.teardown) hooks.afterAll = () => void t.teardown?.();
    if (t.beforeEach) hooks.beforeEach = () => void t.beforeEach?.();
    bench.add(t.name, t.fn, hooks);
  }
  await bench.run();

  const tasks: TaskFigure[] = opts.tasks.map((t) => {
    const task = bench.getTask(t.name);
    const r = task?.result;
    if (!r || r.state !== 'completed') throw new Error(`bench task ${t.name} did not complete: ${r?.state === 'errored' ? String(r.error) : (r?.state ?? 'no result')}`);
    const ops = t.ops ?? 1;
    const nsPerCall = r.latency.mean * 1e6;
    return {
      name: t.name,
      nsPerOp: nsPerCall / ops,
      opsPerSec: (1e9 / nsPerCall) * ops,
      samples: r.latency.samplesCount,
      rme: r.latency.rme,
    };
  });
  const byName = new Map(tasks.map((t) => [t.name, t]));
  const ratios: RatioFigure[] = opts.ratios.map((q) => {
    const a = byName.get(q.of);
    const b = byName.get(q.vs);
    if (!a || !b) throw new Error(`ratio ${q.name}: unknown task`);
    const ratio = q.kind === 'cost' ? a.nsPerOp / b.nsPerOp : a.opsPerSec / b.opsPerSec;
    if (!q.target) return { name: q.name, of: q.of, vs: q.vs, kind: q.kind, ratio };
    const met = q.target.op === '<=' ? ratio <= q.target.value : ratio >= q.target.value;
    return { name: q.name, of: q.of, vs: q.vs, kind: q.kind, ratio, target: `${q.target.op} ${q.target.value}`, met };
  });
  const result: SuiteResult = { suite, node: process.version, tasks, ratios };
  report(result);
  return result;
}

function report(r: SuiteResult): void {
  console.log(`\n== ${r.suite} (${r.node}) ==`);
  console.table(
    r.tasks.map((t) => ({
      task: t.name,
      'ns/op': +t.nsPerOp.toFixed(2),
      'ops/s': Math.round(t.opsPerSec),
      '±%': +t.rme.toFixed(1),
    })),
  );
  console.table(
    r.ratios.map((q) => ({
      ratio: q.name,
      value: +q.ratio.toFixed(3),
      target: q.target ?? '',
      met: q.met === undefined ? '' : q.met ? 'yes' : 'NO',
    })),
  );
  console.log(`JSON ${JSON.stringify(r)}`);
}
