// Test actor whose factory throws a coded error during start-up.
import { serveActor } from '../../src/runtime/actor.ts';
import { VsmmuError } from '../../src/errors.ts';

serveActor(() => {
  throw new VsmmuError('EVSMMU_BADOPTIONS', 'factory refused the configuration', { field: 'x' });
});
