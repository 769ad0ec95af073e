// A hostile guest, through the public API only: it programs its vSMMU by hand with
// encodings written from the spec (the way an external test or a rogue kernel would) and
// tries to reach beyond its own memory. Xen must answer architecturally and keep every
// other guest, and the host, untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmdOf, encodeCommand, type Command } from '../../src/arch/commands.ts';
import { decodeEvent, EVT } from '../../src/arch/events.ts';
import { R } from '../../src/arch/registers.ts';
import { encodeSte, STE_CFG, steOf } from '../../src/arch/ste.ts';
import { createSystem, type Domain, type System } from '../../src/index.ts';

const V = 0x0404_0000; // the vSMMU (DESIGN.md §4)
const RAM = 0x4000_0000;
const STRTAB = RAM; // linear, 2^6 STEs
const CMDQ = RAM + 0x1_0000; // 2^6 entries
const EVTQ = RAM + 0x2_0000; // 2^6 entries
const CR0_SMMUEN = 1;
const CR0_EVENTQEN = 4;
const CR0_CMDQEN = 8;
const GERROR_CMDQ_ERR = 1;
const GERROR_MSI_CMDQ_ABT = 1 << 4;

/** Polls `done` (a guest reading its vSMMU) until it holds or 5 s passed: a handshake, not a sleep. */
async function until(done: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!(await done()) && performance.now() < deadline);
}

/** A guest driving its vSMMU register by register, as the architecture describes. */
class RawDriver {
  prod = 0;
  evCons = 0;
  readonly d: Domain;
  constructor(d: Domain) {
    this.d = d;
  }

  async enable(): Promise<void> {
    const m = this.d.mmio;
    await m.write64(V + R.STRTAB_BASE, BigInt(STRTAB));
    await m.write32(V + R.STRTAB_BASE_CFG, 6); // LOG2SIZE 6, linear
    await m.write64(V + R.CMDQ_BASE, BigInt(CMDQ | 6));
    await m.write32(V + R.CMDQ_PROD, 0);
    await m.write32(V + R.CMDQ_CONS, 0);
    await m.write64(V + R.EVENTQ_BASE, BigInt(EVTQ | 6));
    await m.write32(V + R.EVENTQ_PROD, 0);
    await m.write32(V + R.EVENTQ_CONS, 0);
    const want = CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN;
    await m.write32(V + R.CR0, want);
    await until(async () => (await m.read32(V + R.CR0ACK)) === want);
    expect(await m.read32(V + R.CR0ACK)).toBe(want);
  }

  /** Writes commands at PROD, rings the doorbell, waits until CONS catches up or an error. */
  async submit(...cmds: Command[]): Promise<{ cons: number; gerror: number }> {
    const w = new Uint32Array(4);
    for (const c of cmds) {
      encodeCommand(c, w);
      for (let i = 0; i < 4; i++) this.d.memory.write32(CMDQ + (this.prod & 63) * 16 + i * 4, w[i]!);
      this.prod = (this.prod + 1) & 127;
    }
    await this.d.mmio.write32(V + R.CMDQ_PROD, this.prod);
    let state = { cons: 0, gerror: 0 };
    await until(async () => {
      state = { cons: await this.d.mmio.read32(V + R.CMDQ_CONS), gerror: await this.d.mmio.read32(V + R.GERROR) };
      return (state.cons & 127) === this.prod || (state.gerror ^ (await this.d.mmio.read32(V + R.GERRORN))) !== 0;
    });
    return state;
  }

  writeSte(vsid: number, ste: Parameters<typeof steOf>[0]): void {
    const w = new Uint32Array(16);
    encodeSte(steOf(ste), w);
    for (let i = 0; i < 16; i++) this.d.memory.write32(STRTAB + vsid * 64 + i * 4, w[i]!);
  }

  /** Event records the vSMMU wrote since the last call. */
  async events(): Promise<ReturnType<typeof decodeEvent>[]> {
    const prod = (await this.d.mmio.read32(V + R.EVENTQ_PROD)) & 127;
    const out = [];
    while (this.evCons !== prod) {
      const at = EVTQ + (this.evCons & 63) * 32;
      out.push(decodeEvent(Array.from({ length: 8 }, (_, i) => this.d.memory.read32(at + i * 4))));
      this.evCons = (this.evCons + 1) & 127;
    }
    await this.d.mmio.write32(V + R.EVENTQ_CONS, this.evCons);
    return out;
  }
}

