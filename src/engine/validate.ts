/**
 * Central input validation: every call goes through here before any kernel runs, so a kernel
 * never sees invalid input and every backend rejects bad input with the same typed error.
 *
 * Strict on purpose (verify runs strangers' code and strangers' inputs):
 * - every input and attribute the op's signature names is required; there are no silent
 *   defaults, and a name the signature does not know is an error, not ignored;
 * - an op name is looked up as an own entry of the signature table, so `constructor` or
 *   `hasOwnProperty` is an unknown op, never a function of Object.prototype;
 * - arguments are read exactly once, here, inside try/catch: a throwing getter, a proxy, or a
 *   typed array subclass gets an InvalidArgumentError naming the argument. The kernel receives
 *   the copies this module made (plain objects, fresh shape arrays, plain typed-array views of
 *   the caller's buffers), so nothing the caller passed can change between check and use;
 * - a shape may hold at most MAX_ELEMENTS elements and MAX_RANK dimensions.
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

/** The most elements one tensor may have: 2^32 − 1, below every JavaScript engine's
 * typed-array limit (V8 in Node 20 stops at 2^32). */
export const MAX_ELEMENTS = 2 ** 32 - 1;
/** The most dimensions one shape may have (no op needs more; a bound keeps copying cheap). */
export const MAX_RANK = 64;

type Shapes = Record<string, readonly number[]>;

/** The inputs and attributes each op takes, in the contract's order; all required. */
export interface Signature {
  readonly inputs: readonly string[];
  readonly attrs: readonly string[];
}

const sig = (inputs: readonly string[], attrs: readonly string[] = []): Signature => ({
  inputs,
  attrs,
});
const X = sig(["x"]);
const XDy = sig(["x", "dy"]);
const AB = sig(["a", "b"]);
const ABDy = sig(["a", "b", "dy"]);
const reduceSig = (vjp: boolean, attrs: readonly string[]) => sig(vjp ? ["x", "dy"] : ["x"], attrs);
const initSig = (kaiming: boolean) =>
  sig([], kaiming ? ["shape", "gain", "seed", "mode"] : ["shape", "gain", "seed"]);

/** Typed over every OpName: an op added to the contract fails to compile here until it has one. */
export const signatures: { readonly [O in OpName]: Signature } = {
  neg: X,
  neg_vjp: XDy,
  exp: X,
  exp_vjp: XDy,
  log: X,
  log_vjp: XDy,
  add: AB,
  add_vjp: ABDy,
  sub: AB,
  sub_vjp: ABDy,
  mul: AB,
  mul_vjp: ABDy,
  div: AB,
  div_vjp: ABDy,
  relu: X,
  relu_vjp: XDy,
  leaky_relu: sig(["x"], ["alpha"]),
  leaky_relu_vjp: sig(["x", "dy"], ["alpha"]),
  sigmoid: X,
  sigmoid_vjp: XDy,
  tanh: X,
  tanh_vjp: XDy,
  gelu: X,
  gelu_vjp: XDy,
  silu: X,
  silu_vjp: XDy,
  sum: reduceSig(false, ["axis"]),
  sum_vjp: reduceSig(true, ["axis"]),
  mean: reduceSig(false, ["axis"]),
  mean_vjp: reduceSig(true, ["axis"]),
  max: reduceSig(false, ["axis"]),
  max_vjp: reduceSig(true, ["axis"]),
  variance: reduceSig(false, ["axis", "unbiased"]),
  variance_vjp: reduceSig(true, ["axis", "unbiased"]),
  matmul: AB,
  matmul_vjp: ABDy,
  softmax: X,
  softmax_vjp: XDy,
  log_softmax: X,
  log_softmax_vjp: XDy,
  logsumexp: X,
  logsumexp_vjp: XDy,
  cross_entropy: sig(["logits", "target"], ["reduction"]),
  cross_entropy_vjp: sig(["logits", "target", "dy"], ["reduction"]),
  cross_entropy_fused: sig(["logits", "target"], ["reduction"]),
  nll: sig(["logp", "target"], ["reduction"]),
  nll_vjp: sig(["logp", "target", "dy"], ["reduction"]),
  mse: sig(["pred", "target"], ["reduction"]),
  mse_vjp: sig(["pred", "target", "dy"], ["reduction"]),
  batch_norm: sig(
    ["x", "gamma", "beta", "runningMean", "runningVar"],
    ["training", "eps", "momentum"],
  ),
  batch_norm_vjp: sig(["x", "gamma", "dy"], ["eps"]),
  layer_norm: sig(["x", "gamma", "beta"], ["eps"]),
  layer_norm_vjp: sig(["x", "gamma", "beta", "dy"], ["eps"]),
  dropout: sig(["x"], ["p", "seed", "training"]),
  dropout_vjp: sig(["x", "dy"], ["p", "seed", "training"]),
  xavier_normal: initSig(false),
  xavier_uniform: initSig(false),
  kaiming_normal: initSig(true),
  kaiming_uniform: initSig(true),
};

