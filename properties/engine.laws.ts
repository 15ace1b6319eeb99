/**
 * I. The engine itself [notes 003, 004]: the kernels every other law stands on.
 */
import fc from "fast-check";
import type { OpName } from "../src/engine/contract.ts";
import { indices, type Tensor } from "../src/engine/tensor.ts";
import { finite32, moderate, tensorOf } from "../src/harness/arbitraries.ts";
import type { Law, LawContext } from "../src/harness/law.ts";

/** Sizes around the usual tile widths (4, 8, 16, 32, 64) and off them by one. */
const awkwardSize = fc.oneof(
  fc.integer({ min: 1, max: 9 }),
  fc.constantFrom(15, 16, 17, 31, 32, 33, 63, 64, 65),
);

const matmulCase = fc
  .tuple(fc.integer({ min: 1, max: 3 }), awkwardSize, awkwardSize, awkwardSize, fc.boolean())
  .chain(([batch, m, k, n, batched]) => {
    const lead = batched ? [batch] : [];
    return fc.tuple(tensorOf([...lead, m, k], moderate(4)), tensorOf([...lead, k, n], moderate(4)));
  });

function transpose(t: Tensor, ctx: LawContext): Tensor {
  const r = t.shape.length;
  const [m, n] = [t.shape[r - 2], t.shape[r - 1]];
  const batches = t.data.length / (m * n);
  const out = new Array<number>(t.data.length);
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) out[b * m * n + j * m + i] = t.data[b * m * n + i * n + j];
  }
  return ctx.t([...t.shape.slice(0, r - 2), n, m], out);
}

const reductionCase = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.nat()).chain(([rank, seed]) =>
  fc
    .array(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constantFrom(7, 16, 33)), {
      minLength: rank,
      maxLength: rank,
    })
    .chain((shape) =>
      fc.tuple(tensorOf(shape, fc.oneof(moderate(100), finite32(1e6))), fc.constant(seed % rank)),
    ),
);

/** Values that stress elementwise kernels: zeros of both signs, huge and tiny, ±∞ and NaN. */
const FINITE_EDGE = [
  0, -0, 1, -1, 0.5, -2.5, 20, -20, 88.5, -88.5, 100, -100, 1e30, -1e30, 3e38, -3e38, 1e-30, -1e-30,
];
const EDGE = [...FINITE_EDGE, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN];
/** WGSL and CUDA promise x/y to 2.5 ULP only for |y| in [2⁻¹²⁶, 2¹²⁶]; larger divisors are outside every contract. */
const DIVISORS = EDGE.filter((v) => !(Math.abs(v) > 2 ** 126 && Number.isFinite(v)));

const UNARY: readonly OpName[] = ["neg", "exp", "log", "relu", "sigmoid", "tanh", "gelu", "silu"];

/** Float32 subnormals: the smallest, a middle one and the largest. */
const SUBNORMALS = [2 ** -149, 3 * 2 ** -140, 2 ** -126 - 2 ** -149];

