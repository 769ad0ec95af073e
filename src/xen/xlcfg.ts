// xl.cfg domain configuration files (the subset of xl's grammar this emulator needs) and the
// system-wide checks that relate several domains to each other and to the Xen command line.
//
// Grammar (libxlu's, tools/libs/util/libxlu_cfg_y.y): a file is a sequence of settings
//   key = value      key += value      (one per line, or separated by ';')
// where value is a number (decimal or 0x hex), a string in "..." or '...' (backslash escapes
// \n \t \\ \" \' \xHH \ooo, no newline inside), or a list [ atom, atom, ... ] of numbers and
// strings that may span lines and may end with a trailing comma. '#' starts a comment. As in
// libxlu, an atom is text: a numeric key accepts "512" and a string key accepts 512. A key
// given twice keeps the last value (xl does the same; we warn). `key += [ ... ]` appends to
// a list (or starts one).
//
// Keys this emulator reads:
//   name    = "guest1"              required; 1-64 of [A-Za-z0-9_.-], starting alphanumeric
//   memory  = 512                   required; MiB (xl's unit), 1 .. GUEST_RAM_MAX
//   vcpus   = 2                     default 1; 1 .. GUEST_MAX_VCPUS (128)
//   viommu  = "smmuv3"              default "none"; the series' xl option (patch 16)
//   cap     = 25                    default 0 (none); the domain's CPU cap, % of one physical
//             CPU, 0 .. 100 per vCPU (xl.cfg(5), credit2); enforced on threads
//   dmadev  = [ "name=dma0,sid=0x10", "name=dma1,sid=0x11,smmu=1" ]
//             DMA masters passed through to the domain, one string per device, written as
//             xl's own device specs (`vif = [ 'mac=..,bridge=..' ]`): comma-separated
//             key=value pairs. name = DT node name of the device (letter first, then
//             [A-Za-z0-9._+-], at most 31 chars); sid = its physical StreamID (decimal or 0x
//             hex); smmu = index of the physical SMMU it sits behind (default 0).
//             The short form of what follows: `dtdev` + a partial device tree in one line.
//   dtdev   = [ "/dma0@4001000000" ]  devices passed through, by their path in the host device
//             tree (`vsmmu dt --host`); each must have `iommus` (passthrough.ts resolves them)
//   iomem   = [ "4001000,1@5000" ]    host MMIO pages given to the domain, xl's
//             "MFN,NR_MFNS[@GFN]" in hex (0x optional); GFN defaults to MFN (1:1)
//   irqs    = [ 144 ]                 host interrupts (GIC INTIDs) routed to the domain
//   device_tree = "pt.dts"            partial device tree (DTS, or a DTB that dtc decompiles)
//             whose /passthrough nodes the guest's tree gets, `iommus` rewritten to the vSMMU
// Real xl keys that describe things this emulator does not model are accepted and ignored
// with a warning (IGNORED_XL_KEYS). Any other key is an error (EVSMMU_XLCFG_UNKNOWN_KEY).

import { VsmmuError } from '../errors.ts';
import type { DtNode } from '../dt/dts.ts';
import type { XenCmdline } from './cmdline.ts';
import { GUEST_MAX_VCPUS, GUEST_PASSTHROUGH_MAX_DEVS, GUEST_RAM_MAX } from './layout.ts';
import { isViommuTypeName, viommuTypeNames, type ViommuTypeName } from './viommu.ts';

const MiB = 1024 * 1024;

export interface DomainDevice {
  /** Device-tree node name of the device, unique within its domain. */
  readonly name: string;
  /** Physical StreamID. */
  readonly sid: number;
  /** Index of the physical SMMU the device sits behind (absent = 0). */
  readonly smmu?: number;
  /** Line of the xl.cfg entry that declared it, for messages. */
  readonly line?: number;
  /** Its path in the host device tree, when assigned with `dtdev` (absent: `dmadev`). */
  readonly path?: string;
}

