/**
 * cross_entropy (logits against class indices or soft targets), nll and mse, each reduced
 * "none" (one value per example), "sum" or "mean" (a scalar of shape []).
 */
import type { Reduction, Targets } from "../contract.ts";
import type { IndexTensor, Tensor } from "../tensor.ts";
import { type CpuKernels, type Ctx, sumRun, zeros } from "./common.ts";
import { rowMax, rowSumExp, softmaxRow } from "./softmax.ts";

type LossOp =
  | "cross_entropy"
  | "cross_entropy_vjp"
  | "cross_entropy_fused"
  | "nll"
  | "nll_vjp"
  | "mse"
  | "mse_vjp";

/** A tensor of ones: the upstream gradient of a loss differentiated on its own. */
function ones(ctx: Ctx, shape: number[]): Tensor {
  const t = zeros(ctx, shape);
  t.data.fill(1);
  return t;
}

function isIndices(t: Targets): t is IndexTensor {
  return t.data instanceof Int32Array;
}

export function lossKernels(ctx: Ctx): CpuKernels<LossOp> {
  const { r } = ctx;

  /** Reduces freshly computed per-example losses: themselves for "none", a scalar otherwise. */
  const reduce = (losses: Tensor, reduction: Reduction): Tensor => {
    if (reduction === "none") return losses;
    const n = losses.data.length;
    const total = sumRun(r, losses.data, 0, n, 1);
    const y = zeros(ctx, []);
    y.data[0] = reduction === "sum" ? total : r(total / n);
    return y;
  };

  /** The upstream gradient reaching example i: its own for "none", the shared one otherwise. */
  const upstream = (dy: Tensor, reduction: Reduction, count: number) => {
    if (reduction === "none") return (i: number) => dy.data[i];
    const g = reduction === "sum" ? dy.data[0] : r(dy.data[0] / count);
    return (_i: number) => g;
  };

  const kernels: CpuKernels<LossOp> = {
    // loss_n = −Σ_c t_c·log_softmax(z_n)_c, which for class indices is lse(z_n) − z_n[t_n]
    // and for probability-vector targets lse(z_n) − Σ_c t_c·z_nc. Classes with t_c = 0 are
    // skipped (0·log 0 = 0), so a −∞ logit nobody aims at does not turn the loss into NaN.
    cross_entropy: ({ logits, target }, { reduction }) => {
      const [n, classes] = logits.shape;
      const losses = zeros(ctx, [n]);
      for (let i = 0; i < n; i++) {
        const off = i * classes;
        const m = rowMax(logits.data, off, classes);
        const logS = r(Math.log(rowSumExp(r, logits.data, off, classes, m)));
        const logSoftmax = (c: number) => r(r(logits.data[off + c] - m) - logS);
        if (isIndices(target)) {
          losses.data[i] = -logSoftmax(target.data[i]);
        } else {
          let acc = 0;
          for (let c = 0; c < classes; c++) {
            const t = target.data[off + c];
            if (t !== 0) acc = r(acc + r(t * logSoftmax(c)));
          }
          losses.data[i] = -acc;
        }
      }
      return reduce(losses, reduction);
    },
    // ∂loss_n/∂z_nc = softmax_c·Σt − t_c (Σt = 1 for indices and for probability vectors).
    cross_entropy_vjp: ({ logits, target, dy }, { reduction }) => {
      const [n, classes] = logits.shape;
      const g = upstream(dy, reduction, n);
      const dz = zeros(ctx, logits.shape);
      for (let i = 0; i < n; i++) {
        const off = i * classes;
        softmaxRow(r, logits.data, dz.data, off, classes);
        if (isIndices(target)) {
          const t = target.data[i];
          for (let c = 0; c < classes; c++) {
            const p = dz.data[off + c];
            dz.data[off + c] = r(g(i) * (c === t ? r(p - 1) : p));
          }
        } else {
          const mass = sumRun(r, target.data, off, classes, 1);
          for (let c = 0; c < classes; c++) {
            const p = dz.data[off + c];
            dz.data[off + c] = r(g(i) * r(r(p * mass) - target.data[off + c]));
          }
        }
      }
      return dz;
    },

    // The reference composes the two: a fused kernel must agree with them.
    cross_entropy_fused: (inputs, attrs) => {
      const { logits } = inputs;
      const n = logits.shape[0];
      const dy = ones(ctx, attrs.reduction === "none" ? [n] : []);
      return {
        loss: kernels.cross_entropy!(inputs, attrs),
        dlogits: kernels.cross_entropy_vjp!({ ...inputs, dy }, attrs),
      };
    },

    nll: ({ logp, target }, { reduction }) => {
      const [n, classes] = logp.shape;
      const losses = zeros(ctx, [n]);
      for (let i = 0; i < n; i++) losses.data[i] = -logp.data[i * classes + target.data[i]];
      return reduce(losses, reduction);
    },
    nll_vjp: ({ logp, target, dy }, { reduction }) => {
      const [n, classes] = logp.shape;
      const g = upstream(dy, reduction, n);
      const dlogp = zeros(ctx, logp.shape);
      for (let i = 0; i < n; i++) dlogp.data[i * classes + target.data[i]] = -g(i);
      return dlogp;
    },

    // "mean" divides by the number of elements, not of examples (like torch.nn.MSELoss).
    mse: ({ pred, target }, { reduction }) => {
      const sq = zeros(ctx, pred.shape);
      for (let i = 0; i < sq.data.length; i++) {
        const d = r(pred.data[i] - target.data[i]);
        sq.data[i] = r(d * d);
      }
      return reduce(sq, reduction);
    },
    mse_vjp: ({ pred, target, dy }, { reduction }) => {
      const g = upstream(dy, reduction, pred.data.length);
      const dpred = zeros(ctx, pred.shape);
      for (let i = 0; i < dpred.data.length; i++) {
        dpred.data[i] = r(r(2 * r(pred.data[i] - target.data[i])) * g(i));
      }
      return dpred;
    },
  };
  return kernels;
}
