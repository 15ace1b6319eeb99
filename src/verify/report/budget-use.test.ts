import { describe, expect, it } from "vitest";
import { budgetShare } from "../../harness/law.ts";
import { budgetUseReport, mergeBudgetUse } from "./budget-use.ts";

describe("budget use", () => {
  it("is the worst element's |error| / tolerance, and infinite where NaN or ±∞ is missed", () => {
    expect(budgetShare([1, 2.5], [1, 2], [1, 1])).toBe(0.5);
    expect(budgetShare([1, 2], [1, 2], [0, 0])).toBe(0);
    expect(budgetShare([0], [Number.NaN], [1])).toBe(Number.POSITIVE_INFINITY);
    expect(budgetShare([Number.NaN], [Number.NaN], [1])).toBe(0);
    expect(budgetShare([1], [Number.POSITIVE_INFINITY], [1])).toBe(Number.POSITIVE_INFINITY);
  });

  it("bins the shares of each op: exact calls apart, quarter decades up to 1, then outside", () => {
    const [u] = budgetUseReport({ softmax: [0, 0, 0.3, 1, 2] });
    expect(u).toMatchObject({ op: "softmax", calls: 5, max: 2 });
    expect(u.histogram).toEqual([
      { upTo: 0, calls: 2 },
      { upTo: 10 ** -0.5, calls: 1 },
      { upTo: 1, calls: 1 },
      { upTo: "Infinity", calls: 1 },
    ]);
  });

  it("adds the bins of several laws op by op", () => {
    const a = budgetUseReport({ exp: [0.3], tanh: [0] });
    const b = budgetUseReport({ exp: [0.31, Number.POSITIVE_INFINITY] });
    expect(mergeBudgetUse([a, b])).toEqual([
      {
        op: "exp",
        calls: 3,
        max: "Infinity",
        histogram: [
          { upTo: 10 ** -0.5, calls: 2 },
          { upTo: "Infinity", calls: 1 },
        ],
      },
      { op: "tanh", calls: 1, max: 0, histogram: [{ upTo: 0, calls: 1 }] },
    ]);
  });
});