// The same program on worker threads and in sim mode (one thread, a seeded scheduler).
describe.each([['threads', {}], ['sim', { sim: { seed: 11 } }]] as const)('a hostile guest (%s)', (_mode, extra) => {
  let sys: System;
  let evil: RawDriver;
  let victim: Domain;

  beforeAll(async () => {
    sys = await createSystem({
      ...extra,
      memory: '128M',
      domains: [
        { name: 'evil', memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x21 }] },
        { name: 'victim', memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x22 }] },
      ],
    });
    evil = new RawDriver(sys.domain('evil'));
    victim = sys.domain('victim');
    victim.memory.write(RAM + 0x10_0000, new Uint8Array(4096).fill(0x77));
    await evil.enable();
  });

  afterAll(async () => {
    await sys?.close();
  });

  it('CMD_SYNC with an MSI aimed at another guest\'s memory: written nowhere, GERROR.MSI_CMDQ_ABT_ERR', async () => {
    const target = victim.ipaToPa(RAM + 0x10_0000); // a host PA the evil guest uses as its IPA
    const r = await evil.submit(cmdOf('SYNC', { cs: 1, msiAddress: target, msiData: 0xdeadbeef }));
    expect(r.gerror & GERROR_MSI_CMDQ_ABT).toBe(GERROR_MSI_CMDQ_ABT);
    expect(victim.memory.read(RAM + 0x10_0000, 4096)).toEqual(new Uint8Array(4096).fill(0x77));
    expect(sys.host.read(target, 4)).toEqual(new Uint8Array(4).fill(0x77));
    await evil.d.mmio.write32(V + R.GERRORN, r.gerror); // acknowledge
  });

  it('an illegal command stops the queue at that command with CERROR_ILL until acknowledged', async () => {
    const r = await evil.submit(cmdOf('TLBI_S12_VMALL', { vmid: 1 })); // stage 2 is Xen's
    expect(r.gerror & GERROR_CMDQ_ERR).toBe(GERROR_CMDQ_ERR);
    expect((r.cons >>> 24) & 0x7f).toBe(1); // CONS.ERR = CERROR_ILL
    expect(r.cons & 127).toBe((evil.prod - 1) & 127); // CONS points at the bad command
    // Linux's recovery: replace it with a CMD_SYNC, acknowledge, and the queue runs on.
    const w = new Uint32Array(4);
    encodeCommand(cmdOf('SYNC', { cs: 0 }), w);
    for (let i = 0; i < 4; i++) evil.d.memory.write32(CMDQ + ((evil.prod - 1) & 63) * 16 + i * 4, w[i]!);
    await evil.d.mmio.write32(V + R.GERRORN, r.gerror);
    await until(async () => ((await evil.d.mmio.read32(V + R.CMDQ_CONS)) & 127) === evil.prod);
    expect((await evil.d.mmio.read32(V + R.CMDQ_CONS)) & 127).toBe(evil.prod);
  });

  it('a bypass STE becomes stage-2 only: the device reaches the guest\'s RAM and nothing else', async () => {
    const dev = evil.d.device('dma0');
    evil.writeSte(dev.vsid, { v: 1, config: STE_CFG.BYPASS });
    await evil.submit(cmdOf('CFGI_STE', { sid: dev.vsid, leaf: 1 }), cmdOf('SYNC', { cs: 0 }));
    evil.d.memory.write(RAM + 0x30_0000, [1, 2, 3, 4]);
    expect(await dev.dma({ iova: RAM + 0x30_0000, length: 4 })).toEqual({ ok: true, bytes: 4, data: new Uint8Array([1, 2, 3, 4]) });
    const theft = await dev.dma({ iova: victim.ipaToPa(RAM + 0x10_0000), length: 4 });
    expect(theft.ok).toBe(false);
    if (!theft.ok) expect(theft.fault).toMatchObject({ s2: 1 });
    const spray = await dev.dma({ iova: victim.ipaToPa(RAM + 0x10_0000), data: new Uint8Array(64) });
    expect(spray.ok).toBe(false);
    expect(victim.memory.read(RAM + 0x10_0000, 64)).toEqual(new Uint8Array(64).fill(0x77));
  });

  it('an STE asking for stage 2 or carrying Xen-owned fields gets C_BAD_STE; its DMA is aborted', async () => {
    const dev = evil.d.device('dma0');
    await evil.events();
    evil.writeSte(dev.vsid, { v: 1, config: STE_CFG.NESTED, s2vmid: 1, s2ttb: victim.ipaToPa(RAM) });
    await evil.submit(cmdOf('CFGI_STE', { sid: dev.vsid, leaf: 1 }), cmdOf('SYNC', { cs: 0 }));
    const r = await dev.dma({ iova: RAM + 0x30_0000, length: 4 });
    expect(r.ok).toBe(false);
    let evs: ReturnType<typeof decodeEvent>[] = [];
    await until(async () => (evs = await evil.events()).length > 0);
    // Once: recorded by the transaction, not also by the CFGI_STE (reliability.md D4).
    expect(evs.filter((e) => e.sid === dev.vsid).map((e) => e.type)).toEqual([EVT.C_BAD_STE]);
    const st = await sys.stats();
    expect(st.xen.xenBugs).toBe(0);
    expect(victim.memory.read(RAM + 0x10_0000, 64)).toEqual(new Uint8Array(64).fill(0x77));
  });
});
