/**
 * softmax, log_softmax and logsumexp over the last axis. Every row is shifted by its max
 * before exponentiating, so nothing overflows; the special values follow PyTorch:
 * a NaN anywhere makes the row NaN, a row of −∞ has logsumexp −∞ and softmax NaN (0/0),
 * and a +∞ entry makes softmax NaN (∞ − ∞) but logsumexp +∞.
 */
import type { FloatArray, Tensor } from "../tensor.ts";
import { type CpuKernels, type Ctx, type Round, zeros } from "./common.ts";

type SoftmaxOp =
  | "softmax"
  | "softmax_vjp"
  | "log_softmax"
  | "log_softmax_vjp"
  | "logsumexp"
  | "logsumexp_vjp";

/** The max of row x[off .. off + d), NaN if any entry is NaN. */
export function rowMax(x: FloatArray, off: number, d: number): number {
  let m = x[off];
  for (let c = 1; c < d; c++) {
    const v = x[off + c];
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
}

/** Σ e^(x − m) over the row, given its max m. */
export function rowSumExp(r: Round, x: FloatArray, off: number, d: number, m: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s = r(s + r(Math.exp(r(x[off + c] - m))));
  return s;
}

/** log Σ e^x over the row; an infinite max is the answer itself (and never ∞ − ∞). */
export function rowLogSumExp(r: Round, x: FloatArray, off: number, d: number): number {
  const m = rowMax(x, off, d);
  if (m === Infinity || m === -Infinity) return m;
  return r(m + r(Math.log(rowSumExp(r, x, off, d, m))));
}

/** Writes softmax of row x[off .. off + d) into y at the same offset. */
export function softmaxRow(r: Round, x: FloatArray, y: FloatArray, off: number, d: number): void {
  const m = rowMax(x, off, d);
  let s = 0;
  for (let c = 0; c < d; c++) {
    const e = r(Math.exp(r(x[off + c] - m)));
    y[off + c] = e;
    s = r(s + e);
  }
  for (let c = 0; c < d; c++) y[off + c] = r(y[off + c] / s);
}

export function softmaxKernels(ctx: Ctx): CpuKernels<SoftmaxOp> {
  const { r } = ctx;

  const softmax = (x: Tensor): Tensor => {
    const d = x.shape[x.shape.length - 1];
    const y = zeros(ctx, x.shape);
    for (let off = 0; off < x.data.length; off += d) softmaxRow(r, x.data, y.data, off, d);
    return y;
  };

  return {
    softmax: ({ x }) => softmax(x),
    // dx = y ⊙ (dy − ⟨dy, y⟩) per row.
    softmax_vjp: ({ x, dy }) => {
      const d = x.shape[x.shape.length - 1];
      const dx = softmax(x);
      for (let off = 0; off < x.data.length; off += d) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot = r(dot + r(dy.data[off + c] * dx.data[off + c]));
        for (let c = 0; c < d; c++) {
          dx.data[off + c] = r(dx.data[off + c] * r(dy.data[off + c] - dot));
        }
      }
      return dx;
    },

    // (x − m) − log Σ e^(x − m): never forms log of a softmax that underflowed to 0.
    log_softmax: ({ x }) => {
      const d = x.shape[x.shape.length - 1];
      const y = zeros(ctx, x.shape);
      for (let off = 0; off < x.data.length; off += d) {
        const m = rowMax(x.data, off, d);
        const logS = r(Math.log(rowSumExp(r, x.data, off, d, m)));
        for (let c = 0; c < d; c++) y.data[off + c] = r(r(x.data[off + c] - m) - logS);
      }
      return y;
    },
    // dx = dy − softmax·Σdy per row.
    log_softmax_vjp: ({ x, dy }) => {
      const d = x.shape[x.shape.length - 1];
      const dx = softmax(x);
      for (let off = 0; off < x.data.length; off += d) {
        let total = 0;
        for (let c = 0; c < d; c++) total = r(total + dy.data[off + c]);
        for (let c = 0; c < d; c++) {
          dx.data[off + c] = r(dy.data[off + c] - r(dx.data[off + c] * total));
        }
      }
      return dx;
    },

    logsumexp: ({ x }) => {
      const d = x.shape[x.shape.length - 1];
      const y = zeros(ctx, x.shape.slice(0, -1));
      for (let row = 0; row < y.data.length; row++) {
        y.data[row] = rowLogSumExp(r, x.data, row * d, d);
      }
      return y;
    },
    // ∂lse/∂x = softmax(x), scaled by the row's dy.
    logsumexp_vjp: ({ x, dy }) => {
      const d = x.shape[x.shape.length - 1];
      const dx = softmax(x);
      for (let off = 0, row = 0; off < x.data.length; off += d, row++) {
        for (let c = 0; c < d; c++) dx.data[off + c] = r(dx.data[off + c] * dy.data[row]);
      }
      return dx;
    },
  };
}
