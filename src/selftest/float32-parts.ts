/**
 * Pieces the correct float32 variants share (variants.ts writes kernels the way CPU libraries
 * do, gpu-variants.ts the way GPU kernels do): float32 outputs, the fused multiply-add, Chan's
 * merge of partial moments, and matmul and its gradient wired to a product routine through
 * strides, so that each variant differs only in how it sums.
 */
import type { Kernels } from "../engine/contract.ts";
import { sizeOf, type Tensor } from "../engine/tensor.ts";

const r = Math.fround;

/** Element k of a run being reduced. */
export type Get = (k: number) => number;

export function out(shape: readonly number[]): Tensor {
  return { shape: [...shape], data: new Float32Array(sizeOf(shape)) };
}

/** a·b + c rounded once: a float32 product is exact in float64, so this is a fused multiply-add
 * (up to a double rounding too rare to matter), the GPU's native accumulate. */
export const fma = (a: number, b: number, c: number): number => r(a * b + c);

export interface Moments {
  n: number;
  mean: number;
  m2: number;
}

/** Chan, Golub & LeVeque's merge of two partial moments (PyTorch's WelfordOps::combine). */
export function chan(a: Moments, b: Moments): Moments {
  if (a.n === 0) return b;
  if (b.n === 0) return a;
  const n = a.n + b.n;
  const delta = r(b.mean - a.mean);
  const nbOverN = r(b.n / n);
  return {
    n,
    mean: r(a.mean + r(delta * nbOverN)),
    m2: r(r(a.m2 + b.m2) + r(r(r(delta * delta) * a.n) * nbOverN)),
  };
}

/** Merges `parts` pairwise, level by level, as a GPU block reduction does (an odd one out is
 * carried up). */
export function treeMerge<T>(parts: readonly T[], merge: (a: T, b: T) => T): T {
  let level = [...parts];
  while (level.length > 1) {
    const next: T[] = [];
    for (let t = 0; t < level.length; t += 2)
      next.push(t + 1 < level.length ? merge(level[t], level[t + 1]) : level[t]);
    level = next;
  }
  return level[0];
}

/** C[t] = A[t]·B[t] for every batch t, A m×k and B k×n read through (row, col) strides. */
export type Product = (
  shape: readonly number[],
  batch: number,
  mkn: readonly [number, number, number],
  a: (t: number, i: number, p: number) => number,
  b: (t: number, p: number, j: number) => number,
) => Tensor;

function dims(a: Tensor, b: Tensor) {
  const rank = a.shape.length;
  const [m, k, n] = [a.shape[rank - 2], a.shape[rank - 1], b.shape[rank - 1]];
  return { m, k, n, batch: a.data.length / (m * k), lead: a.shape.slice(0, rank - 2) };
}

/** matmul, and its gradient da = dy·bᵀ, db = aᵀ·dy from the same product reading transposed
 * strides (no transpose materialised, as a GEMM with transpose flags does). */
export function matmulThrough(product: Product): Pick<Kernels, "matmul" | "matmul_vjp"> {
  return {
    matmul: ({ a, b }) => {
      const { m, k, n, batch, lead } = dims(a, b);
      return product(
        [...lead, m, n],
        batch,
        [m, k, n],
        (t, i, p) => a.data[t * m * k + i * k + p],
        (t, p, j) => b.data[t * k * n + p * n + j],
      );
    },
    matmul_vjp: ({ a, b, dy }) => {
      const { m, k, n, batch } = dims(a, b);
      return {
        da: product(
          a.shape,
          batch,
          [m, n, k],
          (t, i, p) => dy.data[t * m * n + i * n + p],
          (t, p, j) => b.data[t * k * n + j * n + p],
        ),
        db: product(
          b.shape,
          batch,
          [k, m, n],
          (t, i, p) => a.data[t * m * k + p * k + i],
          (t, p, j) => dy.data[t * m * n + p * n + j],
        ),
      };
    },
  };
}
