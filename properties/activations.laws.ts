/**
 * C. Activations [notes 003, 004, 002].
 *
 * Every activation is checked against its exact value (the float64 reference) within the op's
 * budget for the backend's dtype, on ordinary inputs and on the extremes where naive formulas
 * break (e^x overflows past 88.7 in float32, 1 + erf cancels in the left tail); then the
 * identities the notes state: symmetries, derivatives, saturation, homogeneity, the gain.
 */
import fc from "fast-check";
import type { Attrs, LeakyAttrs } from "../src/engine/contract.ts";
import { type FloatDType, type Tensor, tensor } from "../src/engine/tensor.ts";
import { between, finite32, moderate, tensorOf } from "../src/harness/arbitraries.ts";
import { activationGain } from "../src/harness/gain.ts";
import type { Law, LawContext } from "../src/harness/law.ts";
import { budgetFor, minNormal } from "../src/harness/tolerance.ts";

type Activation = "relu" | "leaky_relu" | "sigmoid" | "tanh" | "gelu" | "silu";
type ActivationVjp = `${Activation}_vjp`;

const U64 = 2 ** -53;
const F32_MAX = 3.4028234663852886e38;

/** Φ's absolute error in float64 finite differences of a forward (as in src/harness/budgets.ts). */
const PHI_ULPS = 4;

/**
 * Calls the activation and compares it with the float64 reference within the op's budget
 * (which already allows what real float32 kernels lose, e.g. Φ = ½(1 + erf) in GELU's tail).
 * Returns the backend's output and the tolerance used.
 */
async function expectExact(
  ctx: LawContext,
  op: Activation,
  x: Tensor,
  attrs: LeakyAttrs | Record<string, never>,
): Promise<{ y: Tensor; tol: Float64Array }> {
  const a = attrs as Attrs<"leaky_relu">;
  const y = await ctx.call(op as "leaky_relu", { x }, a);
  const { expected, fields } = await ctx.budget(op as "leaky_relu", { x }, a);
  const tol = fields.y.tol;
  ctx.expectClose(`${op} vs float64 reference`, y, expected.data, tol, fields.y.rule);
  return { y, tol };
}

/** The same for a gradient kernel `<op>_vjp`. */
async function expectExactVjp(
  ctx: LawContext,
  op: ActivationVjp,
  x: Tensor,
  dy: Tensor,
  attrs: LeakyAttrs | Record<string, never>,
): Promise<{ g: Tensor; tol: Float64Array }> {
  const a = attrs as Attrs<"leaky_relu_vjp">;
  const g = await ctx.call(op as "leaky_relu_vjp", { x, dy }, a);
  const { expected, fields } = await ctx.budget(op as "leaky_relu_vjp", { x, dy }, a);
  const tol = fields.y.tol;
  ctx.expectClose(
    `${op} vs float64 reference`,
    g,
    expected.data,
    tol,
    `${fields.y.rule} + |∂g/∂y|·tol_y (gradient from the rounded output)`,
  );
  return { g, tol };
}

/** Where naive formulas break: signed zeros, subnormals, e^x overflow in float32 (88.7) and
 * float64 (709.8), and the largest finite float32. */
const EXTREMES = [
  0,
  -0,
  1e-45,
  -1e-45,
  1e-30,
  -1e-30,
  1e-7,
  -1e-7,
  0.5,
  -0.5,
  1,
  -1,
  3,
  -3,
  10,
  -10,
  20,
  -20,
  50,
  -50,
  88,
  -88,
  89,
  -89,
  100,
  -100,
  710,
  -710,
  1e4,
  -1e4,
  1e30,
  -1e30,
  F32_MAX,
  -F32_MAX,
].map(Math.fround);

/** Excludes inputs near x·e^x ≈ the float32 underflow threshold, where x/(1 + e^(−x)) — a
 * correct SiLU in every library — returns 0 for a result just above the smallest normal
 * (e^(−x) overflows first). That is underflow, not the law's business. */
const notSiluUnderflow = (v: number) => !(v < -88 && v > -93);

/** A dense sweep of [−30, 30] in steps of 1/16, and the extremes: one call covers every regime. */
function sweep(keep: (v: number) => boolean = () => true): number[] {
  const grid = Array.from({ length: 961 }, (_, i) => -30 + i / 16);
  return [...grid, ...EXTREMES].filter(keep);
}

/** Vectors mixing ordinary values, any finite float32 up to 1e4, and the extremes. */
function inputs(
  keep: (v: number) => boolean = () => true,
): fc.Arbitrary<{ shape: number[]; values: number[] }> {
  const elem = fc.oneof(moderate(20), finite32(1e4), fc.constantFrom(...EXTREMES)).filter(keep);
  return fc.integer({ min: 1, max: 16 }).chain((n) => tensorOf([n], elem));
}

