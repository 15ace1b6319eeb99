/**
 * The golden cases, a named table per op: ordinary values and the edge cases where kernels
 * go wrong (huge and tiny magnitudes, float32 subnormals, ±0, ±∞, NaN, ties, rows of −∞,
 * lengths that are not powers of two, the overflow and underflow boundaries). Every input is
 * exactly representable in float32 (the oracle refuses anything else), so one case serves
 * float32 and float64 backends alike.
 */
import type { AttrValue, GoldenCase, GoldenOp, GoldenTensor } from "./oracle.ts";

const f = Math.fround;
const INF = Number.POSITIVE_INFINITY;
const NAN = Number.NaN;
/** The largest finite float32, 3.4028234663852886e38. */
const MAX = f(3.4028234663852886e38);
/** The smallest float32 subnormal, 2^-149, and a subnormal with more than one bit. */
const SUB_MIN = 2 ** -149;
const SUB = 3 * 2 ** -140;
/** The smallest normal float32. */
const NORM_MIN = 2 ** -126;
const HUGE = f(3e38);
const TINY = f(1e-30);
/** 1 + one float32 ulp, and 1 − half an ulp (the float32 just below 1). */
const ONE_UP = 1 + 2 ** -23;
const ONE_DOWN = 1 - 2 ** -24;

/** The float32 neighbours of v. */
function nextUp(v: number): number {
  const b = new Float32Array([v]);
  const u = new Uint32Array(b.buffer);
  u[0] += v >= 0 ? 1 : -1;
  return b[0];
}
function nextDown(v: number): number {
  return -nextUp(-v);
}

/** Deterministic "ordinary" float32 values: 24-bit integers scaled into (−scale, scale). */
function ordinary(n: number, seed: number, scale = 4): number[] {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const int24 = (s >>> 8) - 2 ** 23;
    out.push(f((int24 / 2 ** 23) * scale));
  }
  return out;
}

/** Positive ordinary values in (0, scale). */
function positive(n: number, seed: number, scale = 4): number[] {
  return ordinary(n, seed, scale).map((v) => Math.abs(v) || scale / 2);
}

function t(shape: number[], data: number[]): GoldenTensor {
  return { shape, data };
}
function v(data: number[]): GoldenTensor {
  return { shape: [data.length], data };
}
function idx(data: number[]): GoldenTensor {
  return { shape: [data.length], int: true, data };
}

function gcase(
  name: string,
  inputs: Record<string, GoldenTensor>,
  attrs: Record<string, AttrValue> = {},
): GoldenCase {
  const allowNaN = Object.values(inputs).some((x) => x.data.some(Number.isNaN));
  return allowNaN ? { name, allowNaN, inputs, attrs } : { name, inputs, attrs };
}

// ------------------------------------------------------------------------------ elementwise

/** Cases shared by every unary op, then its own boundaries. */
function unary(extra: [string, number[]][]): GoldenCase[] {
  const common: [string, number[]][] = [
    ["ordinary values", ordinary(8, 1)],
    ["signed zeros", [0, -0]],
    ["tiny magnitudes", [TINY, -TINY, NORM_MIN, -NORM_MIN]],
    ["float32 subnormals", [SUB_MIN, -SUB_MIN, SUB, -SUB]],
    ["huge magnitudes", [HUGE, -HUGE, MAX, -MAX]],
    ["infinities", [INF, -INF]],
    ["NaN propagates", [NAN, 1]],
    ["length 33", ordinary(33, 2, 8)],
  ];
  return [...common, ...extra].map(([name, data]) => gcase(name, { x: v(data) }));
}

const LN_MAX = f(Math.log(MAX));

