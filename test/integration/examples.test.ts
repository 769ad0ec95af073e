// The xl.cfg files in examples/ are the ones the README and docs show: each parses, `vsmmu dt`
// prints its device tree (which dtc compiles), `vsmmu run` boots them, and the docs show
// them as they are.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseXlCfgFull } from '../../src/xen/xlcfg.ts';
import { dtc, dtcIt } from '../support/dtc.ts';
import { cli } from '../support/cli.ts';

const withDtc = dtcIt('examples/*.cfg device trees through dtc (test/integration/examples.test.ts)');

const EXAMPLES = readdirSync('examples').filter((f) => f.endsWith('.cfg')).sort().map((f) => `examples/${f}`);
const DOCS = ['README.md', 'docs/cli.md'].map((f) => readFileSync(f, 'utf8')).join('\n');


describe('examples/', () => {
  it('holds the cfg files the docs use', () => {
    expect(EXAMPLES).toEqual(expect.arrayContaining(['examples/guest.cfg', 'examples/guest2.cfg']));
    expect(DOCS).toContain('vsmmu dt examples/guest.cfg');
    for (const f of EXAMPLES) expect(DOCS, `${f} is shown in README.md or docs/cli.md`).toContain(f);
  });

  it('docs/cli.md shows examples/guest.cfg as it is', () => {
    const body = readFileSync('examples/guest.cfg', 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('\n');
    expect(readFileSync('docs/cli.md', 'utf8')).toContain(body);
  });

  it.each(EXAMPLES)('%s parses', (f) => {
    const { config, warnings } = parseXlCfgFull(readFileSync(f, 'utf8'), f);
    expect(config.source).toBe(f);
    expect(config.devices.length + (config.passthrough?.dtdev.length ?? 0)).toBeGreaterThan(0);
    for (const w of warnings) expect(w).toMatch(/is an xl option this emulator does not model; ignored$/);
  });

  it.each(EXAMPLES)('vsmmu dt %s prints its device tree', async (f) => {
    const r = await cli(['dt', f]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^\/dts-v1\/;/);
    expect(r.err).not.toMatch(/\[EVSMMU_/);
  });

  withDtc('dtc compiles every example\'s device tree without a warning', async () => {
    for (const f of EXAMPLES) {
      const r = await cli(['dt', '--vpci', f]);
      const c = spawnSync(dtc().bin, ['-I', 'dts', '-O', 'dtb', '-o', '/dev/null', '-'], { input: r.out, encoding: 'utf8' });
      expect(c.stderr, f).toBe('');
      expect(c.status, f).toBe(0);
    }
  });

  it('vsmmu run --seconds 0 boots the README\'s pair and every check holds', async () => {
    const r = await cli(['run', '--seconds', '0', 'examples/guest.cfg', 'examples/guest2.cfg']);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/guest1 \(viommu smmuv3\)/);
    expect(r.out).toMatch(/guest2 \(viommu none\)/);
    expect(r.out).toMatch(/PASS: every check held/);
  });

  it('vsmmu run --seconds 0 boots the passthrough example (dtdev, iomem, irqs, device_tree): the guest DMAs through the partial tree\'s device', async () => {
    const r = await cli(['run', '--seconds', '0', 'examples/passthrough.cfg']);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/ok {3}nic: map, DMA, check, unmap, fault: F_TRANSLATION vSID 17 /);
    expect(r.out).toMatch(/PASS: every check held/);
  });
});
