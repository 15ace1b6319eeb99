/**
 * Reductions on the GPU: sum, mean, max and variance along an axis, their gradients, and the
 * reduction of a broadcast gradient back to an operand's shape (used by elementwise.ts).
 *
 * One generic kernel reduces any strided view: output element o reads src at
 * offset(o) + offset(r) for r over the reduced index space, each offset decoded through
 * shapes and strides. Short runs, and any runs when there are many outputs, get a thread each;
 * otherwise a workgroup each (64 threads, then a shared-memory tree), and a few very long runs
 * are split into chunks whose partial results a second pass reduces.
 * Any of these summation orders meets the budget n·u·Σ|x| (tolerance.ts).
 */
import type { ReduceAttrs, VarianceAttrs } from "../contract.ts";
import { sizeOf, stridesOf } from "../tensor.ts";
import {
  countOf,
  FLAT_INDEX,
  f32,
  type GpuKernels,
  type GpuRuntime,
  MAIN_1D,
  type Operand,
} from "./runtime.ts";
import { WGSL_MATH } from "./wgsl-math.ts";

/** A strided index space: sizes and element strides, outermost first. */
export interface Dims {
  shape: number[];
  strides: number[];
}

type Combine = "sum" | "max";
/** What each element contributes: x, (x − stat[o])² (variance), or x == stat[o] (max ties). */
type Prologue = "id" | "sqdev" | "eq";

interface ReduceSpec {
  combine: Combine;
  prologue?: Prologue;
  /** Per-output statistic the prologue reads (the mean, the max). */
  stat?: GPUBuffer;
  /** The result is divided by this (1: not at all). */
  divisor?: number;
}

/** Runs up to this long get one thread each, as do all runs when there are this many outputs
 * (enough threads to fill the device without the barriers of a tree, which a software adapter
 * such as SwiftShader runs as fiber switches: 20× slower on a [1024, 1024] sum). The same on
 * every adapter, not split by `rt.software` as the row and norm kernels are: only SwiftShader
 * has measured this choice, and a GPU's own threshold waits for a measurement on one. */
const THREAD_RUN = 64;
const MANY_OUTPUTS = 1024;
/** Threads per workgroup of the tree reduction (6 barrier rounds). */
const GROUP = 64;
/** Elements per workgroup when a few long runs are split into chunks. */
const CHUNK = 4096;

/** Drops size-1 dimensions and merges neighbours that are contiguous in memory. */
function collapse(d: Dims): Dims {
  const shape: number[] = [];
  const strides: number[] = [];
  d.shape.forEach((size, i) => {
    if (size === 1) return;
    const last = shape.length - 1;
    if (last >= 0 && strides[last] === d.strides[i] * size) {
      shape[last] *= size;
      strides[last] = d.strides[i];
    } else {
      shape.push(size);
      strides.push(d.strides[i]);
    }
  });
  return { shape, strides };
}

function reduceWgsl(
  spec: Required<Pick<ReduceSpec, "combine">> & { prologue: Prologue },
  mode: "thread" | "group",
): string {
  const combine =
    spec.combine === "sum"
      ? "return a + b;"
      : // NaN wins wherever it is (like torch.amax); otherwise the larger, the first on ties.
        "if (is_nan(a)) { return a; } if (is_nan(b)) { return b; } return select(a, b, m_greater(b, a));";
  // −0 is the identity of IEEE addition: a run of −0 sums to −0, as a sequential sum gives.
  const identity = spec.combine === "sum" ? "bitcast<f32>(0x80000000u)" : "-pos_inf()";
  const prologue = {
    id: "return v;",
    sqdev: "let d = v - stat[o]; return d * d;",
    eq: "return select(0.0, 1.0, m_same(v, stat[o]));",
  }[spec.prologue];
  const statBinding =
    spec.prologue === "id" ? "" : "@group(0) @binding(3) var<storage, read> stat: array<f32>;";
  const common = `${WGSL_MATH}
${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
// dims: outputs, run length, chunk, chunks, divisor bits, kept rank, reduced rank, then the
// kept shape and strides, then the reduced shape and strides.
@group(0) @binding(2) var<storage, read> dims: array<u32>;
${statBinding}
fn offset_of(index: u32, rank: u32, at: u32) -> u32 {
  var rest = index;
  var off = 0u;
  for (var d = rank; d > 0u; d = d - 1u) {
    let size = dims[at + d - 1u];
    off = off + (rest % size) * dims[at + rank + d - 1u];
    rest = rest / size;
  }
  return off;
}
fn kept_offset(o: u32) -> u32 { return offset_of(o, dims[5], 7u); }
fn reduced_offset(r: u32) -> u32 { return offset_of(r, dims[6], 7u + 2u * dims[5]); }
fn combine(a: f32, b: f32) -> f32 { ${combine} }
fn prologue(v: f32, o: u32) -> f32 { ${prologue} }
fn finish(acc: f32) -> f32 {
  if (dims[4] == 0x3f800000u) { return acc; }
  return acc / bitcast<f32>(dims[4]);
}`;
  if (mode === "thread") {
    return `${common}
${MAIN_1D}
  // One thread per (output, chunk): i = o·chunks + c, summing its chunk in order.
  let chunks = dims[3];
  if (i >= dims[0] * chunks) { return; }
  let o = i / chunks;
  let base = kept_offset(o);
  let start = (i % chunks) * dims[2];
  let end = min(start + dims[2], dims[1]);
  var acc = ${identity};
  for (var r = start; r < end; r = r + 1u) {
    acc = combine(acc, prologue(src[base + reduced_offset(r)], o));
  }
  dst[i] = select(acc, finish(acc), chunks == 1u);
}`;
  }
  return `${common}
var<workgroup> part: array<f32, ${GROUP}>;
@compute @workgroup_size(${GROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  // One workgroup per (output, chunk): g = o·chunks + c.
  let g = wid.y * nwg.x + wid.x;
  let chunks = dims[3];
  let live = g < dims[0] * chunks;
  let o = g / chunks;
  var acc = ${identity};
  if (live) {
    let base = kept_offset(o);
    let start = (g % chunks) * dims[2];
    let end = min(start + dims[2], dims[1]);
    for (var r = start + lid.x; r < end; r = r + ${GROUP}u) {
      acc = combine(acc, prologue(src[base + reduced_offset(r)], o));
    }
  }
  part[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${GROUP / 2}u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { part[lid.x] = combine(part[lid.x], part[lid.x + s]); }
    workgroupBarrier();
  }
  if (live && lid.x == 0u) {
    dst[g] = select(part[0], finish(part[0]), chunks == 1u);
  }
}`;
}

