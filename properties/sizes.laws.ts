/**
 * I5. Where real kernels break [notes 003, 004]: every op against its float64 reference at the
 * sizes and shapes where GPU and SIMD kernels go wrong — just below, at and past blocks, tiles,
 * subgroups, workgroups, chunks and the 1-D grid limit; ranks 1 to 4 (0 where the contract
 * allows), middle axes, broadcasting in every position, empty tensors, and attributes at their
 * extremes. The other laws read like the notes on small readable cases; these reach the sizes.
 *
 * Each law first sweeps a fixed list of cases, smallest first, that crosses every boundary its
 * op family has (a bug past 1024 cannot hide behind an unlucky draw), then runs a property over
 * random cases of the same kind. Every case checks every op of the family, forward and
 * backward. Inputs come from src/harness/seeded.ts: fast-check draws the shape, seed and value
 * family and Philox fills the values, so a property failure still shrinks to the smallest
 * failing size and replays from its seed. Large cases cost time, so these laws run fewer
 * property cases (`runs`) than the small ones.
 */
import fc from "fast-check";
import { type OpName, UNARY_OPS } from "../src/engine/contract.ts";
import { philoxInto, seedKey } from "../src/engine/random.ts";
import {
  broadcastShapes,
  formatShape,
  type IndexTensor,
  indices,
  sizeOf,
  type Tensor,
} from "../src/engine/tensor.ts";
import { type Law, type LawContext, LawViolation } from "../src/harness/law.ts";
import {
  type Family,
  type Fill,
  fillOf,
  seededIndices,
  seededPositive,
  seededValues,
  shapeAround,
  sizesUpTo,
} from "../src/harness/seeded.ts";

/** Past this many elements a 1-D dispatch of 256-thread workgroups needs a second grid axis. */
const GRID_LIMIT = 65535 * 256;
/** Random cases stay within this many elements: enough to cross every boundary but the grid. */
const CAP = 1 << 17;
/** Property cases per large-size law, after its sweep (the small laws run the default, 100). */
const RUNS = 4;

const UNARY = UNARY_OPS;
type UnaryOp = (typeof UNARY)[number];
const BINARY = ["add", "sub", "mul", "div"] as const;
type BinaryOp = (typeof BINARY)[number];
const REDUCE = ["sum", "mean", "max", "variance"] as const;
const ROWS = ["softmax", "log_softmax", "logsumexp"] as const;
const vjpOf = (ops: readonly OpName[]) => ops.map((o) => `${o}_vjp` as OpName);

const U: Family = "uniform";

function filled(ctx: LawContext, shape: readonly number[], fill: Fill): Tensor {
  const last = shape.length > 0 ? (shape[shape.length - 1] ?? 1) : 1;
  return ctx.t(shape, seededValues(sizeOf(shape), Math.max(1, last), fill));
}

/** The upstream gradient of an output: ordinary values from another stream of the same seed. */
function upstream(ctx: LawContext, shape: readonly number[], fill: Fill): Tensor {
  return filled(ctx, shape, { seed: fill.seed + 17, family: U, scale: 1 });
}

/**
 * Every law here compares a backend with the float64 reference: on the reference itself that
 * compares values with themselves, proves nothing and costs the most of any backend, so the
 * laws hold vacuously there.
 */
function isReference(ctx: LawContext): boolean {
  return ctx.backend === ctx.options.reference;
}

/** Runs the fixed cases in order; a failure names its case (the sweep has no shrinking). */
async function sweep<C>(
  ctx: LawContext,
  cases: readonly C[],
  check: (c: C) => Promise<void>,
): Promise<void> {
  for (const c of cases) {
    try {
      await check(c);
    } catch (e) {
      if (!(e instanceof LawViolation)) throw e;
      throw new LawViolation(
        `${e.message}\nfixed case: ${JSON.stringify(c)}\nreplay: npx tensorlaws verify … --laws ${ctx.law.id}`,
        e.mismatch,
      );
    }
  }
}

const smallDims = fc.array(fc.constantFrom(1, 2, 3, 5), { minLength: 4, maxLength: 4 });

/** A rank-`min`…`max` shape with one dimension (anywhere) at a boundary size, within CAP. */
function boundaryShape(minRank: number, maxRank: number, maxLong: number) {
  return fc
    .tuple(
      fc.integer({ min: minRank, max: maxRank }),
      fc.nat(),
      fc.constantFrom(...sizesUpTo(maxLong)),
      smallDims,
    )
    .map(([rank, at, long, small]) => {
      const a = rank === 0 ? 0 : at % rank;
      return { shape: shapeAround(rank, a, long, small, CAP), at: a };
    });
}

/** The shape with its longest dimension moved last (rows become long). */
function longLast(shape: readonly number[]): number[] {
  if (shape.length === 0) return [];
  const long = Math.max(...shape);
  const at = shape.indexOf(long);
  return [...shape.slice(0, at), ...shape.slice(at + 1), long];
}

// ── I5a: unary ops ────────────────────────────────────────────────────────────────────────────

interface UnaryCase {
  shape: number[];
  fill: Fill;
  /** leaky_relu's slope: ReLU's 0, the usual 0.01, the identity 1, a negative slope. */
  alpha: number;
}

