// Byte sizes as users write them (options, xl.cfg, the CLI): "512M", "1G", "64K", "2GiB",
// "4096", "0x10000", or a number of bytes. Suffixes are binary, as in Xen and QEMU
// (1K = 1024): K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, case-insensitive; "B" alone means
// bytes. A decimal mantissa is accepted when the result is a whole number of bytes ("1.5G").

import { VsmmuError } from '../errors.ts';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

export interface SizeConstraints {
  /** What is being sized, for messages ("memory size"). */
  readonly what?: string;
  /** The result must be a multiple of this (for example 65536). */
  readonly multipleOf?: number;
  /** Inclusive bounds. */
  readonly min?: number;
  readonly max?: number;
}

const SHIFT: Readonly<Record<string, number>> = { '': 0, k: 10, m: 20, g: 30, t: 40 };

const ACCEPTED =
  'a non-negative whole number of bytes, or a string such as "4096", "0x10000", "64K", "512M", "1G", "2GiB" ' +
  '(binary suffixes K/M/G/T, optionally followed by "B" or "iB")';

// mantissa: decimal (with optional fraction) or hex (no suffix); unit; optional B / iB.
const DEC = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i;
const HEX = /^0x([0-9a-f]+)$/i;

function bad(input: unknown, why: string, what: string): never {
  const shown = typeof input === 'string' ? JSON.stringify(input) : String(input);
  throw new VsmmuError('EVSMMU_BADSIZE', `invalid ${what} ${shown}: ${why}; expected ${ACCEPTED}`, {
    input: typeof input === 'number' || typeof input === 'string' ? input : String(input),
  });
}

/** Parses a size to a byte count (a safe integer), or throws `VsmmuError('EVSMMU_BADSIZE')`. */
export function parseSize(input: number | string, c: SizeConstraints = {}): number {
  const what = c.what ?? 'size';
  let bytes: number;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) bad(input, 'not a finite number', what);
    if (input < 0) bad(input, 'negative', what);
    if (!Number.isInteger(input)) bad(input, 'not a whole number of bytes', what);
    bytes = input;
  } else if (typeof input === 'string') {
    const s = input.trim();
    const hex = HEX.exec(s);
    const dec = hex === null ? DEC.exec(s) : null;
    if (hex !== null) {
      bytes = parseInt(hex[1] ?? '', 16);
    } else if (dec !== null) {
      const mant = dec[1] ?? '';
      const unit = (dec[2] ?? '').toLowerCase();
      if (unit === '' && dec[3] !== undefined && dec[3].length > 1) bad(input, 'unknown suffix', what);
      const shift = SHIFT[unit] ?? 0;
      const dot = mant.indexOf('.');
      if (dot < 0) {
        bytes = Number(mant) * 2 ** shift;
      } else {
        // Exact: scale the fraction digits as an integer, then check divisibility.
        const digits = mant.length - dot - 1;
        const whole = Number(mant.slice(0, dot) + mant.slice(dot + 1));
        if (!Number.isSafeInteger(whole)) bad(input, 'too many digits', what);
        const scaled = whole * 2 ** shift;
        const den = 10 ** digits;
        if (scaled % den !== 0) bad(input, 'not a whole number of bytes', what);
        bytes = scaled / den;
      }
    } else {
      bad(input, /^-/.test(s) ? 'negative' : /^\d/.test(s) ? 'unknown suffix' : 'not a size', what);
    }
  } else {
    bad(input, 'not a number or string', what);
  }
  if (!Number.isSafeInteger(bytes)) bad(input, 'too large (above 2^53 - 1 bytes)', what);
  if (c.multipleOf !== undefined && bytes % c.multipleOf !== 0) {
    bad(input, `not a multiple of ${formatSize(c.multipleOf)} (${c.multipleOf} bytes)`, what);
  }
  if (c.min !== undefined && bytes < c.min) bad(input, `below the minimum ${formatSize(c.min)}`, what);
  if (c.max !== undefined && bytes > c.max) bad(input, `above the maximum ${formatSize(c.max)}`, what);
  return bytes;
}

/** The shortest exact spelling parseSize accepts: 536870912 -> "512M", 1536 -> "1536". */
export function formatSize(bytes: number): string {
  for (const [unit, shift] of [['T', 40], ['G', 30], ['M', 20], ['K', 10]] as const) {
    const q = bytes / 2 ** shift;
    if (bytes !== 0 && Number.isInteger(q)) return `${q}${unit}`;
  }
  return String(bytes);
}
