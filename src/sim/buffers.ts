// Recycled port data buffers for sim-mode runs. A new SharedArrayBuffer of 1 MiB costs about
// 0.5 ms on this kind of machine (the allocator clears it and the host commits its pages),
// and a stress or fuzz seed attaches several ports: a campaign worker running seed after
// seed would spend a tenth of its time there. In sim mode every actor lives on this thread
// and a system's SMMU is disposed only after everything that used its ports, so its buffers
// can go back to a process-wide pool; reuse clears them (a memset of resident pages), so a
// run starts from the same bytes as with new buffers and its digest does not change.

/** Bytes the pool keeps at most (idle buffers beyond it are left to the garbage collector). */
const POOL_BYTES = 32 * 1024 * 1024;

const idle = new Map<number, SharedArrayBuffer[]>();
let idleBytes = 0;

/** A run's source of zeroed buffers; `release()` returns them all to the pool. */
export function bufferLease(): { take: (bytes: number) => SharedArrayBuffer; release: () => void } {
  const taken: SharedArrayBuffer[] = [];
  return {
    take(bytes) {
      const sab = idle.get(bytes)?.pop();
      let out: SharedArrayBuffer;
      if (sab) {
        idleBytes -= bytes;
        new Float64Array(sab, 0, Math.floor(bytes / 8)).fill(0); // ten times a Uint8Array fill on a SAB
        new Uint8Array(sab, bytes - (bytes % 8)).fill(0);
        out = sab;
      } else out = new SharedArrayBuffer(bytes);
      taken.push(out);
      return out;
    },
    release() {
      for (const sab of taken.splice(0)) {
        if (idleBytes + sab.byteLength > POOL_BYTES) continue;
        let list = idle.get(sab.byteLength);
        if (!list) idle.set(sab.byteLength, (list = []));
        list.push(sab);
        idleBytes += sab.byteLength;
      }
    },
  };
}
