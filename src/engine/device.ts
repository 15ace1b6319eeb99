/**
 * The door to a backend's device kernels (`backend.device`), the counterpart of `call` for
 * tensors that stay on the device: a chain of `callDevice` passes device tensors from kernel to
 * kernel, and only `device.read` brings values back.
 *
 *     const dev = backend.device!;
 *     const x = await dev.upload(hostX);
 *     const h = await callDevice(backend, "matmul", { a: x, b: w }, {});
 *     const y = await callDevice(backend, "relu", { x: h }, {});
 *     const out = await dev.read(y);                    // the one readback
 *
 * What it checks: the same signatures, shapes, dtypes and attributes as `call`, on the device
 * tensors' shapes and dtypes (their values never come to the host, so the value checks, such as
 * class indices in range, are not made); a timeout; and each output a device tensor of the
 * contract's shape and the backend's dtype. It cannot see whether a kernel wrote to an input.
 */

import type { CallOptions } from "./call.ts";
import type { Attrs, Backend, Inputs, OnDevice, OpName, Output } from "./contract.ts";
import {
  describeThrown,
  InvalidArgumentError,
  KernelContractError,
  NotImplementedError,
} from "./errors.ts";
import { type DType, formatShape, sameShape } from "./tensor.ts";
import { check, describeValue, isOpName, shapeOnly } from "./validate.ts";

const DTYPES: readonly DType[] = ["float32", "float64", "int32"];

/** Shape and dtype of something that should be a device tensor, read once; or why not. */
function deviceShape(t: unknown): { shape: number[]; dtype: DType } | string {
  if (typeof t !== "object" || t === null)
    return `expected a device tensor, got ${describeValue(t)}`;
  if ("data" in t) return "expected a device tensor (device.upload), got a host tensor";
  const { shape, dtype } = t as { shape?: unknown; dtype?: unknown };
  if (!Array.isArray(shape)) return "expected a device tensor { shape, dtype }";
  if (!DTYPES.includes(dtype as DType)) return `has dtype ${describeValue(dtype)}`;
  return { shape: [...shape], dtype: dtype as DType };
}

/**
 * Runs `op` on `backend`'s device kernels after validation; throws InvalidArgumentError (the
 * caller's arguments), NotImplementedError (no device, or no device kernel for `op`), or
 * KernelContractError (the kernel threw, hung or returned the wrong thing).
 */
export async function callDevice<O extends OpName>(
  backend: Backend,
  op: O,
  inputs: OnDevice<Inputs<O>>,
  attrs: Attrs<O>,
  options: CallOptions = {},
): Promise<OnDevice<Output<O>>> {
  if (!isOpName(op)) throw new InvalidArgumentError(String(op), "op", "not an op of the contract");
  const kernel = backend.device?.kernels[op];
  if (typeof kernel !== "function") throw new NotImplementedError(op, `${backend.name} (device)`);
  if (typeof inputs !== "object" || inputs === null) {
    throw new InvalidArgumentError(
      op,
      "inputs",
      `expected an object, got ${describeValue(inputs)}`,
    );
  }
  // Validate on stand-ins with the handles' shapes and dtypes; hand the kernel the handles that
  // were checked, each read once (a getter on the caller's object cannot swap one in later).
  const handles: Record<string, unknown> = {};
  const standIns: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(inputs)) {
    handles[name] = t;
    let got: ReturnType<typeof deviceShape>;
    try {
      got = deviceShape(t);
    } catch (e) {
      throw new InvalidArgumentError(op, name, `could not be read: ${describeThrown(e)}`);
    }
    if (typeof got === "string") throw new InvalidArgumentError(op, name, got);
    standIns[name] = shapeOnly(got.shape, got.dtype);
  }
  const checked = check(op, standIns, attrs, backend.dtype);
  const breach = (reason: string) =>
    new KernelContractError(op, `${backend.name} (device)`, reason);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let result: unknown;
  try {
    const run = (kernel as (i: unknown, a: unknown) => Promise<unknown>)(handles, checked.attrs);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(breach(`did not return within ${timeoutMs} ms`)), timeoutMs);
    });
    result = await Promise.race([run, timeout]);
  } catch (e) {
    if (e instanceof KernelContractError) throw e;
    throw breach(`threw ${describeThrown(e)}`);
  } finally {
    clearTimeout(timer);
  }
  try {
    return checkOutputs(
      result,
      checked.shapes,
      Object.values(handles),
      backend,
      breach,
    ) as OnDevice<Output<O>>;
  } catch (e) {
    if (e instanceof KernelContractError) throw e;
    // A proxy or a throwing getter in what the kernel returned is the kernel's breach.
    throw breach(`returned an output that could not be read: ${describeThrown(e)}`);
  }
}

/**
 * The outputs that were checked (each read once, in a fresh object), or `breach(...)` unless each
 * is a device tensor of the contract's shape and dtype that the caller may own and free: none is
 * one of the inputs, and no two are the same tensor.
 */
function checkOutputs(
  result: unknown,
  shapes: Record<string, readonly number[]>,
  inputs: readonly unknown[],
  backend: Backend,
  breach: (reason: string) => KernelContractError,
): unknown {
  const keys = Object.keys(shapes);
  const single = keys.length === 1 && keys[0] === "y";
  if (!single && (typeof result !== "object" || result === null))
    throw breach("returned no outputs");
  const outputs = (single ? { y: result } : result) as Record<string, unknown>;
  const checked: Record<string, unknown> = {};
  const owned = new Set<unknown>();
  for (const key of keys) {
    const label = single ? "its output" : `output '${key}'`;
    const handle = outputs[key];
    if (inputs.includes(handle))
      throw breach(`${label} is one of its inputs, not a tensor of its own`);
    if (owned.has(handle)) throw breach(`${label} is the same tensor as another output`);
    owned.add(handle);
    checked[key] = handle;
    const got = deviceShape(handle);
    if (typeof got === "string") throw breach(`${label}: ${got}`);
    if (got.dtype !== backend.dtype) {
      throw breach(`${label} has dtype ${got.dtype}, the backend declares ${backend.dtype}`);
    }
    if (!sameShape(got.shape, shapes[key])) {
      throw breach(
        `${label} has shape ${formatShape(got.shape)}, expected ${formatShape(shapes[key])}`,
      );
    }
  }
  return single ? checked.y : checked;
}
