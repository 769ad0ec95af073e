// Doorbells: the wake-up side of the park protocol, with no waiting. A doorbell is one Int32
// word that its single waiter (an actor's service loop, a vCPU) sets to 1 before it sleeps;
// whoever publishes work for it rings the bell after the publishing store. The waiting side
// (spin, then Atomics.wait) lives with whoever runs the actor: src/runtime/wait.ts on threads.
//
// Protocol (seq-cst Atomics throughout; src/runtime/wait.ts has the waiter's half):
//   waiter: Atomics.store(park, 1); re-check its condition; Atomics.wait(park, 1)
//   ringer: publish (a store to a data word); if park === 1: compareExchange(1 -> 0), notify
// so either the waiter's re-check sees the data or the ringer sees the 1: no lost wake-up.

/** A park word: an Int32 `index` in `sab`. Several ports may share one (an actor's doorbell). */
export interface DoorbellDesc {
  readonly sab: SharedArrayBuffer;
  readonly index: number;
}

// Doorbell SAB layout (createDoorbell): Int32 word 0 = PARK (0 running, 1 asleep); the rest
// of the 64-byte line is padding so that the word shares its cache line with nothing.
const DOORBELL_BYTES = 64;

/** A fresh doorbell on its own cache line. */
export function createDoorbell(): DoorbellDesc {
  return { sab: new SharedArrayBuffer(DOORBELL_BYTES), index: 0 };
}

/** Wakes the waiter parked on `park[idx]`, if it is (or is about to be) asleep. */
export function wake(park: Int32Array, idx: number): void {
  if (Atomics.load(park, idx) !== 0 && Atomics.compareExchange(park, idx, 1, 0) === 1) {
    // Every waiter: a thread may be parked here twice (a blocking wait and a pending
    // waitAsync of its event loop), and waking only the async one would lose the wake-up.
    Atomics.notify(park, idx);
  }
}

/** The ringing side of a doorbell. */
export class Doorbell {
  readonly word: Int32Array;
  readonly index: number;
  constructor(desc: DoorbellDesc) {
    this.word = new Int32Array(desc.sab);
    this.index = desc.index;
  }
  ring(): void {
    wake(this.word, this.index);
  }
}