/** (x, dy) pairs of equal length for gradient laws. */
function withGrad(
  elem: fc.Arbitrary<number>,
): fc.Arbitrary<{ shape: number[]; x: number[]; dy: number[] }> {
  return fc
    .integer({ min: 1, max: 16 })
    .chain((n) =>
      fc
        .tuple(tensorOf([n], elem), tensorOf([n], moderate(4)))
        .map(([x, dy]) => ({ shape: x.shape, x: x.values, dy: dy.values })),
    );
}

/** Checks an exactness claim on the sweep once, then on generated vectors. */
async function exactEverywhere(
  ctx: LawContext,
  op: Activation,
  attrs: LeakyAttrs | Record<string, never>,
  keep: (v: number) => boolean = () => true,
  extra?: (x: Tensor, y: Tensor) => void,
): Promise<void> {
  const grid = sweep(keep);
  const x = ctx.t([grid.length], grid);
  const { y } = await expectExact(ctx, op, x, attrs);
  extra?.(x, y);
  await ctx.property(inputs(keep), async ({ shape, values }) => {
    const xv = ctx.t(shape, values);
    const { y: yv } = await expectExact(ctx, op, xv, attrs);
    extra?.(xv, yv);
  });
}

/**
 * f(x) − f(−x) = x (GELU, SiLU) or f(−x) = ±f(x) shifted (σ, tanh): compares the backend's
 * values at x and −x through `combine`, within the two budgets and the host's own rounding.
 */
async function symmetry(
  ctx: LawContext,
  op: "sigmoid" | "tanh" | "gelu" | "silu",
  label: string,
  combine: (fx: number, fmx: number, x: number) => { got: number; want: number },
  keep: (v: number) => boolean = () => true,
): Promise<void> {
  await ctx.property(inputs(keep), async ({ shape, values }) => {
    const x = ctx.t(shape, values);
    const mx = ctx.t(
      shape,
      values.map((v) => -v),
    );
    const y = await ctx.call(op, { x }, {});
    const ym = await ctx.call(op, { x: mx }, {});
    const [b, bm] = await Promise.all([ctx.budget(op, { x }, {}), ctx.budget(op, { x: mx }, {})]);
    const got = new Float64Array(values.length);
    const want = new Float64Array(values.length);
    const tol = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const c = combine(y.data[i], ym.data[i], x.data[i]);
      got[i] = c.got;
      want[i] = c.want;
      tol[i] =
        b.fields.y.tol[i] +
        bm.fields.y.tol[i] +
        4 * U64 * (Math.abs(y.data[i]) + Math.abs(ym.data[i]) + Math.abs(x.data[i]));
    }
    ctx.expectClose(label, { shape, data: got }, want, tol, "budget(x) + budget(−x)");
  });
}

/** Bounds on |f‴| over the whole line: the truncation error of a central difference is h²·M₃/6. */
const THIRD_DERIVATIVE: Record<Activation, number> = {
  relu: 0,
  leaky_relu: 0,
  sigmoid: 0.125,
  tanh: 2,
  gelu: 0.8,
  silu: 0.32,
};

/**
 * C9: the gradient kernel against central differences of the forward, in float64.
 *
 * On a float64 backend the differences are of the backend's own forward. On a float32 backend
 * they cannot be: with h ≈ u^(1/3) ≈ 4e-3 a float32 difference is good to ~1e-5, a thousand
 * times coarser than the gradient's budget, so it would only catch gross errors. There the
 * gradient is compared with the float64 reference gradient within its float32 budget, and with
 * float64 differences of the reference forward: the reference is itself the derivative.
 */
