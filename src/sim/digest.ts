// A running digest of a simulated run: the schedule (which actor stepped, in order) and what
// the run observed (each call into the system and its answer). Two 32-bit FNV-1a lanes with
// different offsets make a 64-bit value: cheap per step, and equal only for equal histories
// (up to collisions, which a replay check does not need to exclude).

const PRIME = 0x01000193;

export class Digest {
  #a = 0x811c9dc5;
  #b = 0x050c5d1f;

  /** Mixes one 32-bit value. */
  int(v: number): void {
    let a = this.#a;
    let b = this.#b;
    for (let s = 0; s < 32; s += 8) {
      const byte = (v >>> s) & 0xff;
      a = Math.imul(a ^ byte, PRIME);
      b = Math.imul(b ^ byte ^ 0x5a, PRIME);
    }
    this.#a = a >>> 0;
    this.#b = b >>> 0;
  }

  /** Mixes a string, a number, a bigint, bytes, or an array/object of them (keys in order). */
  value(v: unknown): void {
    if (v === null || v === undefined) this.int(v === null ? 0xfffffff0 : 0xfffffff1);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && Math.abs(v) < 2 ** 53) {
        this.int(v >>> 0);
        this.int(Math.floor(v / 4294967296) >>> 0);
      } else this.string(String(v));
    } else if (typeof v === 'boolean') this.int(v ? 1 : 2);
    else if (typeof v === 'string') this.string(v);
    else if (typeof v === 'bigint') this.string(v.toString(16));
    else if (v instanceof Uint8Array) {
      this.int(v.length);
      for (let i = 0; i < v.length; i++) this.int(v[i] ?? 0);
    } else if (Array.isArray(v)) {
      this.int(v.length);
      for (const x of v) this.value(x);
    } else if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        this.string(k);
        this.value(x);
      }
    } else this.string(String(v));
  }

  string(s: string): void {
    this.int(s.length);
    for (let i = 0; i < s.length; i++) this.int(s.charCodeAt(i));
  }

  /** 16 hex digits. */
  hex(): string {
    return this.#a.toString(16).padStart(8, '0') + this.#b.toString(16).padStart(8, '0');
  }
}
