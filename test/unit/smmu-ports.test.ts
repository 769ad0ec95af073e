// The port record codec: the device's encoder and the SMMU's reader share one layout, and the
// SMMU's completion writers and the device's decoder another.
import { describe, expect, it } from 'vitest';
import {
  CP_TAG, decodeCompletion, encodeRequest, RQ_BUF, RQ_FLAGS, RQ_IOVA_HI, RQ_IOVA_LO, RQ_LEN, RQ_SID, RQ_TAG, TX_EABT, TX_FAULT,
  TXF_ACC, TXF_SSID_SHIFT, TXF_SSV, writeCompletion, writeFaultCompletion,
} from '../../src/smmu/ports.ts';
import { ACC_INSTR, ACC_PRIV, ACC_WRITE } from '../../src/arch/types.ts';

describe('port records', () => {
  it('a request reads back field by field at the offsets the SMMU uses', () => {
    const u = new Uint32Array(16).fill(0xeeee_eeee);
    encodeRequest(u, 8, { tag: 7, sid: 0x1234, iova: 0x7f_1234_5678n, length: 300, write: true, priv: true, instr: true, ssid: 0xabcde, offset: 64 });
    const o = 8;
    expect([u[o + RQ_TAG], u[o + RQ_SID], u[o + RQ_IOVA_LO], u[o + RQ_IOVA_HI], u[o + RQ_LEN], u[o + RQ_BUF]]).toEqual([7, 0x1234, 0x1234_5678, 0x7f, 300, 64]);
    const flags = u[o + RQ_FLAGS]!;
    expect(flags & TXF_ACC).toBe(ACC_WRITE | ACC_INSTR | ACC_PRIV);
    expect(flags & TXF_SSV).toBe(TXF_SSV);
    expect(flags >>> TXF_SSID_SHIFT).toBe(0xabcde);
    expect(u[7]).toBe(0xeeee_eeee); // the neighbour record is untouched
  });

  it('completions decode to what the SMMU wrote', () => {
    const u = new Uint32Array(8).fill(0xffff_ffff);
    u[CP_TAG] = 9;
    writeCompletion(u, 0, TX_EABT, 0);
    expect(decodeCompletion(u, 0)).toEqual({ tag: 9, status: TX_EABT, bytes: 0, faultType: 0, s2: 0, cls: 0, recorded: false, addr: 0n, ipa: 0 });
    writeFaultCompletion(u, 0, 0x10, 1, 2, true, 0x12, 0x3456_7000, 0x4_8000_3000);
    expect(decodeCompletion(u, 0)).toEqual({
      tag: 9, status: TX_FAULT, bytes: 0, faultType: 0x10, s2: 1, cls: 2, recorded: true, addr: 0x12_3456_7000n, ipa: 0x4_8000_3000,
    });
  });
});
