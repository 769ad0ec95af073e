// Thin entry of the physical SMMU actor: builds it from workerData, steps it under the
// runtime's service loop, serves its control API.
import { serveActor } from '../src/runtime/actor.ts';
import { serveStepped } from '../src/runtime/service.ts';
import { SmmuActor, type SmmuWorkerData } from '../src/smmu/actor.ts';

serveActor((data) => {
  const actor = new SmmuActor(data as SmmuWorkerData, { clock: () => performance.now() });
  return serveStepped(actor, actor.smmu, { doorbell: actor.doorbell });
});
