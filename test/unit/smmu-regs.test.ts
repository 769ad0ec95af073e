// The register file: driver-side rules (RAZ/WI, RES0 bits, write-ignored while enabled) and
// the SMMU-side asynchronous side effects (ACKs, GBPA.Update, GERRORN), in-process.
import { describe, expect, it } from 'vitest';
import { decodeIdRegs, DEFAULT_FEATURES } from '../../src/arch/features.ts';
import { CR0, R, REGISTERS } from '../../src/arch/registers.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { SmmuRegisterPort } from '../../src/smmu/regpage.ts';
import { Smmu, SMMU_IRQ } from '../../src/smmu/smmu.ts';

function setup(features = {}) {
  const smmu = new Smmu({ memory: PhysMemory.create(1 << 20), features });
  const port = new SmmuRegisterPort(smmu.regsDesc, smmu.features);
  return { smmu, port };
}

function idRegs(port: SmmuRegisterPort) {
  return {
    idr0: port.read32(R.IDR0), idr1: port.read32(R.IDR1), idr2: port.read32(R.IDR2), idr3: port.read32(R.IDR3),
    idr4: port.read32(R.IDR4), idr5: port.read32(R.IDR5), iidr: port.read32(R.IIDR), aidr: port.read32(R.AIDR),
  };
}

