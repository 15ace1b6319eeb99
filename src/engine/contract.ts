/**
 * The backend contract: every op's inputs, attributes and output, forward and backward.
 *
 * Conventions (the same for every backend):
 * - softmax, log_softmax, logsumexp act on the last axis;
 * - reductions act on `axis` and drop it;
 * - binary elementwise ops broadcast like NumPy;
 * - a backward kernel is named `<op>_vjp`: it receives the forward inputs and the upstream
 *   gradient `dy`, and returns the gradient of each differentiable input (vector–Jacobian product);
 * - losses with reduction "none" return one value per example, "sum"/"mean" a scalar (shape []);
 * - every input and attribute an op lists is required (no defaults: `variance` needs `unbiased`,
 *   `batch_norm` its running statistics, `training` and `momentum`), and a name it does not list
 *   is an error, not ignored (`validate.ts` holds each op's signature; `call` enforces it).
 */
import type { AnyTensor, DType, FloatDType, IndexTensor, Tensor } from "./tensor.ts";

export type Reduction = "none" | "sum" | "mean";
export type FanMode = "fan_in" | "fan_out";

type NoAttrs = Record<string, never>;

interface Sig<I, A, O> {
  inputs: I;
  attrs: A;
  output: O;
}

type Unary<A = NoAttrs> = Sig<{ x: Tensor }, A, Tensor>;
type UnaryVjp<A = NoAttrs> = Sig<{ x: Tensor; dy: Tensor }, A, Tensor>;
type Binary = Sig<{ a: Tensor; b: Tensor }, NoAttrs, Tensor>;
type BinaryVjp = Sig<{ a: Tensor; b: Tensor; dy: Tensor }, NoAttrs, { da: Tensor; db: Tensor }>;

export interface ReduceAttrs {
  axis: number;
}
export interface VarianceAttrs {
  axis: number;
  /** Divide by n − 1 (Bessel's correction) instead of n. */
  unbiased: boolean;
}
export interface LeakyAttrs {
  /** Slope on the negative side: 0 is ReLU, 1 is the identity. */
  alpha: number;
}
export interface LossAttrs {
  reduction: Reduction;
}
export interface BatchNormAttrs {
  training: boolean;
  eps: number;
  /** Weight of the new batch statistic in the running average (PyTorch's convention). */
  momentum: number;
}
export interface NormAttrs {
  eps: number;
}
export interface DropoutAttrs {
  /** Probability of zeroing an element, in [0, 1). */
  p: number;
  /** Philox key: a non-negative integer below 2^53. */
  seed: number;
  training: boolean;
}
export interface InitAttrs {
  /** Weight shape [fan_out, fan_in], the layout of a linear layer y = W x. */
  shape: readonly [number, number];
  gain: number;
  seed: number;
}
export interface KaimingAttrs extends InitAttrs {
  mode: FanMode;
}

/** Class indices [N] (int32) or soft targets [N, C]: non-negative weights, usually rows summing
 * to 1; the loss is −Σ t·log_softmax(logits) either way. */
export type Targets = IndexTensor | Tensor;

export interface BatchNormInputs {
  x: Tensor;
  gamma: Tensor;
  beta: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;
}
export interface BatchNormOutput {
  y: Tensor;
  /** The running statistics after this call (updated in training mode, unchanged in eval). */
  runningMean: Tensor;
  runningVar: Tensor;
}
export interface NormGrads {
  dx: Tensor;
  dgamma: Tensor;
  dbeta: Tensor;
}

export interface OpTable {
  neg: Unary;
  neg_vjp: UnaryVjp;
  exp: Unary;
  exp_vjp: UnaryVjp;
  log: Unary;
  log_vjp: UnaryVjp;

  add: Binary;
  add_vjp: BinaryVjp;
  sub: Binary;
  sub_vjp: BinaryVjp;
  mul: Binary;
  mul_vjp: BinaryVjp;
  div: Binary;
  div_vjp: BinaryVjp;

