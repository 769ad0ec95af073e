// One seed on a pool thread: load the runner module (once per thread), run the seed, time it.
// A runner that throws has found something too: the seed is recorded as failing, with the
// error as its violation and the runner's replay command when it exports one.
import { VsmmuError } from '../errors.ts';
import type { RunnerOptions, SeedResult, SeedRunner } from './types.ts';

export interface SeedTask {
  /** URL of the runner module. */
  readonly module: string;
  readonly kind: string;
  readonly seed: number;
  readonly options: RunnerOptions;
}

export interface SeedTaskResult {
  readonly result: SeedResult;
  readonly startedAt: number;
  readonly ms: number;
}

interface RunnerModule {
  readonly runSeed: SeedRunner;
  readonly replay?: (seed: number, options: RunnerOptions) => string;
}

const modules = new Map<string, Promise<RunnerModule>>();

async function load(url: string): Promise<RunnerModule> {
  const m = (await import(url)) as Partial<RunnerModule>;
  if (typeof m.runSeed !== 'function') throw new VsmmuError('EVSMMU_CAMPAIGN_KIND', `runner module ${url} exports no runSeed function`);
  return m as RunnerModule;
}

/** Why a run threw, on one line. */
function describe(e: unknown): string {
  if (e instanceof VsmmuError) return `${e.message} [${e.code}]`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

export async function runCampaignSeed(t: SeedTask): Promise<SeedTaskResult> {
  let mod = modules.get(t.module);
  if (mod === undefined) {
    mod = load(t.module);
    modules.set(t.module, mod);
  }
  const m = await mod; // a module that does not load fails every seed: the worker reports it
  const startedAt = Date.now();
  const t0 = performance.now();
  let result: SeedResult;
  try {
    result = await m.runSeed(t.seed, t.options);
  } catch (e) {
    const replay = m.replay?.(t.seed, t.options) ?? `seed ${t.seed} of the ${t.kind} campaign's runner`;
    result = { seed: t.seed, ok: false, ops: 0, violations: [`the run threw: ${describe(e)}`], replay };
  }
  return { result, startedAt, ms: performance.now() - t0 };
}
