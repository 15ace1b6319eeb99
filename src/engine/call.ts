/**
 * The one door to a kernel: validate, run, then check that the kernel kept the contract
 * (right shapes and dtype out, inputs untouched, returned in time).
 *
 * Nothing a kernel returns is trusted: its output is read once, inside try/catch, and the
 * caller gets fresh copies of the shapes and plain views of the typed arrays, so a proxy or a
 * getter in a kernel's output becomes a KernelContractError, never an exception in a law.
 */
import type { Attrs, Backend, Inputs, OpName, Output } from "./contract.ts";
import {
  describeThrown,
  InvalidArgumentError,
  KernelContractError,
  NotImplementedError,
} from "./errors.ts";
import { type AnyTensor, cloneTensor, formatShape, sameShape, type Tensor } from "./tensor.ts";
import { check, describeValue, isOpName, signatures } from "./validate.ts";

export interface CallOptions {
  /** Milliseconds before a kernel call counts as hung (default 30 s). */
  timeoutMs?: number;
}

export function hasOps(backend: Backend, ops: readonly OpName[]): boolean {
  return ops.every((op) => typeof backend.kernels[op] === "function");
}

function sameBits(a: AnyTensor, b: AnyTensor): boolean {
  return sameShape(a.shape, b.shape) && sameValues(a.data, b.data);
}

/** Equal element by element, NaN equal to NaN (whatever its payload). */
function sameValues(a: AnyTensor["data"], b: AnyTensor["data"]): boolean {
  if (a.length !== b.length) return false;
  if (a.constructor !== b.constructor) return slowSameValues(a, b, 0);
  // Byte for byte first. Node's memcmp: 4 ms on 16.8 million elements, where the word loop
  // below takes 17-28 ms and comparing floats three times that.
  const memcmp = (globalThis as { Buffer?: { compare(x: Uint8Array, y: Uint8Array): number } })
    .Buffer?.compare;
  if (memcmp) {
    const ba = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const bb = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return memcmp(ba, bb) === 0 || slowSameValues(a, b, 0);
  }
  const wa = new Int32Array(a.buffer, a.byteOffset, a.byteLength / 4);
  const wb = new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  for (let w = 0; w < wa.length; w++) {
    if (wa[w] !== wb[w]) return slowSameValues(a, b, Math.floor((w * 4) / a.BYTES_PER_ELEMENT));
  }
  return true;
}

function slowSameValues(a: AnyTensor["data"], b: AnyTensor["data"], from: number): boolean {
  for (let i = from; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) return false;
  }
  return true;
}

/** Inputs at least this large keep their copy between calls (see `snapshot`). */
const KEEP_COPY = 1 << 16;
/** A kept copy of the elements at `offset` (bytes) of a buffer. */
interface Kept {
  offset: number;
  data: AnyTensor["data"];
}
const kept = new WeakMap<ArrayBufferLike, Kept[]>();

/**
 * A copy of `t` to compare it with after the kernel ran. A law that hands the same large tensor
 * to several ops (I5j: 16.8 million elements to nine) gets the copy made for the first call back,
 * once it is checked to still hold `t`'s values: comparing costs a fifth of copying.
 */
function snapshot(t: AnyTensor): AnyTensor {
  const { data, shape } = t;
  if (data.length < KEEP_COPY) return cloneTensor(t);
  const list = kept.get(data.buffer) ?? [];
  const i = list.findIndex(
    (k) =>
      k.offset === data.byteOffset &&
      k.data.length === data.length &&
      k.data.constructor === data.constructor,
  );
  if (i >= 0 && sameValues(list[i].data, data)) {
    return { shape: [...shape], data: list[i].data } as AnyTensor;
  }
  const copy = cloneTensor(t);
  const entry = { offset: data.byteOffset, data: copy.data };
  if (i >= 0) list[i] = entry;
  else list.push(entry);
  kept.set(data.buffer, list);
  return copy;
}

/** The `then` of a thenable (a Promise or any object with a then method), or undefined. */
function thenOf(value: unknown): ((ok: unknown, fail: unknown) => unknown) | undefined {
  if ((typeof value !== "object" && typeof value !== "function") || value === null)
    return undefined;
  const then = (value as { then?: unknown }).then;
  return typeof then === "function" ? (then as (ok: unknown, fail: unknown) => unknown) : undefined;
}

/**
 * Waits for a kernel's result under a timeout. A thenable that is not a Promise is waited for
 * too: `await` would adopt it, and one that never settles would hang the caller.
 */
async function withTimeout(value: unknown, ms: number, onTimeout: () => Error): Promise<unknown> {
  const then = thenOf(value);
  if (!then) return value;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = new Promise<unknown>((resolve, reject) => {
    try {
      then.call(value, resolve, reject);
    } catch (e) {
      reject(e);
    }
  });
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// The brand checks of %TypedArray% (they read internal slots and never run a kernel's code).
const typedArrayProto = Object.getPrototypeOf(Float32Array.prototype) as object;
const brand = Object.getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag)?.get as (
  this: unknown,
) => string | undefined;
const bufferOf = Object.getOwnPropertyDescriptor(typedArrayProto, "buffer")?.get as (
  this: unknown,
) => ArrayBuffer;
const offsetOf = Object.getOwnPropertyDescriptor(typedArrayProto, "byteOffset")?.get as (
  this: unknown,
) => number;
const lengthOf = Object.getOwnPropertyDescriptor(typedArrayProto, "length")?.get as (
  this: unknown,
) => number;