const elementwise: Partial<Record<GoldenOp, GoldenCase[]>> = {
  neg: unary([]),
  exp: unary([
    ["overflow boundary near ln(FLT_MAX)", [f(88.72), nextDown(LN_MAX), LN_MAX, nextUp(LN_MAX)]],
    ["float32 underflow to subnormals and to zero", [f(-87.33), f(-103.9), f(-103.97), f(-104)]],
    ["float64 range limits", [f(709.78), f(-745.1), f(-745.2)]],
    ["small arguments", [2 ** -12, -(2 ** -12), f(1e-4), f(-1e-4)]],
    ["large logits", [1e4, -1e4]],
  ]),
  log: unary([
    ["positive ordinary values", positive(8, 3, 16)],
    ["near 1", [1, ONE_UP, ONE_DOWN, f(1.0001)]],
    ["negative values", [-1, f(-0.5), -HUGE]],
    ["powers of two and e", [2, 0.5, 1024, f(Math.E)]],
  ]),
  relu: unary([]),
  sigmoid: unary([
    ["saturation at ±90", [90, -90]],
    ["float32 and float64 saturation", [17, -17, f(36.7), f(-36.7), f(88.7), f(-103.9)]],
    ["large logits", [1e4, -1e4]],
  ]),
  tanh: unary([
    ["saturation near ±9", [9, -9, f(9.01), f(8.3)]],
    ["small arguments", [2 ** -12, f(1e-4), f(-1e-4), f(0.01)]],
    ["float64 saturation near 19", [f(19.06), f(-19.06), 20]],
    ["large logits", [1e4, -1e4]],
  ]),
  gelu: unary([
    ["left tail", [-5, -10, -20, f(-37.5), -40]],
    ["right side", [5, 10, 40]],
    ["around the minimum", [f(-0.7517915), f(-0.5), f(-1.5)]],
    ["large logits", [1e4, -1e4]],
  ]),
  silu: unary([
    ["left tail", [-20, -90, f(-103.9), -110]],
    ["right side", [20, 90]],
    ["around the minimum", [f(-1.2784645), -1, -2]],
    ["large logits", [1e4, -1e4]],
  ]),
};

const leakyRelu: GoldenCase[] = [
  ...unary([]).map((c) => ({ ...c, attrs: { alpha: f(0.01) } })),
  gcase("alpha 0.2", { x: v(ordinary(6, 4)) }, { alpha: f(0.2) }),
  gcase("alpha 1 is the identity", { x: v([...ordinary(4, 5), -HUGE, -INF]) }, { alpha: 1 }),
  // Not at −∞: there α·x is 0·∞, NaN in IEEE arithmetic, while max(x, α·x) kernels give −∞.
  gcase("alpha 0 is relu up to the sign of zero", { x: v([-3, -0, 2, -HUGE]) }, { alpha: 0 }),
  gcase("alpha scales subnormals below float32", { x: v([-SUB_MIN, -SUB]) }, { alpha: f(0.01) }),
];

/** Keeps the element pairs of a same-shape case whose divisor is 0, ±∞ or normal below 2¹²⁶. */
function withinDivisionRange(c: GoldenCase): GoldenCase[] {
  const { a, b } = c.inputs;
  const ok = (y: number) =>
    y === 0 || !Number.isFinite(y) || (Math.abs(y) >= 2 ** -126 && Math.abs(y) <= 2 ** 126);
  if (a.shape.length !== 1 || b.shape.length !== 1 || a.shape[0] !== b.shape[0]) return [c];
  const keep = b.data.map((y) => ok(Number(y)));
  if (keep.every(Boolean)) return [c];
  const pick = (t: GoldenTensor) => ({
    ...t,
    shape: [keep.filter(Boolean).length],
    data: t.data.filter((_, i) => keep[i]),
  });
  return keep.some(Boolean) ? [{ ...c, inputs: { ...c.inputs, a: pick(a), b: pick(b) } }] : [];
}

function binaryCases(op: "add" | "sub" | "mul" | "div"): GoldenCase[] {
  const a23 = ordinary(6, 10);
  const cases = [
    gcase("same shape", { a: t([2, 3], a23), b: t([2, 3], ordinary(6, 11)) }),
    gcase("broadcast a row", { a: t([2, 3], a23), b: t([3], ordinary(3, 12)) }),
    gcase("broadcast a column against a row", {
      a: t([2, 1], ordinary(2, 13)),
      b: t([1, 3], ordinary(3, 14)),
    }),
    gcase("scalar against a vector", { a: t([], [f(0.1)]), b: v(ordinary(4, 15)) }),
    gcase("length 7", { a: v(ordinary(7, 16, 100)), b: v(ordinary(7, 17, 0.01)) }),
    gcase("cancellation near equal operands", {
      a: v([ONE_UP, HUGE, f(0.1), SUB]),
      b: v([
        op === "sub" ? 1 : -1,
        op === "sub" ? nextDown(HUGE) : -nextDown(HUGE),
        f(-0.1),
        SUB_MIN,
      ]),
    }),
    gcase("huge with tiny", { a: v([HUGE, -HUGE, MAX]), b: v([SUB_MIN, TINY, NORM_MIN]) }),
    gcase("subnormals", { a: v([SUB_MIN, SUB, -SUB]), b: v([SUB_MIN, -SUB_MIN, SUB]) }),
    gcase("huge magnitudes", { a: v([HUGE, MAX, -MAX]), b: v([HUGE, MAX, MAX]) }),
    gcase("signed zeros", { a: v([0, -0, 0, -0]), b: v([0, -0, -0, 0]) }),
    gcase("infinities", { a: v([INF, INF, -INF, INF, 1]), b: v([INF, -INF, 2, 0, -INF]) }),
    gcase("NaN propagates", { a: v([NAN, 1, NAN]), b: v([1, NAN, INF]) }),
  ];
  if (op === "div") {
    cases.push(
      gcase("division by signed zeros", { a: v([1, -1, 1, 0, -0]), b: v([0, 0, -0, 0, -0]) }),
      gcase("non-terminating quotients", { a: v([1, 2, 1, 10]), b: v([3, 3, 7, f(0.1)]) }),
      gcase("quotients beyond float32 range", {
        a: v([MAX, SUB_MIN, 1, SUB_MIN]),
        b: v([SUB_MIN, MAX, SUB_MIN, 3]),
      }),
    );
  }
  if (op === "mul") {
    cases.push(
      gcase("products beyond float32 range", {
        a: v([MAX, SUB_MIN, HUGE, TINY]),
        b: v([MAX, SUB_MIN, -2, TINY]),
      }),
      gcase("zero times infinity", { a: v([0, -0, INF]), b: v([INF, INF, -0]) }),
    );
  }
  // WGSL and CUDA promise x/y only for |y| in [2⁻¹²⁶, 2¹²⁶] (a·(1/y) kernels overflow beyond):
  // divisors outside that range would judge the division algorithm, not the kernel's accuracy.
  return op === "div" ? cases.flatMap(withinDivisionRange) : cases;
}

