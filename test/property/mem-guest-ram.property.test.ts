// GuestRam over a scattered p2m behaves like one flat array indexed by IPA: random byte,
// word and fill accesses (some straddling pages, some running off the end of RAM) agree
// with a model, and refused accesses change nothing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GuestRam, RangeP2m } from '../../src/mem/guest-ram.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { VsmmuError } from '../../src/errors.ts';

const RAM = 0x4000_0000;
const PAGES = 8;
const G = 4096;

type Op =
  | { readonly kind: 'bytes'; readonly off: number; readonly data: Uint8Array }
  | { readonly kind: 'fill'; readonly off: number; readonly len: number; readonly byte: number }
  | { readonly kind: 'w32'; readonly off: number; readonly v: number }
  | { readonly kind: 'w64'; readonly off: number; readonly lo: number; readonly hi: number };

const offArb = fc.integer({ min: -64, max: PAGES * G + 64 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('bytes' as const), off: offArb, data: fc.uint8Array({ minLength: 0, maxLength: 2 * G + 10 }) }),
  fc.record({ kind: fc.constant('fill' as const), off: offArb, len: fc.integer({ min: 0, max: 3 * G }), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('w32' as const), off: offArb.map((o) => o & ~3), v: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({
    kind: fc.constant('w64' as const), off: offArb.map((o) => o & ~7),
    lo: fc.integer({ min: 0, max: 0xffffffff }), hi: fc.integer({ min: 0, max: 0xffffffff }),
  }),
);

describe('GuestRam properties', () => {
  it('matches a flat model over a scattered p2m', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([...Array(16).keys()], { minLength: PAGES, maxLength: PAGES }), fc.array(opArb, { maxLength: 40, size: 'max' }), (frames, ops) => {
        const mem = PhysMemory.create('64K');
        const p2m = new RangeP2m(frames.map((f, k) => ({ ipa: RAM + k * G, pa: f * G, size: G })));
        const ram = new GuestRam(mem, p2m.lookup);
        const model = new Uint8Array(PAGES * G);
        // A zero-length access touches no page, so it is accepted anywhere.
        const inRam = (off: number, len: number): boolean => len === 0 || (off >= 0 && off + len <= PAGES * G);
        for (const op of ops) {
          const ipa = RAM + op.off;
          const len = op.kind === 'bytes' ? op.data.length : op.kind === 'fill' ? op.len : op.kind === 'w32' ? 4 : 8;
          const ok = inRam(op.off, len);
          let threw: unknown = null;
          try {
            if (op.kind === 'bytes') ram.writeBytes(ipa, op.data);
            else if (op.kind === 'fill') ram.fill(ipa, op.len, op.byte);
            else if (op.kind === 'w32') ram.write32(ipa, op.v);
            else if (!ram.store64(ipa, op.lo, op.hi)) throw new VsmmuError('EVSMMU_GUEST_RANGE', 'store64 refused');
          } catch (e) {
            threw = e;
          }
          if (ok) {
            expect(threw).toBe(null);
            if (len === 0) continue;
            if (op.kind === 'bytes') model.set(op.data, op.off);
            else if (op.kind === 'fill') model.fill(op.byte, op.off, op.off + op.len);
            else if (op.kind === 'w32') new DataView(model.buffer).setUint32(op.off, op.v, true);
            else {
              new DataView(model.buffer).setUint32(op.off, op.lo, true);
              new DataView(model.buffer).setUint32(op.off + 4, op.hi, true);
            }
          } else {
            expect(threw).toBeInstanceOf(VsmmuError);
            expect((threw as VsmmuError).code).toBe('EVSMMU_GUEST_RANGE');
          }
          if (!ok || op.kind !== 'w64') continue;
          expect([ram.load64(ipa), ram.hi]).toEqual([op.lo, op.hi]);
        }
        expect(Buffer.compare(ram.readBytes(RAM, PAGES * G), model)).toBe(0);
        // Physical frames outside the p2m were never touched.
        for (let f = 0; f < 16; f++) {
          if (frames.includes(f)) continue;
          expect(mem.view(f * G, G).every((b) => b === 0)).toBe(true);
        }
      }),
      { numRuns: 60 },
    );
  });
});
