/**
 * The WebGPU runtime itself: one dispatch and one readback per call, pipelines and buffers
 * reused, errors named, the process free to exit after dispose(). The laws check the numbers.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toleranceFields } from "../../harness/budgets.ts";
import type { Law } from "../../harness/law.ts";
import { budgetFor, compare, formatMismatch } from "../../harness/tolerance.ts";
import { gridReach, gridsTable } from "../../verify/grids.ts";
import { call } from "../call.ts";
import { cpu, cpu32 } from "../cpu/index.ts";
import { cast, type Tensor, tensor } from "../tensor.ts";
import { describeAdapter, type WebGpuBackend } from "./index.ts";
import { webgpuForTests } from "./test-support.ts";

const backend = await webgpuForTests(
  "src/engine/webgpu/webgpu.test.ts (runtime, elementwise, reductions)",
);
afterAll(() => backend?.dispose());

test("a WebGPU backend exists (required when TENSORLAWS_REQUIRE_GPU=1)", () => {
  if (process.env.TENSORLAWS_REQUIRE_GPU === "1") expect(backend).toBeDefined();
  if (backend) console.info(`webgpu adapter: ${describeAdapter(backend.adapterInfo)}`);
});

/** Deterministic values spread over [−lo, hi]. */
function spread(n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++)
    out[i] = -lo + ((((Math.sin(i * 12.9898) * 43758.5453) % 1) + 1) % 1) * (lo + hi);
  return out;
}

/** The backend's result of `op` vs the float64 reference, within the op's budget. */
async function expectWithinBudget(op: "exp" | "sum", x: Tensor, attrs: object): Promise<void> {
  const b = backend!;
  const actual = (await call(b, op, { x }, attrs as never)) as Tensor;
  const wide = cast(x, "float64");
  const exact = (await call(cpu, op, { x: wide }, attrs as never)) as Tensor;
  const { tol, rule } = toleranceFields(
    op,
    { x: wide },
    attrs as never,
    exact,
    "float32",
    budgetFor(b, op),
  ).y;
  const m = compare(op, actual.data, exact.data, tol, actual.shape, "float32", rule);
  expect(m.failing, formatMismatch(m)).toBe(0);
}

