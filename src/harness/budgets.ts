/**
 * Each op's accuracy budget: the per-element absolute tolerance a correct kernel in `dtype`
 * meets when compared with the exact (float64 reference) result on the same inputs.
 * The bounds are first-order error analyses of any reasonable algorithm (any summation order,
 * max-subtracted or online softmax, two-pass or Welford variance), so a correct float32 kernel
 * from a real library passes and a kernel with a real bug does not.
 */
import type { Attrs, Inputs, OpName, Output } from "../engine/contract.ts";
import {
  type AnyTensor,
  broadcastIndex,
  broadcastShapes,
  type FloatDType,
  type Tensor,
  tensor,
} from "../engine/tensor.ts";
import { type Budget, minNormal, type ToleranceField, ulpOf, unitRoundoff } from "./tolerance.ts";

interface Ctx {
  /** One ULP of the backend's dtype at |y|. */
  ulp: (y: number) => number;
  u: number;
  k: number;
  factor: number;
  floor: number;
}

type Fields = Record<string, ToleranceField>;

/** |f′(x)| and |f″(x)| for the elementwise ops: conditioning of f and of its derivative. */
const SQRT1_2PI = 1 / Math.sqrt(2 * Math.PI);
const sig = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const pdf = (x: number) => SQRT1_2PI * Math.exp(-0.5 * x * x);
const elementwise: Partial<
  Record<OpName, { d1: (x: number, alpha: number) => number; d2: (x: number) => number }>
> = {
  neg: { d1: () => 1, d2: () => 0 },
  exp: { d1: (x) => Math.exp(x), d2: (x) => Math.exp(x) },
  log: { d1: (x) => 1 / x, d2: (x) => 1 / (x * x) },
  relu: { d1: (x) => (x > 0 ? 1 : 0), d2: () => 0 },
  leaky_relu: { d1: (x, a) => (x > 0 ? 1 : Math.abs(a)), d2: () => 0 },
  // σ′ = σ(x)σ(−x) and tanh′ = 1/cosh² do not cancel to 0 in the tails as σ(1−σ) and 1−tanh² do.
  sigmoid: { d1: (x) => sig(x) * sig(-x), d2: (x) => sig(x) * sig(-x) * Math.abs(1 - 2 * sig(x)) },
  tanh: {
    d1: (x) => 1 / Math.cosh(x) ** 2,
    d2: (x) => (2 * Math.abs(Math.tanh(x))) / Math.cosh(x) ** 2,
  },
  // GELU′ = Φ + xφ ∈ [−0.13, 1.13]; silu′ similar: bounded by 1.1 in magnitude.
  gelu: {
    d1: (x) => Math.min(1.13, Math.abs(0.5 * (1 + Math.tanh(0.8 * x)) + x * pdf(x))),
    d2: (x) => Math.abs(pdf(x) * (2 - x * x)),
  },
  silu: {
    d1: (x) => Math.abs(sig(x) * (1 + x * (1 - sig(x)))),
    d2: (x) => Math.abs(sig(x) * sig(-x) * (2 + x * (1 - 2 * sig(x)))),
  },
};

/**
 * What honest float32 kernels add beyond the first-order bound: GELU's Φ = ½(1 + erf) is only
 * accurate to a few u absolutely (1 + erf cancels in the left tail), and real libraries form
 * the activation gradients from the rounded output (σ′ = y(1−y), tanh′ = 1 − y²,
 * SiLU′ = σ(1 + x(1−σ))), which inherits the output's error times ∂g/∂y.
 */
const PHI_ULPS = 4;
function libraryAllowance(
  op: OpName,
  x: number,
  dy: number | undefined,
  u: number,
  k: number,
  floor: number,
): number {
  const s = sig(x);
  const tolSigma = u * (k * s + Math.abs(x) * s * sig(-x));
  const g = dy === undefined ? 0 : Math.abs(dy);
  switch (op) {
    case "log":
      // WGSL (and Metal's fast math) promise log only to an absolute 2⁻²¹ on [0.5, 2], where
      // log(x) nears 0: relative to a result near 0 that is many ULPs (tfjs-webgpu: 39 at 0.979).
      return dy === undefined && x >= 0.5 && x <= 2 ? 8 * u : 0;
    case "gelu":
      return dy === undefined ? PHI_ULPS * u * Math.abs(x) : PHI_ULPS * u * g;
    case "sigmoid":
      return g * Math.abs(1 - 2 * s) * tolSigma;
    case "silu":
      // x/(1 + e⁻ˣ) flushes to ±0 once σ(x) is subnormal (x < −87.3) while x·σ(x) is still
      // normal: the flush is the minimum normal scaled by |x|.
      return dy === undefined
        ? floor * Math.max(1, Math.abs(x))
        : g * (Math.abs(1 + x - 2 * x * s) * tolSigma + floor * Math.max(1, Math.abs(x)));
    case "tanh": {
      const t = Math.tanh(x);
      return g * 2 * Math.abs(t) * u * (k * Math.abs(t) + Math.abs(x) / Math.cosh(x) ** 2);
    }
    default:
      return 0;
  }
}

