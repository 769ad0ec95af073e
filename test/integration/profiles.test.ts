// Xen's profiles through the public API: createSystem({ xen: { profile } }) on threads and in
// sim mode. The guest-triggerable BUG() of the series (reference §3.3) is a hypervisor
// panic: the whole system stops and every call reports EVSMMU_XEN_PANIC; hardened answers
// the same guest with C_BAD_STE and goes on.
import { describe, expect, it } from 'vitest';
import { createSystem, type Domain } from '../../src/index.ts';
import { encodeL1Std } from '../../src/arch/ste.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchReport } from '../../src/index.ts';
import { cli } from '../support/cli.ts';

const V = 0x0404_0000;
const ST = 0x4010_0000;
const L2 = 0x4010_4000;
const CQ = 0x4020_0000;
const EQ = 0x4028_0000;
const SID = 0x10;

/** The guest's own minimal bring-up, through trapped MMIO and its RAM: 2-level table (split 8), queues, enables. */
async function bringUp(g: Domain): Promise<void> {
  await g.mmio.write64(V + 0x80, BigInt(ST));
  await g.mmio.write32(V + 0x88, (1 << 16) | (8 << 6) | 16);
  await g.mmio.write64(V + 0x90, BigInt(CQ + 8));
  await g.mmio.write64(V + 0xa0, BigInt(EQ + 6));
  await g.mmio.write32(V + 0x20, 0xd); // SMMUEN | CMDQEN | EVENTQEN
  const [lo, hi] = encodeL1Std({ span: 9, l2ptr: L2 });
  g.memory.write64(ST, (BigInt(hi) << 32n) | BigInt(lo));
}

/**
 * Writes STE dword 0 of SID with `config`, issues CFGI_STE through PROD and polls CONS until
 * it moved past it, as a guest does (Xen finishes the physical STE write after the trap).
 */
async function cfgiSte(g: Domain, config: number, slot = 0): Promise<void> {
  g.memory.write64(L2 + SID * 64, BigInt(1 | (config << 1)));
  g.memory.write64(CQ + slot * 16, (BigInt(SID) << 32n) | 0x03n);
  g.memory.write64(CQ + slot * 16 + 8, 1n);
  await g.mmio.write32(V + 0x98, slot + 1);
  for (let i = 0; i < 10_000; i++) if (((await g.mmio.read32(V + 0x9c)) & 0xfffff) === slot + 1) return;
  throw new Error('CONS did not move past the CFGI_STE');
}

const MODES = [['threads', {}], ['sim', { sim: { seed: 3 } }]] as const;

describe.each(MODES)('§3.3 rfc: the guest-triggerable BUG() as a hypervisor panic (%s)', (_mode, extra) => {
  const domains = [
    { name: 'g1', memory: '16M', viommu: 'smmuv3' as const, devices: [{ name: 'dma0', sid: SID }] },
    { name: 'g2', memory: '16M', devices: [{ name: 'dma0', sid: 0x20 }] },
  ];

  it('rfc: a nested guest STE panics Xen; every later call rejects with EVSMMU_XEN_PANIC', async () => {
    const sys = await createSystem({ ...extra, memory: '128M', xen: { profile: 'rfc' }, domains });
    try {
      expect(sys.profile).toBe('rfc');
      const g1 = sys.domain('g1');
      await bringUp(g1);
      await expect(cfgiSte(g1, 7)).rejects.toMatchObject({ code: 'EVSMMU_XEN_PANIC', details: { bug: 'BUG()', section: '§3.3', domain: 'g1', sid: SID } });
      expect(sys.panic).toMatchObject({ bug: 'BUG()', domain: 'g1' });
      await expect(sys.domain('g2').guestStats()).rejects.toMatchObject({ code: 'EVSMMU_XEN_PANIC' });
      await expect(g1.mmio.read32(V)).rejects.toMatchObject({ code: 'EVSMMU_XEN_PANIC' });
      expect((await sys.stats()).xen.panic).toMatchObject({ bug: 'BUG()' });
    } finally {
      await sys.close();
    }
  });

  it('hardened: the same guest gets C_BAD_STE in its event queue (with its device\'s next DMA) and the system goes on', async () => {
    const sys = await createSystem({ ...extra, memory: '128M', domains });
    try {
      const g1 = sys.domain('g1');
      await bringUp(g1);
      await cfgiSte(g1, 7);
      expect(await g1.mmio.read32(V + 0x9c)).toBe(1);
      expect((await g1.device('dma0').dma({ iova: 0x1000, length: 4 })).ok).toBe(false);
      let prod = 0;
      for (let i = 0; i < 10_000 && prod === 0; i++) prod = await g1.mmio.read32(V + 0x100a8);
      expect(prod).toBe(1);
      expect(Number(g1.memory.read64(EQ) & 0xffn)).toBe(0x04); // C_BAD_STE
      expect(sys.panic).toBeNull();
      await expect(sys.domain('g2').guestStats()).resolves.toBeTruthy();
    } finally {
      await sys.close();
    }
  });

  it('rfc: BUG_ON(s1_live): a second stage-1 CFGI_STE of a live stage-1 STE panics; hardened takes it', async () => {
    for (const profile of ['rfc', 'hardened'] as const) {
      const sys = await createSystem({ ...extra, memory: '128M', xen: { profile }, domains });
      try {
        const g1 = sys.domain('g1');
        await bringUp(g1);
        g1.memory.write64(L2 + SID * 64 + 8, 0xd6n);
        await cfgiSte(g1, 5, 0); // S1, S1CDMax 0: nested over Xen's stage 2
        const second = cfgiSte(g1, 5, 1);
        if (profile === 'rfc') await expect(second).rejects.toMatchObject({ code: 'EVSMMU_XEN_PANIC', details: { bug: 'BUG_ON(s1_live)' } });
        else {
          await second;
          expect(sys.panic).toBeNull();
        }
      } finally {
        await sys.close();
      }
    }
  });
});