// ------------------------------------------------------------------------------ reductions

function reductionCases(op: "sum" | "mean" | "max"): GoldenCase[] {
  const cases = [
    gcase("rows of a matrix", { x: t([3, 4], ordinary(12, 20)) }, { axis: 1 }),
    gcase("columns of a matrix", { x: t([3, 4], ordinary(12, 20)) }, { axis: 0 }),
    gcase("middle axis of a 3-D tensor", { x: t([2, 3, 2], ordinary(12, 21)) }, { axis: 1 }),
    gcase("length 7", { x: t([7], ordinary(7, 22, 1000)) }, { axis: 0 }),
    gcase("length 33", { x: t([33], ordinary(33, 23)) }, { axis: 0 }),
    gcase("single element", { x: t([2, 1], [f(0.1), -3]) }, { axis: 1 }),
    op === "mean"
      ? // The sum stays below FLT_MAX in any order, so a float32 kernel need not overflow.
        gcase("huge values", { x: t([3], [f(1e38), f(1.1e38), f(1.2e38)]) }, { axis: 0 })
      : gcase("huge values beyond float32 range", { x: t([3], [HUGE, HUGE, MAX]) }, { axis: 0 }),
    gcase("cancellation: huge, tiny, minus huge", { x: t([3], [HUGE, 1, -HUGE]) }, { axis: 0 }),
    gcase("subnormals", { x: t([4], [SUB_MIN, SUB, -SUB_MIN, SUB]) }, { axis: 0 }),
    gcase("signed zeros", { x: t([2, 2], [-0, -0, 0, -0]) }, { axis: 1 }),
    gcase("infinities", { x: t([3, 2], [INF, 1, INF, -INF, -INF, -INF]) }, { axis: 1 }),
    gcase("NaN propagates", { x: t([2, 3], [1, NAN, 2, 3, 4, 5]) }, { axis: 1 }),
  ];
  if (op === "max") {
    cases.push(
      gcase("ties", { x: t([2, 4], [2, 5, 5, 1, -1, -1, -1, -1]) }, { axis: 1 }),
      gcase("NaN first or last", { x: t([2, 3], [NAN, 1, 2, 3, 4, NAN]) }, { axis: 1 }),
      gcase("row of −∞", { x: t([3], [-INF, -INF, -INF]) }, { axis: 0 }),
    );
  }
  return cases;
}

