// Property: whatever the interleaving of event production (with overflows) and interrupt
// handling, the driver takes exactly the records the SMMU kept, in order, counts an
// overflow whenever records were lost, and leaves OVACKFLG = OVFLG after each drain.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVT } from '../../src/arch/events.ts';
import { R } from '../../src/arch/registers.ts';
import { SmmuV3Driver } from '../../src/guest/driver.ts';
import { FakeSmmu, guestRam } from '../support/guest-fake-smmu.ts';

describe('event queue draining (property)', () => {
  it('takes every kept record once, in order, across wraps and overflows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constant(0)), { minLength: 1, maxLength: 30 }),
        (log2, ops) => {
          const { ram, alloc } = guestRam(4 * 1024 * 1024);
          const fake = new FakeSmmu(ram, { features: { sidBits: 8 } });
          const drv = new SmmuV3Driver(fake, ram, alloc, { evtqMaxLog2: log2, cmdqMaxLog2: 7 });
          drv.probe();
          const kept: number[] = [];
          let lost = false;
          let next = 1;
          for (const op of ops) {
            if (op === 0) {
              drv.handleIrq();
              const prod = fake.get(R.EVENTQ_PROD);
              const cons = fake.get(R.EVENTQ_CONS);
              expect((prod ^ cons) >>> 31).toBe(0); // overflow acknowledged
              expect((prod ^ cons) & ((2 << log2) - 1)).toBe(0); // queue empty
              continue;
            }
            for (let k = 0; k < op; k++) {
              const sid = next++;
              if (fake.pushEvent({ type: EVT.F_TRANSLATION, sid, inputLo: sid * 0x1000 })) kept.push(sid);
              else lost = true;
            }
          }
          drv.handleIrq();
          expect(drv.faults().map((f) => f.sid)).toEqual(kept);
          expect(drv.faults().every((f) => f.iova === f.sid * 0x1000)).toBe(true);
          expect(drv.stats().evtq.overflows > 0).toBe(lost);
        },
      ),
      { numRuns: 60 },
    );
  });
});
