/**
 * TensorFlow.js 4.22 as a tensorlaws backend, on its CPU backend or on WebGPU (Dawn).
 *
 * Every op of the contract is mapped onto the tfjs op a user would call (tf.softmax,
 * tf.losses.softmaxCrossEntropy, tf.batchNorm, tf.dropout, …), composed from tfjs ops where tfjs
 * has none (GELU and SiLU as tfjs-layers writes them, layer-norm as tf.moments + tf.batchNorm,
 * NLL as a gather), and every `<op>_vjp` is tfjs's own autodiff of that forward (tf.grad /
 * tf.grads with dy). Nothing is adjusted to please a law: what fails is tfjs's behaviour, listed
 * with its reason in tfjs-verdicts.ts.
 *
 * tfjs computes in float32. Its random ops use its own generator (seedrandom's Alea), not Philox,
 * so the backend does not claim `rng` and the mask-equality law does not apply to it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { existsSync } from "node:fs";
import { register } from "node:module";
import { tmpdir } from "node:os";
import * as tf from "@tensorflow/tfjs-core";
import type {
  Backend,
  BatchNormOutput,
  Device,
  DeviceKernels,
  DeviceTensor,
  DropoutAttrs,
  Kernels,
  NormGrads,
  Reduction,
  Targets,
} from "../src/engine/contract.ts";
import type { AnyTensor, IndexTensor, Tensor } from "../src/engine/tensor.ts";
import { type AdapterInfo, SWIFTSHADER_ICD } from "../src/engine/webgpu/index.ts";
// Readbacks wait without spinning a core, as our runtime's do (it changes no value).
import { yielding } from "../src/engine/webgpu/runtime.ts";

export type TfjsKind = "cpu" | "webgpu";

export interface TfjsBackend extends Backend {
  /** The adapter tfjs-webgpu runs on (absent for the CPU kind). */
  readonly adapterInfo?: AdapterInfo;
  /** Device tensors are tf.Tensors, which already live on tfjs's backend. */
  readonly device: Device;
  dispose(): Promise<void>;
}

/**
 * tfjs-core's Node bundle registers neither gradients nor chained ops (x.split(), which some
 * gradients call): both ship only as bundler-style ESM whose imports omit the `.js` extension,
 * and the union package @tensorflow/tfjs is what normally imports them. Bundlers and vitest
 * resolve those imports; plain Node (and tsx) need this one resolve hook, which retries a failed
 * relative import inside tfjs-core's dist with `.js` appended. Both copies of tfjs-core then
 * share one engine, registry and Tensor class, which tfjs keeps on globalThis for this reason.
 */
const RESOLVE_HOOK = `export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    const inTfjs = context.parentURL?.includes("/@tensorflow/tfjs-core/dist/");
    if (inTfjs && specifier.startsWith(".") && !specifier.endsWith(".js")) {
      return next(specifier + ".js", context);
    }
    throw e;
  }
}`;

let autodiff: Promise<unknown> | undefined;

function registerAutodiff(): Promise<unknown> {
  autodiff ??= (async () => {
    register(`data:text/javascript,${encodeURIComponent(RESOLVE_HOOK)}`);
    await import("@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js");
    await import("@tensorflow/tfjs-core/dist/register_all_gradients.js");
  })();
  return autodiff;
}

/** The CPU backend's factory: tfjs-webgpu also hands small ops to it. */
async function registerCpu(): Promise<void> {
  const { MathBackendCPU } = await import("@tensorflow/tfjs-backend-cpu");
  // A previous dispose() removed the factory along with the backend.
  if (!tf.findBackendFactory("cpu")) tf.registerBackend("cpu", () => new MathBackendCPU(), 1);
}

/**
 * Dawn's GPU object and its first adapter, falling back to SwiftShader as src/webgpu does. The
 * GPU object must stay referenced while the device lives (Dawn frees its instance otherwise).
 */
