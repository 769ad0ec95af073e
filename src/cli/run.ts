// `vsmmu run`: placeholder until the system lands (filled in by the integration step).
import type { CliIo } from './io.ts';
import { VsmmuError } from '../runtime/errors.ts';

export const RUN_HELP = `Usage: vsmmu run [options] [domain.cfg ...]\n`;

export function runCommand(_argv: readonly string[], _io: CliIo): number {
  throw new VsmmuError('ERUN', 'not available yet');
}
