/**
 * Known-bad device residency: cpu32's kernels behind a boxed device (../boxed-device.ts) with
 * one bug of the kind GPU runtimes have, each caught by the device law named for it.
 */
import type { Backend, DeviceTensor } from "../../engine/contract.ts";
import { cpu32 } from "../../engine/cpu/index.ts";
import { type AnyTensor, sameShape, type Tensor } from "../../engine/tensor.ts";
import { Boxed, boxedDevice, unbox } from "../boxed-device.ts";
import type { Mutant } from "./mutant.ts";

/** An `add` that writes its result into a's buffer when the shapes allow (an in-place kernel). */
function addInPlace(): Backend {
  const device = boxedDevice(cpu32.kernels);
  const add = async ({ a, b }: { a: DeviceTensor; b: DeviceTensor }) => {
    const [x, y] = [unbox(a) as Tensor, unbox(b) as Tensor];
    const sum = (await cpu32.kernels.add!({ a: x, b: y }, {})) as Tensor;
    if (!sameShape(sum.shape, x.shape)) return new Boxed(sum);
    x.data.set(sum.data); // the bug: the output is the input's buffer
    return new Boxed({ shape: [...x.shape], data: x.data.slice() });
  };
  return {
    ...cpu32,
    name: "device-add-in-place",
    device: { ...device, kernels: { ...device.kernels, add } },
  };
}

/**
 * Outputs kept in a pool of two buffers per shape, handed out in turn: a tensor's buffer is
 * reused two calls of that shape later while the tensor still holds it (a buffer returned to
 * the pool at the end of its call rather than when its tensor is freed).
 */
function recycledOutputs(): Backend {
  const pools = new Map<string, { next: number; boxes: Float32Array[] }>();
  const keep = (t: AnyTensor) => {
    const key = `${t.data.constructor.name}:${t.shape.join("x")}`;
    const pool = pools.get(key) ?? { next: 0, boxes: [] };
    pools.set(key, pool);
    const slot = pool.next++ % 2;
    pool.boxes[slot] ??= new Float32Array(t.data.length);
    const data = pool.boxes[slot];
    data.set(t.data);
    return new Boxed({ shape: [...t.shape], data });
  };
  return { ...cpu32, name: "device-recycled-outputs", device: boxedDevice(cpu32.kernels, keep) };
}

/**
 * A readback through a staging buffer of a fixed 256 KiB: a tensor past 65 536 elements comes
 * back with its tail zero (small tensors are right).
 */
function truncatedReads(): Backend {
  const device = boxedDevice(cpu32.kernels);
  const read = async (t: DeviceTensor) => {
    const out = await device.read(t);
    out.data.fill(0, 65536); // the bug: only the first 256 KiB were copied
    return out;
  };
  return { ...cpu32, name: "device-truncated-reads", device: { ...device, read } };
}

/** Dropout in eval mode hands back its input tensor itself (an identity kernel that skips the copy). */
function dropoutEvalAliases(): Backend {
  const device = boxedDevice(cpu32.kernels);
  const dropout: NonNullable<typeof device.kernels.dropout> = (inputs, attrs) =>
    attrs.training ? device.kernels.dropout!(inputs, attrs) : Promise.resolve(inputs.x);
  return {
    ...cpu32,
    name: "device-dropout-eval-aliases",
    device: { ...device, kernels: { ...device.kernels, dropout } },
  };
}

export const mutants: Mutant[] = [
  {
    backend: addInPlace(),
    bug: "device kernels: add writes its result into its first input's buffer",
    caughtBy: ["I6a"],
  },
  {
    backend: recycledOutputs(),
    bug: "device kernels: an output's buffer goes back to a pool of two at the end of its call, so the next calls of that shape overwrite a tensor saved for backward",
    caughtBy: ["I6b"],
  },
  {
    backend: truncatedReads(),
    bug: "device read: a staging buffer of 256 KiB, so a tensor past 65 536 elements comes back with its tail zero",
    caughtBy: ["I6a"],
  },
  {
    backend: dropoutEvalAliases(),
    bug: "device kernels: dropout in eval mode returns its input tensor itself, so freeing the output frees the input",
    caughtBy: ["I6a"],
  },
];
