// Whether the tests that run the device-tree compiler run, are skipped or fail. One place
// decides, for every test file that runs `dtc`:
//   - dtc runs                         -> the tests run;
//   - dtc is missing                   -> they are skipped, with one line saying what was
//                                         skipped and how to install dtc;
//   - dtc is missing and VSMMU_REQUIRE_DTC=1 (set by .ci/run) -> they fail with that line.
// VSMMU_DTC (or DTC) names the compiler; VSMMU_DTC=/nonexistent tries the no-dtc path.
import { spawnSync } from 'node:child_process';
import { it } from 'vitest';

export const INSTALL_HINT = 'install it with: apt-get install device-tree-compiler (Debian/Ubuntu), or point VSMMU_DTC at it';

export interface DtcDecision {
  /** The compiler to run. */
  readonly bin: string;
  /** Run the dtc tests (true), or skip them (false). */
  readonly run: boolean;
  /** Why dtc cannot run (null when it can). */
  readonly problem: string | null;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The compiler named by the environment. */
export function dtcBin(env: Env): string {
  return env['VSMMU_DTC'] ?? env['DTC'] ?? 'dtc';
}

/** Why `bin --version` does not run, or null when it does. */
export function probeDtc(bin: string): string | null {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined) return `the device-tree compiler "${bin}" cannot be run (${r.error.message})`;
  if (r.status !== 0) return `the device-tree compiler "${bin}" exits with status ${r.status} on --version`;
  return null;
}

/** The decision, from the environment and the outcome of probing the compiler. */
export function decideDtc(env: Env, probe: (bin: string) => string | null = probeDtc): DtcDecision {
  const bin = dtcBin(env);
  const problem = probe(bin);
  const required = env['VSMMU_REQUIRE_DTC'] === '1';
  return { bin, run: problem === null || required, problem };
}

let cached: DtcDecision | undefined;

/** The decision for this process (probed once). */
export function dtc(): DtcDecision {
  cached ??= decideDtc(process.env);
  return cached;
}

/** A test declaration: vitest's `it`, `it.skip`, or one that fails without running `fn`. */
export type DtcTest = (name: string, fn: () => void | Promise<void>) => void;

/**
 * How to declare the tests that run dtc; call once per test file, saying what they check.
 * dtc present: vitest's `it`. Missing: `it.skip`, after printing the one line saying what is
 * skipped and how to install dtc. Missing and VSMMU_REQUIRE_DTC=1: tests that fail with it.
 */
export function dtcIt(what: string): DtcTest {
  const d = dtc();
  if (d.problem === null) return it;
  const line = `${what}: ${d.problem}; ${INSTALL_HINT}`;
  if (!d.run) {
    console.warn(`skipped (no dtc): ${line}`);
    return it.skip;
  }
  return (name) =>
    it(name, () => {
      throw new Error(`VSMMU_REQUIRE_DTC=1 but ${line}`);
    });
}
