// system.trace on real threads: a captured timeline is valid Chrome Trace Event JSON (every
// process and track named, slices nested, every flow started and ended) and shows a guest's
// TLBI + CMD_SYNC in causal order across the guest, Xen and the SMMU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSystem, type System } from '../../src/index.ts';
import { main } from '../../src/cli/main.ts';
import { processIo, type CliIo } from '../../src/cli/io.ts';
import { Worker } from 'node:worker_threads';
import type { TraceFlushMessage } from '../../src/runtime/trace.ts';
import { validateChromeTrace, type ChromeTrace, type ChromeTraceEvent } from '../../src/trace/index.ts';

const IOVA = 0x1000_0000;

describe('system.trace (threads)', () => {
  let sys: System;
  let trace: ChromeTrace;
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-trace-'));
  const file = join(dir, 'out.json');

  beforeAll(async () => {
    sys = await createSystem({
      memory: '256M',
      domains: [{ name: 'g1', memory: '32M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }] }],
    });
    const g1 = sys.domain('g1');
    await sys.trace.start({ capacity: 1 << 16 });
    expect(sys.trace.active).toBe(true);
    await g1.driver.probe();
    await g1.driver.attach('dma0', { asid: 1 });
    await g1.driver.map(IOVA, 0x4010_0000, 4096, 'rw');
    const r = await g1.device('dma0').dma({ iova: IOVA, length: 4096 });
    expect(r.ok).toBe(true);
    await g1.driver.unmap(IOVA, 4096); // TLBI_NH_VA + CMD_SYNC
    trace = await sys.trace.stop({ file });
  });

  afterAll(async () => {
    await sys?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const pidOf = (name: string): number => {
    const m = trace.traceEvents.find((e) => e.name === 'process_name' && e.args?.['name'] === name);
    expect(m, `process ${name}`).toBeDefined();
    return (m as ChromeTraceEvent).pid;
  };
  const slices = (pid: number, name: RegExp): ChromeTraceEvent[] => trace.traceEvents.filter((e) => e.pid === pid && e.ph === 'X' && name.test(e.name));

  it('writes a file viewers open: valid Trace Event format, the same as returned', () => {
    expect(validateChromeTrace(trace)).toEqual([]);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as ChromeTrace;
    expect(parsed.traceEvents).toEqual(JSON.parse(JSON.stringify(trace.traceEvents)));
    expect(sys.trace.active).toBe(false);
  });

  it('has a process per actor with named tracks', () => {
    for (const p of ['smmu', 'xen', 'guest g1']) pidOf(p);
    const threads = trace.traceEvents.filter((e) => e.name === 'thread_name').map((e) => e.args?.['name']);
    for (const t of ['vcpu0', 'cmdq', 'd1 vcpu0', 'd1 cmdq', 'smmu cmdq', 'service loop', 'port g1/dma0/api']) expect(threads).toContain(t);
    expect(trace.traceEvents.some((e) => e.ph === 'C' && e.name === 'iotlb hit %')).toBe(true);
    for (const c of ['cmdq depth', 'd1 cmdq depth']) expect(trace.traceEvents.some((e) => e.ph === 'C' && e.name === c), c).toBe(true);
    expect(trace.traceEvents.some((e) => e.ph === 'X' && e.name === 'IOTLB miss: walk')).toBe(true);
    expect(trace.traceEvents.some((e) => e.ph === 'i' && e.name === 'STE accepted')).toBe(true);
  });

  it('shows the guest TLBI + CMD_SYNC in causal order: trap, forwarded command, physical SYNC completed, guest SYNC completed', () => {
    const guest = pidOf('guest g1');
    const xen = pidOf('xen');
    const smmu = pidOf('smmu');
    // The guest's TLBI_NH_VA, its flow through Xen's vSMMU into the physical queue.
    const flows = trace.traceEvents.filter((e) => e.cat === 'flow');
    const chains = Map.groupBy(flows, (e) => e.id);
    const tlbi = [...chains.values()].filter((c) => c[0]?.pid === guest && c[0].name === 'TLBI_NH_VA').at(-1);
    expect(tlbi, 'a flow from the guest TLBI').toBeDefined();
    const chain = tlbi as ChromeTraceEvent[];
    expect(chain.map((e) => e.pid)).toEqual([guest, xen, xen, guest]);
    const [start, fetched, issued, seen] = chain as [ChromeTraceEvent, ChromeTraceEvent, ChromeTraceEvent, ChromeTraceEvent];
    // The trap of the PROD write that made Xen fetch it (Xen's side of the trap).
    const trap = slices(xen, /^write CMDQ_PROD$/).filter((s) => (s.ts ?? 0) <= (fetched.ts ?? 0) && (s.ts ?? 0) > (start.ts ?? 0)).at(-1);
    expect(trap, 'the trapped CMDQ_PROD write').toBeDefined();
    expect(trap?.args).toMatchObject({ domid: 1, vcpu: 0, reg: 'CMDQ_PROD' });
    // The forwarded physical command, then the SMMU's physical SYNC after it, then Xen
    // completing the guest's CMD_SYNC, then the guest seeing it.
    const fwd = slices(xen, /^issue TLBI_NH_VA$/).find((s) => (s.ts ?? 0) <= (issued.ts ?? 0) && (issued.ts ?? 0) <= (s.ts ?? 0) + (s.dur ?? 0));
    expect(fwd).toBeDefined();
    const physSync = slices(smmu, /^SYNC$/).find((s) => (s.ts ?? 0) > (fwd?.ts ?? 0));
    expect(physSync, 'the physical CMD_SYNC executed after the forwarded TLBI').toBeDefined();
    const guestSync = slices(xen, /^guest CMD_SYNC completed$/).find((s) => (s.ts ?? 0) > (physSync?.ts ?? 0));
    expect(guestSync, "Xen completes the guest's CMD_SYNC after the physical one").toBeDefined();
    const order = [start.ts, trap?.ts, fwd?.ts, physSync?.ts, guestSync?.ts, seen.ts] as number[];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('a guest created while tracing is traced too', async () => {
    await sys.trace.start();
    await sys.addDomain({ name: 'late', memory: 32 * 1024 * 1024, vcpus: 1, viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x20 }] }, 30_000);
    await sys.domain('late').driver.probe();
    const t = await sys.trace.stop();
    expect(validateChromeTrace(t)).toEqual([]);
    const late = t.traceEvents.find((e) => e.name === 'process_name' && e.args?.['name'] === 'guest late');
    expect(late, 'the late guest has a process').toBeDefined();
    expect(t.traceEvents.some((e) => e.pid === late?.pid && e.ph === 'X' && e.name === 'trap read IDR0')).toBe(true);
    expect(t.traceEvents.some((e) => e.name === 'domain created' && e.args?.['name'] === 'late')).toBe(true);
  });

  it('refuses to stop twice or start twice', async () => {
    await expect(sys.trace.stop()).rejects.toMatchObject({ code: 'EVSMMU_TRACE' });
    await sys.trace.start({ capacity: 64 });
    await expect(sys.trace.start()).rejects.toMatchObject({ code: 'EVSMMU_TRACE' });
    const small = await sys.trace.stop();
    expect(validateChromeTrace(small)).toEqual([]);
    await expect(sys.trace.start({ capacity: 3 })).rejects.toMatchObject({ code: 'EVSMMU_INVAL' });
  });
});

describe('vsmmu run --trace, vsmmu stress --trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-trace-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = async (argv: string[]): Promise<{ code: number; out: string }> => {
    let out = '';
    const io: CliIo = { out: (t) => void (out += t), err: (t) => void (out += t), tty: false, readFile: processIo.readFile };
    return { code: await main(argv, io), out };
  };
  const load = (f: string): ChromeTrace => JSON.parse(readFileSync(f, 'utf8')) as ChromeTrace;

  it('run writes a valid timeline of the whole run', async () => {
    const f = join(dir, 'run.json');
    const r = await cli(['run', '--guests', '1', '--seconds', '0.2', '--trace', f]);
    expect(r.code, r.out).toBe(0);
    const t = load(f);
    expect(validateChromeTrace(t)).toEqual([]);
    expect(t.traceEvents.some((e) => e.name === 'dma batch')).toBe(true);
    expect(t.traceEvents.some((e) => e.name === 'event forwarded' && e.args?.['vsid'] === 256)).toBe(true);
  });

  it("stress writes the first seed's timeline when every run held", async () => {
    const f = join(dir, 'stress.json');
    const r = await cli(['stress', '--seeds', '2', '--seed', '11', '--guests', '1', '--rounds', '20', '--trace', f]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/trace of seed 11:/);
    expect(validateChromeTrace(load(f))).toEqual([]);
  });

  it("stress writes the failing seed's timeline (sim: virtual time, the seed in otherData)", async () => {
    const f = join(dir, 'failing.json');
    const r = await cli(['stress', '--seeds', '1', '--seed', '1', '--guests', '2', '--rounds', '60', '--mutation', 'early-sync', '--trace', f]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/seed 1: FAILED/);
    expect(r.out).toMatch(/trace of seed 1:/);
    const t = load(f);
    expect(validateChromeTrace(t)).toEqual([]);
    expect(t.otherData).toMatchObject({ mode: 'sim', seed: 1 });
  });
});

describe('a worker that dies', () => {
  it('posts its ring to the parent before its thread ends', async () => {
    const w = new Worker(new URL('../support/trace-crash-worker.ts', import.meta.url));
    const got: TraceFlushMessage[] = [];
    w.on('message', (m: TraceFlushMessage) => void got.push(m));
    const error = new Promise<Error>((r) => w.once('error', r));
    await new Promise((r) => w.once('exit', r));
    expect((await error).message).toBe('planned crash');
    expect(got).toHaveLength(1);
    expect(got[0]?.kind).toBe('vsmmu:trace');
    expect(got[0]?.dump.events.map((e) => e.name)).toEqual(['about to fail', 'last slice']);
    expect(got[0]?.dump.processes[0]?.name).toBe('doomed');
  });
});
