/**
 * The exact oracle behind the golden files. Every float input is read as the exact binary
 * fraction it is (no decimal rounding on the way in); sums, differences, products and dot
 * products of such values are formed exactly (mathjs BigNumber with 400 significant digits, which
 * holds any sum of ≤ 64 products of float32 values without rounding); exp, ln, √, erf and the
 * divisions run at the working precision (60 digits by default) with the extra digits that
 * cancellation eats added where it can happen (erfc in the left tail, log1p, expm1). So each
 * finite value is right to well beyond the 40 significant digits the files keep.
 *
 * Special values follow the math and IEEE 754 limits, as the CPU reference does: a NaN input
 * propagates, ±∞ gives the limit of the formula (exp(−∞) = 0, log(0) = −∞, log(x < 0) = NaN,
 * σ(±∞) = 1/0, tanh(±∞) = ±1, gelu and silu (−∞) = −0), and an IEEE indeterminate form
 * (∞ − ∞, 0·∞, 0/0) is NaN. A zero result carries the sign IEEE arithmetic gives the defining
 * formula. A value whose magnitude is beyond BigNumber's exponent range (e^(3e38)) is written as
 * its limit, ±Infinity or ±0, which is what every float format rounds it to.
 *
 * Bad input is refused with InvalidArgumentError (op "golden:<op>", the argument's name): a NaN
 * unless the case says `allowNaN: true`, a value float32 cannot hold exactly (so one case serves
 * float32 and float64 backends alike), a shape the op's contract rejects.
 */
import { all, type BigNumber, create } from "mathjs";
import { UNARY_OPS } from "../src/engine/contract.ts";
import { InvalidArgumentError } from "../src/engine/errors.ts";

/** A tensor of a golden case: float data as exact numbers, or class indices (`int: true`). */
export interface GoldenTensor {
  readonly shape: readonly number[];
  readonly int?: true;
  readonly data: readonly number[];
}

export type AttrValue = number | string | boolean;

