// One fuzz run: a hostile guest beside well-behaved guests, all through the public API
// (createSystem, domain.mmio / memory / driver, device.dma, system.host, stats), so it runs
// on worker threads or in sim mode alike. After every input the isolation and liveness
// invariants are checked:
//   - host memory no guest owns (the "firmware" below Xen's heap) keeps its canaries;
//   - each well-behaved guest's canary page and buffers hold exactly what it wrote;
//   - no DMA of the hostile guest reads another guest's data or the host's canaries;
//   - a well-behaved guest's DMA to a mapped IOVA lands in its own pages, after unmap (TLBI +
//     SYNC) it faults with a stage-1 F_TRANSLATION, and each such fault reaches its driver
//     with its vSID (never another's), or the guest is told of the loss (OVFLG);
//   - nothing throws but the coded answers a hostile guest may get (EVSMMU_GUEST_SEA);
//   - every input ends in bounded time (threads: a timer; sim: virtual time, deadlock and
//     livelock detection), no guest dies, Xen counts no internal bug;
//   - after every domain is destroyed, system.accounting() is 0: no domain, page, VMID,
//     vSID, stream, interrupt line or trap slot is held.
import { createSystem, type System } from '../system/system.ts';
import { isXenProfileName, XEN_PROFILE_NAMES } from '../xen/profile.ts';
import type { Domain } from '../system/domain.ts';
import { VsmmuError } from '../errors.ts';
import { decodeEvent, eventName } from '../arch/events.ts';
import { R } from '../arch/registers.ts';
import { generateOps, H, HOSTILE_SIDS, opClasses, V, victimSid, type FuzzOp } from './ops.ts';
import { sameBytes } from '../mem/bytes.ts';

export interface FuzzOptions {
  /** Inputs after the hostile guest's baseline (default 2000). */
  readonly iterations?: number;
  /** Guests: one hostile and G - 1 well-behaved (default 3, 2..8). */
  readonly guests?: number;
  /** 'sim' (default: one thread, a seeded scheduler, so a seed replays exactly) or 'threads'. */
  readonly mode?: 'threads' | 'sim';
  /** Xen's policy profile (default 'hardened'; docs/profiles.md): rfc and v3 can panic. */
  readonly profile?: string;
  /** Bound of one input on threads, ms (default 20000). */
  readonly opTimeoutMs?: number;
  /** Shrink a failing run to a smaller input list (default false; at most `shrinkRuns` reruns). */
  readonly shrink?: boolean;
  readonly shrinkRuns?: number;
  /** Run these inputs instead of the seed's (a replay of a shrunk list). */
  readonly ops?: readonly FuzzOp[];
}

export type ViolationKind = 'isolation' | 'data' | 'fault' | 'throw' | 'hang' | 'dead' | 'xen-bug' | 'leak';

export interface FuzzViolation {
  readonly kind: ViolationKind;
  /** Index of the input after which it was found (-1: at the end of the run). */
  readonly step: number;
  readonly what: string;
}

export interface FuzzCoverage {
  /** Generated inputs by class (command opcodes, registers, STE/CD kinds, DMA, victims' calls). */
  readonly inputs: Record<string, number>;
  /** Commands the physical SMMU executed, by opcode. */
  readonly physCommands: Record<string, number>;
  /** Event records the physical SMMU wrote, by type. */
  readonly physEvents: Record<string, number>;
  /** Event records the hostile guest read from its own queue, by type. */
  readonly guestEvents: Record<string, number>;
  /** The hostile guest's vSMMU counters (CERRORs, STE refusals by reason, events, MSIs...). */
  readonly vsmmu: Record<string, number>;
  /** Outcomes of the hostile guest's DMA (ok, or the fault's name). */
  readonly dma: Record<string, number>;
  /** Coded answers the hostile guest got (EVSMMU_GUEST_SEA). */
  readonly answers: Record<string, number>;
}

export interface FuzzReport {
  readonly ok: boolean;
  readonly seed: number;
  readonly mode: 'threads' | 'sim';
  /** Inputs executed. */
  readonly inputs: number;
  readonly violations: readonly FuzzViolation[];
  /** The command that replays this run. */
  readonly replay: string;
  readonly coverage: FuzzCoverage;
  /** Sim mode: the digest of the run's schedule and every call and answer. */
  readonly digest?: string;
  readonly elapsedMs: number;
  /** With shrink: the smallest failing input list found (replay it with --replay FILE). */
  readonly minimal?: readonly FuzzOp[];
}

