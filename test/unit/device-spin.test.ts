// The device-wait spin policy of a guest's thread (workers/guest-host.ts DeviceSpin): spin
// while spins catch their completion, park at once after a run of failures, probe again.
import { describe, expect, it } from 'vitest';
import { DeviceSpin } from '../../workers/guest-host.ts';

describe('DeviceSpin', () => {
  it('keeps spinning while spins catch their completion', () => {
    const d = new DeviceSpin();
    for (let i = 0; i < 100; i++) {
      expect(d.worth()).toBe(true);
      d.record(true);
    }
  });

  it('after a run of failures parks at once, but still probes one wait in PROBE_EVERY', () => {
    const d = new DeviceSpin();
    while (d.worth()) d.record(false);
    let probes = 0;
    const waits = DeviceSpin.PROBE_EVERY * 10;
    for (let i = 0; i < waits; i++) {
      if (d.worth()) {
        probes++;
        d.record(false);
      }
    }
    expect(probes).toBe(10);
  });

  it('caught probes bring the spin back', () => {
    const d = new DeviceSpin();
    for (let i = 0; i < 40; i++) if (d.worth()) d.record(false);
    // Every probe catches now: each raises the score twice as much as a failure lowered it.
    let waits = 0;
    let inARow = 0;
    while (inARow < DeviceSpin.PROBE_EVERY && waits < 1000) {
      waits++;
      if (d.worth()) {
        d.record(true);
        inARow++;
      } else inARow = 0;
    }
    expect(inARow).toBe(DeviceSpin.PROBE_EVERY);
    expect(waits).toBeLessThanOrEqual((DeviceSpin.SCORE_MAX / 2 + 2) * DeviceSpin.PROBE_EVERY);
  });
});
