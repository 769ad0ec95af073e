// createSystem()'s options: what a user may pass, checked up front with coded errors that
// say what to fix, and normalised into the typed configuration the actors take.
import type { SmmuFeatures } from '../arch/features.ts';
import { DEFAULT_FEATURES, OAS_BITS } from '../arch/features.ts';
import { MAX_MEMORY_SIZE } from '../mem/phys.ts';
import { parseSize, MiB } from '../mem/size.ts';
import { VsmmuError } from '../errors.ts';
import { checkSimOptions, type SimOptions } from '../sim/scheduler.ts';
import { parseXenCmdline, type XenCmdline } from '../xen/cmdline.ts';
import { GUEST_MAX_VCPUS, GUEST_RAM_MAX } from '../xen/layout.ts';
import { DEFAULT_PROFILE, isXenProfileName, XEN_PROFILE_NAMES, xenProfile, type XenProfileName } from '../xen/profile.ts';
import { isViommuTypeName, viommuTypeNames } from '../xen/viommu.ts';
import { capMax, parseXlCfgFull, validateSystemConfig, type DomainConfig } from '../xen/xlcfg.ts';
import { hostDeviceTree, hostDevices } from '../xen/hostdt.ts';
import { resolvePassthrough } from '../xen/passthrough.ts';
import { readDtFile } from '../dt/file.ts';
import type { DtNode } from '../dt/dts.ts';

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
  /**
   * CPU cap, % of one physical CPU, as Xen's credit scheduler takes it (`xl sched-credit -c`,
   * xl.cfg `cap=`): 0 (default) for none, at most 100 per vCPU. Enforced on threads: the
   * vCPU parks once it used its budget of each 10 ms period (docs/api.md).
   */
  readonly cap?: number;
}

/** xl.cfg text and the file it came from: messages then say `guest.cfg:2:10`. */
export interface XlCfgFile {
  readonly file: string;
  readonly xlcfg: string;
}

/**
 * How the SMMU's and Xen's threads are scheduled against the guests' (createSystem's
 * `priority`): 'hardware-first' raises theirs (src/runtime/priority.ts), 'equal' leaves all
 * at the process's.
 */
export type ThreadPriority = 'hardware-first' | 'equal';
/** The choices, the default first. */
export const THREAD_PRIORITIES: readonly ThreadPriority[] = ['hardware-first', 'equal'];

/**
 * Where the SMMU's thread runs (createSystem's `smmuCpu`): 'shared' with every other thread,
 * or 'dedicated': a host CPU of its own, the guests and Xen on the others (src/runtime/priority.ts).
 */
export type SmmuCpu = 'shared' | 'dedicated';
/** The choices, the default first. */
export const SMMU_CPUS: readonly SmmuCpu[] = ['shared', 'dedicated'];

