// Test actor whose entry fails to import (the module does not exist).
import { serveActor } from '../../src/runtime/actor.ts';
// @ts-expect-error -- deliberately missing module
import { nothing } from './does-not-exist-anywhere.ts';

serveActor(() => ({ nothing }));
