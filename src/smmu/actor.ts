// The SMMU's control API (what the comlink control plane exposes, see workers/smmu.ts):
// description of its data-plane SABs, transaction ports, statistics, reset. The data plane
// (registers, memory, rings, IRQ lines) never goes through here.

import { PhysMemory } from '../mem/phys.ts';
import type { AttachPortOptions, PortDesc } from './ports.ts';
import { Smmu, type SmmuDescription, type SmmuOptions, type SmmuStats } from './smmu.ts';

/** workerData of workers/smmu.ts: the SMMU's options, with physical memory as its SAB. */
export type SmmuWorkerData = Omit<SmmuOptions, 'memory'> & {
  /** The physical memory SAB (PhysMemory.sab). */
  readonly memory: SharedArrayBuffer;
};

export class SmmuActor {
  readonly smmu: Smmu;

  constructor(data: SmmuWorkerData) {
    Smmu.checkOptions(data);
    const { memory, ...rest } = data;
    this.smmu = new Smmu({ ...rest, memory: PhysMemory.attach(memory) });
    void this.smmu.run();
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

  reset(): void {
    this.smmu.reset();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.smmu.stop();
    this.smmu.irq.close();
  }
}