export interface SystemOptions {
  /** Host physical memory: bytes or a string like "512M", 32M..16G (default "512M"). */
  readonly memory?: number | string;
  /** Xen's command line (default "viommu=1": vIOMMU support on, unlike Xen's own default). */
  readonly xen?: {
    readonly cmdline?: string;
    /**
     * Xen's policy (docs/profiles.md): 'hardened' (default), 'rfc' (the 2022 series as
     * posted, its guest-triggerable panics included) or 'v3' (the 2026 re-post).
     */
    readonly profile?: XenProfileName;
  };
  /** Each domain as an object, as xl.cfg text, or as xl.cfg text with its file name. */
  readonly domains?: readonly (DomainOptions | string | XlCfgFile)[];
  /**
   * Features of the physical SMMU (default: stage 1 + 2 + nesting, 2-level tables, 16-bit
   * SIDs), and `iotlbEntries`: the size of its IOTLB (an implementation choice, not in the
   * ID registers; default 2048).
   */
  readonly smmu?: SmmuSystemOptions;
  /**
   * A guest control call not answered within this bound marks the guest hung: 1..2^31-1 ms
   * (setTimeout's range), or Infinity for no bound (default 30 s).
   */
  readonly guestTimeoutMs?: number;
  /**
   * Sim mode: every actor on the calling thread under a seeded scheduler with virtual time
   * (`{ seed, strategy?: 'random' | 'pct' | 'round-robin', depth?, pctSteps?, stepUs?,
   * maxWaitSteps? }`): the same seed and program give the same run. Absent: worker threads,
   * unless the environment says VSMMU_SIM=SEED[:STRATEGY[:DEPTH]]; false: worker threads.
   */
  readonly sim?: SimOptions | false;
  /**
   * On threads, how the SMMU's and Xen's threads are scheduled against the guests':
   * 'hardware-first' (default) runs them 5 nice steps above the guests' (the calling
   * thread's nice value), as hardware and the hypervisor are never descheduled for a vCPU;
   * this needs CAP_SYS_NICE or root, and without it they run at the guests' priority and
   * `system.priority` says 'equal'. 'equal' leaves every thread at the process's priority.
   * Sim mode: ignored (one thread).
   */
  readonly priority?: ThreadPriority;
  /**
   * On threads, where the SMMU's thread runs: 'shared' (default) with every thread of the
   * process, or 'dedicated': bound to the last CPU the process may use, with the guests and
   * Xen bound to the others, as the SMMU on the machine being emulated is silicon of its own.
   * It needs 2 CPUs or more and util-linux's `taskset`; without them every thread shares
   * and `system.smmuCpu` is null. Faster DMA with many guests, slower traps on few CPUs
   * (docs/performance.md, "A CPU for the SMMU"). Sim mode: ignored (one thread).
   */
  readonly smmuCpu?: SmmuCpu;
}

/** createSystem()'s `smmu`: architectural features plus the implementation's cache sizes. */
export type SmmuSystemOptions = Partial<SmmuFeatures> & {
  /** IOTLB entries, 1..IOTLB_ENTRIES_MAX (default 2048); small ones make DMA walk-heavy. */
  readonly iotlbEntries?: number;
};

export const DEFAULT_IOTLB_ENTRIES = 2048;
export const IOTLB_ENTRIES_MAX = 1 << 20;

export interface SystemConfig {
  readonly memory: number;
  readonly cmdline: XenCmdline;
  readonly domains: readonly DomainConfig[];
  /** The host device tree (dtdev paths were resolved against it). */
  readonly hostTree: DtNode;
  readonly smmu: Partial<SmmuFeatures>;
  /** The SMMU's IOTLB entries (null: its default). */
  readonly iotlbEntries: number | null;
  readonly guestTimeoutMs: number;
  readonly sim: SimOptions | null;
  readonly profile: XenProfileName;
  readonly priority: ThreadPriority;
  readonly smmuCpu: SmmuCpu;
  readonly warnings: readonly string[];
}

export const DEFAULT_MEMORY = 512 * MiB;
export const DEFAULT_CMDLINE = 'viommu=1';
/** Host memory below this is left to "firmware": Xen's heap starts here. */
export const XEN_HEAP_BASE = 4 * MiB;
/** What Xen keeps for itself besides the stream table (queues, p2m tables, vSMMU state). */
export const XEN_RESERVE = 16 * MiB;
export const MIN_SYSTEM_MEMORY = 32 * MiB;
/** setTimeout's largest delay: longer ones fire after 1 ms. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
export const DEFAULT_GUEST_TIMEOUT_MS = 30_000;

const KNOWN_SYSTEM_KEYS = ['memory', 'xen', 'domains', 'smmu', 'guestTimeoutMs', 'sim', 'priority', 'smmuCpu'];
const KNOWN_DOMAIN_KEYS = ['name', 'memory', 'vcpus', 'viommu', 'devices', 'cap'];

/** Option `option`: one of `known` (absent: the first). */
function choice<T extends string>(v: unknown, known: readonly T[], option: string): T {
  const x = v ?? known[0];
  if (!known.includes(x as T)) throw bad(`${option} must be ${known.map((k) => `"${k}"`).join(' or ')}, got ${JSON.stringify(x)}`, { option, known });
  return x as T;
}

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
  if (!isRecord(o)) throw bad(`${where} must be an object { name, memory, vcpus?, viommu?, devices?, cap? } or xl.cfg text`);
  unknownKeys(o, KNOWN_DOMAIN_KEYS, where);
  const { name, memory, vcpus = 1, viommu = 'none', devices = [], cap = 0 } = o;
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
  const max = capMax(vcpus as number);
  if (typeof cap !== 'number' || !Number.isInteger(cap) || cap < 0 || cap > max) {
    throw bad(`${at}: cap must be a whole percentage of one physical CPU from 0 (no cap) to ${max} (100 per vCPU), got ${JSON.stringify(cap)}`, { option: 'cap', min: 0, max });
  }
  return { name, memory: bytes, vcpus: vcpus as number, viommu, devices: devs, ...(cap !== 0 ? { cap } : {}) };
}

