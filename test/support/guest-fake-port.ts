// A stand-in for a physical SMMU transaction port (src/smmu/ports.ts format) for in-process
// guest tests: translates each page with a callback (the test passes the guest driver's
// software stage-1 lookup composed with the guest's RAM), moves bytes through GuestRam, and
// reports F_TRANSLATION for an unmapped page (calling `onFault`, which the test uses to
// produce the event record and raise the guest's interrupt). Not a model of the SMMU.

import { EVT } from '../../src/arch/events.ts';
import type { DmaPort } from '../../src/devices/dma-device.ts';
import type { GuestRam } from '../../src/mem/guest-ram.ts';
import { TX_FAULT, TX_OK, type TxCompletion, type TxRequest } from '../../src/smmu/ports.ts';

export class FakePort implements DmaPort {
  readonly data = new Uint8Array(1 << 16);
  readonly seen: TxRequest[] = [];
  private readonly out: TxCompletion[] = [];
  private readonly translate: (sid: number, iova: number) => number;
  private readonly ram: GuestRam;
  private readonly onFault: (tx: TxRequest, iova: number) => void;

  constructor(translate: (sid: number, iova: number) => number, ram: GuestRam, onFault: (tx: TxRequest, iova: number) => void) {
    this.translate = translate;
    this.ram = ram;
    this.onFault = onFault;
  }

  room(): number {
    return 1 << 16;
  }

  pending(): number {
    return this.out.length;
  }

  post(txs: readonly TxRequest[], from = 0): number {
    this.submit(txs.slice(from));
    return txs.length - from;
  }

  reap(max: number, out: TxCompletion[] = []): TxCompletion[] {
    out.push(...this.out.splice(0, max));
    return out;
  }

  submit(txs: readonly TxRequest[]): void {
    for (const tx of txs) {
      this.seen.push(tx);
      const iova = Number(tx.iova);
      const ipas: number[] = [];
      let bad = -1;
      for (let a = iova; a < iova + tx.length; a = (Math.floor(a / 4096) + 1) * 4096) {
        const ipa = this.translate(tx.sid, a);
        if (ipa < 0) {
          bad = a;
          break;
        }
        ipas.push(ipa);
      }
      if (bad >= 0) {
        this.onFault(tx, bad);
        this.out.push({ tag: tx.tag, status: TX_FAULT, bytes: 0, faultType: EVT.F_TRANSLATION, s2: 0, cls: 2, recorded: true, addr: BigInt(bad - (bad % 4096)), ipa: 0 });
        continue;
      }
      for (let o = 0, a = iova; o < tx.length; ) {
        const n = Math.min(tx.length - o, 4096 - (a % 4096));
        const ipa = this.translate(tx.sid, a);
        if (tx.write) this.ram.writeBytes(ipa, this.data.subarray((tx.offset ?? 0) + o, (tx.offset ?? 0) + o + n));
        else this.data.set(this.ram.readBytes(ipa, n), (tx.offset ?? 0) + o);
        o += n;
        a += n;
      }
      this.out.push({ tag: tx.tag, status: TX_OK, bytes: tx.length, faultType: 0, s2: 0, cls: 0, recorded: false, addr: 0n, ipa: 0 });
    }
  }

  collect(n: number): TxCompletion[] {
    return this.out.splice(0, n);
  }
}
