// SPSC ring of fixed-size records over a SharedArrayBuffer, batched: a producer reserves
// and commits N records with one Atomics.store, a consumer reads records in place and
// releases them with one Atomics.store. MPSC is a RingSet: one SPSC ring per producer, all
// sharing one consumer park word (the doorbell), so the consumer sleeps on the whole set.
// (A single MPSC ring would need a CAS per reservation and per-slot ready flags; one ring
// per producer keeps every publication a plain store and gives per-producer FIFO order.)
//
// This module never waits: a side that finds the ring full (empty) gets 0 and parks however
// its runner parks (src/runtime/ring.ts adds the blocking forms for threads).
import { VsmmuError } from '../errors.ts';
import { wake, type DoorbellDesc } from './doorbell.ts';

// Header layout (Int32 word indices; each role on its own 64-byte line):
//   line 0  HEAD        consumer writes (records released), producer reads
//   line 1  TAIL        producer writes (records published), consumer reads
//   line 2  PROD_PARK   producer's park word (waits for space) unless the ring was given a
//                       space doorbell, whose word is used instead; every release rings it
//   line 3  CONS_PARK   consumer's park word (waits for data) unless the ring is in a
//                       RingSet or has an actor's doorbell, whose word is used instead
// A side that waits for several things at once (a device: completions on one ring, request
// slots on another) can park on one word only, so every event it waits for must ring that
// word: such a producer gives its ring a space doorbell (the word it parks on anyway).
//   line 4  CLOSED      either side sets it (close/poison), then wakes both parks
//   line 5  MAGIC, CAPACITY (records, power of two), RECORD_WORDS (u32 per record):
//           written once at allocation, read-only afterwards
// Data: CAPACITY * RECORD_WORDS u32 from byte HEADER_BYTES. HEAD and TAIL are free-running
// int32 counters; slot = counter & (CAPACITY - 1); fill = (TAIL - HEAD) | 0.
export const RING_HEAD = 0;
export const RING_TAIL = 16;
const RING_PROD_PARK = 32;
const CONS_PARK = 48;
export const RING_CLOSED = 64;
const MAGIC = 80;
const CAPACITY = 81;
const RECORD_WORDS = 82;
const HEADER_BYTES = 384;
const RING_MAGIC = 0x52494e47; // 'RING'

/** What crosses threads: the ring's SAB and where each side parks. */
export interface RingDesc {
  readonly sab: SharedArrayBuffer;
  /** SAB and index of the consumer's park word (a RingSet's doorbell, or the ring's own). */
  readonly doorbell: SharedArrayBuffer;
  readonly doorbellIndex: number;
  /** SAB and index of the producer's park word, rung by every release (the ring's own
   *  PROD_PARK, or a space doorbell the producer also waits on for other work). */
  readonly spaceDoorbell: SharedArrayBuffer;
  readonly spaceDoorbellIndex: number;
}

export interface RingOptions {
  /** Records; a power of two, at least 2, at most 2^24. */
  readonly capacity: number;
  /** Bytes per record; a multiple of 4. */
  readonly recordBytes: number;
}

/** `doorbell`: where the consumer parks (default: the ring's own word); `spaceDoorbell`:
 *  where the producer parks for space (default: the ring's own PROD_PARK). */
export function createRing(opts: RingOptions, doorbell?: DoorbellDesc, spaceDoorbell?: DoorbellDesc): RingDesc {
  const { capacity, recordBytes } = opts;
  if (!Number.isInteger(capacity) || capacity < 2 || capacity > 1 << 24 || (capacity & (capacity - 1)) !== 0) {
    throw new VsmmuError('EVSMMU_RING_CONFIG', `ring capacity ${capacity} is not a power of two in [2, 2^24]`);
  }
  if (!Number.isInteger(recordBytes) || recordBytes <= 0 || recordBytes % 4 !== 0) {
    throw new VsmmuError('EVSMMU_RING_CONFIG', `ring record size ${recordBytes} is not a positive multiple of 4`);
  }
  // Header (layout above: HEAD, TAIL, parks, CLOSED on their own lines) + records.
  const sab = new SharedArrayBuffer(HEADER_BYTES + capacity * recordBytes);
  const h = new Int32Array(sab, 0, HEADER_BYTES >> 2);
  h[MAGIC] = RING_MAGIC;
  h[CAPACITY] = capacity;
  h[RECORD_WORDS] = recordBytes >> 2;
  return {
    sab,
    doorbell: doorbell?.sab ?? sab,
    doorbellIndex: doorbell?.index ?? CONS_PARK,
    spaceDoorbell: spaceDoorbell?.sab ?? sab,
    spaceDoorbellIndex: spaceDoorbell?.index ?? RING_PROD_PARK,
  };
}

