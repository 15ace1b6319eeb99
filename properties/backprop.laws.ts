/**
 * G. Backprop and gradient flow [notes 003, 004, 002].
 *
 * G1 checks every `<op>_vjp` of the contract, split by op family so a failure names it, in two
 * steps per case:
 *  1. the backend's vjp equals the float64 reference vjp on the same inputs, within the op's
 *     budget for the backend's dtype (this is what a float32 kernel is held to);
 *  2. the float64 vjp (the backend's own on a float64 backend, else the reference) equals central
 *     finite differences of the float64 forward: the full Jacobian for small inputs, random
 *     directions ⟨vjp(v), w⟩ vs d/dt ⟨v, f(x + t·w)⟩ for larger ones.
 * Finite differences in float32 are not a law: the best step h ≈ u^(1/3) leaves an error of
 * about u^(2/3)·(|f‴|s² + |f|/s) ≈ 1e-5 relative with unknown constants, far more than a
 * float32 kernel's own error, so any tolerance loose enough never to flag a correct kernel would
 * also pass real bugs (a misplaced ε, a dropped small term). In float64 the same error is
 * ≈ 4e-11, which leaves room for a principled bound.
 */
import fc from "fast-check";
import {
  type Caller,
  callDynamic,
  type DifferentiableOp,
  gradRules,
  outputOf,
  Tape,
  type Var,
} from "../src/engine/autograd.ts";
import { type Backend, type OpName, UNARY_OPS } from "../src/engine/contract.ts";
import { activate, forwardMlp, type Mlp, mlp, sgdStep } from "../src/engine/nn.ts";
import { normalAt } from "../src/engine/random.ts";
import { type AnyTensor, cast, indices, type Tensor, tensor } from "../src/engine/tensor.ts";
import { classIndices, moderate, probabilityVector, tensorOf } from "../src/harness/arbitraries.ts";
import { vjpTermBounds } from "../src/harness/budgets.ts";
import type { Law, LawContext } from "../src/harness/law.ts";
import { ALPHA, normalQuantileTwoSided } from "../src/harness/stats.ts";
import { budgetFor } from "../src/harness/tolerance.ts";

// ---------------------------------------------------------------------------------------------
// Finite differences in float64

/** ε of float64 and the central-difference step factor ε^(1/3) ≈ 6.1e-6. */
const EPS = 2 ** -52;
const STEP = Math.cbrt(EPS);
/**
 * With h = ε^(1/3)·s (s = max(1, |x|)), central differences err by about
 * ε^(2/3)·(s²|f‴|/6 + |f|/s) ≈ 3.7e-11·(…); for f whose curvature lives at the scale of its
 * inputs (s²|f‴| ≲ 100·|f′|, guaranteed by keeping inputs away from kinks and poles) that is
 * below 1e-9·(G + F/s). RHO = 1e-6 leaves a margin of 1000 over that, and is still a million
 * times smaller than the O(G) error of any missing or misplaced term.
 */
const RHO = 1e-6;
const FD_RULE =
  "1e-6·(max|J| + max|f|/max(1,|x|)): ~10³× the central-difference error ε^(2/3)·(s²|f‴|/6 + |f|/s)";

/** Deterministic standard normals for directions and upstream gradients. */
function normals(seed: number, n: number, stream: number): number[] {
  return Array.from({ length: n }, (_, i) => normalAt(seed, i, stream));
}

const f64 = (shape: readonly number[], values: ArrayLike<number>): Tensor =>
  tensor("float64", shape, values);

function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]));
  return m;
}

function norm2(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i] * xs[i];
  return Math.sqrt(s);
}

/** Where float64 truth comes from: the backend itself if it computes in float64, else the reference. */
function exactCaller(ctx: LawContext): Caller {
  return ctx.dtype === "float64"
    ? (op, i, a) => ctx.call(op, i, a)
    : (op, i, a) => ctx.ref(op, i, a);
}

function exactBackend(ctx: LawContext): Backend {
  return ctx.dtype === "float64" ? ctx.backend : ctx.options.reference;
}

/** Runs every kernel on the backend and checks it against the reference within its budget. */
function checkedCaller(ctx: LawContext): Caller {
  return (async (op: OpName, i: Record<string, AnyTensor>, a: Record<string, unknown>) => {
    if (!op.endsWith("_vjp")) return ctx.expectMatchesReference(op, i as never, a as never);
    return expectVjpMatchesReference(ctx, op.slice(0, -4) as DifferentiableOp, i, a);
  }) as unknown as Caller;
}

/** Calls `<op>_vjp` on the backend and checks it against the reference within the op's budget. */
async function expectVjpMatchesReference(
  ctx: LawContext,
  op: DifferentiableOp,
  inputs: Record<string, AnyTensor>,
  attrs: Record<string, unknown>,
): Promise<Tensor | Record<string, Tensor>> {
  return (await ctx.expectMatchesReference(
    `${op}_vjp` as OpName,
    inputs as never,
    attrs as never,
  )) as Tensor | Record<string, Tensor>;
}

// ---------------------------------------------------------------------------------------------
// One op's gradient check

interface Spec {
  shape: number[];
  values: number[];
  /** Class indices (int32) rather than floats. */
  int?: boolean;
}

/** A generated case: a forward op, its inputs and attributes, and a seed for dy and directions. */
interface GradCase {
  op: DifferentiableOp;
  inputs: Record<string, Spec>;
  attrs: Record<string, unknown>;
  seed: number;
}

function materialise(ctx: LawContext, c: GradCase): Record<string, AnyTensor> {
  const out: Record<string, AnyTensor> = {};
  for (const [k, s] of Object.entries(c.inputs))
    out[k] = s.int ? indices(s.shape, s.values) : ctx.t(s.shape, s.values);
  return out;
}

function widen(inputs: Record<string, AnyTensor>): Record<string, AnyTensor> {
  const out: Record<string, AnyTensor> = {};
  for (const [k, t] of Object.entries(inputs))
    out[k] = t.data instanceof Int32Array ? t : cast(t as Tensor, "float64");
  return out;
}

function pick(
  inputs: Record<string, AnyTensor>,
  keys: readonly string[],
): Record<string, AnyTensor> {
  return Object.fromEntries(keys.map((k) => [k, inputs[k]]));
}

/**
 * Checks `c.op`'s vjp: the backend's against the reference's within budget, then the float64 vjp
 * against central differences (full Jacobian when small, random directions otherwise).
 * `fd: false` skips the second step where the op is not differentiable (tied maxima).
 */
async function checkGradient(ctx: LawContext, c: GradCase, fd = true): Promise<void> {
  const rule = gradRules[c.op];
  const vjpOp = `${c.op}_vjp` as OpName;
  const vjpAttrs = rule.attrs ? rule.attrs(c.attrs) : c.attrs;
  const wrt = Object.keys(rule.grads).filter((k) => c.inputs[k] !== undefined);
  const inputs = materialise(ctx, c);

  const y0 = outputOf(await callDynamic(exactCaller(ctx), c.op, widen(inputs), c.attrs), "y");
  const dy = ctx.t(y0.shape, normals(c.seed, y0.data.length, 3));
  await expectVjpMatchesReference(ctx, c.op, { ...pick(inputs, rule.saved), dy }, vjpAttrs);
  if (!fd) return;

  const base = widen(inputs);
  const nIn = wrt.reduce((n, k) => n + base[k].data.length, 0);
  const nOut = y0.data.length;
  if (nIn <= 40 && nOut <= 20) await jacobianCheck(ctx, c, base, wrt, y0, vjpOp, vjpAttrs);
  else await directionCheck(ctx, c, base, wrt, y0, vjpOp, vjpAttrs);
}

/** The float64 forward at `inputs` with one input replaced. */
async function forwardAt(
  ctx: LawContext,
  c: GradCase,
  inputs: Record<string, AnyTensor>,
  key: string,
  values: Float64Array,
): Promise<Float64Array> {
  const t = f64(inputs[key].shape, values);
  const out = await callDynamic(exactCaller(ctx), c.op, { ...inputs, [key]: t }, c.attrs);
  return Float64Array.from(outputOf(out, "y").data);
}

async function vjpAt(
  ctx: LawContext,
  c: GradCase,
  inputs: Record<string, AnyTensor>,
  dy: Tensor,
  vjpOp: OpName,
  vjpAttrs: Record<string, unknown>,
): Promise<Record<string, Tensor>> {
  const rule = gradRules[c.op];
  const out = await callDynamic(
    exactCaller(ctx),
    vjpOp,
    { ...pick(inputs, rule.saved), dy },
    vjpAttrs,
  );
  return Object.fromEntries(
    Object.entries(rule.grads).map(([input, key]) => [input, outputOf(out, key)]),
  );
}

