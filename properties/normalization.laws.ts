/**
 * F. Batch-norm and other normalisations [notes 000, 002, 003].
 *
 * Batch-norm normalises each feature of x [N, C] down the batch: x̂ = (x − μ)/√(σ² + ε) with
 * the biased batch variance σ², then y = γ·x̂ + β. Because ε sits inside the square root, a
 * feature's output std is σ/√(σ² + ε) exactly, not 1: the laws predict that value, so features
 * whose variance is close to ε tell "ε inside the root" from "ε outside" or "no ε".
 */
import fc from "fast-check";
import type { Attrs, BatchNormAttrs, BatchNormInputs, Inputs } from "../src/engine/contract.ts";
import { normalAt } from "../src/engine/random.ts";
import type { Tensor } from "../src/engine/tensor.ts";
import { moderate, tensorOf } from "../src/harness/arbitraries.ts";
import type { Law, LawContext } from "../src/harness/law.ts";
import { ALPHA, moments, normalQuantileTwoSided } from "../src/harness/stats.ts";

/** Float64 unit roundoff: the slack for statistics the law forms on the host. */
const U64 = 2 ** -53;

// ---------------------------------------------------------------------------------------------
// Generators.

/** ε values of real libraries: PyTorch's default 1e-5 and TensorFlow's 1e-3. */
const epsilons = fc.constantFrom(1e-5, 1e-3);

interface GroupSpec {
  /** The group's scale is √ε·10^k with k in this range: σ² from about 0.01·ε to 1e6·ε. */
  logScale: [number, number];
  /** The group's mean sits up to this many scales away from 0. */
  offset: number;
  /** Pins one value at each end of the range, so σ² ≥ 2·scale²/n (no accidental constants). */
  spread: boolean;
}

const ANY_VARIANCE: GroupSpec = { logScale: [-1, 3], offset: 10, spread: true };
/** Variance far above ε (σ² ≥ 100·ε for n ≤ 16), where ε barely matters. */
const WIDE: GroupSpec = { logScale: [1.6, 3], offset: 10, spread: true };

/** One group of values normalised together (a feature's column, or a row). */
function group(length: number, eps: number, spec: GroupSpec): fc.Arbitrary<number[]> {
  return fc
    .record({
      k: fc.double({ min: spec.logScale[0], max: spec.logScale[1], noNaN: true }),
      m: fc.integer({ min: -spec.offset * 100, max: spec.offset * 100 }),
      z: fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: length, maxLength: length }),
    })
    .map(({ k, m, z }) => {
      const zs = [...z];
      if (spec.spread && length >= 2) [zs[0], zs[1]] = [-1000, 1000];
      const scale = Math.sqrt(eps) * 10 ** k;
      return zs.map((v) => Math.fround(scale * (m / 100 + v / 1000)));
    });
}

interface Case {
  /** x [n, c] (batch-norm) or [c, n] rows of n (layer-norm): groups[g] is group g's values. */
  n: number;
  c: number;
  eps: number;
  groups: number[][];
}

function groups(
  n: { min: number; max: number },
  c: { min: number; max: number },
  spec: GroupSpec,
): fc.Arbitrary<Case> {
  return fc
    .tuple(fc.integer(n), fc.integer(c), epsilons)
    .chain(([nn, cc, eps]) =>
      fc
        .array(group(nn, eps, spec), { minLength: cc, maxLength: cc })
        .map((g) => ({ n: nn, c: cc, eps, groups: g })),
    );
}

/** Feature columns side by side: x[i, c] = groups[c][i]. */
function columns(ctx: LawContext, k: Case): Tensor {
  const data = new Array<number>(k.n * k.c);
  for (let c = 0; c < k.c; c++) for (let i = 0; i < k.n; i++) data[i * k.c + c] = k.groups[c][i];
  return ctx.t([k.n, k.c], data);
}

/** γ with magnitudes in [0.1, 10] and either sign; β of moderate size. */
const affine = (c: number) =>
  fc.record({
    gamma: fc.array(
      fc
        .tuple(fc.integer({ min: 10, max: 1000 }), fc.boolean())
        .map(([g, neg]) => (neg ? -g : g) / 100),
      { minLength: c, maxLength: c },
    ),
    beta: fc.array(moderate(10), { minLength: c, maxLength: c }),
  });

const withAffine = (cases: fc.Arbitrary<Case>) =>
  cases.chain((k) => fc.tuple(fc.constant(k), affine(k.c)));

/** Backward cases: feature columns of any variance, γ, and an upstream gradient dy [n, C]. */
const vjpCases = (n: { min: number; max: number }, c: { min: number; max: number }) =>
  withAffine(groups(n, c, ANY_VARIANCE)).chain(([k, a]) =>
    fc.tuple(fc.constant(k), fc.constant(a), tensorOf([k.n, k.c], moderate(10))),
  );

// ---------------------------------------------------------------------------------------------
// Host-side statistics (float64) and helpers.

/** Element (i, c) of a row-major [n, C] array. */
const at = (t: Tensor, i: number, c: number) => t.data[i * t.shape[1] + c];

/** Per feature of x [n, C]: the batch mean, biased variance, √(σ² + ε) and x̂. */
function featureStats(x: Tensor, eps: number) {
  const [n, cc] = x.shape;
  return Array.from({ length: cc }, (_, c) => {
    const col = Float64Array.from({ length: n }, (_, i) => at(x, i, c));
    const { mean, variance, unbiasedVariance } = moments(col);
    const std = Math.sqrt(variance + eps);
    return { col, mean, variance, unbiasedVariance, std, xhat: col.map((v) => (v - mean) / std) };
  });
}

function bnInputs(
  ctx: LawContext,
  x: Tensor,
  gamma: number[] | number,
  beta: number[] | number,
): BatchNormInputs {
  const c = x.shape[1];
  return {
    x,
    gamma: ctx.t([c], gamma),
    beta: ctx.t([c], beta),
    runningMean: ctx.t([c], 0),
    runningVar: ctx.t([c], 1),
  };
}

/**
 * Runs `op` on the backend, and returns its outputs with the exact values and the tolerance
 * fields the op's budget grants a correct kernel on these inputs: what every law here compares.
 */
