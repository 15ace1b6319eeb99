/**
 * The softmax family on the last axis (softmax, log_softmax, logsumexp and their gradients), and
 * the row kernels cross-entropy shares with it (losses.ts).
 *
 * Every kernel is one dispatch that owns whole rows and makes two passes over each:
 *  1. an *online* max-and-sum: each thread keeps a running max m and s = Σ e^(x − m), rescaling
 *     s by e^(m_old − m_new) when the max grows, so the row is read once (not twice: max, then
 *     sum). The threads of a row merge their (m, s) pairs with
 *     (m, s) ⊕ (m′, s′) = (M, s·e^(m − M) + s′·e^(m′ − M)), M = max(m, m′).
 *  2. the outputs, from the row's (M, S).
 * The threads of a row merge through subgroup shuffles where the device has subgroups (a
 * butterfly inside each subgroup, no barrier; then a shared-memory tree over the row's
 * subgroups, if several: treeWgsl), else through a shared-memory tree over all of them. On
 * SwiftShader (4-wide subgroups) both take the same time; on a GPU with 32-wide subgroups a
 * 256-thread row needs 3 barriers instead of 8.
 * So each element is read twice and written once: 12 bytes moved per element (16 for the
 * gradients, which also read dy), and two exps per element.
 *
 * A gradient needs one more row statistic, carried through the same pass and the same merge:
 * ⟨dy, e^(x − m)⟩ (rescaled with s: softmax), Σdy (log_softmax), Σt (soft-target
 * cross-entropy).
 *
 * Threads per row (LANES) are chosen from the row length and the row count: a power of
 * two, from 1 (short rows, or rows so many that they fill the device by themselves: a thread
 * per row, 256 rows per workgroup, no tree) to 256 (a few long rows: a workgroup per row),
 * doubled while every thread keeps at least MIN_PER_THREAD elements and the grid is smaller
 * than the device wants (fillFor). Threads of a row read it interleaved (thread l reads l,
 * l + LANES, …) so that neighbouring threads read neighbouring words.
 *
 * Special values follow the reference (src/engine/cpu/softmax.ts), decided on the row max M: a NaN
 * anywhere poisons its row (M is NaN); M = +∞ gives NaN (∞ − ∞) except logsumexp = +∞; a row
 * of −∞ gives NaN (0/0) except logsumexp = −∞. A −∞ entry in a finite row gets exactly 0: the
 * rescale e^(m − M) is never formed where m is −∞ (−∞ − (−∞) would be NaN).
 */
import { sizeOf } from "../tensor.ts";
import { countOf, type GpuKernels, type GpuRuntime, type Operand, WG } from "./runtime.ts";
import { WGSL_MATH } from "./wgsl-math.ts";

/** Fewest elements per thread before a row gets more threads (tuned on SwiftShader). */
const MIN_PER_THREAD = 8;

/**
 * Threads a grid needs to fill the device. A GPU wants hundreds of thousands in flight (an H100
 * keeps 132 × 2048 resident; at 65536 our softmax [4096, 32000] gave each of 16 lanes a
 * 2000-long dependent chain and reached 5 % of copy bandwidth). A software
 * adapter (SwiftShader) runs the 4-wide invocation groups of a workgroup as fibres and switches
 * all of them at every barrier, so the tree's cost grows with rows × lanes × log lanes: it
 * wants as few lanes as keep its cores busy (softmax [1024, 1000] measured at about 40 ms with
 * 1 lane per row, 45 ms with 4, 58 ms with 16, 400 ms with 128).
 */
const fillFor = (rt: GpuRuntime): number => (rt.software ? 4096 : 1 << 20);

/** What a row kernel computes. The cross-entropy kinds are recorded by losses.ts. */
export type RowKind =
  | "softmax"
  | "log_softmax"
  | "logsumexp"
  | "softmax_vjp"
  | "log_softmax_vjp"
  | "logsumexp_vjp"
  | "ce_index"
  | "ce_soft"
  | "ce_vjp_index"
  | "ce_vjp_soft"
  | "ce_fused_index"
  | "ce_fused_soft";

interface RowSpec {
  /** Storage buffers read after x, in binding order: name and element type. */
  inputs: readonly (readonly [string, "f32" | "i32"])[];
  /**
   * The extra statistic A of pass 1: a weighted Σw·e^(x − m) rescaled like s ("scaled"),
   * a plain Σw ("plain"), or none; `weight` is w for element j (a WGSL expression).
   */
  acc: "none" | "scaled" | "plain";
  weight?: string;
  /** One output per row (losses, logsumexp) or per element. */
  perRow: boolean;
  /** A second output, one loss per row (`losses`, bound after the uniforms): the fused kinds. */
  losses?: true;
  /** WGSL run by every live thread after pass 1, with M, S, A, logS, bad, row, base, lane. */
  epilogue: string;
}

