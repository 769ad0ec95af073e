// Charts of a bench report as one SVG (vega-lite compiled to vega, rendered headless by
// vega's SVG string renderer: no canvas, no browser): aggregate throughput vs guests with
// one line per series (workload, or stream variant), and trap latency percentiles vs guests.
// vega and vega-lite are optional peer dependencies: loaded only when a chart is asked for.
import type { TopLevelSpec } from 'vega-lite';
import { VsmmuError } from '../errors.ts';
import type { BenchReport } from './report.ts';

export function chartSpec(r: BenchReport): TopLevelSpec {
  const throughput = r.cells.map((c) => ({ series: c.series, guests: c.guests, dmaPerS: c.aggregate.dmaPerS.value, mibPerS: c.aggregate.mibPerS.value }));
  const latency = r.cells.flatMap((c) =>
    c.trapLatency.count === 0
      ? []
      : [
          { series: c.series, guests: c.guests, percentile: 'p50', us: c.trapLatency.p50.value },
          { series: c.series, guests: c.guests, percentile: 'p99', us: c.trapLatency.p99.value },
          { series: c.series, guests: c.guests, percentile: 'p999', us: c.trapLatency.p999.value },
        ],
  );
  const guests = { field: 'guests', type: 'ordinal', title: 'guests' } as const;
  const series = { field: 'series', type: 'nominal', title: 'workload' } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `vsmmu bench ${r.version}, ${r.machine.cpus} CPUs, ${r.date.slice(0, 10)}`,
    vconcat: [
      {
        name: 'throughput',
        title: 'aggregate DMA/s vs guests',
        width: 480,
        height: 240,
        data: { values: throughput },
        mark: { type: 'line', point: true },
        encoding: { x: guests, y: { field: 'dmaPerS', type: 'quantitative', title: 'DMA/s' }, color: series },
      },
      {
        name: 'latency',
        title: 'trap latency percentiles vs guests (us, log)',
        width: 480,
        height: 240,
        data: { values: latency },
        mark: { type: 'line', point: true },
        encoding: {
          x: guests,
          y: { field: 'us', type: 'quantitative', title: 'us', scale: { type: 'log' } },
          color: series,
          strokeDash: { field: 'percentile', type: 'nominal', title: 'percentile' },
          detail: { field: 'percentile', type: 'nominal' },
        },
      },
    ],
    resolve: { scale: { color: 'shared' } },
  };
}

async function charting(): Promise<[typeof import('vega'), typeof import('vega-lite')]> {
  try {
    return await Promise.all([import('vega'), import('vega-lite')]);
  } catch {
    throw new VsmmuError('EVSMMU_USAGE', "charts need the optional packages vega and vega-lite: npm install vega vega-lite");
  }
}

/** The charts as an SVG document. */
export async function renderSvg(r: BenchReport): Promise<string> {
  const [vega, vl] = await charting();
  const view = new vega.View(vega.parse(vl.compile(chartSpec(r)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