async function jacobianCheck(
  ctx: LawContext,
  c: GradCase,
  base: Record<string, AnyTensor>,
  wrt: string[],
  y0: Tensor,
  vjpOp: OpName,
  vjpAttrs: Record<string, unknown>,
): Promise<void> {
  const nOut = y0.data.length;
  const cols: { key: string; e: number; s: number }[] = [];
  for (const key of wrt)
    for (let e = 0; e < base[key].data.length; e++)
      cols.push({ key, e, s: Math.max(1, Math.abs(base[key].data[e])) });
  const nIn = cols.length;
  const fdJ = new Float64Array(nOut * nIn);
  for (let j = 0; j < nIn; j++) {
    const { key, e, s } = cols[j];
    const x = Float64Array.from(base[key].data);
    const x0 = x[e];
    const xp = x0 + STEP * s;
    const xm = x0 - STEP * s;
    x[e] = xp;
    const yp = await forwardAt(ctx, c, base, key, x);
    x[e] = xm;
    const ym = await forwardAt(ctx, c, base, key, x);
    for (let i = 0; i < nOut; i++) fdJ[i * nIn + j] = (yp[i] - ym[i]) / (xp - xm);
  }
  const vjpJ = new Float64Array(nOut * nIn);
  for (let i = 0; i < nOut; i++) {
    const onehot = new Float64Array(nOut);
    onehot[i] = 1;
    const g = await vjpAt(ctx, c, base, f64(y0.shape, onehot), vjpOp, vjpAttrs);
    for (let j = 0; j < nIn; j++) vjpJ[i * nIn + j] = g[cols[j].key].data[cols[j].e];
  }
  const G = maxAbs(vjpJ);
  const F = maxAbs(y0.data);
  const tol = Float64Array.from(vjpJ, (_, idx) => RHO * (G + F / cols[idx % nIn].s));
  ctx.expectClose(
    `${c.op} Jacobian (rows: outputs, columns: ${wrt.join(", ")}): float64 vjp vs central differences`,
    { shape: [nOut, nIn], data: vjpJ },
    fdJ,
    tol,
    FD_RULE,
  );
}

async function directionCheck(
  ctx: LawContext,
  c: GradCase,
  base: Record<string, AnyTensor>,
  wrt: string[],
  y0: Tensor,
  vjpOp: OpName,
  vjpAttrs: Record<string, unknown>,
): Promise<void> {
  const s = Math.max(1, ...wrt.map((k) => maxAbs(base[k].data)));
  const h = STEP * s;
  for (let r = 0; r < 3; r++) {
    const v = f64(y0.shape, normals(c.seed, y0.data.length, 10 + r));
    const w = Object.fromEntries(
      wrt.map((k, i) => [k, normals(c.seed, base[k].data.length, 20 + 4 * r + i)]),
    );
    const g = await vjpAt(ctx, c, base, v, vjpOp, vjpAttrs);
    let A = 0;
    let G = 0;
    for (const k of wrt) {
      for (let e = 0; e < w[k].length; e++) {
        A += g[k].data[e] * w[k][e];
        G += Math.abs(g[k].data[e] * w[k][e]);
      }
    }
    const phi = async (t: number) => {
      const moved = { ...base };
      for (const k of wrt)
        moved[k] = f64(
          base[k].shape,
          Array.from(base[k].data, (x, e) => x + t * w[k][e]),
        );
      const y = outputOf(await callDynamic(exactCaller(ctx), c.op, moved, c.attrs), "y").data;
      let p = 0;
      for (let i = 0; i < y.length; i++) p += v.data[i] * y[i];
      return p;
    };
    const D = ((await phi(h)) - (await phi(-h))) / (2 * h);
    let F = 0;
    for (let i = 0; i < y0.data.length; i++) F += Math.abs(v.data[i] * y0.data[i]);
    ctx.expectClose(
      `${c.op}: ⟨vjp(v), w⟩ vs the central difference of ⟨v, f(x + t·w)⟩ (direction ${r})`,
      { shape: [1], data: [A] },
      [D],
      RHO * (G + F / s),
      FD_RULE,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Generators, per op family

const spec = (shape: number[], values: number[]): Spec => ({ shape, values });

/** Values in [−m, m] at least `gap` from 0: keeps central differences off a kink or a pole. */
const awayFromZero = (m: number, gap: number) => moderate(m).filter((v) => Math.abs(v) >= gap);

/** Values in [lo, hi], float32-representable. */
const positive = (lo: number, hi: number) =>
  fc
    .integer({ min: Math.round(lo * 1e6), max: Math.round(hi * 1e6) })
    .map((i) => Math.fround(i / 1e6));

const smallMatrixShape = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 4 }));

const UNARY: readonly DifferentiableOp[] = UNARY_OPS;
const BINARY: readonly DifferentiableOp[] = ["add", "sub", "mul", "div"];

function unaryDomain(op: DifferentiableOp): fc.Arbitrary<number> {
  switch (op) {
    case "log":
      return positive(0.1, 8);
    case "exp":
      return moderate(5);
    case "relu":
    case "leaky_relu":
      return awayFromZero(4, 1e-3);
    default:
      return moderate(6);
  }
}

function unaryCase(op: DifferentiableOp): fc.Arbitrary<GradCase> {
  return fc
    .tuple(smallMatrixShape, fc.constantFrom(0, 0.01, 0.2), fc.nat())
    .chain(([[r, c], alpha, seed]) =>
      tensorOf([r, c], unaryDomain(op)).map(({ shape, values }) => ({
        op,
        inputs: { x: spec(shape, values) },
        attrs: op === "leaky_relu" ? { alpha } : {},
        seed,
      })),
    );
}

/** The shapes b may take against a of [r, c]: equal, a prepended dim, and stretched size-1 dims. */
const broadcastPartners = (r: number, c: number): number[][] => [
  [r, c],
  [c],
  [1, c],
  [r, 1],
  [],
  [1],
];

function binaryCase(op: DifferentiableOp): fc.Arbitrary<GradCase> {
  return fc
    .tuple(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 3 }),
      fc.nat({ max: 5 }),
      fc.boolean(),
      fc.nat(),
    )
    .chain(([r, c, pattern, swap, seed]) => {
      const small = broadcastPartners(r, c)[pattern];
      const [sa, sb] = swap ? [small, [r, c]] : [[r, c], small];
      // div is differentiated away from its pole b = 0.
      const bDomain = op === "div" ? awayFromZero(4, 0.25) : moderate(4);
      return fc.tuple(tensorOf(sa, moderate(4)), tensorOf(sb, bDomain)).map(([a, b]) => ({
        op,
        inputs: { a: spec(a.shape, a.values), b: spec(b.shape, b.values) },
        attrs: {},
        seed,
      }));
    });
}

const REDUCTIONS: readonly DifferentiableOp[] = ["sum", "mean", "max", "variance"];

function reductionCase(op: DifferentiableOp): fc.Arbitrary<GradCase> {
  // max is drawn from a few integers too, so ties (where the gradient is split) are common.
  const elem = op === "max" ? fc.oneof(fc.integer({ min: -2, max: 2 }), moderate(4)) : moderate(4);
  return fc
    .tuple(
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
      fc.nat(),
      fc.boolean(),
      fc.nat(),
    )
    .chain(([shape, axisSeed, unbiased, seed]) => {
      const axis = axisSeed % shape.length;
      // The unbiased variance needs two elements along the axis.
      const dims =
        op === "variance" && unbiased
          ? shape.map((d, i) => (i === axis ? Math.max(d, 2) : d))
          : shape;
      return tensorOf(dims, elem).map(({ values }) => ({
        op,
        inputs: { x: spec(dims, values) },
        attrs: op === "variance" ? { axis, unbiased } : { axis },
        seed,
      }));
    });
}

/** Whether every max run has a unique maximum with a gap ≫ the FD step (else not differentiable). */
function maxIsIsolated(c: GradCase): boolean {
  const { shape, values } = c.inputs.x;
  const axis = c.attrs.axis as number;
  const n = shape[axis];
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = values.length / (n * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const run = Array.from({ length: n }, (_, k) => values[o * n * inner + k * inner + j]).sort(
        (p, q) => q - p,
      );
      if (n > 1 && run[0] - run[1] < 1e-2) return false;
    }
  }
  return true;
}

