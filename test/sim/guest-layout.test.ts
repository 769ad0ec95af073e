// Found by vsmmu fuzz (issue 15): the guest kernel took "the first bank" to be the p2m's
// first range, which Xen gives in 2 MiB pieces, so its stream table and queues landed at
// IPA 0x4010_0000, in the lower half of RAM that docs/api.md leaves to the caller, and a
// caller's buffer there was overwritten by the driver's commands. The kernel's structures
// must be in the upper half of the bank, however the p2m splits it.
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/index.ts';
import { R } from '../../src/arch/registers.ts';

const VSMMU = 0x0404_0000;
const RAM = 0x4000_0000;

describe('the guest kernel leaves the lower half of its RAM to the caller', () => {
  it.each([['16M', 16], ['32M', 32]] as const)('a %s guest puts its stream table and queues in the upper half', async (memory, mib) => {
    await using sys = await createSystem({ sim: { seed: 1 }, memory: '128M', domains: [{ name: 'g', memory, viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }] }] });
    const d = sys.domain('g');
    const st = await sys.stats();
    expect(st.xenDomains[0]?.ram.length).toBeGreaterThan(1); // the p2m holds the bank in pieces
    await d.driver.probe();
    const half = RAM + (mib * 1024 * 1024) / 2;
    for (const reg of [R.STRTAB_BASE, R.CMDQ_BASE, R.EVENTQ_BASE]) {
      const base = Number((await d.mmio.read64(VSMMU + reg)) & 0x000f_ffff_ffff_ffc0n);
      expect(base, `register 0x${reg.toString(16)}`).toBeGreaterThanOrEqual(half);
      expect(base).toBeLessThan(RAM + mib * 1024 * 1024);
    }
    // A caller's page in the lower half survives the driver's work.
    d.memory.write(RAM + 0x10_4000, new Uint8Array(4096).fill(0x5a));
    await d.driver.attach('dma0', { asid: 1 });
    await d.driver.map(0x1000_0000, RAM + 0x20_0000, 4096);
    await d.driver.unmap(0x1000_0000, 4096);
    expect(d.memory.read(RAM + 0x10_4000, 4096)).toEqual(new Uint8Array(4096).fill(0x5a));
  });
});
