/**
 * Reads the golden files (`golden/<op>.json`, written by `npm run golden`) into tensors of a
 * backend's dtype, with the exact expected values as float64 numbers.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { OpName } from "../src/engine/contract.ts";
import {
  type FloatDType,
  type IndexTensor,
  indices,
  type Tensor,
  tensor,
} from "../src/engine/tensor.ts";

export interface GoldenTensor {
  shape: number[];
  data: (string | number)[];
  int?: boolean;
}

export interface GoldenCase {
  name: string;
  inputs: Record<string, GoldenTensor>;
  attrs: Record<string, unknown>;
  expected: Record<string, GoldenTensor>;
  allowNaN?: boolean;
}

export interface GoldenFile {
  op: string;
  description: string;
  cases: GoldenCase[];
}

export const GOLDEN_DIR = dirname(fileURLToPath(import.meta.url));

/** Every golden file, by name (without .json), in name order. */
export function loadGoldens(dir = GOLDEN_DIR): Map<string, GoldenFile> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort();
  return new Map(
    files.map((f) => [
      f.slice(0, -5),
      JSON.parse(readFileSync(join(dir, f), "utf8")) as GoldenFile,
    ]),
  );
}

/** A golden input as a tensor of `dtype` (exact: every golden input is a float32 value). */
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

/** The exact expected values (40 significant digits) as the nearest float64 numbers. */
export function goldenExpected(c: GoldenCase): Record<string, Tensor> {
  return Object.fromEntries(
    Object.entries(c.expected).map(([k, v]) => [k, tensor("float64", v.shape, v.data.map(Number))]),
  );
}

/** Whether a golden file describes a kernel of the backend contract (not a law-side reference). */
export function isKernelOp(op: string, kernelOps: readonly string[]): op is OpName {
  return kernelOps.includes(op);
}