/** p_j = e^(x_j − M)/S, by the reciprocal (one division per row): 0 for a −∞ entry. */
const PROB = "exp_le0(x[base + j] - M) * invS";
const NAN_IF_BAD = (v: string) => `select(${v}, quiet_nan(), bad)`;
/** Interleaved walk of this thread's part of the row (pass 2). */
const EACH = (body: string) => `for (var j = lane; j < p.n; j = j + LANES) {\n    ${body}\n  }`;

const SPECS: Record<RowKind, RowSpec> = {
  softmax: {
    inputs: [],
    acc: "none",
    perRow: false,
    epilogue: EACH(`out[base + j] = ${NAN_IF_BAD(PROB)};`),
  },
  // (x − M) − log S: never the log of a probability that underflowed to 0.
  log_softmax: {
    inputs: [],
    acc: "none",
    perRow: false,
    epilogue: EACH(`out[base + j] = ${NAN_IF_BAD("(x[base + j] - M) - logS")};`),
  },
  // An infinite or NaN max is the answer itself (never ∞ − ∞).
  logsumexp: {
    inputs: [],
    acc: "none",
    perRow: true,
    epilogue: "if (lane == 0u) { out[row] = select(M + logS, M, bad); }",
  },
  // y ⊙ (dy − ⟨dy, y⟩), with ⟨dy, y⟩ = A/S from pass 1.
  softmax_vjp: {
    inputs: [["dy", "f32"]],
    acc: "scaled",
    weight: "dy[base + j]",
    perRow: false,
    epilogue: `let dot = A / S;
  ${EACH(`out[base + j] = ${NAN_IF_BAD(`(${PROB}) * (dy[base + j] - dot)`)};`)}`,
  },
  // dy − softmax·Σdy.
  log_softmax_vjp: {
    inputs: [["dy", "f32"]],
    acc: "plain",
    weight: "dy[base + j]",
    perRow: false,
    epilogue: EACH(`out[base + j] = ${NAN_IF_BAD(`dy[base + j] - (${PROB}) * A`)};`),
  },
  // softmax·dy_row.
  logsumexp_vjp: {
    inputs: [["dy", "f32"]],
    acc: "none",
    perRow: false,
    epilogue: `let g = dy[row];
  ${EACH(`out[base + j] = ${NAN_IF_BAD(`(${PROB}) * g`)};`)}`,
  },
  // lse − x_t = log S − (x_t − M): one more word read per row, no second pass.
  ce_index: {
    inputs: [["tgt", "i32"]],
    acc: "none",
    perRow: true,
    epilogue: `if (lane == 0u) {
    out[row] = ${NAN_IF_BAD("logS - (x[base + u32(tgt[row])] - M)")};
  }`,
  },
  // −Σ t·((x − M) − log S) over the classes with t ≠ 0 (0·log 0 = 0: a −∞ logit nobody aims
  // at is harmless), in a second pass and a second tree. Shifting by M first, rather than
  // forming lse·Σt − Σt·x in pass 1, keeps the rounding relative to |x − M|, not to |x|.
  ce_soft: {
    inputs: [["tgt", "f32"]],
    acc: "none",
    perRow: true,
    epilogue: `var acc = 0.0;
  ${EACH(`let t = tgt[base + j];
    if (t != 0.0) { acc = acc + t * ${NAN_IF_BAD("(x[base + j] - M) - logS")}; }`)}
  part = acc;`,
  },
  // g·(p − [j = t]).
  ce_vjp_index: {
    inputs: [
      ["tgt", "i32"],
      ["gs", "f32"],
    ],
    acc: "none",
    perRow: false,
    epilogue: `let g = gs[row * p.gstride];
  let t = u32(tgt[row]);
  ${EACH(`let q = ${PROB};
    out[base + j] = ${NAN_IF_BAD("g * select(q, q - 1.0, j == t)")};`)}`,
  },
  // g·(p·Σt − t): Σt need not be 1.
  ce_vjp_soft: {
    inputs: [
      ["tgt", "f32"],
      ["gs", "f32"],
    ],
    acc: "plain",
    weight: "tgt[base + j]",
    perRow: false,
    epilogue: `let g = gs[row * p.gstride];
  ${EACH(`out[base + j] = ${NAN_IF_BAD(`g * ((${PROB}) * A - tgt[base + j])`)};`)}`,
  },
  // Cross-entropy and its gradient from one pass over the logits: the loss of the index kind
  // and the gradient of ce_vjp_index, from the same (M, S); one read of x serves both.
  ce_fused_index: {
    inputs: [
      ["tgt", "i32"],
      ["gs", "f32"],
    ],
    acc: "none",
    perRow: false,
    losses: true,
    epilogue: `let g = gs[row * p.gstride];
  let t = u32(tgt[row]);
  ${EACH(`let q = ${PROB};
    out[base + j] = ${NAN_IF_BAD("g * select(q, q - 1.0, j == t)")};`)}
  if (lane == 0u) { losses[row] = ${NAN_IF_BAD("logS - (x[base + t] - M)")}; }`,
  },
  // The soft kind: each element's log-probability feeds both the loss terms and the gradient.
  ce_fused_soft: {
    inputs: [
      ["tgt", "f32"],
      ["gs", "f32"],
    ],
    acc: "plain",
    weight: "tgt[base + j]",
    perRow: false,
    losses: true,
    epilogue: `let g = gs[row * p.gstride];
  var acc = 0.0;
  ${EACH(`let t = tgt[base + j];
    let d = x[base + j] - M;
    out[base + j] = ${NAN_IF_BAD("g * ((exp_le0(d) * invS) * A - t)")};
    if (t != 0.0) { acc = acc + t * ${NAN_IF_BAD("d - logS")}; }`)}
  part = acc;`,
  },
};

