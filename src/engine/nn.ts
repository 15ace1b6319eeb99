/**
 * The few training utilities the laws of gradient flow and regularisation need, kept small and
 * readable: a multilayer perceptron run through a Tape, SGD with L2 weight decay, a max-norm
 * constraint, early stopping, k-fold splits and additive input noise.
 *
 * Only the MLP, its initialisation and the input noise run kernels (through a Backend or a
 * Caller); the rest is plain host code, exact in float64 and rounded once to the tensor's dtype.
 */
import { type Caller, callerOf, type Tape, type Var } from "./autograd.ts";
import type { Backend, FanMode } from "./contract.ts";
import { InvalidArgumentError } from "./errors.ts";
import { uniformAt } from "./random.ts";
import { arrayFor, dtypeOf, type FloatDType, type Tensor, unitRoundoff } from "./tensor.ts";

/** Where kernels run: a backend (through `call`) or a caller such as a law's `ctx.call`. */
export type Ops = Backend | Caller;

function callerFor(ops: Ops): Caller {
  return typeof ops === "function" ? ops : callerOf(ops);
}

function floatDtype(t: Tensor): FloatDType {
  return dtypeOf(t) === "float64" ? "float64" : "float32";
}

// ---------------------------------------------------------------------------------------------
// Multilayer perceptron

export type ActivationName =
  | "relu"
  | "leaky_relu"
  | "sigmoid"
  | "tanh"
  | "gelu"
  | "silu"
  | "identity";

export interface Activation {
  op: ActivationName;
  /** Negative-side slope of leaky_relu. */
  alpha?: number;
}

/** y = x·W + b for a batch x [N, in]: W is stored [in, out] so the forward is one matmul. */
export interface Linear {
  weight: Tensor;
  bias: Tensor;
}

/** Hidden layers apply the activation; the last layer returns raw scores (logits). */
export interface Mlp {
  layers: Linear[];
  activation: Activation;
}

export type InitOp = "xavier_normal" | "xavier_uniform" | "kaiming_normal" | "kaiming_uniform";

export interface InitSpec {
  op: InitOp;
  /** Layer l draws with seed + l. */
  seed: number;
  gain?: number;
  /** Kaiming's fan (default fan_in). */
  mode?: FanMode;
  /** Every bias starts at this value (default 0). */
  bias?: number;
}

/** Transposes a row-major [rows, cols] matrix. */
export function transpose(t: Tensor): Tensor {
  const [rows, cols] = t.shape;
  const data = arrayFor(floatDtype(t), t.data.length);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) data[j * rows + i] = t.data[i * cols + j];
  return { shape: [cols, rows], data };
}

/**
 * An MLP with layer sizes `sizes` (input first), weights drawn by the backend's initialiser.
 * The initialisers use the [fan_out, fan_in] layout of y = W·x; the draw is transposed into our
 * [in, out] layout, which keeps fan_in and fan_out where the initialiser put them.
 */
export async function mlp(
  ops: Ops,
  sizes: readonly number[],
  activation: Activation,
  init: InitSpec,
): Promise<Mlp> {
  if (sizes.length < 2)
    throw new InvalidArgumentError("mlp", "sizes", "needs an input and an output size");
  const run = callerFor(ops);
  const layers: Linear[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const attrs = {
      shape: [sizes[l + 1], sizes[l]] as const,
      gain: init.gain ?? 1,
      seed: init.seed + l,
    };
    const w =
      init.op === "kaiming_normal" || init.op === "kaiming_uniform"
        ? await run(init.op, {}, { ...attrs, mode: init.mode ?? "fan_in" })
        : await run(init.op, {}, attrs);
    const bias = {
      shape: [sizes[l + 1]],
      data: arrayFor(floatDtype(w), sizes[l + 1]).fill(init.bias ?? 0),
    };
    layers.push({ weight: transpose(w), bias });
  }
  return { layers, activation };
}

/** Everything a forward pass produced, for inspecting gradients layer by layer. */
export interface MlpTrace {
  /** The last layer's output (logits). */
  output: Var;
  /** The parameters as leaves of the tape, layer by layer: their grads after backward. */
  params: { weight: Var; bias: Var }[];
  /** Pre-activations x·W + b of every layer. */
  pre: Var[];
  /** The input of every layer (the input itself, then each hidden activation). */
  inputs: Var[];
}