function varianceCases(): GoldenCase[] {
  const both = (name: string, x: GoldenTensor, axis: number): GoldenCase[] => [
    gcase(`${name} (biased)`, { x }, { axis, unbiased: false }),
    gcase(`${name} (unbiased)`, { x }, { axis, unbiased: true }),
  ];
  const offset = f(1e4);
  return [
    ...both("rows of a matrix", t([3, 4], ordinary(12, 30)), 1),
    ...both("columns of a matrix", t([3, 4], ordinary(12, 30)), 0),
    ...both("length 33", t([33], ordinary(33, 31)), 0),
    ...both(
      "|mean| ≫ std",
      t(
        [5],
        ordinary(5, 32, 2 ** -8).map((d) => f(offset + d)),
      ),
      0,
    ),
    ...both("one ulp apart near 1e30", t([4], [f(1e30), nextUp(f(1e30)), f(1e30), f(1e30)]), 0),
    ...both("constant row", t([3], [f(0.1), f(0.1), f(0.1)]), 0),
    // Large but representable: with ±3e38 the exact variance is beyond float32 and an honest
    // Welford kernel overflows to NaN in x − mean, so such a golden would judge overflow style.
    ...both("huge values", t([3], [f(1e18), f(-1e18), f(3e18)]), 0),
    ...both("subnormals", t([3], [SUB_MIN, SUB, 0]), 0),
    gcase("single element (biased)", { x: t([2, 1], [5, -7]) }, { axis: 1, unbiased: false }),
    gcase("infinity gives NaN", { x: t([3], [1, INF, 2]) }, { axis: 0, unbiased: false }),
    gcase("NaN propagates", { x: t([3], [1, NAN, 2]) }, { axis: 0, unbiased: true }),
  ];
}

// --------------------------------------------------------------------------------- matmul

function matmulCases(): GoldenCase[] {
  return [
    gcase("2×3 by 3×2", { a: t([2, 3], ordinary(6, 40)), b: t([3, 2], ordinary(6, 41)) }),
    gcase("k = 1 (outer product)", {
      a: t([3, 1], ordinary(3, 42)),
      b: t([1, 4], ordinary(4, 43)),
    }),
    gcase("k = 17", { a: t([2, 17], ordinary(34, 44)), b: t([17, 2], ordinary(34, 45)) }),
    gcase("k = 33", { a: t([1, 33], ordinary(33, 46)), b: t([33, 1], ordinary(33, 47)) }),
    gcase("batched 2×(2×3 by 3×2)", {
      a: t([2, 2, 3], ordinary(12, 48)),
      b: t([2, 3, 2], ordinary(12, 49)),
    }),
    gcase("exact cancellation to a tiny dot product", {
      a: t([1, 4], [HUGE, 1, -HUGE, SUB_MIN]),
      b: t([4, 1], [1, TINY, 1, 1]),
    }),
    gcase("products beyond float32 range", { a: t([1, 2], [HUGE, MAX]), b: t([2, 1], [HUGE, 2]) }),
    gcase("signed zeros", { a: t([2, 1], [-0, 0]), b: t([1, 2], [1, -1]) }),
    gcase("infinity, and zero times infinity", {
      a: t([2, 2], [INF, 1, 0, 1]),
      b: t([2, 2], [1, 0, 1, INF]),
    }),
    gcase("NaN propagates", { a: t([1, 2], [NAN, 1]), b: t([2, 2], [1, 2, 3, 4]) }),
  ];
}

// ----------------------------------------------------------------------- softmax family

function softmaxCases(): GoldenCase[] {
  const x = (shape: number[], data: number[]) => ({ x: t(shape, data) });
  return [
    gcase("1, 2, 3", x([3], [1, 2, 3])),
    gcase("ordinary rows", x([2, 5], ordinary(10, 50, 8))),
    gcase("ties", x([2, 4], [1, 1, 1, 1, 3, 0, 3, 0])),
    gcase("single-element rows", x([3, 1], [f(0.1), -HUGE, 0])),
    gcase("large logits ±1e4", x([2, 3], [1e4, 9999, -1e4, -1e4, 1e4, 0])),
    gcase("huge logits ±3e38", x([2, 3], [HUGE, -HUGE, 0, MAX, MAX, -MAX])),
    gcase("one-ulp differences", x([3], [1, ONE_UP, ONE_DOWN])),
    gcase("subnormals and zeros", x([4], [SUB_MIN, -SUB_MIN, 0, -0])),
    gcase("length 7", x([7], ordinary(7, 51, 20))),
    gcase("length 33", x([33], ordinary(33, 52, 30))),
    gcase("some −∞ entries", x([2, 3], [-INF, 0, 1, -INF, -INF, 5])),
    gcase("a row of all −∞", x([2, 3], [-INF, -INF, -INF, 1, 2, 3])),
    gcase("+∞ entry", x([2, 3], [INF, 0, 1, INF, -INF, INF])),
    gcase("NaN poisons its row only", x([2, 3], [1, NAN, 2, 3, 4, 5])),
  ];
}

// ------------------------------------------------------------------------------- losses

