// `vsmmu campaign` arguments and errors that need no Redis server: each answered with its
// code before anything is queued, and an unreachable queue (a closed loopback port) with
// EVSMMU_QUEUE_UNREACHABLE.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { seedRange } from '../../src/cli/campaign.ts';
import { parseQueueUrl } from '../../src/campaign/connection.ts';
import { campaignSpec, startCampaign } from '../../src/campaign/campaign.ts';
import { replay as stressReplay, stressOptions } from '../../src/campaign/kinds/stress.ts';
import { fuzzOptions, replay as fuzzReplay } from '../../src/campaign/kinds/fuzz.ts';
import { stressReplay as stressReplayOf } from '../../src/system/stress.ts';
import { cli } from '../support/cli.ts';


/** A loopback port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 1));
    });
  });
}

const Q = ['--queue', 'redis://127.0.0.1:6399'];

describe('vsmmu campaign', () => {
  it('prints its help', async () => {
    for (const argv of [['campaign'], ['campaign', '--help'], ['campaign', 'start', '--help'], ['help', 'campaign']]) {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      expect(r.out).toContain('Usage: vsmmu campaign <start|work|status|report>');
    }
  });

  it.each([
    [['campaign', 'stop', ...Q], "unknown subcommand 'stop'", 'EVSMMU_USAGE'],
    [['campaign', 'status'], 'needs --queue', 'EVSMMU_USAGE'],
    [['campaign', 'start', ...Q, '--seeds', '0..9'], 'needs --kind', 'EVSMMU_USAGE'],
    [['campaign', 'start', ...Q, '--kind', 'stress'], 'needs --seeds', 'EVSMMU_USAGE'],
    [['campaign', 'start', ...Q, '--kind', 'stress', '--seeds', '9..3'], 'is empty', 'EVSMMU_USAGE'],
    [['campaign', 'start', ...Q, '--kind', 'stress', '--seeds', '3-9'], '--seeds takes A..B', 'EVSMMU_USAGE'],
    [['campaign', 'start', ...Q, '--kind', 'stress', '--seeds', '0..2147483648'], '--seeds takes A..B', 'EVSMMU_USAGE'],
    [['campaign', 'start', ...Q, '--kind', 'stress', '--seeds', '0..9', '--chunk', '0'], '--chunk takes a whole number from 1 to 10000', 'EVSMMU_USAGE'],
    [['campaign', 'start', ...Q, '--kind', 'stress', '--seeds', '0..9', '--guests', '17'], '--guests takes a whole number from 1 to 16', 'EVSMMU_USAGE'],
    [['campaign', 'start', ...Q, '--kind', 'stress', '--seeds', '0..9', '--option', 'x'], '--option takes KEY=VALUE', 'EVSMMU_USAGE'],
    [['campaign', 'start', ...Q, '--kind', 'stress', '--seeds', '0..9', '--concurrency', '2'], 'campaign start takes no --concurrency', 'EVSMMU_USAGE'],
    [['campaign', 'work', ...Q, '--kind', 'stress'], 'campaign work takes no --kind', 'EVSMMU_USAGE'],
    [['campaign', 'work', ...Q, '--concurrency', '0'], '--concurrency takes a whole number from 1 to 256', 'EVSMMU_USAGE'],
    [['campaign', 'work', ...Q, '--deadline', 'soon'], '--deadline takes a number of seconds', 'EVSMMU_USAGE'],
    [['campaign', 'status', '--queue', 'http://127.0.0.1:6379'], 'the scheme is http, not redis', 'EVSMMU_QUEUE_URL'],
    [['campaign', 'status', '--queue', 'redis://127.0.0.1'], 'no port', 'EVSMMU_QUEUE_URL'],
    [['campaign', 'status', ...Q, '--name', 'a b'], 'campaign name "a b"', 'EVSMMU_INVAL'],
    [['campaign', 'start', ...Q, '--kind', 'fuzz', '--seeds', '0..9', '--guests', '1'], 'fuzz campaign option guests: a whole number from 2 to 8, not 1', 'EVSMMU_INVAL'],
    [['campaign', 'start', ...Q, '--kind', 'fuzz', '--seeds', '0..9', '--rounds', '9'], 'fuzz campaigns take the options iterations, guests, mode, profile, shrink, shrinkRuns, not rounds', 'EVSMMU_INVAL'],
    [['campaign', 'start', ...Q, '--kind', 'stress', '--seeds', '0..9', '--option', 'mutation=nope'], 'stress campaign option mutation: forget-range-tlbi or', 'EVSMMU_INVAL'],
    [['campaign', 'start', ...Q, '--kind', 'stress', '--seeds', '0..9', '--option', 'mode=threads', '--option', 'strategy=pct'], 'option(s) strategy: for sim mode', 'EVSMMU_INVAL'],
    [['campaign', 'start', ...Q, '--kind', 'smash', '--seeds', '0..9'], "no campaign kind 'smash'", 'EVSMMU_CAMPAIGN_KIND'],
    [['campaign', 'start', ...Q, '--kind', 'stress', '--seeds', '0..9', '--profile', 'rfc2'], 'stress campaign option profile: hardened or rfc or v3, not "rfc2"', 'EVSMMU_INVAL'],
    [['campaign', 'start', ...Q, '--kind', 'x', '--seeds', '0..9', '--runner', 'no/such/runner.ts'], 'runner module no/such/runner.ts: no such file', 'EVSMMU_FILE'],
  ])('%j is refused before any queue is reached', async (argv, text, code) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain(text);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(new RegExp(`\\[${code}\\]\\n$`));
  });

  it('answers an unreachable queue with EVSMMU_QUEUE_UNREACHABLE, for every subcommand', async () => {
    const port = await closedPort();
    for (const argv of [['start', '--kind', 'stress', '--seeds', '0..9'], ['work', '--until-empty'], ['status'], ['report']]) {
      const r = await cli(['campaign', argv[0]!, '--queue', `redis://127.0.0.1:${port}`, ...argv.slice(1)]);
      expect(r.code).toBe(1);
      expect(r.err).toBe(`vsmmu campaign: the queue at redis://127.0.0.1:${port} does not answer: connect ECONNREFUSED 127.0.0.1:${port} [EVSMMU_QUEUE_UNREACHABLE]\n`);
    }
  });

  it('parses seed ranges and queue URLs', () => {
    expect(seedRange('0..0')).toEqual({ first: 0, last: 0 });
    expect(seedRange('5..2147483647')).toEqual({ first: 5, last: 2147483647 });
    expect(parseQueueUrl('redis://127.0.0.1:6379')).toEqual({ host: '127.0.0.1', port: 6379, db: 0 });
    expect(parseQueueUrl('redis://:s%40cret@127.0.0.1:7000/3')).toEqual({ host: '127.0.0.1', port: 7000, db: 3, password: 's@cret' });
    expect(parseQueueUrl('redis://[::1]:7000')).toMatchObject({ host: '::1' });
    expect(() => parseQueueUrl('redis://127.0.0.1:7000/16')).toThrow(expect.objectContaining({ code: 'EVSMMU_QUEUE_URL' }));
    expect(() => parseQueueUrl('not a url')).toThrow(expect.objectContaining({ code: 'EVSMMU_QUEUE_URL' }));
  });

  it('hands the options to the runs as vsmmu stress and vsmmu fuzz take them (the profile too)', () => {
    const o = { guests: 2, rounds: 50, profile: 'rfc', mutation: 'wrong-vsid', strategy: 'pct', depth: 2, chaos: false };
    expect(stressOptions(5, o)).toEqual({ seed: 5, guests: 2, rounds: 50, mode: 'sim', strategy: 'pct', depth: 2, chaos: false, mutation: 'wrong-vsid', profile: 'rfc' });
    expect(stressReplay(5, o)).toBe(stressReplayOf({ seed: 5, guests: 2, rounds: 50, mode: 'sim', strategy: 'pct', depth: 2, chaos: false, mutation: 'wrong-vsid', profile: 'rfc' }));
    expect(stressReplay(5, o)).toContain('--profile rfc');
    expect(fuzzOptions({ iterations: 9, guests: 2, profile: 'v3', shrink: false })).toEqual({ iterations: 9, guests: 2, mode: 'sim', profile: 'v3', shrink: false });
    expect(fuzzReplay(4, { profile: 'v3' })).toContain('--profile v3');
  });

  it('checks the API options with EVSMMU_INVAL', async () => {
    const base = { queue: 'redis://127.0.0.1:6399', kind: 'stress', seeds: { first: 0, last: 9 } };
    expect(campaignSpec(base)).toEqual({ name: 'default', kind: 'stress', first: 0, last: 9, chunk: 10, options: {}, runner: null });
    for (const bad of [{ seeds: { first: 9, last: 3 } }, { seeds: { first: -1, last: 3 } }, { seeds: { first: 0.5, last: 3 } }, { chunk: 0 }, { seeds: { first: 0, last: 2 ** 31 - 1 }, chunk: 1 }, { options: { guests: 0 } }, { options: { cheese: 1 } }]) {
      await expect(startCampaign({ ...base, ...bad })).rejects.toMatchObject({ code: 'EVSMMU_INVAL' });
    }
  });
});
