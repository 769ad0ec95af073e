// Campaigns on a real redis-server (127.0.0.1, a free port, no persistence; killed in
// afterAll): the API end to end with planted failures, starting and working a finished
// campaign again, a seed found twice, a small real stress campaign, and two worker
// processes of which one is SIGKILLed mid-chunk: its chunk is taken over, every seed ran to
// completion exactly once and is recorded once, the planted failures are all reported.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { Redis } from 'ioredis';
import { campaignReport, campaignStatus, startCampaign, workCampaign } from '../../src/campaign/campaign.ts';
import { keys, recordResult } from '../../src/campaign/store.ts';
import { runStress } from '../../src/system/stress.ts';
import { runFuzzSeed } from '../../src/fuzz/run.ts';
import { redisIt, redisProblem, startRedis, type RedisServer } from '../support/redis.ts';
import { cli } from '../support/cli.ts';

const it = redisIt('campaigns on a Redis queue (test/integration/campaign.test.ts)');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNNER = join(ROOT, 'test/support/campaign-runner.ts');
const MAIN = join(ROOT, 'src/cli/main.ts');

let server: RedisServer | undefined;
let redis: Redis | undefined;
const children: ChildProcess[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'vsmmu-campaign-'));

const url = (): string => server?.url ?? 'redis://127.0.0.1:1';

beforeAll(async () => {
  if (redisProblem() === null) {
    server = await startRedis();
    redis = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  }
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redis?.quit().catch(() => {});
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});


/** Every finished run the planted runner logged: seed -> how many times. */
function runs(log: string): Map<number, number> {
  const m = new Map<number, number>();
  const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const seed = Number(line.split(' ')[0]);
    m.set(seed, (m.get(seed) ?? 0) + 1);
  }
  return m;
}

/** A `vsmmu campaign work --until-empty` process on campaign `name`, short locks. */
function work(name: string, worker: string, env: Record<string, string>, lockMs = 2000): ChildProcess {
  const c = spawn(process.execPath, [MAIN, 'campaign', 'work', '--queue', url(), '--name', name, '--until-empty', '--concurrency', '1', '--lock-ms', String(lockMs), '--stalled-ms', '300', '--worker', worker], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  return c;
}

function exited(c: ChildProcess): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  let out = '';
  let err = '';
  c.stdout?.on('data', (b: Buffer) => void (out += b.toString()));
  c.stderr?.on('data', (b: Buffer) => void (err += b.toString()));
  return new Promise((res) => c.once('exit', (code, signal) => res({ code, signal, out, err })));
}

const PLANTED = [3, 13, 24];