function crossEntropyCases(): GoldenCase[] {
  const logits = t([3, 4], ordinary(12, 60, 4));
  const soft = t([3, 4], [0.25, 0.25, 0.5, 0, 1, 0, 0, 0, 0.125, 0.375, 0.25, 0.25]);
  const cases: GoldenCase[] = [];
  for (const reduction of ["none", "sum", "mean"] as const) {
    cases.push(
      gcase(`class indices, ${reduction}`, { logits, target: idx([2, 0, 3]) }, { reduction }),
      gcase(`soft targets, ${reduction}`, { logits, target: soft }, { reduction }),
    );
  }
  const none = { reduction: "none" };
  return [
    ...cases,
    gcase(
      "large logits ±1e4: confident right and wrong",
      { logits: t([3, 3], [1e4, 0, -1e4, 1e4, 0, -1e4, 9999, 1e4, 0]), target: idx([0, 2, 1]) },
      none,
    ),
    gcase(
      "huge logits ±3e38",
      { logits: t([2, 3], [HUGE, -HUGE, 0, MAX, MAX, -MAX]), target: idx([1, 0]) },
      none,
    ),
    gcase(
      "ties",
      { logits: t([2, 4], [2, 2, 2, 2, 0, 5, 5, 0]), target: idx([1, 2]) },
      { reduction: "mean" },
    ),
    gcase("single class", { logits: t([2, 1], [3, -HUGE]), target: idx([0, 0]) }, none),
    gcase(
      "length 33",
      { logits: t([1, 33], ordinary(33, 61, 10)), target: idx([17]) },
      { reduction: "sum" },
    ),
    gcase(
      "−∞ logit: untargeted is harmless, targeted is +∞",
      { logits: t([2, 3], [-INF, 1, 2, -INF, 1, 2]), target: idx([1, 0]) },
      none,
    ),
    gcase(
      "−∞ logit with soft targets",
      {
        logits: t([2, 3], [-INF, 1, 2, -INF, 1, 2]),
        target: t([2, 3], [0, 0.5, 0.5, 0.5, 0, 0.5]),
      },
      none,
    ),
    gcase(
      "+∞ logit or a row of −∞ gives NaN",
      { logits: t([2, 2], [INF, 0, -INF, -INF]), target: idx([0, 1]) },
      none,
    ),
    gcase(
      "NaN poisons its example and the mean",
      { logits: t([2, 2], [NAN, 0, 1, 2]), target: idx([1, 1]) },
      { reduction: "mean" },
    ),
  ];
}

function nllCases(): GoldenCase[] {
  const logp = t(
    [3, 4],
    ordinary(12, 70, 8).map((x) => -Math.abs(x)),
  );
  const cases = (["none", "sum", "mean"] as const).map((reduction) =>
    gcase(`class indices, ${reduction}`, { logp, target: idx([3, 0, 1]) }, { reduction }),
  );
  return [
    ...cases,
    gcase(
      "huge values beyond float32 range",
      { logp: t([3, 1], [-HUGE, -HUGE, -MAX]), target: idx([0, 0, 0]) },
      { reduction: "sum" },
    ),
    gcase(
      "cancellation of huge terms",
      { logp: t([3, 1], [-HUGE, 1, HUGE]), target: idx([0, 0, 0]) },
      { reduction: "mean" },
    ),
    gcase(
      "tiny and subnormal values",
      { logp: t([3, 2], [-TINY, 0, -SUB_MIN, 0, -0, -SUB]), target: idx([0, 0, 1]) },
      { reduction: "sum" },
    ),
    gcase(
      "−∞ at the target",
      { logp: t([2, 2], [-INF, 0, 0, -INF]), target: idx([0, 0]) },
      { reduction: "none" },
    ),
    gcase(
      "NaN at the target",
      { logp: t([2, 2], [NAN, 0, 0, NAN]), target: idx([0, 0]) },
      { reduction: "sum" },
    ),
  ];
}

function mseCases(): GoldenCase[] {
  const pred = t([2, 3], ordinary(6, 80));
  const target = t([2, 3], ordinary(6, 81));
  return [
    ...(["none", "sum", "mean"] as const).map((reduction) =>
      gcase(`ordinary, ${reduction}`, { pred, target }, { reduction }),
    ),
    gcase(
      "length 33",
      { pred: v(ordinary(33, 82)), target: v(ordinary(33, 83)) },
      { reduction: "mean" },
    ),
    gcase(
      "near-equal operands",
      { pred: v([ONE_UP, HUGE, f(0.1)]), target: v([1, nextDown(HUGE), f(0.1)]) },
      { reduction: "none" },
    ),
    gcase(
      "huge differences beyond float32 range",
      { pred: v([HUGE, MAX]), target: v([-HUGE, 0]) },
      { reduction: "sum" },
    ),
    gcase(
      "subnormal differences square below float32",
      { pred: v([SUB_MIN, SUB, 0]), target: v([0, 0, -SUB_MIN]) },
      { reduction: "mean" },
    ),
    gcase(
      "infinities",
      { pred: v([INF, INF, 1]), target: v([INF, 0, -INF]) },
      { reduction: "none" },
    ),
    gcase("NaN propagates", { pred: v([NAN, 1]), target: v([0, 1]) }, { reduction: "mean" }),
  ];
}

