/**
 * A. Likelihood, logs and Bayes [notes 001, 000].
 *
 * These laws compose several backend ops (log, sum, exp, matmul, log_softmax…) and compare the
 * result with the exact value of the expression, computed in float64 on the host. The allowed
 * distance is a running error bound (`Trail`): each step contributes the budget a correct
 * kernel of the backend's dtype gets on the values it actually received, and carries the
 * error of its inputs forward through the step's condition number.
 */
import fc from "fast-check";
import { uniformAt } from "../src/engine/random.ts";
import { indices, type Tensor } from "../src/engine/tensor.ts";
import { arrayOf } from "../src/harness/arbitraries.ts";
import type { Law, LawContext } from "../src/harness/law.ts";
import { minNormal } from "../src/harness/tolerance.ts";
import { fsum, HOST, hostLse, type Tracked, Trail } from "../src/harness/trail.ts";

// ---------------------------------------------------------------------------------------------
// Host helpers.

const LN_2PI = Math.log(2 * Math.PI);

/** Multiplies the rows of x (first axis) pairwise, like a parallel product reduction. */
async function productTree(tr: Trail, x: Tracked): Promise<Tracked> {
  while (x.t.shape[0] > 1) {
    const h = Math.floor(x.t.shape[0] / 2);
    const prod = await tr.mul(tr.rows(x, 0, h), tr.rows(x, h, 2 * h));
    x = 2 * h < x.t.shape[0] ? tr.concatRows(prod, tr.rows(x, 2 * h, x.t.shape[0])) : prod;
  }
  return x;
}

/** Host argmax and the gap to the runner-up. */
function best(xs: ArrayLike<number>): { arg: number; gap: number } {
  let arg = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[arg]) arg = i;
  let second = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < xs.length; i++) if (i !== arg) second = Math.max(second, xs[i]);
  return { arg, gap: xs[arg] - second };
}

/** Gauss–Legendre nodes and weights on [0, 1] (Newton on Pₘ): exact for degree ≤ 2m − 1.
 * Returns θ and 1 − θ separately so that neither is formed by a cancelling subtraction. */
function gaussLegendre01(m: number): { theta: number[]; comp: number[]; w: number[] } {
  const x = new Array<number>(m);
  const w = new Array<number>(m);
  for (let i = 0; i < Math.ceil(m / 2); i++) {
    let z = Math.cos((Math.PI * (i + 0.75)) / (m + 0.5));
    let pp = 0;
    for (let iter = 0; iter < 100; iter++) {
      let [p1, p2] = [1, 0];
      for (let j = 1; j <= m; j++) {
        const p3 = p2;
        p2 = p1;
        p1 = ((2 * j - 1) * z * p2 - (j - 1) * p3) / j;
      }
      pp = (m * (z * p1 - p2)) / (z * z - 1);
      const z1 = z;
      z = z1 - p1 / pp;
      if (Math.abs(z - z1) < 1e-16) break;
    }
    x[i] = -z;
    x[m - 1 - i] = z;
    w[i] = w[m - 1 - i] = 2 / ((1 - z * z) * pp * pp);
  }
  return {
    theta: x.map((v) => (1 + v) / 2),
    comp: x.map((v) => (1 - v) / 2),
    w: w.map((v) => v / 2),
  };
}

/** C(n, k) in float64 by the multiplicative formula (relative error ≤ k·2⁻⁵³). */
function binomial(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}

/** Lower-triangular L with L·Lᵀ = S (S symmetric positive definite, row-major d × d). */
function cholesky(s: number[], d: number): number[] {
  const l = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let v = s[i * d + j];
      for (let k = 0; k < j; k++) v -= l[i * d + k] * l[j * d + k];
      l[i * d + j] = i === j ? Math.sqrt(v) : v / l[j * d + j];
    }
  }
  return l;
}

/** A well-conditioned SPD covariance Σ = s²(AAᵀ/d + I), its inverse and ln det Σ (host). */
function gaussianFamily(a: number[], d: number, s: number) {
  const sigma = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let v = i === j ? 1 : 0;
      for (let k = 0; k < d; k++) v += (a[i * d + k] * a[j * d + k]) / d;
      sigma[i * d + j] = s * s * v;
    }
  }
  const l = cholesky(sigma, d);
  // L⁻¹ by forward substitution, then Σ⁻¹ = L⁻ᵀL⁻¹.
  const li = new Array<number>(d * d).fill(0);
  for (let c = 0; c < d; c++) {
    for (let i = 0; i < d; i++) {
      let v = i === c ? 1 : 0;
      for (let k = 0; k < i; k++) v -= l[i * d + k] * li[k * d + c];
      li[i * d + c] = v / l[i * d + i];
    }
  }
  const inv = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let v = 0;
      for (let k = 0; k < d; k++) v += li[k * d + i] * li[k * d + j];
      inv[i * d + j] = v;
    }
  }
  let logDet = 0;
  for (let i = 0; i < d; i++) logDet += 2 * Math.log(l[i * d + i]);
  return { l, inv, logDet };
}