async function measure<O extends "batch_norm" | "layer_norm" | "batch_norm_vjp">(
  ctx: LawContext,
  op: O,
  inputs: Inputs<O>,
  attrs: Attrs<O>,
) {
  const out = await ctx.call(op, inputs, attrs);
  const { expected, fields } = await ctx.budget(op, inputs, attrs);
  return { out, expected, fields };
}

type VjpCase = [Case, { gamma: number[] }, { values: number[] }];

/** batch_norm_vjp measured on one of `vjpCases`, with its inputs. */
async function measureVjp(ctx: LawContext, [k, { gamma }, g]: VjpCase) {
  const x = columns(ctx, k);
  const inputs = { x, gamma: ctx.t([k.c], gamma), dy: ctx.t([k.n, k.c], g.values) };
  return { k, ...inputs, ...(await measure(ctx, "batch_norm_vjp", inputs, { eps: k.eps })) };
}

const train = (eps: number, momentum = 0.1): BatchNormAttrs => ({ training: true, eps, momentum });
const evaluate = (eps: number): BatchNormAttrs => ({ training: false, eps, momentum: 0.1 });

/**
 * Checks that a group of outputs y (with per-element budget tol) has mean `mean` and biased
 * std `std`. With y = ŷ + e and |eᵢ| ≤ tolᵢ: |mean(y) − mean(ŷ)| ≤ mean(tol), and since the std
 * is 1-Lipschitz in the RMS norm, |std(y) − std(ŷ)| ≤ rms(e) ≤ rms(tol).
 */
function expectMoments(
  ctx: LawContext,
  label: string,
  y: ArrayLike<number>,
  tol: ArrayLike<number>,
  want: { mean: number; std: number },
): void {
  const n = y.length;
  let tolMean = 0;
  let tolSq = 0;
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    tolMean += tol[i] / n;
    tolSq += tol[i] ** 2 / n;
    maxAbs = Math.max(maxAbs, Math.abs(y[i]));
  }
  for (let i = 0; i < n; i++) {
    ctx.expect(Number.isFinite(y[i]), `${label}: output ${i} is ${y[i]}`);
  }
  const m = moments(y);
  const std = Math.sqrt(Math.max(0, m.variance));
  // The host's own float64 rounding in forming the mean, the std and the expectation.
  const host = 16 * n * U64 * (maxAbs + Math.abs(want.mean) + want.std);
  const okMean = Math.abs(m.mean - want.mean) <= tolMean + host;
  const okStd = Math.abs(std - want.std) <= Math.sqrt(tolSq) + host;
  ctx.expect(
    okMean && okStd,
    `${label}: mean ${m.mean} (want ${want.mean} ± ${tolMean + host}), std ${std} (want ${want.std} ± ${Math.sqrt(tolSq) + host})`,
  );
}

/** One feature's column of a tolerance field over [n, C]. */
function columnOf(data: ArrayLike<number>, n: number, cc: number, c: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => data[i * cc + c]);
}

const sumFields = (...fields: ArrayLike<number>[]) =>
  Float64Array.from({ length: fields[0].length }, (_, i) => fields.reduce((s, f) => s + f[i], 0));

/**
 * Per-element bound on the error of a correct batch-norm input gradient:
 *   dxᵢ = γ/s·(dyᵢ − mean(dy) − x̂ᵢ·mean(dy·x̂)),  s = √(σ² + ε).
 * The terms, not the result, set the rounding: when dy lies almost in span{1, x̂} (always for
 * n = 2) they cancel and dx is tiny while its error is not. x̂ itself is known only to
 * u·(|x| + mean|x|)/s (forming x − μ), which enters through the mean terms. The op's normwise
 * budget (a multiple of max|dx|) misses both effects, so the larger of the two applies.
 */
function dxTolerance(
  ctx: LawContext,
  x: Tensor,
  gamma: Tensor,
  dy: Tensor,
  eps: number,
  budget: ArrayLike<number>,
): Float64Array {
  const [n, cc] = x.shape;
  const tol = Float64Array.from(budget);
  featureStats(x, eps).forEach((f, c) => {
    let meanDy = 0;
    let meanDyXhat = 0;
    let meanX = 0;
    let maxX = 0;
    for (let i = 0; i < n; i++) {
      meanDy += Math.abs(at(dy, i, c)) / n;
      meanDyXhat += Math.abs(at(dy, i, c) * f.xhat[i]) / n;
      meanX += Math.abs(f.col[i]) / n;
      maxX = Math.max(maxX, Math.abs(f.col[i]));
    }
    const shift = (maxX + meanX) / f.std;
    const scale = 2 * (n + 16) * ctx.u * (Math.abs(gamma.data[c]) / f.std);
    for (let i = 0; i < n; i++) {
      const h = Math.abs(f.xhat[i]);
      const terms =
        Math.abs(at(dy, i, c)) + (1 + shift) * meanDy * (1 + h) + h * meanDyXhat * (1 + shift);
      tol[i * cc + c] = Math.max(tol[i * cc + c], scale * terms);
    }
  });
  return tol;
}

const DX_RULE =
  "max(budget, 2(n+16)·u·|γ|/s·(|dyᵢ| + (1 + shift)·(mean|dy|·(1+|x̂ᵢ|) + |x̂ᵢ|·mean|dy·x̂|)))";

// ---------------------------------------------------------------------------------------------

