// Bit-field helpers for 64-bit words held as (lo, hi) u32 pairs and for structures held as
// arrays of u32 words (little-endian: word 2k = dw k [31:0], word 2k+1 = dw k [63:32]).
// No bigint: a field is returned as a plain number, exact for widths up to 53 bits.

/** POW2[n] = 2^n for n in 0..64, exact doubles. */
export const POW2: readonly number[] = Array.from({ length: 65 }, (_, n) => 2 ** n);

/** Mask of the low `n` bits (1..32) as an unsigned 32-bit number. */
export function lowMask(n: number): number {
  return n <= 0 ? 0 : 0xffffffff >>> (32 - Math.min(n, 32));
}

/**
 * Field [lsb + width - 1 : lsb] of a structure of u32 words starting at words[off].
 * `lsb` counts bits absolutely from bit 0 of words[off]. Missing words read as 0.
 */
export function fieldGet(words: ArrayLike<number>, off: number, lsb: number, width: number): number {
  let v = 0;
  let got = 0;
  let bit = lsb;
  while (got < width) {
    const sh = bit & 31;
    const take = Math.min(32 - sh, width - got);
    const word = (words[off + (bit >>> 5)] ?? 0) >>> 0;
    const part = ((word >>> sh) & lowMask(take)) >>> 0;
    v += part * (POW2[got] ?? 0);
    got += take;
    bit += take;
  }
  return v;
}

/** Writable array of u32 words (Uint32Array or number[]). */
export interface WordArray {
  [i: number]: number;
  readonly length: number;
}

/**
 * Inserts `value` (a non-negative integer, truncated to `width` bits) into the field
 * [lsb + width - 1 : lsb] of a structure of u32 words starting at words[off].
 */
export function fieldSet(words: WordArray, off: number, lsb: number, width: number, value: number): void {
  let v = value > 0 ? Math.floor(value) : 0;
  let put = 0;
  let bit = lsb;
  while (put < width) {
    const sh = bit & 31;
    const take = Math.min(32 - sh, width - put);
    const scale = POW2[take] ?? 1;
    const part = v % scale;
    v = Math.floor(v / scale);
    const mask = (lowMask(take) << sh) >>> 0;
    const i = off + (bit >>> 5);
    const old = (words[i] ?? 0) >>> 0;
    words[i] = ((old & ~mask) | ((part << sh) & mask)) >>> 0;
    put += take;
    bit += take;
  }
}

/** Field [msb:lsb] of the 64-bit value (lo, hi); exact for widths up to 53 bits. */
export function get64(lo: number, hi: number, msb: number, lsb: number): number {
  if (msb < 32) return ((lo >>> lsb) & lowMask(msb - lsb + 1)) >>> 0;
  if (lsb >= 32) return ((hi >>> (lsb - 32)) & lowMask(msb - lsb + 1)) >>> 0;
  const low = (lo >>> 0) >>> lsb;
  const high = (hi & lowMask(msb - 31)) >>> 0;
  return high * (POW2[32 - lsb] ?? 0) + low;
}

/** Returns (lo, hi) with field [msb:lsb] replaced by `value` (truncated to the field). */
export function set64(lo: number, hi: number, msb: number, lsb: number, value: number): [number, number] {
  const w = [lo >>> 0, hi >>> 0];
  fieldSet(w, 0, lsb, msb - lsb + 1, value);
  return [w[0] ?? 0, w[1] ?? 0];
}

/** 32-bit field [msb:lsb] of `v`. */
export function get32(v: number, msb: number, lsb: number): number {
  return ((v >>> lsb) & lowMask(msb - lsb + 1)) >>> 0;
}

/** `v` with 32-bit field [msb:lsb] replaced by `value` (truncated to the field). */
export function set32(v: number, msb: number, lsb: number, value: number): number {
  const mask = (lowMask(msb - lsb + 1) << lsb) >>> 0;
  return ((v & ~mask) | (((value >>> 0) << lsb) & mask)) >>> 0;
}

/** The number hi * 2^32 + lo (exact below 2^53). */
export function join64(lo: number, hi: number): number {
  return (hi >>> 0) * 4294967296 + (lo >>> 0);
}

/** Low 32 bits of a non-negative integer number below 2^64. */
export function loOf(v: number): number {
  return v % 4294967296 >>> 0;
}

/** High 32 bits of a non-negative integer number below 2^64. */
export function hiOf(v: number): number {
  return Math.floor(v / 4294967296) >>> 0;
}

/**
 * A structure layout: each field is [dw, msb, lsb] (bits within dword dw, as in the spec
 * tables) plus an optional address flag. An address field decodes to the value in place
 * (field << lsb, low bits zero) so that it reads as the address it holds.
 */
export type FieldSpec = readonly [dw: number, msb: number, lsb: number, addr?: 'addr'];
export type Layout = Readonly<Record<string, FieldSpec>>;