export interface GoldenCase {
  readonly name: string;
  /** The case deliberately feeds NaN ("NaN where defined"); without it NaN is an error. */
  readonly allowNaN?: boolean;
  readonly inputs: Readonly<Record<string, GoldenTensor>>;
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

/** An exact result tensor: BigNumbers, including ±Infinity, NaN and signed zeros. */
export interface ExactTensor {
  readonly shape: readonly number[];
  readonly data: readonly BigNumber[];
}

export type ExactOutputs = Record<string, ExactTensor>;

/** The ops the oracle knows: the pointwise kernels of the contract plus three references. */
export const GOLDEN_OPS = [
  ...UNARY_OPS,
  "add",
  "sub",
  "mul",
  "div",
  "sum",
  "mean",
  "variance",
  "max",
  "matmul",
  "softmax",
  "log_softmax",
  "logsumexp",
  "cross_entropy",
  "nll",
  "mse",
  "batch_norm",
  "layer_norm",
  "dropout_scale",
  "gaussian_logpdf",
  "gaussian_logpdf_mv",
  "activation_gain",
] as const;

export type GoldenOp = (typeof GOLDEN_OPS)[number];

export interface Oracle {
  /** The working precision in significant digits. */
  readonly precision: number;
  /** Validates a case and computes its exact outputs. */
  evaluate(op: GoldenOp, c: GoldenCase): ExactOutputs;
  /** erf at the working precision (exported for spot checks). */
  erf(x: number): BigNumber;
  /** Φ(x), the standard normal CDF, with full relative accuracy in the left tail. */
  normalCdf(x: number): BigNumber;
  /** 1/√E[tanh(Z)²] for Z ~ N(0, 1) by the trapezoid rule with step 1/stepsPerUnit. */
  tanhGain(stepsPerUnit?: number): BigNumber;
}

/** Significant digits kept in the files. */
export const DIGITS = 40;

/** Exact linear arithmetic on float32 values: see the header. */
const EXACT_DIGITS = 400;

const HALF_EVEN = 6;

interface BigCtor {
  new (v: number | string | BigNumber): BigNumber;
  clone(config: {
    precision?: number;
    rounding?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
    toExpNeg?: number;
    toExpPos?: number;
  }): BigCtor;
  readonly precision: number;
}

const math = create(all, { number: "BigNumber", precision: 60 });
const Base = (math.bignumber(0) as unknown as { constructor: BigCtor }).constructor;

const classes = new Map<number, BigCtor>();
/** The BigNumber class of `digits` significant digits (round half to even). */
function big(digits: number): BigCtor {
  let c = classes.get(digits);
  if (!c) {
    c = Base.clone({ precision: digits, rounding: HALF_EVEN, toExpNeg: -7, toExpPos: 21 });
    classes.set(digits, c);
  }
  return c;
}

/** The exact decimal expansion of a finite double (every double is m·2^e). */
export function exactDecimal(v: number): string {
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  const bits = view.getBigUint64(0);
  const sign = bits >> 63n ? "-" : "";
  const biased = Number((bits >> 52n) & 0x7ffn);
  let m = bits & ((1n << 52n) - 1n);
  let e = biased - 1075;
  if (biased === 0) e = -1074;
  else m |= 1n << 52n;
  while (e < 0 && (m & 1n) === 0n) {
    m >>= 1n;
    e++;
  }
  if (e >= 0) return sign + (m << BigInt(e)).toString();
  // m·2^e = m·5^(−e)·10^e.
  return `${sign}${(m * 5n ** BigInt(-e)).toString()}e${e}`;
}

/** A float input rendered for the files: the shortest round-trip decimal, with "-0". */
export function formatInput(v: number): string {
  return Object.is(v, -0) ? "-0" : String(v);
}

/** An exact value rendered for the files: 40 significant digits, rounded half to even. */
export function formatExact(v: BigNumber): string {
  if (v.isNaN()) return "NaN";
  if (!v.isFinite()) return v.isNeg() ? "-Infinity" : "Infinity";
  if (v.isZero()) return v.isNeg() ? "-0" : "0";
  return v.toSD(DIGITS, HALF_EVEN).toString();
}

const LN10 = Math.LN10;

export function makeOracle(precision = 60): Oracle {
  const X = big(EXACT_DIGITS);
  const W = big(precision);
  const tol = (digits: number) => new X(`1e-${digits}`);

  // ---------------------------------------------------------------- conversions and constants
  const ex = (v: number): BigNumber => new X(Number.isFinite(v) ? exactDecimal(v) : v);
  const nan = new X(Number.NaN);
  const posInf = new X(Number.POSITIVE_INFINITY);
  const negInf = new X(Number.NEGATIVE_INFINITY);
  const zero = new X(0);
  const negZero = new X("-0");
  const one = new X(1);
  /** The IEEE value of a JS float64 computation whose result is a special value or a zero. */
  const js = (v: number): BigNumber => ex(v);

  /** z rounded to the working precision plus guard digits: the argument of a transcendental. */
  const arg = (z: BigNumber, C: BigCtor = W, guard = 10): BigNumber =>
    z.isFinite() ? new C(z).toSD(C.precision + guard + Math.max(0, z.e)) : new C(z);

  const constants = new Map<number, { pi: BigNumber; sqrtPi: BigNumber; sqrt2: BigNumber }>();
  const consts = (C: BigCtor) => {
    let k = constants.get(C.precision);
    if (!k) {
      const pi = new C(-1).acos();
      k = { pi, sqrtPi: pi.sqrt(), sqrt2: new C(2).sqrt() };
      constants.set(C.precision, k);
    }
    return k;
  };

  const expW = (z: BigNumber, C: BigCtor = W): BigNumber => arg(z, C).exp();
  const lnW = (z: BigNumber, C: BigCtor = W): BigNumber => arg(z, C, 20).ln();

  /** e^y − 1 without the cancellation of exp(y) − 1 near 0. */
  const expm1 = (y: BigNumber): BigNumber => {
    if (y.abs().gte(0.5)) return expW(y).minus(1);
    const yw = arg(y);
    const eps = tol(precision + 5);
    let term: BigNumber = yw;
    let sum: BigNumber = yw;
    for (let n = 2; term.abs().gt(sum.abs().times(eps)); n++) {
      term = term.times(yw).div(n);
      sum = sum.plus(term);
    }
    return sum;
  };

  /** ln(1 + y) for y ≥ 0 without the rounding of 1 + y. */
  const log1p = (y: BigNumber): BigNumber => {
    if (y.gte(0.25)) return lnW(y.plus(1));
    const yw = arg(y);
    const eps = tol(precision + 5);
    let power: BigNumber = yw;
    let sum: BigNumber = yw;
    for (let n = 2; ; n++) {
      power = power.times(yw).neg();
      const term = power.div(n);
      sum = sum.plus(term);
      if (term.abs().lte(sum.abs().times(eps))) return sum;
    }
  };

  // ------------------------------------------------------------------------- erf and Φ
  /**
   * erf(t) for t ≥ 0 at `digits` digits by the series of positive terms
   * erf(t) = (2/√π)·e^(−t²)·Σ 2ⁿ t^(2n+1)/(2n+1)!!, which unlike the Maclaurin series never
   * cancels.
   */
  const erfSeries = (t: BigNumber, digits: number): BigNumber => {
    const C = big(digits);
    const tc = new C(t);
    const t2 = tc.times(tc);
    const eps = tol(digits + 5);
    let term: BigNumber = tc;
    let sum: BigNumber = tc;
    for (let n = 1; ; n++) {
      term = term
        .times(t2)
        .times(2)
        .div(2 * n + 1);
      sum = sum.plus(term);
      // Past n > t² the ratio is below 1/2, so the tail is below the last term.
      if (t2.lt(n / 2) && term.lte(sum.times(eps))) break;
    }
    return sum.times(2).div(consts(C).sqrtPi).times(expW(t2.neg(), C));
  };

  /**
   * erfc(t) for large t by its asymptotic series, which envelops the value: the error is below
   * the first omitted term, and where t² > (digits + 5)·ln 10 the smallest term is below
   * 10^−(digits + 5).
   */
  const erfcAsymptotic = (t: BigNumber, digits: number): BigNumber => {
    const C = big(digits);
    const tc = new C(t);
    const twoT2 = tc.times(tc).times(2);
    const eps = tol(digits + 5);
    let term: BigNumber = new C(1);
    let sum: BigNumber = new C(1);
    for (let n = 1; ; n++) {
      const next = term.times(-(2 * n - 1)).div(twoT2);
      if (next.abs().lt(eps) || next.abs().gte(term.abs())) break;
      term = next;
      sum = sum.plus(term);
    }
    const t2 = tc.times(tc);
    return expW(t2.neg(), C)
      .div(tc.times(consts(C).sqrtPi))
      .times(sum);
  };

  /** Whether erfc(t) < 10^−(digits + 5), where the asymptotic series is accurate. */
  const isTail = (t: BigNumber, digits: number) => t.times(t).gt((digits + 5) * LN10) || t.gt(1e8);

  /** erfc(t) for t ≥ 0 to the working precision, relative, however small it is. */
  const erfcPos = (t: BigNumber): BigNumber => {
    if (isTail(t, precision)) return erfcAsymptotic(t, precision + 5);
    // 1 − erf(t) cancels about log10(1/erfc t) ≤ t²/ln 10 + 2 digits: carry that many more.
    const t2 = t.times(t).toNumber();
    const digits = precision + 10 + Math.ceil(t2 / LN10);
    return new W(new X(1).minus(erfSeries(t, digits)));
  };

  /** erf(t) for t ≥ 0. */
  const erfPos = (t: BigNumber): BigNumber =>
    isTail(t, precision)
      ? new W(1).minus(erfcAsymptotic(t, precision + 5))
      : erfSeries(t, precision + 5);

  /** Φ(x) = ½·erfc(−x/√2), relative accuracy on both sides. */
  const phi = (x: BigNumber): BigNumber => {
    const C = big(precision + 10);
    const t = new C(x).abs().div(consts(C).sqrt2);
    if (x.isNeg()) return erfcPos(t).div(2);
    return new W(erfPos(t)).plus(1).div(2);
  };

  // ---------------------------------------------------------------- scalar functions
  const sigmoid = (x: BigNumber): BigNumber => {
    if (x.isNeg()) {
      const e = expW(x);
      return e.div(e.plus(1));
    }
    return new W(1).div(expW(x.neg()).plus(1));
  };

  /** tanh x for finite x ≠ 0: −expm1(−2|x|)/(2 + expm1(−2|x|)), odd. */
  const tanh = (x: BigNumber): BigNumber => {
    // Beyond this 1 − tanh|x| ≈ 2e^(−2|x|) is below 10^−(precision + 5): the value is ±1.
    if (x.abs().gt(((precision + 5) * LN10) / 2 + 1)) return new W(x.isNeg() ? -1 : 1);
    const m = expm1(x.abs().times(-2));
    const t = m.neg().div(m.plus(2));
    return x.isNeg() ? t.neg() : t;
  };

  // ------------------------------------------------------------------ validation helpers
  const fail = (op: string, arg: string, reason: string): never => {
    throw new InvalidArgumentError(`golden:${op}`, arg, reason);
  };

  const sizeOf = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);
  const fmtShape = (shape: readonly number[]) => `[${shape.join(", ")}]`;

