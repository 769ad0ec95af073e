// Hostile guest, property-based: whatever the guest keeps in its RAM (stream table, CDs,
// stage-1 tables) and whatever Xen's copy of its STE says, the record Xen derives for a
// physical event of the guest's device never throws, carries the guest's vSID, is never a
// stage-2 record, is of a type a stage-1-only SMMU reports, and re-encodes bit-exactly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEvent, CLASS, decodeEvent, encodeEvent, eventOf, EVT, EVT_WORDS } from '../../src/arch/events.ts';
import { DEFAULT_FEATURES } from '../../src/arch/features.ts';
import { Walker, WalkResult } from '../../src/arch/walk.ts';
import { guestEventOf } from '../../src/xen/vsmmuv3-events.ts';
import { guestFeatures } from '../../src/xen/vsmmuv3-regs.ts';
import type { GuestSteConfig } from '../../src/xen/vsmmuv3-ste.ts';
import { FakeRam } from '../support/xen-fakes.ts';

const RAM_BASE = 0x4000_0000;
const RAM_SIZE = 1 << 20;
const GUEST_TYPES = new Set<number>([
  EVT.C_BAD_STREAMID, EVT.F_STE_FETCH, EVT.C_BAD_STE, EVT.F_STREAM_DISABLED, EVT.C_BAD_SUBSTREAMID,
  EVT.F_CD_FETCH, EVT.C_BAD_CD, EVT.F_WALK_EABT, EVT.F_TRANSLATION, EVT.F_ADDR_SIZE, EVT.F_ACCESS, EVT.F_PERMISSION,
]);

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** An IPA that is guest RAM most of the time, else anywhere in 40 bits. */
const ipa = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: RAM_SIZE / 8 - 1 }).map((i) => RAM_BASE + i * 8) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 40 - 8 }).map((v) => v - (v % 8)) },
);

describe('guest records for physical events (hostile guest memory)', () => {
  it('are stage-1 records of the vSID, of stage-1 types, bit-exact; never a throw', () => {
    const gf = guestFeatures(DEFAULT_FEATURES, { ipaBits: 40 });
    const walker = new Walker({ oas: 40 });
    const res = new WalkResult();
    const arb = fc.record({
      // Guest RAM: a few words planted at random places, pointers among them.
      plants: fc.array(fc.record({ at: ipa, lo: fc.oneof(u32, ipa.map((v) => (v % 2 ** 32) | 3)), hi: fc.oneof(u32, fc.constant(0)) }), { maxLength: 40 }),
      kind: fc.constantFrom<GuestSteConfig['kind']>('nested', 'nested', 'invalid', 'abort', 's2'),
      ste: fc.array(u32, { minLength: 16, maxLength: 16 }),
      ctxPtr: ipa,
      lookup: fc.option(fc.record({ event: fc.constantFrom(EVT.C_BAD_STREAMID, EVT.F_STE_FETCH), fetchAddr: ipa }), { nil: undefined }),
      recInvSid: fc.boolean(),
      phys: fc.record({
        type: fc.oneof(fc.constantFrom(...Object.values(EVT)), fc.integer({ min: 0, max: 255 })),
        sid: u32, ssv: fc.integer({ min: 0, max: 1 }), ssid: fc.integer({ min: 0, max: 0xfffff }),
        pnu: fc.integer({ min: 0, max: 1 }), ind: fc.integer({ min: 0, max: 1 }), rnw: fc.integer({ min: 0, max: 1 }),
        s2: fc.integer({ min: 0, max: 1 }), cls: fc.constantFrom(CLASS.CD, CLASS.TT, CLASS.IN, 3),
        inputLo: u32, inputHi: u32, ipa: ipa.map((v) => v - (v % 4096)), fetchAddr: ipa,
      }),
    });
    fc.assert(fc.property(arb, (x) => {
      const ram = new FakeRam(RAM_BASE, RAM_SIZE);
      for (const p of x.plants) if (ram.owns(p.at, 8)) ram.w64(p.at, p.lo >>> 0, p.hi >>> 0);
      const words = Uint32Array.from(x.ste);
      words[0] = ((x.ctxPtr % 2 ** 32) & ~0x3f) | (words[0]! & 0x3f);
      words[1] = (words[1]! & ~0xfffff) | Math.floor(x.ctxPtr / 2 ** 32);
      const cfg: GuestSteConfig = x.lookup === undefined ? { kind: x.kind, words } : { kind: 'invalid', words, lookup: x.lookup };
      // The physical record as the SMMU would have written it.
      const w = new Uint32Array(EVT_WORDS);
      encodeEvent(eventOf(x.phys), w);
      const e = guestEventOf(decodeEvent(w), { vsid: 7, cfg, recInvSid: x.recInvSid, ram, gf }, walker, res);
      if (e === null) return;
      expect(e.sid).toBe(7);
      expect(e.s2).toBe(0);
      expect(GUEST_TYPES.has(e.type)).toBe(true);
      if (e.type === EVT.C_BAD_STREAMID) expect(x.recInvSid).toBe(true);
      const out = new Uint32Array(EVT_WORDS);
      encodeEvent(e, out);
      expect(decodeEvent(out)).toEqual(canonicalEvent(e));
    }), { numRuns: 1000 });
  });
});
