// Argument parsing shared by the verbs: node's parseArgs, with errors turned into EVSMMU_USAGE
// messages that say what to fix.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VsmmuError } from '../errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<O extends Options>(verb: string, argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = e instanceof Error ? e.message.replace(/\. To specify a positional.*$/s, '') : String(e);
    throw new VsmmuError('EVSMMU_USAGE', `${msg} (see 'vsmmu ${verb} --help')`);
  }
}

/** A whole, positive number option, or the default. */
export function positiveInt(verb: string, name: string, text: string | undefined, dflt: number, max: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max) {
    throw new VsmmuError('EVSMMU_USAGE', `--${name} takes a whole number from 1 to ${max}, not '${text}' (see 'vsmmu ${verb} --help')`);
  }
  return n;
}

/** A positive number of seconds (fractions allowed). */
export function seconds(verb: string, text: string | undefined, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) {
    throw new VsmmuError('EVSMMU_USAGE', `--seconds takes a number of seconds above 0 (at most 86400), not '${text}' (see 'vsmmu ${verb} --help')`);
  }
  return n;
}
