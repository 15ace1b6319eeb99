/**
 * D. Initialisation [notes 001, 004, 002].
 *
 * Weight shapes follow the contract: [fan_out, fan_in] for a layer y = W x, so n_in = shape[1]
 * and n_out = shape[0]. Shapes are deliberately not square, so that n_in and n_out cannot be
 * confused without a law noticing. Every random draw is seeded with ctx.seedFor(i) and every
 * statistical check runs at a false-alarm rate of at most ALPHA = 1e-9 in total (Bonferroni
 * over the checks in a law); each law says which test it uses and what it is sure to catch.
 */

import { normalAt } from "../src/engine/random.ts";
import { indices, type Tensor } from "../src/engine/tensor.ts";
import type { Law, LawContext } from "../src/harness/law.ts";
import {
  ALPHA,
  ksCritical,
  ksStatistic,
  normalCdf,
  varianceInterval,
  zTestMean,
} from "../src/harness/stats.ts";

type Shape = readonly [number, number];

/** Host-side draws use their own Philox stream, apart from the initialisers' (stream 1). */
const HOST_STREAM = 7;

/** Σw²/n and Σw/n of a sample, in float64. */
function sampleMoments(w: ArrayLike<number>): { mean: number; meanSquare: number; n: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < w.length; i++) {
    s += w[i];
    s2 += w[i] * w[i];
  }
  return { mean: s / w.length, meanSquare: s2 / w.length, n: w.length };
}

/**
 * Checks that a sample of N(0, σ²) (known mean 0) has Σw²/n inside the χ²ₙ acceptance
 * interval. Rounding every weight to the dtype moves Σw² by at most 2u relative, which the
 * interval absorbs by widening both ends by that much.
 */
function expectVariance(
  ctx: LawContext,
  label: string,
  w: ArrayLike<number>,
  sigma2: number,
  alpha: number,
): void {
  const { meanSquare, n } = sampleMoments(w);
  const [lo, hi] = varianceInterval({ n, sigma2, alpha, knownMean: true });
  const slack = 2 * ctx.u;
  ctx.expect(
    meanSquare >= lo * (1 - slack) && meanSquare <= hi * (1 + slack),
    `${label}: Σw²/n = ${meanSquare.toPrecision(6)} over ${n} weights, expected variance ${sigma2.toPrecision(6)} (ratio ${(meanSquare / sigma2).toFixed(4)}); the χ² acceptance interval at α = ${alpha.toExponential(1)} is [${lo.toPrecision(6)}, ${hi.toPrecision(6)}]`,
  );
}

/** z-test of a sample mean against 0 with the known σ of the distribution. */
function expectMeanZero(
  ctx: LawContext,
  label: string,
  w: ArrayLike<number>,
  sigma: number,
  alpha: number,
): void {
  const { mean, n } = sampleMoments(w);
  const t = zTestMean(mean, 0, sigma, n, alpha);
  ctx.expect(
    t.pass,
    `${label}: mean of ${n} weights is ${mean.toExponential(3)} = ${t.z.toFixed(2)} standard errors from 0 (bound ${t.bound.toExponential(3)} at α = ${alpha.toExponential(1)})`,
  );
}

const xavierStd = ([fanOut, fanIn]: Shape, gain: number) => gain * Math.sqrt(2 / (fanIn + fanOut));
const xavierBound = ([fanOut, fanIn]: Shape, gain: number) =>
  gain * Math.sqrt(6 / (fanIn + fanOut));

/**
 * Five draws per law, a wide layer and its transpose at the customary gains — 1, tanh's 5/3,
 * ReLU's √2 — and at 0.5 and 3, so that a kernel that ignores the gain, or applies it at one
 * value only, is caught; 64 000 weights each. With n = 64 000 the χ² interval for a variance at
 * α/5 is about [0.965, 1.036] and the z-bound for a mean ±0.026σ.
 */
const DRAWS: readonly { shape: Shape; gain: number }[] = [
  { shape: [160, 400], gain: 1 },
  { shape: [400, 160], gain: 5 / 3 },
  { shape: [160, 400], gain: Math.SQRT2 },
  { shape: [400, 160], gain: 0.5 },
  { shape: [160, 400], gain: 3 },
];

/** He init's gains: ReLU's √2, and two others so that a gain fixed at √2 is caught. */
const HE_GAINS = [Math.SQRT2, 0.5, 3] as const;

/**
 * Uniform samples: every |w| ≤ bound (up to the 2 ULP a float32 kernel may lose forming the
 * bound and the product), and both ends come within a relative δ of it. For U(−a, a),
 * P(max w < a(1 − δ)) = (1 − δ/2)ⁿ, so δ = 2(1 − α^(1/n)) makes missing an end a false alarm
 * of probability α; at n = 64 000 and α = 1e-9/8, δ ≈ 7e-4.
 */
function expectFillsBound(
  ctx: LawContext,
  label: string,
  w: ArrayLike<number>,
  bound: number,
  alpha: number,
): void {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < w.length; i++) {
    ctx.expect(
      Math.abs(w[i]) <= bound * (1 + 4 * ctx.u),
      `${label}: weight ${i} is ${w[i]}, outside ±${bound}`,
    );
    lo = Math.min(lo, w[i]);
    hi = Math.max(hi, w[i]);
  }
  const delta = -2 * Math.expm1(Math.log(alpha / 2) / w.length);
  ctx.expect(
    hi >= bound * (1 - delta) && lo <= -bound * (1 - delta),
    `${label}: the weights span [${lo.toPrecision(6)}, ${hi.toPrecision(6)}] but U(±${bound.toPrecision(6)}) reaches within ${(delta * 100).toFixed(3)}% of both ends with probability 1 − ${alpha.toExponential(1)}`,
  );
}

