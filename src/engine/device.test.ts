/**
 * The door to device kernels (callDevice) trusts them no more than `call` trusts host kernels:
 * arguments validated by shape and dtype, a kernel that throws, hangs or returns the wrong thing
 * reported as the kernel's breach. On cpu32's kernels behind a boxed device (no GPU needed).
 */
import { describe, expect, test } from "vitest";
import { Boxed, boxedDevice, withBoxedDevice } from "../selftest/boxed-device.ts";
import type { Backend, DeviceKernels, DeviceTensor } from "./contract.ts";
import { cpu32 } from "./cpu/index.ts";
import { callDevice } from "./device.ts";
import { InvalidArgumentError, KernelContractError, NotImplementedError } from "./errors.ts";
import { tensor } from "./tensor.ts";

const boxed = withBoxedDevice(cpu32);
const dev = boxed.device!;
const x = (shape: number[]) =>
  dev.upload(
    tensor(
      "float32",
      shape,
      Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => i),
    ),
  );

/** cpu32 with one device kernel replaced. */
function withDeviceKernel(kernels: DeviceKernels): Backend {
  const device = boxedDevice(cpu32.kernels);
  return {
    ...cpu32,
    name: "hostile",
    device: { ...device, kernels: { ...device.kernels, ...kernels } },
  };
}

describe("callDevice", () => {
  test("runs a device kernel and hands back device tensors", async () => {
    const y = await callDevice(boxed, "neg", { x: await x([2, 3]) }, {});
    expect(y).toBeInstanceOf(Boxed);
    expect([...(await dev.read(y)).data]).toEqual([-0, -1, -2, -3, -4, -5]);
  });

  test("validates shapes, dtypes and names of device tensors, naming the op and the argument", async () => {
    const a = await x([2, 3]);
    const b = await x([4, 5]);
    await expect(callDevice(boxed, "add", { a, b }, {})).rejects.toThrow(InvalidArgumentError);
    await expect(callDevice(boxed, "matmul", { a, b }, {})).rejects.toThrow(/matmul/);
    const host = tensor("float32", [2], [1, 2]);
    await expect(callDevice(boxed, "neg", { x: host } as never, {})).rejects.toThrow(
      /neg.*'?x'?.*host tensor/,
    );
    await expect(callDevice(boxed, "neg", { x: a, y: a } as never, {})).rejects.toThrow(
      /unknown input 'y'/,
    );
    await expect(callDevice(boxed, "sum", { x: a }, { axis: 5 })).rejects.toThrow(
      InvalidArgumentError,
    );
  });

  test("a backend without device tensors, or without that device kernel, is not implemented", async () => {
    await expect(callDevice(cpu32, "neg", { x: await x([1]) }, {})).rejects.toThrow(
      NotImplementedError,
    );
    const partial = withDeviceKernel({ neg: undefined });
    await expect(callDevice(partial, "neg", { x: await x([1]) }, {})).rejects.toThrow(
      NotImplementedError,
    );
  });

  test("a device kernel that throws, hangs, returns a host tensor, the wrong shape or an unreadable output breaks the contract", async () => {
    const input = { x: await x([2]) };
    const cases: [DeviceKernels["neg"], RegExp][] = [
      [
        async () => {
          throw new Error("boom");
        },
        /threw.*boom/,
      ],
      [() => new Promise(() => {}), /did not return within 50 ms/],
      [async ({ x: t }) => dev.read(t) as never, /host tensor/],
      [async () => dev.upload(tensor("float32", [3], [1, 2, 3])), /shape \[3\], expected \[2\]/],
      [async () => dev.upload({ shape: [2], data: Int32Array.of(1, 2) }), /dtype int32/],
      [
        async () =>
          new Proxy(
            {},
            {
              get() {
                throw new Error("trap");
              },
              has() {
                throw new Error("trap");
              },
            },
          ) as never,
        /trap/,
      ],
    ];
    for (const [neg, message] of cases) {
      const hostile = withDeviceKernel({ neg });
      const run = callDevice(hostile, "neg", input, {}, { timeoutMs: 50 });
      await expect(run).rejects.toThrow(KernelContractError);
      await expect(callDevice(hostile, "neg", input, {}, { timeoutMs: 50 })).rejects.toThrow(
        message,
      );
    }
  });

  test("an output the caller could not own (one of the inputs, or another output) breaks the contract", async () => {
    const a = await x([2, 3]);
    const dy = await x([2, 3]);
    const echo = withDeviceKernel({ neg: async ({ x: t }) => t });
    await expect(callDevice(echo, "neg", { x: a }, {})).rejects.toThrow(/is one of its inputs/);
    const twice = withDeviceKernel({
      add_vjp: async ({ dy: g }) => {
        const d = await dev.kernels.neg!({ x: g }, {});
        return { da: d, db: d };
      },
    });
    await expect(callDevice(twice, "add_vjp", { a, b: a, dy }, {})).rejects.toThrow(
      /output 'db' is the same tensor as another output/,
    );
  });

  test("the kernel gets, and the caller gets back, exactly the tensors that were checked", async () => {
    const small = await x([2]);
    const big = await x([8]);
    let reads = 0;
    // A getter that shows the check one tensor and the kernel another.
    const inputs = {
      get x() {
        return reads++ === 0 ? small : big;
      },
    };
    const seen: DeviceTensor[] = [];
    const spy = withDeviceKernel({
      neg: async ({ x: t }) => {
        seen.push(t);
        return dev.kernels.neg!({ x: t }, {});
      },
    });
    const y = await callDevice(spy, "neg", inputs, {});
    expect(seen).toEqual([small]);
    expect(y.shape).toEqual([2]);
    // And an output object whose getter swaps its tensor after the check.
    const good = await x([2, 3]);
    const wrong = await x([1000]);
    const swapping = withDeviceKernel({
      add_vjp: async () => {
        const db = await dev.kernels.neg!({ x: good }, {});
        let n = 0;
        return {
          da: await dev.kernels.neg!({ x: good }, {}),
          get db() {
            return n++ === 0 ? db : wrong;
          },
        };
      },
    });
    const out = await callDevice(swapping, "add_vjp", { a: good, b: good, dy: good }, {});
    expect(out.db.shape).toEqual([2, 3]);
  });
});
