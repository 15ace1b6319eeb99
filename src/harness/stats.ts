/**
 * The distributions behind the statistical laws. Every statistical law runs at a false-alarm
 * rate of at most ALPHA, so its acceptance region comes from a far tail (1e-9 and beyond):
 * everything here keeps relative accuracy in the tails instead of computing 1 − (almost 1).
 *
 * From stdlib (ports of FreeBSD msun, Cephes and Boost): erf, erfc, ln Γ, the binomial quantile
 * and the lower chi-square quantile (1e-16 relative down to p = 1e-20; it returns 0 only where
 * the quantile itself is below about 1e-200). Kept by hand where stdlib's was measured worse
 * against mpmath at 50 digits:
 * - Φ's lower tail: stdlib's normal-cdf rounds x/√2 and is off by 1e-13 relative at x = −30
 *   (here 3e-16, by correcting that rounding);
 * - Φ⁻¹: stdlib's normal-quantile is off by 2e-9 relative at p = 1e-10 and −∞ from p = 1e-17;
 * - the incomplete gamma function: stdlib's gammainc is off by 5e-4 at a = 5e5, x = a + 300;
 * - with it the upper chi-square quantile: stdlib's, as the quantile at 1 − p, is off by 3e-6
 *   at p = 5e-13 and by 3e-5 at k = 10⁴, p = 0.975.
 * The KS statistic, its DKW bound, the z-test and the moments are arithmetic no library saves.
 */
import gammaln from "@stdlib/math-base-special-gammaln";
import binomialQuantile from "@stdlib/stats-base-dists-binomial-quantile";
import lowerChiSquareQuantile from "@stdlib/stats-base-dists-chisquare-quantile";
import { InvalidArgumentError } from "../engine/errors.ts";
import { erf, erfc } from "../engine/special.ts";

export { erf, erfc };

/** The false-alarm rate every statistical law uses. */
export const ALPHA = 1e-9;

const LN_SQRT_2PI = 0.9189385332046728; // ln √(2π)
const SQRT_2PI = 2.5066282746310007;
/** √½ − Math.SQRT1_2: the part of √½ a double cannot hold. */
const SQRT1_2_TAIL = -4.833646656726457e-17;

function checkProbability(fn: string, arg: string, p: number): void {
  if (!(p >= 0 && p <= 1)) {
    throw new InvalidArgumentError(fn, arg, `${p} is not a probability in [0, 1]`);
  }
}

function checkAlpha(fn: string, alpha: number): void {
  if (!(alpha > 0 && alpha < 1)) {
    throw new InvalidArgumentError(fn, "alpha", `${alpha} is not in (0, 1)`);
  }
}

