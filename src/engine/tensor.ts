/**
 * Host tensors: a shape and a flat, row-major typed array. That is all a kernel sees,
 * so a CPU loop, a GPU and a native library all fit the same contract.
 */

export type FloatDType = "float32" | "float64";
export type DType = FloatDType | "int32";

export type FloatArray = Float32Array | Float64Array;

/** A floating-point tensor: the values every kernel computes on. */
export interface Tensor {
  readonly shape: readonly number[];
  readonly data: FloatArray;
}

/** An integer tensor: class indices for cross-entropy and NLL. */
export interface IndexTensor {
  readonly shape: readonly number[];
  readonly data: Int32Array;
}

export type AnyTensor = Tensor | IndexTensor;

/** Half the spacing of `dtype`'s floats at 1: the relative error of one correct rounding. */
export function unitRoundoff(dtype: FloatDType): number {
  return dtype === "float32" ? 2 ** -24 : 2 ** -53;
}

export function dtypeOf(t: AnyTensor): DType {
  if (t.data instanceof Float64Array) return "float64";
  if (t.data instanceof Float32Array) return "float32";
  return "int32";
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function arrayFor(dtype: FloatDType, n: number): FloatArray {
  return dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
}

/** Builds a float tensor of `dtype`, rounding the values to it (float32 rounds to nearest). */
export function tensor(
  dtype: FloatDType,
  shape: readonly number[],
  values: ArrayLike<number> | number,
): Tensor {
  const n = sizeOf(shape);
  const data = arrayFor(dtype, n);
  if (typeof values === "number") data.fill(values);
  else {
    if (values.length !== n) {
      throw new RangeError(
        `tensor: ${values.length} values do not fill shape [${shape.join(", ")}]`,
      );
    }
    data.set(values);
  }
  return { shape: [...shape], data };
}

export function scalar(dtype: FloatDType, value: number): Tensor {
  return tensor(dtype, [], [value]);
}

export function indices(shape: readonly number[], values: ArrayLike<number>): IndexTensor {
  const data = Int32Array.from(values);
  return { shape: [...shape], data };
}

/** Converts a float tensor to another dtype (rounding to float32 when narrowing). */
export function cast(t: Tensor, dtype: FloatDType): Tensor {
  if (dtypeOf(t) === dtype) return t;
  const data = arrayFor(dtype, t.data.length);
  data.set(t.data);
  return { shape: [...t.shape], data };
}

export function cloneTensor<T extends AnyTensor>(t: T): T {
  return { shape: [...t.shape], data: t.data.slice() } as unknown as T;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** NumPy broadcasting: align shapes on the right; each pair of dims must be equal or 1. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | undefined {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * For each flat index of the broadcast `out` shape, the flat index into a tensor of shape
 * `from` that broadcasting reads. Used by the reference kernels and their gradients.
 */
export function broadcastIndex(from: readonly number[], out: readonly number[]): Int32Array {
  const map = new Int32Array(sizeOf(out));
  if (map.length === 0) return map;
  const rank = out.length;
  const offset = rank - from.length;
  const fromStrides = stridesOf(from);
  // Per output dim, the step in `from`: 0 where broadcasting repeats its one element.
  const step = out.map((_, d) =>
    d < offset || from[d - offset] === 1 ? 0 : fromStrides[d - offset],
  );
  const row = rank === 0 ? 1 : out[rank - 1];
  const along = rank === 0 ? 0 : step[rank - 1];
  // Row by row, the outer coordinates counted like an odometer: a division per element and dim
  // cost more than the kernels that read the map (2.7 s of 9 s on 16.8 million elements).
  const coord = new Array<number>(rank).fill(0);
  let base = 0;
  for (let flat = 0; flat < map.length; flat += row) {
    for (let j = 0; j < row; j++) map[flat + j] = base + j * along;
    for (let d = rank - 2; d >= 0; d--) {
      base += step[d];
      if (++coord[d] < out[d]) break;
      base -= step[d] * out[d];
      coord[d] = 0;
    }
  }
  return map;
}
