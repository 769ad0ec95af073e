// IRQ lines and doorbells: a bank of up to 32 lines as pending bits plus a wake-up of the
// one sink that waits on them (a vCPU's interrupt input, an actor's doorbell set).
//   edge line : raise() latches the pending bit; it stays until the sink takes it. Raises
//               while pending coalesce (raised counts them, delivered does not).
//   level line: pending while the source holds it (raise/lower or set(line, level)); the
//               sink taking it does not clear it, so it is delivered again while asserted.
// Counters per line: raised (edges; for level lines the 0 -> 1 transitions) and delivered
// (times the sink took the line), for stats.
//
// This module never waits: a sink checks `pending()` when its doorbell rang; the blocking
// wait of a vCPU thread for its interrupt is src/runtime/irq.ts.
import { VsmmuError } from '../errors.ts';
import { wake, type DoorbellDesc } from './doorbell.ts';

// SAB layout (Int32 word indices; each role on its own 64-byte line):
//   line 0  PENDING      bit n = line n pending; sources Atomics.or/and, the sink Atomics.and
//   line 1  PARK         the sink's park word, unless the bank was created on the sink
//                        actor's doorbell (IrqOptions.doorbell); every raise wakes it
//   line 2  CLOSED       set by close(), then wake
//   line 3  MAGIC, LINES, LEVEL (bit n = line n is level-triggered): written at allocation
//   lines 4-5   RAISED[32]     sources Atomics.add
//   lines 6-7   DELIVERED[32]  the sink Atomics.add
const PENDING = 0;
const PARK = 16;
const CLOSED = 32;
const MAGIC = 48;
const LINES = 49;
const LEVEL = 50;
const RAISED = 64;
const DELIVERED = 96;
const BANK_BYTES = 512;
const IRQ_MAGIC = 0x49525121; // 'IRQ!'

export interface IrqDesc {
  readonly sab: SharedArrayBuffer;
  /** The sink's doorbell: the bank's own PARK word or the sink actor's shared doorbell. */
  readonly doorbell: DoorbellDesc;
}

export interface IrqOptions {
  /** Number of lines, 1..32. */
  readonly lines: number;
  /** Bit n set: line n is level-triggered; otherwise edge. */
  readonly level?: number;
  /** Ring this doorbell instead of the bank's own PARK word (an actor's shared doorbell). */
  readonly doorbell?: DoorbellDesc;
}

export function createIrqLines(opts: IrqOptions): IrqDesc {
  if (!Number.isInteger(opts.lines) || opts.lines < 1 || opts.lines > 32) {
    throw new VsmmuError('EVSMMU_IRQ_CONFIG', `IRQ bank of ${opts.lines} lines (1..32)`);
  }
  const sab = new SharedArrayBuffer(BANK_BYTES);
  const h = new Int32Array(sab);
  h[MAGIC] = IRQ_MAGIC;
  h[LINES] = opts.lines;
  h[LEVEL] = (opts.level ?? 0) & maskOf(opts.lines);
  return { sab, doorbell: opts.doorbell ?? { sab, index: PARK } };
}

function maskOf(lines: number): number {
  return lines === 32 ? -1 : (1 << lines) - 1;
}

export interface IrqLineStats {
  readonly raised: number;
  readonly delivered: number;
}

export class IrqLines {
  readonly lines: number;
  /** All lines, as a mask. */
  readonly all: number;
  protected readonly h: Int32Array;
  /** The sink's doorbell word (where a runner parks the sink). */
  readonly bell: Int32Array;
  readonly bellIdx: number;
  private readonly level: number;

  constructor(desc: IrqDesc) {
    this.h = new Int32Array(desc.sab);
    this.bell = new Int32Array(desc.doorbell.sab);
    this.bellIdx = desc.doorbell.index;
    if (this.h[MAGIC] !== IRQ_MAGIC) throw new VsmmuError('EVSMMU_IRQ_CONFIG', 'not an IRQ bank SAB');
    this.lines = this.h[LINES] ?? 0;
    this.level = this.h[LEVEL] ?? 0;
    this.all = maskOf(this.lines);
  }

  isLevel(line: number): boolean {
    return ((this.level >>> this.check(line)) & 1) !== 0;
  }

  // ---- source side

  /** Edge: latch pending. Level: assert (held until lower). Wakes the sink. */
  raise(line: number): void {
    const bit = 1 << this.check(line);
    const old = Atomics.or(this.h, PENDING, bit);
    if ((this.level & bit) === 0 || (old & bit) === 0) Atomics.add(this.h, RAISED + line, 1);
    wake(this.bell, this.bellIdx);
  }

  /** Level: deassert. Edge lines have nothing to lower (their latch belongs to the sink). */
  lower(line: number): void {
    const bit = 1 << this.check(line);
    if ((this.level & bit) !== 0) Atomics.and(this.h, PENDING, ~bit);
  }

  set(line: number, asserted: boolean): void {
    if (asserted) this.raise(line);
    else this.lower(line);
  }

  // ---- sink side

  pending(): number {
    return Atomics.load(this.h, PENDING) & this.all;
  }

  /**
   * Takes (acknowledges) the pending lines in `mask`: returns them, clears the edge ones,
   * counts a delivery for each. Level lines stay pending while asserted.
   */
  take(mask = this.all): number {
    const edges = mask & ~this.level & this.all;
    const old = edges !== 0 ? Atomics.and(this.h, PENDING, ~edges) : Atomics.load(this.h, PENDING);
    const got = old & mask & this.all;
    for (let m = got; m !== 0; m &= m - 1) Atomics.add(this.h, DELIVERED + (31 - Math.clz32(m & -m)), 1);
    return got;
  }

  stats(line: number): IrqLineStats {
    this.check(line);
    return { raised: Atomics.load(this.h, RAISED + line) >>> 0, delivered: Atomics.load(this.h, DELIVERED + line) >>> 0 };
  }

  get closed(): boolean {
    return Atomics.load(this.h, CLOSED) !== 0;
  }

  /** Wakes the sink for good: its waits throw EVSMMU_IRQ_CLOSED when nothing is pending. */
  close(): void {
    Atomics.store(this.h, CLOSED, 1);
    wake(this.bell, this.bellIdx);
  }

  private check(line: number): number {
    if (!Number.isInteger(line) || line < 0 || line >= this.lines) {
      throw new VsmmuError('EVSMMU_IRQ_LINE', `IRQ line ${line} outside 0..${this.lines - 1}`);
    }
    return line;
  }
}
