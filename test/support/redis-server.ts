// A real redis-server on a free loopback port (127.0.0.1 only), in a temp dir, with no
// persistence, for the campaign tests and bench/campaign.ts; stop() kills it and removes the
// dir. VSMMU_REDIS_SERVER names the binary (default redis-server on PATH).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Env = Readonly<Record<string, string | undefined>>;

export function redisBin(env: Env = process.env): string {
  return env['VSMMU_REDIS_SERVER'] ?? 'redis-server';
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
