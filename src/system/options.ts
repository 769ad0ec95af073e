// createSystem()'s options: what a user may pass, checked up front with coded errors that
// say what to fix, and normalised into the typed configuration the actors take.
import type { SmmuFeatures } from '../arch/features.ts';
import { DEFAULT_FEATURES } from '../arch/features.ts';
import { parseSize, MiB } from '../mem/size.ts';
import { VsmmuError } from '../errors.ts';
import { parseXenCmdline, type XenCmdline } from '../xen/cmdline.ts';
import { GUEST_MAX_VCPUS, GUEST_RAM_MAX } from '../xen/layout.ts';
import { isViommuTypeName, viommuTypeNames } from '../xen/viommu.ts';
import { parseXlCfgFull, validateSystemConfig, type DomainConfig } from '../xen/xlcfg.ts';

export interface DeviceOptions {
  /** Device-tree node name of the device, unique within its domain. */
  readonly name: string;
  /** Its physical StreamID. */
  readonly sid: number;
}

export interface DomainOptions {
  readonly name: string;
  /** Guest RAM: bytes, or a string like "256M". */
  readonly memory: number | string;
  readonly vcpus?: number;
  readonly viommu?: 'smmuv3' | 'none';
  readonly devices?: readonly DeviceOptions[];
}

export interface SystemOptions {
  /** Host physical memory: bytes or a string like "512M" (default "512M"). */
  readonly memory?: number | string;
  /** Xen's command line (default "viommu=1": vIOMMU support on, unlike Xen's own default). */
  readonly xen?: { readonly cmdline?: string };
  /** Each domain as an object or as xl.cfg text. */
  readonly domains?: readonly (DomainOptions | string)[];
  /** Features of the physical SMMU (default: stage 1 + 2 + nesting, 2-level tables, 16-bit SIDs). */
  readonly smmu?: Partial<SmmuFeatures>;
  /** A guest control call not answered within this bound marks the guest hung (default 30 s). */
  readonly guestTimeoutMs?: number;
}

export interface SystemConfig {
  readonly memory: number;
  readonly cmdline: XenCmdline;
  readonly domains: readonly DomainConfig[];
  readonly smmu: Partial<SmmuFeatures>;
  readonly guestTimeoutMs: number;
  readonly warnings: readonly string[];
}

export const DEFAULT_MEMORY = 512 * MiB;
export const DEFAULT_CMDLINE = 'viommu=1';
/** Host memory below this is left to "firmware": Xen's heap starts here. */
export const XEN_HEAP_BASE = 4 * MiB;

const KNOWN_SYSTEM_KEYS = ['memory', 'xen', 'domains', 'smmu', 'guestTimeoutMs'];
const KNOWN_DOMAIN_KEYS = ['name', 'memory', 'vcpus', 'viommu', 'devices'];

function bad(message: string, details?: Record<string, unknown>): VsmmuError {
  return new VsmmuError('EVSMMU_BADOPTIONS', message, details);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unknownKeys(o: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw bad(`${where}: unknown option "${k}" (known: ${known.join(', ')})`, { key: k });
  }
}