function derivativeLaw(
  id: string,
  op: Activation,
  elem: fc.Arbitrary<number>,
  alpha?: number,
): Law {
  const vjp = `${op}_vjp` as ActivationVjp;
  const attrs = (alpha === undefined ? {} : { alpha }) as Attrs<"leaky_relu">;
  return {
    id,
    topic: "activations",
    title: `the ${op === "leaky_relu" ? `leaky ReLU (α = ${alpha?.toPrecision(2)})` : op} gradient kernel equals the derivative of its forward (central differences in float64)`,
    note: "Note 003 (backprop) and 004: a backward kernel is written by hand, separately from its forward; only a numerical derivative shows that the two agree (a dropped factor, a wrong sign).",
    ops: [op, vjp],
    async check(ctx) {
      const own = ctx.dtype === "float64";
      const k = budgetFor(own ? ctx.backend : ctx.options.reference, op).ulps;
      const forward = (values: Float64Array) => {
        const t = tensor("float64", [values.length], values);
        return own
          ? ctx.call(op as "leaky_relu", { x: t }, attrs)
          : ctx.ref(op as "leaky_relu", { x: t }, attrs);
      };
      await ctx.property(withGrad(elem), async ({ shape, x: xs, dy: dys }) => {
        const x = ctx.t(shape, xs);
        const dy = ctx.t(shape, dys);
        const { g, tol } = await expectExactVjp(ctx, vjp, x, dy, attrs);
        const n = x.data.length;
        // h = 2^-17·2^⌈log₂ max(1, |x|)⌉ ≈ u^(1/3)·|x|: balances truncation h² against rounding u/h.
        const xp = new Float64Array(n);
        const xm = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const h = 2 ** (-17 + Math.ceil(Math.log2(Math.max(1, Math.abs(x.data[i])))));
          xp[i] = x.data[i] + h;
          xm[i] = x.data[i] - h;
        }
        const [fp, fm] = await Promise.all([forward(xp), forward(xm)]);
        const fd = new Float64Array(n);
        const fdTol = new Float64Array(n);
        const slope = Math.max(1.13, Math.abs(alpha ?? 0));
        const err = (v: number, f: number) =>
          U64 * (k * Math.abs(f) + (slope + PHI_ULPS) * Math.abs(v)) + 2 ** -1022;
        for (let i = 0; i < n; i++) {
          const step = xp[i] - xm[i];
          const d = dy.data[i];
          fd[i] = (d * (fp.data[i] - fm.data[i])) / step;
          const truncation = (THIRD_DERIVATIVE[op] * (step / 2) ** 2) / 6;
          const rounding = (err(xp[i], fp.data[i]) + err(xm[i], fm.data[i])) / step;
          fdTol[i] =
            Math.abs(d) * (truncation + rounding) * (1 + 4 * U64) +
            tol[i] +
            4 * U64 * Math.abs(fd[i]);
        }
        ctx.expectClose(
          `${vjp}(x, dy) vs dy·(f(x+h) − f(x−h))/2h of the ${own ? "backend's" : "float64 reference"} forward`,
          g,
          fd,
          fdTol,
          "|dy|·(h²·max|f‴|/6 + forward rounding/h) + the gradient's budget",
        );
      });
    },
  };
}

/** Exact ops are held to exactness, up to the flush of subnormal results to 0 that GPUs do
 * (the subnormal law of the engine checks that separately). */
const FLUSH = "exact (a subnormal result may flush to 0)";

/** Values away from the kink at 0, where the central difference straddles two slopes. */
const offKink = moderate(20).filter((v) => Math.abs(v) > 1e-3);

async function gainLaw(
  ctx: LawContext,
  label: string,
  op: "tanh" | "relu" | "leaky_relu",
  attrs: Record<string, never> | LeakyAttrs,
  exact: number,
): Promise<void> {
  const gain = await activationGain(async (nodes) => {
    const x = ctx.t([nodes.length], nodes);
    const y = await ctx.call(op as "leaky_relu", { x }, attrs as LeakyAttrs);
    return Float64Array.from(y.data);
  });
  // f is within k ULP (its budget) of the exact value at the rounded node, and rounding the
  // node moves f by |x·f′/f| ≤ 1 relative more: E[f²] is within 2(k + 1)u, the gain within
  // (k + 1)u, relative. The quadrature itself is good to 1e-14.
  const k = budgetFor(ctx.backend, op).ulps;
  const tol = exact * ((k + 1) * ctx.u + 1e-13);
  ctx.expect(
    Math.abs(gain - exact) <= tol,
    `${label}: 1/√E[f(Z)²] = ${gain.toPrecision(12)}, expected ${exact.toPrecision(12)} (|diff| ${Math.abs(gain - exact).toExponential(3)} > ${tol.toExponential(3)} = gain·((${k} + 1)·u + 1e-13))`,
  );
}

/**
 * The tanh gain 1/√E[tanh²(Z)] = 1.592537419722831427770… (E[tanh²(Z)] = 0.3942944903978411744…),
 * computed with mpmath at 30 digits (adaptive quadrature over (−∞, 0] and [0, ∞)); the constant
 * is the nearest double, and src/harness/gain.ts in float64 agrees with it to 3e-16. LAWS.md's
 * "≈ 1.5927" is off in the fourth decimal; the note's "~1.592" is right.
 */
const TANH_GAIN = 1.5925374197228315;

/** Slopes, float32-representable so that every dtype sees the same α (a float32 kernel
 * rounding α itself would spend the whole 1-ULP budget before multiplying). */
/** Nonzero and below the dtype's smallest normal: a value a GPU may flush to 0. */
const subnormal = (v: number, dtype: FloatDType) =>
  v !== 0 && Math.abs(dtype === "float32" ? Math.fround(v) : v) < minNormal(dtype);

const alphas = fc.oneof(
  fc.constantFrom(0, 0.01, 0.1, 0.2, 0.25, 1).map(Math.fround),
  between(-1, 2),
);

