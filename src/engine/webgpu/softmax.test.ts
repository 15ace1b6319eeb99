/**
 * The softmax-family and loss row kernels of src/engine/webgpu/softmax.ts where the laws do not
 * reach them: each compared with the float64 reference within the op's default float32 budget.
 * Skipped, loudly, where there is no adapter (an error under TENSORLAWS_REQUIRE_GPU=1, as in CI).
 *
 * What covers the rest: properties/laws.webgpu.test.ts runs every law on the default WebGPU
 * backend, which on SwiftShader (CI) merges a row's threads with subgroup shuffles. Its size laws
 * (properties/sizes.laws.ts) I5d (softmax family and gradients: rows of 5 to 65537, ranks 1 to 4,
 * 1 to 256 threads per row) and I5e (cross-entropy of both target kinds, its gradient, the fused
 * call, nll and mse, batches and rows past 1024, every reduction, mse over many chunks) cover
 * that path on finite rows, and every path with one thread per row (no merge at all, the same
 * shader either way). So this file tests:
 *  - the other merge path, the shared-memory trees (a device created with `subgroups: false`;
 *    the only path where the adapter has no subgroups): every row kernel with several rows per
 *    workgroup spread over more than one workgroup with dead rows in the last, and with a
 *    workgroup per row longer than the workgroup with a ragged tail; rows of special values in
 *    both, which the laws put only in rows short enough for one thread;
 *  - rows of special values through the subgroup shuffles (butterfly, then the tree over a row's
 *    subgroups) for the forward kernels;
 *  - one-class cross-entropy (I5e draws at least two classes).
 * Pipeline compilation is what costs here (about 0.35 s per kernel and threads-per-row on
 * SwiftShader), so each path gets as few threads-per-row specialisations as cross its boundaries.
 */
import { afterAll, describe, expect, it } from "vitest";
import { toleranceFields } from "../../harness/budgets.ts";
import { budgetFor, compare } from "../../harness/tolerance.ts";
import type { OpName } from "../contract.ts";
import { cpu } from "../cpu/index.ts";
import type { IndexTensor, Tensor } from "../tensor.ts";
import { createWebGpuBackend, type WebGpuBackend } from "./index.ts";
import { WG } from "./runtime.ts";
import { lanesFor } from "./softmax.ts";
import { lcgTensor, webgpuForTests } from "./test-support.ts";

const backend = await webgpuForTests("src/engine/webgpu/softmax.test.ts (softmax and loss shapes)");
// Where the adapter has subgroups the default device merges with shuffles, and the shared-memory
// trees every adapter can run are tested on a second device created without the feature.
const shuffles = backend?.runtime.subgroups ? backend : undefined;
const trees = shuffles ? await createWebGpuBackend({ subgroups: false }) : backend;
afterAll(async () => {
  await backend?.dispose();
  if (trees !== backend) await trees?.dispose();
});

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

/**
 * The threads-per-row boundaries of the merge (lanesFor; 4096 is the smallest grid a device is
 * filled with, and none of these reaches it): several rows per workgroup over two workgroups,
 * the second with 11 dead rows (rank 3); and a workgroup per row, each row 4 elements a thread
 * plus a ragged tail, 5 rows for the 5 special rows.
 */
const SEVERAL = { shape: [3, 7, 100], lanes: 16 };
const WHOLE = { shape: [5, 1031], lanes: WG };

it("the shapes get the threads per row they are meant to cross", () => {
  for (const { shape, lanes } of [SEVERAL, WHOLE]) {
    const n = shape[shape.length - 1];
    expect(lanesFor(shape.reduce((a, b) => a * b, 1) / n, n, 4096), `[${shape}]`).toBe(lanes);
  }
});

