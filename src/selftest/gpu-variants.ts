/**
 * A correct float32 backend written the way GPU kernels are: every reduction is a workgroup
 * tree over blocks of 256 whose partials are merged by a second tree; moments are Welford per
 * thread (a grid-stride loop over 256 lanes) merged by Chan's formula; softmax, log_softmax,
 * logsumexp and cross-entropy are two-level, chunks of 1024 each reduced on its own and merged
 * with online rescaling; matmul is tiled (64 × 64 output tiles) with K in blocks of 32, each
 * block's partial dot product accumulated by fused multiply-adds and then added to the tile's
 * accumulator. Elementwise ops are cpu32's.
 *
 * It is the mirror image of src/selftest/buggy/boundary.ts: the same algorithms without the
 * bugs must pass every law at every size, or a budget is tuned to cpu32's sequential loops.
 */
import type { Backend, Kernel, Kernels, Reduction, Targets } from "../engine/contract.ts";
import { cpu32 } from "../engine/cpu/index.ts";
import { type FloatArray, type IndexTensor, sizeOf, type Tensor } from "../engine/tensor.ts";
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

const r = Math.fround;

/** Invocations per workgroup: the block of a tree reduction, the lanes of a moment reduction. */
const WORKGROUP = 256;
/** Row chunk of the two-level softmax: one workgroup's share of a long row. */
const CHUNK = 1024;
/** Output tile (rows and columns) and K block of the tiled matmul. */
const TILE = 64;
const K_BLOCK = 32;

// ---------------------------------------------------------------------------------------------
// Tree sums.

// Shared memory of one workgroup; JavaScript is single-threaded, so one buffer serves all.
const shared = new Float32Array(WORKGROUP);

/**
 * One workgroup's tree over n ≤ 256 values: sequential addressing, each step folding the upper
 * half onto the lower (s[t] += s[t + half]). Absent lanes are skipped rather than padded with 0,
 * so a one-element sum is that element (−0 included), as in every correct kernel.
 */
function workgroupTree(get: Get, lo: number, n: number): number {
  for (let t = 0; t < n; t++) shared[t] = get(lo + t);
  for (let width = n; width > 1; ) {
    const half = (width + 1) >> 1;
    for (let t = 0; t + half < width; t++) shared[t] = shared[t] + shared[t + half];
    width = half;
  }
  return shared[0];
}

/** A two-level reduction: blocks of 256 by workgroup trees, their partials by further trees. */
function treeSum(get: Get, n: number): number {
  if (n <= 0) return 0;
  if (n <= WORKGROUP) return workgroupTree(get, 0, n);
  const partials = new Float32Array(Math.ceil(n / WORKGROUP));
  for (let b = 0; b < partials.length; b++) {
    partials[b] = workgroupTree(get, b * WORKGROUP, Math.min(WORKGROUP, n - b * WORKGROUP));
  }
  return treeSum((k) => partials[k], partials.length);
}