/** One `iomem` entry: host page frames MFN..MFN+NR-1 mapped at guest frames GFN... */
export interface IomemRange {
  readonly mfn: number;
  readonly nr: number;
  readonly gfn: number;
  readonly line: number;
}

/** The passthrough keys of an xl.cfg as written (passthrough.ts checks them against the host). */
export interface PassthroughKeys {
  readonly dtdev: readonly { readonly path: string; readonly line: number }[];
  readonly iomem: readonly IomemRange[];
  readonly irqs: readonly { readonly irq: number; readonly line: number }[];
  readonly deviceTree: { readonly path: string; readonly line: number } | null;
}

export interface DomainConfig {
  readonly name: string;
  /** Guest RAM in bytes (xl.cfg gives MiB). */
  readonly memory: number;
  readonly vcpus: number;
  readonly viommu: ViommuTypeName;
  readonly devices: readonly DomainDevice[];
  /**
   * The domain's CPU cap, % of one physical CPU (xl.cfg `cap=`, `xl sched-credit -c`): 0 or
   * absent for none, at most 100 per vCPU (credit2's bound). Enforced on threads
   * (src/runtime/credit.ts).
   */
  readonly cap?: number;
  /** Where the config came from (file name), for messages. */
  readonly source?: string;
  /** `dtdev`, `iomem`, `irqs`, `device_tree` as written; absent when none is. */
  readonly passthrough?: PassthroughKeys;
  /**
   * The partial device tree's /passthrough node once resolved (passthrough.ts): its
   * `iommus` still name host SMMU phandles and pSIDs; the guest's tree rewrites them.
   */
  readonly partialDt?: DtNode;
}

export interface XlCfgParse {
  readonly config: DomainConfig;
  /** Non-fatal findings: ignored keys, repeated keys. */
  readonly warnings: readonly string[];
}

/** Keys this emulator interprets. */
export const XL_KEYS = ['name', 'memory', 'vcpus', 'viommu', 'cap', 'dmadev', 'dtdev', 'iomem', 'irqs', 'device_tree'] as const;

/** The largest cap of a domain with `vcpus` vCPUs: 100% of one physical CPU each (credit2). */
export function capMax(vcpus: number): number {
  return 100 * vcpus;
}

/**
 * Real xl.cfg keys (xl.cfg(5)) accepted and ignored: they configure parts of a guest this
 * emulator does not model (kernel images, consoles, virtual NICs and disks, CPU affinity,
 * lifecycle actions, ...).
 */
export const IGNORED_XL_KEYS: readonly string[] = [
  'type', 'builder', 'kernel', 'ramdisk', 'extra', 'cmdline', 'root', 'bootloader', 'bootloader_args',
  'pci', 'passthrough', 'disk', 'vif', 'vfb', 'vkb',
  'vdispl', 'vsnd', 'virtio', 'channel', 'serial', 'vuart', 'console', 'uuid', 'seclabel',
  'init_seclabel', 'maxmem', 'maxvcpus', 'cpus', 'cpus_soft', 'cpu_weight', 'cpu_cap', 'pool',
  'on_poweroff', 'on_reboot', 'on_watchdog', 'on_crash', 'on_soft_reset', 'gic_version', 'tee',
  'nr_spis', 'acpi', 'max_grant_frames', 'max_maptrack_frames', 'max_grant_version', 'p9',
  'trusted', 'driver_domain', 'vnuma', 'claim_mode', 'localtime', 'rtc_timeoffset',
];

// --- lexer / parser ----------------------------------------------------------------------

interface Atom {
  readonly kind: 'atom';
  readonly text: string;
  /** True for "..."/'...', false for a bare number. */
  readonly quoted: boolean;
  readonly line: number;
  readonly col: number;
}
interface List {
  readonly kind: 'list';
  readonly items: Atom[];
  readonly line: number;
  readonly col: number;
}
type Value = Atom | List;

interface Setting {
  readonly key: string;
  value: Value;
  readonly line: number;
  readonly col: number;
}

