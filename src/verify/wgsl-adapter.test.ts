/**
 * The WGSL adapter on the example shaders (examples/): the stable softmax, relu and tiled matmul
 * pass every law whose ops they cover; the naive softmax and the matmul that drops its k tail
 * are rejected by the laws named for their bugs. Then the dispatch rule past 65535 workgroups,
 * the NaN-filled output, and every error a shader author can meet. The tests that need a GPU are
 * skipped, loudly, where there is no adapter (an error under TENSORLAWS_REQUIRE_GPU=1).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { allLaws } from "../../properties/index.ts";
import { call } from "../engine/call.ts";
import type { Backend, OpName } from "../engine/contract.ts";
import { InvalidArgumentError } from "../engine/errors.ts";
import type { Tensor } from "../engine/tensor.ts";
import { shareOneCoreWithSwiftShader } from "../engine/webgpu/test-support.ts";
import { toleranceFields } from "../harness/budgets.ts";
import { envOptions, type Law, type LawResult, runLaw } from "../harness/law.ts";
import { budgetFor, compare } from "../harness/tolerance.ts";
import { reference } from "./backends.ts";
import {
  createWgslBackend,
  NoWebGpuAdapterError,
  WgslCompileError,
  type WgslShader,
  workgroupSize,
} from "./wgsl-adapter.ts";

const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));

const dir = mkdtempSync(join(tmpdir(), "tensorlaws-wgsl-"));
/** Writes a shader to a temporary file and returns its path. */
function shaderFile(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

const open: Backend[] = [];
afterAll(async () => {
  for (const b of open) await b.dispose?.();
  rmSync(dir, { recursive: true, force: true });
});
async function backend(...shaders: WgslShader[]): Promise<Backend> {
  const b = await createWgslBackend(shaders);
  shareOneCoreWithSwiftShader(b.adapterInfo);
  open.push(b);
  return b;
}

// Whether this machine has an adapter: asked once, with the example every later test uses.
let softmax: Backend | undefined;
try {
  softmax = await backend({ op: "softmax", path: example("softmax.wgsl") });
} catch (e) {
  if (!(e instanceof NoWebGpuAdapterError)) throw e;
  if (process.env.TENSORLAWS_REQUIRE_GPU === "1") {
    throw new Error(`TENSORLAWS_REQUIRE_GPU=1 but ${e.message}`);
  }
  console.warn(`NO WEBGPU ADAPTER: the WGSL adapter's shader tests are skipped (${e.message})`);
}
const gpu = softmax !== undefined;

/** The laws that need nothing but `ops`. */
const lawsOn = (ops: readonly OpName[]): Law[] =>
  allLaws.filter((l) => l.ops.length > 0 && l.ops.every((op) => ops.includes(op)));

const options = envOptions(reference);

async function verdicts(b: Backend, laws: readonly Law[]): Promise<Map<string, LawResult>> {
  const results = new Map<string, LawResult>();
  for (const law of laws) results.set(law.id, await runLaw(law, b, options));
  return results;
}

const failed = (results: Map<string, LawResult>) =>
  [...results.values()].filter((r) => r.status === "failed").map((r) => r.law.id);

/** Deterministic float32 values in [offset − scale/2, offset + scale/2). */
function lcg(shape: number[], scale: number, seed: number): Tensor {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648 - 0.5) * scale;
  });
  return { shape, data };
}

async function expectWithinBudget(b: Backend, op: "softmax", x: Tensor): Promise<void> {
  const actual = await call(b, op, { x }, {});
  const exact = { x: { shape: x.shape, data: Float64Array.from(x.data) } };
  const expected = await call(reference, op, exact, {});
  const fields = toleranceFields(op, exact, {}, expected, "float32", budgetFor(b, op));
  const m = compare(op, actual.data, expected.data, fields.y.tol, expected.shape, "float32");
  expect(m.failing, `${op} on [${x.shape}]: ${JSON.stringify(m.worst)}`).toBe(0);
}