/**
 * Threads per row: a power of two, grown while the row still gives each thread at least
 * MIN_PER_THREAD elements and the grid has fewer than `fill` threads in all.
 */
export function lanesFor(rows: number, n: number, fill: number): number {
  let lanes = 1;
  while (lanes < WG && lanes * MIN_PER_THREAD < n && rows * lanes < fill) lanes *= 2;
  return lanes;
}

/**
 * WGSL that merges the LANES threads of each row into the row's total, left in `out` in every
 * thread: `v` is this thread's partial (`type`), `combine(a, b)` the merge, and `save`/`get`
 * store and load a partial in shared memory. With subgroups a butterfly of shuffles merges the
 * lanes of a row within each subgroup (no barrier; lanes l and l ^ h, h < min(LANES, size), are
 * in the same row and subgroup: runtime.probeSubgroups checked the layout), then a shared-memory
 * tree merges the row's subgroups, if it spans several. Without, a shared-memory tree over lanes.
 */
function treeWgsl(
  sub: boolean,
  lanes: number,
  type: string,
  v: string,
  out: string,
  combine: (a: string, b: string) => string,
  shuffle: (a: string, h: string) => string,
  save: (i: string, a: string) => string,
  get: (i: string) => string,
): string {
  if (lanes === 1) return `let ${out} = ${v};`;
  const tree = (slots: string) => `workgroupBarrier();
  for (var h = ${slots} >> 1u; h > 0u; h = h >> 1u) {
    if (lane < h) { ${save("first_slot + lane", combine(get("first_slot + lane"), get("first_slot + lane + h")))}; }
    workgroupBarrier();
  }`;
  if (!sub) {
    return `let first_slot = first;
  ${save("lid.x", v)};
  ${tree("LANES")}
  let ${out} = ${get("first")};`;
  }
  return `var bfly: ${type} = ${v};
  for (var h = min(LANES, sg_size) >> 1u; h > 0u; h = h >> 1u) {
    bfly = ${combine("bfly", shuffle("bfly", "h"))};
  }
  var ${out}: ${type} = bfly;
  if (LANES > sg_size) {
    let first_slot = first / sg_size;
    if (sg_lane == 0u) { ${save("lid.x / sg_size", "bfly")}; }
    ${tree("(LANES / sg_size)")}
    ${out} = ${get("first_slot")};
  }`;
}

