import { describe, expect, it } from 'vitest';
import { thrown } from '../support/errors.ts';
import { cmdlineWarnings, parseXenBool, parseXenCmdline, XEN_BOOL_VALUES } from '../../src/xen/cmdline.ts';
import {
  GUEST_RAM0_BASE, GUEST_RAM0_SIZE, GUEST_RAM1_BASE, GUEST_PHANDLE_VSMMUV3, GUEST_VSMMU_SPI,
  gicIrqCells, passthroughDevBase, ramBanks, u64Cells,
} from '../../src/xen/layout.ts';
import { VIOMMU_TYPES, viommuType, viommuTypeByDomctl } from '../../src/xen/viommu.ts';
import { parseXlCfg, parseXlCfgFull, validateSystemConfig, type DomainConfig } from '../../src/xen/xlcfg.ts';


describe('layout', () => {
  it('keeps Xen’s public values', () => {
    expect(GUEST_RAM0_BASE).toBe(0x4000_0000);
    expect(GUEST_PHANDLE_VSMMUV3).toBe(65002);
    expect(GUEST_VSMMU_SPI).toBe(33);
  });
  it('encodes GIC specifiers as libxl set_interrupt does', () => {
    expect(gicIrqCells(33, 4)).toEqual([0, 1, 0xf04]); // SPI: INTID - 32
    expect(gicIrqCells(27, 8)).toEqual([1, 11, 0xf08]); // PPI: INTID - 16
    expect(gicIrqCells(106, 4, 0)).toEqual([0, 74, 4]);
    expect(gicIrqCells(15, 4)).toBeNull(); // SGIs are not described
    expect(gicIrqCells(1020, 4)).toBeNull();
  });
  it('splits RAM over the two banks', () => {
    expect(ramBanks(512 * 2 ** 20)).toEqual([{ base: GUEST_RAM0_BASE, size: 512 * 2 ** 20 }]);
    expect(ramBanks(4 * 2 ** 30)).toEqual([
      { base: GUEST_RAM0_BASE, size: GUEST_RAM0_SIZE },
      { base: GUEST_RAM1_BASE, size: 2 ** 30 },
    ]);
    expect(ramBanks(0)).toEqual([]);
  });
  it('splits 64-bit values into cells and places passthrough pages', () => {
    expect(u64Cells(0x2_0000_1234)).toEqual([2, 0x1234]);
    expect(passthroughDevBase(2) - passthroughDevBase(0)).toBe(0x2000);
  });
});

describe('Xen command line', () => {
  it('defaults viommu to false and keeps the raw line', () => {
    const c = parseXenCmdline('console=dtuart dom0_mem=1G');
    expect(c.viommu).toBe(false);
    expect(c.raw).toBe('console=dtuart dom0_mem=1G');
    expect(c.unknown).toEqual(['console=dtuart', 'dom0_mem=1G']);
    expect(cmdlineWarnings(c)).toEqual([
      'parameter "console" unknown! (ignored, as Xen does)',
      'parameter "dom0_mem" unknown! (ignored, as Xen does)',
    ]);
  });
  it.each([
    ['viommu=1', true], ['viommu=0', false], ['viommu=true', true], ['viommu=false', false],
    ['viommu=on', true], ['viommu=off', false], ['viommu=yes', true], ['viommu=no', false],
    ['viommu=enable', true], ['viommu=disable', false], ['viommu', true], ['viommu=', true],
    ['no-viommu', false], ['no-viommu=0', true], ['no-viommu=1', false],
    ['viommu=1 viommu=0', false], ['no-viommu  viommu', true], ['\tviommu=on\n', true],
  ])('%j -> %s', (line, v) => {
    const c = parseXenCmdline(line);
    expect(c.viommu).toBe(v);
    expect(c.unknown).toEqual([]);
  });
  it('parse_bool accepts exactly Xen’s spellings', () => {
    expect(Object.keys(XEN_BOOL_VALUES).sort()).toEqual(['0', '1', 'disable', 'enable', 'false', 'no', 'off', 'on', 'true', 'yes']);
    expect(parseXenBool('TRUE')).toBeNull();
    expect(parseXenBool('toString')).toBeNull();
  });
  it('names option, value and accepted spellings on a bad value', () => {
    const e = thrown(() => parseXenCmdline('console=x viommu=maybe'));
    expect(e.code).toBe('EVSMMU_XEN_CMDLINE');
    expect(e.message).toContain('"viommu"');
    expect(e.message).toContain('"maybe"');
    expect(e.message).toContain('on, yes, true, enable');
    expect(e.details).toMatchObject({ option: 'viommu', value: 'maybe' });
    expect(thrown(() => parseXenCmdline('no-viommu=2')).message).toContain('"no-viommu"');
  });
});