// --- the physical SMMU's features ----------------------------------------------------------

/** Inclusive range of a numeric feature, and its only legal values when not every one is. */
type FeatureRange = readonly [min: number, max: number, only?: readonly number[]];

type NumericFeature = { [K in keyof SmmuFeatures]: SmmuFeatures[K] extends number ? K : never }[keyof SmmuFeatures];

/** What the architecture allows for each numeric feature (SMMUV3-FACTS §1.3-§1.7). */
const FEATURE_RANGES: Readonly<Record<NumericFeature, FeatureRange>> = {
  ttf: [1, 3], // 0 is reserved
  httu: [0, 3],
  ttendian: [0, 3, [0, 2, 3]], // 1 is reserved
  stallModel: [0, 2],
  termModel: [0, 1],
  sidBits: [0, 32],
  ssidBits: [0, 20],
  priqLog2: [0, 19],
  evtqLog2: [0, 19],
  cmdqLog2: [0, 19],
  baVatos: [0, 0x3ff],
  bbml: [0, 2],
  idr4: [0, 0xffff_ffff],
  oas: [32, 56, OAS_BITS],
  vax: [0, 2],
  stallMax: [0, 0xffff],
  iidr: [0, 0xffff_ffff],
  aidr: [0, 0xff],
};

function isNumericFeature(k: string): k is NumericFeature {
  return Object.hasOwn(FEATURE_RANGES, k);
}

function checkIotlbEntries(v: unknown): number | null {
  if (v === undefined) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > IOTLB_ENTRIES_MAX) {
    throw bad(`smmu.iotlbEntries must be a whole number from 1 to ${IOTLB_ENTRIES_MAX}, got ${JSON.stringify(v)}`, { option: 'smmu.iotlbEntries', min: 1, max: IOTLB_ENTRIES_MAX });
  }
  return v;
}

/** Checks `smmu` against the architecture and against what Xen's SMMU driver needs. */
function checkSmmuFeatures(smmu: Record<string, unknown>): SmmuFeatures {
  for (const [k, v] of Object.entries(smmu)) {
    if (isNumericFeature(k)) {
      const [min, max, only] = FEATURE_RANGES[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max || (only !== undefined && !only.includes(v))) {
        const allowed = only !== undefined ? `one of ${only.join(', ')}` : `a whole number from ${min} to ${max}`;
        throw bad(`smmu.${k} must be ${allowed}, got ${JSON.stringify(v)}`, { option: `smmu.${k}`, min, max });
      }
    } else if (typeof v !== 'boolean') {
      throw bad(`smmu.${k} must be true or false, got ${JSON.stringify(v)}`, { option: `smmu.${k}` });
    }
  }
  const f = { ...DEFAULT_FEATURES, ...smmu } as SmmuFeatures;
  if (f.sidBits >= 7 && !f.stLevel2) {
    throw bad(`smmu.sidBits = ${f.sidBits} needs smmu.stLevel2 = true (the architecture requires 2-level stream tables from 7 StreamID bits)`, { option: 'smmu.stLevel2' });
  }
  // Xen's driver refuses such an SMMU (SmmuDriver.probe); say so before any thread starts.
  const xenNeeds: [boolean, string][] = [
    [f.s2, 'smmu.s2 = true (stage 2)'],
    [(f.ttf & 2) !== 0, 'smmu.ttf = 2 or 3 (AArch64 tables)'],
    [f.gran4k, 'smmu.gran4k = true'],
    [f.cmdqLog2 >= 2, 'smmu.cmdqLog2 >= 2'],
    [!f.rel && !f.queuesPreset && !f.tablesPreset, 'smmu.rel, smmu.queuesPreset and smmu.tablesPreset = false'],
  ];
  const missing = xenNeeds.filter(([ok]) => !ok).map(([, what]) => what);
  if (missing.length > 0) throw bad(`Xen's SMMU driver needs ${missing.join(', ')}`, { option: 'smmu' });
  return f;
}

