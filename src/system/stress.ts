// A seeded stress run of the whole system, checked from outside: every guest's devices map,
// unmap and DMA at random while the others do the same, and every result is compared with a
// model of what that guest mapped:
//   - a DMA to a mapped IOVA succeeds and its bytes land in the host pages of that guest's IPA;
//   - a DMA to an IOVA unmapped (with TLBI + SYNC) faults with F_TRANSLATION;
//   - no guest's DMA changes another guest's memory (canaries, checked at the end);
//   - no guest dies and Xen counts no internal bug.
// The same seed gives the same operations (their interleaving across threads still varies).
import { VsmmuError } from '../errors.ts';
import type { Domain } from './domain.ts';
import { createSystem } from './system.ts';
import { formatChromeTrace } from '../trace/chrome.ts';

export interface StressOptions {
  readonly seed: number;
  /** Guests with a vSMMU and two devices each (default 3). */
  readonly guests?: number;
  /** Operations per guest at most (default 400). */
  readonly rounds?: number;
  /** Time bound of the run in ms (default 20 000). */
  readonly timeMs?: number;
  /** Record a timeline of the run (StressReport.trace, docs/tracing.md). */
  readonly trace?: boolean;
}

export interface StressReport {
  readonly seed: number;
  readonly ok: boolean;
  /** What broke, with the guest, device, round and IOVA (absent when ok). */
  readonly violation?: string;
  readonly dmas: number;
  readonly faults: number;
  readonly maps: number;
  readonly unmaps: number;
  readonly elapsedMs: number;
  /** With StressOptions.trace: the run's Chrome Trace Event JSON (its last events per thread). */
  readonly trace?: string;
}

const PAGES = 16; // IOVA slots per device
const IOVA = 0x1000_0000;
const BUF_IPA = 0x4010_0000; // low half of each guest's RAM: its kernel never uses it
const CANARY_IPA = 0x4080_0000;

/** mulberry32: small, fast, and the same sequence on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

class Violation extends Error {}

function check(cond: boolean, what: () => string): void {
  if (!cond) throw new Violation(what());
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export async function runStress(o: StressOptions): Promise<StressReport> {
  const guests = o.guests ?? 3;
  const rounds = o.rounds ?? 400;
  if (!Number.isInteger(o.seed)) throw new VsmmuError('EVSMMU_USAGE', `stress seed must be a whole number, got ${o.seed}`);
  const t0 = performance.now();
  const deadline = t0 + (o.timeMs ?? 20_000);
  const tally = { dmas: 0, faults: 0, maps: 0, unmaps: 0 };
  await using sys = await createSystem({
    memory: Math.max(128, 32 + 40 * guests) * 1024 * 1024,
    domains: Array.from({ length: guests }, (_, i) => ({
      name: `g${i + 1}`, memory: '32M', viommu: 'smmuv3' as const,
      devices: [{ name: 'dma0', sid: 0x100 * (i + 1) }, { name: 'dma1', sid: 0x100 * (i + 1) + 1 }],
    })),
  });
  if (o.trace) await sys.trace.start();
  const canary = (d: Domain): Uint8Array => new Uint8Array(4096).fill(0xc0 + d.domid);
  for (const d of sys.domains) {
    d.memory.write(CANARY_IPA, canary(d));
    await d.driver.probe();
    for (const [i, dev] of d.devices.entries()) await d.driver.attach(dev, { asid: i + 1 });
  }

  const runGuest = async (d: Domain, gi: number): Promise<void> => {
    const rnd = prng(o.seed + gi);
    const mapped = d.devices.map(() => new Map<number, number>()); // IOVA -> IPA, per device
    for (let round = 0; round < rounds && performance.now() < deadline; round++) {
      const di = rnd() % d.devices.length;
      const dev = d.devices[di]!;
      const m = mapped[di]!;
      const slot = rnd() % PAGES;
      const iova = IOVA + slot * 4096;
      const where = (): string => `guest ${d.name}, ${dev.name}, round ${round}, IOVA 0x${iova.toString(16)}`;
      const op = rnd() % 3;
      if (op === 0 && !m.has(iova)) {
        const ipa = BUF_IPA + (di * PAGES + slot) * 4096;
        await d.driver.map(iova, ipa, 4096, 'rw', { device: dev });
        m.set(iova, ipa);
        tally.maps++;
      } else if (op === 1 && m.has(iova)) {
        await d.driver.unmap(iova, 4096, { device: dev });
        m.delete(iova);
        tally.unmaps++;
      } else {
        const data = Uint8Array.from({ length: 64 }, () => rnd() & 0xff);
        const r = await dev.dma({ iova: iova + 128, data });
        tally.dmas++;
        const ipa = m.get(iova);
        if (ipa === undefined) {
          check(!r.ok, () => `${where()}: a DMA to an unmapped IOVA succeeded`);
          check(!r.ok && 'iova' in r.fault && r.fault.name === 'F_TRANSLATION' && r.fault.s2 === 0, () => `${where()}: expected a stage-1 F_TRANSLATION, got ${JSON.stringify(r)}`);
          tally.faults++;
        } else {
          check(r.ok && r.bytes === 64, () => `${where()}: a DMA to a mapped IOVA failed: ${JSON.stringify(r)}`);
          check(same(sys.host.read(d.ipaToPa(ipa) + 128, 64), data), () => `${where()}: the bytes are not at the host page of IPA 0x${ipa.toString(16)}`);
        }
      }
    }
  };

  let violation: string | undefined;
  try {
    await Promise.all(sys.domains.map((d, i) => runGuest(d, i)));
    for (const d of sys.domains) {
      check(d.dead === null, () => `guest ${d.name} died: ${d.dead?.message}`);
      check(same(d.memory.read(CANARY_IPA, 4096), canary(d)), () => `guest ${d.name}: its canary page was changed by someone's DMA`);
    }
    const st = await sys.stats();
    check(st.xen.xenBugs === 0, () => `Xen counted ${st.xen.xenBugs} internal bug(s)`);
  } catch (e) {
    if (!(e instanceof Violation) && !(e instanceof VsmmuError)) throw e;
    violation = e instanceof VsmmuError ? `${e.message} [${e.code}]` : e.message;
  }
  const trace = o.trace ? formatChromeTrace(await sys.trace.stop()) : undefined;
  const base = { seed: o.seed, ...tally, elapsedMs: Math.round(performance.now() - t0), ...(trace !== undefined ? { trace } : {}) };
  return violation === undefined ? { ...base, ok: true } : { ...base, ok: false, violation };
}
