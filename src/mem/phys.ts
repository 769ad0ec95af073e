// Physical memory: one SharedArrayBuffer that every actor (SMMU, Xen, guests) maps, so a DMA
// write by the SMMU is seen by the guest that reads the buffer, as on a coherent system.
//
// Two kinds of accessors:
// - the hot port (`load64`/`store64`, the WordReader/WordWriter of src/arch/types.ts) used by
//   the walker, queue and table fetches: never throws, never allocates, reports an address it
//   cannot serve as -1 / false (the caller turns that into an external abort);
// - the API edge (`read8..write64`, bytes, fill), which throws VsmmuError on a bad address.
//
// 64-bit accesses are single-copy atomic as the architecture requires of descriptor, STE/CD
// and queue-entry accesses: one aligned Float64Array element load or store (one machine
// instruction on x64 and arm64), whose bits are moved through a private scratch
// Float64Array/Uint32Array pair. V8 keeps NaN payloads when a double moves between typed
// arrays; test/unit/mem-phys.test.ts checks every NaN class in every tier.
//
// Limits: the size is a multiple of 64 KiB (the largest translation granule, so any granule's
// pages tile it), between 64 KiB and 16 GiB (the hot path indexes 8-byte words with uint32
// arithmetic; V8 commits pages of a SharedArrayBuffer lazily, so an untouched large memory
// costs address space, not RAM). Byte order is little-endian: the typed-array views use the
// host's order, so creating memory on a big-endian host is refused.

import type { WordReader, WordWriter } from '../arch/types.ts';
import { VsmmuError } from '../errors.ts';
import { formatSize, GiB, KiB, MiB, parseSize } from './size.ts';

export const MEMORY_GRANULE = 64 * KiB;
export const DEFAULT_MEMORY_SIZE = 512 * MiB;
export const MIN_MEMORY_SIZE = MEMORY_GRANULE;
export const MAX_MEMORY_SIZE = 16 * GiB;

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes per tracked page (see `PhysMemory.tracked`). */
const PAGE = 4096;

/**
 * The pages written since the last scrub, one byte per 4 KiB page, for the memories made by
 * `PhysMemory.tracked`. Kept per SAB, so every PhysMemory attached to it on this thread
 * (the SMMU's, Xen's, each guest's in sim mode) marks the same map.
 */
const writtenPages = new WeakMap<SharedArrayBuffer, Uint8Array>();

function hex(n: number): string {
  return Number.isInteger(n) && n >= 0 ? `0x${n.toString(16)}` : String(n);
}

function checkSize(size: number, input: unknown): void {
  if (size < MIN_MEMORY_SIZE || size > MAX_MEMORY_SIZE || size % MEMORY_GRANULE !== 0) {
    throw new VsmmuError(
      'EVSMMU_BADSIZE',
      `invalid memory size ${String(input)} (${size} bytes): physical memory must be a multiple of 64K ` +
        `between ${formatSize(MIN_MEMORY_SIZE)} and ${formatSize(MAX_MEMORY_SIZE)}`,
      { size },
    );
  }
}

export class PhysMemory implements WordReader, WordWriter {
  /** The shared buffer; post it to another thread and `attach` it there. */
  readonly sab: SharedArrayBuffer;
  /** Size in bytes. */
  readonly size: number;
  /** Byte view of all of memory, for bulk copies in hot loops (host order = LE). */
  readonly u8: Uint8Array;
  /** Word view of all of memory (index = pa / 4), for hot loops of other modules. */
  readonly u32: Uint32Array;
  /** High 32 bits of the last successful `load64`. */
  hi = 0;

  private readonly u16: Uint16Array;
  private readonly f64: Float64Array;
  /** Pages written since the last scrub (tracked memory only). */
  private readonly written: Uint8Array | null;
  private readonly n64: number;
  private readonly sf = new Float64Array(1);
  private readonly su = new Uint32Array(this.sf.buffer);

