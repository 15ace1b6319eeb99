/**
 * Central input validation: every call goes through here before any kernel runs, so a kernel
 * never sees invalid input and every backend rejects bad input with the same typed error.
 */
import type { Attrs, Inputs, OpName } from "./contract.ts";
import { InvalidArgumentError } from "./errors.ts";
import {
  type AnyTensor,
  broadcastShapes,
  type DType,
  dtypeOf,
  type FloatDType,
  formatShape,
  type IndexTensor,
  sameShape,
  sizeOf,
  type Tensor,
} from "./tensor.ts";

type Shapes = Record<string, readonly number[]>;

class Checker {
  constructor(
    readonly op: string,
    readonly dtype: FloatDType,
  ) {}

  fail(arg: string, reason: string): never {
    throw new InvalidArgumentError(this.op, arg, reason);
  }

  private tensorLike(arg: string, t: unknown, want: DType): AnyTensor {
    if (typeof t !== "object" || t === null || !("shape" in t) || !("data" in t)) {
      this.fail(arg, "expected a tensor { shape, data }");
    }
    const { shape, data } = t as { shape: unknown; data: unknown };
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      this.fail(arg, "shape must be an array of non-negative integers");
    }
    if (
      !(data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array)
    ) {
      this.fail(arg, "data must be a Float32Array, Float64Array or Int32Array");
    }
    const tensor = t as AnyTensor;
    const got = dtypeOf(tensor);
    if (got !== want) this.fail(arg, `expected dtype ${want}, got ${got}`);
    if (data.length !== sizeOf(shape)) {
      this.fail(
        arg,
        `data has ${data.length} elements but shape ${formatShape(shape)} needs ${sizeOf(shape)}`,
      );
    }
    return tensor;
  }

  /** A float tensor in the backend's dtype; `empty` says whether zero elements are allowed. */
  float(arg: string, t: unknown, opts: { empty?: boolean; minRank?: number } = {}): Tensor {
    const tensor = this.tensorLike(arg, t, this.dtype) as Tensor;
    if (!opts.empty && tensor.data.length === 0) this.fail(arg, "must not be empty");
    if (opts.minRank !== undefined && tensor.shape.length < opts.minRank) {
      this.fail(arg, `needs rank ≥ ${opts.minRank}, got shape ${formatShape(tensor.shape)}`);
    }
    return tensor;
  }

  shape(arg: string, t: Tensor, want: readonly number[]): void {
    if (!sameShape(t.shape, want)) {
      this.fail(arg, `expected shape ${formatShape(want)}, got ${formatShape(t.shape)}`);
    }
  }

  classIndices(arg: string, t: unknown, n: number, classes: number): IndexTensor {
    const idx = this.tensorLike(arg, t, "int32") as IndexTensor;
    if (!sameShape(idx.shape, [n]))
      this.fail(arg, `expected shape [${n}], got ${formatShape(idx.shape)}`);
    for (let i = 0; i < idx.data.length; i++) {
      const c = idx.data[i];
      if (c < 0 || c >= classes)
        this.fail(arg, `class index ${c} at ${i} is outside [0, ${classes})`);
    }
    return idx;
  }

  number(arg: string, v: unknown, ok: (v: number) => boolean, what: string): number {
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) {
      this.fail(arg, `must be ${what}, got ${String(v)}`);
    }
    return v;
  }

  boolean(arg: string, v: unknown): boolean {
    if (typeof v !== "boolean") this.fail(arg, `must be a boolean, got ${String(v)}`);
    return v;
  }

  oneOf<T extends string>(arg: string, v: unknown, options: readonly T[]): T {
    if (!options.includes(v as T))
      this.fail(arg, `must be one of ${options.join(" | ")}, got ${String(v)}`);
    return v as T;
  }

  axis(arg: string, v: unknown, rank: number): number {
    return this.number(
      arg,
      v,
      (a) => Number.isInteger(a) && a >= 0 && a < rank,
      `an integer in [0, ${rank})`,
    );
  }

  seed(v: unknown): number {
    return this.number(
      "seed",
      v,
      (s) => Number.isSafeInteger(s) && s >= 0,
      "an integer in [0, 2^53)",
    );
  }
}

type AnyInputs = Record<string, unknown>;
type AnyAttrs = Record<string, unknown>;

/** Validates a forward op's inputs and attributes; returns the shape of each output. */
type ForwardSpec = (c: Checker, i: AnyInputs, a: AnyAttrs) => Shapes;

const unary: ForwardSpec = (c, i) => ({ y: c.float("x", i.x, { empty: true }).shape });

