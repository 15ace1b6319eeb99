/**
 * E. Dropout [notes 003, 004].
 *
 * The contract (src/engine/contract.ts): element i is dropped iff word 0 of Philox-4x32-10 at counter
 * [i, 0, 0, 0] with key seedKey(seed) is below dropThreshold(p); survivors are scaled by 1/(1−p).
 * The statistical laws below treat the mask as i.i.d. Bernoulli(p) draws, which is all a
 * backend with its own generator promises; only E4c asks for the Philox mask bit for bit.
 */
import fc from "fast-check";
import type { DropoutAttrs } from "../src/engine/contract.ts";
import { InvalidArgumentError } from "../src/engine/errors.ts";
import { dropMask } from "../src/engine/random.ts";
import type { Tensor } from "../src/engine/tensor.ts";
import { moderate, tensorOf } from "../src/harness/arbitraries.ts";
import type { Law, LawContext } from "../src/harness/law.ts";
import { ALPHA, binomialInterval } from "../src/harness/stats.ts";

/** Float64 unit roundoff: the slack for sums the law itself forms on the host. */
const U64 = 2 ** -53;

/**
 * Bernstein's inequality, two-sided: for a sum S of independent zero-mean terms with total
 * variance V and |term| ≤ M, P(|S| ≥ t) ≤ alpha at t = L·M/3 + √((L·M/3)² + 2·L·V),
 * L = ln(2/alpha). Unlike a z-test it holds for every sample size, not just asymptotically,
 * which matters this far in the tail (a Bernoulli sum is skewed at p = 0.9).
 */
function bernsteinBound(variance: number, maxTerm: number, alpha: number): number {
  const l = Math.log(2 / alpha);
  const a = (l * maxTerm) / 3;
  return a + Math.sqrt(a * a + 2 * l * variance);
}

/** Drop probabilities: 0, ordinary values, and the ends of the range (p → 1 scales by 1/(1−p)). */
const dropP = fc.oneof(
  fc.constant(0),
  fc.constantFrom(0.1, 0.25, 0.5, 0.8, 0.95),
  fc.double({ min: 0, max: 0.99, noNaN: true }),
);

/** Seeds: small ones and ones above 2^32, whose high word is the second Philox key word. */
const seeds = fc.oneof(fc.nat(), fc.maxSafeNat());

/** Activations that are never 0, so "the output is 0" means "the element was dropped". */
const nonZero = moderate(10).map((v) => (Math.abs(v) < 1e-3 ? 1 : v));

const vectorOf = (elem: fc.Arbitrary<number>, max = 200) =>
  fc.integer({ min: 1, max }).chain((n) => tensorOf([n], elem));

/** Positive activations h ∈ [0.5, 2), a fixed pattern, so a shrunken mean cannot cancel out. */
function positiveRamp(ctx: LawContext, n: number): Tensor {
  return ctx.t(
    [n],
    Array.from({ length: n }, (_, i) => 0.5 + ((i * 37) % 100) / 66.7),
  );
}

