/**
 * The one door to a kernel: validate, run, then check that the kernel kept the contract
 * (right shapes and dtype out, inputs untouched, returned in time).
 */
import type { Attrs, Backend, Inputs, OpName, Output } from "./contract.ts";
import { KernelContractError, NotImplementedError } from "./errors.ts";
import { type AnyTensor, cloneTensor, dtypeOf, formatShape, sameShape } from "./tensor.ts";
import { validate } from "./validate.ts";

export interface CallOptions {
  /** Milliseconds before a kernel call counts as hung (default 30 s). */
  timeoutMs?: number;
}

export function hasOps(backend: Backend, ops: readonly OpName[]): boolean {
  return ops.every((op) => typeof backend.kernels[op] === "function");
}

function isTensor(v: unknown): v is AnyTensor {
  return typeof v === "object" && v !== null && "shape" in v && "data" in v;
}

function sameBits(a: AnyTensor, b: AnyTensor): boolean {
  if (!sameShape(a.shape, b.shape) || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i];
    const y = b.data[i];
    if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) return false;
  }
  return true;
}

async function withTimeout<T>(
  value: T | Promise<T>,
  ms: number,
  onTimeout: () => Error,
): Promise<T> {
  if (!(value instanceof Promise)) return value;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([value, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `op` on `backend` after central validation; throws typed errors on any breach. */
export async function call<O extends OpName>(
  backend: Backend,
  op: O,
  inputs: Inputs<O>,
  attrs: Attrs<O>,
  options: CallOptions = {},
): Promise<Output<O>> {
  const kernel = backend.kernels[op];
  if (typeof kernel !== "function") throw new NotImplementedError(op, backend.name);
  const expected = validate(op, inputs, attrs, backend.dtype);
  const breach = (reason: string) => new KernelContractError(op, backend.name, reason);

  const named = Object.entries(inputs as Record<string, unknown>).filter(
    (e): e is [string, AnyTensor] => isTensor(e[1]),
  );
  const snapshots = named.map(([name, t]) => [name, cloneTensor(t)] as const);

  let result: unknown;
  try {
    result = await withTimeout(kernel(inputs, attrs), options.timeoutMs ?? 30_000, () =>
      breach(`did not return within ${options.timeoutMs ?? 30_000} ms`),
    );
  } catch (e) {
    if (e instanceof KernelContractError) throw e;
    throw breach(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }

  for (const [name, before] of snapshots) {
    const after = named.find(([n]) => n === name)?.[1];
    if (after && !sameBits(before, after)) throw breach(`mutated its input '${name}'`);
  }

  const keys = Object.keys(expected);
  const single = keys.length === 1 && keys[0] === "y";
  const outputs: Record<string, unknown> = single
    ? { y: result }
    : (result as Record<string, unknown>);
  if (typeof outputs !== "object" || outputs === null) throw breach("returned no outputs");
  for (const key of keys) {
    const out = outputs[key];
    const label = single ? "its output" : `output '${key}'`;
    if (!isTensor(out)) throw breach(`${label} is not a tensor { shape, data }`);
    if (!(out.data instanceof Float32Array || out.data instanceof Float64Array)) {
      throw breach(`${label} is not a Float32Array or Float64Array`);
    }
    if (dtypeOf(out) !== backend.dtype) {
      throw breach(`${label} has dtype ${dtypeOf(out)}, the backend declares ${backend.dtype}`);
    }
    if (!Array.isArray(out.shape) || !sameShape(out.shape, expected[key])) {
      throw breach(
        `${label} has shape ${formatShape(out.shape)}, expected ${formatShape(expected[key])}`,
      );
    }
    if (out.data.length !== expected[key].reduce((p, d) => p * d, 1)) {
      throw breach(`${label} has ${out.data.length} elements for shape ${formatShape(out.shape)}`);
    }
  }
  return result as Output<O>;
}