/** Mean 0 and variance a²/3 of U(−a, a): z-tests on w and on w², whose σ are a/√3 and a²·√(4/45). */
function expectUniformMoments(
  ctx: LawContext,
  label: string,
  w: ArrayLike<number>,
  a: number,
  alpha: number,
): void {
  expectMeanZero(ctx, label, w, a / Math.sqrt(3), alpha / 2);
  const { meanSquare, n } = sampleMoments(w);
  const t = zTestMean(meanSquare, (a * a) / 3, a * a * Math.sqrt(4 / 45), n, alpha / 2);
  ctx.expect(
    t.pass,
    `${label}: Σw²/n = ${meanSquare.toPrecision(6)}, expected a²/3 = ${((a * a) / 3).toPrecision(6)} (ratio ${(meanSquare / ((a * a) / 3)).toFixed(4)}, ${t.z.toFixed(2)} standard errors; bound at α = ${(alpha / 2).toExponential(1)})`,
  );
}

/** A [rows, cols] matrix of N(0, σ²) host draws, rounded to the backend's dtype. */
function gaussian(
  ctx: LawContext,
  rows: number,
  cols: number,
  sigma: number,
  seed: number,
): Tensor {
  const values = Array.from(
    { length: rows * cols },
    (_, i) => sigma * normalAt(seed, i, HOST_STREAM),
  );
  return ctx.t([rows, cols], values);
}

function transpose(ctx: LawContext, w: Tensor): Tensor {
  const [r, c] = w.shape;
  const out = new Array<number>(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = w.data[i * c + j];
  return ctx.t([c, r], out);
}

/** ‖W‖²_F and ‖WᵀW‖²_F = tr((WᵀW)²), from the smaller Gram matrix. */
function gram(w: Tensor): { frob2: number; gram2: number } {
  const [r, c] = w.shape;
  const small = Math.min(r, c);
  const at = (i: number, j: number) => (r <= c ? w.data[i * c + j] : w.data[j * c + i]);
  const long = Math.max(r, c);
  let frob2 = 0;
  let gram2 = 0;
  for (let i = 0; i < small; i++) {
    for (let j = 0; j < small; j++) {
      let g = 0;
      for (let k = 0; k < long; k++) g += at(i, k) * at(j, k);
      gram2 += g * g;
      if (i === j) frob2 += g;
    }
  }
  return { frob2, gram2 };
}

/**
 * Variance propagation through a linear map (notes 001 and 004). Rows v_b = M z_b with z_b ~
 * N(0, σ²I) independent and M fixed give Σ_b‖v_b‖² = σ²·Σ_b z_bᵀ(MᵀM)z_b: a weighted sum of
 * χ²₁ variables with mean σ²·B·‖M‖²_F and variance 2σ⁴·B·‖MᵀM‖²_F. It is checked with
 * Satterthwaite's scaled χ²_ν (ν = B·‖M‖⁴_F/‖MᵀM‖²_F, several thousand here), whose skew
 * matches the sum's, where a normal approximation would understate the upper tail at 1e-9.
 * With M's entries i.i.d. of variance σ_w², ‖M‖²_F/(σ_w²·n_in·n_out) is itself χ², so the
 * ratio of the mean square to its nominal value n_fan·σ_w²·σ² must lie in the product of the
 * two intervals (each at α/2). The float32 matmul's rounding (≤ 2(n + 2)u relative) widens it.
 */
function expectPropagation(
  ctx: LawContext,
  label: string,
  out: Tensor,
  w: Tensor,
  p: { sigma2: number; sigmaW2: number; fan: number; inner: number; alpha: number },
): void {
  const [fanOut, fanIn] = w.shape;
  const [rows, width] = out.shape;
  const { meanSquare } = sampleMoments(out.data);
  const { frob2, gram2 } = gram(w);
  const nominal = p.fan * p.sigmaW2 * p.sigma2;
  const weightsDof = fanIn * fanOut;
  // Rounded down: fewer degrees of freedom only widen the interval.
  const sampleDof = Math.floor((rows * frob2 * frob2) / gram2);
  const [wLo, wHi] = varianceInterval({
    n: weightsDof,
    sigma2: 1,
    alpha: p.alpha / 2,
    knownMean: true,
  });
  const [sLo, sHi] = varianceInterval({
    n: sampleDof,
    sigma2: 1,
    alpha: p.alpha / 2,
    knownMean: true,
  });
  const rounding = 2 * (p.inner + 2) * ctx.u;
  const lo = wLo * sLo * (1 - rounding);
  const hi = wHi * sHi * (1 + rounding);
  const ratio = meanSquare / nominal;
  ctx.expect(
    ratio >= lo && ratio <= hi,
    `${label}: mean square ${meanSquare.toPrecision(6)} is ${ratio.toFixed(4)} × the predicted ${p.fan}·σ_w²·σ² = ${nominal.toPrecision(6)}, outside [${lo.toFixed(4)}, ${hi.toFixed(4)}] (the weights' variance is ${(frob2 / weightsDof / p.sigmaW2).toFixed(4)} × σ_w²; given the weights the layer scales σ² by ${(meanSquare / p.sigma2).toFixed(4)} where ‖W‖²/${width} = ${(frob2 / width).toFixed(4)}; ν = ${sampleDof})`,
  );
}

/** Layers for D4a and D5: square (Xavier's fixed point) and 64 → 192 (where fan-in and fan-out differ 3×). */
const LAYERS: readonly { nIn: number; nOut: number; batch: number }[] = [
  { nIn: 96, nOut: 96, batch: 96 },
  { nIn: 64, nOut: 192, batch: 96 },
];

// ---------------------------------------------------------------------------------------------
// Deep ReLU stacks (D4b, D4c). With W ~ N(0, s²) of width n, the pre-activations of one example
// are, given the previous layer, i.i.d. N(0, s²‖a‖²) where a is that layer's ReLU output. So
// ‖ReLU(h_l)‖² = ‖ReLU(h_{l−1})‖²·T_l with T_l = s²·χ²_K, K ~ Binomial(n, ½), independent over
// layers (the first layer takes x itself). For He, s² = 2/n and E[T] = 1: the log squared norm
// S_l = ln(‖ReLU(h_l)‖²/‖x‖²) is a random walk with i.i.d. steps ln T and no mean growth. Its
// exact moment generating function gives Chernoff bounds on both tails at every depth.

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ln P(K = k) for K ~ Bin(n, ½). */
const logBinomial = (n: number, k: number) =>
  logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) - n * Math.LN2;

