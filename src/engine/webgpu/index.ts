/**
 * The optimised WebGPU backend: float32 WGSL compute kernels on one GPUDevice.
 *
 * Each kernel file exports `xxxKernels(rt: GpuRuntime): Kernels` (see runtime.ts for the one
 * round trip per call rule); this file merges them into one backend. An op no file implements
 * is simply absent, and the laws needing it report "not implemented".
 */
import type {
  Backend,
  Device,
  DeviceKernels,
  DeviceTensor,
  Kernels,
  ToleranceOverrides,
} from "../contract.ts";
import type { AnyTensor } from "../tensor.ts";
import { elementwiseKernels } from "./elementwise.ts";
import { lossKernels } from "./losses.ts";
import { matmulKernels } from "./matmul.ts";
import { normKernels } from "./norm.ts";
import { randomKernels } from "./random.ts";
import { reductionKernels } from "./reductions.ts";
import { type GpuKernels, GpuRuntime, GpuTensor, yielding } from "./runtime.ts";
import { softmaxKernels } from "./softmax.ts";

export { GpuRuntime, GpuTensor } from "./runtime.ts";

/** Chromium's software Vulkan driver: a WebGPU adapter on machines without a GPU. */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

export interface WebGpuOptions {
  /** A GPU to use (`navigator.gpu` in a browser). Default: Dawn's Node binding (`webgpu`). */
  gpu?: GPU;
  /** Toggles for Dawn's `create()`, e.g. "disable-dawn-features=timestamp_quantization". */
  dawnFlags?: string[];
  powerPreference?: GPUPowerPreference;
  /** The backend's name in reports (default "webgpu"). */
  name?: string;
  /** false: never use subgroup operations, even where the adapter has them (tests the fallback). */
  subgroups?: boolean;
}

/** Who made the adapter, for reports. */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
  device: string;
}

export interface WebGpuBackend extends Backend {
  readonly adapterInfo: AdapterInfo;
  readonly runtime: GpuRuntime;
  /** Tensors kept in GPU buffers between calls: a chain of device kernels never reads back. */
  readonly device: Device;
  /** Refuses new calls, waits for the calls in flight (their readbacks above all), then
   * destroys the device. Destroying it under a pending map crashed Dawn (SIGSEGV, SIGABRT). */
  dispose(): Promise<void>;
}

/**
 * Per-op budgets this backend declares instead of the defaults (printed in every report).
 * None so far: every kernel meets the default budget.
 */
const tolerances: ToleranceOverrides = {};

/** The kernel calls in flight, so that dispose() can wait for them. */
class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];
  /** Set by dispose(): later calls are refused. */
  closed = false;
  enter(): void {
    this.count++;
  }
  leave(): void {
    this.count--;
    if (this.count === 0) for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves once no call is in flight, or after `ms`: false then. */
  idle(ms: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/** Kernels are guarded: an exception abandons the call's open batch so it cannot leak, and
 * every call is counted until it settles. */
function guarded(rt: GpuRuntime, kernels: GpuKernels, inFlight: InFlight): GpuKernels {
  const out: Record<string, unknown> = {};
  for (const [op, kernel] of Object.entries(kernels)) {
    const k = kernel as (inputs: unknown, attrs: unknown) => unknown;
    out[op] = async (inputs: unknown, attrs: unknown) => {
      if (inFlight.closed) throw new Error(`${op}: the WebGPU backend was disposed`);
      inFlight.enter();
      try {
        return await k(inputs, attrs);
      } catch (e) {
        rt.discard();
        throw e;
      } finally {
        inFlight.leave();
      }
    };
  }
  return out as GpuKernels;
}

/** The backend's GpuTensor behind a DeviceTensor, or a TypeError naming what it got. */
function gpuTensor(t: DeviceTensor): GpuTensor {
  if (t instanceof GpuTensor) return t;
  throw new TypeError("webgpu: expected a device tensor made by this backend (device.upload)");
}

/** A kernel's output with every host tensor in it moved to the device (empty results, which
 * a kernel computes on the host). */
function resident(rt: GpuRuntime, value: unknown): unknown {
  if (value instanceof GpuTensor) return value;
  const v = value as Record<string, unknown>;
  if ("data" in v && ArrayBuffer.isView(v.data)) return rt.keep(v as unknown as AnyTensor);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resident(rt, x)]));
}

/**
 * The device side: the same kernels, called resident (the call that opens a batch while
 * `rt.resident` is set ends without a readback; a kernel's first step up to its submit is
 * synchronous, so the flag is set only around that step), and the two transfers.
 */
