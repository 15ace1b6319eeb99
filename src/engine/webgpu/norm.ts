/**
 * Batch-norm over x [N, C] (statistics per feature, down the batch) and layer-norm over the last
 * axis of x [..., D] (statistics per row), forward and backward, as src/engine/cpu/norm.ts computes
 * them: x̂ = (x − μ)/√(σ² + ε) with the biased σ², y = γ·x̂ + β.
 *
 * Batch-norm: a feature is a *column*, strided by C in memory. A thread per column looping down
 * all the rows would read one word per row per thread, C·4 bytes apart, with only C threads.
 * Instead a workgroup is a TX × TY tile (TX·TY = 256, TX ≤ 64 adjacent columns): the TX
 * threads of a tile row read TX adjacent words of one row of x (a 256-byte segment at TX = 64:
 * coalesced), and each of the TY tile rows owns a *slot*, a run of consecutive rows of the batch.
 * A thread keeps Welford's running (n, mean, M2) of its column over its slot in registers and
 * writes it out; a second kernel (a thread per column) merges the slots in order with Chan's
 * formula and finishes the statistics. No shared memory and no barrier: on a GPU the slots give
 * enough threads (≈ 64k) to hide memory latency, and on a CPU adapter (SwiftShader) a barrier
 * costs a coroutine switch per SIMD group (measured ≈ 0.2 ms per 256-thread workgroup), which
 * a shared-memory merge would pay in every workgroup. The statistics read x once (4 bytes per
 * element; the slot partials add 8 bytes per 16 rows of a column) and are stable: no
 * Σx² − (Σx)²/n cancellation, whatever the mean. The normalise pass then reads x and writes
 * y: 12 bytes moved per element in all. The gradient does the same with a co-moment, in one
 * pass: Σ(x − μ)(dy − mean dy) = Σ dy·(x − μ) is updated online like M2 (Welford's covariance)
 * and merged with Chan's formula, which gives dγ = Σ dy·x̂ and mean(dy·x̂) without a second pass
 * over x: 8 bytes read for the statistics, 12 moved by the dx pass, 20 per element in all.
 *
 * Layer-norm: a row is contiguous. T threads per row, 256/T rows per workgroup, reading the row
 * interleaved (coalesced). T is a power of two giving each thread at least 8 elements, and no
 * more lanes than it takes to reach the device's target thread count (below): many short rows
 * get a thread each (no barrier at all), few long rows up to a workgroup each, their sums then
 * merged by a shared-memory tree. Rows of up to 16·T elements are held in registers, so the
 * exact two-pass mean and variance (Σx, then Σ(x − μ)²) read x from memory once: 8 bytes
 * moved per element forward. Longer rows re-read x (from cache) in each pass. The gradient's dx
 * needs Σg and Σg·x̂ of its own row (same kernel, 12 bytes per element); dγ and dβ are sums
 * down the rows, i.e. column sums: they reuse batch-norm's column slots on (x, dy) with the row
 * statistics the row kernel wrote (8 more bytes per element read).
 */
import {
  countOf,
  FLAT_INDEX,
  f32,
  type GpuKernels,
  type GpuRuntime,
  isGpuTensor,
  MAIN_1D,
  type Operand,
  WG,
} from "./runtime.ts";
import { WGSL_MATH } from "./wgsl-math.ts";

/**
 * Threads a launch aims to fill the device with: enough to hide memory latency on a GPU; few on
 * a software (CPU) adapter (`rt.software`), where threads are SIMD lanes of a few cores and
 * every workgroup that synchronises pays for it, so fewer, longer threads win.
 */
const GPU_THREADS = 1 << 20;
const SOFTWARE_THREADS = 1024;
/** Column slots on a software adapter aim at this many threads (measured on SwiftShader). */
const SOFTWARE_SLOT_THREADS = 65536;
/** Rows a column thread accumulates at least, and the most slots per column. */
const MIN_ROWS_PER_THREAD = 8;
const MAX_SLOTS = 4096;
/** The most workgroups in one dimension (WebGPU's guaranteed limit). */
const MAX_GROUPS = 65535;
/** Rows per thread of the column-tiled elementwise passes (the normalise and dx passes). */
const APPLY_ROWS = 8;
/** Elements per thread a layer-norm row aims for, and the most a thread caches in registers. */
const ROW_PER_THREAD = 8;
const ROW_CACHE = 16;