async function checkUnary(ctx: LawContext, c: UnaryCase): Promise<void> {
  const x = filled(ctx, c.shape, c.fill);
  // A gradient at NaN or ±∞ is a convention, not a law (I4a owns those), and past |x| ≈ 88 a
  // float32 exp(x)·dy overflows in its first factor though the product is finite: x stays
  // finite and within ±50 for the gradients.
  const xf =
    c.fill.family === "specials" || c.fill.scale > 50
      ? filled(ctx, c.shape, { ...c.fill, family: U, scale: Math.min(c.fill.scale, 50) })
      : x;
  const dy = upstream(ctx, c.shape, c.fill);
  for (const op of UNARY) {
    const attrs = (op === "leaky_relu" ? { alpha: c.alpha } : {}) as Record<string, never>;
    await ctx.expectMatchesReference(op, { x }, attrs);
    await ctx.expectMatchesReference(`${op}_vjp` as "exp_vjp", { x: xf, dy }, attrs);
  }
}

const UNARY_SWEEP: UnaryCase[] = [
  { shape: [], fill: { seed: 1, family: U, scale: 10 }, alpha: 0.01 },
  { shape: [0], fill: { seed: 1, family: U, scale: 10 }, alpha: 0.01 },
  { shape: [3, 0, 2], fill: { seed: 1, family: U, scale: 10 }, alpha: 0.01 },
  { shape: [257], fill: { seed: 2, family: "specials", scale: 10 }, alpha: 0 },
  { shape: [3, 5, 65], fill: { seed: 3, family: U, scale: 30 }, alpha: -0.5 },
  { shape: [2, 3, 5, 129], fill: { seed: 4, family: U, scale: 10 }, alpha: 1 },
  { shape: [1025, 7], fill: { seed: 5, family: "specials", scale: 100 }, alpha: 0.2 },
  { shape: [65537], fill: { seed: 6, family: U, scale: 10 }, alpha: 0.01 },
  // Past 2^16 with a vector tail of 3 (65537 leaves one lane: a tail bug needs two or three).
  { shape: [65539], fill: { seed: 7, family: U, scale: 10 }, alpha: 0.01 },
  // Multiples of 4, which a kernel may read four at a time (a quarter of the threads): one
  // vector past a workgroup of 256, a rank-4 tensor over 4 workgroups with a partial last one,
  // and 1025 vectors (5 workgroups, the last with one thread).
  { shape: [1028], fill: { seed: 8, family: U, scale: 10 }, alpha: 0.01 },
  { shape: [2, 3, 5, 132], fill: { seed: 9, family: "specials", scale: 10 }, alpha: 0.2 },
  { shape: [4100], fill: { seed: 10, family: "lastMax", scale: 10 }, alpha: -0.5 },
];

// ── I5b: binary ops with broadcasting ─────────────────────────────────────────────────────────

interface BinaryCase {
  a: number[];
  b: number[];
  fill: Fill;
}

async function checkBinary(ctx: LawContext, c: BinaryCase): Promise<void> {
  const a = filled(ctx, c.a, c.fill);
  const b = filled(ctx, c.b, { ...c.fill, seed: c.fill.seed + 1 });
  const y = broadcastShapes(c.a, c.b);
  if (!y) throw new Error(`bad case: ${formatShape(c.a)} and ${formatShape(c.b)} do not broadcast`);
  const dy = upstream(ctx, y, c.fill);
  for (const op of BINARY) {
    await ctx.expectMatchesReference(op, { a, b }, {});
    await ctx.expectMatchesReference(`${op}_vjp` as "add_vjp", { a, b, dy }, {});
  }
}

const f = (seed: number, family: Family = U, scale = 10): Fill => ({ seed, family, scale });

const BINARY_SWEEP: BinaryCase[] = [
  { a: [0, 3], b: [1, 3], fill: f(1) },
  { a: [65], b: [1], fill: f(2) },
  { a: [3, 1, 257], b: [1, 5, 257], fill: f(3) },
  { a: [2, 3, 1, 65], b: [1, 3, 4, 1], fill: f(4) },
  { a: [1, 4, 1, 33], b: [2, 1, 3, 33], fill: f(5) },
  { a: [1025, 1], b: [1, 65], fill: f(6) },
  { a: [129, 3, 5], b: [3, 1], fill: f(7) },
  { a: [65537], b: [65537], fill: f(8, "lastMax") },
  // Same shapes whose size is a multiple of 4, read four at a time by a vector kernel: past one
  // workgroup of 256 vectors, over several at rank 4, and 5 workgroups with a one-thread tail.
  { a: [1028], b: [1028], fill: f(9) },
  { a: [2, 3, 5, 132], b: [2, 3, 5, 132], fill: f(10, "specials") },
  { a: [4100], b: [4100], fill: f(11, "lastMax") },
];

// ── I5c: reductions along every axis ──────────────────────────────────────────────────────────

interface ReduceCase {
  shape: number[];
  axis: number;
  fill: Fill;
  unbiased: boolean;
}

async function checkReduce(ctx: LawContext, c: ReduceCase): Promise<void> {
  const x = filled(ctx, c.shape, c.fill);
  for (const op of REDUCE) {
    const attrs = (
      op === "variance" ? { axis: c.axis, unbiased: c.unbiased } : { axis: c.axis }
    ) as { axis: number; unbiased: boolean };
    const y = (await ctx.expectMatchesReference(op, { x }, attrs)) as Tensor;
    const dy = upstream(ctx, y.shape, c.fill);
    await ctx.expectMatchesReference(`${op}_vjp` as "variance_vjp", { x, dy }, attrs);
  }
}