/** ln E[T^θ·1{K ≥ kMin}] for T = (2/n)·χ²_K, K ~ Bin(n, ½); E[(χ²_K)^θ] = 2^θ·Γ(K/2 + θ)/Γ(K/2). */
function logMgf(n: number, theta: number, kMin: number): number {
  const terms: number[] = [];
  for (let k = Math.max(1, kMin); k <= n; k++) {
    terms.push(
      logBinomial(n, k) + theta * Math.log(4 / n) + logGamma(k / 2 + theta) - logGamma(k / 2),
    );
  }
  const m = Math.max(...terms);
  return m + Math.log(terms.reduce((s, t) => s + Math.exp(t - m), 0));
}

/**
 * The band [−lower_l, upper_l] that S_l leaves with probability at most alpha per side, by
 * Chernoff: P(S_l ≥ a) ≤ exp(l·Λ(θ) − θa), minimised over a grid of θ (any θ > 0 is valid).
 * The lower tail needs negative moments, which χ²_K lacks beyond K/2, so layers with fewer
 * than kMin active units are set aside: P(S_l ≤ −a) ≤ l·P(K < kMin) + exp(l·Λ_kMin(−θ) − θa),
 * with kMin as large as keeps l·P(K < kMin) under a tenth of alpha.
 */
function chernoffBand(
  n: number,
  depth: number,
  alpha: number,
): { upper: number[]; lower: number[] } {
  let kMin = 0;
  let below = 0;
  while (depth * (below + Math.exp(logBinomial(n, kMin))) <= alpha / 10)
    below += Math.exp(logBinomial(n, kMin++));
  const thetas = Array.from({ length: 160 }, (_, i) => 0.005 * 1.06 ** i);
  const up = thetas.map((t) => ({ t, g: logMgf(n, t, 0) }));
  const down = thetas.filter((t) => t < kMin / 2).map((t) => ({ t, g: logMgf(n, -t, kMin) }));
  const upper: number[] = [];
  const lower: number[] = [];
  for (let l = 1; l <= depth; l++) {
    upper.push(Math.min(...up.map(({ t, g }) => (l * g - Math.log(alpha)) / t)));
    const rest = alpha - l * below;
    lower.push(Math.min(...down.map(({ t, g }) => (l * g - Math.log(rest)) / t)));
  }
  return { upper, lower };
}

/**
 * Runs x through `depth` layers h ← ReLU(h)·Wᵀ (the first without ReLU), W from the backend's
 * kaiming_normal with the given gain, and returns S[b][l] = ln(‖ReLU(h_l)_b‖²/‖x_b‖²).
 */
async function reluStack(
  ctx: LawContext,
  width: number,
  batch: number,
  depth: number,
  gain: number,
  seedBase: number,
): Promise<number[][]> {
  const x = gaussian(ctx, batch, width, 1, ctx.seedFor(seedBase));
  const norm0 = Array.from({ length: batch }, (_, b) => {
    let s = 0;
    for (let j = 0; j < width; j++) s += x.data[b * width + j] ** 2;
    return s;
  });
  const logs: number[][] = Array.from({ length: batch }, () => []);
  let a = x;
  for (let l = 0; l < depth; l++) {
    const w = await ctx.call(
      "kaiming_normal",
      {},
      { shape: [width, width], gain, seed: ctx.seedFor(seedBase + 1 + l), mode: "fan_in" },
    );
    const h = await ctx.call("matmul", { a, b: transpose(ctx, w) }, {});
    a = await ctx.call("relu", { x: h }, {});
    for (let b = 0; b < batch; b++) {
      let s = 0;
      for (let j = 0; j < width; j++) s += a.data[b * width + j] ** 2;
      logs[b].push(Math.log(s / norm0[b]));
    }
  }
  return logs;
}

