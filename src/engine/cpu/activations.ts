/** relu, leaky_relu, sigmoid, tanh, gelu, silu and their gradients. */

import { erfc } from "../special.ts";
import { type CpuKernels, type Ctx, mapUnary, mapUnaryVjp } from "./common.ts";

type ActivationOp =
  | "relu"
  | "relu_vjp"
  | "leaky_relu"
  | "leaky_relu_vjp"
  | "sigmoid"
  | "sigmoid_vjp"
  | "tanh"
  | "tanh_vjp"
  | "gelu"
  | "gelu_vjp"
  | "silu"
  | "silu_vjp";

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 0.3989422804014327;

export function activationKernels(ctx: Ctx): CpuKernels<ActivationOp> {
  const { r } = ctx;

  /** σ(x), never forming e^x for large positive x nor e^(−x) for large negative x. */
  const sigmoid = (x: number): number => {
    if (x >= 0) return r(1 / r(1 + r(Math.exp(-x))));
    const e = r(Math.exp(x));
    return r(e / r(1 + e));
  };

  /** Φ(x) = erfc(−x/√2)/2: erfc keeps full relative accuracy deep in the left tail. */
  const normalCdf = (x: number): number => r(r(erfc(r(-x * SQRT1_2))) / 2);

  const normalPdf = (x: number): number => r(INV_SQRT_2PI * r(Math.exp(r(-r(x * x) / 2))));

  return {
    // NaN passes through; the comparison alone would turn it into 0.
    relu: ({ x }) => mapUnary(ctx, x, (v) => (v > 0 || Number.isNaN(v) ? v : 0)),
    // The subgradient at exactly 0 is 0 (PyTorch's choice).
    relu_vjp: ({ x, dy }) => mapUnaryVjp(ctx, x, dy, (v, g) => (v > 0 ? g : 0)),

    leaky_relu: ({ x }, { alpha }) => {
      const a = r(alpha);
      return mapUnary(ctx, x, (v) => (v > 0 ? v : r(a * v)));
    },
    // Slope α at exactly 0, so that α = 0 agrees with relu.
    leaky_relu_vjp: ({ x, dy }, { alpha }) => {
      const a = r(alpha);
      return mapUnaryVjp(ctx, x, dy, (v, g) => (v > 0 ? g : r(a * g)));
    },

    sigmoid: ({ x }) => mapUnary(ctx, x, sigmoid),
    // σ' = σ(x)·σ(−x): the usual σ(1 − σ) cancels to 0 where σ rounds to 1.
    sigmoid_vjp: ({ x, dy }) =>
      mapUnaryVjp(ctx, x, dy, (v, g) => r(g * r(sigmoid(v) * sigmoid(-v)))),

    tanh: ({ x }) => mapUnary(ctx, x, (v) => r(Math.tanh(v))),
    // tanh' = sech²x = (1/cosh x)²: 1 − tanh² cancels to 0 long before sech² underflows.
    tanh_vjp: ({ x, dy }) =>
      mapUnaryVjp(ctx, x, dy, (v, g) => {
        const sech = r(1 / r(Math.cosh(v)));
        return r(g * r(sech * sech));
      }),

    // x·Φ(x); at −∞ the limit 0 rather than the NaN of −∞·0.
    gelu: ({ x }) => mapUnary(ctx, x, (v) => (v === -Infinity ? 0 : r(v * normalCdf(v)))),
    // Φ(x) + x·φ(x); at ±∞ the limits 1 and 0 rather than ∞·0.
    gelu_vjp: ({ x, dy }) =>
      mapUnaryVjp(ctx, x, dy, (v, g) => {
        const slope =
          v === Infinity ? 1 : v === -Infinity ? 0 : r(normalCdf(v) + r(v * normalPdf(v)));
        return r(g * slope);
      }),

    // x·σ(x); at −∞ the limit 0 rather than the NaN of −∞·0.
    silu: ({ x }) => mapUnary(ctx, x, (v) => (v === -Infinity ? 0 : r(v * sigmoid(v)))),
    // σ(x)·(1 + x·σ(−x)), with σ(−x) for 1 − σ(x) as in sigmoid_vjp; limits 1 and 0 at ±∞.
    silu_vjp: ({ x, dy }) =>
      mapUnaryVjp(ctx, x, dy, (v, g) => {
        const slope =
          v === Infinity ? 1 : v === -Infinity ? 0 : r(sigmoid(v) * r(1 + r(v * sigmoid(-v))));
        return r(g * slope);
      }),
  };
}