const REDUCE_SWEEP: ReduceCase[] = [
  { shape: [65], axis: 0, fill: f(1, "lastMax"), unbiased: false },
  { shape: [3, 257], axis: 1, fill: f(2, "ties"), unbiased: true },
  { shape: [3, 1025, 5], axis: 1, fill: f(3, "offset"), unbiased: false },
  { shape: [2, 2, 1100, 3], axis: 2, fill: f(4, "lastMax"), unbiased: true },
  { shape: [4097, 3], axis: 0, fill: f(5, "offset", 1), unbiased: true },
  { shape: [1025, 65], axis: 1, fill: f(6), unbiased: false },
  { shape: [3, 5, 129, 2], axis: 0, fill: f(7, "lastMax"), unbiased: true },
  { shape: [65537], axis: 0, fill: f(8, "lastMax"), unbiased: true },
  { shape: [65537, 2], axis: 0, fill: f(9, "offset"), unbiased: false },
];

// ── I5d: the softmax family along the last axis ───────────────────────────────────────────────

interface RowCase {
  shape: number[];
  fill: Fill;
}

async function checkRows(ctx: LawContext, c: RowCase): Promise<void> {
  const x = filled(ctx, c.shape, c.fill);
  for (const op of ROWS) {
    const y = (await ctx.expectMatchesReference(op, { x }, {})) as Tensor;
    const dy = upstream(ctx, y.shape, c.fill);
    await ctx.expectMatchesReference(`${op}_vjp` as "softmax_vjp", { x, dy }, {});
  }
}

const ROW_SWEEP: RowCase[] = [
  { shape: [257], fill: f(1, "lastMax") },
  { shape: [3, 1025], fill: f(2, "lastMax", 10) },
  { shape: [2, 3, 1100], fill: f(3, "offset", 1) },
  { shape: [1100, 5], fill: f(4, "ties") },
  { shape: [2, 2, 3, 513], fill: f(5, U, 50) },
  { shape: [3, 4097], fill: f(6, "lastMax", 50) },
  { shape: [65537], fill: f(7, "lastMax", 10) },
];

// ── I5e: losses ───────────────────────────────────────────────────────────────────────────────

interface LossCase {
  n: number;
  c: number;
  reduction: "mean" | "sum" | "none";
  /** Class indices, soft targets with rows summing to 1, or rows scaled by weights in (0, 2]. */
  target: "indices" | "soft" | "softScaled";
  fill: Fill;
}

function softTargets(ctx: LawContext, c: LossCase): Tensor {
  const t = seededPositive(c.n * c.c, { ...c.fill, seed: c.fill.seed + 3 });
  const w = seededPositive(c.n, { ...c.fill, seed: c.fill.seed + 4, scale: 2 });
  for (let r = 0; r < c.n; r++) {
    let s = 0;
    for (let j = 0; j < c.c; j++) s += t[r * c.c + j] ?? 0;
    const weight = c.target === "soft" ? 1 : (w[r] ?? 1) + 1 / 64;
    for (let j = 0; j < c.c; j++) {
      t[r * c.c + j] = s > 0 ? Math.fround(((t[r * c.c + j] ?? 0) / s) * weight) : 0;
    }
  }
  return ctx.t([c.n, c.c], t);
}

async function checkLoss(ctx: LawContext, c: LossCase): Promise<void> {
  const logits = filled(ctx, [c.n, c.c], c.fill);
  const idx: IndexTensor = indices([c.n], seededIndices(c.n, c.c, c.fill.seed));
  const target = c.target === "indices" ? idx : softTargets(ctx, c);
  const attrs = { reduction: c.reduction };
  const y = (await ctx.expectMatchesReference(
    "cross_entropy",
    { logits, target },
    attrs,
  )) as Tensor;
  const dy = upstream(ctx, y.shape, c.fill);
  await ctx.expectMatchesReference("cross_entropy_vjp", { logits, target, dy }, attrs);
  await ctx.expectMatchesReference("cross_entropy_fused", { logits, target }, attrs);
  await ctx.expectMatchesReference("nll", { logp: logits, target: idx }, attrs);
  await ctx.expectMatchesReference("nll_vjp", { logp: logits, target: idx, dy }, attrs);
  const pred = filled(ctx, [c.n, c.c], { ...c.fill, seed: c.fill.seed + 9, family: U });
  await ctx.expectMatchesReference("mse", { pred, target: logits }, attrs);
  const dmse = upstream(ctx, c.reduction === "none" ? [c.n, c.c] : [], c.fill);
  await ctx.expectMatchesReference("mse_vjp", { pred, target: logits, dy: dmse }, attrs);
}

const LOSS_SWEEP: LossCase[] = [
  { n: 3, c: 257, reduction: "mean", target: "indices", fill: f(1, "lastMax") },
  { n: 1025, c: 7, reduction: "none", target: "softScaled", fill: f(2) },
  { n: 5, c: 1025, reduction: "sum", target: "softScaled", fill: f(3, "offset", 1) },
  { n: 4097, c: 3, reduction: "mean", target: "soft", fill: f(4) },
  { n: 2, c: 32001, reduction: "none", target: "indices", fill: f(5, "lastMax") },
  // A reduced batch just past a block of 1024 with a long partial block (4097 leaves one row,
  // within the mean's budget).
  { n: 1100, c: 3, reduction: "sum", target: "indices", fill: f(7) },
  { n: 65537, c: 2, reduction: "mean", target: "indices", fill: f(6) },
];