/** Whether `op` is an op of the contract (an own entry, never an Object.prototype name). */
export function isOpName(op: unknown): op is OpName {
  return typeof op === "string" && Object.hasOwn(signatures, op);
}

/** A value for an error message, without running any of the caller's code (no toString). */
export function describeValue(v: unknown): string {
  switch (typeof v) {
    case "number":
      return Object.is(v, -0) ? "-0" : String(v);
    case "bigint":
      return `${v}n (a bigint)`;
    case "boolean":
    case "undefined":
      return String(v);
    case "string":
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    default:
      if (v === null) return "null";
      try {
        return Array.isArray(v) ? "an array" : "an object";
      } catch {
        // Array.isArray throws on a revoked proxy.
        return "a revoked proxy";
      }
  }
}

/** The message of whatever was thrown, without trusting it (a getter or toString may throw). */
function thrownMessage(e: unknown): string {
  try {
    if (e instanceof Error) {
      const name = typeof e.name === "string" ? e.name : "Error";
      const message = typeof e.message === "string" ? e.message : describeValue(e.message);
      return `${name}: ${message}`;
    }
  } catch {
    return "an error that could not be read";
  }
  return describeValue(e);
}

// The brand checks of %TypedArray%: they read internal slots, so a proxy, a look-alike object
// or an own `length` property cannot fool them, and they never run the caller's code.
const typedArrayProto = Object.getPrototypeOf(Int8Array.prototype) as object;
const getter = (key: PropertyKey) =>
  Object.getOwnPropertyDescriptor(typedArrayProto, key)?.get as (this: unknown) => unknown;
const taTag = getter(Symbol.toStringTag);
const taLength = getter("length");
const taBuffer = getter("buffer");
const taOffset = getter("byteOffset");

type ArrayKind = "Float32Array" | "Float64Array" | "Int32Array";
const DTYPE_OF: Record<ArrayKind, DType> = {
  Float32Array: "float32",
  Float64Array: "float64",
  Int32Array: "int32",
};

/** A plain view of a genuine Float32Array, Float64Array or Int32Array, or undefined. */
function plainView(
  v: unknown,
): { kind: ArrayKind; data: Float32Array | Float64Array | Int32Array } | undefined {
  const tag = taTag.call(v);
  if (tag !== "Float32Array" && tag !== "Float64Array" && tag !== "Int32Array") return undefined;
  const buffer = taBuffer.call(v) as ArrayBuffer;
  const offset = taOffset.call(v) as number;
  const length = taLength.call(v) as number;
  const Ctor =
    tag === "Float32Array" ? Float32Array : tag === "Float64Array" ? Float64Array : Int32Array;
  return { kind: tag, data: new Ctor(buffer, offset, length) };
}

/**
 * Stand-ins for device tensors: their shape and dtype, and no values (an empty array of the
 * dtype). Checked for shape and dtype only; the value checks (class-index range, soft targets
 * non-negative) see no values and pass, as the values never come to the host.
 */
const SHAPE_ONLY = new WeakSet<object>();

