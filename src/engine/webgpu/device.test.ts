/**
 * Device-resident tensors on the WebGPU backend (`backend.device`): every op gives on device
 * tensors the bits it gives on host tensors, a chain of calls reads nothing back until asked,
 * and device tensors are validated and owned like host ones. Skipped, loudly, where there is no
 * adapter (an error under TENSORLAWS_REQUIRE_GPU=1, as in CI).
 */
import { afterAll, describe, expect, it } from "vitest";
import { call } from "../call.ts";
import type { DeviceTensor, OpName } from "../contract.ts";
import { callDevice } from "../device.ts";
import { InvalidArgumentError, KernelContractError } from "../errors.ts";
import { exampleCalls } from "../examples.ts";
import { type AnyTensor, indices, type Tensor } from "../tensor.ts";
import { signatures } from "../validate.ts";
import { lcgTensor, webgpuForTests } from "./test-support.ts";

const x = (shape: number[], seed = 1, scale = 4) => lcgTensor(shape, scale, seed);
const classes = (n: number, c: number) =>
  indices(
    [n],
    Array.from({ length: n }, (_, i) => (i * 7) % c),
  );

const backend = await webgpuForTests("src/engine/webgpu/device.test.ts (device tensors)");
afterAll(() => backend?.dispose());

const bits = (t: AnyTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

describe.skipIf(!backend)("device-resident tensors on WebGPU", () => {
  const gpu = backend!;
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

  it("device tensors are validated by shape and dtype, and a freed one cannot be used", async () => {
    const a = await dev.upload(x([2, 3]));
    const b = await dev.upload(x([4, 5]));
    await expect(callDevice(gpu, "add", { a, b }, {})).rejects.toThrow(InvalidArgumentError);
    await expect(callDevice(gpu, "add", { a, b }, {})).rejects.toThrow(/add.*\[2, 3\].*\[4, 5\]|b/);
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
});