// ---------------------------------------------------------------------------------------------
// Column tiles

/** Threads along columns (a power of two, at most 64) and along rows, TX·TY = 256. */
function columnTile(cols: number): { tx: number; ty: number } {
  let tx = 1;
  while (tx < cols && tx < 64) tx *= 2;
  return { tx, ty: WG / tx };
}

/** The batch split into slots of consecutive rows: one thread per (column, slot). */
function rowSlots(rows: number, cols: number, tx: number, target: number) {
  const tiles = Math.ceil(cols / tx);
  const byWork = Math.ceil(rows / MIN_ROWS_PER_THREAD);
  const byOccupancy = Math.ceil(target / (tiles * tx));
  let slots = Math.max(1, Math.min(byWork, byOccupancy, MAX_SLOTS));
  const slotRows = Math.ceil(rows / slots);
  // Every slot has at least one row.
  slots = Math.ceil(rows / slotRows);
  return { slots, slotRows };
}

/** Workgroup counts for `groups` workgroups, folded into 2-D beyond 65535. */
function groupGrid(groups: number): [number, number] {
  if (groups <= MAX_GROUPS) return [Math.max(1, groups), 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y];
}

/**
 * What a column reduction accumulates per thread: a state S (the fields, plus the count n for
 * the moment kinds), how one row updates it, and how two states merge.
 */
type ColumnKind = "moments" | "comoments" | "sums";

interface ColumnSpec {
  /** Storage buffers read, in binding order. */
  inputs: readonly string[];
  /** The fields of S written per (slot, column), one plane each. */
  fields: readonly string[];
  /** WGSL statements updating `s` from row r, element `idx` of the [N, C] inputs. */
  push: string;
  /** WGSL body of merge(a: S, b: S) -> S. */
  merge: string;
}

// Chan, Golub & LeVeque's pairwise update: for parts of sizes na and nb whose means differ by
// d, the merged M2 adds d²·na·nb/n. The empty state (n = 0) the finish starts from is neutral.
const CHAN_HEAD = `
  if (b.n == 0.0) { return a; }
  if (a.n == 0.0) { return b; }
  var s: S;
  s.n = a.n + b.n;
  let wb = b.n / s.n;
  let w = a.n * wb;
  let d = b.mx - a.mx;
  s.mx = a.mx + d * wb;
  s.m2x = (a.m2x + b.m2x) + (d * w) * d;`;

const COLUMN: Record<ColumnKind, ColumnSpec> = {
  // Welford on x: n, mean, M2 = Σ(x − mean)².
  moments: {
    inputs: ["x"],
    fields: ["mx", "m2x"],
    push: `let v = x[idx];
      s.n = s.n + 1.0;
      let d = v - s.mx;
      s.mx = s.mx + d / s.n;
      s.m2x = s.m2x + d * (v - s.mx);`,
    merge: `${CHAN_HEAD}
  return s;`,
  },
  // Welford on x and dy together, with the co-moment cxy = Σ(x − mean x)(dy − mean dy), which
  // equals Σ dy·(x − μ) exactly; updated with the old x deviation and the new dy deviation.
  comoments: {
    inputs: ["x", "dy"],
    fields: ["mx", "m2x", "my", "cxy", "sy"],
    push: `let v = x[idx];
      let g = dy[idx];
      s.n = s.n + 1.0;
      let d = v - s.mx;
      s.mx = s.mx + d / s.n;
      s.m2x = s.m2x + d * (v - s.mx);
      s.my = s.my + (g - s.my) / s.n;
      s.cxy = s.cxy + d * (g - s.my);
      s.sy = s.sy + g;`,
    merge: `${CHAN_HEAD}
  let e = b.my - a.my;
  s.my = a.my + e * wb;
  s.cxy = (a.cxy + b.cxy) + (d * w) * e;
  s.sy = a.sy + b.sy;
  return s;`,
  },
  // Layer-norm's dγ = Σ dy·x̂ and dβ = Σ dy down the rows, x̂ from the row statistics
  // (mean, sd) that the row kernel wrote, computed exactly as it computed them.
  sums: {
    inputs: ["x", "dy", "rowstat"],
    fields: ["sgx", "sy"],
    push: `let g = dy[idx];
      let xh = (x[idx] - rowstat[2u * r]) / rowstat[2u * r + 1u];
      s.n = s.n + 1.0;
      s.sgx = s.sgx + g * xh;
      s.sy = s.sy + g;`,
    merge: `var s: S;
  s.n = a.n + b.n;
  s.sgx = a.sgx + b.sgx;
  s.sy = a.sy + b.sy;
  return s;`,
  },
};

