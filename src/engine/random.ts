/**
 * Counter-based random numbers: Philox-4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3", SC 2011; the Random123 library). Every random number is a pure
 * function of (seed, counter), so a CPU loop and a GPU kernel that follow the same contract
 * draw bit-identical masks and weights, in any order, with no shared state.
 */
import { InvalidArgumentError } from "./errors.ts";

export type Words4 = readonly [number, number, number, number];

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const ROUNDS = 10;
const TWO_32 = 4294967296;

/** Streams used by the initialisers (so init and dropout never share random numbers). */
export const INIT_STREAM = 1;

/**
 * Random123's known answers for philox4x32-10 (tests/kat_vectors): any implementation of the
 * generator (ours in TypeScript and in WGSL, a user's) must reproduce them word for word.
 */
export const PHILOX_KAT: readonly {
  counter: Words4;
  key: readonly [number, number];
  expected: readonly string[];
}[] = [
  {
    counter: [0, 0, 0, 0],
    key: [0, 0],
    expected: ["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"],
  },
  {
    counter: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    key: [0xffffffff, 0xffffffff],
    expected: ["408f276d", "41c83b0e", "a20bc7c6", "6d5451fd"],
  },
  {
    counter: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    key: [0xa4093822, 0x299f31d0],
    expected: ["d16cfe09", "94fdcceb", "5001e420", "24126ea1"],
  },
];

/**
 * High 32 bits of the exact 64-bit product of two uint32 words. JavaScript doubles lose bits
 * above 2^53 and WGSL has no 64-bit integers, so both build it from 16-bit halves, whose
 * products stay below 2^32. Returns the bit pattern as an int32 (V8 keeps those unboxed).
 */
function mulhi32(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const lolo = aLo * bLo;
  const hilo = aHi * bLo;
  const lohi = aLo * bHi;
  // The bits of the cross products that land below bit 32 can carry into it; their sum is at
  // most 3·(2^16 − 1), so this cannot overflow.
  const carry = ((lolo >>> 16) + (hilo & 0xffff) + (lohi & 0xffff)) >>> 16;
  return (aHi * bHi + (hilo >>> 16) + (lohi >>> 16) + carry) | 0;
}

/**
 * Philox-4x32-10 on one counter, written into `out` (no allocation: dropout calls this once
 * per element). Words may be passed as uint32 or as their int32 bit patterns.
 */
export function philoxInto(
  out: Uint32Array,
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
): Uint32Array {
  for (let round = 0; round < ROUNDS; round++) {
    if (round > 0) {
      // Weyl-sequence key schedule: the key is bumped between rounds, not before the first.
      k0 = (k0 + W0) | 0;
      k1 = (k1 + W1) | 0;
    }
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0);
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  // The typed array reinterprets the int32 bit patterns as uint32.
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/** Philox-4x32-10: 10 rounds, multipliers 0xD2511F53 / 0xCD9E8D57, Weyl key increments 0x9E3779B9 / 0xBB67AE85. Returns four uint32 words. */
export function philox4x32(counter: Words4, key: readonly [number, number]): Uint32Array {
  return philoxInto(
    new Uint32Array(4),
    counter[0],
    counter[1],
    counter[2],
    counter[3],
    key[0],
    key[1],
  );
}

/** Splits a seed (integer in [0, 2^53)) into the Philox key [low 32 bits, high bits]. */
export function seedKey(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new InvalidArgumentError("seedKey", "seed", `${seed} is not an integer in [0, 2^53)`);
  }
  // `>>> 0` reduces modulo 2^32, which is exact for every safe integer.
  return [seed >>> 0, Math.floor(seed / TWO_32)];
}

/** Dropout contract: element i is dropped iff word 0 of philox4x32([i, 0, 0, 0], seedKey(seed)) < dropThreshold(p). dropThreshold(p) = min(2^32 - 1, ceil(p * 2^32)) as a plain number; p = 0 gives 0 (never drop). */
export function dropThreshold(p: number): number {
  if (!(p >= 0 && p <= 1)) {
    throw new InvalidArgumentError("dropThreshold", "p", `${p} is not a probability in [0, 1]`);
  }
  // p · 2^32 is exact (a power-of-two scaling), so the ceiling is the true one.
  return Math.min(TWO_32 - 1, Math.ceil(p * TWO_32));
}

function checkWordIndex(fn: string, arg: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= TWO_32) {
    throw new InvalidArgumentError(fn, arg, `${value} is not an integer in [0, 2^32)`);
  }
}

/** The keep mask of dropout: 1 = kept, 0 = dropped (see dropThreshold for the contract). */
export function dropMask(seed: number, p: number, n: number): Uint8Array {
  const [k0, k1] = seedKey(seed);
  const threshold = dropThreshold(p);
  // The element index is counter word 0, so a mask can have at most 2^32 elements.
  if (!Number.isInteger(n) || n < 0 || n > TWO_32) {
    throw new InvalidArgumentError("dropMask", "n", `${n} is not an integer in [0, 2^32]`);
  }
  const mask = new Uint8Array(n);
  const words = new Uint32Array(4);
  for (let i = 0; i < n; i++) {
    philoxInto(words, i, 0, 0, 0, k0, k1);
    mask[i] = words[0] >= threshold ? 1 : 0;
  }
  return mask;
}

// Scratch for the scalar samplers below; they are synchronous, so sharing it is safe.
const scratch = new Uint32Array(4);

function drawAt(fn: string, seed: number, i: number, stream: number): Uint32Array {
  const [k0, k1] = seedKey(seed);
  checkWordIndex(fn, "i", i);
  checkWordIndex(fn, "stream", stream);
  return philoxInto(scratch, i, stream, 0, 0, k0, k1);
}

/** Maps a uint32 word to the open interval (0, 1); never 0 (so logs are finite) nor 1. */
function toOpenUnit(word: number): number {
  return (word + 0.5) / TWO_32;
}

/** Uniform in the open interval (0, 1): (word + 0.5) / 2^32, using word 0 of counter [i, stream, 0, 0]. */
export function uniformAt(seed: number, i: number, stream: number): number {
  return toOpenUnit(drawAt("uniformAt", seed, i, stream)[0]);
}

/** Standard normal via Box–Muller from words 0 and 1 of counter [i, stream, 0, 0] (both mapped to (0,1) as above): sqrt(-2 ln u1) * cos(2π u2). */
export function normalAt(seed: number, i: number, stream: number): number {
  const words = drawAt("normalAt", seed, i, stream);
  const u1 = toOpenUnit(words[0]);
  const u2 = toOpenUnit(words[1]);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
