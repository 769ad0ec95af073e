// Model-based check of the invariant "no stale translation survives a completed
// invalidation" (reliability.md I3): random map/unmap (4K pages and 2M blocks, with block
// splits) interleaved with invalidations + CMD_SYNC and DMA reads. After each read:
//   - a VA whose tables have not changed since an invalidation covering it completed
//     translates exactly as a fresh software walk of the current tables;
//   - any VA only ever yields a PA some mapping of that VA produced (never garbage).
// Every physical page holds its own page number as a marker, so a 4-byte DMA read tells
// which PA the SMMU used. Shared by the in-process and the real-thread property tests.

import fc from 'fast-check';
import { cmdOf, type Command } from '../../src/arch/commands.ts';
import type { PageTable } from '../../src/arch/pgtable.ts';
import { TX_OK, type TxCompletion, type TxRequest } from '../../src/smmu/ports.ts';
import type { SmmuPortClient } from '../../src/runtime/port-client.ts';
import { cdSlot, RW, s1Cd, s1Ste, s1Table, s2Ste, s2Table, type World } from './smmu-world.ts';

const PAGE = 0x1000;
const BLOCK = 0x20_0000;
const A_PAGES = 6; // 4K pages of region A
const B_SAMPLES = 8; // sampled 4K pages of the 2M region B
const NPAGES = 12;

