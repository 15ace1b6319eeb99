/**
 * Known-bad kernels for the softmax / log-sum-exp / cross-entropy laws (B): each is a float32
 * backend with one kernel wrong the way real kernels have been wrong.
 */
import type { Reduction } from "../../engine/contract.ts";
import { cpu32 } from "../../engine/cpu/index.ts";
import { arrayFor, type Tensor } from "../../engine/tensor.ts";
import { type Mutant, mutant } from "./mutant.ts";

const r = Math.fround;

/** Applies `f` to each last-axis row of x, writing a row of the same length. */
function perRow(x: Tensor, f: (row: Float32Array, out: Float32Array) => void): Tensor {
  const c = x.shape[x.shape.length - 1];
  const y = arrayFor("float32", x.data.length) as Float32Array;
  for (let off = 0; off < x.data.length; off += c) {
    f(x.data.subarray(off, off + c) as Float32Array, y.subarray(off, off + c));
  }
  return { shape: [...x.shape], data: y };
}

/** One value per last-axis row. */
function perRowScalar(x: Tensor, f: (row: Float32Array) => number): Tensor {
  const c = x.shape[x.shape.length - 1];
  const y = arrayFor("float32", x.data.length / c);
  for (let i = 0; i < y.length; i++) y[i] = f(x.data.subarray(i * c, (i + 1) * c) as Float32Array);
  return { shape: x.shape.slice(0, -1), data: y };
}

/** Row max with IEEE semantics (NaN poisons it). */
function rowMax(row: Float32Array): number {
  let m = row[0];
  for (const v of row) if (v > m || Number.isNaN(v)) m = v;
  return m;
}

/** cross_entropy 'none' from the correct kernel, reduced by `reduce`. */
function reducedLoss(
  inputs: Parameters<NonNullable<typeof cpu32.kernels.cross_entropy>>[0],
  reduction: Reduction,
  reduce: (losses: Float32Array, n: number, c: number) => number,
): Tensor {
  const none = cpu32.kernels.cross_entropy!(inputs, { reduction: "none" }) as Tensor;
  if (reduction === "none") return none;
  const [n, c] = inputs.logits.shape;
  return { shape: [], data: Float32Array.of(reduce(none.data as Float32Array, n, c)) };
}

const sumF32 = (xs: Float32Array) => xs.reduce((a, b) => r(a + b), 0);