type Tok =
  | { t: 'id' | 'num' | 'str'; v: string; line: number; col: number }
  | { t: '=' | '+=' | '[' | ']' | ',' | ';' | 'nl' | 'eof'; v: string; line: number; col: number };

function where(file: string | undefined, line: number, col?: number): string {
  return `${file ?? 'xl.cfg'}:${line}${col === undefined ? '' : `:${col}`}`;
}

function syntax(file: string | undefined, line: number, col: number, msg: string): VsmmuError {
  return new VsmmuError('EVSMMU_XLCFG_SYNTAX', `${where(file, line, col)}: syntax error: ${msg}`, { file, line, col });
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };

function lex(src: string, file: string | undefined): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const col = (): number => i - lineStart + 1;
  while (i < src.length) {
    const ch = src[i] ?? '';
    const c0 = col();
    if (ch === '\n') {
      toks.push({ t: 'nl', v: '\n', line, col: c0 });
      i++;
      line++;
      lineStart = i;
    } else if (ch === ' ' || ch === '\t' || ch === '\r') i++;
    else if (ch === '#') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (ch === '"' || ch === "'") {
      let v = '';
      i++;
      for (;;) {
        const d = src[i];
        if (d === undefined || d === '\n') throw syntax(file, line, c0, `string starting here is not closed with ${ch} before the end of the line`);
        i++;
        if (d === ch) break;
        if (d !== '\\') {
          v += d;
          continue;
        }
        const e = src[i] ?? '';
        const hexm = /^x([0-9a-fA-F]{2})/.exec(src.slice(i, i + 3));
        const octm = /^[0-7]{1,3}/.exec(src.slice(i, i + 3));
        if (Object.hasOwn(ESCAPES, e)) {
          v += ESCAPES[e] ?? '';
          i++;
        } else if (hexm !== null) {
          v += String.fromCharCode(parseInt(hexm[1] ?? '0', 16));
          i += 3;
        } else if (octm !== null) {
          v += String.fromCharCode(parseInt(octm[0], 8));
          i += octm[0].length;
        } else {
          throw syntax(file, line, i - lineStart, `unknown escape "\\${e}" in string: use \\n \\t \\\\ \\" \\' \\xHH or \\ooo`);
        }
      }
      toks.push({ t: 'str', v, line, col: c0 });
    } else if (/[0-9]/.test(ch)) {
      const m = /^[0-9A-Za-z_.]+/.exec(src.slice(i));
      const v = m?.[0] ?? ch;
      toks.push({ t: 'num', v, line, col: c0 });
      i += v.length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(src.slice(i));
      const v = m?.[0] ?? ch;
      toks.push({ t: 'id', v, line, col: c0 });
      i += v.length;
    } else if (ch === '+' && src[i + 1] === '=') {
      toks.push({ t: '+=', v: '+=', line, col: c0 });
      i += 2;
    } else if (ch === '=' || ch === '[' || ch === ']' || ch === ',' || ch === ';') {
      toks.push({ t: ch, v: ch, line, col: c0 });
      i++;
    } else {
      throw syntax(file, line, c0, `unexpected character "${ch}"`);
    }
  }
  toks.push({ t: 'eof', v: '', line, col: col() });
  return toks;
}

