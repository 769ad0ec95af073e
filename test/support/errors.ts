// Test helper: run `fn`, expect it to throw a VsmmuError, return the error for inspection.
import { VsmmuError } from '../../src/errors.ts';

export function thrown(fn: () => unknown): VsmmuError {
  try {
    fn();
  } catch (e) {
    if (e instanceof VsmmuError) return e;
    throw new Error(`expected a VsmmuError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected a VsmmuError, nothing was thrown');
}