export const normalizationLaws: Law[] = [
  {
    id: "F1a",
    topic: "normalization",
    title:
      "training-mode batch-norm gives each feature mean 0 and biased std σ/√(σ²+ε) before the affine step: 1 when σ² ≫ ε",
    note: "Note 000 (and 003): BN makes each pre-activation zero-mean and unit-std over the batch; the biased variance and ε inside the root fix the exact std, which features with σ² ≈ ε expose.",
    ops: ["batch_norm"],
    async check(ctx) {
      await ctx.property(
        groups({ min: 2, max: 32 }, { min: 1, max: 6 }, ANY_VARIANCE),
        async (k) => {
          const x = columns(ctx, k);
          const inputs = bnInputs(ctx, x, 1, 0);
          const { out, fields } = await measure(ctx, "batch_norm", inputs, train(k.eps));
          featureStats(x, k.eps).forEach((f, c) => {
            expectMoments(
              ctx,
              `feature ${c} (n = ${k.n}, σ² = ${f.variance.toExponential(3)}, ε = ${k.eps})`,
              columnOf(out.y.data, k.n, k.c, c),
              columnOf(fields.y.tol, k.n, k.c, c),
              { mean: 0, std: Math.sqrt(f.variance / (f.variance + k.eps)) },
            );
          });
        },
      );
    },
  },
  {
    id: "F1b",
    topic: "normalization",
    title: "after the affine step each batch-norm feature has mean β and std |γ|·σ/√(σ²+ε)",
    note: "Note 002: γ and β let the network undo the normalisation where that helps; they set exactly the output's mean and scale.",
    ops: ["batch_norm"],
    async check(ctx) {
      await ctx.property(
        withAffine(groups({ min: 2, max: 32 }, { min: 1, max: 6 }, ANY_VARIANCE)),
        async ([k, { gamma, beta }]) => {
          const x = columns(ctx, k);
          const inputs = bnInputs(ctx, x, gamma, beta);
          const { out, fields } = await measure(ctx, "batch_norm", inputs, train(k.eps));
          featureStats(x, k.eps).forEach((f, c) => {
            const g = inputs.gamma.data[c];
            expectMoments(
              ctx,
              `feature ${c} (γ = ${g}, β = ${inputs.beta.data[c]}, σ² = ${f.variance.toExponential(3)}, ε = ${k.eps})`,
              columnOf(out.y.data, k.n, k.c, c),
              columnOf(fields.y.tol, k.n, k.c, c),
              {
                mean: inputs.beta.data[c],
                std: Math.abs(g) * Math.sqrt(f.variance / (f.variance + k.eps)),
              },
            );
          });
        },
      );
    },
  },
  {
    id: "F2",
    topic: "normalization",
    title:
      "a bias added before batch-norm changes nothing: BN(x + b) = BN(x) for any per-feature b",
    note: "Notes 000 and 002: subtracting the batch mean removes any per-feature constant, so the layer before BN needs no bias (β takes its role).",
    ops: ["batch_norm"],
    async check(ctx) {
      const shifts = (c: number) =>
        fc.array(
          fc
            .tuple(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1, max: 3 }))
            .map(([m, e]) => (m / 1000) * 10 ** e),
          { minLength: c, maxLength: c },
        );
      await ctx.property(
        withAffine(groups({ min: 2, max: 24 }, { min: 1, max: 5 }, ANY_VARIANCE)).chain(([k, a]) =>
          fc.tuple(fc.constant(k), fc.constant(a), shifts(k.c)),
        ),
        async ([k, { gamma, beta }, b]) => {
          const x = columns(ctx, k);
          // The bias is in units of each feature's scale (up to 1000 of them).
          const scale = k.groups.map((g) => Math.max(...g.map(Math.abs)) || 1);
          const xb = ctx.t(
            x.shape,
            Array.from(x.data, (v, i) => v + b[i % k.c] * scale[i % k.c]),
          );
          const plain = bnInputs(ctx, x, gamma, beta);
          const biased = { ...plain, x: xb };
          const r = await measure(ctx, "batch_norm", plain, train(k.eps));
          const rb = await measure(ctx, "batch_norm", biased, train(k.eps));
          // Rounding x + b to the dtype perturbs the input; its exact effect on BN is the
          // difference of the float64 references. Both outputs keep their own budgets.
          const tol = Float64Array.from(
            r.out.y.data,
            (_, i) =>
              r.fields.y.tol[i] +
              rb.fields.y.tol[i] +
              Math.abs(rb.expected.y.data[i] - r.expected.y.data[i]),
          );
          ctx.expectClose(
            "BN(x + b) vs BN(x)",
            rb.out.y,
            r.out.y.data,
            tol,
            "budget(x) + budget(x + b) + |BN₆₄(fl(x + b)) − BN₆₄(x)|",
          );
        },
      );
    },
  },
  {
    id: "F3a",
    topic: "normalization",
    title:
      "batch-norm has exactly 2 trainable parameters per feature: its gradient holds dγ = Σ dy·x̂ and dβ = Σ dy, one entry per feature, and nothing for the running statistics",
    note: "Note 002 asks how many trainable weights BN adds: γ and β per feature (2C); the running mean and variance are buffers that receive no gradient.",
    ops: ["batch_norm_vjp"],
    async check(ctx) {
      await ctx.property(vjpCases({ min: 2, max: 24 }, { min: 1, max: 6 }), async (vc) => {
        const { k, x, dy, out: grads, fields } = await measureVjp(ctx, vc);
        const keys = Object.keys(grads).sort().join(", ");
        ctx.expect(
          keys === "dbeta, dgamma, dx",
          `batch_norm_vjp returned gradients {${keys}}; the trainable inputs are x, γ and β only`,
        );
        const params = grads.dgamma.data.length + grads.dbeta.data.length;
        ctx.expect(
          params === 2 * k.c,
          `${params} parameter gradients for ${k.c} features, expected 2 per feature`,
        );
        const xhatTol = (await ctx.budget("batch_norm", bnInputs(ctx, x, 1, 0), train(k.eps)))
          .fields.y.tol;
        const u = ctx.u;
        const wantGamma = new Float64Array(k.c);
        const wantBeta = new Float64Array(k.c);
        const tolGamma = new Float64Array(k.c);
        const tolBeta = new Float64Array(k.c);
        featureStats(x, k.eps).forEach((f, c) => {
          let absG = 0;
          let absB = 0;
          let carried = 0;
          for (let i = 0; i < k.n; i++) {
            const d = at(dy, i, c);
            wantGamma[c] += d * f.xhat[i];
            wantBeta[c] += d;
            absG += Math.abs(d * f.xhat[i]);
            absB += Math.abs(d);
            carried += Math.abs(d) * xhatTol[i * k.c + c];
          }
          // A sum of n terms in any order is within factor·n·u·Σ|terms| of exact, and x̂
          // itself is only known to the forward budget; the op's normwise budget also counts.
          tolGamma[c] = Math.max(fields.dgamma.tol[c], carried + 2 * (k.n + 16) * u * absG);
          tolBeta[c] = Math.max(fields.dbeta.tol[c], 2 * (k.n + 16) * u * absB);
        });
        ctx.expectClose(
          "dγ vs Σ dy·x̂",
          grads.dgamma,
          wantGamma,
          tolGamma,
          "max(budget, Σ|dy|·tol(x̂) + 2(n+16)·u·Σ|dy·x̂|)",
        );
        ctx.expectClose(
          "dβ vs Σ dy",
          grads.dbeta,
          wantBeta,
          tolBeta,
          "max(budget, 2(n+16)·u·Σ|dy|)",
        );
      });
    },
  },
  {
    id: "F3b",
    topic: "normalization",
    title:
      "the running mean and variance are buffers: training-mode outputs ignore them, eval mode normalises with them and leaves them unchanged",
    note: "Note 002: the running statistics are not trained, they are tracked; at inference they replace the batch statistics, so the output of one example no longer depends on the batch.",
    ops: ["batch_norm"],
    async check(ctx) {
      const buffers = (c: number) =>
        fc.record({
          mean: fc.array(moderate(5), { minLength: c, maxLength: c }),
          variance: fc.array(
            fc.integer({ min: 1, max: 10_000 }).map((v) => v / 1000),
            { minLength: c, maxLength: c },
          ),
        });
      await ctx.property(
        withAffine(groups({ min: 2, max: 16 }, { min: 1, max: 5 }, ANY_VARIANCE)).chain(([k, a]) =>
          fc.tuple(fc.constant(k), fc.constant(a), buffers(k.c), buffers(k.c)),
        ),
        async ([k, { gamma, beta }, b1, b2]) => {
          const x = columns(ctx, k);
          const base = bnInputs(ctx, x, gamma, beta);
          const one = {
            ...base,
            runningMean: ctx.t([k.c], b1.mean),
            runningVar: ctx.t([k.c], b1.variance),
          };
          const two = {
            ...base,
            runningMean: ctx.t([k.c], b2.mean),
            runningVar: ctx.t([k.c], b2.variance),
          };
          // Training mode: the buffers are not an input of the computation.
          const y1 = await measure(ctx, "batch_norm", one, train(k.eps));
          const y2 = await ctx.call("batch_norm", two, train(k.eps));
          ctx.expectClose(
            "training-mode BN with other running buffers",
            y2.y,
            y1.out.y.data,
            Array.from(y1.fields.y.tol, (t) => 2 * t),
            "2·budget",
          );
          // Eval mode: y = γ·(x − running mean)/√(running var + ε) + β, buffers returned as they were.
          const { out: e, fields } = await measure(ctx, "batch_norm", two, evaluate(k.eps));
          const want = Array.from(x.data, (v, i) => {
            const c = i % k.c;
            const rv = two.runningVar.data[c];
            return (
              two.gamma.data[c] * ((v - two.runningMean.data[c]) / Math.sqrt(rv + k.eps)) +
              two.beta.data[c]
            );
          });
          ctx.expectClose(
            "eval-mode BN vs γ·(x − running mean)/√(running var + ε) + β",
            e.y,
            want,
            fields.y.tol,
            fields.y.rule,
          );
          for (const key of ["runningMean", "runningVar"] as const) {
            const i = e[key].data.findIndex((v, c) => !Object.is(v, two[key].data[c]));
            ctx.expect(
              i < 0,
              `eval mode changed ${key}[${i}] from ${two[key].data[i]} to ${e[key].data[i]}`,
            );
          }
        },
      );
    },
  },
  {
    id: "F4a",
    topic: "normalization",
    title:
      "one training step moves the running statistics by an exponential moving average: (1−m)·old + m·batch, with the unbiased batch variance",
    note: "Note 000: the running mean and variance are an EMA over mini-batches with momentum m (PyTorch's convention: m weighs the new batch, whose variance enters with Bessel's correction).",
    ops: ["batch_norm"],
    async check(ctx) {
      const old = (c: number) =>
        fc.record({
          mean: fc.array(moderate(5), { minLength: c, maxLength: c }),
          variance: fc.array(
            fc.integer({ min: 1, max: 10_000 }).map((v) => v / 1000),
            { minLength: c, maxLength: c },
          ),
          m: fc.constantFrom(0.001, 0.01, 0.1, 0.3, 0.9, 1),
        });
      await ctx.property(
        groups({ min: 2, max: 24 }, { min: 1, max: 5 }, ANY_VARIANCE).chain((k) =>
          fc.tuple(fc.constant(k), old(k.c)),
        ),
        async ([k, o]) => {
          const x = columns(ctx, k);
          const inputs = {
            ...bnInputs(ctx, x, 1, 0),
            runningMean: ctx.t([k.c], o.mean),
            runningVar: ctx.t([k.c], o.variance),
          };
          const attrs = train(k.eps, o.m);
          const { out, fields } = await measure(ctx, "batch_norm", inputs, attrs);
          const stats = featureStats(x, k.eps);
          const rm = stats.map((f, c) => (1 - o.m) * inputs.runningMean.data[c] + o.m * f.mean);
          const rv = stats.map(
            (f, c) => (1 - o.m) * inputs.runningVar.data[c] + o.m * f.unbiasedVariance,
          );
          ctx.expectClose(
            `running mean after one step (m = ${o.m})`,
            out.runningMean,
            rm,
            fields.runningMean.tol,
            fields.runningMean.rule,
          );
          ctx.expectClose(
            `running variance after one step (m = ${o.m}, n = ${k.n}: unbiased = biased·${k.n}/${k.n - 1})`,
            out.runningVar,
            rv,
            fields.runningVar.tol,
            fields.runningVar.rule,
          );
        },
      );
    },
  },
  {
    id: "F4b",
    topic: "normalization",
    title:
      "on a stationary stream of batches the running statistics converge to the true mean and variance",
    note: "Note 000: the EMA of batch statistics estimates the population statistics that eval mode uses; its noise shrinks with the batch size and with m.",
    ops: ["batch_norm"],
    statistical: {
      test: "running mean: exact normal (a weighted sum of Gaussian batch means), z at α/4; running variance: Laurent–Massart bound for the weighted sum of χ²(N−1) batch variances at α/4",
      alpha: ALPHA,
      detects:
        "running statistics that never move (the mean stays ≥ 15× its bound from μ, the variance ≥ 5× from σ²), that track the normalised output (0 and 1), or that average the std instead of the variance (2 vs σ² = 4, 0.5 vs 0.25; ≥ 3× the bound)",
    },
    async check(ctx) {
      const [n, c, steps, m] = [128, 2, 300, 0.05];
      const mu = [3, -1.5];
      const sigma = [2, 0.5];
      const eps = 1e-5;
      const seed = ctx.seedFor(40);
      // PyTorch's initial buffers.
      const [mean0, var0] = [0, 1];
      let runningMean = ctx.t([c], mean0);
      let runningVar = ctx.t([c], var0);
      // Rounding: each step's error (within its budget) is shrunk by (1 − m) at every later step.
      const errMean = new Float64Array(c);
      const errVar = new Float64Array(c);
      let maxAbs = 0;
      for (let t = 0; t < steps; t++) {
        const values = Array.from({ length: n * c }, (_, i) => {
          const v = mu[i % c] + sigma[i % c] * normalAt(seed, t * n * c + i, 7);
          maxAbs = Math.max(maxAbs, Math.abs(v));
          return v;
        });
        const inputs = { ...bnInputs(ctx, ctx.t([n, c], values), 1, 0), runningMean, runningVar };
        const { out, fields } = await measure(ctx, "batch_norm", inputs, train(eps, m));
        for (let j = 0; j < c; j++) {
          errMean[j] = (1 - m) * errMean[j] + fields.runningMean.tol[j];
          errVar[j] = (1 - m) * errVar[j] + fields.runningVar.tol[j];
        }
        runningMean = out.runningMean;
        runningVar = out.runningVar;
      }
      const decay = (1 - m) ** steps;
      const alpha = ALPHA / (2 * c);
      // Weights of the batch statistics in the final EMA: m·(1−m)^(T−t).
      const sumW2 = (m * m * (1 - decay * decay)) / (1 - (1 - m) ** 2);
      const x = Math.log(2 / alpha);
      // The input was rounded to the dtype: each batch statistic moves by at most this much.
      const inputRounding = ctx.u * maxAbs;
      for (let j = 0; j < c; j++) {
        const s2 = sigma[j] ** 2;
        const meanWant = decay * mean0 + (1 - decay) * mu[j];
        const meanBound =
          normalQuantileTwoSided(alpha) * Math.sqrt((sumW2 * s2) / n) + errMean[j] + inputRounding;
        const gotMean = runningMean.data[j];
        ctx.expect(
          Math.abs(gotMean - meanWant) <= meanBound,
          `feature ${j}: running mean ${gotMean} after ${steps} batches, true mean ${mu[j]} (expected ${meanWant} ± ${meanBound})`,
        );
        // rv_T − E[rv_T] = Σₜ wₜ·σ²/(N−1)·(χ²ₜ − (N−1)): Laurent & Massart (2000) for Σ aᵢ(Zᵢ² − 1).
        const a2 = (s2 / (n - 1)) * Math.sqrt((n - 1) * sumW2);
        const aInf = (s2 * m) / (n - 1);
        const varWant = decay * var0 + (1 - decay) * s2;
        const slack = errVar[j] + 4 * inputRounding * maxAbs;
        const upper = varWant + 2 * a2 * Math.sqrt(x) + 2 * aInf * x + slack;
        const lower = varWant - 2 * a2 * Math.sqrt(x) - slack;
        const gotVar = runningVar.data[j];
        ctx.expect(
          gotVar >= lower && gotVar <= upper,
          `feature ${j}: running variance ${gotVar} after ${steps} batches, true variance ${s2} (accepted [${lower}, ${upper}])`,
        );
      }
    },
  },
  {
    id: "F4c",
    topic: "normalization",
    title:
      "a smaller momentum moves the running statistics more slowly: after K steps on the same batch a fraction (1−m)^K of the gap to the batch statistics remains",
    note: "Note 000: with small batches a momentum of 0.1 is too aggressive and 0.001 is advised; the EMA's memory is about 1/m batches.",
    ops: ["batch_norm"],
    async check(ctx) {
      const steps = 5;
      const pair = fc
        .uniqueArray(fc.constantFrom(0.001, 0.01, 0.05, 0.1, 0.3), { minLength: 2, maxLength: 2 })
        .map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const);
      // Features whose mean is at least 1 from 0 and whose variance is far from 1, so the
      // starting point (0, 1) is far from the batch statistics.
      const batch = groups(
        { min: 4, max: 16 },
        { min: 1, max: 4 },
        { logScale: [2.5, 3], offset: 10, spread: true },
      ).filter((k) =>
        k.groups.every((g) => {
          const { mean, unbiasedVariance } = moments(g);
          return Math.abs(mean) >= 1 && Math.abs(Math.log(unbiasedVariance)) >= 1;
        }),
      );
      await ctx.property(batch, pair, async (k, [slow, fast]) => {
        const x = columns(ctx, k);
        const stats = featureStats(x, k.eps);
        const targets = {
          runningMean: stats.map((f) => f.mean),
          runningVar: stats.map((f) => f.unbiasedVariance),
        };
        const start = { runningMean: 0, runningVar: 1 };
        const distance: Record<string, Float64Array[]> = { runningMean: [], runningVar: [] };
        for (const m of [slow, fast]) {
          let state = { ...bnInputs(ctx, x, 1, 0) };
          const err = { runningMean: new Float64Array(k.c), runningVar: new Float64Array(k.c) };
          for (let t = 0; t < steps; t++) {
            const { out, fields } = await measure(ctx, "batch_norm", state, train(k.eps, m));
            for (const key of ["runningMean", "runningVar"] as const) {
              for (let c = 0; c < k.c; c++)
                err[key][c] = (1 - m) * err[key][c] + fields[key].tol[c];
            }
            state = { ...state, runningMean: out.runningMean, runningVar: out.runningVar };
          }
          for (const key of ["runningMean", "runningVar"] as const) {
            const want = targets[key].map((t) => t + (1 - m) ** steps * (start[key] - t));
            ctx.expectClose(
              `${key} after ${steps} steps with m = ${m}`,
              state[key],
              want,
              err[key],
              "Σₜ (1−m)^(K−t)·budgetₜ",
            );
            distance[key].push(
              Float64Array.from(state[key].data, (v, c) => Math.abs(v - targets[key][c])),
            );
          }
        }
        for (const key of ["runningMean", "runningVar"] as const) {
          const [d1, d2] = distance[key];
          for (let c = 0; c < k.c; c++) {
            ctx.expect(
              d1[c] > d2[c],
              `feature ${c}: after ${steps} steps ${key} is ${d1[c]} from the batch statistic with m = ${slow} but ${d2[c]} with m = ${fast}; the smaller momentum should lag further behind`,
            );
          }
        }
      });
    },
  },
  {
    id: "F5a",
    topic: "normalization",
    title:
      "in training mode batch-norm couples the batch: changing one example changes the outputs of the others",
    note: "Note 002: what is unnatural about BN is that an example's activation depends on the rest of its batch; the jitter regularises, and the coupling causes bugs.",
    ops: ["batch_norm"],
    async check(ctx) {
      const cases = groups({ min: 3, max: 12 }, { min: 1, max: 4 }, WIDE).chain((k) =>
        fc.tuple(fc.constant(k), fc.integer({ min: 0, max: k.n - 1 })),
      );
      await ctx.property(cases, async ([k, j]) => {
        const x = columns(ctx, k);
        const stats = featureStats(x, k.eps);
        // Example j jumps to the far side of its feature's mean: the other examples' x̂ must
        // then sum to about +√(n−1) instead of −x̂ⱼ, so at least one moves by ≈ 1/√(n−1).
        const moved = Array.from(x.data, (v, i) => {
          if (Math.floor(i / k.c) !== j) return v;
          const f = stats[i % k.c];
          const range = Math.max(...f.col) - Math.min(...f.col);
          return f.mean - (f.xhat[j] >= 0 ? 1 : -1) * 10 * range;
        });
        const a = bnInputs(ctx, x, 1, 0);
        const b = { ...a, x: ctx.t(x.shape, moved) };
        const ya = await ctx.call("batch_norm", a, train(k.eps));
        const yb = await ctx.expectMatchesReference("batch_norm", b, train(k.eps));
        const ta = (await ctx.budget("batch_norm", a, train(k.eps))).fields.y.tol;
        const tb = (await ctx.budget("batch_norm", b, train(k.eps))).fields.y.tol;
        for (let c = 0; c < k.c; c++) {
          let change = 0;
          let allowed = 0;
          for (let i = 0; i < k.n; i++) {
            if (i === j) continue;
            const o = i * k.c + c;
            const d = Math.abs(yb.y.data[o] - ya.y.data[o]);
            if (d - ta[o] - tb[o] > change - allowed) [change, allowed] = [d, ta[o] + tb[o]];
          }
          ctx.expect(
            change > allowed,
            `feature ${c}: moving example ${j} left every other example's output unchanged (largest change ${change}, within rounding ${allowed}); training-mode BN must use the batch statistics`,
          );
        }
      });
    },
  },
  {
    id: "F5b",
    topic: "normalization",
    title:
      "in eval mode batch-norm treats examples independently: changing one example leaves the others' outputs alone",
    note: "Note 002: at inference BN uses the running statistics, so a prediction must not depend on what else is in the batch.",
    ops: ["batch_norm"],
    async check(ctx) {
      await ctx.property(
        withAffine(groups({ min: 2, max: 12 }, { min: 1, max: 4 }, ANY_VARIANCE)).chain(([k, a]) =>
          fc.tuple(
            fc.constant(k),
            fc.constant(a),
            fc.integer({ min: 0, max: k.n - 1 }),
            moderate(1000),
          ),
        ),
        async ([k, { gamma, beta }, j, shift]) => {
          const x = columns(ctx, k);
          const moved = Array.from(x.data, (v, i) =>
            Math.floor(i / k.c) === j ? v + shift + 1 : v,
          );
          const base = {
            ...bnInputs(ctx, x, gamma, beta),
            runningMean: ctx.t(
              [k.c],
              k.groups.map((g) => g[0]),
            ),
            runningVar: ctx.t(
              [k.c],
              k.groups.map((g) => moments(g).variance + 0.5),
            ),
          };
          const other = { ...base, x: ctx.t(x.shape, moved) };
          const a = await measure(ctx, "batch_norm", base, evaluate(k.eps));
          const b = await measure(ctx, "batch_norm", other, evaluate(k.eps));
          const [ya, yb, ta, tb] = [a.out, b.out, a.fields.y.tol, b.fields.y.tol];
          for (let i = 0; i < k.n; i++) {
            if (i === j) continue;
            for (let c = 0; c < k.c; c++) {
              const o = i * k.c + c;
              ctx.expect(
                Math.abs(yb.y.data[o] - ya.y.data[o]) <= ta[o] + tb[o],
                `eval mode: changing example ${j} moved example ${i}'s feature ${c} from ${ya.y.data[o]} to ${yb.y.data[o]}`,
              );
            }
          }
        },
      );
    },
  },
  {
    id: "F5c",
    topic: "normalization",
    title:
      "layer-norm treats examples independently: changing one example leaves the others' outputs alone",
    note: "Note 002: layer and instance norm compute their statistics inside each example, which removes BN's batch coupling.",
    ops: ["layer_norm"],
    async check(ctx) {
      await ctx.property(
        groups({ min: 2, max: 16 }, { min: 2, max: 6 }, ANY_VARIANCE).chain((k) =>
          fc.tuple(fc.constant(k), fc.integer({ min: 0, max: k.c - 1 }), moderate(1000)),
        ),
        async ([k, j, shift]) => {
          // Rows are examples here: x [c, n], row r = groups[r].
          const x = ctx.t([k.c, k.n], k.groups.flat());
          const moved = ctx.t(
            [k.c, k.n],
            k.groups.flatMap((g, r) => (r === j ? g.map((v, i) => v * (i + 2) + shift) : g)),
          );
          const gamma = ctx.t([k.n], 1);
          const beta = ctx.t([k.n], 0);
          const a = await measure(ctx, "layer_norm", { x, gamma, beta }, { eps: k.eps });
          const b = await measure(ctx, "layer_norm", { x: moved, gamma, beta }, { eps: k.eps });
          const [ya, yb, ta, tb] = [a.out, b.out, a.fields.y.tol, b.fields.y.tol];
          for (let r = 0; r < k.c; r++) {
            if (r === j) continue;
            for (let i = 0; i < k.n; i++) {
              const o = r * k.n + i;
              ctx.expect(
                Math.abs(yb.data[o] - ya.data[o]) <= ta[o] + tb[o],
                `layer-norm: changing example ${j} moved example ${r}'s output ${i} from ${ya.data[o]} to ${yb.data[o]}`,
              );
            }
          }
        },
      );
    },
  },
  {
    id: "F6",
    topic: "normalization",
    title: "ε keeps batch-norm finite on a constant feature: its output is β (zero after centring)",
    note: "Note 002 ('division by epsilon'): a feature that is constant over the batch has σ² = 0; without ε it would be 0/0.",
    ops: ["batch_norm"],
    async check(ctx) {
      const constant = fc.oneof(moderate(100), fc.constantFrom(0, 1, -3.7, 1e4, 2 ** -20));
      const cases = fc
        .tuple(fc.integer({ min: 2, max: 16 }), fc.integer({ min: 1, max: 4 }), epsilons)
        .chain(([n, c, eps]) =>
          fc.tuple(
            fc.constant({ n, c, eps }),
            fc.array(fc.option(constant, { nil: undefined }), { minLength: c, maxLength: c }),
            fc.array(group(n, eps, ANY_VARIANCE), { minLength: c, maxLength: c }),
            affine(c),
          ),
        );
      await ctx.property(cases, async ([{ n, c, eps }, consts, varying, { gamma, beta }]) => {
        // Feature f is constant where consts[f] is set, an ordinary feature otherwise.
        const cols = varying.map((g, f) =>
          consts[f] === undefined ? g : g.map(() => consts[f] as number),
        );
        const x = columns(ctx, { n, c, eps, groups: cols });
        const inputs = bnInputs(ctx, x, gamma, beta);
        const { out, fields } = await measure(ctx, "batch_norm", inputs, train(eps));
        for (let i = 0; i < out.y.data.length; i++) {
          ctx.expect(
            Number.isFinite(out.y.data[i]),
            `output (${Math.floor(i / c)}, ${i % c}) is ${out.y.data[i]}`,
          );
        }
        for (let f = 0; f < c; f++) {
          if (consts[f] === undefined) continue;
          const want = Array.from({ length: n }, () => inputs.beta.data[f]);
          ctx.expectClose(
            `constant feature ${f} (value ${x.data[f]}, ε = ${eps}) vs β`,
            { shape: [n], data: columnOf(out.y.data, n, c, f) },
            want,
            columnOf(fields.y.tol, n, c, f),
            fields.y.rule,
          );
        }
      });
    },
  },
  {
    id: "F7",
    topic: "normalization",
    title:
      "batch-norm is invariant to a positive rescaling of each input feature, up to the effect of ε",
    note: "Note 002: BN divides out each feature's scale, so the init scale and gain of the layer before it stop mattering; only ε, which does not scale, leaves a trace.",
    ops: ["batch_norm"],
    async check(ctx) {
      const cases = withAffine(groups({ min: 2, max: 16 }, { min: 1, max: 5 }, WIDE)).chain(
        ([k, a]) =>
          fc.tuple(
            fc.constant(k),
            fc.constant(a),
            fc.array(fc.integer({ min: -6, max: 6 }), { minLength: k.c, maxLength: k.c }),
          ),
      );
      await ctx.property(cases, async ([k, { gamma, beta }, exps]) => {
        const x = columns(ctx, k);
        const stats = featureStats(x, k.eps);
        // Powers of two scale exactly in binary floating point, so a·x needs no rounding. The
        // exponent is raised where needed to keep the scaled variance ≥ 100·ε too.
        const scales = exps.map(
          (e, c) =>
            2 ** Math.max(e, Math.ceil(Math.log2(Math.sqrt((100 * k.eps) / stats[c].variance)))),
        );
        const scaled = ctx.t(
          x.shape,
          Array.from(x.data, (v, i) => v * scales[i % k.c]),
        );
        const a = bnInputs(ctx, x, gamma, beta);
        const b = { ...a, x: scaled };
        const ma = await measure(ctx, "batch_norm", a, train(k.eps));
        const mb = await measure(ctx, "batch_norm", b, train(k.eps));
        const [ya, yb, ta, tb] = [ma.out, mb.out, ma.fields.y.tol, mb.fields.y.tol];
        // The one exact difference: (x − μ)·(1/√(σ² + ε/a²) − 1/√(σ² + ε)), times γ.
        const predicted = Array.from(x.data, (v, i) => {
          const c = i % k.c;
          const f = stats[c];
          const shift =
            (v - f.mean) * (1 / Math.sqrt(f.variance + k.eps / scales[c] ** 2) - 1 / f.std);
          return ya.y.data[i] + a.gamma.data[c] * shift;
        });
        const host = Array.from(
          x.data,
          (_, i) => 16 * k.n * U64 * (Math.abs(ya.y.data[i]) + Math.abs(a.gamma.data[i % k.c])),
        );
        ctx.expectClose(
          "BN(a·x) vs BN(x) + ε effect",
          yb.y,
          predicted,
          sumFields(ta, tb, host),
          "budget(x) + budget(a·x)",
        );
      });
    },
  },
  {
    id: "F8a",
    topic: "normalization",
    title:
      "layer-norm gives each example mean 0 and std σ/√(σ²+ε) over its features: 1 when σ² ≫ ε",
    note: "Note 002: layer norm normalises each example over its own features, the batch-free alternative to BN.",
    ops: ["layer_norm"],
    async check(ctx) {
      await ctx.property(
        groups({ min: 2, max: 32 }, { min: 1, max: 6 }, ANY_VARIANCE),
        async (k) => {
          const x = ctx.t([k.c, k.n], k.groups.flat());
          const inputs = { x, gamma: ctx.t([k.n], 1), beta: ctx.t([k.n], 0) };
          const { out: y, fields } = await measure(ctx, "layer_norm", inputs, { eps: k.eps });
          for (let r = 0; r < k.c; r++) {
            const row = x.data.subarray(r * k.n, (r + 1) * k.n);
            const { variance } = moments(row);
            expectMoments(
              ctx,
              `example ${r} (D = ${k.n}, σ² = ${variance.toExponential(3)}, ε = ${k.eps})`,
              y.data.subarray(r * k.n, (r + 1) * k.n),
              fields.y.tol.subarray(r * k.n, (r + 1) * k.n),
              { mean: 0, std: Math.sqrt(variance / (variance + k.eps)) },
            );
          }
        },
      );
    },
  },
  {
    id: "F8b",
    topic: "normalization",
    title:
      "instance-norm (layer-norm over the last axis of [N, C, L], the same memory as [N·C, L]) gives each instance mean 0 and std σ/√(σ²+ε)",
    note: "Note 002: instance norm normalises each channel of each example on its own; it is layer-norm applied to the [N·C, L] view.",
    ops: ["layer_norm"],
    async check(ctx) {
      const cases = fc
        .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }))
        .chain(([nb, ch]) =>
          fc.tuple(
            fc.constant([nb, ch] as const),
            groups({ min: 2, max: 16 }, { min: nb * ch, max: nb * ch }, ANY_VARIANCE),
          ),
        );
      await ctx.property(cases, async ([[nb, ch], k]) => {
        const x = ctx.t([nb, ch, k.n], k.groups.flat());
        const inputs = { x, gamma: ctx.t([k.n], 1), beta: ctx.t([k.n], 0) };
        const { out: y, fields } = await measure(ctx, "layer_norm", inputs, { eps: k.eps });
        for (let g = 0; g < nb * ch; g++) {
          const span = [g * k.n, (g + 1) * k.n] as const;
          const { variance } = moments(x.data.subarray(...span));
          expectMoments(
            ctx,
            `instance (${Math.floor(g / ch)}, ${g % ch}) (L = ${k.n}, σ² = ${variance.toExponential(3)}, ε = ${k.eps})`,
            y.data.subarray(...span),
            fields.y.tol.subarray(...span),
            { mean: 0, std: Math.sqrt(variance / (variance + k.eps)) },
          );
        }
      });
    },
  },
  {
    id: "F9a",
    topic: "normalization",
    title:
      "the batch-norm input gradient sums to 0 over the batch and is orthogonal to the normalised output, for each feature (up to the ε term)",
    note: "Note 002: BN's output cannot move with a shift or a rescaling of its input column, so the gradient has no component along 1 or along x̂ (exactly so as ε → 0).",
    ops: ["batch_norm_vjp"],
    async check(ctx) {
      await ctx.property(vjpCases({ min: 2, max: 32 }, { min: 1, max: 5 }), async (vc) => {
        const { k, x, gamma, dy, out, fields } = await measureVjp(ctx, vc);
        const dx = out.dx;
        const dxTol = dxTolerance(ctx, x, gamma, dy, k.eps, fields.dx.tol);
        featureStats(x, k.eps).forEach((f, c) => {
          let sum = 0;
          let dot = 0;
          let dyDot = 0;
          let tolSum = 0;
          let tolDot = 0;
          let host = 0;
          for (let i = 0; i < k.n; i++) {
            const d = at(dx, i, c);
            const t = dxTol[i * k.c + c];
            sum += d;
            dot += d * f.xhat[i];
            dyDot += at(dy, i, c) * f.xhat[i];
            tolSum += t;
            tolDot += t * Math.abs(f.xhat[i]);
            host += 4 * k.n * U64 * Math.abs(d) * (1 + Math.abs(f.xhat[i]));
          }
          // With ε, Σx̂² = n·σ²/(σ²+ε) < n, which leaves x̂·dx = γ/√(σ²+ε)·ε/(σ²+ε)·Σ dy·x̂.
          const dotWant = (gamma.data[c] / f.std) * (k.eps / (f.variance + k.eps)) * dyDot;
          ctx.expect(
            Math.abs(sum) <= tolSum + host,
            `feature ${c}: Σᵢ dxᵢ = ${sum}, not 0 (allowed ±${tolSum + host}: Σ of ${DX_RULE})`,
          );
          ctx.expect(
            Math.abs(dot - dotWant) <= tolDot + host,
            `feature ${c}: Σᵢ x̂ᵢ·dxᵢ = ${dot}, expected ${dotWant} (the ε term; allowed ±${tolDot + host})`,
          );
        });
      });
    },
  },
  {
    id: "F9b",
    topic: "normalization",
    title:
      "the batch-norm input gradient dx matches the float64 reference, within a bound set by the size of its terms",
    note: "Note 002: BN's backward carries the batch coupling (the mean and x̂ terms); a kernel that drops one still trains, just wrongly. (dγ and dβ are F3a's.)",
    ops: ["batch_norm_vjp"],
    async check(ctx) {
      await ctx.property(vjpCases({ min: 2, max: 32 }, { min: 1, max: 5 }), async (vc) => {
        const { k, x, gamma, dy, out, expected, fields } = await measureVjp(ctx, vc);
        const tol = dxTolerance(ctx, x, gamma, dy, k.eps, fields.dx.tol);
        ctx.expectClose(
          "batch_norm_vjp.dx vs float64 reference",
          out.dx,
          expected.dx.data,
          tol,
          DX_RULE,
        );
      });
    },
  },
];
