// Control plane and actor lifecycle over real worker threads.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startActor } from '../../src/runtime/actor.ts';
import { VsmmuError } from '../../src/errors.ts';

interface Echo {
  add(a: number, b: number): number;
  slow(ms: number, v: string): Promise<string>;
  fail(code: string): never;
  plainThrow(): never;
  exitNow(code: number): Promise<never>;
  crash(message: string): Promise<never>;
  wasDisposed(): boolean;
}

const support = (f: string): URL => new URL(`../support/${f}`, import.meta.url);

async function codeOf(p: Promise<unknown>): Promise<VsmmuError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(VsmmuError);
  return e as VsmmuError;
}

describe('startActor / serveActor', () => {
  it('starts, calls with workerData, and closes after draining calls in flight', async () => {
    const a = await startActor<Echo>(support('actor-echo.ts'), { base: 10 });
    expect(await a.api.add(1, 2)).toBe(13);
    const inflight = a.api.slow(30, 'late');
    await a.close();
    expect(await inflight).toBe('late');
    expect((await codeOf(a.api.add(1, 1))).code).toBe('EVSMMU_ACTOR_CLOSED');
  });

  it('rejects with EVSMMU_ACTOR_START when the entry fails to import', async () => {
    const e = await codeOf(startActor(support('actor-bad-import.ts'), null));
    expect(e.code).toBe('EVSMMU_ACTOR_START');
    expect(e.message).toMatch(/does-not-exist-anywhere/);
  });

  it('rejects with EVSMMU_ACTOR_START carrying the coded error when the factory throws', async () => {
    const e = await codeOf(startActor(support('actor-throw-factory.ts'), null));
    expect(e.code).toBe('EVSMMU_ACTOR_START');
    expect(e.message).toMatch(/factory refused the configuration/);
    expect((e.details?.['cause'] as { code: string }).code).toBe('EVSMMU_BADOPTIONS');
  });

  it('rebuilds errors thrown mid-call with their code and details', async () => {
    await using a = await startActor<Echo>(support('actor-echo.ts'), {});
    const e = await codeOf(a.api.fail('EVSMMU_GUEST_SEA'));
    expect(e.code).toBe('EVSMMU_GUEST_SEA');
    expect(e.details).toEqual({ where: 'Echo.fail' });
    const t = await codeOf(a.api.plainThrow());
    expect(t.code).toBe('EVSMMU_INTERNAL');
    expect(t.message).toBe('plain type error');
    expect(await a.api.add(2, 3)).toBe(5); // still alive after errors
  });

  it('rejects a pending call with EVSMMU_WORKER_EXIT when the worker calls process.exit', async () => {
    const a = await startActor<Echo>(support('actor-echo.ts'), {});
    const e = await codeOf(a.api.exitNow(7));
    expect(e.code).toBe('EVSMMU_WORKER_EXIT');
    expect(e.details?.['exitCode']).toBe(7);
    expect((await codeOf(a.api.add(1, 1))).code).toBe('EVSMMU_WORKER_EXIT');
    await a.close(); // already gone: resolves
  });

  it('rejects a pending call with EVSMMU_WORKER_ERROR on an uncaught exception, then EVSMMU_WORKER_EXIT stays sticky', async () => {
    const a = await startActor<Echo>(support('actor-echo.ts'), {});
    const pending = a.api.crash('kaboom');
    const e = await codeOf(pending);
    expect(e.code).toBe('EVSMMU_WORKER_ERROR');
    expect(e.message).toMatch(/kaboom/);
    await a.destroy();
    expect((await codeOf(a.api.add(1, 1))).code).toBe('EVSMMU_WORKER_ERROR');
  });

  it('destroy() terminates now and rejects pending calls with EVSMMU_ACTOR_DESTROYED', async () => {
    const a = await startActor<Echo>(support('actor-echo.ts'), {});
    const pending = a.api.slow(10_000, 'never');
    await a.destroy();
    expect((await codeOf(pending)).code).toBe('EVSMMU_ACTOR_DESTROYED');
  });

  it('close() runs the actor dispose hook in its thread, and the thread ends by itself', async () => {
    const flag = new SharedArrayBuffer(4);
    const a = await startActor<Echo>(support('actor-echo.ts'), { flag }, { closeTimeoutMs: 10_000 });
    expect(await a.api.wasDisposed()).toBe(false);
    let exitCode = -1;
    a.worker.once('exit', (c: number) => (exitCode = c));
    await a.close();
    expect(Atomics.load(new Int32Array(flag), 0)).toBe(1);
    expect(exitCode).toBe(0); // a natural end (terminate() would give 1)
  });

  it('leaves no handles: a child process that starts, calls and disposes actors exits by itself', async () => {
    const script = fileURLToPath(support('actor-exit-child.ts'));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearTimeout(timer);
    expect(out).toContain('result 103');
    expect(out).toContain('result2 4');
    expect(out).toContain('disposed');
    expect(code).toBe(0);
  });
});