const field = (n: number, rule: string, at: (i: number) => number): ToleranceField => {
  const tol = new Float64Array(n);
  for (let i = 0; i < n; i++) tol[i] = at(i);
  return { tol, rule };
};

/** Splits a tensor into rows along its last axis. */
const rows = (t: Tensor) => {
  const n = t.shape[t.shape.length - 1];
  return { n, count: t.data.length / n };
};

/**
 * Relative error, in units of u, that each unit of a shifted logit |dᵢ| = |xᵢ − max| may bring
 * into e^dᵢ: 1 from rounding the subtraction, and 4 from exp itself, because WGSL lets exp be
 * 3 + 2|x| ULP off (an ULP is up to 2u relative) and GPUs use that room (exp2(x·log₂e) on
 * SwiftShader and in TensorFlow.js's WebGPU shaders). A law cannot ask more of a float32 GPU
 * kernel than its language promises; a wrong softmax is still off by far more.
 */
const SHIFT = 5;

/** Per-row magnitudes of a softmax computation: the shifted logits dᵢ = xᵢ − max and
 * SHIFT·Σ pⱼ|dⱼ|. */
function softmaxRow(x: ArrayLike<number>, start: number, n: number) {
  let m = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < n; j++) m = Math.max(m, x[start + j]);
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(x[start + j] - m);
  let spread = 0;
  for (let j = 0; j < n; j++) {
    const d = x[start + j] - m;
    if (Number.isFinite(d)) spread += (Math.exp(d) / s) * Math.abs(d);
  }
  return { m, lse: m + Math.log(s), spread: SHIFT * spread };
}

function reductionLength(
  op: OpName,
  inputs: Record<string, unknown>,
  attrs: Record<string, unknown>,
): number {
  const x = (inputs.x ?? inputs.logits ?? inputs.logp ?? inputs.pred ?? inputs.a) as Tensor;
  switch (op) {
    case "sum":
    case "mean":
    case "max":
    case "variance":
      return x.shape[attrs.axis as number];
    case "matmul":
      return x.shape[x.shape.length - 1];
    case "batch_norm":
      return x.shape[0];
    case "mse":
      return x.data.length;
    default:
      return x.shape[x.shape.length - 1] ?? 1;
  }
}

