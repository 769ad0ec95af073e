// Every structure Xen gives the physical SMMU is aligned to its size, whatever the SMMU's
// options: the SMMU treats the low bits of each base as zero (FACTS §1.15, §1.16), so a
// misaligned queue would have the SMMU write event records over a neighbour (Xen's own
// command queue, in the layout where this was found).
import { describe, expect, it } from 'vitest';
import { EVT, decodeEvent } from '../../src/arch/events.ts';
import { SmmuPortClient } from '../../src/runtime/port-client.ts';
import { assertAligned, SmmuDriver } from '../../src/xen/smmu-driver.ts';
import { smmuRig } from '../support/xen-rig.ts';

interface Combo {
  sidBits: number;
  stLevel2: boolean;
  physCmdq: number;
  physEvtq: number;
  wantCmdq: number;
  wantEvtq: number;
}

function combos(): Combo[] {
  const out: Combo[] = [];
  for (const sidBits of [1, 4, 6, 7, 8, 9, 12, 16]) {
    for (const stLevel2 of [true, false]) {
      if (!stLevel2 && sidBits >= 7) continue; // the architecture needs 2 levels from 7 bits
      for (const [physCmdq, physEvtq] of [[8, 8], [10, 10], [5, 12]] as const) {
        for (const [wantCmdq, wantEvtq] of [[8, 8], [4, 10], [12, 6]] as const) {
          out.push({ sidBits, stLevel2, physCmdq, physEvtq, wantCmdq, wantEvtq });
        }
      }
    }
  }
  return out;
}

describe('Xen driver: structures aligned to their size', () => {
  it('assertAligned accepts aligned bases and rejects misaligned ones', () => {
    expect(() => assertAligned('event queue', 0x10_2000, 0x2000)).not.toThrow();
    expect(() => assertAligned('event queue', 0x10_1000, 0x2000)).toThrow(/not aligned/);
    expect(() => assertAligned('L1 stream table', 0x40, 16)).not.toThrow(); // 64-byte minimum
  });

  it.each(combos())('sidBits=$sidBits stLevel2=$stLevel2 queues phys $physCmdq/$physEvtq want $wantCmdq/$wantEvtq: every base aligned, events reach Xen, commands never corrupted', (c) => {
    const rig = smmuRig({ sidBits: c.sidBits, stLevel2: c.stLevel2, cmdqLog2: c.physCmdq, evtqLog2: c.physEvtq });
    // An odd page first, so that a 4 KiB-aligned allocation would not be size-aligned by luck.
    rig.alloc.alloc(4096);
    const drv = new SmmuDriver({ mmio: rig.mmio, mem: rig.mem, alloc: rig.alloc, cmdqLog2: c.wantCmdq, evtqLog2: c.wantEvtq });
    drv.probe();
    drv.reset();
    const sid = 2 ** c.sidBits - 1;
    drv.addStream(sid, 1, 1); // an L2 table too, when 2-level
    const whats = drv.layout.map((s) => s.what);
    expect(whats).toContain('command queue');
    expect(whats).toContain('event queue');
    for (const s of drv.layout) expect(s.pa % Math.max(64, s.bytes), `${s.what} at 0x${s.pa.toString(16)}`).toBe(0);

    // The stream is abort; an unassigned StreamID records an event (C_BAD_STE or, 2-level
    // with no L2 table, C_BAD_STREAMID). Many of them, to wrap the event queue.
    const other = sid === 0 ? -1 : 0;
    if (other < 0) return;
    const port = new SmmuPortClient(rig.smmu.attachPort({ sid: other }));
    const n = 3 * 2 ** Math.min(c.wantEvtq, c.physEvtq) + 5;
    let seen = 0;
    for (let i = 0; i < n; i++) {
      port.submit([{ tag: i, sid: other, iova: 0x1000, length: 4 }]);
      rig.smmu.step();
      port.collect(1);
      seen += drv.drainEvents((w) => {
        const e = decodeEvent(w);
        expect([EVT.C_BAD_STE, EVT.C_BAD_STREAMID]).toContain(e.type);
        expect(e.sid).toBe(other);
      });
      // Xen's command queue still works and never sees an error.
      drv.waitSync(drv.sync());
    }
    expect(seen).toBe(n);
    expect(drv.stats.cmdErrors).toBe(0);
    expect(rig.smmu.stats().commands.errors).toEqual({ ill: 0, abt: 0 });
  });
});
