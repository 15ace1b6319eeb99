/**
 * The ULP contract: a backend's output on a golden case, compared with the exact value within
 * the op's budget for the backend's dtype (src/harness/budgets.ts), and the ULP error it actually made.
 */

import { call } from "../src/engine/call.ts";
import type { Backend, OpName } from "../src/engine/contract.ts";
import { cast, type Tensor } from "../src/engine/tensor.ts";
import { toleranceFields } from "../src/harness/budgets.ts";
import { budgetFor, compare, type Mismatch, ulpDistance } from "../src/harness/tolerance.ts";
import { type GoldenCase, goldenExpected, goldenInputs } from "./load.ts";

export interface GoldenResult {
  /** One summary per output that broke the budget (empty when the case passes). */
  mismatches: Mismatch[];
  /** Largest ULP distance from the correctly rounded exact value, over finite expected values. */
  maxUlps: number;
  /** Largest |actual − exact| / tolerance: how much of its budget the backend used (≤ 1 passes). */
  budgetUsed: number;
}

/** Runs one golden case of `op` on `backend` and measures it against the exact values. */
export async function checkGoldenCase(
  backend: Backend,
  op: OpName,
  c: GoldenCase,
  options: { timeoutMs?: number } = {},
): Promise<GoldenResult> {
  const inputs = goldenInputs(c, backend.dtype);
  const actual = (await call(backend, op, inputs as never, c.attrs as never, options)) as unknown;
  const exact = goldenExpected(c);
  const single = Object.keys(exact).length === 1 && "y" in exact;
  const fields = toleranceFields(
    op,
    goldenInputs(c, "float64") as never,
    c.attrs as never,
    (single ? exact.y : exact) as never,
    backend.dtype,
    budgetFor(backend, op),
  );
  const mismatches: Mismatch[] = [];
  let maxUlps = 0;
  let budgetUsed = 0;
  for (const [key, e] of Object.entries(exact)) {
    const a = (single ? actual : (actual as Record<string, Tensor>)[key]) as Tensor;
    // The exact value as the dtype holds it: beyond float32's range it is ±∞.
    const rounded = cast(e, backend.dtype).data;
    const { tol, rule } = fields[key];
    const label = `case "${c.name}": ${op}${single ? "" : `.${key}`} vs exact`;
    const m = compare(label, a.data, rounded, tol, a.shape, backend.dtype, rule);
    if (m.failing > 0) mismatches.push(m);
    for (let i = 0; i < rounded.length; i++) {
      if (!Number.isFinite(rounded[i])) continue;
      maxUlps = Math.max(maxUlps, ulpDistance(a.data[i], rounded[i], backend.dtype));
      const diff = Math.abs(a.data[i] - rounded[i]);
      budgetUsed = Math.max(budgetUsed, diff === 0 ? 0 : diff / tol[i]);
    }
  }
  return { mismatches, maxUlps, budgetUsed };
}
