/**
 * Runs the benchmark cases on our backends (cpu, cpu32, webgpu) and on TensorFlow.js (cpu and
 * webgpu, through adapters/tfjs.ts) in the same process, plus the law suite as a workload.
 *
 * Every case: one first call (timed alone: pipeline compilation or JIT included; its output
 * shapes are checked against the contract), one warm-up call, then tinybench: at least
 * `minSamples` calls and `timeMs` of them (fewer for very slow calls, see measure), each timed
 * end to end (upload, kernels, readback: what a user waits for). On a GPU with
 * "timestamp-query" the same calls also yield the GPU time of their compute passes. Kernels are
 * called directly, so validation is not timed. A case that throws is listed as skipped.
 *
 * Phases keep each side's engine warm and ours next to theirs: the CPU phase runs every "ops"
 * case on cpu, cpu32 and tfjs-cpu in turn; the GPU phase every case on webgpu and tfjs-webgpu,
 * the size sweeps first (a --deadline then cuts the per-op pass, not them), and measures the
 * device's copy bandwidth for the floor.
 */
import { Bench } from "tinybench";
import { allLaws } from "../properties/index.ts";
import type { Backend, Kernels } from "../src/engine/contract.ts";
import { cpu, cpu32 } from "../src/engine/cpu/index.ts";
import { formatShape, sameShape } from "../src/engine/tensor.ts";
import { validate } from "../src/engine/validate.ts";
import { createWebGpuBackend, type WebGpuBackend } from "../src/engine/webgpu/index.ts";
import { type Law, LawContext, runLaw } from "../src/harness/law.ts";
import { type BenchCase, benchCases, type Step } from "./cases.ts";
import {
  type AdapterRecord,
  type BenchResults,
  type CaseResult,
  type LawWorkload,
  machine,
  machineKey,
  retain,
  SCHEMA,
} from "./results.ts";
import { mean, median } from "./stats.ts";
import { PassTimer, QUANTUM_NS } from "./timestamps.ts";

export interface SuiteOptions {
  /** Add the real-GPU sizes (4096 × 32000 softmax, 4096³ matmul…). */
  full: boolean;
  /** Time budget per case in ms (tinybench keeps calling until both limits are met). */
  timeMs: number;
  /** Least number of timed calls per case. */
  minSamples: number;
  /** Soft cap per case in ms: slower calls get fewer samples (default max(2 s, 10 × timeMs)). */
  maxCaseMs?: number;
  /** Only cases whose name matches. */
  filter?: RegExp;
  /** Only these backends (by name: cpu, cpu32, webgpu, tfjs-cpu, tfjs-webgpu). */
  backends?: readonly string[];
  /** Run the law-suite workload. */
  laws: boolean;
  /** Peak FP32 GFLOP/s of the GPU, for the FLOP floor (BENCH_PEAK_GFLOPS). */
  peakGflops?: number;
  /** Stop starting cases after this many ms since the start (the rest are listed as skipped). */
  deadlineMs?: number;
  /** One line per finished case. */
  log?: (line: string) => void;
  /** Called with the results so far after every case (to save them before a time limit). */
  checkpoint?: (partial: BenchResults) => void;
}

/**
 * 200 ms or 5 calls per case, whichever is more (a 20 ms case gets about 10 samples), and no
 * more than 2 s unless that leaves under 3 samples: `npm run bench` takes about 4 minutes on
 * SwiftShader with two cores, `--full` about 5 on an H100.
 */
export const defaultOptions: SuiteOptions = { full: false, timeMs: 200, minSamples: 5, laws: true };

// ---------------------------------------------------------------------------------------------
// Theirs: TensorFlow.js through adapters/tfjs.ts.

type TheirKind = "cpu" | "webgpu";
type Theirs = { backend?: Backend; reason?: string };

/**
 * TensorFlow.js as a backend of our contract, or why not. Imported lazily (a cpu-only run does
 * not load tfjs) but by a literal specifier, so a bundler carries it into a single-file bench.
 */
export async function loadTheirs(kind: TheirKind): Promise<Theirs> {
  try {
    const { createTfjsBackend } = await import("../adapters/tfjs.ts");
    const backend = await createTfjsBackend(kind);
    return backend ? { backend } : { reason: `TensorFlow.js ${kind} is not available here` };
  } catch (e) {
    return { reason: `TensorFlow.js ${kind} failed to load: ${(e as Error).message}` };
  }
}

