// createSystem()'s options are checked before any worker starts: every option out of its
// range is a coded error naming the option and the range.
import { describe, expect, it } from 'vitest';
import { normaliseOptions, MAX_TIMEOUT_MS } from '../../src/system/options.ts';
import { thrown } from '../support/errors.ts';

const reject = (o: unknown): { code: string; message: string } => {
  const e = thrown(() => normaliseOptions(o));
  return { code: e.code, message: e.message };
};

describe('guestTimeoutMs', () => {
  it('takes 1..2^31-1 ms (setTimeout\'s range) or Infinity (no bound)', () => {
    expect(normaliseOptions({}).guestTimeoutMs).toBe(30_000);
    for (const ms of [1, 250.5, MAX_TIMEOUT_MS, Infinity]) expect(normaliseOptions({ guestTimeoutMs: ms }).guestTimeoutMs).toBe(ms);
  });
  it.each([0, 0.5, -1, 2 ** 31, 1e12, NaN, -Infinity, '100', null])('rejects %s', (ms) => {
    expect(reject({ guestTimeoutMs: ms })).toMatchObject({ code: 'EVSMMU_BADOPTIONS', message: expect.stringMatching(/guestTimeoutMs must be .* from 1 to 2147483647 .*Infinity/) });
  });
});

describe('smmu features', () => {
  it('accepts the architecture\'s ranges', () => {
    expect(normaliseOptions({ smmu: { sidBits: 24, ssidBits: 20, oas: 52, cmdqLog2: 19, evtqLog2: 19, ttendian: 3, ril: false } }).smmu).toMatchObject({ sidBits: 24, oas: 52 });
  });
  it.each([
    [{ sidBits: 40 }, /smmu\.sidBits must be a whole number from 0 to 32, got 40/],
    [{ sidBits: -1 }, /smmu\.sidBits must be a whole number from 0 to 32/],
    [{ sidBits: 8.5 }, /smmu\.sidBits/],
    [{ ssidBits: 21 }, /smmu\.ssidBits must be a whole number from 0 to 20/],
    [{ cmdqLog2: 20 }, /smmu\.cmdqLog2 must be a whole number from 0 to 19/],
    [{ evtqLog2: '10' }, /smmu\.evtqLog2 .*got "10"/],
    [{ oas: 50 }, /smmu\.oas must be one of 32, 36, 40, 42, 44, 48, 52, 56, got 50/],
    [{ ttendian: 1 }, /smmu\.ttendian must be one of 0, 2, 3/],
    [{ ril: 1 }, /smmu\.ril must be true or false, got 1/],
    [{ stLevel2: false }, /smmu\.sidBits = 16 needs smmu\.stLevel2 = true/],
    [{ s2: false }, /Xen's SMMU driver needs smmu\.s2 = true/],
    [{ cmdqLog2: 1 }, /Xen's SMMU driver needs smmu\.cmdqLog2 >= 2/],
    [{ sidBits: 16, bogus: true }, /smmu: unknown option "bogus"/],
  ])('%j', (smmu, message) => {
    expect(reject({ smmu })).toMatchObject({ code: 'EVSMMU_BADOPTIONS', message: expect.stringMatching(message) });
  });
  it('a stream table that does not fit host memory is EVSMMU_NOMEM naming smmu.sidBits', () => {
    expect(reject({ memory: '64M', smmu: { sidBits: 32 } })).toMatchObject({ code: 'EVSMMU_NOMEM', message: expect.stringMatching(/128 MiB of it the stream table for smmu\.sidBits = 32.*lower smmu\.sidBits/) });
    expect(normaliseOptions({ memory: '256M', smmu: { sidBits: 32 } }).smmu).toEqual({ sidBits: 32 });
  });
  it('smmu.iotlbEntries is the IOTLB size, kept apart from the features', () => {
    const c = normaliseOptions({ smmu: { iotlbEntries: 64, ril: false } });
    expect(c.iotlbEntries).toBe(64);
    expect(c.smmu).toEqual({ ril: false });
    expect(normaliseOptions({}).iotlbEntries).toBeNull();
  });
  it.each([0, -1, 2.5, '64', 2 ** 20 + 1, null])('smmu.iotlbEntries %j is EVSMMU_BADOPTIONS', (iotlbEntries) => {
    expect(reject({ smmu: { iotlbEntries } })).toMatchObject({ code: 'EVSMMU_BADOPTIONS', message: expect.stringMatching(/smmu\.iotlbEntries must be a whole number from 1 to 1048576/) });
  });
});

describe('memory', () => {
  it.each(['16M', '32G', 0])('rejects host memory %j outside 32M..16G', (memory) => {
    expect(reject({ memory })).toMatchObject({ code: 'EVSMMU_BADSIZE', message: expect.stringMatching(/memory/) });
  });
  it('accepts 32M and 16G', () => {
    expect(normaliseOptions({ memory: '32M' }).memory).toBe(32 * 2 ** 20);
    expect(normaliseOptions({ memory: '16G' }).memory).toBe(16 * 2 ** 30);
  });
});

describe('domains as xl.cfg files', () => {
  it('{ file, xlcfg } puts the file name in messages and in the config', () => {
    expect(normaliseOptions({ domains: [{ file: 'guest.cfg', xlcfg: 'name = "g"\nmemory = 16\n' }] }).domains[0]?.source).toBe('guest.cfg');
    expect(reject({ domains: [{ file: 'guest.cfg', xlcfg: 'name = "g"\nmemory = x\n' }] }).message).toMatch(/^guest\.cfg:2:10: /);
    expect(reject({ domains: ['name = "g"\nmemory = x\n'] }).message).toMatch(/^domains\[0\]:2:10: /);
  });
  it('names a bad field of { file, xlcfg }', () => {
    expect(reject({ domains: [{ file: 'g.cfg', xlcfg: 7 }] }).message).toMatch(/domains\[0\]\.xlcfg must be xl\.cfg text/);
    expect(reject({ domains: [{ file: 3, xlcfg: '' }] }).message).toMatch(/domains\[0\]\.file must be a file name/);
    expect(reject({ domains: [{ xlcfg: '', mode: 1 }] }).message).toMatch(/domains\[0\]: unknown option "mode"/);
  });
  it('two files with the same StreamID: the message names both files and lines', () => {
    const a = { file: 'a.cfg', xlcfg: 'name = "a"\nmemory = 16\ndmadev = [ "name=d,sid=1" ]\n' };
    const b = { file: 'b.cfg', xlcfg: 'name = "b"\nmemory = 16\n\ndmadev = [ "name=d,sid=1" ]\n' };
    expect(reject({ domains: [a, b] })).toMatchObject({ code: 'EVSMMU_SID_CONFLICT', message: expect.stringMatching(/\(a\.cfg:3\).*\(b\.cfg:4\)/) });
  });
});