/** A host stand-in for a device tensor of `shape` and `dtype`, for `check` (see SHAPE_ONLY). */
export function shapeOnly(shape: readonly number[], dtype: DType): AnyTensor {
  const data =
    dtype === "int32"
      ? new Int32Array(0)
      : dtype === "float64"
        ? new Float64Array(0)
        : new Float32Array(0);
  const t = { shape, data } as AnyTensor;
  SHAPE_ONLY.add(t);
  return t;
}

class Checker {
  constructor(
    readonly op: string,
    readonly dtype: FloatDType,
  ) {}

  fail(arg: string, reason: string): never {
    throw new InvalidArgumentError(this.op, arg, reason);
  }

  /** Reads `obj[key]` as an own property, once; undefined when absent. */
  own(arg: string, obj: object, key: string): unknown {
    try {
      const d = Object.getOwnPropertyDescriptor(obj, key);
      if (d === undefined) return undefined;
      return d.get ? d.get.call(obj) : d.value;
    } catch (e) {
      return this.fail(arg, `reading it threw ${thrownMessage(e)}`);
    }
  }

  /** A fresh array copy of a shape: at most MAX_RANK non-negative integers, MAX_ELEMENTS in all. */
  shapeOf(arg: string, v: unknown, what = "shape"): number[] {
    let copy: unknown[];
    try {
      if (!Array.isArray(v))
        return this.fail(arg, `${what} must be an array, got ${describeValue(v)}`);
      const rank = v.length;
      if (rank > MAX_RANK)
        return this.fail(arg, `${what} has ${rank} dimensions, at most ${MAX_RANK} are allowed`);
      copy = [];
      for (let d = 0; d < rank; d++) copy.push(v[d]);
    } catch (e) {
      if (e instanceof InvalidArgumentError) throw e;
      return this.fail(arg, `reading its ${what} threw ${thrownMessage(e)}`);
    }
    let n = 1;
    for (const d of copy) {
      if (typeof d !== "number" || !Number.isInteger(d) || d < 0) {
        this.fail(arg, `${what} must hold non-negative integers, got ${describeValue(d)}`);
      }
      if (d > MAX_ELEMENTS) {
        this.fail(
          arg,
          `${what} has a dimension of ${d}, more than ${MAX_ELEMENTS} (2^32 − 1) elements`,
        );
      }
      n *= d;
    }
    if (n > MAX_ELEMENTS) {
      this.fail(
        arg,
        `${what} [${copy.join(", ")}] has ${n} elements, more than a typed array holds (${MAX_ELEMENTS})`,
      );
    }
    return copy as number[];
  }

  /** A tensor of dtype `want` (any of the three when undefined). */
  tensorLike(arg: string, t: unknown, want?: DType): AnyTensor {
    if (typeof t !== "object" || t === null) {
      this.fail(arg, `expected a tensor { shape, data }, got ${describeValue(t)}`);
    }
    const shapeValue = this.own(arg, t, "shape");
    const dataValue = this.own(arg, t, "data");
    if (shapeValue === undefined || dataValue === undefined) {
      this.fail(arg, "expected a tensor { shape, data }");
    }
    const shape = this.shapeOf(arg, shapeValue);
    const view = plainView(dataValue);
    if (!view) {
      this.fail(
        arg,
        `data must be a Float32Array, Float64Array or Int32Array, got ${describeValue(dataValue)}`,
      );
    }
    const got = DTYPE_OF[view.kind];
    if (want !== undefined && got !== want) this.fail(arg, `expected dtype ${want}, got ${got}`);
    const n = shape.reduce((p, d) => p * d, 1);
    if (view.data.length !== n && !SHAPE_ONLY.has(t)) {
      this.fail(
        arg,
        `data has ${view.data.length} elements but shape ${formatShape(shape)} needs ${n}`,
      );
    }
    return { shape, data: view.data } as AnyTensor;
  }

