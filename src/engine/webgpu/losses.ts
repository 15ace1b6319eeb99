/**
 * Losses: cross_entropy (class indices or soft targets), nll and mse, with their gradients.
 *
 * cross_entropy and its gradient are each ONE row kernel shared with the softmax family
 * (softmax.ts): pass 1 finds the row's max and Σe^(x − max) online, pass 2 writes the loss
 * (a single word per row for class indices, a second sweep for soft targets) or the gradient
 * g·(softmax·Σt − t). No softmax or log-softmax tensor is ever written to memory.
 *
 * "sum" and "mean" reduce the per-example losses with a second, small pass: reduceStrided from
 * reductions.ts (a workgroup shared-memory tree; any order meets the n·u·Σ|loss| budget). MSE
 * fuses the squared difference into its own first pass: each workgroup sums (p − t)² over a
 * chunk, so the squares are never written out.
 *
 * The upstream gradient of a reduced loss is one number; its per-example share (dy or dy/N) is
 * formed on the host in float32 and uploaded as a single word read with stride 0.
 *
 * cross_entropy_fused is what a training step wants: the loss and its gradient from the same
 * row statistics, one dispatch reading the logits twice and writing the gradient once (12
 * bytes per element, against 16 for cross_entropy then cross_entropy_vjp with class indices;
 * 20 against 32 with soft targets).
 */
import type { LossAttrs, Reduction, Targets } from "../contract.ts";
import type { IndexTensor } from "../tensor.ts";
import { reduceStrided } from "./reductions.ts";
import {
  countOf,
  type Either,
  FLAT_INDEX,
  f32,
  type GpuKernels,
  type GpuRuntime,
  isGpuTensor,
  MAIN_1D,
  type Operand,
  WG,
} from "./runtime.ts";
import { recordRows } from "./softmax.ts";

/** Elements each thread squares and sums in the fused MSE pass (16 KiB read per workgroup). */
const MSE_PER_THREAD = 16;

/** Class indices (int32) rather than soft targets, on the host or the device. */
const isIndices = (t: Either<Targets>): boolean =>
  isGpuTensor(t) ? t.dtype === "int32" : t.data instanceof Int32Array;

/** The upstream gradient of a mean over `count` examples, dy / count, on the device. */
const MEAN_UPSTREAM_WGSL = `
struct P { count: f32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(1)
fn main() {
  g[0] = dy[0] / p.count;
}`;

/** −logp[i, t_i], one thread per example. */
const NLL_WGSL = `${FLAT_INDEX}
struct P { rows: u32, n: u32 }
@group(0) @binding(0) var<storage, read> logp: array<f32>;
@group(0) @binding(1) var<storage, read> tgt: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${MAIN_1D}
  if (i >= p.rows) { return; }
  out[i] = -logp[i * p.n + u32(tgt[i])];
}`;

/** −g at the target, 0 elsewhere: one thread per element of logp. */
const NLL_VJP_WGSL = `${FLAT_INDEX}
struct P { total: u32, n: u32, gstride: u32 }
@group(0) @binding(0) var<storage, read> tgt: array<i32>;
@group(0) @binding(1) var<storage, read> gs: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${MAIN_1D}
  if (i >= p.total) { return; }
  let row = i / p.n;
  out[i] = select(0.0, -gs[row * p.gstride], i % p.n == u32(tgt[row]));
}`;

/** (p − t)², one thread per element. */
const MSE_NONE_WGSL = `${FLAT_INDEX}
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> tgt: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${MAIN_1D}
  if (i >= p.n) { return; }
  let d = pred[i] - tgt[i];
  out[i] = d * d;
}`;

/**
 * Σ(p − t)² over chunks of WG·MSE_PER_THREAD elements, one workgroup each (interleaved reads,
 * then a shared-memory tree). A single workgroup finishes the job itself (÷ divisor); more
 * leave partial sums for reduceStrided.
 */
const MSE_PARTIAL_WGSL = `
struct P { n: u32, divisor: f32 }
@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> tgt: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = wid.y * nwg.x + wid.x;
  let start = g * ${WG * MSE_PER_THREAD}u;
  let end = min(start + ${WG * MSE_PER_THREAD}u, p.n);
  var acc = 0.0;
  for (var i = start + lid.x; i < end; i = i + ${WG}u) {
    let d = pred[i] - tgt[i];
    acc = acc + d * d;
  }
  part[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { part[lid.x] = part[lid.x] + part[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u && start < p.n) {
    out[g] = select(part[0], part[0] / p.divisor, nwg.x * nwg.y == 1u);
  }
}`;