/** Small products (full Jacobian), larger ones (random directions), square ones, batched ones. */
const matmulCase: fc.Arbitrary<GradCase> = fc
  .tuple(
    fc.oneof(
      fc.tuple(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
      ),
      fc.integer({ min: 2, max: 4 }).map((n) => [n, n, n] as [number, number, number]),
      fc.tuple(
        fc.integer({ min: 4, max: 8 }),
        fc.integer({ min: 4, max: 8 }),
        fc.integer({ min: 4, max: 8 }),
      ),
    ),
    fc.constantFrom<number[]>([], [], [2]),
    fc.nat(),
  )
  .chain(([[m, k, n], lead, seed]) =>
    fc
      .tuple(tensorOf([...lead, m, k], moderate(3)), tensorOf([...lead, k, n], moderate(3)))
      .map(([a, b]) => ({
        op: "matmul" as const,
        inputs: { a: spec(a.shape, a.values), b: spec(b.shape, b.values) },
        attrs: {},
        seed,
      })),
  );

const SOFTMAX_FAMILY: readonly DifferentiableOp[] = ["softmax", "log_softmax", "logsumexp"];

function softmaxCase(op: DifferentiableOp): fc.Arbitrary<GradCase> {
  return fc
    .tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 2, max: 5 }), fc.nat())
    .chain(([r, c, seed]) =>
      tensorOf([r, c], moderate(8)).map(({ shape, values }) => ({
        op,
        inputs: { x: spec(shape, values) },
        attrs: {},
        seed,
      })),
    );
}

const REDUCTION_KINDS = fc.constantFrom("none", "sum", "mean");

const lossCase: fc.Arbitrary<GradCase> = fc.oneof(
  // Cross-entropy against class indices, and against soft targets.
  fc
    .tuple(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 2, max: 4 }),
      REDUCTION_KINDS,
      fc.boolean(),
      fc.nat(),
    )
    .chain(([n, classes, reduction, soft, seed]) =>
      fc
        .tuple(
          tensorOf([n, classes], moderate(6)),
          soft
            ? fc
                .array(probabilityVector(classes), { minLength: n, maxLength: n })
                .map((rows) => ({ shape: [n, classes], values: rows.flat(), int: false }))
            : classIndices(n, classes).map((values) => ({ shape: [n], values, int: true })),
        )
        .map(([logits, target]) => ({
          op: "cross_entropy" as const,
          inputs: { logits: spec(logits.shape, logits.values), target },
          attrs: { reduction },
          seed,
        })),
    ),
  fc
    .tuple(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 2, max: 4 }),
      REDUCTION_KINDS,
      fc.nat(),
    )
    .chain(([n, classes, reduction, seed]) =>
      fc
        .tuple(tensorOf([n, classes], moderate(5)), classIndices(n, classes))
        .map(([logp, target]) => ({
          op: "nll" as const,
          inputs: {
            logp: spec(logp.shape, logp.values),
            target: { shape: [n], values: target, int: true },
          },
          attrs: { reduction },
          seed,
        })),
    ),
  fc.tuple(smallMatrixShape, REDUCTION_KINDS, fc.nat()).chain(([[r, c], reduction, seed]) =>
    fc
      .tuple(tensorOf([r, c], moderate(4)), tensorOf([r, c], moderate(4)))
      .map(([pred, target]) => ({
        op: "mse" as const,
        inputs: { pred: spec(pred.shape, pred.values), target: spec(target.shape, target.values) },
        attrs: { reduction },
        seed,
      })),
  ),
);

/** Standard deviation of each group of `values` (columns when byColumn, else rows). */
function groupStd(values: number[], rows: number, cols: number, byColumn: boolean): number[] {
  const [groups, n] = byColumn ? [cols, rows] : [rows, cols];
  const at = (g: number, k: number) => (byColumn ? values[k * cols + g] : values[g * cols + k]);
  return Array.from({ length: groups }, (_, g) => {
    let mean = 0;
    for (let k = 0; k < n; k++) mean += at(g, k) / n;
    let v = 0;
    for (let k = 0; k < n; k++) v += (at(g, k) - mean) ** 2 / n;
    return Math.sqrt(v);
  });
}

const EPS_CHOICES = fc.constantFrom(1e-5, 1e-3);

/**
 * Batch-norm cases (x [n, C], normalised down its columns, training mode) and layer-norm cases
 * (x [r, d], along its rows), with γ, β and ε. Normalisation is differentiated where each
 * group's spread is ≥ 0.1, so the 1/σ curvature stays at the scale of the inputs (a
 * near-constant group is F6's business, not backprop's).
 */
function normCase(op: "batch_norm" | "layer_norm"): fc.Arbitrary<GradCase> {
  const byColumn = op === "batch_norm";
  // Batch-norm needs two rows to have a spread, layer-norm two columns.
  const [two, one] = [
    { min: 2, max: 4 },
    { min: 1, max: 3 },
  ];
  return fc
    .tuple(
      fc.integer(byColumn ? two : one),
      fc.integer(byColumn ? one : two),
      EPS_CHOICES,
      fc.nat(),
    )
    .chain(([r, c, eps, seed]) =>
      fc
        .tuple(
          tensorOf([r, c], moderate(3)),
          tensorOf([c], moderate(2)),
          tensorOf([c], moderate(2)),
        )
        .filter(([x]) => groupStd(x.values, r, c, byColumn).every((s) => s >= 0.1))
        .map(([x, gamma, beta]) => ({
          op,
          inputs: {
            x: spec(x.shape, x.values),
            gamma: spec([c], gamma.values),
            beta: spec([c], beta.values),
            ...(byColumn
              ? {
                  runningMean: spec([c], new Array(c).fill(0)),
                  runningVar: spec([c], new Array(c).fill(1)),
                }
              : {}),
          },
          attrs: byColumn ? { training: true, eps, momentum: 0.1 } : { eps },
          seed,
        })),
    );
}

const dropoutCase: fc.Arbitrary<GradCase> = fc
  .tuple(
    smallMatrixShape,
    fc.constantFrom(0.1, 0.5),
    fc.boolean(),
    fc.nat({ max: 2 ** 31 }),
    fc.nat(),
  )
  .chain(([[r, c], p, training, maskSeed, seed]) =>
    tensorOf([r, c], moderate(4)).map(({ shape, values }) => ({
      op: "dropout" as const,
      inputs: { x: spec(shape, values) },
      attrs: { p, seed: maskSeed, training },
      seed,
    })),
  );

/**
 * Whether the backend drops the same elements as the reference for this seed, p and shape. A
 * backend that claims Philox but lays its counters out differently is reported by E4c, once;
 * the gradient laws then leave its dropout to E5 (its backward against its own forward's mask)
 * instead of reading the layout difference as a gradient bug.
 */
async function sameMask(
  ctx: LawContext,
  seed: number,
  p: number,
  shape: readonly number[],
): Promise<boolean> {
  if (ctx.backend.rng !== "philox4x32-10") return false;
  const ones = ctx.t(shape, 1);
  const attrs = { p, seed, training: true };
  const own = await ctx.call("dropout", { x: ones }, attrs);
  const ref = await ctx.ref("dropout", { x: ones }, attrs);
  return own.data.every((v, i) => (v === 0) === (ref.data[i] === 0));
}

const vjpOps = (ops: readonly DifferentiableOp[]): OpName[] =>
  ops.flatMap((op) => [op, `${op}_vjp` as OpName]);

// ---------------------------------------------------------------------------------------------
// Whole networks through the Tape

/** A scalar loss of some parameter tensors, built on a tape. */
type Net = (tape: Tape, params: Var[], checkPre: boolean) => Promise<Var>;

/**
 * The Tape's gradient of a whole network: on a float32 backend every forward and backward kernel
 * of a backend pass is checked against the reference on its own inputs (within its budget); the
 * float64 gradient (backend or reference) must then match central differences along a random
 * direction in parameter space (a wrong gradient is orthogonal to it with probability 0).
 */
