/**
 * Known-bad kernels of the boundary and shape kind: each is cpu32's kernel, exact on the small
 * rank-2 inputs most tests use, wrong only past a block, tile, workgroup, chunk or grid size, on
 * a middle axis, at rank ≥ 3, with a size-1 dim in the middle or at a threshold hit exactly —
 * where GPU and SIMD kernels break. The I5 laws (properties/sizes.laws.ts) must reject each.
 */
import type {
  BatchNormAttrs,
  BatchNormInputs,
  BatchNormOutput,
  DropoutAttrs,
  Kernel,
  Kernels,
  OpName,
  Reduction,
  Targets,
} from "../../engine/contract.ts";
import {
  axisLayout,
  type CpuKernels,
  type Ctx,
  copyOf,
  sumRun,
  zeros,
} from "../../engine/cpu/common.ts";
import { cpuKernels } from "../../engine/cpu/index.ts";
import { rowLogSumExp, rowMax, rowSumExp } from "../../engine/cpu/softmax.ts";
import { dropThreshold, philoxInto, seedKey } from "../../engine/random.ts";
import {
  broadcastIndex,
  broadcastShapes,
  type FloatArray,
  type IndexTensor,
  sizeOf,
  stridesOf,
  type Tensor,
} from "../../engine/tensor.ts";
import { treeMerge } from "../float32-parts.ts";
import { type Mutant, mutant } from "./mutant.ts";

const f = Math.fround;
const ctx: Ctx = { dtype: "float32", r: f };

/** cpu32's kernels, typed as the synchronous functions they are. */
const ref: CpuKernels<OpName> = cpuKernels(ctx);

/** The largest 1-D dispatch: 65535 workgroups of 256 invocations. */
const GRID_LIMIT = 65535 * 256;

/** n rounded down to whole blocks, but only once there is more than one block. */
const fullBlocks = (n: number, block: number): number => (n > block ? n - (n % block) : n);

// ---------------------------------------------------------------------------------------------
// Elementwise ops and activations.

/** A unary kernel from cpu32's whose output is then corrupted in place. */
function corruptUnary<O extends "exp" | "leaky_relu" | "tanh" | "relu">(
  op: O,
  twist: (y: Tensor, x: Tensor) => Tensor,
): Kernels {
  const kernel = ref[op] as (i: { x: Tensor }, a: unknown) => Tensor;
  const wrapped = (inputs: { x: Tensor }, attrs: unknown) => twist(kernel(inputs, attrs), inputs.x);
  return { [op]: wrapped } as Kernels;
}

/** A unary vjp from cpu32's fed a corrupted upstream gradient. */
function skewedDy<O extends "sigmoid_vjp" | "gelu_vjp">(
  op: O,
  twist: (dy: FloatArray) => FloatArray,
): Kernels {
  const kernel = ref[op] as (i: { x: Tensor; dy: Tensor }, a: unknown) => Tensor;
  const wrapped = ({ x, dy }: { x: Tensor; dy: Tensor }, attrs: unknown) =>
    kernel({ x, dy: { shape: dy.shape, data: twist(dy.data) } }, attrs);
  return { [op]: wrapped } as Kernels;
}

// ---------------------------------------------------------------------------------------------
// Broadcasting binary ops.

/** The flat index of each output element in an operand read as if it repeated every size(op)
 * elements: right when its broadcast dims all lead, wrong for a size-1 dim after a real one. */
function modularIndex(n: number, size: number): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i % size;
  return idx;
}

/** A rank-4 broadcast index computed over the last three dims only, dim 0 always advancing by
 * the operand's own [d1, d2, d3] block (a shader whose stride table holds three entries). */
function threeDimIndex(from: readonly number[], out: readonly number[]): Int32Array {
  if (out.length < 4) return broadcastIndex(from, out);
  const aligned = [...Array(out.length - from.length).fill(1), ...from];
  const tail = broadcastIndex(aligned.slice(1), out.slice(1));
  const block = sizeOf(aligned.slice(1));
  const inner = sizeOf(out.slice(1));
  const idx = new Int32Array(sizeOf(out));
  for (let i = 0; i < idx.length; i++) idx[i] = Math.floor(i / inner) * block + tail[i % inner];
  return idx;
}

function binaryWith(
  a: Tensor,
  b: Tensor,
  index: (from: readonly number[], out: readonly number[]) => Int32Array,
  op: (x: number, y: number) => number,
): Tensor {
  const shape = broadcastShapes(a.shape, b.shape) ?? [];
  const ia = index(a.shape, shape);
  const ib = index(b.shape, shape);
  const y = zeros(ctx, shape);
  for (let i = 0; i < y.data.length; i++) y.data[i] = op(a.data[ia[i]], b.data[ib[i]]);
  return y;
}

/** Sums g back onto an operand through `from`, in output order like cpu32. */
function scatter(g: FloatArray, from: Int32Array, shape: readonly number[], keep?: Uint8Array) {
  const out = zeros(ctx, shape);
  const seen = new Uint8Array(out.data.length);
  for (let i = 0; i < g.length; i++) {
    if (keep && !keep[i]) continue;
    const j = from[i];
    out.data[j] = seen[j] ? f(out.data[j] + g[i]) : g[i];
    seen[j] = 1;
  }
  return out;
}

/** Which output elements sit at coordinate 0 of every broadcast dim of `from` that follows a
 * dim it really has (a "middle" broadcast dim): a reduction that only sums leading dims keeps
 * just those. */
function firstSliceOfMiddleDims(from: readonly number[], out: readonly number[]): Uint8Array {
  const aligned = [...Array(out.length - from.length).fill(1), ...from];
  const strides = stridesOf(out);
  const middle: number[] = [];
  let seenReal = false;
  for (let d = 0; d < out.length; d++) {
    if (aligned[d] === 1 && out[d] > 1 && seenReal) middle.push(d);
    if (aligned[d] > 1) seenReal = true;
  }
  const keep = new Uint8Array(sizeOf(out));
  for (let i = 0; i < keep.length; i++) {
    keep[i] = middle.every((d) => Math.floor(i / strides[d]) % out[d] === 0) ? 1 : 0;
  }
  return keep;
}

