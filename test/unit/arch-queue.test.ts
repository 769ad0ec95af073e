import { describe, expect, it } from 'vitest';
import {
  consErr, qCount, qEmpty, qFull, qIdx, qInc, qOverflowActive, qPtr, qSpace, qWrp, toggleOvflg, withConsErr,
} from '../../src/arch/queue.ts';

describe('queue index arithmetic (FACTS §1.17)', () => {
  it('index and wrap bit', () => {
    expect(qIdx(0x105, 8)).toBe(5);
    expect(qWrp(0x105, 8)).toBe(1);
    expect(qWrp(0x205, 8)).toBe(0); // bits above the wrap bit are not used
    expect(qPtr(0x7f000305, 8)).toBe(0x105);
  });
  it('empty when index and wrap are equal, full when only wrap differs', () => {
    expect(qEmpty(0, 0, 4)).toBe(true);
    expect(qEmpty(0x10, 0x10, 4)).toBe(true);
    expect(qFull(0x10, 0, 4)).toBe(true);
    expect(qFull(0, 0x10, 4)).toBe(true);
    expect(qFull(0x0f, 0, 4)).toBe(false);
    expect(qEmpty(0x7f000000, 0, 4)).toBe(true); // CONS.ERR is not part of the pointer
  });
  it('qInc wraps and toggles the wrap bit', () => {
    expect(qInc(0x0f, 4)).toBe(0x10);
    expect(qInc(0x1f, 4)).toBe(0x00);
    expect(qInc(0x0e, 4, 3)).toBe(0x11);
    expect(qInc(0x7f00000e, 4, 1)).toBe(0x0f);
  });
  it('count and space', () => {
    expect(qCount(0x12, 0x0e, 4)).toBe(4);
    expect(qCount(0x02, 0x1e, 4)).toBe(4);
    expect(qCount(0x10, 0x00, 4)).toBe(16);
    expect(qSpace(0x10, 0x00, 4)).toBe(0);
    expect(qCount(0x80000, 0, 19)).toBe(2 ** 19);
  });
  it('CMDQ_CONS.ERR [30:24]', () => {
    expect(consErr(0x01000012)).toBe(1);
    expect(consErr(0xff000000)).toBe(0x7f);
    expect(withConsErr(0x80000012, 2)).toBe(0x82000012);
    expect(withConsErr(0x02000012, 0)).toBe(0x12);
  });
  it('overflow flag handshake', () => {
    expect(qOverflowActive(0, 0)).toBe(false);
    const p = toggleOvflg(0x5);
    expect(p).toBe(0x80000005);
    expect(qOverflowActive(p, 0x3)).toBe(true);
    expect(qOverflowActive(p, 0x80000003)).toBe(false);
  });
});

describe('queue engine shared by the SMMU, the vSMMU and the drivers', () => {
  it('aligns bases down to the queue size, at least 32 bytes', async () => {
    const { qBase, qEntryAddr } = await import('../../src/arch/queue.ts');
    expect(qBase(0x12_3456, 8, 32)).toBe(0x12_2000); // 8 KiB event queue
    expect(qBase(0x12_3456, 8, 16)).toBe(0x12_3000); // 4 KiB command queue
    expect(qBase(0x12_3456, 0, 16)).toBe(0x12_3440); // one entry: 32 bytes
    expect(qEntryAddr(0x1000, 0x1_0003, 4, 32)).toBe(0x1000 + 3 * 32);
  });
  it('produces and consumes keeping the flags above the pointer', async () => {
    const { qProduced, qConsumed, qOverflowed, PROD_OVFLG } = await import('../../src/arch/queue.ts');
    expect(qProduced(PROD_OVFLG | 0x7, 3)).toBe((PROD_OVFLG | 0x8) >>> 0); // wrap toggles, OVFLG kept
    expect(qProduced(0xf, 3)).toBe(0); // index 7 wrap 1 -> index 0 wrap 0
    expect(qConsumed(0x0100_0002, 4)).toBe(0x0100_0003); // ERR kept
    expect(qOverflowed(0x5, 0x5)).toBe((PROD_OVFLG | 5) >>> 0); // new overflow
    expect(qOverflowed((PROD_OVFLG | 5) >>> 0, 0x5)).toBe((PROD_OVFLG | 5) >>> 0); // already active
    expect(qOverflowed((PROD_OVFLG | 5) >>> 0, (PROD_OVFLG | 5) >>> 0)).toBe(5); // acknowledged: toggles back
  });
});