/**
 * Records the reduction of `src` over `reduced` for every index of `kept`, into a new buffer of
 * sizeOf(kept.shape) floats in row-major order of `kept`. Part of the caller's kernel call.
 */
export function reduceStrided(
  rt: GpuRuntime,
  src: GPUBuffer,
  kept: Dims,
  reduced: Dims,
  spec: ReduceSpec,
): GPUBuffer {
  const k = collapse(kept);
  const r = collapse(reduced);
  const outputs = sizeOf(k.shape);
  const run = sizeOf(r.shape);
  const prologue = spec.prologue ?? "id";
  const divisor = spec.divisor ?? 1;
  const mode = run <= THREAD_RUN || outputs >= MANY_OUTPUTS ? "thread" : "group";
  // A few long runs: several workgroups per run, then a second pass over the partial results.
  const chunks =
    mode === "group" && outputs < 64 && run > 2 * CHUNK ? Math.min(256, Math.ceil(run / CHUNK)) : 1;
  const chunk = Math.ceil(run / chunks);
  const dims = new Uint32Array(7 + 2 * (k.shape.length + r.shape.length));
  dims.set([outputs, run, chunk, chunks, 0, k.shape.length, r.shape.length]);
  new Float32Array(dims.buffer, 16, 1)[0] = divisor;
  dims.set([...k.shape, ...k.strides, ...r.shape, ...r.strides], 7);
  const dst = rt.alloc(4 * outputs * chunks);
  const bindings = [src, dst, rt.upload(dims)];
  if (prologue !== "id") bindings.push(spec.stat!);
  rt.dispatch(
    `reduce:${spec.combine}:${prologue}:${mode}`,
    () => reduceWgsl({ combine: spec.combine, prologue }, mode),
    bindings,
    mode === "thread" ? rt.grid(outputs * chunks) : rt.grid(outputs * chunks, 1),
  );
  if (chunks === 1) return dst;
  // Second pass over the partial results: [outputs, chunks], reduced along chunks.
  return reduceStrided(
    rt,
    dst,
    { shape: [outputs], strides: [chunks] },
    { shape: [chunks], strides: [1] },
    { combine: spec.combine, divisor },
  );
}

/** The axis layout [outer, n, inner] as kept and reduced index spaces. */
function axisDims(shape: readonly number[], axis: number): { kept: Dims; reduced: Dims } {
  const n = shape[axis];
  const inner = sizeOf(shape.slice(axis + 1));
  const outer = sizeOf(shape.slice(0, axis));
  return {
    kept: { shape: [outer, inner], strides: [n * inner, 1] },
    reduced: { shape: [n], strides: [inner] },
  };
}

/**
 * The sum of a gradient `g` of shape `out` over the dimensions that broadcasting stretched from
 * `shape` (leading ones included): the gradient of the operand of that shape. Returns `g`
 * itself where nothing was broadcast. Part of the caller's kernel call.
 */
export function reduceToShape(
  rt: GpuRuntime,
  g: GPUBuffer,
  out: readonly number[],
  shape: readonly number[],
): GPUBuffer {
  if (sizeOf(shape) === sizeOf(out)) return g;
  const strides = stridesOf(out);
  const lead = out.length - shape.length;
  const kept: Dims = { shape: [], strides: [] };
  const reduced: Dims = { shape: [], strides: [] };
  out.forEach((size, d) => {
    const own = d < lead ? 1 : shape[d - lead];
    const target = own === size ? kept : reduced;
    target.shape.push(size);
    target.strides.push(strides[d]);
  });
  return reduceStrided(rt, g, kept, reduced, { combine: "sum" });
}

