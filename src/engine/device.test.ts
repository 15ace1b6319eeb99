/**
 * The door to device kernels (callDevice) trusts them no more than `call` trusts host kernels:
 * arguments validated by shape and dtype, a kernel that throws, hangs or returns the wrong thing
 * reported as the kernel's breach. On cpu32's kernels behind a boxed device (no GPU needed).
 */
import { describe, expect, test } from "vitest";
import { Boxed, boxedDevice, withBoxedDevice } from "../selftest/boxed-device.ts";
import type { Backend, DeviceKernels } from "./contract.ts";
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
});
