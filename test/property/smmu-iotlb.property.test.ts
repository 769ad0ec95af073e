// The IOTLB against a reference list: inserts, lookups and every invalidation scope agree
// exactly when nothing is evicted, and with eviction every hit is still a live entry.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INV_STAGE1, INV_STAGE2, Iotlb, REGIME_EL1, TLB_NESTED, TLB_S1, TLB_S2 } from '../../src/smmu/iotlb.ts';

interface Ref { kind: number; vmid: number; asid: number; global: boolean; base: number; size: number; pa: number; ipa: number }

const entryArb = fc.record({
  kind: fc.constantFrom(TLB_S1, TLB_S2, TLB_NESTED),
  vmid: fc.nat(2),
  asid: fc.nat(2),
  global: fc.boolean(),
  page: fc.nat(63),
  size: fc.constantFrom(12, 12, 12, 14, 16, 21),
  pa: fc.nat(1023),
});
const opArb = fc.oneof(
  { weight: 4, arbitrary: entryArb.map((e) => ({ op: 'insert' as const, ...e })) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('lookup' as const), kind: fc.constantFrom(TLB_S1, TLB_S2, TLB_NESTED), vmid: fc.nat(2), asid: fc.nat(2), addr: fc.nat(64 * 4096 - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('va' as const), vmid: fc.nat(2), asid: fc.integer({ min: -1, max: 2 }), page: fc.nat(63), pages: fc.integer({ min: 1, max: 80 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('ipa' as const), vmid: fc.nat(2), page: fc.nat(63), pages: fc.integer({ min: 1, max: 80 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('asid' as const), vmid: fc.nat(2), asid: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('vmid' as const), vmid: fc.nat(2), stages: fc.constantFrom(INV_STAGE1, INV_STAGE1 | INV_STAGE2) }) },
);

function check(capacity: number, ops: fc.Arbitrary<unknown>[] | unknown[]): void {
  const t = new Iotlb(capacity, 99);
  let ref: Ref[] = [];
  const evicting = capacity < 64;
  for (const o of ops as Array<Record<string, number | boolean | string>>) {
    if (o['op'] === 'insert') {
      const kind = o['kind'] as number;
      const size = o['size'] as number;
      const base = Math.floor(((o['page'] as number) * 4096) / 2 ** size) * 2 ** size;
      const global = kind !== TLB_S2 && (o['global'] as boolean);
      const asid = kind === TLB_S2 || global ? 0 : (o['asid'] as number);
      const pa = (o['pa'] as number) * 2 ** 21;
      const ipa = pa + 2 ** 32;
      t.insert(kind, REGIME_EL1, o['vmid'] as number, asid, global, 0, base, size, 3, pa, ipa, 0xfff);
      ref = ref.filter((r) => !(r.kind === kind && r.vmid === o['vmid'] && r.asid === asid && r.global === global && r.base === base && r.size === size));
      ref.push({ kind, vmid: o['vmid'] as number, asid, global, base, size, pa, ipa });
    } else if (o['op'] === 'lookup') {
      const a = o['addr'] as number;
      const e = t.find(o['kind'] as number, REGIME_EL1, o['vmid'] as number, o['asid'] as number, 0, a);
      const matches = ref.filter((r) => r.kind === o['kind'] && r.vmid === o['vmid'] && (r.global || r.kind === TLB_S2 || r.asid === o['asid']) && a >= r.base && a < r.base + 2 ** r.size);
      if (e < 0) {
        if (!evicting) expect(matches).toEqual([]);
      } else {
        const out = t.outputOf(e, 0, a);
        expect(matches.some((r) => r.pa + (a - r.base) === out)).toBe(true);
      }
    } else if (o['op'] === 'va') {
      const start = (o['page'] as number) * 4096;
      const len = (o['pages'] as number) * 4096;
      const asid = o['asid'] as number;
      t.invalidateVa(REGIME_EL1, o['vmid'] as number, asid, start, len);
      ref = ref.filter((r) => !(r.kind !== TLB_S2 && r.vmid === o['vmid'] && (asid < 0 || r.global || r.asid === asid) && r.base < start + len && start < r.base + 2 ** r.size));
    } else if (o['op'] === 'ipa') {
      const start = 2 ** 32 + (o['page'] as number) * 4096;
      const len = (o['pages'] as number) * 4096;
      t.invalidateIpa(o['vmid'] as number, start - 2 ** 32, len); // S2 entries: by input
      t.invalidateIpa(o['vmid'] as number, start, len); // nested entries: by IPA
      ref = ref.filter((r) => {
        if (r.vmid !== o['vmid']) return true;
        if (r.kind === TLB_S2) return !(r.base < start - 2 ** 32 + len && start - 2 ** 32 < r.base + 2 ** r.size) && !(r.base < start + len && start < r.base + 2 ** r.size);
        if (r.kind === TLB_NESTED) return !(r.ipa < start + len && start < r.ipa + 2 ** r.size) && !(r.ipa < start - 2 ** 32 + len && start - 2 ** 32 < r.ipa + 2 ** r.size);
        return true;
      });
    } else if (o['op'] === 'asid') {
      t.invalidateAsid(REGIME_EL1, o['vmid'] as number, o['asid'] as number);
      ref = ref.filter((r) => !(r.kind !== TLB_S2 && !r.global && r.vmid === o['vmid'] && r.asid === o['asid']));
    } else if (o['op'] === 'vmid') {
      const st = o['stages'] as number;
      t.invalidateVmid(o['vmid'] as number, st);
      ref = ref.filter((r) => !(r.vmid === o['vmid'] && (r.kind === TLB_S2 ? st & INV_STAGE2 : st & INV_STAGE1)));
    }
    if (!evicting) expect(t.entries).toBe(ref.length);
    else expect(t.entries).toBeLessThanOrEqual(capacity);
  }
}

describe('Iotlb against a reference model', () => {
  it('agrees exactly without eviction (probe and sweep invalidation paths, backward-shift deletion)', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 10, maxLength: 200, size: 'max' }), (ops) => check(4096, ops)), { numRuns: 200 });
  });
  it('with eviction, every hit is a live entry and the size stays bounded', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 10, maxLength: 200, size: 'max' }), (ops) => check(8, ops)), { numRuns: 200 });
  });
});
