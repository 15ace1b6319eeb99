/**
 * Raw WGSL shader files as a backend: `createWgslBackend([{ op: "softmax", path }])` gives a
 * float32 Backend whose softmax runs that shader, so a kernel author can check one .wgsl file
 * against the laws without writing any TypeScript (examples/README.md has the convention).
 *
 * Convention, per op family (WGSL_OPS below is the single source of truth):
 * - bindings: `@group(0) @binding(i)`, the op's inputs in the contract's order as read-only
 *   storage `array<f32>`, then the output as read_write storage `array<f32>`, then a uniform
 *   struct of sizes and attributes; entry point `main`;
 * - dispatch: elementwise ops ceil(n / threads per workgroup) workgroups, row-wise ops one
 *   workgroup per row, matmul a grid over the output with the tile read from @workgroup_size;
 *   a grid longer than 65535 workgroups folds into y (the shader flattens it, see the README).
 *
 * Each call uploads its inputs, records one dispatch and reads the output back; buffers come from
 * and return to the built-in backend's pool. The output buffer starts as NaN, so an element the
 * shader never writes reads back as NaN rather than as a plausible 0. The pipeline is compiled
 * once, when the backend is created. float32 only, forward ops only (no `_vjp`).
 */
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { Backend, Kernels, OpName, ToleranceOverrides } from "../engine/contract.ts";
import { InvalidArgumentError } from "../engine/errors.ts";
import { sizeOf, type Tensor } from "../engine/tensor.ts";
import {
  type AdapterInfo,
  createWebGpuBackend,
  SWIFTSHADER_ICD,
  type WebGpuOptions,
} from "../engine/webgpu/index.ts";
import { f32, type GpuRuntime } from "../engine/webgpu/runtime.ts";

/** One shader file and the op it implements. */
export interface WgslShader {
  op: OpName;
  path: string;
}

export interface WgslBackendOptions extends WebGpuOptions {
  /** Per-op budgets the author declares instead of the defaults (printed with every failure). */
  tolerances?: ToleranceOverrides;
}

export interface WgslBackend extends Backend {
  readonly adapterInfo: AdapterInfo;
  dispose(): void;
}

/** A field of the uniform struct: a u32, or an f32 attribute. */
type Field = readonly [name: string, type: "u32" | "f32"];

type Family = "elementwise" | "rows" | "matmul";

interface OpSpec {
  family: Family;
  /** Storage inputs in binding order (the contract's input names). */
  inputs: readonly string[];
  /** The uniform struct after the output binding, in order. */
  fields: readonly Field[];
}

const N: Field = ["n", "u32"];
const elementwise = (...attrs: Field[]): OpSpec => ({
  family: "elementwise",
  inputs: ["x"],
  fields: [N, ...attrs],
});
const rows: OpSpec = {
  family: "rows",
  inputs: ["x"],
  fields: [
    ["rows", "u32"],
    ["cols", "u32"],
  ],
};

/** Every op the adapter can drive, with its binding convention. */
export const WGSL_OPS = {
  neg: elementwise(),
  exp: elementwise(),
  log: elementwise(),
  relu: elementwise(),
  leaky_relu: elementwise(["alpha", "f32"]),
  sigmoid: elementwise(),
  tanh: elementwise(),
  gelu: elementwise(),
  silu: elementwise(),
  softmax: rows,
  log_softmax: rows,
  logsumexp: rows,
  matmul: {
    family: "matmul",
    inputs: ["a", "b"],
    fields: [
      ["m", "u32"],
      ["k", "u32"],
      ["n", "u32"],
      ["batch", "u32"],
    ],
  },
} as const satisfies { [O in OpName]?: OpSpec };

export type WgslOp = keyof typeof WGSL_OPS;

const isWgslOp = (op: string): op is WgslOp => Object.hasOwn(WGSL_OPS, op);

