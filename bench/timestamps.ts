/**
 * GPU time of a kernel call from timestamp queries, without touching the runtime: while armed,
 * every compute pass begun on the device gets a pair of timestamp writes; after the call's own
 * readback (its work has finished) one extra submit resolves the queries and the pass times are
 * summed. Uploads, copies and the readback are outside the passes, so this is kernel time.
 *
 * It wraps `device.createCommandEncoder` on the device object, which works for any code that
 * records compute passes on that device (our runtime, TensorFlow.js-webgpu). A pass that already
 * carries timestamp writes (a profiler of its own) is left alone and not counted.
 */

/** Timestamp queries per call: two per pass. */
const CAPACITY = 512;

// GPUBufferUsage and GPUMapMode, spelled out so this module loads before the WebGPU globals.
const QUERY_RESOLVE = 0x200;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const MAP_READ = 0x1;

export interface GpuTime {
  /** Sum of the compute passes' durations, in ms. */
  ms: number;
  passes: number;
  /** More passes than CAPACITY / 2: the rest were not timed. */
  truncated: boolean;
  /**
   * Every pass lasted a whole number of QUANTUM_NS: Dawn's timestamp quantization (on unless the
   * device was created with "disable-dawn-features=timestamp_quantization") is rounding them.
   */
  quantized: boolean;
}

/** The step of Dawn's quantized timestamps: 2^16 ns. */
export const QUANTUM_NS = 65536;

export class PassTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;
  private readonly original: GPUDevice["createCommandEncoder"];
  private used = 0;
  private truncated = false;
  private armed = false;

  /** Undefined when the device lacks "timestamp-query". Call `uninstall()` when done. */
  static install(device: GPUDevice): PassTimer | undefined {
    return device.features.has("timestamp-query") ? new PassTimer(device) : undefined;
  }

  private constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: "timestamp", count: CAPACITY });
    this.resolveBuffer = device.createBuffer({
      size: CAPACITY * 8,
      usage: QUERY_RESOLVE | COPY_SRC,
    });
    this.readBuffer = device.createBuffer({ size: CAPACITY * 8, usage: MAP_READ | COPY_DST });
    this.original = device.createCommandEncoder;
    const original = this.original.bind(device);
    device.createCommandEncoder = (descriptor?: GPUCommandEncoderDescriptor) => {
      const encoder = original(descriptor);
      const beginComputePass = encoder.beginComputePass.bind(encoder);
      encoder.beginComputePass = (pass: GPUComputePassDescriptor = {}) =>
        beginComputePass(this.armed && !pass.timestampWrites ? this.timed(pass) : pass);
      return encoder;
    };
  }

  private timed(pass: GPUComputePassDescriptor): GPUComputePassDescriptor {
    if (this.used + 2 > CAPACITY) {
      this.truncated = true;
      return pass;
    }
    const begin = this.used;
    this.used += 2;
    return {
      ...pass,
      timestampWrites: {
        querySet: this.querySet,
        beginningOfPassWriteIndex: begin,
        endOfPassWriteIndex: begin + 1,
      },
    };
  }

  /** Starts timing the passes of the next call. */
  arm(): void {
    this.used = 0;
    this.truncated = false;
    this.armed = true;
  }

  /** Stops timing; after the call's outputs are read back, the GPU time of its passes. */
  async collect(): Promise<GpuTime> {
    this.armed = false;
    const count = this.used;
    if (count === 0) return { ms: 0, passes: 0, truncated: this.truncated, quantized: false };
    const encoder = this.original.call(this.device);
    encoder.resolveQuerySet(this.querySet, 0, count, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, count * 8);
    this.device.queue.submit([encoder.finish()]);
    await this.readBuffer.mapAsync(MAP_READ, 0, count * 8);
    const stamps = new BigUint64Array(this.readBuffer.getMappedRange(0, count * 8).slice(0));
    this.readBuffer.unmap();
    let ns = 0;
    let quantized = true;
    for (let i = 0; i < count; i += 2) {
      // A pass whose end precedes its begin (a driver's clock reset) counts as zero.
      const d = stamps[i + 1] - stamps[i];
      if (d > 0n) ns += Number(d);
      if (d % BigInt(QUANTUM_NS) !== 0n) quantized = false;
    }
    return { ms: ns / 1e6, passes: count / 2, truncated: this.truncated, quantized };
  }

  /** Restores the device's own createCommandEncoder and frees the query set. */
  uninstall(): void {
    this.armed = false;
    this.device.createCommandEncoder = this.original;
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    this.readBuffer.destroy();
  }
}