async function dawnAdapter(): Promise<{ gpu: GPU; adapter: GPUAdapter } | undefined> {
  const { create, globals } = await import("webgpu");
  // tfjs-webgpu reads GPUBufferUsage and friends from the global scope, as in a browser.
  Object.assign(globalThis, globals);
  process.env.XDG_RUNTIME_DIR ??= tmpdir();
  // Unrounded GPU timestamps (Dawn quantizes them to 65.5 µs by default), as our backend's device
  // gets in the benchmarks: both sides' kernels are then timed alike.
  const flags = ["disable-dawn-features=timestamp_quantization"];
  let gpu = create(flags);
  let adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter && !process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    gpu = create(flags);
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  }
  return adapter ? { gpu, adapter } : undefined;
}

/** Sets navigator.gpu (creating navigator where Node has none); returns the undo. */
function provideNavigatorGpu(gpu: GPU): () => void {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true });
    return () => Reflect.deleteProperty(globalThis, "navigator");
  }
  const own = Object.getOwnPropertyDescriptor(g.navigator, "gpu");
  Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true });
  return () => {
    const nav = g.navigator as object;
    if (own) Object.defineProperty(nav, "gpu", own);
    else Reflect.deleteProperty(nav, "gpu");
  };
}

/**
 * tfjs-webgpu on a device of our own. Its built-in factory asks `navigator.gpu` for a device it
 * never destroys (WebGPUBackend.dispose() frees buffers only), and a live Dawn device keeps Node
 * running; so we request the device with the same limits that factory asks for, hand it to
 * WebGPUBackend, and destroy it in dispose().
 */
async function registerWebGpu(): Promise<{ release(): void; info: AdapterInfo } | undefined> {
  const found = await dawnAdapter();
  if (!found) return undefined;
  let gpu: GPU | undefined = found.gpu;
  const { adapter } = found;
  const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has("timestamp-query") ? ["timestamp-query"] : [],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });
  // WebGPUBackend's constructor still checks for navigator.gpu, which Node 20 lacks.
  const restore = provideNavigatorGpu(found.gpu);
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", () => new WebGPUBackend(device, adapter.info));
  const { vendor, architecture, description, device: name } = adapter.info;
  return {
    info: { vendor, architecture, description, device: name },
    release() {
      if (!gpu) return;
      device.destroy();
      restore();
      gpu = undefined;
    },
  };
}

const REDUCTION: Record<Reduction, tf.Reduction> = {
  none: tf.Reduction.NONE,
  sum: tf.Reduction.SUM,
  mean: tf.Reduction.MEAN,
};

/** The device tensors of this adapter: a tf.Tensor, which lives on tfjs's backend. */
class TfDeviceTensor implements DeviceTensor {
  readonly shape: readonly number[];
  readonly dtype: "float32" | "int32";
  constructor(readonly tensor: tf.Tensor) {
    this.shape = [...tensor.shape];
    this.dtype = tensor.dtype === "int32" ? "int32" : "float32";
  }
}

/** Set while a device kernel runs (through its awaits): `run` then keeps the outputs. */
const resident = new AsyncLocalStorage<boolean>();

// Copies: tfjs's CPU backend keeps the array it is given, and may hand it back as an output.
// A device tensor is its tf.Tensor, made outside the kernel's tidy scope, which keeps it.
const input = (t: Tensor | TfDeviceTensor): tf.Tensor =>
  t instanceof TfDeviceTensor
    ? t.tensor
    : tf.tensor(new Float32Array(t.data), [...t.shape], "float32");
const classes = (t: IndexTensor | TfDeviceTensor): tf.Tensor =>
  t instanceof TfDeviceTensor ? t.tensor : tf.tensor(new Int32Array(t.data), [...t.shape], "int32");
const isIndices = (t: Targets | TfDeviceTensor) =>
  t instanceof TfDeviceTensor ? t.dtype === "int32" : t.data instanceof Int32Array;

type F1 = (x: tf.Tensor) => tf.Tensor;

/** GELU as tfjs-layers' "gelu" activation writes it: x·½(1 + erf(x/√2)). */
const gelu: F1 = (x) => tf.mul(x, tf.mul(0.5, tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));