// ── I5f: layer-norm ───────────────────────────────────────────────────────────────────────────

interface NormCase {
  shape: number[];
  eps: number;
  fill: Fill;
}

async function checkLayerNorm(ctx: LawContext, c: NormCase): Promise<void> {
  const d = c.shape[c.shape.length - 1] ?? 1;
  const x = filled(ctx, c.shape, c.fill);
  const gamma = filled(ctx, [d], f(c.fill.seed + 5, U, 2));
  const beta = filled(ctx, [d], f(c.fill.seed + 6, U, 2));
  await ctx.expectMatchesReference("layer_norm", { x, gamma, beta }, { eps: c.eps });
  const dy = upstream(ctx, c.shape, c.fill);
  await ctx.expectMatchesReference("layer_norm_vjp", { x, gamma, beta, dy }, { eps: c.eps });
}

const LAYER_NORM_SWEEP: NormCase[] = [
  { shape: [257], eps: 1e-5, fill: f(1) },
  { shape: [3, 1025], eps: 1e-5, fill: f(2, "offset", 1) },
  { shape: [2, 3, 1100], eps: 1e-12, fill: f(3, "lastMax") },
  { shape: [1100, 8], eps: 1, fill: f(4) },
  { shape: [2, 2, 2, 513], eps: 1e-3, fill: f(5) },
  { shape: [3, 4097], eps: 1e-5, fill: f(6, "offset", 10) },
  { shape: [65537], eps: 1e-5, fill: f(7, "lastMax") },
  // Many short rows: a kernel that gives each row one thread (ours, below 9 elements) fills a
  // workgroup with 256 rows, and its row arithmetic past the first workgroup shows only here
  // (as do dγ and dβ's column sums over thousands of rows one, two and four wide).
  { shape: [4099, 5], eps: 1e-5, fill: f(8, "lastMax") },
  { shape: [7, 293, 3], eps: 1e-3, fill: f(9, "offset", 10) },
  { shape: [2, 2050, 1], eps: 1e-5, fill: f(18) },
  { shape: [4100, 2], eps: 1e-5, fill: f(16) },
  { shape: [3, 700, 4], eps: 1e-12, fill: f(17, "offset", 1) },
  // Rows of 10 to 300 elements, 20 to 300 of them: a kernel that spreads a row over a segment
  // of 2 to 64 threads (ours, on a software adapter) packs several rows into each workgroup,
  // and each of those segment widths runs 3 to 7 workgroups here and nowhere else.
  { shape: [3, 100, 10], eps: 1e-5, fill: f(10) },
  { shape: [300, 20], eps: 1e-12, fill: f(11, "lastMax") },
  { shape: [2, 50, 40], eps: 1e-5, fill: f(12, "offset", 10) },
  { shape: [100, 80], eps: 1, fill: f(13) },
  { shape: [3, 11, 160], eps: 1e-5, fill: f(14, "lastMax") },
  { shape: [2, 2, 5, 300], eps: 1e-3, fill: f(15, "offset", 1) },
];

// ── I5g: batch-norm ───────────────────────────────────────────────────────────────────────────

interface BatchNormCase {
  n: number;
  c: number;
  training: boolean;
  momentum: number;
  eps: number;
  fill: Fill;
}

async function checkBatchNorm(ctx: LawContext, c: BatchNormCase): Promise<void> {
  const x = filled(ctx, [c.n, c.c], c.fill);
  const gamma = filled(ctx, [c.c], f(c.fill.seed + 5, U, 2));
  const beta = filled(ctx, [c.c], f(c.fill.seed + 6, U, 2));
  const runningMean = filled(ctx, [c.c], f(c.fill.seed + 7, U, 1));
  const rv = seededPositive(c.c, f(c.fill.seed + 8, U, 2)).map((v) => Math.fround(v + 0.5));
  const runningVar = ctx.t([c.c], rv);
  const attrs = { training: c.training, momentum: c.momentum, eps: c.eps };
  const inputs = { x, gamma, beta, runningMean, runningVar };
  await ctx.expectMatchesReference("batch_norm", inputs, attrs);
  if (!c.training) return;
  const dy = upstream(ctx, [c.n, c.c], c.fill);
  await ctx.expectMatchesReference("batch_norm_vjp", { x, gamma, dy }, { eps: c.eps });
}

const BATCH_NORM_SWEEP: BatchNormCase[] = [
  { n: 65, c: 3, training: true, momentum: 0.1, eps: 1e-5, fill: f(1) },
  { n: 1025, c: 3, training: true, momentum: 0.1, eps: 1e-5, fill: f(2, "offset", 1) },
  { n: 5, c: 1025, training: true, momentum: 1, eps: 1e-12, fill: f(3) },
  { n: 1100, c: 257, training: true, momentum: 0, eps: 1, fill: f(4, "lastMax") },
  { n: 129, c: 257, training: false, momentum: 0.1, eps: 1e-5, fill: f(5) },
  { n: 4097, c: 17, training: true, momentum: 0.01, eps: 1e-3, fill: f(6, "offset", 10) },
  { n: 65537, c: 2, training: true, momentum: 0.5, eps: 1e-5, fill: f(7) },
  // One channel, and a few: a kernel that tiles the channels (ours: 1, 2, 4, … 64 per tile)
  // runs a different tile at each, here over batches past 4096.
  { n: 4099, c: 1, training: true, momentum: 0.1, eps: 1e-5, fill: f(8, "lastMax") },
  { n: 4101, c: 7, training: true, momentum: 0.9, eps: 1e-5, fill: f(9, "offset", 10) },
];

