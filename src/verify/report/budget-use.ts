/**
 * Budget use (schema.ts's BudgetUseReport): the shares of an op's budget that law.ts recorded
 * per call, binned so that a report stays small and reports of several laws add up.
 */
import { type BudgetUseReport, jsonNumber } from "./schema.ts";

/** Upper edges of the bins: exact, quarter decades from 1e-4 to 1, then outside the budget. */
export const SHARE_EDGES: readonly number[] = [
  0,
  ...Array.from({ length: 17 }, (_, i) => 10 ** ((i - 16) / 4)),
  Number.POSITIVE_INFINITY,
];

const binOf = (share: number): number => {
  if (Number.isNaN(share)) return SHARE_EDGES.length - 1;
  const i = SHARE_EDGES.findIndex((edge) => share <= edge);
  return i < 0 ? SHARE_EDGES.length - 1 : i;
};

const upTo = (x: number | string): number => (x === "Infinity" ? Number.POSITIVE_INFINITY : +x);

/** One entry per op, ops in name order. */
export function budgetUseReport(
  shares: Readonly<Record<string, readonly number[]>> = {},
): BudgetUseReport[] {
  return Object.keys(shares)
    .sort()
    .map((op) => {
      const counts = new Array<number>(SHARE_EDGES.length).fill(0);
      let max = 0;
      for (const s of shares[op]) {
        counts[binOf(s)]++;
        max = Number.isNaN(s) ? Number.POSITIVE_INFINITY : Math.max(max, s);
      }
      return {
        op,
        calls: shares[op].length,
        max: jsonNumber(max),
        histogram: SHARE_EDGES.flatMap((edge, i) =>
          counts[i] > 0 ? [{ upTo: jsonNumber(edge), calls: counts[i] }] : [],
        ),
      };
    });
}

/** The budget use of several laws together (the same op's bins added). */
export function mergeBudgetUse(parts: readonly (readonly BudgetUseReport[])[]): BudgetUseReport[] {
  const byOp = new Map<string, { calls: number; max: number; bins: number[] }>();
  for (const part of parts) {
    for (const u of part) {
      const m = byOp.get(u.op) ?? {
        calls: 0,
        max: 0,
        bins: new Array<number>(SHARE_EDGES.length).fill(0),
      };
      m.calls += u.calls;
      m.max = Math.max(m.max, upTo(u.max));
      for (const h of u.histogram) m.bins[binOf(upTo(h.upTo))] += h.calls;
      byOp.set(u.op, m);
    }
  }
  return [...byOp.keys()].sort().map((op) => {
    const m = byOp.get(op)!;
    return {
      op,
      calls: m.calls,
      max: jsonNumber(m.max),
      histogram: SHARE_EDGES.flatMap((edge, i) =>
        m.bins[i] > 0 ? [{ upTo: jsonNumber(edge), calls: m.bins[i] }] : [],
      ),
    };
  });
}
