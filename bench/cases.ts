/**
 * The benchmark cases: every op of the contract at one size ("ops", on every backend), and the
 * sizes that matter on a GPU ("shapes": softmax and cross-entropy over [rows × classes], matmul
 * square, skinny and around the tile size, the norms, dropout). Each case is named by its
 * literal call and carries the physical floor of its work: the bytes a kernel must move at
 * least (float32, every input read once and every output written once) and its FLOPs.
 *
 * Tiers: "quick" fits SwiftShader on two cores (`npm run bench`); "full" adds the real-GPU sizes
 * (`npm run bench -- --full`).
 */
import type { OpName } from "../src/engine/contract.ts";
import {
  type AnyTensor,
  arrayFor,
  dtypeOf,
  type FloatDType,
  formatShape,
  type IndexTensor,
  type Tensor,
} from "../src/engine/tensor.ts";

export type Tier = "quick" | "full";
/** "ops": every op at one size, on every backend; "shapes": size sweeps, GPU backends only. */
export type Group = "ops" | "shapes";

/** One kernel call of a case: a case may chain several (forward then backward). */
export interface Step {
  op: OpName;
  inputs: Record<string, AnyTensor>;
  attrs: Record<string, unknown>;
}

export interface BenchCase {
  /** The literal call, e.g. `softmax([1024, 1000])`. */
  name: string;
  /** The op, or `cross_entropy+vjp` for a forward and backward pair. */
  op: string;
  group: Group;
  tier: Tier;
  /** Bytes a kernel must move at least (float32 values, int32 class indices). */
  bytes: number;
  /** Floating-point operations (a transcendental counts as one; see flopsPerElement). */
  flops: number;
  /** The kernel calls, with inputs in `dtype`; deterministic for a given case. */
  steps(dtype: FloatDType): Step[];
}

// ---------------------------------------------------------------------------------------------
// Inputs: deterministic pseudo-random values (mulberry32), so every run times the same data.

export function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function seedOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

type Fill = "signed" | "positive" | "awayFromZero" | "logProbs" | "probRows";

function values(dtype: FloatDType, shape: readonly number[], fill: Fill, seed: string): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const data = arrayFor(dtype, n);
  const rand = generator(seedOf(seed));
  for (let i = 0; i < n; i++) {
    const u = rand();
    if (fill === "signed") data[i] = 6 * u - 3;
    else if (fill === "positive") data[i] = 0.1 + 2.9 * u;
    else if (fill === "awayFromZero") data[i] = (u < 0.5 ? -1 : 1) * (0.5 + 3 * Math.abs(u - 0.5));
    else if (fill === "logProbs") data[i] = Math.log(0.001 + 0.999 * u);
    else data[i] = u;
  }
  if (fill === "probRows") {
    const c = shape[shape.length - 1];
    for (let r = 0; r < n / c; r++) {
      let sum = 0;
      for (let j = 0; j < c; j++) sum += data[r * c + j];
      for (let j = 0; j < c; j++) data[r * c + j] /= sum;
    }
  }
  return { shape: [...shape], data };
}

function classes(rows: number, count: number, seed: string): IndexTensor {
  const rand = generator(seedOf(seed));
  return {
    shape: [rows],
    data: Int32Array.from({ length: rows }, () => Math.floor(rand() * count)),
  };
}

const scalar = (dtype: FloatDType, v: number): Tensor => {
  const data = arrayFor(dtype, 1);
  data[0] = v;
  return { shape: [], data };
};

// ---------------------------------------------------------------------------------------------
// Floors. FLOPs per element are rough but stated: what a straightforward kernel computes.

/** FLOPs per element of the elementwise ops, forward and backward. */
const flopsPerElement: Record<string, [number, number]> = {
  neg: [1, 1],
  exp: [1, 2],
  log: [1, 1],
  add: [1, 0],
  sub: [1, 1],
  mul: [1, 2],
  div: [1, 4],
  relu: [1, 1],
  leaky_relu: [2, 2],
  sigmoid: [4, 6],
  tanh: [1, 3],
  gelu: [8, 12],
  silu: [5, 8],
};

const F32 = 4;
const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);
const shapeText = (...shapes: (readonly number[])[]) => shapes.map(formatShape).join(", ");

// ---------------------------------------------------------------------------------------------
// Case builders, one per family of ops.

type Make = (tier: Tier, group: Group) => BenchCase[];

