// The command engine against every opcode and queue geometry, in-process (registers and
// memory only).
import { describe, expect, it } from 'vitest';
import { cmdOf, commandError, decodeCommand, CERROR } from '../../src/arch/commands.ts';
import { CR0, GERROR, R } from '../../src/arch/registers.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { SmmuPortClient } from '../../src/runtime/port-client.ts';
import { Smmu, SMMU_IRQ } from '../../src/smmu/smmu.ts';
import { makeWorld, MIB } from '../support/smmu-world.ts';

function setup(features = {}) {
  const mem = PhysMemory.create(64 * MIB);
  const smmu = new Smmu({ memory: mem, features });
  const w = makeWorld(mem, smmu.regsDesc, smmu.features, () => smmu.step());
  w.drv.reset();
  return { mem, smmu, w };
}

describe('command queue engine', () => {
  it('every opcode 0x00..0xFF: legal ones are consumed, the others stop the queue at them with CERROR_ILL', () => {
    const { smmu, w } = setup();
    for (let op = 0; op < 256; op++) {
      const words = [op, 0, 0, 0];
      const cmd = decodeCommand(words);
      const legal = commandError(cmd, smmu.features) === CERROR.NONE;
      const cons0 = w.drv.port.read32(R.CMDQ_CONS) & 0xfffff;
      w.drv.submit([cmd]);
      smmu.step();
      const cons = w.drv.port.read32(R.CMDQ_CONS);
      if (legal) {
        expect(cons & 0xfffff, `opcode 0x${op.toString(16)}`).toBe((cons0 + 1) & 0x1ff);
        expect(cons >>> 24).toBe(0);
      } else {
        expect(cons & 0xfffff, `opcode 0x${op.toString(16)}`).toBe(cons0);
        expect((cons >>> 24) & 0x7f).toBe(CERROR.ILL);
        // Acknowledge; replace the command with a SYNC and let the queue move on.
        const at = w.drv.cmdqBase + (cons0 & 0xff) * 16;
        w.mem.store64(at, 0x46, 0);
        w.mem.store64(at + 8, 0, 0);
        w.drv.port.write32(R.GERRORN, w.drv.port.read32(R.GERROR));
        smmu.step();
        expect(w.drv.port.read32(R.CMDQ_CONS) & 0xfffff).toBe((cons0 + 1) & 0x1ff);
      }
    }
    const s = smmu.stats().commands;
    expect(s.errors.ill).toBeGreaterThan(200);
    expect(Object.keys(s.byOpcode)).toEqual(expect.arrayContaining(['PREFETCH_CONFIG', 'CFGI_CD_ALL', 'TLBI_NH_VAA', 'TLBI_S12_VMALL', 'SYNC']));
  });

  it('features decide legality: without stage 2, TLBI_S2_IPA is CERROR_ILL; without MSI a SIG_IRQ SYNC raises the wired line', () => {
    const { smmu, w } = setup({ s2: false, msi: false });
    smmu.irq.take();
    w.drv.cmdSync([], cmdOf('SYNC', { cs: 1, msiAddress: w.drv.cmdqBase }));
    expect(smmu.irq.take()).toBe(1 << SMMU_IRQ.CMD_SYNC);
    expect(smmu.stats().msiWrites).toBe(0);
    w.drv.submit([cmdOf('TLBI_S2_IPA', { vmid: 1, addr: 0x1000 })]);
    smmu.step();
    expect((w.drv.port.read32(R.CMDQ_CONS) >>> 24) & 0x7f).toBe(CERROR.ILL);
  });

  it('queue geometry: LOG2SIZE above the IDR1 maximum behaves as the maximum; PROD bits above the wrap bit are ignored', () => {
    const { smmu, w } = setup({ cmdqLog2: 4 });
    const d = w.drv;
    d.port.write32(R.CR0, CR0.EVENTQEN | CR0.SMMUEN);
    d.waitReg(R.CR0ACK, (v) => (v & CR0.CMDQEN) === 0);
    const base = w.alloc.alloc(0x1000, 0x1000);
    w.mem.fill(base, 0x1000, 0);
    d.port.write64Pair(R.CMDQ_BASE, base | 31, 0); // LOG2SIZE 31 -> 4 (16 entries)
    d.port.write32(R.CMDQ_PROD, 0);
    d.port.write32(R.CMDQ_CONS, 0);
    d.port.write32(R.CR0, CR0.EVENTQEN | CR0.SMMUEN | CR0.CMDQEN);
    d.waitReg(R.CR0ACK, (v) => (v & CR0.CMDQEN) !== 0);
    // 20 SYNCs: entries 0..15 then wrap to 0..3 (wrap bit = bit 4).
    for (let i = 0; i < 16; i++) w.mem.store64(base + i * 16, 0x46, 0);
    d.port.write32(R.CMDQ_PROD, 0x10 | 0xfff00); // index 0, wrap 1, garbage above the wrap bit
    smmu.step();
    expect(d.port.read32(R.CMDQ_CONS)).toBe(0x10);
    d.port.write32(R.CMDQ_PROD, 0x04);
    smmu.step();
    expect(d.port.read32(R.CMDQ_CONS)).toBe(0x04);
    expect(smmu.stats().commands.byOpcode['SYNC']).toBeGreaterThanOrEqual(20);
  });

  it('an event queue outside memory: GERROR.EVENTQ_ABT_ERR, the event is lost, translation goes on', () => {
    const { smmu, w } = setup();
    const d = w.drv;
    d.port.write32(R.CR0, CR0.CMDQEN | CR0.SMMUEN);
    d.waitReg(R.CR0ACK, (v) => (v & CR0.EVENTQEN) === 0);
    d.port.write64Pair(R.EVENTQ_BASE, 0x0000_0000 | 4, 0x40); // 0x40_0000_0000
    d.port.write32(R.CR0, CR0.CMDQEN | CR0.SMMUEN | CR0.EVENTQEN);
    d.waitReg(R.CR0ACK, (v) => (v & CR0.EVENTQEN) !== 0);
    const dev = new SmmuPortClient(smmu.attachPort());
    expect(d.port.read32(R.GERROR) & GERROR.EVENTQ_ABT_ERR).toBe(0);
    dev.submit([{ tag: 1, sid: 9, iova: 0x1000, length: 4 }]); // V = 0 STE: C_BAD_STE
    smmu.step();
    expect(dev.collect(1, 100)[0]!.faultType).toBe(4);
    expect(d.port.read32(R.GERROR) & GERROR.EVENTQ_ABT_ERR).toBe(GERROR.EVENTQ_ABT_ERR);
    expect(d.port.read32(R.EVENTQ_PROD) & 0xfffff).toBe(0);
    expect(smmu.stats().events.droppedAbort).toBe(1);
  });
});
