/**
 * Generators of law inputs, named after their precondition. Every value is exactly
 * representable in float32, so the same case means the same thing for every dtype.
 */
import fc from "fast-check";

export interface Shaped {
  shape: number[];
  values: number[];
}

/** A finite float32 value in [−max, max] (zero, tiny and huge magnitudes included). */
export function finite32(max = 1e4): fc.Arbitrary<number> {
  return fc.float({
    min: Math.fround(-max),
    max: Math.fround(max),
    noNaN: true,
    noDefaultInfinity: true,
  });
}

/** A float32 value in [min, max], NaN and ±∞ excluded. */
export function between(min: number, max: number): fc.Arbitrary<number> {
  return fc.float({
    min: Math.fround(min),
    max: Math.fround(max),
    noNaN: true,
    noDefaultInfinity: true,
  });
}

/** A float32 value of moderate magnitude in [−m, m], avoiding values fast-check
 * biases toward (so random vectors look like activations, not edge cases). */
export function moderate(m = 10): fc.Arbitrary<number> {
  return fc
    .integer({ min: -1_000_000, max: 1_000_000 })
    .map((i) => Math.fround((i / 1_000_000) * m));
}

/** A tensor of the given shape with elements from `elem`. */
export function tensorOf(
  shape: readonly number[],
  elem: fc.Arbitrary<number>,
): fc.Arbitrary<Shaped> {
  const n = shape.reduce((p, d) => p * d, 1);
  return fc
    .array(elem, { minLength: n, maxLength: n })
    .map((values) => ({ shape: [...shape], values }));
}

/** A [rows, cols] matrix with sizes in the given ranges. */
export function matrix(
  elem: fc.Arbitrary<number>,
  rows: { min: number; max: number } = { min: 1, max: 6 },
  cols: { min: number; max: number } = { min: 1, max: 12 },
): fc.Arbitrary<Shaped> {
  return fc.tuple(fc.integer(rows), fc.integer(cols)).chain(([r, c]) => tensorOf([r, c], elem));
}

/** Logits for a batch: [N, C] with finite entries up to `max` in magnitude. */
export function finiteLogits(max = 30, classes = { min: 2, max: 12 }): fc.Arbitrary<Shaped> {
  return matrix(moderate(max), { min: 1, max: 6 }, classes);
}

/** A row vector [n] of finite values. */
export function vector(
  elem: fc.Arbitrary<number>,
  length = { min: 1, max: 16 },
): fc.Arbitrary<Shaped> {
  return fc.integer(length).chain((n) => tensorOf([n], elem));
}

/** Class indices for N examples over C classes. */
export function classIndices(n: number, classes: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: classes - 1 }), { minLength: n, maxLength: n });
}

/** A probability vector of length n (non-negative, sums to 1 in float64). */
export function probabilityVector(n: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: n, maxLength: n }).map((w) => {
    const total = w.reduce((a, b) => a + b, 0);
    return total === 0 ? w.map(() => 1 / n) : w.map((x) => x / total);
  });
}

/** An array whose length is uniform in [min, max] (fast-check's default favours short ones). */
export function arrayOf<T>(elem: fc.Arbitrary<T>, min: number, max: number): fc.Arbitrary<T[]> {
  return fc.integer({ min, max }).chain((n) => fc.array(elem, { minLength: n, maxLength: n }));
}
