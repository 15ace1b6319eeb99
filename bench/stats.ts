/**
 * The statistics of the regression check: Welch's two-sample t-test, with the Student-t CDF,
 * the incomplete beta function and ln Γ from stdlib (measured against mpmath: 1e-15 relative
 * where the hand-written continued fraction they replace lost 8e-11 at 10⁵ degrees of
 * freedom), and the verdict rule for one case.
 *
 * A case regresses when it is more than SLOWDOWN slower by both the ratio of medians and the
 * ratio of means, and Welch's one-sided test of "the new mean is larger" gives p < P_MAX.
 * Requiring both ratios keeps a few outliers (a GC pause inflates the mean, never the median)
 * from tipping a case over the threshold; a kernel that really got slower moves both.
 *
 * Before the mean and the t-test, each sample drops its slow outliers (beyond Q3 + 3·IQR of its
 * own samples): interference from other processes only ever makes a call slower, and a few
 * calls at 2× would otherwise inflate the variance until a real slowdown goes unseen.
 */
import betainc from "@stdlib/math-base-special-betainc";
import gammaln from "@stdlib/math-base-special-gammaln";
import tCdf from "@stdlib/stats-base-dists-t-cdf";
import { InvalidArgumentError } from "../src/engine/errors.ts";
import { moments } from "../src/harness/stats.ts";

/** A case must be this much slower (ratio of medians and of means) to count as a regression. */
export const SLOWDOWN = 1.05;
/** …and Welch's one-sided p-value must be below this. */
export const P_MAX = 0.01;

/**
 * The between-run spread of same-code runs: the standard deviation of the log ratios of their
 * medians, over √2 since each ratio holds two runs. Not a robust estimate on purpose: on a
 * shared machine the run-to-run shifts have heavy tails (a few series move by 30 %), and a
 * spread that ignored them would let those through as regressions.
 */
export function runSpread(ratios: readonly number[]): number {
  if (ratios.length < 8)
    throw new InvalidArgumentError("runSpread", "ratios", `${ratios.length} series, need ≥ 8`);
  return Math.sqrt(Math.max(0, moments(ratios.map(Math.log)).unbiasedVariance)) / Math.SQRT2;
}

export function logGamma(x: number): number {
  if (!(x > 0)) throw new InvalidArgumentError("logGamma", "x", `${x} is not positive`);
  return gammaln(x);
}

/** The regularized incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (!(a > 0)) throw new InvalidArgumentError("regularizedBeta", "a", `${a} is not positive`);
  if (!(b > 0)) throw new InvalidArgumentError("regularizedBeta", "b", `${b} is not positive`);
  if (!(x >= 0 && x <= 1)) {
    throw new InvalidArgumentError("regularizedBeta", "x", `${x} is not in [0, 1]`);
  }
  return betainc(x, a, b);
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom (any real df > 0). */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new InvalidArgumentError("studentTCdf", "df", `${df} is not positive`);
  if (Number.isNaN(t)) throw new InvalidArgumentError("studentTCdf", "t", "is NaN");
  return tCdf(t, df);
}

export interface WelchResult {
  /** (mean(b) − mean(a)) / standard error: positive when b is larger. */
  t: number;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  /** One-sided p-value of "mean(b) > mean(a)". */
  pGreater: number;
  /** One-sided p-value of "mean(b) < mean(a)". */
  pLess: number;
  /** Two-sided p-value. */
  pTwoSided: number;
}

/** Welch's unequal-variance t-test of sample b against sample a. */
/**
 * Welch's test of mean(b) against mean(a). `runVariance` is a known variance of the difference
 * that the samples cannot show: the shift of a whole run's level between processes (see
 * verdict); it widens the standard error and, being known, adds no degrees of freedom.
 */