async function checkNetGradient(
  ctx: LawContext,
  net: Net,
  params: Tensor[],
  seed: number,
): Promise<void> {
  if (ctx.dtype !== "float64") {
    const tape = new Tape(ctx.backend, { call: checkedCaller(ctx) });
    const ps = params.map((p) => tape.leaf(p));
    await tape.backward(await net(tape, ps, false));
  }
  const exact = exactBackend(ctx);
  const tape = new Tape(exact, {
    call: ctx.dtype === "float64" ? checkedCaller(ctx) : exactCaller(ctx),
  });
  const ps = params.map((p) => tape.leaf(p));
  const loss = await net(tape, ps, true);
  const F = Math.abs(loss.value.data[0]);
  await tape.backward(loss);
  const grads = ps.map((p) => p.grad?.data ?? new Float64Array(p.value.data.length));
  const base = ps.map((p) => p.value);
  const s = Math.max(1, ...base.map((p) => maxAbs(p.data)));
  const h = STEP * s;
  const w = base.map((p, i) => normals(seed, p.data.length, 40 + i));
  let A = 0;
  let G = 0;
  grads.forEach((g, i) => {
    for (let e = 0; e < g.length; e++) {
      A += g[e] * w[i][e];
      G += Math.abs(g[e] * w[i][e]);
    }
  });
  const lossAt = async (t: number) => {
    const probe = new Tape(exact, { grad: false, call: exactCaller(ctx) });
    const moved = base.map((p, i) =>
      probe.leaf(
        f64(
          p.shape,
          Array.from(p.data, (x, e) => x + t * w[i][e]),
        ),
      ),
    );
    return (await net(probe, moved, false)).value.data[0];
  };
  const D = ((await lossAt(h)) - (await lossAt(-h))) / (2 * h);
  ctx.expectClose(
    "network: the Tape's gradient along a random direction vs central differences of the loss",
    { shape: [1], data: [A] },
    [D],
    RHO * (G + F / s),
    FD_RULE,
  );
}

/** Parameter shapes of an MLP with layer sizes `sizes`: W [in, out], b [out] per layer. */
const mlpShapes = (sizes: number[]) => sizes.slice(1).flatMap((out, l) => [[sizes[l], out], [out]]);

function tensorsOf(
  shapes: number[][],
  elem: fc.Arbitrary<number>,
): fc.Arbitrary<{ shape: number[]; values: number[] }[]> {
  return fc.tuple(...shapes.map((s) => tensorOf(s, elem)));
}

/** Logits of an MLP run on the tape with the given parameter Vars (forwardMlp makes its own leaves). */
async function mlpLogits(
  tape: Tape,
  params: Var[],
  x: Tensor,
  activation: Mlp["activation"],
): Promise<Var> {
  let h = tape.constant(x);
  for (let l = 0; l < params.length; l += 2) {
    const z = await tape.op(
      "add",
      { a: await tape.op("matmul", { a: h, b: params[l] }, {}), b: params[l + 1] },
      {},
    );
    h = l + 2 < params.length ? await activate(tape, activation, z) : z;
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// Host-side linear algebra for the gradient-flow laws

/** WᵀW (c × c, float64) of a row-major [r, c] matrix. */
function gram(W: Tensor): Float64Array {
  const [r, c] = W.shape;
  const A = new Float64Array(c * c);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j < c; j++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += W.data[k * c + i] * W.data[k * c + j];
      A[i * c + j] = s;
    }
  }
  return A;
}

/**
 * An upper bound on the spectral norm ‖W‖₂: λmax(WᵀW) ≤ trace((WᵀW)^(2^q))^(1/2^q), at most
 * c^(1/2^q) above it (c columns); q = 6 makes it tight to a few percent. Repeated squaring with
 * Frobenius normalisation keeps it from overflowing.
 */
function spectralNormBound(W: Tensor): number {
  const c = W.shape[1];
  let A = gram(W);
  let logScale = 0;
  for (let q = 0; q < 6; q++) {
    const f = norm2(A);
    if (f === 0) return 0;
    A = A.map((v) => v / f);
    logScale = 2 * (logScale + Math.log(f));
    const B = new Float64Array(c * c);
    for (let i = 0; i < c; i++) {
      for (let j = 0; j < c; j++) {
        let s = 0;
        for (let k = 0; k < c; k++) s += A[i * c + k] * A[k * c + j];
        B[i * c + j] = s;
      }
    }
    A = B;
  }
  let trace = 0;
  for (let i = 0; i < c; i++) trace += A[i * c + i];
  // The float64 rounding of this computation is far below the 1e-9 margin.
  return Math.exp((logScale + Math.log(trace)) / 2 ** 7) * (1 + 1e-9);
}

/** A random orthogonal d×d matrix (Gram–Schmidt on Philox normals, float64). */
function orthogonal(seed: number, d: number, stream: number): number[] {
  const rows: number[][] = [];
  for (let i = 0; i < d; i++) {
    let v = Array.from({ length: d }, (_, k) => normalAt(seed, i * d + k, stream));
    for (let pass = 0; pass < 2; pass++) {
      for (const q of rows) {
        const dot = v.reduce((p, x, k) => p + x * q[k], 0);
        v = v.map((x, k) => x - dot * q[k]);
      }
    }
    const n = norm2(v);
    rows.push(v.map((x) => x / n));
  }
  return rows.flat();
}

/** A tensor of Philox normals in the backend dtype (inputs and upstream gradients of flows). */
function normalTensor(ctx: LawContext, shape: number[], seed: number, stream: number): Tensor {
  return ctx.t(
    shape,
    normals(
      seed,
      shape.reduce((p, d) => p * d, 1),
      stream,
    ),
  );
}

/** Frobenius norm of a Var's gradient (0 where none reached it). */
function gradNorm(v: Var): number {
  return v.grad ? norm2(v.grad.data) : 0;
}

/** The standard deviation (biased) of an array. */
function std(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i] / xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i] - m) ** 2 / xs.length;
  return Math.sqrt(v);
}

/** Root mean square of an array. */
function rms(xs: ArrayLike<number>): number {
  return norm2(xs) / Math.sqrt(xs.length);
}

/** The bias that makes every unit of x·W + b negative on every row of x, by at least `margin`. */
function deadBias(x: Tensor, W: Tensor, margin: number): number[] {
  const [n, d] = x.shape;
  const out = W.shape[1];
  return Array.from({ length: out }, (_, j) => {
    let worst = 0;
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += x.data[r * d + i] * W.data[i * out + j];
      worst = Math.max(worst, s);
    }
    return -Math.ceil(worst + margin);
  });
}

/**
 * G6's error bound for each gradient element (W row-major, then b). Every per-example term
 * xₙᵢ·δₙⱼ/B (δ = softmax − one_hot) enters a sum of B terms (full batch) or of m terms
 * (a mini-batch); δ itself carries the softmax's relative error (the forward budget's row
 * factor R) and the logits' error γ(d+1)·Σ|xW| through softmax's ∞-Lipschitz constant 1.
 */
function partitionTolerance(
  ctx: LawContext,
  x: number[],
  W: Tensor,
  b: Tensor,
  labels: number[],
  { B, m, d, C }: { B: number; m: number; d: number; C: number },
): Float64Array {
  const { ulps: k, factor } = budgetFor(ctx.backend, "matmul_vjp");
  const u = ctx.u;
  const gamma = (n: number) => u * factor * (n + 2 * k);
  const tolW = new Float64Array(d * C);
  const tolB = new Float64Array(C);
  for (let n = 0; n < B; n++) {
    const z = new Float64Array(C);
    let dz = 0;
    for (let j = 0; j < C; j++) {
      let terms = Math.abs(b.data[j]);
      z[j] = b.data[j];
      for (let i = 0; i < d; i++) {
        z[j] += x[n * d + i] * W.data[i * C + j];
        terms += Math.abs(x[n * d + i] * W.data[i * C + j]);
      }
      dz = Math.max(dz, gamma(d + 1) * terms);
    }
    const top = Math.max(...z);
    const e = Array.from(z, (v) => Math.exp(v - top));
    const s = e.reduce((p, q) => p + q, 0);
    const p = e.map((v) => v / s);
    let spread = 0;
    let far = 0;
    for (let j = 0; j < C; j++) {
      spread += p[j] * (top - z[j]);
      far = Math.max(far, top - z[j]);
    }
    const R = factor * C + 2 * k + spread + far;
    for (let j = 0; j < C; j++) {
      const t = labels[n] === j ? 1 : 0;
      const eps = 2 * u * (R + factor * C + 4 * k) * (p[j] + t) + dz;
      const coef = (2 * eps + (gamma(B + 1) + gamma(m + 1) + 4 * k * u) * Math.abs(p[j] - t)) / B;
      for (let i = 0; i < d; i++) tolW[i * C + j] += Math.abs(x[n * d + i]) * coef;
      tolB[j] += coef;
    }
  }
  return Float64Array.from([...tolW, ...tolB], (t) => t + 2 ** -126);
}

