// Records as the SMMU writes them into its event queue, word by word: the fields each type
// defines and nothing else (IHI 0070 §7.3).
import { describe, expect, it } from 'vitest';
import { EVT } from '../../src/arch/events.ts';
import { smmuPort } from '../support/smmu-port.ts';
import { cdSlot, RW, s1Cd, s1Ste, s1Table } from '../support/smmu-world.ts';

function setup() {
  const { mem, w, run } = smmuPort();
  w.drv.reset();
  /** The raw words of the one record the last transaction wrote. */
  const raw = (): number[] => {
    const evs = w.drv.readEvents();
    expect(evs).toHaveLength(1);
    const prod = w.drv.port.read32(0x100a8) & 0xfffff;
    const at = w.drv.evtqBase + ((prod - 1) & ((1 << w.drv.evtqLog2) - 1)) * 32;
    return Array.from({ length: 8 }, (_, i) => mem.read32(at + 4 * i));
  };
  return { w, run, raw };
}

describe('event records written by the SMMU, word by word', () => {
  it('7.3.7 F_STREAM_DISABLED: type and StreamID only', () => {
    const { w, run, raw } = setup();
    const pt = s1Table(w);
    pt.map(0x7000, 0x41_0000, 0x1000, RW);
    const table = cdSlot(w, 4);
    w.drv.writeCd(table + 2 * 64, s1Cd(pt, 22));
    w.drv.writeSte(2, s1Ste(table, { s1cdmax: 2, s1dss: 0 }));
    run({ sid: 2, iova: 0x7abc, length: 4, write: true, priv: true });
    expect(raw()).toEqual([EVT.F_STREAM_DISABLED, 2, 0, 0, 0, 0, 0, 0]);
  });

  it('7.3.9 C_BAD_SUBSTREAMID: StreamID and SubstreamID, no SSV, nothing else', () => {
    const { w, run, raw } = setup();
    const cd = cdSlot(w);
    w.drv.writeCd(cd, s1Cd(s1Table(w), 1));
    w.drv.writeSte(1, s1Ste(cd));
    run({ sid: 1, iova: 0x1234_5678, length: 4, ssid: 5, priv: true });
    expect(raw()).toEqual([(5 << 12) | EVT.C_BAD_SUBSTREAMID, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('7.3.11 C_BAD_CD: StreamID, SSV and SubstreamID only', () => {
    const { w, run, raw } = setup();
    const table = cdSlot(w, 4); // zeroed CDs: V = 0
    w.drv.writeSte(3, s1Ste(table, { s1cdmax: 2, s1dss: 0 }));
    run({ sid: 3, iova: 0x1234_5678, length: 4, ssid: 1, write: true });
    expect(raw()).toEqual([(1 << 12) | (1 << 11) | EVT.C_BAD_CD, 3, 0, 0, 0, 0, 0, 0]);
  });

  it('7.3.5 C_BAD_STE and 7.3.3 C_BAD_STREAMID: StreamID (and SubstreamID) only', () => {
    const { run, raw, w } = setup();
    run({ sid: 9, iova: 0x9999_9000, length: 4, instr: true });
    expect(raw()).toEqual([EVT.C_BAD_STE, 9, 0, 0, 0, 0, 0, 0]);
    w.drv.reset({ sidBits: 8 });
    run({ sid: 300, iova: 0x9999_9000, length: 4, ssid: 3 });
    expect(raw()).toEqual([(3 << 12) | (1 << 11) | EVT.C_BAD_STREAMID, 300, 0, 0, 0, 0, 0, 0]);
  });
});