async function softmaxFamily(gpu: WebGpuBackend, shape: number[], gradients: boolean) {
  const x = withSpecialRows(lcgTensor(shape, 20, 3));
  for (const op of ["softmax", "log_softmax", "logsumexp"] as const) {
    await expectWithinBudget(gpu, op, { x }, {});
  }
  if (!gradients) return;
  // Finite logits for the gradients: a special row's gradient is NaN either way.
  const xf = lcgTensor(shape, 20, 3);
  const dy = lcgTensor(shape, 2, 5);
  await expectWithinBudget(gpu, "softmax_vjp", { x: xf, dy }, {});
  await expectWithinBudget(gpu, "log_softmax_vjp", { x: xf, dy }, {});
  await expectWithinBudget(
    gpu,
    "logsumexp_vjp",
    { x: xf, dy: lcgTensor(shape.slice(0, -1), 2, 7) },
    {},
  );
}

/** Class indices, and soft targets: non-negative, some exactly 0 (a −∞ logit there must not make NaN). */
function targets(n: number, c: number): [IndexTensor, Tensor] {
  const classes: IndexTensor = {
    shape: [n],
    data: Int32Array.from({ length: n }, (_, i) => (i * 7919) % c),
  };
  const soft = lcgTensor([n, c], 1, 13, 0.5);
  soft.data.forEach((v, i) => {
    soft.data[i] = v < 0.2 ? 0 : v;
  });
  return [classes, soft];
}

describe.skipIf(!trees)("webgpu row kernels, merging with shared-memory trees", () => {
  for (const { shape } of [SEVERAL, WHOLE]) {
    it(`softmax, log_softmax, logsumexp and their gradients on [${shape}]`, async () => {
      await softmaxFamily(trees!, shape, true);
    });
  }

  const lossShapes: [number, number][] = [
    [2, 1],
    [SEVERAL.shape[0] * SEVERAL.shape[1], SEVERAL.shape[2]],
    [WHOLE.shape[0], WHOLE.shape[1]],
  ];
  for (const [n, c] of lossShapes) {
    it(`cross-entropy (indices and soft targets; alone, its gradient, and fused) and nll on [${n}, ${c}]`, async () => {
      const gpu = trees!;
      const logits = withSpecialRows(lcgTensor([n, c], 16, 11));
      const finite = lcgTensor([n, c], 16, 11);
      const [classes, soft] = targets(n, c);
      for (const reduction of ["none", "sum", "mean"] as const) {
        const dy = reduction === "none" ? lcgTensor([n], 2, 17) : lcgTensor([], 2, 19);
        for (const target of [classes, soft]) {
          await expectWithinBudget(gpu, "cross_entropy", { logits, target }, { reduction });
          await expectWithinBudget(
            gpu,
            "cross_entropy_vjp",
            { logits: finite, target, dy },
            { reduction },
          );
          await expectWithinBudget(
            gpu,
            "cross_entropy_fused",
            { logits: finite, target },
            { reduction },
          );
        }
        // No row kernel (the same shader on either path), but the special values' only test.
        await expectWithinBudget(gpu, "nll", { logp: logits, target: classes }, { reduction });
        await expectWithinBudget(
          gpu,
          "nll_vjp",
          { logp: logits, target: classes, dy },
          { reduction },
        );
      }
    });
  }
  // mse has no row kernel either; its chunks and second pass are I5e's (up to 65537 × 2).
});

describe.skipIf(!shuffles)("webgpu row kernels, merging with subgroup shuffles", () => {
  // Finite rows at every threads-per-row, the gradients and the other loss kernels: I5d, I5e.
  it(`special rows through softmax, log_softmax, logsumexp and cross-entropy on [${WHOLE.shape}]`, async () => {
    const gpu = shuffles!;
    await softmaxFamily(gpu, WHOLE.shape, false);
    const [n, c] = WHOLE.shape;
    const logits = withSpecialRows(lcgTensor([n, c], 16, 11));
    for (const target of targets(n, c)) {
      await expectWithinBudget(gpu, "cross_entropy", { logits, target }, { reduction: "none" });
    }
  });
});
