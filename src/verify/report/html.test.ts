/**
 * The HTML report opens in a real browser: headless Chromium loads the file from disk with no
 * network, runs it without a console error, and every plot draws a non-empty SVG.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpu32 } from "../../engine/cpu/index.ts";
import { allMutants } from "../../selftest/buggy/index.ts";
import { launchChromium } from "../test-support.ts";
import { selectLaws, verify } from "../verify.ts";
import { htmlExtras, htmlReport } from "./html.ts";

const mutant = allMutants.find((m) => m.backend.name === "softmax-no-max-shift")!;
let file = "";
let html = "";

beforeAll(async () => {
  const targets = [
    { backend: cpu32, args: ["--builtin", "cpu32"] },
    { backend: mutant.backend, args: ["--mutant", "softmax-no-max-shift"] },
  ];
  const report = await verify(targets, {
    laws: selectLaws({ laws: ["B1", "B5a", "I1a", "G1a", "I4.softmax", "I4.exp"] }),
    numRuns: 5,
  });
  const extras = await htmlExtras(
    targets.map((t) => t.backend),
    cpu32,
    { width: 32, depth: 4, batch: 32 },
  );
  html = await htmlReport(report, extras);
  file = join(mkdtempSync(join(tmpdir(), "tensorlaws-html-")), "report.html");
  writeFileSync(file, html);
}, 120_000);

describe("the HTML report", () => {
  it("is one file that loads nothing from anywhere else", () => {
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)/);
    expect(readFileSync(file, "utf8").length).toBeGreaterThan(100_000);
  });

  describe("in headless Chromium", () => {
    const problems: string[] = [];
    let plots: { id: string; svgNodes: number }[] = [];
    let failures = "";
    const browser = launchChromium();
    afterAll(async () => (await browser).close());

    beforeAll(async () => {
      const page = await (await browser).newPage();
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning")
          problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
      page.on("request", (r) => {
        if (!r.url().startsWith("file:")) problems.push(`request to ${r.url()}`);
      });
      await page.goto(pathToFileURL(file).href);
      plots = await page.$$eval("figure[data-plot]", (figs) =>
        figs.map((f) => ({
          id: f.getAttribute("data-plot") ?? "",
          svgNodes: f.querySelectorAll("svg *").length,
        })),
      );
      failures = (await page.textContent("table.verdicts")) ?? "";
    }, 60_000);

    it("runs without a console error, an uncaught exception or a network request", () => {
      expect(problems).toEqual([]);
    });

    it("draws every plot as a non-empty SVG: budget use, ULP ledger and the notes' pictures", () => {
      expect(plots.map((p) => p.id)).toEqual([
        "budget-use",
        "ulp-ledger",
        "tanh-histograms",
        "tanh-saturation",
        "relu-histograms",
        "relu-scale",
        "dead-relu",
        "gradient-norms",
        "bn-running-mean",
        "bn-running-var",
        "dropout-mean",
      ]);
      for (const p of plots) expect(p.svgNodes, p.id).toBeGreaterThan(10);
    });

    it("shows a failing law with its worst error, counterexample and replay command", () => {
      expect(failures).toContain("B1");
      expect(failures).toMatch(/outside; worst at/);
      expect(failures).toContain("counterexample (shrunk");
      expect(failures).toContain("npx tensorlaws verify --mutant softmax-no-max-shift --laws B1");
    });
  });
});