function forwardFields(
  op: OpName,
  i: Record<string, unknown>,
  a: Record<string, unknown>,
  out: Record<string, Tensor>,
  c: Ctx,
): Fields {
  const { u, k, factor, floor, ulp } = c;
  const y = out.y;
  const ew = elementwise[op];
  if (ew) {
    const x = (i.x as Tensor).data;
    const alpha = (a.alpha as number | undefined) ?? 0;
    return {
      y: field(
        y.data.length,
        `${k} ULP(f(x)) + u·|x·f′(x)| + library allowance`,
        (j) =>
          k * ulp(y.data[j]) +
          u * Math.abs(x[j] * ew.d1(x[j], alpha)) +
          libraryAllowance(op, x[j], undefined, u, k, floor) +
          floor,
      ),
    };
  }
  switch (op) {
    case "add":
    case "sub":
    case "mul":
    case "div":
      return { y: field(y.data.length, `${k} ULP(y)`, (j) => k * ulp(y.data[j]) + floor) };
    case "max":
      // Exact, except that a GPU may flush a subnormal maximum to 0 (WGSL allows it; I4c names it).
      return {
        y: field(y.data.length, "exact (a subnormal may flush to 0)", (j) =>
          Math.abs(y.data[j]) < floor ? floor : 0,
        ),
      };
    case "sum":
    case "mean":
    case "variance": {
      const x = i.x as Tensor;
      const axis = a.axis as number;
      const n = x.shape[axis];
      const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
      const tol = new Float64Array(y.data.length);
      for (let o = 0; o < y.data.length; o++) {
        const base = Math.floor(o / inner) * n * inner + (o % inner);
        let sa = 0;
        let mean = 0;
        for (let j = 0; j < n; j++) mean += x.data[base + j * inner] / n;
        let dev = 0;
        for (let j = 0; j < n; j++) {
          const v = x.data[base + j * inner];
          sa += Math.abs(v);
          dev += (v - mean) ** 2;
        }
        const nu = factor * n * u;
        if (op === "sum") tol[o] = nu * sa + k * u * Math.abs(y.data[o]);
        else if (op === "mean") tol[o] = (nu * sa) / n + k * u * Math.abs(y.data[o]);
        else {
          // Two-pass: n·u relative to the spread, plus the square of the mean's error. Welford and
          // Chan's merge add n·u·κ relative, κ = mean|x|/σ (Chan, Golub & LeVeque 1983); the
          // one-pass E[x²] − E[x]² loses n·u·κ², which stays outside.
          const div = a.unbiased ? n - 1 : n;
          const welford = nu * (sa / n) * Math.sqrt(n * dev);
          tol[o] =
            (nu * dev + welford + n * (nu * (sa / n)) ** 2) / div + k * u * Math.abs(y.data[o]);
          // A GPU may flush each squared deviation below the smallest normal to 0 (WGSL allows
          // it): n of them lose up to n·floor before the division, not one floor.
          tol[o] += ((n - div) * floor) / div;
        }
        tol[o] += floor;
      }
      return {
        y: {
          tol,
          rule:
            op === "variance"
              ? `factor·n·u·(Σ(x−μ)² + mean|x|·√(n·Σ(x−μ)²) + n·(factor·n·u·mean|x|)²)/(n or n−1) + ${k}·u·|y|`
              : `factor·n·u·Σ|x|${op === "mean" ? "/n" : ""} + ${k}·u·|y|`,
        },
      };
    }
    case "matmul": {
      const A = i.a as Tensor;
      const B = i.b as Tensor;
      const r = A.shape.length;
      const [m, kk] = [A.shape[r - 2], A.shape[r - 1]];
      const n = B.shape[r - 1];
      const tol = new Float64Array(y.data.length);
      for (let o = 0; o < y.data.length; o++) {
        const batch = Math.floor(o / (m * n));
        const row = Math.floor((o % (m * n)) / n);
        const col = o % n;
        let s = 0;
        for (let p = 0; p < kk; p++) {
          s += Math.abs(
            A.data[batch * m * kk + row * kk + p] * B.data[batch * kk * n + p * n + col],
          );
        }
        tol[o] = factor * (kk + 1) * u * s + k * u * Math.abs(y.data[o]) + floor;
      }
      return { y: { tol, rule: `factor·(k+1)·u·Σ|aᵢₚ·bₚⱼ| + ${k}·u·|y|` } };
    }
    case "softmax":
    case "log_softmax":
    case "logsumexp": {
      const x = i.x as Tensor;
      const { n, count } = rows(x);
      const tol = new Float64Array(y.data.length);
      for (let r = 0; r < count; r++) {
        const { m, lse, spread } = softmaxRow(x.data, r * n, n);
        const rowErr = factor * n + 2 * k + spread;
        if (op === "logsumexp") {
          tol[r] = u * (rowErr + k * Math.abs(lse) + Math.abs(m)) + floor;
          continue;
        }
        for (let j = 0; j < n; j++) {
          const d = SHIFT * Math.abs(x.data[r * n + j] - m);
          const idx = r * n + j;
          tol[idx] =
            op === "softmax"
              ? u * Math.abs(y.data[idx]) * (rowErr + d) + floor
              : u * (rowErr + d + k * Math.abs(y.data[idx]) + Math.abs(lse - m) + Math.abs(lse)) +
                floor;
        }
      }
      return {
        y: {
          tol,
          rule:
            op === "softmax"
              ? "u·yᵢ·(factor·n + 2k + 5|xᵢ−max| + 5Σpⱼ|xⱼ−max|)"
              : "u·(factor·n + 2k + 5|xᵢ−max| + 5Σpⱼ|xⱼ−max| + k·|y| + |lse−max| + |lse|)",
        },
      };
    }
    case "cross_entropy":
    case "nll": {
      const logits = (op === "cross_entropy" ? i.logits : i.logp) as Tensor;
      const [N, C] = logits.shape;
      const target = i.target as Tensor | { data: Int32Array };
      const per = new Float64Array(N);
      let total = 0;
      let sumAbs = 0;
      for (let r = 0; r < N; r++) {
        let picked = 0;
        let mass = 1;
        if (target.data instanceof Int32Array)
          picked = Math.abs(logits.data[r * C + target.data[r]]);
        else {
          mass = 0;
          for (let j = 0; j < C; j++) {
            const t = target.data[r * C + j];
            // A class with no target mass contributes nothing, even at a −∞ logit (not 0·∞).
            if (t === 0) continue;
            picked += t * Math.abs(logits.data[r * C + j]);
            mass += t;
          }
        }
        if (op === "nll") per[r] = k * u * picked;
        else {
          const { lse, spread } = softmaxRow(logits.data, r * C, C);
          // With soft targets Σtⱼ·xⱼ is a dot product over C classes: an order-free sum bound.
          const dot = target.data instanceof Int32Array ? k : factor * C + k;
          per[r] = u * (mass * (factor * C + 2 * k + spread + k * Math.abs(lse)) + dot * picked);
        }
        total += per[r];
        sumAbs += Math.abs(op === "nll" ? picked : picked + Math.abs(lse0(logits, r, C)));
      }
      const reduction = a.reduction as string;
      if (reduction === "none") {
        return {
          y: {
            tol: per.map((t) => t + floor),
            rule: "per row: u·Σt·(factor·C + 2k + 5Σpⱼ|xⱼ−max| + k·|lse|) + u·(k, or factor·C + k for soft targets)·Σtⱼ|xⱼ|",
          },
        };
      }
      const summed = total + factor * N * u * sumAbs;
      const tol = Float64Array.of(
        (reduction === "mean" ? summed / N : summed) + k * u * Math.abs(y.data[0]) + floor,
      );
      return {
        y: {
          tol,
          rule: `Σ per-row bounds + factor·N·u·Σ|lossₙ|${reduction === "mean" ? ", over N" : ""}`,
        },
      };
    }
    case "mse": {
      const p = (i.pred as Tensor).data;
      const t = (i.target as Tensor).data;
      const n = p.length;
      if (a.reduction === "none") {
        return {
          y: field(
            n,
            `${k}·u·(p−t)² + 2u·|p−t|·max(|p|,|t|)`,
            (j) =>
              u *
                (k * (p[j] - t[j]) ** 2 +
                  2 * Math.abs(p[j] - t[j]) * Math.max(Math.abs(p[j]), Math.abs(t[j]))) +
              floor,
          ),
        };
      }
      let s = 0;
      for (let j = 0; j < n; j++)
        s +=
          (p[j] - t[j]) ** 2 + 2 * Math.abs(p[j] - t[j]) * Math.max(Math.abs(p[j]), Math.abs(t[j]));
      const scale = a.reduction === "mean" ? 1 / n : 1;
      return {
        y: {
          tol: Float64Array.of(factor * (n + k) * u * s * scale + floor),
          rule: "factor·(n+k)·u·Σ((p−t)² + 2|p−t|·max(|p|,|t|))",
        },
      };
    }
    case "batch_norm":
    case "layer_norm":
      return normFields(op, i, a, out, c);
    case "dropout": {
      const x = (i.x as Tensor).data;
      const p = a.p as number;
      return {
        y: field(
          y.data.length,
          `u·|x/(1−p)|·(${k} + p/(1−p)): a float32 kernel may round p, and 1/(1−p) amplifies that`,
          (j) => (u * Math.abs(x[j]) * dropScaleUlps(p, k)) / (1 - p) + floor,
        ),
      };
    }
    default:
      return { y: field(y.data.length, "exact", () => floor) };
  }
}

