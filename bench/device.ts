/**
 * Tensors that stay on the device, measured: what a round trip per op costs a chain, and how
 * fast tensors cross the bus.
 *
 *   npm run bench:device              sizes for SwiftShader on two cores
 *   npm run bench:device -- --full    the real-GPU sizes (batch and width 4096, 512 MB)
 *
 * 1. Transfers: host → device and device → host GB/s of our runtime (`device.upload` and
 *    `device.read`: writeBuffer staging, pooled buffers, a reused mapped staging buffer) next to
 *    raw Dawn at its best on the same device (one buffer and one staging buffer, reused), 1 MB to
 *    64 MB (512 MB with --full). Each is the median of several, after one warm-up.
 * 2. A training step of a 3-layer MLP (batch × width → width → width → 10, ReLU, cross-entropy,
 *    SGD) three ways on the same adapter: ours on host tensors (every op reads back), ours on
 *    device tensors (Tape.onDevice, the update by device kernels: nothing reads back but the
 *    loss), and TensorFlow.js-webgpu with its own autodiff and optimizer (tf.train.sgd). Every
 *    step ends by reading its loss, so each is timed to its completion.
 *
 * Timings on SwiftShader say nothing about a real GPU, only relative work.
 */
import { Tape, type Var } from "../src/engine/autograd.ts";
import { call } from "../src/engine/call.ts";
import type { Backend, DeviceTensor } from "../src/engine/contract.ts";
import { callDevice } from "../src/engine/device.ts";
import { indices, type Tensor } from "../src/engine/tensor.ts";
import { createWebGpuBackend, describeAdapter } from "../src/engine/webgpu/index.ts";
import { generator } from "./cases.ts";
import { median } from "./stats.ts";

const full = process.argv.includes("--full");
const MB = 2 ** 20;

function randomTensor(shape: number[], scale: number, seed: number): Tensor {
  const rand = generator(seed);
  const n = shape.reduce((p, d) => p * d, 1);
  return { shape, data: Float32Array.from({ length: n }, () => scale * (2 * rand() - 1)) };
}

