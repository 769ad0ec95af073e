// The error contract: every code used in src/ is in ERROR_CODES, and docs/api.md lists exactly
// the codes of the table, each with its meaning, fix and kind (generated: npm run docs:errors).
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, VsmmuError, isErrorCode } from '../../src/errors.ts';
import { API_DOC, ERRORS_BEGIN, ERRORS_END, EXIT_STATUS, errorSection } from '../support/error-docs.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CODES = Object.keys(ERROR_CODES);

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/**
 * Every quoted `EVSMMU_...` literal in a source text (code, not prose: quotes required). A
 * prefix tested with startsWith() is kept as PREFIX_* when some code has it.
 */
const literals = (text: string): string[] =>
  [...text.matchAll(/(startsWith\()?['"`](EVSMMU_[A-Z0-9_]+)['"`]/g)].map(([, prefix, lit]) =>
    prefix !== undefined && CODES.some((c) => c.startsWith(`${lit!}_`)) ? `${lit!}_*` : lit!);
/** Every `EVSMMU_...` name in a document. */
const mentions = (text: string): string[] => [...text.matchAll(/\bEVSMMU_[A-Z0-9_]+\b/g)].map((m) => m[0]);

describe('error codes', () => {
  it('every code literal in src/ and workers/ is in ERROR_CODES', () => {
    const unknown: string[] = [];
    let used = 0;
    for (const f of [...tsFiles('src'), ...tsFiles('workers')]) {
      for (const c of literals(readFileSync(join(ROOT, f), 'utf8'))) {
        used++;
        if (!isErrorCode(c) && !c.endsWith('_*')) unknown.push(`${f}: ${c}`);
      }
    }
    expect(used).toBeGreaterThan(CODES.length / 2); // the scan does see the sources
    expect(unknown).toEqual([]);
  });

  it('every code has a kind, a meaning and a fix, and the prefix', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^EVSMMU_[A-Z0-9_]+$/);
      expect(Object.keys(EXIT_STATUS)).toContain(info.kind);
      expect(info.meaning.length, code).toBeGreaterThan(10);
      expect(info.fix.length, code).toBeGreaterThan(5);
    }
  });

  it('docs/api.md lists every code with its meaning, fix and kind (npm run docs:errors)', () => {
    const doc = readFileSync(API_DOC, 'utf8');
    const missing = CODES.filter((c) => !doc.includes(`\`${c}\``));
    expect(missing, 'codes missing from docs/api.md').toEqual([]);
    const begin = doc.indexOf(ERRORS_BEGIN);
    const end = doc.indexOf(ERRORS_END) + ERRORS_END.length;
    expect(begin, 'docs/api.md lacks the generated error table').toBeGreaterThanOrEqual(0);
    expect(doc.slice(begin, end), 'the table in docs/api.md is stale: run npm run docs:errors').toBe(errorSection());
  });

  it('the docs name no code the table lacks', () => {
    const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const unknown = docs.flatMap((f) => mentions(readFileSync(join(ROOT, f), 'utf8')).filter((c) => !isErrorCode(c)).map((c) => `${f}: ${c}`));
    expect(unknown).toEqual([]);
  });

  it("an error's kind gives the CLI exit status: input 2, run and bug 1", () => {
    expect(EXIT_STATUS).toEqual({ input: 2, run: 1, bug: 1 });
    expect(new VsmmuError('EVSMMU_BADOPTIONS', 'x').kind).toBe('input');
    expect(new VsmmuError('EVSMMU_CHECK', 'x').kind).toBe('run');
    expect(new VsmmuError('EVSMMU_INTERNAL', 'x').kind).toBe('bug');
  });
});
