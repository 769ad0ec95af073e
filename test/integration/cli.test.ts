// Every CLI command and its errors, through main() with captured output (the run verb
// starts real workers).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitStatus, main } from '../../src/cli/main.ts';
import { VsmmuError } from '../../src/errors.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { stressLine } from '../../src/cli/stress.ts';
import { failureList } from '../../src/cli/run.ts';
import type { GuestReport, ScenarioReport } from '../../src/system/scenario.ts';
import { dtc, dtcIt } from '../support/dtc.ts';
import { cli } from '../support/cli.ts';

const withDtc = dtcIt('vsmmu dt output through dtc (test/integration/cli.test.ts)');


const dir = mkdtempSync(join(tmpdir(), 'vsmmu-cli-'));
const cfg = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const G1 = cfg('g1.cfg', 'name = "g1"\nmemory = 32\nviommu = "smmuv3"\ndmadev = [ "name=dma0,sid=0x40", "name=dma1,sid=0x41" ]\n');
const G2 = cfg('g2.cfg', 'name = "g2"\nmemory = 16\ndmadev = [ "name=dma0,sid=0x50" ]\n');
const CLASH = cfg('clash.cfg', 'name = "g3"\nmemory = 16\ndmadev = [ "name=dma0,sid=0x40" ]\n');
const TYPO = cfg('typo.cfg', 'name = "g4"\nmemroy = 16\n');
const NUL = cfg('nul.cfg', 'name = "g5"\nmemory = \u0000\u001b[31m\n');
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe('vsmmu', () => {
  it('--help, help <verb> and no arguments print usage', async () => {
    for (const argv of [[], ['--help'], ['-h']]) {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Usage: vsmmu <command>/);
    }
    expect((await cli(['help', 'run'])).out).toMatch(/Usage: vsmmu run/);
    expect((await cli(['run', '--help'])).out).toMatch(/--seconds S/);
    expect((await cli(['dt', '-h'])).out).toMatch(/Usage: vsmmu dt/);
  });

  it('an unknown command is a usage error', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command 'frobnicate'.*run, dt/);
  });

  it('an unknown command or help topic ends with its code', async () => {
    expect(await cli(['frobnicate'])).toMatchObject({ code: 2, err: expect.stringMatching(/^vsmmu: unknown command 'frobnicate'.* \[EVSMMU_USAGE\]\n$/) });
    expect(await cli(['--frob'])).toMatchObject({ code: 2, err: expect.stringMatching(/unknown option '--frob'.* \[EVSMMU_USAGE\]\n$/) });
    expect(await cli(['help', 'nope'])).toMatchObject({ code: 2, err: expect.stringMatching(/unknown command 'nope'.* \[EVSMMU_USAGE\]\n$/) });
  });

  it('--version and -V print the version from package.json', async () => {
    for (const flag of ['--version', '-V']) expect(await cli([flag])).toEqual({ code: 0, out: `vsmmu ${VERSION}\n`, err: '' });
    expect((await cli(['--help'])).out).toMatch(/-V, --version/);
  });

  it('the exit status follows the error kind: input 2; run (a crashed or hung guest) and bug 1', () => {
    expect(exitStatus(new VsmmuError('EVSMMU_USAGE', ''))).toBe(2);
    expect(exitStatus(new VsmmuError('EVSMMU_XLCFG_SYNTAX', ''))).toBe(2);
    expect(exitStatus(new VsmmuError('EVSMMU_DOMAIN_CRASHED', ''))).toBe(1);
    expect(exitStatus(new VsmmuError('EVSMMU_DOMAIN_HUNG', ''))).toBe(1);
    expect(exitStatus(new VsmmuError('EVSMMU_CHECK', ''))).toBe(1);
    expect(exitStatus(new VsmmuError('EVSMMU_INTERNAL', ''))).toBe(1);
  });

  it('an error that is not a coded one is EVSMMU_INTERNAL, exit 1, no stack trace', async () => {
    let err = '';
    const io: CliIo = { out: () => {}, err: (t) => void (err += t), tty: false, readFile: () => { throw new Error('disk on fire'); } };
    expect(await main(['dt', 'x.cfg'], io)).toBe(1);
    expect(err).toBe('vsmmu dt: disk on fire [EVSMMU_INTERNAL]\n');
  });

  it('control characters from the input are escaped in messages', async () => {
    const r = await cli(['dt', NUL]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/nul\.cfg:2:10: .*\\x00.*\[EVSMMU_XLCFG_SYNTAX\]\n$/);
    expect(r.err.slice(0, -1)).not.toMatch(/[\u0000-\u001f]/);
    const f = await cli(['dt', join(dir, 'bad\u001b[2Jname.cfg')]);
    expect(f).toMatchObject({ code: 2, err: expect.stringMatching(/bad\\x1b\[2Jname\.cfg: no such file \[EVSMMU_FILE\]/) });
  });
});