// ---------------------------------------------------------------------------- normalisation

/** ε = 2^-17 and momentum = 1/8: float32-exact stand-ins for the usual 1e-5 and 0.1. */
const EPS = 2 ** -17;
const MOMENTUM = 0.125;

function batchNormCases(): GoldenCase[] {
  const train = { training: true, eps: EPS, momentum: MOMENTUM };
  const params = (c: number, seed: number) => ({
    gamma: v(positive(c, seed, 2)),
    beta: v(ordinary(c, seed + 1, 1)),
    runningMean: v(ordinary(c, seed + 2, 1)),
    runningVar: v(positive(c, seed + 3, 2)),
  });
  // Feature 0 ordinary, feature 1 with variance far below ε, feature 2 with |mean| ≫ std.
  const mixed: number[] = [];
  const small = ordinary(6, 92, 2 ** -12);
  const offset = ordinary(6, 93, 2 ** -4);
  for (const [i, x] of ordinary(6, 91).entries()) {
    mixed.push(x, f(0.5 + small[i]), f(4096 + offset[i]));
  }
  return [
    gcase("ordinary 4×3", { x: t([4, 3], ordinary(12, 90)), ...params(3, 100) }, train),
    gcase("variance ≪ ε and |mean| ≫ std", { x: t([6, 3], mixed), ...params(3, 110) }, train),
    gcase("two examples", { x: t([2, 4], ordinary(8, 94)), ...params(4, 120) }, train),
    gcase(
      "constant feature",
      { x: t([3, 2], [1, f(0.1), 1, f(0.2), 1, f(0.3)]), ...params(2, 130) },
      train,
    ),
    gcase(
      "momentum 0 keeps, momentum 1 replaces the running stats",
      { x: t([4, 2], ordinary(8, 95)), ...params(2, 140) },
      { training: true, eps: EPS, momentum: 0 },
    ),
    gcase(
      "momentum 1",
      { x: t([4, 2], ordinary(8, 95)), ...params(2, 140) },
      { training: true, eps: EPS, momentum: 1 },
    ),
    gcase(
      "eval mode uses the running stats",
      { x: t([3, 3], ordinary(9, 96)), ...params(3, 150) },
      { training: false, eps: EPS, momentum: MOMENTUM },
    ),
    gcase("33 examples", { x: t([33, 1], ordinary(33, 97, 100)), ...params(1, 160) }, train),
    gcase("NaN poisons its feature", { x: t([2, 2], [NAN, 1, 2, 3]), ...params(2, 170) }, train),
  ];
}

function layerNormCases(): GoldenCase[] {
  const eps = { eps: EPS };
  const affine = (d: number, seed: number) => ({
    gamma: v(positive(d, seed, 2)),
    beta: v(ordinary(d, seed + 1, 1)),
  });
  return [
    gcase("ordinary rows", { x: t([3, 5], ordinary(15, 200)), ...affine(5, 201) }, eps),
    gcase(
      "variance ≪ ε",
      {
        x: t(
          [1, 4],
          ordinary(4, 202, 2 ** -12).map((d) => f(0.5 + d)),
        ),
        ...affine(4, 203),
      },
      eps,
    ),
    gcase(
      "|mean| ≫ std",
      {
        x: t(
          [1, 6],
          ordinary(6, 204, 2 ** -3).map((d) => f(1e4 + d)),
        ),
        ...affine(6, 205),
      },
      eps,
    ),
    // Not ±3e38: PyTorch's folded x·rstd − μ·rstd overflows to ∞ − ∞ there.
    gcase("single-element rows", { x: t([2, 1], [3, f(-1e30)]), ...affine(1, 206) }, eps),
    gcase("length 7", { x: t([2, 7], ordinary(14, 207, 50)), ...affine(7, 208) }, eps),
    gcase("length 33", { x: t([33], ordinary(33, 209)), ...affine(33, 210) }, eps),
    gcase("batched rows [2, 2, 3]", { x: t([2, 2, 3], ordinary(12, 211)), ...affine(3, 212) }, eps),
    // Squared deviations near 1e37: large, yet within float32 range.
    gcase("large values", { x: t([1, 3], [f(1e18), f(-1e18), f(3e18)]), ...affine(3, 213) }, eps),
    gcase("NaN poisons its row", { x: t([2, 2], [NAN, 1, 2, 3]), ...affine(2, 214) }, eps),
  ];
}

