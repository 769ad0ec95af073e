// Which module runs a campaign's seeds: a built-in kind's (src/campaign/kinds/KIND), or the
// runner module the campaign names (a test's planted failures, a mutation suite, a user's
// own checks). Resolved on each worker machine, so a built-in kind follows that machine's
// vsmmu; a runner module must exist at the same path on every worker machine.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { VsmmuError } from '../errors.ts';
import { entryExtension } from '../runtime/entry.ts';
import { MUTATION_NAMES } from '../sim/mutations.ts';
import { SIM_STRATEGIES } from '../sim/scheduler.ts';
import { CAMPAIGN_KINDS, type CampaignKind, type CampaignSpec, type RunnerOptions } from './types.ts';

const isKind = (k: string): k is CampaignKind => (CAMPAIGN_KINDS as readonly string[]).includes(k);

const KIND_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** The module URL of a built-in kind, in source (.ts) or in the build (.js). */
export function kindModule(kind: CampaignKind, moduleUrl: string = import.meta.url): string {
  if (kind === 'fuzz') {
    throw new VsmmuError('EVSMMU_CAMPAIGN_KIND', 'fuzz campaigns need the fuzzer (runFuzzSeed in src/fuzz), which this vsmmu does not have yet; run a stress campaign');
  }
  return new URL(`./kinds/${kind}.${entryExtension(moduleUrl)}`, moduleUrl).href;
}

/** A runner module named by the user: a path (relative to `cwd`) or a file: URL that exists. */
export function runnerModule(pathOrUrl: string, cwd: string = process.cwd()): string {
  const path = pathOrUrl.startsWith('file:') ? fileURLToPath(pathOrUrl) : isAbsolute(pathOrUrl) ? pathOrUrl : resolve(cwd, pathOrUrl);
  if (!existsSync(path)) throw new VsmmuError('EVSMMU_FILE', `runner module ${pathOrUrl}: no such file`, { path });
  return pathToFileURL(path).href;
}

function wholeNumber(kind: string, key: string, v: string | number | boolean | undefined, min: number, max: number): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new VsmmuError('EVSMMU_INVAL', `${kind} campaign option ${key}: a whole number from ${min} to ${max}, not ${JSON.stringify(v)}`);
  }
}

/** A built-in kind's options, checked where the campaign starts (not on every worker). */
export function checkKindOptions(kind: string, o: RunnerOptions, runner: boolean): void {
  if (!runner && !isKind(kind)) {
    throw new VsmmuError('EVSMMU_CAMPAIGN_KIND', `no campaign kind '${kind}' (kinds: ${CAMPAIGN_KINDS.join(', ')}, or any name with a runner module)`);
  }
  if (runner) {
    if (!KIND_NAME.test(kind)) throw new VsmmuError('EVSMMU_CAMPAIGN_KIND', `kind '${kind}': a runner module's kind is a name of lower-case letters, digits and '-'`);
    return;
  }
  kindModule(kind as CampaignKind); // fuzz: not yet
  if (o['profile'] !== undefined) {
    throw new VsmmuError('EVSMMU_INVAL', `profile '${String(o['profile'])}': Xen policy profiles are not available to ${kind} runs yet; run without a profile (the hardened default)`);
  }
  const unknown = Object.keys(o).filter((k) => !(STRESS_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new VsmmuError('EVSMMU_INVAL', `${kind} campaigns take the options ${STRESS_KEYS.join(', ')}, not ${unknown.join(', ')}`);
  wholeNumber(kind, 'guests', o['guests'], 1, 16);
  wholeNumber(kind, 'rounds', o['rounds'], 1, 1_000_000);
  wholeNumber(kind, 'depth', o['depth'], 1, 64);
  wholeNumber(kind, 'shrinkRuns', o['shrinkRuns'], 1, 10_000);
  const oneOf = (key: string, values: readonly (string | boolean)[]): void => {
    const v = o[key];
    if (v !== undefined && !values.includes(v as string | boolean)) throw new VsmmuError('EVSMMU_INVAL', `${kind} campaign option ${key}: ${values.join(' or ')}, not ${JSON.stringify(v)}`);
  };
  oneOf('mode', ['sim', 'threads']);
  oneOf('strategy', SIM_STRATEGIES);
  oneOf('chaos', [true, false]);
  oneOf('shrink', [true, false]);
  oneOf('mutation', MUTATION_NAMES);
  if (o['mode'] === 'threads' && (o['strategy'] !== undefined || o['depth'] !== undefined || o['mutation'] !== undefined)) {
    throw new VsmmuError('EVSMMU_INVAL', `${kind} campaign options strategy, depth and mutation are for sim mode, not mode threads`);
  }
}

/** The stress kind's options (src/campaign/kinds/stress.ts), as runStress takes them, and shrink. */
const STRESS_KEYS = ['guests', 'rounds', 'mode', 'strategy', 'depth', 'chaos', 'shrink', 'shrinkRuns', 'mutation'] as const;

/** The module that runs this campaign's seeds on this machine. */
export function specModule(spec: CampaignSpec): string {
  if (spec.runner !== null) return spec.runner;
  if (!isKind(spec.kind)) throw new VsmmuError('EVSMMU_CAMPAIGN_KIND', `campaign ${spec.name} has kind '${spec.kind}', which this vsmmu does not know; upgrade this worker`);
  return kindModule(spec.kind);
}