const binary: ForwardSpec = (c, i) => {
  const a = c.float("a", i.a, { empty: true });
  const b = c.float("b", i.b, { empty: true });
  const out = broadcastShapes(a.shape, b.shape);
  if (!out)
    return c.fail(
      "b",
      `shape ${formatShape(b.shape)} does not broadcast with a's ${formatShape(a.shape)}`,
    );
  return { y: out };
};

const reduce: ForwardSpec = (c, i, a) => {
  const x = c.float("x", i.x, { minRank: 1 });
  const axis = c.axis("axis", a.axis, x.shape.length);
  if (a.unbiased !== undefined) {
    c.boolean("unbiased", a.unbiased);
    if (a.unbiased && x.shape[axis] < 2)
      c.fail("x", "the unbiased variance needs at least 2 elements along the axis");
  }
  return { y: x.shape.filter((_, d) => d !== axis) };
};

const lastAxis: ForwardSpec = (c, i) => ({ y: c.float("x", i.x, { minRank: 1 }).shape });

const targetsFor = (c: Checker, logits: Tensor, target: unknown, allowSoft: boolean): void => {
  const [n, classes] = logits.shape;
  if (allowSoft && (target as AnyTensor | undefined)?.data instanceof Int32Array === false) {
    const soft = c.float("target", target);
    c.shape("target", soft, logits.shape);
    if (!soft.data.every((p) => Number.isFinite(p) && p >= 0)) {
      c.fail("target", "soft targets must be finite and non-negative");
    }
    return;
  }
  c.classIndices("target", target, n, classes);
};

const loss =
  (logitsArg: "logits" | "logp", allowSoft: boolean): ForwardSpec =>
  (c, i, a) => {
    const logits = c.float(logitsArg, i[logitsArg]);
    if (logits.shape.length !== 2)
      c.fail(logitsArg, `expected shape [N, C], got ${formatShape(logits.shape)}`);
    targetsFor(c, logits, i.target, allowSoft);
    const reduction = c.oneOf("reduction", a.reduction, ["none", "sum", "mean"] as const);
    return { y: reduction === "none" ? [logits.shape[0]] : [] };
  };

const mse: ForwardSpec = (c, i, a) => {
  const pred = c.float("pred", i.pred);
  c.shape("target", c.float("target", i.target), pred.shape);
  const reduction = c.oneOf("reduction", a.reduction, ["none", "sum", "mean"] as const);
  return { y: reduction === "none" ? pred.shape : [] };
};

const eps = (c: Checker, a: AnyAttrs) =>
  c.number("eps", a.eps, (e) => e > 0, "a positive finite number");

const affine = (c: Checker, i: AnyInputs, features: number): void => {
  c.shape("gamma", c.float("gamma", i.gamma), [features]);
  if (i.beta !== undefined) c.shape("beta", c.float("beta", i.beta), [features]);
};

const batchNorm: ForwardSpec = (c, i, a) => {
  const x = c.float("x", i.x);
  if (x.shape.length !== 2) c.fail("x", `expected shape [N, C], got ${formatShape(x.shape)}`);
  const [n, features] = x.shape;
  affine(c, i, features);
  if (i.runningMean !== undefined) {
    c.shape("runningMean", c.float("runningMean", i.runningMean), [features]);
    c.shape("runningVar", c.float("runningVar", i.runningVar), [features]);
  }
  eps(c, a);
  const training = a.training === undefined ? true : c.boolean("training", a.training);
  if (a.momentum !== undefined)
    c.number("momentum", a.momentum, (m) => m >= 0 && m <= 1, "in [0, 1]");
  if (training && n < 2)
    c.fail("x", "training-mode batch-norm needs at least 2 examples per feature");
  return { y: x.shape, runningMean: [features], runningVar: [features] };
};

const layerNorm: ForwardSpec = (c, i, a) => {
  const x = c.float("x", i.x, { minRank: 1 });
  affine(c, i, x.shape[x.shape.length - 1]);
  eps(c, a);
  return { y: x.shape };
};

const dropout: ForwardSpec = (c, i, a) => {
  const x = c.float("x", i.x, { empty: true });
  c.number("p", a.p, (p) => p >= 0 && p < 1, "in [0, 1)");
  c.seed(a.seed);
  c.boolean("training", a.training);
  return { y: x.shape };
};

const init =
  (kaiming: boolean): ForwardSpec =>
  (c, _i, a) => {
    const shape = a.shape as unknown;
    if (
      !Array.isArray(shape) ||
      shape.length !== 2 ||
      !shape.every((d) => Number.isInteger(d) && d > 0)
    ) {
      c.fail(
        "shape",
        `must be [fan_out, fan_in] with positive integers, got ${JSON.stringify(shape)}`,
      );
    }
    c.number("gain", a.gain, (g) => g > 0, "a positive finite number");
    c.seed(a.seed);
    if (kaiming) c.oneOf("mode", a.mode, ["fan_in", "fan_out"] as const);
    return { y: shape as number[] };
  };

