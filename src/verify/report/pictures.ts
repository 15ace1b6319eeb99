/**
 * The notes' pictures, computed by the engine the laws run on: activation histograms by layer
 * for tanh with and without its 5/3 gain and for ReLU under He, too-small and too-large weights;
 * saturation and dead units by layer; gradient norms by depth; batch-norm's running statistics
 * converging; inverted dropout's mean over many passes converging. Every number comes from the
 * backend's own kernels (initialisers, matmul, activations, their gradients, batch_norm, dropout)
 * through the validated door; the HTML report only draws them.
 */
import { Tape } from "../../engine/autograd.ts";
import { call } from "../../engine/call.ts";
import type { Backend } from "../../engine/contract.ts";
import { type Activation, forwardMlp, type InitSpec, mlp } from "../../engine/nn.ts";
import { normalAt } from "../../engine/random.ts";
import { indices, type Tensor, tensor } from "../../engine/tensor.ts";

/** One bar of a histogram: [x0, x1) holds `share` of the layer's values. */
export interface Bar {
  config: string;
  layer: number;
  x0: number;
  x1: number;
  share: number;
}

/** A value per layer (or step, or pass) of one configuration. */
export interface Point {
  config: string;
  x: number;
  y: number;
}

export interface Pictures {
  /** On what the pictures were computed, and the network's sizes. */
  backend: string;
  width: number;
  depth: number;
  batch: number;
  /** tanh activations per layer, bins over [−1, 1]. */
  tanhHistograms: Bar[];
  /** Fraction of tanh activations with |a| > 0.99, per layer. */
  tanhSaturation: Point[];
  /** log10 of the positive ReLU activations per layer (zeros are counted as dead below). */
  reluHistograms: Bar[];
  /** Root mean square of the ReLU activations per layer. */
  reluScale: Point[];
  /** Fraction of ReLU units that output 0 for every example of the batch, per layer. */
  deadUnits: Point[];
  /** ‖∂loss/∂W‖ per layer after one backward pass. */
  gradientNorms: Point[];
  /** batch-norm's running mean and variance of one feature, per step, for several momenta. */
  runningMean: Point[];
  runningVar: Point[];
  trueMean: number;
  trueVar: number;
  /** RMS over elements of (mean of k dropout passes − h) / h, per k, with its prediction
   * √(p / ((1 − p)·k)). */
  dropoutError: Point[];
  dropoutPredicted: Point[];
}

export interface PictureOptions {
  width?: number;
  depth?: number;
  batch?: number;
  seed?: number;
}

/** A [rows, cols] matrix of standard normal draws (Philox, reproducible). */
function normal(rows: number, cols: number, seed: number, mean = 0, std = 1): Tensor {
  const data = Array.from({ length: rows * cols }, (_, i) => mean + std * normalAt(seed, i, 7));
  return tensor("float32", [rows, cols], data);
}

/** Runs an MLP forward (and backward when asked) and returns every hidden activation. */
async function run(
  backend: Backend,
  sizes: number[],
  activation: Activation,
  init: InitSpec,
  x: Tensor,
  backward = false,
): Promise<{ hidden: Tensor[]; gradNorms: number[] }> {
  const model = await mlp(backend, sizes, activation, init);
  const tape = new Tape(backend, { grad: backward });
  const trace = await forwardMlp(tape, model, tape.constant(x));
  const hidden = trace.inputs.slice(1).map((v) => v.value);
  if (!backward) return { hidden, gradNorms: [] };
  const n = x.shape[0];
  const classes = sizes[sizes.length - 1];
  const target = indices(
    [n],
    Array.from({ length: n }, (_, i) => i % classes),
  );
  const loss = await tape.op(
    "cross_entropy",
    { logits: trace.output, target },
    { reduction: "mean" },
  );
  await tape.backward(loss);
  const gradNorms = trace.params.map(({ weight }) => {
    let s = 0;
    for (const g of weight.grad?.data ?? []) s += g * g;
    return Math.sqrt(s);
  });
  return { hidden, gradNorms };
}

function histogram(
  config: string,
  layer: number,
  values: readonly number[],
  lo: number,
  hi: number,
  bins: number,
): Bar[] {
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    const i = Math.floor(((v - lo) / (hi - lo)) * bins);
    counts[Math.min(bins - 1, Math.max(0, i))]++;
  }
  const w = (hi - lo) / bins;
  // Empty bins draw nothing: leaving them out keeps the HTML report small.
  return counts.flatMap((c, i) =>
    c === 0
      ? []
      : [{ config, layer, x0: lo + i * w, x1: lo + (i + 1) * w, share: c / values.length }],
  );
}

