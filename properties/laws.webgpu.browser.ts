/**
 * Every law on the WebGPU backend inside a real browser (vitest.browser.config.ts): the device
 * comes from navigator.gpu, as it would for a user's page. A browser without a WebGPU adapter
 * fails the run.
 */
import { afterAll, expect, test } from "vitest";
import { createWebGpuBackend } from "../src/engine/webgpu/index.ts";
import { describeLawsInBrowser } from "./browser-laws.ts";

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

describeLawsInBrowser(webgpu ? [webgpu] : []);