/** The GPUDevice a backend runs on: our runtime's, or TensorFlow.js-webgpu's (public field). */
async function deviceOf(b: Backend): Promise<GPUDevice | undefined> {
  // (`backend.device` is the contract's device tensors, not a GPUDevice.)
  const o = b as { runtime?: { device?: GPUDevice } };
  if (o.runtime?.device) return o.runtime.device;
  if (b.name !== "tfjs-webgpu") return undefined;
  const tf = await import("@tensorflow/tfjs-core");
  return (tf.findBackend("webgpu") as { device?: GPUDevice } | null)?.device;
}

// ---------------------------------------------------------------------------------------------
// One case on one backend.

type AnyKernel = (inputs: unknown, attrs: unknown) => unknown;

function kernelsFor(kernels: Kernels, steps: readonly Step[]): AnyKernel[] | undefined {
  const ks = steps.map((s) => kernels[s.op] as AnyKernel | undefined);
  return ks.every((k) => typeof k === "function") ? (ks as AnyKernel[]) : undefined;
}

/** Throws unless every output has the shape the contract says (checked once, untimed). */
function checkShapes(backend: Backend, steps: readonly Step[], outputs: readonly unknown[]): void {
  steps.forEach((s, i) => {
    const expected = validate(s.op, s.inputs as never, s.attrs as never, backend.dtype);
    const keys = Object.keys(expected);
    const out = outputs[i] as Record<string, { shape: number[] }> & { shape?: number[] };
    for (const key of keys) {
      const got = keys.length === 1 && key === "y" ? out.shape : out[key]?.shape;
      if (!got || !sameShape(got, expected[key])) {
        throw new Error(
          `bench: ${backend.name} ${s.op} returned ${key} of shape ${got ? formatShape(got) : "none"}, expected ${formatShape(expected[key])}`,
        );
      }
    }
  });
}

export interface Measured {
  firstMs: number;
  pipelinesBuilt?: number;
  samples: number[];
  gpu?: { samples: number[]; passes: number; quantized: boolean };
}

/** Fewer samples than this and Welch's test has too few degrees of freedom to see anything. */
export const FLOOR_SAMPLES = 3;

/**
 * Times `steps` on `kernels`: the first call alone, a second one (timed, to size the run), then
 * tinybench. A case whose calls are so slow that `minSamples` of them would exceed `maxCaseMs`
 * (huge shapes on a software adapter) gets fewer, never under FLOOR_SAMPLES. With a PassTimer,
 * each timed call's compute passes are also timed on the GPU (resolved after the call, untimed).
 */
export async function measure(
  backend: Backend,
  steps: readonly Step[],
  opts: { timeMs: number; minSamples: number; maxCaseMs?: number; timer?: PassTimer },
): Promise<Measured | undefined> {
  const kernels = kernelsFor(backend.kernels, steps);
  if (!kernels) return undefined;
  const call = async () => {
    for (let i = 0; i < steps.length; i++) await kernels[i](steps[i].inputs, steps[i].attrs);
  };

  const stats = (backend as Partial<WebGpuBackend>).runtime?.stats;
  const built = stats?.pipelinesBuilt ?? 0;
  const outputs: unknown[] = [];
  const t0 = performance.now();
  for (let i = 0; i < steps.length; i++) {
    outputs.push(await kernels[i](steps[i].inputs, steps[i].attrs));
  }
  const firstMs = performance.now() - t0;
  checkShapes(backend, steps, outputs);
  outputs.length = 0;

  // The warm-up: lets lazily built pools settle, and estimates one call.
  const t1 = performance.now();
  await call();
  const oneMs = performance.now() - t1;
  const budget = opts.maxCaseMs ?? Number.POSITIVE_INFINITY;
  const iterations =
    oneMs * opts.minSamples > budget
      ? Math.max(FLOOR_SAMPLES, Math.floor(budget / oneMs))
      : opts.minSamples;

  const { timer } = opts;
  const gpuSamples: number[] = [];
  let passes = 0;
  let quantized = true;
  const bench = new Bench({
    time: Math.min(opts.timeMs, budget),
    iterations,
    warmup: false,
    retainSamples: true,
    throws: true,
  });
  bench.add("case", call, {
    async: true,
    ...(timer && {
      beforeEach: () => timer.arm(),
      afterEach: async (mode) => {
        const t = await timer.collect();
        if (mode !== "run") return;
        gpuSamples.push(t.ms);
        passes = t.passes;
        quantized &&= t.quantized;
      },
    }),
  });
  const [task] = await bench.run();
  const result = task.result;
  if (result.state !== "completed") {
    throw new Error(`bench: ${backend.name} did not complete (${result.state})`);
  }
  const samples = [...(result.latency.samples ?? [])];
  return {
    firstMs,
    ...(stats && { pipelinesBuilt: stats.pipelinesBuilt - built }),
    samples,
    ...(timer && gpuSamples.length > 0 && { gpu: { samples: gpuSamples, passes, quantized } }),
  };
}

