/** sum, mean, max and variance along one axis (the axis is dropped), with their gradients. */
import type { Tensor } from "../tensor.ts";
import { type AxisLayout, axisLayout, type CpuKernels, type Ctx, sumRun, zeros } from "./common.ts";

type ReductionOp =
  | "sum"
  | "sum_vjp"
  | "mean"
  | "mean_vjp"
  | "max"
  | "max_vjp"
  | "variance"
  | "variance_vjp";

/** Calls `f(out, start)` for every reduced position: the run is x[start + k·inner], k < n. */
function eachRun(l: AxisLayout, f: (out: number, start: number) => void): void {
  for (let o = 0; o < l.outer; o++) {
    for (let j = 0; j < l.inner; j++) f(o * l.inner + j, o * l.n * l.inner + j);
  }
}

export function reductionKernels(ctx: Ctx): CpuKernels<ReductionOp> {
  const { r } = ctx;

  /** Reduces every run of x along `axis` with `f`. */
  const reduce = (x: Tensor, axis: number, f: (l: AxisLayout, start: number) => number): Tensor => {
    const l = axisLayout(x.shape, axis);
    const y = zeros(ctx, l.reduced);
    eachRun(l, (out, start) => {
      y.data[out] = f(l, start);
    });
    return y;
  };

  /** Gradient of a reduction whose partial derivative is the same for every element of a run. */
  const spread = (x: Tensor, dy: Tensor, axis: number, scale: (g: number) => number): Tensor => {
    const l = axisLayout(x.shape, axis);
    const dx = zeros(ctx, x.shape);
    eachRun(l, (out, start) => {
      const g = scale(dy.data[out]);
      for (let k = 0; k < l.n; k++) dx.data[start + k * l.inner] = g;
    });
    return dx;
  };

  const meanRun = (x: Tensor, l: AxisLayout, start: number): number =>
    r(sumRun(r, x.data, start, l.n, l.inner) / l.n);

  /** Two passes, mean first, so that a large common offset does not cancel the variance away. */
  const varianceRun = (x: Tensor, l: AxisLayout, start: number, unbiased: boolean): number => {
    const mean = meanRun(x, l, start);
    let ss = 0;
    for (let k = 0; k < l.n; k++) {
      const d = r(x.data[start + k * l.inner] - mean);
      ss = r(ss + r(d * d));
    }
    return r(ss / (unbiased ? l.n - 1 : l.n));
  };

  // A NaN anywhere in the run makes the max NaN (like torch.amax), whatever its position.
  const maxRun = (x: Tensor, l: AxisLayout, start: number): number => {
    let m = x.data[start];
    for (let k = 1; k < l.n; k++) {
      const v = x.data[start + k * l.inner];
      if (v > m || Number.isNaN(v)) m = v;
    }
    return m;
  };

  return {
    sum: ({ x }, { axis }) => reduce(x, axis, (l, start) => sumRun(r, x.data, start, l.n, l.inner)),
    sum_vjp: ({ x, dy }, { axis }) => spread(x, dy, axis, (g) => g),

    mean: ({ x }, { axis }) => reduce(x, axis, (l, start) => meanRun(x, l, start)),
    mean_vjp: ({ x, dy }, { axis }) => {
      const n = x.shape[axis];
      return spread(x, dy, axis, (g) => r(g / n));
    },

    max: ({ x }, { axis }) => reduce(x, axis, (l, start) => maxRun(x, l, start)),
    // The gradient is split evenly among tied maxima, so it does not depend on element order.
    // Where the max is NaN it is not differentiable: the whole run gets NaN.
    max_vjp: ({ x, dy }, { axis }) => {
      const l = axisLayout(x.shape, axis);
      const dx = zeros(ctx, x.shape);
      eachRun(l, (out, start) => {
        const m = maxRun(x, l, start);
        if (Number.isNaN(m)) {
          for (let k = 0; k < l.n; k++) dx.data[start + k * l.inner] = Number.NaN;
          return;
        }
        let ties = 0;
        for (let k = 0; k < l.n; k++) if (x.data[start + k * l.inner] === m) ties++;
        const g = r(dy.data[out] / ties);
        for (let k = 0; k < l.n; k++) {
          if (x.data[start + k * l.inner] === m) dx.data[start + k * l.inner] = g;
        }
      });
      return dx;
    },

    variance: ({ x }, { axis, unbiased }) =>
      reduce(x, axis, (l, start) => varianceRun(x, l, start, unbiased === true)),
    // ∂var/∂x_k = 2(x_k − mean)/(n or n − 1); the mean's own dependence on x sums to zero.
    variance_vjp: ({ x, dy }, { axis, unbiased }) => {
      const l = axisLayout(x.shape, axis);
      const dx = zeros(ctx, x.shape);
      const denom = unbiased === true ? l.n - 1 : l.n;
      eachRun(l, (out, start) => {
        const mean = meanRun(x, l, start);
        const g = dy.data[out];
        for (let k = 0; k < l.n; k++) {
          const i = start + k * l.inner;
          dx.data[i] = r(r(r(2 * r(x.data[i] - mean)) * g) / denom);
        }
      });
      return dx;
    },
  };
}