const matmul: ForwardSpec = (c, i) => {
  const a = c.float("a", i.a, { minRank: 2 });
  const b = c.float("b", i.b, { minRank: 2 });
  if (a.shape.length !== b.shape.length) {
    c.fail("b", `rank ${b.shape.length} differs from a's rank ${a.shape.length}`);
  }
  const r = a.shape.length;
  if (!sameShape(a.shape.slice(0, r - 2), b.shape.slice(0, r - 2))) {
    c.fail(
      "b",
      `batch dims ${formatShape(b.shape.slice(0, r - 2))} differ from a's ${formatShape(a.shape.slice(0, r - 2))}`,
    );
  }
  if (a.shape[r - 1] !== b.shape[r - 2]) {
    c.fail("b", `inner dims differ: a is ${formatShape(a.shape)}, b is ${formatShape(b.shape)}`);
  }
  return { y: [...a.shape.slice(0, r - 1), b.shape[r - 1]] };
};

const withLeaky: ForwardSpec = (c, i, a) => {
  c.number("alpha", a.alpha, () => true, "a finite number");
  return unary(c, i, a);
};

const forward: Record<string, ForwardSpec> = {
  neg: unary,
  exp: unary,
  log: unary,
  relu: unary,
  leaky_relu: withLeaky,
  sigmoid: unary,
  tanh: unary,
  gelu: unary,
  silu: unary,
  add: binary,
  sub: binary,
  mul: binary,
  div: binary,
  sum: reduce,
  mean: reduce,
  max: reduce,
  variance: reduce,
  matmul,
  softmax: lastAxis,
  log_softmax: lastAxis,
  logsumexp: (c, i, a) => ({ y: lastAxis(c, i, a).y.slice(0, -1) }),
  cross_entropy: loss("logits", true),
  cross_entropy_fused: (c, i, a) => {
    const { y } = loss("logits", true)(c, i, a);
    return { loss: y, dlogits: (i.logits as Tensor).shape };
  },
  nll: loss("logp", false),
  mse,
  batch_norm: batchNorm,
  layer_norm: layerNorm,
  dropout,
  xavier_normal: init(false),
  xavier_uniform: init(false),
  kaiming_normal: init(true),
  kaiming_uniform: init(true),
};

/** The forward op a `_vjp` op differentiates, or undefined for a forward op. */
export function forwardOf(op: OpName): OpName | undefined {
  return op.endsWith("_vjp") ? (op.slice(0, -4) as OpName) : undefined;
}

/**
 * Validates the inputs and attributes of `op` for a backend of `dtype`; throws
 * InvalidArgumentError naming the op and the argument. Returns the expected output shapes
 * (keyed `y` for a single output, by name for several).
 */
export function validate<O extends OpName>(
  op: O,
  inputs: Inputs<O>,
  attrs: Attrs<O>,
  dtype: FloatDType,
): Shapes {
  const c = new Checker(op, dtype);
  if (typeof inputs !== "object" || inputs === null)
    c.fail("inputs", "expected an object of named tensors");
  if (typeof attrs !== "object" || attrs === null)
    c.fail("attrs", "expected an object of attributes");
  const i = inputs as AnyInputs;
  const a = attrs as AnyAttrs;
  const fwd = forwardOf(op);
  if (fwd === undefined) {
    const spec = forward[op];
    if (!spec) c.fail("op", "unknown op");
    return spec(c, i, a);
  }
  const spec = forward[fwd];
  if (!spec) c.fail("op", "unknown op");
  const out = spec(c, i, a);
  const dy = c.float("dy", i.dy, { empty: true });
  c.shape("dy", dy, out.y);
  return gradShapes(fwd, i);
}

function gradShapes(fwd: OpName, i: AnyInputs): Shapes {
  const shapeOf = (k: string) => (i[k] as Tensor).shape;
  switch (fwd) {
    case "add":
    case "sub":
    case "mul":
    case "div":
    case "matmul":
      return { da: shapeOf("a"), db: shapeOf("b") };
    case "batch_norm":
    case "layer_norm": {
      const x = shapeOf("x");
      return { dx: x, dgamma: [x[x.length - 1]], dbeta: [x[x.length - 1]] };
    }
    case "cross_entropy":
      return { y: shapeOf("logits") };
    case "nll":
      return { y: shapeOf("logp") };
    case "mse":
      return { y: shapeOf("pred") };
    default:
      return { y: shapeOf("x") };
  }
}