  relu: Unary;
  relu_vjp: UnaryVjp;
  leaky_relu: Unary<LeakyAttrs>;
  leaky_relu_vjp: UnaryVjp<LeakyAttrs>;
  sigmoid: Unary;
  sigmoid_vjp: UnaryVjp;
  tanh: Unary;
  tanh_vjp: UnaryVjp;
  gelu: Unary;
  gelu_vjp: UnaryVjp;
  silu: Unary;
  silu_vjp: UnaryVjp;

  sum: Unary<ReduceAttrs>;
  sum_vjp: UnaryVjp<ReduceAttrs>;
  mean: Unary<ReduceAttrs>;
  mean_vjp: UnaryVjp<ReduceAttrs>;
  /** Gradient of max is split evenly among tied maxima (order-free, like torch.amax). */
  max: Unary<ReduceAttrs>;
  max_vjp: UnaryVjp<ReduceAttrs>;
  variance: Unary<VarianceAttrs>;
  variance_vjp: UnaryVjp<VarianceAttrs>;

  /** [..., m, k] × [..., k, n] → [..., m, n]; leading (batch) dims must be equal. */
  matmul: Binary;
  matmul_vjp: BinaryVjp;

  softmax: Unary;
  softmax_vjp: UnaryVjp;
  log_softmax: Unary;
  log_softmax_vjp: UnaryVjp;
  logsumexp: Unary;
  logsumexp_vjp: UnaryVjp;

  /** Cross-entropy of logits [N, C] against class indices [N] or soft targets [N, C], in nats. */
  cross_entropy: Sig<{ logits: Tensor; target: Targets }, LossAttrs, Tensor>;
  cross_entropy_vjp: Sig<{ logits: Tensor; target: Targets; dy: Tensor }, LossAttrs, Tensor>;
  /**
   * A training step's loss in one call: the cross-entropy (as `cross_entropy`) and its gradient
   * with respect to the logits, dlogits = ∂loss/∂logits — for reduction "none", the gradient of
   * the sum of the per-example losses. A kernel may read the logits once for both (fused).
   */
  cross_entropy_fused: Sig<
    { logits: Tensor; target: Targets },
    LossAttrs,
    { loss: Tensor; dlogits: Tensor }
  >;
  /** Negative log-likelihood of log-probabilities [N, C] at class indices [N]. */
  nll: Sig<{ logp: Tensor; target: IndexTensor }, LossAttrs, Tensor>;
  nll_vjp: Sig<{ logp: Tensor; target: IndexTensor; dy: Tensor }, LossAttrs, Tensor>;
  /** Mean (or sum) of squared differences over every element; "none" keeps the shape. */
  mse: Sig<{ pred: Tensor; target: Tensor }, LossAttrs, Tensor>;
  mse_vjp: Sig<{ pred: Tensor; target: Tensor; dy: Tensor }, LossAttrs, Tensor>;

  /** Batch-norm over x [N, C] (statistics per feature C); training mode uses the biased batch
   * variance to normalise and the unbiased one to update the running variance. */
  batch_norm: Sig<BatchNormInputs, BatchNormAttrs, BatchNormOutput>;
  /** Training-mode gradient (batch statistics depend on x). */
  batch_norm_vjp: Sig<{ x: Tensor; gamma: Tensor; dy: Tensor }, NormAttrs, NormGrads>;
  /** Layer-norm over the last axis of x [..., D], with γ and β of shape [D]. */
  layer_norm: Sig<{ x: Tensor; gamma: Tensor; beta: Tensor }, NormAttrs, Tensor>;
  layer_norm_vjp: Sig<{ x: Tensor; gamma: Tensor; beta: Tensor; dy: Tensor }, NormAttrs, NormGrads>;