const MiB = 1024 * 1024;
/** Host memory below Xen's heap ("firmware", options.ts XEN_HEAP_BASE): nobody may write it. */
const FW_START = 0x1000;
const FW_END = 4 * MiB;
const FW_MAGIC = [0x46, 0x57, 0x43, 0x41, 0x4e, 0x41, 0x52, 0x59]; // "FWCANARY"
const VICTIM_MAGIC = [0x56, 0x49, 0x43, 0x54, 0x49, 0x4d, 0x21]; // "VICTIM!" + guest index
const FULL_CHECK_EVERY = 250;
const ALLOWED = new Set(['EVSMMU_GUEST_SEA']);
const HANG_CODES = new Set(['EVSMMU_DOMAIN_HUNG', 'EVSMMU_SIM_DEADLOCK', 'EVSMMU_SIM_LIVELOCK', 'EVSMMU_TRAP_TIMEOUT', 'EVSMMU_SMMU_TIMEOUT', 'EVSMMU_TIMEOUT']);

class Stop extends Error {
  readonly v: FuzzViolation;
  constructor(v: FuzzViolation) {
    super(v.what);
    this.v = v;
  }
}

function pattern(magic: readonly number[], len: number, tag = 0): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = i % 8 < magic.length ? (magic[i % 8] as number) : tag;
  return b;
}

function firstDiff(got: Uint8Array, want: Uint8Array): string {
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  const hex = (b: Uint8Array): string => Array.from(b.subarray(i, i + 8), (x) => x.toString(16).padStart(2, '0')).join('');
  return `at +0x${i.toString(16)}: ${hex(got)}, expected ${hex(want)}`;
}

function contains(hay: Uint8Array, needle: readonly number[]): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function inc(m: Record<string, number>, k: string, n = 1): void {
  m[k] = (m[k] ?? 0) + n;
}

/** A well-behaved guest: its mapped slots (slot -> the bytes it wrote there) and faults owed. */
interface Victim {
  readonly d: Domain;
  readonly g: number;
  /** The pattern its canary page holds. */
  readonly canary: Uint8Array;
  readonly vsid: number;
  readonly mapped: Map<number, Uint8Array>;
  /** IOVA pages that faulted and whose record has not reached the driver yet. */
  readonly pending: Set<number>;
  /** Pages that ever faulted (a record for any other page would be someone else's). */
  readonly faulted: Set<number>;
  lastSeq: number;
  records: number;
}

export function replayCommand(seed: number, o: FuzzOptions): string {
  const parts = [`vsmmu fuzz --seed ${seed} --iterations ${o.iterations ?? 2000} --guests ${o.guests ?? 3}`, o.mode === 'threads' ? '--threads' : '--sim'];
  if (o.profile !== undefined && o.profile !== 'hardened') parts.push(`--profile ${o.profile}`);
  return parts.join(' ');
}

/** One seed: generate its inputs, run them, and (with `shrink`) shrink a failure. */
export async function runFuzzSeed(seed: number, o: FuzzOptions = {}): Promise<FuzzReport> {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) throw new VsmmuError('EVSMMU_USAGE', `fuzz seed must be a whole number in 0..2^32-1, got ${seed}`);
  const guests = o.guests ?? 3;
  if (!Number.isInteger(guests) || guests < 2 || guests > 8) throw new VsmmuError('EVSMMU_USAGE', `fuzz guests must be 2..8 (one hostile, the others well-behaved), got ${guests}`);
  if (o.profile !== undefined && !isXenProfileName(o.profile)) {
    throw new VsmmuError('EVSMMU_USAGE', `fuzz profile "${o.profile}" is not a profile (known: ${XEN_PROFILE_NAMES.join(', ')})`);
  }
  const iterations = o.iterations ?? 2000;
  const ops = o.ops ?? generateOps({ seed, iterations, victims: guests - 1 });
  const report = await runFuzzOps(seed, ops, o);
  if (report.ok || !o.shrink) return report;
  const kind = report.violations[0]?.kind;
  const minimal = await shrinkOps(ops, async (cand) => {
    const r = await runFuzzOps(seed, cand, o);
    return !r.ok && r.violations[0]?.kind === kind;
  }, o.shrinkRuns ?? 40);
  return { ...report, minimal };
}

