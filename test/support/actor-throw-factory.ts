// Test actor whose factory throws a coded error during start-up.
import { serveActor } from '../../src/runtime/actor.ts';
import { VsmmuError } from '../../src/runtime/errors.ts';

serveActor(() => {
  throw new VsmmuError('EBAD_CONFIG', 'factory refused the configuration', { field: 'x' });
});