/** Bytes of the stream table Xen allocates for `f` (SmmuDriver.allocStrtab: SPLIT = 8). */
function streamTableBytes(f: SmmuFeatures): number {
  return f.stLevel2 && f.sidBits > 8 ? 8 * 2 ** (f.sidBits - 8) : 64 * 2 ** f.sidBits;
}

function checkGuestTimeout(v: unknown): number {
  if (v === undefined) return DEFAULT_GUEST_TIMEOUT_MS;
  if (v === Infinity) return v;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || v > MAX_TIMEOUT_MS) {
    throw bad(`guestTimeoutMs must be a number of milliseconds from 1 to ${MAX_TIMEOUT_MS} (2^31-1, setTimeout's limit), or Infinity for no limit; got ${String(v)}`, { option: 'guestTimeoutMs', min: 1, max: MAX_TIMEOUT_MS });
  }
  return v;
}

function isXlCfgFile(d: unknown): d is Record<string, unknown> {
  return isRecord(d) && 'xlcfg' in d;
}

function domainFromXlCfg(text: unknown, file: unknown, i: number): { config: DomainConfig; warnings: readonly string[] } {
  if (typeof text !== 'string') throw bad(`domains[${i}].xlcfg must be xl.cfg text (a string)`);
  if (file !== undefined && typeof file !== 'string') throw bad(`domains[${i}].file must be a file name (a string)`);
  return parseXlCfgFull(text, file ?? `domains[${i}]`);
}

/** Checks and normalises createSystem()'s options; throws the first problem as a VsmmuError. */
/**
 * VSMMU_SIM=SEED[:STRATEGY[:DEPTH]] runs every system created without a `sim` option in sim
 * mode, so a program (or a test suite) written against the API runs there unchanged.
 */
export function simFromEnv(text: string | undefined): SimOptions | null {
  if (text === undefined || text.trim() === '') return null;
  const [seed, strategy, depth] = text.trim().split(':');
  const whole = (t: string | undefined): number | undefined => (t === undefined || t === '' ? undefined : /^\d+$/.test(t) ? Number(t) : NaN);
  const raw = { seed: whole(seed), ...(strategy ? { strategy } : {}), ...(depth !== undefined ? { depth: whole(depth) } : {}) };
  try {
    return checkSimOptions(raw);
  } catch (e) {
    throw new VsmmuError('EVSMMU_BADOPTIONS', `VSMMU_SIM="${text}": expected SEED[:STRATEGY[:DEPTH]], e.g. 42 or 42:pct:3 (${e instanceof Error ? e.message : String(e)})`);
  }
}

