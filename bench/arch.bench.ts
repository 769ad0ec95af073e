// The architecture core against bare reads of the same memory, in the same run:
//   nested walk miss, 4K + 4K, 4 levels each (24 descriptor reads)
//                         vs 24 dependent 64-bit reads from the SAB      (cost, <= 3x)
//   stage-1 walk, 4 levels vs 4 dependent 64-bit reads                   (cost, <= 3x)
//   decode STE / CD / command vs a loop reading the same number of u32 words (cost, shown)
// The bare reads use the PhysMemory technique (Float64Array load + scratch split) on the
// addresses the walk reads, each address depending on the previous load as in a walk.
import { benchSuite } from './harness.ts';
import { decodeCd } from '../src/arch/cd.ts';
import { decodeCommand, encodeCommand, cmdOf } from '../src/arch/commands.ts';
import { PageTable, PROT_READ, PROT_WRITE } from '../src/arch/pgtable.ts';
import { decodeSte } from '../src/arch/ste.ts';
import type { WordReader, WordWriter } from '../src/arch/types.ts';
import { s1Cfg, s2Cfg, Walker, WalkResult } from '../src/arch/walk.ts';
import { PhysMemory } from '../src/mem/phys.ts';

const N = 64; // distinct pages walked per call
const mem = PhysMemory.create(64 << 20);
let next = 0x10000;
const alloc = (bytes: number, align: number): number => {
  const a = Math.ceil(next / align) * align;
  next = a + bytes;
  return a;
};

// Stage 2: IPA [1 GiB, +16 MiB) -> PA [16 MiB + 4K, ...) in 4K pages (no block fits), L0 start.
const s2 = new PageTable({ stage: 2, granuleShift: 12, ias: 48, oas: 48, mem, alloc });
s2.map(0x4000_0000, (16 << 20) + 0x1000, 16 << 20, PROT_READ | PROT_WRITE);
// Guest allocations for stage-1 tables, in IPA space.
let gnext = 0x4000_0000;
const galloc = (bytes: number, align: number): number => {
  const a = Math.ceil(gnext / align) * align;
  gnext = a + bytes;
  return a;
};
const gmem: WordReader & WordWriter = {
  hi: 0,
  load64(ipa) {
    const lo = mem.load64(s2.translate(ipa));
    this.hi = mem.hi;
    return lo;
  },
  store64: (ipa, lo, hi) => mem.store64(s2.translate(ipa), lo, hi),
};
const s1n = new PageTable({ stage: 1, granuleShift: 12, ias: 48, mem: gmem, alloc: galloc });
// Stage 1 only (tables in PA space) for the single-stage walk.
const s1p = new PageTable({ stage: 1, granuleShift: 12, ias: 48, mem, alloc });

// N pages spread so that each walk takes a different path through the lower levels.
const vas: number[] = [];
for (let i = 0; i < N; i++) {
  const va = 0x1_0000_0000 * (i + 1) + 0x20_0000 * i + 0x1000 * i;
  vas.push(va);
  s1n.map(va, 0x4080_0000 + 0x1000 * i, 0x1000, PROT_READ | PROT_WRITE);
  s1p.map(va, 0x200_0000 + 0x1000 * i + 0x1000, 0x1000, PROT_READ | PROT_WRITE);
}
const vaHi = Int32Array.from(vas, (v) => Math.floor(v / 2 ** 32));
const vaLo = Uint32Array.from(vas, (v) => v >>> 0);

const common = {
  gran1: 0, tsz1: 16, ttb1: 0, epd0: false, epd1: true, tbi0: false, tbi1: false, had0: false, had1: false,
  ips: 48, affd: false, ha: false, hd: false, wxn: false, uwxn: false, pan: false, endi: false, lpa: false, vax: false,
};
const c1n = s1Cfg({ gran0: 12, tsz0: 16, ttb0: s1n.root, ...common });
const c1p = s1Cfg({ gran0: 12, tsz0: 16, ttb0: s1p.root, ...common });
const c2 = s2Cfg({
  gran: 12, t0sz: s2.t0sz, sl0: s2.sl0, ttb: s2.root, ps: 48, affd: false, ha: false, hd: false, ptw: false,
  fwb: false, endi: false, lpa: false, xnx: false, oas: 48,
});
const walker = new Walker({ oas: 48 });
const res = new WalkResult();

// The addresses each walk reads (and the low words found there), followed by hand here so
// that the walker's memory call sites only ever see PhysMemory (as in the SMMU).
function desc(pa: number): [number, number] {
  const lo = mem.load64(pa);
  return [lo, mem.hi];
}
const tableOf = (lo: number, hi: number): number => (hi & 0xffff) * 2 ** 32 + ((lo & ~0xfff) >>> 0);
function walkChain(root: number, va: number, out: number[], through: ((ipa: number) => number) | null): number {
  let table = root;
  for (let level = 0; level <= 3; level++) {
    const shift = 39 - 9 * level;
    let pa = table + (Math.floor(va / 2 ** shift) % 512) * 8;
    if (through) pa = through(pa);
    out.push(pa);
    const [lo, hi] = desc(pa);
    table = tableOf(lo, hi);
  }
  return table + (va % 4096);
}
function chainOf(root: number, withS2: boolean, reads: number): { pa: Float64Array; lo: Int32Array } {
  const addrs: number[] = [];
  const s2walk = (ipa: number): number => walkChain(s2.root, ipa, addrs, null);
  for (let i = 0; i < N; i++) {
    const before = addrs.length;
    const ipa = walkChain(root, vas[i] ?? 0, addrs, withS2 ? s2walk : null);
    if (withS2) s2walk(ipa);
    if (addrs.length - before !== reads) throw new Error(`walk reads ${addrs.length - before}, expected ${reads}`);
  }
  return { pa: Float64Array.from(addrs), lo: Int32Array.from(addrs, (a) => desc(a)[0] | 0) };
}
const NESTED = chainOf(s1n.root, true, 24);
const SINGLE = chainOf(s1p.root, false, 4);

