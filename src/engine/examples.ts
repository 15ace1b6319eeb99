/**
 * One or more valid calls of every op of the contract, small but off the easy path: odd sizes
 * (no vec4), broadcasting from both sides, a middle axis, batched matrices, every loss reduction,
 * batch-norm in both modes, dropout on and off. For checks that run every op once, such as
 * whether a backend's device kernels give the bits of its host kernels.
 */
import type { OpName } from "./contract.ts";
import { type AnyTensor, indices, sizeOf, type Tensor } from "./tensor.ts";

/** A deterministic float32 tensor, offset + scale·U(−½, ½), from a linear congruential generator. */
export function lcgTensor(shape: number[], scale: number, seed = 1, offset = 0): Tensor {
  let s = seed;
  const data = Float32Array.from({ length: sizeOf(shape) }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return offset + (s / 2147483648 - 0.5) * scale;
  });
  return { shape, data };
}
const x = (shape: number[], seed = 1, scale = 4, offset = 0) =>
  lcgTensor(shape, scale, seed, offset);
const positive = (shape: number[], seed = 1) => x(shape, seed, 1, 1);
const classes = (n: number, c: number) =>
  indices(
    [n],
    Array.from({ length: n }, (_, i) => (i * 7) % c),
  );

/** An op, its inputs and its attributes. */
export type ExampleCall = [OpName, Record<string, AnyTensor>, Record<string, unknown>];

/**
 * At least one call of every op, with shapes that take the kernels' less common paths: odd sizes
 * (no vec4), broadcasting from both sides, a middle axis, batched matrices, every loss
 * reduction (a device scalar dy for "mean" and "sum"), batch-norm in both modes, eval dropout.
 */
export function exampleCalls(): ExampleCall[] {
  const out: ExampleCall[] = [];
  const unary = ["neg", "exp", "log", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu"];
  for (const op of unary) {
    const input = op === "log" ? positive([3, 70]) : x([3, 70]);
    const attrs = op === "leaky_relu" ? { alpha: 0.1 } : {};
    out.push([op as OpName, { x: input }, attrs]);
    out.push([`${op}_vjp` as OpName, { x: input, dy: x([3, 70], 2) }, attrs]);
  }
  for (const op of ["add", "sub", "mul", "div"]) {
    const a = x([5, 1, 6], 3);
    const b = op === "div" ? positive([1, 4, 6], 4) : x([1, 4, 6], 4);
    out.push([op as OpName, { a, b }, {}]);
    out.push([`${op}_vjp` as OpName, { a, b, dy: x([5, 4, 6], 5) }, {}]);
    out.push([op as OpName, { a: x([8, 8], 6), b: positive([8, 8], 7) }, {}]);
  }
  for (const op of ["sum", "mean", "max", "variance"]) {
    const attrs = op === "variance" ? { axis: 1, unbiased: true } : { axis: 1 };
    out.push([op as OpName, { x: x([3, 5, 7], 8) }, attrs]);
    out.push([`${op}_vjp` as OpName, { x: x([3, 5, 7], 8), dy: x([3, 7], 9) }, attrs]);
  }
  out.push(["matmul", { a: x([2, 5, 7], 10), b: x([2, 7, 3], 11) }, {}]);
  out.push(["matmul_vjp", { a: x([2, 5, 7], 10), b: x([2, 7, 3], 11), dy: x([2, 5, 3], 12) }, {}]);
  for (const op of ["softmax", "log_softmax", "logsumexp"]) {
    out.push([op as OpName, { x: x([4, 37], 13, 20) }, {}]);
    const dy = op === "logsumexp" ? x([4], 14) : x([4, 37], 14);
    out.push([`${op}_vjp` as OpName, { x: x([4, 37], 13, 20), dy }, {}]);
  }
  const logits = x([6, 11], 15, 10);
  const soft = positive([6, 11], 16);
  for (const reduction of ["none", "mean", "sum"] as const) {
    const dy = reduction === "none" ? x([6], 17) : x([], 17);
    for (const target of [classes(6, 11), soft]) {
      out.push(["cross_entropy", { logits, target }, { reduction }]);
      out.push(["cross_entropy_vjp", { logits, target, dy }, { reduction }]);
      out.push(["cross_entropy_fused", { logits, target }, { reduction }]);
    }
    const logp = x([6, 11], 18, 4, -3);
    out.push(["nll", { logp, target: classes(6, 11) }, { reduction }]);
    out.push(["nll_vjp", { logp, target: classes(6, 11), dy }, { reduction }]);
    const pred = x([2, 3, 5], 19);
    const mseDy = reduction === "none" ? x([2, 3, 5], 20) : x([], 20);
    out.push(["mse", { pred, target: x([2, 3, 5], 21) }, { reduction }]);
    out.push(["mse_vjp", { pred, target: x([2, 3, 5], 21), dy: mseDy }, { reduction }]);
  }
  const bn = {
    x: x([33, 5], 22, 4, 2),
    gamma: x([5], 23),
    beta: x([5], 24),
    runningMean: x([5], 25),
    runningVar: positive([5], 26),
  };
  for (const training of [true, false]) {
    out.push(["batch_norm", bn, { training, eps: 1e-5, momentum: 0.1 }]);
  }
  out.push(["batch_norm_vjp", { x: bn.x, gamma: bn.gamma, dy: x([33, 5], 27) }, { eps: 1e-5 }]);
  const ln = { x: x([2, 3, 19], 28), gamma: x([19], 29), beta: x([19], 30) };
  out.push(["layer_norm", ln, { eps: 1e-5 }]);
  out.push(["layer_norm_vjp", { ...ln, dy: x([2, 3, 19], 31) }, { eps: 1e-5 }]);
  for (const training of [true, false]) {
    const attrs = { p: 0.3, seed: 42, training };
    out.push(["dropout", { x: x([3, 50], 32) }, attrs]);
    out.push(["dropout_vjp", { x: x([3, 50], 32), dy: x([3, 50], 33) }, attrs]);
  }
  const init = { shape: [7, 9], gain: 1.5, seed: 3 };
  out.push(["xavier_normal", {}, init]);
  out.push(["xavier_uniform", {}, init]);
  out.push(["kaiming_normal", {}, { ...init, mode: "fan_in" }]);
  out.push(["kaiming_uniform", {}, { ...init, mode: "fan_out" }]);
  return out;
}
