// The one decision about tests that need redis-server (the campaign tests): run, skip with a
// line, or fail in CI (.ci/run exports VSMMU_REQUIRE_REDIS=1).
import { describe, expect, it } from 'vitest';
import { decideRedis, probeRedis, REDIS_HINT } from '../support/redis.ts';
import { redisBin } from '../support/redis-server.ts';

const missing = (): string => 'not found';
const present = (): null => null;

describe('decideRedis', () => {
  it('runs the campaign tests when redis-server runs, required or not', () => {
    expect(decideRedis({}, present)).toEqual({ run: true, problem: null });
    expect(decideRedis({ VSMMU_REQUIRE_REDIS: '1' }, present)).toEqual({ run: true, problem: null });
  });
  it('skips them when it is missing, unless VSMMU_REQUIRE_REDIS=1 makes that a failure', () => {
    expect(decideRedis({}, missing)).toEqual({ run: false, problem: 'not found' });
    expect(decideRedis({ VSMMU_REQUIRE_REDIS: '1' }, missing)).toEqual({ run: true, problem: 'not found' });
  });
  it('takes the server from VSMMU_REDIS_SERVER; one that cannot run is a problem that says so', () => {
    expect(redisBin({ VSMMU_REDIS_SERVER: '/x/redis-server' })).toBe('/x/redis-server');
    expect(redisBin({})).toBe('redis-server');
    expect(probeRedis('/nonexistent/redis-server')).toMatch(/"\/nonexistent\/redis-server" cannot be run/);
    expect(REDIS_HINT).toMatch(/apt-get install redis-server/);
  });
});