export function welch(a: ArrayLike<number>, b: ArrayLike<number>, runVariance = 0): WelchResult {
  if (a.length < 2) throw new InvalidArgumentError("welch", "a", `${a.length} samples, need ≥ 2`);
  if (b.length < 2) throw new InvalidArgumentError("welch", "b", `${b.length} samples, need ≥ 2`);
  const ma = moments(a);
  const mb = moments(b);
  const va = Math.max(0, ma.unbiasedVariance) / ma.n;
  const vb = Math.max(0, mb.unbiasedVariance) / mb.n;
  const se2 = va + vb + runVariance;
  const diff = mb.mean - ma.mean;
  if (se2 === 0) {
    // Two constant samples: the difference is certain, or there is none.
    const t = diff === 0 ? 0 : diff > 0 ? Infinity : -Infinity;
    const pGreater = diff > 0 ? 0 : diff < 0 ? 1 : 0.5;
    return { t, df: ma.n + mb.n - 2, pGreater, pLess: 1 - pGreater, pTwoSided: diff ? 0 : 1 };
  }
  const t = diff / Math.sqrt(se2);
  const df = Math.min(1e9, (se2 * se2) / ((va * va) / (ma.n - 1) + (vb * vb) / (mb.n - 1)));
  const pGreater = studentTCdf(-t, df);
  const pLess = studentTCdf(t, df);
  return { t, df, pGreater, pLess, pTwoSided: Math.min(1, 2 * Math.min(pGreater, pLess)) };
}

export function median(xs: ArrayLike<number>): number {
  if (xs.length === 0) throw new InvalidArgumentError("median", "xs", "no samples");
  return quantile(Float64Array.from(xs).sort(), 0.5);
}

export function mean(xs: ArrayLike<number>): number {
  return moments(xs).mean;
}

/** The p-quantile by linear interpolation between order statistics (R's type 7). */
export function quantile(sorted: ArrayLike<number>, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * The samples without slow outliers: those above Q3 + 3·IQR (Tukey's far fence, upper side
 * only). The IQR is floored at 1 % of the median so that timings quantised to a few distinct
 * values do not lose everything above the third quartile.
 */
export function trimSlow(xs: ArrayLike<number>): number[] {
  const sorted = Array.from(xs).sort((a, b) => a - b);
  if (sorted.length < 4) return sorted;
  const q1 = quantile(sorted, 0.25);
  const q3 = quantile(sorted, 0.75);
  const fence = q3 + 3 * Math.max(q3 - q1, 0.01 * quantile(sorted, 0.5));
  return sorted.filter((x) => x <= fence);
}

export type Status = "regression" | "improvement" | "unchanged";

export interface Verdict {
  status: Status;
  /** median(current) / median(baseline): above 1 is slower. */
  medianRatio: number;
  /** Ratio of the means after trimming slow outliers. */
  meanRatio: number;
  /** Welch's test on the trimmed samples (baseline first). */
  welch: WelchResult;
  /** Slow outliers dropped from the baseline and from the current samples. */
  trimmed: [number, number];
}

/**
 * Compares the timings of one case: "regression" when current is more than SLOWDOWN slower by
 * median and by mean with Welch p < P_MAX; "improvement" for the mirror image; else "unchanged".
 */
/**
 * `runSd`: the relative standard deviation of a series' level between runs (processes) of the
 * same code on the baseline's machine (BenchResults.runSd). Samples within one run are not
 * independent of the run: JIT decisions, memory placement and the neighbours' load shift a whole
 * series by several percent from one process to the next, which Welch's test alone would read
 * as a significant change. Each run's mean carries (runSd·mean)² of it; a baseline that pools
 * `baselineRuns` runs, (runSd·mean)²/baselineRuns.
 */
export function verdict(
  baseline: ArrayLike<number>,
  current: ArrayLike<number>,
  runSd = 0,
  baselineRuns = 1,
): Verdict {
  const medianRatio = median(current) / median(baseline);
  const base = trimSlow(baseline);
  const now = trimSlow(current);
  const meanRatio = mean(now) / mean(base);
  const w = welch(base, now, (runSd * mean(base)) ** 2 / baselineRuns + (runSd * mean(now)) ** 2);
  let status: Status = "unchanged";
  if (medianRatio > SLOWDOWN && meanRatio > SLOWDOWN && w.pGreater < P_MAX) status = "regression";
  else if (medianRatio < 1 / SLOWDOWN && meanRatio < 1 / SLOWDOWN && w.pLess < P_MAX) {
    status = "improvement";
  }
  const trimmed: [number, number] = [baseline.length - base.length, current.length - now.length];
  return { status, medianRatio, meanRatio, welch: w, trimmed };
}