  /** Inverted dropout with a Philox-4x32-10 mask: element i is dropped when word 0 of
   * Philox(key = seed, counter = [i, 0, 0, 0]) is below p·2^32; survivors are scaled by 1/(1−p). */
  dropout: Unary<DropoutAttrs>;
  dropout_vjp: UnaryVjp<DropoutAttrs>;

  /** Initialisers: N(0, gain²·2/(fan_in+fan_out)), U(±gain·√(6/(fan_in+fan_out))),
   * N(0, gain²/fan), U(±gain·√(3/fan)). */
  xavier_normal: Sig<Record<string, never>, InitAttrs, Tensor>;
  xavier_uniform: Sig<Record<string, never>, InitAttrs, Tensor>;
  kaiming_normal: Sig<Record<string, never>, KaimingAttrs, Tensor>;
  kaiming_uniform: Sig<Record<string, never>, KaimingAttrs, Tensor>;
}

export type OpName = keyof OpTable;

/** The elementwise ops of one tensor (each with its `<op>_vjp`), in the contract's order. */
export const UNARY_OPS = [
  "neg",
  "exp",
  "log",
  "relu",
  "leaky_relu",
  "sigmoid",
  "tanh",
  "gelu",
  "silu",
] as const satisfies readonly OpName[];
export type Inputs<O extends OpName> = OpTable[O]["inputs"];
export type Attrs<O extends OpName> = OpTable[O]["attrs"];
export type Output<O extends OpName> = OpTable[O]["output"];

/** A kernel may be synchronous (CPU) or asynchronous (GPU, worker, native). */
export type Kernel<O extends OpName> = (
  inputs: Inputs<O>,
  attrs: Attrs<O>,
) => Output<O> | Promise<Output<O>>;

export type Kernels = { [O in OpName]?: Kernel<O> };

/** Per-op accuracy budgets a backend declares in place of the defaults (shown in every report). */
export type ToleranceOverrides = { [O in OpName]?: { ulps?: number; factor?: number } };

/**
 * A tensor a backend keeps on its device. Its shape and dtype are known on the host; its values
 * come back only through `Device.read`. What else it holds is the backend's business.
 */
export interface DeviceTensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** The same value with every host tensor in it replaced by a device tensor. */
export type OnDevice<T> = T extends AnyTensor
  ? DeviceTensor
  : T extends object
    ? { [K in keyof T]: OnDevice<T[K]> }
    : T;

/** A kernel that takes and returns device tensors: a chain of them never touches the host. */
export type DeviceKernel<O extends OpName> = (
  inputs: OnDevice<Inputs<O>>,
  attrs: Attrs<O>,
) => Promise<OnDevice<Output<O>>>;

export type DeviceKernels = { [O in OpName]?: DeviceKernel<O> };

/**
 * What a backend that keeps tensors on a device offers besides its host kernels: the same ops
 * on device tensors, and the two transfers. A chain of calls passes device tensors from one
 * kernel to the next; only what the caller reads comes back.
 */
export interface Device {
  /** Copies a host tensor to the device. */
  upload(t: AnyTensor): DeviceTensor | Promise<DeviceTensor>;
  /** Copies a device tensor back to the host (float32 or int32, as its dtype says). */
  read(t: DeviceTensor): Promise<AnyTensor>;
  /** Frees a device tensor now rather than when it is garbage-collected; using it later throws. */
  free(t: DeviceTensor): void;
  readonly kernels: DeviceKernels;
}

export interface Backend {
  readonly name: string;
  readonly dtype: FloatDType;
  readonly kernels: Kernels;
  /** Present when the backend can keep tensors on its device between calls (optional: host
   * tensors are the contract every backend meets). */
  readonly device?: Device;
  /** Which random number generator dropout and the initialisers use; the mask-equality
   * law applies only to backends that claim Philox-4x32-10. */
  readonly rng?: "philox4x32-10";
  readonly tolerances?: ToleranceOverrides;
  /** Frees device resources; the harness calls it when done. */
  dispose?(): void | Promise<void>;
}