describe.skipIf(!gpu)("examples/softmax.wgsl, the stable softmax", () => {
  for (const law of lawsOn(["softmax"])) {
    it(`passes ${law.id}: ${law.title}`, async () => {
      const result = await runLaw(law, softmax!, options);
      expect(result.status, result.message).toBe("passed");
    });
  }

  it("matches the reference on rows longer than its 64-thread workgroup, ragged and batched", async () => {
    for (const shape of [
      [3, 1000],
      [2, 3001],
      [2, 3, 65],
      [5, 1],
    ]) {
      await expectWithinBudget(softmax!, "softmax", lcg(shape, 40, shape.length + shape[0]));
    }
  });
});

describe.skipIf(!gpu)("examples/softmax-naive.wgsl, exp(x)/Σexp(x) without the max", () => {
  it("is rejected by the laws on huge logits (B1), shifts (B2), the sigmoid case (B4a) and the goldens", async () => {
    const naive = await backend({ op: "softmax", path: example("softmax-naive.wgsl") });
    const results = await verdicts(naive, lawsOn(["softmax"]));
    expect(failed(results)).toEqual(expect.arrayContaining(["B1", "B2", "B4a", "I4.softmax"]));
    // A logit past 88.72 overflows exp: ∞/∞ = NaN.
    expect(results.get("B1")?.message).toMatch(/NaN/);
  });
});

describe.skipIf(!gpu)("examples/relu.wgsl and examples/matmul.wgsl", () => {
  it("relu passes every law on relu alone", async () => {
    const results = await verdicts(
      await backend({ op: "relu", path: example("relu.wgsl") }),
      lawsOn(["relu"]),
    );
    expect([...results.keys()]).toEqual(expect.arrayContaining(["C4a", "C4c", "I4.relu"]));
    for (const r of results.values()) expect(r.status, `${r.law.id}: ${r.message}`).toBe("passed");
  });

  it("the tiled matmul passes every matmul law, batched and on sizes that are not multiples of its tile", async () => {
    const results = await verdicts(
      await backend({ op: "matmul", path: example("matmul.wgsl") }),
      lawsOn(["matmul"]),
    );
    expect([...results.keys()]).toEqual(expect.arrayContaining(["I1a", "I1b", "I4.matmul"]));
    for (const r of results.values()) expect(r.status, `${r.law.id}: ${r.message}`).toBe("passed");
  });

  it("the matmul that drops the k tail is rejected by I1a with a k that is not a multiple of 8", async () => {
    const buggy = await backend({ op: "matmul", path: example("matmul-tail-bug.wgsl") });
    const results = await verdicts(buggy, lawsOn(["matmul"]));
    expect(failed(results)).toContain("I1a");
    const k = /"shape":\[(?:\d+,)?\d+,(\d+)\]/.exec(results.get("I1a")?.message ?? "")?.[1];
    expect(Number(k) % 8).not.toBe(0);
  });
});

