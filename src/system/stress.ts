// A seeded stress run of the whole system. Each guest runs its own stress workload
// (src/guest/stress.ts: map/unmap with single and range TLBIs, lazy unmaps flushed by
// TLBI_NH_ASID, CD and STE reconfiguration with PASIDs, DMA reads and writes checked against
// its model, provoked faults and fault bursts) as its own steps, while the run kills and
// destroys guests and creates new ones mid-flight. Checked continuously:
//   - isolation: every byte a device's DMA moves is in its own guest's p2m (sim mode: an
//     observer on the SMMU's data path; threads: canary pages in every guest);
//   - no stale translation once unmap + TLBI + CMD_SYNC completed, DMA data where mapped,
//     every fault record to its owner with its vSID, SSID and IOVA and every provoked fault
//     delivered unless the event queue overflowed (in each guest);
//   - no guest dies unless killed, Xen counts no internal bug.
// Sim mode (the default): the whole system on one thread under the seed's schedule, so the
// same seed replays exactly (same digest); threads: real concurrency, the same operations.
import { setTimeout as delay } from 'node:timers/promises';
import { VsmmuError } from '../errors.ts';
import type { GuestStressReport } from '../guest/stress.ts';
import type { SimBackend } from '../sim/backend.ts';
import { prng } from '../prng.ts';
import { mutation } from '../sim/mutations.ts';
import type { SimStrategy } from '../sim/scheduler.ts';
import type { DomainConfig } from '../xen/xlcfg.ts';
import type { Domain } from './domain.ts';
import { createSystem, type System } from './system.ts';
import type { XenProfileName } from '../xen/profile.ts';
import { formatChromeTrace } from '../trace/chrome.ts';
import { sameBytes } from '../mem/bytes.ts';


export interface StressOptions {
  readonly seed: number;
  /** Guests with a vSMMU and two devices each at the start (default 3). */
  readonly guests?: number;
  /** Operations per guest (default 400). */
  readonly rounds?: number;
  /** 'sim' (default): one thread, a seeded schedule, exact replay; 'threads': real threads. */
  readonly mode?: 'sim' | 'threads';
  /** Sim mode's scheduling strategy (default random) and PCT depth. */
  readonly strategy?: SimStrategy;
  readonly depth?: number;
  /** Kill, destroy and create guests while the others run (default true). */
  readonly chaos?: boolean;
  /** Wall-clock bound of a threads-mode run in ms (default 20 000). */
  readonly timeMs?: number;
  /** Shrinking: the operation indices each guest keeps, by guest name. */
  readonly keep?: Readonly<Record<string, readonly number[]>>;
  /** Record a timeline of the run (StressReport.trace, docs/tracing.md). */
  readonly trace?: boolean;
  /** Sim mode: a planted bug (src/sim/mutations.ts) the checkers must catch. */
  readonly mutation?: string;
  /** Xen's policy profile (default 'hardened'; rfc and v3 may panic on a guest's STE, docs/profiles.md). */
  readonly profile?: XenProfileName;
}

export interface StressReport {
  readonly seed: number;
  readonly mode: 'sim' | 'threads';
  readonly ok: boolean;
  /** The first thing that broke, with the guest, operation and IOVA (absent when ok). */
  readonly violation?: string;
  /** Operations the guests executed. */
  readonly ops: number;
  readonly dmas: number;
  readonly faults: number;
  readonly maps: number;
  readonly unmaps: number;
  /** Guests killed, destroyed and created mid-flight. */
  readonly chaos: number;
  /** Guests whose event queue overflowed (fault bursts; their lost records are excused). */
  readonly overflows: number;
  /** Threads mode: the run's wall-clock time. (A sim-mode report holds nothing of the wall
   *  clock, so the same seed gives a byte-identical report.) */
  readonly elapsedMs?: number;
  /** Sim mode: the run's virtual time. */
  readonly virtualMs?: number;
  /** Sim mode: the digest of the schedule and every call and answer, and the steps taken. */
  readonly digest?: string;
  readonly steps?: number;
  /** The operations of the guest that failed, up to its violation. */
  readonly history?: readonly string[];
  /** The command that replays this run. */
  readonly replay: string;
  /** With StressOptions.trace: the run's Chrome Trace Event JSON (its last events per thread). */
  readonly trace?: string;
}

const CANARY_IPA = 0x4080_0000; // low half of each guest's RAM: its kernel never allocates there
/** Every third guest's event queue is small (2^3 records), so fault bursts overflow it at
 *  times; the others' hold 2^7, so their every provoked fault must arrive. */
const guestDriver = (i: number): { evtqMaxLog2: number } => ({ evtqMaxLog2: i % 3 === 0 ? 3 : 7 });
const DEVICES = 2;
const GUEST_TIMEOUT_MS = 30_000;
/** Sim mode: virtual time between two chances of a chaos event. */
const CHAOS_SLICE_MS = 2;
/** Threads: wall time between two chaos events. */
const CHAOS_PACE_MS = 20;

class Violation extends Error {}

function check(cond: boolean, what: () => string): void {
  if (!cond) throw new Violation(what());
}

