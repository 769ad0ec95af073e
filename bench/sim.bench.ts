// Sim mode against threads, in one run (issue targets):
//   - stress operations per second: the same seeded stress run (3 guests, their own seeded
//     operations, no chaos) in sim mode and on threads (target: sim >= 50x threads);
//   - a stress campaign on piscina: the same 32 seeds on a pool of 2 workers and of 1
//     (target: 2 workers >= 1.7x one, on a 2-core machine).
// Each call runs whole seeds, set-up and teardown of their systems included.
import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import { benchSuite } from './harness.ts';
import { seedPool } from '../src/runtime/seed-pool.ts';
import { runStress, type StressOptions, type StressReport } from '../src/system/stress.ts';

const RUN: Omit<StressOptions, 'seed'> = { guests: 3, rounds: 400, chaos: false };
const SEED = 7;
const CAMPAIGN = Array.from({ length: 32 }, (_, i) => 100 + i);

// Operations per call, from one run of each (the same seed runs the same operations).
const simOps = (await runStress({ ...RUN, seed: SEED })).ops;
const threadOps = (await runStress({ ...RUN, seed: SEED, mode: 'threads' })).ops;
let campaignOps = 0;
for (const seed of CAMPAIGN) campaignOps += (await runStress({ ...RUN, seed })).ops;

const pools = new Map<number, Piscina<StressOptions, StressReport>>();
const pool = (n: number): Piscina<StressOptions, StressReport> => {
  let p = pools.get(n);
  if (!p) pools.set(n, (p = seedPool<StressOptions, StressReport>('stress', n, { minThreads: n })));
  return p;
};
const campaignTask = (n: number): string => `campaign of ${CAMPAIGN.length} seeds, ${n} worker${n === 1 ? '' : 's'}`;
const campaign = async (n: number): Promise<void> => {
  const rs = await Promise.all(CAMPAIGN.map((seed) => pool(n).run({ ...RUN, seed })));
  if (rs.some((r) => !r.ok)) throw new Error(`campaign: ${rs.find((r) => !r.ok)?.violation}`);
};

await benchSuite(`sim: stress in sim mode and on threads, campaigns on piscina (${availableParallelism()} cores)`, {
  time: 3000,
  tasks: [
    { name: 'stress seed, threads', ops: threadOps, fn: async () => void (await runStress({ ...RUN, seed: SEED, mode: 'threads' })) },
    { name: 'stress seed, sim', ops: simOps, fn: async () => void (await runStress({ ...RUN, seed: SEED })) },
    { name: campaignTask(1), ops: campaignOps, fn: () => campaign(1) },
    { name: campaignTask(2), ops: campaignOps, fn: () => campaign(2) },
  ],
  ratios: [
    { name: 'sim / threads stress operations', of: 'stress seed, sim', vs: 'stress seed, threads', kind: 'throughput', target: { op: '>=', value: 50 } },
    { name: '2 workers / 1 worker campaign', of: campaignTask(2), vs: campaignTask(1), kind: 'throughput', target: { op: '>=', value: 1.7 } },
  ],
});
for (const p of pools.values()) await p.destroy();