describe('vsmmu dt', () => {
  it('prints the guest DTS with the vSMMU and the devices\' vSIDs', async () => {
    const r = await cli(['dt', G1]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\/dts-v1\/;/);
    expect(r.out).toMatch(/iommu@4040000 \{[^}]*compatible = "arm,smmu-v3";/s);
    expect(r.out).toMatch(/iommus = <&vsmmu 0x40>/);
    expect(r.out).toMatch(/iommus = <&vsmmu 0x41>/);
    expect((await cli(['dt', '--vpci', G1])).out).toMatch(/iommu-map/);
  });

  withDtc('its DTS compiles with dtc without a warning', async () => {
    const r = await cli(['dt', G1]);
    const c = spawnSync(dtc().bin, ['-I', 'dts', '-O', 'dtb', '-o', '/dev/null', '-'], { input: r.out, encoding: 'utf8' });
    expect(c.status, c.stderr).toBe(0);
    expect(c.stderr).toBe('');
  });

  withDtc('--host prints the host tree (the SMMU, its DMA devices with iommus); dtc compiles it without a warning', async () => {
    const r = await cli(['dt', '--host', '--memory', '1G', G1]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/smmu: iommu@4000200000 \{[^}]*compatible = "arm,smmu-v3";[^}]*#iommu-cells = <0x1>;/s);
    expect(r.out).toMatch(/dma0@4001000000 \{[^}]*iommus = <&smmu 0x10>;/s);
    expect(r.out).toMatch(/reg = <0x0 0x0 0x0 0x40000000>;/);
    const c = spawnSync(dtc().bin, ['-I', 'dts', '-O', 'dtb', '-o', '/dev/null', '-'], { input: r.out, encoding: 'utf8' });
    expect(c.status, c.stderr).toBe(0);
    expect(c.stderr).toBe('');
    expect(await cli(['dt', '--host', '--vpci'])).toMatchObject({ code: 2, err: expect.stringMatching(/\[EVSMMU_USAGE\]/) });
    expect(await cli(['dt', '--memory', '1G', G1])).toMatchObject({ code: 2, err: expect.stringMatching(/with --host.*\[EVSMMU_USAGE\]/) });
  });

  it('no file: one prefix, the usage code', async () => {
    expect((await cli(['dt'])).err).toBe("vsmmu dt: give exactly one xl.cfg file, got 0 (see 'vsmmu dt --help') [EVSMMU_USAGE]\n");
  });

  it('errors: no file, two files, missing file, bad xl.cfg, bad option', async () => {
    expect(await cli(['dt'])).toMatchObject({ code: 2, err: expect.stringMatching(/exactly one xl.cfg file.*EVSMMU_USAGE/) });
    expect(await cli(['dt', G1, G2])).toMatchObject({ code: 2 });
    expect(await cli(['dt', join(dir, 'none.cfg')])).toMatchObject({ code: 2, err: expect.stringMatching(/cannot read .*none.cfg: no such file \[EVSMMU_FILE\]/) });
    expect(await cli(['dt', TYPO])).toMatchObject({ code: 2, err: expect.stringMatching(/memroy.*\[EVSMMU_XLCFG_UNKNOWN_KEY\]/) });
    expect(await cli(['dt', '--frob', G1])).toMatchObject({ code: 2, err: expect.stringMatching(/--frob.*\[EVSMMU_USAGE\]/) });
  });
});