/** Exact −½·(x − μ)ᵀP(x − μ) and the magnitude of its terms, from the values the backend saw. */
function quadratic(x: ArrayLike<number>, mu: ArrayLike<number>, p: ArrayLike<number>, d: number) {
  const terms: number[] = [];
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) terms.push((x[i] - mu[i]) * p[i * d + j] * (x[j] - mu[j]));
  }
  return { q: fsum(terms), size: terms.reduce((s, v) => s + Math.abs(v), 0) };
}

/** Log of the smallest positive subnormal of the dtype: below it a density is exactly 0. */
const logMinSubnormal = (ctx: LawContext) =>
  Math.log(ctx.dtype === "float32" ? 2 ** -149 : 2 ** -1074);

/**
 * Where the density is a normal number, the log of the directly computed density matches the
 * exact log-density; where its numerator e^(−½q) is below half the smallest subnormal, the
 * direct density is exactly 0 while the closed form stays finite.
 */
function expectDensityAgrees(
  tr: Trail,
  o: { logOfDensity: Tracked; density: Tracked; logDensity: Tracked },
  exact: number[],
  exponent: number[],
  size: number[],
): void {
  const ctx = tr.ctx;
  const logMinNormal = Math.log(minNormal(ctx.dtype));
  for (let i = 0; i < exact.length; i++) {
    if (Math.min(exact[i], exponent[i]) > logMinNormal + 1) {
      const one = {
        t: ctx.t([], [o.logOfDensity.t.data[i]]),
        err: o.logOfDensity.err.slice(i, i + 1),
      };
      tr.expectExact(
        `log(density) at point ${i} (representable) vs exact`,
        one,
        [exact[i]],
        size[i],
      );
    } else if (exponent[i] < logMinSubnormal(ctx) - 1) {
      const [d, l] = [o.density.t.data[i], o.logDensity.t.data[i]];
      ctx.expect(d === 0, `density at point ${i} is ${d}, expected to underflow to 0`);
      ctx.expect(Number.isFinite(l), `log-density at point ${i} is ${l}`);
    }
  }
}

/**
 * A double in [lo, hi]: mostly spread evenly (to probe accuracy across the range), sometimes
 * fast-check's edge-biased doubles (the bounds, 0, tiny values).
 */
const span = (lo: number, hi: number) =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.integer({ min: 0, max: 2 ** 30 }).map((i) => lo + ((hi - lo) * i) / 2 ** 30),
    },
    { weight: 1, arbitrary: fc.double({ min: lo, max: hi, noNaN: true }) },
  );

const logUniform = (lo: number, hi: number) => span(Math.log(lo), Math.log(hi)).map(Math.exp);

// ---------------------------------------------------------------------------------------------
// The laws.

