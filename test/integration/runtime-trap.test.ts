// Trap channels across threads: vCPU workers of two guests, one handler thread serving all.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { TRAP_OK, TrapServer, TrapVcpu, createTrapChannel, createTrapServer } from '../../src/runtime/trap.ts';

const roles = new URL('../support/runtime-roles.ts', import.meta.url);

function run<T>(data: Record<string, unknown>, onReady?: () => void): { worker: Worker; done: Promise<T> } {
  const worker = new Worker(roles, { workerData: data });
  const done = new Promise<T>((resolve, reject) => {
    worker.on('message', (m: { ready?: boolean }) => (m.ready ? onReady?.() : resolve(m as T)));
    worker.once('error', reject);
  });
  return { worker, done };
}

describe('trap channels under concurrent vCPUs', () => {
  it('two guests x two vCPUs against one handler thread: values and aborts checked', async () => {
    const sd = createTrapServer();
    const channels = [0, 1, 2, 3].map(() => createTrapChannel(sd));
    let ready!: () => void;
    const serverReady = new Promise<void>((r) => (ready = r));
    const server = run<{ ok: boolean; served: number }>({ role: 'trap-server', server: sd, channels }, () => ready());
    await serverReady;
    const count = 1_500;
    const vcpus = channels.map((channel, i) =>
      run<{ ok: boolean; errors: string[]; aborts: number }>({ role: 'trap-vcpu', channel, seed: 100 + i, count, tag: (i >> 1) << 28 }),
    );
    const results = await Promise.all(vcpus.map((v) => v.done));
    for (const r of results) {
      expect(r.errors).toEqual([]);
      expect(r.aborts).toBe(Math.ceil(count / 16));
    }
    // Stop the handler: it returns from serve with -1 and reports.
    new TrapServer(sd).close();
    const s = await server.done;
    expect(s.served).toBe(4 * (2 * count + Math.ceil(count / 16)));
  });

  it('main-thread vCPU (async) against a handler thread', async () => {
    const sd = createTrapServer();
    const ch = createTrapChannel(sd);
    let ready!: () => void;
    const serverReady = new Promise<void>((r) => (ready = r));
    const server = run<{ served: number }>({ role: 'trap-server', server: sd, channels: [ch] }, () => ready());
    await serverReady;
    const v = new TrapVcpu(ch);
    for (let k = 0; k < 200; k++) {
      expect(await v.accessAsync(true, 4, k * 4, 0, k * 7, 0)).toBe(TRAP_OK);
      expect(await v.accessAsync(false, 4, k * 4, 0, 0, 0)).toBe(TRAP_OK);
      expect(v.valueLo).toBe(k * 7);
    }
    new TrapServer(sd).close();
    expect((await server.done).served).toBe(400);
  });
});