/** SiLU as tfjs-layers' "swish" activation writes it: x·σ(x). */
const silu: F1 = (x) => tf.mul(x, tf.sigmoid(x));

/** Soft targets as given; class indices one-hot encoded, the labels tfjs's loss expects. */
const labels = (target: Targets, numClasses: number): tf.Tensor =>
  isIndices(target)
    ? tf.oneHot(classes(target as IndexTensor), numClasses, 1, 0, "float32")
    : input(target as Tensor);

const crossEntropy =
  (target: tf.Tensor, reduction: Reduction): F1 =>
  (logits) =>
    tf.losses.softmaxCrossEntropy(target, logits, undefined, 0, REDUCTION[reduction]);

/** NLL picks −logp[i, t_i] (a gather, like torch's nll_loss: no 0·(−∞) from a one-hot mask). */
const nll =
  (target: tf.Tensor, reduction: Reduction): F1 =>
  (logp) =>
    tf.losses.computeWeightedLoss(
      tf.neg(tf.gather(logp, target, 1, 1)),
      undefined,
      REDUCTION[reduction],
    );

const mse =
  (target: tf.Tensor, reduction: Reduction): F1 =>
  (pred) =>
    tf.losses.meanSquaredError(target, pred, undefined, REDUCTION[reduction]);

/** The variance from tf.moments (two passes, biased), times n/(n − 1) for the unbiased one. */
const variance =
  (axis: number, unbiased: boolean): F1 =>
  (x) => {
    const v = tf.moments(x, axis).variance;
    const n = x.shape[axis];
    return unbiased ? tf.mul(v, n / (n - 1)) : v;
  };

/** Training-mode batch-norm: the batch's biased moments, then tf.batchNorm. */
const batchNormTrain = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) => {
  const { mean, variance: v } = tf.moments(x, 0);
  return { y: tf.batchNorm(x, mean, v, beta, gamma, eps), mean, variance: v };
};

/**
 * Layer-norm as tfjs-layers' LayerNormalization computes it: moments over the last axis, then
 * tf.batchNorm with every operand tiled to x's shape (its kernels broadcast only along the last
 * axis, tfjs issue 2120).
 */
const layerNorm = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) => {
  const { mean, variance: v } = tf.moments(x, -1, true);
  const last = x.rank - 1;
  const feature = x.shape.map((n, i) => (i === last ? n : 1)); // [1, …, 1, D]
  const rows = x.shape.map((n, i) => (i === last ? 1 : n)); // [N, …, 1]
  const perRow = (t: tf.Tensor) => tf.tile(t, feature);
  const perFeature = (t: tf.Tensor) => tf.tile(tf.reshape(t, feature), rows);
  return tf.batchNorm(x, perRow(mean), perRow(v), perFeature(beta), perFeature(gamma), eps);
};

/**
 * tf.dropout draws its mask from randomUniform seeded with `seed`; a seed of 0 would mean
 * "unseeded" to some tfjs random ops, so ours is shifted by one (still exact below 2^53).
 */
const dropout =
  ({ p, seed, training }: DropoutAttrs): F1 =>
  (x) =>
    training ? tf.dropout(x, p, undefined, seed + 1) : tf.clone(x);

/**
 * The backend on tfjs's CPU backend or on tfjs-webgpu; undefined for "webgpu" when there is no
 * adapter. dispose() removes the tfjs backend (and destroys the GPU device) so Node can exit.
 */