// The bare loop: R dependent 64-bit loads per walk, Float64Array + scratch split as PhysMemory.
const f64 = new Float64Array(mem.sab);
const sf = new Float64Array(1);
const su = new Uint32Array(sf.buffer);
function bare(chain: { pa: Float64Array; lo: Int32Array }, reads: number): number {
  let acc = 0;
  let dep = 0;
  for (let i = 0; i < N; i++) {
    for (let r = 0; r < reads; r++) {
      const j = i * reads + r;
      // dep is 0 when memory holds what was recorded: a true data dependency, as in a walk.
      sf[0] = f64[((chain.pa[j] ?? 0) + dep) / 8] ?? 0;
      const lo = su[0] ?? 0;
      acc = (acc + (su[1] ?? 0)) | 0;
      dep = ((lo ^ (chain.lo[j] ?? 0)) | 0) * 8;
    }
  }
  return acc;
}

function walkAll(c1: typeof c1n, withS2: boolean): number {
  let acc = 0;
  for (let i = 0; i < N; i++) {
    if (!walker.translate(c1, withS2 ? c2 : null, mem, vaHi[i] ?? 0, vaLo[i] ?? 0, 0, res)) throw new Error('bench walk faulted');
    acc = (acc + res.pa) | 0;
  }
  return acc;
}
// The chains must be what the walker reads: same count, same final output.
walker.reads = 0;
walkAll(c1n, true);
if (walker.reads !== 24 * N) throw new Error(`nested walks read ${walker.reads}, expected ${24 * N}`);

// Decode inputs: random words in memory (a real decode reads them from a SAB-backed view).
const u32 = mem.u32;
const STRUCT = (48 << 20) / 4;
for (let i = 0; i < 1024; i++) u32[STRUCT + i] = (Math.imul(i + 1, 0x9e3779b1) >>> 0);
encodeCommand(cmdOf('TLBI_NH_VA', { asid: 5, vmid: 1, leaf: 1, addr: 0x1234_5000 }), u32, STRUCT + 512);
function bareWords(n: number, reps: number): number {
  let acc = 0;
  for (let r = 0; r < reps; r++) for (let i = 0; i < n; i++) acc = (acc + (u32[STRUCT + (r & 7) * 16 + i] ?? 0)) | 0;
  return acc;
}
const REPS = 64;
let sink = 0;

await benchSuite('arch: walker and formats', {
  tasks: [
    { name: 'nested walk 4K+4K (24 reads)', fn: () => (sink ^= walkAll(c1n, true)), ops: N },
    { name: 'bare 24 dependent reads', fn: () => (sink ^= bare(NESTED, 24)), ops: N },
    { name: 'stage-1 walk 4K (4 reads)', fn: () => (sink ^= walkAll(c1p, false)), ops: N },
    { name: 'bare 4 dependent reads', fn: () => (sink ^= bare(SINGLE, 4)), ops: N },
    {
      name: 'decodeSte',
      fn: () => {
        for (let r = 0; r < REPS; r++) sink ^= decodeSte(u32, STRUCT + (r & 7) * 16).config;
      },
      ops: REPS,
    },
    {
      name: 'decodeCd',
      fn: () => {
        for (let r = 0; r < REPS; r++) sink ^= decodeCd(u32, STRUCT + (r & 7) * 16).asid;
      },
      ops: REPS,
    },
    { name: 'bare read 16 words', fn: () => (sink ^= bareWords(16, REPS)), ops: REPS },
    {
      name: 'decodeCommand',
      fn: () => {
        for (let r = 0; r < REPS; r++) sink ^= decodeCommand(u32, STRUCT + 512).op;
      },
      ops: REPS,
    },
    { name: 'bare read 4 words', fn: () => (sink ^= bareWords(4, REPS)), ops: REPS },
  ],
  ratios: [
    { name: 'nested walk / bare reads', of: 'nested walk 4K+4K (24 reads)', vs: 'bare 24 dependent reads', kind: 'cost', target: { op: '<=', value: 3 } },
    { name: 'stage-1 walk / bare reads', of: 'stage-1 walk 4K (4 reads)', vs: 'bare 4 dependent reads', kind: 'cost', target: { op: '<=', value: 3 } },
    { name: 'decodeSte / bare 16 words', of: 'decodeSte', vs: 'bare read 16 words', kind: 'cost' },
    { name: 'decodeCd / bare 16 words', of: 'decodeCd', vs: 'bare read 16 words', kind: 'cost' },
    { name: 'decodeCommand / bare 4 words', of: 'decodeCommand', vs: 'bare read 4 words', kind: 'cost' },
  ],
});
if (sink === 0x7fffffff) console.log('');