describe.skipIf(!gpu)("the adapter's convention", () => {
  // Not the C5 laws: they include subnormal slopes, which SwiftShader flushes to 0 in a plain
  // α·v (the built-in kernel multiplies with m_mul from wgsl-math.ts for that).
  it("passes leaky_relu's slope α to the shader as an f32 in the uniform struct", async () => {
    const path = shaderFile(
      "leaky.wgsl",
      `struct Params { n: u32, alpha: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= params.n) { return; }
  let v = x[i];
  y[i] = select(params.alpha * v, v, !(v < 0.0));
}`,
    );
    const b = await backend({ op: "leaky_relu", path });
    const x = lcg([300], 20, 4);
    for (const alpha of [0, 0.1, -2.5, 1]) {
      const y = await call(b, "leaky_relu", { x }, { alpha });
      const want = Array.from(x.data, (v) => (v < 0 ? Math.fround(Math.fround(alpha) * v) : v));
      expect(Array.from(y.data)).toEqual(want);
    }
  });

  it("folds more than 65535 workgroups into y, for rows and for elements, reaching every one", async () => {
    // Each shader writes its own index, so a row or element missed (NaN) or misplaced shows.
    const rows = shaderFile(
      "row-index.wgsl",
      `struct Params { rows: u32, cols: u32 }
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row < params.rows) { y[row] = f32(row); }
}`,
    );
    const elements = shaderFile(
      "element-index.wgsl",
      `struct Params { n: u32 }
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
const THREADS = 2u;
@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * THREADS + lid;
  if (i < params.n) { y[i] = f32(i); }
}`,
    );
    // Neither shader reads x: a binding of the convention may go unused.
    const b = await backend({ op: "logsumexp", path: rows }, { op: "exp", path: elements });
    const lse = await call(b, "logsumexp", { x: lcg([70_001, 2], 1, 1) }, {});
    expect(lse.shape).toEqual([70_001]);
    expect(Array.from(lse.data).every((v, i) => v === i)).toBe(true);
    // 2·65535 + 3 elements at 2 per workgroup: 65537 workgroups, one past the limit of x.
    const n = 2 * 65_535 + 3;
    const e = await call(b, "exp", { x: lcg([n], 1, 2) }, {});
    expect(Array.from(e.data).every((v, i) => v === i)).toBe(true);
  });

  it("returns NaN for every element the shader never writes, never a plausible 0", async () => {
    const path = shaderFile(
      "relu-evens.wgsl",
      `struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < params.n && i % 2u == 0u) { y[i] = max(x[i], 0.0); }
}`,
    );
    const b = await backend({ op: "relu", path });
    const y = await call(b, "relu", { x: { shape: [4], data: Float32Array.of(-1, -2, 3, 4) } }, {});
    expect(Array.from(y.data)).toEqual([0, Number.NaN, 3, Number.NaN]);
  });

  it("keeps calls apart when they run concurrently, each getting its own input's answer", async () => {
    const xs = Array.from({ length: 12 }, (_, i) => lcg([1 + (i % 4), 10 + 7 * i], 10, i + 1));
    const sequential: Tensor[] = [];
    for (const x of xs) sequential.push(await call(softmax!, "softmax", { x }, {}));
    const concurrent = await Promise.all(xs.map((x) => call(softmax!, "softmax", { x }, {})));
    concurrent.forEach((y, i) => {
      expect(y.shape).toEqual(xs[i].shape);
      expect(Array.from(y.data)).toEqual(Array.from(sequential[i].data));
    });
  });
});