describe('vsmmu run', () => {
  it('runs the built-in scenario and exits 0 when every check held', async () => {
    const r = await cli(['run', '--guests', '1', '--seconds', '0.2']);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/guest1 \(viommu smmuv3\)/);
    expect(r.out).toMatch(/plain \(viommu none\)/);
    expect(r.out).toMatch(/dma0: map, DMA, check, unmap, fault: F_TRANSLATION vSID 256/);
    expect(r.out).toMatch(/PASS: every check held/);
    expect(r.out).not.toMatch(/FAIL/);
  });

  it('--json gives the machine-readable report; xl.cfg files give the guests', async () => {
    const r = await cli(['run', '--json', '--seconds', '0', G1, G2]);
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.ok).toBe(true);
    expect(rep.guests.map((g: { name: string }) => g.name)).toEqual(['g1', 'g2']);
    const g1 = rep.guests[0];
    expect(g1.faultsReceived).toBe(2);
    expect(g1.invalidationsForwarded).toBeGreaterThan(0);
    expect(g1.trapLatency.count).toBeGreaterThan(0);
    expect(rep.guests[1].checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
  });

  it('shows a progress line on a terminal for runs over a second', async () => {
    const r = await cli(['run', '--guests', '1', '--seconds', '1.3'], true);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/\rstreaming DMA \d\.\d\/1\.3 s/);
  });

  it('errors: bad numbers, --guests with files, conflicting StreamIDs, viommu off, missing file', async () => {
    expect(await cli(['run', '--guests', 'two'])).toMatchObject({ code: 2, err: expect.stringMatching(/--guests takes a whole number/) });
    expect(await cli(['run', '--seconds', '-1'])).toMatchObject({ code: 2, err: expect.stringMatching(/--seconds/) });
    expect(await cli(['run', '--guests', '1', G1])).toMatchObject({ code: 2, err: expect.stringMatching(/--guests applies to the built-in scenario/) });
    expect(await cli(['run', G1, CLASH])).toMatchObject({ code: 2, err: expect.stringMatching(/StreamID 0x40.*\[EVSMMU_SID_CONFLICT\]/) });
    expect(await cli(['run', '--cmdline', 'viommu=0', G1])).toMatchObject({ code: 2, err: expect.stringMatching(/\[EVSMMU_VIOMMU_DISABLED\]/) });
    expect(await cli(['run', join(dir, 'none.cfg')])).toMatchObject({ code: 2, err: expect.stringMatching(/\[EVSMMU_FILE\]/) });
    expect(await cli(['run', '--memory', '3X'])).toMatchObject({ code: 2, err: expect.stringMatching(/\[EVSMMU_BADSIZE\]/) });
  });

  it('a failed run ends with one line naming the failed checks (EVSMMU_CHECK, exit 1)', () => {
    const guest = (name: string, checks: GuestReport['checks']): GuestReport => ({ name, viommu: 'smmuv3', checks, dmas: 0, bytes: 0, faultsReceived: 0, invalidationsForwarded: 0, trapLatency: null, stream: null });
    const r: ScenarioReport = {
      ok: false, elapsedMs: 1, warnings: [], smmu: { translations: 0, iotlbHitRate: 0, commands: 0, events: 0 },
      guests: [guest('g1', [{ name: 'probe', ok: true, detail: '' }, { name: 'dma0: map', ok: false, detail: 'x' }]), guest('g2', [])],
    };
    expect(failureList(r)).toBe('2 check(s) failed: g1: dma0: map; g2: no check ran');
    expect(exitStatus(new VsmmuError('EVSMMU_CHECK', failureList(r)))).toBe(1);
  });

  it('messages name the xl.cfg file and line, not the domain index', async () => {
    const r = await cli(['run', TYPO]);
    expect(r).toMatchObject({ code: 2, err: expect.stringMatching(/^vsmmu run: \S*typo\.cfg:2:1: unknown key "memroy".*\[EVSMMU_XLCFG_UNKNOWN_KEY\]\n$/) });
    expect(r.err).not.toMatch(/domains\[/);
    const clash = await cli(['run', G1, CLASH]);
    expect(clash.err).toMatch(/g1\.cfg:4\).*clash\.cfg:3\)/);
  });

  it('help and errors agree on ranges: --guests 0..64, --seconds 0..86400', async () => {
    const help = (await cli(['run', '--help'])).out;
    expect(help).toMatch(/--guests N .*0\.\.64/);
    expect(help).toMatch(/--seconds S .*0\.\.86400[^]*0 skips/);
    expect(await cli(['run', '--guests', '65'])).toMatchObject({ code: 2, err: expect.stringMatching(/--guests takes a whole number from 0 to 64, not '65'/) });
    expect(await cli(['run', '--seconds', '86401'])).toMatchObject({ code: 2, err: expect.stringMatching(/--seconds takes a number of seconds from 0 to 86400 \(0 skips streaming\), not '86401'/) });
  });

  it('--guests -1 gets our own message, not parseArgs\'; a missing value is named', async () => {
    const r = await cli(['run', '--guests', '-1']);
    expect(r).toMatchObject({ code: 2, err: "vsmmu run: --guests takes a whole number from 0 to 64, not '-1' (see 'vsmmu run --help') [EVSMMU_USAGE]\n" });
    expect(await cli(['run', '--guests'])).toMatchObject({ code: 2, err: expect.stringMatching(/--guests needs a value .*\[EVSMMU_USAGE\]\n$/) });
  });

  it('an error of kind "run" exits 1', async () => {
    // The built-in guests need 80 MiB; 64 MiB of host memory cannot hold them and Xen.
    expect(await cli(['run', '--memory', '64M', '--seconds', '0'])).toMatchObject({ code: 1, err: expect.stringMatching(/\[EVSMMU_NOMEM\]\n$/) });
  });

  it('the progress line is cleared when a run fails too', async () => {
    const r = await cli(['run', '--seconds', '1.5', '--memory', '3X'], true);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^\r\u001b\[K.*\[EVSMMU_BADSIZE\]\n$/s);
  });
});

