/**
 * Every law on cpu32 and on the WebGPU backend inside a real browser (vitest's browser mode,
 * vitest.browser.config.ts): the device comes from navigator.gpu, as it would for a user's page.
 * Test names are the Node suite's (properties/describe-laws.ts), so the two runs' verdicts can be
 * laid side by side. A browser without a WebGPU adapter fails the run.
 */
import { afterAll, describe, expect, inject, test } from "vitest";
import type { Backend } from "../src/engine/contract.ts";
import { cpu, cpu32 } from "../src/engine/cpu/index.ts";
import { createWebGpuBackend } from "../src/engine/webgpu/index.ts";
import { runLaw } from "../src/harness/law.ts";
import { allLaws } from "./index.ts";

declare module "vitest" {
  // biome-ignore lint/suspicious/noExportsInTest: vitest types provide/inject by augmenting this interface
  export interface ProvidedContext {
    runs: number;
    seed: number;
  }
}

// The project's types are Node's (no DOM lib): the browser's navigator, as far as it is used.
const { navigator } = globalThis as unknown as { navigator: { gpu?: GPU; userAgent: string } };
const gpu = navigator.gpu;
const webgpu = gpu ? await createWebGpuBackend({ gpu }) : undefined;
afterAll(() => webgpu?.dispose());

test("the browser gives the WebGPU backend an adapter through navigator.gpu", () => {
  expect(gpu, "navigator.gpu is missing: WebGPU is off in this browser").toBeDefined();
  expect(webgpu, "navigator.gpu.requestAdapter() found no adapter").toBeDefined();
  const info = webgpu?.adapterInfo;
  console.info(
    `webgpu in ${navigator.userAgent}: ${info?.vendor} ${info?.architecture} ${info?.description}`,
  );
});

const options = { reference: cpu, numRuns: inject("runs"), seed: inject("seed") };
const backends: Backend[] = webgpu ? [cpu32, webgpu] : [cpu32];
const topics = [...new Set(allLaws.map((l) => l.topic))];

for (const backend of backends) {
  describe(`${backend.name} (${backend.dtype})`, () => {
    for (const topic of topics) {
      describe(topic, () => {
        for (const law of allLaws.filter((l) => l.topic === topic)) {
          test(`${law.id} ${law.title}`, async (ctx) => {
            const result = await runLaw(law, backend, options);
            if (result.status === "not implemented") {
              ctx.skip(`not implemented: ${backend.name} lacks ${result.missing?.join(", ")}`);
            }
            if (result.status === "not applicable") ctx.skip(`not applicable to ${backend.name}`);
            if (result.status === "failed") throw new Error(result.message);
          });
        }
      });
    }
  });
}