// ---------------------------------------------------------------------------------------------
// Reductions.

/** y[o, j] = run(start, n, stride) for each run along `axis`, written at `at(o, j)`. */
function reduceRuns(
  x: Tensor,
  axis: number,
  run: (start: number, n: number, stride: number) => number,
  transposed = false,
): Tensor {
  const l = axisLayout(x.shape, axis);
  const y = zeros(ctx, l.reduced);
  for (let o = 0; o < l.outer; o++) {
    for (let j = 0; j < l.inner; j++) {
      y.data[transposed ? j * l.outer + o : o * l.inner + j] = run(
        o * l.n * l.inner + j,
        l.n,
        l.inner,
      );
    }
  }
  return y;
}

function maxOf(d: FloatArray, start: number, n: number, stride: number): number {
  let m = d[start];
  for (let k = 1; k < n; k++) {
    const v = d[start + k * stride];
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
}

interface Moments {
  n: number;
  mean: number;
  m2: number;
}

/** Two-pass mean and Σ(x − μ)² of a strided run, in float32 (cpu32's algorithm). */
function twoPass(d: FloatArray, start: number, n: number, stride: number): Moments {
  const mean = f(sumRun(f, d, start, n, stride) / n);
  let m2 = 0;
  for (let k = 0; k < n; k++) {
    const dev = f(d[start + k * stride] - mean);
    m2 = f(m2 + f(dev * dev));
  }
  return { n, mean, m2 };
}

type Merge = (a: Moments, b: Moments) => Moments;

/** Chan, Golub & LeVeque's merge, with a hole: the mean weighted by equal halves. */
const equalWeights: Merge = (a, b) => {
  const n = a.n + b.n;
  const delta = f(b.mean - a.mean);
  return {
    n,
    mean: f(f(a.mean + b.mean) / 2),
    m2: f(f(a.m2 + b.m2) + f(f(delta * delta) * f(n / 4))),
  };
};

/** Chan's merge without the between-chunk term δ²·na·nb/n. */
const noDelta2: Merge = (a, b) => {
  const n = a.n + b.n;
  const delta = f(b.mean - a.mean);
  return { n, mean: f(a.mean + f(delta * f(b.n / n))), m2: f(a.m2 + b.m2) };
};

/** Moments of a run from two-pass chunks of `chunk` merged as a binary tree. */
function chunked(
  d: FloatArray,
  start: number,
  n: number,
  stride: number,
  chunk: number,
  merge: Merge,
): Moments {
  const parts: Moments[] = [];
  for (let c = 0; c < n; c += chunk) {
    parts.push(twoPass(d, start + c * stride, Math.min(chunk, n - c), stride));
  }
  return treeMerge(parts, merge);
}

function varianceWith(
  moments: (d: FloatArray, start: number, n: number, stride: number) => Moments,
): Kernel<"variance"> {
  return ({ x }, { axis, unbiased }) =>
    reduceRuns(x, axis, (start, n, stride) => {
      const { m2 } = moments(x.data, start, n, stride);
      return f(m2 / (unbiased ? n - 1 : n));
    });
}

const bits = new Float32Array(1);
const word = new Uint32Array(bits.buffer);

/** Rounds a float32 to bfloat16 (nearest, ties to even), as a bf16 accumulator stores it. */
function bf16(v: number): number {
  if (Number.isNaN(v)) return v;
  bits[0] = v;
  word[0] = (word[0] + 0x7fff + ((word[0] >>> 16) & 1)) & 0xffff0000;
  return bits[0];
}

// ---------------------------------------------------------------------------------------------
// Softmax family.

/** Applies `row(off, d, y)` to every last-axis row of x. */
function rowsOf(x: Tensor, row: (off: number, d: number, y: FloatArray) => void): Tensor {
  const d = x.shape[x.shape.length - 1];
  const y = zeros(ctx, x.shape);
  for (let off = 0; off < x.data.length; off += d) row(off, d, y.data);
  return y;
}

/** log_softmax with the row's normaliser log Σe^(x − m) taken over the first `span` entries. */
function logSoftmaxShortLse(x: Tensor, span: number): Tensor {
  return rowsOf(x, (off, d, y) => {
    const seen = Math.min(d, span);
    const m = rowMax(x.data, off, seen);
    const logS = f(Math.log(rowSumExp(f, x.data, off, seen, m)));
    for (let c = 0; c < d; c++) y[off + c] = f(f(x.data[off + c] - m) - logS);
  });
}

// ---------------------------------------------------------------------------------------------
// Losses.

const isIndices = (t: Targets): t is IndexTensor => t.data instanceof Int32Array;

function reduceLosses(losses: Tensor, reduction: Reduction, count = losses.data.length): Tensor {
  if (reduction === "none") return losses;
  const n = losses.data.length;
  const total = sumRun(f, losses.data, 0, count, 1);
  const y = zeros(ctx, []);
  y.data[0] = reduction === "sum" ? total : f(total / n);
  return y;
}

/** Cross-entropy that, for soft targets, takes lse − Σt·x: right only when each row sums to 1. */
const ceUnitMass: Kernel<"cross_entropy"> = ({ logits, target }, { reduction }) => {
  if (isIndices(target)) return ref.cross_entropy({ logits, target }, { reduction });
  const [n, classes] = logits.shape;
  const losses = zeros(ctx, [n]);
  for (let i = 0; i < n; i++) {
    const off = i * classes;
    const lse = rowLogSumExp(f, logits.data, off, classes);
    let picked = 0;
    for (let c = 0; c < classes; c++) {
      const t = target.data[off + c];
      if (t !== 0) picked = f(picked + f(t * logits.data[off + c]));
    }
    losses.data[i] = f(lse - picked);
  }
  return reduceLosses(losses, reduction);
};

/** The soft-target gradient as softmax − t, dropping the row mass Σt that multiplies softmax. */
function ceVjpUnitMass(logits: Tensor, target: Targets, dy: Tensor, reduction: Reduction): Tensor {
  if (isIndices(target)) return ref.cross_entropy_vjp({ logits, target, dy }, { reduction });
  const [n, classes] = logits.shape;
  const dz = ref.softmax({ x: logits }, {});
  for (let i = 0; i < n; i++) {
    const g =
      reduction === "none" ? dy.data[i] : reduction === "sum" ? dy.data[0] : f(dy.data[0] / n);
    for (let c = 0; c < classes; c++) {
      const at = i * classes + c;
      dz.data[at] = f(g * f(dz.data[at] - target.data[at]));
    }
  }
  return dz;
}

// ---------------------------------------------------------------------------------------------
// Normalisation.

/** Training-mode batch-norm in cpu32's arithmetic, from per-feature statistics `stats(c)`
 * (mean and biased variance), and the running update from `runningVar`. */
function batchNormFrom(
  stats: (x: Tensor, c: number) => { mean: number; variance: number; unbiased: number },
  runningVar?: (s: { variance: number; unbiased: number }, momentum: number) => number,
): Kernel<"batch_norm"> {
  return (inputs: BatchNormInputs, attrs: BatchNormAttrs): BatchNormOutput => {
    if (attrs.training === false) return ref.batch_norm(inputs, attrs);
    const { x, gamma, beta, runningMean, runningVar: rv } = inputs;
    const [n, features] = x.shape;
    const eps = f(attrs.eps);
    const m = f(attrs.momentum ?? 0.1);
    const keep = f(1 - m);
    const y = zeros(ctx, x.shape);
    const newMean = zeros(ctx, [features]);
    const newVar = zeros(ctx, [features]);
    for (let c = 0; c < features; c++) {
      const s = stats(x, c);
      const std = f(Math.sqrt(f(s.variance + eps)));
      for (let i = 0; i < n; i++) {
        const xhat = f(f(x.data[i * features + c] - s.mean) / std);
        y.data[i * features + c] = f(f(gamma.data[c] * xhat) + beta.data[c]);
      }
      const batchVar = runningVar ? runningVar(s, attrs.momentum ?? 0.1) : s.unbiased;
      newMean.data[c] = f(f(keep * runningMean.data[c]) + f(m * s.mean));
      newVar.data[c] = f(f(keep * rv.data[c]) + f(m * batchVar));
    }
    return { y, runningMean: newMean, runningVar: newVar };
  };
}

/** A feature column's two-pass statistics (cpu32's), read from column `col`. */
function columnStats(x: Tensor, col: number) {
  const [n, features] = x.shape;
  const { mean, m2 } = twoPass(x.data, col, n, features);
  return { mean, variance: f(m2 / n), unbiased: f(m2 / (n - 1)) };
}

/**
 * The shared backward of both norms (cpu32's normBackward) over a group of n elements whose
 * two sums Σg and Σg·x̂ stop at `span`: dx = (g − mean(g) − x̂·mean(g·x̂))/s.
 */
function normBackward(
  xhat: FloatArray,
  g: FloatArray,
  std: number,
  dx: FloatArray,
  start: number,
  stride: number,
  span: number,
): void {
  const n = xhat.length;
  let sumG = 0;
  let sumGX = 0;
  for (let k = 0; k < span; k++) {
    sumG = f(sumG + g[k]);
    sumGX = f(sumGX + f(g[k] * xhat[k]));
  }
  const meanG = f(sumG / n);
  const meanGX = f(sumGX / n);
  for (let k = 0; k < n; k++) {
    dx[start + k * stride] = f(f(f(g[k] - meanG) - f(xhat[k] * meanGX)) / std);
  }
}

/** x̂ of a strided group from its statistics over the first `span` elements; returns √(σ² + ε). */
function normalise(
  d: FloatArray,
  start: number,
  stride: number,
  eps: number,
  xhat: FloatArray,
  span = xhat.length,
): number {
  const { mean, m2 } = twoPass(d, start, Math.min(span, xhat.length), stride);
  const std = f(Math.sqrt(f(f(m2 / Math.min(span, xhat.length)) + eps)));
  for (let k = 0; k < xhat.length; k++) xhat[k] = f(f(d[start + k * stride] - mean) / std);
  return std;
}

/** layer_norm with each row's statistics taken over its first `span` entries. */
function layerNormShortStats(span: number): Kernel<"layer_norm"> {
  return ({ x, gamma, beta }, { eps }) => {
    const d = x.shape[x.shape.length - 1];
    const y = zeros(ctx, x.shape);
    const xhat = new Float32Array(d);
    for (let off = 0; off < x.data.length; off += d) {
      normalise(x.data, off, 1, f(eps), xhat, span);
      for (let k = 0; k < d; k++) y.data[off + k] = f(f(gamma.data[k] * xhat[k]) + beta.data[k]);
    }
    return y;
  };
}

/** layer_norm_vjp whose row sums Σg and Σg·x̂ cover only whole blocks of `block`. */
function layerNormVjpBlocks(block: number): Kernel<"layer_norm_vjp"> {
  return ({ x, gamma, dy }, { eps }) => {
    const d = x.shape[x.shape.length - 1];
    const dx = zeros(ctx, x.shape);
    const dgamma = zeros(ctx, [d]);
    const dbeta = zeros(ctx, [d]);
    const xhat = new Float32Array(d);
    const g = new Float32Array(d);
    for (let off = 0; off < x.data.length; off += d) {
      const std = normalise(x.data, off, 1, f(eps), xhat);
      for (let k = 0; k < d; k++) {
        const dyk = dy.data[off + k];
        g[k] = f(dyk * gamma.data[k]);
        dgamma.data[k] = f(dgamma.data[k] + f(dyk * xhat[k]));
        dbeta.data[k] = f(dbeta.data[k] + dyk);
      }
      normBackward(xhat, g, std, dx.data, off, 1, fullBlocks(d, block));
    }
    return { dx, dgamma, dbeta };
  };
}

/** batch_norm_vjp whose sums down the batch cover only whole blocks of `block` rows. */
function batchNormVjpBlocks(block: number): Kernel<"batch_norm_vjp"> {
  return ({ x, gamma, dy }, { eps }) => {
    const [n, features] = x.shape;
    const span = fullBlocks(n, block);
    const dx = zeros(ctx, x.shape);
    const dgamma = zeros(ctx, [features]);
    const dbeta = zeros(ctx, [features]);
    const xhat = new Float32Array(n);
    const g = new Float32Array(n);
    for (let c = 0; c < features; c++) {
      const std = normalise(x.data, c, features, f(eps), xhat);
      let dg = 0;
      let db = 0;
      for (let i = 0; i < n; i++) {
        const d = dy.data[i * features + c];
        g[i] = f(d * gamma.data[c]);
        if (i < span) {
          dg = f(dg + f(d * xhat[i]));
          db = f(db + d);
        }
      }
      normBackward(xhat, g, std, dx.data, c, features, span);
      dgamma.data[c] = dg;
      dbeta.data[c] = db;
    }
    return { dx, dgamma, dbeta };
  };
}

// ---------------------------------------------------------------------------------------------
// Matmul.

/** The batch count and matrix sizes of a validated product a·b. */
function dims(a: Tensor, b: Tensor) {
  const rank = a.shape.length;
  const [m, k, n] = [a.shape[rank - 2], a.shape[rank - 1], b.shape[rank - 1]];
  return { m, k, n, lead: a.shape.slice(0, rank - 2) };
}

/** cpu32's matmul with the inner loop bounded by `kSpan(k)` and batch t read at `offset(t)`
 * (in units of whole matrices). */
function matmulWith(
  kSpan: (k: number) => number,
  offset: (t: number, lead: readonly number[]) => number,
): Kernel<"matmul"> {
  return ({ a, b }) => {
    const { m, k, n, lead } = dims(a, b);
    const y = zeros(ctx, [...lead, m, n]);
    const span = kSpan(k);
    for (let t = 0; t < sizeOf(lead); t++) {
      const at = offset(t, lead);
      const [aBase, bBase, yBase] = [at * m * k, at * k * n, t * m * n];
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let p = 0; p < span; p++) {
            acc = f(acc + f(a.data[aBase + i * k + p] * b.data[bBase + p * n + j]));
          }
          y.data[yBase + i * n + j] = acc;
        }
      }
    }
    return y;
  };
}

