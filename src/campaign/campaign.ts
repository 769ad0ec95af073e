// Campaigns: the seeds of a stress or fuzz kind, spread over any number of machines by a
// BullMQ queue on Redis. startCampaign stores the spec and queues the seeds in chunks (one
// job per chunk, its id the chunk's range, so queuing twice queues nothing new);
// workCampaign pulls chunks and runs their seeds on a local piscina pool, recording each
// result as it comes (once per seed); a worker that dies leaves its chunk locked until the
// lock expires, then another worker's stalled-job check puts it back, and whoever takes it
// skips the seeds that already have a result.
import { createHash } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import { VsmmuError } from '../errors.ts';
import { seedPool } from '../runtime/seed-pool.ts';
import { connect, redisOptions, type Connection } from './connection.ts';
import { checkKindOptions, runnerModule, specModule } from './runners.ts';
import type { SeedTask, SeedTaskResult } from './seed-task.ts';
import {
  QUEUE_PREFIX, checkName, createSpec, digestOf, markEnqueued, queueName, readCounters, readFailures, readSpec, readWorkers, recordResult, recordedSeeds,
} from './store.ts';
import type {
  CampaignLostChunk, CampaignReport, CampaignSpec, CampaignStatus, CampaignTarget, RunnerOptions, SeedResult, StartCampaignOptions, StartCampaignResult, WorkCampaignOptions, WorkCampaignResult,
} from './types.ts';

export const MAX_SEED = 2 ** 31 - 1;
export const MAX_CHUNKS = 1_000_000;
export const DEFAULT_CHUNK = 10;
const ADD_BATCH = 1000;
/** Lost chunks a report lists at most. */
const MAX_LOST = 1000;
/** How often a worker with untilEmpty looks whether the campaign is drained. */
const DRAIN_POLL_MS = 250;

interface ChunkData {
  readonly from: number;
  readonly to: number;
}

const hash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

function inval(msg: string): VsmmuError {
  return new VsmmuError('EVSMMU_INVAL', msg);
}

function wholeIn(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw inval(`${what}: a whole number from ${min} to ${max}, not ${JSON.stringify(v)}`);
  return v;
}

/** The spec startCampaign stores, from its options (every check made here, before Redis). */
export function campaignSpec(o: StartCampaignOptions, cwd: string = process.cwd()): CampaignSpec {
  const name = checkName(o.name ?? 'default');
  const first = wholeIn('first seed', o.seeds.first, 0, MAX_SEED);
  const last = wholeIn('last seed', o.seeds.last, 0, MAX_SEED);
  if (last < first) throw inval(`seed range ${first}..${last} is empty (the last seed comes before the first)`);
  const chunk = wholeIn('chunk', o.chunk ?? DEFAULT_CHUNK, 1, 10_000);
  const chunks = Math.ceil((last - first + 1) / chunk);
  if (chunks > MAX_CHUNKS) throw inval(`seeds ${first}..${last} in chunks of ${chunk} make ${chunks} chunks, more than ${MAX_CHUNKS}: use larger chunks or several campaigns`);
  const options: RunnerOptions = { ...(o.options ?? {}), ...(o.profile === undefined ? {} : { profile: o.profile }) };
  for (const [k, v] of Object.entries(options)) {
    if (!['string', 'number', 'boolean'].includes(typeof v) || (typeof v === 'number' && !Number.isFinite(v))) throw inval(`runner option ${k}: a string, finite number or boolean, not ${String(v)}`);
  }
  const runner = o.runner === undefined ? null : runnerModule(o.runner, cwd);
  checkKindOptions(o.kind, options, runner !== null);
  return { name, kind: o.kind, first, last, chunk, options, runner };
}

const sameSpec = (a: CampaignSpec, b: CampaignSpec): boolean => JSON.stringify(a) === JSON.stringify(b);

function conflict(name: string, had: CampaignSpec): VsmmuError {
  return new VsmmuError('EVSMMU_CAMPAIGN_CONFLICT', `campaign ${name} already exists with other settings (${had.kind}, seeds ${had.first}..${had.last}, chunks of ${had.chunk}); give this one another --name`, { spec: had });
}

