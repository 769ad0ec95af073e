// Worker entries are resolved from this module's own URL, never from process.cwd():
// in source (src/runtime/entry.ts) they are workers/NAME.ts, run by Node's type
// stripping; in the build (dist/src/runtime/entry.js) they are dist/workers/NAME.js.
import { VsmmuError } from '../errors.ts';

const ENTRY_NAME = /^[a-z][a-z0-9-]*$/;

/** Extension of worker entries next to a module at `moduleUrl`: 'ts' in source, 'js' built. */
export function entryExtension(moduleUrl: string): 'ts' | 'js' {
  return new URL(moduleUrl).pathname.endsWith('.ts') ? 'ts' : 'js';
}

/** URL of the worker entry `workers/NAME` for the current layout (source or dist/). */
export function workerEntry(name: string, moduleUrl: string = import.meta.url): URL {
  if (!ENTRY_NAME.test(name)) throw new VsmmuError('EVSMMU_ACTOR_ENTRY', `bad worker entry name ${JSON.stringify(name)}`);
  return new URL(`../../workers/${name}.${entryExtension(moduleUrl)}`, moduleUrl);
}
