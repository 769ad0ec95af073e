// Trap channel on one thread: the async vCPU side against TrapServer.poll.
import { describe, expect, it } from 'vitest';
import { TRAP_ABORT, TRAP_OK, TrapServer, TrapVcpu, createTrapChannel, createTrapServer } from '../../src/runtime/trap.ts';
import type { TrapRequest, TrapStatus } from '../../src/runtime/trap.ts';

// Channel word indices, as documented in trap.ts.
const REQ_SEQ = 0;
const RESP_SEQ = 16;
const STATUS = 17;
const RVAL_LO = 18;
const VCPU_PARK = 32;

function setup() {
  const sd = createTrapServer();
  const server = new TrapServer(sd);
  const a = createTrapChannel(sd);
  const b = createTrapChannel(sd);
  const slotA = server.attach(a);
  const slotB = server.attach(b);
  return { sd, server, a, b, slotA, slotB, va: new TrapVcpu(a), vb: new TrapVcpu(b) };
}

describe('trap channel', () => {
  it('carries address, size, read/write and 64-bit values as lo/hi; answers each channel', async () => {
    const { server, va, vb, slotA, slotB } = setup();
    const seen: string[] = [];
    const handler = (r: TrapRequest): TrapStatus => {
      seen.push(`${r.channel}:${r.write ? 'W' : 'R'}${r.size}@${r.addrHi.toString(16)}_${r.addrLo.toString(16)}=${r.valueHi.toString(16)}_${r.valueLo.toString(16)}`);
      if (!r.write) {
        r.valueLo = 0xdeadbeef;
        r.valueHi = r.size === 8 ? 0xcafef00d : 0;
      }
      return TRAP_OK;
    };
    const pa = va.accessAsync(true, 8, 0x9000_0010, 0x1, 0x89abcdef, 0x01234567);
    const pb = vb.accessAsync(false, 8, 0x20, 0, 0, 0);
    expect(server.poll(handler)).toBe(2);
    expect(await pa).toBe(TRAP_OK);
    expect(await pb).toBe(TRAP_OK);
    expect([vb.valueLo, vb.valueHi]).toEqual([0xdeadbeef, 0xcafef00d]);
    expect(seen).toEqual([`${slotA}:W8@1_90000010=1234567_89abcdef`, `${slotB}:R8@0_20=0_0`]);
    expect(server.poll(handler)).toBe(0);
  });

  it('reports aborts, and an abort when the handler throws (the vCPU never hangs)', async () => {
    const { server, va } = setup();
    const p1 = va.accessAsync(false, 4, 0x100, 0, 0, 0);
    server.poll(() => TRAP_ABORT);
    expect(await p1).toBe(TRAP_ABORT);
    const p2 = va.accessAsync(false, 4, 0x100, 0, 0, 0);
    expect(() => server.poll(() => { throw new Error('handler bug'); })).toThrow('handler bug');
    expect(await p2).toBe(TRAP_ABORT);
  });

  it('never takes a stale answer for the current request', async () => {
    const { a, server, va } = setup();
    const h = new Int32Array(a.sab);
    let done = false;
    const p = va.accessAsync(false, 4, 0x40, 0, 0, 0, 5_000).then((s) => ((done = true), s));
    const seq = Atomics.load(h, REQ_SEQ);
    // A forged answer carrying another sequence number (e.g. left from an earlier request).
    h[STATUS] = TRAP_OK;
    h[RVAL_LO] = 0x5ca1e;
    Atomics.store(h, RESP_SEQ, (seq + 5) | 0);
    Atomics.store(h, VCPU_PARK, 0);
    Atomics.notify(h, VCPU_PARK);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    server.poll((r) => ((r.valueLo = 0x600d), TRAP_OK));
    expect(await p).toBe(TRAP_OK);
    expect(va.valueLo).toBe(0x600d);
  });

  it('attach checks the server by id, not by SAB object identity', () => {
    const { sd, server } = setup();
    const ch = createTrapChannel(sd);
    const cloned = structuredClone(ch); // as a channel arriving in a later message
    expect(cloned.server).not.toBe(sd.sab);
    expect(() => server.attach(cloned)).not.toThrow();
    const other = createTrapChannel(createTrapServer());
    expect(() => server.attach(other)).toThrow(expect.objectContaining({ code: 'EVSMMU_TRAP_CONFIG' }));
  });

  it('refuses sizes other than 1, 2, 4, 8', async () => {
    const { va } = setup();
    await expect(va.accessAsync(false, 3, 0, 0, 0, 0)).rejects.toMatchObject({ code: 'EVSMMU_TRAP_SIZE' });
  });

  it('server close wakes a waiting vCPU with EVSMMU_TRAP_CLOSED; serve returns -1', async () => {
    const { server, va } = setup();
    const p = va.accessAsync(false, 4, 0, 0, 0, 0);
    server.close();
    await expect(p).rejects.toMatchObject({ code: 'EVSMMU_TRAP_CLOSED' });
    expect(server.serve(() => TRAP_OK, 1_000)).toBe(-1);
  });

  it('a timeout retires the channel; the server then skips it', async () => {
    const { server, va, vb } = setup();
    await expect(va.accessAsync(false, 4, 0x8, 0, 0, 0, 20)).rejects.toMatchObject({ code: 'EVSMMU_TRAP_TIMEOUT' });
    await expect(va.accessAsync(false, 4, 0x8, 0, 0, 0)).rejects.toMatchObject({ code: 'EVSMMU_TRAP_CLOSED' });
    const pb = vb.accessAsync(false, 4, 0xc, 0, 0, 0);
    const served: number[] = [];
    expect(server.poll((r) => (served.push(r.addrLo), TRAP_OK))).toBe(1);
    expect(served).toEqual([0xc]);
    expect(await pb).toBe(TRAP_OK);
  });

  it('serve times out with 0 when nothing is posted', () => {
    const { server } = setup();
    expect(server.serve(() => TRAP_OK, 10)).toBe(0);
  });
});