/** Where a ring's consumer parks (its doorbell). */
export function ringDoorbell(d: RingDesc): DoorbellDesc {
  return { sab: d.doorbell, index: d.doorbellIndex };
}

class RingView {
  /** Header words. */
  protected readonly h: Int32Array;
  /** Records as u32: record i of a batch lives at `offset(i)`..`offset(i) + recordWords`. */
  readonly u32: Uint32Array;
  readonly capacity: number;
  readonly recordWords: number;
  protected readonly mask: number;
  /** The consumer's park word (its own, or the doorbell it shares). */
  protected readonly bell: Int32Array;
  protected readonly bellIdx: number;
  /** The producer's park word (its own, or the space doorbell it shares). */
  protected readonly spaceBell: Int32Array;
  protected readonly spaceBellIdx: number;

  constructor(desc: RingDesc) {
    this.h = new Int32Array(desc.sab, 0, HEADER_BYTES >> 2);
    if (this.h[MAGIC] !== RING_MAGIC) throw new VsmmuError('EVSMMU_RING_CONFIG', 'not a ring SAB');
    this.capacity = this.h[CAPACITY] ?? 0;
    this.recordWords = this.h[RECORD_WORDS] ?? 0;
    this.mask = this.capacity - 1;
    this.u32 = new Uint32Array(desc.sab, HEADER_BYTES, this.capacity * this.recordWords);
    this.bell = new Int32Array(desc.doorbell);
    this.bellIdx = desc.doorbellIndex;
    this.spaceBell = new Int32Array(desc.spaceDoorbell);
    this.spaceBellIdx = desc.spaceDoorbellIndex;
  }

  /** Poisons the ring: blocked and future waits on either side return closed. */
  close(): void {
    Atomics.store(this.h, RING_CLOSED, 1);
    wake(this.spaceBell, this.spaceBellIdx);
    wake(this.bell, this.bellIdx);
  }

  get closed(): boolean {
    return Atomics.load(this.h, RING_CLOSED) !== 0;
  }
}

export class RingProducer extends RingView {
  protected tail: number;
  protected head: number; // last HEAD seen; refreshed only when the ring looks full

  constructor(desc: RingDesc) {
    super(desc);
    this.tail = Atomics.load(this.h, RING_TAIL);
    this.head = Atomics.load(this.h, RING_HEAD);
  }

  /** Free slots now (one Atomics.load of HEAD). */
  free(): number {
    this.head = Atomics.load(this.h, RING_HEAD);
    return this.capacity - ((this.tail - this.head) | 0);
  }

  /** Free slots, refreshing HEAD only when fewer than `want` look free. */
  protected room(want: number): number {
    const f = this.capacity - ((this.tail - this.head) | 0);
    return f >= want ? f : this.free();
  }

  /**
   * Reserves `n` slots (n <= capacity) if they are free now: n, or 0 if not; throws
   * EVSMMU_RING_CLOSED if the ring is closed. Then write records at `offset(0..n-1)` and commit(n).
   */
  tryReserve(n: number): number {
    this.checkBatch(n);
    if (this.closed) throw ringClosedError();
    return this.room(n) >= n ? n : 0;
  }

  /** u32 index of the i-th reserved record. */
  offset(i: number): number {
    return ((this.tail + i) & this.mask) * this.recordWords;
  }

  /** Publishes n written records: one Atomics.store, and a notify only if the consumer sleeps. */
  commit(n: number): void {
    this.publish(n);
    wake(this.bell, this.bellIdx);
  }

  /**
   * Publishes n written records without ringing the consumer: a consumer that polls sees
   * them, one that sleeps does not wake. The caller must ringConsumer() (or commit) later
   * in the same run of work, before it can wait itself, or the records may never be seen.
   */
  publish(n: number): void {
    this.tail = (this.tail + n) | 0;
    Atomics.store(this.h, RING_TAIL, this.tail);
  }

  /** Wakes the consumer if it sleeps (after publish). */
  ringConsumer(): void {
    wake(this.bell, this.bellIdx);
  }

  /** Copies one record in and publishes it if there is room now; false if full. */
  tryPush(record: ArrayLike<number>): boolean {
    if (this.tryReserve(1) === 0) return false;
    this.write(record);
    return true;
  }

  protected write(record: ArrayLike<number>): void {
    const o = this.offset(0);
    for (let w = 0; w < this.recordWords; w++) this.u32[o + w] = record[w] ?? 0;
    this.commit(1);
  }