function lse0(t: Tensor, r: number, C: number): number {
  return softmaxRow(t.data, r * C, C).lse;
}

/**
 * The normalisation groups of x — batch-norm: the C feature columns of [n, C]; layer-norm: the
 * rows along the last axis —, where element j of group g sits, and each group's mean, mean |x|,
 * max |x| and biased variance (the forward and the backward bounds both start from these).
 */
function groupStats(x: Tensor, byFeature: boolean) {
  const D = x.shape[x.shape.length - 1];
  const rows = x.data.length / D;
  const [groups, n] = byFeature ? [D, rows] : [rows, D];
  const at = (g: number, j: number) => (byFeature ? j * D + g : g * D + j);
  const stats = Array.from({ length: groups }, (_, g) => {
    let mean = 0;
    let meanAbs = 0;
    let maxAbs = 0;
    for (let j = 0; j < n; j++) {
      const v = x.data[at(g, j)];
      mean += v / n;
      meanAbs += Math.abs(v) / n;
      maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    let variance = 0;
    for (let j = 0; j < n; j++) variance += (x.data[at(g, j)] - mean) ** 2 / n;
    return { mean, meanAbs, maxAbs, variance };
  });
  return { n, at, stats };
}

/** Normalisation: errors scale with n (the statistics) and with how far x sits from its mean
 * relative to its spread (|x − μ| loses u·|x| when the mean is large). */
function normFields(
  op: OpName,
  i: Record<string, unknown>,
  a: Record<string, unknown>,
  out: Record<string, Tensor>,
  c: Ctx,
): Fields {
  const { u, k, factor, floor } = c;
  const x = i.x as Tensor;
  const gamma = (i.gamma as Tensor).data;
  const beta = (i.beta as Tensor).data;
  const y = out.y.data;
  const eps = a.eps as number;
  const byFeature = op === "batch_norm";
  const { n, at, stats } = groupStats(x, byFeature);
  const tol = new Float64Array(y.length);
  const fields: Fields = {};
  stats.forEach((st, g) => {
    const training = !byFeature || a.training !== false;
    let { mean, meanAbs, variance: v } = st;
    if (!training) {
      mean = (i.runningMean as Tensor).data[g];
      v = (i.runningVar as Tensor).data[g];
      meanAbs = Math.abs(mean);
    }
    const s = Math.sqrt(v + eps);
    const len = training ? factor * n : 1;
    for (let j = 0; j < n; j++) {
      const idx = at(g, j);
      const ch = byFeature ? g : j;
      const xhat = Math.abs(x.data[idx] - mean) / s;
      const shift = (Math.abs(x.data[idx]) + meanAbs) / s;
      tol[idx] =
        u *
          (Math.abs(gamma[ch]) * (len + 2 * k) * (1 + xhat + shift) +
            k * (Math.abs(beta[ch]) + Math.abs(y[idx]))) +
        floor;
    }
  });
  fields.y = { tol, rule: "u·(|γ|·(factor·n + 2k)·(1 + |x̂| + (|x|+mean|x|)/σ) + k·(|β| + |y|))" };
  if (op === "batch_norm") {
    for (const key of ["runningMean", "runningVar"] as const) {
      const r = out[key].data;
      fields[key] = field(r.length, "factor·n·u·|stat| + stat error of x", (j) => {
        const { meanAbs } = stats[j];
        const m = key === "runningMean" ? meanAbs : meanAbs * meanAbs;
        return factor * (n + 2 * k) * u * (Math.abs(r[j]) + m) + floor;
      });
    }
  }
  return fields;
}

/**
 * Relative error of dropout's scale 1/(1−p) in units of u: k roundings, plus p/(1−p) for a
 * kernel that holds p in float32 (p's rounding u·p grows by 1/(1−p) in 1 − p): near p = 1 that
 * is thousands of ULPs, and a correct float32 library has them.
 */
function dropScaleUlps(p: number, k: number): number {
  return k + p / (1 - p);
}

/**
 * Componentwise error bounds of the backward kernels, from the magnitudes of the terms each
 * gradient is computed from (contributed with the G1 laws). A normwise bound by max|grad| is
 * not an upper bound where the gradient is itself a cancellation: softmax's y⊙(dy − ⟨dy, y⟩),
 * cross-entropy's p − 1 at a confident target, a broadcast sum of gradients of both signs.
 * A correct kernel's error there is a few n·u of the terms, not of the result.
 */
export function vjpTermBounds(
  op: OpName,
  i: Record<string, unknown>,
  a: Record<string, unknown>,
  u: number,
  k: number,
  factor: number,
): Record<string, Float64Array> | undefined {
  const dy = (i.dy as Tensor).data;
  const gamma = (n: number) => u * factor * (n + 2 * k);
  switch (op) {
    case "dropout": {
      const p = a.p as number;
      return { y: Float64Array.from(dy, (g) => (u * Math.abs(g) * dropScaleUlps(p, k)) / (1 - p)) };
    }
    case "add":
    case "sub":
    case "mul":
    case "div": {
      const A = i.a as Tensor;
      const B = i.b as Tensor;
      const shape = broadcastShapes(A.shape, B.shape) ?? [];
      const ia = broadcastIndex(A.shape, shape);
      const ib = broadcastIndex(B.shape, shape);
      const sums = { da: new Float64Array(A.data.length), db: new Float64Array(B.data.length) };
      const counts = { da: new Float64Array(A.data.length), db: new Float64Array(B.data.length) };
      for (let o = 0; o < dy.length; o++) {
        const [x, y, g] = [A.data[ia[o]], B.data[ib[o]], Math.abs(dy[o])];
        const ta = op === "mul" ? g * Math.abs(y) : op === "div" ? g / Math.abs(y) : g;
        const tb = op === "mul" ? g * Math.abs(x) : op === "div" ? (g * Math.abs(x)) / (y * y) : g;
        sums.da[ia[o]] += ta;
        sums.db[ib[o]] += tb;
        counts.da[ia[o]]++;
        counts.db[ib[o]]++;
      }
      return {
        da: sums.da.map((t, j) => gamma(counts.da[j] + 1) * t),
        db: sums.db.map((t, j) => gamma(counts.db[j] + 1) * t),
      };
    }
    case "variance": {
      // 2(x − μ)·dy/d: the mean's error, up to γ(n)·mean|x|, is what x − μ can lose.
      const x = i.x as Tensor;
      const axis = a.axis as number;
      const n = x.shape[axis];
      const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
      const d = a.unbiased ? n - 1 : n;
      const tol = new Float64Array(x.data.length);
      for (let o = 0; o < x.data.length / (n * inner); o++) {
        for (let j = 0; j < inner; j++) {
          const at = (q: number) => o * n * inner + q * inner + j;
          let meanAbs = 0;
          let mean = 0;
          for (let q = 0; q < n; q++) {
            meanAbs += Math.abs(x.data[at(q)]) / n;
            mean += x.data[at(q)] / n;
          }
          const g = Math.abs(dy[o * inner + j]);
          for (let q = 0; q < n; q++) {
            tol[at(q)] =
              ((2 * g) / d) *
              gamma(n) *
              (Math.abs(x.data[at(q)]) + meanAbs + Math.abs(x.data[at(q)] - mean));
          }
        }
      }
      return { y: tol };
    }
    case "matmul": {
      const A = i.a as Tensor;
      const B = i.b as Tensor;
      const r = A.shape.length;
      const [m, kk, n] = [A.shape[r - 2], A.shape[r - 1], B.shape[r - 1]];
      const batch = A.data.length / (m * kk);
      const da = new Float64Array(A.data.length);
      const db = new Float64Array(B.data.length);
      for (let t = 0; t < batch; t++) {
        const [oa, ob, oy] = [t * m * kk, t * kk * n, t * m * n];
        for (let row = 0; row < m; row++) {
          for (let p = 0; p < kk; p++) {
            for (let col = 0; col < n; col++) {
              const g = Math.abs(dy[oy + row * n + col]);
              da[oa + row * kk + p] += g * Math.abs(B.data[ob + p * n + col]);
              db[ob + p * n + col] += g * Math.abs(A.data[oa + row * kk + p]);
            }
          }
        }
      }
      return { da: da.map((v) => gamma(n + 1) * v), db: db.map((v) => gamma(m + 1) * v) };
    }
    case "softmax":
    case "log_softmax":
    case "logsumexp":
    case "cross_entropy": {
      const x = (op === "cross_entropy" ? i.logits : i.x) as Tensor;
      const n = x.shape[x.shape.length - 1];
      const rows = x.data.length / n;
      const tol = new Float64Array(x.data.length);
      const target = i.target as AnyTensor | undefined;
      for (let r = 0; r < rows; r++) {
        const off = r * n;
        // The target mass of the row (Σt for soft targets, 1 for an index), summed once.
        let rowMass = 1;
        if (target && !(target.data instanceof Int32Array)) {
          rowMass = 0;
          for (let q = 0; q < n; q++) rowMass += target.data[off + q];
        }
        let m = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < n; j++) m = Math.max(m, x.data[off + j]);
        let s = 0;
        for (let j = 0; j < n; j++) s += Math.exp(x.data[off + j] - m);
        const y = Array.from({ length: n }, (_, j) => Math.exp(x.data[off + j] - m) / s);
        let spread = 0;
        let far = 0;
        for (let j = 0; j < n; j++) {
          spread += y[j] * Math.abs(x.data[off + j] - m);
          far = Math.max(far, Math.abs(x.data[off + j] - m));
        }
        // Relative error of a computed probability (the forward softmax budget's row factor).
        const R = factor * n + 2 * k + SHIFT * (spread + far);
        let yAbsDy = 0;
        let absDy = 0;
        for (let j = 0; j < n; j++) {
          yAbsDy += y[j] * Math.abs(dy[off + j] ?? 0);
          absDy += Math.abs(dy[off + j] ?? 0);
        }
        for (let j = 0; j < n; j++) {
          const idx = off + j;
          if (op === "softmax")
            tol[idx] = 2 * u * (R + factor * n) * y[j] * (Math.abs(dy[idx]) + 2 * yAbsDy);
          else if (op === "log_softmax")
            tol[idx] = 2 * u * (k * Math.abs(dy[idx]) + (R + factor * n) * y[j] * absDy);
          // A kernel may take e^(x − lse) from its own rounded output lse (PyTorch does): the
          // rounding of lse, u·|lse|, is then a relative error of every term.
          else if (op === "logsumexp")
            tol[idx] = 2 * u * (R + Math.abs(m + Math.log(s))) * y[j] * Math.abs(dy[r]);
          else {
            const reduction = a.reduction as string;
            const g = Math.abs(
              reduction === "none" ? dy[r] : reduction === "sum" ? dy[0] : dy[0] / rows,
            );
            let t = 0;
            if (target && target.data instanceof Int32Array) t = target.data[r] === j ? 1 : 0;
            else if (target) t = Math.abs(target.data[idx]);
            tol[idx] = 2 * u * g * (R + factor * n + 4 * k) * (y[j] * rowMass + t);
          }
        }
      }
      return { y: tol };
    }
    case "mse": {
      const p = (i.pred as Tensor).data;
      const t = (i.target as Tensor).data;
      const reduction = a.reduction as string;
      const g = (j: number) =>
        Math.abs(reduction === "none" ? dy[j] : reduction === "sum" ? dy[0] : dy[0] / p.length);
      return { y: Float64Array.from(p, (v, j) => 4 * k * u * 2 * Math.abs(v - t[j]) * g(j)) };
    }
    default:
      return undefined;
  }
}