function domainFromObject(o: unknown, i: number): DomainConfig {
  const where = `domains[${i}]`;
  if (!isRecord(o)) throw bad(`${where} must be an object { name, memory, vcpus?, viommu?, devices? } or xl.cfg text`);
  unknownKeys(o, KNOWN_DOMAIN_KEYS, where);
  const { name, memory, vcpus = 1, viommu = 'none', devices = [] } = o;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw bad(`${where}.name must be 1-64 characters of [A-Za-z0-9_.-] starting with a letter or digit, got ${JSON.stringify(name)}`);
  }
  const at = `domain "${name}"`;
  if (typeof memory !== 'number' && typeof memory !== 'string') throw bad(`${at}: memory is required (bytes, or a string like "256M")`);
  const bytes = parseSize(memory, { what: `${at} memory`, multipleOf: MiB, min: MiB, max: GUEST_RAM_MAX });
  if (!Number.isInteger(vcpus) || (vcpus as number) < 1 || (vcpus as number) > GUEST_MAX_VCPUS) {
    throw bad(`${at}: vcpus must be a whole number from 1 to ${GUEST_MAX_VCPUS}, got ${JSON.stringify(vcpus)}`);
  }
  if (typeof viommu !== 'string' || !isViommuTypeName(viommu)) {
    throw bad(`${at}: viommu must be one of ${viommuTypeNames().map((n) => `"${n}"`).join(', ')}, got ${JSON.stringify(viommu)}`);
  }
  if (!Array.isArray(devices)) throw bad(`${at}: devices must be an array of { name, sid }`);
  const devs = devices.map((d: unknown, j: number) => {
    if (!isRecord(d) || typeof d['name'] !== 'string' || !/^[A-Za-z][A-Za-z0-9._+-]{0,30}$/.test(d['name'])) {
      throw bad(`${at}: devices[${j}].name must be a device-tree node name (a letter, then [A-Za-z0-9._+-], at most 31 characters)`);
    }
    const sid = d['sid'];
    if (typeof sid !== 'number' || !Number.isInteger(sid) || sid < 0 || sid > 0xffff_ffff) {
      throw bad(`${at}: devices[${j}].sid (device "${d['name']}") must be a StreamID, a whole number >= 0, got ${JSON.stringify(sid)}`);
    }
    unknownKeys(d, ['name', 'sid'], `${at} devices[${j}]`);
    return { name: d['name'], sid };
  });
  return { name, memory: bytes, vcpus: vcpus as number, viommu, devices: devs };
}

/** Checks and normalises createSystem()'s options; throws the first problem as a VsmmuError. */
export function normaliseOptions(options: unknown): SystemConfig {
  const o = options ?? {};
  if (!isRecord(o)) throw bad('createSystem(options): options must be an object');
  unknownKeys(o, KNOWN_SYSTEM_KEYS, 'createSystem options');
  const memory = parseSize((o['memory'] ?? DEFAULT_MEMORY) as number | string, { what: 'memory', multipleOf: 64 * 1024 });
  const xen = o['xen'] ?? {};
  if (!isRecord(xen)) throw bad('xen must be an object { cmdline }');
  unknownKeys(xen, ['cmdline'], 'xen');
  const raw = xen['cmdline'] ?? DEFAULT_CMDLINE;
  if (typeof raw !== 'string') throw bad(`xen.cmdline must be a string like "viommu=1", got ${JSON.stringify(raw)}`);
  const cmdline = parseXenCmdline(raw);
  const smmu = o['smmu'] ?? {};
  if (!isRecord(smmu)) throw bad('smmu must be an object of SMMU features');
  unknownKeys(smmu, Object.keys(DEFAULT_FEATURES), 'smmu');
  const guestTimeoutMs = o['guestTimeoutMs'] ?? 30_000;
  if (typeof guestTimeoutMs !== 'number' || !(guestTimeoutMs > 0)) throw bad('guestTimeoutMs must be a number of milliseconds above 0');

  const list = o['domains'] ?? [];
  if (!Array.isArray(list)) throw bad('domains must be an array of domain objects or xl.cfg texts');
  const warnings: string[] = cmdline.unknown.map((u) => `Xen command line: unknown option "${u}" ignored`);
  const domains = list.map((d: unknown, i: number) => {
    if (typeof d !== 'string') return domainFromObject(d, i);
    const parsed = parseXlCfgFull(d, `domains[${i}]`);
    warnings.push(...parsed.warnings);
    return parsed.config;
  });
  const features = { ...DEFAULT_FEATURES, ...smmu } as SmmuFeatures;
  const errors = validateSystemConfig(domains, cmdline, { sidBits: features.sidBits });
  const first = errors[0];
  if (first) {
    if (errors.length > 1) first.message += ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''}: ${errors.slice(1).map((e) => e.code).join(', ')})`;
    throw first;
  }
  const ram = domains.reduce((n, d) => n + d.memory, 0);
  if (ram > memory - XEN_HEAP_BASE - 16 * MiB) {
    throw new VsmmuError('EVSMMU_NOMEM', `the domains need ${ram / MiB} MiB of RAM but host memory is ${memory / MiB} MiB (Xen keeps ${XEN_HEAP_BASE / MiB + 16} MiB for itself): raise memory or shrink the domains`, { ram, memory });
  }
  return { memory, cmdline, domains, smmu: smmu as Partial<SmmuFeatures>, guestTimeoutMs, warnings };
}
