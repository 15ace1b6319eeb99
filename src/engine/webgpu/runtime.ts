/**
 * The WebGPU runtime every kernel file shares: one device, a cache of compute pipelines, a pool
 * of buffers, and *one round trip per kernel call*.
 *
 * A kernel call is a batch: it uploads its inputs, records one or more dispatches into a single
 * command encoder, then reads its outputs back with one submit and one mapped staging buffer.
 *
 *     const x = rt.upload(t.data);                      // storage buffer, from the pool
 *     const y = rt.alloc(4 * n);                        // storage buffer, contents undefined
 *     rt.dispatch("exp", () => EXP_WGSL, [x, y, rt.params([n])], rt.grid(n));
 *     const data = await rt.read(y, n);                 // submit, map, copy: the batch ends
 *
 * The rule that keeps batches apart: no `await` between a call's first upload/alloc and its
 * read. Everything up to the submit in `read` is then synchronous, so calls made concurrently
 * (Promise.all) never mix their dispatches. Breaking the rule is detected and reported.
 * Every buffer a batch took from the pool returns to it after the readback; don't keep one.
 *
 * Device-resident calls: kernels take their inputs with `input(t)` (a host tensor is uploaded, a
 * GpuTensor's buffer is bound as it is) and end with `results(...)`. A call made while
 * `resident` is set ends without a readback: its outputs stay in their buffers as GpuTensors,
 * for the next call of a chain; only `download` brings one back to the host.
 *
 * Bindings: `dispatch` binds `bindings[i]` at `@group(0) @binding(i)`, in order. A buffer from
 * `upload`/`alloc` is a storage buffer (`var<storage, read>` or `read_write`), one from `params`
 * a uniform buffer (`var<uniform>`). The pipeline layout is "auto", so a binding the shader does
 * not use must not be passed.
 */

import type { Attrs, DeviceTensor, Inputs, OpName, Output } from "../contract.ts";
import { type AnyTensor, formatShape, sizeOf, type Tensor } from "../tensor.ts";

/** Threads per workgroup of the 1-D kernels (WebGPU guarantees at least 256). */
export const WG = 256;

/** The most workgroups one grid dimension may have (WebGPU's guaranteed limit). */
const MAX_GROUPS = 65535;

/** A float for `params`; plain numbers are packed as u32. */
export interface F32Param {
  readonly f32: number;
}
export const f32 = (value: number): F32Param => ({ f32: value });

/** What the runtime did, for tests and reports. */
export interface RuntimeStats {
  /** Pipelines compiled (a cache miss each). */
  pipelinesBuilt: number;
  /** Dispatches served by an already-built pipeline. */
  pipelineHits: number;
  /** GPU buffers created, and requests served from the pool instead. */
  buffersCreated: number;
  buffersReused: number;
  dispatches: number;
  /** Command buffers submitted (one per kernel call). */
  submits: number;
  /** Staging buffers mapped to read outputs back (none in a resident call). */
  readbacks: number;
  /** Tensor bytes written to the device (upload, keep) and read back from it. */
  bytesUp: number;
  bytesDown: number;
}

/**
 * WGSL shared by the 1-D kernels: the flat index of this invocation in a grid made by `grid()`
 * (`@workgroup_size(256)`, 2-D when more than 65535 workgroups are needed).
 */
export const FLAT_INDEX = /* wgsl */ `
fn flat_index(wid: vec3<u32>, lid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * ${WG}u + lid.x;
}`;

