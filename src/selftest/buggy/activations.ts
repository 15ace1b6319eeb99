/**
 * Known-bad activation kernels: each is a bug that shipped (or nearly) in a real library or
 * tutorial, in float32 like the kernels they imitate.
 */
import { erfc } from "../../engine/special.ts";
import { arrayFor, type Tensor } from "../../engine/tensor.ts";
import { type Mutant, mutant } from "./mutant.ts";

const f = Math.fround;

/** Applies a float32 elementwise function. */
function map(x: Tensor, fn: (v: number, i: number) => number): Tensor {
  const out = arrayFor("float32", x.data.length);
  for (let i = 0; i < x.data.length; i++) out[i] = fn(x.data[i], i);
  return { shape: [...x.shape], data: out };
}

/** σ in float32, stable for either sign (the correct part the buggy gradients reuse). */
const sigmoid = (v: number): number => {
  if (v >= 0) return f(1 / f(1 + f(Math.exp(-v))));
  const e = f(Math.exp(v));
  return f(e / f(1 + e));
};

const SQRT_2_OVER_PI = f(Math.sqrt(2 / Math.PI));

export const mutants: Mutant[] = [
  mutant(
    "sigmoid-vjp-plus",
    "sigmoid_vjp computes σ(1 + σ) instead of σ(1 − σ): a sign slip in the hand-written derivative",
    ["C1c", "C9a"],
    {
      sigmoid_vjp: ({ x, dy }) =>
        map(x, (v, i) => {
          const s = sigmoid(v);
          return f(dy.data[i] * f(s * f(1 + s)));
        }),
    },
  ),
  mutant(
    "sigmoid-naive",
    "sigmoid as e^x/(1 + e^x) for every x: e^x overflows past 88.7 in float32 and ∞/∞ is NaN",
    ["C1a"],
    {
      sigmoid: ({ x }) =>
        map(x, (v) => {
          const e = f(Math.exp(v));
          return f(e / f(1 + e));
        }),
    },
  ),
  mutant(
    "tanh-naive",
    "tanh as (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ): NaN (∞/∞) for |x| > 89 in float32, and cancellation near 0",
    ["C2a"],
    {
      tanh: ({ x }) =>
        map(x, (v) => {
          const ep = f(Math.exp(v));
          const em = f(Math.exp(-v));
          return f(f(ep - em) / f(ep + em));
        }),
    },
  ),
  mutant(
    "tanh-vjp-sign",
    "tanh_vjp computes 1 + tanh² instead of 1 − tanh²: the gradient grows where the unit saturates",
    ["C2c", "C3a", "C9b"],
    {
      tanh_vjp: ({ x, dy }) =>
        map(x, (v, i) => {
          const t = f(Math.tanh(v));
          return f(dy.data[i] * f(1 + f(t * t)));
        }),
    },
  ),
  mutant(
    "relu-vjp-at-zero",
    "relu_vjp uses x ≥ 0, passing the gradient at exactly 0 (the right derivative)",
    ["C4b"],
    {
      relu_vjp: ({ x, dy }) => map(x, (v, i) => (v >= 0 ? dy.data[i] : 0)),
    },
  ),
  mutant(
    "leaky-vjp-dead",
    "leaky_relu_vjp returns 0 on the negative side, copied from relu_vjp: the leak never trains",
    ["C5c", "C9d"],
    {
      leaky_relu_vjp: ({ x, dy }) => map(x, (v, i) => (v > 0 ? dy.data[i] : 0)),
    },
  ),
  mutant(
    "gelu-tanh",
    "GELU with the tanh approximation 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))) instead of x·Φ(x)",
    ["C6a"],
    {
      gelu: ({ x }) =>
        map(x, (v) => {
          const inner = f(SQRT_2_OVER_PI * f(v + f(f(0.044715 * f(v * v)) * v)));
          return f(f(0.5 * v) * f(1 + f(Math.tanh(inner))));
        }),
    },
  ),
  mutant(
    "gelu-vjp-no-pdf",
    "gelu_vjp returns Φ(x) and forgets the x·φ(x) term of the product rule",
    ["C9e", "I5a"],
    {
      gelu_vjp: ({ x, dy }) =>
        map(x, (v, i) => {
          const phi = f(0.5 * erfc(-v * Math.SQRT1_2));
          return f(dy.data[i] * phi);
        }),
    },
  ),
  mutant(
    "silu-vjp-sigma",
    "silu_vjp returns σ(x), treating x·σ(x) as if x were a constant",
    ["C9f", "I5a"],
    {
      silu_vjp: ({ x, dy }) => map(x, (v, i) => f(dy.data[i] * sigmoid(v))),
    },
  ),
];
