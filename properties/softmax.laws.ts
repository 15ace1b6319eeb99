/**
 * B. Softmax, log-sum-exp, cross-entropy [notes 000, 001, 002, 003, 004].
 *
 * Single-op claims are checked against the op's budget (`ctx.budget`); claims about a
 * composition (log_softmax = x − lse, the naive NLL, bits = nats / ln 2…) carry a running error
 * bound through every backend op (`Trail`, shared with the likelihood laws).
 */
import fc from "fast-check";
import type { Attrs, Inputs, Reduction, Targets } from "../src/engine/contract.ts";
import { normalAt, uniformAt } from "../src/engine/random.ts";
import { indices, type Tensor } from "../src/engine/tensor.ts";
import {
  arrayOf,
  classIndices,
  finite32,
  finiteLogits,
  matrix,
  moderate,
  type Shaped,
  tensorOf,
} from "../src/harness/arbitraries.ts";
import type { Law, LawContext } from "../src/harness/law.ts";
import { ALPHA } from "../src/harness/stats.ts";
import { minNormal } from "../src/harness/tolerance.ts";
import { fsum, HOST, hostLse, Trail } from "../src/harness/trail.ts";

/** The single-output ops these laws call. */
type TopicOp =
  | "softmax"
  | "log_softmax"
  | "logsumexp"
  | "sigmoid"
  | "cross_entropy"
  | "nll"
  | "mse";

/**
 * Runs `op` on the backend, and returns its output with the exact value and the tolerance the
 * op's budget grants a correct kernel on these inputs: the pair nearly every law here compares.
 */
async function measure<O extends TopicOp>(
  ctx: LawContext,
  op: O,
  inputs: Inputs<O>,
  attrs: Attrs<O>,
): Promise<{ y: Tensor; expected: Tensor; tol: Float64Array }> {
  const y = await ctx.call(op, inputs, attrs);
  const { expected, fields } = await ctx.budget(op, inputs, attrs);
  return { y: y as Tensor, expected: expected as Tensor, tol: fields.y.tol };
}

/** `op` measured at x and at the rounded x + c: the two sides of a shift law. */
async function measureShift(
  ctx: LawContext,
  op: "softmax" | "logsumexp",
  { shape, values }: Shaped,
  c: number,
) {
  const x = ctx.t(shape, values);
  const shifted = ctx.t(
    shape,
    values.map((v) => v + c),
  );
  const [a, b] = [await measure(ctx, op, { x }, {}), await measure(ctx, op, { x: shifted }, {})];
  return { x, shifted, a, b };
}

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

/** Rows of a row-major [rows, n] array. */
function rowsOf(data: ArrayLike<number>, n: number): number[][] {
  return Array.from({ length: data.length / n }, (_, r) =>
    Array.from({ length: n }, (_, j) => data[r * n + j]),
  );
}

/** Exact (float64) per-row cross-entropy lse(z) − Σ t·z, with 0·z = 0 for unused classes. */
function exactLoss(logits: Tensor, target: Targets): number[] {
  const c = logits.shape[1];
  return rowsOf(logits.data, c).map((z, r) => {
    const lse = hostLse(z);
    if (target.data instanceof Int32Array) return lse - z[target.data[r]];
    const terms: number[] = [];
    for (let j = 0; j < c; j++) {
      const t = target.data[r * c + j];
      if (t !== 0) terms.push(t * (lse - z[j]));
    }
    return fsum(terms);
  });
}

/** Magnitude of the terms behind each row's loss (for the host's own rounding). */
function lossSize(logits: Tensor): number[] {
  const c = logits.shape[1];
  return rowsOf(logits.data, c).map((z) => Math.abs(hostLse(z)) + Math.max(...z.map(Math.abs)));
}

/** The exact cross-entropy under each reduction, with the magnitude of its terms. */
function exactReduced(
  logits: Tensor,
  target: Targets,
): { reduction: Reduction; exact: number[]; mag: number[] }[] {
  const per = exactLoss(logits, target);
  const size = lossSize(logits);
  return REDUCTIONS.map((reduction) => {
    if (reduction === "none") return { reduction, exact: per, mag: size };
    const s = fsum(per);
    return { reduction, exact: [reduction === "mean" ? s / per.length : s], mag: [fsum(size)] };
  });
}