/** The entry point header of a 1-D kernel using FLAT_INDEX: `i` is the flat index. */
export const MAIN_1D = /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(wid, lid, nwg);`;

/**
 * A tensor kept in a storage buffer of one runtime: the WebGPU backend's DeviceTensor. Its
 * buffer goes back to the runtime's pool when it is freed (or garbage-collected).
 */
export class GpuTensor implements DeviceTensor {
  /** Undefined once freed. */
  buffer: GPUBuffer | undefined;
  constructor(
    readonly shape: readonly number[],
    readonly dtype: "float32" | "int32",
    buffer: GPUBuffer,
    readonly runtime: GpuRuntime,
  ) {
    this.buffer = buffer;
  }
}

/** What a kernel takes: a host tensor, or a tensor already on this runtime's device. */
export type Operand = AnyTensor | GpuTensor;

/** The same value with GpuTensor allowed wherever a host tensor is. */
export type Either<T> = T extends AnyTensor
  ? T | GpuTensor
  : T extends object
    ? { [K in keyof T]: Either<T[K]> }
    : T;

/**
 * The WebGPU kernels as written: each takes host tensors or GpuTensors, and returns host tensors
 * or, in a resident call, GpuTensors. index.ts exposes them both ways.
 */
export type GpuKernels = {
  [O in OpName]?: (inputs: Either<Inputs<O>>, attrs: Attrs<O>) => Promise<Either<Output<O>>>;
};

export const isGpuTensor = (t: unknown): t is GpuTensor => t instanceof GpuTensor;

/** The element count of an operand, from its shape (a GpuTensor has no data on the host). */
export const countOf = (t: Operand): number => sizeOf(t.shape);

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  /** The error scope around its creation: a WGSL compile or layout error, or null. */
  built: Promise<GPUError | null>;
}

interface Batch {
  encoder?: GPUCommandEncoder;
  /** Buffers taken from the pool, returned after the readback. */
  buffers: Set<GPUBuffer>;
  /** Build checks of the pipelines this batch used, by kernel key. */
  pipelines: Map<string, Promise<GPUError | null>>;
  /** Validation of each dispatch (bindings against the pipeline's layout), in order. */
  dispatches: [string, Promise<GPUError | null>][];
  /** Set when a microtask ran while the batch was open: the caller awaited before `read`. */
  leaked: boolean;
  /** Opened while `resident` was set: `results` keeps the outputs on the device. */
  resident: boolean;
}

// GPUBufferUsage's values, spelled out so that this module loads before the WebGPU globals exist.
const MAP_READ = 0x1;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const UNIFORM = 0x40 | COPY_DST;
const STORAGE = 0x80 | COPY_SRC | COPY_DST;
const STAGING = MAP_READ | COPY_DST;
/** GPUMapMode.READ */
const MAP_MODE_READ = 0x1;

/** Size classes: powers of two split in quarters (at most 25 % slack), from 256 bytes. */
function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(bytes - 1));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

const SUBGROUP_PROBE = `enable subgroups;
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) i: u32, @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_size) size: u32) {
  let first = subgroupBroadcastFirst(i);
  let partner = subgroupShuffleXor(i, 1u);
  out[4u * i] = lane;
  out[4u * i + 1u] = size;
  out[4u * i + 2u] = first;
  out[4u * i + 3u] = partner;
}`;

export class GpuRuntime {
  readonly stats: RuntimeStats = {
    pipelinesBuilt: 0,
    pipelineHits: 0,
    buffersCreated: 0,
    buffersReused: 0,
    dispatches: 0,
    submits: 0,
    readbacks: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
  /**
   * Whether kernels may merge partial results through subgroup shuffles: the device has the
   * "subgroups" feature *and* its subgroups were seen to be contiguous, aligned runs of
   * local_invocation_index in a 1-D workgroup (probeSubgroups), which WGSL does not promise.
   */
  subgroups = false;
  /**
   * Per pipeline: its launches, and the most workgroups one launch used. A kernel right on
   * one workgroup and wrong past it passes every law that never launches it wider:
   * `tensorlaws --grids` reports these from a law run.
   */
  readonly grids = new Map<string, { launches: number; widest: number }>();
  /**
   * Whether the adapter is software, run by the CPU (SwiftShader, llvmpipe/lavapipe, WARP, or any
   * adapter marked a fallback). The one switch for adapter tuning: a CPU adapter runs a
   * workgroup's threads as SIMD lanes and fibres of a few cores and pays for every barrier, so
   * kernels give it few, long threads; a GPU wants hundreds of thousands in flight.
   */
  readonly software: boolean;
  private readonly pipelines = new Map<string, CachedPipeline>();
  /** Free buffers by usage and size class. */
  private readonly pool = new Map<string, GPUBuffer[]>();
  /** The bytes a buffer was requested with (its binding size). */
  private readonly sizes = new WeakMap<GPUBuffer, number>();
  private pooledBytes = 0;
  private batch: Batch | undefined;
  private lost: string | undefined;
  /**
   * Set (synchronously, around a kernel's first step) by the device kernels: the call that opens
   * its batch now keeps its outputs on the device. See `onDevice` in index.ts.
   */
  resident = false;
  /** Error checks of resident calls still pending, and the first error one found. */
  private readonly unchecked = new Set<Promise<void>>();
  private deferred: Error | undefined;
  /** Device tensors nobody freed go back when they are garbage-collected. */
  private readonly unfreed = new FinalizationRegistry<GPUBuffer>((buffer) => buffer.destroy());

  /**
   * @param device the device every kernel runs on (the runtime does not own it: whoever created
   *   it destroys it).
   * @param maxPooledBytes free buffers kept for reuse beyond this are destroyed.
   */
  constructor(
    readonly device: GPUDevice,
    private readonly maxPooledBytes = 256 * 2 ** 20,
  ) {
    const info = device.adapterInfo;
    this.software =
      info?.isFallbackAdapter === true ||
      /swiftshader|llvmpipe|lavapipe|warp/i.test(
        `${info?.vendor} ${info?.architecture} ${info?.description}`,
      );
    device.lost.then((info) => {
      this.lost = `${info.reason}: ${info.message}`;
    });
  }

  /**
   * Checks what the row kernels assume of subgroups before they rely on it: in a workgroup of
   * WG threads, invocation i is lane i mod size of the subgroup starting at i − (i mod size),
   * and shuffles reach across it. Sets and returns `subgroups`.
   */
  async probeSubgroups(): Promise<boolean> {
    this.subgroups = false;
    if (!this.device.features.has("subgroups")) return false;
    const out = this.alloc(16 * WG);
    this.dispatch("probe:subgroups", () => SUBGROUP_PROBE, [out], [1, 1]);
    const words = new Uint32Array((await this.read(out, 4 * WG)).buffer);
    let ok = true;
    for (let i = 0; i < WG; i++) {
      const [lane, size, first, partner] = words.subarray(4 * i, 4 * i + 4);
      ok &&= size >= 2 && size === words[1] && lane === i % size;
      ok &&= first === i - lane && partner === (i ^ 1);
    }
    this.subgroups = ok;
    return ok;
  }

  /** Pipelines built so far (one per kernel key). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /**
   * The compute pipeline for `key`, built from `wgsl()` (entry point `main`) on first use.
   * The key names the kernel and its specialisation ("unary:exp:vec4"): the same key must
   * always produce the same source.
   */
  pipeline(key: string, wgsl: () => string): GPUComputePipeline {
    const hit = this.pipelines.get(key);
    if (hit) {
      this.stats.pipelineHits++;
      return hit.pipeline;
    }
    const device = this.device;
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ label: key, code: wgsl() });
    const pipeline = device.createComputePipeline({
      label: key,
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    const built = device.popErrorScope();
    this.pipelines.set(key, { pipeline, built });
    this.stats.pipelinesBuilt++;
    // A shader that fails to build is not kept: the next call reports it again.
    built.then((error) => {
      if (error && this.pipelines.get(key)?.pipeline === pipeline) this.pipelines.delete(key);
    });
    return pipeline;
  }

  /** A storage buffer holding `data` (int32 and uint32 too, e.g. class indices). */
  upload(data: Float32Array | Int32Array | Uint32Array): GPUBuffer {
    const buffer = this.take(STORAGE, Math.max(4, data.byteLength));
    if (data.byteLength > 0) this.device.queue.writeBuffer(buffer, 0, data);
    this.stats.bytesUp += data.byteLength;
    return buffer;
  }

  /**
   * The storage buffer holding a kernel's input: a GpuTensor's own buffer (no copy), or a host
   * tensor's data uploaded for this call.
   */
  input(t: Operand): GPUBuffer {
    if (t instanceof GpuTensor) return this.bufferOf(t);
    return this.upload(t.data as Float32Array | Int32Array);
  }

  /** A GpuTensor holding a copy of `t`, outside any kernel call. */
  keep(t: AnyTensor): GpuTensor {
    // writeBuffer copies at once: a float32 or int32 array goes as it is, float64 is narrowed.
    const data =
      t.data instanceof Int32Array || t.data instanceof Float32Array
        ? t.data
        : new Float32Array(t.data);
    const buffer = this.take(STORAGE, Math.max(4, data.byteLength), false);
    if (data.byteLength > 0) this.device.queue.writeBuffer(buffer, 0, data);
    this.stats.bytesUp += data.byteLength;
    return this.adopt(buffer, t.shape, t.data instanceof Int32Array ? "int32" : "float32");
  }

  /** Copies a GpuTensor back to the host: the one transfer a chain of device calls makes. */
  async download(t: GpuTensor): Promise<AnyTensor> {
    this.bufferOf(t);
    if (this.batch) throw new Error("WebGPU runtime: download inside an open kernel call");
    await this.surfaceDeferred();
    // Looked up again after the wait: a free() meanwhile put the buffer back in the pool, where
    // the next call may already have written into it. The copy is recorded synchronously below.
    const [data] = await this.readAll([[this.bufferOf(t), sizeOf(t.shape)]]);
    const shape = [...t.shape];
    return t.dtype === "int32" ? { shape, data: new Int32Array(data.buffer) } : { shape, data };
  }

  /** Frees a GpuTensor: its buffer goes back to the pool, and using it again throws. */
  free(t: GpuTensor): void {
    const buffer = this.bufferOf(t);
    t.buffer = undefined;
    this.unfreed.unregister(t);
    this.give(STORAGE, buffer);
  }

  /**
   * Ends the kernel call with one output: a host tensor read back (one submit, one mapping), or,
   * in a resident call, the buffer itself as a GpuTensor.
   */
  async result(buffer: GPUBuffer, shape: readonly number[]): Promise<Tensor | GpuTensor> {
    const [t] = await this.results([[buffer, shape]]);
    return t;
  }

  /** Ends the kernel call with several outputs (see `result`): one submit for all of them. */
  async results(
    outputs: readonly (readonly [GPUBuffer, readonly number[]])[],
  ): Promise<(Tensor | GpuTensor)[]> {
    const batch = this.batch ?? this.newBatch();
    if (!batch.resident) {
      const data = await this.readAll(outputs.map(([b, shape]) => [b, sizeOf(shape)] as const));
      return data.map((d, i) => ({ shape: [...outputs[i][1]], data: d }));
    }
    this.batch = batch;
    const kept = outputs.map(([buffer, shape]) => {
      // An output must own its buffer: a kernel that hands back an input's, or one buffer
      // twice, gets a copy (the contract's outputs never alias anything).
      if (!batch.buffers.delete(buffer)) {
        const copy = this.alloc(4 * sizeOf(shape));
        batch.buffers.delete(copy);
        this.copy(buffer, copy, 4 * sizeOf(shape));
        buffer = copy;
      }
      return [buffer, shape] as const;
    });
    this.batch = undefined;
    try {
      this.submitResident(batch);
    } catch (e) {
      for (const [b] of kept) this.give(STORAGE, b);
      throw e;
    } finally {
      // Queue order keeps the temporaries safe to reuse by the next call.
      for (const b of batch.buffers) this.give(poolOf(b), b);
    }
    return kept.map(([buffer, shape]) => this.adopt(buffer, shape, "float32"));
  }

  private adopt(buffer: GPUBuffer, shape: readonly number[], dtype: "float32" | "int32") {
    const t = new GpuTensor([...shape], dtype, buffer, this);
    this.unfreed.register(t, buffer, t);
    return t;
  }

  private bufferOf(t: GpuTensor): GPUBuffer {
    if (t.runtime !== this) throw new Error("WebGPU runtime: a device tensor of another device");
    if (!t.buffer)
      throw new Error(`WebGPU runtime: device tensor ${formatShape(t.shape)} was freed`);
    return t.buffer;
  }

  /** A storage buffer of `bytes` (a multiple of 4) whose contents are undefined. */
  alloc(bytes: number): GPUBuffer {
    return this.take(STORAGE, Math.max(4, bytes));
  }

  /**
   * A uniform buffer holding `values` in order, 4 bytes each: a number as u32 (a non-negative
   * integer), `f32(x)` as f32. The WGSL struct declares the same fields in the same order.
   */
  params(values: readonly (number | F32Param)[]): GPUBuffer {
    const bytes = Math.max(16, Math.ceil((values.length * 4) / 16) * 16);
    const data = new ArrayBuffer(bytes);
    const u = new Uint32Array(data);
    const f = new Float32Array(data);
    values.forEach((v, i) => {
      if (typeof v === "number") {
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
          throw new RangeError(`params: ${v} at ${i} is not a u32 (wrap floats in f32())`);
        }
        u[i] = v;
      } else f[i] = v.f32;
    });
    const buffer = this.take(UNIFORM, bytes);
    this.device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  }

  /**
   * Workgroup counts covering `threads` invocations of `perGroup` each: [x] or [x, y] when more
   * than 65535 workgroups are needed. Kernels recover the flat index with FLAT_INDEX.
   */
  grid(threads: number, perGroup = WG): [number, number] {
    const groups = Math.max(1, Math.ceil(threads / perGroup));
    if (groups <= MAX_GROUPS) return [groups, 1];
    const y = Math.ceil(groups / MAX_GROUPS);
    return [Math.ceil(groups / y), y];
  }

  /**
   * Records one dispatch of the pipeline `key` (built from `wgsl()` on first use) into this
   * kernel call's command encoder, binding `bindings[i]` at @group(0) @binding(i).
   */
  dispatch(
    key: string,
    wgsl: () => string,
    bindings: readonly GPUBuffer[],
    workgroups: readonly [number, number?, number?],
  ): void {
    const batch = this.open();
    const pipeline = this.pipeline(key, wgsl);
    const built = this.pipelines.get(key)?.built;
    if (built) batch.pipelines.set(key, built);
    const device = this.device;
    device.pushErrorScope("validation");
    batch.encoder ??= device.createCommandEncoder();
    const pass = batch.encoder.beginComputePass({ label: key });
    pass.setPipeline(pipeline);
    if (bindings.length > 0) {
      const bindGroup = device.createBindGroup({
        label: key,
        layout: pipeline.getBindGroupLayout(0),
        entries: bindings.map((buffer, binding) => {
          const size = this.sizes.get(buffer);
          return { binding, resource: size === undefined ? { buffer } : { buffer, size } };
        }),
      });
      pass.setBindGroup(0, bindGroup);
    }
    const [x, y = 1, z = 1] = workgroups;
    pass.dispatchWorkgroups(x, y, z);
    const seen = this.grids.get(key);
    if (seen) {
      seen.launches++;
      seen.widest = Math.max(seen.widest, x * y * z);
    } else this.grids.set(key, { launches: 1, widest: x * y * z });
    pass.end();
    batch.dispatches.push([key, device.popErrorScope()]);
    this.stats.dispatches++;
  }

  /** Copies `bytes` from one buffer to another inside this kernel call (in recording order). */
  copy(from: GPUBuffer, to: GPUBuffer, bytes: number): void {
    const batch = this.open();
    batch.encoder ??= this.device.createCommandEncoder();
    if (bytes > 0) batch.encoder.copyBufferToBuffer(from, 0, to, 0, bytes);
  }

  /** Ends the kernel call: submits its work and reads `n` float32 values of `buffer`. */
  async read(buffer: GPUBuffer, n: number): Promise<Float32Array<ArrayBuffer>> {
    const [data] = await this.readAll([[buffer, n]]);
    return data;
  }

  /**
   * Ends the kernel call: one submit, one staging buffer, one mapping for all the outputs; then
   * every buffer the call took returns to the pool.
   */
  async readAll(
    outputs: readonly (readonly [GPUBuffer, number])[],
  ): Promise<Float32Array<ArrayBuffer>[]> {
    const batch = this.batch ?? this.newBatch();
    this.batch = undefined;
    let staging: GPUBuffer | undefined;
    try {
      if (batch.leaked) {
        throw new Error(
          "WebGPU runtime: a kernel awaited between its first upload and its read; the batch " +
            "may hold another call's work (keep upload → dispatch → read synchronous)",
        );
      }
      if (this.lost) throw new Error(`WebGPU device lost (${this.lost})`);
      const offsets: number[] = [];
      let total = 0;
      for (const [, n] of outputs) {
        offsets.push(total);
        total += n * 4;
      }
      const encoder = batch.encoder ?? this.device.createCommandEncoder();
      if (total > 0) {
        staging = this.take(STAGING, total, false);
        outputs.forEach(([buffer, n], i) => {
          if (n > 0) encoder.copyBufferToBuffer(buffer, 0, staging!, offsets[i], n * 4);
        });
      }
      await this.submit(batch, encoder);
      if (!staging) return outputs.map(() => new Float32Array(0));
      try {
        this.stats.readbacks++;
        this.stats.bytesDown += total;
        await yielding(staging.mapAsync(MAP_MODE_READ, 0, total));
        const mapped = staging.getMappedRange(0, total);
        const results = outputs.map(([, n], i) => new Float32Array(mapped, offsets[i], n).slice());
        staging.unmap();
        return results;
      } catch (e) {
        if (this.lost) throw new Error(`WebGPU device lost (${this.lost})`);
        throw e;
      }
    } finally {
      for (const b of batch.buffers) this.give(poolOf(b), b);
      if (staging?.mapState === "unmapped") this.give(STAGING, staging);
    }
  }

  /**
   * Submits a batch's commands; resolves once every error scope around it has answered, and
   * rejects with the first error, naming the kernel (a build error, a wrong dispatch, a device
   * error). Everything up to the submit is synchronous.
   */
  private async submit(batch: Batch, encoder: GPUCommandEncoder): Promise<void> {
    this.device.pushErrorScope("validation");
    this.device.pushErrorScope("out-of-memory");
    this.device.queue.submit([encoder.finish()]);
    const oom = this.device.popErrorScope();
    const invalid = this.device.popErrorScope();
    this.stats.submits++;
    for (const [key, built] of batch.pipelines) {
      const error = await built;
      if (error) throw new Error(`WebGPU kernel "${key}" failed to build: ${error.message}`);
    }
    for (const [key, check] of batch.dispatches) {
      const error = await check;
      if (error) throw new Error(`WebGPU kernel "${key}" was dispatched wrongly: ${error.message}`);
    }
    const error = (await oom) ?? (await invalid);
    if (error) {
      const kernels = [...batch.pipelines.keys()].join(", ") || "copies only";
      throw new Error(`WebGPU error in a call of [${kernels}]: ${error.message}`);
    }
  }

  /**
   * Ends a resident call without waiting: submits it and returns, its error scopes still
   * pending (waiting for them cost each call of a chain a round trip to the device's event
   * loop). Like WebGPU's own errors, one found later surfaces at the next `download`.
   */
  private submitResident(batch: Batch): void {
    if (batch.leaked) {
      throw new Error(
        "WebGPU runtime: a kernel awaited between its first upload and its result; the batch " +
          "may hold another call's work (keep upload → dispatch → result synchronous)",
      );
    }
    if (this.lost) throw new Error(`WebGPU device lost (${this.lost})`);
    const checks = this.submit(batch, batch.encoder ?? this.device.createCommandEncoder());
    this.unchecked.add(checks);
    checks.then(
      () => this.unchecked.delete(checks),
      (e: unknown) => {
        this.unchecked.delete(checks);
        this.deferred ??= e instanceof Error ? e : new Error(String(e));
      },
    );
  }

  /** Waits for the error checks of resident calls; throws (once) the first error they found. */
  private async surfaceDeferred(): Promise<void> {
    await Promise.allSettled([...this.unchecked]);
    const error = this.deferred;
    this.deferred = undefined;
    if (error) throw new Error(`an earlier call on device tensors failed: ${error.message}`);
  }

  /** Abandons the open kernel call (after an exception): its buffers return to the pool. */
  discard(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (batch) for (const b of batch.buffers) this.give(poolOf(b), b);
  }

  /** Destroys every pooled buffer and forgets the pipelines (the device itself stays). */
  clear(): void {
    this.discard();
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
    this.pooledBytes = 0;
    this.pipelines.clear();
  }

  private newBatch(): Batch {
    return {
      buffers: new Set(),
      pipelines: new Map(),
      dispatches: [],
      leaked: false,
      resident: this.resident,
    };
  }

  /** The open kernel call, or a new one; a microtask flags it if the caller awaits too early. */
  private open(): Batch {
    if (this.batch) return this.batch;
    const batch = this.newBatch();
    this.batch = batch;
    queueMicrotask(() => {
      if (this.batch === batch) batch.leaked = true;
    });
    return batch;
  }

  private take(usage: number, bytes: number, track = true): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.pool.get(`${usage}:${size}`);
    let buffer = list?.pop();
    if (buffer) {
      this.pooledBytes -= size;
      this.stats.buffersReused++;
    } else {
      buffer = this.device.createBuffer({ size, usage });
      this.stats.buffersCreated++;
    }
    this.sizes.set(buffer, Math.ceil(bytes / 4) * 4);
    if (track) this.open().buffers.add(buffer);
    return buffer;
  }

  private give(usage: number, buffer: GPUBuffer): void {
    const size = buffer.size;
    if (this.pooledBytes + size > this.maxPooledBytes) {
      buffer.destroy();
      return;
    }
    const key = `${usage}:${size}`;
    const list = this.pool.get(key);
    if (list) list.push(buffer);
    else this.pool.set(key, [buffer]);
    this.pooledBytes += size;
  }
}

/** The pool a tracked buffer returns to, from its usage flags. */
function poolOf(b: GPUBuffer): number {
  return b.usage & 0x40 ? UNIFORM : STORAGE;
}

/**
 * Waits for `p` without spinning a core. Dawn's Node binding polls a pending map with
 * setImmediate, a busy loop that competes with a software driver's own threads (SwiftShader's
 * queue and workers) for the CPU; sleeping 50 µs per poll hands the core over. Browsers (no
 * setImmediate, no Atomics.wait on the main thread) await `p` plainly.
 */
export async function yielding<T>(p: Promise<T>): Promise<T> {
  if (typeof setImmediate !== "function" || typeof SharedArrayBuffer !== "function") return p;
  const gate = new Int32Array(new SharedArrayBuffer(4));
  let done = false;
  const settle = () => {
    done = true;
  };
  p.then(settle, settle);
  // The sleep doubles from 50 µs to 2 ms: a short kernel still returns within microseconds,
  // and a long one (seconds on SwiftShader) no longer costs a core thousands of polls a second.
  for (let sleep = 0.05; !done; sleep = Math.min(2, sleep * 2)) {
    Atomics.wait(gate, 0, 0, sleep);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return p;
}