  protected checkBatch(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > this.capacity) {
      throw new VsmmuError('EVSMMU_RING_BATCH', `batch ${n} outside [1, ${this.capacity}]`);
    }
  }
}

export class RingConsumer extends RingView {
  protected head: number;
  protected tail: number; // last TAIL seen; refreshed only when the ring looks empty

  constructor(desc: RingDesc) {
    super(desc);
    this.head = Atomics.load(this.h, RING_HEAD);
    this.tail = Atomics.load(this.h, RING_TAIL);
  }

  /** Records ready now (one Atomics.load of TAIL). */
  available(): number {
    this.tail = Atomics.load(this.h, RING_TAIL);
    return (this.tail - this.head) | 0;
  }

  /** Records ready, refreshing TAIL only when fewer than `want` are known. */
  protected ready(want: number): number {
    const n = (this.tail - this.head) | 0;
    return n >= want ? n : this.available();
  }

  /**
   * Records ready now, up to `max`, to read at `offset(0..n-1)`: n, 0 if none, -1 if the
   * ring is closed and drained. Then release(n).
   */
  tryAcquire(max: number): number {
    checkMax(max);
    const n = this.ready(max);
    if (n > 0) return n < max ? n : max;
    return this.closed ? this.drainClosed(max) : 0;
  }

  // A producer may commit and then close between our empty check and the CLOSED load.
  protected drainClosed(max: number): number {
    const n = this.available();
    return n > 0 ? (n < max ? n : max) : -1;
  }

  /** u32 index of the i-th acquired record. */
  offset(i: number): number {
    return ((this.head + i) & this.mask) * this.recordWords;
  }

  /** Frees n read records for the producer: one Atomics.store, notify only if it sleeps. */
  release(n: number): void {
    this.retire(n);
    wake(this.spaceBell, this.spaceBellIdx);
  }

  /** Frees n read records without ringing the producer; ringProducer() later (see publish). */
  retire(n: number): void {
    this.head = (this.head + n) | 0;
    Atomics.store(this.h, RING_HEAD, this.head);
  }

  /** Wakes the producer if it sleeps for space (after retire). */
  ringProducer(): void {
    wake(this.spaceBell, this.spaceBellIdx);
  }

  /**
   * Reads up to `max` ready records in place: `fn(u32, offset)` per record, then one release.
   * Returns the count, 0 if none, -1 when closed and drained.
   */
  drain(max: number, fn: (u32: Uint32Array, offset: number) => void): number {
    return this.each(this.tryAcquire(max), fn);
  }

  protected each(n: number, fn: (u32: Uint32Array, offset: number) => void): number {
    if (n <= 0) return n;
    const u32 = this.u32;
    for (let i = 0; i < n; i++) fn(u32, this.offset(i));
    this.release(n);
    return n;
  }
}

// RingSet: N SPSC rings whose consumers share one park word. Doorbell SAB layout (Int32):
//   word 0  PARK   the set consumer's park word; every producer's commit wakes it
const SET_PARK = 0;

export interface RingSetDesc {
  readonly doorbell: SharedArrayBuffer;
  readonly rings: readonly RingDesc[];
}

export function createRingSet(producers: number, opts: RingOptions): RingSetDesc {
  const doorbell = new SharedArrayBuffer(64);
  const rings: RingDesc[] = [];
  for (let i = 0; i < producers; i++) rings.push(createRing(opts, { sab: doorbell, index: SET_PARK }));
  return { doorbell, rings };
}

/** The consumer of a RingSet: services all rings; they share one doorbell (`SET_PARK`). */
export class RingSetConsumer<C extends RingConsumer = RingConsumer> {
  readonly rings: readonly C[];
  protected readonly bell: Int32Array;
  protected readonly bellIdx = SET_PARK;
  private next = 0;

  constructor(desc: RingSetDesc, make: (d: RingDesc) => C = (d) => new RingConsumer(d) as C) {
    this.rings = desc.rings.map(make);
    this.bell = new Int32Array(desc.doorbell);
  }

  /** Index of a ring with records (round-robin from the last serviced), or -1. */
  ready(): number {
    const n = this.rings.length;
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      if ((this.rings[i] as C).available() > 0) {
        this.next = (i + 1) % n;
        return i;
      }
    }
    return -1;
  }

  allClosed(): boolean {
    return this.rings.every((r) => r.closed);
  }
}

function checkMax(max: number): void {
  if (!(max >= 1)) throw new VsmmuError('EVSMMU_RING_BATCH', `acquire of ${max} records`);
}

export function ringClosedError(): VsmmuError {
  return new VsmmuError('EVSMMU_RING_CLOSED', 'ring is closed');
}