describe('vsmmu stress', () => {
  it('runs seeded stress runs on a piscina pool and exits 0 when all held', async () => {
    const r = await cli(['stress', '--seeds', '2', '--seed', '7', '--guests', '2', '--rounds', '40', '--jobs', '2']);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/^seed 7: ok, \d+ operations, \d+ DMAs .*digest [0-9a-f]{16}/m);
    expect(r.out).toMatch(/^seed 8: ok/m);
    expect(r.out).toMatch(/PASS: 2 run\(s\) \(sim\), \d+ operations, 0 failed/);
    const j = await cli(['stress', '--seeds', '1', '--seed', '9', '--guests', '1', '--rounds', '20', '--json']);
    expect(JSON.parse(j.out)).toMatchObject({ ok: true, mode: 'sim', runs: 1, reports: [{ seed: 9, ok: true, mode: 'sim' }] });
    const t = await cli(['stress', '--seeds', '1', '--seed', '9', '--guests', '1', '--rounds', '20', '--threads', '--json']);
    expect(JSON.parse(t.out)).toMatchObject({ ok: true, mode: 'threads', reports: [{ seed: 9, ok: true, mode: 'threads' }] });
  });

  it('sim mode: the same seed prints the same digest', async () => {
    const run = async (): Promise<string> => JSON.parse((await cli(['stress', '--seeds', '42..42', '--guests', '2', '--rounds', '60', '--json'])).out).reports[0].digest;
    expect(await run()).toBe(await run());
  });

  it('a failing run prints the command that replays it', () => {
    const line = stressLine({ seed: 42, ok: false, violation: 'guest g1: boom', ops: 3, dmas: 1, faults: 0, elapsedMs: 5, replay: 'vsmmu stress --seeds 1 --seed 42 --guests 3 --rounds 400' });
    expect(line).toMatch(/seed 42: FAILED: guest g1: boom\n  replay: vsmmu stress --seeds 1 --seed 42 --guests 3 --rounds 400/);
  });

  it('errors: bad numbers, files', async () => {
    expect(await cli(['stress', '--seeds', '0'])).toMatchObject({ code: 2, err: expect.stringMatching(/--seeds takes a whole number from 1/) });
    expect(await cli(['stress', '--seed', '-3'])).toMatchObject({ code: 2, err: expect.stringMatching(/--seed takes a whole number from 0 to 2147483647, not '-3'/) });
    expect(await cli(['stress', '--jobs', 'many'])).toMatchObject({ code: 2, err: expect.stringMatching(/--jobs/) });
    expect(await cli(['stress', 'a.cfg'])).toMatchObject({ code: 2, err: expect.stringMatching(/takes no files/) });
    expect(await cli(['stress', '--sim', '--threads'])).toMatchObject({ code: 2, err: expect.stringMatching(/exclude each other/) });
    expect(await cli(['stress', '--strategy', 'fifo'])).toMatchObject({ code: 2, err: expect.stringMatching(/--strategy takes random, pct, round-robin/) });
    expect(await cli(['stress', '--threads', '--shrink'])).toMatchObject({ code: 2, err: expect.stringMatching(/for sim mode/) });
    expect(await cli(['stress', '--seeds', '5..2'])).toMatchObject({ code: 2, err: expect.stringMatching(/A <= B/) });
    expect(await cli(['stress', '--keep', 'x'])).toMatchObject({ code: 2, err: expect.stringMatching(/--keep "x"/) });
    expect((await cli(['stress', '--help'])).out).toMatch(/Usage: vsmmu stress/);
  });
});

describe('bin/vsmmu.js', () => {
  it('runs as a command with the exit status of main()', () => {
    const r = spawnSync(process.execPath, ['bin/vsmmu.js', 'dt', G2], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dma0@/);
    const bad = spawnSync(process.execPath, ['bin/vsmmu.js', 'nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
  });
});