/** The WGSL struct an op's shader declares for its uniform binding, for docs and errors. */
export function wgslConvention(op: WgslOp): string {
  const spec: OpSpec = WGSL_OPS[op];
  const lines = spec.inputs.map(
    (name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`,
  );
  const k = spec.inputs.length;
  const fields = spec.fields.map(([name, type]) => `${name}: ${type}`).join(", ");
  return [
    `struct Params { ${fields} }`,
    ...lines,
    `@group(0) @binding(${k}) var<storage, read_write> y: array<f32>;`,
    `@group(0) @binding(${k + 1}) var<uniform> params: Params;`,
  ].join("\n");
}

/** One line of Dawn's compilation messages, with the position in the shader file. */
export interface WgslMessage {
  type: GPUCompilationMessageType;
  line: number;
  column: number;
  message: string;
}

/** A shader that does not compile or does not fit its op's convention: `messages` hold Dawn's
 * diagnostics with line numbers (empty when the shader compiled but breaks the convention). */
export class WgslCompileError extends InvalidArgumentError {
  constructor(
    op: string,
    readonly path: string,
    readonly messages: readonly WgslMessage[],
    reason: string,
  ) {
    super(op, "shader", reason);
  }
}

/** No WebGPU adapter on this machine: nothing can run a shader. */
export class NoWebGpuAdapterError extends Error {
  constructor(reason: string) {
    super(`no WebGPU adapter: ${reason}`);
    this.name = "NoWebGpuAdapterError";
  }
}

// GPUShaderStage.COMPUTE, spelled out so that this module loads before Dawn installs the globals.
const COMPUTE = 0x4;
const MAX_GROUPS = 65535;

/** `path:line:col: type: message`, then the source line and a caret under the column. */
function formatMessages(path: string, source: string, messages: readonly WgslMessage[]): string {
  const lines = source.split("\n");
  return messages
    .map(({ type, line, column, message }) => {
      const head = `${path}:${line}:${column}: ${type}: ${message}`;
      const text = lines[line - 1];
      if (text === undefined || column < 1) return head;
      return `${head}\n  ${text}\n  ${" ".repeat(column - 1)}^`;
    })
    .join("\n");
}

/** WGSL with comments blanked out (same length, so offsets still match). */
function stripComments(source: string): string {
  return source.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "));
}

/**
 * The @workgroup_size of the entry point `main`, each dimension an integer literal or a
 * `const`/`override` with a literal default.
 */
export function workgroupSize(source: string): [number, number, number] | undefined {
  const code = stripComments(source);
  const attrs = /((?:@\w+(?:\s*\([^)]*\))?\s*)+)fn\s+main\s*\(/.exec(code)?.[1];
  const args = attrs && /@workgroup_size\s*\(([^)]*)\)/.exec(attrs)?.[1];
  if (!args) return undefined;
  const dims = args
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((expr) => {
      const literal = /^(\d+)[ui]?$/.exec(expr);
      if (literal) return Number(literal[1]);
      if (!/^\w+$/.test(expr)) return Number.NaN;
      const decl = new RegExp(
        `\\b(?:const|override)\\s+${expr}\\s*(?::\\s*\\w+\\s*)?=\\s*(\\d+)[ui]?\\s*;`,
      );
      const m = decl.exec(code);
      return m ? Number(m[1]) : Number.NaN;
    });
  if (dims.length === 0 || dims.length > 3 || dims.some((d) => !(d >= 1))) return undefined;
  return [dims[0], dims[1] ?? 1, dims[2] ?? 1];
}

/** [x, y] workgroups covering `groups`, folded into y past WebGPU's 65535 per dimension. */
function fold(groups: number): [number, number] {
  if (groups <= MAX_GROUPS) return [Math.max(1, groups), 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y];
}

interface Compiled {
  op: WgslOp;
  path: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** @workgroup_size of `main`, where the dispatch rule needs it. */
  size: [number, number, number];
}

/** Reads each shader file, rejecting unsupported or repeated ops before any device exists. */
async function readShaders(
  shaders: readonly WgslShader[],
): Promise<{ op: WgslOp; path: string; source: string }[]> {
  const seen = new Map<string, string>();
  const out: { op: WgslOp; path: string; source: string }[] = [];
  for (const { op, path } of shaders) {
    if (!isWgslOp(op)) {
      const why = op.endsWith("_vjp") ? "gradients (_vjp) are not supported" : "not supported";
      throw new InvalidArgumentError(
        op,
        "op",
        `the WGSL adapter cannot drive '${op}' (${why}); it supports ${Object.keys(WGSL_OPS).join(", ")}`,
      );
    }
    const earlier = seen.get(op);
    if (earlier !== undefined) {
      throw new InvalidArgumentError(op, "op", `given twice (${earlier} and ${path})`);
    }
    seen.set(op, path);
    let source: string;
    try {
      source = await readFile(path, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InvalidArgumentError(op, "path", `cannot read ${path} (${code ?? String(e)})`);
    }
    out.push({ op, path, source });
  }
  return out;
}

/** Bytes of the uniform buffer: the struct's 4-byte fields, padded to 16 as WGSL lays it out. */
const uniformBytes = (spec: OpSpec): number => Math.ceil(spec.fields.length / 4) * 16;

/** The explicit layout of the convention: a shader may leave any of its bindings unused. */
function layoutFor(device: GPUDevice, spec: OpSpec): GPUBindGroupLayout {
  const entries: GPUBindGroupLayoutEntry[] = spec.inputs.map((_, binding) => ({
    binding,
    visibility: COMPUTE,
    buffer: { type: "read-only-storage" },
  }));
  const k = spec.inputs.length;
  entries.push({ binding: k, visibility: COMPUTE, buffer: { type: "storage" } });
  // Sized, so that a shader whose struct outgrows the convention fails here, not at a dispatch.
  entries.push({
    binding: k + 1,
    visibility: COMPUTE,
    buffer: { type: "uniform", minBindingSize: uniformBytes(spec) },
  });
  return device.createBindGroupLayout({ entries });
}

async function compile(
  device: GPUDevice,
  op: WgslOp,
  path: string,
  source: string,
): Promise<Compiled> {
  const spec: OpSpec = WGSL_OPS[op];
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ label: path, code: source });
  const info = await module.getCompilationInfo();
  await device.popErrorScope();
  const messages: WgslMessage[] = info.messages.map((m) => ({
    type: m.type,
    line: m.lineNum,
    column: m.linePos,
    message: m.message,
  }));
  if (messages.some((m) => m.type === "error")) {
    const reason = `${path} does not compile:\n${formatMessages(path, source, messages)}`;
    throw new WgslCompileError(op, path, messages, reason);
  }
  const size = workgroupSize(source);
  if (!size && spec.family !== "rows") {
    throw new WgslCompileError(
      op,
      path,
      [],
      `${path}: cannot read @workgroup_size of fn main (use integer literals or a const), ` +
        `which the ${spec.family} dispatch rule needs`,
    );
  }
  const layout = layoutFor(device, spec);
  try {
    const pipeline = await device.createComputePipelineAsync({
      label: path,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: "main" },
    });
    return { op, path, pipeline, layout, size: size ?? [1, 1, 1] };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new WgslCompileError(
      op,
      path,
      [],
      `${path} does not fit the '${op}' convention (entry point \`main\`, bindings):\n` +
        `${message}\nexpected:\n${wgslConvention(op)}`,
    );
  }
}

/** What one call binds and dispatches: storage inputs, uniform values, output length, grid. */
interface Plan {
  inputs: Float32Array[];
  params: readonly number[];
  shape: number[];
  groups: [number, number, number];
}

function plan(c: Compiled, inputs: Record<string, Tensor>, attrs: Record<string, unknown>): Plan {
  const spec: OpSpec = WGSL_OPS[c.op];
  const data = spec.inputs.map((name) => inputs[name].data as Float32Array);
  const attrValues = spec.fields.slice(1).map(([name]) => Number(attrs[name]));
  if (spec.family === "elementwise") {
    const x = inputs.x;
    const n = x.data.length;
    const [gx, gy] = fold(Math.ceil(n / (c.size[0] * c.size[1] * c.size[2])));
    return { inputs: data, params: [n, ...attrValues], shape: [...x.shape], groups: [gx, gy, 1] };
  }
  if (spec.family === "rows") {
    const x = inputs.x;
    const cols = x.shape.length === 0 ? 1 : x.shape[x.shape.length - 1];
    const count = sizeOf(x.shape.slice(0, -1));
    const shape = c.op === "logsumexp" ? x.shape.slice(0, -1) : [...x.shape];
    const [gx, gy] = fold(count);
    return { inputs: data, params: [count, cols], shape, groups: [gx, gy, 1] };
  }
  const { a, b } = inputs;
  const r = a.shape.length;
  const [m, k] = a.shape.slice(r - 2);
  const n = b.shape[r - 1];
  const batch = sizeOf(a.shape.slice(0, r - 2));
  const groups: [number, number, number] = [
    Math.ceil(n / c.size[0]),
    Math.ceil(m / c.size[1]),
    Math.ceil(batch / c.size[2]),
  ];
  if (groups.some((g) => g > MAX_GROUPS)) {
    throw new RangeError(`${c.path}: matmul grid [${groups}] exceeds 65535 workgroups`);
  }
  return {
    inputs: data,
    params: [m, k, n, batch],
    shape: [...a.shape.slice(0, r - 2), m, n],
    groups,
  };
}

/**
 * One call: upload, one dispatch, one readback. The built-in backend's runtime lends its pooled
 * buffers (creating and destroying a buffer per call costs SwiftShader about 4 ms) and does the
 * readback; the dispatch is ours, for the pipeline's explicit layout. Everything up to the
 * readback is synchronous, as the runtime requires (runtime.ts).
 */
async function run(rt: GpuRuntime, c: Compiled, p: Plan): Promise<Tensor> {
  const count = sizeOf(p.shape);
  if (count === 0) return { shape: p.shape, data: new Float32Array(0) };
  const spec: OpSpec = WGSL_OPS[c.op];
  const device = rt.device;
  try {
    // Bound at the sizes asked for, so that arrayLength() sees the tensor, not the pool's slack.
    const bindings: [GPUBuffer, number][] = p.inputs.map((d) => [
      rt.upload(d),
      Math.max(4, d.byteLength),
    ]);
    const out = rt.upload(new Float32Array(count).fill(Number.NaN));
    bindings.push([out, 4 * count]);
    const values = p.params.map((v, i) => (spec.fields[i][1] === "f32" ? f32(v) : v));
    bindings.push([rt.params(values), uniformBytes(spec)]);
    device.pushErrorScope("validation");
    const bindGroup = device.createBindGroup({
      label: c.path,
      layout: c.layout,
      entries: bindings.map(([buffer, size], binding) => ({ binding, resource: { buffer, size } })),
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass({ label: c.path });
    pass.setPipeline(c.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...p.groups);
    pass.end();
    device.queue.submit([encoder.finish()]);
    const rejected = device.popErrorScope();
    const data = await rt.read(out, count);
    const error = await rejected;
    if (error) throw new Error(`${c.path}: WebGPU rejected the dispatch: ${error.message}`);
    return { shape: p.shape, data };
  } catch (e) {
    rt.discard();
    throw e;
  }
}

/**
 * A float32 backend running each WGSL shader file as the kernel of its op. Throws
 * InvalidArgumentError for an unsupported op, an unreadable file or a shader that does not
 * compile (WgslCompileError, with Dawn's messages and line numbers), and NoWebGpuAdapterError when
 * the machine has no adapter. `dispose()` destroys the device: call it, or Node will not exit.
 */
export async function createWgslBackend(
  shaders: readonly WgslShader[],
  options: WgslBackendOptions = {},
): Promise<WgslBackend> {
  const sources = await readShaders(shaders);
  // The built-in WebGPU backend owns the Dawn/SwiftShader setup; only its device is used here.
  const gpu = await createWebGpuBackend(options);
  if (!gpu) {
    throw new NoWebGpuAdapterError(
      `Dawn found none, so the WGSL shaders cannot run (on Linux without a GPU: apt-get install ` +
        `chromium libvulkan1, for SwiftShader at ${SWIFTSHADER_ICD}; or set VK_ICD_FILENAMES)`,
    );
  }
  const rt = gpu.runtime;
  const device = rt.device;
  const compiled: Compiled[] = [];
  try {
    for (const s of sources) compiled.push(await compile(device, s.op, s.path, s.source));
  } catch (e) {
    gpu.dispose();
    throw e;
  }
  const kernels: Record<string, unknown> = {};
  for (const c of compiled) {
    kernels[c.op] = (inputs: Record<string, Tensor>, attrs: Record<string, unknown>) =>
      run(rt, c, plan(c, inputs, attrs));
  }
  return {
    name: options.name ?? `wgsl(${compiled.map((c) => `${c.op}=${basename(c.path)}`).join(", ")})`,
    dtype: "float32",
    kernels: kernels as Kernels,
    tolerances: options.tolerances,
    adapterInfo: gpu.adapterInfo,
    dispose: () => gpu.dispose(),
  };
}