export async function createTfjsBackend(kind: TfjsKind): Promise<TfjsBackend | undefined> {
  await registerAutodiff();
  await registerCpu();
  const gpu = kind === "webgpu" ? await registerWebGpu() : undefined;
  if (kind === "webgpu" && !gpu) return undefined;
  if (!(await tf.setBackend(kind))) {
    gpu?.release();
    throw new Error(`tfjs could not initialise its ${kind} backend`);
  }

  /** Runs `f` in a tidy scope on this kind's tfjs backend and reads every output back. */
  const run = async <K extends string>(
    f: () => Record<K, tf.Tensor>,
  ): Promise<Record<K, Tensor>> => {
    // Another tfjs backend in the same process may have switched the global engine meanwhile.
    while (tf.getBackend() !== kind) {
      if (!(await tf.setBackend(kind))) throw new Error(`the tfjs ${kind} backend is gone`);
    }
    const out = tf.tidy(f);
    if (resident.getStore()) {
      // Outputs stay as tf.Tensors; one that a device tensor already holds (an input's, as eval
      // batch-norm's running statistics, or an earlier output's) is cloned, so that every
      // device tensor owns its tensor.
      const result = {} as Record<K, TfDeviceTensor>;
      for (const key of Object.keys(out) as K[]) {
        const t = out[key];
        result[key] = new TfDeviceTensor(kept.has(t) ? tf.clone(t) : t);
        kept.add(result[key].tensor);
      }
      // The kernels are typed for host tensors; device kernels hand these on as they are.
      return result as unknown as Record<K, Tensor>;
    }
    try {
      const result = {} as Record<K, Tensor>;
      for (const key of Object.keys(out) as K[]) {
        const t = out[key];
        result[key] = { shape: [...t.shape], data: new Float32Array(await yielding(t.data())) };
      }
      return result;
    } finally {
      tf.dispose(Object.values<tf.Tensor>(out));
    }
  };
  const one = async (f: () => tf.Tensor): Promise<Tensor> => (await run(() => ({ y: f() }))).y;

  const unary = (f: F1) => ({
    fwd: ({ x }: { x: Tensor }) => one(() => f(input(x))),
    vjp: ({ x, dy }: { x: Tensor; dy: Tensor }) => one(() => tf.grad(f)(input(x), input(dy))),
  });
  const binary = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => ({
    fwd: ({ a, b }: { a: Tensor; b: Tensor }) => one(() => f(input(a), input(b))),
    vjp: ({ a, b, dy }: { a: Tensor; b: Tensor; dy: Tensor }) =>
      run(() => {
        const [da, db] = tf.grads(f)([input(a), input(b)], input(dy));
        return { da, db };
      }),
  });

  const neg = unary(tf.neg);
  const exp = unary(tf.exp);
  const log = unary(tf.log);
  const relu = unary(tf.relu);
  const sigmoid = unary(tf.sigmoid);
  const tanh = unary(tf.tanh);
  const geluK = unary(gelu);
  const siluK = unary(silu);
  const softmax = unary((x) => tf.softmax(x));
  const logSoftmax = unary((x) => tf.logSoftmax(x));
  const logSumExp = unary((x) => tf.logSumExp(x, -1));
  const add = binary(tf.add);
  const sub = binary(tf.sub);
  const mul = binary(tf.mul);
  const div = binary(tf.div);
  const matmul = binary((a, b) => tf.matMul(a, b));

  const kernels: Kernels = {
    neg: neg.fwd,
    neg_vjp: neg.vjp,
    exp: exp.fwd,
    exp_vjp: exp.vjp,
    log: log.fwd,
    log_vjp: log.vjp,

    add: add.fwd,
    add_vjp: add.vjp,
    sub: sub.fwd,
    sub_vjp: sub.vjp,
    mul: mul.fwd,
    mul_vjp: mul.vjp,
    div: div.fwd,
    div_vjp: div.vjp,

    relu: relu.fwd,
    relu_vjp: relu.vjp,
    leaky_relu: ({ x }, { alpha }) => unary((t) => tf.leakyRelu(t, alpha)).fwd({ x }),
    leaky_relu_vjp: ({ x, dy }, { alpha }) => unary((t) => tf.leakyRelu(t, alpha)).vjp({ x, dy }),
    sigmoid: sigmoid.fwd,
    sigmoid_vjp: sigmoid.vjp,
    tanh: tanh.fwd,
    tanh_vjp: tanh.vjp,
    gelu: geluK.fwd,
    gelu_vjp: geluK.vjp,
    silu: siluK.fwd,
    silu_vjp: siluK.vjp,

    sum: ({ x }, { axis }) => unary((t) => tf.sum(t, axis)).fwd({ x }),
    sum_vjp: ({ x, dy }, { axis }) => unary((t) => tf.sum(t, axis)).vjp({ x, dy }),
    mean: ({ x }, { axis }) => unary((t) => tf.mean(t, axis)).fwd({ x }),
    mean_vjp: ({ x, dy }, { axis }) => unary((t) => tf.mean(t, axis)).vjp({ x, dy }),
    max: ({ x }, { axis }) => unary((t) => tf.max(t, axis)).fwd({ x }),
    max_vjp: ({ x, dy }, { axis }) => unary((t) => tf.max(t, axis)).vjp({ x, dy }),
    variance: ({ x }, { axis, unbiased }) => unary(variance(axis, unbiased)).fwd({ x }),
    variance_vjp: ({ x, dy }, { axis, unbiased }) => unary(variance(axis, unbiased)).vjp({ x, dy }),

    matmul: matmul.fwd,
    matmul_vjp: matmul.vjp,

    softmax: softmax.fwd,
    softmax_vjp: softmax.vjp,
    log_softmax: logSoftmax.fwd,
    log_softmax_vjp: logSoftmax.vjp,
    logsumexp: logSumExp.fwd,
    logsumexp_vjp: logSumExp.vjp,

    cross_entropy: ({ logits, target }, { reduction }) =>
      one(() => crossEntropy(labels(target, logits.shape[1]), reduction)(input(logits))),
    cross_entropy_vjp: ({ logits, target, dy }, { reduction }) =>
      one(() =>
        tf.grad(crossEntropy(labels(target, logits.shape[1]), reduction))(input(logits), input(dy)),
      ),
    // A training step in tfjs: tf.valueAndGrad, whose default dy of ones makes the gradient of
    // reduction "none" that of the summed losses, as the contract asks.
    cross_entropy_fused: ({ logits, target }, { reduction }) =>
      run(() => {
        const f = crossEntropy(labels(target, logits.shape[1]), reduction);
        const { value, grad } = tf.valueAndGrad(f)(input(logits));
        return { loss: value, dlogits: grad };
      }),
    nll: ({ logp, target }, { reduction }) =>
      one(() => nll(classes(target), reduction)(input(logp))),
    nll_vjp: ({ logp, target, dy }, { reduction }) =>
      one(() => tf.grad(nll(classes(target), reduction))(input(logp), input(dy))),
    mse: ({ pred, target }, { reduction }) => one(() => mse(input(target), reduction)(input(pred))),
    mse_vjp: ({ pred, target, dy }, { reduction }) =>
      one(() => tf.grad(mse(input(target), reduction))(input(pred), input(dy))),

    // Training mode moves the running statistics as PyTorch does (tfjs-layers' BatchNormalization
    // uses the same EMA, with the unbiased variance too); eval mode normalises with them.
    batch_norm: ({ x, gamma, beta, runningMean, runningVar }, { training, eps, momentum }) =>
      run<keyof BatchNormOutput>(() => {
        const [xt, g, b, rm, rv] = [x, gamma, beta, runningMean, runningVar].map(input);
        if (training === false) {
          return { y: tf.batchNorm(xt, rm, rv, b, g, eps), runningMean: rm, runningVar: rv };
        }
        const m = momentum ?? 0.1;
        const n = x.shape[0];
        const { y, mean, variance: v } = batchNormTrain(xt, g, b, eps);
        return {
          y,
          runningMean: tf.add(tf.mul(rm, 1 - m), tf.mul(mean, m)),
          runningVar: tf.add(tf.mul(rv, 1 - m), tf.mul(tf.mul(v, n / (n - 1)), m)),
        };
      }),
    batch_norm_vjp: ({ x, gamma, dy }, { eps }) =>
      run<keyof NormGrads>(() => {
        const f = (xt: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTrain(xt, g, b, eps).y;
        const beta = tf.zeros([gamma.shape[0]]);
        const [dx, dgamma, dbeta] = tf.grads(f)([input(x), input(gamma), beta], input(dy));
        return { dx, dgamma, dbeta };
      }),
    layer_norm: ({ x, gamma, beta }, { eps }) =>
      one(() => layerNorm(input(x), input(gamma), input(beta), eps)),
    layer_norm_vjp: ({ x, gamma, beta, dy }, { eps }) =>
      run<keyof NormGrads>(() => {
        const f = (xt: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(xt, g, b, eps);
        const [dx, dgamma, dbeta] = tf.grads(f)([input(x), input(gamma), input(beta)], input(dy));
        return { dx, dgamma, dbeta };
      }),

    dropout: ({ x }, attrs) => unary(dropout(attrs)).fwd({ x }),
    dropout_vjp: ({ x, dy }, attrs) => unary(dropout(attrs)).vjp({ x, dy }),

    // tfjs-core has normal and uniform draws (tfjs-layers' glorotNormal would truncate at 2σ,
    // which is not the N(0, σ²) of the contract); seeds shifted by one as for dropout.
    xavier_normal: (_, { shape, gain, seed }) =>
      one(() =>
        tf.randomNormal(
          [...shape],
          0,
          gain * Math.sqrt(2 / (shape[0] + shape[1])),
          "float32",
          seed + 1,
        ),
      ),
    xavier_uniform: (_, { shape, gain, seed }) => {
      const a = gain * Math.sqrt(6 / (shape[0] + shape[1]));
      return one(() => tf.randomUniform([...shape], -a, a, "float32", seed + 1));
    },
    kaiming_normal: (_, { shape, gain, seed, mode }) => {
      const fan = mode === "fan_out" ? shape[0] : shape[1];
      return one(() => tf.randomNormal([...shape], 0, gain / Math.sqrt(fan), "float32", seed + 1));
    },
    kaiming_uniform: (_, { shape, gain, seed, mode }) => {
      const a = gain * Math.sqrt(3 / (mode === "fan_out" ? shape[0] : shape[1]));
      return one(() => tf.randomUniform([...shape], -a, a, "float32", seed + 1));
    },
  };

  /** tf.Tensors that device tensors hold (an output that is one of them is cloned). */
  const kept = new WeakSet<tf.Tensor>();
  const handle = (t: DeviceTensor): TfDeviceTensor => {
    if (t instanceof TfDeviceTensor && !t.tensor.isDisposed) return t;
    throw new TypeError(
      t instanceof TfDeviceTensor
        ? "tfjs: the device tensor was freed"
        : "tfjs: expected a device tensor made by this backend (device.upload)",
    );
  };
  const deviceKernels: Record<string, unknown> = {};
  for (const [op, kernel] of Object.entries(kernels)) {
    const k = kernel as (inputs: unknown, attrs: unknown) => Promise<unknown>;
    deviceKernels[op] = (inputs: unknown, attrs: unknown) =>
      resident.run(true, async () => {
        for (const t of Object.values(inputs as object)) handle(t);
        return k(inputs, attrs);
      });
  }
  const device: Device = {
    upload(t: AnyTensor) {
      const tensor = t.data instanceof Int32Array ? classes(t as IndexTensor) : input(t as Tensor);
      kept.add(tensor);
      return new TfDeviceTensor(tensor);
    },
    async read(t) {
      const { tensor } = handle(t);
      const shape = [...tensor.shape];
      const values = await yielding(tensor.data());
      return tensor.dtype === "int32"
        ? { shape, data: new Int32Array(values as Int32Array) }
        : { shape, data: new Float32Array(values as Float32Array) };
    },
    free(t) {
      handle(t).tensor.dispose();
    },
    kernels: deviceKernels as DeviceKernels,
  };

  let live = true;
  return {
    name: `tfjs-${kind}`,
    dtype: "float32",
    kernels,
    device,
    ...(gpu ? { adapterInfo: gpu.info } : {}),
    async dispose() {
      if (!live) return;
      live = false;
      // findBackend would initialise a backend that is only registered; the factory says enough.
      if (tf.findBackendFactory(kind)) tf.removeBackend(kind);
      gpu?.release();
    },
  };
}