describe("the adapter's errors", () => {
  it("names the op and lists the supported ones for an op it cannot drive", async () => {
    const path = example("softmax.wgsl");
    for (const op of ["cross_entropy", "softmax_vjp"] as const) {
      const e = await createWgslBackend([{ op, path }]).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).op).toBe(op);
      expect((e as Error).message).toMatch(/cannot drive .*it supports neg, exp, log, relu/);
    }
    const e = await createWgslBackend([
      { op: "softmax", path },
      { op: "softmax", path },
    ]).catch((err: unknown) => err);
    expect((e as Error).message).toMatch(/softmax: invalid argument 'op': given twice/);
  });

  it("names the file it cannot read", async () => {
    const path = join(dir, "missing.wgsl");
    await expect(createWgslBackend([{ op: "softmax", path }])).rejects.toThrow(
      `softmax: invalid argument 'path': cannot read ${path} (ENOENT)`,
    );
  });

  it("says so when there is no WebGPU adapter", async () => {
    const none = { requestAdapter: async () => null } as unknown as GPU;
    const e = await createWgslBackend([{ op: "softmax", path: example("softmax.wgsl") }], {
      gpu: none,
    }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(NoWebGpuAdapterError);
    expect((e as Error).message).toMatch(/^no WebGPU adapter: .*VK_ICD_FILENAMES/);
  });

  it.skipIf(!gpu)(
    "shows Dawn's compiler messages with the line, column and source line",
    async () => {
      const path = shaderFile(
        "typo.wgsl",
        `struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wid: vec3<u32>) {
  y[wid.x] = exp(x[wid.x] - row_max);
}`,
      );
      const e = await createWgslBackend([{ op: "softmax", path }]).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(WgslCompileError);
      const err = e as WgslCompileError;
      expect(err.op).toBe("softmax");
      expect(err.messages).toContainEqual(
        expect.objectContaining({ type: "error", line: 7, column: 29 }),
      );
      expect(err.message).toContain(`${path}:7:29: error: unresolved value 'row_max'`);
      expect(err.message).toContain(`  y[wid.x] = exp(x[wid.x] - row_max);\n${" ".repeat(30)}^`);
    },
  );

  it.skipIf(!gpu)(
    "rejects a shader that breaks the binding convention or its struct, showing the expected declarations",
    async () => {
      // x declared read_write: the convention binds inputs read-only.
      const path = shaderFile(
        "rw-input.wgsl",
        `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(1)
fn main() { x[0] = 1.0; }`,
      );
      const e = await createWgslBackend([{ op: "relu", path }]).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(WgslCompileError);
      expect((e as Error).message).toMatch(/does not fit the 'relu' convention/);
      expect((e as Error).message).toContain(
        "@group(0) @binding(0) var<storage, read> x: array<f32>;",
      );
      // A uniform struct with a field the convention does not fill.
      const big = shaderFile(
        "big-struct.wgsl",
        `struct Params { rows: u32, cols: u32, a: u32, b: u32, extra: f32 }
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(1)
fn main() { y[0] = params.extra; }`,
      );
      await expect(createWgslBackend([{ op: "softmax", path: big }])).rejects.toThrow(
        /does not fit the 'softmax' convention[\s\S]*struct Params \{ rows: u32, cols: u32 \}/,
      );
    },
  );

  it.skipIf(!gpu)("rejects a shader without an entry point named main", async () => {
    const path = shaderFile(
      "no-main.wgsl",
      `@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1)
fn softmax_main() { y[0] = 1.0; }`,
    );
    await expect(createWgslBackend([{ op: "softmax", path }])).rejects.toThrow(
      /does not fit the 'softmax' convention \(entry point `main`/,
    );
  });

  it.skipIf(!gpu)(
    "asks for a readable @workgroup_size where the dispatch rule needs it",
    async () => {
      const path = shaderFile(
        "computed-size.wgsl",
        `@group(0) @binding(1) var<storage, read_write> y: array<f32>;
const WG = 32u;
@compute @workgroup_size(WG * 2u)
fn main() { y[0] = 1.0; }`,
      );
      await expect(createWgslBackend([{ op: "exp", path }])).rejects.toThrow(
        /exp: invalid argument 'shader': .*cannot read @workgroup_size of fn main/,
      );
    },
  );
});

describe("workgroupSize", () => {
  it("reads literals, consts and overrides of the entry point main, skipping comments and other entry points", () => {
    expect(workgroupSize("@compute @workgroup_size(256) fn main() {}")).toEqual([256, 1, 1]);
    expect(workgroupSize("@compute @workgroup_size(8u, 4i) fn main() {}")).toEqual([8, 4, 1]);
    expect(
      workgroupSize("const TILE: u32 = 16u;\n@workgroup_size(TILE, TILE, 1) @compute\nfn main(){}"),
    ).toEqual([16, 16, 1]);
    expect(workgroupSize("override WG = 64;\n@compute @workgroup_size(WG) fn main() {}")).toEqual([
      64, 1, 1,
    ]);
    expect(
      workgroupSize(
        "@compute @workgroup_size(1) fn other() {}\n// @workgroup_size(2)\n@compute /* @workgroup_size(3) */ @workgroup_size(4)\nfn main() {}",
      ),
    ).toEqual([4, 1, 1]);
  });

  it("gives up on computed sizes and shaders without main", () => {
    expect(workgroupSize("@compute @workgroup_size(WG * 2) fn main() {}")).toBeUndefined();
    expect(workgroupSize("@compute @workgroup_size(UNDECLARED) fn main() {}")).toBeUndefined();
    expect(workgroupSize("@compute @workgroup_size(64) fn entry() {}")).toBeUndefined();
    expect(workgroupSize("@compute @workgroup_size(0) fn main() {}")).toBeUndefined();
  });
});