function unary(op: string, shape: readonly number[], attrs: Record<string, unknown> = {}): Make {
  const n = size(shape);
  const [fwd, bwd] = flopsPerElement[op];
  const fill: Fill = op === "log" ? "positive" : "signed";
  const extra = "alpha" in attrs ? `, alpha=${attrs.alpha}` : "";
  return (tier, group) => [
    {
      name: `${op}(${shapeText(shape)}${extra})`,
      op,
      group,
      tier,
      bytes: 2 * n * F32,
      flops: fwd * n,
      steps: (dt) => [{ op: op as OpName, inputs: { x: values(dt, shape, fill, op) }, attrs }],
    },
    {
      name: `${op}_vjp(${shapeText(shape)}${extra})`,
      op: `${op}_vjp`,
      group,
      tier,
      bytes: 3 * n * F32,
      flops: bwd * n,
      steps: (dt) => [
        {
          op: `${op}_vjp` as OpName,
          inputs: { x: values(dt, shape, fill, op), dy: values(dt, shape, "signed", "dy") },
          attrs,
        },
      ],
    },
  ];
}

function binary(op: string, sa: readonly number[], sb: readonly number[]): Make {
  const n = Math.max(size(sa), size(sb));
  const [fwd, bwd] = flopsPerElement[op];
  const fillB: Fill = op === "div" ? "awayFromZero" : "signed";
  const inputs = (dt: FloatDType) => ({
    a: values(dt, sa, "signed", `${op}a`),
    b: values(dt, sb, fillB, `${op}b`),
  });
  return (tier, group) => [
    {
      name: `${op}(${shapeText(sa, sb)})`,
      op,
      group,
      tier,
      bytes: (size(sa) + size(sb) + n) * F32,
      flops: fwd * n,
      steps: (dt) => [{ op: op as OpName, inputs: inputs(dt), attrs: {} }],
    },
    {
      name: `${op}_vjp(${shapeText(sa, sb)})`,
      op: `${op}_vjp`,
      group,
      tier,
      bytes: (2 * size(sa) + 2 * size(sb) + n) * F32,
      flops: bwd * n,
      steps: (dt) => [
        {
          op: `${op}_vjp` as OpName,
          inputs: {
            ...inputs(dt),
            dy: values(dt, [...(sa.length >= sb.length ? sa : sb)], "signed", "dy"),
          },
          attrs: {},
        },
      ],
    },
  ];
}

function reduce(op: "sum" | "mean" | "max" | "variance", shape: readonly number[]): Make {
  const axis = shape.length - 1;
  const n = size(shape);
  const out = n / shape[axis];
  const attrs: Record<string, unknown> = op === "variance" ? { axis, unbiased: false } : { axis };
  const passes = op === "variance" ? 3 : 1;
  return (tier, group) => [
    {
      name: `${op}(${shapeText(shape)}, axis=${axis})`,
      op,
      group,
      tier,
      bytes: (n + out) * F32,
      flops: passes * n,
      steps: (dt) => [{ op: op as OpName, inputs: { x: values(dt, shape, "signed", op) }, attrs }],
    },
    {
      name: `${op}_vjp(${shapeText(shape)}, axis=${axis})`,
      op: `${op}_vjp`,
      group,
      tier,
      bytes: (2 * n + out) * F32,
      flops: passes * n,
      steps: (dt) => [
        {
          op: `${op}_vjp` as OpName,
          inputs: {
            x: values(dt, shape, "signed", op),
            dy: values(dt, shape.slice(0, axis), "signed", "dy"),
          },
          attrs,
        },
      ],
    },
  ];
}

function matmulCase(m: number, k: number, n: number, withVjp: boolean): Make {
  const [sa, sb] = [
    [m, k],
    [k, n],
  ];
  const mk = (dt: FloatDType) => ({
    a: values(dt, sa, "signed", "a"),
    b: values(dt, sb, "signed", "b"),
  });
  return (tier, group) => {
    const fwd: BenchCase = {
      name: `matmul(${formatShape(sa)} × ${formatShape(sb)})`,
      op: "matmul",
      group,
      tier,
      bytes: (m * k + k * n + m * n) * F32,
      flops: 2 * m * k * n,
      steps: (dt) => [{ op: "matmul", inputs: mk(dt), attrs: {} }],
    };
    if (!withVjp) return [fwd];
    const bwd: BenchCase = {
      name: `matmul_vjp(${formatShape(sa)} × ${formatShape(sb)})`,
      op: "matmul_vjp",
      group,
      tier,
      // Reads a, b and dy; writes da and db.
      bytes: (2 * m * k + 2 * k * n + m * n) * F32,
      flops: 4 * m * k * n,
      steps: (dt) => [
        {
          op: "matmul_vjp",
          inputs: { ...mk(dt), dy: values(dt, [m, n], "signed", "dy") },
          attrs: {},
        },
      ],
    };
    return [fwd, bwd];
  };
}

