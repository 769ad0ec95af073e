import { describe, expect, it } from 'vitest';
import { entryExtension, workerEntry } from '../../src/runtime/entry.ts';

describe('worker entries', () => {
  it('resolves workers/NAME.ts from source and dist/workers/NAME.js from the build', () => {
    expect(workerEntry('smmu', 'file:///p/src/runtime/entry.ts').href).toBe('file:///p/workers/smmu.ts');
    expect(workerEntry('guest', 'file:///p/dist/src/runtime/entry.js').href).toBe('file:///p/dist/workers/guest.js');
    expect(entryExtension('file:///p/dist/src/runtime/entry.js')).toBe('js');
  });

  it('defaults to this module: source layout under vitest', () => {
    const u = workerEntry('xen');
    expect(u.pathname.endsWith('/workers/xen.ts')).toBe(true);
    expect(new URL('../../workers/xen.ts', import.meta.url).href).toBe(u.href);
  });

  it('refuses names that are not plain entry names', () => {
    for (const bad of ['../x', 'a/b', '', 'X', 'smmu.ts']) expect(() => workerEntry(bad)).toThrow(/entry name/);
  });
});
