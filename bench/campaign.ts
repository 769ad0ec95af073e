// Campaign figures (docs/campaigns.md), on a redis-server of its own on 127.0.0.1:
//   1. scaling: one fixed stress campaign run by one worker process, then (under another
//      name, the same seeds) by two, each `vsmmu campaign work --until-empty --concurrency 1`;
//      the figure is the two-worker time over the one-worker time (target <= 0.6), from
//      spawning the workers to their exit (process start-up included), and over the span
//      from the first seed's start to the last seed's end;
//      Each worker is started in a session of its own (detached): with Linux's scheduler
//      autogroups a session shares the CPU fairly with the other sessions, as two worker
//      machines would not share one machine's session; in one session, two workers would
//      split that session's share of a busy machine and measure nothing;
//   2. queue overhead per seed: a campaign of seeds that do nothing (bench/campaign-null.ts)
//      through one worker process, its time per seed over a stress seed's mean run time
//      (target < 5%); and, in the one-worker stress run, the time between seeds (its span
//      less the time in seeds, per seed) over the same mean.
// Usage: node bench/campaign.ts [--seeds N] [--guests G] [--rounds R] [--chunk C] [--null-seeds N] [--json]
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { campaignStatus, startCampaign } from '../src/campaign/campaign.ts';
import { keys } from '../src/campaign/store.ts';
import { startRedis } from '../test/support/redis-server.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '80' },
    guests: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '400' },
    chunk: { type: 'string', default: '5' },
    'null-seeds': { type: 'string', default: '2000' },
    json: { type: 'boolean', default: false },
  },
});
const SEEDS = Number(values.seeds);
const NULL_SEEDS = Number(values['null-seeds']);
const options = { guests: Number(values.guests), rounds: Number(values.rounds) };
const chunk = Number(values.chunk);
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const NULL_RUNNER = fileURLToPath(new URL('./campaign-null.ts', import.meta.url));
/** Bound of one phase: a worker still running then is killed and the bench fails. */
const PHASE_MS = 30 * 60_000;

const server = await startRedis();
const redis = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
const log = (t: string): void => void (values.json ? process.stderr : process.stdout).write(`${t}\n`);