/** Reads one output tensor of a kernel, or says what is wrong with it. */
function readOutput(
  out: unknown,
  label: string,
  backend: Backend,
  want: readonly number[],
): Tensor | string {
  if (typeof out !== "object" || out === null) return `${label} is not a tensor { shape, data }`;
  const shapeValue = (out as { shape?: unknown }).shape;
  const dataValue = (out as { data?: unknown }).data;
  if (shapeValue === undefined || dataValue === undefined)
    return `${label} is not a tensor { shape, data }`;
  const tag = brand.call(dataValue);
  if (tag !== "Float32Array" && tag !== "Float64Array") {
    return `${label} is not a Float32Array or Float64Array (got ${tag ?? describeValue(dataValue)})`;
  }
  const dtype = tag === "Float64Array" ? "float64" : "float32";
  if (dtype !== backend.dtype) {
    return `${label} has dtype ${dtype}, the backend declares ${backend.dtype}`;
  }
  if (!Array.isArray(shapeValue)) return `${label} has a shape that is not an array`;
  // A copy, read once, of at most as many entries as the expected rank (plus one, to see more).
  const shape: unknown[] = [];
  const rank = Math.min(shapeValue.length, want.length + 1);
  for (let d = 0; d < rank; d++) shape.push(shapeValue[d]);
  if (shapeValue.length !== want.length || !sameShape(shape as number[], want)) {
    const shown =
      shapeValue.length > want.length + 1
        ? `rank ${shapeValue.length}`
        : formatShape(shape as number[]);
    return `${label} has shape ${shown}, expected ${formatShape(want)}`;
  }
  const length = lengthOf.call(dataValue);
  const n = want.reduce((p, d) => p * d, 1);
  if (length !== n) return `${label} has ${length} elements for shape ${formatShape(want)}`;
  const Ctor = dtype === "float64" ? Float64Array : Float32Array;
  return {
    shape: [...want],
    data: new Ctor(bufferOf.call(dataValue), offsetOf.call(dataValue), length),
  };
}

/**
 * Runs `op` on `backend` after central validation; throws typed errors on any breach:
 * InvalidArgumentError (the caller's input; no kernel ran), NotImplementedError,
 * KernelContractError (the kernel threw, hung, mutated an input or returned the wrong thing).
 */
export async function call<O extends OpName>(
  backend: Backend,
  op: O,
  inputs: Inputs<O>,
  attrs: Attrs<O>,
  options: CallOptions = {},
): Promise<Output<O>> {
  if (!isOpName(op)) {
    throw new InvalidArgumentError(
      typeof op === "string" ? op : describeValue(op),
      "op",
      "not an op of the contract",
    );
  }
  const breach = (reason: string) => new KernelContractError(op, backend.name, reason);
  let kernel: unknown;
  try {
    kernel = backend.kernels[op];
  } catch (e) {
    throw breach(`reading its kernel threw ${describeThrown(e)}`);
  }
  if (typeof kernel !== "function") throw new NotImplementedError(op, backend.name);
  const checked = check(op, inputs, attrs, backend.dtype);
  const clean = checked.inputs as Record<string, AnyTensor>;
  const snapshots = Object.entries(clean).map(([name, t]) => [name, snapshot(t)] as const);
  const timeoutMs = options.timeoutMs ?? 30_000;

  let result: unknown;
  try {
    const returned = (kernel as (i: unknown, a: unknown) => unknown)(checked.inputs, checked.attrs);
    result = await withTimeout(returned, timeoutMs, () =>
      breach(`did not return within ${timeoutMs} ms`),
    );
  } catch (e) {
    if (e instanceof KernelContractError) throw e;
    throw breach(`threw ${describeThrown(e)}`);
  }

  for (const [name, before] of snapshots) {
    if (!sameBits(before, clean[name])) throw breach(`mutated its input '${name}'`);
  }

  const keys = Object.keys(checked.shapes);
  const single = keys.length === 1 && keys[0] === "y";
  try {
    if (single) {
      const out = readOutput(result, "its output", backend, checked.shapes.y);
      if (typeof out === "string") throw breach(out);
      return out as Output<O>;
    }
    if (typeof result !== "object" || result === null) throw breach("returned no outputs");
    // Extra outputs are passed on as they are: a law may check that there are none.
    const outputs: Record<string, unknown> = {};
    for (const key of Object.keys(result)) outputs[key] = (result as Record<string, unknown>)[key];
    for (const key of keys) {
      const out = readOutput(outputs[key], `output '${key}'`, backend, checked.shapes[key]);
      if (typeof out === "string") throw breach(out);
      outputs[key] = out;
    }
    return outputs as Output<O>;
  } catch (e) {
    if (e instanceof KernelContractError) throw e;
    throw breach(`returned an output that could not be read: ${describeThrown(e)}`);
  }
}

/** Every op of the contract as a validated method of one backend (see `ops`). */
export type Ops = {
  readonly [O in OpName]: (inputs: Inputs<O>, attrs: Attrs<O>) => Promise<Output<O>>;
};

/**
 * A backend's kernels behind the one door: `ops(cpu).softmax({ x }, {})` validates its
 * arguments (InvalidArgumentError naming the op and the argument), runs the kernel and checks
 * what it returned. Use this rather than `backend.kernels.*`: a raw kernel trusts its caller
 * (a softmax given a null dimension never returns; a cross-entropy given an out-of-range class
 * returns NaN).
 */
export function ops(backend: Backend, options: CallOptions = {}): Ops {
  const methods: Record<string, unknown> = {};
  for (const op of Object.keys(signatures) as OpName[]) {
    methods[op] = (inputs: unknown, attrs: unknown) =>
      call(backend, op, inputs as never, attrs as never, options);
  }
  return Object.freeze(methods) as Ops;
}
