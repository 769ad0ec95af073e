// 64-bit accesses to physical memory are single-copy atomic: while a worker thread stores
// values from a small set (halves that differ, NaN bit patterns) with store64 and write64,
// every value this thread reads with load64 and read64 is one of the values written — never
// the low half of one and the high half of another.
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { PhysMemory } from '../../src/mem/phys.ts';

// Control SAB layout (Int32Array), shared with test/support/mem-torn-worker.ts:
//   [0] STATE     worker writes 1 once it is storing
//   [1] STOP      main writes 1 to end the run
//   [2] PROGRESS  worker: batches of stores done (wraps)
const CTL_STATE = 0;
const CTL_STOP = 1;
const CTL_PROGRESS = 2;

const MAX_READS = 3_000_000;
const MIN_READS = 200_000;
const MIN_CHANGES = 200; // reads that saw a different value than the previous read of the slot
const TIME_LIMIT_MS = 2_000;

// NaN classes and other doubles whose bits a careless path could alter. [lo, hi]
const NAN_PATTERNS: readonly (readonly [number, number])[] = [
  [0x00000001, 0x7ff00000], // signalling, payload low
  [0x00000000, 0x7ff00001], // signalling, payload high
  [0x00000000, 0xfff80000], // negative quiet
  [0xdeadbeef, 0x7ffabcde], // quiet with payload
  [0xfff7ffff, 0xfff7ffff], // V8 hole NaN
  [0xffffffff, 0xffffffff],
];

const valuesArb = fc
  .tuple(
    fc.uniqueArray(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 2, maxLength: 4 }),
    fc.subarray([...NAN_PATTERNS], { minLength: 1, maxLength: 3 }),
  )
  .map(([xs, nans]) => [...xs.map((x) => [x, ~x >>> 0] as const), ...nans]);

interface RunResult {
  readonly reads: number;
  readonly changes: number;
  readonly torn: string[];
  readonly writes: number;
  readonly seen: number;
}

async function run(values: readonly (readonly [number, number])[], seed: number): Promise<RunResult> {
  const mem = PhysMemory.create('128K');
  // Slots: two neighbours in one cache line, one across a 4K page boundary's far side, the
  // last word of memory.
  const slots = [0x1000, 0x1008, 0x2000, mem.size - 8];
  for (const pa of slots) mem.store64(pa, values[0]![0], values[0]![1]);
  // Control SAB: see CTL_* above.
  const ctlSab = new SharedArrayBuffer(16);
  const ctl = new Int32Array(ctlSab);
  const worker = new Worker(new URL('../support/mem-torn-worker.ts', import.meta.url), {
    workerData: { memory: mem.sab, ctl: ctlSab, values: values.flat(), slots, seed },
  });
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`torn-writer worker exited early (${code})`)));
  });
  const done = new Promise<{ writes: number }>((resolve) => worker.once('message', resolve));
  try {
    const ready = Atomics.waitAsync(ctl, CTL_STATE, 0);
    if (ready.async) await Promise.race([ready.value, failed]);

    const vlo = Uint32Array.from(values, (v) => v[0]);
    const vhi = Uint32Array.from(values, (v) => v[1]);
    const vbig = new Set(values.map(([lo, hi]) => (BigInt(hi) << 32n) | BigInt(lo)));
    const last = new Float64Array(slots.length).fill(-1);
    const seenKinds = new Set<number>();
    const torn: string[] = [];
    let reads = 0;
    let changes = 0;
    const t0 = performance.now();
    while (reads < MAX_READS) {
      for (let k = 0; k < 1024; k++, reads++) {
        const s = reads & 3;
        const pa = slots[s]!;
        let lo: number;
        let hi: number;
        if ((reads & 4) === 0) {
          lo = mem.load64(pa);
          hi = mem.hi;
        } else {
          const v = mem.read64(pa);
          if (!vbig.has(v)) torn.push(`read64 0x${v.toString(16)}`);
          lo = Number(v & 0xffffffffn);
          hi = Number(v >> 32n);
        }
        let j = 0;
        while (j < vlo.length && !(vlo[j] === lo && vhi[j] === hi)) j++;
        if (j === vlo.length) {
          torn.push(`at 0x${pa.toString(16)}: lo=0x${lo.toString(16)} hi=0x${hi.toString(16)}`);
          continue;
        }
        seenKinds.add(j);
        if (last[s] !== j) {
          if (last[s] !== -1) changes++;
          last[s] = j;
        }
      }
      if (torn.length > 0) break;
      const elapsed = performance.now() - t0;
      if (elapsed > TIME_LIMIT_MS) break;
      if (reads >= MIN_READS && changes >= MIN_CHANGES) break;
    }
    Atomics.store(ctl, CTL_STOP, 1);
    const { writes } = await Promise.race([done, failed]);
    expect(Atomics.load(ctl, CTL_PROGRESS)).toBeGreaterThan(0);
    return { reads, changes, torn, writes, seen: seenKinds.size };
  } finally {
    Atomics.store(ctl, CTL_STOP, 1);
    worker.removeAllListeners('exit');
    await worker.terminate();
  }
}

describe('PhysMemory 64-bit accesses under a concurrent writer', () => {
  it('are never torn', async () => {
    await fc.assert(
      fc.asyncProperty(valuesArb, fc.integer({ min: 1, max: 0x7fffffff }), async (values, seed) => {
        const r = await run(values, seed);
        expect(r.torn.slice(0, 5)).toEqual([]);
        expect(r.writes).toBeGreaterThan(0);
        // The writer really ran concurrently with the reads.
        expect(r.changes).toBeGreaterThan(0);
        expect(r.seen).toBeGreaterThan(1);
      }),
      { numRuns: 3 },
    );
  });
});