function parseSettings(src: string, file: string | undefined): { settings: Setting[]; warnings: string[] } {
  const toks = lex(src, file);
  let k = 0;
  const peek = (): Tok => toks[k] ?? toks[toks.length - 1] ?? { t: 'eof', v: '', line: 1, col: 1 };
  const next = (): Tok => {
    const t = peek();
    if (k < toks.length - 1) k++;
    return t;
  };
  const describe = (t: Tok): string => (t.t === 'nl' ? 'end of line' : t.t === 'eof' ? 'end of file' : `"${t.v}"`);
  const skipNl = (): void => {
    while (peek().t === 'nl') next();
  };
  const atom = (t: Tok): Atom | null =>
    t.t === 'str' || t.t === 'num' ? { kind: 'atom', text: t.v, quoted: t.t === 'str', line: t.line, col: t.col } : null;

  const settings: Setting[] = [];
  const warnings: string[] = [];
  for (;;) {
    const t = next();
    if (t.t === 'eof') break;
    if (t.t === 'nl' || t.t === ';') continue;
    if (t.t !== 'id') throw syntax(file, t.line, t.col, `expected a setting name (key = value), found ${describe(t)}`);
    const op = next();
    if (op.t !== '=' && op.t !== '+=') throw syntax(file, op.line, op.col, `expected "=" after "${t.v}", found ${describe(op)}`);
    const vt = next();
    let value: Value;
    const a = atom(vt);
    if (a !== null) value = a;
    else if (vt.t === '[') {
      const items: Atom[] = [];
      skipNl();
      while (peek().t !== ']') {
        const it = next();
        const ia = atom(it);
        if (ia === null) {
          const hint = it.t === '[' ? ' (lists do not nest)' : it.t === 'eof' ? ` (the list opened at line ${vt.line} is not closed with "]")` : '';
          throw syntax(file, it.line, it.col, `expected a string or a number in the list, found ${describe(it)}${hint}`);
        }
        items.push(ia);
        skipNl();
        const sep = peek();
        if (sep.t === ',') {
          next();
          skipNl();
        } else if (sep.t !== ']') {
          throw syntax(file, sep.line, sep.col, `expected "," or "]" after a list item, found ${describe(sep)}`);
        }
      }
      next();
      value = { kind: 'list', items, line: vt.line, col: vt.col };
    } else {
      const hint = vt.t === 'id' ? ` (strings need quotes: ${t.v} ${op.v} "${vt.v}")` : '';
      throw syntax(file, vt.line, vt.col, `expected a value (number, "string" or [ list ]) after "${t.v} ${op.v}", found ${describe(vt)}${hint}`);
    }
    const end = next();
    if (end.t !== 'nl' && end.t !== ';' && end.t !== 'eof') {
      throw syntax(file, end.line, end.col, `expected the end of the line after the value of "${t.v}", found ${describe(end)}`);
    }
    const prev = settings.find((s) => s.key === t.v);
    if (op.t === '+=') {
      if (value.kind !== 'list' || (prev !== undefined && prev.value.kind !== 'list')) {
        throw syntax(file, t.line, t.col, `"${t.v} +=" appends a [ list ] to a list${prev === undefined ? '' : ` (line ${prev.line} sets a single value)`}: use "=" for single values`);
      }
      if (prev === undefined) settings.push({ key: t.v, value, line: t.line, col: t.col });
      else if (prev.value.kind === 'list') prev.value = { ...prev.value, items: [...prev.value.items, ...value.items] };
    } else {
      if (prev !== undefined) {
        warnings.push(`${where(file, t.line)}: "${t.v}" is set again (first at line ${prev.line}); the last value wins, as in xl`);
        settings.splice(settings.indexOf(prev), 1);
      }
      settings.push({ key: t.v, value, line: t.line, col: t.col });
    }
  }
  return { settings, warnings };
}

// --- interpretation ----------------------------------------------------------------------

function badValue(file: string | undefined, key: string, v: { line: number; col: number }, msg: string, details: Record<string, unknown> = {}): VsmmuError {
  return new VsmmuError('EVSMMU_XLCFG_BAD_VALUE', `${where(file, v.line, v.col)}: bad value for "${key}": ${msg}`, { file, key, line: v.line, col: v.col, ...details });
}