/** Computes every picture on `backend` (cpu32 by default in the CLI: float32, exact rounding). */
export async function computePictures(
  backend: Backend,
  options: PictureOptions = {},
): Promise<Pictures> {
  const width = options.width ?? 128;
  const depth = options.depth ?? 10;
  const batch = options.batch ?? 128;
  const seed = options.seed ?? 20261122;
  const sizes = [width, ...new Array<number>(depth).fill(width), 10];
  const x = normal(batch, width, seed);

  const tanhHistograms: Bar[] = [];
  const tanhSaturation: Point[] = [];
  const tanhConfigs: [string, number][] = [
    ["tanh, Xavier gain 1", 1],
    ["tanh, Xavier gain 5/3", 5 / 3],
  ];
  for (const [config, gain] of tanhConfigs) {
    const { hidden } = await run(
      backend,
      sizes,
      { op: "tanh" },
      { op: "xavier_normal", gain, seed },
      x,
    );
    hidden.forEach((h, l) => {
      const values = Array.from(h.data);
      tanhHistograms.push(...histogram(config, l + 1, values, -1, 1, 40));
      const saturated = values.filter((v) => Math.abs(v) > 0.99).length;
      tanhSaturation.push({ config, x: l + 1, y: saturated / values.length });
    });
  }

  const reluHistograms: Bar[] = [];
  const reluScale: Point[] = [];
  const deadUnits: Point[] = [];
  // He: std √(2/n); the law D4c's too small (std 0.01) and too large (std 1) weights.
  const reluConfigs: [string, number][] = [
    ["ReLU, He (std √(2/n))", Math.SQRT2],
    ["ReLU, std 0.01", 0.01 * Math.sqrt(width)],
    ["ReLU, std 1", Math.sqrt(width)],
  ];
  for (const [config, gain] of reluConfigs) {
    const { hidden } = await run(
      backend,
      sizes,
      { op: "relu" },
      { op: "kaiming_normal", gain, seed },
      x,
    );
    hidden.forEach((h, l) => {
      const values = Array.from(h.data);
      const positive = values.filter((v) => v > 0).map(Math.log10);
      reluHistograms.push(
        ...histogram(config, l + 1, positive, -12, 12, 48).map((b) => ({
          ...b,
          share: (b.share * positive.length) / values.length,
        })),
      );
      const rms = Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);
      reluScale.push({ config, x: l + 1, y: rms });
    });
  }
  // Dead units: a negative bias shifts every pre-activation down, layer after layer.
  for (const bias of [0, -0.5, -1]) {
    const config = `He weights, bias ${bias}`;
    const { hidden } = await run(
      backend,
      sizes,
      { op: "relu" },
      { op: "kaiming_normal", gain: Math.SQRT2, seed, bias },
      x,
    );
    hidden.forEach((h, l) => {
      let dead = 0;
      for (let j = 0; j < width; j++) {
        let alive = false;
        for (let i = 0; i < batch && !alive; i++) alive = h.data[i * width + j] > 0;
        if (!alive) dead++;
      }
      deadUnits.push({ config, x: l + 1, y: dead / width });
    });
  }

  const gradientNorms: Point[] = [];
  const gradConfigs: [string, Activation, InitSpec][] = [
    ["sigmoid, Xavier", { op: "sigmoid" }, { op: "xavier_normal", gain: 1, seed }],
    ["tanh, Xavier gain 5/3", { op: "tanh" }, { op: "xavier_normal", gain: 5 / 3, seed }],
    ["ReLU, He", { op: "relu" }, { op: "kaiming_normal", gain: Math.SQRT2, seed }],
  ];
  for (const [config, activation, init] of gradConfigs) {
    const { gradNorms } = await run(backend, sizes, activation, init, x, true);
    for (const [l, g] of gradNorms.entries()) gradientNorms.push({ config, x: l + 1, y: g });
  }

  // Batch-norm on a stationary stream: feature 0 has mean 3 and variance 4.
  const trueMean = 3;
  const trueVar = 4;
  const runningMean: Point[] = [];
  const runningVar: Point[] = [];
  const features = 4;
  const ones = tensor("float32", [features], 1);
  const zeros = tensor("float32", [features], 0);
  for (const momentum of [0.01, 0.1, 0.5]) {
    const config = `momentum ${momentum}`;
    let mean = zeros;
    let variance = ones;
    for (let step = 1; step <= 200; step++) {
      const xb = normal(32, features, seed + step, trueMean, Math.sqrt(trueVar));
      const out = await call(
        backend,
        "batch_norm",
        { x: xb, gamma: ones, beta: zeros, runningMean: mean, runningVar: variance },
        { training: true, eps: 1e-5, momentum },
      );
      mean = out.runningMean;
      variance = out.runningVar;
      // Every step while it moves fast, then every fifth: the curve looks the same, half the size.
      if (step <= 20 || step % 5 === 0) {
        runningMean.push({ config, x: step, y: mean.data[0] });
        runningVar.push({ config, x: step, y: variance.data[0] });
      }
    }
  }

  // Inverted dropout: the mean of k passes tends to h, its relative spread as √(p/((1−p)k)).
  const dropoutError: Point[] = [];
  const dropoutPredicted: Point[] = [];
  const n = 1024;
  const h = tensor(
    "float32",
    [n],
    Array.from({ length: n }, (_, i) => 0.5 + (i % 7) / 7),
  );
  for (const p of [0.1, 0.5, 0.8]) {
    const config = `p = ${p}`;
    const sum = new Float64Array(n);
    for (let k = 1; k <= 256; k++) {
      const y = await call(backend, "dropout", { x: h }, { p, seed: seed + k, training: true });
      let se = 0;
      for (let i = 0; i < n; i++) {
        sum[i] += y.data[i];
        const rel = sum[i] / k / h.data[i] - 1;
        se += rel * rel;
      }
      if ((k & (k - 1)) === 0 || k % 16 === 0) {
        dropoutError.push({ config, x: k, y: Math.sqrt(se / n) });
        dropoutPredicted.push({ config, x: k, y: Math.sqrt(p / ((1 - p) * k)) });
      }
    }
  }

  return {
    backend: backend.name,
    width,
    depth,
    batch,
    tanhHistograms,
    tanhSaturation,
    reluHistograms,
    reluScale,
    deadUnits,
    gradientNorms,
    runningMean,
    runningVar,
    trueMean,
    trueVar,
    dropoutError,
    dropoutPredicted,
  };
}
