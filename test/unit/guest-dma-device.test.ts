// The test DMA device over a port stand-in: splitting into transactions, attributes, the
// pSID on the wire, partial completion on a fault, argument checks.

import { describe, expect, it } from 'vitest';
import { DmaDevice } from '../../src/devices/dma-device.ts';
import { guestRam, RAM_IPA } from '../support/guest-fake-smmu.ts';
import { FakePort } from '../support/guest-fake-port.ts';

function rig(mapped: number) {
  const { ram } = guestRam(1 << 20);
  const faults: number[] = [];
  // IOVA i -> IPA RAM_IPA + i for i < mapped.
  const port = new FakePort((_sid, iova) => (iova < mapped ? RAM_IPA + iova : -1), ram, (_tx, iova) => faults.push(iova));
  return { ram, port, faults, dev: new DmaDevice(port, 0x77, { maxTransaction: 4096 }) };
}

describe('DMA device', () => {
  it('splits a transfer into transactions carrying the pSID and the attributes', () => {
    const { port, dev, ram } = rig(0x10000);
    const data = Uint8Array.from({ length: 10000 }, (_, i) => i & 0xff);
    const r = dev.write(0x100, data, { ssid: 3, priv: true, instr: false });
    expect(r).toEqual({ status: 'ok', bytes: 10000 });
    expect(port.seen.map((t) => [t.sid, Number(t.iova), t.length, t.write, t.ssid, t.priv])).toEqual([
      [0x77, 0x100, 4096, true, 3, true],
      [0x77, 0x1100, 4096, true, 3, true],
      [0x77, 0x2100, 1808, true, 3, true],
    ]);
    expect(ram.readBytes(RAM_IPA + 0x100, 10000)).toEqual(data);
    const back = dev.read(0x100, 10000, { instr: true });
    expect(back.data).toEqual(data);
    expect(port.seen.at(-1)?.instr).toBe(true);
    expect(dev.stats).toMatchObject({ transfers: 2, transactions: 6, bytes: 20000, faults: 0 });
  });

  it('stops at the first faulting transaction and reports the bytes moved before it', () => {
    const { dev, faults } = rig(0x2000);
    const r = dev.write(0, new Uint8Array(3 * 4096).fill(9));
    expect(r).toMatchObject({ status: 'fault', bytes: 0x2000, fault: { name: 'F_TRANSLATION', iova: 0x2000, s2: 0, recorded: true } });
    expect(faults).toEqual([0x2000]);
    const rd = dev.read(0x1000, 0x2000);
    expect(rd.status).toBe('fault');
    expect(rd.data?.length).toBe(0x1000);
    expect(dev.stats.faults).toBe(2);
  });

  it('refuses malformed requests with EVSMMU_INVAL', () => {
    const { dev } = rig(0x1000);
    expect(() => dev.read(-1, 4)).toThrow(expect.objectContaining({ code: 'EVSMMU_INVAL' }) as unknown as Error);
    expect(() => dev.read(0, 0)).toThrow(expect.objectContaining({ code: 'EVSMMU_INVAL' }) as unknown as Error);
    expect(() => dev.read(0, 4, { ssid: 1 << 20 })).toThrow(expect.objectContaining({ code: 'EVSMMU_INVAL' }) as unknown as Error);
  });
  it('a stream keeps the slots that hold its write source for the next stream, and only while they do', () => {
    const { port, dev, ram } = rig(0x10000);
    const src = new Uint8Array(64).fill(0xa1);
    const writes = (n: number): void => {
      expect(dev.stream({ count: n, size: 64, depth: 2, iovaOf: (i) => i * 64, writeOf: () => true, src })).toMatchObject({ ok: n });
    };
    writes(2);
    expect(ram.readBytes(RAM_IPA, 128)).toEqual(new Uint8Array(128).fill(0xa1));
    // Throughput mode: slot 0 still holds src, so the next stream sends it as it is (the
    // junk shows that the slot was not filled again; nothing but the device writes it).
    port.data.fill(0x5a, 0, 64);
    writes(1);
    expect(ram.readBytes(RAM_IPA, 64)).toEqual(new Uint8Array(64).fill(0x5a));
    // New bytes in the same array: filled again.
    src.fill(0xb2);
    writes(2);
    expect(ram.readBytes(RAM_IPA, 128)).toEqual(new Uint8Array(128).fill(0xb2));
    // Any other transfer through the buffer (here a read into slot 0) forgets the slots.
    expect(dev.read(0x4000, 64).status).toBe('ok');
    writes(1);
    expect(ram.readBytes(RAM_IPA, 64)).toEqual(new Uint8Array(64).fill(0xb2));
  });
});
