// --profile NAME (run, stress) and --profile A,B (bench): Xen's policy profiles by name.
import { VsmmuError } from '../errors.ts';
import { DEFAULT_PROFILE, isXenProfileName, XEN_PROFILE_NAMES, type XenProfileName } from '../xen/profile.ts';

export const PROFILE_HELP = `Xen's policy: ${XEN_PROFILE_NAMES.join(', ')} (default ${DEFAULT_PROFILE}; docs/profiles.md)`;

/** One profile name; an unknown one is EVSMMU_USAGE naming the known ones. */
export function profileOption(verb: string, value: string | undefined): XenProfileName {
  if (value === undefined) return DEFAULT_PROFILE;
  if (!isXenProfileName(value)) {
    throw new VsmmuError('EVSMMU_USAGE', `--profile ${JSON.stringify(value)} is not a profile (known: ${XEN_PROFILE_NAMES.join(', ')})`, { option: 'profile', known: XEN_PROFILE_NAMES });
  }
  return value;
}

/** A comma list of profiles (each once, in the order given). */
export function profileList(verb: string, value: string | undefined): XenProfileName[] {
  if (value === undefined) return [DEFAULT_PROFILE];
  const out: XenProfileName[] = [];
  for (const p of value.split(',').map((s) => s.trim())) {
    const name = profileOption(verb, p);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}