export function normaliseOptions(options: unknown): SystemConfig {
  const o = options ?? {};
  if (!isRecord(o)) throw bad('createSystem(options): options must be an object');
  unknownKeys(o, KNOWN_SYSTEM_KEYS, 'createSystem options');
  const memory = parseSize((o['memory'] ?? DEFAULT_MEMORY) as number | string, { what: 'memory', multipleOf: 64 * 1024, min: MIN_SYSTEM_MEMORY, max: MAX_MEMORY_SIZE });
  const xen = o['xen'] ?? {};
  if (!isRecord(xen)) throw bad('xen must be an object { cmdline, profile }');
  unknownKeys(xen, ['cmdline', 'profile'], 'xen');
  const profile = xen['profile'] ?? DEFAULT_PROFILE;
  if (!isXenProfileName(profile)) {
    throw bad(`xen.profile must be one of ${XEN_PROFILE_NAMES.map((n) => `"${n}"`).join(', ')}, got ${JSON.stringify(profile)}`, { option: 'xen.profile', known: XEN_PROFILE_NAMES });
  }
  const raw = xen['cmdline'] ?? DEFAULT_CMDLINE;
  if (typeof raw !== 'string') throw bad(`xen.cmdline must be a string like "viommu=1", got ${JSON.stringify(raw)}`);
  const cmdline = parseXenCmdline(raw);
  const smmu = o['smmu'] ?? {};
  if (!isRecord(smmu)) throw bad('smmu must be an object of SMMU features');
  unknownKeys(smmu, [...Object.keys(DEFAULT_FEATURES), 'iotlbEntries'], 'smmu');
  const { iotlbEntries: iotlbRaw, ...featureOpts } = smmu;
  const iotlbEntries = checkIotlbEntries(iotlbRaw);
  const features = checkSmmuFeatures(featureOpts);
  const guestTimeoutMs = checkGuestTimeout(o['guestTimeoutMs']);
  const sim = o['sim'] === false ? null : o['sim'] === undefined ? simFromEnv(process.env['VSMMU_SIM']) : checkSimOptions(o['sim']);
  const priority = choice(o['priority'], THREAD_PRIORITIES, 'priority');
  const smmuCpu = choice(o['smmuCpu'], SMMU_CPUS, 'smmuCpu');

  const list = o['domains'] ?? [];
  if (!Array.isArray(list)) throw bad('domains must be an array of domain objects or xl.cfg texts');
  const warnings: string[] = cmdline.unknown.map((u) => `Xen command line: unknown option "${u}" ignored`);
  const parsed = list.map((d: unknown, i: number) => {
    if (typeof d !== 'string' && !isXlCfgFile(d)) return domainFromObject(d, i);
    if (typeof d !== 'string') unknownKeys(d, ['file', 'xlcfg'], `domains[${i}]`);
    const parsed = typeof d === 'string' ? domainFromXlCfg(d, undefined, i) : domainFromXlCfg(d['xlcfg'], d['file'], i);
    warnings.push(...parsed.warnings);
    return parsed.config;
  });
  // xl.cfg passthrough keys (dtdev, iomem, irqs, device_tree) against the host device tree.
  const host = { tree: hostDeviceTree(parsed, { memory, xenBootargs: cmdline.raw }), devices: hostDevices(parsed) };
  const domains = parsed.map((d) => resolvePassthrough(d, host, xenProfile(profile), readDtFile));
  const errors = validateSystemConfig(domains, cmdline, { sidBits: features.sidBits });
  const first = errors[0];
  if (first) {
    if (errors.length > 1) first.message += ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''}: ${errors.slice(1).map((e) => e.code).join(', ')})`;
    throw first;
  }
  const ram = domains.reduce((n, d) => n + d.memory, 0);
  const strtab = streamTableBytes(features);
  const xenOwn = XEN_HEAP_BASE + XEN_RESERVE + strtab;
  if (ram > memory - xenOwn) {
    const table = strtab >= MiB ? `, ${strtab / MiB} MiB of it the stream table for smmu.sidBits = ${features.sidBits}` : '';
    throw new VsmmuError('EVSMMU_NOMEM', `the domains need ${ram / MiB} MiB of RAM but host memory is ${memory / MiB} MiB (Xen keeps ${Math.ceil(xenOwn / MiB)} MiB for itself${table}): raise memory, shrink the domains${table === '' ? '' : ' or lower smmu.sidBits'}`, { ram, memory, xen: xenOwn });
  }
  return { memory, cmdline, domains, hostTree: host.tree, smmu: featureOpts as Partial<SmmuFeatures>, iotlbEntries, guestTimeoutMs, sim, profile, priority, smmuCpu, warnings };
}
