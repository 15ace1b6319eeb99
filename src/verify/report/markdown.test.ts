/** The Markdown report: verdict and counts first, each failure replayable, no markup leaks. */
import { describe, expect, test } from "vitest";
import { NASTY, sampleReport } from "../fixtures/reports.ts";
import { cell, fence, markdownReport } from "./markdown.ts";

const report = await sampleReport();
const md = markdownReport(report);

describe("Markdown report", () => {
  test("it opens with the verdict and one summary row per backend", () => {
    expect(md.startsWith("## tensorlaws: ❌ FAILED: 6 law runs failed")).toBe(true);
    expect(md).toContain("| cpu32 float32 | 4 | 0 | 0 | 0 | none |");
    expect(md).toContain(
      "| overflow-softmax float32 | 0 | 3 | 1 | 0 | softmax 16 ULP, factor 2 (default 8 ULP, factor 2) |",
    );
  });

  test("each failure folds out to its message, budget and replay command", () => {
    const summaries = md.split("\n").filter((l) => l.startsWith("<details><summary>❌"));
    expect(summaries.length).toBe(report.totals.failed);
    expect(md).toContain("replay: npx tensorlaws verify './overflow softmax.ts' --laws B2 --seed");
    expect(md).toContain("budget: softmax 16 ULP, factor 2 (override by overflow-softmax");
  });

  test("table cells cannot break the table or inject HTML", () => {
    expect(cell("a|b\nc<i>&")).toBe("a\\|b c&lt;i&gt;&amp;");
    const row = md.split("\n").find((l) => l.startsWith("| nasty"));
    expect(row?.split(/(?<!\\)\|/).length).toBe(9);
    // Only code blocks, which GitHub shows verbatim, hold the raw text.
    const outsideFences = md.replace(/(`{3,})text\n[\s\S]*?\n\1/g, "");
    expect(outsideFences).not.toContain("<&");
    expect(outsideFences).not.toContain("\u0001");
  });

  test("a fence is longer than any backtick run inside it", () => {
    expect(fence("a ``` b")).toBe("````text\na ``` b\n````");
    const body = md.slice(md.indexOf(`boom ${NASTY.slice(0, 5)}`) - 200);
    expect(body).toMatch(/^[\s\S]*````text\n[\s\S]*```[\s\S]*\n````/);
  });
});
