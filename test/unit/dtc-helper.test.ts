// The one decision about tests that need dtc: run, skip with a line, or fail in CI.
import { describe, expect, it } from 'vitest';
import { decideDtc, dtcBin, INSTALL_HINT, probeDtc } from '../support/dtc.ts';

const missing = (): string => 'not found';
const present = (): null => null;

describe('decideDtc', () => {
  it('runs the dtc tests when dtc runs, required or not', () => {
    expect(decideDtc({}, present)).toEqual({ bin: 'dtc', run: true, problem: null });
    expect(decideDtc({ VSMMU_REQUIRE_DTC: '1' }, present)).toMatchObject({ run: true, problem: null });
  });
  it('skips them when dtc is missing, unless VSMMU_REQUIRE_DTC=1 makes that a failure', () => {
    expect(decideDtc({}, missing)).toEqual({ bin: 'dtc', run: false, problem: 'not found' });
    expect(decideDtc({ VSMMU_REQUIRE_DTC: '1' }, missing)).toEqual({ bin: 'dtc', run: true, problem: 'not found' });
  });
  it('takes the compiler from VSMMU_DTC, then DTC', () => {
    expect(dtcBin({ VSMMU_DTC: '/x/dtc', DTC: '/y/dtc' })).toBe('/x/dtc');
    expect(dtcBin({ DTC: '/y/dtc' })).toBe('/y/dtc');
  });
  it('a compiler that cannot run is a problem that says so; the hint says how to install one', () => {
    expect(probeDtc('/nonexistent/dtc')).toMatch(/"\/nonexistent\/dtc" cannot be run/);
    expect(INSTALL_HINT).toMatch(/apt-get install device-tree-compiler/);
  });
});