describe('vIOMMU registry', () => {
  it('lists none and smmuv3 with their domctl values', () => {
    expect(VIOMMU_TYPES.map((t) => [t.name, t.domctl, t.needsNesting])).toEqual([['none', 0, false], ['smmuv3', 1, true]]);
    expect(viommuType('smmuv3').compatible).toBe('arm,smmu-v3');
    expect(viommuTypeByDomctl(0).name).toBe('none');
  });
  it('rejects unknown types listing the known ones', () => {
    const e = thrown(() => viommuType('smmuv2'));
    expect(e.code).toBe('EVSMMU_VIOMMU_TYPE');
    expect(e.message).toContain('"smmuv2"');
    expect(e.message).toContain('"none", "smmuv3"');
    expect(thrown(() => viommuTypeByDomctl(7)).code).toBe('EVSMMU_VIOMMU_TYPE');
  });
});

const FULL = `# a guest
name = "guest1"
memory = 512            # MiB
vcpus = 2
viommu = "smmuv3"
kernel = "/boot/Image"   # real xl key, ignored here
dmadev = [
    "name=dma0,sid=0x10",
    'name=dma1, sid=17, smmu=1',   # spaces allowed
]
`;

describe('xl.cfg parsing', () => {
  it('reads the keys into a typed DomainConfig', () => {
    const { config, warnings } = parseXlCfgFull(FULL, 'g1.cfg');
    expect(config).toEqual({
      name: 'guest1',
      memory: 512 * 2 ** 20,
      vcpus: 2,
      viommu: 'smmuv3',
      devices: [{ name: 'dma0', sid: 0x10, line: 8 }, { name: 'dma1', sid: 17, smmu: 1, line: 9 }],
      source: 'g1.cfg',
    });
    expect(warnings).toEqual(['g1.cfg:6: "kernel" is an xl option this emulator does not model; ignored']);
  });
  it('applies defaults: 1 vCPU, no vIOMMU, no devices', () => {
    expect(parseXlCfg("name='a'\nmemory=64")).toEqual({ name: 'a', memory: 64 * 2 ** 20, vcpus: 1, viommu: 'none', devices: [] });
  });
  it('accepts ; separators, hex numbers, quoted numbers, escapes and += on lists', () => {
    const c = parseXlCfg('name = "a\\x62c"; memory = 0x40; vcpus = "3"\ndmadev = ["name=d0,sid=1"]\ndmadev += [ "name=d1,sid=2", ]\n');
    expect(c.name).toBe('abc');
    expect(c.memory).toBe(64 * 2 ** 20);
    expect(c.vcpus).toBe(3);
    expect(c.devices.map((d) => d.name)).toEqual(['d0', 'd1']);
  });
  it('warns when a key is repeated and keeps the last value, as xl', () => {
    const r = parseXlCfgFull('name="a"\nmemory=64\nmemory=128\n');
    expect(r.config.memory).toBe(128 * 2 ** 20);
    expect(r.warnings).toEqual(['xl.cfg:3: "memory" is set again (first at line 2); the last value wins, as in xl']);
  });
  it('accepts CRLF line endings and comments after list items', () => {
    const c = parseXlCfg('name = "w"\r\nmemory = 32\r\ndmadev = [ # devices\r\n  "name=a,sid=1", # first\r\n]\r\n');
    expect(c.devices).toEqual([{ name: 'a', sid: 1, line: 4 }]);
  });
  it('accepts an empty list and a second RAM bank sized memory', () => {
    expect(parseXlCfg('name="a"\nmemory=8192\ndmadev=[]').memory).toBe(8 * 2 ** 30);
  });

  describe('syntax errors (EVSMMU_XLCFG_SYNTAX) name line and column', () => {
    it.each([
      ['name = "abc\nmemory = 1', 1, 8, 'not closed'],
      ['memory 512', 1, 8, 'expected "=" after "memory"'],
      ['name = "a"\nmemory = 1\nvcpus = ', 3, 9, 'expected a value'],
      ['= 3', 1, 1, 'expected a setting name'],
      ['name = "a"\nviommu = smmuv3', 2, 10, 'strings need quotes: viommu = "smmuv3"'],
      ['name = "a" "b"', 1, 12, 'expected the end of the line'],
      ['dmadev = [ "a" "b" ]', 1, 16, 'expected "," or "]"'],
      ['dmadev = [ "a",\n  [ "b" ] ]', 2, 3, 'lists do not nest'],
      ['dmadev = [ "a",\n', 2, 1, 'not closed with "]"'],
      ['name = "a\\qb"', 1, 10, 'unknown escape'],
      ['name = @', 1, 8, 'unexpected character "@"'],
      ['name = "a"\nmemory += 3', 2, 1, 'appends a [ list ]'],
      ['name = "a"\nname += ["b"]', 2, 1, 'line 1 sets a single value'],
    ])('%j', (text, line, col, msg) => {
      const e = thrown(() => parseXlCfg(text, 'x.cfg'));
      expect(e.code).toBe('EVSMMU_XLCFG_SYNTAX');
      expect(e.message).toContain(`x.cfg:${line}:${col}: syntax error`);
      expect(e.message).toContain(msg);
      expect(e.details).toMatchObject({ line, col });
    });
  });

  it('rejects unknown keys with a suggestion (EVSMMU_XLCFG_UNKNOWN_KEY)', () => {
    const e = thrown(() => parseXlCfg('name="a"\nmemroy = 64\n', 'x.cfg'));
    expect(e.code).toBe('EVSMMU_XLCFG_UNKNOWN_KEY');
    expect(e.message).toContain('x.cfg:2:1: unknown key "memroy"');
    expect(e.message).toContain('did you mean "memory"');
    expect(e.details).toMatchObject({ key: 'memroy', suggestions: ['memory'] });
    expect(thrown(() => parseXlCfg('zzzzzz = 1')).message).not.toContain('did you mean');
  });

  it('reports missing name and memory (EVSMMU_XLCFG_MISSING_KEY)', () => {
    const a = thrown(() => parseXlCfg('memory = 64', 'x.cfg'));
    expect(a.code).toBe('EVSMMU_XLCFG_MISSING_KEY');
    expect(a.message).toContain('missing required key "name"');
    const b = thrown(() => parseXlCfg('name = "a"'));
    expect(b.code).toBe('EVSMMU_XLCFG_MISSING_KEY');
    expect(b.message).toContain('"memory"');
    expect(b.message).toContain('memory = 512');
  });

  describe('bad values (EVSMMU_XLCFG_BAD_VALUE) name the key, the place and the fix', () => {
    it.each([
      ['name = "bad name"\nmemory = 64', 'name', 1, 'is not a domain name'],
      ['name = ["a"]\nmemory = 64', 'name', 1, 'not a [ list ]'],
      ['name = "a"\nmemory = 0', 'memory', 2, 'out of range'],
      ['name = "a"\nmemory = "lots"', 'memory', 2, 'not a whole number'],
      ['name = "a"\nmemory = 1.5', 'memory', 2, 'not a whole number'],
      ['name = "a"\nmemory = 010', 'memory', 2, 'not a whole number'],
      ['name = "a"\nmemory = 64\nvcpus = 129', 'vcpus', 3, 'allowed 1 to 128 vCPUs'],
      ['name = "a"\nmemory = 64\nviommu = "smmuv2"', 'viommu', 3, 'known types are "none", "smmuv3"'],
      ['name = "a"\nmemory = 64\ndmadev = "name=d,sid=1"', 'dmadev', 3, 'expected a list'],
      ['name = "a"\nmemory = 64\ndmadev = [ 5 ]', 'dmadev', 3, 'must be a quoted string'],
      ['name = "a"\nmemory = 64\ndmadev = [ "sid=1" ]', 'dmadev', 3, 'missing name='],
      ['name = "a"\nmemory = 64\ndmadev = [ "name=d" ]', 'dmadev', 3, 'missing sid='],
      ['name = "a"\nmemory = 64\ndmadev = [ "name=d,sid=x" ]', 'dmadev', 3, 'is not a StreamID'],
      ['name = "a"\nmemory = 64\ndmadev = [ "name=d,sid=0x100000000" ]', 'dmadev', 3, 'is not a StreamID'],
      ['name = "a"\nmemory = 64\ndmadev = [ "name=9d,sid=1" ]', 'dmadev', 3, 'not a valid device-tree node name'],
      ['name = "a"\nmemory = 64\ndmadev = [ "name=d,sid=1,bus=2" ]', 'dmadev', 3, 'unknown device key "bus"'],
      ['name = "a"\nmemory = 64\ndmadev = [ "name=d,sid=1,sid=2" ]', 'dmadev', 3, '"sid" is given twice'],
      ['name = "a"\nmemory = 64\ndmadev = [ "name=d,sid=1,smmu=300" ]', 'dmadev', 3, 'not a physical SMMU index'],
      ['name = "a"\nmemory = 64\ndmadev = [ "name=d sid=1" ]', 'dmadev', 3, 'not a valid device-tree node name'],
      ['name = "a"\nmemory = 64\ndmadev = [ "named" ]', 'dmadev', 3, 'is not key=value'],
    ])('%j', (text, key, line, msg) => {
      const e = thrown(() => parseXlCfg(text, 'x.cfg'));
      expect(e.code).toBe('EVSMMU_XLCFG_BAD_VALUE');
      expect(e.message).toContain(`x.cfg:${line}:`);
      expect(e.message).toContain(`bad value for "${key}"`);
      expect(e.message).toContain(msg);
      expect(e.details).toMatchObject({ key, line });
    });
  });
});

