/**
 * H. Regularisation and model selection [notes 003, 004].
 *
 * The penalty gradient and the input noise run on the backend; SGD, max-norm, early stopping
 * and k-fold are host utilities (src/engine/nn.ts) whose semantics the laws pin down, in the backend's
 * dtype.
 */
import fc from "fast-check";
import { Tape } from "../src/engine/autograd.ts";
import { earlyStopping, inputNoise, kFold, maxNorm, sgdStep } from "../src/engine/nn.ts";
import { moderate, tensorOf } from "../src/harness/arbitraries.ts";
import type { Law, LawContext } from "../src/harness/law.ts";
import { ALPHA, zTestMean } from "../src/harness/stats.ts";
import { budgetFor } from "../src/harness/tolerance.ts";

/** Positive float32-representable values in [lo, hi]. */
const positive = (lo: number, hi: number) =>
  fc
    .integer({ min: Math.round(lo * 1e6), max: Math.round(hi * 1e6) })
    .map((i) => Math.fround(i / 1e6));

function rowNorm(data: ArrayLike<number>, row: number, cols: number): number {
  let s = 0;
  for (let k = 0; k < cols; k++) s += data[row * cols + k] ** 2;
  return Math.sqrt(s);
}

/**
 * Validation-loss sequences with a known answer: each epoch after the first either improves on
 * the best by more than minDelta, or does not (a rise, a tie, or a dip of exactly minDelta or
 * less: the boundary cases). Values are multiples of 1/64, so every comparison is exact.
 */
const stoppingCase = fc
  .tuple(
    fc.integer({ min: 1, max: 5 }),
    fc.constantFrom(0, 1 / 64, 1 / 8, 1 / 2),
    fc.array(
      fc.oneof(fc.constant("improve"), fc.constant("rise"), fc.constant("tie"), fc.constant("dip")),
      { minLength: 0, maxLength: 25 },
    ),
    fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 25, maxLength: 25 }),
  )
  .map(([patience, minDelta, moves, steps]) => {
    const losses = [16];
    let best = 16;
    const improving: boolean[] = [true];
    moves.forEach((move, e) => {
      const step = steps[e] / 64;
      let v: number;
      if (move === "improve") v = best - minDelta - step;
      else if (move === "rise") v = best + step;
      else if (move === "tie") v = best;
      else v = best - minDelta; // improves by exactly minDelta: not "more than"
      losses.push(v);
      improving.push(move === "improve");
      if (move === "improve") best = v;
    });
    return { patience, minDelta, losses, improving };
  });

/** The stop epoch implied by the improvement pattern: the first run of `patience` non-improving epochs. */
function expectedStop(
  improving: boolean[],
  patience: number,
): { stopEpoch: number | null; bestEpoch: number } {
  let bestEpoch = 0;
  for (let e = 1; e < improving.length; e++) {
    if (improving[e]) bestEpoch = e;
    else if (e - bestEpoch >= patience) return { stopEpoch: e, bestEpoch };
  }
  return { stopEpoch: null, bestEpoch };
}