// ── I5h: matmul ───────────────────────────────────────────────────────────────────────────────

interface MatmulCase {
  batch: number[];
  m: number;
  k: number;
  n: number;
  fill: Fill;
}

async function checkMatmul(ctx: LawContext, c: MatmulCase): Promise<void> {
  const a = filled(ctx, [...c.batch, c.m, c.k], c.fill);
  const b = filled(ctx, [...c.batch, c.k, c.n], { ...c.fill, seed: c.fill.seed + 1 });
  await ctx.expectMatchesReference("matmul", { a, b }, {});
  const dy = upstream(ctx, [...c.batch, c.m, c.n], c.fill);
  await ctx.expectMatchesReference("matmul_vjp", { a, b, dy }, {});
}

const MATMUL_SWEEP: MatmulCase[] = [
  { batch: [], m: 129, k: 129, n: 129, fill: f(1, U, 1) },
  { batch: [], m: 1, k: 257, n: 65, fill: f(2, U, 1) },
  { batch: [2], m: 257, k: 65, n: 1, fill: f(3, "lastMax", 1) },
  { batch: [2, 3], m: 65, k: 1, n: 129, fill: f(4, U, 4) },
  { batch: [3, 2], m: 33, k: 129, n: 17, fill: f(5, U, 1) },
  { batch: [], m: 257, k: 257, n: 129, fill: f(6, U, 1) },
  // 21 products of 16 × 16 outputs: a kernel for small products (ours, one thread an output
  // over all the batch) must find each product's operands past its first workgroup.
  { batch: [3, 7], m: 16, k: 5, n: 16, fill: f(7, U, 4) },
];

// ── I5i: dropout masks ────────────────────────────────────────────────────────────────────────

interface DropoutCase {
  shape: number[];
  /** p at an element's exact threshold ("exact": kept, "above": dropped), 0.5, or near 1. */
  p: "exact" | "above" | "ordinary" | "nearOne";
  seed: number;
}

/** Word 0 of dropout's Philox draw for element i. */
function dropWord(seed: number, i: number): number {
  const [k0, k1] = seedKey(seed);
  return philoxInto(new Uint32Array(4), i, 0, 0, 0, k0, k1)[0] ?? 0;
}

async function checkDropout(ctx: LawContext, c: DropoutCase): Promise<void> {
  const n = sizeOf(c.shape);
  // An element past 2^16 whose Philox word puts p exactly at its threshold.
  const w = dropWord(c.seed, 65536 + (c.seed % (n - 65536)));
  const p = { exact: w / 2 ** 32, above: (w + 1) / 2 ** 32, ordinary: 0.5, nearOne: 0.9999 }[c.p];
  if (!(p >= 0 && p < 1)) return;
  const x = filled(ctx, c.shape, f(c.seed, U, 1));
  const attrs = { p, seed: c.seed, training: true };
  // Survivors are x/(1 − p): compared with the reference, a wrong mask is a wrong value.
  await ctx.expectMatchesReference("dropout", { x }, attrs);
  const dy = upstream(ctx, c.shape, f(c.seed));
  await ctx.expectMatchesReference("dropout_vjp", { x, dy }, attrs);
}

const DROPOUT_SWEEP: DropoutCase[] = [
  { shape: [131073], p: "exact", seed: 11 },
  { shape: [131073], p: "above", seed: 12 },
  { shape: [2, 3, 5, 4370], p: "ordinary", seed: 13 },
  { shape: [4, 65537], p: "nearOne", seed: 14 },
];

// ── I5j: past the 1-D grid limit ──────────────────────────────────────────────────────────────

/** A tensor of n values made cheaply: a seeded block of prime length, repeated, so that no two
 * workgroups see the same values in the same lanes. Written into the tensor in place: on the CI
 * machine touching fresh memory costs more than computing the values (0.5 s per 64 MiB). */
function tiled(ctx: LawContext, n: number): Tensor {
  const period = 65521;
  const block = seededValues(period, period, f(ctx.seed));
  const x = ctx.t([n], 0);
  for (let i = 0; i < n; i += period) x.data.set(block.subarray(0, Math.min(period, n - i)), i);
  return x;
}

/** The first 4096 indices, those around every 2^16 boundary and the whole tail past the limit. */
function boundaryIndices(n: number): number[] {
  const picked: number[] = [];
  for (let i = 0; i < 4096; i++) picked.push(i);
  for (let b = 1 << 16; b < n; b += 1 << 16) for (let i = b - 2; i < b + 2; i++) picked.push(i);
  for (let i = GRID_LIMIT - 256; i < n; i++) picked.push(i);
  return picked;
}