const guestConfig = (i: number): DomainConfig => ({
  name: `g${i + 1}`, memory: 32 * 1024 * 1024, vcpus: 1, viommu: 'smmuv3',
  devices: Array.from({ length: DEVICES }, (_, k) => ({ name: `dma${k}`, sid: 0x100 * (i + 1) + k })),
});

/** The command that replays a run with these options. */
export function stressReplay(o: StressOptions): string {
  const parts = [`vsmmu stress --seeds 1 --seed ${o.seed} --guests ${o.guests ?? 3} --rounds ${o.rounds ?? 400}`];
  if (o.mode === 'threads') parts.push('--threads');
  if (o.strategy && o.strategy !== 'random') parts.push(`--strategy ${o.strategy}`);
  if (o.depth !== undefined) parts.push(`--depth ${o.depth}`);
  if (o.chaos === false) parts.push('--no-chaos');
  if (o.keep) parts.push(`--keep '${formatKeep(o.keep)}'`);
  if (o.mutation) parts.push(`--mutation ${o.mutation}`);
  if (o.profile !== undefined && o.profile !== 'hardened') parts.push(`--profile ${o.profile}`);
  return parts.join(' ');
}

/** "g1:1,4,9;g2:" <-> { g1: [1, 4, 9], g2: [] } */
export function formatKeep(keep: Readonly<Record<string, readonly number[]>>): string {
  return Object.entries(keep).map(([g, ops]) => `${g}:${ops.join(',')}`).join(';');
}

export function parseKeep(text: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const part of text.split(';').filter((p) => p.trim() !== '')) {
    const m = /^\s*(g\d+)\s*:\s*([\d,\s]*)$/.exec(part);
    if (!m) throw new VsmmuError('EVSMMU_USAGE', `--keep "${part}": expected GUEST:I,J,... (e.g. g1:3,17;g2:)`);
    out[m[1]!] = m[2]!.split(',').filter((x) => x.trim() !== '').map(Number);
  }
  return out;
}

function checkOptions(o: StressOptions): void {
  const whole = (v: unknown, what: string, min: number, max: number): void => {
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)) {
      throw new VsmmuError('EVSMMU_USAGE', `stress ${what} must be a whole number ${min}..${max}, got ${String(v)}`);
    }
  };
  if (!Number.isInteger(o.seed)) throw new VsmmuError('EVSMMU_USAGE', `stress seed must be a whole number, got ${o.seed}`);
  whole(o.guests, 'guests', 1, 16);
  whole(o.rounds, 'rounds', 1, 1_000_000);
}

export async function runStress(o: StressOptions): Promise<StressReport> {
  checkOptions(o);
  if (o.mutation === undefined) return run(o);
  if ((o.mode ?? 'sim') !== 'sim') throw new VsmmuError('EVSMMU_USAGE', 'a mutation is planted in sim mode only (the actors run on this thread there)');
  const undo = mutation(o.mutation).apply();
  try {
    return await run(o);
  } finally {
    undo();
  }
}

