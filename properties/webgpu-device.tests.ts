/**
 * Device-resident tensors on our WebGPU backend (`backend.device`), beyond what the device laws
 * (I6a, I6b) ask of any backend: every op gives on device tensors exactly the bits it gives on
 * host tensors, a chain of calls reads nothing back until asked, and device tensors are
 * validated and owned like host ones. Registered by laws.webgpu.test.ts after the laws, in the
 * same process, so that the kernels' pipelines are already compiled.
 */
import { describe, expect, it } from "vitest";
import { Tape, type Var } from "../src/engine/autograd.ts";
import { call } from "../src/engine/call.ts";
import type { DeviceTensor, OpName } from "../src/engine/contract.ts";
import { callDevice } from "../src/engine/device.ts";
import { InvalidArgumentError, KernelContractError } from "../src/engine/errors.ts";
import { exampleCalls, lcgTensor } from "../src/engine/examples.ts";
import { type AnyTensor, indices, type Tensor, tensor } from "../src/engine/tensor.ts";
import { signatures } from "../src/engine/validate.ts";
import type { WebGpuBackend } from "../src/engine/webgpu/index.ts";

const x = (shape: number[], seed = 1, scale = 4) => lcgTensor(shape, scale, seed);
const classes = (n: number, c: number) =>
  indices(
    [n],
    Array.from({ length: n }, (_, i) => (i * 7) % c),
  );