/**
 * y = op(inputs) past the grid limit, checked on boundaryIndices: each input is gathered through
 * `at` (the element output i reads), and the reference of the gathered elements is exact since
 * the op is elementwise.
 */
async function checkGathered(
  ctx: LawContext,
  op: OpName,
  at: Record<string, (i: number) => number | undefined>,
  y: Tensor,
  attrs: Record<string, never>,
  where: string,
): Promise<void> {
  const picked = boundaryIndices(y.data.length);
  const gather = (value: (i: number) => number | undefined) =>
    ctx.t(
      [picked.length],
      picked.map((i) => value(i) ?? 0),
    );
  const inputs = Object.fromEntries(Object.entries(at).map(([name, v]) => [name, gather(v)]));
  const { expected, fields } = await ctx.budget(op, inputs as never, attrs);
  const ys = gather((i) => y.data[i]);
  const full = `${where} (past the grid limit ${GRID_LIMIT}), at the 2^16 boundaries and the tail`;
  ctx.expectClose(full, ys, (expected as Tensor).data, fields.y?.tol ?? 0, fields.y?.rule);
}

async function pastTheGrid(ctx: LawContext, op: UnaryOp, x: Tensor): Promise<void> {
  const attrs = (op === "leaky_relu" ? { alpha: 0.01 } : {}) as Record<string, never>;
  const y = (await ctx.call(op, { x }, attrs)) as Tensor;
  const where = `${op} on ${x.data.length} elements`;
  await checkGathered(ctx, op, { x: (i) => x.data[i] }, y, attrs, where);
}

/** x's length, GRID_LIMIT + 1001, is 491 · 34171: x as a matrix, for the broadcasts below. */
const GRID_ROWS = 491;

/**
 * A binary op past the grid limit. add and mul take x with itself; sub takes a row of 34171
 * broadcast down x's 491 rows, div a column of 491 broadcast across them, so that both
 * broadcast index maps reach past the limit too.
 */
async function pastTheGridBinary(ctx: LawContext, op: BinaryOp, x: Tensor): Promise<void> {
  const cols = x.data.length / GRID_ROWS;
  const a: Tensor = { ...x, shape: [GRID_ROWS, cols] };
  const b =
    op === "sub"
      ? filled(ctx, [cols], f(ctx.seed + 1))
      : op === "div"
        ? ctx.t([GRID_ROWS, 1], seededPositive(GRID_ROWS, f(ctx.seed + 2, U, 4)))
        : a;
  const bAt = (i: number) =>
    op === "sub" ? b.data[i % cols] : op === "div" ? b.data[Math.floor(i / cols)] : b.data[i];
  const y = (await ctx.call(op, { a, b }, {})) as Tensor;
  const where = `${op} of ${formatShape(a.shape)} and ${formatShape(b.shape)}`;
  await checkGathered(ctx, op, { a: (i) => a.data[i], b: bAt }, y, {}, where);
}

// ── The laws ──────────────────────────────────────────────────────────────────────────────────

