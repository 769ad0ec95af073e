// The Xen command line, for the options this emulator acts on.
//
// Semantics follow Xen's parse_params()/parse_bool() (xen/common/kernel.c):
// - options are separated by spaces; each is `name`, `name=value` or `no-name[=value]`;
// - names match exactly (case-sensitive);
// - a boolean option given bare, or with an empty value (`viommu=`), is true;
// - `no-` inverts the parsed value, so `no-viommu` is false and `no-viommu=0` is true;
// - the last occurrence wins;
// - unknown options are not fatal: Xen prints `parameter "x" unknown!` and boots.
// Differences, on purpose — all whitespace separates options (Xen only splits on ' '), and an
// invalid boolean value is an error (Xen prints a message and keeps the default).
//
// The option: `viommu=<boolean>`, default false, from RFC patch 07 ("Add cmdline boot option
// viommu = <boolean>"). Later versions made it a string, then dropped it (see
// reference/xen-vsmmuv3.md §5.2); the boolean form is what the RFC code reads.

import { VsmmuError } from '../errors.ts';

export interface XenCmdline {
  /** `viommu`: vIOMMU support for guests (default false). */
  readonly viommu: boolean;
  /** Options Xen would not recognise, as written (kept, reported as warnings). */
  readonly unknown: readonly string[];
  /** The command line as given. */
  readonly raw: string;
}

/** Boolean spellings Xen's parse_bool() accepts, and their value. */
export const XEN_BOOL_VALUES: Readonly<Record<string, boolean>> = {
  '1': true, on: true, yes: true, true: true, enable: true,
  '0': false, no: false, off: false, false: false, disable: false,
};

/** Xen's parse_bool(): true/false, or null for a value it does not recognise. */
export function parseXenBool(s: string): boolean | null {
  return Object.hasOwn(XEN_BOOL_VALUES, s) ? (XEN_BOOL_VALUES[s] ?? null) : null;
}

/** Boolean options this emulator understands, with their defaults. */
const BOOL_OPTIONS = { viommu: false } as const;
type BoolOption = keyof typeof BOOL_OPTIONS;

function isBoolOption(s: string): s is BoolOption {
  return Object.hasOwn(BOOL_OPTIONS, s);
}

export function parseXenCmdline(raw: string): XenCmdline {
  const values: Record<BoolOption, boolean> = { ...BOOL_OPTIONS };
  const unknown: string[] = [];
  for (const opt of raw.split(/\s+/)) {
    if (opt === '') continue;
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const val = eq < 0 ? '' : opt.slice(eq + 1);
    const negated = key.startsWith('no-');
    const name = negated ? key.slice(3) : key;
    if (!isBoolOption(name)) {
      unknown.push(opt);
      continue;
    }
    const b = val === '' ? true : parseXenBool(val);
    if (b === null) {
      throw new VsmmuError(
        'EVSMMU_XEN_CMDLINE',
        `Xen command line: option "${key}" has invalid value "${val}": ` +
          `a boolean is one of ${Object.keys(XEN_BOOL_VALUES).join(', ')} (or no value, meaning true)`,
        { option: key, value: val, accepted: Object.keys(XEN_BOOL_VALUES) },
      );
    }
    values[name] = negated ? !b : b;
  }
  return { viommu: values.viommu, unknown, raw };
}

/** The warnings Xen would print for `c` (one per unknown option). */
export function cmdlineWarnings(c: XenCmdline): string[] {
  return c.unknown.map((o) => `parameter "${o.split('=')[0] ?? o}" unknown! (ignored, as Xen does)`);
}
