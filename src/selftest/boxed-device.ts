/**
 * A device in name only, for the self-test of the device laws (I6): its device tensors box host
 * tensors, and its device kernels are the backend's host kernels on the boxed values. Correct,
 * it must pass I6a and I6b; with one residency bug (buggy/device.ts), the law named for it must
 * fail. It is also the smallest complete example of the `Device` contract.
 */
import type { Backend, Device, DeviceKernels, DeviceTensor, Kernels } from "../engine/contract.ts";
import { type AnyTensor, cloneTensor, type DType, dtypeOf } from "../engine/tensor.ts";

/** A device tensor holding a host tensor; `box` is cleared when it is freed. */
export class Boxed implements DeviceTensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  constructor(public box: AnyTensor | undefined) {
    this.shape = [...(box?.shape ?? [])];
    this.dtype = box ? dtypeOf(box) : "float32";
  }
}

/** The host tensor inside a Boxed device tensor, or a TypeError naming what went wrong. */
export function unbox(t: unknown): AnyTensor {
  if (!(t instanceof Boxed)) throw new TypeError("expected a device tensor of this device");
  if (!t.box) throw new TypeError("the device tensor was freed");
  return t.box;
}

/** How a device kernel's output becomes device tensors (the correct way: box each tensor). */
export type Keep = (out: AnyTensor) => Boxed;

const boxOutputs = (value: unknown, keep: Keep): unknown => {
  const v = value as Record<string, unknown>;
  if ("data" in v && ArrayBuffer.isView(v.data)) return keep(v as unknown as AnyTensor);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, boxOutputs(x, keep)]));
};

/** A Device for `kernels`: every op unboxes its inputs, runs the host kernel and boxes what it returns. */
export function boxedDevice(kernels: Kernels, keep: Keep = (t) => new Boxed(t)): Device {
  const device: Record<string, unknown> = {};
  for (const [op, kernel] of Object.entries(kernels)) {
    const k = kernel as (inputs: unknown, attrs: unknown) => unknown;
    device[op] = async (inputs: Record<string, unknown>, attrs: unknown) => {
      const host = Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, unbox(t)]));
      return boxOutputs(await k(host, attrs), keep);
    };
  }
  return {
    upload: (t) => new Boxed(cloneTensor(t)),
    read: async (t) => cloneTensor(unbox(t)),
    free: (t) => {
      unbox(t);
      (t as Boxed).box = undefined;
    },
    kernels: device as DeviceKernels,
  };
}

/** `backend` with a boxed device over its own kernels. */
export function withBoxedDevice(backend: Backend, name = `${backend.name}-boxed`): Backend {
  return { ...backend, name, device: boxedDevice(backend.kernels) };
}
