// Thin entry of a guest domain's kernel actor: builds it and its DMA engines (hardware that
// runs on this thread) from workerData, serves the kernel's control API. While the kernel
// waits for a device, the wait steps the engines and parks on the device's SMMU completion
// ring (spin, then Atomics.wait: the runtime's wait strategy).
import { DmaEngine } from '../src/devices/dma-engine.ts';
import type { DmaWait } from '../src/devices/dma-device.ts';
import { GuestKernel, type GuestWorkerData } from '../src/guest/kernel.ts';
import { serveActor } from '../src/runtime/actor.ts';
import { SpinPolicy, WAIT_OK, waitUntil } from '../src/runtime/wait.ts';

serveActor((raw) => {
  const data = raw as GuestWorkerData;
  const engines = new Map((data.hardware ?? []).map((h) => [h.name, new DmaEngine(h)]));
  const spin = new SpinPolicy();
  const waitDevice = (name: string): DmaWait => {
    const engine = engines.get(name);
    if (!engine) return (ready) => ready();
    const bell = engine.doorbells[1] as { sab: SharedArrayBuffer; index: number };
    const park = new Int32Array(bell.sab);
    return (ready, timeoutMs) => {
      const progressed = (): boolean => {
        while (engine.step() > 0);
        return ready();
      };
      return progressed() || waitUntil(progressed, park, bell.index, timeoutMs, spin) === WAIT_OK;
    };
  };
  return GuestKernel.fromWorkerData(data, { waitDevice, clock: () => performance.now() });
});