/** Runs `workers` worker processes on campaign `name` until it is drained: wall ms, and CPU ms of the workers (from their --json). */
async function work(name: string, workers: number): Promise<{ ms: number; cpuMs: number; maxCpuMs: number }> {
  const t0 = performance.now();
  const cpu = await Promise.all(
    Array.from({ length: workers }, (_, i) => {
      const c = spawn(process.execPath, [MAIN, 'campaign', 'work', '--queue', server.url, '--name', name, '--until-empty', '--concurrency', '1', '--worker', `w${i + 1}`, '--json'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
      let out = '';
      c.stdout.on('data', (b: Buffer) => void (out += b.toString()));
      const timer = setTimeout(() => c.kill('SIGKILL'), PHASE_MS);
      return new Promise<number>((res, rej) =>
        c.once('exit', (code) => {
          clearTimeout(timer);
          if (code === 0) res((JSON.parse(out) as { cpuMs: number }).cpuMs);
          else rej(new Error(`worker ${i + 1} of ${name} exited with ${code}`));
        }),
      );
    }),
  );
  return { ms: performance.now() - t0, cpuMs: cpu.reduce((a, b) => a + b, 0), maxCpuMs: Math.max(...cpu) };
}

/** From the first seed's start to the last seed's end, over all workers (ms), and time in seeds. */
async function span(name: string): Promise<{ spanMs: number; busyMs: number; seeds: number }> {
  const k = keys(name);
  let first = Infinity;
  let last = 0;
  let busyMs = 0;
  let seeds = 0;
  for (const w of await redis.smembers(k.workers)) {
    const h = await redis.hgetall(k.worker(w));
    first = Math.min(first, Number(h['first']));
    last = Math.max(last, Number(h['last']));
    busyMs += Number(h['busyMs']);
    seeds += Number(h['seeds']);
  }
  return { spanMs: last - first, busyMs, seeds };
}

try {
  const load0 = loadavg()[0] ?? 0;
  log(`stress campaign: ${SEEDS} seeds, guests ${options.guests}, rounds ${options.rounds}, chunks of ${chunk}; load average ${load0.toFixed(2)}`);
  const one = `one`;
  const two = `two`;
  for (const name of [one, two]) await startCampaign({ queue: server.url, name, kind: 'stress', seeds: { first: 1, last: SEEDS }, chunk, options: { ...options, shrink: false } });
  const { ms: t1, cpuMs: c1 } = await work(one, 1);
  const s1 = await span(one);
  log(`  1 worker:  ${(t1 / 1000).toFixed(2)} s wall, ${(s1.spanMs / 1000).toFixed(2)} s from first seed to last, ${(s1.busyMs / s1.seeds).toFixed(0)} ms per seed, ${(c1 / t1).toFixed(2)} cores used`);
  const { ms: t2, cpuMs: c2, maxCpuMs: m2 } = await work(two, 2);
  const s2 = await span(two);
  log(`  2 workers: ${(t2 / 1000).toFixed(2)} s wall, ${(s2.spanMs / 1000).toFixed(2)} s from first seed to last, ${(c2 / t2).toFixed(2)} cores used`);
  for (const w of (await campaignStatus({ queue: server.url, name: two })).workers) log(`    ${w.worker}: ${w.seeds} seeds, ${(w.busyMs / w.seeds).toFixed(0)} ms per seed, ${w.seedsPerS.toFixed(2)} seeds/s`);
  for (const name of [one, two]) {
    const st = await campaignStatus({ queue: server.url, name });
    if (st.done !== SEEDS) throw new Error(`campaign ${name}: ${st.done} of ${SEEDS} seeds done`);
  }
  const seedMs = s1.busyMs / s1.seeds;
  const gapMs = (s1.spanMs - s1.busyMs) / Math.max(1, s1.seeds - 1);

  await startCampaign({ queue: server.url, name: 'null', kind: 'null', runner: NULL_RUNNER, seeds: { first: 1, last: NULL_SEEDS }, chunk: 10 });
  const { ms: tn } = await work('null', 1);
  const sn = await span('null');
  const perSeedMs = sn.spanMs / NULL_SEEDS;
  const load1 = loadavg()[0] ?? 0;

  const figures = {
    seeds: SEEDS,
    options,
    chunk,
    oneWorkerMs: Math.round(t1),
    twoWorkersMs: Math.round(t2),
    ratioWall: t2 / t1,
    ratioSpan: s2.spanMs / s1.spanMs,
    coresUsed: [c1 / t1, c2 / t2],
    /** On two idle cores each worker runs on its own: the busier worker's CPU time over the lone worker's. */
    ratioCpuBound: m2 / c1,
    cpuMs: [c1, c2],
    stressSeedMs: seedMs,
    betweenSeedsMs: gapMs,
    overheadInRun: gapMs / seedMs,
    nullSeeds: NULL_SEEDS,
    nullCampaignMs: Math.round(tn),
    queueMsPerSeed: perSeedMs,
    overheadPerSeed: perSeedMs / seedMs,
    loadAverage: [load0, load1],
  };
  if (values.json) process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  log(`two workers / one: ${figures.ratioWall.toFixed(3)} wall, ${figures.ratioSpan.toFixed(3)} first-to-last seed (target <= 0.6)`);
  log(`on two idle cores (CPU time of the busier of two workers / of the lone worker): ${figures.ratioCpuBound.toFixed(3)}`);
  log(`a stress seed runs ${seedMs.toFixed(0)} ms; the queue costs ${perSeedMs.toFixed(2)} ms per seed (${NULL_SEEDS} empty seeds in ${(tn / 1000).toFixed(2)} s): ${pct(figures.overheadPerSeed)} (target < 5%)`);
  log(`between two stress seeds of one worker: ${gapMs.toFixed(2)} ms: ${pct(figures.overheadInRun)}`);
  log(`load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after (the wall figure needs two cores free: compare cores used)`);
} finally {
  await redis.quit().catch(() => {});
  await server.stop();
}