/** softmax, log_softmax, logsumexp (forward and backward) over the last axis. */
function softmaxFamily(op: "softmax" | "log_softmax" | "logsumexp", shape: readonly number[]) {
  const n = size(shape);
  const rows = n / shape[shape.length - 1];
  const outN = op === "logsumexp" ? rows : n;
  // max, subtract, exp, sum, then divide (softmax) or subtract the log (log_softmax).
  return ((tier, group) => [
    {
      name: `${op}(${shapeText(shape)})`,
      op,
      group,
      tier,
      bytes: (n + outN) * F32,
      flops: 5 * n,
      steps: (dt) => [{ op, inputs: { x: values(dt, shape, "signed", "logits") }, attrs: {} }],
    },
    {
      name: `${op}_vjp(${shapeText(shape)})`,
      op: `${op}_vjp`,
      group,
      tier,
      bytes: (2 * n + outN) * F32,
      flops: 8 * n,
      steps: (dt) => [
        {
          op: `${op}_vjp` as OpName,
          inputs: {
            x: values(dt, shape, "signed", "logits"),
            dy: values(dt, op === "logsumexp" ? [rows] : shape, "signed", "dy"),
          },
          attrs: {},
        },
      ],
    },
  ]) satisfies Make;
}

const ceInputs = (dt: FloatDType, rows: number, cls: number, soft: boolean) => ({
  logits: values(dt, [rows, cls], "signed", "logits"),
  target: soft ? values(dt, [rows, cls], "probRows", "soft") : classes(rows, cls, "target"),
});

/**
 * cross_entropy (mean over the batch): forward, backward, the pair of calls a training step makes
 * without fusion, and cross_entropy_fused, the same step in one call (ours: one kernel reading
 * the logits once; TensorFlow.js: tf.valueAndGrad of its composition).
 */
function crossEntropy(rows: number, cls: number, opts: { soft?: boolean; parts: boolean }): Make {
  const soft = opts.soft ?? false;
  const n = rows * cls;
  const targetBytes = soft ? n * F32 : rows * 4;
  const label = `${shapeText([rows, cls])}${soft ? ", soft targets" : ""}`;
  const attrs = { reduction: "mean" };
  const fwdStep = (inputs: Step["inputs"]): Step => ({ op: "cross_entropy", inputs, attrs });
  const bwdStep = (inputs: Step["inputs"]): Step => ({
    op: "cross_entropy_vjp",
    inputs: { ...inputs, dy: scalar(dtypeOf(inputs.logits) as FloatDType, 1) },
    attrs,
  });
  // A training step must read the logits and targets once and write the gradient and the loss.
  const stepBytes = 2 * n * F32 + targetBytes + 4;
  return (tier, group) => {
    const step: BenchCase[] = [
      {
        name: `cross_entropy+vjp(${label})`,
        op: "cross_entropy+vjp",
        group,
        tier,
        bytes: stepBytes,
        flops: 12 * n,
        steps: (dt) => {
          const inputs = ceInputs(dt, rows, cls, soft);
          return [fwdStep(inputs), bwdStep(inputs)];
        },
      },
      {
        name: `cross_entropy_fused(${label})`,
        op: "cross_entropy_fused",
        group,
        tier,
        bytes: stepBytes,
        // max, subtract, exp, sum, log; then the gradient's divide, subtract and scale.
        flops: 8 * n,
        steps: (dt) => [
          { op: "cross_entropy_fused", inputs: ceInputs(dt, rows, cls, soft), attrs },
        ],
      },
    ];
    if (!opts.parts) return step;
    return [
      {
        name: `cross_entropy(${label})`,
        op: "cross_entropy",
        group,
        tier,
        bytes: n * F32 + targetBytes + 4,
        flops: 5 * n,
        steps: (dt) => [fwdStep(ceInputs(dt, rows, cls, soft))],
      },
      {
        name: `cross_entropy_vjp(${label})`,
        op: "cross_entropy_vjp",
        group,
        tier,
        bytes: 2 * n * F32 + targetBytes,
        flops: 7 * n,
        steps: (dt) => [bwdStep(ceInputs(dt, rows, cls, soft))],
      },
      ...step,
    ];
  };
}

