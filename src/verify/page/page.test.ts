/**
 * End to end: `tensorlaws serve`'s page in headless Chromium on SwiftShader. Our own WebGPU
 * backend passes a law and measures its ULP ledger; then, in the same page, the naive softmax
 * example shader fails law B1 with its counterexample; the JSON report downloads and meets the
 * schema; nothing is fetched from the network.
 *
 * This proves the page's wiring, not the laws: every law on the WebGPU backend in a browser is
 * `npm run test:browser` (properties/laws.webgpu.browser.ts). So one browser and one page serve
 * every test, the laws run few cases, and the ledger is measured on softmax only (the page's
 * `?ledger=` parameter; all of tensorlaws' own ops compile every kernel, 11 s on SwiftShader).
 */
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportProblems } from "../report/schema.ts";
import { startServer } from "../serve.ts";
import { launchChromium } from "../test-support.ts";

let server: Server;
let browser: Browser;
let page: Page;
let url = "";
const problems: string[] = [];

beforeAll(async () => {
  server = await startServer(0);
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await launchChromium();
  page = await open();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
});

// Predicates that run in the page: self-contained functions (Playwright sends their source; the
// page's CSP forbids evaluating strings, and the project's types have no DOM).
type InPage = { document: { getElementById(id: string): { textContent: string | null } | null } };
const adapterKnown = () =>
  !(
    (globalThis as unknown as InPage).document.getElementById("adapter")?.textContent ?? "Looking"
  ).startsWith("Looking");
const runEnded = () =>
  /^(passed|FAILED|error)/.test(
    (globalThis as unknown as InPage).document.getElementById("status")?.textContent ?? "",
  );

async function open(): Promise<Page> {
  const page = await browser.newPage({
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(url)) problems.push(`request to ${r.url()}`);
  });
  await page.goto(`${url}?ledger=softmax`);
  await page.waitForFunction(adapterKnown);
  return page;
}

async function runLaws(laws: string, runs: number): Promise<string> {
  await page.fill("#laws", laws);
  await page.fill("#runs", String(runs));
  await page.click("#run");
  await page.waitForFunction(runEnded, null, { timeout: 120_000 });
  return (await page.textContent("#status")) ?? "";
}

describe("the page of tensorlaws serve, in headless Chromium", () => {
  it("finds the browser's WebGPU adapter", async () => {
    expect(await page.textContent("#adapter")).toMatch(/^WebGPU adapter: /);
  });

  it("passes law B1 with tensorlaws' own WebGPU backend on navigator.gpu, and measures its ledger", async () => {
    expect(await page.isChecked("#kernel-builtin")).toBe(true);
    expect(await runLaws("B1", 3)).toBe(
      "passed: 1 passed, 0 failed, 0 not implemented, 0 not applicable",
    );
    // The golden cases, inlined by build.ts, measured on the backend: of softmax only (?ledger=).
    const ledger = await page.$$eval("table.ledger tbody tr", (rows) =>
      rows.map((r) => r.textContent ?? ""),
    );
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatch(/^softmax(0|[\d.]+ ULP)/);
  }, 180_000);

  it("fails law B1 for the naive softmax example shader, showing the counterexample and the replay", async () => {
    await page.click('button[data-example="softmax-naive"]');
    expect(await page.inputValue("#source")).toContain("without subtracting the row max");
    // B5a needs logsumexp, which the shader is not: "not implemented".
    const status = await runLaws("B1,B5a", 10);
    expect(status).toMatch(/^FAILED: 0 passed, 1 failed, 1 not implemented/);
    const failures = (await page.textContent("table.verdicts")) ?? "";
    expect(failures).toContain("B1");
    expect(failures).toMatch(/softmax entry \d+ is NaN/);
    expect(failures).toContain("counterexample (shrunk");
    expect(failures).toContain("npx tensorlaws verify --wgsl softmax=softmax.wgsl --laws B1");
    // The HTML report's view: the ULP ledger of the shader and the notes' pictures, drawn.
    const plots = await page.$$eval("figure[data-plot]", (figs) =>
      figs.map((f) => `${f.getAttribute("data-plot")} ${f.querySelectorAll("svg *").length > 10}`),
    );
    expect(plots).toContain("ulp-ledger true");
    expect(plots).toContain("gradient-norms true");
    const shot = await page.screenshot({ fullPage: false });
    expect(shot.length).toBeGreaterThan(20_000);
    if (process.env.TENSORLAWS_SCREENSHOTS) {
      await page.screenshot({ path: `${process.env.TENSORLAWS_SCREENSHOTS}/page.png` });
    }

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const report = JSON.parse(readFileSync((await download.path()) ?? "", "utf8"));
    expect(reportProblems(report)).toEqual([]);
    const b1 = report.backends[0].results.find((r: { id: string }) => r.id === "B1");
    expect(b1.status).toBe("failed");
  }, 180_000);

  it("logs no error and fetches nothing from anywhere but the page's own server", () => {
    expect(problems).toEqual([]);
  });
});
