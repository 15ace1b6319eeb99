/**
 * Large law inputs without large generators. Drawing 10⁶ floats through fast-check arrays is
 * slow and its counterexamples are unreadable; instead fast-check draws a few small things —
 * a shape, a seed, a value family, a scale — and the values are a pure function of them,
 * computed with the engine's Philox. A failure still shrinks (to the smallest failing size, the
 * first family, seed 0) and replays from the seed, and the counterexample is one line.
 */
import fc from "fast-check";
import { philoxInto, seedKey } from "../engine/random.ts";

/** The Philox stream of law inputs (dropout uses stream 0, the initialisers 1). */
const INPUT_STREAM = 7;

/**
 * Value families that break kernels in different ways:
 * - uniform: U(−s, s), the ordinary case;
 * - lastMax: uniform with a far-out maximum at the last index of each row (a tail that a
 *   reduction or a softmax must not drop);
 * - ties: a handful of repeated values (max and its gradient must pick consistently);
 * - offset: a mean far larger than the spread (one-pass variance cancels);
 * - specials: uniform with ±∞ and NaN placed in the last elements (only where the op defines
 *   them elementwise).
 */
export type Family = "uniform" | "lastMax" | "ties" | "offset" | "specials";

export interface Fill {
  seed: number;
  family: Family;
  /** The spread s of the values. */
  scale: number;
}

const TWO_32 = 2 ** 32;
const TIES = [-1, 0, 0.5, 1, 2];
const SPECIALS = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

/**
 * n values of `fill`, rows of length `row` (the last axis), each exactly representable in
 * float32 so that every dtype sees the same case.
 */
export function seededValues(n: number, row: number, fill: Fill): Float64Array {
  const out = new Float64Array(n);
  const words = new Uint32Array(4);
  const [k0, k1] = seedKey(fill.seed);
  for (let i = 0; i < n; i += 4) {
    philoxInto(words, i / 4, INPUT_STREAM, 0, 0, k0, k1);
    for (let j = 0; j < 4 && i + j < n; j++) {
      const u = (words[j] + 0.5) / TWO_32;
      out[i + j] = Math.fround(fill.scale * (2 * u - 1));
    }
  }
  switch (fill.family) {
    case "lastMax":
      for (let r = row - 1; r < n; r += row) out[r] = Math.fround(fill.scale * 40);
      break;
    case "ties":
      for (let i = 0; i < n; i++) {
        out[i] = TIES[Math.floor((out[i] / fill.scale + 1) * 2.5) % TIES.length] ?? 0;
      }
      break;
    case "offset":
      // Spread s around 1000·s: float32 keeps ~7 digits, so the spread still has ~4.
      for (let i = 0; i < n; i++) out[i] = Math.fround(1000 * fill.scale + out[i]);
      break;
    case "specials":
      for (let j = 0; j < SPECIALS.length && j < n; j++) {
        out[n - 1 - j] = SPECIALS[j] ?? 0;
      }
      break;
  }
  return out;
}

/** Non-negative values (soft targets, variances): |uniform|. */
export function seededPositive(n: number, fill: Fill): Float64Array {
  const v = seededValues(n, n, { ...fill, family: "uniform" });
  for (let i = 0; i < n; i++) v[i] = Math.abs(v[i] ?? 0);
  return v;
}

/** Class indices in [0, classes), one per row. */
export function seededIndices(n: number, classes: number, seed: number): Int32Array {
  const u = seededValues(n, n, { seed: seed + 1, family: "uniform", scale: 1 });
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++)
    out[i] = Math.min(classes - 1, Math.floor(((u[i] ?? 0) + 1) * 0.5 * classes));
  return out;
}

/** A fill for fast-check to draw: the families listed first are where shrinking goes. */
export function fillOf(
  families: readonly Family[],
  scales: readonly number[] = [1, 10, 100],
): fc.Arbitrary<Fill> {
  return fc.record({
    seed: fc.nat({ max: 2 ** 31 - 1 }),
    family: fc.constantFrom(...families),
    scale: fc.constantFrom(...scales),
  });
}

/**
 * Sizes just below, at and just past the common block, tile, subgroup, workgroup and chunk
 * sizes, and odd sizes that are multiples of none. Small ones first: shrinking goes there.
 */
export const BOUNDARY_SIZES = [
  1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 511, 512, 513,
  1023, 1024, 1025, 1100, 4095, 4096, 4097, 65535, 65536, 65537,
] as const;

/** The boundary sizes up to `max`. */
export function sizesUpTo(max: number): number[] {
  return BOUNDARY_SIZES.filter((s) => s <= max);
}

/**
 * A shape of rank `rank` whose dimension `at` has length `long` and the others are small
 * (`small`), shrunk so that the whole stays within `cap` elements.
 */
export function shapeAround(
  rank: number,
  at: number,
  long: number,
  small: readonly number[],
  cap: number,
): number[] {
  const shape = Array.from({ length: rank }, (_, d) => (d === at ? long : (small[d] ?? 1)));
  let size = shape.reduce((p, d) => p * d, 1);
  for (let d = 0; d < rank && size > cap; d++) {
    if (d === at || (shape[d] ?? 1) === 1) continue;
    size /= shape[d] ?? 1;
    shape[d] = 1;
  }
  return shape;
}