type SpreadMode = "sum" | "mean" | "variance" | "max";

/** dx for a reduction's gradient: one thread per input element, o its output position. */
function spreadWgsl(mode: SpreadMode): string {
  const inputs = {
    sum: ["dy"],
    mean: ["dy"],
    variance: ["x", "dy", "stat"],
    max: ["x", "dy", "stat", "ties"],
  }[mode];
  const body = {
    sum: "dx[i] = dy[o];",
    mean: "dx[i] = dy[o] / p.denom;",
    // ∂var/∂xᵢ = 2(xᵢ − mean)/(n or n − 1); the mean's own dependence on x sums to zero.
    variance: "dx[i] = ((2.0 * (x[i] - stat[o])) * dy[o]) / p.denom;",
    // Split evenly among tied maxima; a NaN max is not differentiable: NaN for the whole run.
    max: `let m = stat[o];
  if (is_nan(m)) { dx[i] = quiet_nan(); } else { dx[i] = select(0.0, dy[o] / ties[o], m_same(x[i], m)); }`,
  }[mode];
  const decl = inputs
    .map((name, b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<f32>;`)
    .join("\n");
  return `${WGSL_MATH}
${FLAT_INDEX}
struct P { total: u32, n: u32, inner: u32, denom: f32 }
${decl}
@group(0) @binding(${inputs.length}) var<storage, read_write> dx: array<f32>;
@group(0) @binding(${inputs.length + 1}) var<uniform> p: P;
${MAIN_1D}
  if (i >= p.total) { return; }
  let o = (i / (p.n * p.inner)) * p.inner + i % p.inner;
  ${body}
}`;
}

export function reductionKernels(rt: GpuRuntime): GpuKernels {
  const outShape = (x: Operand, axis: number) => x.shape.filter((_, d) => d !== axis);

  /** Reduces x along `axis` on the GPU (the buffer is part of the current kernel call). */
  const along = (xs: GPUBuffer, x: Operand, axis: number, spec: ReduceSpec): GPUBuffer => {
    const { kept, reduced } = axisDims(x.shape, axis);
    return reduceStrided(rt, xs, kept, reduced, spec);
  };

  const forward =
    (spec: (x: Operand, attrs: VarianceAttrs) => ReduceSpec) =>
    async ({ x }: { x: Operand }, attrs: ReduceAttrs | VarianceAttrs) => {
      const out = outShape(x, attrs.axis);
      const xs = rt.input(x);
      const y = along(xs, x, attrs.axis, spec(x, attrs as VarianceAttrs));
      return rt.result(y, out);
    };

  /** Records the spread kernel; `bindings` are the inputs spreadWgsl(mode) declares. */
  const spread = (
    mode: SpreadMode,
    x: Operand,
    axis: number,
    denom: number,
    inputs: GPUBuffer[],
  ) => {
    const total = countOf(x);
    const n = x.shape[axis];
    const inner = sizeOf(x.shape.slice(axis + 1));
    const dx = rt.alloc(4 * total);
    rt.dispatch(
      `spread:${mode}`,
      () => spreadWgsl(mode),
      [...inputs, dx, rt.params([total, n, inner, f32(denom)])],
      rt.grid(total),
    );
    return dx;
  };

  const variance = async ({ x }: { x: Operand }, { axis, unbiased }: VarianceAttrs) => {
    const n = x.shape[axis];
    const xs = rt.input(x);
    // Two passes, the mean first, so that a large common offset does not cancel the variance.
    const mean = along(xs, x, axis, { combine: "sum", divisor: n });
    const out = outShape(x, axis);
    const v = along(xs, x, axis, {
      combine: "sum",
      prologue: "sqdev",
      stat: mean,
      divisor: unbiased ? n - 1 : n,
    });
    return rt.result(v, out);
  };

  const grad = (dx: GPUBuffer, x: Operand) => rt.result(dx, x.shape);

  const kernels: GpuKernels = {
    sum: forward(() => ({ combine: "sum" })),
    mean: forward((x, a) => ({ combine: "sum", divisor: x.shape[a.axis] })),
    max: forward(() => ({ combine: "max" })),
    variance,

    sum_vjp: async ({ x, dy }, { axis }) => grad(spread("sum", x, axis, 1, [rt.input(dy)]), x),
    mean_vjp: async ({ x, dy }, { axis }) =>
      grad(spread("mean", x, axis, x.shape[axis], [rt.input(dy)]), x),
    max_vjp: async ({ x, dy }, { axis }) => {
      const xs = rt.input(x);
      const m = along(xs, x, axis, { combine: "max" });
      const ties = along(xs, x, axis, { combine: "sum", prologue: "eq", stat: m });
      return grad(spread("max", x, axis, 1, [xs, rt.input(dy), m, ties]), x);
    },
    variance_vjp: async ({ x, dy }, { axis, unbiased }) => {
      const n = x.shape[axis];
      const xs = rt.input(x);
      const mean = along(xs, x, axis, { combine: "sum", divisor: n });
      return grad(spread("variance", x, axis, unbiased ? n - 1 : n, [xs, rt.input(dy), mean]), x);
    },
  };
  return kernels;
}