export const engineLaws: Law[] = [
  {
    id: "I1a",
    topic: "engine",
    title:
      "matmul equals the float64 reference for every shape, including sizes that are not multiples of any tile",
    note: "Note 004 (layer widths are 'usually' powers of two): an optimised kernel is tiled, and the tail of a non-multiple size is where tiles go wrong.",
    ops: ["matmul"],
    async check(ctx) {
      await ctx.property(matmulCase, async ([a, b]) => {
        await ctx.expectMatchesReference(
          "matmul",
          { a: ctx.t(a.shape, a.values), b: ctx.t(b.shape, b.values) },
          {},
        );
      });
    },
  },
  {
    id: "I1b",
    topic: "engine",
    title: "matmul satisfies (AB)ᵀ = BᵀAᵀ and the identity matrix is neutral",
    note: "Note 004's backprop formulas lean on transposes: dA = dY·Bᵀ; a kernel that mixes up row and column strides breaks these identities.",
    ops: ["matmul"],
    async check(ctx) {
      await ctx.property(matmulCase, async ([a, b]) => {
        const A = ctx.t(a.shape, a.values);
        const B = ctx.t(b.shape, b.values);
        const ab = await ctx.call("matmul", { a: A, b: B }, {});
        const btat = await ctx.call("matmul", { a: transpose(B, ctx), b: transpose(A, ctx) }, {});
        const { fields } = await ctx.budget("matmul", { a: A, b: B }, {});
        // Both products carry their own rounding, each within the budget of the exact product.
        const abT = transpose(ab, ctx);
        const tolT = transpose(ctx.t(ab.shape, fields.y.tol), ctx).data.map((t) => 2 * t);
        ctx.expectClose("(AB)ᵀ vs BᵀAᵀ", btat, abT.data, tolT, "2 × matmul budget");

        const r = A.shape.length;
        const k = A.shape[r - 1];
        const batches = A.data.length / (A.shape[r - 2] * k);
        const eye = new Array<number>(batches * k * k).fill(0);
        for (let bb = 0; bb < batches; bb++)
          for (let i = 0; i < k; i++) eye[bb * k * k + i * k + i] = 1;
        const ai = await ctx.call(
          "matmul",
          { a: A, b: ctx.t([...A.shape.slice(0, r - 2), k, k], eye) },
          {},
        );
        ctx.expectClose("A·I vs A", ai, A.data, 0, "exact: every product is x·1 plus zeros");
      });
    },
  },
  {
    id: "I2",
    topic: "engine",
    title:
      "sum, mean, max and variance equal the float64 reference along every axis, within a bound that grows with the length",
    note: "Note 003's batch statistics and losses are reductions; any summation order is allowed, so the bound is order-free: n·u·Σ|x|.",
    ops: ["sum", "mean", "max", "variance"],
    async check(ctx) {
      await ctx.property(reductionCase, fc.boolean(), async ([x, axis], unbiased) => {
        const t = ctx.t(x.shape, x.values);
        await ctx.expectMatchesReference("sum", { x: t }, { axis });
        await ctx.expectMatchesReference("mean", { x: t }, { axis });
        await ctx.expectMatchesReference("max", { x: t }, { axis });
        const canUnbias = x.shape[axis] >= 2;
        await ctx.expectMatchesReference(
          "variance",
          { x: t },
          { axis, unbiased: unbiased && canUnbias },
        );
      });
    },
  },
  {
    id: "I2b",
    topic: "engine",
    title: "variance stays accurate when the mean is far larger than the spread",
    note: "Note 000 (batch-norm statistics): the one-pass E[x²] − E[x]² cancels catastrophically when |mean| ≫ std; two-pass or Welford do not.",
    ops: ["variance"],
    async check(ctx) {
      await ctx.property(
        fc.integer({ min: 8, max: 64 }),
        fc.integer({ min: 2, max: 4 }).map((e) => 10 ** e),
        fc.nat(),
        async (n, offset, s) => {
          const values = Array.from(
            { length: n },
            (_, i) => offset + (((i * 7919 + s) % 17) - 8) / 8,
          );
          await ctx.expectMatchesReference(
            "variance",
            { x: ctx.t([n], values) },
            { axis: 0, unbiased: false },
          );
        },
      );
    },
  },
  {
    id: "I3a",
    topic: "engine",
    title:
      "fused cross-entropy equals NLL of log-softmax, and its gradient equals softmax minus one-hot over N",
    note: "Notes 000 and 002: the fused op must be the same function as its composition, only faster and more stable.",
    ops: ["cross_entropy", "cross_entropy_vjp", "log_softmax", "nll", "softmax"],
    async check(ctx) {
      const logitsCase = fc
        .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 40 }))
        .chain(([n, c]) =>
          fc.tuple(
            tensorOf([n, c], moderate(20)),
            fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }),
          ),
        );
      await ctx.property(logitsCase, async ([l, cls]) => {
        const logits = ctx.t(l.shape, l.values);
        const target = indices([l.shape[0]], cls);
        const [n, c] = l.shape;
        for (const reduction of ["none", "sum", "mean"] as const) {
          const fused = await ctx.call("cross_entropy", { logits, target }, { reduction });
          const logp = await ctx.call("log_softmax", { x: logits }, {});
          const composed = await ctx.call("nll", { logp, target }, { reduction });
          const { fields } = await ctx.budget("cross_entropy", { logits, target }, { reduction });
          ctx.expectClose(
            `cross_entropy(${reduction}) vs nll(log_softmax)`,
            fused,
            composed.data,
            fields.y.tol.map((t) => 2 * t),
            "2 × cross-entropy budget",
          );
        }
        const dy = ctx.t([], [1]);
        const grad = await ctx.call(
          "cross_entropy_vjp",
          { logits, target, dy },
          { reduction: "mean" },
        );
        const p = await ctx.call("softmax", { x: logits }, {});
        const expected = Array.from(
          p.data,
          (v, i) => (v - (cls[Math.floor(i / c)] === i % c ? 1 : 0)) / n,
        );
        const { fields } = await ctx.budget("softmax", { x: logits }, {});
        ctx.expectClose(
          "cross_entropy_vjp vs (softmax − one_hot)/N",
          grad,
          expected,
          fields.y.tol.map((t) => (2 * t + 2 * ctx.u) / n),
          "(2 × softmax budget + 2u)/N",
        );
      });
    },
  },
  {
    id: "I3b",
    topic: "engine",
    title:
      "one fused call returns the cross-entropy and its gradient: the same loss and gradient as cross_entropy and cross_entropy_vjp, for class indices and soft targets, with logits up to ±200",
    note: "Notes 000 and 002: a training step wants loss and gradient together; fusing them (one read of the logits) must change neither, nor bring back the overflow the max-shift removes.",
    ops: ["cross_entropy_fused", "cross_entropy", "cross_entropy_vjp"],
    async check(ctx) {
      const stepCase = fc
        .tuple(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 2, max: 100 }),
          fc.constantFrom(5, 200),
          fc.boolean(),
          fc.constantFrom("none", "sum", "mean"),
        )
        .chain(([n, c, scale, soft, reduction]) =>
          fc.tuple(
            tensorOf([n, c], moderate(scale)),
            fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }),
            soft ? tensorOf([n, c], fc.integer({ min: 0, max: 4 })) : fc.constant(undefined),
            fc.constant(reduction),
          ),
        );
      await ctx.property(stepCase, async ([l, cls, weights, reduction]) => {
        const logits = ctx.t(l.shape, l.values);
        const [n, c] = l.shape;
        // Soft targets: non-negative weights normalised per row, some exactly 0.
        const target = weights
          ? ctx.t(
              [n, c],
              weights.values.map((w, i) => {
                const r = Math.floor(i / c);
                let row = 0;
                for (let j = 0; j < c; j++) row += weights.values[r * c + j];
                return row === 0 ? 1 / c : w / row;
              }),
            )
          : indices([n], cls);
        {
          const both = await ctx.expectMatchesReference(
            "cross_entropy_fused",
            { logits, target },
            { reduction },
          );
          const loss = await ctx.call("cross_entropy", { logits, target }, { reduction });
          const dy = ctx.t(
            reduction === "none" ? [n] : [],
            reduction === "none" ? Array(n).fill(1) : [1],
          );
          const grad = await ctx.call("cross_entropy_vjp", { logits, target, dy }, { reduction });
          const { fields } = await ctx.budget(
            "cross_entropy_fused",
            { logits, target },
            { reduction },
          );
          ctx.expectClose(
            `cross_entropy_fused(${reduction}).loss vs cross_entropy`,
            both.loss,
            loss.data,
            fields.loss.tol.map((t) => 2 * t),
            "2 × cross-entropy budget",
          );
          ctx.expectClose(
            `cross_entropy_fused(${reduction}).dlogits vs cross_entropy_vjp(dy = 1)`,
            both.dlogits,
            grad.data,
            fields.dlogits.tol.map((t) => 2 * t),
            "2 × cross-entropy gradient budget",
          );
        }
      });
    },
  },
  {
    id: "I4a",
    topic: "engine",
    title:
      "every elementwise op matches the exact value within its ULP budget, on ordinary values and on ±0, ±∞, NaN, huge and tiny inputs",
    note: "Note 003 (sigmoid, tanh saturate; log and exp overflow): the edges are where kernels differ — exp(89) is ∞ in float32, log(0) is −∞, log(−1) is NaN.",
    ops: [...UNARY, "leaky_relu", "add", "sub", "mul", "div"],
    async check(ctx) {
      const x = ctx.t([EDGE.length], EDGE);
      // One rule at −∞ everywhere (here, the goldens, I5a): GELU and SiLU take their limit 0.
      // x·Φ(x) computed as a product is −∞·0 = NaN there, a bug of the formula, not a convention.
      for (const op of UNARY) await ctx.expectMatchesReference(op, { x }, {});
      await ctx.expectMatchesReference("leaky_relu", { x }, { alpha: 0.01 });
      const a = ctx.t([EDGE.length, 1], EDGE);
      const b = ctx.t([1, EDGE.length], EDGE);
      for (const op of ["add", "sub", "mul"] as const)
        await ctx.expectMatchesReference(op, { a, b }, {});
      await ctx.expectMatchesReference("div", { a, b: ctx.t([1, DIVISORS.length], DIVISORS) }, {});
      await ctx.property(tensorOf([64], finite32(100)), async ({ shape, values }) => {
        const t = ctx.t(shape, values);
        for (const op of UNARY) await ctx.expectMatchesReference(op, { x: t }, {});
      });
    },
  },
  {
    id: "I4b",
    topic: "engine",
    title:
      "reductions and the softmax family treat ±∞ and NaN as the math says: NaN propagates, max(−∞, x) = x",
    note: "Note 000: a NaN in a batch must surface, never be averaged away; a masked (−∞) logit is legal input.",
    ops: ["sum", "mean", "max", "softmax", "log_softmax", "logsumexp"],
    async check(ctx) {
      const rows: number[][] = [
        [1, Number.NaN, 3],
        [Number.NEGATIVE_INFINITY, 0, 1],
        [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, 5],
        [1e30, -1e30, 0],
        [Number.POSITIVE_INFINITY, 1, 2],
      ];
      const x = ctx.t([rows.length, 3], rows.flat());
      for (const op of ["sum", "mean", "max"] as const)
        await ctx.expectMatchesReference(op, { x }, { axis: 1 });
      for (const op of ["softmax", "log_softmax", "logsumexp"] as const)
        await ctx.expectMatchesReference(op, { x }, {});
    },
  },
  {
    id: "I4c",
    topic: "engine",
    title: "subnormal numbers are kept, not flushed to zero, by exact elementwise ops",
    note: "A law of its own (DESIGN: tolerances): a kernel that flushes subnormals (common on GPUs) fails here, by name, and nowhere else.",
    ops: ["neg", "relu", "add", "mul"],
    appliesTo: (b) => b.dtype === "float32" || b.dtype === "float64",
    async check(ctx) {
      const x = ctx.t([SUBNORMALS.length], SUBNORMALS);
      const neg = await ctx.call("neg", { x }, {});
      ctx.expectClose(
        "neg(subnormal)",
        neg,
        SUBNORMALS.map((v) => -v),
        0,
      );
      const relu = await ctx.call("relu", { x }, {});
      ctx.expectClose("relu(subnormal)", relu, SUBNORMALS, 0);
      const sum = await ctx.call("add", { a: x, b: x }, {});
      ctx.expectClose(
        "subnormal + subnormal",
        sum,
        SUBNORMALS.map((v) => 2 * v),
        0,
      );
      const one = ctx.t([1], [1]);
      const prod = await ctx.call("mul", { a: x, b: one }, {});
      ctx.expectClose("subnormal × 1", prod, SUBNORMALS, 0);
    },
  },
];
