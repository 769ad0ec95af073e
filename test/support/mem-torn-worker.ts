// Writer side of test/integration/mem-torn.test.ts: stores 64-bit values from a fixed set
// into a few slots of shared physical memory, alternating store64 and write64, until told
// to stop. Control SAB (Int32Array) layout, see CTL_* in the test: [0] STATE (worker -> 1
// once writing), [1] STOP (main -> 1), [2] PROGRESS (worker: batches written, wraps).
import { parentPort, workerData } from 'node:worker_threads';
import { PhysMemory } from '../../src/mem/phys.ts';

interface TornWorkerData {
  readonly memory: SharedArrayBuffer;
  readonly ctl: SharedArrayBuffer;
  readonly values: readonly number[]; // lo0, hi0, lo1, hi1, ...
  readonly slots: readonly number[];
  readonly seed: number;
}

const STATE = 0;
const STOP = 1;
const PROGRESS = 2;
const BATCH = 256;

const d = workerData as TornWorkerData;
const mem = PhysMemory.attach(d.memory);
const ctl = new Int32Array(d.ctl);
const nv = d.values.length / 2;
const lo = Uint32Array.from({ length: nv }, (_, k) => d.values[2 * k]!);
const hi = Uint32Array.from({ length: nv }, (_, k) => d.values[2 * k + 1]!);
const big = Array.from({ length: nv }, (_, k) => (BigInt(hi[k]!) << 32n) | BigInt(lo[k]!));
const slots = Float64Array.from(d.slots);

let x = d.seed >>> 0 || 0x9e3779b9; // xorshift32
let writes = 0;
let batches = 0;
Atomics.store(ctl, STATE, 1);
Atomics.notify(ctl, STATE);
while (Atomics.load(ctl, STOP) === 0) {
  for (let k = 0; k < BATCH; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const v = x % nv;
    const pa = slots[(x >>> 20) % slots.length]!;
    if ((batches & 1) === 0) mem.store64(pa, lo[v]!, hi[v]!);
    else mem.write64(pa, big[v]!);
  }
  writes += BATCH;
  batches++;
  Atomics.store(ctl, PROGRESS, batches | 0);
}
parentPort?.postMessage({ writes });