function nll(rows: number, cls: number): Make {
  const attrs = { reduction: "mean" };
  const inputs = (dt: FloatDType) => ({
    logp: values(dt, [rows, cls], "logProbs", "logp"),
    target: classes(rows, cls, "target"),
  });
  return (tier, group) => [
    {
      name: `nll(${shapeText([rows, cls])})`,
      op: "nll",
      group,
      tier,
      // Only the N picked log-probabilities need reading.
      bytes: 2 * rows * 4 + 4,
      flops: rows,
      steps: (dt) => [{ op: "nll", inputs: inputs(dt), attrs }],
    },
    {
      name: `nll_vjp(${shapeText([rows, cls])})`,
      op: "nll_vjp",
      group,
      tier,
      bytes: rows * 4 + rows * cls * F32,
      flops: rows,
      steps: (dt) => [{ op: "nll_vjp", inputs: { ...inputs(dt), dy: scalar(dt, 1) }, attrs }],
    },
  ];
}

function mse(shape: readonly number[]): Make {
  const n = size(shape);
  const attrs = { reduction: "mean" };
  const inputs = (dt: FloatDType) => ({
    pred: values(dt, shape, "signed", "pred"),
    target: values(dt, shape, "signed", "target"),
  });
  return (tier, group) => [
    {
      name: `mse(${shapeText(shape, shape)})`,
      op: "mse",
      group,
      tier,
      bytes: 2 * n * F32 + 4,
      flops: 3 * n,
      steps: (dt) => [{ op: "mse", inputs: inputs(dt), attrs }],
    },
    {
      name: `mse_vjp(${shapeText(shape, shape)})`,
      op: "mse_vjp",
      group,
      tier,
      bytes: 3 * n * F32,
      flops: 3 * n,
      steps: (dt) => [{ op: "mse_vjp", inputs: { ...inputs(dt), dy: scalar(dt, 1) }, attrs }],
    },
  ];
}

function norms(op: "batch_norm" | "layer_norm", rows: number, features: number): Make {
  const n = rows * features;
  const shape = [rows, features];
  const eps = 1e-5;
  const affine = (dt: FloatDType) => ({
    x: values(dt, shape, "signed", "x"),
    gamma: values(dt, [features], "positive", "gamma"),
    beta: values(dt, [features], "signed", "beta"),
  });
  const stats = (dt: FloatDType) => ({
    runningMean: values(dt, [features], "signed", "rm"),
    runningVar: values(dt, [features], "positive", "rv"),
  });
  const training = op === "batch_norm" ? ", training" : "";
  return (tier, group) => [
    {
      name: `${op}(${shapeText(shape)}${training})`,
      op,
      group,
      tier,
      bytes: 2 * n * F32 + 4 * features * F32,
      // mean, centred squares, normalise, scale and shift.
      flops: 7 * n,
      steps: (dt) => [
        op === "batch_norm"
          ? {
              op,
              inputs: { ...affine(dt), ...stats(dt) },
              attrs: { training: true, eps, momentum: 0.1 },
            }
          : { op, inputs: affine(dt), attrs: { eps } },
      ],
    },
    {
      name: `${op}_vjp(${shapeText(shape)})`,
      op: `${op}_vjp`,
      group,
      tier,
      bytes: 3 * n * F32 + 3 * features * F32,
      flops: 12 * n,
      steps: (dt) => [
        {
          op: `${op}_vjp` as OpName,
          // batch_norm_vjp takes no beta (the contract: dβ = Σdy needs none); layer_norm_vjp does.
          inputs: {
            ...(op === "batch_norm" ? { x: affine(dt).x, gamma: affine(dt).gamma } : affine(dt)),
            dy: values(dt, shape, "signed", "dy"),
          },
          attrs: { eps },
        },
      ],
    },
  ];
}

function dropout(shape: readonly number[], p: number): Make {
  const n = size(shape);
  const attrs = { p, seed: 20261122, training: true };
  return (tier, group) => [
    {
      name: `dropout(${shapeText(shape)}, p=${p})`,
      op: "dropout",
      group,
      tier,
      bytes: 2 * n * F32,
      // Philox-4x32-10: ten rounds of two 32-bit multiplies per four elements, then the scale.
      flops: 6 * n,
      steps: (dt) => [{ op: "dropout", inputs: { x: values(dt, shape, "signed", "x") }, attrs }],
    },
    {
      name: `dropout_vjp(${shapeText(shape)}, p=${p})`,
      op: "dropout_vjp",
      group,
      tier,
      bytes: 3 * n * F32,
      flops: 6 * n,
      steps: (dt) => [
        {
          op: "dropout_vjp",
          inputs: { x: values(dt, shape, "signed", "x"), dy: values(dt, shape, "signed", "dy") },
          attrs,
        },
      ],
    },
  ];
}

