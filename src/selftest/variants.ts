/**
 * Known-good float32 backends: correct kernels written the way real libraries write them, with
 * algorithms and roundings that differ from cpu32's plain sequential loops. Every law must accept
 * them. They are the mirror image of src/selftest/buggy/: a budget tuned to cpu32's particular rounding
 * (rather than derived from the op's conditioning) rejects one of these.
 *
 * - f32-online: one-pass online softmax, pairwise / 4-lane / blocked sums, Welford variance,
 *   reciprocal-multiply division, folded normalisation, gradients from the rounded forward output
 *   and GELU from a float32 erf polynomial (PyTorch, NumPy, cuDNN, MLX style);
 * - f32-noisy: cpu32's kernels whose transcendental outputs are off by up to ±2 ULP, which is
 *   what a fast GPU math library (CUDA's __expf, WGSL's exp) delivers;
 * - f32-fastmath: f32-online's algorithms on top of such a ±2 ULP exp/log/tanh, with moments
 *   reduced by Welford per lane and Chan's merge, as a CUDA block reduction does;
 * - f32-gpu (gpu-variants.ts): workgroup trees over blocks of 256, Welford lanes merged by Chan's
 *   formula, two-level softmax over chunks of 1024 with online rescaling, tiled matmul with K in
 *   blocks of 32: the algorithms of the boundary known-bad kernels, without their bugs.
 */
import type { Backend, Kernels, Reduction, Targets } from "../engine/contract.ts";
import { axisLayout } from "../engine/cpu/common.ts";
import { cpu32 } from "../engine/cpu/index.ts";
import { rowMax } from "../engine/cpu/softmax.ts";
import { dropMask } from "../engine/random.ts";
import {
  broadcastIndex,
  broadcastShapes,
  type FloatArray,
  type IndexTensor,
  type Tensor,
} from "../engine/tensor.ts";
import {
  chan,
  fma,
  type Get,
  type Moments,
  matmulThrough,
  out,
  type Product,
  treeMerge,
} from "./float32-parts.ts";
import { f32Gpu } from "./gpu-variants.ts";

const r = Math.fround;

const SQRT1_2 = r(Math.SQRT1_2);
const INV_SQRT_2PI = r(1 / Math.sqrt(2 * Math.PI));

const isInf = (v: number): boolean =>
  v === Number.POSITIVE_INFINITY || v === Number.NEGATIVE_INFINITY;

function map(x: Tensor, f: (v: number, i: number) => number): Tensor {
  const y = out(x.shape);
  for (let i = 0; i < y.data.length; i++) y.data[i] = f(x.data[i], i);
  return y;
}

// ---------------------------------------------------------------------------------------------
// The math library: correctly rounded here, ±2 ULP in the fast-math variants.

interface Libm {
  exp(x: number): number;
  log(x: number): number;
  tanh(x: number): number;
}

const exactLibm: Libm = {
  exp: (x) => r(Math.exp(x)),
  log: (x) => r(Math.log(x)),
  tanh: (x) => r(Math.tanh(x)),
};

const bits = new Float32Array(1);
const word = new Uint32Array(bits.buffer);

