/**
 * The norm kernels on shapes the laws' small tensors never reach: every specialisation of
 * src/engine/webgpu/norm.ts (column tiles narrower and wider than 64, many row slots, one or many
 * threads per layer-norm row, rows held in registers or re-read), each compared with the
 * float64 reference within the op's default float32 budget. Skipped, loudly, where there is no
 * adapter (an error under TENSORLAWS_REQUIRE_GPU=1, as in CI).
 */
import { afterAll, describe, expect, it } from "vitest";
import { toleranceFields } from "../../harness/budgets.ts";
import { budgetFor, compare } from "../../harness/tolerance.ts";
import type { OpName } from "../contract.ts";
import { cpu } from "../cpu/index.ts";
import type { Tensor } from "../tensor.ts";
import { lcgTensor, webgpuForTests } from "./test-support.ts";

const backend = await webgpuForTests("src/engine/webgpu/norm.test.ts (norm kernel shapes)");
afterAll(() => backend?.dispose());

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
    const x = lcgTensor([n, c], 4, 3, off);
    const gamma = lcgTensor([c], 2, 5, 0.5);
    const beta = lcgTensor([c], 1, 7, 0);
    const runningMean = lcgTensor([c], 1, 9, 0);
    const runningVar = lcgTensor([c], 1, 11, 1);
    const inputs = { x, gamma, beta, runningMean, runningVar };
    for (const training of [true, false]) {
      await expectWithinBudget("batch_norm", inputs, { training, eps: 1e-5, momentum: 0.1 });
    }
    await expectWithinBudget(
      "batch_norm_vjp",
      { x, gamma, dy: lcgTensor([n, c], 2, 13, 0) },
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
    const x = lcgTensor(shape, 6, 17, 2);
    const gamma = lcgTensor([d], 2, 19, 0.5);
    const beta = lcgTensor([d], 1, 23, 0);
    await expectWithinBudget("layer_norm", { x, gamma, beta }, { eps: 1e-5 });
    await expectWithinBudget(
      "layer_norm_vjp",
      { x, gamma, beta, dy: lcgTensor(shape, 2, 29, 0) },
      { eps: 1e-5 },
    );
  });
});
