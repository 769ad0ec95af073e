// A campaign's state in Redis, beside its BullMQ queue (no local files). Keys, under
// vsmmu:c:NAME:
//   meta             hash  spec (JSON of CampaignSpec), createdAt (ms), enqueued ('1' once every chunk is queued)
//   results          hash  seed -> JSON of its StoredResult; written once (HSETNX): a seed's result is recorded once
//   stats            hash  done, ops, violations: counters bumped only with a first result
//   workers          set   worker names
//   worker:W         hash  seeds, ops, violations, busyMs, first, last (ms) of worker W
//   failures         hash  digest -> JSON of the first failing result with that digest
//   finders:DIGEST   set   'SEED@WORKER' for every seed and worker that found that failure
// One Lua script records a result, so a worker killed between two commands never leaves a
// result without its counters (or the reverse).
import type { Redis } from 'ioredis';
import { VsmmuError } from '../errors.ts';
import type { CampaignFailure, CampaignFinder, CampaignSpec, CampaignWorkerStatus, SeedResult } from './types.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function checkName(name: string): string {
  if (!NAME.test(name)) throw new VsmmuError('EVSMMU_INVAL', `campaign name ${JSON.stringify(name)}: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit`);
  return name;
}

/** The BullMQ queue of a campaign (prefix 'vsmmu'). */
export const queueName = (name: string): string => `campaign-${name}`;
export const QUEUE_PREFIX = 'vsmmu';

export function keys(name: string) {
  const base = `vsmmu:c:${name}`;
  return {
    meta: `${base}:meta`,
    results: `${base}:results`,
    stats: `${base}:stats`,
    workers: `${base}:workers`,
    worker: (w: string) => `${base}:worker:${w}`,
    failures: `${base}:failures`,
    finders: (digest: string) => `${base}:finders:${digest}`,
  };
}

/** What is kept of a seed's result: all of it, plus who ran it and how long it took. */
export interface StoredResult extends SeedResult {
  readonly worker: string;
  readonly ms: number;
}

// KEYS: results stats workers worker:W failures finders:DIGEST
// ARGV: seed json worker ok ops ms start end digest
const RECORD = `
local fresh = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
local failed = ARGV[4] == '0'
if fresh == 0 then
  if failed then
    local old = cjson.decode(redis.call('HGET', KEYS[1], ARGV[1]))
    if old.digest == ARGV[9] then redis.call('SADD', KEYS[6], ARGV[1] .. '@' .. ARGV[3]) end
  end
  return 0
end
redis.call('HINCRBY', KEYS[2], 'done', 1)
redis.call('HINCRBY', KEYS[2], 'ops', ARGV[5])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('HINCRBY', KEYS[4], 'seeds', 1)
redis.call('HINCRBY', KEYS[4], 'ops', ARGV[5])
redis.call('HINCRBY', KEYS[4], 'busyMs', ARGV[6])
local first = redis.call('HGET', KEYS[4], 'first')
if not first or tonumber(ARGV[7]) < tonumber(first) then redis.call('HSET', KEYS[4], 'first', ARGV[7]) end
local last = redis.call('HGET', KEYS[4], 'last')
if not last or tonumber(ARGV[8]) > tonumber(last) then redis.call('HSET', KEYS[4], 'last', ARGV[8]) end
if failed then
  redis.call('HINCRBY', KEYS[2], 'violations', 1)
  redis.call('HINCRBY', KEYS[4], 'violations', 1)
  redis.call('HSETNX', KEYS[5], ARGV[9], ARGV[2])
  redis.call('SADD', KEYS[6], ARGV[1] .. '@' .. ARGV[3])
end
return 1
`;

type RecordCommand = (...args: string[]) => Promise<number>;

/** The digest of a failure: the runner's, or one made from its violations. */
export function digestOf(r: SeedResult, hash: (text: string) => string): string {
  return r.digest ?? hash(r.violations.join('\n'));
}

/**
 * Records a seed's result once; true if this call recorded it (false: it already had one,
 * and if this run found the same failure, its finder was added).
 */
