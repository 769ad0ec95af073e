// The package as npm users get it: `npm pack` (prepack: a clean build from tsconfig.build.json)
// of a copy of the checkout, installed offline into a fresh consumer project, then used there:
// the README's program, `vsmmu run`, require() from CommonJS, a typed consumer compiled with
// skipLibCheck off and no DOM lib, and publint on the tarball. Nothing here touches the
// checkout's own dist/. Bounded: every child process has a timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODULES = join(ROOT, 'node_modules');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** What the package ships from the checkout (package.json `files`, plus what npm always adds). */
const SOURCES = ['package.json', 'README.md', 'LICENSE', 'bin', 'src', 'workers', 'tsconfig.json', 'tsconfig.build.json'];

let tmp = '';
let copy = '';
let tarball = '';
let consumer = '';
let packed: string[] = [];

function run(cmd: string, args: readonly string[], cwd: string, timeout = 60_000): SpawnSyncReturns<string> {
  // node_modules/.bin first, so npm scripts and `node` are the Node the project pins.
  const env = { ...process.env, PATH: `${join(MODULES, '.bin')}${delimiter}${process.env['PATH'] ?? ''}`, npm_config_update_notifier: 'false' };
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>): string {
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The program under "Use it from a program" in README.md. */
function readmeProgram(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /## Use it from a program[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme);
  if (!m?.[1]) throw new Error('README.md has no program under "Use it from a program"');
  return m[1];
}

/** A `node` on PATH older than the one running the tests (the system's), if there is one. */
function olderNode(): { bin: string; version: [number, number] } | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const bin = join(dir, 'node');
    if (dir.includes('node_modules') || !existsSync(bin)) continue;
    const r = spawnSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 10_000 });
    const [major = 0, minor = 0] = r.stdout.trim().split('.').map(Number);
    if (r.status === 0 && major < Number(process.versions.node.split('.')[0])) return { bin, version: [major, minor] };
  }
  return null;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'vsmmu-pack-'));
  // Pack a copy, so a concurrent run or a developer's dist/ is never touched.
  // VSMMU_PACK_FROM=HEAD packs the last commit instead of the working tree (others' edits aside).
  copy = join(tmp, 'vsmmu');
  const ref = process.env['VSMMU_PACK_FROM'];
  if (ref) {
    mkdirSync(copy);
    ok(run('sh', ['-c', `git -C "${ROOT}" archive --format=tar "${ref}" ${SOURCES.join(' ')} | tar -x -C "${copy}"`], ROOT));
  } else {
    for (const f of SOURCES) cpSync(join(ROOT, f), join(copy, f), { recursive: true });
  }
  symlinkSync(MODULES, join(copy, 'node_modules'), 'dir');
  mkdirSync(join(copy, 'dist', 'stale'), { recursive: true });
  writeFileSync(join(copy, 'dist', 'stale', 'deleted-module.js'), 'export {};\n');
  const out = join(tmp, 'out');
  mkdirSync(out);
  const json = ok(run(NPM, ['pack', '--json', '--pack-destination', out], copy, 90_000));
  const [info] = JSON.parse(json.slice(json.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  if (!info) throw new Error(`npm pack printed no result: ${json}`);
  tarball = join(out, info.filename);
  packed = info.files.map((f) => f.path).sort();

  // Offline install: the runtime dependencies come from the checkout's node_modules, packed.
  ok(run(NPM, ['pack', '--ignore-scripts', '--pack-destination', out, join(MODULES, 'comlink'), join(MODULES, 'piscina')], tmp));
  const deps = readdirSync(out).filter((f) => /^(comlink|piscina)-.*\.tgz$/.test(f)).map((f) => join(out, f));
  consumer = join(tmp, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  ok(run(NPM, ['install', tarball, ...deps, '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], consumer, 90_000));
  // For the typed consumer only: the compiler and Node's types, not shipped dependencies.
  mkdirSync(join(consumer, 'node_modules', '@types'), { recursive: true });
  symlinkSync(join(MODULES, '@types', 'node'), join(consumer, 'node_modules', '@types', 'node'), 'dir');
  symlinkSync(join(MODULES, 'undici-types'), join(consumer, 'node_modules', 'undici-types'), 'dir');
}, 180_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships the build, bin, README and LICENSE; no tests, benchmarks, sources or stale modules', () => {
    for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/vsmmu.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/arch/index.js', 'dist/src/arch/index.d.ts', 'dist/src/cli/main.js', 'dist/workers/guest.js']) {
      expect(packed).toContain(f);
    }
    const foreign = packed.filter((f) => !/^(LICENSE|README\.md|package\.json|bin\/vsmmu\.js|dist\/(src|workers)\/.*\.(js|js\.map|d\.ts))$/.test(f));
    expect(foreign).toEqual([]);
    expect(readFileSync(join(consumer, 'node_modules', 'vsmmu', 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  it('source maps carry their sources (src/ is not shipped)', () => {
    const maps = packed.filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(20);
    for (const f of maps) {
      const map = JSON.parse(readFileSync(join(consumer, 'node_modules', 'vsmmu', f), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(map.sourcesContent?.length, f).toBe(map.sources.length);
      expect(map.sourcesContent?.every((s) => typeof s === 'string' && s.length > 0), f).toBe(true);
    }
  });

  it('is publint clean', () => {
    const out = ok(run(process.execPath, [join(MODULES, 'publint', 'src', 'cli.js'), 'run', tarball, '--strict'], ROOT));
    expect(out).toContain('All good');
  });
});

describe('installed into a consumer project', () => {
  it("runs the README's program", () => {
    const file = join(consumer, 'readme.mjs');
    writeFileSync(file, `${readmeProgram()}\nconsole.log(JSON.stringify({ ok: r.ok, idr0: raw }));\n`);
    const out = ok(run(process.execPath, [file], consumer));
    const last = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { ok?: boolean; idr0?: number };
    expect(last.ok).toBe(true);
    expect(typeof last.idr0).toBe('number');
  });

  it('runs `vsmmu run --guests 1 --seconds 0` from the installed bin (dist/, never src/)', () => {
    expect(existsSync(join(consumer, 'node_modules', 'vsmmu', 'src'))).toBe(false);
    const out = ok(run(join(consumer, 'node_modules', '.bin', 'vsmmu'), ['run', '--guests', '1', '--seconds', '0'], consumer));
    expect(out).toContain('PASS');
  });

  it('answers `vsmmu campaign` without the optional bullmq and ioredis with one coded line', () => {
    expect(existsSync(join(consumer, 'node_modules', 'bullmq'))).toBe(false);
    const r = run(join(consumer, 'node_modules', '.bin', 'vsmmu'), ['campaign', 'status', '--queue', 'redis://127.0.0.1:1'], consumer);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('vsmmu campaign: campaigns need the optional packages bullmq and ioredis: npm install bullmq ioredis [EVSMMU_CAMPAIGN_DEPS]\n');
  });

  it('can be required from CommonJS', () => {
    const out = ok(run(process.execPath, ['-e', "const v = require('vsmmu'); const a = require('vsmmu/arch'); console.log(typeof v.createSystem, 'arch' in v, Object.keys(a).length > 50)"], consumer));
    expect(out.trim()).toBe('function false true');
  });

  it('compiles a typed consumer with skipLibCheck off and no DOM lib', () => {
    writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'es2022', lib: ['es2024', 'esnext.disposable'], module: 'nodenext', moduleResolution: 'nodenext',
        types: ['node'], strict: true, exactOptionalPropertyTypes: true, skipLibCheck: false, noEmit: true,
      },
      files: ['typed.ts'],
    }));
    writeFileSync(join(consumer, 'typed.ts'), `${readmeProgram()}
import type { ProbeInfo, Attachment, GuestFault, DmaFault, DmaOutcome, GuestStats, LatencySummary, DomainConfig, ScenarioReport, StressReport, SystemStats, ErrorCode } from 'vsmmu';
import { VsmmuError, ERROR_CODES } from 'vsmmu';
import { STE_WORDS, type SmmuFeatures } from 'vsmmu/arch';
const info: ProbeInfo = await g.driver.probe();
const att: Attachment = await g.driver.attach('dma0', { asid: 2 });
const faults: GuestFault[] = await g.driver.faults();
const outcome: DmaOutcome = r;
const where = (f: DmaFault): string => f.name + ' at ' + String(f.iova);
const fault = outcome.ok || !('iova' in outcome.fault) ? null : where(outcome.fault);
const stats: SystemStats = await sys.stats();
const gs = stats.domains['g1'] as GuestStats;
const lat: LatencySummary | null = gs.trapLatency;
const cfg: DomainConfig = g.config;
const features: SmmuFeatures = sys.features;
const code: ErrorCode = 'EVSMMU_BADOPTIONS';
const report: ScenarioReport | StressReport | null = null;
console.log(info, att, faults, fault, lat, cfg, features, STE_WORDS, report, ERROR_CODES[code].kind, new VsmmuError(code, 'x').kind);
`);
    const r = run(process.execPath, [join(MODULES, 'typescript', 'bin', 'tsc'), '-p', consumer], consumer, 120_000);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('bin/vsmmu.js in a checkout', () => {
  it('runs src/, never a dist/ that may be stale', () => {
    writeFileSync(join(copy, 'dist', 'src', 'cli', 'main.js'), "export async function main() { console.log('stale dist'); return 3; }\n");
    const r = run(process.execPath, [join(copy, 'bin', 'vsmmu.js'), '--help'], copy);
    expect(ok(r)).toContain('Usage: vsmmu');
    expect(r.stdout).not.toContain('stale dist');
  });
});

describe('Node versions', () => {
  const old = olderNode();
  const floor = /^>=(\d+)\.(\d+)$/.exec(PKG.engines.node);

  it('engines names the floor of the built package, and bin/vsmmu.js checks the same one', () => {
    expect(floor).not.toBeNull();
    const bin = readFileSync(join(ROOT, 'bin', 'vsmmu.js'), 'utf8');
    expect(/var INSTALLED = \[(\d+), (\d+)\];/.exec(bin)?.slice(1)).toEqual(floor!.slice(1, 3));
  });

  it.runIf(old !== null)('an older Node runs the installed package at or above engines, else says which version it needs', () => {
    const [major, minor] = old!.version;
    const r = run(old!.bin, [join(consumer, 'node_modules', 'vsmmu', 'bin', 'vsmmu.js'), 'run', '--guests', '1', '--seconds', '0'], consumer);
    if (major > Number(floor![1]) || (major === Number(floor![1]) && minor >= Number(floor![2]))) {
      expect(ok(r)).toContain('PASS');
    } else {
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(`needs Node.js >= ${floor![1]}.${floor![2]}`)]);
    }
  });

  it.runIf(old !== null && old.version[0] < 24)('the checkout on an older Node prints one line naming Node 24, not a syntax error', () => {
    const r = run(old!.bin, [join(ROOT, 'bin', 'vsmmu.js'), '--help'], ROOT);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining('needs Node.js >= 24')]);
  });
});