  const tensorOf = (op: string, c: GoldenCase, name: string): GoldenTensor => {
    const t = c.inputs[name];
    if (!t) return fail(op, name, "missing input");
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(op, name, `shape ${fmtShape(t.shape)} is not a list of non-negative integers`);
    }
    if (t.data.length !== sizeOf(t.shape)) {
      fail(op, name, `${t.data.length} values do not fill shape ${fmtShape(t.shape)}`);
    }
    return t;
  };

  const float = (op: string, c: GoldenCase, name: string): GoldenTensor => {
    const t = tensorOf(op, c, name);
    if (t.int) fail(op, name, "expected float data, got class indices");
    t.data.forEach((v, i) => {
      if (Number.isNaN(v)) {
        if (!c.allowNaN) {
          fail(op, name, `NaN at index ${i}, but the case does not declare allowNaN: true`);
        }
      } else if (Math.fround(v) !== v) {
        fail(op, name, `${v} at index ${i} is not exactly representable in float32`);
      }
    });
    return t;
  };

  const indices = (op: string, c: GoldenCase, name: string, n: number, classes: number) => {
    const t = tensorOf(op, c, name);
    if (!t.int) fail(op, name, "expected class indices (int: true)");
    if (t.shape.length !== 1 || t.shape[0] !== n) {
      fail(op, name, `expected shape [${n}], got ${fmtShape(t.shape)}`);
    }
    t.data.forEach((k, i) => {
      if (!Number.isInteger(k) || k < 0 || k >= classes) {
        fail(op, name, `class index ${k} at ${i} is outside [0, ${classes})`);
      }
    });
    return t;
  };

  const shapeIs = (op: string, name: string, t: GoldenTensor, want: readonly number[]) => {
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      fail(op, name, `expected shape ${fmtShape(want)}, got ${fmtShape(t.shape)}`);
    }
  };

  /** A non-empty tensor of rank ≥ r. */
  const rankAtLeast = (op: string, name: string, t: GoldenTensor, r: number) => {
    if (t.shape.length < r) fail(op, name, `needs rank ≥ ${r}, got shape ${fmtShape(t.shape)}`);
    if (t.data.length === 0) fail(op, name, "must not be empty");
  };

  /** A float32-exact numeric attribute satisfying `ok`. */
  const numAttr = (
    op: string,
    c: GoldenCase,
    name: string,
    ok: (v: number) => boolean,
    what: string,
  ): number => {
    const v = c.attrs[name];
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) {
      return fail(op, name, `must be ${what}, got ${String(v)}`);
    }
    if (Math.fround(v) !== v) fail(op, name, `${v} is not exactly representable in float32`);
    return v;
  };

  const reductionAttr = (op: string, c: GoldenCase): "none" | "sum" | "mean" => {
    const r = c.attrs.reduction;
    if (r !== "none" && r !== "sum" && r !== "mean") {
      return fail(op, "reduction", `must be none | sum | mean, got ${String(r)}`);
    }
    return r;
  };

  const axisAttr = (op: string, c: GoldenCase, rank: number): number => {
    const a = c.attrs.axis;
    if (typeof a !== "number" || !Number.isInteger(a) || a < 0 || a >= rank) {
      return fail(op, "axis", `must be an integer in [0, ${rank}), got ${String(a)}`);
    }
    return a;
  };

  // ------------------------------------------------------------------------ op helpers
  const mapUnary = (x: GoldenTensor, f: (v: number) => BigNumber): ExactOutputs => ({
    y: { shape: [...x.shape], data: x.data.map(f) },
  });

  /** Finite x: f(exact x); otherwise the special value `special` gives. */
  const unaryOp =
    (special: (v: number) => BigNumber, f: (x: BigNumber, v: number) => BigNumber) =>
    (v: number): BigNumber =>
      Number.isFinite(v) ? f(ex(v), v) : special(v);

  /** NumPy broadcasting of shapes a and b (b named `nameB` in errors); flat index maps. */
  const broadcast = (op: string, a: readonly number[], b: readonly number[], nameB = "b") => {
    const n = Math.max(a.length, b.length);
    const shape: number[] = [];
    for (let i = 0; i < n; i++) {
      const da = a[a.length - n + i] ?? 1;
      const db = b[b.length - n + i] ?? 1;
      if (da !== db && da !== 1 && db !== 1) {
        fail(op, nameB, `shape ${fmtShape(b)} does not broadcast with ${fmtShape(a)}`);
      }
      shape.push(da === 1 ? db : da);
    }
    const index = (from: readonly number[]) => {
      const out = new Array<number>(sizeOf(shape));
      const offset = n - from.length;
      for (let flat = 0; flat < out.length; flat++) {
        let rest = flat;
        let idx = 0;
        let stride = 1;
        for (let d = n - 1; d >= 0; d--) {
          const coord = rest % shape[d];
          rest = Math.floor(rest / shape[d]);
          const fd = d - offset;
          if (fd >= 0) {
            if (from[fd] !== 1) idx += coord * stride;
            stride *= from[fd];
          }
        }
        out[flat] = idx;
      }
      return out;
    };
    return { shape, ia: index(a), ib: index(b) };
  };

  /**
   * A broadcasting binary op: exact on finite operands; where an operand is not finite, or the
   * exact result is zero or a pole, the IEEE float64 result of the same operation (which for
   * float32 operands never overflows or underflows, so it is the exact special value or zero).
   */
  const binaryOp = (
    op: GoldenOp,
    c: GoldenCase,
    exact: (x: BigNumber, y: BigNumber) => BigNumber,
    ieee: (x: number, y: number) => number,
  ): ExactOutputs => {
    const a = float(op, c, "a");
    const b = float(op, c, "b");
    const { shape, ia, ib } = broadcast(op, a.shape, b.shape);
    const data = ia.map((i, k) => {
      const x = a.data[i];
      const y = b.data[ib[k]];
      const f = ieee(x, y);
      if (!Number.isFinite(f) || f === 0) return js(f);
      return exact(ex(x), ex(y));
    });
    return { y: { shape, data } };
  };

  /** Runs along `axis`: calls f with each run's values and its output index. */
  const runs = (x: GoldenTensor, axis: number, f: (run: number[]) => BigNumber): ExactTensor => {
    const outer = sizeOf(x.shape.slice(0, axis));
    const n = x.shape[axis];
    const inner = sizeOf(x.shape.slice(axis + 1));
    const data: BigNumber[] = [];
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const run: number[] = [];
        for (let k = 0; k < n; k++) run.push(x.data[(o * n + k) * inner + j]);
        data.push(f(run));
      }
    }
    return { shape: x.shape.filter((_, d) => d !== axis), data };
  };

  /** The IEEE sum of values at least one of which is not finite (finite parts cannot overflow
   * float64 for float32 data, so this is the exact special value). */
  const ieeeSum = (vs: readonly number[]) => vs.reduce((s, v) => s + v, 0);

  /** Exact sum; a zero sum is −0 only when every term is −0 (IEEE round to nearest). */
  const exactSum = (vs: readonly number[]): BigNumber => {
    if (!vs.every(Number.isFinite)) return js(ieeeSum(vs));
    let s = zero;
    for (const v of vs) s = s.plus(ex(v));
    if (s.isZero()) return vs.length > 0 && vs.every((v) => Object.is(v, -0)) ? negZero : zero;
    return s;
  };

  /** Mean and Σ(x − μ)² of finite values, exact to EXACT_DIGITS. */
  const moments = (vs: readonly number[]) => {
    let s = zero;
    for (const v of vs) s = s.plus(ex(v));
    const mean = s.div(vs.length);
    let ss = zero;
    for (const v of vs) {
      const d = ex(v).minus(mean);
      ss = ss.plus(d.times(d));
    }
    return { mean, ss };
  };

  const variance = (vs: readonly number[], unbiased: boolean): BigNumber => {
    if (!vs.every(Number.isFinite)) return nan;
    const { ss } = moments(vs);
    return ss.div(unbiased ? vs.length - 1 : vs.length);
  };

  /** NaN if any NaN; otherwise the largest value (+0 over −0). */
  const maxOf = (vs: readonly number[]): BigNumber => {
    if (vs.some(Number.isNaN)) return nan;
    let m = vs[0];
    for (const v of vs) if (v > m || (v === 0 && m === 0 && Object.is(m, -0))) m = v;
    return ex(m);
  };

  /**
   * The softmax family over one row, as exact pieces: `shift[i]` = x_i − m exactly,
   * `expShift[i]` = e^(x_i − m), `lnS` = ln Σ e^(x − m) (through ln k + log1p(δ/k), with k the
   * number of maxima and δ the rest, so a sum that is 1 + tiny keeps its tiny part), and the
   * special-value verdict: NaN rows (a NaN, a +∞ entry, or all −∞), handled by the caller.
   */
  const softmaxRow = (row: readonly number[]) => {
    if (row.some(Number.isNaN)) return { kind: "nan" as const };
    const mv = Math.max(...row);
    if (mv === Number.POSITIVE_INFINITY) return { kind: "posinf" as const };
    if (mv === Number.NEGATIVE_INFINITY) return { kind: "neginf" as const };
    const m = ex(mv);
    const shift = row.map((v) => (v === Number.NEGATIVE_INFINITY ? negInf : ex(v).minus(m)));
    const expShift = row.map((v, i) =>
      v === Number.NEGATIVE_INFINITY ? zero : v === mv ? new W(1) : expW(shift[i]),
    );
    const k = row.filter((v) => v === mv).length;
    let delta = new W(0);
    row.forEach((v, i) => {
      if (v !== mv) delta = delta.plus(expShift[i]);
    });
    const lnS = (k === 1 ? new W(0) : lnW(new X(k))).plus(log1p(delta.div(k)));
    const sum = delta.plus(k);
    return { kind: "finite" as const, m, shift, expShift, lnS, sum };
  };

  const lastAxisRows = (x: GoldenTensor): number[][] => {
    const d = x.shape[x.shape.length - 1];
    const rows: number[][] = [];
    for (let off = 0; off < x.data.length; off += d) rows.push(x.data.slice(off, off + d));
    return rows;
  };

  /** log_softmax of a row as exact pieces, NaN for the NaN rows. */
  const logSoftmaxRow = (row: readonly number[]): BigNumber[] => {
    const r = softmaxRow(row);
    if (r.kind !== "finite") return row.map(() => nan);
    // (x − m) ≤ 0 and −lnS ≤ 0 never cancel.
    return r.shift.map((s) => (s.isFinite() ? s.minus(r.lnS) : negInf));
  };

  /** Reduces per-example losses: none keeps them, sum and mean add them exactly. */
  const reduceLosses = (losses: BigNumber[], reduction: "none" | "sum" | "mean"): ExactTensor => {
    if (reduction === "none") return { shape: [losses.length], data: losses };
    let total: BigNumber;
    if (losses.some((l) => !l.isFinite())) {
      total = js(ieeeSum(losses.map((l) => (l.isFinite() ? 0 : l.toNumber()))));
    } else {
      total = zero;
      for (const l of losses) total = total.plus(l);
      if (total.isZero()) total = losses.every((l) => l.isZero() && l.isNeg()) ? negZero : zero;
    }
    return { shape: [], data: [reduction === "sum" ? total : total.div(losses.length)] };
  };

  /**
   * Normalises a group of finite values with biased variance and ε inside the root:
   * x̂ = (x − μ)/√(σ² + ε). The root and the division run at 30 digits above the working
   * precision, so that γ·x̂ + β may cancel that much.
   */
  const normalise = (vs: readonly number[], eps: number) => {
    const { mean, ss } = moments(vs);
    const H = big(precision + 30);
    const std = new H(ss.div(vs.length).plus(ex(eps))).sqrt();
    const xhat = vs.map((v) => new H(ex(v).minus(mean)).div(std));
    return { mean, ss, xhat };
  };

  const affine = (xhat: BigNumber, gamma: number, beta: number): BigNumber =>
    xhat.times(ex(gamma)).plus(ex(beta));

  // ------------------------------------------------------------------------------ ops
  const ln2pi = () => {
    const H = big(precision + 30);
    return lnW(consts(H).pi.times(2), H);
  };

  const ops: Record<GoldenOp, (c: GoldenCase) => ExactOutputs> = {
    neg: (c) => mapUnary(float("neg", c, "x"), (v) => (Number.isNaN(v) ? nan : ex(v).neg())),

    exp: (c) =>
      mapUnary(
        float("exp", c, "x"),
        unaryOp(
          (v) => (Number.isNaN(v) ? nan : v > 0 ? posInf : zero),
          (x) => expW(x),
        ),
      ),

    log: (c) =>
      mapUnary(float("log", c, "x"), (v) => {
        if (Number.isNaN(v) || v < 0) return nan;
        if (v === 0) return negInf;
        if (v === Number.POSITIVE_INFINITY) return posInf;
        return v === 1 ? zero : lnW(ex(v));
      }),

    relu: (c) =>
      mapUnary(float("relu", c, "x"), (v) => (Number.isNaN(v) ? nan : v > 0 ? ex(v) : zero)),

    leaky_relu: (c) => {
      const x = float("leaky_relu", c, "x");
      const alpha = numAttr("leaky_relu", c, "alpha", () => true, "a finite number");
      return mapUnary(x, (v) => {
        if (Number.isNaN(v)) return nan;
        if (v > 0) return ex(v);
        // α·x; at −∞ the IEEE product: ∓∞, and NaN (0·∞) for α = 0, as PyTorch and TF.js give.
        if (v === Number.NEGATIVE_INFINITY) return js(alpha * v);
        const p = alpha * v;
        return p === 0 ? js(p) : ex(alpha).times(ex(v));
      });
    },

    sigmoid: (c) =>
      mapUnary(
        float("sigmoid", c, "x"),
        unaryOp(
          (v) => (Number.isNaN(v) ? nan : v > 0 ? one : zero),
          (x) => sigmoid(x),
        ),
      ),

    tanh: (c) =>
      mapUnary(
        float("tanh", c, "x"),
        unaryOp(
          (v) => (Number.isNaN(v) ? nan : new X(v > 0 ? 1 : -1)),
          (x, v) => (v === 0 ? x : tanh(x)),
        ),
      ),

    gelu: (c) =>
      mapUnary(
        float("gelu", c, "x"),
        unaryOp(
          (v) => (Number.isNaN(v) ? nan : v > 0 ? posInf : negZero),
          (x, v) => (v === 0 ? x : x.times(phi(x))),
        ),
      ),

    silu: (c) =>
      mapUnary(
        float("silu", c, "x"),
        unaryOp(
          (v) => (Number.isNaN(v) ? nan : v > 0 ? posInf : negZero),
          (x, v) => (v === 0 ? x : x.times(sigmoid(x))),
        ),
      ),

    add: (c) =>
      binaryOp(
        "add",
        c,
        (x, y) => x.plus(y),
        (x, y) => x + y,
      ),
    sub: (c) =>
      binaryOp(
        "sub",
        c,
        (x, y) => x.minus(y),
        (x, y) => x - y,
      ),
    mul: (c) =>
      binaryOp(
        "mul",
        c,
        (x, y) => x.times(y),
        (x, y) => x * y,
      ),
    div: (c) =>
      binaryOp(
        "div",
        c,
        (x, y) => x.div(y),
        (x, y) => x / y,
      ),

    sum: (c) => {
      const x = float("sum", c, "x");
      rankAtLeast("sum", "x", x, 1);
      return { y: runs(x, axisAttr("sum", c, x.shape.length), exactSum) };
    },

    mean: (c) => {
      const x = float("mean", c, "x");
      rankAtLeast("mean", "x", x, 1);
      const y = runs(x, axisAttr("mean", c, x.shape.length), (run) =>
        exactSum(run).div(run.length),
      );
      return { y };
    },

    variance: (c) => {
      const x = float("variance", c, "x");
      rankAtLeast("variance", "x", x, 1);
      const axis = axisAttr("variance", c, x.shape.length);
      const unbiased = c.attrs.unbiased;
      if (typeof unbiased !== "boolean") {
        fail("variance", "unbiased", `must be a boolean, got ${String(unbiased)}`);
      }
      if (unbiased && x.shape[axis] < 2) {
        fail("variance", "x", "the unbiased variance needs at least 2 elements along the axis");
      }
      return { y: runs(x, axis, (run) => variance(run, unbiased === true)) };
    },

    max: (c) => {
      const x = float("max", c, "x");
      rankAtLeast("max", "x", x, 1);
      return { y: runs(x, axisAttr("max", c, x.shape.length), maxOf) };
    },

    matmul: (c) => {
      const a = float("matmul", c, "a");
      const b = float("matmul", c, "b");
      rankAtLeast("matmul", "a", a, 2);
      rankAtLeast("matmul", "b", b, 2);
      const r = a.shape.length;
      if (b.shape.length !== r) fail("matmul", "b", `rank ${b.shape.length} differs from a's ${r}`);
      const lead = a.shape.slice(0, r - 2);
      if (lead.some((d, i) => d !== b.shape[i])) {
        fail(
          "matmul",
          "b",
          `batch dims of ${fmtShape(b.shape)} differ from a's ${fmtShape(a.shape)}`,
        );
      }
      const [m, k] = a.shape.slice(r - 2);
      const [k2, n] = b.shape.slice(r - 2);
      if (k !== k2)
        fail("matmul", "b", `inner dims differ: ${fmtShape(a.shape)} × ${fmtShape(b.shape)}`);
      const batch = sizeOf(lead);
      const data: BigNumber[] = [];
      for (let t = 0; t < batch; t++) {
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            const av: number[] = [];
            const bv: number[] = [];
            for (let p = 0; p < k; p++) {
              av.push(a.data[t * m * k + i * k + p]);
              bv.push(b.data[t * k * n + p * n + j]);
            }
            const products = av.map((x, p) => x * bv[p]);
            if (!products.every(Number.isFinite)) {
              data.push(js(ieeeSum(products)));
              continue;
            }
            let s = zero;
            for (let p = 0; p < k; p++) s = s.plus(ex(av[p]).times(ex(bv[p])));
            if (s.isZero()) s = products.every((q) => Object.is(q, -0)) ? negZero : zero;
            data.push(s);
          }
        }
      }
      return { y: { shape: [...lead, m, n], data } };
    },

    softmax: (c) => {
      const x = float("softmax", c, "x");
      rankAtLeast("softmax", "x", x, 1);
      const data = lastAxisRows(x).flatMap((row) => {
        const r = softmaxRow(row);
        if (r.kind !== "finite") return row.map(() => nan);
        return r.expShift.map((e) => e.div(r.sum));
      });
      return { y: { shape: [...x.shape], data } };
    },

    log_softmax: (c) => {
      const x = float("log_softmax", c, "x");
      rankAtLeast("log_softmax", "x", x, 1);
      return { y: { shape: [...x.shape], data: lastAxisRows(x).flatMap(logSoftmaxRow) } };
    },

    logsumexp: (c) => {
      const x = float("logsumexp", c, "x");
      rankAtLeast("logsumexp", "x", x, 1);
      const data = lastAxisRows(x).map((row) => {
        const r = softmaxRow(row);
        if (r.kind === "nan") return nan;
        if (r.kind === "posinf") return posInf;
        if (r.kind === "neginf") return negInf;
        return r.m.plus(r.lnS);
      });
      return { y: { shape: x.shape.slice(0, -1), data } };
    },

    cross_entropy: (c) => {
      const op = "cross_entropy";
      const logits = float(op, c, "logits");
      if (logits.shape.length !== 2) {
        fail(op, "logits", `expected shape [N, C], got ${fmtShape(logits.shape)}`);
      }
      const [n, classes] = logits.shape;
      const reduction = reductionAttr(op, c);
      const rows = lastAxisRows(logits);
      const target = c.inputs.target;
      let losses: BigNumber[];
      if (target?.int) {
        const t = indices(op, c, "target", n, classes);
        losses = rows.map((row, i) => logSoftmaxRow(row)[t.data[i]].neg());
      } else {
        const t = float(op, c, "target");
        shapeIs(op, "target", t, logits.shape);
        if (!t.data.every((p) => Number.isFinite(p) && p >= 0)) {
          fail(op, "target", "soft targets must be finite and non-negative");
        }
        losses = rows.map((row, i) => {
          const ls = logSoftmaxRow(row);
          // −Σ t·log_softmax, skipping t = 0 (0·log 0 = 0); every term is ≥ 0: no cancellation.
          let acc: BigNumber = negZero;
          let special: number | undefined;
          for (let j = 0; j < classes; j++) {
            const tj = t.data[i * classes + j];
            if (tj === 0) continue;
            const l = ls[j];
            if (!l.isFinite()) special = (special ?? 0) + tj * l.toNumber();
            else acc = acc.minus(ex(tj).times(l));
          }
          return special === undefined ? acc : js(-special);
        });
      }
      return { y: reduceLosses(losses, reduction) };
    },

    nll: (c) => {
      const op = "nll";
      const logp = float(op, c, "logp");
      if (logp.shape.length !== 2) {
        fail(op, "logp", `expected shape [N, C], got ${fmtShape(logp.shape)}`);
      }
      const [n, classes] = logp.shape;
      const t = indices(op, c, "target", n, classes);
      const reduction = reductionAttr(op, c);
      const losses = t.data.map((k, i) => {
        const v = logp.data[i * classes + k];
        return Number.isNaN(v) ? nan : ex(v).neg();
      });
      return { y: reduceLosses(losses, reduction) };
    },

    mse: (c) => {
      const op = "mse";
      const pred = float(op, c, "pred");
      const target = float(op, c, "target");
      shapeIs(op, "target", target, pred.shape);
      const reduction = reductionAttr(op, c);
      const sq = pred.data.map((p, i) => {
        const d = p - target.data[i];
        if (!Number.isFinite(d)) return js(d * d);
        if (d === 0) return zero;
        const e = ex(p).minus(ex(target.data[i]));
        return e.times(e);
      });
      if (reduction === "none") return { y: { shape: [...pred.shape], data: sq } };
      const { data } = reduceLosses(sq, "sum");
      const total = data[0];
      return { y: { shape: [], data: [reduction === "sum" ? total : total.div(sq.length)] } };
    },

    batch_norm: (c) => {
      const op = "batch_norm";
      const x = float(op, c, "x");
      if (x.shape.length !== 2) fail(op, "x", `expected shape [N, C], got ${fmtShape(x.shape)}`);
      const [n, features] = x.shape;
      const params = ["gamma", "beta", "runningMean", "runningVar"].map((name) => {
        const t = float(op, c, name);
        shapeIs(op, name, t, [features]);
        if (!t.data.every(Number.isFinite)) fail(op, name, "must be finite");
        return t.data;
      });
      const [gamma, beta, rm, rv] = params;
      const eps = numAttr(op, c, "eps", (e) => e > 0, "a positive number");
      const momentum = numAttr(op, c, "momentum", (m) => m >= 0 && m <= 1, "in [0, 1]");
      const training = c.attrs.training;
      if (typeof training !== "boolean") {
        fail(op, "training", `must be a boolean, got ${String(training)}`);
      }
      if (training && n < 2) fail(op, "x", "training mode needs at least 2 examples per feature");
      const y = new Array<BigNumber>(n * features);
      const newMean: BigNumber[] = [];
      const newVar: BigNumber[] = [];
      const keep = new X(1).minus(ex(momentum));
      for (let f = 0; f < features; f++) {
        const col = Array.from({ length: n }, (_, i) => x.data[i * features + f]);
        if (!training) {
          const H = big(precision + 30);
          const std = new H(ex(rv[f]).plus(ex(eps))).sqrt();
          col.forEach((v, i) => {
            y[i * features + f] = Number.isFinite(v)
              ? affine(new H(ex(v).minus(ex(rm[f]))).div(std), gamma[f], beta[f])
              : Number.isNaN(v) || gamma[f] === 0
                ? nan
                : js(v * gamma[f]);
          });
          newMean.push(ex(rm[f]));
          newVar.push(ex(rv[f]));
          continue;
        }
        if (!col.every(Number.isFinite)) {
          // A NaN or ±∞ in the column: μ is NaN or ±∞, x − μ has NaN or ∞ − ∞, σ² is NaN.
          const mu = ieeeSum(col) / n;
          col.forEach((_, i) => {
            y[i * features + f] = nan;
          });
          newMean.push(js((1 - momentum) * rm[f] + momentum * mu));
          newVar.push(nan);
          continue;
        }
        const { mean, ss, xhat } = normalise(col, eps);
        xhat.forEach((h, i) => {
          y[i * features + f] = affine(h, gamma[f], beta[f]);
        });
        newMean.push(keep.times(ex(rm[f])).plus(ex(momentum).times(mean)));
        newVar.push(keep.times(ex(rv[f])).plus(ex(momentum).times(ss.div(n - 1))));
      }
      return {
        y: { shape: [n, features], data: y },
        runningMean: { shape: [features], data: newMean },
        runningVar: { shape: [features], data: newVar },
      };
    },

    layer_norm: (c) => {
      const op = "layer_norm";
      const x = float(op, c, "x");
      rankAtLeast(op, "x", x, 1);
      const d = x.shape[x.shape.length - 1];
      const [gamma, beta] = ["gamma", "beta"].map((name) => {
        const t = float(op, c, name);
        shapeIs(op, name, t, [d]);
        if (!t.data.every(Number.isFinite)) fail(op, name, "must be finite");
        return t.data;
      });
      const eps = numAttr(op, c, "eps", (e) => e > 0, "a positive number");
      const data = lastAxisRows(x).flatMap((row) => {
        if (!row.every(Number.isFinite)) return row.map(() => nan);
        return normalise(row, eps).xhat.map((h, k) => affine(h, gamma[k], beta[k]));
      });
      return { y: { shape: [...x.shape], data } };
    },

    dropout_scale: (c) => {
      const p = numAttr("dropout_scale", c, "p", (v) => v >= 0 && v < 1, "in [0, 1)");
      return { y: { shape: [], data: [new X(1).div(new X(1).minus(ex(p)))] } };
    },

    gaussian_logpdf: (c) => {
      const op = "gaussian_logpdf";
      const x = float(op, c, "x");
      const mu = float(op, c, "mu");
      const sigma = float(op, c, "sigma");
      if (!sigma.data.every((s) => Number.isFinite(s) && s > 0)) {
        fail(op, "sigma", "must be finite and positive");
      }
      const xm = broadcast(op, x.shape, mu.shape, "mu");
      const outer = broadcast(op, xm.shape, sigma.shape, "sigma");
      const half = ln2pi().div(2);
      const data = outer.ia.map((k, o) => {
        const xv = x.data[xm.ia[k]];
        const mv = mu.data[xm.ib[k]];
        const s = sigma.data[outer.ib[o]];
        const diff = xv - mv;
        if (Number.isNaN(diff)) return nan;
        if (!Number.isFinite(diff)) return negInf;
        const z = ex(xv).minus(ex(mv)).div(ex(s));
        // −½ln 2π − ln σ − ½z², in H so that the three terms may cancel.
        return half
          .neg()
          .minus(lnW(ex(s), big(precision + 30)))
          .minus(z.times(z).div(2));
      });
      return { y: { shape: outer.shape, data } };
    },

    gaussian_logpdf_mv: (c) => {
      const op = "gaussian_logpdf_mv";
      const x = float(op, c, "x");
      if (x.shape.length !== 2) fail(op, "x", `expected shape [N, D], got ${fmtShape(x.shape)}`);
      const [n, d] = x.shape;
      const mu = float(op, c, "mu");
      shapeIs(op, "mu", mu, [d]);
      const cov = float(op, c, "cov");
      shapeIs(op, "cov", cov, [d, d]);
      if (!cov.data.every(Number.isFinite)) fail(op, "cov", "must be finite");
      if (!mu.data.every(Number.isFinite)) fail(op, "mu", "must be finite");
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < i; j++) {
          if (cov.data[i * d + j] !== cov.data[j * d + i]) fail(op, "cov", "must be symmetric");
        }
      }
      // Cholesky Σ = L·Lᵀ at 30 digits above the working precision.
      const H = big(precision + 30);
      const L: BigNumber[][] = Array.from({ length: d }, () => new Array<BigNumber>(d));
      for (let i = 0; i < d; i++) {
        for (let j = 0; j <= i; j++) {
          let s: BigNumber = new H(ex(cov.data[i * d + j]));
          for (let k = 0; k < j; k++) s = s.minus(L[i][k].times(L[j][k]));
          if (i === j) {
            if (!s.gt(0)) fail(op, "cov", "must be positive definite");
            L[i][i] = s.sqrt();
          } else L[i][j] = s.div(L[j][j]);
        }
      }
      let logDet: BigNumber = new H(0);
      for (let i = 0; i < d; i++) logDet = logDet.plus(lnW(L[i][i], H).times(2));
      const norm = ln2pi().times(d).plus(logDet).div(2);
      const data = Array.from({ length: n }, (_, r) => {
        const row = x.data.slice(r * d, (r + 1) * d);
        const diff = row.map((v, i) => v - mu.data[i]);
        if (diff.some(Number.isNaN)) return nan;
        if (!diff.every(Number.isFinite)) return negInf;
        // Forward substitution L·z = x − μ; the quadratic form is |z|².
        const z: BigNumber[] = [];
        let q: BigNumber = new H(0);
        for (let i = 0; i < d; i++) {
          let s: BigNumber = new H(ex(row[i]).minus(ex(mu.data[i])));
          for (let k = 0; k < i; k++) s = s.minus(L[i][k].times(z[k]));
          z.push(s.div(L[i][i]));
          q = q.plus(z[i].times(z[i]));
        }
        return norm.neg().minus(q.div(2));
      });
      return { y: { shape: [n], data } };
    },

    activation_gain: (c) => {
      const op = "activation_gain";
      const f = c.attrs.activation;
      let second: BigNumber;
      if (f === "tanh") second = tanhSecondMoment(16);
      else if (f === "relu") second = new X(1).div(2);
      else if (f === "identity") second = new X(1);
      else if (f === "leaky_relu") {
        // E[f(Z)²] = ½E[Z²] + ½α²E[Z²] = (1 + α²)/2.
        const alpha = ex(numAttr(op, c, "alpha", () => true, "a finite number"));
        second = alpha.times(alpha).plus(1).div(2);
      } else {
        return fail(
          op,
          "activation",
          `must be tanh | relu | identity | leaky_relu, got ${String(f)}`,
        );
      }
      const gain = new X(1).div(new X(second).sqrt());
      return { y: { shape: [], data: [gain] }, secondMoment: { shape: [], data: [second] } };
    },
  };

  /**
   * E[tanh(Z)²] = 1 − E[sech²(Z)] by the trapezoid rule on the real line with step h = 1/s.
   * sech²(x)·φ(x) is analytic in the strip |Im x| < π/2 and decays like e^(−x²/2), so the rule
   * converges geometrically: the error is about e^(−2π·a/h) for any a < π/2, below 1e-60 at
   * h = 1/16 (a = 1.5); cutting the range at |x| = 16 drops less than e^(−160).
   */
  function tanhSecondMoment(stepsPerUnit: number): BigNumber {
    const H = big(precision + 20);
    const h = new H(1).div(stepsPerUnit);
    const points = 16 * stepsPerUnit;
    // Recurrences instead of 2 exps per node: e^(−2x) and e^(−x²/2) at x = k·h.
    const r = expW(h.times(-2), H);
    const s = expW(h.times(h).neg(), H);
    let q = expW(h.times(h).div(-2), H);
    let e2x: BigNumber = new H(1);
    let gauss: BigNumber = new H(1);
    let total: BigNumber = new H(0);
    for (let k = 1; k <= points; k++) {
      e2x = e2x.times(r);
      gauss = gauss.times(q);
      q = q.times(s);
      // sech² x = 4e^(−2x)/(1 + e^(−2x))².
      const sech2 = e2x.times(4).div(e2x.plus(1).times(e2x.plus(1)));
      total = total.plus(sech2.times(gauss));
    }
    // Node 0 once (sech² 0 = 1, e^0 = 1), the others twice by symmetry.
    const integral = total.times(2).plus(1).times(h).div(consts(H).pi.times(2).sqrt());
    return new H(1).minus(integral);
  }

  return {
    precision,
    evaluate(op, c) {
      const run = ops[op];
      if (!run) return fail(op, "op", "unknown op");
      return run(c);
    },
    erf(x) {
      if (Number.isNaN(x)) return nan;
      const t = ex(Math.abs(x));
      const v = x === 0 ? ex(x) : Number.isFinite(x) ? erfPos(t) : new W(1);
      return x < 0 ? v.neg() : v;
    },
    normalCdf(x) {
      if (Number.isNaN(x)) return nan;
      if (!Number.isFinite(x)) return x > 0 ? one : zero;
      return phi(ex(x));
    },
    tanhGain(stepsPerUnit = 16) {
      return new X(1).div(new X(tanhSecondMoment(stepsPerUnit)).sqrt());
    },
  };
}