function checkCount(fn: string, arg: string, n: number, min: number): void {
  if (!Number.isSafeInteger(n) || n < min) {
    throw new InvalidArgumentError(fn, arg, `${n} is not an integer ≥ ${min}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Φ

/** The rounding error of p = fl(a·b): a·b = p + e exactly (Dekker's product, no FMA needed). */
function productError(a: number, b: number, p: number): number {
  const split = (v: number) => {
    const c = 134217729 * v; // 2^27 + 1
    const hi = c - (c - v);
    return [hi, v - hi];
  };
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/**
 * Φ(x) = erfc(−x/√2)/2, with full relative accuracy in the lower tail. There erfc(t) falls like
 * e^(−t²), so the rounding δ of t = −x/√2 would cost a relative 2tδ ≈ x²·2⁻⁵³; δ is known exactly
 * (the tail of √½ and the product's own error), and erfc(t̂) moves to erfc(t̂ + δ) along its
 * log-derivative −2t − 1/t (asymptotically; below t = 1 the rounding costs under 3e-16).
 */
export function normalCdf(x: number): number {
  const t = -x * Math.SQRT1_2;
  const e = erfc(t);
  if (!(t > 1) || e === 0) return 0.5 * e;
  const delta = productError(-x, Math.SQRT1_2, t) - x * SQRT1_2_TAIL;
  return 0.5 * e * Math.exp(-(2 * t + 1 / t) * delta);
}

// ---------------------------------------------------------------------------------------------
// Φ⁻¹: P. J. Acklam's rational approximation (relative error 1.15e-9), then one Halley step,
// which cubes the error: the result is as accurate as Φ itself.

const ACKLAM_A = [
  -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
  2.506628277459239,
];
const ACKLAM_B = [
  -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
];
const ACKLAM_C = [
  -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
  4.374664141464968, 2.938163982698783,
];
const ACKLAM_D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
const ACKLAM_LOW = 0.02425;

/** Acklam's approximation of Φ⁻¹(p) for p in (0, 0.5]. */
function acklam(p: number): number {
  if (p < ACKLAM_LOW) {
    const q = Math.sqrt(-2 * Math.log(p));
    const [c0, c1, c2, c3, c4, c5] = ACKLAM_C;
    const [d0, d1, d2, d3] = ACKLAM_D;
    return (
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  const [a0, a1, a2, a3, a4, a5] = ACKLAM_A;
  const [b0, b1, b2, b3, b4] = ACKLAM_B;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}

/** Φ⁻¹(p) for p in (0, 0.5], to full relative accuracy. */
function lowerQuantile(p: number): number {
  const x = acklam(p);
  const density = Math.exp(-0.5 * x * x) / SQRT_2PI;
  // Beyond p ≈ 1e-300 the density is subnormal and the step would only add noise.
  if (!(density > 1e-300)) return x;
  // Near the centre, Φ(x) − p is formed as erf(x/√2)/2 − (p − 0.5), two terms that are
  // accurate relative to x (p − 0.5 is exact there), so tiny quantiles keep relative accuracy.
  const residual = p > 0.25 ? 0.5 * erf(x * Math.SQRT1_2) - (p - 0.5) : normalCdf(x) - p;
  const u = residual / density;
  return x - u / (1 + 0.5 * x * u);
}

/** Standard normal inverse CDF Φ⁻¹(p). */
export function normalInv(p: number): number {
  checkProbability("normalInv", "p", p);
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  // 1 − p is exact for p ≥ 0.5, so the upper half loses nothing by symmetry.
  return p <= 0.5 ? lowerQuantile(p) : -lowerQuantile(1 - p);
}

/** Upper quantile z such that P(|Z| > z) = alpha for Z ~ N(0,1) (two-sided). Accurate to 1e-9 relative (e.g. Acklam's algorithm plus one Halley refinement step using an accurate erfc). */
export function normalQuantileTwoSided(alpha: number): number {
  if (!(alpha > 0 && alpha <= 1)) {
    throw new InvalidArgumentError("normalQuantileTwoSided", "alpha", `${alpha} is not in (0, 1]`);
  }
  // The lower quantile is ≤ 0; abs (not negation) so that alpha = 1 gives +0.
  return Math.abs(lowerQuantile(alpha / 2));
}

// ---------------------------------------------------------------------------------------------
// Incomplete gamma. The prefactor x^a e^(−x) / Γ(a + 1) is computed as in C. Loader's
// "Fast and accurate computation of binomial probabilities" (2000): as
// exp(−stirlingError(a) − deviance(a, x)) / √(2πa), which avoids subtracting huge, nearly
// equal logarithms when a is large (chi-square with millions of degrees of freedom).

/** ln Γ(x + 1) − [(x + ½) ln x − x + ln √(2π)] by its asymptotic series; needs x ≥ 15. */
function stirlingSeries(x: number): number {
  const z = 1 / (x * x);
  // Bernoulli terms B₂ₖ / (2k(2k − 1) x^(2k−1)), k = 1..7; the next one is below 1e-19 at 15.
  return (
    (1 / 12 -
      z *
        (1 / 360 -
          z * (1 / 1260 - z * (1 / 1680 - z * (1 / 1188 - z * (691 / 360360 - z / 156)))))) /
    x
  );
}

/** The error of Stirling's formula for ln Γ(a + 1). */
function stirlingError(a: number): number {
  if (a >= 15) return stirlingSeries(a);
  return gammaln(a + 1) - (a + 0.5) * Math.log(a) + a - LN_SQRT_2PI;
}

/** a ln(a/x) + x − a ≥ 0 without cancellation when x ≈ a (Loader's bd0). */
function deviance(a: number, x: number): number {
  if (Math.abs(a - x) < 0.1 * (a + x)) {
    const v = (a - x) / (a + x);
    let sum = (a - x) * v;
    let term = 2 * a * v;
    for (let j = 1; ; j++) {
      term *= v * v;
      const next = sum + term / (2 * j + 1);
      if (next === sum) return sum;
      sum = next;
    }
  }
  return a * Math.log(a / x) + x - a;
}

/** x^a e^(−x) / Γ(a + 1): the Poisson "pmf" at a with mean x. */
function poissonTerm(a: number, x: number): number {
  if (x === 0) return 0;
  return Math.exp(-stirlingError(a) - deviance(a, x)) / Math.sqrt(2 * Math.PI * a);
}

const GAMMA_EPS = 1e-16;

/** Iteration cap: both expansions need O(√a) terms when x is near a. */
function gammaIterations(a: number): number {
  return 1000 + Math.ceil(100 * Math.sqrt(a));
}

/** P(a, x) by its power series; converges fast for x < a + 1. */
function gammaPSeries(a: number, x: number): number {
  let term = 1;
  let sum = 1;
  const max = gammaIterations(a);
  for (let n = 1; n <= max; n++) {
    term *= x / (a + n);
    sum += term;
    if (term < sum * GAMMA_EPS) return poissonTerm(a, x) * sum;
  }
  throw new Error(`regularizedGammaP: series did not converge (a = ${a}, x = ${x})`);
}

/** Q(a, x) by its continued fraction (modified Lentz); converges fast for x ≥ a + 1. */
function gammaQFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  const max = gammaIterations(a);
  for (let i = 1; i <= max; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < GAMMA_EPS) return a * poissonTerm(a, x) * h;
  }
  throw new Error(`regularizedGammaQ: continued fraction did not converge (a = ${a}, x = ${x})`);
}

function checkGammaArgs(fn: string, a: number, x: number): void {
  if (!(a > 0 && a < Infinity)) throw new InvalidArgumentError(fn, "a", `${a} is not positive`);
  if (!(x >= 0)) throw new InvalidArgumentError(fn, "x", `${x} is not ≥ 0`);
}

/** Regularized lower incomplete gamma P(a, x) = γ(a, x)/Γ(a). */
export function regularizedGammaP(a: number, x: number): number {
  checkGammaArgs("regularizedGammaP", a, x);
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  return x < a + 1 ? gammaPSeries(a, x) : 1 - gammaQFraction(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = 1 − P(a, x), accurate when it is tiny. */
function regularizedGammaQ(a: number, x: number): number {
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaPSeries(a, x) : gammaQFraction(a, x);
}

// ---------------------------------------------------------------------------------------------
// Chi-square quantiles. The lower tail is stdlib's. The upper tail is solved here, directly on
// Q (1 − P would round a tail of 1e-9 to 7 digits): χ²ₖ = 2·Gamma(k/2), so we solve
// Q(k/2, y) = q for y and return 2y. Newton's method runs on ln Q, which is nearly linear in y
// even in the far tail, inside a bracket that falls back to bisection, so it cannot diverge.

/** The quantile with upper-tail probability q ≤ 0.5, k dof. */
function upperChiSquareQuantile(q: number, k: number): number {
  const a = k / 2;
  const target = Math.log(q);
  // Wilson–Hilferty's cube-root normal approximation as the starting point.
  const z = -lowerQuantile(q);
  const v = 2 / (9 * k);
  const wh = a * (1 - v + z * Math.sqrt(v)) ** 3;
  let lo = 0;
  let hi = Infinity;
  let y = wh > 0 ? wh : a;
  for (let iter = 0; iter < 500; iter++) {
    const t = regularizedGammaQ(a, y);
    const h = Math.log(t) - target;
    if (h === 0) return 2 * y;
    // Q falls with y: decide which side of the root y is on.
    if (h > 0) lo = y;
    else hi = y;
    // d/dy ln Q = −density / Q, with density y^(a−1) e^(−y) / Γ(a) = a · poissonTerm / y.
    const slope = -(a * poissonTerm(a, y)) / y / t;
    let next = y - h / slope;
    if (!(next > lo && next < hi)) {
      if (hi === Infinity) next = 2 * y;
      else next = lo > 0 ? Math.sqrt(lo * hi) : hi / 2;
    }
    const bracketClosed = hi < Infinity && hi - lo <= 1e-15 * hi;
    if (Math.abs(next - y) <= 1e-14 * y || bracketClosed) return 2 * next;
    y = next;
  }
  throw new Error(`chiSquareQuantile: no convergence (upper tail = ${q}, k = ${k})`);
}

/** Chi-square quantile with k degrees of freedom at lower-tail probability p (relative accuracy ≈ 1e-13 in practice; at least 1e-8 for k in [1, 1e7] and tails down to 1e-12). */
export function chiSquareQuantile(p: number, k: number): number {
  checkProbability("chiSquareQuantile", "p", p);
  if (!(k > 0 && k < Infinity)) {
    throw new InvalidArgumentError("chiSquareQuantile", "k", `${k} is not positive`);
  }
  if (p === 0) return 0;
  if (p === 1) return Infinity;
  // Work in the smaller tail: 1 − p is exact for p ≥ 0.5, and that tail's probability is the
  // one with full relative precision.
  return p <= 0.5 ? lowerChiSquareQuantile(p, k) : upperChiSquareQuantile(1 - p, k);
}

// ---------------------------------------------------------------------------------------------
// Acceptance intervals and tests.

/**
 * Two-sided acceptance interval for a sample variance: for n samples of N(μ, σ²), returns
 * [lo, hi] with P(s² < lo) = P(s² > hi) = alpha/2. The estimator is Σ(x − x̄)²/(n − 1)
 * (`unbiased`, the default) or Σ(x − x̄)²/n, with n − 1 degrees of freedom; with `knownMean`
 * it is Σ(x − μ)²/n with n degrees of freedom (and `unbiased` is moot).
 */
export function varianceInterval(opts: {
  n: number;
  sigma2: number;
  alpha: number;
  knownMean?: boolean;
  unbiased?: boolean;
}): [number, number] {
  const { n, sigma2, alpha, knownMean = false, unbiased = true } = opts;
  checkCount("varianceInterval", "n", n, knownMean ? 1 : 2);
  checkAlpha("varianceInterval", alpha);
  if (!(sigma2 >= 0 && sigma2 < Infinity)) {
    throw new InvalidArgumentError("varianceInterval", "sigma2", `${sigma2} is not ≥ 0`);
  }
  const dof = knownMean ? n : n - 1;
  const divisor = knownMean || !unbiased ? n : n - 1;
  // Both tails solved directly (not as 1 − alpha/2, which would round the upper tail).
  const lo = lowerChiSquareQuantile(alpha / 2, dof);
  const hi = upperChiSquareQuantile(alpha / 2, dof);
  return [(sigma2 * lo) / divisor, (sigma2 * hi) / divisor];
}

/**
 * Two-sided acceptance interval [lo, hi] for the number of successes X ~ Binomial(n, p):
 * the narrowest with P(X < lo) ≤ alpha/2 and P(X > hi) ≤ alpha/2. Both ends are lower
 * quantiles (of X, and of n − X ~ Binomial(n, 1 − p)), so neither tail is formed as 1 − CDF.
 * Where a tail is exactly alpha/2 (dyadic p and alpha, e.g. n = 2, p = ½, alpha = ½) the end
 * stays one wider than the narrowest: conservative, and never the case at alpha = ALPHA.
 */
export function binomialInterval(n: number, p: number, alpha: number): [number, number] {
  checkCount("binomialInterval", "n", n, 0);
  checkProbability("binomialInterval", "p", p);
  checkAlpha("binomialInterval", alpha);
  if (p === 0) return [0, 0];
  if (p === 1) return [n, n];
  // `0 +` turns stdlib's −0 into 0.
  return [0 + binomialQuantile(alpha / 2, n, p), n - binomialQuantile(alpha / 2, n, 1 - p)];
}

/** z-test for a mean with known σ: returns { z, bound, pass } where pass = |mean − mu| ≤ zα·σ/√n. */
export function zTestMean(
  sampleMean: number,
  mu: number,
  sigma: number,
  n: number,
  alpha: number,
): { z: number; bound: number; pass: boolean } {
  checkCount("zTestMean", "n", n, 1);
  checkAlpha("zTestMean", alpha);
  const standardError = sigma / Math.sqrt(n);
  const deviation = sampleMean - mu;
  const bound = normalQuantileTwoSided(alpha) * standardError;
  // Written so that a NaN mean fails rather than passes.
  return { z: deviation / standardError, bound, pass: Math.abs(deviation) <= bound };
}

/**
 * Kolmogorov–Smirnov one-sample statistic D_n = sup |F_n(x) − F(x)| against a continuous CDF.
 * NaN if any sample (or CDF value) is NaN, so a `D ≤ critical` check fails.
 */
export function ksStatistic(samples: ArrayLike<number>, cdf: (x: number) => number): number {
  const n = samples.length;
  if (n === 0) throw new InvalidArgumentError("ksStatistic", "samples", "is empty");
  const sorted = Float64Array.from(samples).sort();
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(sorted[i]);
    d = Math.max(d, f - i / n, (i + 1) / n - f);
  }
  return d;
}

/**
 * Critical value of D_n at level alpha: sqrt(−ln(alpha/2) / (2n)). By the
 * Dvoretzky–Kiefer–Wolfowitz inequality with Massart's constant, P(D_n > c) ≤ 2e^(−2nc²) = alpha
 * for every n, so the false-alarm rate is at most alpha, never just asymptotically.
 */
export function ksCritical(n: number, alpha: number): number {
  checkCount("ksCritical", "n", n, 1);
  checkAlpha("ksCritical", alpha);
  return Math.sqrt(-Math.log(alpha / 2) / (2 * n));
}

/** Mean and variance (biased and unbiased) in float64, by a corrected two-pass algorithm. */
export function moments(xs: ArrayLike<number>): {
  mean: number;
  variance: number;
  unbiasedVariance: number;
  n: number;
} {
  const n = xs.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += xs[i];
  const mean = sum / n;
  let squares = 0;
  let drift = 0;
  for (let i = 0; i < n; i++) {
    const d = xs[i] - mean;
    squares += d * d;
    drift += d;
  }
  // The drift term removes the error left by rounding the mean (Chan, Golub & LeVeque).
  const centred = squares - (drift * drift) / n;
  return { mean, variance: centred / n, unbiasedVariance: centred / (n - 1), n };
}
