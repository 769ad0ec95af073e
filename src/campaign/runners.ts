// Which module runs a campaign's seeds: a built-in kind's (src/campaign/kinds/KIND), or the
// runner module the campaign names (a test's planted failures, a user's own checks).
// Resolved on each worker machine, so a built-in kind follows that machine's vsmmu; a runner
// module must exist at the same path on every worker machine. A built-in kind's options are
// checked where the campaign starts, not on every worker.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { VsmmuError } from '../errors.ts';
import { entryExtension } from '../runtime/entry.ts';
import { MUTATION_NAMES } from '../sim/mutations.ts';
import { SIM_STRATEGIES } from '../sim/scheduler.ts';
import { CAMPAIGN_KINDS, type CampaignKind, type CampaignSpec, type RunnerOptions } from './types.ts';
import { XEN_PROFILE_NAMES } from '../xen/profile.ts';

const isKind = (k: string): k is CampaignKind => (CAMPAIGN_KINDS as readonly string[]).includes(k);

const KIND_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** The module URL of a built-in kind, in source (.ts) or in the build (.js). */
export function kindModule(kind: CampaignKind, moduleUrl: string = import.meta.url): string {
  return new URL(`./kinds/${kind}.${entryExtension(moduleUrl)}`, moduleUrl).href;
}

/** A runner module named by the user: a path (relative to `cwd`) or a file: URL that exists. */
export function runnerModule(pathOrUrl: string, cwd: string = process.cwd()): string {
  const path = pathOrUrl.startsWith('file:') ? fileURLToPath(pathOrUrl) : isAbsolute(pathOrUrl) ? pathOrUrl : resolve(cwd, pathOrUrl);
  if (!existsSync(path)) throw new VsmmuError('EVSMMU_FILE', `runner module ${pathOrUrl}: no such file`, { path });
  return pathToFileURL(path).href;
}

type Value = string | number | boolean;
/** An option's check: a whole-number range, or the values it may take. */
type Rule = readonly [min: number, max: number] | readonly Value[];

/** Each built-in kind's options, as runStress and runFuzzSeed take them (plus shrink budgets). */
const KIND_OPTIONS: Record<CampaignKind, Record<string, Rule>> = {
  stress: {
    guests: [1, 16],
    rounds: [1, 1_000_000],
    mode: ['sim', 'threads'],
    strategy: SIM_STRATEGIES,
    depth: [1, 64],
    chaos: [true, false],
    shrink: [true, false],
    shrinkRuns: [1, 10_000],
    mutation: MUTATION_NAMES,
    profile: XEN_PROFILE_NAMES,
  },
  fuzz: {
    iterations: [1, 10_000_000],
    guests: [2, 8],
    mode: ['sim', 'threads'],
    profile: XEN_PROFILE_NAMES,
    shrink: [true, false],
    shrinkRuns: [1, 10_000],
  },
};

/** Options that mean something in sim mode only. */
const SIM_ONLY = ['strategy', 'depth', 'mutation'];

function checkRule(kind: string, key: string, v: Value, rule: Rule): void {
  const range = rule.length === 2 && typeof rule[0] === 'number' && typeof rule[1] === 'number' ? (rule as readonly [number, number]) : null;
  if (range) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) {
      throw new VsmmuError('EVSMMU_INVAL', `${kind} campaign option ${key}: a whole number from ${range[0]} to ${range[1]}, not ${JSON.stringify(v)}`);
    }
  } else if (!(rule as readonly Value[]).includes(v)) {
    throw new VsmmuError('EVSMMU_INVAL', `${kind} campaign option ${key}: ${(rule as readonly Value[]).join(' or ')}, not ${JSON.stringify(v)}`);
  }
}

/** A campaign's kind and options, checked where it starts. */
export function checkKindOptions(kind: string, o: RunnerOptions, runner: boolean): void {
  if (runner) {
    if (!KIND_NAME.test(kind)) throw new VsmmuError('EVSMMU_CAMPAIGN_KIND', `kind '${kind}': a runner module's kind is a name of lower-case letters, digits and '-'`);
    return;
  }
  if (!isKind(kind)) throw new VsmmuError('EVSMMU_CAMPAIGN_KIND', `no campaign kind '${kind}' (kinds: ${CAMPAIGN_KINDS.join(', ')}, or any name with a runner module)`);
  const rules = KIND_OPTIONS[kind];
  const unknown = Object.keys(o).filter((k) => !(k in rules));
  if (unknown.length > 0) throw new VsmmuError('EVSMMU_INVAL', `${kind} campaigns take the options ${Object.keys(rules).join(', ')}, not ${unknown.join(', ')}`);
  for (const [k, v] of Object.entries(o)) checkRule(kind, k, v, rules[k]!);
  if (o['mode'] === 'threads') {
    const simOnly = SIM_ONLY.filter((k) => o[k] !== undefined);
    if (simOnly.length > 0) throw new VsmmuError('EVSMMU_INVAL', `${kind} campaign option(s) ${simOnly.join(', ')}: for sim mode, not mode threads`);
  }
}

/** The module that runs this campaign's seeds on this machine. */
export function specModule(spec: CampaignSpec): string {
  if (spec.runner !== null) return spec.runner;
  if (!isKind(spec.kind)) throw new VsmmuError('EVSMMU_CAMPAIGN_KIND', `campaign ${spec.name} has kind '${spec.kind}', which this vsmmu does not know; upgrade this worker`);
  return kindModule(spec.kind);
}