export const activationLaws: Law[] = [
  {
    id: "C1a",
    topic: "activations",
    title:
      "σ maps every input into [0, 1], strictly inside where it is not saturated, and equals the exact logistic function",
    note: "Note 004: the sigmoid squashes ℝ into (0, 1); computed as e^x/(1 + e^x) it overflows to ∞/∞ = NaN past x ≈ 88.7 in float32.",
    ops: ["sigmoid"],
    async check(ctx) {
      const k = budgetFor(ctx.backend, "sigmoid").ulps;
      // Inside |x| < ln(1/(2(k+1)u)) the distance of σ(x) to 0 or 1 exceeds twice the budget.
      const open = Math.log(1 / (2 * (k + 1) * ctx.u));
      const inRange = (x: Tensor, y: Tensor) => {
        for (let i = 0; i < y.data.length; i++) {
          const v = y.data[i];
          ctx.expect(v >= 0 && v <= 1, `σ(${x.data[i]}) = ${v}, outside [0, 1]`);
          if (Math.abs(x.data[i]) < open) {
            ctx.expect(
              v > 0 && v < 1,
              `σ(${x.data[i]}) = ${v}: saturated although |x| < ${open.toFixed(2)}`,
            );
          }
        }
      };
      await exactEverywhere(ctx, "sigmoid", {}, undefined, inRange);
      const inf = ctx.t([2], [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
      const y = await ctx.call("sigmoid", { x: inf }, {});
      ctx.expectClose("σ(±∞)", y, [1, 0], 0);
    },
  },
  {
    id: "C1b",
    topic: "activations",
    title: "σ(−x) = 1 − σ(x)",
    note: "Note 004: the logistic function is symmetric about (0, ½); it is also what lets a kernel compute both tails without cancellation.",
    ops: ["sigmoid"],
    async check(ctx) {
      await symmetry(ctx, "sigmoid", "σ(x) + σ(−x) vs 1", (fx, fmx) => ({
        got: fx + fmx,
        want: 1,
      }));
    },
  },
  {
    id: "C1c",
    topic: "activations",
    title: "σ′ = σ(1 − σ): never above 1/4, which it reaches at 0",
    note: "Note 004: the derivative of the sigmoid; its maximum 1/4 is why deep sigmoid stacks shrink gradients at least 4× per layer.",
    ops: ["sigmoid", "sigmoid_vjp"],
    async check(ctx) {
      await ctx.property(inputs(), async ({ shape, values }) => {
        const x = ctx.t(shape, [0, ...values.slice(1)]);
        const mx = ctx.t(
          shape,
          Array.from(x.data, (v) => -v),
        );
        const ones = ctx.t(shape, 1);
        const { g, tol } = await expectExactVjp(ctx, "sigmoid_vjp", x, ones, {});
        const s = await ctx.call("sigmoid", { x }, {});
        const sm = await ctx.call("sigmoid", { x: mx }, {});
        const [b, bm] = await Promise.all([
          ctx.budget("sigmoid", { x }, {}),
          ctx.budget("sigmoid", { x: mx }, {}),
        ]);
        // 1 − σ(x) is σ(−x) (C1b), which keeps its accuracy where σ(x) rounds to 1.
        const want = Float64Array.from(s.data, (v, i) => v * sm.data[i]);
        const allowed = tol.map(
          (t, i) => t + sm.data[i] * b.fields.y.tol[i] + s.data[i] * bm.fields.y.tol[i] + 2 * U64,
        );
        ctx.expectClose(
          "sigmoid_vjp(x, 1) vs σ(x)·σ(−x) = σ(1 − σ)",
          g,
          want,
          allowed,
          "budget(σ′) + budgets of both σ",
        );
        for (let i = 0; i < g.data.length; i++) {
          ctx.expect(g.data[i] <= 0.25 + tol[0], `σ′(${x.data[i]}) = ${g.data[i]} exceeds 1/4`);
        }
        ctx.expect(Math.abs(g.data[0] - 0.25) <= tol[0], `σ′(0) = ${g.data[0]}, not 1/4`);
      });
    },
  },
  {
    id: "C2a",
    topic: "activations",
    title:
      "tanh equals the exact value for every input, is odd, and stays within [−1, 1] (±1 at ±∞)",
    note: "Note 004: tanh squashes ℝ into (−1, 1); written as (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ) it becomes ∞/∞ = NaN past |x| ≈ 89 in float32 and loses all digits near 0.",
    ops: ["tanh"],
    async check(ctx) {
      await exactEverywhere(ctx, "tanh", {}, undefined, (x, y) => {
        for (let i = 0; i < y.data.length; i++) {
          ctx.expect(
            Math.abs(y.data[i]) <= 1,
            `tanh(${x.data[i]}) = ${y.data[i]}, outside [−1, 1]`,
          );
        }
      });
      await symmetry(ctx, "tanh", "tanh(−x) vs −tanh(x)", (fx, fmx) => ({ got: fmx, want: -fx }));
      const inf = ctx.t([2], [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
      ctx.expectClose("tanh(±∞)", await ctx.call("tanh", { x: inf }, {}), [1, -1], 0);
    },
  },
  {
    id: "C2b",
    topic: "activations",
    title: "tanh(x) = (1 − e^(−2x))/(1 + e^(−2x)) = 2σ(2x) − 1",
    note: "Note 004: tanh is a rescaled, recentred sigmoid; the backend's tanh, exp and sigmoid must tell the same story.",
    ops: ["tanh", "exp", "sigmoid"],
    async check(ctx) {
      // |x| ≤ 40: e^(80) still fits in float32, so the exp form is defined.
      const elem = fc.oneof(
        moderate(40),
        fc.constantFrom(0, 1e-7, -1e-7, 40, -40).map(Math.fround),
      );
      const vec = fc.integer({ min: 1, max: 16 }).chain((n) => tensorOf([n], elem));
      await ctx.property(vec, async ({ shape, values }) => {
        const x = ctx.t(shape, values);
        // −2x and 2x are exact: scaling by 2 only moves the exponent.
        const m2x = ctx.t(
          shape,
          values.map((v) => -2 * v),
        );
        const p2x = ctx.t(
          shape,
          values.map((v) => 2 * v),
        );
        const t = await ctx.call("tanh", { x }, {});
        const e = await ctx.call("exp", { x: m2x }, {});
        const s = await ctx.call("sigmoid", { x: p2x }, {});
        const [bt, be, bs] = await Promise.all([
          ctx.budget("tanh", { x }, {}),
          ctx.budget("exp", { x: m2x }, {}),
          ctx.budget("sigmoid", { x: p2x }, {}),
        ]);
        const viaExp = Float64Array.from(e.data, (v) => (1 - v) / (1 + v));
        // d/dE (1 − E)/(1 + E) = −2/(1 + E)²: the exp's error, propagated.
        const tolExp = bt.fields.y.tol.map(
          (tt, i) => tt + (2 * be.fields.y.tol[i]) / (1 + e.data[i]) ** 2 + 4 * U64,
        );
        ctx.expectClose(
          "tanh(x) vs (1 − e^(−2x))/(1 + e^(−2x))",
          t,
          viaExp,
          tolExp,
          "budget(tanh) + 2·budget(exp)/(1 + E)²",
        );
        const viaSigmoid = Float64Array.from(s.data, (v) => 2 * v - 1);
        const tolSig = bt.fields.y.tol.map((tt, i) => tt + 2 * bs.fields.y.tol[i] + 4 * U64);
        ctx.expectClose(
          "tanh(x) vs 2σ(2x) − 1",
          t,
          viaSigmoid,
          tolSig,
          "budget(tanh) + 2·budget(σ)",
        );
      });
    },
  },
  {
    id: "C2c",
    topic: "activations",
    title: "tanh′ = 1 − tanh²: never above 1, which it reaches at 0",
    note: "Notes 004 and 002: tanh's derivative peaks at 1 (four times the sigmoid's), so a unit near 0 passes its gradient through unchanged.",
    ops: ["tanh", "tanh_vjp"],
    async check(ctx) {
      await ctx.property(inputs(), async ({ shape, values }) => {
        const x = ctx.t(shape, [0, ...values.slice(1)]);
        const ones = ctx.t(shape, 1);
        const { g, tol } = await expectExactVjp(ctx, "tanh_vjp", x, ones, {});
        const t = await ctx.call("tanh", { x }, {});
        const b = await ctx.budget("tanh", { x }, {});
        const want = Float64Array.from(t.data, (v) => 1 - v * v);
        const allowed = tol.map(
          (tt, i) => tt + 2 * Math.abs(t.data[i]) * b.fields.y.tol[i] + 2 * U64,
        );
        ctx.expectClose(
          "tanh_vjp(x, 1) vs 1 − tanh(x)²",
          g,
          want,
          allowed,
          "budget(tanh′) + 2|tanh|·budget(tanh)",
        );
        for (let i = 0; i < g.data.length; i++) {
          ctx.expect(g.data[i] <= 1 + tol[0], `tanh′(${x.data[i]}) = ${g.data[i]} exceeds 1`);
        }
        ctx.expect(Math.abs(g.data[0] - 1) <= tol[0], `tanh′(0) = ${g.data[0]}, not 1`);
      });
    },
  },
  {
    id: "C3a",
    topic: "activations",
    title:
      "σ′ and tanh′ vanish for large |x|: σ′(x) ≤ e^(−|x|) and tanh′(x) ≤ 4e^(−2|x|), never negative or NaN",
    note: "Notes 004 and 002: saturated sigmoid and tanh units pass (almost) no gradient, the vanishing-gradient problem; a kernel that overflows there returns NaN instead of 0.",
    ops: ["sigmoid_vjp", "tanh_vjp"],
    async check(ctx) {
      const large = fc.oneof(
        between(5, 100),
        finite32(F32_MAX).filter((v) => Math.abs(v) >= 5),
        fc.constantFrom(88, 89, 100, 1e4, 1e30, F32_MAX).map(Math.fround),
      );
      const elem = fc
        .tuple(large, fc.boolean())
        .map(([v, neg]) => (neg ? -Math.abs(v) : Math.abs(v)));
      await ctx.property(
        fc.integer({ min: 1, max: 16 }).chain((n) => tensorOf([n], elem)),
        async ({ shape, values }) => {
          const x = ctx.t(shape, values);
          const ones = ctx.t(shape, 1);
          for (const [op, bound] of [
            ["sigmoid_vjp", (v: number) => Math.exp(-Math.abs(v))],
            ["tanh_vjp", (v: number) => 4 * Math.exp(-2 * Math.abs(v))],
          ] as const) {
            const g = await ctx.call(op, { x, dy: ones }, {});
            const { fields } = await ctx.budget(op, { x, dy: ones }, {});
            for (let i = 0; i < g.data.length; i++) {
              const v = x.data[i];
              const limit = bound(v) + fields.y.tol[i];
              ctx.expect(
                g.data[i] >= 0 && g.data[i] <= limit,
                `${op}(${v}, 1) = ${g.data[i]}: a saturated unit's gradient must lie in [0, ${limit.toExponential(3)}]`,
              );
            }
          }
        },
      );
    },
  },
  {
    id: "C3b",
    topic: "activations",
    title: "at 0 tanh passes the upstream gradient unchanged and σ scales it by exactly 1/4",
    note: "Note 002: a tanh unit at 0 is in its linear regime (tanh′(0) = 1), so initialising pre-activations near 0 keeps gradients flowing.",
    ops: ["tanh_vjp", "sigmoid_vjp"],
    async check(ctx) {
      await ctx.property(
        fc.integer({ min: 1, max: 16 }).chain((n) => tensorOf([n], moderate(100))),
        async ({ shape, values }) => {
          const zero = ctx.t(shape, 0);
          const dy = ctx.t(shape, values);
          const gt = await ctx.call("tanh_vjp", { x: zero, dy }, {});
          const gs = await ctx.call("sigmoid_vjp", { x: zero, dy }, {});
          const bt = await ctx.budget("tanh_vjp", { x: zero, dy }, {});
          const bs = await ctx.budget("sigmoid_vjp", { x: zero, dy }, {});
          ctx.expectClose("tanh_vjp(0, dy) vs dy", gt, dy.data, bt.fields.y.tol, bt.fields.y.rule);
          ctx.expectClose(
            "sigmoid_vjp(0, dy) vs dy/4",
            gs,
            Array.from(dy.data, (d) => d / 4),
            bs.fields.y.tol,
            bs.fields.y.rule,
          );
        },
      );
    },
  },
  {
    id: "C4a",
    topic: "activations",
    title: "ReLU(x) = max(0, x) exactly, for every input including ±0 and ±∞",
    note: "Note 004: ReLU only compares and copies, so any rounding at all is a bug.",
    ops: ["relu"],
    async check(ctx) {
      const special = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
      const grid = [...sweep(), ...special];
      const check = async (values: number[]) => {
        const x = ctx.t([values.length], values);
        const y = await ctx.call("relu", { x }, {});
        ctx.expectClose(
          "relu(x) vs max(0, x)",
          y,
          Array.from(x.data, (v) => Math.max(0, v)),
          minNormal(ctx.dtype),
          FLUSH,
        );
      };
      await check(grid);
      await ctx.property(inputs(), async ({ values }) => check(values));
    },
  },
  {
    id: "C4b",
    topic: "activations",
    title:
      "the ReLU gradient passes dy where x > 0 and is exactly 0 where x ≤ 0, including at x = 0",
    note: "Note 004: ReLU is not differentiable at 0 and frameworks take the left derivative 0 there; its gradient either passes or blocks, never rescales.",
    ops: ["relu_vjp"],
    async check(ctx) {
      const elem = fc.oneof(moderate(20), fc.constantFrom(0, -0), finite32(1e30));
      await ctx.property(withGrad(elem), async ({ shape, x: xs, dy: dys }) => {
        const x = ctx.t(shape, xs);
        const dy = ctx.t(shape, dys);
        const g = await ctx.call("relu_vjp", { x, dy }, {});
        // A positive subnormal x may be read as 0 (WGSL lets GPUs flush; I4c names that apart).
        const want = Array.from(x.data, (v, i) =>
          v > 0 && !(v < minNormal(ctx.dtype) && g.data[i] === 0) ? dy.data[i] : 0,
        );
        ctx.expectClose(
          "relu_vjp(x, dy) vs (x > 0 ? dy : 0)",
          g,
          want,
          0,
          "exact: the gradient is 0 or 1 times dy (a subnormal x may read as 0)",
        );
      });
    },
  },
  {
    id: "C4c",
    topic: "activations",
    title:
      "ReLU is idempotent, ReLU(ReLU(x)) = ReLU(x), and positively homogeneous, ReLU(c·x) = c·ReLU(x) for c > 0",
    note: "Note 004: ReLU never rescales what it passes, which is why He initialisation only needs a factor 2 for the half it zeroes.",
    ops: ["relu"],
    async check(ctx) {
      const elem = fc.oneof(moderate(20), finite32(1e4), fc.constantFrom(0, -0));
      const vec = fc.integer({ min: 1, max: 16 }).chain((n) => tensorOf([n], elem));
      await ctx.property(vec, between(1e-3, 1e3), async ({ shape, values }, c) => {
        const x = ctx.t(shape, values);
        const y = await ctx.call("relu", { x }, {});
        const yy = await ctx.call("relu", { x: y }, {});
        ctx.expectClose("relu(relu(x)) vs relu(x)", yy, y.data, minNormal(ctx.dtype), FLUSH);
        // fl(c·x) rounds the same way as fl(c·max(0, x)) because rounding is monotone and fl(0) = 0.
        const cx = ctx.t(
          shape,
          Array.from(x.data, (v) => c * v),
        );
        const ycx = await ctx.call("relu", { x: cx }, {});
        const cy = ctx.t(
          shape,
          Array.from(y.data, (v) => c * v),
        );
        ctx.expectClose(
          `relu(${c}·x) vs ${c}·relu(x)`,
          ycx,
          cy.data,
          // A subnormal x that relu may flush to 0 is c·x after scaling, up to c·2^-126.
          Math.max(1, c) * minNormal(ctx.dtype),
          `${FLUSH}, scaled by c; both sides rounded once to the dtype`,
        );
      });
    },
  },
  {
    id: "C5a",
    topic: "activations",
    title: "leaky ReLU (pReLU) is max(0, x) + α·min(0, x) for any slope α",
    note: "Note 004: the parametrised ReLU keeps a slope α on the negative side so a unit below 0 still passes some gradient.",
    ops: ["leaky_relu"],
    async check(ctx) {
      await ctx.property(
        alphas,
        inputs((v) => Number.isFinite(v)),
        async (alpha, { shape, values }) => {
          const x = ctx.t(shape, values);
          const y = await ctx.call("leaky_relu", { x }, { alpha });
          const { fields } = await ctx.budget("leaky_relu", { x }, { alpha });
          // Rounded to the dtype: α·x may lie beyond float32's range, where the answer is ±∞.
          const exact = Array.from(x.data, (v) => Math.max(0, v) + alpha * Math.min(0, v));
          const want = ctx.t([exact.length], exact).data;
          // A subnormal slope may be read as 0 (WGSL lets GPUs flush; I4c names that apart).
          if (subnormal(alpha, ctx.dtype))
            want.forEach((w, i) => {
              const flushed = Math.max(0, x.data[i]);
              if (Math.abs(y.data[i] - flushed) < Math.abs(y.data[i] - w)) want[i] = flushed;
            });
          ctx.expectClose(
            `leaky_relu(x; α = ${alpha}) vs max(0, x) + α·min(0, x)`,
            y,
            want,
            fields.y.tol,
            fields.y.rule,
          );
        },
      );
    },
  },
  {
    id: "C5b",
    topic: "activations",
    title: "leaky ReLU is exactly ReLU at α = 0 and exactly the identity at α = 1",
    note: "Note 004: pReLU interpolates between ReLU and the linear unit; both ends must be reproduced exactly, not approximately.",
    ops: ["leaky_relu"],
    async check(ctx) {
      await ctx.property(
        inputs((v) => Number.isFinite(v)),
        async ({ shape, values }) => {
          const x = ctx.t(shape, values);
          const y0 = await ctx.call("leaky_relu", { x }, { alpha: 0 });
          const y1 = await ctx.call("leaky_relu", { x }, { alpha: 1 });
          ctx.expectClose(
            "leaky_relu(x; α = 0) vs max(0, x)",
            y0,
            Array.from(x.data, (v) => Math.max(0, v)),
            minNormal(ctx.dtype),
            FLUSH,
          );
          ctx.expectClose("leaky_relu(x; α = 1) vs x", y1, x.data, minNormal(ctx.dtype), FLUSH);
        },
      );
    },
  },
  {
    id: "C5c",
    topic: "activations",
    title:
      "the leaky-ReLU gradient is dy on the positive side and α·dy on the negative side (and at 0, the left slope)",
    note: "Notes 004 and 002: the negative-side slope α is the point of leaky ReLU: a unit below 0 still learns, so it cannot die as a ReLU unit can.",
    ops: ["leaky_relu_vjp"],
    async check(ctx) {
      const elem = fc.oneof(moderate(20), fc.constantFrom(0, -0), finite32(1e30));
      await ctx.property(alphas, withGrad(elem), async (alpha, { shape, x: xs, dy: dys }) => {
        const x = ctx.t(shape, xs);
        const dy = ctx.t(shape, dys);
        const g = await ctx.call("leaky_relu_vjp", { x, dy }, { alpha });
        const { fields } = await ctx.budget("leaky_relu_vjp", { x, dy }, { alpha });
        const want = Array.from(x.data, (v, i) => (v > 0 ? dy.data[i] : alpha * dy.data[i]));
        // A positive subnormal x may be read as 0, which takes the left slope (see C4b).
        x.data.forEach((v, i) => {
          const left = alpha * dy.data[i];
          if (subnormal(v, ctx.dtype) && Math.abs(g.data[i] - left) < Math.abs(g.data[i] - want[i]))
            want[i] = left;
        });
        ctx.expectClose(
          `leaky_relu_vjp(x, dy; α = ${alpha}) vs (x > 0 ? dy : α·dy)`,
          g,
          want,
          fields.y.tol,
          fields.y.rule,
        );
      });
    },
  },
  {
    id: "C6a",
    topic: "activations",
    title:
      "GELU is x·Φ(x) with the exact normal CDF Φ (the tanh approximation is a different function)",
    note: "Note 004: GELU weights x by the probability Φ(x) that a standard normal is below it; the popular tanh formula differs by up to 4.7e-4, thousands of ULPs in float32.",
    ops: ["gelu"],
    async check(ctx) {
      await exactEverywhere(ctx, "gelu", {});
    },
  },
  {
    id: "C6b",
    topic: "activations",
    title: "GELU(x) − GELU(−x) = x",
    note: "Note 004: since Φ(x) + Φ(−x) = 1, GELU is x plus an even function; the identity pins its odd part.",
    ops: ["gelu"],
    async check(ctx) {
      await symmetry(
        ctx,
        "gelu",
        "GELU(x) − GELU(−x) vs x",
        (fx, fmx, x) => ({ got: fx - fmx, want: x }),
        (v) => Math.abs(v) < 1e30,
      );
    },
  },
  {
    id: "C7a",
    topic: "activations",
    title: "SiLU (swish) is x·σ(x)",
    note: "Note 004: swish, x·sigmoid(x), is smooth and dips below 0 for negative x; like σ it must survive e^(−x) overflowing for large negative x.",
    ops: ["silu"],
    async check(ctx) {
      await exactEverywhere(ctx, "silu", {}, notSiluUnderflow);
    },
  },
  {
    id: "C7b",
    topic: "activations",
    title: "SiLU(x) − SiLU(−x) = x",
    note: "Note 004: σ(x) + σ(−x) = 1 makes SiLU x plus an even function, as for GELU.",
    ops: ["silu"],
    async check(ctx) {
      await symmetry(
        ctx,
        "silu",
        "SiLU(x) − SiLU(−x) vs x",
        (fx, fmx, x) => ({ got: fx - fmx, want: x }),
        (v) => Math.abs(v) < 1e30 && notSiluUnderflow(v) && notSiluUnderflow(-v),
      );
    },
  },
  {
    id: "C8a",
    topic: "activations",
    title:
      "the gain of tanh, 1/√E[tanh(Z)²] for Z ~ N(0, 1), is 1.59254 (close to the customary 5/3)",
    note: "Note 002: the gain rescales the init so that tanh(Z)·gain has unit variance; 5/3 is the customary round value, within 5% of the exact one.",
    ops: ["tanh"],
    async check(ctx) {
      await gainLaw(ctx, "tanh", "tanh", {}, TANH_GAIN);
      ctx.expect(Math.abs(TANH_GAIN - 5 / 3) / (5 / 3) < 0.05, "5/3 is within 5% of the tanh gain");
    },
  },
  {
    id: "C8b",
    topic: "activations",
    title: "the gain of ReLU, 1/√E[ReLU(Z)²], is √2",
    note: "Note 002 (and He init in 001): ReLU zeroes half of a symmetric input, so E[ReLU(Z)²] = 1/2 and the gain is √2.",
    ops: ["relu"],
    async check(ctx) {
      await gainLaw(ctx, "ReLU", "relu", {}, Math.SQRT2);
    },
  },
  {
    id: "C8c",
    topic: "activations",
    title: "the gain of the identity (leaky ReLU with α = 1) is 1",
    note: "Note 002: a linear unit needs no correction: E[Z²] = 1.",
    ops: ["leaky_relu"],
    async check(ctx) {
      await gainLaw(ctx, "identity", "leaky_relu", { alpha: 1 }, 1);
    },
  },
  derivativeLaw("C9a", "sigmoid", moderate(30)),
  derivativeLaw("C9b", "tanh", moderate(20)),
  derivativeLaw("C9c", "relu", offKink),
  derivativeLaw("C9d", "leaky_relu", offKink, Math.fround(0.1)),
  derivativeLaw("C9e", "gelu", moderate(12)),
  derivativeLaw("C9f", "silu", moderate(30)),
];
