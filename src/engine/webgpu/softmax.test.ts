/**
 * The softmax-family and loss kernels on shapes the laws' small tensors never reach: every
 * threads-per-row specialisation of src/engine/webgpu/softmax.ts (one thread per row up to a
 * workgroup per row, rows longer than the workgroup, ragged tails, rank-3 batches), rows of
 * special values at each of them, and the multi-chunk reductions of losses.ts; each compared
 * with the float64 reference within the op's default float32 budget. Skipped, loudly, where
 * there is no adapter (an error under TENSORLAWS_REQUIRE_GPU=1, as in CI).
 */
import { afterAll, describe, expect, it } from "vitest";
import { toleranceFields } from "../../harness/budgets.ts";
import { budgetFor, compare } from "../../harness/tolerance.ts";
import type { OpName } from "../contract.ts";
import { cpu } from "../cpu/index.ts";
import type { IndexTensor, Tensor } from "../tensor.ts";
import { createWebGpuBackend, type WebGpuBackend } from "./index.ts";
import { lcgTensor, webgpuForTests } from "./test-support.ts";

const backend = await webgpuForTests("src/engine/webgpu/softmax.test.ts (softmax and loss shapes)");
// Where the adapter has subgroups the row kernels merge with shuffles; the shared-memory trees
// every adapter can run are then tested on a second device created without the feature.
const fallback = backend?.runtime.subgroups
  ? await createWebGpuBackend({ subgroups: false })
  : undefined;
afterAll(async () => {
  await backend?.dispose();
  await fallback?.dispose();
});
const paths = [
  { how: backend?.runtime.subgroups ? "subgroup shuffles" : "shared-memory trees", gpu: backend },
  ...(fallback ? [{ how: "shared-memory trees", gpu: fallback }] : []),
];

/** Row r of a [rows, n] view gets the special values the reference defines an answer for. */
function withSpecialRows(t: Tensor): Tensor {
  const n = t.shape[t.shape.length - 1];
  const rows = t.data.length / n;
  const d = t.data;
  const set = (r: number, j: number, v: number) => {
    if (r < rows) d[r * n + Math.min(j, n - 1)] = v;
  };
  set(0, n - 1, Number.NaN); // NaN in the last lane's share
  set(1, 0, Number.NEGATIVE_INFINITY); // masked logits: probability 0
  set(1, n >> 1, Number.NEGATIVE_INFINITY);
  for (let j = 0; j < n; j++) set(2, j, Number.NEGATIVE_INFINITY); // a row of −∞
  set(3, n >> 1, Number.POSITIVE_INFINITY);
  // Far beyond e^x's range, so only the shift by the max keeps the row finite (±3e38, whose
  // differences overflow float32, are the goldens' case).
  set(4, 1, 1e30);
  set(4, n - 2, -1e30);
  return t;
}

const f64 = <T extends Tensor | IndexTensor>(t: T): T =>
  (t.data instanceof Int32Array ? t : { shape: t.shape, data: Float64Array.from(t.data) }) as T;

/** Runs op on the GPU and on the float64 reference; every output within the default budget. */
async function expectWithinBudget(
  gpu: WebGpuBackend,
  op: OpName,
  inputs: Record<string, Tensor | IndexTensor>,
  attrs: object,
) {
  type Out = Tensor | Record<string, Tensor>;
  const run = gpu.kernels[op] as (i: object, a: object) => Promise<Out>;
  const result = await run(inputs, attrs);
  const exact = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, f64(v)]));
  const expected = (cpu.kernels[op] as (i: object, a: object) => Out)(exact, attrs);
  const fields = toleranceFields(
    op,
    exact as never,
    attrs as never,
    expected as never,
    "float32",
    budgetFor(gpu, op),
  );
  // One output is keyed y; several (the fused loss) by name.
  const pick = (o: Out, key: string) => ("shape" in o ? o : o[key]) as Tensor;
  for (const [key, { tol }] of Object.entries(fields)) {
    const [actual, reference] = [pick(result, key), pick(expected, key)];
    expect(actual.shape).toEqual(reference.shape);
    const m = compare(op, actual.data, reference.data, tol, reference.shape, "float32");
    expect(m.failing, `${op}.${key}: ${JSON.stringify(m.worst)}`).toBe(0);
  }
}