function caseResult(c: BenchCase, backend: string, side: CaseResult["side"], m: Measured) {
  const r: CaseResult = {
    name: c.name,
    op: c.op,
    group: c.group,
    tier: c.tier,
    backend,
    side,
    bytes: c.bytes,
    flops: c.flops,
    firstMs: m.firstMs,
    ...(m.pipelinesBuilt !== undefined && { pipelinesBuilt: m.pipelinesBuilt }),
    samples: retain(m.samples),
    median: median(m.samples),
    mean: mean(m.samples),
    ...(m.gpu && {
      gpu: {
        samples: retain(m.gpu.samples),
        median: median(m.gpu.samples),
        passes: m.gpu.passes,
        ...(m.gpu.quantized && { quantumMs: QUANTUM_NS / 1e6 }),
      },
    }),
  };
  return r;
}

// ---------------------------------------------------------------------------------------------
// Copy bandwidth: the floor of every memory-bound kernel on this device.

// GPUBufferUsage and GPUShaderStage bits, spelled out so this module loads before the globals.
const STORAGE = 0x80;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const QUERY_RESOLVE = 0x200;
const MAP_READ = 0x1;

/** A vec4 copy kernel: what a memory-bound kernel at its best would move. */
const COPY_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let i = g.x + g.y * n.x * 256u;
  if (i < arrayLength(&dst)) { dst[i] = src[i]; }
}`;

export interface CopyBandwidth {
  /** The larger of the two: the floor's denominator. */
  gbps: number;
  /** copyBufferToBuffer, by the wall clock to the queue's completion. */
  bufferGBps: number;
  /** The vec4 copy kernel, by timestamp queries where there are any, else the wall clock. */
  kernelGBps: number;
  bytes: number;
}

/**
 * Device-to-device copy bandwidth in GB/s (bytes read plus bytes written), two ways: Dawn's
 * copyBufferToBuffer and a copy kernel. Each is the best of a few trials, after a first one
 * that pays for the buffers' first touch and sizes the rest to about 100 ms of copying.
 */
export async function copyBandwidth(device: GPUDevice, full: boolean): Promise<CopyBandwidth> {
  const want = (full ? 512 : 32) * 2 ** 20;
  const limit = Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize);
  const bytes = Math.floor(Math.min(want, limit) / 16) * 16;
  const usage = STORAGE | COPY_SRC | COPY_DST;
  const a = device.createBuffer({ size: bytes, usage });
  const b = device.createBuffer({ size: bytes, usage });
  const timed = device.features.has("timestamp-query");
  const querySet = timed ? device.createQuerySet({ type: "timestamp", count: 2 }) : undefined;
  const resolve = device.createBuffer({ size: 16, usage: QUERY_RESOLVE | COPY_SRC });
  const read = device.createBuffer({ size: 16, usage: MAP_READ | COPY_DST });
  const module = device.createShaderModule({ code: COPY_WGSL });
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const groups = (from: GPUBuffer, to: GPUBuffer) =>
    device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: from } },
        { binding: 1, resource: { buffer: to } },
      ],
    });
  const forth = groups(a, b);
  const back = groups(b, a);
  const workgroups = Math.ceil(bytes / 16 / 256);
  const x = Math.min(workgroups, 32768);
  const y = Math.ceil(workgroups / x);

  /** Seconds for `reps` copies, by the wall clock or (kernel, with timestamps) the GPU clock. */
  const trial = async (kernel: boolean, reps: number): Promise<number> => {
    const encoder = device.createCommandEncoder();
    if (kernel) {
      const pass = encoder.beginComputePass(
        querySet
          ? {
              timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
            }
          : {},
      );
      pass.setPipeline(pipeline);
      for (let i = 0; i < reps; i++) {
        pass.setBindGroup(0, i % 2 ? back : forth);
        pass.dispatchWorkgroups(x, y);
      }
      pass.end();
      if (querySet) {
        encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, read, 0, 16);
      }
    } else {
      for (let i = 0; i < reps; i++) {
        if (i % 2) encoder.copyBufferToBuffer(b, 0, a, 0, bytes);
        else encoder.copyBufferToBuffer(a, 0, b, 0, bytes);
      }
    }
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wall = (performance.now() - t0) / 1000;
    if (!(kernel && querySet)) return wall;
    await read.mapAsync(MAP_READ);
    const [begin, end] = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    return end > begin ? Number(end - begin) / 1e9 : wall;
  };

  const best = async (kernel: boolean) => {
    const first = await trial(kernel, 2);
    const reps = Math.max(2, Math.min(200, Math.round((0.1 / first) * 2)));
    let gbps = 0;
    for (let t = 0; t < 3; t++)
      gbps = Math.max(gbps, (2 * bytes * reps) / (await trial(kernel, reps)) / 1e9);
    return gbps;
  };
  try {
    const bufferGBps = await best(false);
    const kernelGBps = await best(true);
    return { gbps: Math.max(bufferGBps, kernelGBps), bufferGBps, kernelGBps, bytes };
  } finally {
    for (const buffer of [a, b, resolve, read]) buffer.destroy();
    querySet?.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The law suite as a workload.

type Predicate = (...values: unknown[]) => unknown;

/**
 * Counts fast-check cases: wraps LawContext.property's predicate for the duration of `fn` (the
 * laws call it once per generated case).
 */
async function countingCases<T>(fn: () => Promise<T>): Promise<{ value: T; cases: number }> {
  const proto = LawContext.prototype as unknown as { property: (...args: unknown[]) => unknown };
  const original = proto.property;
  let cases = 0;
  proto.property = function (this: LawContext, ...args: unknown[]) {
    const predicate = args.pop() as Predicate;
    return original.call(this, ...args, (...values: unknown[]) => {
      cases++;
      return predicate(...values);
    });
  };
  try {
    return { value: await fn(), cases };
  } finally {
    proto.property = original;
  }
}

/** A backend whose kernel calls are counted. */
function counting(backend: Backend): { backend: Backend; calls: () => number } {
  let calls = 0;
  const kernels: Record<string, AnyKernel> = {};
  for (const [op, k] of Object.entries(backend.kernels)) {
    kernels[op] = (inputs, attrs) => {
      calls++;
      return (k as AnyKernel)(inputs, attrs);
    };
  }
  return { backend: { ...backend, kernels: kernels as Kernels }, calls: () => calls };
}

/** The laws of `topics` run `reps` times at `runs` cases per property: ms per case each time. */
export async function lawWorkload(
  backend: Backend,
  topics: readonly Law["topic"][],
  runs: number,
  reps: number,
): Promise<LawWorkload> {
  const laws = allLaws.filter((l) => topics.includes(l.topic));
  const { backend: counted, calls } = counting(backend);
  const samples: number[] = [];
  let cases = 0;
  let failed = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const { value, cases: n } = await countingCases(async () => {
      let bad = 0;
      for (const law of laws) {
        const result = await runLaw(law, counted, { reference: cpu, numRuns: runs });
        if (result.status === "failed") bad++;
      }
      return bad;
    });
    samples.push((performance.now() - t0) / Math.max(1, n));
    cases = n;
    failed = value;
  }
  // A failing law stops at its counterexample: the workload would not be the same next time.
  if (failed > 0) throw new Error(`bench: ${failed} laws failed on ${backend.name} (npm run laws)`);
  return {
    name: `laws(${topics.join(", ")}, runs=${runs})`,
    backend: backend.name,
    laws: laws.length,
    cases,
    kernelCalls: calls() / reps,
    samples,
    casesPerSecond: 1000 / median(samples),
  };
}

// ---------------------------------------------------------------------------------------------
// The whole run.

/** This machine's key (results/baselines file name), without running anything. */
export async function currentKey(): Promise<string> {
  const webgpu = await createWebGpuBackend();
  try {
    const adapter = webgpu && { ...webgpu.adapterInfo, features: [] };
    return machineKey(machine(), adapter);
  } finally {
    webgpu?.dispose();
  }
}

const LAW_TOPICS: Law["topic"][] = ["softmax", "activations", "normalization"];

/**
 * FP32 peaks (non-tensor-core, boost clock) from NVIDIA's datasheets, for the FLOP floor when
 * BENCH_PEAK_GFLOPS is not given. Matched on the adapter's description; anything else has none.
 */
const DATASHEET_PEAKS: [RegExp, number, string][] = [
  [/H100.*PCIe/i, 51_200, "NVIDIA H100 PCIe datasheet"],
  [/H100.*NVL/i, 60_000, "NVIDIA H100 NVL datasheet"],
  [/H100/i, 66_900, "NVIDIA H100 SXM5 datasheet"],
  [/H200.*NVL/i, 60_000, "NVIDIA H200 NVL datasheet"],
  [/H200/i, 66_900, "NVIDIA H200 SXM datasheet"],
];

export function datasheetPeak(
  adapter: AdapterRecord,
): { gflops: number; source: string } | undefined {
  const text = `${adapter.description} ${adapter.device}`;
  const hit = DATASHEET_PEAKS.find(([re]) => re.test(text));
  return hit && { gflops: hit[1], source: hit[2] };
}

const UNQUANTIZED = "disable-dawn-features=timestamp_quantization";

type Side = { name: string; side: CaseResult["side"]; backend: Backend; timer?: PassTimer };

export async function runSuite(options: SuiteOptions): Promise<BenchResults> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const wanted = (name: string) => !options.backends || options.backends.includes(name);
  const cases = benchCases(options.full).filter(
    (c) => !options.filter || options.filter.test(c.name),
  );
  const m = machine();
  const partial: BenchResults = {
    schema: SCHEMA,
    key: machineKey(m),
    date: new Date().toISOString(),
    machine: m,
    options: { full: options.full, timeMs: options.timeMs, minSamples: options.minSamples },
    cases: [],
    laws: [],
    skipped: [],
  };
  const { cases: results, skipped, laws } = partial;
  const timing = {
    timeMs: options.timeMs,
    minSamples: options.minSamples,
    maxCaseMs: options.maxCaseMs ?? Math.max(2000, 10 * options.timeMs),
  };
  const overdue = () =>
    options.deadlineMs !== undefined && performance.now() - started > options.deadlineMs;

  const runPhase = async (sides: readonly Side[], phaseCases: readonly BenchCase[]) => {
    if (sides.length === 0) return;
    for (const c of phaseCases) {
      if (overdue()) {
        for (const s of sides) skipped.push({ backend: s.name, reason: `deadline: ${c.name}` });
        continue;
      }
      // Inputs are built once per dtype and shared: kernels must not mutate them.
      const built = new Map<string, Step[]>();
      for (const s of sides) {
        const dtype = s.backend.dtype;
        try {
          if (!built.has(dtype)) built.set(dtype, c.steps(dtype));
          const m = await measure(s.backend, built.get(dtype)!, { ...timing, timer: s.timer });
          if (!m) continue;
          const r = caseResult(c, s.name, s.side, m);
          results.push(r);
          const gpu = r.gpu ? `  kernel ${r.gpu.median.toFixed(3)} ms` : "";
          log(
            `${s.name.padEnd(12)} ${c.name.padEnd(52)} ${r.median.toFixed(3).padStart(10)} ms  first ${r.firstMs.toFixed(1)} ms  n=${r.samples.length}${gpu}`,
          );
        } catch (e) {
          // One case that fails (a shape over a device limit, say) must not lose the others.
          const reason = `${c.name}: ${(e as Error).message}`;
          skipped.push({ backend: s.name, reason });
          log(`${s.name.padEnd(12)} ${c.name.padEnd(52)} FAILED ${(e as Error).message}`);
        }
        options.checkpoint?.(partial);
      }
    }
  };

  // Created first, even when neither GPU side runs: the adapter names the machine in the key,
  // and checkpoints of the CPU phase must already go to the right file. Unquantized timestamps:
  // Dawn rounds them to 65.5 µs by default, coarser than small kernels.
  const webgpu = await createWebGpuBackend({ dawnFlags: [UNQUANTIZED] });
  if (webgpu) {
    const adapter: AdapterRecord = {
      ...webgpu.adapterInfo,
      features: [...webgpu.runtime.device.features].sort(),
    };
    partial.adapter = adapter;
    partial.key = machineKey(m, adapter);
    const peak = options.peakGflops
      ? { gflops: options.peakGflops, source: "BENCH_PEAK_GFLOPS" }
      : datasheetPeak(adapter);
    if (peak) {
      partial.peakGflops = peak.gflops;
      partial.peakSource = peak.source;
    }
  } else if (wanted("webgpu")) skipped.push({ backend: "webgpu", reason: "no WebGPU adapter" });

  // CPU phase: our float64 reference and float32 loops next to TensorFlow.js's cpu backend.
  const cpuPhase = async () => {
    const cpuSides: Side[] = [];
    if (wanted("cpu")) cpuSides.push({ name: "cpu", side: "ours", backend: cpu });
    if (wanted("cpu32")) cpuSides.push({ name: "cpu32", side: "ours", backend: cpu32 });
    const tfCpu = wanted("tfjs-cpu") ? await loadTheirs("cpu") : undefined;
    if (tfCpu?.backend) cpuSides.push({ name: "tfjs-cpu", side: "theirs", backend: tfCpu.backend });
    else if (tfCpu?.reason) skipped.push({ backend: "tfjs-cpu", reason: tfCpu.reason });
    try {
      await runPhase(
        cpuSides,
        cases.filter((c) => c.group === "ops"),
      );
      if (options.laws && wanted("cpu32") && !overdue()) {
        laws.push(await lawWorkload(cpu32, LAW_TOPICS, 10, 5));
      }
    } finally {
      await tfCpu?.backend?.dispose?.();
    }
  };

  // GPU phase: the copy bandwidth, then ours next to TensorFlow.js-webgpu on the same adapter.
  const gpuPhase = async (webgpu: WebGpuBackend) => {
    if (!wanted("webgpu") && !wanted("tfjs-webgpu")) return;
    const copy = await copyBandwidth(webgpu.runtime.device, options.full);
    partial.copyGBps = copy.gbps;
    partial.copy = copy;
    log(
      `device copy bandwidth ${copy.gbps.toFixed(1)} GB/s (copyBufferToBuffer ${copy.bufferGBps.toFixed(1)}, copy kernel ${copy.kernelGBps.toFixed(1)}, ${(copy.bytes / 2 ** 20).toFixed(0)} MiB)`,
    );
    const tfGpu = wanted("tfjs-webgpu") ? await loadTheirs("webgpu") : undefined;
    if (tfGpu?.reason) skipped.push({ backend: "tfjs-webgpu", reason: tfGpu.reason });
    const timers: PassTimer[] = [];
    const timed = async (b: Backend) => {
      const device = await deviceOf(b);
      const timer = device && PassTimer.install(device);
      if (timer) timers.push(timer);
      return timer;
    };
    try {
      const gpuSides: Side[] = [];
      if (wanted("webgpu")) {
        gpuSides.push({
          name: "webgpu",
          side: "ours",
          backend: webgpu,
          timer: await timed(webgpu),
        });
      }
      if (tfGpu?.backend) {
        const b = tfGpu.backend;
        gpuSides.push({ name: "tfjs-webgpu", side: "theirs", backend: b, timer: await timed(b) });
      }
      // The sizes that matter first, so that a deadline cuts the per-op sweep, not them.
      await runPhase(gpuSides, [
        ...cases.filter((c) => c.group === "shapes"),
        ...cases.filter((c) => c.group === "ops"),
      ]);
      if (options.laws && wanted("webgpu") && !overdue()) {
        laws.push(await lawWorkload(webgpu, ["softmax"], 3, 3));
      }
    } finally {
      for (const t of timers) t.uninstall();
      await tfGpu?.backend?.dispose?.();
    }
  };

  try {
    await cpuPhase();
    if (webgpu) await gpuPhase(webgpu);
  } finally {
    webgpu?.dispose();
  }
  partial.wallSeconds = (performance.now() - started) / 1000;
  return partial;
}