/**
 * Delta debugging over the input list: removes chunks (halves, quarters, ... single inputs)
 * while the run still fails the same way, within `maxRuns` reruns.
 */
export async function shrinkOps(ops: readonly FuzzOp[], fails: (ops: readonly FuzzOp[]) => Promise<boolean>, maxRuns: number): Promise<FuzzOp[]> {
  let cur = [...ops];
  let runs = 0;
  for (let chunk = Math.floor(cur.length / 2); chunk >= 1 && runs < maxRuns; chunk = Math.floor(chunk / 2)) {
    for (let i = 0; i < cur.length && runs < maxRuns; ) {
      const cand = [...cur.slice(0, i), ...cur.slice(i + chunk)];
      runs++;
      if (cand.length > 0 && (await fails(cand))) cur = cand;
      else i += chunk;
    }
  }
  return cur;
}

/** Runs a given input list (the seed names the system's sim seed and the report). */
export async function runFuzzOps(seed: number, ops: readonly FuzzOp[], o: FuzzOptions = {}): Promise<FuzzReport> {
  const t0 = performance.now();
  const guests = o.guests ?? 3;
  const mode = o.mode ?? 'sim';
  const opTimeoutMs = o.opTimeoutMs ?? 20_000;
  const coverage: FuzzCoverage = { inputs: opClasses(ops), physCommands: {}, physEvents: {}, guestEvents: {}, vsmmu: {}, dma: {}, answers: {} };
  const violations: FuzzViolation[] = [];
  const replay = replayCommand(seed, { ...o, guests, iterations: o.iterations ?? 2000 });
  let inputs = 0;
  let digest: string | undefined;
  const sys: System = await createSystem({
    memory: (64 + 16 + 32 * (guests - 1)) * MiB,
    guestTimeoutMs: mode === 'sim' ? 60_000 : opTimeoutMs,
    sim: mode === 'sim' ? { seed, recycleMemory: true } : false,
    ...(o.profile !== undefined && isXenProfileName(o.profile) ? { xen: { profile: o.profile } } : {}),
    domains: [
      { name: 'hostile', memory: H.RAM_BYTES, viommu: 'smmuv3', devices: HOSTILE_SIDS.map((sid, i) => ({ name: `dma${i}`, sid })) },
      ...Array.from({ length: guests - 1 }, (_, g) => ({ name: `guest${g + 1}`, memory: '32M', viommu: 'smmuv3' as const, devices: [{ name: 'dma0', sid: victimSid(g) }] })),
    ],
  });
  try {
    const hostile = sys.domain('hostile');
    const fw = pattern(FW_MAGIC, FW_END - FW_START);
    sys.host.write(FW_START, fw);
    const victims: Victim[] = [];
    for (const [g, d] of sys.domains.slice(1).entries()) {
      await d.driver.probe();
      await d.driver.attach('dma0', { asid: 1 });
      const canary = pattern(VICTIM_MAGIC, 4096, g);
      d.memory.write(V.CANARY, canary);
      // Every buffer starts with the guest's mark, so a stolen read shows.
      for (let s = 0; s < V.SLOTS; s++) d.memory.write(V.BUF + s * 4096, pattern(VICTIM_MAGIC, 4096, g));
      victims.push({ d, g, canary, vsid: d.device('dma0').vsid, mapped: new Map(), pending: new Set(), faulted: new Set(), lastSeq: 0, records: 0 });
    }
    const hostileEvq = { cons: 0 };
    let wrote = false; // a hostile DMA wrote bytes during the current input

    const fail = (kind: ViolationKind, step: number, what: string): never => {
      throw new Stop({ kind, step, what });
    };

    /** The invariants after input `step` (a full host sweep now and then). */
    const check = (step: number, full: boolean): void => {
      for (const d of sys.domains) if (d.dead) fail('dead', step, `domain ${d.name} died: ${d.dead.code} ${d.dead.message}`);
      if (full) {
        if (!sameBytes(sys.host.read(FW_START, fw.length), fw)) fail('isolation', step, 'host memory below Xen\'s heap (owned by nobody) was written');
      } else {
        const page = (step * 4096) % (FW_END - FW_START - 4096);
        if (!sameBytes(sys.host.read(FW_START + page, 4096), fw.subarray(page, page + 4096))) fail('isolation', step, `host page 0x${(FW_START + page).toString(16)} (owned by nobody) was written`);
      }
      for (const v of victims) {
        if (!sameBytes(v.d.memory.read(V.CANARY, 4096), v.canary)) fail('isolation', step, `${v.d.name}'s canary page was written by someone`);
        for (let s = 0; s < V.SLOTS; s++) {
          const want = v.mapped.get(s) ?? null;
          if (want === null) continue;
          const got = v.d.memory.read(V.BUF + s * 4096, 4096);
          if (!sameBytes(got, want)) fail('isolation', step, `${v.d.name}'s buffer ${s} does not hold what it wrote (${firstDiff(got, want)})`);
        }
      }
    };

    const bounded = async <T>(step: number, what: string, p: Promise<T>): Promise<T> => {
      if (mode === 'sim') return p;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const t = new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Stop({ kind: 'hang', step, what: `${what} did not end within ${opTimeoutMs} ms` })), opTimeoutMs);
      });
      try {
        return await Promise.race([p, t]);
      } finally {
        clearTimeout(timer);
      }
    };

    const pullFaults = async (v: Victim, step: number): Promise<void> => {
      for (const f of await v.d.driver.faults()) {
        if (f.seq <= v.lastSeq) continue;
        v.lastSeq = f.seq;
        v.records++;
        const page = f.iova - (f.iova % 4096);
        if (f.sid !== v.vsid) fail('isolation', step, `${v.d.name} received a record for vSID ${f.sid} (its device is ${v.vsid}): ${f.name}`);
        if (!v.faulted.has(page)) fail('isolation', step, `${v.d.name} received a ${f.name} record for IOVA 0x${f.iova.toString(16)}, which it never faulted on`);
        v.pending.delete(page);
      }
    };

    const victimOp = async (op: Extract<FuzzOp, { k: 'v' }>, step: number): Promise<void> => {
      const v = victims[op.g % victims.length] as Victim;
      const iova = V.IOVA + op.slot * 4096;
      const buf = V.BUF + op.slot * 4096;
      const dev = v.d.device('dma0');
      const where = `${v.d.name} slot ${op.slot}, input ${step}`;
      switch (op.a) {
        case 'map':
          if (v.mapped.has(op.slot)) return;
          await v.d.driver.map(iova, buf, 4096, 'rw');
          v.mapped.set(op.slot, v.d.memory.read(buf, 4096));
          return;
        case 'unmap': {
          if (!v.mapped.has(op.slot)) return;
          const n = await v.d.driver.unmap(iova, 4096);
          if (n !== 4096) fail('data', step, `${where}: unmap returned ${n}`);
          v.mapped.delete(op.slot);
          // The invalidation (TLBI + SYNC) completed: the translation must be gone now.
          const r = await dev.dma({ iova: iova + 8, length: 8 });
          if (r.ok) fail('isolation', step, `${where}: DMA succeeded after unmap + TLBI + SYNC (stale translation)`);
          expectFault(v, r, iova, where, step);
          return;
        }
        case 'dma': {
          const off = (op.fill % 60) * 64;
          if (!v.mapped.has(op.slot)) {
            const r = await dev.dma({ iova: iova + off, length: 64 });
            if (r.ok) fail('isolation', step, `${where}: DMA to an unmapped IOVA succeeded`);
            expectFault(v, r, iova, where, step);
            return;
          }
          const data = pattern(VICTIM_MAGIC, 64, v.g);
          data[7] = op.fill;
          const w = await dev.dma({ iova: iova + off, write: true, data });
          if (!w.ok) fail('data', step, `${where}: DMA write to a mapped IOVA failed: ${w.fault.name}`);
          const host = sys.host.read(v.d.ipaToPa(buf) + off, 64);
          if (!sameBytes(host, data)) fail('isolation', step, `${where}: the DMA write did not land in the guest's own page`);
          (v.mapped.get(op.slot) as Uint8Array).set(data, off);
          const rd = await dev.dma({ iova: iova + off, length: 64 });
          if (!rd.ok || rd.data === undefined || !sameBytes(rd.data, data)) fail('data', step, `${where}: DMA read back differs`);
          return;
        }
        case 'faults':
          await pullFaults(v, step);
          return;
      }
    };

    const expectFault = (v: Victim, r: Awaited<ReturnType<ReturnType<Domain['device']>['dma']>>, iova: number, where: string, step: number): void => {
      if (r.ok) return;
      const f = r.fault;
      if (!('s2' in f) || f.name !== 'F_TRANSLATION' || f.s2 !== 0) fail('fault', step, `${where}: expected a stage-1 F_TRANSLATION, got ${JSON.stringify(f)}`);
      v.pending.add(iova);
      v.faulted.add(iova);
    };

    const hostileOp = async (op: Exclude<FuzzOp, { k: 'v' }>): Promise<void> => {
      switch (op.k) {
        case 'mem':
          op.w.forEach((x, i) => hostile.memory.write32(op.ipa + i * 4, x));
          return;
        case 'mmio':
          if (op.v === undefined) {
            if (op.size === 8) await hostile.mmio.read64(H.VSMMU + op.off);
            else await hostile.mmio.read32(H.VSMMU + op.off);
          } else if (op.size === 8) {
            await hostile.mmio.write64(H.VSMMU + op.off, (BigInt(op.hi ?? 0) << 32n) | BigInt(op.v));
          } else {
            await hostile.mmio.write32(H.VSMMU + op.off, op.v);
          }
          return;
        case 'cmds': {
          const size = 2 ** op.log2;
          for (let i = 0; i < op.w.length / 4; i++) {
            const at = op.base + ((op.first + i) % size) * 16;
            if (at < H.RAM || at + 16 > H.RAM + H.RAM_BYTES / 2) continue; // its queue is not its RAM: nothing to write
            for (let j = 0; j < 4; j++) hostile.memory.write32(at + j * 4, op.w[i * 4 + j] as number);
          }
          await hostile.mmio.write32(H.VSMMU + R.CMDQ_PROD, op.prod);
          return;
        }
        case 'dma': {
          const dev = hostile.device(`dma${op.dev}`);
          const data = op.write ? pattern([0x48, 0x53, 0x54, 0x4c], op.len, op.fill) : undefined;
          const req = { iova: op.iova, length: op.len, write: op.write, ...(data ? { data } : {}), ...(op.ssid !== undefined ? { ssid: op.ssid } : {}) };
          const r = await dev.dma(req);
          inc(coverage.dma, r.ok ? 'ok' : r.fault.name);
          wrote ||= op.write && r.bytes > 0;
          if (r.ok && r.data !== undefined && (contains(r.data, VICTIM_MAGIC) || contains(r.data, FW_MAGIC))) {
            throw new Stop({ kind: 'isolation', step: -1, what: `a hostile DMA read at IOVA 0x${op.iova.toString(16)} returned another guest's or the host's data` });
          }
          return;
        }
        case 'ack': {
          const g = await hostile.mmio.read32(H.VSMMU + R.GERROR);
          await hostile.mmio.write32(H.VSMMU + R.GERRORN, g);
          const prod = await hostile.mmio.read32(H.VSMMU + R.EVENTQ_PROD);
          const cons = await hostile.mmio.read32(H.VSMMU + R.EVENTQ_CONS);
          await hostile.mmio.write32(H.VSMMU + R.EVENTQ_CONS, ((cons & 0x7fff_ffff) | (prod & 0x8000_0000)) >>> 0);
          return;
        }
        case 'evt': {
          // Where the hostile believes its queue is: only records inside its RAM can be read.
          const size = 2 ** op.log2;
          const prod = (await hostile.mmio.read32(H.VSMMU + R.EVENTQ_PROD)) >>> 0;
          let n = 0;
          while ((hostileEvq.cons & (2 * size - 1)) !== (prod & (2 * size - 1)) && n++ < size) {
            const at = op.base + (hostileEvq.cons % size) * 32;
            if (at >= H.RAM && at + 32 <= H.RAM + H.RAM_BYTES) {
              const e = decodeEvent(Array.from({ length: 8 }, (_, i) => hostile.memory.read32(at + i * 4)));
              inc(coverage.guestEvents, eventName(e.type));
            }
            hostileEvq.cons = (hostileEvq.cons + 1) % (2 * size);
          }
          hostileEvq.cons = prod & (2 * size - 1);
          await hostile.mmio.write32(H.VSMMU + R.EVENTQ_CONS, (hostileEvq.cons | (prod & 0x8000_0000)) >>> 0);
          return;
        }
      }
    };

    try {
      check(-1, true);
      for (const [step, op] of ops.entries()) {
        try {
          if (op.k === 'v') await bounded(step, `${op.t} of guest ${op.g + 1}`, victimOp(op, step));
          else await bounded(step, op.t, hostileOp(op));
        } catch (e) {
          if (e instanceof Stop) throw e.v.step === -1 ? new Stop({ ...e.v, step }) : e;
          if (e instanceof VsmmuError && ALLOWED.has(e.code) && op.k === 'mmio') {
            inc(coverage.answers, e.code);
          } else if (e instanceof VsmmuError && HANG_CODES.has(e.code)) {
            fail('hang', step, `${op.t}: ${e.code} ${e.message}`);
          } else {
            fail('throw', step, `${op.t}: ${e instanceof VsmmuError ? e.code + ' ' : ''}${e instanceof Error ? e.message : String(e)}`);
          }
        }
        inputs++;
        // The full sweep after every hostile DMA that wrote bytes, and now and then for what
        // else could write (a transaction that faults never touches memory).
        check(step, step % FULL_CHECK_EVERY === 0 || wrote);
        wrote = false;
      }
      // Liveness of fault delivery: every victim fault reaches its driver in bounded time,
      // unless the guest was told its records were lost (OVFLG).
      for (const v of victims) {
        for (let i = 0; i < 100 && v.pending.size > 0; i++) {
          await bounded(-1, 'waiting for fault records', v.d.irq.wait(20));
          await pullFaults(v, -1);
        }
        if (v.pending.size > 0) {
          const st = await v.d.guestStats();
          const told = (st.driver?.evtq.overflows ?? 0) > 0;
          if (!told) fail('fault', -1, `${v.d.name}: ${v.pending.size} fault record(s) never arrived and no loss was signalled (first at IOVA 0x${[...v.pending][0]?.toString(16)})`);
          inc(coverage.vsmmu, 'victimRecordsLostWithNotice', v.pending.size);
        }
      }
      check(-1, true);
      const st = await sys.stats();
      if (st.xen.xenBugs !== 0) fail('xen-bug', -1, `Xen counted ${st.xen.xenBugs} internal bug(s)`);
      Object.assign(coverage.physCommands, st.smmu.commands.byOpcode);
      Object.assign(coverage.physEvents, st.smmu.events.byType);
      const hv = st.xenDomains.find((d) => d.name === 'hostile')?.vsmmu;
      if (hv) {
        for (const [k, val] of Object.entries(hv)) {
          if (typeof val === 'number') coverage.vsmmu[k] = val;
          else for (const [r, n] of Object.entries(val as Record<string, number>)) coverage.vsmmu[`steRejected.${r}`] = n;
        }
      }
      coverage.vsmmu['overflowNotices'] = st.xen.overflowNotices;
      coverage.vsmmu['floodDrops'] = st.xen.floodDrops;
      for (const v of victims) inc(coverage.vsmmu, 'victimFaultRecords', v.records);
      digest = sys.sim?.digest;
      // Teardown: every domain destroyed, Xen holds nothing of them.
      for (const d of sys.domains) await bounded(-1, `destroying ${d.name}`, d.destroy());
      const acc = await sys.accounting();
      const held = { domains: acc.domains, pages: acc.pages.domains, vmids: acc.vmids, vsids: acc.vsids, streams: acc.streams, irqLines: acc.irqLines, trapSlots: acc.trapSlots };
      if (Object.values(held).some((n) => n !== 0)) fail('leak', -1, `after destroying every domain Xen still holds ${JSON.stringify(held)}`);
    } catch (e) {
      if (e instanceof Stop) violations.push(e.v);
      else if (e instanceof VsmmuError && HANG_CODES.has(e.code)) violations.push({ kind: 'hang', step: inputs, what: `${e.code} ${e.message}` });
      else violations.push({ kind: 'throw', step: inputs, what: e instanceof Error ? `${e instanceof VsmmuError ? e.code + ' ' : ''}${e.message}` : String(e) });
    }
  } finally {
    await sys.close().catch(() => {});
  }
  return {
    ok: violations.length === 0, seed, mode, inputs, violations, replay, coverage,
    ...(digest !== undefined ? { digest } : {}), elapsedMs: Math.round(performance.now() - t0),
  };
}