async function run(o: StressOptions): Promise<StressReport> {
  const mode = o.mode ?? 'sim';
  const guests = o.guests ?? 3;
  const rounds = o.rounds ?? 400;
  const chaosOn = o.chaos ?? true;
  const t0 = performance.now();
  const rnd = prng(o.seed ^ 0x5eed);
  const tally = { ops: 0, dmas: 0, faults: 0, maps: 0, unmaps: 0, chaos: 0, overflows: 0 };
  let history: readonly string[] | undefined;
  const isolation: string[] = [];
  const killed = new Set<string>();

  await using sys = await createSystem({
    ...(o.profile === undefined ? {} : { xen: { profile: o.profile } }),
    memory: Math.max(128, 48 + 40 * (guests + 2)) * 1024 * 1024,
    sim: mode === 'sim' ? { seed: o.seed, recycleMemory: true, ...(o.strategy ? { strategy: o.strategy } : {}), ...(o.depth !== undefined ? { depth: o.depth } : {}) } : false,
  });
  if (o.trace) await sys.trace.start();
  const sim = mode === 'sim' ? (sys.backend as SimBackend) : null;
  watchIsolation(sys, sim, isolation);
  const canary = (d: Domain): Uint8Array => new Uint8Array(4096).fill(0xc0 + (d.domid & 0x3f));
  const start = async (d: Domain, i: number): Promise<void> => {
    d.memory.write(CANARY_IPA, canary(d));
    const keep = o.keep?.[d.name];
    await d.call('stressStart', { seed: (o.seed * 31 + i) >>> 0, ops: rounds, ...(keep ? { keep } : {}) });
  };
  const live = (): Domain[] => sys.domains.filter((d) => d.dead === null);

  let violation: string | undefined;
  try {
    for (let i = 0; i < guests; i++) await sys.addDomain(guestConfig(i), GUEST_TIMEOUT_MS, guestDriver(i));
    for (const [i, d] of sys.domains.entries()) await start(d, i);
    /** One chaos event: kill or destroy a guest (never the last), or create one. */
    const chaos = async (): Promise<void> => {
      const r = rnd() % 16;
      const alive = live();
      if (r === 0 && alive.length > 1) {
        const d = alive[rnd() % alive.length]!;
        killed.add(d.name);
        await (rnd() % 2 === 0 ? d.kill() : d.destroy());
        tally.chaos++;
      } else if (r === 1 && sys.domains.length < guests + 2) {
        const i = sys.domains.length;
        await sys.addDomain(guestConfig(i), GUEST_TIMEOUT_MS, guestDriver(i));
        await start(sys.domain(`g${i + 1}`), i);
        tally.chaos++;
      }
    };
    if (sim) {
      // The guests' operations are their own steps; chaos gets a chance every slice.
      const pending = async (): Promise<boolean> => (await Promise.all(live().map((d) => d.call('stressPending')))).some(Boolean);
      while (await pending()) {
        await sys.run(CHAOS_SLICE_MS);
        if (isolation.length > 0) break;
        if (chaosOn) await chaos();
      }
    } else {
      // Each guest runs its whole list on its own thread; chaos meanwhile on this one.
      let done = false;
      const deadline = t0 + (o.timeMs ?? 20_000);
      const runs = Promise.allSettled(live().map((d) => d.call('stressFinish'))).finally(() => (done = true));
      // A chaos event every CHAOS_PACE_MS until the guests finish (not a poll: the wait ends
      // as soon as they do).
      while (chaosOn && !done && performance.now() < deadline) {
        await Promise.race([runs, delay(CHAOS_PACE_MS, undefined, { ref: false })]);
        if (!done) await chaos();
      }
      await runs;
    }
    const reports: GuestStressReport[] = [];
    for (const d of live()) reports.push(await d.call('stressFinish'));
    for (const r of reports) {
      tally.ops += r.ops;
      tally.dmas += r.dmas;
      tally.faults += r.faultsProvoked;
      tally.maps += (r.counts['map'] ?? 0) + (r.counts['map-range'] ?? 0);
      tally.unmaps += (r.counts['unmap'] ?? 0) + (r.counts['unmap-lazy'] ?? 0);
      if (r.overflowed) tally.overflows++;
    }
    check(isolation.length === 0, () => isolation[0]!);
    const bad = reports.find((r) => r.violations.length > 0);
    if (bad) history = bad.history;
    check(!bad, () => bad!.violations[0]!);
    for (const d of sys.domains) {
      if (killed.has(d.name)) continue;
      check(d.dead === null, () => `guest ${d.name} died: ${d.dead?.message}`);
      check(sameBytes(d.memory.read(CANARY_IPA, 4096), canary(d)), () => `guest ${d.name}: its canary page was changed by someone's DMA`);
    }
    const st = await sys.stats();
    check(st.xen.xenBugs === 0, () => `Xen counted ${st.xen.xenBugs} internal bug(s)`);
    // After teardown every page, VMID, vSID, stream, interrupt line and trap slot is free.
    for (const d of sys.domains) await d.destroy();
    const a = await sys.accounting();
    const held = { domains: a.domains, pages: a.pages.domains, withheld: a.pages.withheld, vmids: a.vmids, vsids: a.vsids, streams: a.streams, irqLines: a.irqLines, trapSlots: a.trapSlots };
    check(Object.values(held).every((v) => v === 0), () => `after every guest was destroyed Xen still holds ${JSON.stringify(held)}`);
  } catch (e) {
    if (!(e instanceof Violation) && !(e instanceof VsmmuError)) throw e;
    violation = e instanceof VsmmuError ? `${e.message} [${e.code}]` : e.message;
  }
  const state = sys.sim;
  const trace = o.trace ? formatChromeTrace(await sys.trace.stop()) : undefined;
  const base = {
    ...(trace !== undefined ? { trace } : {}),
    seed: o.seed, mode, ...tally,
    ...(state ? { virtualMs: Math.round(state.now) } : { elapsedMs: Math.round(performance.now() - t0) }),
    ...(state ? { digest: state.digest, steps: state.steps } : {}),
    ...(history ? { history } : {}),
    replay: stressReplay(o),
  };
  return violation === undefined ? { ...base, ok: true } : { ...base, ok: false, violation };
}

/** Sim mode: every byte a transaction moves must be in the p2m of the guest owning its StreamID. */
function watchIsolation(sys: System, sim: SimBackend | null, out: string[]): void {
  const smmu = sim?.world.smmu;
  if (!smmu) return;
  smmu.onAccess = (sid, pa, bytes) => {
    if (out.length > 0) return;
    const owner = sys.domains.find((d) => d.dead === null && d.devices.some((dev) => dev.sid === sid));
    if (!owner) {
      out.push(`a DMA of StreamID 0x${sid.toString(16)}, which no live guest owns, reached PA 0x${pa.toString(16)}`);
      return;
    }
    if (!owner.ramRanges.some((r) => pa >= r.pa && pa + bytes <= r.pa + r.size)) {
      out.push(`isolation: a DMA of guest ${owner.name}'s StreamID 0x${sid.toString(16)} reached PA 0x${pa.toString(16)} (+${bytes}), outside its p2m`);
    }
  };
}