// One thread per row (n = 1, short rows, and rows so many they fill the device), a few threads
// per row, 128 and 256 threads per row, rows longer than a workgroup with a ragged tail, a
// rank-3 batch.
const shapes: number[][] = [
  [3, 1],
  [7, 2, 5],
  [5000, 33],
  [600, 70],
  [13, 100],
  [4, 1000],
  [2, 3001],
  [1, 20000],
];

describe.skipIf(!backend).each(paths)("webgpu softmax family, merging with $how", ({ gpu }) => {
  for (const shape of shapes) {
    it(`softmax, log_softmax, logsumexp and their gradients on [${shape}]`, async () => {
      const x = withSpecialRows(lcgTensor(shape, 20, 3));
      const dy = lcgTensor(shape, 2, 5);
      const dyRow = lcgTensor(shape.slice(0, -1), 2, 7);
      for (const op of ["softmax", "log_softmax", "logsumexp"] as const) {
        await expectWithinBudget(gpu!, op, { x }, {});
      }
      // Finite logits for the gradients: a special row's gradient is NaN either way.
      const xf = lcgTensor(shape, 20, 3);
      await expectWithinBudget(gpu!, "softmax_vjp", { x: xf, dy }, {});
      await expectWithinBudget(gpu!, "log_softmax_vjp", { x: xf, dy }, {});
      await expectWithinBudget(gpu!, "logsumexp_vjp", { x: xf, dy: dyRow }, {});
    });
  }
});

describe.skipIf(!backend).each(paths)("webgpu losses, merging with $how", ({ gpu }) => {
  const lossShapes: [number, number][] = [
    [2, 1],
    [5000, 10],
    [13, 100],
    [3, 3001],
  ];
  for (const [n, c] of lossShapes) {
    it(`cross-entropy (indices and soft targets; alone, its gradient, and fused) and nll on [${n}, ${c}]`, async () => {
      const logits = withSpecialRows(lcgTensor([n, c], 16, 11));
      const finite = lcgTensor([n, c], 16, 11);
      const classes: IndexTensor = {
        shape: [n],
        data: Int32Array.from({ length: n }, (_, i) => (i * 7919) % c),
      };
      // Soft targets: non-negative, some exactly 0 (a −∞ logit there must not make NaN).
      const soft = lcgTensor([n, c], 1, 13, 0.5);
      soft.data.forEach((v, i) => {
        soft.data[i] = v < 0.2 ? 0 : v;
      });
      for (const reduction of ["none", "sum", "mean"] as const) {
        const dy = reduction === "none" ? lcgTensor([n], 2, 17) : lcgTensor([], 2, 19);
        for (const target of [classes, soft]) {
          await expectWithinBudget(gpu!, "cross_entropy", { logits, target }, { reduction });
          await expectWithinBudget(
            gpu!,
            "cross_entropy_vjp",
            { logits: finite, target, dy },
            { reduction },
          );
          await expectWithinBudget(
            gpu!,
            "cross_entropy_fused",
            { logits: finite, target },
            { reduction },
          );
        }
        await expectWithinBudget(gpu!, "nll", { logp: logits, target: classes }, { reduction });
        await expectWithinBudget(
          gpu!,
          "nll_vjp",
          { logp: logits, target: classes, dy },
          { reduction },
        );
      }
    });
  }

  // One fused partial chunk, and several reduced in a second pass.
  for (const size of [[5], [3, 7], [100, 123]]) {
    it(`mse and its gradient on [${size}]`, async () => {
      const pred = lcgTensor(size, 8, 23);
      const target = lcgTensor(size, 8, 29);
      for (const reduction of ["none", "sum", "mean"] as const) {
        const dy = reduction === "none" ? lcgTensor(size, 2, 31) : lcgTensor([], 2, 37);
        await expectWithinBudget(gpu!, "mse", { pred, target }, { reduction });
        await expectWithinBudget(gpu!, "mse_vjp", { pred, target, dy }, { reduction });
      }
    });
  }
});
