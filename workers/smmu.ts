// Thin entry of the physical SMMU actor: builds it from workerData, serves its control API.
import { serveActor } from '../src/runtime/actor.ts';
import { SmmuActor, type SmmuWorkerData } from '../src/smmu/actor.ts';

serveActor((data) => new SmmuActor(data as SmmuWorkerData));