export const initLaws: Law[] = [
  {
    id: "D1a",
    topic: "init",
    title: "Xavier-normal weights have mean 0",
    note: "Note 001: the variance argument E[o] = Σ E[w]E[x] = 0 needs zero-mean weights; a shifted init adds the same bias to every unit.",
    ops: ["xavier_normal"],
    statistical: {
      test: "z-test of the mean with the known σ = gain·√(2/(n_in+n_out)), 5 draws of 64 000 weights (gains 0.5 to 3), α/5 each",
      alpha: ALPHA,
      detects:
        "a mean shift of 0.05σ or more (the bound is ±0.025σ, the sample mean's own spread 0.004σ: a 0.05σ shift lands outside with probability 1 − 1e-10)",
    },
    async check(ctx) {
      for (const [i, { shape, gain }] of DRAWS.entries()) {
        const w = await ctx.call("xavier_normal", {}, { shape, gain, seed: ctx.seedFor(i) });
        expectMeanZero(
          ctx,
          `xavier_normal [${shape}] gain ${gain}`,
          w.data,
          xavierStd(shape, gain),
          ALPHA / DRAWS.length,
        );
      }
    },
  },
  {
    id: "D1b",
    topic: "init",
    title: "Xavier-normal weights have variance gain²·2/(n_in + n_out)",
    note: "Note 001: Xavier averages the forward (n_in·σ² = 1) and backward (n_out·σ² = 1) conditions into σ² = 2/(n_in + n_out); a kernel using 1/n_in or a std of 1/(n_in+n_out) misses it.",
    ops: ["xavier_normal"],
    statistical: {
      test: "χ² acceptance interval for Σw²/n with known mean 0 (64 000 dof), 5 draws (gains 0.5 to 3), α/5 each",
      alpha: ALPHA,
      detects:
        "a variance off by 6% or more (the interval is [0.966, 1.035], the statistic's spread 0.56%): 1/n_in instead of 2/(n_in+n_out) is off by 30% and 75% on the two shapes",
    },
    async check(ctx) {
      for (const [i, { shape, gain }] of DRAWS.entries()) {
        const w = await ctx.call("xavier_normal", {}, { shape, gain, seed: ctx.seedFor(10 + i) });
        expectVariance(
          ctx,
          `xavier_normal [${shape}] gain ${gain}`,
          w.data,
          xavierStd(shape, gain) ** 2,
          ALPHA / DRAWS.length,
        );
      }
    },
  },
  {
    id: "D1c",
    topic: "init",
    title: "Xavier-normal weights are normally distributed (Kolmogorov–Smirnov against N(0, σ²))",
    note: "Note 001: 'normal' is part of the contract; a uniform draw with the right variance has the same second moment but lighter tails.",
    ops: ["xavier_normal"],
    statistical: {
      test: "one-sample Kolmogorov–Smirnov against N(0, σ²), DKW–Massart critical value, 5 draws of 64 000 (gains 0.5 to 3), α/5 each",
      alpha: ALPHA,
      detects:
        "a uniform draw of the same variance (sup-distance 0.057 against the critical 0.013) or a scale off by 10% (0.023; by DKW the sample distance is within 0.008 of it with probability 1 − 1e-3)",
    },
    async check(ctx) {
      for (const [i, { shape, gain }] of DRAWS.entries()) {
        const w = await ctx.call("xavier_normal", {}, { shape, gain, seed: ctx.seedFor(20 + i) });
        const sigma = xavierStd(shape, gain);
        const d = ksStatistic(w.data, (v) => normalCdf(v / sigma));
        const critical = ksCritical(w.data.length, ALPHA / DRAWS.length);
        ctx.expect(
          d <= critical,
          `xavier_normal [${shape}] gain ${gain}: KS distance ${d.toFixed(5)} to N(0, ${sigma.toPrecision(5)}²) exceeds the critical ${critical.toFixed(5)}`,
        );
      }
    },
  },
  {
    id: "D2a",
    topic: "init",
    title: "Xavier-uniform weights lie within ±gain·√(6/(n_in + n_out)) and fill that interval",
    note: "Note 001: U(±a) with a = √(6/(n_in+n_out)) has Xavier's variance a²/3; a bound of √(3/…) halves the variance, a draw from [0, a) is not centred.",
    ops: ["xavier_uniform"],
    statistical: {
      test: "exact bound check, plus both ends reached within δ = 2(1 − (α/8)^(1/n)) ≈ 7e-4 (exact order-statistic probability), 2 draws",
      alpha: ALPHA,
      detects:
        "a bound off by 0.1% or more, and any draw confined to one side or to a narrower interval",
    },
    async check(ctx) {
      for (const [i, { shape, gain }] of DRAWS.entries()) {
        const w = await ctx.call("xavier_uniform", {}, { shape, gain, seed: ctx.seedFor(30 + i) });
        expectFillsBound(
          ctx,
          `xavier_uniform [${shape}] gain ${gain}`,
          w.data,
          xavierBound(shape, gain),
          ALPHA / (2 * DRAWS.length),
        );
      }
    },
  },
  {
    id: "D2b",
    topic: "init",
    title: "Xavier-uniform weights have mean 0 and variance a²/3 = gain²·2/(n_in + n_out)",
    note: "Note 001: the uniform bound √(6/(n_in+n_out)) is chosen so that the variance equals the Xavier-normal one.",
    ops: ["xavier_uniform"],
    statistical: {
      test: "z-tests with known σ on the mean of w (σ = a/√3) and of w² (σ = a²√(4/45)), 2 draws, α/4 each",
      alpha: ALPHA,
      detects:
        "a variance off by 4% or more (the bound is ±2.2%, the statistic's spread 0.35%) and a mean shift of 0.05σ",
    },
    async check(ctx) {
      for (const [i, { shape, gain }] of DRAWS.entries()) {
        const w = await ctx.call("xavier_uniform", {}, { shape, gain, seed: ctx.seedFor(40 + i) });
        expectUniformMoments(
          ctx,
          `xavier_uniform [${shape}] gain ${gain}`,
          w.data,
          xavierBound(shape, gain),
          ALPHA / DRAWS.length,
        );
      }
    },
  },
  {
    id: "D3a",
    topic: "init",
    title:
      "He (Kaiming) normal weights in fan-in mode have variance gain²/n_in: 2/n_in at ReLU's gain √2, and at gains 0.5 and 3",
    note: "Note 001: He init doubles the 1/n_in variance because ReLU zeroes half of each layer's inputs; using n_out there breaks it on every non-square layer.",
    ops: ["kaiming_normal"],
    statistical: {
      test: "χ² acceptance interval for Σw²/n with known mean 0 (64 000 dof), 3 gains, α/3 each",
      alpha: ALPHA,
      detects:
        "a variance off by 6% or more: fan_out instead of fan_in (×2.5 here) or a dropped gain (×0.5)",
    },
    async check(ctx) {
      const shape: Shape = [160, 400];
      for (const [i, gain] of HE_GAINS.entries()) {
        const w = await ctx.call(
          "kaiming_normal",
          {},
          { shape, gain, seed: ctx.seedFor(50 + 100 * i), mode: "fan_in" },
        );
        const v = (gain * gain) / shape[1];
        expectVariance(ctx, `kaiming_normal [${shape}] fan_in, gain ${gain}`, w.data, v, ALPHA / 3);
      }
    },
  },
  {
    id: "D3b",
    topic: "init",
    title:
      "He (Kaiming) normal weights in fan-out mode have variance gain²/n_out: 2/n_out at gain √2, and at gains 0.5 and 3",
    note: "Note 001 (He's backward variant): fan-out mode keeps the gradient variance instead of the activation variance, so it divides by n_out.",
    ops: ["kaiming_normal"],
    statistical: {
      test: "χ² acceptance interval for Σw²/n with known mean 0 (64 000 dof), 3 gains, α/3 each",
      alpha: ALPHA,
      detects: "a variance off by 6% or more: fan_in instead of fan_out (×0.4 here)",
    },
    async check(ctx) {
      const shape: Shape = [160, 400];
      for (const [i, gain] of HE_GAINS.entries()) {
        const w = await ctx.call(
          "kaiming_normal",
          {},
          { shape, gain, seed: ctx.seedFor(51 + 100 * i), mode: "fan_out" },
        );
        const v = (gain * gain) / shape[0];
        expectVariance(
          ctx,
          `kaiming_normal [${shape}] fan_out, gain ${gain}`,
          w.data,
          v,
          ALPHA / 3,
        );
      }
    },
  },
  {
    id: "D3c",
    topic: "init",
    title:
      "He (Kaiming) uniform weights lie within ±gain·√(3/n_in), fill it, and have variance gain²/n_in",
    note: "Note 001: the uniform variant of He init, U(±√(6/n_in)) at gain √2, has the same variance 2/n_in as the normal one.",
    ops: ["kaiming_uniform"],
    statistical: {
      test: "per draw (fan-in at gain √2, fan-out at gain 3): exact bound check with both ends reached (α/8), z-tests on the mean of w and w² (α/8 each)",
      alpha: ALPHA,
      detects:
        "a bound off by 0.1% (e.g. √(6/n) with the gain applied again) and a variance off by 4%",
    },
    async check(ctx) {
      const shape: Shape = [160, 400];
      // Both modes, at He's gain and at another, α/4 per draw.
      const draws = [
        { gain: Math.SQRT2, mode: "fan_in", fan: shape[1] },
        { gain: 3, mode: "fan_out", fan: shape[0] },
      ] as const;
      for (const [i, { gain, mode, fan }] of draws.entries()) {
        const w = await ctx.call(
          "kaiming_uniform",
          {},
          { shape, gain, seed: ctx.seedFor(52 + 100 * i), mode },
        );
        const a = gain * Math.sqrt(3 / fan);
        const what = `kaiming_uniform [${shape}] ${mode}, gain ${gain}`;
        expectFillsBound(ctx, what, w.data, a, ALPHA / 8);
        expectUniformMoments(ctx, what, w.data, a, ALPHA / 4);
      }
    },
  },
  {
    id: "D4a",
    topic: "init",
    title:
      "a linear layer multiplies the activation variance by n_in·σ_w², so Xavier weights with n_in = n_out keep it",
    note: "Note 001: Var[o] = n_in·σ_w²·σ_x² for zero-mean independent weights and inputs; Xavier's σ_w² = 2/(n_in+n_out) makes the factor 1 on a square layer (and 0.5 on a 64 → 192 one).",
    ops: ["xavier_normal", "matmul"],
    statistical: {
      test: "Satterthwaite scaled-χ² interval for the output mean square given the weights, times the χ² interval of the weights' variance; 2 layers, α/2 each",
      alpha: ALPHA,
      detects:
        "a variance factor off by 1.5× or more (the interval is about [0.80, 1.24]): e.g. 1/n_in instead of Xavier's variance (factor 1 instead of 0.5 on 64 → 192), a std of 1/(n_in+n_out)",
    },
    async check(ctx) {
      const sigmaX = 2;
      for (const [i, { nIn, nOut, batch }] of LAYERS.entries()) {
        const w = await ctx.call(
          "xavier_normal",
          {},
          { shape: [nOut, nIn], gain: 1, seed: ctx.seedFor(60 + i) },
        );
        const x = gaussian(ctx, batch, nIn, sigmaX, ctx.seedFor(70 + i));
        const o = await ctx.call("matmul", { a: x, b: transpose(ctx, w) }, {});
        expectPropagation(ctx, `Xavier layer ${nIn} → ${nOut}, forward`, o, w, {
          sigma2: sigmaX ** 2,
          sigmaW2: 2 / (nIn + nOut),
          fan: nIn,
          inner: nIn,
          alpha: ALPHA / LAYERS.length,
        });
      }
    },
  },
  {
    id: "D4b",
    topic: "init",
    title:
      "through 20 ReLU layers with He weights every example's activation second moment stays within a band around its input's",
    note: "Notes 001 and 002: He's 2/n_in exactly compensates the half of the units ReLU zeroes, so depth neither grows nor shrinks the signal; without the factor 2 it halves per layer.",
    ops: ["kaiming_normal", "matmul", "relu"],
    statistical: {
      test: "Chernoff bounds from the exact law of the log squared norm (a random walk with steps ln((2/n)·χ²_K), K ~ Bin(n, ½)), both tails, every layer and example, Bonferroni",
      alpha: ALPHA,
      detects:
        "a per-layer variance factor off by 2 (He without its gain √2 ends 20·ln 2 = 13.9 below 0; the band’s lower edge at layer 20 is −7.3, its upper +5.7)",
    },
    async check(ctx) {
      const [width, batch, depth] = [128, 4, 20];
      const logs = await reluStack(ctx, width, batch, depth, Math.SQRT2, 100);
      const { upper, lower } = chernoffBand(width, depth, ALPHA / (2 * batch * depth));
      for (const [b, s] of logs.entries()) {
        for (let l = 0; l < depth; l++) {
          ctx.expect(
            s[l] >= -lower[l] && s[l] <= upper[l],
            `example ${b}, layer ${l + 1}: ln(‖ReLU(h)‖²/‖x‖²) = ${s[l].toFixed(3)} left the band [${(-lower[l]).toFixed(3)}, ${upper[l].toFixed(3)}] (trajectory ${s.map((v) => v.toFixed(2)).join(", ")})`,
          );
        }
      }
    },
  },
  {
    id: "D4c",
    topic: "init",
    title:
      "through 20 ReLU layers unit-variance weights make activations explode and weights of std 0.01 make them vanish",
    note: "Notes 001 and 002: each layer multiplies the second moment by n·σ_w²/2, so any σ_w² away from 2/n compounds geometrically with depth.",
    ops: ["kaiming_normal", "matmul", "relu"],
    statistical: {
      test: "the same Chernoff band as He weights; the walk drifts by ln(n·σ_w²/2) per layer (+3.5 and −5.7 here), so staying inside is far below α",
      alpha: ALPHA,
      detects: "an initialiser that ignores its gain (then both runs would stay in the He band)",
    },
    async check(ctx) {
      const [width, batch, depth] = [64, 4, 20];
      const { upper, lower } = chernoffBand(width, depth, ALPHA / (4 * batch));
      const unit = await reluStack(ctx, width, batch, depth, Math.sqrt(width), 200);
      const tiny = await reluStack(ctx, width, batch, depth, 0.01 * Math.sqrt(width), 300);
      for (let b = 0; b < batch; b++) {
        const up = unit[b][depth - 1];
        const down = tiny[b][depth - 1];
        ctx.expect(
          up > upper[depth - 1],
          `unit-variance weights: ln(‖ReLU(h₂₀)‖²/‖x‖²) = ${up.toFixed(2)} for example ${b}, not above the He band's ${upper[depth - 1].toFixed(2)}`,
        );
        ctx.expect(
          down < -lower[depth - 1],
          `weights of std 0.01: ln(‖ReLU(h₂₀)‖²/‖x‖²) = ${down.toFixed(2)} for example ${b}, not below the He band's ${(-lower[depth - 1]).toFixed(2)}`,
        );
      }
    },
  },
  {
    id: "D5",
    topic: "init",
    title:
      "backpropagating through a linear layer multiplies the gradient variance by n_out·σ_w², which Xavier keeps at 1 on a square layer",
    note: "Note 001: the backward pass sums over the n_out units a weight feeds, so the gradient's variance scales by n_out·σ_w²; Xavier's 2/(n_in+n_out) balances it with the forward n_in·σ_w².",
    ops: ["xavier_normal", "matmul_vjp"],
    statistical: {
      test: "Satterthwaite scaled-χ² interval for the input gradient's mean square given the weights, times the χ² interval of the weights' variance; 2 layers, α/2 each",
      alpha: ALPHA,
      detects:
        "a variance factor off by 1.5× or more (the interval is about [0.80, 1.24]), e.g. a backward that scales by n_in (0.5 instead of 1.5 on 64 → 192)",
    },
    async check(ctx) {
      const sigmaG = 0.5;
      for (const [i, { nIn, nOut, batch }] of LAYERS.entries()) {
        const w = await ctx.call(
          "xavier_normal",
          {},
          { shape: [nOut, nIn], gain: 1, seed: ctx.seedFor(80 + i) },
        );
        const x = gaussian(ctx, batch, nIn, 1, ctx.seedFor(90 + i));
        const dy = gaussian(ctx, batch, nOut, sigmaG, ctx.seedFor(95 + i));
        const { da } = await ctx.call("matmul_vjp", { a: x, b: transpose(ctx, w), dy }, {});
        // dx = dy·W: row b is Wᵀ g_b, the same propagation with W's roles transposed.
        expectPropagation(ctx, `Xavier layer ${nIn} → ${nOut}, backward`, da, w, {
          sigma2: sigmaG ** 2,
          sigmaW2: 2 / (nIn + nOut),
          fan: nOut,
          inner: nOut,
          alpha: ALPHA / LAYERS.length,
        });
      }
    },
  },
  {
    id: "D6a",
    topic: "init",
    title:
      "with every weight initialised to zero, all hidden units get the same gradient and stay identical through SGD",
    note: "Note 002: identical units compute identical outputs and receive identical gradients, so zero (or any constant) init can never break the symmetry: the layer acts as one unit.",
    ops: ["matmul", "matmul_vjp", "sigmoid", "sigmoid_vjp", "cross_entropy", "cross_entropy_vjp"],
    async check(ctx) {
      const [n, d, hidden, classes, steps, lr] = [16, 8, 6, 4, 5, 0.5];
      const x = gaussian(ctx, n, d, 1, ctx.seedFor(400));
      // Classes read off the inputs (and unbalanced): there is something to learn.
      const target = indices(
        [n],
        Array.from({ length: n }, (_, i) => classOf(x, i, d)),
      );
      // A1 [d, H]: column j feeds unit j; A2 [H, C]: row j leaves unit j.
      let a1 = ctx.t([d, hidden], 0);
      let a2 = ctx.t([hidden, classes], 0);
      const losses: number[] = [];
      // Units may differ only by a kernel's rounding (the gradient kernel's budget), and the
      // parameters by the SGD steps' sum of those differences.
      let drift1 = 0;
      let drift2 = 0;
      for (let step = 0; step < steps; step++) {
        const pre = await ctx.call("matmul", { a: x, b: a1 }, {});
        const h = await ctx.call("sigmoid", { x: pre }, {});
        const logits = await ctx.call("matmul", { a: h, b: a2 }, {});
        const loss = await ctx.call("cross_entropy", { logits, target }, { reduction: "mean" });
        losses.push(loss.data[0]);
        const dy = ctx.t([], 1);
        const dlogits = await ctx.call(
          "cross_entropy_vjp",
          { logits, target, dy },
          { reduction: "mean" },
        );
        const g2 = await ctx.call("matmul_vjp", { a: h, b: a2, dy: dlogits }, {});
        const dpre = await ctx.call("sigmoid_vjp", { x: pre, dy: g2.da }, {});
        const g1 = await ctx.call("matmul_vjp", { a: x, b: a1, dy: dpre }, {});
        const b2 = await ctx.budget("matmul_vjp", { a: h, b: a2, dy: dlogits }, {});
        const b1 = await ctx.budget("matmul_vjp", { a: x, b: a1, dy: dpre }, {});
        const tol1 = 2 * Math.max(...b1.fields.db.tol) + drift1;
        const tol2 = 2 * Math.max(...b2.fields.db.tol) + drift2;
        expectSameUnits(ctx, `step ${step}: dA1 (columns = units)`, g1.db, "columns", tol1);
        expectSameUnits(ctx, `step ${step}: dA2 (rows = units)`, g2.db, "rows", tol2);
        a1 = ctx.t(
          a1.shape,
          Array.from(a1.data, (v, i) => v - lr * g1.db.data[i]),
        );
        a2 = ctx.t(
          a2.shape,
          Array.from(a2.data, (v, i) => v - lr * g2.db.data[i]),
        );
        drift1 += lr * tol1 + 2 * ctx.u * Math.max(...Array.from(a1.data, Math.abs));
        drift2 += lr * tol2 + 2 * ctx.u * Math.max(...Array.from(a2.data, Math.abs));
      }
      expectSameUnits(ctx, `after ${steps} steps: A1`, a1, "columns", drift1);
      expectSameUnits(ctx, `after ${steps} steps: A2`, a2, "rows", drift2);
      ctx.expect(
        losses[steps - 1] < losses[0],
        `the loss should still decrease (${losses.map((l) => l.toFixed(4)).join(" → ")}): the symmetric network does learn, as one unit`,
      );
    },
  },
  {
    id: "D6b",
    topic: "init",
    title:
      "with tanh units and all-zero weights every weight gradient is exactly zero: the network never moves",
    note: "Note 002: tanh(0) = 0 makes the hidden layer output 0, so the output weights get no gradient and pass none back; zero init is a fixed point of SGD.",
    ops: ["matmul", "matmul_vjp", "tanh", "tanh_vjp", "cross_entropy", "cross_entropy_vjp"],
    async check(ctx) {
      const [n, d, hidden, classes] = [16, 8, 6, 4];
      const x = gaussian(ctx, n, d, 1, ctx.seedFor(410));
      const target = indices(
        [n],
        Array.from({ length: n }, (_, i) => (i * 7) % classes),
      );
      const a1 = ctx.t([d, hidden], 0);
      const a2 = ctx.t([hidden, classes], 0);
      const pre = await ctx.call("matmul", { a: x, b: a1 }, {});
      const h = await ctx.call("tanh", { x: pre }, {});
      const logits = await ctx.call("matmul", { a: h, b: a2 }, {});
      const dlogits = await ctx.call(
        "cross_entropy_vjp",
        { logits, target, dy: ctx.t([], 1) },
        { reduction: "mean" },
      );
      const g2 = await ctx.call("matmul_vjp", { a: h, b: a2, dy: dlogits }, {});
      const dpre = await ctx.call("tanh_vjp", { x: pre, dy: g2.da }, {});
      const g1 = await ctx.call("matmul_vjp", { a: x, b: a1, dy: dpre }, {});
      ctx.expectClose(
        "dA2 with zero init",
        g2.db,
        new Float64Array(g2.db.data.length),
        0,
        "exact: hᵀ·dlogits with h = 0",
      );
      ctx.expectClose(
        "dA1 with zero init",
        g1.db,
        new Float64Array(g1.db.data.length),
        0,
        "exact: Xᵀ·(dlogits·A2ᵀ ⊙ tanh′) with A2 = 0",
      );
      const loss = await ctx.call("cross_entropy", { logits, target }, { reduction: "mean" });
      const { fields } = await ctx.budget(
        "cross_entropy",
        { logits, target },
        { reduction: "mean" },
      );
      ctx.expectClose(
        "the loss at zero init vs ln C",
        loss,
        [Math.log(classes)],
        fields.y.tol,
        fields.y.rule,
      );
    },
  },
  {
    id: "D7",
    topic: "init",
    title:
      "a no-bias output layer with small weights starts at a loss of about ln C, within 2·max‖w_c‖·‖h‖",
    note: "Note 002: with no bias and small weights the logits are near 0, softmax is near uniform and the loss is near ln C, the expected loss of a model that knows nothing; big weights start 'confidently wrong'.",
    ops: ["xavier_normal", "matmul", "cross_entropy"],
    async check(ctx) {
      const [n, d, classes] = [64, 64, 10];
      // Hidden activations in (−1, 1), as after tanh.
      const h = ctx.t(
        [n, d],
        Array.from({ length: n * d }, (_, i) =>
          Math.tanh(normalAt(ctx.seedFor(500), i, HOST_STREAM)),
        ),
      );
      const target = indices(
        [n],
        Array.from({ length: n }, (_, i) => (i * 3) % classes),
      );
      for (const gain of [1e-3, 1e-2]) {
        const w = await ctx.call(
          "xavier_normal",
          {},
          { shape: [classes, d], gain, seed: ctx.seedFor(501) },
        );
        const logits = await ctx.call("matmul", { a: h, b: transpose(ctx, w) }, {});
        const loss = await ctx.call("cross_entropy", { logits, target }, { reduction: "none" });
        const lb = await ctx.budget("matmul", { a: h, b: transpose(ctx, w) }, {});
        const cb = await ctx.budget("cross_entropy", { logits, target }, { reduction: "none" });
        // |loss − ln C| = |lse(z) − ln C − z_y| ≤ max z − min z ≤ 2·max_c |z_c| ≤ 2‖h‖·max‖w_c‖
        // (Cauchy–Schwarz); the computed logits may sit a matmul budget further out.
        let wMax = 0;
        for (let c = 0; c < classes; c++) {
          let s = 0;
          for (let j = 0; j < d; j++) s += w.data[c * d + j] ** 2;
          wMax = Math.max(wMax, Math.sqrt(s));
        }
        const tol = Array.from(loss.data, (_, r) => {
          let hn = 0;
          for (let j = 0; j < d; j++) hn += h.data[r * d + j] ** 2;
          let zTol = 0;
          for (let c = 0; c < classes; c++) zTol = Math.max(zTol, lb.fields.y.tol[r * classes + c]);
          return 2 * wMax * Math.sqrt(hn) + 2 * zTol + cb.fields.y.tol[r];
        });
        ctx.expectClose(
          `per-example loss at gain ${gain} vs ln ${classes}`,
          loss,
          new Float64Array(n).fill(Math.log(classes)),
          tol,
          "2·‖h_n‖·max_c‖w_c‖ + logit and loss budgets",
        );
      }
    },
  },
];

/** A class for example i from the signs of its first three features (0 is the most frequent). */
function classOf(x: Tensor, i: number, d: number): number {
  const [a, b, c] = [x.data[i * d], x.data[i * d + 1], x.data[i * d + 2]];
  return a > -0.5 ? 0 : b > 0 ? 1 : c > 0 ? 2 : 3;
}

/** Every unit's slice of a parameter or gradient equals every other's, within `tol`. */
function expectSameUnits(
  ctx: LawContext,
  label: string,
  t: Tensor,
  units: "rows" | "columns",
  tol: number,
): void {
  const [r, c] = t.shape;
  const [count, length] = units === "rows" ? [r, c] : [c, r];
  const at = (unit: number, k: number) =>
    units === "rows" ? t.data[unit * c + k] : t.data[k * c + unit];
  for (let k = 0; k < length; k++) {
    for (let j = 1; j < count; j++) {
      const diff = Math.abs(at(j, k) - at(0, k));
      ctx.expect(
        diff <= tol,
        `${label}: unit ${j} differs from unit 0 at entry ${k} by ${diff.toExponential(3)} (> ${tol.toExponential(3)}): the symmetry broke`,
      );
    }
  }
}