export const likelihoodLaws: Law[] = [
  {
    id: "A1a",
    topic: "likelihood",
    title: "the sum of the logs of probabilities equals the log of their product",
    note: "Note 001 (turning products into sums): ln ∏p = Σ ln p, so a log-likelihood is a sum, which is cheap and cannot underflow.",
    ops: ["log", "sum", "mul"],
    async check(ctx) {
      const tr = new Trail(ctx);
      await ctx.property(arrayOf(span(0, 20), 1, 32), async (a) => {
        const p = tr.input(
          [a.length],
          a.map((v) => Math.exp(-v)),
        );
        const logs = Array.from(p.t.data, Math.log);
        const exact = fsum(logs);
        const size = logs.reduce((s, v) => s + Math.abs(v), a.length);
        const sumOfLogs = await tr.reduce("sum", await tr.log(p), 0);
        tr.expectExact("sum(log p) vs ln ∏p", sumOfLogs, [exact], size);
        // Where the product is a normal number, the log of the backend's product agrees too.
        if (exact > Math.log(minNormal(ctx.dtype)) + 1) {
          const logOfProduct = await tr.log(tr.reshape(await productTree(tr, p), []));
          tr.expectExact("log(∏p) vs ln ∏p", logOfProduct, [exact], size);
        }
      });
    },
  },
  {
    id: "A1b",
    topic: "likelihood",
    title:
      "the log-likelihood of 2000 i.i.d. probabilities is finite and exact where their product underflows to 0",
    note: "Note 001 (computational complexity): a product of many probabilities underflows even float64, while the sum of their logs keeps every digit.",
    ops: ["log", "sum", "mul"],
    async check(ctx) {
      const tr = new Trail(ctx);
      const n = 2000;
      for (let draw = 0; draw < 3; draw++) {
        const seed = ctx.seedFor(draw);
        // p ≤ 0.6, so ∏p ≤ 0.6^2000 = e^−1021: below half the smallest float64 subnormal.
        const p = tr.input(
          [n],
          Array.from({ length: n }, (_, i) => 0.001 + 0.599 * uniformAt(seed, i, 0)),
        );
        const logs = Array.from(p.t.data, Math.log);
        const exact = fsum(logs);
        ctx.expect(
          exact < logMinSubnormal(ctx) - 10,
          `test setup: ln ∏p = ${exact} should underflow`,
        );
        const product = await productTree(tr, p);
        ctx.expect(
          product.t.data[0] === 0,
          `the direct product of ${n} probabilities is ${product.t.data[0]}, expected 0 (underflow)`,
        );
        const logLik = await tr.reduce("sum", await tr.log(p), 0);
        ctx.expect(
          Number.isFinite(logLik.t.data[0]),
          `sum(log p) is ${logLik.t.data[0]}, not finite`,
        );
        tr.expectExact(
          `sum(log p) (seed ${seed}) vs Σ ln p`,
          logLik,
          [exact],
          logs.reduce((s, v) => s - v, n),
        );
      }
    },
  },
  {
    id: "A2",
    topic: "likelihood",
    title: "ranking parameter settings by likelihood or by log-likelihood gives the same order",
    note: "Note 001 (order of likelihoods): ln is increasing, so p(x|Θ₁) > p(x|Θ₂) ⇔ ln p(x|Θ₁) > ln p(x|Θ₂); the MLE is the same in either space.",
    ops: ["log", "sum", "mul"],
    async check(ctx) {
      const tr = new Trail(ctx);
      // P[i, s] = p(xᵢ | Θₛ) for n observations and S settings; products stay normal (≥ 0.02^16).
      const cases = fc
        .tuple(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 2, max: 6 }))
        .chain(([n, s]) =>
          fc.array(span(0.02, 1), { minLength: n * s, maxLength: n * s }).map((v) => ({ n, s, v })),
        );
      await ctx.property(cases, async ({ n, s, v }) => {
        const p = tr.input([n, s], v);
        const lik = await productTree(tr, p);
        const logLik = await tr.reduce("sum", await tr.log(p), 0);
        const exact = Array.from({ length: s }, (_, j) =>
          fsum(Array.from({ length: n }, (_, i) => Math.log(p.t.data[i * s + j]))),
        );
        tr.expectExact("sum(log P) vs Σ ln P", logLik, exact, n * 5);
        for (let a = 0; a < s; a++) {
          for (let b = 0; b < s; b++) {
            if (exact[a] <= exact[b]) continue;
            // Wherever the exact order is decidable from the error bounds, both computed
            // rankings must show it.
            const [la, lb] = [Math.exp(exact[a]), Math.exp(exact[b])];
            if (la - lb > lik.err[a] + lik.err[b] + HOST * la) {
              ctx.expect(
                lik.t.data[a] > lik.t.data[b],
                `likelihood ranks Θ${a} (${lik.t.data[a]}) below Θ${b} (${lik.t.data[b]})`,
              );
            }
            if (exact[a] - exact[b] > logLik.err[a] + logLik.err[b] + HOST * n * 5) {
              ctx.expect(
                logLik.t.data[a] > logLik.t.data[b],
                `log-likelihood ranks Θ${a} (${logLik.t.data[a]}) below Θ${b} (${logLik.t.data[b]})`,
              );
            }
          }
        }
      });
    },
  },
  {
    id: "A3a",
    topic: "likelihood",
    title:
      "the empirical class frequencies minimise the categorical negative log-likelihood over the simplex",
    note: "Note 001 (maximum likelihood): the MLE of a categorical distribution is the frequency of each class; any other q costs KL(q̂‖q) ≥ 0 more.",
    ops: ["log", "nll"],
    async check(ctx) {
      const tr = new Trail(ctx);
      const cases = fc.integer({ min: 2, max: 6 }).chain((c) =>
        fc.record({
          counts: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: c, maxLength: c }),
          others: fc.array(
            fc.array(fc.integer({ min: 1, max: 100 }), { minLength: c, maxLength: c }),
            { minLength: 1, maxLength: 3 },
          ),
        }),
      );
      await ctx.property(cases, async ({ counts, others }) => {
        const c = counts.length;
        const total = counts.reduce((a, b) => a + b, 0);
        fc.pre(total > 0);
        const labels = counts.flatMap((k, j) => Array<number>(k).fill(j));
        const target = indices([total], labels);
        const freq = counts.map((k) => k / total);
        const candidates = [freq];
        for (const w of others) {
          const sum = w.reduce((a, b) => a + b, 0);
          const r = w.map((v) => v / sum);
          candidates.push(r);
          // Near the optimum the gap is tiny: mixtures probe it at several distances.
          for (const lam of [0.3, 0.03])
            candidates.push(freq.map((f, j) => (1 - lam) * f + lam * r[j]));
        }
        const losses: Tracked[] = [];
        for (const q of candidates) {
          const rows = tr.input(
            [total, c],
            labels.flatMap(() => q),
          );
          const loss = await tr.nll(await tr.log(rows), target, "mean");
          const exact = fsum(labels.map((y) => -Math.log(rows.t.data[y])));
          tr.expectExact("nll(log q) vs −mean ln q_y", loss, [exact / total], 10 + Math.abs(exact));
          losses.push(loss);
        }
        const mle = losses[0];
        for (let i = 1; i < losses.length; i++) {
          // Rounding q to the dtype moves it off the simplex by a relative u: at most u of NLL.
          const slack = mle.err[0] + losses[i].err[0] + 2 * ctx.u;
          ctx.expect(
            mle.t.data[0] <= losses[i].t.data[0] + slack,
            `NLL at the frequencies ${mle.t.data[0]} exceeds NLL at q = [${candidates[i].map((v) => v.toFixed(4))}]: ${losses[i].t.data[0]}`,
          );
        }
      });
    },
  },
  {
    id: "A3b",
    topic: "likelihood",
    title: "the sample mean and the biased sample variance maximise the Gaussian log-likelihood",
    note: "Note 001 (Gaussian MLE): ∂ℓ/∂μ = 0 at the sample mean and ∂ℓ/∂σ² = 0 at Σ(x − x̄)²/n — not at the unbiased n − 1 version.",
    ops: ["mean", "variance"],
    async check(ctx) {
      const cases = fc.record({
        m: span(-5, 5),
        s: logUniform(0.1, 10),
        z: arrayOf(span(-3, 3), 2, 40),
      });
      await ctx.property(cases, async ({ m, s, z }) => {
        const x = ctx.t(
          [z.length],
          z.map((v) => m + s * v),
        );
        const n = x.data.length;
        const xbar = fsum(x.data) / n;
        const v = fsum(Array.from(x.data, (xi) => (xi - xbar) ** 2)) / n;
        const [mean, variance] = [
          await ctx.call("mean", { x }, { axis: 0 }),
          await ctx.call("variance", { x }, { axis: 0, unbiased: false }),
        ];
        const [bm, bv] = [
          await ctx.budget("mean", { x }, { axis: 0 }),
          await ctx.budget("variance", { x }, { axis: 0, unbiased: false }),
        ];
        // Precondition: data spread wide enough for the dtype to resolve the optimum (the probes
        // below sit 5% of σ and 2% of σ² away; a correct kernel must land well inside that).
        fc.pre(v > 0 && bm.fields.y.tol[0] < 0.01 * Math.sqrt(v) && bv.fields.y.tol[0] < 0.002 * v);
        const [mu, s2] = [mean.data[0], variance.data[0]];
        const logLik = (m0: number, v0: number) =>
          -0.5 * n * Math.log(2 * Math.PI * v0) -
          fsum(Array.from(x.data, (xi) => (xi - m0) ** 2)) / (2 * v0);
        const at = logLik(mu, s2);
        const sd = Math.sqrt(s2);
        const probes: [number, number][] = [
          ...[-0.5, -0.05, 0.05, 0.5].map((t): [number, number] => [mu + t * sd, s2]),
          ...[0.5, 0.9, 0.98, 1 / 0.98, 1 / 0.9, 2].map((r): [number, number] => [mu, s2 * r]),
        ];
        for (const [m0, v0] of probes) {
          const other = logLik(m0, v0);
          ctx.expect(
            at >= other - HOST * Math.abs(at),
            `ℓ(mean = ${mu}, variance = ${s2}) = ${at} < ℓ(${m0}, ${v0}) = ${other}: the backend's (mean, variance(unbiased: false)) is not the MLE (exact: ${xbar}, ${v})`,
          );
        }
      });
    },
  },
  {
    id: "A4a",
    topic: "likelihood",
    title:
      "the closed-form Gaussian log-density equals the log of the density, and stays finite where the density underflows",
    note: "Note 001 (benefits in Gaussian distribution): ln p = −½z² − ln σ − ½ln 2π avoids the exponential, so far tails keep a finite, exact log-density.",
    ops: ["sub", "div", "mul", "log", "exp"],
    async check(ctx) {
      const tr = new Trail(ctx);
      const point = fc.record({
        mu: span(-50, 50),
        sigma: logUniform(0.05, 20),
        z: span(-60, 60),
      });
      await ctx.property(fc.array(point, { minLength: 1, maxLength: 8 }), async (pts) => {
        const m = pts.length;
        const x = tr.input(
          [m],
          pts.map((p) => p.mu + p.sigma * p.z),
        );
        const mu = tr.input(
          [m],
          pts.map((p) => p.mu),
        );
        const sigma = tr.input(
          [m],
          pts.map((p) => p.sigma),
        );
        const z = await tr.div(await tr.sub(x, mu), sigma);
        const a = await tr.mul(await tr.mul(z, z), tr.constant([], -0.5));
        const logDensity = await tr.sub(
          await tr.sub(a, await tr.log(sigma)),
          tr.constant([], 0.5 * LN_2PI),
        );
        const density = await tr.div(
          await tr.exp(a),
          await tr.mul(sigma, tr.constant([], Math.sqrt(2 * Math.PI))),
        );
        const exact: number[] = [];
        const size: number[] = [];
        for (let i = 0; i < m; i++) {
          const zi = (x.t.data[i] - mu.t.data[i]) / sigma.t.data[i];
          exact.push(-0.5 * zi * zi - Math.log(sigma.t.data[i]) - 0.5 * LN_2PI);
          size.push(0.5 * zi * zi + Math.abs(Math.log(sigma.t.data[i])) + 1);
        }
        tr.expectExact("closed-form log-density vs exact", logDensity, exact, size);
        const logOfDensity = await tr.log(density);
        const exponent = exact.map(
          (_, i) => -0.5 * ((x.t.data[i] - mu.t.data[i]) / sigma.t.data[i]) ** 2,
        );
        expectDensityAgrees(tr, { logOfDensity, density, logDensity }, exact, exponent, size);
      });
    },
  },
  {
    id: "A4b",
    topic: "likelihood",
    title:
      "the multivariate Gaussian log-density −½(x−μ)ᵀΣ⁻¹(x−μ) − ½ln det Σ − (d/2)ln 2π matches the density and survives its underflow",
    note: "Note 001 (benefits in Gaussian distribution): in log space the quadratic form is a matmul and the normaliser a constant; the density itself underflows far out.",
    ops: ["sub", "matmul", "mul", "sum", "exp", "div", "log"],
    async check(ctx) {
      const tr = new Trail(ctx);
      const cases = fc.integer({ min: 1, max: 4 }).chain((d) =>
        fc.record({
          d: fc.constant(d),
          a: fc.array(span(-1, 1), { minLength: d * d, maxLength: d * d }),
          s: logUniform(0.2, 5),
          mu: fc.array(span(-5, 5), { minLength: d, maxLength: d }),
          pts: fc.array(
            fc.record({
              r: fc.constantFrom(0.5, 2, 40, 200),
              z: fc.array(span(-1, 1), { minLength: d, maxLength: d }),
            }),
            { minLength: 1, maxLength: 5 },
          ),
        }),
      );
      await ctx.property(cases, async ({ d, a, s, mu, pts }) => {
        const { l, inv, logDet } = gaussianFamily(a, d, s);
        const m = pts.length;
        // x = μ + r·L·z: r sets the Mahalanobis distance, from the bulk to far beyond underflow.
        const xs = pts.flatMap(({ r, z }) =>
          mu.map((mi, i) => mi + r * z.reduce((acc, zj, j) => acc + l[i * d + j] * zj, 0)),
        );
        const x = tr.input([m, d], xs);
        const mean = tr.input([1, d], mu);
        const precision = tr.input([d, d], inv);
        const norm = 0.5 * logDet + 0.5 * d * LN_2PI;
        const diff = await tr.sub(x, mean);
        const q = await tr.reduce("sum", await tr.mul(await tr.matmul(diff, precision), diff), 1);
        const half = await tr.mul(q, tr.constant([], -0.5));
        const logDensity = await tr.sub(half, tr.constant([], norm));
        const density = await tr.div(await tr.exp(half), tr.constant([], Math.exp(norm)));
        const exact: number[] = [];
        const size: number[] = [];
        for (let k = 0; k < m; k++) {
          const { q: qk, size: sz } = quadratic(
            x.t.data.subarray(k * d, (k + 1) * d),
            mean.t.data,
            precision.t.data,
            d,
          );
          exact.push(-0.5 * qk - norm);
          size.push(sz + Math.abs(norm));
        }
        tr.expectExact("closed-form log-density vs exact", logDensity, exact, size);
        const logOfDensity = await tr.log(density);
        const exponent = exact.map((e) => e + norm);
        expectDensityAgrees(tr, { logOfDensity, density, logDensity }, exact, exponent, size);
      });
    },
  },
  {
    id: "A5a",
    topic: "likelihood",
    title: "dropping −(d/2)·ln 2π, the shared ln det Σ and the ½ never changes the predicted class",
    note: "Note 001 (computational complexity): terms that are the same for every class shift all discriminants equally, so the arg-max class is unchanged.",
    ops: ["sub", "matmul", "mul", "sum", "neg"],
    async check(ctx) {
      const tr = new Trail(ctx);
      const cases = fc
        .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 5 }))
        .chain(([d, k]) =>
          fc.record({
            d: fc.constant(d),
            a: fc.array(span(-1, 1), { minLength: d * d, maxLength: d * d }),
            s: logUniform(0.3, 3),
            means: fc.array(fc.array(span(-3, 3), { minLength: d, maxLength: d }), {
              minLength: k,
              maxLength: k,
            }),
            x: fc.array(fc.array(span(-5, 5), { minLength: d, maxLength: d }), {
              minLength: 1,
              maxLength: 6,
            }),
          }),
        );
      await ctx.property(cases, async ({ d, a, s, means, x: pts }) => {
        const { inv, logDet } = gaussianFamily(a, d, s);
        const m = pts.length;
        const x = tr.input([m, d], pts.flat());
        const precision = tr.input([d, d], inv);
        // Three discriminants per class: full, without the 2π term, and −(x−μ)ᵀΣ⁻¹(x−μ) alone.
        const scores: Tracked[][] = [[], [], []];
        const exact: number[][][] = [[], [], []];
        for (const mu of means) {
          const mean = tr.input([1, d], mu);
          const diff = await tr.sub(x, mean);
          const q = await tr.reduce("sum", await tr.mul(await tr.matmul(diff, precision), diff), 1);
          const half = await tr.mul(q, tr.constant([], -0.5));
          const noPi = await tr.sub(half, tr.constant([], 0.5 * logDet));
          scores[0].push(await tr.sub(noPi, tr.constant([], 0.5 * d * LN_2PI)));
          scores[1].push(noPi);
          scores[2].push(await tr.neg(q));
          const qs = pts.map(
            (_, i) =>
              quadratic(x.t.data.subarray(i * d, (i + 1) * d), mean.t.data, precision.t.data, d).q,
          );
          exact[0].push(qs.map((qi) => -0.5 * qi - 0.5 * logDet - 0.5 * d * LN_2PI));
          exact[1].push(qs.map((qi) => -0.5 * qi - 0.5 * logDet));
          exact[2].push(qs.map((qi) => -qi));
        }
        for (let i = 0; i < m; i++) {
          const picks: number[] = [];
          for (let v = 0; v < 3; v++) {
            const ex = exact[v].map((row) => row[i]);
            const { arg, gap } = best(ex);
            const got = best(scores[v].map((sc) => sc.t.data[i]));
            // Decidable only if the exact runner-up is further than both error bounds.
            const errs = scores[v].map((sc) => sc.err[i]);
            const bound = 2 * Math.max(...errs) + HOST * (Math.max(...ex.map(Math.abs)) + 50);
            if (gap > bound) {
              ctx.expect(
                got.arg === arg,
                `discriminant ${["full", "without ln 2π", "−quadratic form"][v]} predicts class ${got.arg} for point ${i}, the exact arg-max is ${arg}`,
              );
              picks.push(got.arg);
            }
          }
          ctx.expect(
            new Set(picks).size <= 1,
            `point ${i}: the three discriminants predict different classes ${picks}`,
          );
        }
      });
    },
  },
  {
    id: "A5b",
    topic: "likelihood",
    title:
      "with a covariance per class, ln det Σₖ is not class-independent: dropping it can change the prediction",
    note: "Note 001 (computational complexity): ln det Σ may be dropped only when all classes share Σ; here a wide class beats a narrow one only because of it.",
    ops: ["sub", "div", "mul", "log"],
    async check(ctx) {
      // 1-D, both means 0, variances 1 and 100; at x = 1 the narrow class wins with its
      // normaliser (−0.5 vs −2.31) and loses without it (−0.5 vs −0.005).
      const x = ctx.t([2], [1, 1]);
      const variance = ctx.t([2], [1, 100]);
      const mean = ctx.t([2], [0, 0]);
      const d = await ctx.call("sub", { a: x, b: mean }, {});
      const quad = await ctx.call(
        "mul",
        {
          a: await ctx.call(
            "div",
            { a: await ctx.call("mul", { a: d, b: d }, {}), b: variance },
            {},
          ),
          b: ctx.t([], [-0.5]),
        },
        {},
      );
      const halfLogDet = await ctx.call(
        "mul",
        { a: await ctx.call("log", { x: variance }, {}), b: ctx.t([], [0.5]) },
        {},
      );
      const full = await ctx.call("sub", { a: quad, b: halfLogDet }, {});
      const argmax = (t: Tensor) => (t.data[1] > t.data[0] ? 1 : 0);
      ctx.expect(
        argmax(full) === 0,
        `with ln det Σₖ the narrow class 0 should win at x = 1: scores ${Array.from(full.data)}`,
      );
      ctx.expect(
        argmax(quad) === 1,
        `without ln det Σₖ the wide class 1 should win at x = 1: scores ${Array.from(quad.data)}`,
      );
    },
  },
  {
    id: "A6a",
    topic: "likelihood",
    title:
      "the Bernoulli likelihood θᵏ(1−θ)ⁿ⁻ᵏ integrates over θ to the Beta function B(k+1, n−k+1), not to 1",
    note: "Note 001 (probability vs likelihood): a likelihood is a function of the parameters, not a density over them; its area is k!(n−k)!/(n+1)! ≤ 1/(n+1).",
    ops: ["log", "mul", "add", "exp", "sum"],
    async check(ctx) {
      const tr = new Trail(ctx);
      // 24 Gauss–Legendre nodes integrate polynomials of degree ≤ 47 exactly: the only error
      // left is rounding, so the comparison with the Beta function is tight.
      const gl = gaussLegendre01(24);
      const cases = fc
        .integer({ min: 1, max: 40 })
        .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n })));
      await ctx.property(cases, async ([n, k]) => {
        const theta = tr.constant([24], gl.theta);
        const comp = tr.constant([24], gl.comp);
        const logLik = await tr.add(
          await tr.mul(await tr.log(theta), tr.constant([], k)),
          await tr.mul(await tr.log(comp), tr.constant([], n - k)),
        );
        const integral = await tr.reduce(
          "sum",
          await tr.mul(await tr.exp(logLik), tr.constant([24], gl.w)),
          0,
        );
        const beta = 1 / ((n + 1) * binomial(n, k));
        tr.expectExact(
          `∫θ^${k}(1−θ)^${n - k}dθ vs B(${k + 1}, ${n - k + 1})`,
          integral,
          [beta],
          64 * beta,
        );
        const area = integral.t.data[0];
        ctx.expect(
          Math.abs(area - 1) > integral.err[0],
          `the likelihood's area ${area} is indistinguishable from 1`,
        );
      });
    },
  },
  {
    id: "A6b",
    topic: "likelihood",
    title: "read as a distribution over outcomes k for a fixed θ, the same expression sums to 1",
    note: "Note 001 (probability vs likelihood): Σₖ C(n,k)θᵏ(1−θ)ⁿ⁻ᵏ = 1 — normalised over the data, not over θ; computed as a log-sum-exp of log-terms.",
    ops: ["log", "mul", "add", "logsumexp"],
    async check(ctx) {
      const tr = new Trail(ctx);
      const cases = fc.tuple(fc.integer({ min: 1, max: 200 }), span(1e-4, 1 - 1e-4));
      await ctx.property(cases, async ([n, th]) => {
        const ks = Array.from({ length: n + 1 }, (_, k) => k);
        const logC = tr.constant(
          [n + 1],
          ks.map((k) => Math.log(binomial(n, k))),
        );
        const theta = tr.input([1], [th]);
        const comp = tr.input([1], [1 - th]);
        const lt = await tr.log(theta);
        const lc = await tr.log(comp);
        const terms = await tr.add(
          await tr.add(logC, await tr.mul(tr.input([n + 1], ks), lt)),
          await tr.mul(
            tr.input(
              [n + 1],
              ks.map((k) => n - k),
            ),
            lc,
          ),
        );
        const total = await tr.logsumexp(terms);
        // θ and 1 − θ are rounded separately; their sum (exact in float64) is what the
        // binomial theorem sums to: (θ̃ + ω̃)ⁿ.
        const exact = n * Math.log1p(theta.t.data[0] + comp.t.data[0] - 1);
        const size = Math.max(
          ...ks.map(
            (k) =>
              Math.abs(logC.t.data[k]) +
              k * Math.abs(lt.t.data[0]) +
              (n - k) * Math.abs(lc.t.data[0]),
          ),
        );
        tr.expectExact(`log Σₖ C(${n},k)θᵏ(1−θ)ⁿ⁻ᵏ vs 0`, total, [exact], size);
      });
    },
  },
  ...bayesLaws(),
];