describe('campaign on a Redis queue', () => {
  it('runs every seed once, reports each failure once with its finders, and a re-run changes nothing', async () => {
    const log = join(tmp, 'api.log');
    const spec = { queue: url(), name: 'api', kind: 'planted', runner: RUNNER, seeds: { first: 0, last: 29 }, chunk: 4, options: { fail: PLANTED.join(','), delayMs: 5, log } };
    const started = await startCampaign(spec);
    expect(started).toMatchObject({ created: true, chunks: 8 });
    const before = await campaignStatus({ queue: url(), name: 'api' });
    expect(before).toMatchObject({ total: 30, done: 0, finished: false, chunks: { total: 8, waiting: 8, completed: 0 } });

    const seen: number[] = [];
    const w = await workCampaign({ queue: url(), name: 'api', untilEmpty: true, concurrency: 2, worker: 'w1', onSeed: (r) => void seen.push(r.seed) });
    expect(w).toMatchObject({ worker: 'w1', chunks: 8, seeds: 30, failed: 3, duplicates: 0 });
    expect([...runs(log).entries()].sort((a, b) => a[0] - b[0])).toEqual(Array.from({ length: 30 }, (_, i) => [i, 1]));

    const status = await campaignStatus({ queue: url(), name: 'api' });
    expect(status).toMatchObject({ kind: 'planted', total: 30, done: 30, violations: 3, failures: 2, finished: true, chunks: { total: 8, completed: 8, failed: 0, active: 0, waiting: 0 } });
    expect(status.ops).toBe(Array.from({ length: 30 }, (_, i) => (i % 5) + 1).reduce((a, b) => a + b));
    expect(status.workers).toEqual([expect.objectContaining({ worker: 'w1', seeds: 30, violations: 3 })]);
    const report = await campaignReport({ queue: url(), name: 'api' });
    expect(report.failures).toEqual([
      { digest: 'planted-1', seed: 3, violations: ['planted failure 1'], replay: 'planted seed 3', shrunk: 'shrunk(1)', finders: [{ seed: 3, worker: 'w1' }, { seed: 13, worker: 'w1' }] },
      { digest: 'planted-0', seed: 24, violations: ['planted failure 0'], replay: 'planted seed 24', shrunk: 'shrunk(0)', finders: [{ seed: 24, worker: 'w1' }] },
    ]);

    // Again: the same start queues nothing, a worker finds nothing to do, nothing changes.
    expect(await startCampaign(spec)).toMatchObject({ created: false, chunks: 8 });
    expect(await workCampaign({ queue: url(), name: 'api', untilEmpty: true, concurrency: 2, worker: 'w2' })).toMatchObject({ chunks: 0, seeds: 0, duplicates: 0 });
    expect(await campaignStatus({ queue: url(), name: 'api' })).toEqual(status);
    expect(await campaignReport({ queue: url(), name: 'api' })).toEqual(report);
    expect(runs(log).size).toBe(30);
    expect([...runs(log).values()].every((n) => n === 1)).toBe(true);

    // The same name with other settings is refused.
    await expect(startCampaign({ ...spec, seeds: { first: 0, last: 30 } })).rejects.toMatchObject({ code: 'EVSMMU_CAMPAIGN_CONFLICT' });
  });

  it('records a seed run twice once, and a failure found again (same digest) once with both finders', async () => {
    await startCampaign({ queue: url(), name: 'twice', kind: 'planted', runner: RUNNER, seeds: { first: 0, last: 9 }, options: { fail: '3' } });
    const r = { seed: 3, ok: false, ops: 4, violations: ['planted failure 1'], digest: 'planted-1', replay: 'planted seed 3', ms: 5 };
    expect(await recordResult(redis!, 'twice', { ...r, worker: 'a' }, 1000, 'planted-1')).toBe(true);
    expect(await recordResult(redis!, 'twice', { ...r, worker: 'b' }, 2000, 'planted-1')).toBe(false);
    expect(await recordResult(redis!, 'twice', { ...r, worker: 'b' }, 3000, 'planted-1')).toBe(false);
    // a different outcome of a seed already recorded is not a finder of this failure
    expect(await recordResult(redis!, 'twice', { ...r, worker: 'c', digest: 'other' }, 4000, 'other')).toBe(false);
    const k = keys('twice');
    expect(await redis!.hlen(k.results)).toBe(1);
    expect(await redis!.hgetall(k.stats)).toEqual({ done: '1', ops: '4', violations: '1' });
    const report = await campaignReport({ queue: url(), name: 'twice' });
    expect(report.failures).toEqual([expect.objectContaining({ digest: 'planted-1', seed: 3, finders: [{ seed: 3, worker: 'a' }, { seed: 3, worker: 'b' }] })]);
    expect((await campaignStatus({ queue: url(), name: 'twice' })).workers.map((w) => w.worker)).toEqual(['a']);
  });

  it('records a runner that throws as a failing seed with the error', async () => {
    await startCampaign({ queue: url(), name: 'throws', kind: 'planted', runner: RUNNER, seeds: { first: 0, last: 5 }, chunk: 3, options: { fail: '4', throw: true } });
    expect(await workCampaign({ queue: url(), name: 'throws', untilEmpty: true, concurrency: 1 })).toMatchObject({ seeds: 6, failed: 1 });
    const report = await campaignReport({ queue: url(), name: 'throws' });
    expect(report.failures).toEqual([expect.objectContaining({ seed: 4, violations: ['the run threw: Error: planted crash at seed 4'], replay: 'planted seed 4', finders: [expect.objectContaining({ seed: 4 })] })]);
    expect(report.failures[0]?.digest).toMatch(/^[0-9a-f]{16}$/);
  });

  it('runs a small stress campaign the way vsmmu stress does (CLI start, work, status, report)', async () => {
    const q = ['--queue', url(), '--name', 'stress'];
    const start = await cli(['campaign', 'start', ...q, '--kind', 'stress', '--seeds', '7..8', '--chunk', '1', '--guests', '1', '--rounds', '30']);
    expect(start).toMatchObject({ code: 0, err: '' });
    expect(start.out).toContain('started campaign stress: stress, seeds 7..8 in 2 chunk(s) of 1');
    const work = await cli(['campaign', 'work', ...q, '--until-empty', '--concurrency', '1', '--worker', 'solo']);
    expect(work).toMatchObject({ code: 0, err: '' });
    expect(work.out).toMatch(/^worker solo: 2 seed\(s\) in 2 chunk\(s\), 0 failed/);
    const status = await cli(['campaign', 'status', ...q, '--json']);
    const s = JSON.parse(status.out) as { done: number; total: number; ops: number; violations: number; workers: { worker: string; seeds: number }[] };
    expect(s).toMatchObject({ done: 2, total: 2, violations: 0, workers: [{ worker: 'solo', seeds: 2 }] });
    expect(s.ops).toBeGreaterThan(0);
    expect(await cli(['campaign', 'report', ...q])).toMatchObject({ code: 0, out: 'campaign stress (stress): 2/2 seeds done, 0 distinct failure(s)\n' });
    // The seed ran as `vsmmu stress` runs it: sim mode, the same digest and replay command.
    const alone = await runStress({ seed: 7, guests: 1, rounds: 30 });
    const stored = JSON.parse((await redis!.hget(keys('stress').results, '7')) ?? '{}') as { digest?: string; replay?: string; ops?: number };
    expect(stored).toMatchObject({ digest: alone.digest, replay: alone.replay, ops: alone.ops });
    expect(alone.digest).toMatch(/^[0-9a-f]{16}$/);
  }, 120_000);

  it('runs fuzz seeds the way vsmmu fuzz does', async () => {
    const options = { iterations: 30, guests: 2 };
    await startCampaign({ queue: url(), name: 'fuzz', kind: 'fuzz', seeds: { first: 1, last: 2 }, chunk: 1, options });
    expect(await workCampaign({ queue: url(), name: 'fuzz', untilEmpty: true, concurrency: 2 })).toMatchObject({ seeds: 2 });
    const alone = await runFuzzSeed(2, options);
    const stored = JSON.parse((await redis!.hget(keys('fuzz').results, '2')) ?? '{}') as { ok?: boolean; digest?: string; replay?: string; ops?: number };
    expect(stored).toEqual(expect.objectContaining({ ok: alone.ok, digest: alone.digest, replay: alone.replay, ops: alone.inputs }));
    expect(alone.digest).toMatch(/^[0-9a-f]{16}$/);
    expect((await campaignStatus({ queue: url(), name: 'fuzz' })).ops).toBeGreaterThanOrEqual(alone.inputs);
  }, 120_000);

  it('reports every seed that catches a planted bug of the mutation suite, as vsmmu stress finds them, and shrinks a catch', async () => {
    // The oracle: the same seeds run alone, as `vsmmu stress --mutation tlbi-without-vmid` runs them.
    const options = { guests: 2, rounds: 100, mutation: 'tlbi-without-vmid' } as const;
    const alone = await Promise.all(Array.from({ length: 4 }, (_, i) => runStress({ ...options, seed: i + 2 })));
    // Some of these seeds catch it and some do not (as the stress runner is today); either way the report must match.
    const caught = alone.filter((r) => !r.ok);
    expect(caught.length).toBeGreaterThan(0);
    await startCampaign({ queue: url(), name: 'mutation', kind: 'stress', seeds: { first: 2, last: 5 }, chunk: 3, options: { ...options, shrink: false } });
    expect(await workCampaign({ queue: url(), name: 'mutation', untilEmpty: true, concurrency: 2 })).toMatchObject({ seeds: 4, failed: caught.length });
    const report = await campaignReport({ queue: url(), name: 'mutation' });
    expect(report.failures.map((f) => ({ seed: f.seed, digest: f.digest, violations: f.violations, replay: f.replay }))).toEqual(
      caught.map((r) => ({ seed: r.seed, digest: r.digest, violations: [r.violation], replay: r.replay })),
    );
    expect(report.failures.every((f) => f.replay.includes('--mutation tlbi-without-vmid') && f.shrunk === undefined)).toBe(true);

    // With shrinking (the default), the report carries a smaller run that still fails.
    const one = caught[0]!.seed;
    await startCampaign({ queue: url(), name: 'shrunk', kind: 'stress', seeds: { first: one, last: one }, options: { ...options, shrinkRuns: 5 } });
    await workCampaign({ queue: url(), name: 'shrunk', untilEmpty: true, concurrency: 1 });
    const [f] = (await campaignReport({ queue: url(), name: 'shrunk' })).failures;
    expect(f?.shrunk).toMatch(/^vsmmu stress --seeds 1 --seed \d+ .*--mutation tlbi-without-vmid.* # \d+ operation\(s\): /);
  }, 120_000);

  it('two worker processes, one SIGKILLed mid-chunk: its chunk is retried by the other, every seed runs once, failures all reported', async () => {
    const log = join(tmp, 'kill.log');
    const mark = join(tmp, 'kill.mark');
    const name = 'kill';
    const total = 40;
    await startCampaign({ queue: url(), name, kind: 'planted', runner: RUNNER, seeds: { first: 0, last: total - 1 }, chunk: 5, options: { fail: PLANTED.join(','), delayMs: 25, log } });
    // A hangs in its third seed, the middle of its first chunk, after saying which seed.
    const a = work(name, 'A', { VSMMU_TEST_HANG_AFTER: '2', VSMMU_TEST_HANG_MARK: mark });
    const aDone = exited(a);
    const b = work(name, 'B', {});
    const bDone = exited(b);
    // Handshake: wait (bounded) for A's mark, then kill it.
    for (let i = 0; i < 600 && !existsSync(mark); i++) await new Promise((res) => setTimeout(res, 50));
    expect(existsSync(mark)).toBe(true);
    const hung = Number(readFileSync(mark, 'utf8').trim());
    a.kill('SIGKILL');
    expect(await aDone).toMatchObject({ signal: 'SIGKILL' });
    const bOut = await bDone;
    expect(bOut, bOut.err).toMatchObject({ code: 0 });

    // Every seed ran to completion exactly once (the hung one only on B), and is recorded once.
    const ran = runs(log);
    expect([...ran.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect([...ran.values()].every((n) => n === 1)).toBe(true);
    const k = keys(name);
    expect(await redis!.hlen(k.results)).toBe(total);
    const hungBy = JSON.parse((await redis!.hget(k.results, String(hung))) ?? '{}') as { worker?: string };
    expect(hungBy.worker).toBe('B');
    // A recorded the two seeds it finished, both in the chunk it died in; B the rest of that chunk.
    const owners = Object.entries(await redis!.hgetall(k.results)).map(([seed, j]) => [Number(seed), (JSON.parse(j) as { worker: string }).worker] as const);
    const byA = owners.filter(([, w]) => w === 'A').map(([seed]) => seed);
    const chunk = Math.floor(hung / 5);
    expect(byA).toHaveLength(2);
    expect(byA.every((seed) => Math.floor(seed / 5) === chunk)).toBe(true);
    expect(owners.filter(([seed]) => Math.floor(seed / 5) === chunk && !byA.includes(seed)).every(([, w]) => w === 'B')).toBe(true);

    const status = await campaignStatus({ queue: url(), name });
    expect(status).toMatchObject({ done: total, total, violations: 3, failures: 2, finished: true, chunks: { total: 8, completed: 8, failed: 0, active: 0 } });
    expect(status.workers.map((w) => w.worker)).toEqual(['A', 'B']);
    expect(status.workers.reduce((n, w) => n + w.seeds, 0)).toBe(total);
    const report = await campaignReport({ queue: url(), name });
    expect(report.failures.map((f) => [f.digest, f.finders.map((x) => x.seed)])).toEqual([
      ['planted-1', [3, 13]],
      ['planted-0', [24]],
    ]);
    const cliReport = await cli(['campaign', 'report', '--queue', url(), '--name', name, '--json']);
    expect(cliReport.code).toBe(1);
    expect(cliReport.err).toContain('[EVSMMU_CHECK]');
    expect((JSON.parse(cliReport.out) as { failures: unknown[] }).failures).toHaveLength(2);
  }, 120_000);

  it('a seed that kills every worker that runs it: its chunk is given up after two recoveries and reported lost', async () => {
    const name = 'lost';
    await startCampaign({ queue: url(), name, kind: 'planted', runner: RUNNER, seeds: { first: 0, last: 5 }, chunk: 3, options: { killAt: 4 } });
    const deaths: number[] = [];
    // Bounded: each worker either dies on seed 4 or drains the campaign; the chunk fails at the third death.
    for (let i = 0; i < 6; i++) {
      const r = await exited(work(name, `k${i}`, {}, 1000));
      if (r.signal === 'SIGKILL') deaths.push(i);
      else {
        expect(r, r.err).toMatchObject({ code: 0 });
        break;
      }
    }
    expect(deaths).toEqual([0, 1, 2]);
    const report = await campaignReport({ queue: url(), name });
    expect(report.lostChunks).toEqual([{ first: 3, last: 5, reason: expect.stringContaining('stalled more than allowable limit') }]);
    expect(report).toMatchObject({ total: 6, finished: false, failures: [] });
    expect(report.done).toBeGreaterThanOrEqual(3);
    expect(await redis!.hexists(keys(name).results, '4')).toBe(0);
    const status = await campaignStatus({ queue: url(), name });
    expect(status.chunks).toMatchObject({ total: 2, completed: 1, failed: 1, active: 0, waiting: 0 });
    const cliReport = await cli(['campaign', 'report', '--queue', url(), '--name', name]);
    expect(cliReport.code).toBe(1);
    expect(cliReport.out).toContain('lost chunk 3..5: ');
    expect(cliReport.err).toContain('0 distinct failure(s), 1 lost chunk(s)');
  }, 120_000);
});
