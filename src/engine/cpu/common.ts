/**
 * What every reference kernel shares: the dtype it writes and the rounding it applies after
 * each arithmetic step. With `r` the identity the kernels compute in float64; with
 * `r = Math.fround` they behave like an honest, sequential float32 implementation.
 */
import type { Attrs, Inputs, OpName, Output } from "../contract.ts";
import { arrayFor, type FloatArray, type FloatDType, sizeOf, type Tensor } from "../tensor.ts";

export type Round = (x: number) => number;

export interface Ctx {
  readonly dtype: FloatDType;
  readonly r: Round;
}

/** The reference kernels are synchronous, which keeps them usable outside `call` too. */
export type CpuKernel<O extends OpName> = (inputs: Inputs<O>, attrs: Attrs<O>) => Output<O>;

export type CpuKernels<O extends OpName> = { [K in O]: CpuKernel<K> };

/** A fresh zero-filled tensor of the backend dtype. */
export function zeros(ctx: Ctx, shape: readonly number[]): Tensor {
  return { shape: [...shape], data: arrayFor(ctx.dtype, sizeOf(shape)) };
}

export function copyOf(ctx: Ctx, t: Tensor): Tensor {
  const out = zeros(ctx, t.shape);
  out.data.set(t.data);
  return out;
}

export function mapUnary(ctx: Ctx, x: Tensor, f: (v: number) => number): Tensor {
  const out = zeros(ctx, x.shape);
  const xd = x.data;
  const yd = out.data;
  for (let i = 0; i < xd.length; i++) yd[i] = f(xd[i]);
  return out;
}

export function mapUnaryVjp(
  ctx: Ctx,
  x: Tensor,
  dy: Tensor,
  f: (v: number, g: number) => number,
): Tensor {
  const out = zeros(ctx, x.shape);
  const xd = x.data;
  const gd = dy.data;
  const yd = out.data;
  for (let i = 0; i < xd.length; i++) yd[i] = f(xd[i], gd[i]);
  return out;
}

/**
 * A reduction along `axis` sees the tensor as [outer, n, inner]: element (o, k, j) lives at
 * (o·n + k)·inner + j, and the reduced result (o, j) at o·inner + j.
 */
export interface AxisLayout {
  outer: number;
  n: number;
  inner: number;
  /** The input shape without `axis`. */
  reduced: number[];
}

export function axisLayout(shape: readonly number[], axis: number): AxisLayout {
  return {
    outer: sizeOf(shape.slice(0, axis)),
    n: shape[axis],
    inner: sizeOf(shape.slice(axis + 1)),
    reduced: shape.filter((_, d) => d !== axis),
  };
}

/**
 * Sequential sum of a strided run in index order, the baseline a float32 kernel is held to.
 * It starts from the first element rather than 0 so that a one-element sum is that element
 * (−0 included).
 */
export function sumRun(
  r: Round,
  d: FloatArray,
  start: number,
  count: number,
  stride: number,
): number {
  if (count === 0) return 0;
  let acc = d[start];
  for (let k = 1; k < count; k++) acc = r(acc + d[start + k * stride]);
  return acc;
}
