// Campaign figures (docs/campaigns.md), on a redis-server of its own on 127.0.0.1:
//   1. scaling: one fixed stress campaign run by one worker process, then (under another
//      name, the same seeds) by two, each `vsmmu campaign work --until-empty --concurrency 1`,
//      K rounds alternating; the figure is the two-worker time over the one-worker time
//      (target <= 0.6), from spawning the workers to their exit (process start-up included):
//      the median of the rounds' ratios and the ratio of the best times;
//      Each worker is started in a session of its own (detached): with Linux's scheduler
//      autogroups a session shares the CPU fairly with the other sessions, as two worker
//      machines would not share one machine's session; in one session, two workers would
//      split that session's share of a busy machine and measure nothing;
//   2. queue overhead per seed: a campaign of seeds that do nothing (bench/campaign-null.ts)
//      through one worker process, its time per seed over a stress seed's mean run time
//      (target < 5%); and, in the one-worker stress run, the time between seeds (its span
//      less the time in seeds, per seed) over the same mean.
// Usage: node bench/campaign.ts [--seeds N] [--guests G] [--rounds R] [--chunk C] [--repeat K] [--null-seeds N] [--json]
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
    seeds: { type: 'string', default: '1000' },
    guests: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '400' },
    chunk: { type: 'string', default: '10' },
    repeat: { type: 'string', default: '3' },
    'null-seeds': { type: 'string', default: '2000' },
    json: { type: 'boolean', default: false },
  },
});
const SEEDS = Number(values.seeds);
const REPEAT = Number(values.repeat);
const NULL_SEEDS = Number(values['null-seeds']);
const options = { guests: Number(values.guests), rounds: Number(values.rounds) };
const chunk = Number(values.chunk);
const MAIN = fileURLToPath(new URL('../bin/vsmmu.js', import.meta.url));
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

interface Round {
  readonly ms: number;
  readonly spanMs: number;
  readonly cpuMs: number;
  readonly maxCpuMs: number;
  readonly busyMs: number;
  readonly seeds: number;
}

/** One fresh campaign of the fixed seeds, worked by `workers` processes. */
async function round(name: string, workers: number): Promise<Round> {
  await startCampaign({ queue: server.url, name, kind: 'stress', seeds: { first: 1, last: SEEDS }, chunk, options: { ...options, shrink: false } });
  const w = await work(name, workers);
  const s = await span(name);
  const st = await campaignStatus({ queue: server.url, name });
  if (st.done !== SEEDS) throw new Error(`campaign ${name}: ${st.done} of ${SEEDS} seeds done`);
  const split = st.workers.map((x) => x.seeds).join('/');
  log(`  ${name}: ${workers} worker(s): ${(w.ms / 1000).toFixed(2)} s wall, ${(s.spanMs / 1000).toFixed(2)} s first to last seed, ${(s.busyMs / s.seeds).toFixed(0)} ms per seed, ${(w.cpuMs / w.ms).toFixed(2)} cores used, seeds ${split}`);
  return { ...w, ...s };
}

const median = (xs: readonly number[]): number => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
};

try {
  const load0 = loadavg()[0] ?? 0;
  log(`stress campaign: ${SEEDS} seeds, guests ${options.guests}, rounds ${options.rounds}, chunks of ${chunk}, ${REPEAT} round(s) of one then two workers; load average ${load0.toFixed(2)}`);
  const ones: Round[] = [];
  const twos: Round[] = [];
  for (let i = 0; i < REPEAT; i++) {
    ones.push(await round(`one-${i}`, 1));
    twos.push(await round(`two-${i}`, 2));
  }
  const ratios = ones.map((o, i) => twos[i]!.ms / o.ms);
  const best1 = Math.min(...ones.map((r) => r.ms));
  const best2 = Math.min(...twos.map((r) => r.ms));
  const seedMs = median(ones.map((r) => r.busyMs / r.seeds));
  const gapMs = median(ones.map((r) => (r.spanMs - r.busyMs) / Math.max(1, r.seeds - 1)));

  await startCampaign({ queue: server.url, name: 'null', kind: 'null', runner: NULL_RUNNER, seeds: { first: 1, last: NULL_SEEDS }, chunk: 10 });
  const { ms: tn } = await work('null', 1);
  const sn = await span('null');
  const perSeedMs = sn.spanMs / NULL_SEEDS;
  const load1 = loadavg()[0] ?? 0;

  const figures = {
    seeds: SEEDS,
    options,
    chunk,
    repeat: REPEAT,
    oneWorkerMs: ones.map((r) => Math.round(r.ms)),
    twoWorkersMs: twos.map((r) => Math.round(r.ms)),
    /** Two workers' wall time over one's, per round (each round: one, then two, on the same seeds). */
    ratios,
    ratioMedian: median(ratios),
    ratioBest: best2 / best1,
    coresUsed: { one: ones.map((r) => r.cpuMs / r.ms), two: twos.map((r) => r.cpuMs / r.ms) },
    /** On two idle cores each worker has its own: the busier worker's CPU time over the lone worker's (median). */
    ratioCpuBound: median(ones.map((o, i) => twos[i]!.maxCpuMs / o.cpuMs)),
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
  log(`two workers / one (wall, target <= 0.6): median ${figures.ratioMedian.toFixed(3)} of ${ratios.map((r) => r.toFixed(3)).join(', ')}; best two / best one ${figures.ratioBest.toFixed(3)}`);
  log(`on two idle cores (CPU time of the busier of two workers / of the lone worker): ${figures.ratioCpuBound.toFixed(3)}`);
  log(`a stress seed runs ${seedMs.toFixed(0)} ms; the queue costs ${perSeedMs.toFixed(2)} ms per seed (${NULL_SEEDS} empty seeds in ${(tn / 1000).toFixed(2)} s): ${pct(figures.overheadPerSeed)} (target < 5%)`);
  log(`between two stress seeds of one worker: ${gapMs.toFixed(2)} ms: ${pct(figures.overheadInRun)}`);
  log(`load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after (the wall figure needs two cores free: compare cores used)`);
} finally {
  await redis.quit().catch(() => {});
  await server.stop();
}