/** Gradients: componentwise for elementwise ops and where the terms are known, else normwise. */
function vjpFields(
  fwd: OpName,
  i: Record<string, unknown>,
  a: Record<string, unknown>,
  out: Record<string, Tensor>,
  c: Ctx,
  n: number,
): Fields {
  const { u, k, factor, floor } = c;
  const ew = elementwise[fwd];
  const fields: Fields = {};
  if (ew && out.y) {
    const x = (i.x as Tensor).data;
    const dy = (i.dy as Tensor).data;
    const alpha = (a.alpha as number | undefined) ?? 0;
    fields.y = field(
      x.length,
      "u·|dy|·(k·|f′(x)| + |x·f″(x)|) + library allowance",
      (j) =>
        u * Math.abs(dy[j]) * (k * Math.abs(ew.d1(x[j], alpha)) + Math.abs(x[j] * ew.d2(x[j]))) +
        libraryAllowance(fwd, x[j], dy[j], u, k, floor) +
        floor,
    );
    return fields;
  }
  if (fwd === "batch_norm" || fwd === "layer_norm") return normVjpFields(fwd, i, a, c);
  const terms = vjpTermBounds(fwd, i, a, u, k, factor);
  for (const [key, t] of Object.entries(out)) {
    let max = 0;
    for (const v of t.data) if (Number.isFinite(v)) max = Math.max(max, Math.abs(v));
    // Normwise: a correct kernel's error is a few n·u of the gradient's largest entry; a bug
    // (a missing term, a wrong scale, a gradient on the wrong element) is O(1) of it.
    const term = terms?.[key];
    fields[key] = field(
      t.data.length,
      term
        ? "max(factor·(n + 2k)·u·max|grad|, u·(factor·n + 2k)·Σ|terms|)"
        : "factor·(n + 2k)·u·max|grad|",
      (j) =>
        Math.max(
          factor * (n + 2 * k) * u * Math.max(max, Math.abs(t.data[j])),
          term ? term[j] : 0,
        ) + floor,
    );
  }
  return fields;
}

