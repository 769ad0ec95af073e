// Seeded PRNG for thread tests (mulberry32): the same seed gives the same batch sizes and
// payloads on both sides of a ring, so each side can check the other.
export { prng as mulberry32 } from '../../src/prng.ts';

/** Test record over `words` u32 (>= 5): canary, seq, producer, payload..., checksum, canary. */
export const CANARY_A = 0xa5a5a5a5;
export const CANARY_B = 0x5a5a5a5a;

export function checksum(u32: Uint32Array, o: number, words: number): number {
  let h = 0x811c9dc5;
  for (let w = 1; w < words - 2; w++) h = Math.imul(h ^ (u32[o + w] ?? 0), 0x01000193);
  return h >>> 0;
}

export function writeRecord(u32: Uint32Array, o: number, words: number, seq: number, producer: number, rnd: () => number): void {
  u32[o] = CANARY_A;
  u32[o + 1] = seq;
  u32[o + 2] = producer;
  for (let w = 3; w < words - 2; w++) u32[o + w] = rnd();
  u32[o + words - 2] = checksum(u32, o, words);
  u32[o + words - 1] = CANARY_B;
}

/** Why the record at `o` is wrong, or '' if it is producer `producer`'s record `seq`. */
export function checkRecord(u32: Uint32Array, o: number, words: number, seq: number, producer: number): string {
  if (u32[o] !== CANARY_A || u32[o + words - 1] !== CANARY_B) return `canary broken at seq ${seq}`;
  if (u32[o + 1] !== seq >>> 0) return `producer ${producer}: expected seq ${seq >>> 0}, got ${u32[o + 1]}`;
  if (u32[o + 2] !== producer) return `expected producer ${producer}, got ${u32[o + 2]}`;
  if (u32[o + words - 2] !== checksum(u32, o, words)) return `checksum mismatch at seq ${seq}`;
  return '';
}
