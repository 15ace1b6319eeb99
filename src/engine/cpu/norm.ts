/**
 * batch_norm over x [N, C] (statistics per feature, down the batch) and layer_norm over the
 * last axis of x [..., D] (statistics per row). Both normalise with the biased variance and
 * put ε inside the square root: x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β.
 */
import type { FloatArray } from "../tensor.ts";
import { type CpuKernels, type Ctx, copyOf, type Round, zeros } from "./common.ts";

type NormOp = "batch_norm" | "batch_norm_vjp" | "layer_norm" | "layer_norm_vjp";

/** Mean and Σ(x − μ)² of the strided run data[start + k·stride], k < n (two passes). */
function moments(r: Round, data: FloatArray, start: number, n: number, stride: number) {
  let sum = 0;
  for (let k = 0; k < n; k++) sum = r(sum + data[start + k * stride]);
  const mean = r(sum / n);
  let ss = 0;
  for (let k = 0; k < n; k++) {
    const d = r(data[start + k * stride] - mean);
    ss = r(ss + r(d * d));
  }
  return { mean, ss };
}

/**
 * The shared backward step of both norms, for one group of n elements normalised together
 * (a feature's column, or a row): with g = ∂L/∂x̂,
 *   dx = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + ε).
 * `xhat` and `g` hold the group's x̂ and g; dx is written at data[start + k·stride].
 */
function normBackward(
  r: Round,
  xhat: FloatArray,
  g: FloatArray,
  std: number,
  dx: FloatArray,
  start: number,
  stride: number,
): void {
  const n = xhat.length;
  let sumG = 0;
  let sumGX = 0;
  for (let k = 0; k < n; k++) {
    sumG = r(sumG + g[k]);
    sumGX = r(sumGX + r(g[k] * xhat[k]));
  }
  const meanG = r(sumG / n);
  const meanGX = r(sumGX / n);
  for (let k = 0; k < n; k++) {
    dx[start + k * stride] = r(r(r(g[k] - meanG) - r(xhat[k] * meanGX)) / std);
  }
}

export function normKernels(ctx: Ctx): CpuKernels<NormOp> {
  const { r } = ctx;
  const scratch = (n: number): FloatArray => zeros(ctx, [n]).data;

  /**
   * Writes x̂ of the run data[start + k·stride] into xhat (its length is the run's); returns
   * the run's mean, Σ(x − μ)² and √(σ² + ε).
   */
  const normalise = (
    data: FloatArray,
    start: number,
    stride: number,
    eps: number,
    xhat: FloatArray,
  ) => {
    const n = xhat.length;
    const { mean, ss } = moments(r, data, start, n, stride);
    const std = r(Math.sqrt(r(r(ss / n) + eps)));
    for (let k = 0; k < n; k++) xhat[k] = r(r(data[start + k * stride] - mean) / std);
    return { mean, ss, std };
  };

  return {
    // Training mode normalises with the batch statistics and moves the running ones towards
    // them: stat' = (1 − m)·stat + m·batch_stat, with the unbiased batch variance (PyTorch).
    // Eval mode normalises with the running statistics and returns copies of them.
    batch_norm: ({ x, gamma, beta, runningMean, runningVar }, attrs) => {
      const [n, features] = x.shape;
      const training = attrs.training ?? true;
      const eps = r(attrs.eps);
      const m = r(attrs.momentum ?? 0.1);
      const keep = r(1 - m);
      const y = zeros(ctx, x.shape);
      if (!training) {
        for (let c = 0; c < features; c++) {
          const std = r(Math.sqrt(r(runningVar.data[c] + eps)));
          for (let i = 0; i < n; i++) {
            const xhat = r(r(x.data[i * features + c] - runningMean.data[c]) / std);
            y.data[i * features + c] = r(r(gamma.data[c] * xhat) + beta.data[c]);
          }
        }
        return { y, runningMean: copyOf(ctx, runningMean), runningVar: copyOf(ctx, runningVar) };
      }
      const newMean = zeros(ctx, [features]);
      const newVar = zeros(ctx, [features]);
      const xhat = scratch(n);
      for (let c = 0; c < features; c++) {
        const { mean, ss } = normalise(x.data, c, features, eps, xhat);
        for (let i = 0; i < n; i++) {
          y.data[i * features + c] = r(r(gamma.data[c] * xhat[i]) + beta.data[c]);
        }
        const unbiased = r(ss / (n - 1));
        newMean.data[c] = r(r(keep * runningMean.data[c]) + r(m * mean));
        newVar.data[c] = r(r(keep * runningVar.data[c]) + r(m * unbiased));
      }
      return { y, runningMean: newMean, runningVar: newVar };
    },
    // Training-mode gradient, per feature down the batch: dx = γ/√(σ²+ε)·(dy − mean(dy) −
    // x̂·mean(dy·x̂)) (computed as normBackward of g = dy·γ), dγ = Σ dy·x̂, dβ = Σ dy.
    batch_norm_vjp: ({ x, gamma, dy }, { eps }) => {
      const [n, features] = x.shape;
      const e = r(eps);
      const dx = zeros(ctx, x.shape);
      const dgamma = zeros(ctx, [features]);
      const dbeta = zeros(ctx, [features]);
      const xhat = scratch(n);
      const g = scratch(n);
      for (let c = 0; c < features; c++) {
        const { std } = normalise(x.data, c, features, e, xhat);
        let dg = 0;
        let db = 0;
        for (let i = 0; i < n; i++) {
          const d = dy.data[i * features + c];
          g[i] = r(d * gamma.data[c]);
          dg = r(dg + r(d * xhat[i]));
          db = r(db + d);
        }
        normBackward(r, xhat, g, std, dx.data, c, features);
        dgamma.data[c] = dg;
        dbeta.data[c] = db;
      }
      return { dx, dgamma, dbeta };
    },

    layer_norm: ({ x, gamma, beta }, { eps }) => {
      const d = x.shape[x.shape.length - 1];
      const e = r(eps);
      const y = zeros(ctx, x.shape);
      const xhat = scratch(d);
      for (let off = 0; off < x.data.length; off += d) {
        normalise(x.data, off, 1, e, xhat);
        for (let k = 0; k < d; k++) {
          y.data[off + k] = r(r(gamma.data[k] * xhat[k]) + beta.data[k]);
        }
      }
      return y;
    },
    // Per row, with g = dy ⊙ γ: dx = (g − mean(g) − x̂·mean(g·x̂))/√(σ²+ε); dγ and dβ sum
    // dy·x̂ and dy over the rows.
    layer_norm_vjp: ({ x, gamma, dy }, { eps }) => {
      const d = x.shape[x.shape.length - 1];
      const e = r(eps);
      const dx = zeros(ctx, x.shape);
      const dgamma = zeros(ctx, [d]);
      const dbeta = zeros(ctx, [d]);
      const xhat = scratch(d);
      const g = scratch(d);
      for (let off = 0; off < x.data.length; off += d) {
        const { std } = normalise(x.data, off, 1, e, xhat);
        for (let k = 0; k < d; k++) {
          const dyk = dy.data[off + k];
          g[k] = r(dyk * gamma.data[k]);
          dgamma.data[k] = r(dgamma.data[k] + r(dyk * xhat[k]));
          dbeta.data[k] = r(dbeta.data[k] + dyk);
        }
        normBackward(r, xhat, g, std, dx.data, off, 1);
      }
      return { dx, dgamma, dbeta };
    },
  };
}