/**
 * Normalisation gradients: dx = γ/s·(dy − mean(dy) − x̂·mean(dy·x̂)) cancels (always for n = 2),
 * and x̂ inherits the loss of forming x − μ, a factor (max|x| + mean|x|)/s. So the bound scales
 * with the size of the terms, not of the result; dγ = Σdy·x̂ and dβ = Σdy are sums.
 */
function normVjpFields(
  fwd: OpName,
  i: Record<string, unknown>,
  a: Record<string, unknown>,
  c: Ctx,
): Fields {
  const { u, k, factor, floor } = c;
  const x = i.x as Tensor;
  const dy = (i.dy as Tensor).data;
  const gamma = (i.gamma as Tensor).data;
  const eps = a.eps as number;
  const D = x.shape[x.shape.length - 1];
  const byFeature = fwd === "batch_norm";
  const { n, at, stats } = groupStats(x, byFeature);
  const dx = new Float64Array(x.data.length);
  const dgamma = new Float64Array(D);
  const dbeta = new Float64Array(D);
  stats.forEach(({ mean, meanAbs, maxAbs, variance }, g) => {
    const s = Math.sqrt(variance + eps);
    const shift = (maxAbs + meanAbs) / s;
    let meanDy = 0;
    let meanDyXhat = 0;
    for (let j = 0; j < n; j++) {
      const xhat = (x.data[at(g, j)] - mean) / s;
      const gj = byFeature ? gamma[g] : gamma[j];
      meanDy += Math.abs(dy[at(g, j)] * gj) / n;
      meanDyXhat += Math.abs(dy[at(g, j)] * gj * xhat) / n;
    }
    const len = factor * (n + 2 * k) * u;
    for (let j = 0; j < n; j++) {
      const idx = at(g, j);
      const h = Math.abs((x.data[idx] - mean) / s);
      const gj = Math.abs(byFeature ? gamma[g] : gamma[j]);
      dx[idx] =
        (len / s) * (Math.abs(dy[idx]) * gj + (1 + shift) * (meanDy * (1 + h) + h * meanDyXhat)) +
        floor;
      const ch = byFeature ? g : j;
      // x̂ itself is off by about len·(1 + shift) relative; the sums add n·u.
      dgamma[ch] += Math.abs(dy[idx]) * (len * (1 + shift) * (1 + h) + len * h);
      dbeta[ch] += len * Math.abs(dy[idx]);
    }
  });
  return {
    dx: {
      tol: dx,
      rule: "factor·(n+2k)·u/s·(|γ·dyᵢ| + (1 + shift)·(mean|γdy|·(1+|x̂ᵢ|) + |x̂ᵢ|·mean|γdy·x̂|)), shift = (max|x| + mean|x|)/s",
    },
    dgamma: {
      tol: dgamma.map((t) => t + floor),
      rule: "Σ|dy|·factor·(n+2k)·u·((1 + shift)(1 + |x̂|) + |x̂|)",
    },
    dbeta: { tol: dbeta.map((t) => t + floor), rule: "factor·(n+2k)·u·Σ|dy|" },
  };
}

