// A real redis-server for the campaign tests, on a free loopback port, in a temp dir, with no
// persistence; stopped by the test file's afterAll even when a test failed. One place decides
// whether those tests run (the pattern of test/support/dtc.ts):
//   - redis-server runs                        -> the tests run;
//   - it is missing                            -> they are skipped, with one line saying so;
//   - missing and VSMMU_REQUIRE_REDIS=1 (.ci/run) -> they fail with that line.
// VSMMU_REDIS_SERVER names the server binary (default redis-server on PATH).
import { spawnSync } from 'node:child_process';
import { it } from 'vitest';
import { redisBin } from './redis-server.ts';

export { startRedis, type RedisServer } from './redis-server.ts';
export { redisBin };

export const REDIS_HINT = 'install it with: apt-get install redis-server (Debian/Ubuntu), or point VSMMU_REDIS_SERVER at it';

/** Why `bin --version` does not run, or null when it does. */
export function probeRedis(bin: string): string | null {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined) return `the Redis server "${bin}" cannot be run (${r.error.message})`;
  if (r.status !== 0) return `the Redis server "${bin}" exits with status ${r.status} on --version`;
  return null;
}

type Env = Readonly<Record<string, string | undefined>>;

export interface RedisDecision {
  /** Run the tests (true), or skip them (false). */
  readonly run: boolean;
  /** Why redis-server cannot run (null when it can). */
  readonly problem: string | null;
}

/** The decision, from the environment and the outcome of probing the server. */
export function decideRedis(env: Env, probe: (bin: string) => string | null = probeRedis): RedisDecision {
  const problem = probe(redisBin(env));
  return { run: problem === null || env['VSMMU_REQUIRE_REDIS'] === '1', problem };
}

let cached: RedisDecision | undefined;

/** Why redis-server cannot run here, or null when it can (probed once per process). */
export function redisProblem(): string | null {
  cached ??= decideRedis(process.env);
  return cached.problem;
}

/**
 * How to declare the tests that need redis-server (call once per file, saying what they
 * check): vitest's `it`; `it.skip` after one line when it is missing; tests that fail with
 * that line when it is missing and VSMMU_REQUIRE_REDIS=1.
 */
export function redisIt(what: string): (name: string, fn: () => Promise<void>, timeout?: number) => void {
  cached ??= decideRedis(process.env);
  const { run, problem } = cached;
  if (problem === null) return (name, fn, timeout) => it(name, fn, timeout);
  const line = `${what}: ${problem}; ${REDIS_HINT}`;
  if (!run) {
    console.warn(`skipped (no redis-server): ${line}`);
    return (name, fn) => it.skip(name, fn);
  }
  return (name) =>
    it(name, () => {
      throw new Error(`VSMMU_REQUIRE_REDIS=1 but ${line}`);
    });
}