export async function activate(tape: Tape, activation: Activation, z: Var): Promise<Var> {
  switch (activation.op) {
    case "identity":
      return z;
    case "leaky_relu":
      return tape.op("leaky_relu", { x: z }, { alpha: activation.alpha ?? 0.01 });
    default:
      return tape.op(activation.op, { x: z }, {});
  }
}

/** The forward pass of `model` on x [N, in] through `tape`. */
export async function forwardMlp(tape: Tape, model: Mlp, x: Var): Promise<MlpTrace> {
  const params: MlpTrace["params"] = [];
  const pre: Var[] = [];
  const inputs: Var[] = [];
  let h = x;
  for (let l = 0; l < model.layers.length; l++) {
    const { weight, bias } = model.layers[l];
    const p = { weight: tape.leaf(weight, `W${l}`), bias: tape.leaf(bias, `b${l}`) };
    params.push(p);
    inputs.push(h);
    const z = await tape.op(
      "add",
      { a: await tape.op("matmul", { a: h, b: p.weight }, {}), b: p.bias },
      {},
    );
    pre.push(z);
    h = l + 1 < model.layers.length ? await activate(tape, model.activation, z) : z;
  }
  return { output: h, params, pre, inputs };
}

// ---------------------------------------------------------------------------------------------
// Optimisation and regularisation (host code)

export interface SgdOptions {
  lr: number;
  /** λ of the L2 penalty λ/2·‖w‖², whose gradient λ·w is added to every gradient. */
  weightDecay?: number;
}

/** One SGD step w ← w − lr·(g + λ·w), computed in float64 and rounded once to w's dtype. */
export function sgdStep(
  params: readonly Tensor[],
  grads: readonly Tensor[],
  opts: SgdOptions,
): Tensor[] {
  const { lr } = opts;
  const wd = opts.weightDecay ?? 0;
  if (!(lr >= 0) || !(wd >= 0))
    throw new InvalidArgumentError("sgdStep", "opts", "lr and weightDecay must be ≥ 0");
  if (params.length !== grads.length)
    throw new InvalidArgumentError("sgdStep", "grads", "needs one gradient per parameter");
  return params.map((w, p) => {
    const g = grads[p];
    if (g.data.length !== w.data.length)
      throw new InvalidArgumentError("sgdStep", "grads", `gradient ${p} has the wrong size`);
    const data = arrayFor(floatDtype(w), w.data.length);
    for (let i = 0; i < data.length; i++) data[i] = w.data[i] - lr * (g.data[i] + wd * w.data[i]);
    return { shape: [...w.shape], data };
  });
}

/**
 * Max-norm constraint: every row (or column) of a 2-D W whose Euclidean norm exceeds c is
 * scaled back to norm c; the others are returned bit for bit. A rescaled row's norm, computed
 * in float64 from its rounded entries, is ≤ c (the scale is nudged down where rounding up would
 * overshoot), so applying the constraint twice changes nothing.
 */
export function maxNorm(W: Tensor, c: number, over: "rows" | "columns" = "rows"): Tensor {
  if (!(c > 0) || !Number.isFinite(c))
    throw new InvalidArgumentError("maxNorm", "c", `must be positive and finite, got ${c}`);
  if (W.shape.length !== 2) throw new InvalidArgumentError("maxNorm", "W", "must be a matrix");
  const [rows, cols] = W.shape;
  const [count, len] = over === "rows" ? [rows, cols] : [cols, rows];
  const at = (v: number, k: number) => (over === "rows" ? v * cols + k : k * cols + v);
  const out = W.data.slice();
  const norm = (v: number) => {
    let s = 0;
    for (let k = 0; k < len; k++) s += out[at(v, k)] ** 2;
    return Math.sqrt(s);
  };
  for (let v = 0; v < count; v++) {
    const n = norm(v);
    if (!(n > c)) continue;
    let scale = c / n;
    // Each nudge is two units of roundoff of the dtype: enough to undo a rounding overshoot.
    const nudge = 1 - 2 * unitRoundoff(floatDtype(W));
    for (let attempt = 0; attempt < 16; attempt++) {
      for (let k = 0; k < len; k++) out[at(v, k)] = W.data[at(v, k)] * scale;
      if (norm(v) <= c) break;
      scale *= nudge;
    }
  }
  return { shape: [rows, cols], data: out };
}