/**
 * The tolerance for each output of `op` on these (float64) inputs, given the exact reference
 * outputs. Outputs are keyed `y` for single-output ops, else by name.
 */
export function toleranceFields<O extends OpName>(
  op: O,
  inputs: Inputs<O>,
  attrs: Attrs<O>,
  reference: Output<O>,
  dtype: FloatDType,
  budget: Budget,
): Fields {
  if (op === "cross_entropy_fused") {
    // Held to what the two unfused ops are held to: fusing must not cost accuracy.
    const io = inputs as Inputs<"cross_entropy_fused">;
    const ao = attrs as Attrs<"cross_entropy_fused">;
    const ro = reference as Output<"cross_entropy_fused">;
    const n = io.logits.shape[0];
    const dy = tensor("float64", ao.reduction === "none" ? [n] : [], 1);
    return {
      loss: toleranceFields("cross_entropy", io, ao, ro.loss, dtype, budget).y,
      dlogits: toleranceFields("cross_entropy_vjp", { ...io, dy }, ao, ro.dlogits, dtype, budget).y,
    };
  }
  const c: Ctx = {
    ulp: (y) => ulpOf(y, dtype),
    u: unitRoundoff(dtype),
    k: budget.ulps,
    factor: budget.factor,
    floor: minNormal(dtype),
  };
  const i = inputs as Record<string, unknown>;
  const a = attrs as Record<string, unknown>;
  const out = ("shape" in (reference as object) ? { y: reference } : reference) as Record<
    string,
    Tensor
  >;
  const fields = op.endsWith("_vjp")
    ? vjpFields(
        op.slice(0, -4) as OpName,
        i,
        a,
        out,
        c,
        reductionLength(op.slice(0, -4) as OpName, i, a),
      )
    : forwardFields(op, i, a, out, c);
  // Where the error analysis meets ±∞ (an infinite input, ∞·0) it says nothing: demand the
  // exact value there instead of accepting anything.
  for (const f of Object.values(fields)) {
    for (let j = 0; j < f.tol.length; j++) if (!Number.isFinite(f.tol[j])) f.tol[j] = c.floor;
  }
  return fields;
}