function rowWgsl(kind: RowKind, lanes: number, sub: boolean): string {
  const spec = SPECS[kind];
  const decls = spec.inputs
    .map(
      ([name, type], b) =>
        `@group(0) @binding(${b + 1}) var<storage, read> ${name}: array<${type}>;`,
    )
    .join("\n");
  const k = spec.inputs.length;
  const w = spec.weight ?? "0.0";
  const scaled = spec.acc === "scaled";
  const plain = spec.acc === "plain";
  const stat = treeWgsl(
    sub,
    lanes,
    "Stat",
    "st",
    "tot",
    (p, q) => `merge(${p}, ${q})`,
    (p, h) =>
      `Stat(subgroupShuffleXor(${p}.m, ${h}), subgroupShuffleXor(${p}.s, ${h}), subgroupShuffleXor(${p}.a, ${h}))`,
    (i, p) => `store(${i}, ${p})`,
    (i) => `load(${i})`,
  );
  const merged = `${stat}
  let M = tot.m;
  let S = tot.s;
  let A = tot.a;`;
  // ce_soft's second tree sums `part` (the per-thread loss terms) after the epilogue.
  const partTree = treeWgsl(
    sub,
    lanes,
    "f32",
    "part",
    "loss",
    (p, q) => `(${p} + ${q})`,
    (p, h) => `subgroupShuffleXor(${p}, ${h})`,
    (i, p) => `sm_a[${i}] = ${p}`,
    (i) => `sm_a[${i}]`,
  );
  const second =
    kind !== "ce_soft" && kind !== "ce_fused_soft"
      ? ""
      : `${lanes > 1 ? "\n  workgroupBarrier();" : ""}
  ${partTree.replaceAll("first_slot", "first_slot2").replaceAll("bfly", "bfly2")}
  if (live && lane == 0u) { ${spec.losses ? "losses" : "out"}[row] = -loss; }`;
  return `${sub ? "enable subgroups;\n" : ""}${WGSL_MATH}
${lanes === 1 ? `const LANES = 1u;\nconst ROWS = ${WG}u;` : ""}
// e^d for d <= 0 with m_exp's range reduction and polynomial (wgsl-math.ts) but none of its
// branches, which cost more than the polynomial inside these loops on SwiftShader. Every
// argument here is x − max ≤ 0; −∞ (and anything below −104) gives 0; a NaN only reaches it
// in a row whose outputs are NaN anyway.
fn exp_le0(d: f32) -> f32 {
  let x = max(d, -104.0);
  let k = floor(x * 1.442695 + 0.5);
  let r = (x - k * 0.69314575) - k * 1.4286068e-06;
  let q = 0.5 + r * (0.16666667 + r * (0.041666467 + r * (0.008333361 + r * (0.0013933604
    + r * 0.00019857785))));
  let p = 1.0 + (r + (r * r) * q);
  let ki = i32(k);
  let k1 = ki / 2;
  return select((p * exp2i(k1)) * exp2i(ki - k1), 0.0, d < -104.0);
}
fn neg_inf_bits(v: f32) -> bool { return bitcast<u32>(v) == 0xff800000u; }
fn finite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u; }

struct P { rows: u32, n: u32, gstride: u32, lanes: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
${decls}
@group(0) @binding(${k + 1}) var<storage, read_write> out: array<f32>;
@group(0) @binding(${k + 2}) var<uniform> p: P;
${spec.losses ? `@group(0) @binding(${k + 3}) var<storage, read_write> losses: array<f32>;` : ""}

var<workgroup> sm_m: array<f32, ${WG}>;
var<workgroup> sm_s: array<f32, ${WG}>;
var<workgroup> sm_a: array<f32, ${WG}>;

// Running max m, s = Σ e^(x − m), and the extra statistic a.
struct Stat { m: f32, s: f32, a: f32 }

// Branch-free, one exp per element: e = e^(−|v − m|) is either the new term (v ≤ m) or the
// rescale of the old sum (v > m, when v becomes the max and contributes 1).
fn push(st: Stat, v: f32, w: f32) -> Stat {
  let up = v > st.m;
  let e = select(exp_le0(-abs(v - st.m)), 0.0, neg_inf_bits(v));
  var r: Stat;
  r.m = select(st.m, v, up || is_nan(v));
  r.s = select(st.s + e, st.s * e + 1.0, up);
  r.a = ${scaled ? "select(st.a + w * e, st.a * e + w, up)" : plain ? "st.a + w" : "0.0"};
  return r;
}

fn merge(a: Stat, b: Stat) -> Stat {
  if (is_nan(a.m) || is_nan(b.m)) { return Stat(quiet_nan(), quiet_nan(), quiet_nan()); }
  let m = select(b.m, a.m, a.m > b.m);
  let fa = select(exp_le0(a.m - m), 0.0, neg_inf_bits(a.m));
  let fb = select(exp_le0(b.m - m), 0.0, neg_inf_bits(b.m));
  return Stat(m, a.s * fa + b.s * fb, ${scaled ? "a.a * fa + b.a * fb" : plain ? "a.a + b.a" : "0.0"});
}

fn load(i: u32) -> Stat { return Stat(sm_m[i], sm_s[i], sm_a[i]); }
fn store(i: u32, st: Stat) { sm_m[i] = st.m; sm_s[i] = st.s; sm_a[i] = st.a; }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>${sub ? ",\n        @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_size) sg_size: u32" : ""}) {
${lanes === 1 ? "" : `  let LANES = p.lanes;\n  let ROWS = ${WG}u / LANES;\n`}  let lane = lid.x % LANES;
  let first = lid.x - lane;
  let row = (wid.y * nwg.x + wid.x) * ROWS + lid.x / LANES;
  let live = row < p.rows;
  let base = row * p.n;
  var st = Stat(-pos_inf(), 0.0, 0.0);
  if (live) {
    for (var j = lane; j < p.n; j = j + LANES) { st = push(st, x[base + j], ${w}); }
  }
  ${merged}
  // NaN, +∞ or a row of −∞: the row's outputs are decided by M alone.
  let bad = !finite(M);
  let logS = m_log(S);
  let invS = 1.0 / S;
  var part = 0.0;
  if (live) {
  ${spec.epilogue}
  }${second}
}`;
}

