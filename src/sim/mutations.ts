// Planted bugs (mutation testing of the stress checkers, as FoundationDB's BUGGIFY proves its
// simulation finds what it should): each one breaks one promise of the design in the real
// actor code, for the duration of one sim-mode run, by wrapping one method of its class. The
// stress run must catch every one within a few seeds, and the catch must replay to the same
// digest. Never enabled unless a run asks for it by name (StressOptions.mutation).
import { VsmmuError } from '../errors.ts';
import { ConfigCache } from '../smmu/config-cache.ts';
import { VSmmuV3 } from '../xen/vsmmuv3.ts';

type Method = (this: unknown, ...args: never[]) => unknown;
type Proto = Record<string, Method>;

export interface Mutation {
  readonly name: string;
  /** The promise it breaks. */
  readonly breaks: string;
  /** Applies it; returns its removal. */
  apply(): () => void;
}

/** Wraps `proto[method]` with `wrap(original)`; returns the removal. */
function patch(proto: object, method: string, wrap: (orig: Method) => Method): () => void {
  const p = proto as Proto;
  const orig = p[method];
  if (typeof orig !== 'function') throw new VsmmuError('EVSMMU_INTERNAL', `mutation: no method ${method} to patch`);
  p[method] = wrap(orig);
  return () => {
    p[method] = orig;
  };
}

/** TLBI_NH_VA (dw0[7:0] = 0x12) */
const TLBI_NH_VA = 0x12;

export const MUTATIONS: readonly Mutation[] = [
  {
    name: 'forget-range-tlbi',
    breaks: 'Xen forwards every invalidation of a range (it drops every second TLBI_NH_VA)',
    apply: () => {
      let n = 0;
      return patch(VSmmuV3.prototype, 'forwardWithVmid', (orig) => function (this: unknown, ...args: never[]) {
        const words = args[0] as unknown as Uint32Array;
        if (((words[0] ?? 0) & 0xff) === TLBI_NH_VA && n++ % 2 === 1) return 'done';
        return orig.apply(this, args);
      });
    },
  },
  {
    name: 'early-sync',
    breaks: "a guest's CMD_SYNC completes only after the commands it forwarded completed",
    apply: () => patch(VSmmuV3.prototype, 'syncCmd', (orig) => function (this: unknown, ...args: never[]) {
      (this as { unsynced: number }).unsynced = 0; // as if nothing were in flight
      return orig.apply(this, args);
    }),
  },
  {
    name: 'wrong-vsid',
    breaks: 'an event reaches the guest with the vSID of the device that caused it',
    apply: () => patch(VSmmuV3.prototype, 'pushEvent', (orig) => function (this: unknown, ...args: never[]) {
      const e = args[0] as unknown as Uint32Array;
      e[1] = ((e[1] ?? 0) ^ 1) >>> 0; // dw0[63:32] is the StreamID
      return orig.apply(this, args);
    }),
  },
  {
    name: 'tlbi-without-vmid',
    breaks: "a forwarded TLBI carries the guest's VMID",
    apply: () => patch(VSmmuV3.prototype, 'forwardWithVmid', (orig) => function (this: unknown, ...args: never[]) {
      const vm = this as { vmid: number };
      const real = vm.vmid;
      vm.vmid = 0;
      try {
        return orig.apply(this, args);
      } finally {
        vm.vmid = real;
      }
    }),
  },
  {
    name: 'stale-cd-after-cfgi',
    breaks: "the SMMU's cached CD is dropped by CFGI_CD / CFGI_CD_ALL",
    apply: () => {
      const a = patch(ConfigCache.prototype, 'invalidateCd', () => function () { /* the entry survives */ });
      const b = patch(ConfigCache.prototype, 'invalidateCdAll', () => function () { /* the entry survives */ });
      return () => {
        a();
        b();
      };
    },
  },
];

export const MUTATION_NAMES: readonly string[] = MUTATIONS.map((m) => m.name);

/** The mutation called `name`; EVSMMU_USAGE lists the names there are. */
export function mutation(name: string): Mutation {
  const m = MUTATIONS.find((x) => x.name === name);
  if (!m) throw new VsmmuError('EVSMMU_USAGE', `no mutation "${name}" (mutations: ${MUTATION_NAMES.join(', ')})`);
  return m;
}