  /** A float tensor in the backend's dtype; `empty` says whether zero elements are allowed. */
  float(arg: string, t: unknown, opts: { empty?: boolean; minRank?: number } = {}): Tensor {
    const tensor = this.tensorLike(arg, t, this.dtype) as Tensor;
    if (!opts.empty && sizeOf(tensor.shape) === 0) this.fail(arg, "must not be empty");
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

  classIndices(arg: string, idx: IndexTensor, n: number, classes: number): void {
    if (!sameShape(idx.shape, [n]))
      this.fail(arg, `expected shape [${n}], got ${formatShape(idx.shape)}`);
    for (let i = 0; i < idx.data.length; i++) {
      const c = idx.data[i];
      if (c < 0 || c >= classes)
        this.fail(arg, `class index ${c} at ${i} is outside [0, ${classes})`);
    }
  }

  number(arg: string, v: unknown, ok: (v: number) => boolean, what: string): number {
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) {
      this.fail(arg, `must be ${what}, got ${describeValue(v)}`);
    }
    return v;
  }

  boolean(arg: string, v: unknown): boolean {
    if (typeof v !== "boolean") this.fail(arg, `must be a boolean, got ${describeValue(v)}`);
    return v;
  }

  oneOf<T extends string>(arg: string, v: unknown, options: readonly T[]): T {
    if (typeof v !== "string" || !options.includes(v as T))
      this.fail(arg, `must be one of ${options.join(" | ")}, got ${describeValue(v)}`);
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

/**
 * Validates a forward op's inputs and attributes (already copied by `read`); returns the shape
 * of each output. Each spec replaces the raw input values in `i` by the validated tensors.
 */
type ForwardSpec = (c: Checker, i: AnyInputs, a: AnyAttrs) => Shapes;

const unary: ForwardSpec = (c, i) => {
  i.x = c.float("x", i.x, { empty: true });
  return { y: (i.x as Tensor).shape };
};

const binary: ForwardSpec = (c, i) => {
  const a = c.float("a", i.a, { empty: true });
  const b = c.float("b", i.b, { empty: true });
  i.a = a;
  i.b = b;
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
  i.x = x;
  const axis = c.axis("axis", a.axis, x.shape.length);
  return { y: x.shape.filter((_, d) => d !== axis) };
};

const variance: ForwardSpec = (c, i, a) => {
  const out = reduce(c, i, a);
  const x = i.x as Tensor;
  if (c.boolean("unbiased", a.unbiased) && x.shape[a.axis as number] < 2)
    c.fail("x", "the unbiased variance needs at least 2 elements along the axis");
  return out;
};

const lastAxis: ForwardSpec = (c, i) => {
  i.x = c.float("x", i.x, { minRank: 1 });
  return { y: (i.x as Tensor).shape };
};

const targetsFor = (c: Checker, logits: Tensor, i: AnyInputs, allowSoft: boolean): void => {
  const [n, classes] = logits.shape;
  const target = c.tensorLike("target", i.target);
  if (target.data instanceof Int32Array) {
    c.classIndices("target", target as IndexTensor, n, classes);
  } else if (!allowSoft) {
    c.fail("target", `expected class indices (dtype int32), got dtype ${dtypeOf(target)}`);
  } else {
    const soft = target as Tensor;
    if (dtypeOf(soft) !== c.dtype)
      c.fail("target", `expected dtype ${c.dtype} (soft targets), got ${dtypeOf(soft)}`);
    c.shape("target", soft, logits.shape);
    if (!soft.data.every((p) => Number.isFinite(p) && p >= 0)) {
      c.fail("target", "soft targets must be finite and non-negative");
    }
  }
  i.target = target;
};

const loss =
  (logitsArg: "logits" | "logp", allowSoft: boolean): ForwardSpec =>
  (c, i, a) => {
    const logits = c.float(logitsArg, i[logitsArg]);
    i[logitsArg] = logits;
    if (logits.shape.length !== 2)
      c.fail(logitsArg, `expected shape [N, C], got ${formatShape(logits.shape)}`);
    targetsFor(c, logits, i, allowSoft);
    const reduction = c.oneOf("reduction", a.reduction, ["none", "sum", "mean"] as const);
    return { y: reduction === "none" ? [logits.shape[0]] : [] };
  };

const mse: ForwardSpec = (c, i, a) => {
  const pred = c.float("pred", i.pred);
  i.pred = pred;
  const target = c.float("target", i.target);
  c.shape("target", target, pred.shape);
  i.target = target;
  const reduction = c.oneOf("reduction", a.reduction, ["none", "sum", "mean"] as const);
  return { y: reduction === "none" ? pred.shape : [] };
};

const eps = (c: Checker, a: AnyAttrs) =>
  c.number("eps", a.eps, (e) => e > 0, "a positive finite number");

const perFeature = (c: Checker, i: AnyInputs, names: readonly string[], features: number) => {
  for (const name of names) {
    const t = c.float(name, i[name]);
    c.shape(name, t, [features]);
    i[name] = t;
  }
};

const batchX = (c: Checker, i: AnyInputs): Tensor => {
  const x = c.float("x", i.x);
  i.x = x;
  if (x.shape.length !== 2) c.fail("x", `expected shape [N, C], got ${formatShape(x.shape)}`);
  return x;
};

const batchNorm: ForwardSpec = (c, i, a) => {
  const x = batchX(c, i);
  const [n, features] = x.shape;
  perFeature(c, i, ["gamma", "beta", "runningMean", "runningVar"], features);
  eps(c, a);
  const training = c.boolean("training", a.training);
  c.number("momentum", a.momentum, (m) => m >= 0 && m <= 1, "in [0, 1]");
  if (training && n < 2)
    c.fail("x", "training-mode batch-norm needs at least 2 examples per feature");
  return { y: x.shape, runningMean: [features], runningVar: [features] };
};

/** The training-mode gradient: its inputs are x, γ and dy only, its one attribute ε. */
const batchNormVjp: ForwardSpec = (c, i, a) => {
  const x = batchX(c, i);
  const [n, features] = x.shape;
  perFeature(c, i, ["gamma"], features);
  eps(c, a);
  if (n < 2) c.fail("x", "training-mode batch-norm needs at least 2 examples per feature");
  return { y: x.shape };
};

const layerNorm: ForwardSpec = (c, i, a) => {
  const x = c.float("x", i.x, { minRank: 1 });
  i.x = x;
  perFeature(c, i, ["gamma", "beta"], x.shape[x.shape.length - 1]);
  eps(c, a);
  return { y: x.shape };
};

const dropout: ForwardSpec = (c, i, a) => {
  const x = c.float("x", i.x, { empty: true });
  i.x = x;
  c.number("p", a.p, (p) => p >= 0 && p < 1, "in [0, 1)");
  c.seed(a.seed);
  c.boolean("training", a.training);
  return { y: x.shape };
};

const init =
  (kaiming: boolean): ForwardSpec =>
  (c, _i, a) => {
    const shape = c.shapeOf("shape", a.shape, "the weight shape");
    if (shape.length !== 2 || !shape.every((d) => d > 0)) {
      c.fail(
        "shape",
        `must be [fan_out, fan_in] with positive integers, got ${formatShape(shape)}`,
      );
    }
    a.shape = shape;
    c.number("gain", a.gain, (g) => g > 0, "a positive finite number");
    c.seed(a.seed);
    if (kaiming) c.oneOf("mode", a.mode, ["fan_in", "fan_out"] as const);
    return { y: shape };
  };

const matmul: ForwardSpec = (c, i) => {
  const a = c.float("a", i.a, { minRank: 2 });
  const b = c.float("b", i.b, { minRank: 2 });
  i.a = a;
  i.b = b;
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
  const out = [...a.shape.slice(0, r - 1), b.shape[r - 1]];
  if (out.reduce((p, d) => p * d, 1) > MAX_ELEMENTS) {
    c.fail("b", `the product ${formatShape(out)} has more than ${MAX_ELEMENTS} elements`);
  }
  return { y: out };
};

const withLeaky: ForwardSpec = (c, i, a) => {
  c.number("alpha", a.alpha, () => true, "a finite number");
  return unary(c, i, a);
};

const forward: Readonly<Record<string, ForwardSpec>> = {
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
  variance,
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
  batch_norm_vjp: batchNormVjp,
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

/** What `check` hands the kernel: validated copies of the caller's arguments. */
export interface Checked<O extends OpName> {
  inputs: Inputs<O>;
  attrs: Attrs<O>;
  /** The expected shape of each output (keyed `y` for a single output, by name for several). */
  shapes: Shapes;
}

/**
 * Reads the caller's container once: only the names the signature lists, each an own
 * property, all required; any other own name is an error naming it.
 */
function read(
  c: Checker,
  container: unknown,
  kind: "inputs" | "attrs",
  names: readonly string[],
): Record<string, unknown> {
  const noun = kind === "inputs" ? "input" : "attribute";
  if (typeof container !== "object" || container === null || Array.isArray(container)) {
    c.fail(
      kind,
      `expected an object of named ${kind === "inputs" ? "tensors" : "attributes"}, got ${describeValue(container)}`,
    );
  }
  let keys: string[];
  try {
    keys = Object.keys(container);
  } catch (e) {
    return c.fail(kind, `listing its names threw ${thrownMessage(e)}`);
  }
  const takes = names.length
    ? `takes ${names.join(", ")}`
    : `takes no ${kind === "inputs" ? "inputs" : "attributes"}`;
  for (const key of keys) {
    if (!names.includes(key)) c.fail(key, `unknown ${noun} '${key}' (${c.op} ${takes})`);
  }
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const v = c.own(name, container, name);
    if (v === undefined) c.fail(name, `missing required ${noun} '${name}' (${c.op} ${takes})`);
    out[name] = v;
  }
  return out;
}

/**
 * Validates `op`'s inputs and attributes for a backend of `dtype` and returns the copies a
 * kernel may receive, with the expected output shapes. Throws InvalidArgumentError naming the
 * op and the argument, whatever the arguments are (proxies and throwing getters included).
 */
export function check<O extends OpName>(
  op: O,
  inputs: unknown,
  attrs: unknown,
  dtype: FloatDType,
): Checked<O> {
  if (!isOpName(op)) {
    throw new InvalidArgumentError(
      typeof op === "string" ? op : describeValue(op),
      "op",
      "not an op of the contract",
    );
  }
  const c = new Checker(op, dtype);
  const s = signatures[op];
  let current = "inputs";
  try {
    const i = read(c, inputs, "inputs", s.inputs);
    current = "attrs";
    const a = read(c, attrs, "attrs", s.attrs);
    current = op;
    const fwd = forwardOf(op);
    const spec = forward[op] ?? (fwd === undefined ? undefined : forward[fwd]);
    if (!spec) return c.fail("op", "not an op of the contract");
    const out = spec(c, i, a);
    if (fwd === undefined || op === "batch_norm_vjp") {
      if (op === "batch_norm_vjp") {
        const dy = c.float("dy", i.dy);
        c.shape("dy", dy, out.y);
        i.dy = dy;
        const x = (i.x as Tensor).shape;
        return {
          inputs: i as Inputs<O>,
          attrs: a as Attrs<O>,
          shapes: { dx: x, dgamma: [x[1]], dbeta: [x[1]] },
        };
      }
      return { inputs: i as Inputs<O>, attrs: a as Attrs<O>, shapes: out };
    }
    const dy = c.float("dy", i.dy, { empty: true });
    c.shape("dy", dy, out.y);
    i.dy = dy;
    return { inputs: i as Inputs<O>, attrs: a as Attrs<O>, shapes: gradShapes(fwd, i) };
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
    // Nothing above runs the caller's code outside a guarded read, but if anything slips
    // through, it is still the caller's argument at fault, never the kernel.
    throw new InvalidArgumentError(op, current, `could not be validated: ${thrownMessage(e)}`);
  }
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
  return check(op, inputs, attrs, dtype).shapes;
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