export type Op =
  | { op: 'mapA'; i: number; p: number }
  | { op: 'unmapA'; i: number }
  | { op: 'mapB'; b: number }
  | { op: 'unmapB' }
  | { op: 'unmapBpage'; j: number }
  | { op: 'invPage'; k: number; leaf: number }
  | { op: 'invRange'; k: number; num: number; scale: number }
  | { op: 'invAll'; kind: number }
  | { op: 'invOther' }
  | { op: 'read'; k: number };

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('mapA' as const), i: fc.nat(A_PAGES - 1), p: fc.nat(NPAGES - 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('unmapA' as const), i: fc.nat(A_PAGES - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mapB' as const), b: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unmapB' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unmapBpage' as const), j: fc.nat(B_SAMPLES - 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('invPage' as const), k: fc.nat(A_PAGES + B_SAMPLES - 1), leaf: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('invRange' as const), k: fc.nat(A_PAGES + B_SAMPLES - 1), num: fc.nat(31), scale: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('invAll' as const), kind: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('invOther' as const) }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('read' as const), k: fc.nat(A_PAGES + B_SAMPLES - 1) }) },
);

export interface Harness {
  readonly w: World;
  readonly dev: SmmuPortClient;
  /** In-process: run the SMMU between submit and collect. */
  readonly pump?: () => unknown;
}

/** Physical pages and blocks with markers, allocated once per world. */
export interface Pool {
  readonly pages: readonly number[];
  readonly blocks: readonly number[];
}

export function makePool(w: World): Pool {
  const pages = Array.from({ length: NPAGES }, () => w.alloc.alloc(PAGE, PAGE));
  const blocks = [w.alloc.alloc(BLOCK, BLOCK), w.alloc.alloc(BLOCK, BLOCK)];
  for (const p of pages) w.mem.write32(p, p / PAGE);
  for (const b of blocks) for (let o = 0; o < BLOCK; o += PAGE) w.mem.write32(b + o, (b + o) / PAGE);
  return { pages, blocks };
}

/** Runs one op sequence against a fresh stream of the given mode; throws on a violation. */
export function checkSequence(h: Harness, pool: Pool, mode: 's1' | 's2', ops: readonly Op[]): void {
  const { w } = h;
  w.drv.reset();
  const baseA = mode === 's1' ? 0x12_4000_0000 : 0x8000_0000;
  const sid = 3;
  const asid = 5;
  const vmid = 6;
  let pt: PageTable;
  let cd = -1;
  if (mode === 's1') {
    pt = s1Table(w);
    cd = cdSlot(w);
    w.drv.writeCd(cd, s1Cd(pt, asid));
    w.drv.writeSte(sid, s1Ste(cd, { s2vmid: vmid }));
  } else {
    pt = s2Table(w, 12, 40);
    w.drv.writeSte(sid, s2Ste(pt, vmid));
  }
  try {
    run(h, pool, mode, pt, ops, sid, asid, vmid, baseA);
  } finally {
    pt.destroy((pa) => w.alloc.free(pa));
    if (cd >= 0) w.alloc.free(cd);
  }
}

function run(h: Harness, pool: Pool, mode: 's1' | 's2', pt: PageTable, ops: readonly Op[], sid: number, asid: number, vmid: number, baseA: number): void {
  const { w } = h;
  const baseB = baseA + BLOCK;
  const vaOf = (k: number): number => (k < A_PAGES ? baseA + k * PAGE : baseB + (k - A_PAGES) * (BLOCK / B_SAMPLES));
  const nva = A_PAGES + B_SAMPLES;
  const dirty = new Array<boolean>(nva).fill(false);
  const history = Array.from({ length: nva }, () => new Set<number>());
  const touch = (k: number): void => {
    dirty[k] = true;
    const pa = pt.translate(vaOf(k));
    if (pa >= 0) history[k]!.add(pa);
  };
  const touchAll = (from: number, to: number): void => {
    for (let k = from; k < to; k++) touch(k);
  };
  const clean = (start: number, len: number): void => {
    for (let k = 0; k < nva; k++) if (vaOf(k) >= start && vaOf(k) < start + len) dirty[k] = false;
  };
  const sync = (cmds: Command[]): void => {
    w.drv.submit([...cmds, cmdOf('SYNC', { cs: 0 })]);
    if (h.pump) for (let i = 0; i < 4; i++) h.pump();
    w.drv.waitConsPast();
  };
  let tag = 0;
  const read = (va: number): TxCompletion => {
    const tx: TxRequest = { tag: ++tag, sid, iova: va, length: 4 };
    h.dev.submit([tx]);
    h.pump?.();
    return h.dev.collect(1, 5000)[0]!;
  };
  const vaInv = (start: number, len: number, leaf: number): Command =>
    mode === 's1'
      ? cmdOf('TLBI_NH_VA', { vmid, asid, addr: start, leaf, ...(len > PAGE ? rangeFields(len) : {}) })
      : cmdOf('TLBI_S2_IPA', { vmid, addr: start, leaf, ...(len > PAGE ? rangeFields(len) : {}) });
  let bMapped = false;
  for (const o of ops) {
    switch (o.op) {
      case 'mapA':
        if (pt.translate(vaOf(o.i)) < 0) {
          pt.map(vaOf(o.i), pool.pages[o.p]!, PAGE, RW);
          touch(o.i);
        }
        break;
      case 'unmapA':
        touch(o.i);
        pt.unmap(vaOf(o.i), PAGE);
        break;
      case 'mapB':
        if (!bMapped) {
          touchAll(A_PAGES, nva);
          pt.map(baseB, pool.blocks[o.b]!, BLOCK, RW);
          touchAll(A_PAGES, nva);
          bMapped = true;
        }
        break;
      case 'unmapB':
        touchAll(A_PAGES, nva);
        pt.unmap(baseB, BLOCK);
        bMapped = false;
        break;
      case 'unmapBpage': {
        const k = A_PAGES + o.j;
        touch(k);
        pt.unmap(vaOf(k), PAGE);
        break;
      }
      case 'invPage':
        sync([vaInv(vaOf(o.k) - (vaOf(o.k) % PAGE), PAGE, o.leaf)]);
        clean(vaOf(o.k) - (vaOf(o.k) % PAGE), PAGE);
        break;
      case 'invRange': {
        const start = vaOf(o.k) - (vaOf(o.k) % PAGE);
        const len = (o.num + 1) * 2 ** o.scale * PAGE;
        sync([vaInv(start, len, 0)]);
        clean(start, len);
        break;
      }
      case 'invAll': {
        const all: Command[][] = mode === 's1'
          ? [[cmdOf('TLBI_NH_ASID', { vmid, asid })], [cmdOf('TLBI_NH_ALL', { vmid })], [cmdOf('TLBI_NSNH_ALL')]]
          : [[cmdOf('TLBI_S12_VMALL', { vmid })], [cmdOf('TLBI_NSNH_ALL')], [cmdOf('TLBI_S12_VMALL', { vmid })]];
        sync(all[o.kind]!);
        clean(0, 2 ** 64);
        break;
      }
      case 'invOther':
        sync(mode === 's1' ? [cmdOf('TLBI_NH_ASID', { vmid, asid: asid + 1 }), cmdOf('TLBI_NH_ALL', { vmid: vmid + 1 })] : [cmdOf('TLBI_S12_VMALL', { vmid: vmid + 1 })]);
        break;
      case 'read': {
        const va = vaOf(o.k);
        const c = read(va);
        const got = c.status === TX_OK ? new DataView(h.dev.data.buffer).getUint32(0, true) * PAGE : -1;
        const fresh = pt.translate(va);
        if (!dirty[o.k] && got !== fresh) {
          throw new Error(`VA 0x${va.toString(16)} clean after invalidation: SMMU ${got === -1 ? 'fault' : `0x${got.toString(16)}`}, walk ${fresh === -1 ? 'fault' : `0x${fresh.toString(16)}`}`);
        }
        if (got !== -1 && !history[o.k]!.has(got) && got !== fresh) {
          throw new Error(`VA 0x${va.toString(16)} produced 0x${got.toString(16)}, which no mapping of it ever had`);
        }
        break;
      }
    }
  }
}

/** TG/NUM/SCALE fields of a 4K-granule range covering at least `len` bytes (RIL). */
function rangeFields(len: number): { tg: number; num: number; scale: number; ttl: number } {
  let pages = Math.ceil(len / PAGE);
  let scale = 0;
  while (pages > 32) {
    pages = Math.ceil(pages / 2);
    scale++;
  }
  return { tg: 1, num: pages - 1, scale, ttl: 0 };
}