describe.skipIf(!backend)("the WebGPU runtime", () => {
  // A skipped describe's body still runs at collection: only the tests may touch the backend.
  let rt: WebGpuBackend["runtime"];
  beforeAll(() => {
    rt = backend!.runtime;
  });

  test("exp of 10⁶ elements matches the reference within exp's budget in one dispatch and one submit", async () => {
    const x = tensor("float32", [1000, 1000], spread(1e6, 80, 80));
    const before = { ...rt.stats };
    await expectWithinBudget("exp", x, {});
    expect(rt.stats.dispatches - before.dispatches).toBe(1);
    expect(rt.stats.submits - before.submits).toBe(1);
    // And bit for bit where cpu32 is correctly rounded, within 1 ULP elsewhere.
    const ours = (await call(backend!, "exp", { x }, {})).data;
    const theirs = (await call(cpu32, "exp", { x }, {})).data;
    let worst = 0;
    for (let i = 0; i < ours.length; i++) {
      worst = Math.max(worst, Math.abs(ours[i] - theirs[i]) / Math.max(Math.abs(theirs[i]), 1e-38));
    }
    expect(worst).toBeLessThanOrEqual(2 ** -23);
  });

  test("a long reduction split into chunks matches the reference within sum's budget", async () => {
    await expectWithinBudget("sum", tensor("float32", [3, 100_000], spread(300_000, 1, 1)), {
      axis: 1,
    });
    await expectWithinBudget("sum", tensor("float32", [7, 5, 3], spread(105, 2, 1)), { axis: 1 });
  });

  test("a pipeline is built once per kernel and specialisation, then reused", async () => {
    const x = tensor("float32", [8], spread(8, 1, 1));
    await call(backend!, "tanh", { x }, {});
    const built = rt.stats.pipelinesBuilt;
    const count = rt.pipelineCount;
    const hits = rt.stats.pipelineHits;
    for (let n = 4; n <= 64; n *= 2)
      await call(backend!, "tanh", { x: tensor("float32", [n], spread(n, 1, 1)) }, {});
    expect(rt.stats.pipelinesBuilt).toBe(built);
    expect(rt.pipelineCount).toBe(count);
    expect(rt.stats.pipelineHits - hits).toBe(5);
    // Another specialisation (not a multiple of 4: no vec4) is one more pipeline.
    await call(backend!, "tanh", { x: tensor("float32", [7], spread(7, 1, 1)) }, {});
    expect(rt.stats.pipelinesBuilt).toBe(built + 1);
  });

  test("buffers return to the pool after the readback and serve the next calls", async () => {
    const x = tensor("float32", [1000], spread(1000, 1, 1));
    await call(backend!, "sigmoid", { x }, {});
    const created = rt.stats.buffersCreated;
    const reused = rt.stats.buffersReused;
    for (let i = 0; i < 5; i++) await call(backend!, "sigmoid", { x }, {});
    expect(rt.stats.buffersCreated).toBe(created);
    expect(rt.stats.buffersReused - reused).toBeGreaterThanOrEqual(5 * 3);
  });

  test("broadcasting up to rank 6 and its reduced gradients match cpu32", async () => {
    const a = tensor("float32", [2, 1, 3, 1, 2, 3], spread(36, 2, 2));
    const b = tensor("float32", [4, 1, 5, 1, 1], spread(20, 2, 2));
    const dy = tensor("float32", [2, 4, 3, 5, 2, 3], spread(720, 1, 1));
    for (const op of ["add", "sub", "mul", "div"] as const) {
      const ours = await call(backend!, op, { a, b }, {});
      const theirs = await call(cpu32, op, { a, b }, {});
      expect(ours.shape).toEqual(theirs.shape);
      for (let i = 0; i < ours.data.length; i++) {
        expect(ours.data[i]).toBeCloseTo(theirs.data[i], 5);
      }
      const g = await call(backend!, `${op}_vjp`, { a, b, dy }, {});
      const h = await call(cpu32, `${op}_vjp`, { a, b, dy }, {});
      for (const k of ["da", "db"] as const) {
        for (let i = 0; i < g[k].data.length; i++) {
          expect(Math.abs(g[k].data[i] - h[k].data[i])).toBeLessThan(
            1e-4 * (1 + Math.abs(h[k].data[i])),
          );
        }
      }
    }
  });

  test("a WGSL error is thrown as an Error naming the kernel", async () => {
    const y = rt.alloc(16);
    rt.dispatch(
      "test:broken",
      () => "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }",
      [],
      [1],
    );
    await expect(rt.read(y, 4)).rejects.toThrow(/kernel "test:broken" failed to build/);
  });

  test("a kernel that awaits between its upload and its read is reported", async () => {
    const y = rt.upload(new Float32Array(4));
    await Promise.resolve();
    await expect(rt.read(y, 4)).rejects.toThrow(/awaited between its first upload and its read/);
  });
});

test.skipIf(!backend)(
  "tensorlaws --grids names the laws that launched each pipeline and marks one never launched past one workgroup",
  async () => {
    const exp = (n: number) => ({ shape: [n], data: new Float32Array(n).fill(0.5) });
    const law = (id: string, sizes: number[]): Law => ({
      id,
      topic: "engine",
      title: `exp of ${sizes.join(" and ")} elements runs`,
      note: "A law made up for this test.",
      ops: ["exp"],
      async check(ctx) {
        for (const n of sizes) await ctx.call("exp", { x: exp(n) }, {});
      },
    });
    // Odd lengths: the one-element-a-thread path, 256 a workgroup; 1001 takes four.
    const report = await gridReach([law("A", [7]), law("B", [7, 1001]), law("C", [9])], backend!);
    expect(report.failed).toEqual([]);
    expect(report.rows).toEqual([
      { pipeline: "unary:exp:f32", launches: 4, widest: 4, laws: ["A", "B", "C"] },
    ]);
    const narrow = await gridReach([law("A", [7])], backend!);
    expect(gridsTable(narrow, backend!)).toMatch(
      /1 of 1 pipelines never ran past one workgroup[\s\S]*\| unary:exp:f32 \| 1 \| 1 ⚠ \| A \|/,
    );
  },
);

test.skipIf(!backend)("dispose() lets the process exit", () => {
  const index = fileURLToPath(new URL("./index.ts", import.meta.url));
  const script = `
    const { createWebGpuBackend } = await import(${JSON.stringify(index)});
    const b = await createWebGpuBackend();
    const x = { shape: [4], data: new Float32Array([1, 2, 3, 4]) };
    const y = await b.kernels.exp({ x }, {});
    b.dispose();
    console.log("exp(1) =", y.data[0]);`;
  const child = spawnSync(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", script],
    {
      timeout: 60_000,
      encoding: "utf8",
      env: process.env,
    },
  );
  expect(child.error, "the process did not exit within 60 s").toBeUndefined();
  expect(child.status, child.stderr).toBe(0);
  expect(child.stdout).toContain("exp(1) = 2.718");
});