/**
 * Records the row kernel `kind` over x viewed as [rows, n] (part of the caller's kernel call)
 * and returns its output buffer: rows floats when the kind gives one value per row, else
 * rows·n. `extra` are the buffers SPECS[kind].inputs names, in order.
 */
export function recordRows(
  rt: GpuRuntime,
  kind: RowKind,
  x: GPUBuffer,
  rows: number,
  n: number,
  extra: readonly GPUBuffer[],
  gstride = 0,
  losses?: GPUBuffer,
): GPUBuffer {
  const lanes = lanesFor(rows, n, fillFor(rt));
  const sub = rt.subgroups && lanes > 1;
  const out = rt.alloc(4 * (SPECS[kind].perRow ? rows : rows * n));
  rt.dispatch(
    // LANES comes in the uniforms, not in the source: one pipeline for every lane count > 1
    // instead of eight, each compiled on first use (160 ms apiece on SwiftShader, 81 of them
    // over the laws' default run).
    `rows:${kind}:${lanes === 1 ? "1" : "n"}${sub ? ":sub" : ""}`,
    () => rowWgsl(kind, lanes, sub),
    [x, ...extra, out, rt.params([rows, n, gstride, lanes]), ...(losses ? [losses] : [])],
    rt.grid(rows, WG / lanes),
  );
  return out;
}

/** Rows and row length of x on its last axis (a scalar is one row of one). */
function rowsOf(x: Operand): { rows: number; n: number } {
  const n = x.shape.length === 0 ? 1 : x.shape[x.shape.length - 1];
  return { rows: sizeOf(x.shape.slice(0, -1)), n };
}

export function softmaxKernels(rt: GpuRuntime): GpuKernels {
  const forward =
    (kind: "softmax" | "log_softmax" | "logsumexp") =>
    async ({ x }: { x: Operand }) => {
      const { rows, n } = rowsOf(x);
      const shape = kind === "logsumexp" ? x.shape.slice(0, -1) : [...x.shape];
      if (rows === 0 || n === 0) {
        // An empty row sums to 0: its logsumexp is −∞.
        return {
          shape,
          data: new Float32Array(sizeOf(shape)).fill(kind === "logsumexp" ? -Infinity : 0),
        };
      }
      const y = recordRows(rt, kind, rt.input(x), rows, n, []);
      return rt.result(y, shape);
    };

  const backward =
    (kind: "softmax_vjp" | "log_softmax_vjp" | "logsumexp_vjp") =>
    async ({ x, dy }: { x: Operand; dy: Operand }) => {
      const { rows, n } = rowsOf(x);
      if (rows === 0 || n === 0) return { shape: [...x.shape], data: new Float32Array(countOf(x)) };
      const dx = recordRows(rt, kind, rt.input(x), rows, n, [rt.input(dy)]);
      return rt.result(dx, [...x.shape]);
    };

  return {
    softmax: forward("softmax"),
    log_softmax: forward("log_softmax"),
    logsumexp: forward("logsumexp"),
    softmax_vjp: backward("softmax_vjp"),
    log_softmax_vjp: backward("log_softmax_vjp"),
    logsumexp_vjp: backward("logsumexp_vjp"),
  };
}