describe('validateSystemConfig', () => {
  const dom = (name: string, devices: DomainConfig['devices'], viommu: DomainConfig['viommu'] = 'smmuv3', source?: string): DomainConfig =>
    source === undefined ? { name, memory: 2 ** 26, vcpus: 1, viommu, devices } : { name, memory: 2 ** 26, vcpus: 1, viommu, devices, source };
  const on = parseXenCmdline('viommu=1');

  it('accepts a consistent system', () => {
    const ds = [dom('a', [{ name: 'd0', sid: 1 }]), dom('b', [{ name: 'd0', sid: 2 }, { name: 'd1', sid: 2, smmu: 1 }])];
    expect(validateSystemConfig(ds, on, { sidBits: 16, smmuCount: 2 })).toEqual([]);
  });
  it('reports a StreamID given to two domains, naming both domains and lines', () => {
    const ds = [dom('a', [{ name: 'd0', sid: 0x10, line: 7 }], 'smmuv3', 'a.cfg'), dom('b', [{ name: 'x', sid: 0x10, line: 9 }], 'smmuv3', 'b.cfg')];
    const [e, ...rest] = validateSystemConfig(ds, on, { sidBits: 16 });
    expect(rest).toEqual([]);
    expect(e?.code).toBe('EVSMMU_SID_CONFLICT');
    expect(e?.message).toContain('StreamID 0x10');
    expect(e?.message).toContain('"d0" of domain "a" (a.cfg:7)');
    expect(e?.message).toContain('"x" of domain "b" (b.cfg:9)');
  });
  it('reports duplicate domain and device names', () => {
    const codes = validateSystemConfig([dom('a', [{ name: 'd', sid: 1 }, { name: 'd', sid: 2 }]), dom('a', [])], on, { sidBits: 16 }).map((e) => e.code);
    expect(codes.sort()).toEqual(['EVSMMU_DEVICE_DUPLICATE', 'EVSMMU_DOMAIN_DUPLICATE']);
  });
  it('reports a vIOMMU asked for while the command line disables it', () => {
    const errs = validateSystemConfig([dom('a', []), dom('b', [], 'none')], parseXenCmdline('no-viommu'), { sidBits: 16 });
    expect(errs.map((e) => e.code)).toEqual(['EVSMMU_VIOMMU_DISABLED']);
    expect(errs[0]?.message).toContain('add viommu=1 to the Xen command line');
  });
  it('reports StreamIDs beyond the physical SID bits and SMMU indices beyond the count', () => {
    const errs = validateSystemConfig([dom('a', [{ name: 'd', sid: 0x100 }, { name: 'e', sid: 0xff, smmu: 2 }])], on, { sidBits: 8, smmuCount: 2 });
    expect(errs.map((e) => e.code)).toEqual(['EVSMMU_SID_RANGE', 'EVSMMU_SMMU_INDEX']);
    expect(errs[0]?.message).toContain('8 StreamID bits (max 0xff)');
  });
  it('does not count equal SIDs on different physical SMMUs as a conflict', () => {
    expect(validateSystemConfig([dom('a', [{ name: 'd', sid: 5 }]), dom('b', [{ name: 'd', sid: 5, smmu: 1 }])], on, { sidBits: 16, smmuCount: 2 })).toEqual([]);
  });
});
