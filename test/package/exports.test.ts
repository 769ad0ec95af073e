// The public entry exports every type its signatures accept or return, so a consumer can name
// them (ProbeInfo, GuestStats, DomainConfig, ...); the architecture stays off the main entry.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import * as api from '../../src/index.ts';
import * as arch from '../../src/arch/index.ts';
import { missingPublicTypes } from './public-types.ts';

const root = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));

describe('public entry', () => {
  it('exports every type reachable from a public signature', () => {
    expect(missingPublicTypes(root('src/index.ts'), root('tsconfig.json'))).toEqual([]);
  });

  it('keeps the architecture formats on the vsmmu/arch entry only', () => {
    expect(Object.keys(api)).not.toContain('arch');
    expect(Object.keys(arch).length).toBeGreaterThan(50);
    for (const name of Object.keys(arch)) expect(Object.keys(api)).not.toContain(name);
  });
});