async function timeMs(f: () => Promise<unknown>, reps: number): Promise<number> {
  await f();
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await f();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

// ---------------------------------------------------------------------------------------------
// Transfers

// GPUBufferUsage bits: STORAGE | COPY_SRC | COPY_DST, and MAP_READ | COPY_DST.
const STORAGE = 0x80 | 0x4 | 0x8;
const READBACK = 0x1 | 0x8;

/**
 * Raw Dawn at its best, for `bytes`: one storage buffer written with writeBuffer (then waiting
 * for the queue), one MAP_READ buffer reused for every readback (copy, map, copy out, unmap).
 */
function rawDawn(device: GPUDevice, bytes: number) {
  const buffer = device.createBuffer({ size: bytes, usage: STORAGE });
  const staging = device.createBuffer({ size: bytes, usage: READBACK });
  return {
    async upload(data: Float32Array) {
      device.queue.writeBuffer(buffer, 0, data);
      await device.queue.onSubmittedWorkDone();
    },
    async read() {
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(1);
      const out = new Float32Array(staging.getMappedRange().slice(0));
      staging.unmap();
      return out;
    },
    destroy() {
      buffer.destroy();
      staging.destroy();
    },
  };
}

async function transfers(backend: Backend & { runtime: { device: GPUDevice } }): Promise<string[]> {
  const device = backend.runtime.device;
  const dev = backend.device!;
  const sizes = full ? [1, 16, 64, 256, 512] : [1, 4, 16, 64];
  const rows = [
    "| size | ours upload GB/s | Dawn upload GB/s | ours read GB/s | Dawn read GB/s |",
    "|---:|---:|---:|---:|---:|",
  ];
  for (const mb of sizes) {
    const bytes = mb * MB;
    if (bytes > device.limits.maxBufferSize) break;
    const host: Tensor = { shape: [bytes / 4], data: new Float32Array(bytes / 4).fill(1.5) };
    const reps = mb >= 256 ? 5 : 15;
    const oursUp = await timeMs(async () => {
      const t = await dev.upload(host);
      await device.queue.onSubmittedWorkDone();
      dev.free(t);
    }, reps);
    const held = await dev.upload(host);
    const oursRead = await timeMs(() => dev.read(held), reps);
    dev.free(held);
    const raw = rawDawn(device, bytes);
    const dawnUp = await timeMs(() => raw.upload(host.data as Float32Array), reps);
    const dawnRead = await timeMs(() => raw.read(), reps);
    raw.destroy();
    const gbps = (ms: number) => (bytes / (ms / 1000) / 1e9).toFixed(2);
    rows.push(
      `| ${mb} MB | ${gbps(oursUp)} | ${gbps(dawnUp)} | ${gbps(oursRead)} | ${gbps(dawnRead)} |`,
    );
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// The MLP training step

interface Mlp {
  batch: number;
  width: number;
  classes: number;
  x: Tensor;
  target: ReturnType<typeof indices>;
  params: Tensor[];
}

function mlpOf(batch: number, width: number): Mlp {
  const classes = 10;
  const sizes = [width, width, width, classes];
  const params = sizes
    .slice(1)
    .flatMap((out, l) => [
      randomTensor([sizes[l], out], Math.sqrt(6 / (sizes[l] + out)), 10 + l),
      randomTensor([out], 0.01, 20 + l),
    ]);
  const rand = generator(7);
  const target = indices(
    [batch],
    Array.from({ length: batch }, () => Math.floor(rand() * classes)),
  );
  return { batch, width, classes, x: randomTensor([batch, width], 1, 1), target, params };
}

const LR = 0.01;

/** Logits of the MLP on a tape (ReLU between the layers). */
async function logitsOn<V extends Tensor | DeviceTensor>(tape: Tape<V>, x: Var<V>, p: Var<V>[]) {
  let h = x;
  for (let l = 0; l < p.length; l += 2) {
    const z = await tape.op("matmul", { a: h, b: p[l] }, {});
    h = await tape.op("add", { a: z, b: p[l + 1] }, {});
    if (l + 2 < p.length) h = await tape.op("relu", { x: h }, {});
  }
  return h;
}

/** One step on host tensors: every kernel call uploads its inputs and reads its outputs back. */
async function hostStep(backend: Backend, m: Mlp, params: Tensor[]): Promise<Tensor[]> {
  const tape = new Tape(backend);
  const p = params.map((t) => tape.leaf(t));
  const logits = await logitsOn(tape, tape.constant(m.x), p);
  const loss = await tape.op("cross_entropy", { logits, target: m.target }, { reduction: "mean" });
  await tape.backward(loss);
  const lr: Tensor = { shape: [], data: Float32Array.of(LR) };
  const next: Tensor[] = [];
  for (const v of p) {
    const step = await call(backend, "mul", { a: v.grad!, b: lr }, {});
    next.push(await call(backend, "sub", { a: v.value, b: step }, {}));
  }
  return next;
}

/** One step on device tensors: the loss is the only thing read back. */
async function deviceStep(
  backend: Backend,
  x: DeviceTensor,
  target: DeviceTensor,
  lr: DeviceTensor,
  params: DeviceTensor[],
): Promise<DeviceTensor[]> {
  const dev = backend.device!;
  const tape = Tape.onDevice(backend);
  const p = params.map((t) => tape.leaf(t));
  const logits = await logitsOn(tape, tape.constant(x), p);
  const loss = await tape.op("cross_entropy", { logits, target }, { reduction: "mean" });
  await tape.backward(loss);
  const next: DeviceTensor[] = [];
  for (const v of p) {
    const step = await callDevice(backend, "mul", { a: v.grad!, b: lr }, {});
    next.push(await callDevice(backend, "sub", { a: v.value, b: step }, {}));
    dev.free(step);
  }
  await dev.read(loss.value);
  tape.free();
  return next;
}

/** TensorFlow.js-webgpu doing the same step with its own autodiff and optimizer. */
async function tfjsStepper(m: Mlp): Promise<(() => Promise<void>) | undefined> {
  if (!(await tfjs)) return undefined;
  const tf = await import("@tensorflow/tfjs-core");
  const vars = m.params.map((t) => tf.variable(tf.tensor(t.data as Float32Array, [...t.shape])));
  const x = tf.tensor(m.x.data as Float32Array, [...m.x.shape]);
  const labels = tf.oneHot(tf.tensor1d(m.target.data, "int32"), m.classes);
  const optimizer = tf.train.sgd(LR);
  return async () => {
    const loss = optimizer.minimize(() => {
      let h: import("@tensorflow/tfjs-core").Tensor = x;
      for (let l = 0; l < vars.length; l += 2) {
        h = tf.add(tf.matMul(h, vars[l]), vars[l + 1]);
        if (l + 2 < vars.length) h = tf.relu(h);
      }
      return tf.losses.softmaxCrossEntropy(labels, h) as import("@tensorflow/tfjs-core").Scalar;
    }, true);
    await loss?.data();
    loss?.dispose();
  };
}

async function trainingSteps(backend: Backend): Promise<string[]> {
  const shapes = full
    ? [
        [4096, 4096],
        [1024, 1024],
      ]
    : [
        [64, 64],
        [256, 256],
      ];
  const rows = [
    "| batch × width | ours, host tensors (ms) | ours, device tensors (ms) | TensorFlow.js-webgpu (ms) | device vs host | device vs tfjs |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const [batch, width] of shapes) {
    const m = mlpOf(batch, width);
    const reps = full ? 10 : 5;
    let params = m.params;
    const host = await timeMs(async () => {
      params = await hostStep(backend, m, params);
    }, reps);
    const dev = backend.device!;
    const x = await dev.upload(m.x);
    const target = await dev.upload(m.target);
    const lr = await dev.upload({ shape: [], data: Float32Array.of(LR) });
    let dparams = await Promise.all(m.params.map((t) => dev.upload(t)));
    const onDevice = await timeMs(async () => {
      const next = await deviceStep(backend, x, target, lr, dparams);
      for (const t of dparams) dev.free(t);
      dparams = next;
    }, reps);
    for (const t of [x, target, lr, ...dparams]) dev.free(t);
    const tfStep = await tfjsStepper(m);
    const theirs = tfStep ? await timeMs(tfStep, reps) : Number.NaN;
    const f = (ms: number) => (Number.isNaN(ms) ? "—" : ms.toFixed(1));
    rows.push(
      `| ${batch} × ${width} | ${f(host)} | ${f(onDevice)} | ${f(theirs)} | ${(host / onDevice).toFixed(2)}× | ${Number.isNaN(theirs) ? "—" : `${(theirs / onDevice).toFixed(2)}×`} |`,
    );
  }
  return rows;
}

const backend = await createWebGpuBackend();
if (!backend) {
  console.error("bench:device: no WebGPU adapter (see the README's WebGPU section)");
  process.exit(2);
}
/** TensorFlow.js-webgpu, on a device of its own on the same adapter (or undefined). */
const tfjs = import("../adapters/tfjs.ts").then((m) => m.createTfjsBackend("webgpu"));
let status = 0;
try {
  console.log(`# Device-resident tensors on ${describeAdapter(backend.adapterInfo)}\n`);
  console.log("## Transfers\n");
  console.log((await transfers(backend)).join("\n"));
  console.log("\n## A 3-layer MLP training step (cross-entropy, SGD), to its loss\n");
  console.log((await trainingSteps(backend)).join("\n"));
} catch (e) {
  console.error(e);
  status = 1;
} finally {
  await backend.dispose();
  await (await tfjs)?.dispose();
}
process.exit(status);