function exactSoftmax(z: number[]): number[] {
  const lse = hostLse(z);
  return z.map((v) => Math.exp(v - lse));
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Logits [N, C] with class labels. */
const labelled = (logits: fc.Arbitrary<Shaped>) =>
  logits.chain((l) => fc.tuple(fc.constant(l), classIndices(l.shape[0], l.shape[1])));

/** Strictly positive probability rows [N, C] (weights 1..100, normalised in float64). */
const positiveRows = (n: number, c: number) =>
  fc
    .array(fc.array(fc.integer({ min: 1, max: 100 }), { minLength: c, maxLength: c }), {
      minLength: n,
      maxLength: n,
    })
    .map((rows) =>
      rows.flatMap((w) => {
        const s = w.reduce((a, b) => a + b, 0);
        return w.map((v) => v / s);
      }),
    );

/** Probability rows that may contain zeros. */
const probabilityRows = (n: number, c: number) =>
  fc
    .array(fc.array(fc.integer({ min: 0, max: 100 }), { minLength: c, maxLength: c }), {
      minLength: n,
      maxLength: n,
    })
    .map((rows) =>
      rows.flatMap((w) => {
        const s = w.reduce((a, b) => a + b, 0);
        return s === 0 ? w.map(() => 1 / c) : w.map((v) => v / s);
      }),
    );

/** Logits with soft targets. */
const softLabelled = (logits: fc.Arbitrary<Shaped>) =>
  logits.chain((l) => fc.tuple(fc.constant(l), probabilityRows(l.shape[0], l.shape[1])));

const REDUCTIONS: readonly Reduction[] = ["none", "sum", "mean"];

/**
 * Tolerance of a cross-entropy gradient g·(p·Σt − t): the op's budget plus what a correct
 * kernel inherits from rounding p = softmax(z) before subtracting t. Where p ≈ t the entry
 * cancels (p = 1 − 10⁻⁸ gives p − 1 = 0 in float32), so its error is u·p in absolute terms,
 * not relative to the tiny gradient the op's normwise budget scales with.
 */
async function gradTol(
  ctx: LawContext,
  x: Tensor,
  target: Targets,
  dy: Tensor,
  reduction: Reduction,
  scale: (row: number) => number,
): Promise<Float64Array> {
  const c = x.shape[1];
  const vjp = (await ctx.budget("cross_entropy_vjp", { logits: x, target, dy }, { reduction }))
    .fields.y.tol;
  const sm = await ctx.budget("softmax", { x }, {});
  const t = (r: number, j: number) =>
    target.data instanceof Int32Array ? (target.data[r] === j ? 1 : 0) : target.data[r * c + j];
  return vjp.map((v, i) => {
    const [r, j] = [Math.floor(i / c), i % c];
    let mass = 0;
    for (let k = 0; k < c; k++) mass += t(r, k);
    const p = sm.expected.data[i];
    return v + Math.abs(scale(r)) * (sm.fields.y.tol[i] * mass + 2 * ctx.u * (p * mass + t(r, j)));
  });
}

/** Replaces the entries of some rows by `value` (NaN or −∞) at the given positions. */
function poke(
  values: number[],
  c: number,
  marks: { row: number; col: number }[],
  value: number,
): number[] {
  const out = [...values];
  for (const { row, col } of marks) if (row * c + col < out.length) out[row * c + col] = value;
  return out;
}

/** Logits with some entries marked (row, column), for the NaN and −∞ laws. */
const marked = finiteLogits(30).chain((l) =>
  fc.tuple(
    fc.constant(l),
    fc.array(
      fc.record({
        row: fc.integer({ min: 0, max: l.shape[0] - 1 }),
        col: fc.integer({ min: 0, max: l.shape[1] - 1 }),
      }),
      {
        maxLength: 2 * l.shape[0] * l.shape[1],
      },
    ),
  ),
);

/** Checks the finite entries of each row against the op's budget on that row alone. */
async function expectRowsMatch(
  ctx: LawContext,
  op: "softmax" | "log_softmax",
  actual: Tensor,
  x: number[][],
  keep: (v: number) => boolean,
): Promise<void> {
  const c = x[0].length;
  for (let r = 0; r < x.length; r++) {
    const cols = x[r].map((v, j) => (keep(v) ? j : -1)).filter((j) => j >= 0);
    if (cols.length === 0) continue;
    const sub = ctx.t(
      [1, cols.length],
      cols.map((j) => x[r][j]),
    );
    const { expected, fields } = await ctx.budget(op, { x: sub }, {});
    const got = { shape: [1, cols.length], data: cols.map((j) => actual.data[r * c + j]) };
    ctx.expectClose(
      `${op} row ${r}, entries [${cols}] vs the same op on those entries alone`,
      got,
      expected.data,
      fields.y.tol,
    );
  }
}

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
        const { y, tol } = await measure(ctx, "softmax", { x }, {});
        const n = shape[1];
        for (let i = 0; i < y.data.length; i++) {
          const p = y.data[i];
          // e^x ≥ 0, so a negative entry is a bug; above 1 only by rounding (kernels that
          // multiply by a rounded 1/Σ can return 1 + 1 ULP for a dominant logit).
          ctx.expect(p >= 0 && p <= 1 + tol[i], `softmax entry ${i} is ${p}, outside [0, 1]`);
        }
        // A row sums to 1 within the sum of its entries' budgets.
        const allowed = rowSums(tol, n);
        rowSums(y.data, n).forEach((s, r) => {
          ctx.expect(
            Math.abs(s - 1) <= allowed[r],
            `row ${r} sums to ${s}, not 1 (allowed ±${allowed[r]})`,
          );
        });
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
      await ctx.property(finiteLogits(30), moderate(1e4), async (logits, c) => {
        const { values } = logits;
        const { shifted, a, b } = await measureShift(ctx, "softmax", logits, c);
        // Rounding x + c moves each logit by up to u·|x + c| beyond the common shift; a logit
        // perturbation of δ changes each probability by a factor of at most e^(2δ).
        let delta = 0;
        for (let i = 0; i < values.length; i++) {
          delta = Math.max(delta, Math.abs(shifted.data[i] - values[i] - c));
        }
        const tol = a.y.data.map((p, i) => a.tol[i] + b.tol[i] + p * Math.expm1(2 * delta));
        ctx.expectClose(
          `softmax(x + ${c}) vs softmax(x)`,
          b.y,
          a.y.data,
          tol,
          "budget(x) + budget(x + c) + p·(e^(2·max|fl(x+c) − x − c|) − 1)",
        );
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
              ctx.expect(
                !(xi < xj && yi > yj),
                `row ${r}: x[${i}] = ${xi} < x[${j}] = ${xj} but p = ${yi} > ${yj}`,
              );
            }
          }
        }
      });
    },
  },
  {
    id: "B4a",
    topic: "softmax",
    title: "two-class softmax is the sigmoid: softmax([x, 0]) = (σ(x), σ(−x))",
    note: "Note 004 (sigmoid as a special case of softmax): e^x/(e^x + e^0) = 1/(1 + e^−x); the tails must keep their relative accuracy, not round to 0 or 1.",
    ops: ["softmax"],
    async check(ctx) {
      await ctx.property(
        fc.array(fc.oneof(moderate(20), finite32(1e4)), { minLength: 1, maxLength: 8 }),
        async (xs) => {
          const x = ctx.t(
            [xs.length, 2],
            xs.flatMap((v) => [v, 0]),
          );
          const { y, tol: budget } = await measure(ctx, "softmax", { x }, {});
          const expected = rowsOf(x.data, 2).flatMap(([v]) => [sigmoid(v), sigmoid(-v)]);
          const tol = budget.map((t, i) => t + HOST * expected[i]);
          ctx.expectClose("softmax([x, 0]) vs (σ(x), σ(−x))", y, expected, tol, "softmax budget");
        },
      );
    },
  },
  {
    id: "B4b",
    topic: "softmax",
    title: "the backend's sigmoid and its two-class softmax agree",
    note: "Note 004: σ is the binary softmax, so a binary classifier may use either; both kernels must give the same probability within their budgets.",
    ops: ["softmax", "sigmoid"],
    async check(ctx) {
      await ctx.property(
        fc.array(fc.oneof(moderate(20), finite32(1e4)), { minLength: 1, maxLength: 8 }),
        async (xs) => {
          const x2 = ctx.t(
            [xs.length, 2],
            xs.flatMap((v) => [v, 0]),
          );
          const x = ctx.t([xs.length], xs);
          const [soft, sig] = [
            await measure(ctx, "softmax", { x: x2 }, {}),
            await measure(ctx, "sigmoid", { x }, {}),
          ];
          const tol = sig.y.data.map(
            (_, i) => soft.tol[2 * i] + sig.tol[i] + HOST * sig.expected.data[i],
          );
          const first = Array.from(sig.y.data, (_, i) => soft.y.data[2 * i]);
          ctx.expectClose(
            "sigmoid(x) vs softmax([x, 0])₀",
            sig.y,
            first,
            tol,
            "budget(sigmoid) + budget(softmax)",
          );
        },
      );
    },
  },
  {
    id: "B5a",
    topic: "softmax",
    title: "log-sum-exp is finite and accurate for any finite logits, even of magnitude 1e38",
    note: "Notes 000 and 002: lse(x) = max + log Σ e^(x − max) never overflows; log(Σ eˣ) is ∞ past 88.7 in float32 and 709 in float64.",
    ops: ["logsumexp"],
    async check(ctx) {
      await ctx.property(hugeLogits, async ({ shape, values }) => {
        const x = ctx.t(shape, values);
        const y = await ctx.expectMatchesReference("logsumexp", { x }, {});
        y.data.forEach((v, r) => {
          ctx.expect(Number.isFinite(v), `logsumexp of row ${r} is ${v}`);
        });
      });
    },
  },
  {
    id: "B5b",
    topic: "softmax",
    title:
      "log-sum-exp lies between max(x) and max(x) + ln n, reaching the upper bound when all n logits are equal",
    note: "Note 000: lse is a smooth maximum; the ln n gap is what the max-log approximation (lse ≈ max) throws away.",
    ops: ["logsumexp"],
    async check(ctx) {
      const constantRows = fc
        .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 12 }))
        .chain(([r, c]) =>
          fc
            .array(fc.oneof(moderate(30), finite32(1e38)), { minLength: r, maxLength: r })
            .map((v) => ({
              shape: [r, c],
              values: v.flatMap((x) => Array<number>(c).fill(x)),
            })),
        );
      await ctx.property(fc.oneof(hugeLogits, constantRows), async ({ shape, values }) => {
        const x = ctx.t(shape, values);
        const { y, tol: budget } = await measure(ctx, "logsumexp", { x }, {});
        const n = shape[1];
        rowsOf(x.data, n).forEach((row, r) => {
          const m = Math.max(...row);
          const [l, tol] = [y.data[r], budget[r] + HOST * (Math.abs(m) + Math.log(n))];
          ctx.expect(l >= m - tol, `row ${r}: lse ${l} < max ${m} (allowed ${tol})`);
          ctx.expect(
            l <= m + Math.log(n) + tol,
            `row ${r}: lse ${l} > max + ln n = ${m + Math.log(n)} (allowed ${tol})`,
          );
          if (row.every((v) => v === m)) {
            ctx.expect(
              Math.abs(l - (m + Math.log(n))) <= tol,
              `row ${r} of ${n} equal logits ${m}: lse ${l}, expected ${m} + ln ${n}`,
            );
          }
        });
      });
    },
  },
  {
    id: "B5c",
    topic: "softmax",
    title: "log-sum-exp shifts with its input: lse(x + c) = lse(x) + c",
    note: "Notes 000 and 002: the identity behind the max shift; in float32 the rounded x + c moves each logit, and lse is 1-Lipschitz in that move.",
    ops: ["logsumexp"],
    async check(ctx) {
      await ctx.property(finiteLogits(30), moderate(1e4), async (logits, c) => {
        const { x, shifted, a, b } = await measureShift(ctx, "logsumexp", logits, c);
        const n = logits.shape[1];
        const tol = Array.from(a.y.data, (v, r) => {
          let delta = 0;
          for (let j = 0; j < n; j++)
            delta = Math.max(delta, Math.abs(shifted.data[r * n + j] - x.data[r * n + j] - c));
          return a.tol[r] + b.tol[r] + delta + HOST * (Math.abs(v) + Math.abs(c));
        });
        ctx.expectClose(
          `lse(x + ${c}) vs lse(x) + ${c}`,
          b.y,
          Array.from(a.y.data, (v) => v + c),
          tol,
          "budget(x) + budget(x + c) + max|fl(x + c) − x − c|",
        );
      });
    },
  },
  {
    id: "B6a",
    topic: "softmax",
    title: "log_softmax(x) = x − lse(x)",
    note: "Notes 002 and 003: log-softmax is the logits minus their log-sum-exp, which is how a stable kernel computes it (never through log of a probability).",
    ops: ["log_softmax", "logsumexp", "sub"],
    async check(ctx) {
      const tr = new Trail(ctx);
      await ctx.property(
        matrix(fc.oneof(moderate(30), moderate(3000)), { min: 1, max: 5 }, { min: 1, max: 12 }),
        async ({ shape, values }) => {
          const x = tr.input(shape, values);
          const ls = await tr.logSoftmax(x);
          const lse = await tr.logsumexp(x);
          const composed = await tr.sub(x, tr.reshape(lse, [shape[0], 1]));
          const rows = rowsOf(x.t.data, shape[1]);
          const exact = rows.flatMap((z) => z.map((v) => v - hostLse(z)));
          const size = rows.flatMap((z) => z.map((v) => Math.abs(v) + Math.abs(hostLse(z))));
          tr.expectExact("log_softmax(x) vs exact x − lse(x)", ls, exact, size);
          tr.expectExact("x − logsumexp(x) vs exact", composed, exact, size);
        },
      );
    },
  },
  {
    id: "B6b",
    topic: "softmax",
    title: "exponentiating log_softmax gives softmax",
    note: "Notes 002 and 003: exp(log_softmax) = softmax, so NLL on log-softmax and cross-entropy on probabilities describe the same model.",
    ops: ["log_softmax", "exp", "softmax"],
    async check(ctx) {
      const tr = new Trail(ctx);
      await ctx.property(finiteLogits(30), async ({ shape, values }) => {
        const x = tr.input(shape, values);
        const viaLog = await tr.exp(await tr.logSoftmax(x));
        const direct = await tr.softmax(x);
        const rows = rowsOf(x.t.data, shape[1]);
        const exact = rows.flatMap(exactSoftmax);
        const size = rows
          .flatMap((z) => z.map((v) => Math.abs(v) + Math.abs(hostLse(z))))
          .map((s, i) => s * exact[i]);
        tr.expectExact("exp(log_softmax(x)) vs exact softmax", viaLog, exact, size);
        tr.expectExact("softmax(x) vs exact softmax", direct, exact, size);
      });
    },
  },
  {
    id: "B6c",
    topic: "softmax",
    title: "log_softmax stays finite and exact where log(softmax(x)) is −∞",
    note: "Notes 000 and 002: a probability below the smallest subnormal rounds to 0 and its log is −∞; log_softmax never forms that probability.",
    ops: ["log_softmax", "softmax", "log"],
    async check(ctx) {
      // Each row has one dominant logit 10³–10⁴ above the others: every other probability is
      // below e^−980, under the smallest subnormal of float32 and of float64.
      const cases = finiteLogits(20).chain((l) =>
        fc.tuple(
          fc.constant(l),
          fc.array(
            fc.tuple(
              fc.integer({ min: 0, max: l.shape[1] - 1 }),
              fc.integer({ min: 1000, max: 10000 }),
            ),
            {
              minLength: l.shape[0],
              maxLength: l.shape[0],
            },
          ),
        ),
      );
      await ctx.property(cases, async ([{ shape, values }, lead]) => {
        const c = shape[1];
        const x = ctx.t(
          shape,
          values.map((v, i) =>
            i % c === lead[Math.floor(i / c)][0] ? lead[Math.floor(i / c)][1] : v,
          ),
        );
        const ls = await ctx.expectMatchesReference("log_softmax", { x }, {});
        ls.data.forEach((v, i) => {
          ctx.expect(Number.isFinite(v), `log_softmax entry ${i} is ${v}`);
        });
        const logOfSoftmax = await ctx.call("log", { x: await ctx.call("softmax", { x }, {}) }, {});
        const logMinSub = Math.log(ctx.dtype === "float32" ? 2 ** -149 : 2 ** -1074);
        const exact = rowsOf(x.data, c).flatMap((z) => z.map((v) => v - hostLse(z)));
        let collapsed = 0;
        exact.forEach((e, i) => {
          if (e < logMinSub - 1) {
            ctx.expect(
              logOfSoftmax.data[i] === Number.NEGATIVE_INFINITY,
              `log(softmax) entry ${i} is ${logOfSoftmax.data[i]}, expected −∞ (underflow)`,
            );
            collapsed++;
          }
        });
        ctx.expect(collapsed > 0 || c === 1, "test setup: some probability should underflow");
      });
    },
  },
  {
    id: "B7a",
    topic: "softmax",
    title: "cross-entropy on logits equals NLL of log_softmax, for reductions none, sum and mean",
    note: "Notes 000 and 003: CrossEntropyLoss is LogSoftmax followed by NLLLoss; the fused op must agree with the composition in every reduction mode.",
    ops: ["cross_entropy", "log_softmax", "nll"],
    async check(ctx) {
      const tr = new Trail(ctx);
      await ctx.property(labelled(finiteLogits(30)), async ([{ shape, values }, ys]) => {
        const x = tr.input(shape, values);
        const target = indices([shape[0]], ys);
        const ls = await tr.logSoftmax(x);
        for (const { reduction, exact, mag } of exactReduced(x.t, target)) {
          tr.expectExact(
            `cross_entropy(${reduction}) vs exact`,
            await tr.crossEntropy(x, target, reduction),
            exact,
            mag,
          );
          tr.expectExact(
            `nll(log_softmax, ${reduction}) vs exact`,
            await tr.nll(ls, target, reduction),
            exact,
            mag,
          );
        }
      });
    },
  },
  {
    id: "B7b",
    topic: "softmax",
    title:
      "cross-entropy with soft targets p equals −Σ p·log_softmax, for reductions none, sum and mean",
    note: "Notes 001 and 003: H(p, q) = −Σ p ln q with q the softmax; class indices are the one-hot special case.",
    ops: ["cross_entropy", "log_softmax", "mul", "sum", "neg", "mean"],
    async check(ctx) {
      const tr = new Trail(ctx);
      await ctx.property(softLabelled(finiteLogits(30)), async ([{ shape, values }, ps]) => {
        const x = tr.input(shape, values);
        const p = tr.input(shape, ps);
        const perRow = await tr.neg(
          await tr.reduce("sum", await tr.mul(p, await tr.logSoftmax(x)), 1),
        );
        for (const { reduction, exact, mag } of exactReduced(x.t, p.t)) {
          tr.expectExact(
            `cross_entropy(soft, ${reduction}) vs exact`,
            await tr.crossEntropy(x, p.t, reduction),
            exact,
            mag,
          );
          const composed = reduction === "none" ? perRow : await tr.reduce(reduction, perRow, 0);
          tr.expectExact(`−Σ p·log_softmax (${reduction}) vs exact`, composed, exact, mag);
        }
      });
    },
  },
  {
    id: "B7c",
    topic: "softmax",
    title: "one-hot soft targets give the same cross-entropy as the class indices",
    note: "Note 001 (derivation from log-likelihood to cross-entropy): with one-hot p only the true class survives the sum, leaving −ln q_y.",
    ops: ["cross_entropy"],
    async check(ctx) {
      await ctx.property(labelled(finiteLogits(30)), async ([{ shape, values }, ys]) => {
        const x = ctx.t(shape, values);
        const target = indices([shape[0]], ys);
        const oneHot = ctx.t(
          shape,
          values.map((_, i) => (i % shape[1] === ys[Math.floor(i / shape[1])] ? 1 : 0)),
        );
        for (const reduction of REDUCTIONS) {
          const [a, b] = [
            await measure(ctx, "cross_entropy", { logits: x, target }, { reduction }),
            await measure(ctx, "cross_entropy", { logits: x, target: oneHot }, { reduction }),
          ];
          const tol = a.tol.map((t, i) => t + b.tol[i]);
          ctx.expectClose(
            `cross_entropy(one-hot, ${reduction}) vs cross_entropy(indices, ${reduction})`,
            b.y,
            a.y.data,
            tol,
            "both budgets",
          );
        }
      });
    },
  },
  {
    id: "B8a",
    topic: "softmax",
    title:
      "on moderate logits the naive NLL (exp, normalise, log, pick) agrees with fused cross-entropy",
    note: "Note 000 (NLL vs cross-entropy): the hand-written exp/sum/log chain computes the same loss as F.cross_entropy when nothing overflows.",
    ops: ["exp", "sum", "div", "log", "nll", "cross_entropy"],
    async check(ctx) {
      const tr = new Trail(ctx);
      await ctx.property(labelled(finiteLogits(20)), async ([{ shape, values }, ys]) => {
        const x = tr.input(shape, values);
        const target = indices([shape[0]], ys);
        const counts = await tr.exp(x);
        const probs = await tr.div(
          counts,
          tr.reshape(await tr.reduce("sum", counts, 1), [shape[0], 1]),
        );
        const naive = await tr.nll(await tr.log(probs), target, "none");
        const exact = exactLoss(x.t, target);
        const size = lossSize(x.t);
        tr.expectExact("naive −log(exp(z)/Σexp(z))_y vs exact", naive, exact, size);
        tr.expectExact(
          "cross_entropy vs exact",
          await tr.crossEntropy(x, target, "none"),
          exact,
          size,
        );
      });
    },
  },
  {
    id: "B8b",
    topic: "softmax",
    title:
      "on large logits the naive NLL is NaN or ∞ while fused cross-entropy stays finite and exact",
    note: "Notes 000 and 003: e^z overflows past 88.7 (float32) or 709 (float64) and underflows for all-very-negative rows; the fused op subtracts the max first.",
    ops: ["exp", "sum", "div", "log", "nll", "cross_entropy"],
    async check(ctx) {
      // Each row either holds one logit 800–10⁴ (e^z = ∞) or sits wholly 800–10⁴ below 0 (Σe^z = 0).
      const cases = labelled(finiteLogits(20)).chain(([l, ys]) =>
        fc.tuple(
          fc.constant(l),
          fc.constant(ys),
          fc.array(
            fc.tuple(
              fc.boolean(),
              fc.integer({ min: 0, max: l.shape[1] - 1 }),
              fc.integer({ min: 800, max: 10000 }),
            ),
            {
              minLength: l.shape[0],
              maxLength: l.shape[0],
            },
          ),
        ),
      );
      await ctx.property(cases, async ([{ shape, values }, ys, how]) => {
        const c = shape[1];
        const z = values.map((v, i) => {
          const [up, col, big] = how[Math.floor(i / c)];
          return up ? (i % c === col ? big : v) : v - big;
        });
        const x = ctx.t(shape, z);
        const target = indices([shape[0]], ys);
        const fused = await ctx.expectMatchesReference(
          "cross_entropy",
          { logits: x, target },
          { reduction: "none" },
        );
        fused.data.forEach((v, r) => {
          ctx.expect(Number.isFinite(v), `cross_entropy of row ${r} is ${v}`);
        });
        const counts = await ctx.call("exp", { x }, {});
        const total = await ctx.call("sum", { x: counts }, { axis: 1 });
        const probs = await ctx.call(
          "div",
          { a: counts, b: { shape: [shape[0], 1], data: total.data } },
          {},
        );
        const naive = await ctx.call(
          "nll",
          { logp: await ctx.call("log", { x: probs }, {}), target },
          { reduction: "none" },
        );
        naive.data.forEach((v, r) => {
          ctx.expect(
            !Number.isFinite(v),
            `naive NLL of row ${r} is ${v}: expected NaN or ∞ (overflow/underflow)`,
          );
        });
      });
    },
  },
  {
    id: "B9a",
    topic: "softmax",
    title: "cross-entropy is never negative, for class indices and for soft targets",
    note: "Notes 001 and 004: −ln q ≥ 0 for q ≤ 1, and −Σ p ln q is a mixture of such terms.",
    ops: ["cross_entropy"],
    async check(ctx) {
      const cases = labelled(hugeLogits).chain(([l, ys]) =>
        fc.tuple(fc.constant(l), fc.constant(ys), probabilityRows(l.shape[0], l.shape[1])),
      );
      await ctx.property(cases, async ([{ shape, values }, ys, ps]) => {
        const x = ctx.t(shape, values);
        for (const target of [indices([shape[0]], ys), ctx.t(shape, ps)] as Targets[]) {
          const { y, tol } = await measure(
            ctx,
            "cross_entropy",
            { logits: x, target },
            { reduction: "none" },
          );
          y.data.forEach((v, r) => {
            ctx.expect(v >= -tol[r], `loss of row ${r} is ${v} < 0 (allowed −${tol[r]})`);
          });
        }
      });
    },
  },
  {
    id: "B9b",
    topic: "softmax",
    title: "cross-entropy grows without bound as the probability of the true class goes to 0",
    note: "Note 004 (cross-entropy loss): the log magnifies confident mistakes, the loss tending to infinity; clipping probabilities (e.g. at 1e−7) caps it near 16.",
    ops: ["cross_entropy"],
    async check(ctx) {
      const gaps = [1, 10, 100, 1e3, 1e4, 1e6, 1e10, 1e30];
      await ctx.property(fc.integer({ min: 2, max: 10 }), fc.nat(), async (c, pick) => {
        const y = pick % c;
        // The true class sits t below every other logit: loss = t + ln(C − 1 + e^−t) > t.
        const x = ctx.t(
          [gaps.length, c],
          gaps.flatMap((t) => Array.from({ length: c }, (_, j) => (j === y ? -t : 0))),
        );
        const target = indices([gaps.length], Array<number>(gaps.length).fill(y));
        const { y: loss, tol } = await measure(
          ctx,
          "cross_entropy",
          { logits: x, target },
          { reduction: "none" },
        );
        const exact = rowsOf(x.data, c).map((z) => -z[y] + Math.log(c - 1 + Math.exp(z[y])));
        ctx.expectClose(
          "cross_entropy vs t + ln(C − 1 + e^−t)",
          loss,
          exact,
          tol.map((t, i) => t + HOST * exact[i]),
        );
        for (let i = 1; i < gaps.length; i++) {
          ctx.expect(
            loss.data[i] > loss.data[i - 1],
            `loss ${loss.data[i]} at gap ${gaps[i]} is not above ${loss.data[i - 1]} at gap ${gaps[i - 1]}`,
          );
        }
      });
    },
  },
  {
    id: "B9c",
    topic: "softmax",
    title: "with soft targets H(p, q) ≥ H(p), with equality only at q = p (the gap is KL(p‖q) ≥ 0)",
    note: "Note 001 (entropy and cross-entropy): coding with the wrong distribution q costs KL(p‖q) extra nats; a perfect model reaches the entropy.",
    ops: ["cross_entropy"],
    async check(ctx) {
      const cases = fc
        .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 8 }))
        .chain(([n, c]) =>
          fc.tuple(
            fc.constant([n, c]),
            positiveRows(n, c),
            positiveRows(n, c),
            fc.constantFrom(1, 0.1, 0.001),
          ),
        );
      await ctx.property(cases, async ([shape, ps, qs, lam]) => {
        const p = ctx.t(shape, ps);
        // q is p moved a fraction λ toward another distribution: near p the gap is tiny.
        const toward = ps.map((v, i) => (1 - lam) * v + lam * qs[i]);
        const [self, other] = [ctx.t(shape, ps.map(Math.log)), ctx.t(shape, toward.map(Math.log))];
        const [{ y: hp, tol: bp }, { y: hpq, tol: bpq }] = [
          await measure(ctx, "cross_entropy", { logits: self, target: p }, { reduction: "none" }),
          await measure(ctx, "cross_entropy", { logits: other, target: p }, { reduction: "none" }),
        ];
        const [ep, epq] = [exactLoss(self, p), exactLoss(other, p)];
        ctx.expectClose(
          "H(p) = cross_entropy(ln p, p) vs exact",
          hp,
          ep,
          bp.map((t, i) => t + HOST * (1 + ep[i])),
        );
        ctx.expectClose(
          "H(p, q) = cross_entropy(ln q, p) vs exact",
          hpq,
          epq,
          bpq.map((t, i) => t + HOST * (1 + epq[i])),
        );
        for (let r = 0; r < shape[0]; r++) {
          const slack = bp[r] + bpq[r];
          ctx.expect(
            hpq.data[r] >= hp.data[r] - slack,
            `row ${r}: H(p, q) = ${hpq.data[r]} < H(p) = ${hp.data[r]}`,
          );
          if (epq[r] - ep[r] > slack) {
            ctx.expect(
              hpq.data[r] > hp.data[r],
              `row ${r}: q ≠ p (KL = ${epq[r] - ep[r]}) yet H(p, q) = ${hpq.data[r]} ≤ H(p) = ${hp.data[r]}`,
            );
          }
        }
      });
    },
  },
  {
    id: "B10",
    topic: "softmax",
    title:
      "cross-entropy in bits is cross-entropy in nats divided by ln 2: a class of probability 2⁻ᵏ costs k bits",
    note: "Note 001 (NLL in bits): −log₂ q = −ln q / ln 2; with a dyadic model the code length of each class is a whole number of bits.",
    ops: ["log_softmax", "div", "nll", "cross_entropy"],
    async check(ctx) {
      const tr = new Trail(ctx);
      // A random prefix code: split leaves of a binary tree until there are C (Kraft: Σ2^−k = 1).
      const code = fc.integer({ min: 2, max: 8 }).chain((c) =>
        fc.array(fc.nat(), { minLength: c - 1, maxLength: c - 1 }).map((picks) => {
          const depths = [0];
          for (const p of picks) {
            const d = depths.splice(p % depths.length, 1)[0];
            depths.push(d + 1, d + 1);
          }
          return depths;
        }),
      );
      const cases = fc.array(code, { minLength: 1, maxLength: 4 }).chain((rows) => {
        const c = Math.min(...rows.map((r) => r.length));
        const trimmed = rows
          .map((r) => (r.length === c ? r : null))
          .filter((r): r is number[] => r !== null);
        return fc.tuple(fc.constant(trimmed), classIndices(trimmed.length, c));
      });
      await ctx.property(cases, async ([depths, ys]) => {
        const [n, c] = [depths.length, depths[0].length];
        const logits = tr.constant(
          [n, c],
          depths.flat().map((k) => -k * Math.LN2),
        );
        const target = indices([n], ys);
        const bits = await tr.nll(
          await tr.div(await tr.logSoftmax(logits), tr.constant([], Math.LN2)),
          target,
          "none",
        );
        const nats = await tr.crossEntropy(logits, target, "none");
        const k = ys.map((y, r) => depths[r][y]);
        tr.expectExact(
          "nll(log_softmax / ln 2) vs the code length k",
          bits,
          k,
          k.map((v) => v + 1),
        );
        tr.expectExact(
          "cross_entropy vs k·ln 2",
          nats,
          k.map((v) => v * Math.LN2),
          k.map((v) => v + 1),
        );
        for (let r = 0; r < n; r++) {
          const tol = bits.err[r] + nats.err[r] / Math.LN2 + HOST * (k[r] + 1);
          ctx.expect(
            Math.abs(nats.t.data[r] / Math.LN2 - bits.t.data[r]) <= tol,
            `row ${r}: nats/ln 2 = ${nats.t.data[r] / Math.LN2} but bits = ${bits.t.data[r]}`,
          );
        }
      });
    },
  },
  {
    id: "B11a",
    topic: "softmax",
    title: "with equal logits the loss is exactly ln C, whatever the common value",
    note: "Note 002 (bad initial loss): a network that has not yet learnt anything should start at ln C; a larger initial loss means confident random guesses.",
    ops: ["cross_entropy"],
    async check(ctx) {
      const cases = fc
        .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 1000 }))
        .chain(([n, c]) =>
          fc.tuple(
            fc.constant([n, c]),
            fc.array(fc.oneof(moderate(10), finite32(1e38)), { minLength: n, maxLength: n }),
            classIndices(n, c),
          ),
        );
      await ctx.property(cases, async ([[n, c], level, ys]) => {
        const x = ctx.t(
          [n, c],
          level.flatMap((v) => Array<number>(c).fill(v)),
        );
        const target = indices([n], ys);
        for (const reduction of ["none", "mean"] as const) {
          const { y, tol } = await measure(
            ctx,
            "cross_entropy",
            { logits: x, target },
            { reduction },
          );
          ctx.expectClose(
            `cross_entropy(${reduction}) of equal logits vs ln ${c}`,
            y,
            Array<number>(y.data.length).fill(Math.log(c)),
            tol.map((t) => t + HOST * Math.log(c)),
          );
        }
      });
    },
  },
  {
    id: "B11b",
    topic: "softmax",
    title:
      "large random logits give a larger expected loss than small ones: the network is confidently wrong",
    note: "Note 002 (fixing the initial loss): logits of scale s with random labels cost about ln C at s = 0 and ever more as s grows; hence small last-layer weights.",
    ops: ["cross_entropy"],
    statistical: {
      test: "Monte-Carlo mean of N = 1024 losses (C = 10, Philox seeds) against margins of ≥ 14 standard errors (CLT)",
      alpha: ALPHA,
      detects:
        "a loss that does not grow with the logit scale (logits clamped or normalised inside the loss)",
    },
    async check(ctx) {
      const [n, c] = [1024, 10];
      const seed = ctx.seedFor(11);
      const z = Array.from({ length: n * c }, (_, i) => normalAt(seed, i, 0));
      const target = indices(
        [n],
        Array.from({ length: n }, (_, r) => Math.floor(uniformAt(seed, r, 1) * c)),
      );
      const meanLoss = async (s: number) => {
        const x = ctx.t(
          [n, c],
          z.map((v) => s * v),
        );
        const { y, tol } = await measure(
          ctx,
          "cross_entropy",
          { logits: x, target },
          { reduction: "mean" },
        );
        return { v: y.data[0], tol: tol[0] };
      };
      const [l0, l1, l10] = [await meanLoss(0), await meanLoss(1), await meanLoss(10)];
      ctx.expect(
        Math.abs(l0.v - Math.log(c)) <= l0.tol,
        `loss at scale 0 is ${l0.v}, not ln ${c} = ${Math.log(c)}`,
      );
      // E[loss(1)] − ln 10 ≈ 0.43 with standard error 0.03; E[loss(10) − loss(1)] ≈ 12.8 ± 0.3.
      ctx.expect(
        l1.v - l1.tol > l0.v + l0.tol,
        `loss at scale 1 (${l1.v}) is not above ln C (${l0.v})`,
      );
      ctx.expect(
        l10.v - l10.tol > l1.v + l1.tol,
        `loss at scale 10 (${l10.v}) is not above loss at scale 1 (${l1.v})`,
      );
    },
  },
  {
    id: "B12a",
    topic: "softmax",
    title:
      "the gradient of mean cross-entropy with respect to the logits is (softmax − one_hot) / N",
    note: "Notes 003 and 004: the fused backward needs no log or division by p, just the probabilities minus the target, averaged over the batch.",
    ops: ["cross_entropy_vjp"],
    async check(ctx) {
      await ctx.property(labelled(finiteLogits(30)), async ([{ shape, values }, ys]) => {
        const [n, c] = shape;
        const x = ctx.t(shape, values);
        const target = indices([n], ys);
        const dy = ctx.t([], [1]);
        const g = await ctx.call(
          "cross_entropy_vjp",
          { logits: x, target, dy },
          { reduction: "mean" },
        );
        const tol = await gradTol(ctx, x, target, dy, "mean", () => 1 / n);
        const exact = rowsOf(x.data, c).flatMap((z, r) =>
          exactSoftmax(z).map((p, j) => (p - (j === ys[r] ? 1 : 0)) / n),
        );
        ctx.expectClose(
          "cross_entropy_vjp(mean) vs (softmax − one_hot)/N",
          g,
          exact,
          tol.map((t) => t + HOST / n),
          "budget(cross_entropy_vjp) + |g|·(budget(softmax)·Σt + 2u·(p·Σt + t))",
        );
      });
    },
  },
  {
    id: "B12b",
    topic: "softmax",
    title:
      "for every reduction and for soft targets the logit gradient is g·(softmax·Σt − t), and each row sums to 0",
    note: "Notes 003 and 004: softmax is shift-invariant, so the loss cannot change along (1, …, 1) and every row of its gradient sums to 0.",
    ops: ["cross_entropy_vjp"],
    async check(ctx) {
      const cases = fc
        .tuple(labelled(finiteLogits(30)), fc.boolean(), moderate(4))
        .chain(([[l, ys], soft, g]) =>
          fc.tuple(
            fc.constant(l),
            fc.constant(ys),
            soft ? probabilityRows(l.shape[0], l.shape[1]) : fc.constant(null),
            fc.constant(g),
            fc.array(moderate(4), { minLength: l.shape[0], maxLength: l.shape[0] }),
          ),
        );
      await ctx.property(cases, async ([{ shape, values }, ys, ps, g, gs]) => {
        const [n, c] = shape;
        const x = ctx.t(shape, values);
        const target: Targets = ps ? ctx.t(shape, ps) : indices([n], ys);
        const t = (r: number, j: number) =>
          target.data instanceof Int32Array
            ? target.data[r] === j
              ? 1
              : 0
            : target.data[r * c + j];
        for (const reduction of REDUCTIONS) {
          const dy = reduction === "none" ? ctx.t([n], gs) : ctx.t([], [g]);
          const scale = (r: number) =>
            reduction === "none" ? dy.data[r] : reduction === "mean" ? dy.data[0] / n : dy.data[0];
          const grad = await ctx.call(
            "cross_entropy_vjp",
            { logits: x, target, dy },
            { reduction },
          );
          const budget = await gradTol(ctx, x, target, dy, reduction, scale);
          const exact = rowsOf(x.data, c).flatMap((z, r) => {
            const mass = fsum(Array.from({ length: c }, (_, j) => t(r, j)));
            return exactSoftmax(z).map((p, j) => scale(r) * (p * mass - t(r, j)));
          });
          const tol = budget.map((v, i) => v + HOST * Math.abs(scale(Math.floor(i / c))));
          ctx.expectClose(
            `cross_entropy_vjp(${reduction}${ps ? ", soft" : ""}) vs g·(softmax·Σt − t)`,
            grad,
            exact,
            tol,
          );
          const sums = rowSums(grad.data, c);
          const allowed = rowSums(tol, c);
          sums.forEach((s, r) => {
            ctx.expect(
              Math.abs(s) <= allowed[r],
              `gradient row ${r} sums to ${s}, not 0 (allowed ±${allowed[r]})`,
            );
          });
        }
      });
    },
  },
  {
    id: "B13a",
    topic: "softmax",
    title:
      "the cost is the mean of the per-example losses (and 'sum' their sum), for cross-entropy and NLL",
    note: "Note 004 (loss vs cost function): a loss scores one example, the cost averages it over the batch; reduction 'mean' divides by N, not by N·C.",
    ops: ["cross_entropy", "nll"],
    async check(ctx) {
      await ctx.property(
        softLabelled(finiteLogits(30)),
        fc.boolean(),
        async ([{ shape, values }, ps], soft) => {
          const [n, c] = shape;
          const x = ctx.t(shape, values);
          const ys = rowsOf(ps, c).map((row) => row.indexOf(Math.max(...row)));
          const runs: {
            label: string;
            run: (reduction: Reduction) => Promise<{ y: Tensor; tol: Float64Array }>;
          }[] = [
            {
              label: soft ? "cross_entropy (soft)" : "cross_entropy",
              run: async (reduction) => {
                const target: Targets = soft ? ctx.t(shape, ps) : indices([n], ys);
                return measure(ctx, "cross_entropy", { logits: x, target }, { reduction });
              },
            },
            {
              label: "nll",
              run: (reduction) =>
                measure(ctx, "nll", { logp: x, target: indices([n], ys) }, { reduction }),
            },
          ];
          for (const { label, run } of runs) {
            const none = await run("none");
            const noneErr = none.tol.reduce((a, b) => a + b, 0);
            const size = Array.from(none.y.data, Math.abs).reduce((a, b) => a + b, 0);
            for (const reduction of ["sum", "mean"] as const) {
              const { y, tol } = await run(reduction);
              const div = reduction === "mean" ? n : 1;
              const expected = fsum(none.y.data) / div;
              const allowed = tol[0] + noneErr / div + (HOST * size) / div;
              ctx.expect(
                Math.abs(y.data[0] - expected) <= allowed,
                `${label} '${reduction}' is ${y.data[0]}, but the per-example losses give ${expected} (allowed ±${allowed})`,
              );
            }
          }
        },
      );
    },
  },
  {
    id: "B13b",
    topic: "softmax",
    title: "MSE 'mean' is the mean of the per-element squared errors, and 'sum' their sum",
    note: "Note 004 (loss vs cost function): the cost is the average of the individual losses; for MSE every element counts once.",
    ops: ["mse"],
    async check(ctx) {
      const pairs = matrix(moderate(100), { min: 1, max: 5 }, { min: 1, max: 8 }).chain((a) =>
        fc.tuple(fc.constant(a), tensorOf(a.shape, moderate(100))),
      );
      await ctx.property(pairs, async ([a, b]) => {
        const pred = ctx.t(a.shape, a.values);
        const target = ctx.t(b.shape, b.values);
        const none = await measure(ctx, "mse", { pred, target }, { reduction: "none" });
        const noneErr = none.tol.reduce((s, v) => s + v, 0);
        for (const reduction of ["sum", "mean"] as const) {
          const { y, tol } = await measure(ctx, "mse", { pred, target }, { reduction });
          const div = reduction === "mean" ? none.y.data.length : 1;
          const expected = fsum(none.y.data) / div;
          const allowed = tol[0] + noneErr / div + HOST * expected;
          ctx.expect(
            Math.abs(y.data[0] - expected) <= allowed,
            `mse '${reduction}' is ${y.data[0]}, per-element squares give ${expected} (allowed ±${allowed})`,
          );
        }
      });
    },
  },
  {
    id: "B14a",
    topic: "softmax",
    title: "MSE is never negative and is 0 exactly when prediction and target are equal",
    note: "Note 004 (loss functions): a squared error is a sum of squares; it vanishes only on a perfect prediction (where the squares do not underflow).",
    ops: ["mse"],
    async check(ctx) {
      const entry = fc.tuple(finite32(1e4), finite32(1e4), fc.boolean());
      await ctx.property(arrayOf(entry, 1, 16), async (es) => {
        const pred = ctx.t(
          [es.length],
          es.map(([p]) => p),
        );
        const target = ctx.t(
          [es.length],
          es.map(([p, t, same]) => (same ? p : t)),
        );
        const sq = Array.from(pred.data, (p, i) => (p - target.data[i]) ** 2);
        const tiny = 2 * minNormal(ctx.dtype);
        const none = await ctx.call("mse", { pred, target }, { reduction: "none" });
        none.data.forEach((v, i) => {
          ctx.expect(v >= 0, `squared error ${i} is ${v} < 0`);
          if (pred.data[i] === target.data[i])
            ctx.expect(v === 0, `squared error ${i} of equal values ${pred.data[i]} is ${v}`);
          if (sq[i] >= tiny)
            ctx.expect(v > 0, `squared error ${i} of ${pred.data[i]} vs ${target.data[i]} is 0`);
        });
        for (const reduction of ["sum", "mean"] as const) {
          const v = (await ctx.call("mse", { pred, target }, { reduction })).data[0];
          const exact = fsum(sq) / (reduction === "mean" ? sq.length : 1);
          ctx.expect(v >= 0, `mse '${reduction}' is ${v} < 0`);
          if (sq.every((s, i) => s === 0 && pred.data[i] === target.data[i]))
            ctx.expect(v === 0, `mse '${reduction}' of equal tensors is ${v}`);
          if (exact >= tiny)
            ctx.expect(v > 0, `mse '${reduction}' is 0 but the tensors differ (exact ${exact})`);
        }
      });
    },
  },
  {
    id: "B14b",
    topic: "softmax",
    title:
      "MSE of logs is unchanged when prediction and target are scaled by the same positive factor",
    note: "Note 004 (log-space for relative differences): log(s·p) − log(s·t) = log p − log t, so an MSE on logs measures relative error whatever the scale.",
    ops: ["log", "mul", "mse"],
    async check(ctx) {
      const tr = new Trail(ctx);
      const positive = fc
        .double({ min: Math.log(1e-3), max: Math.log(1e3), noNaN: true })
        .map(Math.exp);
      const cases = fc.tuple(
        arrayOf(fc.tuple(positive, positive), 1, 12),
        fc.double({ min: Math.log(1e-6), max: Math.log(1e6), noNaN: true }).map(Math.exp),
      );
      await ctx.property(cases, async ([pairs, s]) => {
        const m = pairs.length;
        const pred = tr.input(
          [m],
          pairs.map(([p]) => p),
        );
        const target = tr.input(
          [m],
          pairs.map(([, t]) => t),
        );
        const scale = tr.input([], [s]);
        const plain = await tr.mse(await tr.log(pred), await tr.log(target), "mean");
        const scaled = await tr.mse(
          await tr.log(await tr.mul(pred, scale)),
          await tr.log(await tr.mul(target, scale)),
          "mean",
        );
        // Exact: the scale cancels, mean (ln p − ln t)² over the values the backend saw.
        const d = Array.from(pred.t.data, (p, i) => Math.log(p / target.t.data[i]));
        const exact = fsum(d.map((v) => v * v)) / m;
        const size = d.reduce((a, v) => a + Math.abs(v) * 30, 0) / m;
        tr.expectExact("mse(log p, log t) vs exact", plain, [exact], size);
        tr.expectExact(`mse(log ${s}p, log ${s}t) vs exact`, scaled, [exact], size);
      });
    },
  },
  {
    id: "B15a",
    topic: "softmax",
    title: "a NaN logit makes its softmax row NaN and leaves the other rows untouched",
    note: "Notes 000 and 003: a NaN means a bug upstream; hiding it (masking NaN as −∞ or clamping) gives plausible probabilities from garbage.",
    ops: ["softmax"],
    async check(ctx) {
      await ctx.property(marked, async ([{ shape, values }, marks]) => {
        const c = shape[1];
        const x = poke(values, c, marks, Number.NaN);
        const y = await ctx.call("softmax", { x: ctx.t(shape, x) }, {});
        const rows = rowsOf(x, c);
        rows.forEach((row, r) => {
          if (row.some(Number.isNaN)) {
            for (let j = 0; j < c; j++)
              ctx.expect(
                Number.isNaN(y.data[r * c + j]),
                `row ${r} holds a NaN logit but softmax entry ${j} is ${y.data[r * c + j]}`,
              );
          }
        });
        await expectRowsMatch(
          ctx,
          "softmax",
          y,
          rows.map((row) => (row.some(Number.isNaN) ? row.map(() => Number.NaN) : row)),
          (v) => !Number.isNaN(v),
        );
      });
    },
  },
  {
    id: "B15b",
    topic: "softmax",
    title:
      "a NaN logit makes its log_softmax row and its log-sum-exp NaN, and leaves the other rows untouched",
    note: "Notes 000 and 003: the log-space ops must propagate NaN like softmax does, not skip it in the max or the sum.",
    ops: ["log_softmax", "logsumexp"],
    async check(ctx) {
      await ctx.property(marked, async ([{ shape, values }, marks]) => {
        const c = shape[1];
        const x = poke(values, c, marks, Number.NaN);
        const t = ctx.t(shape, x);
        const [ls, lse] = [
          await ctx.call("log_softmax", { x: t }, {}),
          await ctx.call("logsumexp", { x: t }, {}),
        ];
        const rows = rowsOf(x, c);
        const clean = rows.map((row) => !row.some(Number.isNaN));
        rows.forEach((_, r) => {
          if (clean[r]) return;
          ctx.expect(
            Number.isNaN(lse.data[r]),
            `row ${r} holds a NaN logit but logsumexp is ${lse.data[r]}`,
          );
          for (let j = 0; j < c; j++)
            ctx.expect(
              Number.isNaN(ls.data[r * c + j]),
              `row ${r} holds a NaN logit but log_softmax entry ${j} is ${ls.data[r * c + j]}`,
            );
        });
        await expectRowsMatch(
          ctx,
          "log_softmax",
          ls,
          rows.map((row, r) => (clean[r] ? row : row.map(() => Number.NaN))),
          (v) => !Number.isNaN(v),
        );
        const keep = rows.map((_, r) => r).filter((r) => clean[r]);
        if (keep.length > 0) {
          const sub = ctx.t(
            [keep.length, c],
            keep.flatMap((r) => rows[r]),
          );
          const { expected, fields } = await ctx.budget("logsumexp", { x: sub }, {});
          ctx.expectClose(
            "logsumexp of the rows without NaN",
            { shape: [keep.length], data: keep.map((r) => lse.data[r]) },
            expected.data,
            fields.y.tol,
          );
        }
      });
    },
  },
  {
    id: "B15c",
    topic: "softmax",
    title: "a −∞ logit gets probability exactly 0 while the rest of its row still sums to 1",
    note: "Notes 000 and 003: −∞ is how masks are written (padding, causal attention); e^−∞ = 0 must not turn into ∞ − ∞ = NaN anywhere in the kernel.",
    ops: ["softmax"],
    async check(ctx) {
      await ctx.property(marked, async ([{ shape, values }, marks]) => {
        const c = shape[1];
        const x = poke(values, c, marks, Number.NEGATIVE_INFINITY);
        // Keep one finite logit per row: an all −∞ row has no distribution to return.
        const rows = rowsOf(x, c).map((row, r) =>
          row.every((v) => v === Number.NEGATIVE_INFINITY)
            ? row.map((v, j) => (j === 0 ? values[r * c] : v))
            : row,
        );
        const y = await ctx.call("softmax", { x: ctx.t(shape, rows.flat()) }, {});
        rows.forEach((row, r) => {
          row.forEach((v, j) => {
            if (v === Number.NEGATIVE_INFINITY)
              ctx.expect(
                y.data[r * c + j] === 0,
                `row ${r}: softmax of the −∞ logit ${j} is ${y.data[r * c + j]}, not 0`,
              );
          });
        });
        await expectRowsMatch(ctx, "softmax", y, rows, Number.isFinite);
        const { fields } = await ctx.budget(
          "softmax",
          {
            x: ctx.t(
              shape,
              rows.flatMap((row) => row.map((v) => (Number.isFinite(v) ? v : 0))),
            ),
          },
          {},
        );
        const allowed = rowSums(fields.y.tol, c);
        rowSums(y.data, c).forEach((s, r) => {
          ctx.expect(Math.abs(s - 1) <= allowed[r], `row ${r} with −∞ logits sums to ${s}, not 1`);
        });
      });
    },
  },
  {
    id: "B15d",
    topic: "softmax",
    title:
      "a −∞ logit has log_softmax −∞ and drops out of log-sum-exp; a row of −∞ has log-sum-exp −∞",
    note: "Notes 000 and 003: log Σ e^x ignores e^−∞ = 0 terms, and log 0 = −∞ for a fully masked row (not NaN from −∞ − (−∞)).",
    ops: ["log_softmax", "logsumexp"],
    async check(ctx) {
      await ctx.property(marked, async ([{ shape, values }, marks]) => {
        const c = shape[1];
        const rows = rowsOf(poke(values, c, marks, Number.NEGATIVE_INFINITY), c);
        const t = ctx.t(shape, rows.flat());
        const [ls, lse] = [
          await ctx.call("log_softmax", { x: t }, {}),
          await ctx.call("logsumexp", { x: t }, {}),
        ];
        for (let r = 0; r < rows.length; r++) {
          const finite = rows[r].filter(Number.isFinite);
          if (finite.length === 0) {
            ctx.expect(
              lse.data[r] === Number.NEGATIVE_INFINITY,
              `logsumexp of a row of −∞ is ${lse.data[r]}, not −∞`,
            );
            continue;
          }
          rows[r].forEach((v, j) => {
            if (v === Number.NEGATIVE_INFINITY)
              ctx.expect(
                ls.data[r * c + j] === Number.NEGATIVE_INFINITY,
                `row ${r}: log_softmax of the −∞ logit ${j} is ${ls.data[r * c + j]}`,
              );
          });
          const sub = ctx.t([1, finite.length], finite);
          const { expected, fields } = await ctx.budget("logsumexp", { x: sub }, {});
          ctx.expectClose(
            `logsumexp of row ${r} vs that of its finite entries`,
            { shape: [1], data: [lse.data[r]] },
            expected.data,
            fields.y.tol,
          );
        }
        await expectRowsMatch(
          ctx,
          "log_softmax",
          ls,
          rows.map((row) => (row.some(Number.isFinite) ? row : row.map(() => Number.NaN))),
          Number.isFinite,
        );
      });
    },
  },
  {
    id: "B15e",
    topic: "softmax",
    title:
      "a NaN logit makes that example's cross-entropy NaN and leaves the other examples' losses untouched",
    note: "Notes 000 and 003: per-example losses (reduction 'none') must keep a bad example visible instead of averaging garbage into the batch.",
    ops: ["cross_entropy"],
    async check(ctx) {
      await ctx.property(marked, fc.nat(), async ([{ shape, values }, marks], pick) => {
        const [n, c] = shape;
        const x = poke(values, c, marks, Number.NaN);
        const target = indices(
          [n],
          Array.from({ length: n }, (_, r) => (pick + r) % c),
        );
        const loss = await ctx.call(
          "cross_entropy",
          { logits: ctx.t(shape, x), target },
          { reduction: "none" },
        );
        const rows = rowsOf(x, c);
        const keep: number[] = [];
        rows.forEach((row, r) => {
          if (row.some(Number.isNaN))
            ctx.expect(
              Number.isNaN(loss.data[r]),
              `example ${r} has a NaN logit but its loss is ${loss.data[r]}`,
            );
          else keep.push(r);
        });
        if (keep.length > 0) {
          const sub = ctx.t(
            [keep.length, c],
            keep.flatMap((r) => rows[r]),
          );
          const subTarget = indices(
            [keep.length],
            keep.map((r) => target.data[r]),
          );
          const { expected, fields } = await ctx.budget(
            "cross_entropy",
            { logits: sub, target: subTarget },
            { reduction: "none" },
          );
          ctx.expectClose(
            "cross_entropy of the examples without NaN",
            { shape: [keep.length], data: keep.map((r) => loss.data[r]) },
            expected.data,
            fields.y.tol,
          );
        }
      });
    },
  },
];
