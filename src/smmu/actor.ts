// The SMMU's control API (what the comlink control plane exposes, see workers/smmu.ts):
// description of its data-plane SABs, transaction ports, statistics, reset. The data plane
// (registers, memory, rings, IRQ lines) never goes through here; the runner steps `smmu`
// whenever its doorbell (the register page's PARK word) rings.

import { PhysMemory } from '../mem/phys.ts';
import { registerPageDoorbell } from '../ports/regpage.ts';
import type { DoorbellDesc } from '../ports/doorbell.ts';
import type { Tracer } from '../trace/tracer.ts';
import type { AttachPortOptions, PortDesc } from './ports.ts';
import { Smmu, type SmmuDescription, type SmmuOptions, type SmmuStats } from './smmu.ts';

/** workerData of workers/smmu.ts: the SMMU's options, with physical memory as its SAB. */
export type SmmuWorkerData = Omit<SmmuOptions, 'memory' | 'clock'> & {
  /** The physical memory SAB (PhysMemory.sab). */
  readonly memory: SharedArrayBuffer;
};

/** What the runner injects. */
export interface SmmuHost {
  /** The runner's clock (ms). */
  readonly clock?: () => number;
  /** The SMMU's trace points (docs/tracing.md). */
  readonly tracer?: Tracer;
  /** Where ports' data buffers come from (SmmuOptions.buffers). */
  readonly buffers?: (bytes: number) => SharedArrayBuffer;
}

export class SmmuActor {
  readonly smmu: Smmu;
  /** Where the SMMU's runner parks it: register writes and every port's requests ring it. */
  readonly doorbell: DoorbellDesc;

  constructor(data: SmmuWorkerData, host: SmmuHost = {}) {
    Smmu.checkOptions(data);
    const { memory, ...rest } = data;
    this.smmu = new Smmu({ ...rest, memory: PhysMemory.attach(memory), ...(host.clock ? { clock: host.clock } : {}), ...(host.tracer ? { tracer: host.tracer } : {}), ...(host.buffers ? { buffers: host.buffers } : {}) });
    this.doorbell = registerPageDoorbell(this.smmu.regsDesc);
  }

  describe(): SmmuDescription {
    return this.smmu.describe();
  }

  attachPort(opts: AttachPortOptions = {}): PortDesc {
    return this.smmu.attachPort(opts);
  }

  detachPort(id: number): boolean {
    return this.smmu.detachPort(id);
  }

  stats(): SmmuStats {
    return this.smmu.stats();
  }

  /** Fault injection for tests (Smmu.injectFault). */
  injectFault(kind: 'stall-sync'): void {
    this.smmu.injectFault(kind);
  }

  reset(): void {
    this.smmu.reset();
  }

  /** Called after the runner stopped stepping the SMMU. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.smmu.irq.close();
  }
}