export const sizeLaws: Law[] = [
  {
    id: "I5a",
    topic: "engine",
    title:
      "every unary op and activation, and its gradient, equals the float64 reference on ranks 0 to 4, empty tensors and sizes past every block boundary",
    note: "Notes 003/004: an elementwise kernel is one thread per element (or a vector of four); what goes wrong is the index arithmetic — the tail past the last full workgroup, vector loads past the end, a rank assumed to be 2.",
    ops: [...UNARY, ...vjpOf(UNARY)],
    runs: RUNS,
    async check(ctx) {
      if (isReference(ctx)) return;
      await sweep(ctx, UNARY_SWEEP, (c) => checkUnary(ctx, c));
      await ctx.property(
        boundaryShape(0, 4, 65537),
        fc.boolean(),
        fillOf(["uniform", "specials", "lastMax"]),
        fc.constantFrom(0.01, 0, 1, 0.2, -0.5),
        async ({ shape }, empty, fill, alpha) => {
          const s = empty && shape.length > 0 ? [...shape.slice(0, -1), 0] : shape;
          await checkUnary(ctx, { shape: s, fill, alpha });
        },
      );
    },
  },
  {
    id: "I5b",
    topic: "engine",
    title:
      "add, sub, mul and div, and their gradients, equal the float64 reference when any dimension of either side broadcasts, on ranks 1 to 4, empty tensors and sizes past every block boundary",
    note: "Note 004 (backprop through broadcasting sums the gradient over the stretched dims): a kernel reads a size-1 dim with stride 0; with the wrong stride in one position, or a gradient not summed over a middle dim, only that shape shows it.",
    ops: [...BINARY, ...vjpOf(BINARY)],
    runs: RUNS,
    async check(ctx) {
      if (isReference(ctx)) return;
      await sweep(ctx, BINARY_SWEEP, (c) => checkBinary(ctx, c));
      await ctx.property(
        boundaryShape(1, 4, 65537),
        fc.array(fc.constantFrom("both", "a1", "b1"), { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 2 }),
        fc.boolean(),
        fillOf(["uniform", "lastMax"]),
        async ({ shape }, roles, dropLead, empty, fill) => {
          const out = empty ? [...shape.slice(0, -1), 0] : shape;
          // Each dim is full on both sides or size 1 on one of them; b may lose leading dims.
          const a = out.map((d, i) => (roles[i] === "a1" ? 1 : d));
          const bFull = out.map((d, i) => (roles[i] === "b1" ? 1 : d));
          const b = bFull.slice(Math.min(dropLead, bFull.length - 1));
          await checkBinary(ctx, { a, b, fill });
        },
      );
    },
  },
  {
    id: "I5c",
    topic: "engine",
    title:
      "sum, mean, max and variance, and their gradients, equal the float64 reference along every axis of ranks 1 to 4, with axis lengths past 1024 and up to 65537",
    note: "Notes 000/003 (batch statistics and losses are reductions): a GPU reduction is a tree over workgroups and chunks; the tail block, the chunk merge (Chan's δ² term and unequal counts), a middle axis's stride and the accumulator's precision all break only at length.",
    ops: [...REDUCE, ...vjpOf(REDUCE)],
    runs: RUNS,
    async check(ctx) {
      if (isReference(ctx)) return;
      await sweep(ctx, REDUCE_SWEEP, (c) => checkReduce(ctx, c));
      await ctx.property(
        boundaryShape(1, 4, 65537),
        fc.nat(),
        fc.boolean(),
        fillOf(["uniform", "lastMax", "ties", "offset"]),
        async ({ shape, at }, axisPick, unbiased, fill) => {
          // Mostly the long axis; otherwise another, so that the long dim is the parallel one.
          const axis = axisPick % 3 !== 0 ? at : (at + 1 + axisPick) % shape.length;
          await checkReduce(ctx, { shape, axis, fill, unbiased: unbiased && shape[axis] >= 2 });
        },
      );
    },
  },
  {
    id: "I5d",
    topic: "engine",
    title:
      "softmax, log_softmax and logsumexp, and their gradients, equal the float64 reference on rows past 1024 and up to 65537, on ranks 1 to 4",
    note: "Notes 000/001 (the max-shift and the online softmax): a long row is split over threads and chunks whose partial maxima and sums are merged; a merge that forgets to rescale, or a row cut at the workgroup, is right on short rows only.",
    ops: [...ROWS, ...vjpOf(ROWS)],
    runs: RUNS,
    async check(ctx) {
      if (isReference(ctx)) return;
      await sweep(ctx, ROW_SWEEP, (c) => checkRows(ctx, c));
      await ctx.property(
        boundaryShape(1, 4, 65537),
        fc.boolean(),
        fillOf(["uniform", "lastMax", "ties", "offset"], [1, 10, 50]),
        async ({ shape }, longRows, fill) => {
          await checkRows(ctx, { shape: longRows ? longLast(shape) : shape, fill });
        },
      );
    },
  },
  {
    id: "I5e",
    topic: "engine",
    title:
      "cross-entropy (class indices, and soft targets whose rows need not sum to 1), its gradient, the fused call, nll and mse equal the float64 reference with rows and batches past 1024",
    note: "Notes 000/002 (cross-entropy is the NLL of log-softmax; soft targets are weights): the loss of a long row is a softmax-style reduction, a mean over a large batch a sum; and a kernel that assumes Σt = 1 is right only for probability targets.",
    ops: [
      "cross_entropy",
      "cross_entropy_vjp",
      "cross_entropy_fused",
      "nll",
      "nll_vjp",
      "mse",
      "mse_vjp",
    ],
    runs: RUNS,
    async check(ctx) {
      if (isReference(ctx)) return;
      await sweep(ctx, LOSS_SWEEP, (c) => checkLoss(ctx, c));
      await ctx.property(
        fc.constantFrom(...sizesUpTo(4097)),
        // At least two classes: one class is a degenerate loss (always 0) libraries reject.
        // The sweep holds the 32 001-class row; random rows stay within 4097.
        fc.constantFrom(...sizesUpTo(4097).filter((c) => c >= 2)),
        fc.constantFrom("mean", "sum", "none"),
        fc.constantFrom("indices", "soft", "softScaled"),
        fillOf(["uniform", "lastMax", "offset"], [1, 10, 50]),
        async (nDraw, cDraw, reduction, target, fill) => {
          // Within CAP: the longer of the two keeps its size.
          const n = nDraw * cDraw <= CAP || nDraw >= cDraw ? nDraw : Math.floor(CAP / cDraw) || 1;
          const c =
            nDraw * cDraw <= CAP || cDraw > nDraw ? cDraw : Math.max(2, Math.floor(CAP / nDraw));
          await checkLoss(ctx, { n, c, reduction, target, fill });
        },
      );
    },
  },
  {
    id: "I5f",
    topic: "engine",
    title:
      "layer-norm and its gradient equal the float64 reference with rows D past 1024, on ranks 1 to 4, for ε from 1e-12 to 1",
    note: "Note 000 (layer-norm normalises each example over its features): the statistics of a long row are a workgroup reduction, and dx's two mean terms are two more.",
    ops: ["layer_norm", "layer_norm_vjp"],
    runs: RUNS,
    async check(ctx) {
      if (isReference(ctx)) return;
      await sweep(ctx, LAYER_NORM_SWEEP, (c) => checkLayerNorm(ctx, c));
      await ctx.property(
        boundaryShape(1, 4, 65537),
        fc.boolean(),
        fc.constantFrom(1e-5, 1e-12, 1e-3, 1),
        fillOf(["uniform", "offset", "lastMax"]),
        async ({ shape }, longRows, eps, fill) => {
          await checkLayerNorm(ctx, { shape: longRows ? longLast(shape) : shape, eps, fill });
        },
      );
    },
  },
  {
    id: "I5g",
    topic: "engine",
    title:
      "batch-norm (training, eval and one step of the running statistics) and its gradient equal the float64 reference with batches past 1024 and features past 256, for momentum from 0 to 1 and ε from 1e-12 to 1",
    note: "Notes 000/002 (batch statistics per feature, the running averages for inference): a column reduction over N is merged across workgroups; features past a workgroup of 256 are a second dispatch dimension.",
    ops: ["batch_norm", "batch_norm_vjp"],
    runs: RUNS,
    async check(ctx) {
      if (isReference(ctx)) return;
      await sweep(ctx, BATCH_NORM_SWEEP, (c) => checkBatchNorm(ctx, c));
      await ctx.property(
        fc.constantFrom(...sizesUpTo(65537).filter((n) => n >= 2)),
        fc.constantFrom(...sizesUpTo(4097)),
        fc.boolean(),
        fc.constantFrom(0.1, 0, 1, 0.01, 0.5),
        fc.constantFrom(1e-5, 1e-12, 1e-3, 1),
        fillOf(["uniform", "offset", "lastMax"]),
        async (nDraw, cDraw, training, momentum, eps, fill) => {
          const n =
            nDraw * cDraw <= CAP || nDraw >= cDraw ? nDraw : Math.max(2, Math.floor(CAP / cDraw));
          const c =
            nDraw * cDraw <= CAP || cDraw > nDraw ? cDraw : Math.max(1, Math.floor(CAP / nDraw));
          await checkBatchNorm(ctx, { n, c, training, momentum, eps, fill });
        },
      );
    },
  },
  {
    id: "I5h",
    topic: "engine",
    title:
      "matmul and its gradient equal the float64 reference with M, N and K each past 128 and up to two leading batch dims",
    note: "Note 004 (a layer is a matrix product; dA = dY·Bᵀ, dB = Aᵀ·dY): tiled kernels go wrong on the partial tile in M, N or K and on the batch stride; 64-wide tiles need sizes past 128 to show a second partial tile.",
    ops: ["matmul", "matmul_vjp"],
    runs: RUNS,
    async check(ctx) {
      if (isReference(ctx)) return;
      await sweep(ctx, MATMUL_SWEEP, (c) => checkMatmul(ctx, c));
      // The sweep holds the products past 256; random ones stay within 129.
      const dims = [1, 3, 31, 63, 64, 65, 127, 128, 129];
      await ctx.property(
        fc.array(fc.constantFrom(1, 2, 3), { maxLength: 2 }),
        fc.constantFrom(...dims),
        fc.constantFrom(...dims),
        fc.constantFrom(...dims),
        fillOf(["uniform", "lastMax"], [1, 4]),
        async (batch, m, k, n, fill) => {
          // At most 2^22 multiply-adds: past that the batch goes.
          const b = m * k * n * 6 > 1 << 22 ? [] : batch;
          await checkMatmul(ctx, { batch: b, m, k, n, fill });
        },
      );
    },
  },
  {
    id: "I5i",
    topic: "engine",
    title:
      "dropout's mask equals the Philox mask bit for bit on 2^17 elements and more, on ranks 1 to 4, with p at an element's exact Philox threshold and p close to 1",
    note: "Notes 003/004 (inverted dropout; the mask is reproducible): the Philox counter is the element index, so a kernel that wraps it at 2^16 or compares with ≤ instead of < is right on small tensors and at ordinary p only.",
    ops: ["dropout", "dropout_vjp"],
    runs: 4,
    appliesTo: (b) => b.rng === "philox4x32-10",
    async check(ctx) {
      if (isReference(ctx)) return;
      await sweep(ctx, DROPOUT_SWEEP, (c) => checkDropout(ctx, c));
      await ctx.property(
        fc.constantFrom<number[]>([131073], [3, 65537], [2, 2, 40000], [2, 2, 2, 20000]),
        fc.constantFrom("exact", "above", "ordinary", "nearOne"),
        fc.nat({ max: 2 ** 31 - 1 }),
        async (shape, p, seed) => checkDropout(ctx, { shape, p, seed }),
      );
    },
  },
  {
    id: "I5j",
    topic: "engine",
    title:
      "every elementwise op and activation, unary and binary (broadcast too), equals the float64 reference on a tensor past the 1-D grid limit of 65535 workgroups of 256 threads",
    note: "Notes 003/004: one thread per element needs more than 65535 workgroups of 256 past 16 776 960 elements; a kernel must fold the rest into a second grid axis or a loop, and its index arithmetic is wrong only there.",
    ops: [...UNARY, ...BINARY],
    runs: 1,
    async check(ctx) {
      // One deterministic case per op (16.8 million elements: large, so not a property).
      if (isReference(ctx)) return;
      // An odd length: a kernel that reads four elements per thread when the length allows it
      // (ours does) needs only a quarter of the threads, and would never reach the limit; at an
      // odd length it runs one thread per element, past 65535 workgroups.
      const x = tiled(ctx, GRID_LIMIT + 1001);
      for (const op of BINARY) await pastTheGridBinary(ctx, op, x);
      for (const op of UNARY) await pastTheGrid(ctx, op, x);
    },
  },
];
