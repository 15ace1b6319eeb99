import { describe, expect, it } from "vitest";
import {
  ALPHA,
  binomialInterval,
  chiSquareQuantile,
  erf,
  erfc,
  ksCritical,
  ksStatistic,
  moments,
  normalCdf,
  normalInv,
  normalQuantileTwoSided,
  regularizedGammaP,
  varianceInterval,
  zTestMean,
} from "./stats.ts";

/** Asserts |actual − expected| ≤ tol·|expected|. */
function expectRel(actual: number, expected: number, tol: number): void {
  const err = actual === expected ? 0 : Math.abs(actual - expected) / Math.abs(expected);
  expect(err, `${actual} vs ${expected}`).toBeLessThanOrEqual(tol);
}

// Reference values below are from mpmath at 50 significant digits, rounded to doubles.

describe("erf and erfc", () => {
  it("match high-precision values across Cody's three intervals", () => {
    const table: [number, number, number][] = [
      [1e-8, 1.1283791670955126e-8, 0.9999999887162083],
      [0.2, 0.22270258921047847, 0.7772974107895215],
      [0.46875, 0.49261347321793797, 0.507386526782062],
      [0.5, 0.5204998778130465, 0.4795001221869535],
      [1, 0.8427007929497149, 0.15729920705028513],
      [2, 0.9953222650189527, 0.004677734981047266],
      [4, 0.9999999845827421, 1.541725790028002e-8],
      [6, 1, 2.1519736712498913e-17],
      [15, 1, 7.212994172451207e-100],
      [26, 1, 5.663192408856143e-296],
    ];
    for (const [x, erfX, erfcX] of table) {
      expectRel(erf(x), erfX, 1e-15);
      expectRel(erfc(x), erfcX, 1e-15);
      expectRel(erf(-x), -erfX, 1e-15);
      expectRel(erfc(-x), 2 - erfcX, 1e-15);
    }
  });

  it("handles the ends of the line", () => {
    expect(erf(0)).toBe(0);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erfc(Infinity)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
    expect(erfc(30)).toBe(0);
    expect(erf(Number.NaN)).toBeNaN();
  });
});

describe("normalCdf", () => {
  it("keeps full relative accuracy in the lower tail", () => {
    expectRel(normalCdf(-37), 5.725571222524577e-300, 1e-14);
    expectRel(normalCdf(-20), 2.7536241186062337e-89, 1e-14);
    expectRel(normalCdf(-8), 6.220960574271784e-16, 1e-14);
    expectRel(normalCdf(-1), 0.15865525393145705, 1e-15);
    expect(normalCdf(0)).toBe(0.5);
    expectRel(normalCdf(2), 0.9772498680518208, 1e-15);
  });

  it("corrects the rounding of x/√2 that stdlib's normal-cdf keeps (1.2e-13 relative at −30)", () => {
    expectRel(normalCdf(-30), 4.906713927148187e-198, 1e-15);
    expectRel(normalCdf(-12.7), 2.95648536485205e-37, 1e-15);
    expectRel(normalCdf(-5), 2.866515718791939e-7, 1e-15);
  });
});

describe("normalInv and normalQuantileTwoSided", () => {
  it("gives the familiar two-sided quantiles", () => {
    expectRel(normalQuantileTwoSided(0.05), 1.959963984540054, 1e-15);
    expectRel(normalQuantileTwoSided(1e-9), 6.1094102048693975, 1e-14);
    expect(normalQuantileTwoSided(1)).toBe(0);
  });

  it("inverts Φ far into the tails and near the centre", () => {
    const table: [number, number][] = [
      [1e-300, -37.0470962993612],
      [1e-12, -7.034483825301132],
      [0.025, -1.9599639845400543],
      [0.3, -0.5244005127080408],
      [0.4999999, -2.5066282747031063e-7],
      [0.975, 1.9599639845400538],
      [1 - 1e-9, 5.9978070196016375],
    ];
    for (const [p, x] of table) expectRel(normalInv(p), x, 1e-14);
    expect(normalInv(0.5)).toBe(0);
    expect(normalInv(0)).toBe(-Infinity);
    expect(normalInv(1)).toBe(Infinity);
  });

  it("rejects arguments that are not probabilities", () => {
    expect(() => normalInv(1.5)).toThrow(/'p'/);
    expect(() => normalInv(Number.NaN)).toThrow(/'p'/);
    expect(() => normalQuantileTwoSided(0)).toThrow(/'alpha'/);
  });
});

