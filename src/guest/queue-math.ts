// The two pieces of queue arithmetic that are the Linux driver's own (FACTS §1.17); the
// rest is src/arch/queue.ts. Linux keeps the event queue's OVFLG/OVACKFLG (bit 31) in its
// software PROD/CONS copies and preserves it across increments, and decides that a
// CMD_SYNC completed when CONS has moved past it.

import { PROD_OVFLG, qInc, qIdx, qWrp } from '../arch/queue.ts';

/** `v` advanced by n entries, wrap toggled at the end, bit 31 (OVF) preserved (queue_inc_cons). */
export function qIncOvf(v: number, log2: number, n = 1): number {
  return ((v & PROD_OVFLG) | qInc(v, log2, n)) >>> 0;
}

/** Whether CONS has moved past the entry at `prod` (Linux queue_consumed). */
export function qConsumed(cons: number, prod: number, log2: number): boolean {
  const c = qIdx(cons, log2);
  const p = qIdx(prod, log2);
  return qWrp(cons, log2) === qWrp(prod, log2) ? c > p : c <= p;
}