/** 2(p − t)·g, one thread per element. */
const MSE_VJP_WGSL = `${FLAT_INDEX}
struct P { n: u32, gstride: u32 }
@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> tgt: array<f32>;
@group(0) @binding(2) var<storage, read> gs: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
${MAIN_1D}
  if (i >= p.n) { return; }
  out[i] = (2.0 * (pred[i] - tgt[i])) * gs[i * p.gstride];
}`;

export function lossKernels(rt: GpuRuntime): GpuKernels {
  /**
   * The per-example losses reduced as asked: themselves, or their sum or mean, by a second
   * pass on the GPU. Part of the caller's kernel call.
   */
  const reduce = (losses: GPUBuffer, n: number, reduction: Reduction): GPUBuffer =>
    reduction === "none"
      ? losses
      : reduceStrided(
          rt,
          losses,
          { shape: [], strides: [] },
          { shape: [n], strides: [1] },
          { combine: "sum", divisor: reduction === "mean" ? n : 1 },
        );

  /** The upstream gradient each example sees, as a buffer and the stride to read it with. */
  const upstream = (dy: Operand, reduction: Reduction, count: number): [GPUBuffer, number] => {
    if (reduction === "none") return [rt.input(dy), 1];
    if (isGpuTensor(dy)) {
      // A device scalar stays there: its share of the mean is computed where it lives.
      if (reduction === "sum") return [rt.input(dy), 0];
      const g = rt.alloc(4);
      rt.dispatch(
        "loss:mean_upstream",
        () => MEAN_UPSTREAM_WGSL,
        [rt.input(dy), g, rt.params([f32(count)])],
        [1],
      );
      return [g, 0];
    }
    const g = reduction === "sum" ? dy.data[0] : Math.fround(dy.data[0] / count);
    return [rt.upload(Float32Array.of(g)), 0];
  };

  const lossShape = (shape: readonly number[], reduction: Reduction) =>
    reduction === "none" ? [...shape] : [];

  /** Reads the loss, ending the call; an empty batch has no GPU work at all. */
  const finish = async (
    y: GPUBuffer | undefined,
    shape: readonly number[],
    reduction: Reduction,
  ) => {
    const out = lossShape(shape, reduction);
    if (!y) {
      // Σ over nothing is 0; its mean 0/0.
      const empty = reduction === "none" ? [] : [reduction === "sum" ? 0 : Number.NaN];
      return { shape: out, data: Float32Array.from(empty) };
    }
    return rt.result(y, out);
  };

  const crossEntropy = async (
    { logits, target }: { logits: Operand; target: Either<Targets> },
    { reduction }: LossAttrs,
  ) => {
    const [n, classes] = logits.shape;
    if (n === 0) return finish(undefined, [n], reduction);
    const x = rt.input(logits);
    const t = rt.input(target);
    const losses = recordRows(rt, isIndices(target) ? "ce_index" : "ce_soft", x, n, classes, [t]);
    return finish(reduce(losses, n, reduction), [n], reduction);
  };

  const crossEntropyVjp = async (
    { logits, target, dy }: { logits: Operand; target: Either<Targets>; dy: Operand },
    { reduction }: LossAttrs,
  ) => {
    const [n, classes] = logits.shape;
    const shape = [...logits.shape];
    if (n === 0 || classes === 0) return { shape, data: new Float32Array(0) };
    const x = rt.input(logits);
    const t = rt.input(target);
    const [g, gstride] = upstream(dy, reduction, n);
    const kind = isIndices(target) ? "ce_vjp_index" : "ce_vjp_soft";
    const dz = recordRows(rt, kind, x, n, classes, [t, g], gstride);
    return rt.result(dz, shape);
  };

  /**
   * Loss and gradient of a training step in one kernel call and one dispatch over the logits
   * (plus the small reduction of the losses): the logits are read twice (the online pass, then
   * the outputs), not three times as by cross_entropy followed by cross_entropy_vjp.
   */
  const crossEntropyFused = async (
    { logits, target }: { logits: Operand; target: Either<Targets> },
    { reduction }: LossAttrs,
  ) => {
    const [n, classes] = logits.shape;
    const shape = [...logits.shape];
    if (n === 0 || classes === 0) {
      const empty = await finish(undefined, [n], reduction);
      return { loss: empty, dlogits: { shape, data: new Float32Array(0) } };
    }
    const x = rt.input(logits);
    const t = rt.input(target);
    // ∂(reduced loss)/∂loss_i: 1 for "none" (the sum of the losses) and "sum", 1/N for "mean".
    const g = rt.upload(Float32Array.of(reduction === "mean" ? Math.fround(1 / n) : 1));
    const losses = rt.alloc(4 * n);
    const kind = isIndices(target) ? "ce_fused_index" : "ce_fused_soft";
    const dz = recordRows(rt, kind, x, n, classes, [t, g], 0, losses);
    const y = reduce(losses, n, reduction);
    const [loss, dlogits] = await rt.results([
      [y, lossShape([n], reduction)],
      [dz, shape],
    ]);
    return { loss, dlogits };
  };

  const nll = async (
    { logp, target }: { logp: Operand; target: Either<IndexTensor> },
    { reduction }: LossAttrs,
  ) => {
    const [n, classes] = logp.shape;
    if (n === 0) return finish(undefined, [n], reduction);
    const losses = rt.alloc(4 * n);
    rt.dispatch(
      "nll",
      () => NLL_WGSL,
      [rt.input(logp), rt.input(target), losses, rt.params([n, classes])],
      rt.grid(n),
    );
    return finish(reduce(losses, n, reduction), [n], reduction);
  };

  const nllVjp = async (
    { logp, target, dy }: { logp: Operand; target: Either<IndexTensor>; dy: Operand },
    { reduction }: LossAttrs,
  ) => {
    const [n, classes] = logp.shape;
    const total = n * classes;
    const shape = [...logp.shape];
    if (total === 0) return { shape, data: new Float32Array(0) };
    const [g, gstride] = upstream(dy, reduction, n);
    const out = rt.alloc(4 * total);
    rt.dispatch(
      "nll_vjp",
      () => NLL_VJP_WGSL,
      [rt.input(target), g, out, rt.params([total, classes, gstride])],
      rt.grid(total),
    );
    return rt.result(out, shape);
  };

  const mse = async (
    { pred, target }: { pred: Operand; target: Operand },
    { reduction }: LossAttrs,
  ) => {
    const n = countOf(pred);
    if (n === 0) return finish(undefined, pred.shape, reduction);
    const p = rt.input(pred);
    const t = rt.input(target);
    if (reduction === "none") {
      const out = rt.alloc(4 * n);
      rt.dispatch("mse:none", () => MSE_NONE_WGSL, [p, t, out, rt.params([n])], rt.grid(n));
      return finish(out, pred.shape, reduction);
    }
    const chunks = Math.ceil(n / (WG * MSE_PER_THREAD));
    const divisor = reduction === "mean" ? n : 1;
    const partial = rt.alloc(4 * chunks);
    rt.dispatch(
      "mse:partial",
      () => MSE_PARTIAL_WGSL,
      [p, t, partial, rt.params([n, f32(divisor)])],
      rt.grid(chunks, 1),
    );
    const y =
      chunks === 1
        ? partial
        : reduceStrided(
            rt,
            partial,
            { shape: [], strides: [] },
            { shape: [chunks], strides: [1] },
            { combine: "sum", divisor },
          );
    return finish(y, pred.shape, reduction);
  };

  const mseVjp = async (
    { pred, target, dy }: { pred: Operand; target: Operand; dy: Operand },
    { reduction }: LossAttrs,
  ) => {
    const n = countOf(pred);
    const shape = [...pred.shape];
    if (n === 0) return { shape, data: new Float32Array(0) };
    const [g, gstride] = upstream(dy, reduction, n);
    const out = rt.alloc(4 * n);
    rt.dispatch(
      "mse_vjp",
      () => MSE_VJP_WGSL,
      [rt.input(pred), rt.input(target), g, out, rt.params([n, gstride])],
      rt.grid(n),
    );
    return rt.result(out, shape);
  };

  return {
    cross_entropy: crossEntropy,
    cross_entropy_vjp: crossEntropyVjp,
    cross_entropy_fused: crossEntropyFused,
    nll,
    nll_vjp: nllVjp,
    mse,
    mse_vjp: mseVjp,
  };
}