  private constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.size = sab.byteLength;
    this.u8 = new Uint8Array(sab);
    this.u16 = new Uint16Array(sab);
    this.u32 = new Uint32Array(sab);
    this.f64 = new Float64Array(sab);
    this.n64 = this.size / 8;
    this.written = writtenPages.get(sab) ?? null;
  }

  /** New zeroed memory of `size` bytes (number or "512M"-style string; default 512 MiB). */
  static create(size: number | string = DEFAULT_MEMORY_SIZE): PhysMemory {
    if (!HOST_LE) throw new VsmmuError('EVSMMU_HOST', 'physical memory needs a little-endian host');
    const bytes = parseSize(size, { what: 'memory size' });
    checkSize(bytes, size);
    // SAB layout: the whole buffer is physical memory, byte offset = physical address
    // (PA 0 .. size-1), little-endian. No header. Every actor reads and writes it: guests
    // their RAM (through their p2m), Xen its tables and queues, the SMMU its table walks,
    // queue entries and DMA. 64-bit words are accessed single-copy atomically (load64).
    return new PhysMemory(new SharedArrayBuffer(bytes));
  }

  /**
   * New zeroed memory that records which 4 KiB pages are written, so that `scrub()` can make
   * it zeroed memory again by clearing those pages only (src/sim/memory.ts recycles memories
   * this way: a fresh SharedArrayBuffer costs a host page fault at each page's first touch,
   * some 15 us here, where clearing a resident page costs 0.1 us). Writes through `u8`/`u32`
   * must be declared with `markWritten`; the accessors here mark their own. Every PhysMemory
   * attached to the same buffer on this thread marks the same pages (another thread's do not).
   */
  static tracked(size: number | string): PhysMemory {
    const { sab } = PhysMemory.create(size);
    writtenPages.set(sab, new Uint8Array(sab.byteLength / PAGE)); // sizes are whole 64 KiB granules
    return new PhysMemory(sab);
  }

  /** Whether this memory records the pages written (`tracked`). */
  get isTracked(): boolean {
    return this.written !== null;
  }

  /** Declares a write of [pa, pa + len) made through `u8`/`u32` (a no-op unless tracked). */
  markWritten(pa: number, len: number): void {
    const w = this.written;
    if (w === null || len <= 0) return;
    for (let p = Math.floor(pa / PAGE), last = Math.floor((pa + len - 1) / PAGE); p <= last; p++) w[p] = 1;
  }

  /**
   * Zeroes every page written since the last scrub (tracked memory; untracked memory is left
   * as it is and 0 is returned): the memory then holds what `create` gives. Returns the pages
   * cleared.
   */
  scrub(): number {
    const w = this.written;
    if (w === null) return 0;
    let n = 0;
    for (let p = w.indexOf(1); p >= 0; p = w.indexOf(1, p + 1)) {
      this.f64.fill(0, p * (PAGE / 8), (p + 1) * (PAGE / 8));
      w[p] = 0;
      n++;
    }
    return n;
  }

  /** Maps memory created by `create` in another thread (the same bytes, not a copy). */
  static attach(sab: SharedArrayBuffer): PhysMemory {
    if (!HOST_LE) throw new VsmmuError('EVSMMU_HOST', 'physical memory needs a little-endian host');
    if (Object.prototype.toString.call(sab) !== '[object SharedArrayBuffer]') {
      throw new VsmmuError('EVSMMU_BADMEM', 'PhysMemory.attach needs the SharedArrayBuffer of a PhysMemory');
    }
    if (sab.growable) throw new VsmmuError('EVSMMU_BADMEM', 'PhysMemory.attach: a growable SharedArrayBuffer cannot be physical memory');
    checkSize(sab.byteLength, sab.byteLength);
    return new PhysMemory(sab);
  }

  // ---- hot port --------------------------------------------------------------------------

  /** Single-copy atomic LE 64-bit load; low word returned, high word in `hi`; -1 if `pa` is
   *  outside memory, misaligned or not an integer. */
  load64(pa: number): number {
    const i = pa / 8;
    if ((i >>> 0) !== i || i >= this.n64) return -1;
    this.sf[0] = this.f64[i] as number;
    this.hi = this.su[1] as number;
    return this.su[0] as number;
  }

  /** Single-copy atomic LE 64-bit store of (lo, hi) (each taken modulo 2^32); false if `pa`
   *  is outside memory, misaligned or not an integer. */
  store64(pa: number, lo: number, hi: number): boolean {
    const i = pa / 8;
    if ((i >>> 0) !== i || i >= this.n64) return false;
    this.su[0] = lo;
    this.su[1] = hi;
    this.f64[i] = this.sf[0] as number;
    if (this.written !== null) this.written[(i / (PAGE / 8)) | 0] = 1;
    return true;
  }

  // ---- API edge --------------------------------------------------------------------------
  // Natural alignment is required for 16-, 32- and 64-bit accesses (as for the hardware's own
  // accesses to its structures); values written are taken modulo 2^width.

  read8(pa: number): number {
    this.check(pa, 1, 'read8');
    return this.u8[pa] as number;
  }
  read16(pa: number): number {
    this.check(pa, 2, 'read16');
    return this.u16[pa / 2] as number;
  }
  read32(pa: number): number {
    this.check(pa, 4, 'read32');
    return this.u32[pa / 4] as number;
  }
  write8(pa: number, v: number): void {
    this.check(pa, 1, 'write8');
    this.u8[pa] = v;
    this.markWritten(pa, 1);
  }
  write16(pa: number, v: number): void {
    this.check(pa, 2, 'write16');
    this.u16[pa / 2] = v;
    this.markWritten(pa, 2);
  }
  write32(pa: number, v: number): void {
    this.check(pa, 4, 'write32');
    this.u32[pa / 4] = v;
    this.markWritten(pa, 4);
  }

  /** Single-copy atomic 64-bit read as an unsigned bigint. */
  read64(pa: number): bigint {
    this.check(pa, 8, 'read64');
    const lo = this.load64(pa);
    return (BigInt(this.hi) << 32n) | BigInt(lo);
  }

  /** Single-copy atomic 64-bit write; `v` is taken modulo 2^64. */
  write64(pa: number, v: bigint): void {
    this.check(pa, 8, 'write64');
    if (typeof v !== 'bigint') throw new VsmmuError('EVSMMU_BADVALUE', `write64 needs a bigint value, got ${typeof v}`);
    const u = BigInt.asUintN(64, v);
    this.store64(pa, Number(u & 0xffffffffn), Number(u >> 32n));
  }

  /** A copy of `len` bytes at `pa` (not shared with memory). */
  readBytes(pa: number, len: number): Uint8Array {
    this.checkRange(pa, len, 'readBytes');
    return this.u8.slice(pa, pa + len);
  }

  /** A live view of `len` bytes at `pa` (writes through it are writes to memory; a tracked
   *  memory counts its pages as written). */
  view(pa: number, len: number): Uint8Array {
    this.checkRange(pa, len, 'view');
    this.markWritten(pa, len);
    return this.u8.subarray(pa, pa + len);
  }

  writeBytes(pa: number, bytes: ArrayLike<number>): void {
    this.checkRange(pa, bytes.length, 'writeBytes');
    this.u8.set(bytes, pa);
    this.markWritten(pa, bytes.length);
  }

  fill(pa: number, len: number, byte: number): void {
    this.checkRange(pa, len, 'fill');
    if ((byte & 0xff) === 0) this.zero(pa, len);
    else {
      this.u8.fill(byte & 0xff, pa, pa + len);
      this.markWritten(pa, len);
    }
  }

  /**
   * Zeroes [pa, pa + len), 4 KiB at a time, skipping what already reads as zero: a read of
   * memory never touched maps the host's shared zero page, where a write would make the
   * host allocate and clear a page, so zeroing fresh memory (a guest's dma_alloc of RAM Xen
   * handed out clean) costs a scan instead of page faults. The result is the same bytes.
   * A page or less is cleared outright: who clears so little (a page table, a queue) writes
   * it next, and a scan first would cost the host two faults for the page instead of one.
   */
  private zero(pa: number, len: number): void {
    if (len <= 4096) return this.clear(pa, pa + len);
    for (let at = pa, end = pa + len; at < end; ) {
      const next = Math.min(end, at - (at % 4096) + 4096);
      if (!this.isZero(at, next)) this.clear(at, next);
      at = next;
    }
  }

  /**
   * Zeroes [from, to) with 8-byte stores where aligned: V8 fills a shared buffer element by
   * element, so a Float64Array fill (the bits of +0.0 are all zero) is about ten times faster
   * than a Uint8Array fill of the same bytes.
   */
  private clear(from: number, to: number): void {
    this.markWritten(from, to - from);
    const a = Math.min(to, from + ((8 - (from % 8)) % 8));
    const b = Math.max(a, to - (to % 8));
    this.u8.fill(0, from, a);
    this.f64.fill(0, a / 8, b / 8);
    this.u8.fill(0, b, to);
  }

  private isZero(from: number, to: number): boolean {
    const u8 = this.u8;
    let i = from;
    for (; i < to && i % 4 !== 0; i++) if (u8[i] !== 0) return false;
    for (const u32 = this.u32; i + 4 <= to; i += 4) if (u32[i / 4] !== 0) return false;
    for (; i < to; i++) if (u8[i] !== 0) return false;
    return true;
  }

  /** True if [pa, pa + len) lies inside memory. */
  contains(pa: number, len = 1): boolean {
    return Number.isInteger(pa) && Number.isInteger(len) && pa >= 0 && len >= 0 && pa + len <= this.size;
  }

  // Integer `pa` in range and a multiple of `n` (n a power of two). `pa & (n - 1)` sees the
  // low bits of any integer below 2^53, and only runs once the range check has passed.
  private check(pa: number, n: number, op: string): void {
    if (pa >= 0 && pa + n <= this.size && Math.floor(pa) === pa && (pa & (n - 1)) === 0) return;
    this.fail(pa, n, op);
  }

  private checkRange(pa: number, len: number, op: string): void {
    if (pa >= 0 && len >= 0 && pa + len <= this.size && Math.floor(pa) === pa && Math.floor(len) === len) return;
    this.fail(pa, len, op);
  }

  private fail(pa: number, len: number, op: string): never {
    const details = { pa, length: len, size: this.size };
    if (!(Number.isInteger(len) && len >= 0)) {
      throw new VsmmuError('EVSMMU_MEM_RANGE', `${op}: length ${String(len)} is not a non-negative integer`, details);
    }
    if (!Number.isInteger(pa) || pa < 0 || pa + len > this.size) {
      throw new VsmmuError(
        'EVSMMU_MEM_RANGE',
        `${op} of ${len} bytes at ${hex(pa)} is outside physical memory [0x0, ${hex(this.size)}) ` +
          `(${formatSize(this.size)})`,
        details,
      );
    }
    throw new VsmmuError('EVSMMU_MEM_ALIGN', `${op} at ${hex(pa)} is not ${len}-byte aligned`, details);
  }
}

