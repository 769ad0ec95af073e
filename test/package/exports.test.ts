// The public entry exports every type its signatures accept or return, so a consumer can name
// them (ProbeInfo, GuestStats, DomainConfig, ...); the architecture stays off the main entry.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import * as api from '../../src/index.ts';
import * as arch from '../../src/arch/index.ts';
import { missingPublicTypes } from './public-types.ts';
import { ARCH_BEGIN, ARCH_END, archModules, archSection } from '../support/arch-docs.ts';

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

describe('docs/api.md', () => {
  const doc = readFileSync(root('docs/api.md'), 'utf8');
  const section = (title: string): string => {
    const start = doc.indexOf(`\n## ${title}\n`);
    expect(start, `docs/api.md has no section "## ${title}"`).toBeGreaterThanOrEqual(0);
    const end = doc.indexOf('\n## ', start + 1);
    return doc.slice(start, end < 0 ? undefined : end);
  };

  it('documents every module and export of vsmmu/arch (npm run docs:arch)', async () => {
    const text = section('vsmmu/arch');
    const generated = await archSection();
    expect(text.slice(text.indexOf(ARCH_BEGIN), text.indexOf(ARCH_END) + ARCH_END.length), 'the vsmmu/arch table in docs/api.md is stale: run npm run docs:arch').toBe(generated);
    expect(archModules().length).toBeGreaterThan(5);
    expect(Object.keys(arch).filter((name) => !generated.includes(`\`${name}\``))).toEqual([]);
  });

  it('lists every type the main entry exports', () => {
    const file = ts.createSourceFile('index.ts', readFileSync(root('src/index.ts'), 'utf8'), ts.ScriptTarget.Latest);
    const types = file.statements.flatMap((st) =>
      ts.isExportDeclaration(st) && st.isTypeOnly && st.exportClause && ts.isNamedExports(st.exportClause)
        ? st.exportClause.elements.map((e) => e.name.text)
        : []);
    expect(types.length).toBeGreaterThan(30);
    const text = section('Types') + section('Errors');
    expect(types.filter((name) => !text.includes(`\`${name}\``))).toEqual([]);
  });
});

