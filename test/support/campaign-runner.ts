// A campaign runner module for tests (kind 'planted'): each seed takes `delayMs`, seeds listed
// in `fail` fail with digest planted-(seed % 2), so seeds 3 and 13 find the same failure.
// Every finished run is appended to the file `log` as 'SEED PID', so a test can count how
// often each seed ran. A worker process started with VSMMU_TEST_HANG_AFTER=N hangs in its
// (N+1)th seed, after writing that seed to the file VSMMU_TEST_HANG_MARK: a handshake for
// killing it mid-chunk. A seed equal to option killAt kills its worker process, every time.
import { appendFileSync, writeFileSync } from 'node:fs';
import type { RunnerOptions, SeedResult } from '../../src/campaign/types.ts';

let started = 0;

const HANG_BOUND_MS = 120_000; // the test kills the process long before

export function replay(seed: number): string {
  return `planted seed ${seed}`;
}

export async function runSeed(seed: number, o: RunnerOptions): Promise<SeedResult> {
  const hangAfter = process.env['VSMMU_TEST_HANG_AFTER'];
  if (hangAfter !== undefined && started++ === Number(hangAfter)) {
    writeFileSync(process.env['VSMMU_TEST_HANG_MARK'] ?? '/dev/null', `${seed}\n`);
    await new Promise((res) => setTimeout(res, HANG_BOUND_MS));
  }
  if (o['killAt'] === seed) process.kill(process.pid, 'SIGKILL');
  const delay = typeof o['delayMs'] === 'number' ? o['delayMs'] : 0;
  if (delay > 0) await new Promise((res) => setTimeout(res, delay));
  const fail = String(o['fail'] ?? '').split(',').filter((s) => s !== '').map(Number);
  if (typeof o['log'] === 'string') appendFileSync(o['log'], `${seed} ${process.pid}\n`);
  const base = { seed, ops: (seed % 5) + 1, replay: replay(seed) };
  if (!fail.includes(seed)) return { ...base, ok: true, violations: [] };
  if (o['throw'] === true) throw new Error(`planted crash at seed ${seed}`);
  return { ...base, ok: false, violations: [`planted failure ${seed % 2}`], digest: `planted-${seed % 2}`, shrunk: `shrunk(${seed % 2})` };
}
