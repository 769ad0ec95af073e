// vsmmu fuzz (issue 15): a hostile guest beside well-behaved guests, invariants after every
// input. The CI run (`vsmmu fuzz --seed 7 --iterations 2000`), sim-mode replay by digest, a
// run on real threads, the pool fan-out, shrinking, and the generator's reach.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateOps, opClasses, type FuzzOp } from '../../src/fuzz/ops.ts';
import { runFuzzSeed, shrinkOps } from '../../src/fuzz/run.ts';
import { CMD_LAYOUTS } from '../../src/arch/commands.ts';
import { cli } from '../support/cli.ts';


describe('vsmmu fuzz', () => {
  it('the CI run: vsmmu fuzz --seed 7 --iterations 2000 exits 0 with no break, hang or throw', async () => {
    const r = await cli(['fuzz', '--seed', '7', '--iterations', '2000']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^seed 7: ok, \d+ inputs/m);
    expect(r.out).toMatch(/isolation breaks 0, data errors 0, lost faults 0, hangs 0, throws 0, dead guests 0, Xen bugs 0, leaks 0/);
  }, 240_000);

  it('sim mode: the same seed gives the same run (digest), and the report names its replay command', async () => {
    const a = await runFuzzSeed(11, { iterations: 150 });
    const b = await runFuzzSeed(11, { iterations: 150 });
    expect(a.ok, JSON.stringify(a.violations)).toBe(true);
    expect(a.mode).toBe('sim');
    expect(a.digest).toMatch(/^[0-9a-f]{16}$/);
    expect(b.digest).toBe(a.digest);
    expect(a.replay).toBe('vsmmu fuzz --seed 11 --iterations 150 --guests 3 --sim');
    // Coverage as figures: the physical SMMU executed commands and wrote events, the
    // hostile guest got answers from its vSMMU.
    expect(Object.keys(a.coverage.physCommands).length).toBeGreaterThan(0);
    expect(a.coverage.vsmmu['commands']).toBeGreaterThan(0);
  }, 120_000);

  it('runs on real threads too, and fans seeds out on the pool', async () => {
    const r = await runFuzzSeed(3, { iterations: 200, mode: 'threads' });
    expect(r.ok, JSON.stringify(r.violations)).toBe(true);
    expect(r.digest).toBeUndefined();
    const c = await cli(['fuzz', '--seed', '20', '--seeds', '2', '--jobs', '2', '--iterations', '100', '--json']);
    expect(c.code).toBe(0);
    const j = JSON.parse(c.out) as { ok: boolean; summary: { seeds: number; inputs: number }; reports: { seed: number }[] };
    expect(j.ok).toBe(true);
    expect(j.reports.map((x) => x.seed)).toEqual([20, 21]);
    expect(j.summary.inputs).toBeGreaterThan(200);
  }, 180_000);

  it('replays a saved input list (--replay), and refuses bad usage with exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vsmmu-fuzz-'));
    const file = join(dir, 'ops.json');
    writeFileSync(file, JSON.stringify(generateOps({ seed: 5, iterations: 40, victims: 2 })));
    const r = await cli(['fuzz', '--replay', file, '--seed', '5']);
    expect(r.code).toBe(0);
    expect((await cli(['fuzz', '--sim', '--threads'])).code).toBe(2);
    expect((await cli(['fuzz', '--profile', 'rfc2', '--iterations', '1'])).err).toMatch(/EVSMMU_USAGE/);
    expect((await cli(['fuzz', '--guests', '1'])).code).toBe(2);
    writeFileSync(file, '{');
    expect((await cli(['fuzz', '--replay', file])).code).toBe(2);
    expect(readFileSync(file, 'utf8')).toBe('{');
  }, 120_000);
});

describe('the fuzzer\'s parts', () => {
  it('generates the same inputs for a seed, and every class of hostile input in 2000 of them', () => {
    const a = generateOps({ seed: 7, iterations: 2000, victims: 2 });
    expect(generateOps({ seed: 7, iterations: 2000, victims: 2 })).toEqual(a);
    expect(generateOps({ seed: 8, iterations: 2000, victims: 2 })).not.toEqual(a);
    const classes = Object.keys(opClasses(a));
    for (const want of [
      'storm:', 'prod:abuse', 'smmuen:off', 'queue:cmdq', 'queue:evtq', 'strtab:l1', 'ste:s2-or-nested', 'ste:s1-extra-bit',
      'ste:reserved-config', 'ste:invalid', 'ste:bypass', 'cd:wild-ttb0', 'cd:geometry', 'pt:loop', 'pt:wild', 'reg:any-write',
      'reg:GBPA', 'reg:GERRORN', 'cmd:raw:', 'cmd:TLBI_EL2_ALL', 'cmd:TLBI_S12_VMALL', 'cmd:SYNC', 'ack:gerror', 'evt:read',
      'victim:map', 'victim:unmap', 'victim:dma', 'victim:faults', 'dma',
    ]) {
      expect(classes.some((c) => c.startsWith(want)), want).toBe(true);
    }
    // Commands with any fields: every opcode the architecture defines is tried.
    const cmds = new Set(classes.filter((c) => c.startsWith('cmd:') && !c.startsWith('cmd:raw:')).map((c) => c.slice(4)));
    expect([...Object.keys(CMD_LAYOUTS)].filter((n) => !cmds.has(n))).toEqual([]);
  });

  it('shrinks a failing input list to the inputs that matter (delta debugging)', async () => {
    const ops: FuzzOp[] = Array.from({ length: 64 }, (_, i) => ({ k: 'mmio', t: `op${i}`, off: i * 4, size: 4 }));
    let runs = 0;
    const fails = async (l: readonly FuzzOp[]): Promise<boolean> => {
      runs++;
      const ts = new Set(l.map((o) => o.t));
      return ts.has('op9') && ts.has('op50');
    };
    const min = await shrinkOps(ops, fails, 200);
    expect(min.map((o) => o.t)).toEqual(['op9', 'op50']);
    expect(runs).toBeLessThanOrEqual(200);
  });
});
