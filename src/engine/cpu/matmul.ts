/** Batched matrix product [..., m, k] × [..., k, n] → [..., m, n] and its gradient. */
import type { FloatArray, Tensor } from "../tensor.ts";
import type { CpuKernels, Ctx } from "./common.ts";
import { zeros } from "./common.ts";

/** One operand of a product: element (i, p) of batch b is data[b·size + i·row + p·col]. */
interface Operand {
  data: FloatArray;
  size: number;
  row: number;
  col: number;
}

/**
 * C[b] = A[b]·B[b] for every batch b, with A[b] m×k and B[b] k×n given through strides, so
 * that a transposed operand is just a different pair of strides. Each entry is a dot product
 * summed in order of the inner index.
 */
function product(
  ctx: Ctx,
  shape: readonly number[],
  batch: number,
  m: number,
  k: number,
  n: number,
  a: Operand,
  b: Operand,
): Tensor {
  const { r } = ctx;
  const c = zeros(ctx, shape);
  for (let t = 0; t < batch; t++) {
    const aBase = t * a.size;
    const bBase = t * b.size;
    const cBase = t * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) {
          acc = r(
            acc + r(a.data[aBase + i * a.row + p * a.col] * b.data[bBase + p * b.row + j * b.col]),
          );
        }
        c.data[cBase + i * n + j] = acc;
      }
    }
  }
  return c;
}

/** The batch count and matrix sizes of a validated product a·b. */
function dims(a: Tensor, b: Tensor) {
  const rank = a.shape.length;
  const m = a.shape[rank - 2];
  const k = a.shape[rank - 1];
  const n = b.shape[rank - 1];
  return { m, k, n, batch: a.data.length / (m * k), lead: a.shape.slice(0, rank - 2) };
}

export function matmulKernels(ctx: Ctx): CpuKernels<"matmul" | "matmul_vjp"> {
  return {
    matmul: ({ a, b }) => {
      const { m, k, n, batch, lead } = dims(a, b);
      return product(
        ctx,
        [...lead, m, n],
        batch,
        m,
        k,
        n,
        { data: a.data, size: m * k, row: k, col: 1 },
        { data: b.data, size: k * n, row: n, col: 1 },
      );
    },

    // y = a·b gives da = dy·bᵀ (m×n · n×k) and db = aᵀ·dy (k×m · m×n).
    matmul_vjp: ({ a, b, dy }) => {
      const { m, k, n, batch } = dims(a, b);
      const dyOp = { data: dy.data, size: m * n, row: n, col: 1 };
      const bT = { data: b.data, size: k * n, row: 1, col: n };
      const aT = { data: a.data, size: m * k, row: 1, col: k };
      return {
        da: product(ctx, a.shape, batch, m, n, k, dyOp, bT),
        db: product(ctx, b.shape, batch, k, m, n, aT, dyOp),
      };
    },
  };
}
