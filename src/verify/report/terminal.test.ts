/** The terminal summary: a line per law that ran, every failure in full, counts per backend. */
import { describe, expect, test } from "vitest";
import { sampleReport } from "../fixtures/reports.ts";
import { terminalReport } from "./terminal.ts";

const report = await sampleReport();
const text = terminalReport(report);

describe("terminal report", () => {
  test("each law that ran has one line with a verdict per backend", () => {
    const b2 = text.split("\n").find((l) => l.startsWith("  B2 "));
    expect(b2).toMatch(/✓ cpu32 {2}✗ overflow-softmax {2}✗ nasty/);
  });

  test("a failure shows the worst error against its budget, the counterexample and the replay", () => {
    const block = text.slice(text.indexOf("✗ B2 on overflow-softmax"));
    expect(block).toContain("worst at [0, 0]: actual NaN, expected 0.500000000");
    expect(block).toContain(
      "budget: softmax 16 ULP, factor 2 (override by overflow-softmax; default 8 ULP, factor 2)",
    );
    expect(block).toMatch(/counterexample \(shrunk \d+ times\): \[/);
    expect(block).toMatch(
      /replay: npx tensorlaws verify '.\/overflow softmax.ts' --laws B2 --seed 20261122 --path [\d:]+\n/,
    );
  });

  test("a kernel that throws is reported as a broken contract, not as a law that does not hold", () => {
    const block = text.slice(text.indexOf("✗ B1 on nasty"));
    expect(block).toMatch(
      /^✗ B1 on nasty[^\n]*\n {2}a kernel broke the contract:\n {4}KernelContractError: softmax: kernel of backend/,
    );
  });

  test("counts, the ops a backend lacks and the verdict close the summary", () => {
    expect(text).toContain(
      "overflow-softmax: 0 passed, 3 failed, 1 not implemented, 0 not applicable",
    );
    expect(text).toContain("ops it lacks, by laws they would unlock: relu (1)");
    expect(text).toMatch(/FAILED: 6 law runs failed \(\d+\.\d s\)\n$/);
  });

  test("control characters from a backend's name or message cannot reach the terminal", () => {
    expect(text).toContain("nasty <&\"'|>\uFFFD```");
    const controls = [...text].filter((ch) => ch < " " && ch !== "\n");
    expect(controls).toEqual([]);
  });

  test("colours only when asked for", () => {
    expect(text).not.toContain("\x1b[");
    expect(terminalReport(report, { color: true })).toContain("\x1b[31m✗");
  });
});
