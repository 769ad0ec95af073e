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

// ---- the producer/consumer steps every queue of this project takes ------------------------
// (the physical SMMU's command and event queues, a vSMMU's, the drivers'): pure functions of
// the register values, so each actor keeps only where its registers live.

/** Bytes of one entry: command and PRI records 16, event records 32. */
export const CMD_ENTRY_BYTES = 16;
export const EVT_ENTRY_BYTES = 32;

/**
 * Effective base of a queue of 2^log2 entries of `entryBytes`: the address with the bits
 * below the queue size (at least 32 bytes) treated as zero (FACTS §1.16).
 */
export function qBase(addr: number, log2: number, entryBytes: number): number {
  const align = Math.max(32, entryBytes * 2 ** log2);
  return addr - (addr % align);
}

/** Address of the entry `ptr` (a PROD or CONS value) points at. */
export function qEntryAddr(base: number, ptr: number, log2: number, entryBytes: number): number {
  return base + qIdx(ptr, log2) * entryBytes;
}

/**
 * A producer's PROD after writing one entry: index and wrap advanced, the bits above the
 * wrap bit (EVENTQ_PROD.OVFLG) kept.
 */
export function qProduced(prod: number, log2: number): number {
  return ((prod & ~Q_PTR_MASK) | qInc(prod, log2)) >>> 0;
}

/** A consumer's CONS after consuming one entry, keeping the bits above RD (ERR, OVACKFLG). */
export function qConsumed(cons: number, log2: number): number {
  return ((cons & ~Q_PTR_MASK) | qInc(cons, log2)) >>> 0;
}

/**
 * EVENTQ_PROD after an event found the queue full and was discarded (spec §7.4): OVFLG
 * toggled unless an overflow is already active (OVFLG != OVACKFLG), else unchanged.
 */
export function qOverflowed(prod: number, cons: number): number {
  return qOverflowActive(prod, cons) ? prod >>> 0 : toggleOvflg(prod);
}
