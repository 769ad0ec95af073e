// Blocking wait for interrupt lines (src/ports/irq.ts) on a thread: a vCPU waiting for its
// interrupt parks on the bank's doorbell with the runtime's wait strategy (wait.ts).
import { VsmmuError } from '../errors.ts';
import { IrqLines as PortIrqLines } from '../ports/irq.ts';
import { SpinPolicy, WAIT_OK, waitUntil, waitUntilAsync } from './wait.ts';

export { createIrqLines, type IrqDesc, type IrqLineStats, type IrqOptions } from '../ports/irq.ts';

export class IrqLines extends PortIrqLines {
  private waitMask = 0;
  private readonly spin = new SpinPolicy();
  private readonly ready = (): boolean => (this.pending() & this.waitMask) !== 0 || this.closed;

  /**
   * Waits until a line in `mask` is pending (does not take it). Returns the pending lines
   * in `mask`, 0 on timeout; throws EVSMMU_IRQ_CLOSED once the bank is closed with none pending.
   */
  wait(mask: number, timeoutMs = Infinity): number {
    const got = this.pending() & mask;
    if (got !== 0) return got;
    this.waitMask = mask;
    const r = waitUntil(this.ready, this.bell, this.bellIdx, timeoutMs, this.spin);
    return this.afterWait(r, mask);
  }

  async waitAsync(mask: number, timeoutMs = Infinity): Promise<number> {
    const got = this.pending() & mask;
    if (got !== 0) return got;
    this.waitMask = mask;
    const r = await waitUntilAsync(this.ready, this.bell, this.bellIdx, timeoutMs, this.spin);
    return this.afterWait(r, mask);
  }

  private afterWait(r: number, mask: number): number {
    const got = this.pending() & mask;
    if (got !== 0 || r !== WAIT_OK) return got;
    throw new VsmmuError('EVSMMU_IRQ_CLOSED', 'IRQ bank is closed');
  }
}