/** rows, cols, slot rows, slots; then ε, 1 − m and m for batch-norm's finish. */
const COLUMN_PARAMS = `struct P { rows: u32, cols: u32, slot_rows: u32, slots: u32,
  eps: f32, keep: f32, m: f32 }`;

function stateWgsl(spec: ColumnSpec): string {
  const fields = ["n", ...spec.fields].map((f) => `${f}: f32`).join(", ");
  return `struct S { ${fields} }
fn merge(a: S, b: S) -> S {${spec.merge}
}`;
}

const zeroState = (spec: ColumnSpec) => `S(${["n", ...spec.fields].map(() => "0.0").join(", ")})`;

/**
 * Pass 1 of a column reduction: workgroup g = block·tiles + tile; thread (lx, ly) reduces
 * column tile·TX + lx over the rows of slot block·TY + ly, and writes field f of its state at
 * part[(f·slots + slot)·cols + c].
 */
function columnPartialWgsl(kind: ColumnKind, tx: number): string {
  const spec = COLUMN[kind];
  const ty = WG / tx;
  const inputs = spec.inputs
    .map((name, b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<f32>;`)
    .join("\n");
  const k = spec.inputs.length;
  const write = spec.fields
    .map((f, i) => `part[(${i}u * p.slots + slot) * p.cols + c] = s.${f};`)
    .join("\n  ");
  return `${COLUMN_PARAMS}
${inputs}
@group(0) @binding(${k}) var<storage, read_write> part: array<f32>;
@group(0) @binding(${k + 1}) var<uniform> p: P;
${stateWgsl(spec)}
@compute @workgroup_size(${tx}, ${ty})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let tiles = (p.cols + ${tx - 1}u) / ${tx}u;
  let g = wid.y * nwg.x + wid.x;
  let c = (g % tiles) * ${tx}u + lid.x;
  let slot = (g / tiles) * ${ty}u + lid.y;
  if (c >= p.cols || slot >= p.slots) { return; }
  let start = slot * p.slot_rows;
  let end = min(start + p.slot_rows, p.rows);
  var s = ${zeroState(spec)};
  // Each iteration, the ${tx} threads of a tile row read ${tx} adjacent words of row r.
  for (var r = start; r < end; r = r + 1u) {
    let idx = r * p.cols + c;
    ${spec.push}
  }
  ${write}
}`;
}

/**
 * Pass 2: a thread per column merges its slots' states in order (a slot's n is its row count),
 * then `finish` turns the merged `t` into the outputs.
 */
function columnFinishWgsl(kind: ColumnKind, bindings: string, finish: string): string {
  const spec = COLUMN[kind];
  const read = spec.fields.map((_f, i) => `part[(${i}u * p.slots + k) * p.cols + c]`).join(", ");
  return `${WGSL_MATH}
${COLUMN_PARAMS}
@group(0) @binding(0) var<storage, read> part: array<f32>;
${bindings}
${stateWgsl(spec)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.y * nwg.x * ${WG}u + gid.x;
  if (c >= p.cols) { return; }
  var t = ${zeroState(spec)};
  for (var k = 0u; k < p.slots; k = k + 1u) {
    let rows = f32(min(p.slot_rows, p.rows - k * p.slot_rows));
    t = merge(t, S(rows, ${read}));
  }
  let n = f32(p.rows);
  ${finish}
}`;
}

/** Binding declarations from index 1: [name, access] pairs. */
function decls(names: readonly (readonly [string, "read" | "read_write"])[], from = 1): string {
  const lines = names.map(
    ([name, access], i) =>
      `@group(0) @binding(${from + i}) var<storage, ${access}> ${name}: array<f32>;`,
  );
  return `${lines.join("\n")}\n@group(0) @binding(${from + names.length}) var<uniform> p: P;`;
}

// Batch-norm forward (training): the batch mean and √(σ² + ε) per feature, and the running
// statistics moved towards the batch's, with the unbiased variance (n = 1 would divide 0 by 0:
// NaN, as the reference gives).
/**
 * Eval-mode statistics of device-resident running statistics: [mean, √(σ² + ε)] per column,
 * as the host path computes them from host ones (each step one f32 rounding).
 */
const BN_EVAL_STATS = `${FLAT_INDEX}
struct P { cols: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> rm: array<f32>;
@group(0) @binding(1) var<storage, read> rv: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${MAIN_1D}
  if (i >= p.cols) { return; }
  stats[i] = rm[i];
  stats[p.cols + i] = sqrt(rv[i] + p.eps);
}`;

const BN_FINISH = columnFinishWgsl(
  "moments",
  decls([
    ["run_mean", "read"],
    ["run_var", "read"],
    ["stats", "read_write"],
    ["new_mean", "read_write"],
    ["new_var", "read_write"],
  ]),
  `stats[c] = t.mx;
  stats[p.cols + c] = sqrt(t.m2x / n + p.eps);
  var unbiased = quiet_nan();
  if (p.rows > 1u) { unbiased = t.m2x / (n - 1.0); }
  new_mean[c] = p.keep * run_mean[c] + p.m * t.mx;
  new_var[c] = p.keep * run_var[c] + p.m * unbiased;`,
);

// Batch-norm backward: with g = γ·dy, dx = (g − mean g − x̂·mean(g·x̂))/sd. The per-feature
// coefficients (μ, sd, mean g, mean g·x̂) go to coef for the dx pass; Σdy·x̂ = cxy/sd.
const BN_VJP_FINISH = columnFinishWgsl(
  "comoments",
  decls([
    ["gamma", "read"],
    ["coef", "read_write"],
    ["dgamma", "read_write"],
    ["dbeta", "read_write"],
  ]),
  `let sd = sqrt(t.m2x / n + p.eps);
  let sgx = t.cxy / sd;
  coef[c] = t.mx;
  coef[p.cols + c] = sd;
  coef[2u * p.cols + c] = gamma[c] * t.my;
  coef[3u * p.cols + c] = (gamma[c] * sgx) / n;
  dgamma[c] = sgx;
  dbeta[c] = t.sy;`,
);

const LN_VJP_FINISH = columnFinishWgsl(
  "sums",
  decls([
    ["dgamma", "read_write"],
    ["dbeta", "read_write"],
  ]),
  `dgamma[c] = t.sgx;
  dbeta[c] = t.sy;`,
);

/**
 * An elementwise pass over [N, C] in column tiles (no division by C per element): workgroup
 * g = block·tiles + tile covers TX columns × APPLY_ROWS·TY rows. `prologue` loads column c's
 * coefficients once, `body` writes element idx of column c.
 */
function columnApplyWgsl(tx: number, bindings: string, prologue: string, body: string): string {
  const ty = WG / tx;
  return `${COLUMN_PARAMS}
${bindings}
@compute @workgroup_size(${tx}, ${ty})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let tiles = (p.cols + ${tx - 1}u) / ${tx}u;
  let g = wid.y * nwg.x + wid.x;
  let c = (g % tiles) * ${tx}u + lid.x;
  if (c >= p.cols) { return; }
  ${prologue}
  let first = (g / tiles) * ${APPLY_ROWS * ty}u + lid.y;
  for (var j = 0u; j < ${APPLY_ROWS}u; j = j + 1u) {
    let r = first + j * ${ty}u;
    if (r >= p.rows) { return; }
    let idx = r * p.cols + c;
    ${body}
  }
}`;
}

const applyDecls = (names: readonly (readonly [string, "read" | "read_write"])[]) =>
  decls(names, 0);

/** y = γ·((x − μ)/sd) + β, with μ and sd at stats[c] and stats[C + c]. */
const bnApplyWgsl = (tx: number) =>
  columnApplyWgsl(
    tx,
    applyDecls([
      ["x", "read"],
      ["gamma", "read"],
      ["beta", "read"],
      ["stats", "read"],
      ["y", "read_write"],
    ]),
    `let mu = stats[c];
  let sd = stats[p.cols + c];
  let ga = gamma[c];
  let be = beta[c];`,
    "y[idx] = ga * ((x[idx] - mu) / sd) + be;",
  );

/** dx = ((γ·dy − mean g) − x̂·mean(g·x̂))/sd, the coefficients from BN_VJP_FINISH. */
const bnVjpApplyWgsl = (tx: number) =>
  columnApplyWgsl(
    tx,
    applyDecls([
      ["x", "read"],
      ["dy", "read"],
      ["gamma", "read"],
      ["coef", "read"],
      ["dx", "read_write"],
    ]),
    `let mu = coef[c];
  let sd = coef[p.cols + c];
  let mean_g = coef[2u * p.cols + c];
  let mean_gx = coef[3u * p.cols + c];
  let ga = gamma[c];`,
    `let xh = (x[idx] - mu) / sd;
    dx[idx] = ((dy[idx] * ga - mean_g) - xh * mean_gx) / sd;`,
  );

// ---------------------------------------------------------------------------------------------
// Layer-norm rows

/**
 * Threads per row: a power of two giving each thread at least ROW_PER_THREAD elements (at most
 * 256), and no more than it takes for all the rows to reach `target` threads.
 */
function rowLanes(d: number, rows: number, target: number): number {
  let t = 1;
  while (t < WG && t * ROW_PER_THREAD < d && t * rows < target) t *= 2;
  return t;
}

/**
 * Elements of a row each thread holds in registers: ⌈d / t⌉ rounded up to a power of two (the
 * loop skips the slots past the row), or 0 past ROW_CACHE. Rounded, one pipeline serves rows of
 * several lengths: fewer to compile, and each is run by more of the sizes the laws try.
 */
function rowCache(d: number, t: number): number {
  const need = Math.ceil(d / t);
  return need > ROW_CACHE ? 0 : 2 ** Math.ceil(Math.log2(need));
}

/** row_sum2: the sums over the t threads of each row, called by every thread of the workgroup. */
function rowSumWgsl(t: number): string {
  // One thread per row: nothing to merge, and no barrier (the cheapest case on a CPU adapter).
  if (t === 1) return "fn row_sum2(v: vec2<f32>, me: u32, lane: u32) -> vec2<f32> { return v; }";
  // A shared-memory tree within the row's segment of the workgroup; the barriers are reached
  // by every thread (uniform control flow), and the last one lets `red` be reused.
  return `var<workgroup> red: array<vec2<f32>, ${WG}>;
fn row_sum2(v: vec2<f32>, me: u32, lane: u32) -> vec2<f32> {
  red[me] = v;
  workgroupBarrier();
  for (var h = ${t >> 1}u; h > 0u; h = h >> 1u) {
    if (lane < h) { red[me] = red[me] + red[me + h]; }
    workgroupBarrier();
  }
  let total = red[me - lane];
  workgroupBarrier();
  return total;
}`;
}

/**
 * The layer-norm row kernel, forward ("forward": y) or backward ("vjp": dx and the row's
 * (mean, sd) for the dγ/dβ column sums). T threads per row, 256/T rows per workgroup; `cache`
 * elements per thread held in registers (0: the row is re-read from memory for each pass).
 */
function rowWgsl(kind: "forward" | "vjp", t: number, cache: number): string {
  const rows = WG / t;
  const vjp = kind === "vjp";
  const io = vjp
    ? [
        ["x", "read"],
        ["gamma", "read"],
        ["dy", "read"],
        ["dx", "read_write"],
        ["rowstat", "read_write"],
      ]
    : [
        ["x", "read"],
        ["gamma", "read"],
        ["beta", "read"],
        ["y", "read_write"],
      ];
  const bindings = io
    .map(
      ([name, access], b) =>
        `@group(0) @binding(${b}) var<storage, ${access}> ${name}: array<f32>;`,
    )
    .join("\n");
  // The loop over this thread's elements k = lane, lane + T, …; `v` is x[base + k] (and `w`
  // is dy[base + k] for the gradient), from registers when the row is cached.
  const each = (body: string, load = false) =>
    cache > 0
      ? `for (var j = 0u; j < ${cache}u; j = j + 1u) {
      let k = lane + j * ${t}u;
      if (k < p.d) {
        ${load ? `xv[j] = x[base + k];${vjp ? " gv[j] = dy[base + k];" : ""}` : ""}
        let v = xv[j];${vjp ? "\n        let w = gv[j];" : ""}
        ${body}
      }
    }`
      : `for (var k = lane; k < p.d; k = k + ${t}u) {
      let v = x[base + k];${vjp ? "\n      let w = dy[base + k];" : ""}
      ${body}
    }`;
  const regs =
    cache > 0
      ? `var xv: array<f32, ${cache}>;${vjp ? `\n  var gv: array<f32, ${cache}>;` : ""}`
      : "";
  const tail = vjp
    ? `var sg = 0.0;
  var sgx = 0.0;
  if (live) {
    ${each(`let g = w * gamma[k];
        let xh = (v - mean) / sd;
        sg = sg + g;
        sgx = sgx + g * xh;`)}
  }
  let sums = row_sum2(vec2<f32>(sg, sgx), lid.x, lane);
  let mean_g = sums.x / n;
  let mean_gx = sums.y / n;
  if (live) {
    ${each(`let g = w * gamma[k];
        let xh = (v - mean) / sd;
        dx[base + k] = ((g - mean_g) - xh * mean_gx) / sd;`)}
    if (lane == 0u) {
      rowstat[2u * row] = mean;
      rowstat[2u * row + 1u] = sd;
    }
  }`
    : `if (live) {
    ${each("y[base + k] = gamma[k] * ((v - mean) / sd) + beta[k];")}
  }`;
  return `struct P { rows: u32, d: u32, eps: f32 }
${bindings}
@group(0) @binding(${io.length}) var<uniform> p: P;
${rowSumWgsl(t)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let lane = lid.x % ${t}u;
  let row = (wid.y * nwg.x + wid.x) * ${rows}u + lid.x / ${t}u;
  let live = row < p.rows;
  let base = row * p.d;
  let n = f32(p.d);
  ${regs}
  // Two passes for the variance: the mean first, then Σ(x − μ)², so that a large common
  // offset does not cancel the variance away.
  var s = 0.0;
  if (live) {
    ${each("s = s + v;", true)}
  }
  let mean = row_sum2(vec2<f32>(s, 0.0), lid.x, lane).x / n;
  var q = 0.0;
  if (live) {
    ${each("let e = v - mean;\n        q = q + e * e;")}
  }
  let sd = sqrt(row_sum2(vec2<f32>(q, 0.0), lid.x, lane).x / n + p.eps);
  ${tail}
}`;
}

// ---------------------------------------------------------------------------------------------
// Kernels

export function normKernels(rt: GpuRuntime): GpuKernels {
  const target = rt.software ? SOFTWARE_THREADS : GPU_THREADS;
  const slotTarget = rt.software ? SOFTWARE_SLOT_THREADS : GPU_THREADS;

  /** Records a column reduction of kind over [rows, cols]; returns its partials and layout. */
  const columnPartials = (kind: ColumnKind, inputs: GPUBuffer[], rows: number, cols: number) => {
    const { tx, ty } = columnTile(cols);
    const { slots, slotRows } = rowSlots(rows, cols, tx, slotTarget);
    const part = rt.alloc(4 * COLUMN[kind].fields.length * slots * cols);
    const layout: Layout = { rows, cols, slots, slotRows, tx };
    rt.dispatch(
      `norm:cols:${kind}:${tx}`,
      () => columnPartialWgsl(kind, tx),
      [...inputs, part, params(layout)],
      groupGrid(Math.ceil(cols / tx) * Math.ceil(slots / ty)),
    );
    return { part, layout };
  };

  type Layout = { rows: number; cols: number; slots: number; slotRows: number; tx: number };
  const params = (l: Layout, eps = 0, keep = 0, m = 0) =>
    rt.params([l.rows, l.cols, l.slotRows, l.slots, f32(eps), f32(keep), f32(m)]);
  /** A thread per column. */
  const perColumn = (cols: number) => rt.grid(cols);
  /** The column-tiled elementwise passes. */
  const applyGrid = (l: Layout) =>
    groupGrid(Math.ceil(l.cols / l.tx) * Math.ceil(l.rows / (APPLY_ROWS * (WG / l.tx))));

  /** A per-column vector's buffer; absent (internal callers), `fill` in every column. */
  const vector = (t: Operand | undefined, n: number, fill: number) =>
    t ? rt.input(t) : rt.upload(new Float32Array(n).fill(fill));
  /** Host values of a per-column vector (eval batch-norm's statistics). */
  const hostVector = (t: Operand | undefined, n: number, fill: number) =>
    t && !isGpuTensor(t) ? (t.data as Float32Array) : new Float32Array(n).fill(fill);

  return {
    batch_norm: async ({ x, gamma, beta, runningMean, runningVar }, attrs) => {
      const [rows, cols] = x.shape;
      const training = attrs.training ?? true;
      const eps = Math.fround(attrs.eps);
      const { tx } = columnTile(cols);
      if (!training) {
        const l: Layout = { rows, cols, slots: 1, slotRows: rows, tx };
        const y = rt.alloc(4 * rows * cols);
        const rm = vector(runningMean, cols, 0);
        const rv = vector(runningVar, cols, 1);
        // [mean, √(σ² + ε)] per column, each step rounded once to f32 as the reference does: on
        // the host from host statistics (a double sum of two floats then fround is the correctly
        // rounded f32 sum), by a kernel where they live on the device.
        let stats: GPUBuffer;
        if (isGpuTensor(runningMean) || isGpuTensor(runningVar)) {
          stats = rt.alloc(8 * cols);
          rt.dispatch(
            "norm:bn_eval_stats",
            () => BN_EVAL_STATS,
            [rm, rv, stats, rt.params([cols, f32(eps)])],
            perColumn(cols),
          );
        } else {
          const [mean, variance] = [
            hostVector(runningMean, cols, 0),
            hostVector(runningVar, cols, 1),
          ];
          const host = new Float32Array(2 * cols);
          host.set(mean);
          for (let c = 0; c < cols; c++)
            host[cols + c] = Math.fround(Math.sqrt(Math.fround(variance[c] + eps)));
          stats = rt.upload(host);
        }
        rt.dispatch(
          `norm:bn_apply:${tx}`,
          () => bnApplyWgsl(tx),
          [rt.input(x), rt.input(gamma), vector(beta, cols, 0), stats, y, params(l)],
          applyGrid(l),
        );
        // The running statistics come back unchanged: copies (`results` copies a buffer the
        // call does not own), bit for bit.
        const [yd, md, vd] = await rt.results([
          [y, [rows, cols]],
          [rm, [cols]],
          [rv, [cols]],
        ]);
        return { y: yd, runningMean: md, runningVar: vd };
      }
      const m = Math.fround(attrs.momentum ?? 0.1);
      const keep = Math.fround(1 - m);
      const xs = rt.input(x);
      const { part, layout } = columnPartials("moments", [xs], rows, cols);
      const stats = rt.alloc(8 * cols);
      const newMean = rt.alloc(4 * cols);
      const newVar = rt.alloc(4 * cols);
      rt.dispatch(
        "norm:bn_finish",
        () => BN_FINISH,
        [
          part,
          vector(runningMean, cols, 0),
          vector(runningVar, cols, 1),
          stats,
          newMean,
          newVar,
          params(layout, eps, keep, m),
        ],
        perColumn(cols),
      );
      const y = rt.alloc(4 * rows * cols);
      rt.dispatch(
        `norm:bn_apply:${tx}`,
        () => bnApplyWgsl(tx),
        [xs, rt.input(gamma), vector(beta, cols, 0), stats, y, params(layout)],
        applyGrid(layout),
      );
      const [yd, md, vd] = await rt.results([
        [y, [rows, cols]],
        [newMean, [cols]],
        [newVar, [cols]],
      ]);
      return { y: yd, runningMean: md, runningVar: vd };
    },

    batch_norm_vjp: async ({ x, gamma, dy }, { eps }) => {
      const [rows, cols] = x.shape;
      const xs = rt.input(x);
      const dys = rt.input(dy);
      const gs = rt.input(gamma);
      const { part, layout } = columnPartials("comoments", [xs, dys], rows, cols);
      const coef = rt.alloc(16 * cols);
      const dgamma = rt.alloc(4 * cols);
      const dbeta = rt.alloc(4 * cols);
      rt.dispatch(
        "norm:bn_vjp_finish",
        () => BN_VJP_FINISH,
        [part, gs, coef, dgamma, dbeta, params(layout, Math.fround(eps))],
        perColumn(cols),
      );
      const dx = rt.alloc(4 * rows * cols);
      rt.dispatch(
        `norm:bn_vjp_apply:${layout.tx}`,
        () => bnVjpApplyWgsl(layout.tx),
        [xs, dys, gs, coef, dx, params(layout)],
        applyGrid(layout),
      );
      const [dxd, dgd, dbd] = await rt.results([
        [dx, [rows, cols]],
        [dgamma, [cols]],
        [dbeta, [cols]],
      ]);
      return { dx: dxd, dgamma: dgd, dbeta: dbd };
    },

    layer_norm: async ({ x, gamma, beta }, { eps }) => {
      const d = x.shape[x.shape.length - 1];
      const rows = countOf(x) / d;
      const t = rowLanes(d, rows, target);
      const cache = rowCache(d, t);
      const y = rt.alloc(4 * countOf(x));
      rt.dispatch(
        `norm:ln:${t}:${cache}`,
        () => rowWgsl("forward", t, cache),
        [
          rt.input(x),
          rt.input(gamma),
          vector(beta, d, 0),
          y,
          rt.params([rows, d, f32(Math.fround(eps))]),
        ],
        groupGrid(Math.ceil(rows / (WG / t))),
      );
      return rt.result(y, [...x.shape]);
    },

    layer_norm_vjp: async ({ x, gamma, dy }, { eps }) => {
      const d = x.shape[x.shape.length - 1];
      const rows = countOf(x) / d;
      const t = rowLanes(d, rows, target);
      const cache = rowCache(d, t);
      const xs = rt.input(x);
      const dys = rt.input(dy);
      const dx = rt.alloc(4 * countOf(x));
      const rowstat = rt.alloc(8 * rows);
      rt.dispatch(
        `norm:ln_vjp:${t}:${cache}`,
        () => rowWgsl("vjp", t, cache),
        [xs, rt.input(gamma), dys, dx, rowstat, rt.params([rows, d, f32(Math.fround(eps))])],
        groupGrid(Math.ceil(rows / (WG / t))),
      );
      // dγ and dβ: sums down the rows, in column tiles like batch-norm's statistics.
      const { part, layout } = columnPartials("sums", [xs, dys, rowstat], rows, d);
      const dgamma = rt.alloc(4 * d);
      const dbeta = rt.alloc(4 * d);
      rt.dispatch(
        "norm:ln_vjp_finish",
        () => LN_VJP_FINISH,
        [part, dgamma, dbeta, params(layout)],
        perColumn(d),
      );
      const [dxd, dgd, dbd] = await rt.results([
        [dx, x.shape],
        [dgamma, [d]],
        [dbeta, [d]],
      ]);
      return { dx: dxd, dgamma: dgd, dbeta: dbd };
    },
  };
}