/** A 32-bit mixing hash (murmur3's finaliser). */
function mix(k: number): number {
  let h = Math.imul(k ^ (k >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A deterministic error in {−2, …, 2} ULP for a key. */
const ulpError = (key: number): number => (mix(key) % 5) - 2;

/**
 * y moved by `steps` ULPs of float32 in magnitude. It never crosses 0 or reaches ∞ (a fast exp
 * is never negative, a fast tanh never overflows), and 0, ±∞ and NaN stay as they are.
 */
function nudge(y: number, steps: number): number {
  if (steps === 0 || y === 0 || !Number.isFinite(y)) return y;
  bits[0] = Math.abs(y);
  word[0] = Math.min(0x7f7fffff, Math.max(0, word[0] + steps));
  return y < 0 ? -bits[0] : bits[0];
}

/** The float32 bit pattern of x, a key that makes the error a function of the argument. */
function keyOf(x: number, salt: number): number {
  bits[0] = x;
  return word[0] ^ salt;
}

/**
 * A ±2 ULP math library whose error depends only on the argument, as a polynomial approximation's
 * does. Like real ones it is exact where the answer is trivial (exp(0) = 1, log(1) = 0,
 * tanh(0) = 0, tanh(±∞) = ±1: exp2 is exact at integers, odd polynomials vanish at 0) and keeps
 * tanh in [−1, 1].
 */
const fastLibm: Libm = {
  exp: (x) => (x === 0 ? 1 : nudge(r(Math.exp(x)), ulpError(keyOf(x, 0x45585020)))),
  log: (x) => (x === 1 ? 0 : nudge(r(Math.log(x)), ulpError(keyOf(x, 0x4c4f4720)))),
  tanh: (x) => {
    if (!Number.isFinite(x)) return r(Math.tanh(x));
    const y = nudge(r(Math.tanh(x)), ulpError(keyOf(Math.abs(x), 0x54414e48)));
    return x < 0 ? -Math.min(1, Math.abs(y)) : Math.min(1, y);
  },
};

// ---------------------------------------------------------------------------------------------
// Summation orders.

/** Pairwise (tree) summation, as a GPU block reduction or XLA's tree reduce adds. A one-element
 * sum is that element (−0 included). */
function pairwise(get: Get, lo: number, n: number): number {
  if (n <= 0) return 0;
  if (n === 1) return get(lo);
  const half = n >> 1;
  return r(pairwise(get, lo, half) + pairwise(get, lo + half, n - half));
}

/** Four interleaved accumulators combined as (a0 + a1) + (a2 + a3): a 4-wide SIMD reduction
 * (XNNPACK, TF.js's WASM backend, Eigen's packet reductions). */
function lanes4(get: Get, n: number): number {
  if (n <= 0) return 0;
  const acc = [0, 0, 0, 0];
  for (let k = 0; k < Math.min(4, n); k++) acc[k] = get(k);
  for (let k = 4; k < n; k++) acc[k & 3] = r(acc[k & 3] + get(k));
  if (n === 1) return acc[0];
  const left = r(acc[0] + acc[1]);
  if (n === 2) return left;
  return n === 3 ? r(left + acc[2]) : r(left + r(acc[2] + acc[3]));
}

/** Welford's one-pass mean and Σ(x − μ)², as PyTorch's WelfordOps with a float accumulator
 * (CUDA var/std and batch-norm statistics, the CPU layer-norm's row moments) computes them. */
function welford(get: Get, n: number, first = 0, step = 1): Moments {
  let mean = 0;
  let m2 = 0;
  let count = 0;
  for (let k = first; k < n; k += step) {
    const v = get(k);
    count++;
    const delta = r(v - mean);
    mean = r(mean + r(delta / count));
    m2 = r(m2 + r(delta * r(v - mean)));
  }
  return { n: count, mean, m2 };
}

/** Welford per lane over a thread-strided split (lane t takes k ≡ t mod lanes), the lanes then
 * merged pairwise by Chan's formula: a GPU block reduction of the moments. */
function welfordLanes(get: Get, n: number, lanes: number): Moments {
  return treeMerge(
    Array.from({ length: lanes }, (_, t) => welford(get, n, t, lanes)),
    chan,
  );
}

/** The strided run of x along `axis` that reduces into output element `o`. */
function runs(x: Tensor, axis: number) {
  const l = axisLayout(x.shape, axis);
  const start = (o: number) => Math.floor(o / l.inner) * l.n * l.inner + (o % l.inner);
  const get = (o: number): Get => {
    const s = start(o);
    return (k) => x.data[s + k * l.inner];
  };
  return { ...l, size: l.outer * l.inner, start, get };
}

// ---------------------------------------------------------------------------------------------
// Broadcasting binary ops (for div).

function binary(a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor {
  const shape = broadcastShapes(a.shape, b.shape) ?? [];
  const ia = broadcastIndex(a.shape, shape);
  const ib = broadcastIndex(b.shape, shape);
  const y = out(shape);
  for (let i = 0; i < y.data.length; i++) y.data[i] = f(a.data[ia[i]], b.data[ib[i]]);
  return y;
}

/** Sums a full-shape gradient back onto a broadcast operand, last output first (a reverse
 * scatter-add), copying the first contribution exactly. */
function unbroadcast(g: FloatArray, from: Int32Array, shape: readonly number[]): Tensor {
  const y = out(shape);
  const seen = new Uint8Array(y.data.length);
  for (let i = g.length - 1; i >= 0; i--) {
    const j = from[i];
    y.data[j] = seen[j] ? r(y.data[j] + g[i]) : g[i];
    seen[j] = 1;
  }
  return y;
}

// ---------------------------------------------------------------------------------------------
// Online softmax.

/**
 * Running max m and Σe^(x − m) in one pass, rescaling the sum by e^(m_old − m_new) whenever the
 * max grows (Milakov & Gimelshein 2018, "Online normalizer calculation for softmax"; FlashAttention,
 * fused GPU softmax kernels). A −∞ logit adds nothing (FlashAttention's check, so that −∞ − −∞
 * never reaches exp). Rows whose max is not finite or that hold a NaN take the special-value branch
 * every real kernel has: m is the IEEE row max (NaN if any NaN) and the sum NaN, so softmax is
 * NaN and lse is ±∞ or NaN.
 */
function normaliser(lib: Libm, x: FloatArray, off: number, d: number): { m: number; s: number } {
  let m = Number.NEGATIVE_INFINITY;
  let s = 0;
  for (let c = 0; c < d; c++) {
    const v = x[off + c];
    if (v > m) {
      s = r(r(s * lib.exp(r(m - v))) + 1);
      m = v;
    } else if (v !== Number.NEGATIVE_INFINITY) s = r(s + lib.exp(r(v - m)));
  }
  if (Number.isFinite(m) && Number.isFinite(s)) return { m, s };
  return { m: rowMax(x, off, d), s: Number.NaN };
}

/** log_softmax of a row as x − m − log s, written into y. */
function logSoftmaxRow(lib: Libm, x: FloatArray, y: FloatArray, off: number, d: number): void {
  const { m, s } = normaliser(lib, x, off, d);
  const logS = lib.log(s);
  for (let c = 0; c < d; c++) y[off + c] = r(r(x[off + c] - m) - logS);
}

function forRows(x: Tensor, f: (off: number, d: number, row: number) => void): number {
  const d = x.shape[x.shape.length - 1];
  for (let off = 0, row = 0; off < x.data.length; off += d, row++) f(off, d, row);
  return d;
}

function isIndices(t: Targets): t is IndexTensor {
  return t.data instanceof Int32Array;
}

/** The upstream gradient of example i under a reduction (PyTorch divides by N for "mean"). */
function upstream(dy: Tensor, reduction: Reduction, n: number): (i: number) => number {
  if (reduction === "none") return (i) => dy.data[i];
  const g = reduction === "sum" ? dy.data[0] : r(dy.data[0] / n);
  return () => g;
}

/** Reduces per-example losses, pairwise for "sum" and "mean" (as a tree reduction does). */
function reduceLosses(losses: Tensor, reduction: Reduction): Tensor {
  if (reduction === "none") return losses;
  const n = losses.data.length;
  const total = pairwise((k) => losses.data[k], 0, n);
  const y = out([]);
  y.data[0] = reduction === "sum" ? total : r(total / n);
  return y;
}

// ---------------------------------------------------------------------------------------------
// erf in float32, for the exact GELU.

/** erf(t) = t + t·P(t²) below this, 1 − e^Q(t) above; erf rounds to 1 in float32 past ERF_ONE. */
const ERF_SPLIT = 0.921875;
const ERF_ONE = 3.925;
// Coefficients fitted for this project (iteratively reweighted least squares towards minimax,
// each coefficient rounded to float32 and the rest refitted). P ≈ erf(t)/t − 1 on [0, 0.92²]
// in t²; Q ≈ ln erfc(t) on [0.92, 3.925] in t, weighted by erfc(t)/erf(t).
const ERF_P = [
  0.128379151, -0.376125038, 0.112819113, -0.0267697461, 0.00499738054, -0.000601058127,
].map(r);
const ERF_Q = [
  0.000161329604, -1.129439, -0.633532405, -0.108025998, 0.0249061305, -0.00405877503,
  0.000398281525, -0.0000145743343, -5.03056526e-7,
].map(r);

/**
 * erf of a float32 in float32 arithmetic, two branches of fused Horner polynomials as in the
 * erff of CUDA, MLX and PyTorch's Metal backend (this fit is our own). Against the float64 erf
 * of src/harness/stats.ts its error is at most 1.02 ULP of float32 on [0, 6] (dense grid of 2·10⁶
 * points plus tiny arguments); Abramowitz–Stegun 7.1.26 errs by 1.5e-7 absolutely, ~2.5 ULP
 * near 1 and without bound relatively near 0.
 */
export function erf32(x: number, lib: Libm = exactLibm): number {
  const t = Math.abs(x);
  if (t <= ERF_SPLIT) {
    const s = r(x * x);
    let p = ERF_P[5];
    for (let j = 4; j >= 0; j--) p = fma(p, s, ERF_P[j]);
    return fma(p, x, x);
  }
  let y = 1;
  if (t < ERF_ONE) {
    let q = ERF_Q[8];
    for (let j = 7; j >= 0; j--) q = fma(q, t, ERF_Q[j]);
    y = r(1 - lib.exp(q));
  } else if (Number.isNaN(t)) return t;
  return x < 0 ? -y : y;
}

// ---------------------------------------------------------------------------------------------
// The algorithms of real libraries, on top of a math library.

/**
 * How a library computes: its math library, and how many lanes its moment reductions use
 * (1: one sequential Welford; more: Welford per lane merged by Chan's formula).
 */
interface Style {
  lib: Libm;
  lanes: number;
}

function libraryKernels({ lib, lanes }: Style): Kernels {
  const moments = (get: Get, n: number) =>
    lanes === 1 ? welford(get, n) : welfordLanes(get, n, lanes);
  const sigmoid = (v: number) => r(1 / r(1 + lib.exp(-v)));
  // Φ(x) = ½(1 + erf(x/√2)), with x·0.5 taken first as PyTorch's GeluKernel does.
  const cdfTimes2 = (v: number) => r(1 + erf32(r(v * SQRT1_2), lib));

  const softmax = (x: Tensor): Tensor => {
    const y = out(x.shape);
    forRows(x, (off, d) => {
      const { m, s } = normaliser(lib, x.data, off, d);
      // Multiply by a rounded 1/Σ, as GPU kernels do instead of dividing d times.
      const inv = r(1 / s);
      for (let c = 0; c < d; c++) y.data[off + c] = r(lib.exp(r(x.data[off + c] - m)) * inv);
    });
    return y;
  };
  const logSoftmax = (x: Tensor): Tensor => {
    const y = out(x.shape);
    forRows(x, (off, d) => logSoftmaxRow(lib, x.data, y.data, off, d));
    return y;
  };
  const logsumexp = (x: Tensor): Tensor => {
    const y = out(x.shape.slice(0, -1));
    forRows(x, (off, d, row) => {
      const { m, s } = normaliser(lib, x.data, off, d);
      y.data[row] = isInf(m) ? m : r(m + lib.log(s));
    });
    return y;
  };

  /** C[b] = A[b]·B[b] through strides, accumulating k in tiles of 4 with fused multiply-adds and
   * adding each tile's partial sum to the total, as a register-blocked GEMM micro-kernel does. */
  const product: Product = (shape, batch, [m, k, n], a, b) => {
    const c = out(shape);
    for (let t = 0; t < batch; t++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let p0 = 0; p0 < k; p0 += 4) {
            let tile = 0;
            for (let p = p0; p < Math.min(p0 + 4, k); p++) tile = fma(a(t, i, p), b(t, p, j), tile);
            acc = r(acc + tile);
          }
          c.data[t * m * n + i * n + j] = acc;
        }
      }
    }
    return c;
  };
  return {
    exp: ({ x }) => map(x, lib.exp),
    // PyTorch's exp backward: grad·result.
    exp_vjp: ({ x, dy }) => map(x, (v, i) => r(dy.data[i] * lib.exp(v))),
    log: ({ x }) => map(x, lib.log),

    // a·(1/b): one reciprocal, then multiplies (fast-math division, WGSL's and CUDA's __fdividef
    // style); the gradient as PyTorch's div backward, −g·((a/b)/b), never forming b².
    div: ({ a, b }) => binary(a, b, (p, q) => r(p * r(1 / q))),
    div_vjp: ({ a, b, dy }) => {
      const shape = broadcastShapes(a.shape, b.shape) ?? [];
      const ia = broadcastIndex(a.shape, shape);
      const ib = broadcastIndex(b.shape, shape);
      const ga = new Float32Array(dy.data.length);
      const gb = new Float32Array(dy.data.length);
      for (let i = 0; i < dy.data.length; i++) {
        const inv = r(1 / b.data[ib[i]]);
        ga[i] = r(dy.data[i] * inv);
        gb[i] = -r(dy.data[i] * r(r(a.data[ia[i]] * inv) * inv));
      }
      return { da: unbroadcast(ga, ia, a.shape), db: unbroadcast(gb, ib, b.shape) };
    },

    // PyTorch's vectorised CPU sigmoid, 1/(1 + e^−x); its gradient from the rounded output,
    // grad·(1 − y)·y (sigmoid_backward).
    sigmoid: ({ x }) => map(x, sigmoid),
    sigmoid_vjp: ({ x, dy }) =>
      map(x, (v, i) => {
        const y = sigmoid(v);
        return r(r(dy.data[i] * r(1 - y)) * y);
      }),
    tanh: ({ x }) => map(x, lib.tanh),
    // tanh_backward: grad·(1 − y²).
    tanh_vjp: ({ x, dy }) =>
      map(x, (v, i) => {
        const y = lib.tanh(v);
        return r(dy.data[i] * r(1 - r(y * y)));
      }),
    // PyTorch's exact GELU, x·0.5·(1 + erf(x/√2)); at −∞ the contract's limit 0, not ∞·0.
    gelu: ({ x }) =>
      map(x, (v) => (v === Number.NEGATIVE_INFINITY ? 0 : r(r(v * 0.5) * cdfTimes2(v)))),
    // GeluBackward: dy·(Φ + x·φ), φ = e^(−x²/2)/√(2π); limits 1 and 0 at ±∞.
    gelu_vjp: ({ x, dy }) =>
      map(x, (v, i) => {
        if (isInf(v)) return v > 0 ? dy.data[i] : r(0 * dy.data[i]);
        const cdf = r(0.5 * cdfTimes2(v));
        const pdf = r(lib.exp(r(-0.5 * r(v * v))) * INV_SQRT_2PI);
        return r(dy.data[i] * r(cdf + r(v * pdf)));
      }),
    // PyTorch's CPU SiLU, x/(1 + e^−x); its backward dy·σ·(1 + x·(1 − σ)).
    silu: ({ x }) =>
      map(x, (v) => (v === Number.NEGATIVE_INFINITY ? 0 : r(v / r(1 + lib.exp(-v))))),
    silu_vjp: ({ x, dy }) =>
      map(x, (v, i) => {
        if (isInf(v)) return v > 0 ? dy.data[i] : r(0 * dy.data[i]);
        const s = sigmoid(v);
        return r(r(dy.data[i] * s) * r(1 + r(v * r(1 - s))));
      }),

    sum: ({ x }, { axis }) => {
      const l = runs(x, axis);
      const y = out(l.reduced);
      for (let o = 0; o < l.size; o++) y.data[o] = pairwise(l.get(o), 0, l.n);
      return y;
    },
    // Mean as a 4-lane sum times a rounded 1/n: the division hoisted out as a multiply, a common
    // kernel and compiler rewrite.
    mean: ({ x }, { axis }) => {
      const l = runs(x, axis);
      const y = out(l.reduced);
      const inv = r(1 / l.n);
      for (let o = 0; o < l.size; o++) y.data[o] = r(lanes4(l.get(o), l.n) * inv);
      return y;
    },
    mean_vjp: ({ x, dy }, { axis }) => {
      const l = runs(x, axis);
      const inv = r(1 / l.n);
      const dx = out(x.shape);
      for (let o = 0; o < l.size; o++) {
        for (let k = 0; k < l.n; k++) dx.data[l.start(o) + k * l.inner] = r(dy.data[o] * inv);
      }
      return dx;
    },
    variance: ({ x }, { axis, unbiased }) => {
      const l = runs(x, axis);
      const y = out(l.reduced);
      for (let o = 0; o < l.size; o++) {
        y.data[o] = r(moments(l.get(o), l.n).m2 / (unbiased ? l.n - 1 : l.n));
      }
      return y;
    },
    // PyTorch's var_backward: (2/(n − correction))·grad·(x − mean).
    variance_vjp: ({ x, dy }, { axis, unbiased }) => {
      const l = runs(x, axis);
      const dx = out(x.shape);
      const scale = r(2 / (unbiased ? l.n - 1 : l.n));
      for (let o = 0; o < l.size; o++) {
        const mean = r(lanes4(l.get(o), l.n) * r(1 / l.n));
        const g = r(scale * dy.data[o]);
        for (let k = 0; k < l.n; k++) {
          const i = l.start(o) + k * l.inner;
          dx.data[i] = r(g * r(x.data[i] - mean));
        }
      }
      return dx;
    },

    ...matmulThrough(product),

    softmax: ({ x }) => softmax(x),
    // PyTorch's softmax backward: y·(dy − Σ dy·y), the dot product pairwise.
    softmax_vjp: ({ x, dy }) => {
      const y = softmax(x);
      const dx = out(x.shape);
      forRows(x, (off, d) => {
        const dot = pairwise((c) => r(dy.data[off + c] * y.data[off + c]), 0, d);
        for (let c = 0; c < d; c++) {
          dx.data[off + c] = r(y.data[off + c] * r(dy.data[off + c] - dot));
        }
      });
      return dx;
    },
    log_softmax: ({ x }) => logSoftmax(x),
    // PyTorch's log_softmax backward from the rounded output: dy − e^y·Σdy.
    log_softmax_vjp: ({ x, dy }) => {
      const y = logSoftmax(x);
      const dx = out(x.shape);
      forRows(x, (off, d) => {
        const total = pairwise((c) => dy.data[off + c], 0, d);
        for (let c = 0; c < d; c++) {
          dx.data[off + c] = r(dy.data[off + c] - r(lib.exp(y.data[off + c]) * total));
        }
      });
      return dx;
    },
    logsumexp: ({ x }) => logsumexp(x),
    // PyTorch's logsumexp backward: dy·e^(x − lse), from the rounded lse (NaN rows where lse
    // is not finite, like softmax there).
    logsumexp_vjp: ({ x, dy }) => {
      const lse = logsumexp(x);
      const dx = out(x.shape);
      forRows(x, (off, d, row) => {
        const l = lse.data[row];
        for (let c = 0; c < d; c++) {
          dx.data[off + c] = Number.isFinite(l)
            ? r(dy.data[row] * lib.exp(r(x.data[off + c] - l)))
            : Number.NaN;
        }
      });
      return dx;
    },

    // PyTorch's cross_entropy: log_softmax, then NLL (or −Σ t·log p for soft targets, skipping
    // t = 0 so that an unused −∞ logit costs nothing).
    cross_entropy: ({ logits, target }, { reduction }) => {
      const logp = logSoftmax(logits);
      const [n, classes] = logits.shape;
      const losses = out([n]);
      for (let i = 0; i < n; i++) {
        const off = i * classes;
        if (isIndices(target)) losses.data[i] = -logp.data[off + target.data[i]];
        else {
          let acc = 0;
          for (let c = 0; c < classes; c++) {
            const t = target.data[off + c];
            if (t !== 0) acc = r(acc + r(t * logp.data[off + c]));
          }
          losses.data[i] = -acc;
        }
      }
      return reduceLosses(losses, reduction);
    },
    // NLL's gradient g_c = −t_c·g pushed through log_softmax's backward: g_c − e^logp_c·Σg.
    cross_entropy_vjp: ({ logits, target, dy }, { reduction }) => {
      const logp = logSoftmax(logits);
      const [n, classes] = logits.shape;
      const up = upstream(dy, reduction, n);
      const dx = out(logits.shape);
      const gl = new Float32Array(classes);
      for (let i = 0; i < n; i++) {
        const off = i * classes;
        const g = up(i);
        for (let c = 0; c < classes; c++) {
          gl[c] = isIndices(target)
            ? c === target.data[i]
              ? -g
              : 0
            : -r(target.data[off + c] * g);
        }
        const total = pairwise((c) => gl[c], 0, classes);
        for (let c = 0; c < classes; c++) {
          dx.data[off + c] = r(gl[c] - r(lib.exp(logp.data[off + c]) * total));
        }
      }
      return dx;
    },
    // PyTorch's mse_loss_backward: (2/numel or 2)·(p − t)·dy; the forward sums pairwise.
    mse: ({ pred, target }, { reduction }) => {
      const sq = map(pred, (p, i) => {
        const d = r(p - target.data[i]);
        return r(d * d);
      });
      return reduceLosses(sq, reduction);
    },
    mse_vjp: ({ pred, target, dy }, { reduction }) => {
      const norm = r(reduction === "mean" ? 2 / pred.data.length : 2);
      return map(pred, (p, i) =>
        r(r(norm * r(p - target.data[i])) * dy.data[reduction === "none" ? i : 0]),
      );
    },

    batch_norm: ({ x, gamma, beta, runningMean, runningVar }, attrs) => {
      const [n, features] = x.shape;
      const eps = r(attrs.eps);
      const y = out(x.shape);
      const newMean = out([features]);
      const newVar = out([features]);
      const training = attrs.training ?? true;
      const m = r(attrs.momentum ?? 0.1);
      const keep = r(1 - m);
      for (let c = 0; c < features; c++) {
        const col: Get = (i) => x.data[i * features + c];
        if (!training) {
          // PyTorch's CPU batch_norm_cpu_transform_input: fold into y = x·α + (β − μ·α).
          const alpha = r(gamma.data[c] * r(1 / r(Math.sqrt(r(runningVar.data[c] + eps)))));
          const shift = r(beta.data[c] - r(runningMean.data[c] * alpha));
          for (let i = 0; i < n; i++) y.data[i * features + c] = fma(col(i), alpha, shift);
          newMean.data[c] = runningMean.data[c];
          newVar.data[c] = runningVar.data[c];
          continue;
        }
        // PyTorch's CUDA path: Welford statistics, invstd = 1/√(σ² + ε),
        // y = γ·(x − μ)·invstd + β, running variance from var·n/(n − 1).
        const { mean, m2 } = moments(col, n);
        const variance = r(m2 / n);
        const invstd = r(1 / r(Math.sqrt(r(variance + eps))));
        for (let i = 0; i < n; i++) {
          y.data[i * features + c] = r(
            r(r(gamma.data[c] * r(col(i) - mean)) * invstd) + beta.data[c],
          );
        }
        const unbiased = r(variance * r(n / (n - 1)));
        newMean.data[c] = r(r(m * mean) + r(keep * runningMean.data[c]));
        newVar.data[c] = r(r(m * unbiased) + r(keep * runningVar.data[c]));
      }
      return { y, runningMean: newMean, runningVar: newVar };
    },
    // PyTorch's CPU batch_norm_backward: k = Σ(x − μ)dy·invstd²/n,
    // dx = (dy − Σdy/n − (x − μ)·k)·invstd·γ, dγ = Σ(x − μ)dy·invstd, dβ = Σdy.
    batch_norm_vjp: ({ x, gamma, dy }, { eps }) => {
      const [n, features] = x.shape;
      const e = r(eps);
      const dx = out(x.shape);
      const dgamma = out([features]);
      const dbeta = out([features]);
      for (let c = 0; c < features; c++) {
        const at = (i: number) => i * features + c;
        const { mean, m2 } = moments((i) => x.data[at(i)], n);
        const invstd = r(1 / r(Math.sqrt(r(r(m2 / n) + e))));
        const sum = lanes4((i) => dy.data[at(i)], n);
        const dotp = lanes4((i) => r(r(x.data[at(i)] - mean) * dy.data[at(i)]), n);
        const k = r(r(r(dotp * invstd) * invstd) / n);
        const gradMean = r(sum / n);
        const w = r(invstd * gamma.data[c]);
        for (let i = 0; i < n; i++) {
          const proj = r(r(x.data[at(i)] - mean) * k);
          dx.data[at(i)] = r(r(r(dy.data[at(i)] - gradMean) - proj) * w);
        }
        dgamma.data[c] = r(dotp * invstd);
        dbeta.data[c] = sum;
      }
      return { dx, dgamma, dbeta };
    },
    // PyTorch's CPU LayerNorm: Welford row moments, rstd = 1/√(σ² + ε), then the folded
    // y = (x·rstd + (−rstd·μ))·γ + β.
    layer_norm: ({ x, gamma, beta }, { eps }) => {
      const e = r(eps);
      const y = out(x.shape);
      forRows(x, (off, d) => {
        const { mean, m2 } = moments((k) => x.data[off + k], d);
        const rstd = r(1 / r(Math.sqrt(r(Math.max(r(m2 / d), 0) + e))));
        const bias = r(-rstd * mean);
        for (let k = 0; k < d; k++) {
          const xhat = r(r(x.data[off + k] * rstd) + bias);
          y.data[off + k] = r(r(xhat * gamma.data[k]) + beta.data[k]);
        }
      });
      return y;
    },
    // PyTorch's CPU LayerNormBackward: ds = Σdy·γ·x, db = Σdy·γ, b = (db·μ − ds)·rstd³/D,
    // c = −b·μ − db·rstd/D, dx = rstd·dy·γ + b·x + c; dγ += dy·(rstd·x − rstd·μ), dβ += dy.
    layer_norm_vjp: ({ x, gamma, dy }, { eps }) => {
      const e = r(eps);
      const D = x.shape[x.shape.length - 1];
      const dx = out(x.shape);
      const dgamma = out([D]);
      const dbeta = out([D]);
      const scale = r(1 / D);
      forRows(x, (off) => {
        const { mean, m2 } = moments((k) => x.data[off + k], D);
        const a = r(1 / r(Math.sqrt(r(Math.max(r(m2 / D), 0) + e))));
        const dyg = (k: number) => r(dy.data[off + k] * gamma.data[k]);
        const ds = lanes4((k) => r(dyg(k) * x.data[off + k]), D);
        const db = lanes4(dyg, D);
        const b = r(r(r(r(r(r(db * mean) - ds) * a) * a) * a) * scale);
        const c = r(r(-b * mean) - r(r(db * a) * scale));
        const shift = r(-a * mean);
        for (let k = 0; k < D; k++) {
          const xk = x.data[off + k];
          dx.data[off + k] = r(r(r(a * dyg(k)) + r(b * xk)) + c);
          dgamma.data[k] = r(dgamma.data[k] + r(dy.data[off + k] * r(r(a * xk) + shift)));
          dbeta.data[k] = r(dbeta.data[k] + dy.data[off + k]);
        }
      });
      return { dx, dgamma, dbeta };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// cpu32 with noisy elementwise transcendentals.

/**
 * cpu32's kernel for `op` with each output moved by up to ±2 ULP, the error depending on the
 * element's index (as a GPU's approximate unit differs lane by lane in which bits it gets
 * wrong). Exact where the answer is trivial (f(0), log 1, f(±∞)) and kept in the function's range.
 */
function noisy(
  op: "exp" | "log" | "sigmoid" | "tanh" | "gelu" | "silu",
  salt: number,
  exactAt: number,
  range: [number, number],
): (inputs: { x: Tensor }) => Tensor {
  const kernel = cpu32.kernels[op];
  if (!kernel) throw new Error(`cpu32 lacks ${op}`);
  return (inputs) => {
    const y = kernel(inputs, {}) as Tensor;
    return map(y, (v, i) =>
      inputs.x.data[i] === exactAt || !Number.isFinite(inputs.x.data[i])
        ? v
        : Math.min(range[1], Math.max(range[0], nudge(v, ulpError(i ^ salt)))),
    );
  };
}

const ANY: [number, number] = [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];

function variant(name: string, kernels: Kernels): Backend {
  return { ...cpu32, name, kernels: { ...cpu32.kernels, ...kernels } };
}

export const f32Online = variant("f32-online", libraryKernels({ lib: exactLibm, lanes: 1 }));

export const f32Noisy = variant("f32-noisy", {
  exp: noisy("exp", 0x1001, 0, [0, Number.POSITIVE_INFINITY]),
  log: noisy("log", 0x2002, 1, ANY),
  sigmoid: noisy("sigmoid", 0x3003, 0, [0, 1]),
  tanh: noisy("tanh", 0x4004, 0, [-1, 1]),
  gelu: noisy("gelu", 0x5005, 0, ANY),
  silu: noisy("silu", 0x6006, 0, ANY),
});

/**
 * Dropout as a float32 library writes it: the mask from the exact p (the contract), but the
 * scale from p held in float32, 1/(1 − fround(p)): near p = 1 that is thousands of ULPs off the
 * exact 1/(1 − p), and correct all the same.
 */
function dropoutWithF32Scale(
  x: { shape: readonly number[]; data: ArrayLike<number> },
  p: number,
  seed: number,
  training: boolean,
) {
  const out = new Float32Array(x.data.length);
  if (!training || p === 0) {
    out.set(x.data);
    return { shape: [...x.shape], data: out };
  }
  const keep = dropMask(seed, p, x.data.length);
  const scale = Math.fround(1 / Math.fround(1 - Math.fround(p)));
  for (let i = 0; i < out.length; i++) out[i] = keep[i] ? Math.fround(x.data[i] * scale) : 0;
  return { shape: [...x.shape], data: out };
}

export const f32FastMath = variant("f32-fastmath", {
  ...libraryKernels({ lib: fastLibm, lanes: 4 }),
  dropout: ({ x }, { p, seed, training }) => dropoutWithF32Scale(x, p, seed, training),
  dropout_vjp: ({ dy }, { p, seed, training }) => dropoutWithF32Scale(dy, p, seed, training),
});

/** Correct float32 backends every law must accept. */
export const goodVariants: Backend[] = [f32Online, f32Noisy, f32FastMath, f32Gpu];