describe("regularizedGammaP", () => {
  it("matches high-precision values, including a = 5e6", () => {
    const table: [number, number, number][] = [
      [0.5, 0.25, 0.5204998778130465],
      [1, 0.5, 0.3934693402873666],
      [3.5, 0.035, 6.710885323011909e-7],
      [10, 0.1, 2.5163478067703163e-17],
      [10, 30, 0.9999928782491372],
      [100, 50, 3.200065324585125e-10],
      [100, 101, 0.5528962934345113],
      [5e6, 5e6, 0.5000594708039379],
      [5e6, 5000001, 0.5002378831887913],
    ];
    for (const [a, x, p] of table) expectRel(regularizedGammaP(a, x), p, 1e-13);
    expect(regularizedGammaP(2, 0)).toBe(0);
    expect(regularizedGammaP(2, Infinity)).toBe(1);
  });
});

describe("chiSquareQuantile", () => {
  it("gives the textbook values", () => {
    expectRel(chiSquareQuantile(0.975, 10), 20.483177350807395, 1e-13);
    expectRel(chiSquareQuantile(0.025, 10), 3.2469727802368413, 1e-13);
    expectRel(chiSquareQuantile(0.3, 57), 50.95557595167902, 1e-13);
  });

  it("stays accurate in the far tails, from 1 to 1e7 degrees of freedom", () => {
    const table: [number, number, number][] = [
      [1e-12, 1, 1.5707963267948966e-24],
      [1e-9, 2, 2.0000000010000003e-9],
      [1e-12, 57, 10.381808594763418],
      [1e-12, 1000, 716.9494787894976],
      [1e-9, 1e5, 97340.97157279658],
      [1e-12, 1e7, 9968573.147172952],
      [0.3, 1e7, 9997654.326363856],
    ];
    for (const [p, k, x] of table) expectRel(chiSquareQuantile(p, k), x, 1e-12);
  });

  it("handles the ends and rejects bad arguments", () => {
    expect(chiSquareQuantile(0, 3)).toBe(0);
    expect(chiSquareQuantile(1, 3)).toBe(Infinity);
    expect(() => chiSquareQuantile(0.5, 0)).toThrow(/'k'/);
    expect(() => chiSquareQuantile(-0.5, 3)).toThrow(/'p'/);
  });
});

describe("varianceInterval", () => {
  // χ²₁₀ quantiles at 0.025 and 0.975.
  const lo10 = 3.2469727802368413;
  const hi10 = 20.483177350807395;

  it("scales the chi-square quantiles by the estimator's divisor", () => {
    const [lo, hi] = varianceInterval({ n: 11, sigma2: 2, alpha: 0.05 });
    expectRel(lo, (2 * lo10) / 10, 1e-13);
    expectRel(hi, (2 * hi10) / 10, 1e-13);
    const [blo, bhi] = varianceInterval({ n: 11, sigma2: 2, alpha: 0.05, unbiased: false });
    expectRel(blo, (2 * lo10) / 11, 1e-13);
    expectRel(bhi, (2 * hi10) / 11, 1e-13);
    const [klo, khi] = varianceInterval({ n: 10, sigma2: 2, alpha: 0.05, knownMean: true });
    expectRel(klo, (2 * lo10) / 10, 1e-13);
    expectRel(khi, (2 * hi10) / 10, 1e-13);
  });

  it("solves the upper tail directly at alpha = ALPHA", () => {
    // χ²₁₀₀₀ upper 1e-9 quantile; 1 − 5e-10 could not even be represented exactly.
    const [, hi] = varianceInterval({ n: 1000, sigma2: 1, alpha: 2e-9, knownMean: true });
    expectRel(hi * 1000, 1291.9578662356023, 1e-12);
  });

  it("rejects samples too small to estimate a variance", () => {
    expect(() => varianceInterval({ n: 1, sigma2: 1, alpha: ALPHA })).toThrow(/'n'/);
  });
});

