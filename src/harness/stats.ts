/**
 * The distributions behind the statistical laws. Every statistical law runs at a false-alarm
 * rate of at most ALPHA, so its acceptance region comes from a far tail (1e-9 and beyond):
 * everything here keeps relative accuracy in the tails instead of computing 1 − (almost 1).
 */
import { InvalidArgumentError } from "../engine/errors.ts";

/** The false-alarm rate every statistical law uses. */
export const ALPHA = 1e-9;

const LN_SQRT_2PI = 0.9189385332046728; // ln √(2π)
const SQRT_2PI = 2.5066282746310007;
const INV_SQRT_PI = 0.5641895835477563;

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
// erf, erfc, Φ: W. J. Cody, "Rational Chebyshev approximations for the error function",
// Math. Comp. 23 (1969), coefficients as in his CALERF (SPECFUN). Three intervals, each a
// rational function of the form that is free of cancellation there.

const ERF_A = [
  3.1611237438705655, 113.86415415105016, 377.485237685302, 3209.3775891384694, 0.18577770618460315,
];
const ERF_B = [23.601290952344122, 244.02463793444417, 1282.6165260773723, 2844.236833439171];
const ERFC_C = [
  0.5641884969886701, 8.883149794388377, 66.11919063714163, 298.6351381974001, 881.952221241769,
  1712.0476126340707, 2051.0783778260716, 1230.3393547979972, 2.1531153547440383e-8,
];
const ERFC_D = [
  15.744926110709835, 117.6939508913125, 537.1811018620099, 1621.3895745666903, 3290.7992357334597,
  4362.619090143247, 3439.3676741437216, 1230.3393548037495,
];
const ERFC_P = [
  0.30532663496123236, 0.36034489994980445, 0.12578172611122926, 0.016083785148742275,
  6.587491615298378e-4, 0.016315387137302097,
];
const ERFC_Q = [
  2.568520192289822, 1.8729528499234604, 0.5279051029514285, 0.06051834131244132,
  0.0023352049762686918,
];
/** Below this erf comes from a series-like rational function of x²; above, erfc is primary. */
const ERF_SPLIT = 0.46875;
/** erfc(x) underflows to 0 beyond this. */
const ERFC_ZERO = 26.543;

/** erf(x) for |x| ≤ ERF_SPLIT: x · R(x²), accurate to the last bit relative to x. */
function erfNearZero(x: number): number {
  const z = x * x;
  let num = ERF_A[4] * z;
  let den = z;
  for (let i = 0; i < 3; i++) {
    num = (num + ERF_A[i]) * z;
    den = (den + ERF_B[i]) * z;
  }
  return (x * (num + ERF_A[3])) / (den + ERF_B[3]);
}

/** e^(y²)·erfc(y) for y > ERF_SPLIT: a smooth rational function, free of the exponential. */
function erfcxAway(y: number): number {
  if (y <= 4) {
    let num = ERFC_C[8] * y;
    let den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + ERFC_C[i]) * y;
      den = (den + ERFC_D[i]) * y;
    }
    return (num + ERFC_C[7]) / (den + ERFC_D[7]);
  }
  const z = 1 / (y * y);
  let num = ERFC_P[5] * z;
  let den = z;
  for (let i = 0; i < 4; i++) {
    num = (num + ERFC_P[i]) * z;
    den = (den + ERFC_Q[i]) * z;
  }
  return (INV_SQRT_PI - (z * (num + ERFC_P[4])) / (den + ERFC_Q[4])) / y;
}

/**
 * exp(−y²·scale) without the rounding of y², which the exponential would amplify by y²:
 * y² = s² + (y − s)(y + s) with s = y truncated to a multiple of 1/16, so s² is exact.
 */
function expNegSquare(y: number, scale: number): number {
  const s = Math.trunc(y * 16) / 16;
  return Math.exp(-s * s * scale) * Math.exp(-(y - s) * (y + s) * scale);
}

/** erfc(y) for y > ERF_SPLIT, with full relative accuracy down to underflow. */
function erfcAway(y: number): number {
  if (y >= ERFC_ZERO) return 0;
  return expNegSquare(y, 1) * erfcxAway(y);
}

export function erf(x: number): number {
  const y = Math.abs(x);
  if (y <= ERF_SPLIT) return erfNearZero(x);
  const r = 0.5 - erfcAway(y) + 0.5;
  return x < 0 ? -r : r;
}

export function erfc(x: number): number {
  const y = Math.abs(x);
  if (y <= ERF_SPLIT) return 1 - erfNearZero(x);
  const r = erfcAway(y);
  return x < 0 ? 2 - r : r;
}

/**
 * Φ(x) = erfc(−x/√2)/2, with full relative accuracy in the lower tail. There the exponential
 * is taken of x²/2 split exactly (not of (x/√2)², whose rounding would cost ~x²·2⁻⁵³).
 */
