/**
 * Backward kernels with the bugs hand-written gradients really have: a missed transpose, a
 * broadcast gradient not summed back, a forgotten constant factor or normalisation term, a
 * derivative formula applied to the wrong quantity.
 */
import type { Kernels } from "../../engine/contract.ts";
import { cpu32 } from "../../engine/cpu/index.ts";
import { arrayFor, broadcastIndex, type Tensor } from "../../engine/tensor.ts";
import { type Mutant, mutant } from "./mutant.ts";

const k = cpu32.kernels as Required<Kernels>;
const f = Math.fround;

function zerosLike(shape: readonly number[]): Tensor {
  return {
    shape: [...shape],
    data: arrayFor(
      "float32",
      shape.reduce((p, d) => p * d, 1),
    ),
  };
}

/** Scales every element of a float32 tensor (rounded). */
function scaled(t: Tensor, s: number): Tensor {
  return { shape: [...t.shape], data: Float32Array.from(t.data, (v) => f(v * s)) };
}

/**
 * The classic NumPy-autograd unbroadcast that sums away the dimensions broadcasting prepended
 * but forgets the size-1 dimensions it stretched: it keeps the first slice along them instead
 * of their sum (right for a bias of shape [c], wrong for [1, c], [r, 1] or a scalar).
 */
function halfUnbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  const out = zerosLike(shape);
  const map = broadcastIndex(shape, g.shape);
  const offset = g.shape.length - shape.length;
  for (let flat = 0; flat < g.data.length; flat++) {
    let rest = flat;
    let first = true;
    for (let d = g.shape.length - 1; d >= 0; d--) {
      const coord = rest % g.shape[d];
      rest = Math.floor(rest / g.shape[d]);
      const own = d - offset;
      if (own >= 0 && shape[own] === 1 && g.shape[d] > 1 && coord > 0) first = false;
    }
    if (first) out.data[map[flat]] = f(out.data[map[flat]] + g.data[flat]);
  }
  return out;
}

export const mutants: Mutant[] = [
  mutant(
    "matmul-vjp-untransposed-b",
    "dA reads B with the row stride of Bᵀ (dY·B instead of dY·Bᵀ for square B): a missed transpose",
    ["G1c", "I5h"],
    {
      matmul_vjp: async (inputs, attrs) => {
        const { a, b, dy } = inputs;
        const { db } = await k.matmul_vjp(inputs, attrs);
        const r = a.shape.length;
        const [m, kk, n] = [a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]];
        const da = zerosLike(a.shape);
        for (let t = 0; t < a.data.length / (m * kk); t++) {
          for (let i = 0; i < m; i++) {
            for (let p = 0; p < kk; p++) {
              let acc = 0;
              for (let j = 0; j < n; j++)
                acc = f(acc + f(dy.data[t * m * n + i * n + j] * b.data[t * kk * n + j * kk + p]));
              da.data[t * m * kk + i * kk + p] = acc;
            }
          }
        }
        return { da, db };
      },
    },
  ),
  mutant(
    "add-vjp-stretched-dims-not-summed",
    "the broadcast gradient of add is summed over prepended dims but not over stretched size-1 dims",
    ["G1a", "I5b"],
    {
      add_vjp: ({ a, b, dy }) => ({
        da: halfUnbroadcast(dy, a.shape),
        db: halfUnbroadcast(dy, b.shape),
      }),
    },
  ),
  mutant(
    "variance-vjp-biased-denominator",
    "the unbiased variance's gradient divides by n instead of n − 1",
    ["G1b", "I5c"],
    {
      variance_vjp: (inputs, attrs) => k.variance_vjp(inputs, { ...attrs, unbiased: false }),
    },
  ),
  mutant(
    "max-vjp-full-gradient-to-each-tie",
    "max's gradient goes in full to every element equal to the max (a mask x == max) instead of being split among ties",
    ["G1b", "I5c"],
    {
      max_vjp: async (inputs, attrs) => {
        const split = await k.max_vjp(inputs, attrs);
        const { x } = inputs;
        const { axis } = attrs;
        const n = x.shape[axis];
        const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
        const out = zerosLike(x.shape);
        for (let o = 0; o < x.data.length / (n * inner); o++) {
          for (let j = 0; j < inner; j++) {
            const at = (q: number) => o * n * inner + q * inner + j;
            let ties = 0;
            for (let q = 0; q < n; q++) if (split.data[at(q)] !== 0) ties++;
            for (let q = 0; q < n; q++) out.data[at(q)] = f(split.data[at(q)] * ties);
          }
        }
        return out;
      },
    },
  ),
  mutant(
    "mse-vjp-missing-factor-2",
    "d(p − t)²/dp computed as (p − t) instead of 2(p − t)",
    ["G1e", "I5e"],
    {
      mse_vjp: async (inputs, attrs) => scaled(await k.mse_vjp(inputs, attrs), 0.5),
    },
  ),
  mutant(
    "cross-entropy-vjp-mean-not-divided",
    "the 'mean' cross-entropy gradient is the 'sum' one: it forgets to divide by the batch size N",
    ["G1e", "G6"],
    {
      cross_entropy_vjp: (inputs, attrs) =>
        k.cross_entropy_vjp(inputs, attrs.reduction === "mean" ? { reduction: "sum" } : attrs),
    },
  ),
  mutant(
    "layer-norm-vjp-no-mean-term",
    "layer-norm's dx drops the −mean(g) term: (g − x̂·mean(g·x̂))/σ, as if the mean did not depend on x",
    ["G1f", "G1g"],
    {
      layer_norm_vjp: async (inputs, attrs) => {
        const { x, gamma, dy } = inputs;
        const { dgamma, dbeta } = await k.layer_norm_vjp(inputs, attrs);
        const d = x.shape[x.shape.length - 1];
        const dx = zerosLike(x.shape);
        for (let off = 0; off < x.data.length; off += d) {
          let mean = 0;
          for (let q = 0; q < d; q++) mean = f(mean + x.data[off + q]);
          mean = f(mean / d);
          let ss = 0;
          for (let q = 0; q < d; q++) ss = f(ss + f(f(x.data[off + q] - mean) ** 2));
          const std = f(Math.sqrt(f(f(ss / d) + f(attrs.eps))));
          const xhat = Array.from({ length: d }, (_, q) => f(f(x.data[off + q] - mean) / std));
          const g = Array.from({ length: d }, (_, q) => f(dy.data[off + q] * gamma.data[q]));
          let gx = 0;
          for (let q = 0; q < d; q++) gx = f(gx + f(g[q] * xhat[q]));
          gx = f(gx / d);
          for (let q = 0; q < d; q++) dx.data[off + q] = f(f(g[q] - f(xhat[q] * gx)) / std);
        }
        return { dx, dgamma, dbeta };
      },
    },
  ),
  mutant(
    "sigmoid-vjp-on-input",
    "sigmoid's backward applies s(1 − s) to the input x instead of to s = σ(x)",
    ["G1a", "G3a"],
    {
      sigmoid_vjp: ({ x, dy }) => ({
        shape: [...x.shape],
        data: Float32Array.from(x.data, (v, i) => f(dy.data[i] * f(v * f(1 - v)))),
      }),
    },
  ),
  mutant(
    "relu-vjp-leaks",
    "ReLU's backward copy-pasted from leaky ReLU: it passes 0.01·dy where x ≤ 0, so dead units still learn",
    ["G1a", "G2"],
    {
      relu_vjp: ({ x, dy }) => k.leaky_relu_vjp({ x, dy }, { alpha: 0.01 }),
    },
  ),
];