/** Precompiled form of a layout for table-driven decode/encode. */
export interface CompiledField {
  readonly name: string;
  readonly lsb: number; // absolute bit
  readonly width: number;
  readonly scale: number; // 2^lsb-in-dword for address fields, else 1
}

export interface CompiledLayout {
  readonly fields: readonly CompiledField[];
  readonly words: number;
  /** Per word: the bits that no named field covers (kept in `other`). */
  readonly otherMask: readonly number[];
  /** Decodes words[off..off+words-1]: every field, plus `other`, plus the constants. */
  readonly decode: (words: ArrayLike<number>, off: number) => Record<string, unknown>;
}

export function compileLayout(layout: Layout, words: number, constants: Readonly<Record<string, string | number>> = {}): CompiledLayout {
  const fields: CompiledField[] = [];
  const covered = new Array<number>(words).fill(0);
  for (const [name, [dw, msb, lsb, addr]] of Object.entries(layout)) {
    const abs = dw * 64 + lsb;
    const width = msb - lsb + 1;
    if (width > 53 || msb > 63 || lsb < 0 || abs + width > words * 32) {
      throw new Error(`layout field ${name} out of bounds`); // a bug in this code, not input
    }
    fields.push({ name, lsb: abs, width, scale: addr === 'addr' ? (POW2[lsb] ?? 1) : 1 });
    const mask = new Array<number>(words).fill(0);
    fieldSet(mask, 0, abs, width, (POW2[width] ?? 0) - 1);
    for (let i = 0; i < words; i++) {
      const m = mask[i] ?? 0;
      if (((covered[i] ?? 0) & m) !== 0) throw new Error(`layout field ${name} overlaps`);
      covered[i] = ((covered[i] ?? 0) | m) >>> 0;
    }
  }
  const otherMask = covered.map((c) => ~c >>> 0);
  return { fields, words, otherMask, decode: decoderOf(fields, otherMask, constants) };
}

/**
 * A decoder specialised to one layout: a single object literal of straight-line shifts and
 * masks. Written field by field into a fresh object, a 60-field STE decode cost ~300 bare
 * word reads (dictionary-mode stores); one literal has one hidden class and no loops. The
 * source is built only from this module's own layout tables (numbers and field names).
 */
function decoderOf(fields: readonly CompiledField[], otherMask: readonly number[], constants: Readonly<Record<string, string | number>>): CompiledLayout['decode'] {
  const props = Object.entries(constants).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  for (const f of fields) {
    const parts: string[] = [];
    for (let got = 0, bit = f.lsb; got < f.width; ) {
      const sh = bit & 31;
      const take = Math.min(32 - sh, f.width - got);
      const word = `w[o + ${bit >>> 5}]`;
      const part = take === 32 ? `(${word} >>> 0)` : `((${word} >>> ${sh}) & ${lowMask(take)})`;
      parts.push(got === 0 ? part : `${part} * ${POW2[got]}`);
      got += take;
      bit += take;
    }
    const v = parts.join(' + ');
    props.push(`${JSON.stringify(f.name)}: ${f.scale === 1 ? v : `(${v}) * ${f.scale}`}`);
  }
  props.push(`other: [${otherMask.map((m, i) => `(w[o + ${i}] & ${m}) >>> 0`).join(', ')}]`);
  return new Function('w', 'o', `return { ${props.join(', ')} };`) as CompiledLayout['decode'];
}


export function encodeLayout(
  cl: CompiledLayout,
  src: Readonly<Record<string, unknown>>,
  out: WordArray,
  off: number,
): void {
  const other = src['other'];
  for (let i = 0; i < cl.words; i++) {
    const o = Array.isArray(other) ? Number(other[i] ?? 0) : 0;
    out[off + i] = (o & (cl.otherMask[i] ?? 0)) >>> 0;
  }
  for (const f of cl.fields) {
    const v = src[f.name];
    const n = typeof v === 'number' ? v : 0;
    fieldSet(out, off, f.lsb, f.width, Math.floor(n / f.scale));
  }
}

/** Decode, encode and "these fields, zero elsewhere" for one structure laid out by `layout`. */
export interface StructCodec<T> {
  decode(words: ArrayLike<number>, off?: number): T;
  encode(v: Readonly<T>, out: WordArray, off?: number): void;
  of(p: Partial<T>): T;
}

export function structCodec<T>(layout: Layout, words: number): StructCodec<T> {
  const cl = compileLayout(layout, words);
  const zero = new Uint32Array(words);
  return {
    decode: (w, off = 0) => cl.decode(w, off) as unknown as T,
    encode: (v, out, off = 0) => encodeLayout(cl, v as Readonly<Record<string, unknown>>, out, off),
    of: (p) => ({ ...(cl.decode(zero, 0) as unknown as T), ...p }),
  };
}