export async function recordResult(redis: Redis, name: string, r: StoredResult, startedAt: number, digest: string): Promise<boolean> {
  const k = keys(name);
  const cmd = redis as unknown as { vsmmuRecord?: RecordCommand };
  if (cmd.vsmmuRecord === undefined) redis.defineCommand('vsmmuRecord', { numberOfKeys: 6, lua: RECORD });
  const record = (redis as unknown as { vsmmuRecord: RecordCommand }).vsmmuRecord.bind(redis);
  const stored: StoredResult = r.ok ? r : { ...r, digest };
  const n = await record(
    k.results, k.stats, k.workers, k.worker(r.worker), k.failures, k.finders(digest),
    String(r.seed), JSON.stringify(stored), r.worker, r.ok ? '1' : '0', String(Math.max(0, Math.round(r.ops))), String(Math.round(r.ms)), String(startedAt), String(startedAt + Math.round(r.ms)), digest,
  );
  return n === 1;
}

/** The seeds among `seeds` that already have a result. */
export async function recordedSeeds(redis: Redis, name: string, seeds: readonly number[]): Promise<Set<number>> {
  if (seeds.length === 0) return new Set();
  const got = await redis.hmget(keys(name).results, ...seeds.map(String));
  return new Set(seeds.filter((_, i) => got[i] !== null));
}

/** The stored spec, or null when no campaign has that name. */
export async function readSpec(redis: Redis, name: string): Promise<{ spec: CampaignSpec; createdAt: number; enqueued: boolean } | null> {
  const m = await redis.hgetall(keys(name).meta);
  if (m['spec'] === undefined) return null;
  return { spec: JSON.parse(m['spec']) as CampaignSpec, createdAt: Number(m['createdAt'] ?? 0), enqueued: m['enqueued'] === '1' };
}

/** Stores the spec unless one is there: true if this call stored it. */
export async function createSpec(redis: Redis, spec: CampaignSpec, now: number): Promise<boolean> {
  const k = keys(spec.name).meta;
  const created = (await redis.hsetnx(k, 'spec', JSON.stringify(spec))) === 1;
  if (created) await redis.hset(k, 'createdAt', String(now));
  return created;
}

export async function markEnqueued(redis: Redis, name: string): Promise<void> {
  await redis.hset(keys(name).meta, 'enqueued', '1');
}

export interface Counters {
  readonly done: number;
  readonly ops: number;
  readonly violations: number;
  readonly failures: number;
}

export async function readCounters(redis: Redis, name: string): Promise<Counters> {
  const k = keys(name);
  const [s, failures] = await Promise.all([redis.hgetall(k.stats), redis.hlen(k.failures)]);
  return { done: Number(s['done'] ?? 0), ops: Number(s['ops'] ?? 0), violations: Number(s['violations'] ?? 0), failures };
}

export async function readWorkers(redis: Redis, name: string): Promise<{ workers: CampaignWorkerStatus[]; last: number }> {
  const k = keys(name);
  const names = (await redis.smembers(k.workers)).sort();
  let lastOfAll = 0;
  const workers = await Promise.all(
    names.map(async (worker) => {
      const h = await redis.hgetall(k.worker(worker));
      const first = Number(h['first'] ?? 0);
      const last = Number(h['last'] ?? 0);
      lastOfAll = Math.max(lastOfAll, last);
      const seeds = Number(h['seeds'] ?? 0);
      const span = (last - first) / 1000;
      return { worker, seeds, ops: Number(h['ops'] ?? 0), violations: Number(h['violations'] ?? 0), busyMs: Number(h['busyMs'] ?? 0), seedsPerS: span > 0 ? seeds / span : 0 };
    }),
  );
  return { workers, last: lastOfAll };
}

function finder(text: string): CampaignFinder {
  const at = text.indexOf('@');
  return { seed: Number(text.slice(0, at)), worker: text.slice(at + 1) };
}

/** The failures, one per digest, in the order of their first seed. */
export async function readFailures(redis: Redis, name: string): Promise<CampaignFailure[]> {
  const k = keys(name);
  const all = await redis.hgetall(k.failures);
  const out = await Promise.all(
    Object.entries(all).map(async ([digest, json]) => {
      const r = JSON.parse(json) as StoredResult;
      const finders = (await redis.smembers(k.finders(digest))).map(finder).sort((a, b) => a.seed - b.seed || (a.worker < b.worker ? -1 : a.worker > b.worker ? 1 : 0));
      const f: CampaignFailure = { digest, seed: r.seed, violations: r.violations, replay: r.replay, finders };
      return r.shrunk === undefined ? f : { ...f, shrunk: r.shrunk };
    }),
  );
  return out.sort((a, b) => a.seed - b.seed);
}
