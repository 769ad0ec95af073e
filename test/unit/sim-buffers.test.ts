import { describe, expect, it } from 'vitest';
import { bufferLease } from '../../src/sim/buffers.ts';

describe('sim port buffers', () => {
  it('reuses a released buffer of the same size, cleared', () => {
    const a = bufferLease();
    const sab = a.take(64 * 1024);
    new Uint8Array(sab).fill(0xa5);
    a.release();
    const b = bufferLease();
    const again = b.take(64 * 1024);
    expect(again).toBe(sab);
    expect(new Uint8Array(again).every((x) => x === 0)).toBe(true);
    expect(b.take(64 * 1024)).not.toBe(sab); // one holder at a time
  });

  it('never hands a buffer out twice before its lease is released', () => {
    const a = bufferLease();
    const x = a.take(4096);
    const y = bufferLease().take(4096);
    expect(y).not.toBe(x);
  });
});