describe('SMMU register file', () => {
  it('a port without a feature set learns it from the ID registers', () => {
    const { smmu } = setup({ msi: false });
    const port = new SmmuRegisterPort(smmu.regsDesc);
    port.write32(R.GERROR_IRQ_CFG1, 5); // RAZ/WI without IDR0.MSI
    port.write32(R.CR1, 0xffffffff);
    expect(port.read32(R.GERROR_IRQ_CFG1)).toBe(0);
    expect(port.read32(R.CR1)).toBe(0xfff);
  });

  it('ID registers advertise the configured features (defaults: S1+S2, 2-level, 16-bit SIDs/ASIDs/VMIDs, all granules, 48-bit OAS)', () => {
    const { port } = setup();
    const f = decodeIdRegs(idRegs(port));
    expect(f).toMatchObject({ s1: true, s2: true, stLevel2: true, sidBits: 16, asid16: true, vmid16: true, gran4k: true, gran16k: true, gran64k: true, oas: 48, msi: true, sev: true });
    expect(f).toEqual({ ...DEFAULT_FEATURES });
    const g = decodeIdRegs(idRegs(setup({ s2: false, msi: false, oas: 40, sidBits: 8 }).port));
    expect(g).toMatchObject({ s2: false, msi: false, oas: 40, sidBits: 8 });
  });

  it('every offset, width and alignment is safe: reserved and RO offsets are RAZ/WI', () => {
    const { smmu, port } = setup();
    const before = Array.from({ length: 0x8000 }, (_, i) => port.read32(i * 4));
    const writable = new Set([R.CR0, R.CR1, R.CR2, R.GBPA, R.IRQ_CTRL, R.GERRORN, R.STRTAB_BASE, R.STRTAB_BASE + 4,
      R.STRTAB_BASE_CFG, R.CMDQ_BASE, R.CMDQ_BASE + 4, R.CMDQ_PROD, R.CMDQ_CONS, R.EVENTQ_BASE, R.EVENTQ_BASE + 4,
      R.EVENTQ_PROD, R.EVENTQ_CONS, R.GERROR_IRQ_CFG0, R.GERROR_IRQ_CFG0 + 4, R.GERROR_IRQ_CFG1, R.GERROR_IRQ_CFG2,
      R.EVENTQ_IRQ_CFG0, R.EVENTQ_IRQ_CFG0 + 4, R.EVENTQ_IRQ_CFG1, R.EVENTQ_IRQ_CFG2]);
    for (let off = 0; off < 0x20000; off += 4) if (!writable.has(off)) port.write32(off, 0xffffffff);
    for (const off of [1, 2, 3, 0x21, 0x1ffff, 0x20000, -4, 0.5]) {
      port.write32(off, 0xffffffff);
      expect(port.read32(off)).toBe(0);
    }
    port.write64(0x24, 0xffffffff_ffffffffn); // 64-bit write to CR0ACK/CR1: CR0ACK is RO
    expect(port.read64(0x21)).toBe(0n);
    smmu.step();
    const after = Array.from({ length: 0x8000 }, (_, i) => port.read32(i * 4));
    for (let i = 0; i < after.length; i++) {
      if (i * 4 === R.CR1) continue;
      if (after[i] !== before[i]) throw new Error(`offset 0x${(i * 4).toString(16)} changed`);
    }
    // Unimplemented registers of the table (PRIQ without PRI, GATOS, S2PII, AGBPA) are RAZ/WI.
    for (const r of REGISTERS.filter((x) => ['PRIQ_BASE', 'GATOS_CTRL', 'S2PII', 'AGBPA', 'PRIQ_PROD'].includes(x.name))) {
      port.write32(r.offset, 0xffffffff);
      expect(port.read32(r.offset)).toBe(0);
    }
  });

  it('RES0 bits read back as 0; 64-bit registers take 64-bit and 32-bit accesses', () => {
    const { smmu, port } = setup({ msi: false });
    port.write32(R.CR1, 0xffffffff);
    port.write32(R.CR2, 0xffffffff);
    port.write32(R.IRQ_CTRL, 0xffffffff);
    port.write32(R.STRTAB_BASE_CFG, 0xffffffff);
    expect(port.read32(R.CR1)).toBe(0xfff);
    expect(port.read32(R.CR2)).toBe(0x6);
    expect(port.read32(R.IRQ_CTRL)).toBe(0x5);
    expect(port.read32(R.STRTAB_BASE_CFG)).toBe(0x307ff);
    port.write64(R.STRTAB_BASE, 0xffff_ffff_ffff_ffffn);
    expect(port.read64(R.STRTAB_BASE)).toBe(0x40ff_ffff_ffff_ffc0n);
    port.write32(R.STRTAB_BASE + 4, 0x12);
    expect(port.read64Pair(R.STRTAB_BASE)).toEqual([0xffffffc0, 0x12]);
    // Without IDR0.MSI the MSI configuration registers are RAZ/WI.
    port.write64(R.GERROR_IRQ_CFG0, 0x1000n);
    expect(port.read64(R.GERROR_IRQ_CFG0)).toBe(0n);
    smmu.step();
    expect(port.read32(R.IRQ_CTRLACK)).toBe(0x5);
  });

  it('side effects are asynchronous: CR0ACK, IRQ_CTRLACK and GBPA.Update change only when the SMMU services the doorbell', () => {
    const { smmu, port } = setup();
    port.write32(R.CR0, 0xffffffff);
    expect(port.read32(R.CR0)).toBe(CR0.SMMUEN | CR0.EVENTQEN | CR0.CMDQEN);
    expect(port.read32(R.CR0ACK)).toBe(0);
    const upd = port.updates;
    smmu.step();
    expect(port.read32(R.CR0ACK)).toBe(CR0.SMMUEN | CR0.EVENTQEN | CR0.CMDQEN);
    expect(port.updates).not.toBe(upd);
    // GBPA: writes without Update are ignored (v3.2); Update clears once applied.
    port.write32(R.GBPA, 0x00100000);
    expect(port.read32(R.GBPA)).toBe(0x1000);
    port.write32(R.GBPA, 0x80100000);
    expect(port.read32(R.GBPA)).toBe(0x80100000);
    smmu.step();
    expect(port.read32(R.GBPA)).toBe(0x00100000);
  });

  it('BASE, CONS and STRTAB registers are write-ignored while their enable is acknowledged', () => {
    const { smmu, port } = setup();
    port.write64(R.CMDQ_BASE, 0x10_0005n);
    port.write32(R.CMDQ_CONS, 3);
    expect(port.read32(R.CMDQ_CONS)).toBe(3); // writable while CMDQEN = 0
    port.write32(R.CMDQ_CONS, 0);
    port.write32(R.CR0, CR0.CMDQEN | CR0.SMMUEN);
    smmu.step();
    port.write64(R.CMDQ_BASE, 0x20_0005n);
    port.write32(R.CMDQ_CONS, 7);
    port.write64(R.STRTAB_BASE, 0x30_0000n);
    port.write32(R.CR1, 0x1);
    expect(port.read64(R.CMDQ_BASE)).toBe(0x10_0005n);
    expect(port.read32(R.CMDQ_CONS)).toBe(0);
    expect(port.read64(R.STRTAB_BASE)).toBe(0n);
    expect(port.read32(R.CR1)).toBe(0);
  });

  it('GERROR toggles once per activation; GERRORN acknowledges; IRQ enable signals an active error', () => {
    const { smmu, port } = setup();
    smmu.gerror(4); // EVENTQ_ABT_ERR
    smmu.gerror(4); // already active: no second toggle
    expect(port.read32(R.GERROR)).toBe(4);
    expect(smmu.irq.pending()).toBe(0); // IRQ_CTRL.GERROR_IRQEN = 0
    port.write32(R.IRQ_CTRL, 1);
    smmu.step();
    expect(smmu.irq.take()).toBe(1 << SMMU_IRQ.GERROR);
    port.write32(R.GERRORN, 4);
    smmu.step();
    smmu.gerror(4);
    expect(port.read32(R.GERROR)).toBe(0); // toggled back: active again
    expect(smmu.irq.take()).toBe(1 << SMMU_IRQ.GERROR);
  });
});