async function withConnection<T>(queue: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const c = await connect(queue);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

function queueOf(c: Connection, name: string) {
  return new c.bull.Queue<ChunkData>(queueName(name), { connection: redisOptions(c.address), prefix: QUEUE_PREFIX });
}

/** Queues a campaign's seeds; starting the same campaign again changes nothing. */
export async function startCampaign(o: StartCampaignOptions): Promise<StartCampaignResult> {
  const spec = campaignSpec(o);
  const chunks = Math.ceil((spec.last - spec.first + 1) / spec.chunk);
  return withConnection(o.queue, async (c) => {
    const created = await createSpec(c.redis, spec, Date.now());
    const stored = await readSpec(c.redis, spec.name);
    if (stored === null) throw new VsmmuError('EVSMMU_INTERNAL', `campaign ${spec.name} vanished while it was created`);
    if (!sameSpec(stored.spec, spec)) throw conflict(spec.name, stored.spec);
    if (!stored.enqueued) {
      // Job ids are the chunks' ranges: a start that died half-way, started again, adds
      // only what is missing (BullMQ ignores a job id it already holds).
      const q = queueOf(c, spec.name);
      try {
        for (let i = 0; i < chunks; i += ADD_BATCH) {
          const batch = Array.from({ length: Math.min(ADD_BATCH, chunks - i) }, (_, j) => {
            const from = spec.first + (i + j) * spec.chunk;
            const to = Math.min(spec.last, from + spec.chunk - 1);
            return { name: 'chunk' as const, data: { from, to }, opts: { jobId: `${from}-${to}`, attempts: 3, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false } };
          });
          await q.addBulk(batch);
        }
      } finally {
        await q.close();
      }
      await markEnqueued(c.redis, spec.name);
    }
    return { spec, created, chunks };
  });
}

async function specOf(c: Connection, name: string): Promise<{ spec: CampaignSpec; createdAt: number }> {
  const s = await readSpec(c.redis, name);
  if (s === null) throw new VsmmuError('EVSMMU_CAMPAIGN_UNKNOWN', `no campaign named ${name} on this queue; start it first (vsmmu campaign start)`);
  return s;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Works on a campaign: pulls chunks, runs their seeds on a piscina pool of `concurrency`
 * threads, records each result once. Returns when the campaign is drained (untilEmpty), at
 * the deadline, or when aborted; it first finishes the chunks it holds.
 */
export async function workCampaign(o: WorkCampaignOptions): Promise<WorkCampaignResult> {
  const name = checkName(o.name ?? 'default');
  const concurrency = wholeIn('concurrency', o.concurrency ?? availableParallelism(), 1, 256);
  const lockMs = wholeIn('lockMs', o.lockMs ?? 30_000, 200, 3_600_000);
  const stalledMs = wholeIn('stalledMs', o.stalledMs ?? 15_000, 100, 3_600_000);
  if (o.deadlineMs !== undefined) wholeIn('deadlineMs', o.deadlineMs, 0, 2 ** 31 - 1);
  const worker = o.worker ?? `${hostname()}/${process.pid}`;
  if (worker === '' || worker.length > 200) throw inval(`worker name: 1 to 200 characters, not ${JSON.stringify(worker)}`);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();

  return withConnection(o.queue, async (c) => {
    const { spec } = await specOf(c, name);
    const module = specModule(spec);
    // A runner module is checked here, before any chunk is taken; a built-in kind is known
    // good, and only the pool's threads load it (the whole emulator: half a second of CPU).
    if (spec.runner !== null) {
      const mod = (await import(module)) as { runSeed?: unknown };
      if (typeof mod.runSeed !== 'function') throw new VsmmuError('EVSMMU_CAMPAIGN_KIND', `runner module ${module} exports no runSeed function`);
    }

    const tally = { chunks: 0, seeds: 0, duplicates: 0, failed: 0 };
    const pool = seedPool<SeedTask, SeedTaskResult>('campaign', concurrency, { idleTimeout: 2000 });

    const runOne = async (seed: number): Promise<void> => {
      let out: SeedTaskResult;
      try {
        out = await pool.run({ module, kind: spec.kind, seed, options: spec.options });
      } catch (e) {
        // The pool thread died under the seed (a runner that exits or runs out of memory).
        const why = e instanceof Error ? e.message : String(e);
        out = { startedAt: Date.now(), ms: 0, result: { seed, ok: false, ops: 0, violations: [`the run's thread died: ${why}`], replay: `seed ${seed} of campaign ${name}` } };
      }
      const r: SeedResult = { ...out.result, seed };
      const fresh = await recordResult(c.redis, name, { ...r, worker, ms: out.ms }, out.startedAt, r.ok ? '' : digestOf(r, hash));
      if (fresh) {
        tally.seeds++;
        if (!r.ok) tally.failed++;
      } else tally.duplicates++;
      o.onSeed?.(r, fresh);
    };

    const processChunk = async (data: ChunkData): Promise<void> => {
      const seeds = Array.from({ length: data.to - data.from + 1 }, (_, i) => data.from + i);
      const done = await recordedSeeds(c.redis, name, seeds);
      await Promise.all(seeds.filter((s) => !done.has(s)).map(runOne));
      tally.chunks++;
    };

    const w = new c.bull.Worker<ChunkData>(queueName(name), (job) => processChunk(job.data), {
      connection: redisOptions(c.address),
      prefix: QUEUE_PREFIX,
      concurrency,
      lockDuration: lockMs,
      stalledInterval: stalledMs,
      maxStalledCount: 2,
      autorun: false,
    });
    const errors: Error[] = [];
    w.on('error', (e) => void errors.push(e));
    const q = queueOf(c, name);
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const deadline = o.deadlineMs === undefined ? undefined : setTimeout(onAbort, o.deadlineMs);
    const running = w.run();
    try {
      if (o.untilEmpty === true) {
        // Bounded by the campaign: every chunk ends completed or failed (BullMQ's attempts and
        // maxStalledCount bound the retries), or by the deadline or the signal.
        while (!stop.signal.aborted) {
          await sleep(DRAIN_POLL_MS, stop.signal);
          const n = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
          if (Object.values(n).every((v) => v === 0)) break;
        }
      } else {
        await new Promise<void>((res) => (stop.signal.aborted ? res() : stop.signal.addEventListener('abort', () => res(), { once: true })));
      }
    } finally {
      if (deadline !== undefined) clearTimeout(deadline);
      o.signal?.removeEventListener('abort', onAbort);
      await w.close(); // waits for the chunks this worker holds
      await running.catch(() => {});
      await q.close();
      await pool.destroy();
    }
    const cpu = process.cpuUsage(cpu0);
    return { worker, ...tally, elapsedMs: Math.round(performance.now() - t0), cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
  });
}

export async function campaignStatus(t: CampaignTarget): Promise<CampaignStatus> {
  const name = checkName(t.name ?? 'default');
  return withConnection(t.queue, async (c) => {
    const { spec, createdAt } = await specOf(c, name);
    const q = queueOf(c, name);
    let counts: Record<string, number>;
    try {
      counts = await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    } finally {
      await q.close();
    }
    const [n, { workers, last }] = await Promise.all([readCounters(c.redis, name), readWorkers(c.redis, name)]);
    const total = spec.last - spec.first + 1;
    const get = (k: string): number => counts[k] ?? 0;
    return {
      name,
      kind: spec.kind,
      first: spec.first,
      last: spec.last,
      total,
      ...n,
      chunks: {
        total: Math.ceil(total / spec.chunk),
        waiting: get('waiting') + get('delayed') + get('prioritized'),
        active: get('active'),
        completed: get('completed'),
        failed: get('failed'),
      },
      workers,
      finished: n.done >= total,
      elapsedMs: last > 0 ? Math.max(0, last - createdAt) : 0,
    };
  });
}

export async function campaignReport(t: CampaignTarget): Promise<CampaignReport> {
  const name = checkName(t.name ?? 'default');
  return withConnection(t.queue, async (c) => {
    const { spec } = await specOf(c, name);
    const q = queueOf(c, name);
    let lostChunks: CampaignLostChunk[];
    try {
      const failed = await q.getJobs(['failed'], 0, MAX_LOST - 1);
      lostChunks = failed.map((j) => ({ first: j.data.from, last: j.data.to, reason: j.failedReason || 'failed' })).sort((a, b) => a.first - b.first);
    } finally {
      await q.close();
    }
    const [n, failures] = await Promise.all([readCounters(c.redis, name), readFailures(c.redis, name)]);
    const total = spec.last - spec.first + 1;
    return { name, kind: spec.kind, total, done: n.done, finished: n.done >= total, failures, lostChunks };
  });
}
