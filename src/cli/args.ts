// Argument parsing shared by the verbs: node's parseArgs, with errors turned into EVSMMU_USAGE
// messages that say what to fix, and the number options every verb checks the same way.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VsmmuError } from '../errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

const seeHelp = (verb: string): string => `(see 'vsmmu ${verb} --help')`;

/**
 * parseArgs refuses `--guests -1` as ambiguous (the value looks like an option); a negative
 * number after an option that takes a value is that option's value, which the option's own
 * check then refuses with its range.
 */
function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const next = argv[i + 1];
    const name = a.startsWith('--') ? a.slice(2) : '';
    if (options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export function parse<O extends Options>(verb: string, argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const unknown = /^Unknown option '([^']*)'/.exec(msg);
    const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(msg);
    const ambiguous = /^Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/.exec(msg);
    const text = unknown
      ? `unknown option '${unknown[1]}'`
      : missing
        ? `${missing[1]} needs a value`
        : ambiguous
          ? `${ambiguous[1]} needs a value (write ${ambiguous[1]}=VALUE for a value that starts with '-')`
          : msg.replace(/\. To specify a positional.*$/s, '').replace(/\s*\n\s*/g, ' ');
    throw new VsmmuError('EVSMMU_USAGE', `${text} ${seeHelp(verb)}`);
  }
}

/** A whole-number option from `min` to `max`, or the default. */
export function intOption(verb: string, name: string, text: string | undefined, dflt: number, min: number, max: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new VsmmuError('EVSMMU_USAGE', `--${name} takes a whole number from ${min} to ${max}, not '${text}' ${seeHelp(verb)}`);
  }
  return n;
}

export const MAX_SECONDS = 86_400;

/** A number of seconds from 0 to MAX_SECONDS (fractions allowed), or the default. */
export function seconds(verb: string, text: string | undefined, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > MAX_SECONDS) {
    throw new VsmmuError('EVSMMU_USAGE', `--seconds takes a number of seconds from 0 to ${MAX_SECONDS} (0 skips streaming), not '${text}' ${seeHelp(verb)}`);
  }
  return n;
}
