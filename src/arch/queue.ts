// Circular queue index arithmetic (FACTS §1.17): a PROD/CONS value holds the index in bits
// [log2-1:0] and the wrap flag in bit [log2]; bits above the wrap bit are not used.

/** CMDQ_CONS.ERR, bits [30:24]. */
export const CONS_ERR_SHIFT = 24;
export const CONS_ERR_MASK = 0x7f000000;
/** EVENTQ_PROD/PRIQ_PROD.OVFLG and EVENTQ_CONS/PRIQ_CONS.OVACKFLG, bit 31. */
export const PROD_OVFLG = 0x80000000;
export const CONS_OVACKFLG = 0x80000000;
/** The WR/RD field, bits [19:0] (log2 sizes are at most 19). */
export const Q_PTR_MASK = 0xfffff;
/** Largest queue log2 size the architecture allows. */
export const Q_MAX_LOG2 = 19;

/** Index part of a PROD/CONS value. */
export function qIdx(v: number, log2: number): number {
  return (v & ((1 << log2) - 1)) >>> 0;
}

/** Wrap flag (0|1) of a PROD/CONS value. */
export function qWrp(v: number, log2: number): number {
  return (v >>> log2) & 1;
}

/** Index and wrap bit only: what software and the SMMU compare. */
export function qPtr(v: number, log2: number): number {
  return (v & ((2 << log2) - 1)) >>> 0;
}

export function qEmpty(prod: number, cons: number, log2: number): boolean {
  return qPtr(prod, log2) === qPtr(cons, log2);
}

export function qFull(prod: number, cons: number, log2: number): boolean {
  return qIdx(prod, log2) === qIdx(cons, log2) && qWrp(prod, log2) !== qWrp(cons, log2);
}

/** Number of entries between cons and prod (0 .. 2^log2). */
export function qCount(prod: number, cons: number, log2: number): number {
  const span = 2 << log2;
  return (qPtr(prod, log2) - qPtr(cons, log2) + span) % span;
}

/** Free entries. */
export function qSpace(prod: number, cons: number, log2: number): number {
  return (1 << log2) - qCount(prod, cons, log2);
}

/** `v` advanced by `n` entries (index and wrap), keeping only index and wrap bits. */
export function qInc(v: number, log2: number, n = 1): number {
  const span = 2 << log2;
  return (((qPtr(v, log2) + (n % span)) % span) + span) % span;
}

/** CMDQ_CONS.ERR of a CMDQ_CONS value. */
export function consErr(cons: number): number {
  return (cons & CONS_ERR_MASK) >>> CONS_ERR_SHIFT;
}

/** CMDQ_CONS value with ERR replaced. */
export function withConsErr(cons: number, err: number): number {
  return ((cons & ~CONS_ERR_MASK) | ((err << CONS_ERR_SHIFT) & CONS_ERR_MASK)) >>> 0;
}

/** Whether an event/PRI queue overflow is active (OVFLG != OVACKFLG). */
export function qOverflowActive(prod: number, cons: number): boolean {
  return ((prod ^ cons) & PROD_OVFLG) !== 0;
}

/** PROD with OVFLG toggled (the SMMU signals a new overflow). */
export function toggleOvflg(prod: number): number {
  return (prod ^ PROD_OVFLG) >>> 0;
}

/** Effective queue log2 size: BASE.LOG2SIZE capped at the IDR1 maximum. */
export function qLog2Eff(log2size: number, max: number): number {
  return Math.min(log2size, max);
}
