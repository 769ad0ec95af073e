// Sim mode through the public API: every actor on this thread under a seeded scheduler.
// The same seed and program give the same run (digest, answers); each strategy runs the
// whole stack; bad sim options are coded errors.
import { describe, expect, it } from 'vitest';
import { createSystem, type SimStrategy } from '../../src/index.ts';
import { simFromEnv } from '../../src/system/options.ts';
import { formatChromeTrace } from '../../src/trace/chrome.ts';
import { validateChromeTrace } from '../../src/trace/validate.ts';

const IOVA = 0x1000_0000;
const BUF = 0x4010_0000;

/** A small program: probe, attach, map, DMA, unmap + TLBI + SYNC, fault by interrupt. */
async function program(seed: number, strategy?: SimStrategy, trace = false) {
  await using sys = await createSystem({
    memory: '128M',
    sim: { seed, ...(strategy ? { strategy } : {}) },
    domains: [
      { name: 'a', memory: '32M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }] },
      { name: 'b', memory: '32M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x20 }] },
    ],
  });
  const answers: unknown[] = [];
  if (trace) await sys.trace.start();
  for (const d of sys.domains) {
    await d.driver.probe();
    await d.driver.attach('dma0', { asid: 3 });
    d.memory.write(BUF, new Uint8Array(4096).fill(d.domid));
    await d.driver.map(IOVA, BUF, 4096, 'rw');
  }
  // Both guests' work in flight at once: the scheduler interleaves their steps.
  answers.push(await Promise.all(sys.domains.map((d) => d.device('dma0').dma({ iova: IOVA, length: 8 }))));
  answers.push(await Promise.all(sys.domains.map((d) => d.driver.unmap(IOVA, 4096))));
  answers.push(await Promise.all(sys.domains.map((d) => d.device('dma0').dma({ iova: IOVA, length: 8 }))));
  for (const d of sys.domains) answers.push(await d.irq.wait(50), (await d.driver.faults()).map((f) => [f.name, f.sid, f.iova]));
  const file = trace ? formatChromeTrace(await sys.trace.stop()) : '';
  return { mode: sys.mode, sim: sys.sim, answers, file };
}

describe('sim mode', () => {
  it('runs the whole stack on this thread and says so', async () => {
    const r = await program(1);
    expect(r.mode).toBe('sim');
    expect(r.sim).toMatchObject({ seed: 1, strategy: 'random' });
    expect(r.sim!.steps).toBeGreaterThan(0);
    expect(r.sim!.digest).toMatch(/^[0-9a-f]{16}$/);
    const [dma, , after, irqA, faultsA] = r.answers as [{ ok: boolean }[], unknown, { ok: boolean }[], boolean, unknown[]];
    expect(dma.map((x) => x.ok)).toEqual([true, true]);
    expect(after.map((x) => x.ok)).toEqual([false, false]);
    expect(irqA).toBe(true);
    expect(faultsA).toEqual([['F_TRANSLATION', expect.any(Number), IOVA]]);
  });

  it('same seed, same run: identical digest and answers', async () => {
    const a = await program(42);
    const b = await program(42);
    expect(b.sim).toEqual(a.sim);
    expect(b.answers).toEqual(a.answers);
  });

  it('same seed, same trace: a byte-identical timeline on virtual time', async () => {
    const a = await program(9, undefined, true);
    const b = await program(9, undefined, true);
    expect(a.file.length).toBeGreaterThan(1000);
    expect(b.file).toBe(a.file);
    expect(validateChromeTrace(JSON.parse(a.file))).toEqual([]);
    const names = new Set((JSON.parse(a.file) as { traceEvents: { name: string }[] }).traceEvents.map((e) => e.name));
    for (const n of ['dma batch', 'event forwarded']) expect(names.has(n), n).toBe(true);
  });

  it.each(['random', 'pct', 'round-robin'] as const)('strategy %s runs the program to the same answers', async (strategy) => {
    const r = await program(5, strategy);
    expect(r.sim?.strategy).toBe(strategy);
    expect((r.answers[0] as { ok: boolean }[]).every((x) => x.ok)).toBe(true);
    expect((r.answers[2] as { ok: boolean }[]).some((x) => x.ok)).toBe(false);
  });

  it('different seeds explore different schedules', async () => {
    const digests = new Set<string>();
    for (const seed of [1, 2, 3, 4]) digests.add((await program(seed)).sim!.digest);
    expect(digests.size).toBeGreaterThan(1);
  });

  it('what runs in the background on threads has run by the next call (a program that polls works)', async () => {
    await using sys = await createSystem({
      memory: '64M', sim: { seed: 3 },
      domains: [{ name: 'a', memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }] }],
    });
    const d = sys.domain('a');
    await d.driver.attach('dma0', { asid: 1 });
    expect((await d.device('dma0').dma({ iova: IOVA, length: 4 })).ok).toBe(false);
    // No irq.wait(): the fault's event was forwarded and the interrupt taken meanwhile.
    let faults: unknown[] = [];
    for (let i = 0; i < 3 && faults.length === 0; i++) faults = await d.driver.faults();
    expect(faults).toEqual([expect.objectContaining({ name: 'F_TRANSLATION', iova: IOVA })]);
    // system.run(ms) lets virtual time pass; it returns once nothing has work.
    const t = await sys.run(5);
    expect(t).toBeGreaterThan(0);
    expect(t).toBeLessThanOrEqual(sys.sim!.now);
  });

  it('threads mode reports no sim state', async () => {
    await using sys = await createSystem({ memory: '64M', sim: false });
    expect(sys.mode).toBe('threads');
    expect(sys.sim).toBeNull();
  });

  it('VSMMU_SIM=SEED[:STRATEGY[:DEPTH]] runs a program unchanged in sim mode; sim: false keeps threads', async () => {
    expect(simFromEnv('42:pct:2')).toEqual({ seed: 42, strategy: 'pct', depth: 2 });
    expect(simFromEnv(undefined)).toBeNull();
    expect(() => simFromEnv('x')).toThrow(expect.objectContaining({ code: 'EVSMMU_BADOPTIONS' }));
    const before = process.env['VSMMU_SIM'];
    process.env['VSMMU_SIM'] = '7';
    try {
      await using a = await createSystem({ memory: '64M' });
      expect(a.sim?.seed).toBe(7);
      await using b = await createSystem({ memory: '64M', sim: false });
      expect(b.mode).toBe('threads');
    } finally {
      if (before === undefined) delete process.env['VSMMU_SIM'];
      else process.env['VSMMU_SIM'] = before;
    }
  });

  it.each([
    [{ sim: {} }, /seed is required/],
    [{ sim: { seed: 1.5 } }, /seed must be a whole number/],
    [{ sim: { seed: 1, strategy: 'fifo' } }, /strategy "fifo"/],
    [{ sim: { seed: 1, depth: 0 } }, /depth/],
    [{ sim: { seed: 1, speed: 2 } }, /speed is not an option/],
    [{ sim: 3 }, /sim must be an object/],
  ])('bad sim option %j is EVSMMU_BADOPTIONS', async (options, message) => {
    await expect(createSystem(options as never)).rejects.toMatchObject({ code: 'EVSMMU_BADOPTIONS', message });
  });
});
