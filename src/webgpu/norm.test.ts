/**
 * The norm kernels on shapes the laws' small tensors never reach: every specialisation of
 * src/webgpu/norm.ts (column tiles narrower and wider than 64, many row slots, one or many
 * threads per layer-norm row, rows held in registers or re-read), each compared with the
 * float64 reference within the op's default float32 budget. Skipped, loudly, where there is no
 * adapter (an error under TENSORLAWS_REQUIRE_GPU=1, as in CI).
 */
import { afterAll, describe, expect, it } from "vitest";
import { toleranceFields } from "../budgets.ts";
import type { OpName } from "../contract.ts";
import { cpu } from "../cpu/index.ts";
import type { Tensor } from "../tensor.ts";
import { budgetFor, compare } from "../tolerance.ts";
import { createWebGpuBackend, type WebGpuBackend } from "./index.ts";

let backend: WebGpuBackend | undefined;
try {
  backend = await createWebGpuBackend();
} catch (e) {
  console.warn(`creating the WebGPU backend failed: ${e instanceof Error ? e.message : e}`);
}
if (!backend) {
  if (process.env.TENSORLAWS_REQUIRE_GPU === "1") {
    throw new Error("TENSORLAWS_REQUIRE_GPU=1 but no WebGPU adapter was found");
  }
  console.warn("NO WEBGPU ADAPTER: src/webgpu/norm.test.ts (norm kernel shapes) is skipped");
}
afterAll(() => backend?.dispose());

/** A deterministic float32 tensor: values from a linear congruential generator. */
function tensor(shape: number[], scale: number, offset = 0, seed = 1): Tensor {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return offset + (s / 2147483648 - 0.5) * scale;
  });
  return { shape, data };
}

const f64 = (t: Tensor): Tensor => ({ shape: t.shape, data: Float64Array.from(t.data) });

/** Runs op on the GPU and on the float64 reference; every output within the default budget. */
async function expectWithinBudget(op: OpName, inputs: Record<string, Tensor>, attrs: object) {
  const gpu = backend!;
  const run = gpu.kernels[op] as (i: object, a: object) => Promise<Tensor | Record<string, Tensor>>;
  const actual = await run(inputs, attrs);
  const exact = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, f64(v)]));
  const reference = (cpu.kernels[op] as (i: object, a: object) => Tensor | Record<string, Tensor>)(
    exact,
    attrs,
  );
  const fields = toleranceFields(
    op,
    exact as never,
    attrs as never,
    reference as never,
    "float32",
    {
      ...budgetFor(gpu, op),
    },
  );
  const wrap = (o: Tensor | Record<string, Tensor>) =>
    ("shape" in o ? { y: o } : o) as Record<string, Tensor>;
  const [got, want] = [wrap(actual), wrap(reference)];
  for (const [key, field] of Object.entries(fields)) {
    const m = compare(key, got[key].data, want[key].data, field.tol, want[key].shape, "float32");
    expect(m.failing, `${op} ${key}: ${JSON.stringify(m.worst)}`).toBe(0);
  }
}

describe.skipIf(!backend)("webgpu norm kernels on every specialisation", () => {
  // [N, C]: one column tile of 1 or 64 threads, several tiles with a ragged last one, many row
  // slots (N ≫ 8), a large common offset (the variance must not cancel).
  const batchShapes: [number, number, number][] = [
    [2, 1, 0],
    [9000, 3, 0],
    [300, 129, 0],
    [64, 70, 500],
  ];
  it.each(batchShapes)("batch_norm and its gradient on [%i, %i] (offset %i)", async (n, c, off) => {
    const x = tensor([n, c], 4, off, 3);
    const gamma = tensor([c], 2, 0.5, 5);
    const beta = tensor([c], 1, 0, 7);
    const runningMean = tensor([c], 1, 0, 9);
    const runningVar = tensor([c], 1, 1, 11);
    const inputs = { x, gamma, beta, runningMean, runningVar };
    for (const training of [true, false]) {
      await expectWithinBudget("batch_norm", inputs, { training, eps: 1e-5, momentum: 0.1 });
    }
    await expectWithinBudget(
      "batch_norm_vjp",
      { x, gamma, dy: tensor([n, c], 2, 0, 13) },
      {
        eps: 1e-5,
      },
    );
  });

  // [rows, D]: a thread per row with the row in registers (D ≤ 16) or re-read (D = 300), a
  // shared-memory tree over 8 to 256 threads per row, held or re-read (D = 5000 > 16·256),
  // and a rank-3 input.
  const layerShapes: number[][] = [
    [1500, 7],
    [1500, 300],
    [3, 33],
    [2, 5000],
    [4, 3, 40],
  ];
  it.each(layerShapes.map((s) => [s]))("layer_norm and its gradient on %j", async (shape) => {
    const d = shape[shape.length - 1];
    const x = tensor(shape, 6, 2, 17);
    const gamma = tensor([d], 2, 0.5, 19);
    const beta = tensor([d], 1, 0, 23);
    await expectWithinBudget("layer_norm", { x, gamma, beta }, { eps: 1e-5 });
    await expectWithinBudget(
      "layer_norm_vjp",
      { x, gamma, beta, dy: tensor(shape, 2, 0, 29) },
      { eps: 1e-5 },
    );
  });
});