function deviceOf(rt: GpuRuntime, kernels: GpuKernels): Device {
  const out: Record<string, unknown> = {};
  for (const [op, kernel] of Object.entries(kernels)) {
    const k = kernel as (inputs: unknown, attrs: unknown) => Promise<unknown>;
    out[op] = async (inputs: unknown, attrs: unknown) => {
      rt.resident = true;
      let pending: Promise<unknown>;
      try {
        pending = k(inputs, attrs);
      } finally {
        rt.resident = false;
      }
      return resident(rt, await pending);
    };
  }
  return {
    upload: (t) => rt.keep(t),
    read: async (t) => rt.download(gpuTensor(t)),
    free: (t) => rt.free(gpuTensor(t)),
    kernels: out as DeviceKernels,
  };
}

/** Waits for `p` at most `ms` (and never longer keeps Node alive); ignores its failure. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      p.catch(() => undefined),
      new Promise((ok) => (timer = setTimeout(ok, ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long dispose() waits for calls in flight before destroying the device anyway. */
const DISPOSE_WAIT_MS = 30_000;

/**
 * Dawn's GPU object and its first adapter. The caller must keep `gpu` referenced while the device
 * lives: once it is garbage-collected Dawn frees its instance, and the next event poll crashes
 * the process (a segfault in CallbackTaskManager::Flush).
 */
async function nodeAdapter(
  options: WebGpuOptions,
): Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  const { create, globals } = await import("webgpu");
  const { existsSync } = await import("node:fs");
  Object.assign(globalThis, globals);
  // The Vulkan loader prints "XDG_RUNTIME_DIR is invalid" on every instance without it (CI, ssh).
  process.env.XDG_RUNTIME_DIR ??= (await import("node:os")).tmpdir();
  const request = async () => {
    const gpu = create(options.dawnFlags ?? []);
    return { gpu, adapter: await gpu.requestAdapter({ powerPreference: options.powerPreference }) };
  };
  const first = await request();
  if (first.adapter || process.env.VK_ICD_FILENAMES || !existsSync(SWIFTSHADER_ICD)) return first;
  // No hardware adapter: fall back to SwiftShader, which the Vulkan loader reads from this
  // variable when the next instance is created. Set it beforehand to choose a driver yourself.
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return request();
}

/**
 * The WebGPU backend on the first adapter found, or undefined when there is none (the caller
 * reports that loudly). `dispose()` destroys the device: call it, or Node will not exit.
 */
export async function createWebGpuBackend(
  options: WebGpuOptions = {},
): Promise<WebGpuBackend | undefined> {
  // Held by this closure until dispose(), never by the module (Node would not exit).
  const found = options.gpu
    ? {
        gpu: options.gpu,
        adapter: await options.gpu.requestAdapter({ powerPreference: options.powerPreference }),
      }
    : await nodeAdapter(options);
  const held: { gpu?: GPU } = { gpu: found.gpu };
  const adapter = found.adapter;
  if (!adapter) return undefined;
  const limits = adapter.limits;
  // Optional features a kernel may use where the adapter has them: check
  // rt.device.features.has("subgroups") (and "timestamp-query" for timing).
  const wanted: GPUFeatureName[] =
    options.subgroups === false ? ["timestamp-query"] : ["subgroups", "timestamp-query"];
  const device = await adapter.requestDevice({
    requiredFeatures: wanted.filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
    },
  });
  const info = adapter.info;
  const adapterInfo: AdapterInfo = {
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    device: info.device,
  };
  const rt = new GpuRuntime(device);
  if (options.subgroups !== false) await rt.probeSubgroups();
  const inFlight = new InFlight();
  const kernels = guarded(
    rt,
    {
      ...elementwiseKernels(rt),
      ...reductionKernels(rt),
      ...softmaxKernels(rt),
      ...lossKernels(rt),
      ...matmulKernels(rt),
      ...randomKernels(rt),
      ...normKernels(rt),
    },
    inFlight,
  );
  let disposing: Promise<void> | undefined;
  return {
    name: options.name ?? "webgpu",
    dtype: "float32",
    // Given host tensors, every kernel returns host tensors: only device.kernels are resident.
    kernels: kernels as Kernels,
    device: deviceOf(rt, kernels),
    // random.ts's WGSL Philox draws dropMask's mask bit for bit (E4c, src/engine/webgpu/random.test.ts).
    rng: "philox4x32-10",
    tolerances,
    adapterInfo,
    runtime: rt,
    dispose() {
      disposing ??= (async () => {
        inFlight.closed = true;
        await inFlight.idle(DISPOSE_WAIT_MS);
        // Work submitted without a readback (none should be) finishes before the device goes.
        await within(device.queue.onSubmittedWorkDone(), 2000);
        rt.clear();
        device.destroy();
        // Dawn delivers the device-lost callback through the GPU object: keep it referenced
        // until then (once collected, the next event poll crashes the process).
        await within(yielding(device.lost), 2000);
        held.gpu = undefined;
      })();
      return disposing;
    },
  };
}

/** One line naming the adapter, for reports. */
export function describeAdapter(info: AdapterInfo): string {
  return [info.vendor, info.architecture, info.description].filter((s) => s).join(" / ");
}