function levenshtein(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] ?? 0;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j] ?? 0;
      d[j] = Math.min(cur + 1, (d[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length] ?? 0;
}

/** Unsigned integer as xl reads it (strtol base 0 minus octal): decimal or 0x hex. */
export function parseXlInteger(text: string): number | null {
  const t = text.trim();
  if (/^0[xX][0-9a-fA-F]+$/.test(t) || /^(0|[1-9][0-9]*)$/.test(t)) {
    const v = Number(t);
    return Number.isSafeInteger(v) ? v : null;
  }
  return null;
}

function atomOf(file: string | undefined, s: Setting): Atom {
  if (s.value.kind !== 'atom') throw badValue(file, s.key, s.value, 'expected a single value, not a [ list ]');
  return s.value;
}

function intSetting(file: string | undefined, s: Setting, min: number, max: number, unit: string): number {
  const a = atomOf(file, s);
  const v = parseXlInteger(a.text);
  if (v === null) throw badValue(file, s.key, a, `"${a.text}" is not a whole number (write decimal like 512 or hex like 0x200)`, { value: a.text });
  if (v < min || v > max) throw badValue(file, s.key, a, `${v} is out of range: allowed ${min} to ${max}${unit}`, { value: v, min, max });
  return v;
}

const DOMAIN_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** DT node names: letter first, then [A-Za-z0-9._+-]; the unit address is ours to add. */
const DEVICE_NAME_RE = /^[A-Za-z][A-Za-z0-9._+-]{0,30}$/;

function parseDevice(file: string | undefined, a: Atom, index: number): DomainDevice {
  const fields = new Map<string, string>();
  for (const part of a.text.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq < 0) throw badValue(file, 'dmadev', a, `entry ${index + 1} "${a.text}": "${p}" is not key=value (expected e.g. "name=dma0,sid=0x10")`);
    const key = p.slice(0, eq).trim();
    if (key !== 'name' && key !== 'sid' && key !== 'smmu') {
      throw badValue(file, 'dmadev', a, `entry ${index + 1} "${a.text}": unknown device key "${key}" (known: name, sid, smmu)`, { deviceKey: key });
    }
    if (fields.has(key)) throw badValue(file, 'dmadev', a, `entry ${index + 1} "${a.text}": "${key}" is given twice`);
    fields.set(key, p.slice(eq + 1).trim());
  }
  const name = fields.get('name');
  if (name === undefined) throw badValue(file, 'dmadev', a, `entry ${index + 1} "${a.text}": missing name=<device name>`);
  if (!DEVICE_NAME_RE.test(name)) {
    throw badValue(file, 'dmadev', a, `entry ${index + 1}: device name "${name}" is not a valid device-tree node name (a letter, then letters, digits, . _ + -; at most 31 characters)`, { device: name });
  }
  const sidText = fields.get('sid');
  if (sidText === undefined) throw badValue(file, 'dmadev', a, `entry ${index + 1} "${a.text}": missing sid=<StreamID> (decimal or 0x hex)`, { device: name });
  const sid = parseXlInteger(sidText);
  if (sid === null || sid > 0xffff_ffff) {
    throw badValue(file, 'dmadev', a, `entry ${index + 1}: sid "${sidText}" of device "${name}" is not a StreamID (an integer 0..0xffffffff, decimal or 0x hex)`, { device: name, value: sidText });
  }
  const smmuText = fields.get('smmu');
  if (smmuText === undefined) return { name, sid, line: a.line };
  const smmu = parseXlInteger(smmuText);
  if (smmu === null || smmu > 255) {
    throw badValue(file, 'dmadev', a, `entry ${index + 1}: smmu "${smmuText}" of device "${name}" is not a physical SMMU index (0..255)`, { device: name, value: smmuText });
  }
  return { name, sid, smmu, line: a.line };
}

function listOf(file: string | undefined, s: Setting, example: string): Atom[] {
  if (s.value.kind !== 'list') throw badValue(file, s.key, s.value, `expected a list: ${s.key} = ${example}`);
  return s.value.items;
}

/** An xl hex number: digits with an optional 0x (xl reads them with %x). */
function xlHex(text: string): number | null {
  const m = /^(?:0[xX])?([0-9a-fA-F]{1,13})$/.exec(text.trim());
  return m === null ? null : parseInt(m[1] ?? '', 16);
}