/** NaN-propagating max of a run, exact in any order. */
function maxOf(get: Get, n: number): number {
  let m = get(0);
  for (let k = 1; k < n; k++) {
    const v = get(k);
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Moments: Welford per lane, Chan's merge across lanes.

/**
 * Mean and Σ(x − μ)² of a run: lane t of a 256-lane workgroup runs Welford over elements
 * t, t + 256, … (a grid-stride loop), then the lanes merge pairwise by Chan's formula.
 */
function moments(get: Get, n: number): Moments {
  const lanes = Math.min(WORKGROUP, n);
  const parts: Moments[] = [];
  for (let t = 0; t < lanes; t++) {
    let mean = 0;
    let m2 = 0;
    let count = 0;
    for (let k = t; k < n; k += lanes) {
      const v = get(k);
      count++;
      const delta = r(v - mean);
      mean = r(mean + r(delta / count));
      m2 = r(m2 + r(delta * r(v - mean)));
    }
    parts.push({ n: count, mean, m2 });
  }
  return treeMerge(parts, chan);
}

// ---------------------------------------------------------------------------------------------
// Axis reductions.

/** The run of x along `axis` that reduces into output element o. */
function runsOf(x: Tensor, axis: number) {
  const n = x.shape[axis];
  const inner = sizeOf(x.shape.slice(axis + 1));
  const outer = sizeOf(x.shape.slice(0, axis));
  const reduced = x.shape.filter((_, d) => d !== axis);
  const start = (o: number) => Math.floor(o / inner) * n * inner + (o % inner);
  const get =
    (o: number): Get =>
    (k) =>
      x.data[start(o) + k * inner];
  return { n, inner, size: outer * inner, reduced, start, get };
}

function reduceEach(x: Tensor, axis: number, f: (get: Get, n: number) => number): Tensor {
  const l = runsOf(x, axis);
  const y = out(l.reduced);
  for (let o = 0; o < l.size; o++) y.data[o] = f(l.get(o), l.n);
  return y;
}

// ---------------------------------------------------------------------------------------------
// Two-level softmax.

/**
 * A row's max m and Σe^(x − m), two-level: each chunk of 1024 finds its own max and tree-sums
 * e^(x − m_chunk); the chunks then merge online, rescaling the running sum by e^(m_old − m_new)
 * and each chunk's by e^(m_chunk − m). A chunk of −∞ adds nothing (its e^(−∞ − −∞) is never
 * formed). A row whose max is not finite takes the special-value branch: m is the IEEE max
 * (NaN if any entry is) and the sum NaN, so softmax is NaN and lse is ±∞ or NaN.
 */
function normaliser(x: FloatArray, off: number, d: number): { m: number; s: number } {
  let m = Number.NEGATIVE_INFINITY;
  let s = 0;
  for (let c = 0; c < d; c += CHUNK) {
    const len = Math.min(CHUNK, d - c);
    const mc = maxOf((k) => x[off + c + k], len);
    if (mc === Number.NEGATIVE_INFINITY || Number.isNaN(mc)) {
      if (Number.isNaN(mc)) m = mc;
      continue;
    }
    const sc = treeSum((k) => r(Math.exp(r(x[off + c + k] - mc))), len);
    if (mc > m) {
      s = r(r(s * r(Math.exp(r(m - mc)))) + sc);
      m = mc;
    } else s = r(s + r(sc * r(Math.exp(r(mc - m)))));
  }
  if (Number.isFinite(m) && Number.isFinite(s)) return { m, s };
  return { m: maxOf((k) => x[off + k], d), s: Number.NaN };
}

function forRows(x: Tensor, f: (off: number, d: number, row: number) => void): void {
  const d = x.shape[x.shape.length - 1];
  for (let off = 0, row = 0; off < x.data.length; off += d, row++) f(off, d, row);
}

function softmax(x: Tensor): Tensor {
  const y = out(x.shape);
  forRows(x, (off, d) => {
    const { m, s } = normaliser(x.data, off, d);
    for (let c = 0; c < d; c++) y.data[off + c] = r(r(Math.exp(r(x.data[off + c] - m))) / s);
  });
  return y;
}

function logSoftmax(x: Tensor): Tensor {
  const y = out(x.shape);
  forRows(x, (off, d) => {
    const { m, s } = normaliser(x.data, off, d);
    const logS = r(Math.log(s));
    for (let c = 0; c < d; c++) y.data[off + c] = r(r(x.data[off + c] - m) - logS);
  });
  return y;
}

function logsumexp(x: Tensor): Tensor {
  const y = out(x.shape.slice(0, -1));
  forRows(x, (off, d, row) => {
    const { m, s } = normaliser(x.data, off, d);
    y.data[row] = Number.isFinite(m) || Number.isNaN(m) ? r(m + r(Math.log(s))) : m;
  });
  return y;
}

// ---------------------------------------------------------------------------------------------
// Losses.

const isIndices = (t: Targets): t is IndexTensor => t.data instanceof Int32Array;

function reduceLosses(losses: Tensor, reduction: Reduction): Tensor {
  if (reduction === "none") return losses;
  const n = losses.data.length;
  const total = treeSum((k) => losses.data[k], n);
  const y = out([]);
  y.data[0] = reduction === "sum" ? total : r(total / n);
  return y;
}

/** The upstream gradient of example i under a reduction. */
function upstream(dy: Tensor, reduction: Reduction, n: number): (i: number) => number {
  if (reduction === "none") return (i) => dy.data[i];
  const g = reduction === "sum" ? dy.data[0] : r(dy.data[0] / n);
  return () => g;
}

/** Per-example cross-entropy from the two-level log-softmax: −Σ t·logp, skipping t = 0. */
const crossEntropy: Kernel<"cross_entropy"> = ({ logits, target }, { reduction }) => {
  const logp = logSoftmax(logits);
  const [n, classes] = logits.shape;
  const losses = out([n]);
  for (let i = 0; i < n; i++) {
    const off = i * classes;
    if (isIndices(target)) losses.data[i] = -logp.data[off + target.data[i]];
    else {
      const t = target.data;
      losses.data[i] = -treeSum(
        (c) => (t[off + c] === 0 ? 0 : r(t[off + c] * logp.data[off + c])),
        classes,
      );
    }
  }
  return reduceLosses(losses, reduction);
};

/** ∂loss/∂z = g·(softmax·Σt − t), Σt tree-summed (1 for class indices). */
function crossEntropyGrad(
  logits: Tensor,
  target: Targets,
  dy: Tensor,
  reduction: Reduction,
): Tensor {
  const [n, classes] = logits.shape;
  const g = upstream(dy, reduction, n);
  const dz = softmax(logits);
  for (let i = 0; i < n; i++) {
    const off = i * classes;
    if (isIndices(target)) {
      const t = target.data[i];
      for (let c = 0; c < classes; c++) {
        const p = dz.data[off + c];
        dz.data[off + c] = r(g(i) * (c === t ? r(p - 1) : p));
      }
    } else {
      const t = target.data;
      const mass = treeSum((c) => t[off + c], classes);
      for (let c = 0; c < classes; c++) {
        dz.data[off + c] = r(g(i) * r(r(dz.data[off + c] * mass) - t[off + c]));
      }
    }
  }
  return dz;
}

// ---------------------------------------------------------------------------------------------
// Normalisation.

/** √(σ² + ε) of a group from its Chan-merged Welford moments; returns its mean too. */
function groupStats(get: Get, n: number, eps: number) {
  const { mean, m2 } = moments(get, n);
  const variance = r(m2 / n);
  return { mean, variance, unbiased: r(m2 / (n - 1)), std: r(Math.sqrt(r(variance + eps))) };
}

/**
 * The backward of a norm over one group (n elements at `at(k)`), with g = dy·γ:
 * dx = (g − mean(g) − x̂·mean(g·x̂))/s, both means tree sums.
 */
function normBackward(
  x: FloatArray,
  dx: FloatArray,
  at: (k: number) => number,
  n: number,
  g: (k: number) => number,
  mean: number,
  std: number,
): void {
  const xhat = (k: number) => r(r(x[at(k)] - mean) / std);
  const meanG = r(treeSum(g, n) / n);
  const meanGX = r(treeSum((k) => r(g(k) * xhat(k)), n) / n);
  for (let k = 0; k < n; k++) dx[at(k)] = r(r(r(g(k) - meanG) - r(xhat(k) * meanGX)) / std);
}

// ---------------------------------------------------------------------------------------------
// Tiled matmul.

/**
 * C[t] = A[t]·B[t] for every batch t, A m×k and B k×n read through (row, col) strides: output
 * tiles of 64 × 64; for each, K in blocks of 32 whose partial dot products (fused multiply-adds
 * from 0) are added to the tile's accumulators, as a kernel that stages A and B in shared memory
 * one K block at a time does.
 */
const tiledProduct: Product = (shape, batch, [m, k, n], a, b) => {
  const y = out(shape);
  for (let t = 0; t < batch; t++) {
    for (let i0 = 0; i0 < m; i0 += TILE) {
      for (let j0 = 0; j0 < n; j0 += TILE) {
        const iEnd = Math.min(m, i0 + TILE);
        const jEnd = Math.min(n, j0 + TILE);
        for (let i = i0; i < iEnd; i++) {
          for (let j = j0; j < jEnd; j++) {
            let acc = 0;
            for (let p0 = 0; p0 < k; p0 += K_BLOCK) {
              const pEnd = Math.min(k, p0 + K_BLOCK);
              let part = 0;
              for (let p = p0; p < pEnd; p++) part = fma(a(t, i, p), b(t, p, j), part);
              acc = p0 === 0 ? part : r(acc + part);
            }
            y.data[t * m * n + i * n + j] = acc;
          }
        }
      }
    }
  }
  return y;
};

// ---------------------------------------------------------------------------------------------

const kernels: Kernels = {
  sum: ({ x }, { axis }) => reduceEach(x, axis, treeSum),
  mean: ({ x }, { axis }) => reduceEach(x, axis, (get, n) => r(treeSum(get, n) / n)),
  max: ({ x }, { axis }) => reduceEach(x, axis, maxOf),
  variance: ({ x }, { axis, unbiased }) =>
    reduceEach(x, axis, (get, n) => r(moments(get, n).m2 / (unbiased ? n - 1 : n))),
  // 2(x − μ)·dy/(n or n − 1), μ from the tree sum.
  variance_vjp: ({ x, dy }, { axis, unbiased }) => {
    const l = runsOf(x, axis);
    const dx = out(x.shape);
    const denom = unbiased ? l.n - 1 : l.n;
    for (let o = 0; o < l.size; o++) {
      const get = l.get(o);
      const mean = r(treeSum(get, l.n) / l.n);
      const s = l.start(o);
      for (let k = 0; k < l.n; k++) {
        dx.data[s + k * l.inner] = r(r(r(2 * r(get(k) - mean)) * dy.data[o]) / denom);
      }
    }
    return dx;
  },

  softmax: ({ x }) => softmax(x),
  softmax_vjp: ({ x, dy }) => {
    const y = softmax(x);
    forRows(x, (off, d) => {
      const dot = treeSum((c) => r(dy.data[off + c] * y.data[off + c]), d);
      for (let c = 0; c < d; c++) y.data[off + c] = r(y.data[off + c] * r(dy.data[off + c] - dot));
    });
    return y;
  },
  log_softmax: ({ x }) => logSoftmax(x),
  log_softmax_vjp: ({ x, dy }) => {
    const p = softmax(x);
    forRows(x, (off, d) => {
      const total = treeSum((c) => dy.data[off + c], d);
      for (let c = 0; c < d; c++)
        p.data[off + c] = r(dy.data[off + c] - r(p.data[off + c] * total));
    });
    return p;
  },
  logsumexp: ({ x }) => logsumexp(x),
  logsumexp_vjp: ({ x, dy }) => {
    const p = softmax(x);
    forRows(x, (off, d, row) => {
      for (let c = 0; c < d; c++) p.data[off + c] = r(p.data[off + c] * dy.data[row]);
    });
    return p;
  },

  cross_entropy: crossEntropy,
  cross_entropy_vjp: ({ logits, target, dy }, { reduction }) =>
    crossEntropyGrad(logits, target, dy, reduction),
  // One pass over the logits for both: the loss and its gradient from the same normaliser.
  cross_entropy_fused: (inputs, attrs) => {
    const n = inputs.logits.shape[0];
    const ones = out(attrs.reduction === "none" ? [n] : []);
    ones.data.fill(1);
    return {
      loss: crossEntropy(inputs, attrs) as Tensor,
      dlogits: crossEntropyGrad(inputs.logits, inputs.target, ones, attrs.reduction),
    };
  },
  nll: ({ logp, target }, { reduction }) => {
    const [n, classes] = logp.shape;
    const losses = out([n]);
    for (let i = 0; i < n; i++) losses.data[i] = -logp.data[i * classes + target.data[i]];
    return reduceLosses(losses, reduction);
  },
  mse: ({ pred, target }, { reduction }) => {
    const sq = out(pred.shape);
    for (let i = 0; i < sq.data.length; i++) {
      const d = r(pred.data[i] - target.data[i]);
      sq.data[i] = r(d * d);
    }
    return reduceLosses(sq, reduction);
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
      const at = (i: number) => i * features + c;
      const s = training
        ? groupStats((i) => x.data[at(i)], n, eps)
        : {
            mean: runningMean.data[c],
            std: r(Math.sqrt(r(runningVar.data[c] + eps))),
            unbiased: runningVar.data[c],
          };
      for (let i = 0; i < n; i++) {
        const xhat = r(r(x.data[at(i)] - s.mean) / s.std);
        y.data[at(i)] = r(r(gamma.data[c] * xhat) + beta.data[c]);
      }
      newMean.data[c] = training
        ? r(r(keep * runningMean.data[c]) + r(m * s.mean))
        : runningMean.data[c];
      newVar.data[c] = training
        ? r(r(keep * runningVar.data[c]) + r(m * s.unbiased))
        : runningVar.data[c];
    }
    return { y, runningMean: newMean, runningVar: newVar };
  },
  batch_norm_vjp: ({ x, gamma, dy }, { eps }) => {
    const [n, features] = x.shape;
    const e = r(eps);
    const dx = out(x.shape);
    const dgamma = out([features]);
    const dbeta = out([features]);
    for (let c = 0; c < features; c++) {
      const at = (i: number) => i * features + c;
      const { mean, std } = groupStats((i) => x.data[at(i)], n, e);
      const xhat = (i: number) => r(r(x.data[at(i)] - mean) / std);
      normBackward(x.data, dx.data, at, n, (i) => r(dy.data[at(i)] * gamma.data[c]), mean, std);
      dgamma.data[c] = treeSum((i) => r(dy.data[at(i)] * xhat(i)), n);
      dbeta.data[c] = treeSum((i) => dy.data[at(i)], n);
    }
    return { dx, dgamma, dbeta };
  },
  layer_norm: ({ x, gamma, beta }, { eps }) => {
    const e = r(eps);
    const y = out(x.shape);
    forRows(x, (off, d) => {
      const { mean, std } = groupStats((k) => x.data[off + k], d, e);
      for (let k = 0; k < d; k++) {
        const xhat = r(r(x.data[off + k] - mean) / std);
        y.data[off + k] = r(r(gamma.data[k] * xhat) + beta.data[k]);
      }
    });
    return y;
  },
  // dγ and dβ are column reductions over the rows: tree sums of the per-row terms.
  layer_norm_vjp: ({ x, gamma, dy }, { eps }) => {
    const e = r(eps);
    const d = x.shape[x.shape.length - 1];
    const rows = x.data.length / d;
    const dx = out(x.shape);
    const xhat = new Float32Array(x.data.length);
    forRows(x, (off) => {
      const { mean, std } = groupStats((k) => x.data[off + k], d, e);
      for (let k = 0; k < d; k++) xhat[off + k] = r(r(x.data[off + k] - mean) / std);
      const g = (k: number) => r(dy.data[off + k] * gamma.data[k]);
      normBackward(x.data, dx.data, (k) => off + k, d, g, mean, std);
    });
    const dgamma = out([d]);
    const dbeta = out([d]);
    for (let k = 0; k < d; k++) {
      dgamma.data[k] = treeSum((i) => r(dy.data[i * d + k] * xhat[i * d + k]), rows);
      dbeta.data[k] = treeSum((i) => dy.data[i * d + k], rows);
    }
    return { dx, dgamma, dbeta };
  },

  ...matmulThrough(tiledProduct),
};

/** The GPU-style float32 backend: cpu32's elementwise kernels, everything else as above. */
export const f32Gpu: Backend = {
  ...cpu32,
  name: "f32-gpu",
  kernels: { ...cpu32.kernels, ...kernels },
};