/** Indices of the zeros of a tensor: the dropped elements when the input has no zeros. */
function zeroPattern(t: Tensor): Uint8Array {
  return Uint8Array.from(t.data, (v) => (v === 0 ? 1 : 0));
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

const identityCase = fc.record({
  x: vectorOf(
    fc.oneof(
      moderate(10),
      fc.float({ noNaN: false }),
      fc.constantFrom(0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN),
    ),
    64,
  ),
  p: dropP,
  seed: seeds,
});

/**
 * E3a's cases. The law is about no value in particular, so a counterexample should read as the
 * bug ("x = [1], p = 0.5, output [2]"), not as a rounding complaint about subnormals, which is
 * where fc.float shrinks to. Ordinary values come first and shrink to 1 (a mantissa step and a
 * binade, both integers that shrink to 0); the edge values stay in the mix, and cross-shrinking
 * moves a failure found on one of them to an ordinary value whenever that fails too. p shrinks
 * to 0.5, neither to 0, where eval mode and training mode agree, nor to a p so small that the
 * wrong output is 1 + 2⁻²³.
 */
const ordinary = fc
  .tuple(fc.boolean(), fc.integer({ min: 0, max: 1023 }), fc.integer({ min: -30, max: 30 }))
  .map(([negative, step, binade]) => (negative ? -1 : 1) * (1 + step / 1024) * 2 ** binade);
const evalCase = fc.record({
  // An array, not vectorOf's length-then-values chain, so that the length shrinks too.
  x: fc
    .array(
      fc.oneof(
        { withCrossShrink: true },
        ordinary,
        fc.float({ noNaN: false }),
        fc.constantFrom(0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN),
      ),
      { minLength: 1, maxLength: 64 },
    )
    .map((values) => ({ shape: [values.length], values })),
  // p ∈ [0, 0.99] in steps of 10⁻⁶, shrinking to 0.5; and the ends.
  p: fc.oneof(
    { withCrossShrink: true },
    fc.integer({ min: -500_000, max: 490_000 }).map((k) => (500_000 + k) / 1e6),
    fc.constantFrom(0, 0.99),
  ),
  seed: seeds,
});

export const dropoutLaws: Law[] = [
  {
    id: "E1",
    topic: "dropout",
    title:
      "inverted dropout preserves the expectation: the survivors' rescaling by 1/(1−p) makes E[h′] = h",
    note: "Note 004: h′ is 0 with probability p and h/(1−p) otherwise, so nothing needs rescaling at test time; forgetting the 1/(1−p) shrinks every activation by 1−p.",
    ops: ["dropout"],
    statistical: {
      test: "Bernstein bound on Σh′ − Σh (variance Σh²·p/(1−p) known from p and h), 4 drop rates, Bonferroni",
      alpha: ALPHA,
      detects:
        "dropout without rescaling (mean off by p·Σh, ≥ 5× the bound at p = 0.1) and scaling by 1/p instead of 1/(1−p) (mean ×(1−p)²/p: ≥ 0.11 or ≤ 0.43 of Σh apart at p ∈ {0.1, 0.3, 0.7, 0.9})",
    },
    async check(ctx) {
      // n = 20 000 per rate: at p = 0.1, Σh ≈ 25 000, the bound ≈ 440 and the unscaled sum
      // misses by 2 500, more than the two bounds (correct and buggy) put together.
      const n = 20_000;
      const rates = [0.1, 0.3, 0.7, 0.9];
      const x = positiveRamp(ctx, n);
      for (const [k, p] of rates.entries()) {
        const attrs: DropoutAttrs = { p, seed: ctx.seedFor(k), training: true };
        const y = await ctx.call("dropout", { x }, attrs);
        const { fields } = await ctx.budget("dropout", { x }, attrs);
        let sum = 0;
        let expected = 0;
        let variance = 0;
        let maxH = 0;
        let rounding = 0;
        let sumAbs = 0;
        for (let i = 0; i < n; i++) {
          const h = x.data[i];
          sum += y.data[i];
          sumAbs += Math.abs(y.data[i]);
          expected += h;
          variance += (h * h * p) / (1 - p);
          maxH = Math.max(maxH, h);
          rounding += fields.y.tol[i];
        }
        // Each centred term h·(B/(1−p) − 1) is h·p/(1−p) or −h.
        const bound = bernsteinBound(
          variance,
          maxH * Math.max(1, p / (1 - p)),
          ALPHA / rates.length,
        );
        const allowed = bound + rounding + n * U64 * sumAbs;
        ctx.expect(
          Math.abs(sum - expected) <= allowed,
          `p = ${p}: Σ dropout(h) = ${sum} but Σ h = ${expected} (|diff| ${Math.abs(sum - expected).toFixed(1)} > ${allowed.toFixed(1)}: Bernstein bound at α = ${ALPHA / rates.length} plus rounding); mean ratio ${(sum / expected).toFixed(4)}, rescaling by 1/(1−p) would give 1`,
        );
      }
    },
  },
  {
    id: "E2a",
    topic: "dropout",
    title: "every dropout output is either exactly 0 or the input scaled by 1/(1−p)",
    note: "Note 004: the two cases of inverted dropout; any third value (a scale of 1/p, a missing scale) breaks the expectation the next layer relies on.",
    ops: ["dropout"],
    async check(ctx) {
      await ctx.property(
        vectorOf(moderate(100)),
        dropP,
        seeds,
        async ({ shape, values }, p, seed) => {
          const x = ctx.t(shape, values);
          const attrs: DropoutAttrs = { p, seed, training: true };
          const y = await ctx.call("dropout", { x }, attrs);
          const { fields } = await ctx.budget("dropout", { x }, attrs);
          for (let i = 0; i < y.data.length; i++) {
            const v = y.data[i];
            const scaled = x.data[i] / (1 - p);
            ctx.expect(
              v === 0 || Math.abs(v - scaled) <= fields.y.tol[i],
              `p = ${p}, seed = ${seed}: output ${i} is ${v}, neither 0 nor h/(1−p) = ${scaled} (h = ${x.data[i]}, allowed ±${fields.y.tol[i]}: ${fields.y.rule})`,
            );
          }
        },
      );
    },
  },
  {
    id: "E2b",
    topic: "dropout",
    title: "dropout zeroes a fraction p of the elements (exact binomial test)",
    note: "Note 004 (and 003, which speaks of p as the keep probability): p is the probability of dropping; a kernel that reads it as the keep probability drops 1−p.",
    ops: ["dropout"],
    statistical: {
      test: "exact two-sided binomial acceptance interval for the number of zeros, 3 drop rates, Bonferroni",
      alpha: ALPHA,
      detects:
        "p read as the keep probability (zero fraction 1−p: ≥ 8 000 of 20 000 away at p ∈ {0.1, 0.3, 0.75}, the interval is at most ±430), and any drop rate off by 0.05 or more",
    },
    async check(ctx) {
      const n = 20_000;
      const rates = [0.1, 0.3, 0.75];
      const x = ctx.t([n], 1);
      for (const [k, p] of rates.entries()) {
        const y = await ctx.call(
          "dropout",
          { x },
          { p, seed: ctx.seedFor(10 + k), training: true },
        );
        let zeros = 0;
        for (const v of y.data) if (v === 0) zeros++;
        const [lo, hi] = binomialInterval(n, p, ALPHA / rates.length);
        ctx.expect(
          zeros >= lo && zeros <= hi,
          `p = ${p}: ${zeros} of ${n} outputs are 0 (fraction ${(zeros / n).toFixed(4)}), outside the binomial acceptance interval [${lo}, ${hi}] at α = ${ALPHA / rates.length}`,
        );
      }
    },
  },
  {
    id: "E3a",
    topic: "dropout",
    title: "in evaluation mode dropout is the identity, bit for bit, whatever p and the seed",
    note: "Note 003: dropout is not used when predicting with the trained network; inverted dropout already did the rescaling during training, so nothing is left to do.",
    ops: ["dropout"],
    async check(ctx) {
      await ctx.property(evalCase, async ({ x: { shape, values }, p, seed }) => {
        const x = ctx.t(shape, values);
        const y = await ctx.call("dropout", { x }, { p, seed, training: false });
        const i = sameBits(y.data, x.data);
        ctx.expect(
          i < 0,
          `eval mode, p = ${p}: output ${i} is ${y.data[i]}, input was ${x.data[i]}`,
        );
      });
    },
  },
  {
    id: "E3b",
    topic: "dropout",
    title: "dropout with p = 0 is the identity, bit for bit, even in training mode",
    note: "Note 004: with p = 0 nothing is dropped and the scale 1/(1−p) is exactly 1; a kernel that drops anyway (a ≤ threshold test) or rounds the scale is wrong.",
    ops: ["dropout"],
    async check(ctx) {
      await ctx.property(identityCase, async ({ x: { shape, values }, seed }) => {
        const x = ctx.t(shape, values);
        const y = await ctx.call("dropout", { x }, { p: 0, seed, training: true });
        const i = sameBits(y.data, x.data);
        ctx.expect(
          i < 0,
          `p = 0, seed = ${seed}: output ${i} is ${y.data[i]}, input was ${x.data[i]}`,
        );
      });
    },
  },
  {
    id: "E3c",
    topic: "dropout",
    title: "a drop probability outside [0, 1) is rejected with an error naming dropout and p",
    note: "Note 004: p = 1 would divide by 1 − p = 0 and a negative or NaN p is no probability; failing loudly beats a silent NaN network.",
    ops: ["dropout"],
    async check(ctx) {
      const x = ctx.t([4], [1, -2, 3, 0.5]);
      for (const p of [1, -0.1, Number.NaN, 1.5, Number.POSITIVE_INFINITY]) {
        for (const training of [true, false]) {
          let error: unknown;
          try {
            await ctx.call("dropout", { x }, { p, seed: 1, training });
          } catch (e) {
            error = e;
          }
          ctx.expect(
            error instanceof InvalidArgumentError && error.op === "dropout" && error.arg === "p",
            `dropout with p = ${p} (training ${training}) ${error === undefined ? "returned a result" : `threw ${String(error)}`}; expected an InvalidArgumentError for op 'dropout', argument 'p'`,
          );
        }
      }
    },
  },
  {
    id: "E4a",
    topic: "dropout",
    title: "the same seed gives the same mask, even after calls with other seeds",
    note: "Note 004 and the counter-based contract: the mask is a pure function of (seed, index), so a forward pass can be replayed; a stateful generator breaks this.",
    ops: ["dropout"],
    async check(ctx) {
      await ctx.property(vectorOf(nonZero), dropP, seeds, async ({ shape, values }, p, seed) => {
        const x = ctx.t(shape, values);
        const first = await ctx.call("dropout", { x }, { p, seed, training: true });
        await ctx.call("dropout", { x }, { p, seed: (seed + 1) % 2 ** 53, training: true });
        const again = await ctx.call("dropout", { x }, { p, seed, training: true });
        const [a, b] = [zeroPattern(first), zeroPattern(again)];
        const i = a.findIndex((v, k) => v !== b[k]);
        ctx.expect(
          i < 0,
          `p = ${p}, seed = ${seed}: element ${i} was ${a[i] ? "dropped" : "kept"} on the first call and ${b[i] ? "dropped" : "kept"} on a later call with the same seed`,
        );
      });
    },
  },
  {
    id: "E4b",
    topic: "dropout",
    title: "different seeds give independent masks, including seeds that differ only above bit 32",
    note: "Note 004: Monte-Carlo dropout averages over many masks; a kernel that ignores the seed, or keeps only its low 32 bits, repeats one mask.",
    ops: ["dropout"],
    statistical: {
      test: "exact binomial interval for the number of positions where two masks agree (Bin(n, p² + (1−p)²)), 3 seed pairs, Bonferroni",
      alpha: ALPHA,
      detects:
        "a seed that is ignored or truncated to 32 bits (all 4 096 positions agree; the interval is 2 048 ± 201), and masks that share most of their bits",
    },
    async check(ctx) {
      const n = 4096;
      const p = 0.5;
      const x = ctx.t([n], 1);
      const base = ctx.seedFor(20);
      const pairs: [number, number][] = [
        [base, base + 1],
        [base, base + 2 ** 32],
        [base + 2 ** 40, base + 2 ** 41],
      ];
      const [lo, hi] = binomialInterval(n, p * p + (1 - p) * (1 - p), ALPHA / pairs.length);
      for (const [s, t] of pairs) {
        const a = zeroPattern(await ctx.call("dropout", { x }, { p, seed: s, training: true }));
        const b = zeroPattern(await ctx.call("dropout", { x }, { p, seed: t, training: true }));
        let agree = 0;
        for (let i = 0; i < n; i++) if (a[i] === b[i]) agree++;
        ctx.expect(
          agree >= lo && agree <= hi,
          `seeds ${s} and ${t}: the masks agree on ${agree} of ${n} positions, outside [${lo}, ${hi}] expected of independent masks (α = ${ALPHA / pairs.length})`,
        );
      }
    },
  },
  {
    id: "E4c",
    topic: "dropout",
    title:
      "the dropout mask is the Philox-4x32-10 reference mask bit for bit, so CPU and GPU draw the same mask from the same seed",
    note: "Note 004 and the contract: a counter-based RNG makes the mask a pure function of (seed, index), so every backend that claims Philox must drop exactly the same elements.",
    ops: ["dropout"],
    appliesTo: (b) => b.rng === "philox4x32-10",
    async check(ctx) {
      await ctx.property(
        vectorOf(nonZero, 300),
        dropP,
        seeds,
        async ({ shape, values }, p, seed) => {
          const x = ctx.t(shape, values);
          const y = await ctx.call("dropout", { x }, { p, seed, training: true });
          const keep = dropMask(seed, p, y.data.length);
          for (let i = 0; i < keep.length; i++) {
            ctx.expect(
              (y.data[i] !== 0) === (keep[i] === 1),
              `p = ${p}, seed = ${seed}: element ${i} was ${y.data[i] === 0 ? "dropped" : "kept"}, the Philox mask ${keep[i] ? "keeps" : "drops"} it`,
            );
          }
        },
      );
    },
  },
  {
    id: "E5",
    topic: "dropout",
    title:
      "the dropout backward pass uses the forward's mask and scale: dx = dy/(1−p) where kept, 0 where dropped",
    note: "Note 004: dropout is y = m ⊙ x/(1−p), so ∂y/∂x is the same mask and scale; a backward that redraws the mask sends gradient to units that were dropped.",
    ops: ["dropout", "dropout_vjp"],
    async check(ctx) {
      await ctx.property(
        vectorOf(nonZero).chain((x) => fc.tuple(fc.constant(x), tensorOf(x.shape, moderate(10)))),
        dropP,
        seeds,
        async ([{ shape, values }, g], p, seed) => {
          const x = ctx.t(shape, values);
          const dy = ctx.t(shape, g.values);
          const attrs: DropoutAttrs = { p, seed, training: true };
          const y = await ctx.call("dropout", { x }, attrs);
          const dx = await ctx.call("dropout_vjp", { x, dy }, attrs);
          // The gradient applies the same map to dy, so dropout's own budget applies to it.
          const { fields } = await ctx.budget("dropout", { x: dy }, attrs);
          for (let i = 0; i < dx.data.length; i++) {
            const kept = y.data[i] !== 0;
            const want = kept ? dy.data[i] / (1 - p) : 0;
            const ok = kept ? Math.abs(dx.data[i] - want) <= fields.y.tol[i] : dx.data[i] === 0;
            ctx.expect(
              ok,
              `p = ${p}, seed = ${seed}: the forward ${kept ? "kept" : "dropped"} element ${i}, so dx should be ${want} (dy = ${dy.data[i]}), got ${dx.data[i]}`,
            );
          }
        },
      );
    },
  },
  {
    id: "E6",
    topic: "dropout",
    title:
      "Monte-Carlo dropout: the mean of many stochastic passes through a linear layer converges to the evaluation-mode output, with a non-zero spread",
    note: "Note 004: keeping dropout on at test time and averaging several passes estimates the prediction and, from the spread, its uncertainty.",
    ops: ["dropout", "matmul"],
    statistical: {
      test: "Bernstein bound on each output's mean over T = 256 passes (variance Σ(wᵢhᵢ)²·p/(1−p)/T known), Bonferroni over outputs; spread > 0",
      alpha: ALPHA,
      detects:
        "dropout without rescaling (mean off by p·|y| ≈ 9, the bound is ≈ 1.6), scaling by 1/p, and a seed that is ignored (every pass equal: zero spread)",
    },
    async check(ctx) {
      const [b, d, h] = [2, 32, 4];
      const passes = 256;
      const p = 0.3;
      // Positive weights and inputs: the eval output is far from 0 and a shrunken mean shows.
      const x = ctx.t(
        [b, d],
        Array.from({ length: b * d }, (_, i) => 0.5 + ((i * 29) % 50) / 50),
      );
      const w = ctx.t(
        [d, h],
        Array.from({ length: d * h }, (_, i) => 0.5 + ((i * 13) % 40) / 40),
      );
      const evalX = await ctx.call("dropout", { x }, { p, seed: 0, training: false });
      const evalY = await ctx.call("matmul", { a: evalX, b: w }, {});
      const sums = new Float64Array(b * h);
      const firstPass = new Float64Array(b * h);
      const spread = new Uint8Array(b * h);
      for (let t = 0; t < passes; t++) {
        const dropped = await ctx.call(
          "dropout",
          { x },
          { p, seed: ctx.seedFor(100 + t), training: true },
        );
        const y = await ctx.call("matmul", { a: dropped, b: w }, {});
        for (let o = 0; o < b * h; o++) {
          sums[o] += y.data[o];
          if (t === 0) firstPass[o] = y.data[o];
          else if (y.data[o] !== firstPass[o]) spread[o] = 1;
        }
      }
      // Rounding: a pass's product is within the matmul budget of the all-kept input x/(1−p)
      // (the budget grows with |a|, and all entries are positive), plus the dropout budget
      // carried through w; the eval output has its own matmul budget.
      const allKept = ctx.t(
        [b, d],
        Array.from(x.data, (v) => v / (1 - p)),
      );
      const mm = await ctx.budget("matmul", { a: allKept, b: w }, {});
      const ev = await ctx.budget("matmul", { a: evalX, b: w }, {});
      const dr = await ctx.budget("dropout", { x }, { p, seed: 0, training: true });
      const alpha = ALPHA / (b * h);
      for (let r = 0; r < b; r++) {
        for (let c = 0; c < h; c++) {
          const o = r * h + c;
          let variance = 0;
          let maxTerm = 0;
          let carried = 0;
          for (let k = 0; k < d; k++) {
            const wh = w.data[k * h + c] * x.data[r * d + k];
            variance += (wh * wh * p) / (1 - p);
            maxTerm = Math.max(maxTerm, Math.abs(wh) * Math.max(1, p / (1 - p)));
            carried += Math.abs(w.data[k * h + c]) * dr.fields.y.tol[r * d + k];
          }
          const bound = bernsteinBound(passes * variance, maxTerm, alpha) / passes;
          const rounding =
            mm.fields.y.tol[o] +
            carried +
            ev.fields.y.tol[o] +
            4 * passes * U64 * Math.abs(sums[o] / passes);
          const mean = sums[o] / passes;
          ctx.expect(
            Math.abs(mean - evalY.data[o]) <= bound + rounding,
            `output (${r}, ${c}): the mean of ${passes} dropout passes is ${mean}, the eval-mode output ${evalY.data[o]} (|diff| ${Math.abs(mean - evalY.data[o])} > ${bound + rounding}: Bernstein bound at α = ${alpha} plus rounding)`,
          );
          ctx.expect(
            spread[o] === 1,
            `output (${r}, ${c}): all ${passes} Monte-Carlo passes gave ${firstPass[o]}: no spread, so no uncertainty estimate (are the seeds used?)`,
          );
        }
      }
    },
  },
];