describe('profiles: createSystem options', () => {
  it('xen.profile must be hardened, rfc or v3 (EVSMMU_BADOPTIONS)', async () => {
    await expect(createSystem({ xen: { profile: 'rfc2' as 'rfc' } })).rejects.toMatchObject({ code: 'EVSMMU_BADOPTIONS', message: expect.stringMatching(/"hardened", "rfc", "v3"/) });
  });

  it('the default is hardened', async () => {
    const sys = await createSystem({ sim: { seed: 1 }, memory: '64M' });
    try {
      expect(sys.profile).toBe('hardened');
      expect((await sys.stats()).xen.profile).toBe('hardened');
    } finally {
      await sys.close();
    }
  });
});

describe.each(['hardened', 'rfc', 'v3'] as const)('the public API on %s: probe, attach, map, DMA, unmap, fault', (profile) => {
  it('behaves the same where the reference says nothing differs (sim mode)', async () => {
    const sys = await createSystem({
      memory: '128M', sim: { seed: 5 }, xen: { profile },
      domains: [{ name: 'g', memory: '32M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }, { name: 'dma1', sid: 0x11 }] }],
    });
    try {
      const g = sys.domain('g');
      const dev = g.device('dma0');
      expect(dev.vsid).toBe(profile === 'v3' ? 0 : 0x10); // §3.4: v3's lowest free vSID
      await g.driver.probe();
      await g.driver.attach('dma0', { asid: 1 });
      await g.driver.map(0x1000_0000, 0x4010_0000, 8192, 'rw');
      const data = Uint8Array.from({ length: 64 }, (_, i) => i);
      expect(await dev.dma({ iova: 0x1000_0000, data })).toEqual({ ok: true, bytes: 64 });
      expect(g.memory.read(0x4010_0000, 64)).toEqual(data);
      await g.driver.unmap(0x1000_0000, 8192);
      const r = await dev.dma({ iova: 0x1000_0000, length: 4 });
      expect(r.ok).toBe(false);
      expect(await g.irq.wait(5000)).toBe(true);
      expect((await g.driver.faults()).at(-1)).toMatchObject({ name: 'F_TRANSLATION', sid: dev.vsid, iova: 0x1000_0000 });
      expect(sys.panic).toBeNull();
    } finally {
      await sys.close();
    }
  });
});


describe('profiles: --profile on the CLI', () => {
  it('vsmmu run --profile rfc runs the scenario under the series; an unknown profile is a usage error', async () => {
    const r = await cli(['run', '--profile', 'rfc', '--guests', '1', '--seconds', '0']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/PASS/);
    const bad = await cli(['run', '--profile', 'rfc2']);
    expect(bad).toMatchObject({ code: 2, err: expect.stringMatching(/--profile "rfc2" is not a profile \(known: hardened, rfc, v3\) \[EVSMMU_USAGE\]\n$/) });
    expect((await cli(['stress', '--profile', 'nope'])).code).toBe(2);
    expect((await cli(['run', '--help'])).out).toMatch(/--profile NAME/);
    expect((await cli(['stress', '--help'])).out).toMatch(/--profile P/);
  }, 120_000);

  it('vsmmu bench --profile rfc,hardened: each cell under each profile, side by side', async () => {
    const r = await cli(['bench', '--guests', '1', '--workloads', 'strict', '--seconds', '0.2', '--profile', 'rfc,hardened', '--json']);
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out) as BenchReport;
    expect(rep.options.profile).toBe('rfc,hardened');
    expect(rep.cells.map((c) => [c.series, c.profile])).toEqual([['strict', 'rfc'], ['strict', 'hardened']]);
    for (const c of rep.cells) expect(c.syncLatency?.count, c.profile).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), 'vsmmu-profiles-'));
    const saved = join(dir, 'bench.json');
    writeFileSync(saved, r.out);
    const table = await cli(['bench', '--from', saved]);
    expect(table.code).toBe(0);
    const rows = table.out.split('\n').filter((l) => l.startsWith('strict'));
    expect(rows.map((l) => l.split(/\s+/)[1])).toEqual(['rfc', 'hardened']);
  }, 180_000);
});