export const regularizationLaws: Law[] = [
  {
    id: "H1a",
    topic: "regularization",
    title:
      "the L2 penalty λ/2·‖w‖², differentiated by the backend, adds exactly λ·w to the data gradient",
    note: "Note 003 (weight penalty): weight decay is a term of the loss; its gradient λ·w must come out of the kernels (mul, sum, add and their vjps) and add to the data gradient, nothing more.",
    ops: [
      "matmul",
      "matmul_vjp",
      "mse",
      "mse_vjp",
      "mul",
      "mul_vjp",
      "sum",
      "sum_vjp",
      "add",
      "add_vjp",
    ],
    async check(ctx) {
      const cases = fc
        .tuple(
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 1, max: 3 }),
          fc.constantFrom(1e-4, 1e-2, 0.5),
        )
        .chain(([n, d, c, lambda]) =>
          fc.tuple(
            tensorOf([n, d], moderate(2)),
            tensorOf([d, c], moderate(2)),
            tensorOf([n, c], moderate(2)),
            fc.constant(lambda),
          ),
        );
      await ctx.property(cases, async ([x, w, y, lambda]) => {
        const X = ctx.t(x.shape, x.values);
        const W = ctx.t(w.shape, w.values);
        const Y = ctx.t(y.shape, y.values);
        const run = async (penalised: boolean) => {
          const tape = new Tape(ctx.backend, { call: (op, i, a) => ctx.call(op, i, a) });
          const wv = tape.leaf(W);
          const pred = await tape.op("matmul", { a: tape.constant(X), b: wv }, {});
          let loss = await tape.op("mse", { pred, target: tape.constant(Y) }, { reduction: "sum" });
          if (penalised) {
            const squares = await tape.op("mul", { a: wv, b: wv }, {});
            const total = await tape.op(
              "sum",
              { x: await tape.op("sum", { x: squares }, { axis: 1 }) },
              { axis: 0 },
            );
            const penalty = await tape.op(
              "mul",
              { a: tape.constant(ctx.t([], lambda / 2)), b: total },
              {},
            );
            loss = await tape.op("add", { a: loss, b: penalty }, {});
          }
          await tape.backward(loss);
          return { g: wv.grad?.data ?? new Float64Array(0), dpred: pred.grad };
        };
        const [withPenalty, data] = [await run(true), await run(false)];
        // The penalty path rounds λ/2, λ/2·2w and the final sum (a few u of λ|w| and |g|); the
        // two data gradients may differ by matmul_vjp's budget if the kernel is not bitwise
        // deterministic.
        const { ulps, factor } = budgetFor(ctx.backend, "matmul_vjp");
        const n = x.shape[0];
        const expected = Float64Array.from(data.g, (g, i) => g + lambda * W.data[i]);
        const tol = Float64Array.from(expected, (e, i) => {
          const [row, col] = [Math.floor(i / w.shape[1]), i % w.shape[1]];
          let terms = 0;
          for (let r = 0; r < n; r++)
            terms += Math.abs(
              X.data[r * x.shape[1] + row] * (data.dpred?.data[r * w.shape[1] + col] ?? 0),
            );
          return (
            ctx.u * (4 * ulps * (Math.abs(e) + lambda * Math.abs(W.data[i]))) +
            2 * ctx.u * factor * (n + 1 + 2 * ulps) * terms +
            2 ** -126
          );
        });
        ctx.expectClose(
          `∇(L + λ/2·‖w‖²) vs ∇L + λw (λ = ${lambda})`,
          { shape: w.shape, data: withPenalty.g },
          expected,
          tol,
          "4k·u·(|∇L + λw| + λ|w|) + 2·matmul_vjp term bound",
        );
      });
    },
  },
  {
    id: "H1b",
    topic: "regularization",
    title:
      "an SGD step with weight decay λ equals shrinking the weights by the factor (1 − lr·λ) and then taking the plain step",
    note: "Note 003: for plain SGD, L2 weight decay and multiplicative weight shrinkage are the same update, w ← (1 − lr·λ)·w − lr·g; with a zero gradient the weights decay geometrically.",
    ops: [],
    async check(ctx) {
      const cases = fc.tuple(
        tensorOf([6], moderate(10)),
        tensorOf([6], moderate(10)),
        fc.constantFrom(1e-3, 0.01, 0.1),
        fc.constantFrom(1e-4, 1e-2, 0.5),
        fc.integer({ min: 1, max: 20 }),
      );
      await ctx.property(cases, async ([w, g, lr, lambda, steps]) => {
        const W = ctx.t(w.shape, w.values);
        const G = ctx.t(g.shape, g.values);
        const [decayed] = sgdStep([W], [G], { lr, weightDecay: lambda });
        const shrunk = Float64Array.from(W.data, (v, i) => (1 - lr * lambda) * v - lr * G.data[i]);
        // Both are exact in float64 up to a few u₆₄; rounding to the dtype adds one u.
        const tol = Float64Array.from(
          shrunk,
          (v, i) =>
            ctx.u * Math.abs(v) + 8 * 2 ** -53 * (Math.abs(W.data[i]) + lr * Math.abs(G.data[i])),
        );
        ctx.expectClose(
          "sgdStep with weight decay vs (1 − lr·λ)·w − lr·g",
          decayed,
          shrunk,
          tol,
          "u·|w′| + 8·u₆₄·(|w| + lr·|g|)",
        );
        // With no data gradient, k steps multiply the weights by (1 − lr·λ)^k.
        let cur = W;
        const zero = ctx.t(w.shape, 0);
        for (let k = 0; k < steps; k++) [cur] = sgdStep([cur], [zero], { lr, weightDecay: lambda });
        const factor = (1 - lr * lambda) ** steps;
        ctx.expectClose(
          `${steps} decay-only steps vs w·(1 − lr·λ)^${steps}`,
          cur,
          Float64Array.from(W.data, (v) => v * factor),
          Float64Array.from(W.data, (v) => 2 * steps * ctx.u * Math.abs(v * factor) + 2 ** -126),
          "2·steps·u·|w·(1 − lr·λ)^steps|",
        );
      });
    },
  },
  {
    id: "H2",
    topic: "regularization",
    title:
      "a max-norm constraint leaves every row within the bound c, rescales rows above it to norm c without turning them, leaves the others bit for bit, and is idempotent",
    note: "Note 003 (weight constraint): max-norm projects each unit's weight vector onto the ball of radius c; rows already inside are untouched, and projecting twice changes nothing.",
    ops: [],
    async check(ctx) {
      const cases = fc
        .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 8 }), positive(0.05, 10))
        .chain(([r, c, bound]) =>
          fc.tuple(tensorOf([r, c], fc.oneof(moderate(1), moderate(20))), fc.constant(bound)),
        );
      await ctx.property(cases, async ([{ shape, values }, c]) => {
        const W = ctx.t(shape, values);
        const out = maxNorm(W, c);
        const cols = shape[1];
        for (let r = 0; r < shape[0]; r++) {
          const before = rowNorm(W.data, r, cols);
          const after = rowNorm(out.data, r, cols);
          ctx.expect(after <= c, `row ${r} has norm ${after} > c = ${c}`);
          if (before <= c) {
            for (let k = 0; k < cols; k++)
              ctx.expect(
                Object.is(out.data[r * cols + k], W.data[r * cols + k]),
                `row ${r} (norm ${before} ≤ c) was changed`,
              );
            continue;
          }
          // Rounding each entry moves the norm by ≤ u·c; the nudge that keeps it ≤ c by a few u more.
          ctx.expect(
            after >= c * (1 - 40 * ctx.u),
            `row ${r} was rescaled to norm ${after}, not c = ${c}`,
          );
          const scale = c / before;
          for (let k = 0; k < cols; k++) {
            const [v, e] = [out.data[r * cols + k], W.data[r * cols + k] * scale];
            ctx.expect(
              Math.abs(v - e) <= 40 * ctx.u * Math.abs(e) + 2 ** -126,
              `row ${r} turned: entry ${k} is ${v}, expected ${e}`,
            );
          }
        }
        const twice = maxNorm(out, c);
        for (const [i, v] of twice.data.entries()) {
          ctx.expect(
            Object.is(v, out.data[i]),
            `max-norm is not idempotent at ${i}: ${out.data[i]} → ${v}`,
          );
        }
      });
    },
  },
  {
    id: "H3a",
    topic: "regularization",
    title:
      "early stopping never stops while the validation loss keeps improving by more than minDelta, and then returns the last epoch as the best",
    note: "Note 004 (early stopping): training continues as long as the validation error keeps falling by more than ε.",
    ops: [],
    async check(ctx) {
      const cases = fc.tuple(
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom(0, 1 / 64, 1 / 8),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 30 }),
      );
      await ctx.property(cases, ([patience, minDelta, steps]) => {
        const losses = [100];
        for (const s of steps) losses.push(losses[losses.length - 1] - minDelta - s / 64);
        const { stopEpoch, bestEpoch } = earlyStopping(losses, { patience, minDelta });
        ctx.expect(
          stopEpoch === null,
          `stopped at epoch ${stopEpoch} while every epoch improved by more than ${minDelta}`,
        );
        ctx.expect(
          bestEpoch === losses.length - 1,
          `best epoch ${bestEpoch}, expected the last (${losses.length - 1})`,
        );
      });
    },
  },
  {
    id: "H3b",
    topic: "regularization",
    title:
      "early stopping stops exactly at the epoch that completes `patience` epochs without an improvement of more than minDelta, and returns the epoch of the last improvement",
    note: "Note 004: stop when the validation error has not decreased by more than ε for `patience` epochs; a dip of exactly ε is not an improvement, and the checkpoint to restore is the last real improvement.",
    ops: [],
    async check(ctx) {
      await ctx.property(stoppingCase, ({ patience, minDelta, losses, improving }) => {
        const got = earlyStopping(losses, { patience, minDelta });
        const want = expectedStop(improving, patience);
        ctx.expect(
          got.stopEpoch === want.stopEpoch,
          `stopped at ${got.stopEpoch}, expected ${want.stopEpoch} (patience ${patience}, minDelta ${minDelta}, losses ${losses.join(", ")})`,
        );
        ctx.expect(
          got.bestEpoch === want.bestEpoch,
          `best epoch ${got.bestEpoch}, expected ${want.bestEpoch} (losses ${losses.join(", ")})`,
        );
        ctx.expect(
          got.bestLoss === losses[want.bestEpoch],
          `best loss ${got.bestLoss} is not the loss of epoch ${want.bestEpoch}`,
        );
      });
    },
  },
  {
    id: "H3c",
    topic: "regularization",
    title:
      "on any loss sequence, no epoch up to the stop beats the returned best by more than minDelta, and with minDelta = 0 the best is the first minimum",
    note: "Note 004: the best checkpoint is the one no later epoch improved on; stopping patience epochs after it is what the rule means.",
    ops: [],
    async check(ctx) {
      const cases = fc.tuple(
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(0, 1 / 8, 1),
      );
      await ctx.property(cases, ([ints, patience, minDelta]) => {
        const losses = ints.map((i) => i / 8);
        const { stopEpoch, bestEpoch, bestLoss } = earlyStopping(losses, { patience, minDelta });
        const end = stopEpoch ?? losses.length - 1;
        for (let e = 0; e <= end; e++) {
          ctx.expect(
            losses[e] >= bestLoss - minDelta,
            `epoch ${e} (loss ${losses[e]}) beats the best ${bestLoss} by more than ${minDelta}`,
          );
        }
        if (stopEpoch !== null)
          ctx.expect(
            stopEpoch - bestEpoch === patience,
            `stopped ${stopEpoch - bestEpoch} epochs after the best, not ${patience}`,
          );
        else
          ctx.expect(
            losses.length - 1 - bestEpoch < patience,
            "ran out of epochs although patience was exhausted",
          );
        if (minDelta === 0) {
          const first = losses.indexOf(Math.min(...losses.slice(0, end + 1)));
          ctx.expect(
            bestEpoch === first,
            `with minDelta = 0 the best epoch is ${bestEpoch}, not the first minimum ${first}`,
          );
        }
      });
    },
  },
  {
    id: "H4",
    topic: "regularization",
    title:
      "k-fold splits partition the data: every example is in exactly one validation fold, trains in the other k − 1, and fold sizes differ by at most 1",
    note: "Note 004 (k-fold cross-validation): each example is validated exactly once, so the k validation scores together cover the data set without overlap.",
    ops: [],
    async check(ctx) {
      const cases = fc
        .integer({ min: 2, max: 60 })
        .chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.integer({ min: 2, max: Math.min(n, 10) }),
            fc.option(fc.nat({ max: 2 ** 31 })),
          ),
        );
      await ctx.property(cases, ([n, k, seed]) => {
        const folds = kFold(n, k, seed ?? undefined);
        ctx.expect(folds.length === k, `${folds.length} folds, expected ${k}`);
        const seen = new Array<number>(n).fill(0);
        for (const [f, { train, validation }] of folds.entries()) {
          for (const i of validation) seen[i]++;
          const inFold = new Set(validation);
          ctx.expect(inFold.size === validation.length, `fold ${f} repeats an example`);
          ctx.expect(
            train.length + validation.length === n && train.every((i) => !inFold.has(i)),
            `fold ${f}: training set is not the complement of its validation set`,
          );
          ctx.expect(new Set(train).size === train.length, `fold ${f} trains on an example twice`);
        }
        for (const [i, count] of seen.entries()) {
          ctx.expect(count === 1, `example ${i} is in ${count} validation folds`);
        }
        const sizes = folds.map((f) => f.validation.length);
        ctx.expect(
          Math.max(...sizes) - Math.min(...sizes) <= 1,
          `fold sizes ${sizes.join(", ")} differ by more than 1`,
        );
      });
    },
  },
  {
    id: "H5",
    topic: "regularization",
    title:
      "additive Gaussian input noise has mean zero: the mean of many noisy copies of an input converges to the clean input",
    note: "Note 003 (noise as a regulariser): noise added to the inputs must perturb without biasing, otherwise it shifts the data the model learns from.",
    ops: ["kaiming_normal", "add"],
    statistical: {
      test: "z-test of each feature's mean (known σ) and of the pooled mean, Bonferroni over D + 1 tests",
      alpha: ALPHA,
      detects:
        "a noise mean of 0.2σ or more on any feature (z ≥ 12.8 against a threshold of 6.3), e.g. normals from an Irwin–Hall sum with an extra uniform (mean +0.5σ)",
    },
    async check(ctx) {
      // R = 4096 copies of D = 8 features: a feature's mean has standard error σ/64, so a bias
      // of 0.2σ sits 12.8 standard errors out, and the test fails it with certainty.
      const [R, D, sigma] = [4096, 8, 0.5];
      const seed = ctx.seedFor(0);
      const clean = Array.from({ length: D }, (_, j) => Math.fround(((j * 7) % 5) - 2 + j / 16));
      const X = ctx.t(
        [R, D],
        Array.from({ length: R * D }, (_, i) => clean[i % D]),
      );
      const noisy = await inputNoise((op, i, a) => ctx.call(op, i, a), X, { sigma, seed });
      const alpha = ALPHA / (D + 1);
      let pooled = 0;
      let spread = 0;
      for (let j = 0; j < D; j++) {
        let mean = 0;
        for (let r = 0; r < R; r++) mean += (noisy.data[r * D + j] - clean[j]) / R;
        pooled += mean / D;
        for (let r = 0; r < R; r++)
          spread += (noisy.data[r * D + j] - clean[j] - mean) ** 2 / (R * D);
        checkMean(ctx, `feature ${j}`, mean, sigma, R, alpha, clean[j]);
      }
      checkMean(ctx, "all features", pooled, sigma, R * D, alpha, Math.max(...clean.map(Math.abs)));
      // Noise that is not there at all would pass a mean test: its spread must be of order σ
      // (χ² with 32767 degrees of freedom falls below σ²/4 with probability far below α).
      ctx.expect(
        Math.sqrt(spread) >= sigma / 2,
        `the noise has standard deviation ${Math.sqrt(spread)}, not about σ = ${sigma}`,
      );
    },
  },
];

/** z-test of a noise mean, widened by the dtype's rounding of x + σz (at most u·|x + σz| each). */
function checkMean(
  ctx: LawContext,
  label: string,
  mean: number,
  sigma: number,
  n: number,
  alpha: number,
  scale: number,
): void {
  const { z, bound, pass } = zTestMean(mean, 0, sigma, n, alpha);
  const rounding = 2 * ctx.u * (scale + 6 * sigma);
  ctx.expect(
    pass || Math.abs(mean) <= bound + rounding,
    `${label}: the noisy copies' mean is off the clean input by ${mean} (z = ${z.toFixed(2)}, allowed ±${bound + rounding})`,
  );
}
