// A device tree from a file, as a user hands one to the toolstack (xl.cfg `device_tree`):
// DTS source, or a flattened blob (DTB) that the real compiler decompiles
// (`dtc -I dtb -O dts`; VSMMU_DTC or DTC names it, as for the tests).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { VsmmuError } from '../errors.ts';
import { parseDts, type DtNode } from './dts.ts';

/** The FDT header's magic (big-endian 0xd00dfeed). */
const FDT_MAGIC = [0xd0, 0x0d, 0xfe, 0xed];

export function isDtb(bytes: Uint8Array): boolean {
  return FDT_MAGIC.every((b, i) => bytes[i] === b);
}

/** The compiler the environment names. */
export function dtcCommand(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env['VSMMU_DTC'] ?? env['DTC'] ?? 'dtc';
}

/** DTS text of a blob, through `dtc -I dtb -O dts`. */
export function decompileDtb(path: string, dtc = dtcCommand()): string {
  const r = spawnSync(dtc, ['-q', '-I', 'dtb', '-O', 'dts', path], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) {
    throw new VsmmuError('EVSMMU_FILE', `${path} is a DTB and decompiling it needs the device-tree compiler, but "${dtc}" cannot be run (${r.error.message}): install it (apt-get install device-tree-compiler) or set VSMMU_DTC`, { path, dtc });
  }
  if (r.status !== 0) {
    throw new VsmmuError('EVSMMU_DTS_SYNTAX', `dtc cannot decompile ${path}: ${r.stderr.trim() || `exit status ${r.status}`}`, { path });
  }
  return r.stdout;
}

/** The tree in a DTS or DTB file. */
export function readDtFile(path: string): DtNode {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new VsmmuError('EVSMMU_FILE', `cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code}`, { path });
  }
  return parseDts(isDtb(bytes) ? decompileDtb(path) : new TextDecoder().decode(bytes));
}
