// Event merging (spec 7.3.1): with STE.MEV = 1 a record identical to the last one written
// (InputAddr[11:0] aside for translation faults), which software has not consumed yet, is
// merged into it; with MEV = 0 every record is written. Records raised before an STE is
// located (C_BAD_STREAMID, F_STE_FETCH, C_BAD_STE) may always be merged.
import { describe, expect, it } from 'vitest';
import { EVT } from '../../src/arch/events.ts';
import { smmuPort } from '../support/smmu-port.ts';
import { cdSlot, RW, s1Cd, s1Ste, s1Table } from '../support/smmu-world.ts';

function setup() {
  const { smmu, w, run } = smmuPort();
  w.drv.reset();
  const pt = s1Table(w);
  pt.map(0x10_0000, 0x50_0000, 0x1000, RW);
  const cd = cdSlot(w);
  w.drv.writeCd(cd, s1Cd(pt, 1));
  return { smmu, w, run, cd };
}

describe('7.3.1 event record merging', () => {
  it('MEV = 1: identical unconsumed F_TRANSLATION records merge (page offset ignored); a consumed one does not', () => {
    const { smmu, w, run, cd } = setup();
    w.drv.writeSte(1, s1Ste(cd, { mev: 1 }));
    for (let i = 0; i < 10; i++) expect(run({ sid: 1, iova: 0x20_0000 + i * 8, length: 4 }).faultType).toBe(EVT.F_TRANSLATION);
    run({ sid: 1, iova: 0x20_1000, length: 4 }); // another page: a new record
    expect(w.drv.readEvents().map((e) => e.inputLo)).toEqual([0x20_0000, 0x20_1000]);
    expect(smmu.stats().events.merged).toBe(9);
    run({ sid: 1, iova: 0x20_1000, length: 4 }); // the identical record was consumed: written again
    expect(w.drv.readEvents().map((e) => e.inputLo)).toEqual([0x20_1000]);
  });

  it('MEV = 0: every record is written', () => {
    const { smmu, w, run, cd } = setup();
    w.drv.writeSte(1, s1Ste(cd, { mev: 0 }));
    for (let i = 0; i < 5; i++) run({ sid: 1, iova: 0x20_0000, length: 4 });
    expect(w.drv.readEvents()).toHaveLength(5);
    expect(smmu.stats().events.merged).toBe(0);
  });

  it('C_BAD_STE (no STE located) merges whatever MEV would say; other StreamIDs do not', () => {
    const { smmu, w, run } = setup();
    for (let i = 0; i < 4; i++) run({ sid: 7, iova: 0x1000 * i, length: 4 });
    run({ sid: 8, iova: 0, length: 4 });
    expect(w.drv.readEvents().map((e) => [e.type, e.sid])).toEqual([[EVT.C_BAD_STE, 7], [EVT.C_BAD_STE, 8]]);
    expect(smmu.stats().events.merged).toBe(3);
  });
});