// ---------------------------------------------------------------------- non-kernel references

function dropoutScaleCases(): GoldenCase[] {
  const ps: [string, number][] = [
    ["p = 0", 0],
    ["p = 2^-24", 2 ** -24],
    ["p = 0.1 (float32)", f(0.1)],
    ["p = 0.25", 0.25],
    ["p = 0.5", 0.5],
    ["p = 0.9 (float32)", f(0.9)],
    ["p = 0.99 (float32)", f(0.99)],
    ["p = 1 − 2^-24", 1 - 2 ** -24],
  ];
  return ps.map(([name, p]) => gcase(name, {}, { p }));
}

function gaussianCases(): GoldenCase[] {
  const tri = (x: number[], mu: number[], sigma: number[]) => ({
    x: v(x),
    mu: v(mu),
    sigma: v(sigma),
  });
  return [
    gcase("standard normal", tri([0, 1, -1, 2, f(0.5)], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1])),
    gcase("ordinary", tri(ordinary(5, 300, 10), ordinary(5, 301, 10), positive(5, 302, 5))),
    gcase("x at the mean", tri([3, -2], [3, -2], [f(0.1), 1000])),
    gcase("far tails: density underflows", tri([40, -1e4, HUGE], [0, 0, 0], [1, 1, 1])),
    gcase("tiny and huge sigma", tri([1, 1, 0], [0, 0, 0], [2 ** -20, f(1e30), SUB_MIN])),
    gcase("broadcast mean and sigma", {
      x: v(ordinary(4, 303)),
      mu: t([], [f(0.3)]),
      sigma: t([], [2]),
    }),
    gcase("infinite x", tri([INF, -INF], [0, 0], [1, 1])),
    gcase("NaN propagates", tri([NAN, 1], [0, 0], [1, 1])),
  ];
}

function gaussianMvCases(): GoldenCase[] {
  const cov2 = t([2, 2], [2, 0.5, 0.5, 1]);
  const cov3 = t([3, 3], [4, 1, f(0.1), 1, 3, -0.5, f(0.1), -0.5, 2]);
  return [
    gcase("2-D: ordinary points", {
      x: t([3, 2], ordinary(6, 400, 3)),
      mu: v([f(0.1), -0.5]),
      cov: cov2,
    }),
    gcase("2-D: x at the mean", { x: t([1, 2], [f(0.1), -0.5]), mu: v([f(0.1), -0.5]), cov: cov2 }),
    gcase("3-D: ordinary points", {
      x: t([2, 3], ordinary(6, 401, 5)),
      mu: v([1, 2, 3]),
      cov: cov3,
    }),
    gcase("3-D: far away, density underflows", {
      x: t([2, 3], [100, -100, 50, 1e4, 0, 0]),
      mu: v([0, 0, 0]),
      cov: cov3,
    }),
    gcase("diagonal covariance", {
      x: t([2, 3], ordinary(6, 402)),
      mu: v([0, 0, 0]),
      cov: t([3, 3], [f(0.01), 0, 0, 0, 1, 0, 0, 0, 100]),
    }),
    gcase("1-D agrees with the univariate", {
      x: t([2, 1], [1, -2]),
      mu: v([0]),
      cov: t([1, 1], [4]),
    }),
    gcase("infinite and NaN coordinates", {
      x: t([2, 2], [INF, 0, NAN, 0]),
      mu: v([0, 0]),
      cov: cov2,
    }),
  ];
}

function activationGainCases(): GoldenCase[] {
  return [
    gcase("tanh (≈ 5/3)", {}, { activation: "tanh" }),
    gcase("relu (√2)", {}, { activation: "relu" }),
    gcase("identity (1)", {}, { activation: "identity" }),
    gcase("leaky_relu, alpha 0.01 (float32)", {}, { activation: "leaky_relu", alpha: f(0.01) }),
    gcase("leaky_relu, alpha 0.2 (float32)", {}, { activation: "leaky_relu", alpha: f(0.2) }),
  ];
}