describe("binomialInterval", () => {
  it("gives the familiar 95% interval of 1000 fair coins", () => {
    expect(binomialInterval(1000, 0.5, 0.05)).toEqual([469, 531]);
  });

  it("matches exact intervals (checked against scipy.stats.binom) up to n = 1e7", () => {
    expect(binomialInterval(37, 0.77, 0.05)).toEqual([23, 33]);
    expect(binomialInterval(1e6, 0.001, 1e-12)).toEqual([783, 1234]);
    expect(binomialInterval(1e7, 0.3, ALPHA)).toEqual([2991149, 3008856]);
  });

  it("is the narrowest interval whose tails are each at most alpha/2", () => {
    const n = 60;
    for (const p of [0.01, 0.2, 0.5, 0.93]) {
      for (const alpha of [0.3, 0.05, 1e-6]) {
        const pmf = Array.from({ length: n + 1 }, (_, k) => binomialPmf(n, p, k));
        const below = (k: number) => pmf.slice(0, Math.max(0, k)).reduce((s, v) => s + v, 0);
        const above = (k: number) => pmf.slice(k + 1).reduce((s, v) => s + v, 0);
        const [lo, hi] = binomialInterval(n, p, alpha);
        expect(below(lo)).toBeLessThanOrEqual(alpha / 2);
        expect(above(hi)).toBeLessThanOrEqual(alpha / 2);
        if (lo < n) expect(below(lo + 1)).toBeGreaterThan(alpha / 2);
        if (hi > 0) expect(above(hi - 1)).toBeGreaterThan(alpha / 2);
      }
    }
  });

  it("handles degenerate cases", () => {
    expect(binomialInterval(0, 0.5, 0.05)).toEqual([0, 0]);
    expect(binomialInterval(10, 0, 0.05)).toEqual([0, 0]);
    expect(binomialInterval(10, 1, 0.05)).toEqual([10, 10]);
    expect(() => binomialInterval(10.5, 0.5, 0.05)).toThrow(/'n'/);
  });
});

/** C(n, k) pᵏ (1 − p)ⁿ⁻ᵏ by a plain product: fine for the small n used here. */
function binomialPmf(n: number, p: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c * p ** k * (1 - p) ** (n - k);
}

describe("zTestMean", () => {
  it("compares |mean − μ| with z_α·σ/√n", () => {
    const result = zTestMean(0.1, 0, 1, 100, 0.05);
    expectRel(result.z, 1, 1e-12);
    expectRel(result.bound, 0.1959963984540054, 1e-14);
    expect(result.pass).toBe(true);
    expect(zTestMean(0.2, 0, 1, 100, 0.05).pass).toBe(false);
    expect(zTestMean(Number.NaN, 0, 1, 100, 0.05).pass).toBe(false);
  });
});

describe("Kolmogorov–Smirnov", () => {
  const uniformCdf = (x: number) => Math.min(1, Math.max(0, x));

  it("computes D_n from both sides of each step", () => {
    expectRel(ksStatistic([0.9, 0.1, 0.5], uniformCdf), 7 / 30, 1e-15);
    expect(ksStatistic([0.5, Number.NaN], uniformCdf)).toBeNaN();
  });

  it("uses the DKW critical value", () => {
    expectRel(ksCritical(100, 0.05), 0.13581015157406195, 1e-15);
    expectRel(ksCritical(1e6, ALPHA), Math.sqrt(-Math.log(ALPHA / 2) / 2e6), 1e-15);
  });
});

describe("moments", () => {
  it("computes the mean and both variances without cancellation", () => {
    const m = moments([1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4]);
    expect(m).toEqual({ mean: 1e9 + 2.5, variance: 1.25, unbiasedVariance: 5 / 3, n: 4 });
    expect(moments(new Float32Array([2])).unbiasedVariance).toBeNaN();
  });

  it("uses the project-wide false-alarm rate", () => {
    expect(ALPHA).toBe(1e-9);
  });
});