/** The flat batch index of batch t with the leading dims' strides taken in reverse order
 * (a stride table filled from the wrong end): right for one batch dim or equal batch dims. */
function reversedBatchStrides(t: number, lead: readonly number[]): number {
  const strides = stridesOf([...lead].reverse()).reverse();
  let rest = t;
  let flat = 0;
  for (let d = lead.length - 1; d >= 0; d--) {
    flat += (rest % lead[d]) * strides[d];
    rest = Math.floor(rest / lead[d]);
  }
  return flat;
}

/** Zeroes, in every matrix of t (shape [..., rows, cols]), the rows and columns `drop` says. */
function zeroTail(
  t: Tensor,
  drop: (row: number, col: number, rows: number, cols: number) => boolean,
): Tensor {
  const rank = t.shape.length;
  const [rows, cols] = [t.shape[rank - 2], t.shape[rank - 1]];
  for (let i = 0; i < t.data.length; i++) {
    const row = Math.floor(i / cols) % rows;
    if (drop(row, i % cols, rows, cols)) t.data[i] = 0;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Dropout.

interface DropVariant {
  /** The Philox counter words [c0, c1] the kernel uses for element i of a tensor of `shape`. */
  counter?: (i: number, shape: readonly number[]) => [number, number];
  /** The threshold the kernel compares the word with. */
  threshold?: (p: number) => number;
  /** Whether a word at exactly the threshold is dropped. */
  inclusive?: boolean;
}

function dropoutWith(t: Tensor, { p, seed, training }: DropoutAttrs, v: DropVariant): Tensor {
  if (!training || p === 0) return copyOf(ctx, t);
  const [k0, k1] = seedKey(seed);
  const threshold = (v.threshold ?? dropThreshold)(p);
  const scale = f(1 / (1 - p));
  const out = zeros(ctx, t.shape);
  const words = new Uint32Array(4);
  for (let i = 0; i < t.data.length; i++) {
    const [c0, c1] = v.counter ? v.counter(i, t.shape) : [i, 0];
    philoxInto(words, c0, c1, 0, 0, k0, k1);
    const dropped = v.inclusive ? words[0] <= threshold : words[0] < threshold;
    if (!dropped) out.data[i] = f(t.data[i] * scale);
  }
  return out;
}

function dropoutVariant(v: DropVariant, which: "both" | "vjp" = "both"): Kernels {
  const vjp: Kernel<"dropout_vjp"> = ({ dy }, attrs) => dropoutWith(dy, attrs, v);
  if (which === "vjp") return { dropout_vjp: vjp };
  return { dropout: ({ x }, attrs) => dropoutWith(x, attrs, v), dropout_vjp: vjp };
}

// ---------------------------------------------------------------------------------------------

export const mutants: Mutant[] = [
  // I5a: elementwise ops and activations.
  mutant(
    "exp-grid-limit",
    "exp dispatched as one 1-D grid of at most 65535 workgroups of 256: elements past 65535·256 are never written (left 0)",
    ["I5j"],
    corruptUnary("exp", (y) => {
      y.data.fill(0, GRID_LIMIT);
      return y;
    }),
  ),
  mutant(
    "sub-bcast-grid-limit",
    "sub with a broadcast operand dispatched as one 1-D grid of at most 65535 workgroups of 256: outputs past 65535·256 are never written (left 0); same-shaped sub is right",
    ["I5j"],
    {
      sub: ({ a, b }) => {
        const y = ref.sub({ a, b }, {});
        const n = y.data.length;
        if (a.data.length < n || b.data.length < n) y.data.fill(0, GRID_LIMIT);
        return y;
      },
    },
  ),
  mutant(
    "leaky-relu-workgroup-tail",
    "leaky_relu's large-tensor path (n > 1024) launches ⌊n/256⌋ workgroups: the last partial workgroup is never run (left 0)",
    ["I5a"],
    corruptUnary("leaky_relu", (y) => {
      if (y.data.length > 1024) y.data.fill(0, fullBlocks(y.data.length, 256));
      return y;
    }),
  ),
  mutant(
    "tanh-rank2-count",
    "tanh counts its elements as shape[0]·shape[1] (a rank-2 assumption): at rank ≥ 3 only the first slab is written",
    ["I5a"],
    corruptUnary("tanh", (y, x) => {
      y.data.fill(0, x.shape.length > 2 ? x.shape[0] * x.shape[1] : y.data.length);
      return y;
    }),
  ),
  mutant(
    "relu-empty-padded",
    "relu pads every allocation to at least one element (WebGPU has no zero-sized buffers) and returns the padded buffer: an empty input gives one element",
    ["I5a"],
    corruptUnary("relu", (y) =>
      y.data.length === 0 ? { shape: y.shape, data: new Float32Array(1) } : y,
    ),
  ),
  mutant(
    "sigmoid-vjp-second-dispatch",
    "sigmoid_vjp in dispatches of 65536 elements that offset x but not dy: past 65536 it reads dy[i − 65536·⌊i/65536⌋]",
    ["I5a"],
    skewedDy("sigmoid_vjp", (dy) => dy.map((_, i) => dy[i % 65536])),
  ),
  mutant(
    "gelu-vjp-reversed-tail",
    "gelu_vjp's vec4 loop handles the n mod 4 tail past 65536 elements with its dy lanes reversed",
    ["I5a"],
    skewedDy("gelu_vjp", (dy) => {
      const n = dy.length;
      if (n <= 65536) return dy;
      const out = dy.slice();
      const tail = n % 4;
      for (let t = 0; t < tail; t++) out[n - tail + t] = dy[n - 1 - t];
      return out;
    }),
  ),

  mutant(
    "tanh-vec4-floor-groups",
    "tanh reads four elements per thread when n is a multiple of 4, and launches max(1, ⌊n/1024⌋) workgroups of 256 for its n/4 threads: past 1024 elements the partial last workgroup never runs (left 0)",
    ["I5a"],
    corruptUnary("tanh", (y) => {
      if (y.data.length % 4 === 0) y.data.fill(0, fullBlocks(y.data.length, 1024));
      return y;
    }),
  ),

  // I5b: broadcasting binary ops and their gradients.
  mutant(
    "add-broadcast-modular",
    "add reads each operand at i mod size(operand): right when the broadcast dims lead ([C] with [N, C]), wrong for a size-1 dim in the middle or last ([N, 1, C] with [1, M, C])",
    ["I5b"],
    {
      add: ({ a, b }) =>
        binaryWith(
          a,
          b,
          (from, out) => modularIndex(sizeOf(out), sizeOf(from)),
          (x, y) => f(x + y),
        ),
    },
  ),
  mutant(
    "mul-vec4-floor-groups",
    "mul on two operands of the same shape reads four elements per thread when n is a multiple of 4, and launches max(1, ⌊n/1024⌋) workgroups of 256: past 1024 elements the partial last workgroup never runs (left 0)",
    ["I5b"],
    {
      mul: (inputs, attrs) => {
        const y = ref.mul(inputs, attrs);
        const n = y.data.length;
        const same = inputs.a.data.length === n && inputs.b.data.length === n;
        if (same && n % 4 === 0) y.data.fill(0, fullBlocks(n, 1024));
        return y;
      },
    },
  ),
  mutant(
    "sub-rank4-strides",
    "sub's broadcast index has three stride entries: at rank 4 dim 0 always advances by the operand's own block, even where the operand has size 1 there",
    ["I5b"],
    { sub: ({ a, b }) => binaryWith(a, b, threeDimIndex, (x, y) => f(x - y)) },
  ),
  mutant(
    "mul-vjp-modular-unbroadcast",
    "mul_vjp sums each operand's gradient into slot i mod size(operand): right for leading broadcast dims only",
    ["I5b"],
    {
      mul_vjp: ({ a, b, dy }) => {
        const shape = broadcastShapes(a.shape, b.shape) ?? [];
        const ia = broadcastIndex(a.shape, shape);
        const ib = broadcastIndex(b.shape, shape);
        const ga = new Float32Array(dy.data.length);
        const gb = new Float32Array(dy.data.length);
        for (let i = 0; i < dy.data.length; i++) {
          ga[i] = f(dy.data[i] * b.data[ib[i]]);
          gb[i] = f(dy.data[i] * a.data[ia[i]]);
        }
        return {
          da: scatter(ga, modularIndex(ga.length, a.data.length), a.shape),
          db: scatter(gb, modularIndex(gb.length, b.data.length), b.shape),
        };
      },
    },
  ),
  mutant(
    "add-vjp-middle-dim",
    "add_vjp reduces an operand's gradient over its leading broadcast dims but takes only the first slice of a size-1 dim in the middle ([N, 1, C] against [N, M, C])",
    ["I5b"],
    {
      add_vjp: ({ a, b, dy }) => {
        const shape = broadcastShapes(a.shape, b.shape) ?? [];
        const grad = (t: Tensor) =>
          scatter(
            dy.data,
            broadcastIndex(t.shape, shape),
            t.shape,
            firstSliceOfMiddleDims(t.shape, shape),
          );
        return { da: grad(a), db: grad(b) };
      },
    },
  ),
  mutant(
    "div-vjp-rank4-strides",
    "div_vjp gathers its operands through a three-entry stride table: at rank 4 a size-1 dim 0 is read as if it were full",
    ["I5b"],
    {
      div_vjp: ({ a, b, dy }) => {
        const shape = broadcastShapes(a.shape, b.shape) ?? [];
        const ia = threeDimIndex(a.shape, shape);
        const ib = threeDimIndex(b.shape, shape);
        const ga = new Float32Array(dy.data.length);
        const gb = new Float32Array(dy.data.length);
        for (let i = 0; i < dy.data.length; i++) {
          const q = f(dy.data[i] / b.data[ib[i]]);
          ga[i] = q;
          gb[i] = -f(q * f(a.data[ia[i]] / b.data[ib[i]]));
        }
        return {
          da: scatter(ga, broadcastIndex(a.shape, shape), a.shape),
          db: scatter(gb, broadcastIndex(b.shape, shape), b.shape),
        };
      },
    },
  ),

  // I5c: reductions along every axis.
  mutant(
    "sum-block64-tail",
    "sum in blocks of 64 that never adds the partial last block (runs longer than 64)",
    ["I5c"],
    {
      sum: ({ x }, { axis }) =>
        reduceRuns(x, axis, (s, n, st) => sumRun(f, x.data, s, fullBlocks(n, 64), st)),
    },
  ),
  mutant(
    "sum-bf16-block-merge",
    "sum adds blocks of 256 in float32 but stores and merges the block partials in bfloat16",
    ["I5c"],
    {
      sum: ({ x }, { axis }) =>
        reduceRuns(x, axis, (s, n, st) => {
          if (n <= 256) return sumRun(f, x.data, s, n, st);
          let acc = bf16(sumRun(f, x.data, s, 256, st));
          for (let c = 256; c < n; c += 256) {
            acc = bf16(acc + bf16(sumRun(f, x.data, s + c * st, Math.min(256, n - c), st)));
          }
          return acc;
        }),
    },
  ),
  mutant(
    "sum-middle-axis-transposed",
    "sum writes result (o, j) at j·outer + o: the same for the first and last axis, transposed for a middle one",
    ["I5c"],
    {
      sum: ({ x }, { axis }) =>
        reduceRuns(x, axis, (s, n, st) => sumRun(f, x.data, s, n, st), true),
    },
  ),
  mutant(
    "max-workgroup-tail",
    "max over a workgroup of 256 that ignores the elements past the last full workgroup",
    ["I5c"],
    {
      max: ({ x }, { axis }) =>
        reduceRuns(x, axis, (s, n, st) => maxOf(x.data, s, fullBlocks(n, 256), st)),
    },
  ),
  mutant(
    "mean-padded-length",
    "mean divides by the length padded to whole workgroups of 256 (runs longer than 256)",
    ["I5c"],
    {
      mean: ({ x }, { axis }) =>
        reduceRuns(x, axis, (s, n, st) =>
          f(sumRun(f, x.data, s, n, st) / (n > 256 ? Math.ceil(n / 256) * 256 : n)),
        ),
    },
  ),
  mutant(
    "mean-vjp-middle-axis",
    "mean_vjp reads the upstream gradient of run (o, j) at j·outer + o: wrong only for a middle axis",
    ["I5c"],
    {
      mean_vjp: ({ x, dy }, { axis }) => {
        const l = axisLayout(x.shape, axis);
        const dx = zeros(ctx, x.shape);
        for (let o = 0; o < l.outer; o++) {
          for (let j = 0; j < l.inner; j++) {
            const g = f(dy.data[j * l.outer + o] / l.n);
            for (let k = 0; k < l.n; k++) dx.data[o * l.n * l.inner + k * l.inner + j] = g;
          }
        }
        return dx;
      },
    },
  ),
  mutant(
    "variance-inner-stride",
    "variance steps along the axis by shape[axis + 1] instead of the product of all later dims: wrong on the first axes of rank ≥ 3",
    ["I5c"],
    {
      variance: ({ x }, { axis, unbiased }) =>
        reduceRuns(x, axis, (s, n) => {
          const { m2 } = twoPass(x.data, s, n, x.shape[axis + 1] ?? 1);
          return f(m2 / (unbiased ? n - 1 : n));
        }),
    },
  ),
  mutant(
    "variance-chunks-equal-weights",
    "variance from chunks of 1024 merged by Chan's formula as if both chunks had the same count: the mean of a 1024 + 1 split is the average of the two chunk means",
    ["I5c"],
    { variance: varianceWith((d, s, n, st) => chunked(d, s, n, st, 1024, equalWeights)) },
  ),
  mutant(
    "variance-merge-no-delta2",
    "variance from chunks of 1024 merged without Chan's between-chunk term δ²·na·nb/n",
    ["I5c"],
    { variance: varianceWith((d, s, n, st) => chunked(d, s, n, st, 1024, noDelta2)) },
  ),
  mutant(
    "max-vjp-ties-first-chunk",
    "max_vjp counts the tied maxima in the first chunk of 1024 only and splits dy by that count (∞ when the max lies past 1024)",
    ["I5c"],
    {
      max_vjp: ({ x, dy }, { axis }) => {
        const l = axisLayout(x.shape, axis);
        const dx = zeros(ctx, x.shape);
        for (let o = 0; o < l.outer; o++) {
          for (let j = 0; j < l.inner; j++) {
            const start = o * l.n * l.inner + j;
            const m = maxOf(x.data, start, l.n, l.inner);
            let ties = 0;
            for (let k = 0; k < Math.min(l.n, 1024); k++)
              if (x.data[start + k * l.inner] === m) ties++;
            const g = Number.isNaN(m) ? Number.NaN : f(dy.data[o * l.inner + j] / ties);
            for (let k = 0; k < l.n; k++) {
              const v = x.data[start + k * l.inner];
              if (v === m || Number.isNaN(m)) dx.data[start + k * l.inner] = g;
            }
          }
        }
        return dx;
      },
    },
  ),

  // I5d: the softmax family.
  mutant(
    "softmax-chunk-merge-unscaled",
    "two-level softmax over chunks of 1024 that adds the chunks' Σe^(x − m_chunk) without rescaling each by e^(m_chunk − m)",
    ["I5d"],
    {
      softmax: ({ x }) =>
        rowsOf(x, (off, d, y) => {
          let m = Number.NEGATIVE_INFINITY;
          let s = 0;
          for (let c = 0; c < d; c += 1024) {
            const len = Math.min(1024, d - c);
            const mc = rowMax(x.data, off + c, len);
            m = Math.max(m, mc);
            s = f(s + rowSumExp(f, x.data, off + c, len, mc));
          }
          for (let c = 0; c < d; c++) y[off + c] = f(f(Math.exp(f(x.data[off + c] - m))) / s);
        }),
    },
  ),
  mutant(
    "log-softmax-lse-first-chunk",
    "log_softmax whose log Σe^x covers only the first chunk of 1024 entries of a row",
    ["I5d"],
    { log_softmax: ({ x }) => logSoftmaxShortLse(x, 1024) },
  ),
  mutant(
    "logsumexp-first-chunk",
    "logsumexp that reduces only the first chunk of 1024 entries of each row",
    ["I5d"],
    {
      logsumexp: ({ x }) => {
        const d = x.shape[x.shape.length - 1];
        const y = zeros(ctx, x.shape.slice(0, -1));
        for (let row = 0; row < y.data.length; row++) {
          y.data[row] = rowLogSumExp(f, x.data, row * d, Math.min(d, 1024));
        }
        return y;
      },
    },
  ),
  mutant(
    "softmax-vjp-dot-one-workgroup",
    "softmax_vjp's ⟨dy, y⟩ is the partial sum of the first workgroup of 256 only",
    ["I5d"],
    {
      softmax_vjp: ({ x, dy }) => {
        const y = ref.softmax({ x }, {});
        const d = x.shape[x.shape.length - 1];
        for (let off = 0; off < x.data.length; off += d) {
          let dot = 0;
          for (let c = 0; c < Math.min(d, 256); c++)
            dot = f(dot + f(dy.data[off + c] * y.data[off + c]));
          for (let c = 0; c < d; c++)
            y.data[off + c] = f(y.data[off + c] * f(dy.data[off + c] - dot));
        }
        return y;
      },
    },
  ),
  mutant(
    "softmax-rank3-flattened",
    "softmax views x as [shape[0], rest] (a rank-2 assumption): at rank ≥ 3 it normalises over the last two axes together",
    ["I5d"],
    {
      softmax: ({ x }) => {
        if (x.shape.length < 3) return ref.softmax({ x }, {});
        const flat = { shape: [x.shape[0], x.data.length / x.shape[0]], data: x.data };
        return { shape: [...x.shape], data: ref.softmax({ x: flat }, {}).data };
      },
    },
  ),
  mutant(
    "log-softmax-vjp-sum-first-chunk",
    "log_softmax_vjp's Σdy covers only the first chunk of 1024 entries of a row",
    ["I5d"],
    {
      log_softmax_vjp: ({ x, dy }) => {
        const dx = ref.softmax({ x }, {});
        const d = x.shape[x.shape.length - 1];
        for (let off = 0; off < x.data.length; off += d) {
          const total = sumRun(f, dy.data, off, Math.min(d, 1024), 1);
          for (let c = 0; c < d; c++)
            dx.data[off + c] = f(dy.data[off + c] - f(dx.data[off + c] * total));
        }
        return dx;
      },
    },
  ),

  // I5e: losses.
  mutant(
    "ce-soft-unit-mass",
    "cross_entropy with soft targets as lse − Σt·x, assuming every target row sums to 1",
    ["I5e"],
    { cross_entropy: ceUnitMass },
  ),
  mutant(
    "ce-vjp-soft-unit-mass",
    "cross_entropy_vjp with soft targets as softmax − t, assuming every target row sums to 1",
    ["I5e"],
    {
      cross_entropy_vjp: ({ logits, target, dy }, { reduction }) =>
        ceVjpUnitMass(logits, target, dy, reduction),
    },
  ),
  mutant(
    "ce-fused-soft-unit-mass",
    "fused cross-entropy whose gradient is softmax − t for soft targets, assuming rows sum to 1",
    ["I5e"],
    {
      cross_entropy_fused: ({ logits, target }, { reduction }) => {
        const n = logits.shape[0];
        const dy = zeros(ctx, reduction === "none" ? [n] : []);
        dy.data.fill(1);
        return {
          loss: ref.cross_entropy({ logits, target }, { reduction }),
          dlogits: ceVjpUnitMass(logits, target, dy, reduction),
        };
      },
    },
  ),
  mutant(
    "nll-batch-block-tail",
    "nll reduces the batch in blocks of 1024 and never adds the partial last block (batches past 1024)",
    ["I5e"],
    {
      nll: ({ logp, target }, { reduction }) => {
        const none = ref.nll({ logp, target }, { reduction: "none" });
        return reduceLosses(none, reduction, fullBlocks(none.data.length, 1024));
      },
    },
  ),
  mutant(
    "mse-mean-padded-length",
    "mse's mean divides by the element count padded to whole workgroups of 256",
    ["I5e"],
    {
      mse: ({ pred, target }, { reduction }) => {
        const y = ref.mse({ pred, target }, { reduction });
        const n = pred.data.length;
        if (reduction === "mean" && n > 256)
          y.data[0] = f(f(y.data[0] * n) / (Math.ceil(n / 256) * 256));
        return y;
      },
    },
  ),
  mutant(
    "ce-vjp-dy-row-wrap",
    "cross_entropy_vjp (reduction none) reads row i's dy at i mod 1024, the row's index within its tile",
    ["I5e"],
    {
      cross_entropy_vjp: ({ logits, target, dy }, { reduction }) => {
        const wrapped =
          reduction === "none"
            ? { shape: dy.shape, data: dy.data.map((_, i) => dy.data[i % 1024]) }
            : dy;
        return ref.cross_entropy_vjp({ logits, target, dy: wrapped }, { reduction });
      },
    },
  ),

  // I5f: layer-norm.
  mutant(
    "layer-norm-stats-first-chunk",
    "layer_norm takes each row's mean and variance from its first 1024 entries",
    ["I5f"],
    { layer_norm: layerNormShortStats(1024) },
  ),
  mutant(
    "layer-norm-vjp-block-tail",
    "layer_norm_vjp's row sums Σg and Σg·x̂ drop the partial last block of 256",
    ["I5f"],
    { layer_norm_vjp: layerNormVjpBlocks(256) },
  ),
  mutant(
    "layer-norm-rank3-flattened",
    "layer_norm views x as [shape[0], rest] for its statistics (a rank-2 assumption): at rank ≥ 3 rows share one mean and variance",
    ["I5f"],
    {
      layer_norm: ({ x, gamma, beta }, { eps }) => {
        if (x.shape.length < 3) return ref.layer_norm({ x, gamma, beta }, { eps });
        const d = x.shape[x.shape.length - 1];
        const span = x.data.length / x.shape[0];
        const y = zeros(ctx, x.shape);
        const xhat = new Float32Array(span);
        for (let off = 0; off < x.data.length; off += span) {
          normalise(x.data, off, 1, f(eps), xhat);
          for (let k = 0; k < span; k++) {
            y.data[off + k] = f(f(gamma.data[k % d] * xhat[k]) + beta.data[k % d]);
          }
        }
        return y;
      },
    },
  ),

  // I5g: batch-norm.
  mutant(
    "batch-norm-chunks-equal-weights",
    "training batch_norm reduces the batch in chunks of 1024 merged with equal weights: wrong statistics once N passes 1024",
    ["I5g"],
    {
      batch_norm: batchNormFrom((x, c) => {
        const [n, features] = x.shape;
        const { mean, m2 } = chunked(x.data, c, n, features, 1024, equalWeights);
        return { mean, variance: f(m2 / n), unbiased: f(m2 / (n - 1)) };
      }),
    },
  ),
  mutant(
    "batch-norm-channel-wrap",
    "batch_norm computes feature c's statistics from column c mod 256 (the channel index taken from the workgroup-local id)",
    ["I5g"],
    { batch_norm: batchNormFrom((x, c) => columnStats(x, c % 256)) },
  ),
  mutant(
    "batch-norm-momentum-one-biased",
    "batch_norm's momentum = 1 fast path copies the normaliser's (biased) batch variance into the running variance",
    ["I5g"],
    {
      batch_norm: batchNormFrom(columnStats, (s, momentum) =>
        momentum === 1 ? s.variance : s.unbiased,
      ),
    },
  ),
  mutant(
    "batch-norm-vjp-block-tail",
    "batch_norm_vjp's sums down the batch (Σdy, Σdy·x̂) drop the partial last block of 256 rows",
    ["I5g"],
    { batch_norm_vjp: batchNormVjpBlocks(256) },
  ),

  // I5h: matmul.
  mutant(
    "matmul-k-tail-128",
    "tiled matmul with K tiles of 128 that never loads the partial last K tile",
    ["I5h"],
    {
      matmul: matmulWith(
        (k) => fullBlocks(k, 128),
        (t) => t,
      ),
    },
  ),
  mutant(
    "matmul-batch-strides-reversed",
    "batched matmul whose batch-dim strides are filled from the wrong end: right for one batch dim, wrong for two unequal ones",
    ["I5h"],
    { matmul: matmulWith((k) => k, reversedBatchStrides) },
  ),
  mutant(
    "matmul-m-tail-64",
    "matmul with row tiles of 64 that never writes the rows of a partial last tile (M past 64)",
    ["I5h"],
    {
      matmul: (inputs) =>
        zeroTail(ref.matmul(inputs, {}), (row, _c, rows) => row >= fullBlocks(rows, 64)),
    },
  ),
  mutant(
    "matmul-vjp-db-n-tail",
    "matmul_vjp leaves db's columns past the last full tile of 128 unwritten (N past 128)",
    ["I5h"],
    {
      matmul_vjp: (inputs) => {
        const { da, db } = ref.matmul_vjp(inputs, {});
        return { da, db: zeroTail(db, (_r, col, _rs, cols) => col >= fullBlocks(cols, 128)) };
      },
    },
  ),

  // I5i: dropout masks.
  mutant(
    "dropout-counter-wrap-16",
    "dropout's Philox counter is the element index masked to 16 bits (i & 0xffff): the mask repeats every 65536 elements",
    ["I5i"],
    dropoutVariant({ counter: (i) => [i & 0xffff, 0] }),
  ),
  mutant(
    "dropout-threshold-inclusive",
    "dropout drops an element when its Philox word is ≤ p·2^32 rather than <",
    ["I5i"],
    dropoutVariant({ inclusive: true }),
  ),
  mutant(
    "dropout-threshold-float32",
    "dropout forms its threshold from p rounded to float32, so ⌈p·2^32⌉ moves by up to 128 words",
    ["I5i"],
    dropoutVariant({ threshold: (p) => dropThreshold(f(p)) }),
  ),
  mutant(
    "dropout-vjp-grid2d-counter",
    "dropout_vjp takes its Philox counter from a 2-D grid id [i mod 65536, ⌊i/65536⌋] instead of [i, 0]",
    ["I5i"],
    dropoutVariant({ counter: (i) => [i % 65536, Math.floor(i / 65536)] }, "vjp"),
  ),
  mutant(
    "dropout-mask-per-plane",
    "dropout keys the mask by the index within the last two axes: at rank ≥ 3 every leading slice gets the same mask",
    ["I5i"],
    dropoutVariant({
      counter: (i, shape) => [
        shape.length > 2 ? i % (shape[shape.length - 2] * shape[shape.length - 1]) : i,
        0,
      ],
    }),
  ),
];
