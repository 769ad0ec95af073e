// The wait strategy on one thread: park protocol, timeouts, adaptive spin policy.
import { afterEach, describe, expect, it } from 'vitest';
import { SpinPolicy, WAIT_OK, WAIT_TIMEOUT, setSpinBudget, spinBudget, waitUntilAsync, waitWhile, waitWhileAsync, wake } from '../../src/runtime/wait.ts';

const saved = spinBudget();
afterEach(() => setSpinBudget(saved));

describe('park protocol', () => {
  it('wake() skips notify for a running waiter and flips a parked one to 0', () => {
    const park = new Int32Array(new SharedArrayBuffer(8));
    wake(park, 0);
    expect(park[0]).toBe(0);
    park[0] = 1; // what a waiter stores just before Atomics.wait
    wake(park, 0);
    expect(park[0]).toBe(0); // its Atomics.wait(park, 1) now returns at once
  });

  it('waitWhile: immediate when the word differs; timeout; ends when the closed word is set', () => {
    const w = new Int32Array(new SharedArrayBuffer(64));
    const policy = new SpinPolicy(64);
    w[0] = 5;
    expect(waitWhile(w, 0, 4, w, 8, 4, Infinity, policy)).toBe(WAIT_OK);
    const t0 = performance.now();
    expect(waitWhile(w, 0, 5, w, 8, 4, 20, policy)).toBe(WAIT_TIMEOUT);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15);
    expect(w[8]).toBe(0); // park word left clear
    w[4] = 1;
    expect(waitWhile(w, 0, 5, w, 8, 4, Infinity, policy)).toBe(WAIT_OK);
  });

  it('async waits resolve on a wake and time out', async () => {
    const w = new Int32Array(new SharedArrayBuffer(64));
    const policy = new SpinPolicy(64);
    expect(await waitWhileAsync(w, 0, 0, w, 8, -1, 10, policy)).toBe(WAIT_TIMEOUT);
    const p = waitWhileAsync(w, 0, 0, w, 8, -1, 5_000, policy);
    setImmediate(() => {
      Atomics.store(w, 0, 1);
      wake(w, 8);
    });
    expect(await p).toBe(WAIT_OK);
    let flag = false;
    const q = waitUntilAsync(() => flag, w, 9, 5_000, policy);
    setImmediate(() => {
      flag = true;
      wake(w, 9);
    });
    expect(await q).toBe(WAIT_OK);
  });
});

describe('SpinPolicy', () => {
  it('doubles after short parks up to the ceiling, then backs off to 256 for a cooldown', () => {
    setSpinBudget(4096);
    const p = new SpinPolicy(1024);
    p.parked(0.01);
    expect(p.budget).toBe(2048);
    p.parked(0.01);
    expect(p.budget).toBe(4096);
    p.parked(0.01); // even the ceiling failed with a short park: spinning does not help
    expect(p.budget).toBe(256);
    for (let k = 0; k < 64; k++) p.parked(0.01);
    expect(p.budget).toBe(256); // cooldown
    p.parked(0.01);
    expect(p.budget).toBe(512); // probing again
  });

  it('halves after long parks (idle peer), floor 256; mid-length parks keep it', () => {
    setSpinBudget(16384);
    const p = new SpinPolicy(4096);
    p.parked(0.5);
    expect(p.budget).toBe(4096);
    p.parked(5);
    expect(p.budget).toBe(2048);
    for (let k = 0; k < 10; k++) p.parked(5);
    expect(p.budget).toBe(256);
  });

  it('setSpinBudget(0) disables spinning', () => {
    setSpinBudget(0);
    const p = new SpinPolicy();
    expect(p.budget).toBe(0);
    p.parked(0.01);
    expect(p.budget).toBe(0);
  });
});
