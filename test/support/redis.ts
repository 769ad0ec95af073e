// A real redis-server for the campaign tests, on a free loopback port, in a temp dir, with no
// persistence; stopped by the test file's afterAll even when a test failed. One place decides
// whether those tests run (the pattern of test/support/dtc.ts):
//   - redis-server runs                        -> the tests run;
//   - it is missing                            -> they are skipped, with one line saying so;
//   - missing and VSMMU_REQUIRE_REDIS=1 (.ci/run) -> they fail with that line.
// VSMMU_REDIS_SERVER names the server binary (default redis-server on PATH).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';

export const REDIS_HINT = 'install it with: apt-get install redis-server (Debian/Ubuntu), or point VSMMU_REDIS_SERVER at it';

type Env = Readonly<Record<string, string | undefined>>;

export function redisBin(env: Env = process.env): string {
  return env['VSMMU_REDIS_SERVER'] ?? 'redis-server';
}

/** Why `bin --version` does not run, or null when it does. */
export function probeRedis(bin: string): string | null {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined) return `the Redis server "${bin}" cannot be run (${r.error.message})`;
  if (r.status !== 0) return `the Redis server "${bin}" exits with status ${r.status} on --version`;
  return null;
}

let cached: string | null | undefined;

/** Why redis-server cannot run here, or null when it can (probed once per process). */
export function redisProblem(): string | null {
  if (cached === undefined) cached = probeRedis(redisBin());
  return cached;
}

/**
 * How to declare the tests that need redis-server (call once per file, saying what they
 * check): vitest's `it`; `it.skip` after one line when it is missing; tests that fail with
 * that line when it is missing and VSMMU_REQUIRE_REDIS=1.
 */
export function redisIt(what: string): (name: string, fn: () => Promise<void>, timeout?: number) => void {
  const problem = redisProblem();
  if (problem === null) return (name, fn, timeout) => it(name, fn, timeout);
  const line = `${what}: ${problem}; ${REDIS_HINT}`;
  if (process.env['VSMMU_REQUIRE_REDIS'] !== '1') {
    console.warn(`skipped (no redis-server): ${line}`);
    return (name, fn) => it.skip(name, fn);
  }
  return (name) =>
    it(name, () => {
      throw new Error(`VSMMU_REQUIRE_REDIS=1 but ${line}`);
    });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

const READY = /Ready to accept connections/;
const START_MS = 10_000;

async function startOnce(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(redisBin(), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', '', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`redis-server did not start within ${START_MS} ms: ${out}`)), START_MS);
    function fail(e: Error): void {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    }
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      if (READY.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`redis-server exited with ${code}: ${out}`)));
  });
  child.removeAllListeners('exit');
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

/** A fresh server on 127.0.0.1 (a port taken between probing and binding is tried again, 3 times at most). */
export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-redis-'));
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      const child = await startOnce(port, dir);
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            const exited = new Promise((res) => child.once('exit', res));
            child.kill('SIGKILL');
            await exited;
          }
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (e) {
      last = e;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw last;
}
