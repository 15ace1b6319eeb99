/// <reference types="vite/client" />
/**
 * golden/load.ts for a browser, where there is no file system: the golden files are imported
 * statically (Vite's import.meta.glob; the page's esbuild bundle replaces the glob with the same
 * object, src/verify/page/build.ts). Browser bundles resolve `golden/load.ts` to this file; the
 * helpers below must stay the same as load.ts's (golden/load.browser.test.ts compares them).
 */
import type { OpName } from "../src/engine/contract.ts";
import {
  type FloatDType,
  type IndexTensor,
  indices,
  type Tensor,
  tensor,
} from "../src/engine/tensor.ts";
import type { GoldenCase, GoldenFile, GoldenTensor } from "./load.ts";

export type { GoldenCase, GoldenFile, GoldenTensor };

/** No directory in a browser: the files are bundled. */
export const GOLDEN_DIR = "golden";

const files = import.meta.glob<GoldenFile>("./*.json", { eager: true, import: "default" });

/** Every golden file, by name (without .json), in name order. */
export function loadGoldens(): Map<string, GoldenFile> {
  return new Map(
    Object.keys(files)
      .sort()
      .map((path) => [path.slice(2, -5), files[path]]),
  );
}

export function goldenInput(t: GoldenTensor, dtype: FloatDType): Tensor | IndexTensor {
  if (t.int) return indices(t.shape, t.data.map(Number));
  return tensor(dtype, t.shape, t.data.map(Number));
}

export function goldenInputs(
  c: GoldenCase,
  dtype: FloatDType,
): Record<string, Tensor | IndexTensor> {
  return Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, goldenInput(v, dtype)]));
}

export function goldenExpected(c: GoldenCase): Record<string, Tensor> {
  return Object.fromEntries(
    Object.entries(c.expected).map(([k, v]) => [k, tensor("float64", v.shape, v.data.map(Number))]),
  );
}

export function isKernelOp(op: string, kernelOps: readonly string[]): op is OpName {
  return kernelOps.includes(op);
}