export const mutants: Mutant[] = [
  mutant(
    "softmax-no-max-shift",
    "softmax as exp(x)/Σexp(x) without subtracting the row max: ∞/∞ = NaN once a logit passes 88.7",
    ["B1"],
    {
      softmax: ({ x }) =>
        perRow(x, (row, out) => {
          let s = 0;
          for (let j = 0; j < row.length; j++) {
            out[j] = r(Math.exp(row[j]));
            s = r(s + out[j]);
          }
          for (let j = 0; j < row.length; j++) out[j] = r(out[j] / s);
        }),
    },
  ),
  mutant(
    "logsumexp-no-max-shift",
    "logsumexp as log(Σ exp(x)) without the max shift: +∞ past 88.7 and −∞ for rows far below 0",
    ["B5a"],
    {
      logsumexp: ({ x }) =>
        perRowScalar(x, (row) => r(Math.log(row.reduce((s, v) => r(s + r(Math.exp(v))), 0)))),
    },
  ),
  mutant(
    "logsumexp-max-log",
    "logsumexp replaced by the max-log approximation lse(x) ≈ max(x) (as in max-log-MAP decoders): off by up to ln n",
    ["B5a", "B5b"],
    {
      logsumexp: ({ x }) => perRowScalar(x, rowMax),
    },
  ),
  mutant(
    "log-softmax-via-softmax",
    "log_softmax computed as log(softmax(x)): a probability that underflows to 0 gives −∞ where x − lse(x) is finite",
    ["B6c", "A7b"],
    {
      log_softmax: (inputs) => {
        const p = cpu32.kernels.softmax!(inputs, {}) as Tensor;
        return { shape: [...p.shape], data: p.data.map((v) => r(Math.log(v))) };
      },
    },
  ),
  mutant(
    "cross-entropy-mean-over-classes",
    "cross_entropy 'mean' averages over all N·C elements of the one-hot product (reduce_mean(−y·log p)) instead of over the N examples",
    ["B7a", "B11a", "B13a"],
    {
      cross_entropy: (inputs, { reduction }) =>
        reducedLoss(inputs, reduction, (l, n, c) =>
          reduction === "sum" ? sumF32(l) : r(sumF32(l) / (n * c)),
        ),
    },
  ),
  mutant(
    "cross-entropy-vjp-no-mean",
    "cross_entropy_vjp ignores the 1/N of reduction 'mean' (returns the gradient of the sum): the learning rate silently scales with the batch size",
    ["B12a", "B12b"],
    {
      cross_entropy_vjp: (inputs, { reduction }) =>
        cpu32.kernels.cross_entropy_vjp!(inputs, {
          reduction: reduction === "mean" ? "sum" : reduction,
        }),
    },
  ),
  mutant(
    "cross-entropy-clipped-probabilities",
    "cross_entropy as −log(clip(softmax(z)_y, 1e−7, 1 − 1e−7)) (Keras' epsilon): the loss of a confident mistake is capped near 16.1",
    ["B9b"],
    {
      cross_entropy: (inputs, { reduction }) => {
        const { logits, target } = inputs;
        if (!(target.data instanceof Int32Array))
          return cpu32.kernels.cross_entropy!(inputs, { reduction });
        const p = cpu32.kernels.softmax!({ x: logits }, {}) as Tensor;
        const [n, c] = logits.shape;
        const losses = arrayFor("float32", n);
        for (let i = 0; i < n; i++)
          losses[i] = -r(
            Math.log(Math.min(Math.max(p.data[i * c + target.data[i]], 1e-7), r(1 - 1e-7))),
          );
        if (reduction === "none") return { shape: [n], data: losses };
        const total = sumF32(losses as Float32Array);
        return { shape: [], data: Float32Array.of(reduction === "sum" ? total : r(total / n)) };
      },
    },
  ),
  mutant(
    "softmax-nan-as-masked",
    "softmax sanitises non-finite logits as masked (NaN → −∞, like a nan_to_num before the kernel): a NaN logit silently gets probability 0",
    ["B15a"],
    {
      softmax: ({ x }) =>
        cpu32.kernels.softmax!(
          { x: { shape: x.shape, data: x.data.map((v) => (Number.isNaN(v) ? -Infinity : v)) } },
          {},
        ),
    },
  ),
  mutant(
    "softmax-online-masked-prefix",
    "single-pass (online) softmax whose running max starts at −∞: a leading −∞ logit gives e^(−∞ − (−∞)) = NaN and poisons the row (the masked-prefix bug of fused attention kernels)",
    ["B15c"],
    {
      softmax: ({ x }) =>
        perRow(x, (row, out) => {
          let m = Number.NEGATIVE_INFINITY;
          let s = 0;
          for (const v of row) {
            const next = Math.max(m, v);
            s = r(r(s * r(Math.exp(r(m - next)))) + r(Math.exp(r(v - next))));
            m = next;
          }
          for (let j = 0; j < row.length; j++) out[j] = r(r(Math.exp(r(row[j] - m))) / s);
        }),
    },
  ),
  mutant(
    "logsumexp-masked-row-nan",
    "logsumexp as m + log Σ e^(x − m) with no special case for m = −∞: a fully masked row gives −∞ − (−∞) = NaN instead of −∞",
    ["B15d"],
    {
      logsumexp: ({ x }) =>
        perRowScalar(x, (row) => {
          const m = rowMax(row);
          return r(m + r(Math.log(row.reduce((s, v) => r(s + r(Math.exp(r(v - m)))), 0))));
        }),
    },
  ),
];