// ---------------------------------------------------------------------------------------------
// The laws

const family = (
  id: string,
  title: string,
  note: string,
  ops: readonly DifferentiableOp[],
  cases: (op: DifferentiableOp) => fc.Arbitrary<GradCase>,
  fd: (c: GradCase) => boolean = () => true,
): Law => ({
  id,
  topic: "backprop",
  title,
  note,
  ops: vjpOps(ops),
  async check(ctx) {
    for (const op of ops) await ctx.property(cases(op), (c) => checkGradient(ctx, c, fd(c)));
  },
});

export const backpropLaws: Law[] = [
  family(
    "G1a",
    "the backward of every elementwise op (neg, exp, log, activations, and add, sub, mul, div with broadcasting) equals finite differences",
    "Notes 003 and 004 (backprop by hand on the computational graph): a broadcast input is read many times, so its gradient must be summed back to its own shape; the vjp must also match the float64 reference within budget.",
    [...UNARY, ...BINARY],
    (op) => (BINARY.includes(op) ? binaryCase(op) : unaryCase(op)),
  ),
  family(
    "G1b",
    "the backward of sum, mean, max and variance equals finite differences along every axis; tied maxima split the gradient",
    "Note 004: reductions are where gradients fan out; variance divides by n or n − 1 in the backward exactly as in the forward, and max shares its gradient among ties (the contract), which finite differences cannot see, so ties are checked against the reference only.",
    REDUCTIONS,
    reductionCase,
    (c) => c.op !== "max" || maxIsIsolated(c),
  ),
  family(
    "G1c",
    "the backward of matmul is dA = dY·Bᵀ and dB = Aᵀ·dY for every shape, batched or not",
    "Note 004 (the chain rule as products of Jacobians): a missed transpose is invisible in the forward and often shape-compatible for square matrices, so only the gradient check catches it.",
    ["matmul"],
    () => matmulCase,
  ),
  family(
    "G1d",
    "the backward of softmax, log_softmax and logsumexp equals finite differences",
    "Notes 000 and 002: the fused softmax family is differentiated through its stable form; the vjps y⊙(dy − ⟨dy, y⟩), dy − softmax·Σdy and softmax·dy must agree with the forward.",
    SOFTMAX_FAMILY,
    softmaxCase,
  ),
  {
    id: "G1e",
    topic: "backprop",
    title:
      "the backward of cross-entropy (class indices and soft targets), NLL and MSE equals finite differences for every reduction",
    note: "Notes 003 and 000: the loss gradient starts backprop; 'mean' divides by N (by the element count for MSE) and d(x−t)²/dx = 2(x−t): a missing factor is a silently wrong learning rate.",
    ops: vjpOps(["cross_entropy", "nll", "mse"]),
    async check(ctx) {
      await ctx.property(lossCase, (c) => checkGradient(ctx, c));
    },
  },
  {
    id: "G1f",
    topic: "backprop",
    title: "the backward of batch-norm, layer-norm and dropout equals finite differences",
    note: "Notes 002 and 003: normalisation couples the elements of a group, so its gradient has mean and projection terms that are easy to drop; dropout's backward must replay the forward's mask and scale.",
    ops: vjpOps(["batch_norm", "layer_norm", "dropout"]),
    async check(ctx) {
      // The float64 reference draws Philox masks; a backend with its own generator cannot match
      // them, and E5 checks its backward against its own forward's mask instead.
      const philox = ctx.backend.rng === "philox4x32-10";
      for (const cases of philox
        ? [normCase("batch_norm"), normCase("layer_norm"), dropoutCase]
        : [normCase("batch_norm"), normCase("layer_norm")]) {
        await ctx.property(cases, async (c) => {
          if (c.op === "dropout") {
            const { p, seed } = c.attrs as { p: number; seed: number };
            const shape = (c.inputs.x as { shape: number[] }).shape;
            if (!(await sameMask(ctx, seed, p, shape))) return;
          }
          await checkGradient(ctx, c);
        });
      }
    },
  },
  {
    id: "G1g",
    topic: "backprop",
    title:
      "backprop through whole networks on the Tape equals finite differences: an MLP with cross-entropy, and a residual block with batch-norm, dropout, layer-norm and MSE",
    note: "Note 004 (forward, backward, computational graph): the chain rule composes the vjps; on float32 every kernel of the pass is checked against the reference on its own inputs, and the float64 composition against finite differences.",
    ops: vjpOps([
      "matmul",
      "add",
      "tanh",
      "cross_entropy",
      "batch_norm",
      "dropout",
      "layer_norm",
      "mse",
    ]),
    async check(ctx) {
      const sizes = [3, 4, 3];
      const mlpCase = fc.tuple(
        tensorsOf(mlpShapes(sizes), moderate(1)),
        tensorOf([4, 3], moderate(2)),
        classIndices(4, 3),
        fc.nat(),
      );
      await ctx.property(mlpCase, async ([params, x, labels, seed]) => {
        const X = ctx.t(x.shape, x.values);
        const target = indices([4], labels);
        const net: Net = async (tape, ps) => {
          const logits = await mlpLogits(tape, ps, X, { op: "tanh" });
          return tape.op("cross_entropy", { logits, target }, { reduction: "mean" });
        };
        await checkNetGradient(
          ctx,
          net,
          params.map((p) => ctx.t(p.shape, p.values)),
          seed,
        );
      });

      // x [4, 3] → a = x·W1 + b1 [4, 4]; h = a + dropout(tanh(BN(a·W2))); out = LN(h)·W3 + b3.
      const shapes = [[3, 4], [4], [4, 4], [4], [4], [4], [4], [4, 2], [2]];
      const resCase = fc.tuple(
        tensorsOf(shapes, moderate(1)),
        tensorOf([4, 3], moderate(2)),
        tensorOf([4, 2], moderate(2)),
        fc.nat({ max: 2 ** 31 }),
      );
      await ctx.property(resCase, async ([params, x, y, seed]) => {
        // Masks are comparable with the reference only where the backend draws the same ones.
        const p = (await sameMask(ctx, seed, 0.25, [4, 4])) ? 0.25 : 0;
        const X = ctx.t(x.shape, x.values);
        const Y = ctx.t(y.shape, y.values);
        const net: Net = async (
          tape,
          [W1, b1, W2, gamma, beta, lnGamma, lnBeta, W3, b3],
          checkPre,
        ) => {
          const a = await tape.op(
            "add",
            { a: await tape.op("matmul", { a: tape.constant(X), b: W1 }, {}), b: b1 },
            {},
          );
          const z = await tape.op("matmul", { a, b: W2 }, {});
          // Batch-norm is differentiated where each feature's spread is ≥ 0.1 (see G1f).
          if (checkPre)
            fc.pre(groupStd(Array.from(z.value.data), 4, 4, true).every((s) => s >= 0.1));
          const stats = {
            runningMean: tape.constant(ctx.t([4], 0)),
            runningVar: tape.constant(ctx.t([4], 1)),
          };
          const bn = await tape.op(
            "batch_norm",
            { x: z, gamma, beta, ...stats },
            { training: true, eps: 1e-5, momentum: 0.1 },
          );
          const f = await tape.op(
            "dropout",
            { x: await tape.op("tanh", { x: bn }, {}) },
            { p, seed, training: true },
          );
          const h = await tape.op("add", { a, b: f }, {});
          if (checkPre)
            fc.pre(groupStd(Array.from(h.value.data), 4, 4, false).every((s) => s >= 0.1));
          const ln = await tape.op(
            "layer_norm",
            { x: h, gamma: lnGamma, beta: lnBeta },
            { eps: 1e-5 },
          );
          const out = await tape.op(
            "add",
            { a: await tape.op("matmul", { a: ln, b: W3 }, {}), b: b3 },
            {},
          );
          return tape.op("mse", { pred: out, target: tape.constant(Y) }, { reduction: "mean" });
        };
        await checkNetGradient(
          ctx,
          net,
          params.map((p) => ctx.t(p.shape, p.values)),
          seed,
        );
      });
    },
  },
  {
    id: "G2",
    topic: "backprop",
    title:
      "a dead ReLU unit (pre-activation < 0 on every example) gets exactly zero gradient on its weights and bias, so SGD never revives it; a leaky-ReLU unit in its place gets α times its upstream gradient",
    note: "Notes 000, 002 and 003: a unit that never activates passes no gradient for any example (a dead neuron), whether from initialisation or a large step; leaky ReLU keeps a slope α on the negative side.",
    ops: vjpOps(["matmul", "add", "relu", "leaky_relu", "cross_entropy"]),
    async check(ctx) {
      const N = 5;
      const cases = fc.tuple(
        tensorsOf([[3, 4], [4], [4, 3], [3]], moderate(1)),
        tensorOf([N, 3], moderate(2)),
        classIndices(N, 3),
        fc.nat({ max: 3 }),
        fc.constantFrom(0.01, 0.1, 0.3),
      );
      await ctx.property(cases, async ([[w1, b1, w2, b2], x, labels, dead, alpha]) => {
        const X = ctx.t(x.shape, x.values);
        const W1 = ctx.t(w1.shape, w1.values);
        // Unit `dead` gets a bias below −max(x·w) − 1: negative for every example.
        const bias = b1.values.slice();
        bias[dead] = deadBias(X, W1, 1)[dead];
        const params = [
          W1,
          ctx.t([4], bias),
          ctx.t(w2.shape, w2.values),
          ctx.t(b2.shape, b2.values),
        ];
        const target = indices([N], labels);
        const run = async (act: Mlp["activation"]) => {
          const tape = new Tape(ctx.backend, { call: (op, i, a) => ctx.call(op, i, a) });
          const ps = params.map((p) => tape.leaf(p));
          const z = await tape.op(
            "add",
            { a: await tape.op("matmul", { a: tape.constant(X), b: ps[0] }, {}), b: ps[1] },
            {},
          );
          const h = await activate(tape, act, z);
          const logits = await tape.op(
            "add",
            { a: await tape.op("matmul", { a: h, b: ps[2] }, {}), b: ps[3] },
            {},
          );
          await tape.backward(
            await tape.op("cross_entropy", { logits, target }, { reduction: "mean" }),
          );
          return { ps, z, h };
        };
        const relu = await run({ op: "relu" });
        for (let r = 0; r < N; r++)
          ctx.expect(
            relu.z.value.data[r * 4 + dead] < 0,
            `unit ${dead} is not dead on example ${r}`,
          );
        const gW = relu.ps[0].grad?.data ?? [];
        const gb = relu.ps[1].grad?.data ?? [];
        for (let i = 0; i < 3; i++) {
          ctx.expect(
            gW[i * 4 + dead] === 0,
            `dead ReLU unit ${dead}: ∂L/∂W[${i}, ${dead}] = ${gW[i * 4 + dead]}, not exactly 0`,
          );
        }
        ctx.expect(
          gb[dead] === 0,
          `dead ReLU unit ${dead}: ∂L/∂b[${dead}] = ${gb[dead]}, not exactly 0`,
        );
        // An SGD step leaves the dead unit exactly where it was: it can never come back.
        const grads = [relu.ps[0].grad, relu.ps[1].grad].map((g) => g ?? ctx.fail("no gradient"));
        const [W1next, b1next] = sgdStep([params[0], params[1]], grads, { lr: 0.5 });
        for (let i = 0; i < 3; i++) {
          const at = i * 4 + dead;
          ctx.expect(W1next.data[at] === W1.data[at], "an SGD step moved a dead unit's weight");
        }
        ctx.expect(
          b1next.data[dead] === params[1].data[dead],
          "an SGD step moved a dead unit's bias",
        );

        // Leaky ReLU: ∂L/∂b = α·Σₙ ∂L/∂hₙ for a unit that is negative everywhere.
        const leaky = await run({ op: "leaky_relu", alpha });
        const dh = leaky.h.grad?.data ?? [];
        let expected = 0;
        let scale = 0;
        for (let r = 0; r < N; r++) {
          expected +=
            ctx.dtype === "float32"
              ? Math.fround(alpha) * dh[r * 4 + dead]
              : alpha * dh[r * 4 + dead];
          scale += Math.abs(alpha * dh[r * 4 + dead]);
        }
        // One rounding in leaky_relu_vjp per example, then a sum of N terms (add_vjp).
        const { ulps, factor } = budgetFor(ctx.backend, "add_vjp");
        const tol =
          ctx.u * (budgetFor(ctx.backend, "leaky_relu_vjp").ulps + factor * (N + 2 * ulps)) * scale;
        fc.pre(Math.abs(expected) > 100 * tol);
        const got = leaky.ps[1].grad?.data[dead] ?? 0;
        ctx.expectClose(
          `leaky ReLU unit ${dead}: ∂L/∂b vs α·Σ ∂L/∂h`,
          { shape: [1], data: [got] },
          [expected],
          tol,
          "u·(k + factor·(N + 2k))·α·Σ|∂L/∂h|",
        );
      });
    },
  },
  {
    id: "G3a",
    topic: "backprop",
    title:
      "through a sigmoid stack each layer shrinks the gradient by at least σ′max·‖W‖₂ = ‖W‖₂/4, so the input gradient vanishes geometrically with depth",
    note: "Notes 003 and 004 (vanishing gradients): backprop multiplies by σ′ ≤ 1/4 at every layer; unless the weights' spectral norms exceed 4, the first layers get an exponentially small signal.",
    ops: vjpOps(["matmul", "sigmoid"]),
    async check(ctx) {
      const cases = fc
        .tuple(
          fc.integer({ min: 2, max: 6 }),
          fc.integer({ min: 2, max: 10 }),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 100, max: 350 }),
          fc.nat(),
        )
        .chain(([d, L, N, rho, seed]) =>
          fc.tuple(
            fc.array(tensorOf([d, d], moderate(1)), { minLength: L, maxLength: L }),
            tensorOf([N, d], moderate(2)),
            fc.constant({ d, L, N, rho: rho / 100, seed }),
          ),
        );
      await ctx.property(cases, async ([ws, x, { d, L, N, rho, seed }]) => {
        // Each W is scaled to spectral norm ≤ ρ ≤ 3.5 (bounded on its stored values).
        const Ws = ws.map((w) => {
          const t = ctx.t(w.shape, w.values);
          const bound = spectralNormBound(t);
          fc.pre(bound > 0);
          return ctx.t(
            w.shape,
            w.values.map((v) => (v * rho) / bound),
          );
        });
        const norms = Ws.map(spectralNormBound);
        const tape = new Tape(ctx.backend, { call: (op, i, a) => ctx.call(op, i, a) });
        const hs = [tape.leaf(ctx.t(x.shape, x.values))];
        for (const W of Ws)
          hs.push(
            await tape.op(
              "sigmoid",
              { x: await tape.op("matmul", { a: hs[hs.length - 1], b: tape.constant(W) }, {}) },
              {},
            ),
          );
        const dy = normalTensor(ctx, [N, d], seed, 5);
        await tape.backward(hs[L], dy);
        // Rounding: sigmoid_vjp's k ULPs of σ′ and matmul_vjp's γ(d+1)·‖|G||W|ᵀ‖ ≤ γ·√d·‖G‖·‖W‖₂.
        const k = budgetFor(ctx.backend, "matmul_vjp");
        const slack =
          ctx.u *
          (budgetFor(ctx.backend, "sigmoid_vjp").ulps +
            2 +
            k.factor * (d + 1 + 2 * k.ulps) * Math.sqrt(d));
        let bound = norm2(dy.data);
        for (let l = L; l >= 1; l--) {
          const [below, above] = [gradNorm(hs[l - 1]), gradNorm(hs[l])];
          const allowed = (norms[l - 1] / 4) * above * (1 + slack);
          ctx.expect(
            below <= allowed,
            `layer ${l}: ‖∂L/∂h${l - 1}‖ = ${below} exceeds ‖W${l}‖₂/4·‖∂L/∂h${l}‖ = ${allowed} (σ′ ≤ 1/4)`,
          );
          bound *= (norms[l - 1] / 4) * (1 + slack);
        }
        ctx.expect(
          gradNorm(hs[0]) <= bound,
          `the input gradient ${gradNorm(hs[0])} exceeds the geometric bound Π‖Wₗ‖₂/4·‖dy‖ = ${bound}`,
        );
      });
    },
  },
  {
    id: "G3b",
    topic: "backprop",
    title:
      "a deep ReLU stack with He initialisation neither collapses nor explodes the gradient: ‖∂L/∂x‖/‖∂L/∂y‖ stays near √2 over 16 layers",
    note: "Notes 001, 002 and 004: He init (variance 2/n) makes each ReLU layer preserve the gradient's second moment on average, which is why deep ReLU nets train where sigmoid ones do not (compare G3a).",
    ops: [...vjpOps(["matmul", "add", "relu"]), "kaiming_normal"],
    statistical: {
      test: "log-normal band: ln R = ln √2 ± z·√(3L/(4d)), a CLT bound on the sum of L per-layer log-gains",
      alpha: ALPHA,
      detects:
        "a per-layer gradient gain of 1/√2 or less, e.g. LeCun variance 1/n with ReLU (R ≈ 2^(−L/2) ≈ 0.004, below the band's lower edge 0.1 by more than 6 σ), or a ReLU backward that halves the gradient",
    },
    async check(ctx) {
      // Width d = 64, depth L = 16, batch N = 8. The last layer is linear, so R² has mean ≈ 2
      // (L weight products at ×2 and L − 1 ReLU masks at ×1/2). Each layer's log-gain has
      // variance ≤ 3/(4d) (χ²_d of the product, and the fraction of active units), so ln R is
      // close to normal with σ ≤ √(3L/(4d)) ≈ 0.43 (measured: 0.32 over 300 seeds).
      const [d, L, N] = [64, 16, 8];
      const seed = ctx.seedFor(0);
      const model = await mlp(
        (op, i, a) => ctx.call(op, i, a),
        new Array(L + 1).fill(d),
        { op: "relu" },
        { op: "kaiming_normal", seed, gain: Math.SQRT2 },
      );
      const tape = new Tape(ctx.backend, { call: (op, i, a) => ctx.call(op, i, a) });
      const x = tape.leaf(normalTensor(ctx, [N, d], seed, 6));
      const trace = await forwardMlp(tape, model, x);
      const dy = normalTensor(ctx, [N, d], seed, 7);
      await tape.backward(trace.output, dy);
      const R = gradNorm(x) / norm2(dy.data);
      const half = normalQuantileTwoSided(ALPHA) * Math.sqrt((3 * L) / (4 * d));
      const [lo, hi] = [Math.SQRT2 * Math.exp(-half), Math.SQRT2 * Math.exp(half)];
      ctx.expect(
        R >= lo && R <= hi,
        `‖∂L/∂x‖/‖∂L/∂y‖ = ${R} through ${L} ReLU layers with He init, outside [${lo}, ${hi}]`,
      );
    },
  },
  {
    id: "G4a",
    topic: "backprop",
    title:
      "a residual block x + f(x) passes the upstream gradient through unchanged, bit for bit, when its branch is dead; the branch alone passes nothing",
    note: "Note 003 (residual connections): the sum is linear, so its gradient path never goes through the activation; even a branch whose ReLUs are all off leaves dx = dy.",
    ops: vjpOps(["matmul", "add", "relu"]),
    async check(ctx) {
      const cases = fc
        .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 5 }), fc.nat())
        .chain(([n, d, seed]) =>
          fc.tuple(tensorOf([n, d], moderate(2)), tensorOf([d, d], moderate(1)), fc.constant(seed)),
        );
      await ctx.property(cases, async ([x, w, seed]) => {
        const X = ctx.t(x.shape, x.values);
        const W = ctx.t(w.shape, w.values);
        const b = ctx.t([w.shape[1]], deadBias(X, W, 1));
        const dy = normalTensor(ctx, x.shape, seed, 8);
        const run = async (residual: boolean) => {
          const tape = new Tape(ctx.backend, { call: (op, i, a) => ctx.call(op, i, a) });
          const xv = tape.leaf(X);
          const z = await tape.op(
            "add",
            { a: await tape.op("matmul", { a: xv, b: tape.constant(W) }, {}), b: tape.constant(b) },
            {},
          );
          const f = await tape.op("relu", { x: z }, {});
          await tape.backward(residual ? await tape.op("add", { a: xv, b: f }, {}) : f, dy);
          return xv.grad?.data ?? new Float64Array(0);
        };
        const dx = await run(true);
        for (const [i, g] of dx.entries()) {
          ctx.expect(
            g === dy.data[i],
            `x + f(x) with a dead branch: dx[${i}] = ${g}, dy[${i}] = ${dy.data[i]}`,
          );
        }
        const branch = await run(false);
        for (const [i, g] of branch.entries()) {
          ctx.expect(g === 0, `the dead branch alone passed dx[${i}] = ${g}`);
        }
      });
    },
  },
  {
    id: "G4b",
    topic: "backprop",
    title:
      "the gradient of a residual block is the upstream gradient plus the branch's: d(x + f(x))/dx = I + f′",
    note: "Note 003: the identity path adds dy to whatever the branch passes back, so each block gets a signal unaffected by vanishing in its branch.",
    ops: vjpOps(["matmul", "add", "tanh"]),
    async check(ctx) {
      const cases = fc
        .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 5 }), fc.nat())
        .chain(([n, d, seed]) =>
          fc.tuple(
            tensorOf([n, d], moderate(2)),
            tensorOf([d, d], moderate(1)),
            tensorOf([d], moderate(1)),
            fc.constant(seed),
          ),
        );
      await ctx.property(cases, async ([x, w, b, seed]) => {
        const X = ctx.t(x.shape, x.values);
        const W = ctx.t(w.shape, w.values);
        const dy = normalTensor(ctx, x.shape, seed, 9);
        const run = async (residual: boolean) => {
          const tape = new Tape(ctx.backend, { call: (op, i, a) => ctx.call(op, i, a) });
          const xv = tape.leaf(X);
          const z = await tape.op("matmul", { a: xv, b: tape.constant(W) }, {});
          const f = await tape.op(
            "tanh",
            { x: await tape.op("add", { a: z, b: tape.constant(ctx.t(b.shape, b.values)) }, {}) },
            {},
          );
          await tape.backward(residual ? await tape.op("add", { a: xv, b: f }, {}) : f, dy);
          return { dx: xv.grad?.data ?? new Float64Array(0), dz: z.grad ?? dy };
        };
        const res = await run(true);
        const branch = await run(false);
        // Two runs of matmul_vjp may differ within its budget; the host sum rounds once.
        const { ulps, factor } = budgetFor(ctx.backend, "matmul_vjp");
        const mm =
          vjpTermBounds("matmul", widen({ a: X, b: W, dy: branch.dz }), {}, ctx.u, ulps, factor)
            ?.da ?? new Float64Array(0);
        const tol = Float64Array.from(
          branch.dx,
          (g, i) => ctx.u * (Math.abs(g) + Math.abs(dy.data[i])) + 2 * mm[i],
        );
        ctx.expectClose(
          "dx(x + f(x)) vs dy + dx(f)",
          { shape: x.shape, data: res.dx },
          Float64Array.from(branch.dx, (g, i) => g + dy.data[i]),
          tol,
          "u·(|dy| + |dx_f|) + 2·matmul_vjp term bound",
        );
      });
    },
  },
  {
    id: "G5",
    topic: "backprop",
    title:
      "through a deep linear stack with weights s·Q (Q orthogonal, s > 1) the gradient grows by exactly s per layer: exploding gradients",
    note: "Note 004 (exploding gradients): backprop multiplies by Wᵀ at every layer, so singular values above 1 compound geometrically: s^L after L layers.",
    ops: vjpOps(["matmul"]),
    async check(ctx) {
      const cases = fc.tuple(
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 110, max: 200 }),
        fc.nat(),
      );
      await ctx.property(cases, async ([d, L, N, s100, seed]) => {
        const s = s100 / 100;
        const Ws = Array.from({ length: L }, (_, l) =>
          ctx.t(
            [d, d],
            orthogonal(seed, d, 20 + l).map((q) => s * q),
          ),
        );
        const tape = new Tape(ctx.backend, { call: (op, i, a) => ctx.call(op, i, a) });
        const hs = [tape.leaf(normalTensor(ctx, [N, d], seed, 10))];
        for (const W of Ws)
          hs.push(await tape.op("matmul", { a: hs[hs.length - 1], b: tape.constant(W) }, {}));
        const dy = normalTensor(ctx, [N, d], seed, 11);
        await tape.backward(hs[L], dy);
        // Stored weights are s·Q rounded: singular values within s·(1 ± d·u); matmul_vjp adds
        // γ(d+1)·√d relative (as in G3a).
        const k = budgetFor(ctx.backend, "matmul_vjp");
        const delta = ctx.u * (d + k.factor * (d + 1 + 2 * k.ulps) * Math.sqrt(d)) + 1e-12;
        for (let l = L; l >= 1; l--) {
          const gain = gradNorm(hs[l - 1]) / gradNorm(hs[l]);
          ctx.expect(
            Math.abs(gain - s) <= s * delta,
            `layer ${l}: the gradient grew by ${gain}, not s = ${s} (±${s * delta})`,
          );
        }
        const total = gradNorm(hs[0]) / norm2(dy.data);
        ctx.expect(
          total >= (s * (1 - delta)) ** L,
          `over ${L} layers the gradient grew by ${total} < s^L = ${s ** L}`,
        );
      });
    },
  },
  {
    id: "G6",
    topic: "backprop",
    title:
      "the mean of the mini-batch gradients over an equal-size partition equals the full-batch gradient: mini-batch SGD is unbiased",
    note: "Notes 002 and 003 (mini-batch gradient descent): with a 'mean' loss the batch gradient is an average of per-example gradients, so averaging equal mini-batches recovers it; a loss that forgets to divide by N breaks this.",
    ops: vjpOps(["matmul", "add", "cross_entropy"]),
    async check(ctx) {
      const cases = fc
        .tuple(
          fc.integer({ min: 2, max: 4 }),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 2, max: 4 }),
          fc.integer({ min: 2, max: 4 }),
          fc.nat(),
        )
        .chain(([k, m, d, C, seed]) =>
          fc.tuple(
            tensorOf([k * m, d], moderate(2)),
            tensorOf([d, C], moderate(1)),
            tensorOf([C], moderate(1)),
            classIndices(k * m, C),
            fc.constant({ k, m, d, C, seed }),
          ),
        );
      await ctx.property(cases, async ([x, w, b, labels, { k, m, d, C, seed }]) => {
        const B = k * m;
        const W = ctx.t(w.shape, w.values);
        const bias = ctx.t(b.shape, b.values);
        const grads = async (rows: number[]) => {
          const tape = new Tape(ctx.backend, { call: (op, i, a) => ctx.call(op, i, a) });
          const Xr = tape.constant(
            ctx.t(
              [rows.length, d],
              rows.flatMap((r) => x.values.slice(r * d, r * d + d)),
            ),
          );
          const [Wv, bv] = [tape.leaf(W), tape.leaf(bias)];
          const logits = await tape.op(
            "add",
            { a: await tape.op("matmul", { a: Xr, b: Wv }, {}), b: bv },
            {},
          );
          const target = indices(
            [rows.length],
            rows.map((r) => labels[r]),
          );
          await tape.backward(
            await tape.op("cross_entropy", { logits, target }, { reduction: "mean" }),
          );
          return [...(Wv.grad?.data ?? []), ...(bv.grad?.data ?? [])];
        };
        // A random equal partition of the examples into k mini-batches of m.
        const order = Array.from({ length: B }, (_, i) => i).sort(
          (p, q) => normalAt(seed, p, 12) - normalAt(seed, q, 12),
        );
        const full = await grads(order.slice().sort((p, q) => p - q));
        const mean = new Float64Array(full.length);
        for (let j = 0; j < k; j++) {
          const mini = await grads(order.slice(j * m, j * m + m));
          for (let i = 0; i < mini.length; i++) mean[i] += mini[i] / k;
        }
        ctx.expectClose(
          `mean of ${k} mini-batch gradients (m = ${m}) vs the full-batch gradient (B = ${B})`,
          { shape: [full.length], data: mean },
          full,
          partitionTolerance(ctx, x.values, W, bias, labels, { B, m, d, C }),
          "Σₙ|xₙ|·(2εₙ + (γ(B+1) + γ(m+1) + 4ku)·|pₙ − yₙ|)/B",
        );
      });
    },
  },
  {
    id: "G7",
    topic: "backprop",
    title:
      "training keeps the activations for the backward pass: the saved bytes grow linearly with batch size and with depth; inference keeps none",
    note: "Note 004 (memory of backprop): the forward's intermediate values are stored to compute the gradients, which is why training needs far more memory than inference, linearly in the batch and the depth.",
    ops: ["matmul", "add", "relu", "cross_entropy", "kaiming_normal"],
    async check(ctx) {
      const cases = fc.tuple(
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(),
      );
      await ctx.property(cases, async ([d, L, B, seed]) => {
        const run = async (batch: number, depth: number, grad: boolean) => {
          const model = await mlp(
            (op, i, a) => ctx.call(op, i, a),
            new Array(depth + 1).fill(d),
            { op: "relu" },
            { op: "kaiming_normal", seed, gain: Math.SQRT2 },
          );
          const tape = new Tape(ctx.backend, { grad, call: (op, i, a) => ctx.call(op, i, a) });
          const trace = await forwardMlp(
            tape,
            model,
            tape.constant(normalTensor(ctx, [batch, d], seed, 13)),
          );
          const target = indices(
            [batch],
            Array.from({ length: batch }, (_, i) => i % d),
          );
          await tape.op("cross_entropy", { logits: trace.output, target }, { reduction: "mean" });
          return { bytes: tape.savedBytes };
        };
        const byBatch = await Promise.all([B, B + 1, B + 2].map((n) => run(n, L, true)));
        const byDepth = await Promise.all([L, L + 1, L + 2].map((n) => run(B, n, true)));
        for (const [what, [a, b, c]] of [
          ["batch", byBatch],
          ["depth", byDepth],
        ] as const) {
          ctx.expect(
            b.bytes - a.bytes > 0,
            `saved bytes do not grow with ${what}: ${a.bytes}, ${b.bytes}`,
          );
          ctx.expect(
            c.bytes - b.bytes === b.bytes - a.bytes,
            `saved bytes are not linear in ${what}: ${a.bytes}, ${b.bytes}, ${c.bytes}`,
          );
        }
        const inference = await run(B, L, false);
        ctx.expect(inference.bytes === 0, `inference saved ${inference.bytes} bytes`);
      });
    },
  },
  {
    id: "G8",
    topic: "backprop",
    title:
      "the update-to-data ratio std(lr·∇W)/std(W) of each layer scales linearly with the learning rate",
    note: "Note 002 (track the update-to-data ratio, ~1e-3 is healthy): the ratio measures how fast each layer learns, and is the knob the learning rate turns linearly while the update stays far above the weights' rounding granularity.",
    ops: [...vjpOps(["matmul", "add", "relu", "cross_entropy"]), "kaiming_normal"],
    async check(ctx) {
      const cases = fc.tuple(
        fc.integer({ min: -3, max: -1 }),
        fc.integer({ min: 2, max: 10 }),
        fc.nat({ max: 2 ** 31 }),
      );
      await ctx.property(cases, async ([exponent, c, seed]) => {
        const lr = 10 ** exponent;
        const model = await mlp(
          (op, i, a) => ctx.call(op, i, a),
          [4, 8, 8, 3],
          { op: "relu" },
          { op: "kaiming_normal", seed, gain: Math.SQRT2 },
        );
        const tape = new Tape(ctx.backend, { call: (op, i, a) => ctx.call(op, i, a) });
        const trace = await forwardMlp(
          tape,
          model,
          tape.constant(normalTensor(ctx, [16, 4], seed, 14)),
        );
        const target = indices(
          [16],
          Array.from({ length: 16 }, (_, i) => Math.floor(normalAt(seed, i, 15) ** 2 * 7) % 3),
        );
        await tape.backward(
          await tape.op("cross_entropy", { logits: trace.output, target }, { reduction: "mean" }),
        );
        for (const [l, { weight }] of trace.params.entries()) {
          const W = weight.value;
          const g = weight.grad ?? ctx.fail(`layer ${l} got no gradient`);
          const ratio = (rate: number) => {
            const [next] = sgdStep([W], [g], { lr: rate });
            const update = Float64Array.from(next.data, (v, i) => v - W.data[i]);
            // Each updated weight is rounded once: the update's std is off by ≤ u·rms(W').
            return { r: std(update) / std(W.data), err: (ctx.u * rms(next.data)) / std(W.data) };
          };
          const [a, b] = [ratio(lr), ratio(c * lr)];
          fc.pre(a.r > 1000 * a.err && std(g.data) > 0);
          ctx.expect(
            Math.abs(b.r - c * a.r) <= b.err + c * a.err,
            `layer ${l}: update-to-data ratio ${b.r} at lr = ${c * lr} is not ${c} × ${a.r} (lr = ${lr})`,
          );
          const predicted = (lr * std(g.data)) / std(W.data);
          ctx.expect(
            Math.abs(a.r - predicted) <= a.err + predicted * 1e-12,
            `layer ${l}: ratio ${a.r} is not lr·std(∇W)/std(W) = ${predicted}`,
          );
        }
      });
    },
  },
];
