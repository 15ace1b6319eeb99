/**
 * B. Softmax, log-sum-exp, cross-entropy [notes 000, 001, 002, 003].
 */
import fc from "fast-check";
import { finite32, finiteLogits, moderate, tensorOf } from "../src/arbitraries.ts";
import type { Law } from "../src/law.ts";

/** Sum of each row of a row-major [rows, n] array. */
function rowSums(data: ArrayLike<number>, n: number): number[] {
  const sums: number[] = [];
  for (let r = 0; r < data.length / n; r++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += data[r * n + j];
    sums.push(s);
  }
  return sums;
}

/** Logits that mix ordinary values with magnitudes up to 1e38, where exp(x) overflows. */
const hugeLogits = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 10 }))
  .chain(([r, c]) => tensorOf([r, c], fc.oneof(moderate(20), finite32(1e38))));

export const softmaxLaws: Law[] = [
  {
    id: "B1",
    topic: "softmax",
    title: "softmax returns a probability vector for any finite logits, even of magnitude 1e38",
    note: "Notes 000 and 002: a fused softmax subtracts the row max, so exp never overflows; the naive exp/sum turns huge logits into ∞/∞ = NaN.",
    ops: ["softmax"],
    async check(ctx) {
      await ctx.property(hugeLogits, async ({ shape, values }) => {
        const x = ctx.t(shape, values);
        const y = await ctx.call("softmax", { x }, {});
        const { fields } = await ctx.budget("softmax", { x }, {});
        const n = shape[1];
        for (let i = 0; i < y.data.length; i++) {
          const p = y.data[i];
          ctx.expect(p >= 0 && p <= 1, `softmax entry ${i} is ${p}, outside [0, 1]`);
        }
        // A row sums to 1 within the sum of its entries' budgets.
        const allowed = rowSums(fields.y.tol, n);
        rowSums(y.data, n).forEach((s, r) =>
          ctx.expect(Math.abs(s - 1) <= allowed[r], `row ${r} sums to ${s}, not 1 (allowed ±${allowed[r]})`),
        );
      });
    },
  },
  {
    id: "B2",
    topic: "softmax",
    title: "softmax does not change when the same constant is added to every logit",
    note: "Notes 002 and 000: shift invariance is why subtracting the max is allowed; in float32 the shifted logits x + c are rounded, so the bound grows with |x + c|.",
    ops: ["softmax"],
    async check(ctx) {
      await ctx.property(finiteLogits(30), moderate(1e4), async ({ shape, values }, c) => {
        const x = ctx.t(shape, values);
        const shifted = ctx.t(shape, values.map((v) => v + c));
        const y = await ctx.call("softmax", { x }, {});
        const ys = await ctx.call("softmax", { x: shifted }, {});
        const [a, b] = await Promise.all([ctx.budget("softmax", { x }, {}), ctx.budget("softmax", { x: shifted }, {})]);
        // Rounding x + c moves each logit by up to u·|x + c| beyond the common shift; a logit
        // perturbation of δ changes each probability by a factor of at most e^(2δ).
        let delta = 0;
        for (let i = 0; i < values.length; i++) {
          delta = Math.max(delta, Math.abs(shifted.data[i] - values[i] - c));
        }
        const tol = y.data.map((p, i) => a.fields.y.tol[i] + b.fields.y.tol[i] + p * Math.expm1(2 * delta));
        ctx.expectClose(`softmax(x + ${c}) vs softmax(x)`, ys, y.data, tol, "budget(x) + budget(x + c) + p·(e^(2·max|fl(x+c) − x − c|) − 1)");
      });
    },
  },
  {
    id: "B3",
    topic: "softmax",
    title: "softmax preserves the order of the logits",
    note: "Note 003: softmax is a monotone map, so the arg-max class never changes; exp is increasing and the row shares one denominator.",
    ops: ["softmax"],
    async check(ctx) {
      await ctx.property(finiteLogits(30), async ({ shape, values }) => {
        const x = ctx.t(shape, values);
        const y = await ctx.call("softmax", { x }, {});
        const n = shape[1];
        for (let r = 0; r < shape[0]; r++) {
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < n; j++) {
              const [xi, xj] = [x.data[r * n + i], x.data[r * n + j]];
              const [yi, yj] = [y.data[r * n + i], y.data[r * n + j]];
              // Strict order may collapse only where both probabilities round to the same value.
              ctx.expect(!(xi < xj && yi > yj), `row ${r}: x[${i}] = ${xi} < x[${j}] = ${xj} but p = ${yi} > ${yj}`);
            }
          }
        }
      });
    },
  },
];