export function normalCdf(x: number): number {
  const t = -x * Math.SQRT1_2;
  if (Math.abs(t) <= ERF_SPLIT) return 0.5 - 0.5 * erfNearZero(t);
  if (t < 0) return 1 - 0.5 * erfcAway(-t);
  return 0.5 * expNegSquare(x, 0.5) * erfcxAway(t);
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

/** ln Γ(x) for x > 0: Stirling's series, after shifting x up to 15 where it converges fast. */
function logGamma(x: number): number {
  let shift = 0;
  let product = 1;
  while (x < 15) {
    product *= x;
    x += 1;
    shift += 1;
  }
  const logShift = shift > 0 ? Math.log(product) : 0;
  return (x - 0.5) * Math.log(x) - x + LN_SQRT_2PI + stirlingSeries(x) - logShift;
}

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
  return logGamma(a + 1) - (a + 0.5) * Math.log(a) + a - LN_SQRT_2PI;
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
// Chi-square quantiles. χ²ₖ = 2·Gamma(k/2), so we solve P(k/2, y) = p (or Q = q in the upper
// tail) for y and return 2y. Newton's method runs on the logarithm of the tail probability,
// which is nearly linear in y even in the far tails, inside a bracket that falls back to
// bisection, so it cannot diverge.

/** The quantile with lower-tail probability `tail` (upper tail if `upper`), k dof. */
function chiSquareTailQuantile(tail: number, k: number, upper: boolean): number {
  const a = k / 2;
  const target = Math.log(tail);
  const tailAt = upper ? regularizedGammaQ : regularizedGammaP;

  // Wilson–Hilferty's cube-root normal approximation as the starting point.
  const z = upper ? -lowerQuantile(tail) : lowerQuantile(tail);
  const v = 2 / (9 * k);
  const wh = a * (1 - v + z * Math.sqrt(v)) ** 3;
  let lo = 0;
  let hi = Infinity;
  let y = wh;
  if (!upper) {
    // P(a, y) ≤ y^a / Γ(a + 1), so solving that bound for y gives a point at or below the root:
    // a safe lower bracket, and the right start in the far lower tail where Wilson–Hilferty fails.
    lo = Math.exp((target + logGamma(a + 1)) / a);
    if (!(y > lo)) y = lo;
  } else if (!(y > 0)) {
    y = a;
  }
  // Only for k < 2 and astronomically small p: the quantile is below the smallest double.
  if (y === 0) return 0;

  for (let iter = 0; iter < 500; iter++) {
    const t = tailAt(a, y);
    const h = Math.log(t) - target;
    if (h === 0) return 2 * y;
    // P rises with y, Q falls: decide which side of the root y is on.
    if (h < 0 !== upper) lo = y;
    else hi = y;
    // d/dy ln P = density / P, with density y^(a−1) e^(−y) / Γ(a) = a · poissonTerm / y.
    const density = (a * poissonTerm(a, y)) / y;
    const slope = (upper ? -density : density) / t;
    let next = y - h / slope;
    if (!(next > lo && next < hi)) {
      if (hi === Infinity) next = 2 * y;
      else next = lo > 0 ? Math.sqrt(lo * hi) : hi / 2;
    }
    const bracketClosed = hi < Infinity && hi - lo <= 1e-15 * hi;
    if (Math.abs(next - y) <= 1e-14 * y || bracketClosed) return 2 * next;
    y = next;
  }
  throw new Error(`chiSquareQuantile: no convergence (tail = ${tail}, k = ${k})`);
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
  return p <= 0.5 ? chiSquareTailQuantile(p, k, false) : chiSquareTailQuantile(1 - p, k, true);
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
  const lo = chiSquareTailQuantile(alpha / 2, dof, false);
  const hi = chiSquareTailQuantile(alpha / 2, dof, true);
  return [(sigma2 * lo) / divisor, (sigma2 * hi) / divisor];
}

/**
 * Two-sided acceptance interval [lo, hi] for the number of successes X ~ Binomial(n, p):
 * the narrowest with P(X < lo) ≤ alpha/2 and P(X > hi) ≤ alpha/2, computed exactly.
 * The pmf is built outward from the mode by its ratio recurrence (relative to the mode, so
 * no factorials and no underflow), until a geometric bound shows the rest is negligible.
 */
export function binomialInterval(n: number, p: number, alpha: number): [number, number] {
  checkCount("binomialInterval", "n", n, 0);
  checkProbability("binomialInterval", "p", p);
  checkAlpha("binomialInterval", alpha);
  if (p === 0) return [0, 0];
  if (p === 1) return [n, n];
  const odds = p / (1 - p);
  const mode = Math.min(n, Math.floor((n + 1) * p));
  // A tail mass below this is far too small to move either end of the interval.
  const negligible = 1e-20 * alpha;

  // pmf(k − 1)/pmf(k) = k / ((n − k + 1)·odds) falls below 1 under the mode and keeps falling
  // (the pmf is log-concave), so w·r/(1 − r) bounds all the mass beyond the current term.
  const below: number[] = [];
  let restBelow = 0;
  for (let k = mode, w = 1; k > 0; ) {
    w *= k / ((n - k + 1) * odds);
    k -= 1;
    below.push(w);
    const r = k / ((n - k + 1) * odds);
    const rest = (w * r) / (1 - r);
    if (rest < negligible) {
      restBelow = rest;
      break;
    }
  }
  const above: number[] = [];
  let restAbove = 0;
  for (let k = mode, w = 1; k < n; ) {
    w *= ((n - k) * odds) / (k + 1);
    k += 1;
    above.push(w);
    const r = ((n - k) * odds) / (k + 1);
    const rest = (w * r) / (1 - r);
    if (rest < negligible) {
      restAbove = rest;
      break;
    }
  }

  // weights[i] ∝ pmf(first + i); the total (without the bounded rests) is a lower bound of the
  // true normaliser, so each tail estimate below is an upper bound: the interval is safe.
  const weights = [...below.reverse(), 1, ...above];
  const first = mode - below.length;
  let total = 0;
  for (const w of weights) total += w;
  const budget = (alpha / 2) * total;

  let lo = first;
  for (let i = 0, mass = restBelow; i < weights.length && mass + weights[i] <= budget; i++) {
    mass += weights[i];
    lo = first + i + 1;
  }
  let hi = first + weights.length - 1;
  for (let i = weights.length - 1, mass = restAbove; i >= 0 && mass + weights[i] <= budget; i--) {
    mass += weights[i];
    hi = first + i - 1;
  }
  return [lo, hi];
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