/** 2^52 page frames: every address below 2^64 (and 2^53 - 1 stays exact). */
const MAX_FRAMES = 2 ** 40;

function parseIomem(file: string | undefined, a: Atom, i: number): IomemRange {
  const m = /^([^,@]*),([^,@]*)(?:@([^,@]*))?$/.exec(a.text.trim());
  const mfn = m === null ? null : xlHex(m[1] ?? '');
  const nr = m === null ? null : xlHex(m[2] ?? '');
  const gfn = m?.[3] === undefined ? mfn : xlHex(m[3]);
  if (mfn === null || nr === null || gfn === null || nr < 1 || mfn + nr > MAX_FRAMES || gfn + nr > MAX_FRAMES) {
    throw badValue(file, 'iomem', a, `entry ${i + 1} "${a.text}" is not "MFN,NR_MFNS[@GFN]" (hex page frame numbers, at least one page, e.g. "4001000,1@5000")`, { value: a.text });
  }
  return { mfn, nr, gfn, line: a.line };
}

function parsePassthrough(file: string | undefined, byKey: ReadonlyMap<string, Setting>): PassthroughKeys | undefined {
  const [dtS, ioS, irqS, treeS] = ['dtdev', 'iomem', 'irqs', 'device_tree'].map((k) => byKey.get(k));
  if (dtS === undefined && ioS === undefined && irqS === undefined && treeS === undefined) return undefined;
  const dtdev = dtS === undefined ? [] : listOf(file, dtS, '[ "/dma0@4001000000", ... ]').map((a, i) => {
    if (!a.quoted || !a.text.startsWith('/')) throw badValue(file, 'dtdev', a, `entry ${i + 1} must be a quoted absolute path in the host device tree like "/dma0@4001000000" (see vsmmu dt --host), found ${a.text}`, { value: a.text });
    return { path: a.text.length > 1 ? a.text.replace(/\/+$/, '') : a.text, line: a.line };
  });
  const iomem = ioS === undefined ? [] : listOf(file, ioS, '[ "4001000,1@5000", ... ]').map((a, i) => parseIomem(file, a, i));
  const irqs = irqS === undefined ? [] : listOf(file, irqS, '[ 144, ... ]').map((a, i) => {
    const irq = parseXlInteger(a.text);
    if (irq === null || irq < 32 || irq > 1019) throw badValue(file, 'irqs', a, `entry ${i + 1} "${a.text}" is not an SPI: a GIC INTID from 32 to 1019`, { value: a.text });
    return { irq, line: a.line };
  });
  let deviceTree: PassthroughKeys['deviceTree'] = null;
  if (treeS !== undefined) {
    const a = atomOf(file, treeS);
    if (!a.quoted || a.text === '') throw badValue(file, 'device_tree', a, 'expected the path of a partial device tree in quotes, like "passthrough.dts"');
    deviceTree = { path: a.text, line: a.line };
  }
  return { dtdev, iomem, irqs, deviceTree };
}

