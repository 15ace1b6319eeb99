/**
 * Tolerances are a contract, not a knob. Each op states how far a correct kernel in a given
 * dtype may stray from the exact (float64 reference) value, from the op's conditioning:
 *
 *   elementwise f:   u·(k·|f(x)| + |x·f′(x)|)        k ULPs of rounding, plus the error a
 *                                                     backward-stable kernel inherits from x
 *   sums of length n: factor·n·u·Σ|xᵢ|                 order-free: any summation order passes
 *   normalisations:   scaled by n and by how far the inputs sit from their mean
 *
 * u is the unit roundoff of the backend's dtype (2⁻²⁴ for float32, 2⁻⁵³ for float64). A backend
 * may override `ulps` or `factor` per op; the override is printed in every report.
 */
import type { Backend, OpName } from "../engine/contract.ts";
import { type FloatDType, type Tensor, unitRoundoff } from "../engine/tensor.ts";

export { unitRoundoff };

/** Smallest positive normal number: results below it may be flushed to zero (GPUs do); the
 * separate subnormal law checks that behaviour by name, so other laws allow it. */
export function minNormal(dtype: FloatDType): number {
  return dtype === "float32" ? 2 ** -126 : 2 ** -1022;
}

/** The spacing of `dtype`'s floats at |x| (one ULP): 2^(e − 23) for float32, 2^(e − 52) for float64. */
export function ulpOf(x: number, dtype: FloatDType): number {
  const a = Math.abs(x);
  const [mant, min] = dtype === "float32" ? [23, 2 ** -149] : [52, 2 ** -1074];
  if (!Number.isFinite(a) || a === 0) return min;
  return Math.max(min, 2 ** (Math.floor(Math.log2(a)) - mant));
}

/** Distance in units in the last place of `dtype` between two finite numbers. */
export function ulpDistance(a: number, b: number, dtype: FloatDType): number {
  if (a === b) return 0;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.POSITIVE_INFINITY;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Number.POSITIVE_INFINITY;
  return Math.abs(ordinal(a, dtype) - ordinal(b, dtype));
}

const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);
const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** Maps floats to integers so that adjacent floats differ by 1 (negatives mirrored). */
function ordinal(x: number, dtype: FloatDType): number {
  if (dtype === "float32") {
    f32[0] = x;
    const bits = i32[0];
    return bits < 0 ? -(bits & 0x7fffffff) : bits;
  }
  f64[0] = x;
  const bits = i64[0];
  return Number(bits < 0n ? -(bits & 0x7fffffffffffffffn) : bits);
}

/** Per-op defaults: `ulps` is the rounding allowance k, `factor` scales the length-dependent part. */
export interface Budget {
  ulps: number;
  factor: number;
}

/** The rounding allowance per op. Why these numbers: correctly rounded ops (neg, relu, max,
 * add…) need ≤ 1; WGSL and CUDA's fast exp/log/div promise ≤ 2.5–4 ULP; transcendental
 * compositions (sigmoid, tanh, GELU, SiLU) chain two or three such steps. */
const ulpsByOp: Partial<Record<OpName, number>> = {
  neg: 0,
  relu: 0,
  max: 0,
  add: 1,
  sub: 1,
  mul: 1,
  leaky_relu: 1,
  div: 4,
  exp: 4,
  log: 4,
  sigmoid: 8,
  tanh: 8,
  gelu: 16,
  silu: 8,
};

export function budgetFor(backend: Backend, op: OpName): Budget & { overridden: boolean } {
  const base: Budget = { ulps: ulpsByOp[op] ?? 8, factor: 2 };
  const o = backend.tolerances?.[op];
  return {
    ulps: o?.ulps ?? base.ulps,
    factor: o?.factor ?? base.factor,
    overridden: o !== undefined,
  };
}

export function describeBudget(backend: Backend, op: OpName): string {
  const b = budgetFor(backend, op);
  const u = backend.dtype === "float32" ? "2^-24" : "2^-53";
  const text = `${op}: ${b.ulps} ULP + factor ${b.factor} on length-dependent terms (u = ${u})`;
  return b.overridden ? `${text} [overridden by backend '${backend.name}']` : text;
}

/** The absolute tolerance of every element of a result, and how it was derived. */
export interface ToleranceField {
  tol: Float64Array;
  rule: string;
}

export type Shaped = Tensor | { shape: readonly number[]; data: ArrayLike<number> };

/** One summary of how an actual result differs from the expected one. */
export interface Mismatch {
  label: string;
  total: number;
  failing: number;
  worst?: {
    index: number;
    coord: number[];
    actual: number;
    expected: number;
    tol: number;
    abs: number;
    rel: number;
    ulps: number;
  };
  rule?: string;
}

function coordOf(index: number, shape: readonly number[]): number[] {
  const coord = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    coord[d] = index % shape[d];
    index = Math.floor(index / shape[d]);
  }
  return coord;
}

/** Whether `actual` equals `expected` within `tol` (NaN must meet NaN, ±∞ must meet itself). */
export function withinTol(actual: number, expected: number, tol: number): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  if (!Number.isFinite(expected)) return actual === expected;
  return Math.abs(actual - expected) <= tol;
}

export function compare(
  label: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number | ArrayLike<number>,
  shape: readonly number[],
  dtype: FloatDType,
  rule?: string,
): Mismatch {
  let failing = 0;
  let worst: Mismatch["worst"];
  let worstScore = -1;
  for (let i = 0; i < expected.length; i++) {
    const t = typeof tol === "number" ? tol : tol[i];
    const a = actual[i];
    const e = expected[i];
    if (withinTol(a, e, t)) continue;
    failing++;
    const abs = Math.abs(a - e);
    const score = Number.isFinite(abs) ? abs / (t || Number.MIN_VALUE) : Number.POSITIVE_INFINITY;
    if (score > worstScore) {
      worstScore = score;
      worst = {
        index: i,
        coord: coordOf(i, shape),
        actual: a,
        expected: e,
        tol: t,
        abs,
        rel: e === 0 ? Number.POSITIVE_INFINITY : abs / Math.abs(e),
        ulps: ulpDistance(a, e, dtype),
      };
    }
  }
  return { label, total: expected.length, failing, worst, rule };
}

export function formatMismatch(m: Mismatch): string {
  if (!m.worst) return `${m.label}: all ${m.total} elements within tolerance`;
  const w = m.worst;
  const g = (x: number) => (Number.isFinite(x) ? x.toPrecision(9) : String(x));
  return [
    `${m.label}: ${m.failing} of ${m.total} elements outside tolerance`,
    `  worst at [${w.coord.join(", ")}]: actual ${g(w.actual)}, expected ${g(w.expected)}`,
    `  |diff| ${g(w.abs)} > tol ${g(w.tol)}; relative ${g(w.rel)}; ${Number.isFinite(w.ulps) ? w.ulps : "∞"} ULP`,
    ...(m.rule ? [`  tolerance rule: ${m.rule}`] : []),
  ].join("\n");
}