const bits = (t: AnyTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

export function describeDeviceTensors(gpu: WebGpuBackend): void {
  describe("device-resident tensors on WebGPU", () => {
    const dev = gpu.device;

    it("every op has an example here, and none is missing from the device kernels", () => {
      const covered = new Set(exampleCalls().map(([op]) => op));
      const implemented = (Object.keys(signatures) as OpName[]).filter(
        (op) => typeof gpu.kernels[op] === "function",
      );
      expect(implemented.filter((op) => !covered.has(op))).toEqual([]);
      expect(implemented.filter((op) => typeof dev.kernels[op] !== "function")).toEqual([]);
    });

    it("every op gives on device tensors the same bits as on host tensors", async () => {
      for (const [op, inputs, attrs] of exampleCalls()) {
        const host = await call(gpu, op, inputs as never, attrs as never);
        const handles: Record<string, DeviceTensor> = Object.fromEntries(
          await Promise.all(Object.entries(inputs).map(async ([k, t]) => [k, await dev.upload(t)])),
        );
        const before = gpu.runtime.stats.readbacks;
        const onDevice = await callDevice(gpu, op, handles as never, attrs as never);
        expect(gpu.runtime.stats.readbacks, `${op} read back`).toBe(before);
        const wrap = (o: unknown) =>
          ("shape" in (o as object) ? { y: o } : o) as Record<string, Tensor>;
        const want = wrap(host);
        const got = wrap(onDevice) as unknown as Record<string, DeviceTensor>;
        for (const key of Object.keys(want)) {
          const read = await dev.read(got[key]);
          expect(read.shape, `${op} ${key}`).toEqual(want[key].shape);
          expect(Buffer.compare(bits(read), bits(want[key])), `${op} ${key} differs`).toBe(0);
          dev.free(got[key]);
        }
        for (const h of Object.values(handles)) dev.free(h);
      }
    });

    it("a training step of a two-layer network runs on the device and reads back only the loss", async () => {
      const xs = x([64, 33], 40);
      const w1 = x([33, 70], 41, 0.5);
      const w2 = x([70, 10], 42, 0.5);
      const target = classes(64, 10);
      // The same step on host tensors: every call reads its outputs back.
      const h1 = await call(gpu, "matmul", { a: xs, b: w1 }, {});
      const a1 = await call(gpu, "relu", { x: h1 }, {});
      const z = await call(gpu, "matmul", { a: a1, b: w2 }, {});
      const fused = await call(
        gpu,
        "cross_entropy_fused",
        { logits: z, target },
        { reduction: "mean" },
      );
      const g2 = await call(gpu, "matmul_vjp", { a: a1, b: w2, dy: fused.dlogits }, {});
      const g1 = await call(gpu, "relu_vjp", { x: h1, dy: g2.da }, {});
      const gw1 = await call(gpu, "matmul_vjp", { a: xs, b: w1, dy: g1 }, {});

      const stats = gpu.runtime.stats;
      const [dx, dw1, dw2, dt] = await Promise.all([xs, w1, w2, target].map((t) => dev.upload(t)));
      const readbacks = stats.readbacks;
      const submits = stats.submits;
      const dh1 = await callDevice(gpu, "matmul", { a: dx, b: dw1 }, {});
      const da1 = await callDevice(gpu, "relu", { x: dh1 }, {});
      const dz = await callDevice(gpu, "matmul", { a: da1, b: dw2 }, {});
      const dl = await callDevice(
        gpu,
        "cross_entropy_fused",
        { logits: dz, target: dt },
        { reduction: "mean" },
      );
      const dg2 = await callDevice(gpu, "matmul_vjp", { a: da1, b: dw2, dy: dl.dlogits }, {});
      const dg1 = await callDevice(gpu, "relu_vjp", { x: dh1, dy: dg2.da }, {});
      const dgw1 = await callDevice(gpu, "matmul_vjp", { a: dx, b: dw1, dy: dg1 }, {});
      expect(stats.submits - submits).toBe(7);
      expect(stats.readbacks - readbacks).toBe(0);
      const loss = await dev.read(dl.loss);
      expect(stats.readbacks - readbacks).toBe(1);
      expect(Buffer.compare(bits(loss), bits(fused.loss))).toBe(0);
      expect(Buffer.compare(bits(await dev.read(dgw1.db)), bits(gw1.db))).toBe(0);
      expect(Buffer.compare(bits(await dev.read(dg2.db)), bits(g2.db))).toBe(0);
    });

    it("a tape on device tensors trains a residual block as one on host tensors does, bit for bit, reading back nothing", async () => {
      const data = {
        x: x([32, 20], 50),
        w1: x([20, 20], 51, 0.5),
        b1: x([20], 52),
        gamma: x([20], 53),
        beta: x([20], 54),
        w2: x([20, 7], 55, 0.5),
      };
      const target = classes(32, 7);
      // h = relu(x·W1 + b1); r = layer_norm(h + x); loss = cross_entropy(r·W2): x feeds two ops,
      // so its gradient is a sum, made on the device by the backend's add.
      async function step<V extends Tensor | DeviceTensor>(
        tape: Tape<V>,
        leaf: (t: Tensor) => V,
        t: unknown,
      ) {
        const v = Object.fromEntries(
          Object.entries(data).map(([k, d]) => [k, tape.leaf(leaf(d), k)]),
        ) as Record<keyof typeof data, Var<V>>;
        const z = await tape.op("matmul", { a: v.x, b: v.w1 }, {});
        const h = await tape.op("relu", { x: await tape.op("add", { a: z, b: v.b1 }, {}) }, {});
        const r = await tape.op("add", { a: h, b: v.x }, {});
        const n = await tape.op(
          "layer_norm",
          { x: r, gamma: v.gamma, beta: v.beta },
          { eps: 1e-5 },
        );
        const logits = await tape.op("matmul", { a: n, b: v.w2 }, {});
        const loss = await tape.op(
          "cross_entropy",
          { logits, target: t as never },
          { reduction: "mean" },
        );
        await tape.backward(loss);
        return { loss, v };
      }
      const host = await step(new Tape(gpu), (t) => t, target);
      const tape = Tape.onDevice(gpu);
      const dt = await dev.upload(target);
      const uploads: DeviceTensor[] = [];
      const readbacks = gpu.runtime.stats.readbacks;
      const onDevice = await step(
        tape,
        (t) => {
          const h = gpu.runtime.keep(t);
          uploads.push(h);
          return h;
        },
        dt,
      );
      expect(gpu.runtime.stats.readbacks - readbacks).toBe(0);
      const same = async (d: DeviceTensor | undefined, h: Tensor | undefined) =>
        Buffer.compare(bits(await dev.read(d!)), bits(h!));
      expect(await same(onDevice.loss.value, host.loss.value)).toBe(0);
      for (const k of Object.keys(data) as (keyof typeof data)[]) {
        expect(await same(onDevice.v[k].grad, host.v[k].grad), `d${k}`).toBe(0);
      }
      for (const h of [...uploads, dt]) dev.free(h);
    });

    it("a device call returns without waiting for its error checks, and an error they find surfaces at the next read", async () => {
      const rt = gpu.runtime;
      // A resident call, as device kernels make one: the flag is up when its batch opens.
      rt.resident = true;
      const out = rt.alloc(16);
      rt.dispatch("test:broken", () => "this is not WGSL", [out], [1]);
      const pending = rt.result(out, [4]);
      rt.resident = false;
      const broken = await pending;
      const fine = await dev.upload(x([4]));
      await expect(dev.read(fine)).rejects.toThrow(/earlier call.*"test:broken" failed to build/);
      // Reported once: the next read is clean.
      expect((await dev.read(fine)).shape).toEqual([4]);
      dev.free(broken as DeviceTensor);
      dev.free(fine);
    });

    it("device tensors are validated by shape and dtype, and a freed one cannot be used", async () => {
      const a = await dev.upload(x([2, 3]));
      const b = await dev.upload(x([4, 5]));
      await expect(callDevice(gpu, "add", { a, b }, {})).rejects.toThrow(InvalidArgumentError);
      await expect(callDevice(gpu, "add", { a, b }, {})).rejects.toThrow(
        /add.*\[2, 3\].*\[4, 5\]|b/,
      );
      // A host tensor where a device tensor belongs names the argument.
      await expect(callDevice(gpu, "neg", { x: x([2]) } as never, {})).rejects.toThrow(
        /neg.*x.*host tensor/,
      );
      const idx = await dev.upload(classes(2, 3));
      await expect(
        callDevice(gpu, "cross_entropy", { logits: idx, target: idx }, { reduction: "mean" }),
      ).rejects.toThrow(/logits.*dtype float32/);
      dev.free(a);
      expect(() => dev.free(a)).toThrow(/freed/);
      await expect(callDevice(gpu, "neg", { x: a }, {})).rejects.toThrow(KernelContractError);
      await expect(callDevice(gpu, "neg", { x: a }, {})).rejects.toThrow(/freed/);
      await expect(dev.read({ shape: [2], dtype: "float32" })).rejects.toThrow(
        /made by this backend/,
      );
      const round = await dev.read(idx);
      expect(round.data).toBeInstanceOf(Int32Array);
      expect([...round.data]).toEqual([0, 1]);
      dev.free(b);
      dev.free(idx);
    });

    it("a tensor freed while its read waits is not read from the buffer the next upload took", async () => {
      const a = await dev.upload(tensor("float32", [4], [1, 2, 3, 4]));
      const pending = dev.read(a);
      dev.free(a);
      const b = await dev.upload(tensor("float32", [4], [9, 9, 9, 9]));
      await expect(pending).rejects.toThrow(/freed/);
      dev.free(b);
    });
  });
}