export interface EarlyStoppingOptions {
  /** Epochs without improvement after which training stops (≥ 1). */
  patience: number;
  /** An epoch improves only if its loss is below the best so far by more than this (≥ 0). */
  minDelta?: number;
}

export interface EarlyStoppingResult {
  /** The epoch (0-based) at which training stops, or null if the losses run out first. */
  stopEpoch: number | null;
  /** The epoch of the last improvement: the checkpoint to restore. */
  bestEpoch: number;
  bestLoss: number;
}

/**
 * Early stopping on a sequence of validation losses, one per epoch (Keras' EarlyStopping with
 * restore_best_weights): epoch 0 sets the best; a later epoch improves if its loss is below the
 * best by more than minDelta; training stops at the epoch that completes `patience` epochs in a
 * row without improvement. A NaN loss never improves.
 */
export function earlyStopping(
  valLosses: readonly number[],
  opts: EarlyStoppingOptions,
): EarlyStoppingResult {
  const { patience } = opts;
  const minDelta = opts.minDelta ?? 0;
  if (!Number.isInteger(patience) || patience < 1)
    throw new InvalidArgumentError("earlyStopping", "patience", "must be an integer ≥ 1");
  if (!(minDelta >= 0)) throw new InvalidArgumentError("earlyStopping", "minDelta", "must be ≥ 0");
  if (valLosses.length === 0)
    throw new InvalidArgumentError("earlyStopping", "valLosses", "must not be empty");
  let bestEpoch = 0;
  let bestLoss = valLosses[0];
  let wait = 0;
  for (let e = 1; e < valLosses.length; e++) {
    // NaN compares false, so a NaN loss never improves; a NaN best is replaced by any number.
    if (
      valLosses[e] < bestLoss - minDelta ||
      (Number.isNaN(bestLoss) && !Number.isNaN(valLosses[e]))
    ) {
      bestLoss = valLosses[e];
      bestEpoch = e;
      wait = 0;
    } else if (++wait >= patience) return { stopEpoch: e, bestEpoch, bestLoss };
  }
  return { stopEpoch: null, bestEpoch, bestLoss };
}

export interface Fold {
  train: number[];
  validation: number[];
}

/** Philox stream of the k-fold shuffle (the initialisers use stream 1). */
const SHUFFLE_STREAM = 2;

/**
 * K-fold cross-validation splits of n examples: the (optionally shuffled) indices are cut into k
 * contiguous validation folds, the first n mod k of them one longer (scikit-learn's KFold); each
 * fold trains on the rest. The shuffle is Fisher–Yates driven by Philox(seed).
 */
export function kFold(n: number, k: number, seed?: number): Fold[] {
  if (!Number.isInteger(n) || n < 2)
    throw new InvalidArgumentError("kFold", "n", "must be an integer ≥ 2");
  if (!Number.isInteger(k) || k < 2 || k > n)
    throw new InvalidArgumentError("kFold", "k", `must be an integer in [2, ${n}]`);
  const order = Array.from({ length: n }, (_, i) => i);
  if (seed !== undefined) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(uniformAt(seed, i, SHUFFLE_STREAM) * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  const folds: Fold[] = [];
  let start = 0;
  for (let f = 0; f < k; f++) {
    const size = Math.floor(n / k) + (f < n % k ? 1 : 0);
    const validation = order.slice(start, start + size);
    folds.push({ validation, train: [...order.slice(0, start), ...order.slice(start + size)] });
    start += size;
  }
  return folds;
}

export interface NoiseOptions {
  /** Standard deviation of the noise. */
  sigma: number;
  seed: number;
}

/**
 * Additive Gaussian input noise x + σ·z for x [N, D], computed by the backend: z is a
 * kaiming_normal draw of shape [N, D] (fan_in D, so gain σ·√D gives standard deviation σ),
 * added with the backend's `add`.
 */
export async function inputNoise(ops: Ops, x: Tensor, opts: NoiseOptions): Promise<Tensor> {
  if (x.shape.length !== 2) throw new InvalidArgumentError("inputNoise", "x", "must be [N, D]");
  if (!(opts.sigma > 0)) throw new InvalidArgumentError("inputNoise", "sigma", "must be positive");
  const run = callerFor(ops);
  const [n, d] = x.shape;
  const noise = await run(
    "kaiming_normal",
    {},
    { shape: [n, d], gain: opts.sigma * Math.sqrt(d), seed: opts.seed, mode: "fan_in" },
  );
  return run("add", { a: x, b: noise }, {});
}