function init(shape: readonly [number, number]): Make {
  const n = shape[0] * shape[1];
  const ops = ["xavier_normal", "xavier_uniform", "kaiming_normal", "kaiming_uniform"] as const;
  return (tier, group) =>
    ops.map((op) => ({
      name: `${op}(${shapeText(shape)})`,
      op,
      group,
      tier,
      bytes: n * F32,
      flops: 6 * n,
      steps: () => [
        {
          op,
          inputs: {},
          attrs: {
            shape,
            gain: 1,
            seed: 7,
            ...(op.startsWith("kaiming") ? { mode: "fan_in" } : {}),
          },
        },
      ],
    }));
}

// ---------------------------------------------------------------------------------------------
// The suites.

const WIDE = [256, 1024];
const LOGITS = [128, 1000];

/** Every op of the contract once, at a size the naive CPU loops finish in milliseconds. */
const opsSuite: Make[] = [
  ...["neg", "exp", "log", "relu", "sigmoid", "tanh", "gelu", "silu"].map((op) => unary(op, WIDE)),
  unary("leaky_relu", WIDE, { alpha: 0.01 }),
  ...["add", "sub", "mul", "div"].map((op) => binary(op, WIDE, WIDE)),
  binary("add", WIDE, [WIDE[1]]),
  ...(["sum", "mean", "max", "variance"] as const).map((op) => reduce(op, WIDE)),
  matmulCase(256, 256, 256, true),
  ...(["softmax", "log_softmax", "logsumexp"] as const).map((op) => softmaxFamily(op, LOGITS)),
  crossEntropy(LOGITS[0], LOGITS[1], { parts: true }),
  crossEntropy(LOGITS[0], LOGITS[1], { parts: false, soft: true }),
  nll(LOGITS[0], LOGITS[1]),
  mse(WIDE),
  norms("batch_norm", 512, 256),
  norms("layer_norm", 512, 256),
  dropout(WIDE, 0.1),
  init([256, 1024]),
];

/** Sizes that matter on a GPU; `full` adds those only a real GPU runs in reasonable time. */
function shapesSuite(full: boolean): [Make, Tier][] {
  const quick: Make[] = [
    // Layer widths are usually powers of two: one below, at and above each, around the tiles.
    // (256 is in the ops suite, 512 comes with its backward pass.)
    ...[127, 128, 129, 255, 257, 511].map((d) => matmulCase(d, d, d, false)),
    matmulCase(512, 512, 512, true),
    matmulCase(513, 513, 513, false),
    matmulCase(16, 1024, 1024, false),
    matmulCase(2048, 512, 16, false),
    (t, g) => softmaxFamily("softmax", [1024, 1000])(t, g).slice(0, 1),
    (t, g) => softmaxFamily("softmax", [32, 32000])(t, g).slice(0, 1),
    crossEntropy(1024, 1000, { parts: false }),
    crossEntropy(32, 32000, { parts: false }),
    norms("batch_norm", 2048, 512),
    norms("layer_norm", 2048, 512),
    dropout([2048, 1024], 0.1),
  ];
  const large: Make[] = [
    ...[1023, 1024, 1025, 2048].map((d) => matmulCase(d, d, d, false)),
    matmulCase(4096, 4096, 4096, true),
    matmulCase(32, 4096, 4096, false),
    matmulCase(8192, 4096, 64, false),
    ...[
      [4096, 4096],
      [4096, 32000],
    ].map((s) => softmaxFamily("softmax", s)),
    crossEntropy(4096, 32000, { parts: true }),
    norms("batch_norm", 8192, 4096),
    norms("layer_norm", 8192, 4096),
    dropout([8192, 8192], 0.1),
  ];
  return [
    ...quick.map((m): [Make, Tier] => [m, "quick"]),
    ...(full ? large.map((m): [Make, Tier] => [m, "full"]) : []),
  ];
}

/** The cases of a run: every op at one size, then the GPU sizes (`full` for a real GPU). */
export function benchCases(full = false): BenchCase[] {
  const cases = [
    ...opsSuite.flatMap((make) => make("quick", "ops")),
    ...shapesSuite(full).flatMap(([make, tier]) => make(tier, "shapes")),
  ];
  // A case is known by its name in results and baselines: names must be unique.
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.name)) throw new Error(`bench: duplicate case ${c.name}`);
    seen.add(c.name);
  }
  return cases;
}