/** Parse an xl.cfg text into a DomainConfig plus warnings. Throws EXLCFG_* errors. */
export function parseXlCfgFull(text: string, file?: string): XlCfgParse {
  const { settings, warnings } = parseSettings(text, file);
  const known = new Set<string>(XL_KEYS);
  const ignored = new Set(IGNORED_XL_KEYS);
  const byKey = new Map<string, Setting>();
  for (const s of settings) {
    if (known.has(s.key)) byKey.set(s.key, s);
    else if (ignored.has(s.key)) warnings.push(`${where(file, s.line)}: "${s.key}" is an xl option this emulator does not model; ignored`);
    else {
      const all = [...XL_KEYS, ...IGNORED_XL_KEYS];
      const near = all.filter((k) => levenshtein(k, s.key) <= 2);
      const hint = near.length > 0 ? `did you mean ${near.map((k) => `"${k}"`).join(' or ')}? ` : '';
      throw new VsmmuError(
        'EVSMMU_XLCFG_UNKNOWN_KEY',
        `${where(file, s.line, s.col)}: unknown key "${s.key}": ${hint}keys read here are ${XL_KEYS.join(', ')}`,
        { file, key: s.key, line: s.line, col: s.col, suggestions: near },
      );
    }
  }

  const missing = (key: string, example: string): VsmmuError =>
    new VsmmuError('EVSMMU_XLCFG_MISSING_KEY', `${file ?? 'xl.cfg'}: missing required key "${key}": add a line like ${example}`, { file, key });

  const nameS = byKey.get('name');
  if (nameS === undefined) throw missing('name', 'name = "guest1"');
  const nameA = atomOf(file, nameS);
  if (!DOMAIN_NAME_RE.test(nameA.text)) {
    throw badValue(file, 'name', nameA, `"${nameA.text}" is not a domain name: use 1 to 64 of letters, digits, "_", ".", "-", starting with a letter or digit`, { value: nameA.text });
  }

  const memS = byKey.get('memory');
  if (memS === undefined) throw missing('memory', 'memory = 512   # MiB');
  const memMiB = intSetting(file, memS, 1, GUEST_RAM_MAX / MiB, ' MiB');

  const vcpuS = byKey.get('vcpus');
  const vcpus = vcpuS === undefined ? 1 : intSetting(file, vcpuS, 1, GUEST_MAX_VCPUS, ' vCPUs');

  const capS = byKey.get('cap');
  const cap = capS === undefined ? 0 : intSetting(file, capS, 0, capMax(vcpus), `% of one physical CPU (100 per vCPU; 0 for no cap)`);

  let viommu: ViommuTypeName = 'none';
  const viS = byKey.get('viommu');
  if (viS !== undefined) {
    const a = atomOf(file, viS);
    if (!isViommuTypeName(a.text)) {
      throw badValue(file, 'viommu', a, `unknown vIOMMU type "${a.text}": known types are ${viommuTypeNames().map((n) => `"${n}"`).join(', ')}`, { value: a.text, known: viommuTypeNames() });
    }
    viommu = a.text;
  }

  const devices: DomainDevice[] = [];
  const devS = byKey.get('dmadev');
  if (devS !== undefined) {
    if (devS.value.kind !== 'list') throw badValue(file, 'dmadev', devS.value, 'expected a list: dmadev = [ "name=dma0,sid=0x10", ... ]');
    if (devS.value.items.length > GUEST_PASSTHROUGH_MAX_DEVS) {
      throw badValue(file, 'dmadev', devS.value, `${devS.value.items.length} devices exceed the ${GUEST_PASSTHROUGH_MAX_DEVS} the passthrough MMIO window holds`);
    }
    devS.value.items.forEach((a, i) => {
      if (!a.quoted) throw badValue(file, 'dmadev', a, `entry ${i + 1} must be a quoted string like "name=dma0,sid=0x10", found ${a.text}`);
      devices.push(parseDevice(file, a, i));
    });
  }

  const passthrough = parsePassthrough(file, byKey);
  const base = { name: nameA.text, memory: memMiB * MiB, vcpus, viommu, devices, ...(cap !== 0 ? { cap } : {}), ...(passthrough ? { passthrough } : {}) };
  return { config: file === undefined ? base : { ...base, source: file }, warnings };
}

/** Parse an xl.cfg text into a DomainConfig. Throws EXLCFG_* errors. */
export function parseXlCfg(text: string, file?: string): DomainConfig {
  return parseXlCfgFull(text, file).config;
}

// --- system-wide validation ---------------------------------------------------------------

export interface PhysSmmuLimits {
  /** IDR1.SIDSIZE of the physical SMMU(s): StreamIDs must be below 2^sidBits. */
  readonly sidBits: number;
  /** Number of physical SMMUs (device `smmu` indices must be below it). Default 1. */
  readonly smmuCount?: number;
}