/** One-line descriptions: what the file holds, its conventions. */
export const DESCRIPTIONS: Record<GoldenOp, string> = {
  neg: "−x",
  exp: "e^x",
  log: "natural log; log(0) = −∞, log(x < 0) = NaN",
  relu: "max(x, 0), with relu(−0) = 0",
  leaky_relu:
    "x for x > 0, alpha·x otherwise (attrs.alpha float32-exact; at −∞ the IEEE product alpha·(−∞))",
  sigmoid: "1/(1 + e^−x)",
  tanh: "hyperbolic tangent",
  gelu: "x·Φ(x) with the exact normal CDF Φ (erf), relative accuracy deep in the left tail",
  silu: "x·σ(x)",
  add: "a + b, NumPy broadcasting",
  sub: "a − b, NumPy broadcasting",
  mul: "a·b, NumPy broadcasting",
  div: "a/b, NumPy broadcasting; x/±0 = ±∞, 0/0 = NaN",
  sum: "sum along attrs.axis (the axis is dropped)",
  mean: "mean along attrs.axis (the axis is dropped)",
  variance: "variance along attrs.axis: biased (÷n) or unbiased (÷(n − 1))",
  max: "max along attrs.axis; NaN anywhere gives NaN; max(−0, +0) = +0",
  matmul: "[..., m, k] × [..., k, n] → [..., m, n], exact dot products",
  softmax:
    "softmax over the last axis; a NaN, a +∞ entry (∞ − ∞) or a row of all −∞ (0/0) makes the row NaN",
  log_softmax:
    "log_softmax over the last axis; −∞ entries give −∞; a NaN, a +∞ entry or a row of all −∞ makes the row NaN",
  logsumexp:
    "log Σ e^x over the last axis (dropped); a +∞ entry gives +∞, a row of all −∞ gives −∞, a NaN gives NaN",
  cross_entropy:
    "−Σ t·log_softmax(logits) per example against class indices or soft targets (terms with t = 0 skipped); reduction none/sum/mean (mean over examples)",
  nll: "−logp[n, target[n]] per example; reduction none/sum/mean",
  mse: "(pred − target)² per element; reduction none/sum/mean (mean over elements)",
  batch_norm:
    "batch-norm over x [N, C]: training normalises with the biased batch variance, ε inside the root, and updates runningMean' = (1 − m)·rm + m·μ, runningVar' = (1 − m)·rv + m·σ²_unbiased; eval uses and returns the running stats. Goldens use eps = 2^-17 and momentum = 0.125 (float32-exact stand-ins for 1e-5 and 0.1)",
  layer_norm:
    "layer-norm over the last axis: γ·(x − μ)/√(σ²_biased + ε) + β; goldens use eps = 2^-17 (float32-exact)",
  dropout_scale: "inverted-dropout scale of the survivors, 1/(1 − p); no inputs, attrs.p",
  gaussian_logpdf:
    "univariate Gaussian log-density −½ln(2π) − ln σ − (x − μ)²/(2σ²), inputs x, mu, sigma (NumPy broadcasting); infinite x gives −∞",
  gaussian_logpdf_mv:
    "multivariate Gaussian log-density −(d/2)ln(2π) − ½ln det Σ − ½(x − μ)ᵀΣ⁻¹(x − μ) of each row of x [N, d], mu [d], cov [d, d] (Cholesky in BigNumber)",
  activation_gain:
    "gain 1/√E[f(Z)²] for Z ~ N(0, 1) (law C8), in y; E[f(Z)²] in secondMoment. tanh by the trapezoid rule on the real line (error < 1e-60); relu, identity and leaky_relu in closed form (1 + α²)/2",
};

/** The cases of every op, in file order. */
export const CASES: Record<GoldenOp, GoldenCase[]> = {
  neg: elementwise.neg!,
  exp: elementwise.exp!,
  log: elementwise.log!,
  relu: elementwise.relu!,
  leaky_relu: leakyRelu,
  sigmoid: elementwise.sigmoid!,
  tanh: elementwise.tanh!,
  gelu: elementwise.gelu!,
  silu: elementwise.silu!,
  add: binaryCases("add"),
  sub: binaryCases("sub"),
  mul: binaryCases("mul"),
  div: binaryCases("div"),
  sum: reductionCases("sum"),
  mean: reductionCases("mean"),
  variance: varianceCases(),
  max: reductionCases("max"),
  matmul: matmulCases(),
  softmax: softmaxCases(),
  log_softmax: softmaxCases(),
  logsumexp: softmaxCases(),
  cross_entropy: crossEntropyCases(),
  nll: nllCases(),
  mse: mseCases(),
  batch_norm: batchNormCases(),
  layer_norm: layerNormCases(),
  dropout_scale: dropoutScaleCases(),
  gaussian_logpdf: gaussianCases(),
  gaussian_logpdf_mv: gaussianMvCases(),
  activation_gain: activationGainCases(),
};