/** A7: Bayes on a grid of θ for Bernoulli data, all in log space. */
function bayesLaws(): Law[] {
  const G = 33;
  const grid = Array.from({ length: G }, (_, g) => (g + 0.5) / G);
  const comp = Array.from({ length: G }, (_, g) => (G - g - 0.5) / G);
  const cases = fc.record({
    // Coin flips with a bias from 0 to 1: skewed samples push the far end of the grid's
    // posterior below e^−100, where only a log-space computation keeps it.
    xs: fc
      .tuple(fc.integer({ min: 0, max: 10 }), arrayOf(fc.integer({ min: 0, max: 9 }), 1, 40))
      .map(([bias, us]) => us.map((u): number => (u < bias ? 1 : 0))),
    prior: fc.array(fc.integer({ min: 1, max: 100 }), { minLength: G, maxLength: G }),
  });

  /** The backend's per-observation log-likelihoods ln θ and ln(1 − θ), tracked. */
  async function setup(tr: Trail, prior: number[]) {
    const total = prior.reduce((a, b) => a + b, 0);
    const p = tr.input(
      [G],
      prior.map((w) => w / total),
    );
    const theta = tr.input([G], grid);
    const omega = tr.input([G], comp);
    const [lt, lw, lp] = [await tr.log(theta), await tr.log(omega), await tr.log(p)];
    /** Exact log posterior from the values the backend saw, and the magnitude of its terms. */
    const exact = (k: number, n: number) => {
      const a = Array.from(
        { length: G },
        (_, g) =>
          Math.log(p.t.data[g]) +
          k * Math.log(theta.t.data[g]) +
          (n - k) * Math.log(omega.t.data[g]),
      );
      const z = hostLse(a);
      return {
        logPost: a.map((v) => v - z),
        size: a.map((v) => Math.abs(v) + Math.abs(z) + n * 10),
      };
    };
    return { lt, lw, lp, exact };
  }

  return [
    {
      id: "A7a",
      topic: "likelihood",
      title:
        "the posterior is likelihood × prior, normalised: it matches the exact posterior and sums to 1",
      note: "Note 001 (Bayesian inference): P(Θ|X) = P(X|Θ)P(Θ)/P(X); in log space the evidence P(X) is a log-sum-exp, so softmax of the log joint is the posterior.",
      ops: ["log", "mul", "add", "softmax", "log_softmax"],
      async check(ctx) {
        const tr = new Trail(ctx);
        await ctx.property(cases, async ({ xs, prior }) => {
          const { lt, lw, lp, exact } = await setup(tr, prior);
          const n = xs.length;
          const k = xs.reduce((a, b) => a + b, 0);
          const logLik = await tr.add(
            await tr.mul(lt, tr.input([], [k])),
            await tr.mul(lw, tr.input([], [n - k])),
          );
          const joint = await tr.add(lp, logLik);
          const post = await tr.softmax(joint);
          const logPost = await tr.logSoftmax(joint);
          const { logPost: ex, size } = exact(k, n);
          tr.expectExact(
            "log_softmax(log prior + log-lik) vs exact log posterior",
            logPost,
            ex,
            size,
          );
          tr.expectExact(
            "softmax(log prior + log-lik) vs exact posterior",
            post,
            ex.map(Math.exp),
            ex.map((v, g) => Math.exp(v) * size[g]),
          );
          const mass = fsum(post.t.data);
          const allowed = post.err.reduce((a, b) => a + b, 0) + HOST;
          ctx.expect(
            Math.abs(mass - 1) <= allowed,
            `posterior sums to ${mass}, not 1 (allowed ±${allowed})`,
          );
        });
      },
    },
    {
      id: "A7b",
      topic: "likelihood",
      title:
        "updating the posterior one observation at a time equals one update on the whole batch",
      note: "Note 001 (Bayesian inference): yesterday's posterior is today's prior; renormalising after each datum (log_softmax) changes only a constant.",
      ops: ["log", "mul", "add", "log_softmax"],
      async check(ctx) {
        const tr = new Trail(ctx);
        await ctx.property(cases, async ({ xs, prior }) => {
          const { lt, lw, lp, exact } = await setup(tr, prior);
          const n = xs.length;
          const k = xs.reduce((a, b) => a + b, 0);
          let seq = await tr.logSoftmax(lp);
          for (const x of xs) seq = await tr.logSoftmax(await tr.add(seq, x === 1 ? lt : lw));
          const logLik = await tr.add(
            await tr.mul(lt, tr.input([], [k])),
            await tr.mul(lw, tr.input([], [n - k])),
          );
          const batch = await tr.logSoftmax(await tr.add(lp, logLik));
          const { logPost, size } = exact(k, n);
          tr.expectExact(`sequential posterior after ${n} updates vs exact`, seq, logPost, size);
          tr.expectExact("batch posterior vs exact", batch, logPost, size);
          const tol = seq.err.map((e, g) => e + batch.err[g] + 2 * HOST * size[g]);
          ctx.expectClose(
            "sequential vs batch log posterior",
            seq.t,
            batch.t.data,
            tol,
            "sum of both running bounds",
          );
        });
      },
    },
    {
      id: "A7c",
      topic: "likelihood",
      title:
        "with a flat prior the maximum a posteriori estimate is the maximum-likelihood estimate",
      note: "Note 001 (Bayesian inference): a flat prior adds the same constant to every log-likelihood, so the posterior peaks where the likelihood does.",
      ops: ["log", "mul", "add", "log_softmax"],
      async check(ctx) {
        const tr = new Trail(ctx);
        await ctx.property(cases, async ({ xs }) => {
          const { lt, lw, lp, exact } = await setup(tr, Array<number>(G).fill(1));
          const n = xs.length;
          const k = xs.reduce((a, b) => a + b, 0);
          const logLik = await tr.add(
            await tr.mul(lt, tr.input([], [k])),
            await tr.mul(lw, tr.input([], [n - k])),
          );
          const logPost = await tr.logSoftmax(await tr.add(lp, logLik));
          const { logPost: ex } = exact(k, n);
          const truth = best(ex);
          const bound = 2 * Math.max(...logPost.err, ...logLik.err) + HOST * n * 100;
          fc.pre(truth.gap > bound);
          const map = best(logPost.t.data).arg;
          const mle = best(logLik.t.data).arg;
          ctx.expect(
            map === mle,
            `MAP θ = ${grid[map]} but MLE θ = ${grid[mle]} (k = ${k} of n = ${n})`,
          );
          ctx.expect(
            mle === truth.arg,
            `MLE θ = ${grid[mle]}, exact grid MLE θ = ${grid[truth.arg]}`,
          );
        });
      },
    },
  ];
}