function at(d: DomainConfig, dev?: DomainDevice): string {
  const file = d.source ?? `domain "${d.name}"`;
  return dev?.line === undefined ? file : `${file}:${dev.line}`;
}

/**
 * Conflicts between domains and with the Xen command line. Returns every problem found
 * (empty = consistent), each a VsmmuError with code:
 * EVSMMU_DOMAIN_DUPLICATE, EVSMMU_DEVICE_DUPLICATE, EVSMMU_SID_CONFLICT, EVSMMU_SID_RANGE, EVSMMU_SMMU_INDEX, EVSMMU_VIOMMU_DISABLED.
 */
export function validateSystemConfig(domains: readonly DomainConfig[], cmdline: XenCmdline, phys: PhysSmmuLimits): VsmmuError[] {
  const errors: VsmmuError[] = [];
  const smmuCount = phys.smmuCount ?? 1;
  const names = new Map<string, DomainConfig>();
  const sids = new Map<string, { d: DomainConfig; dev: DomainDevice }>();
  for (const d of domains) {
    const first = names.get(d.name);
    if (first !== undefined) {
      errors.push(new VsmmuError('EVSMMU_DOMAIN_DUPLICATE', `domain name "${d.name}" is used twice (${at(first)} and ${at(d)}): domain names must be unique`, { domain: d.name }));
    } else names.set(d.name, d);

    if (d.viommu !== 'none' && !cmdline.viommu) {
      errors.push(new VsmmuError(
        'EVSMMU_VIOMMU_DISABLED',
        `${at(d)}: domain "${d.name}" asks for viommu = "${d.viommu}" but the Xen command line disables vIOMMU support: add viommu=1 to the Xen command line or set viommu = "none"`,
        { domain: d.name, viommu: d.viommu },
      ));
    }

    const devNames = new Map<string, DomainDevice>();
    for (const dev of d.devices) {
      const firstDev = devNames.get(dev.name);
      if (firstDev !== undefined) {
        errors.push(new VsmmuError('EVSMMU_DEVICE_DUPLICATE', `${at(d, dev)}: domain "${d.name}" has two devices named "${dev.name}" (also at ${at(d, firstDev)}): device names must be unique within a domain`, { domain: d.name, device: dev.name }));
      } else devNames.set(dev.name, dev);

      const smmu = dev.smmu ?? 0;
      if (smmu >= smmuCount) {
        errors.push(new VsmmuError('EVSMMU_SMMU_INDEX', `${at(d, dev)}: device "${dev.name}" of domain "${d.name}" is behind physical SMMU ${smmu}, but the system has ${smmuCount} (indices 0..${smmuCount - 1})`, { domain: d.name, device: dev.name, smmu, smmuCount }));
      }
      if (dev.sid >= 2 ** phys.sidBits) {
        errors.push(new VsmmuError('EVSMMU_SID_RANGE', `${at(d, dev)}: StreamID 0x${dev.sid.toString(16)} of device "${dev.name}" (domain "${d.name}") does not fit the physical SMMU's ${phys.sidBits} StreamID bits (max 0x${(2 ** phys.sidBits - 1).toString(16)})`, { domain: d.name, device: dev.name, sid: dev.sid, sidBits: phys.sidBits }));
      }
      const key = `${smmu}:${dev.sid}`;
      const owner = sids.get(key);
      if (owner !== undefined) {
        errors.push(new VsmmuError(
          'EVSMMU_SID_CONFLICT',
          `StreamID 0x${dev.sid.toString(16)} on physical SMMU ${smmu} is given to device "${owner.dev.name}" of domain "${owner.d.name}" (${at(owner.d, owner.dev)}) and to device "${dev.name}" of domain "${d.name}" (${at(d, dev)}): a StreamID belongs to one device of one domain`,
          { sid: dev.sid, smmu, first: { domain: owner.d.name, device: owner.dev.name, line: owner.dev.line }, second: { domain: d.name, device: dev.name, line: dev.line } },
        ));
      } else sids.set(key, { d, dev });
    }
  }
  return errors;
}
