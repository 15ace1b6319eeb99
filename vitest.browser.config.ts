/**
 * The laws in a real browser: `npm run test:browser` runs properties/*.browser.ts inside headless
 * Chromium (vitest's browser mode, Playwright driving the system's Chromium), where the WebGPU
 * backend gets its device from navigator.gpu, not from Dawn's Node binding.
 *
 * Environment: TENSORLAWS_CHROMIUM (default /usr/bin/chromium); TENSORLAWS_RUNS, TENSORLAWS_SEED
 * as in the Node suite (passed to the page with vitest's provide/inject, since the page has no
 * process.env). On a machine without a GPU, Chromium's SwiftShader is the adapter.
 */
import { fileURLToPath } from "node:url";
import { playwright } from "@vitest/browser-playwright";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";
import { CHROMIUM, chromiumArgs } from "./src/verify/test-support.ts";

const browserGoldens = fileURLToPath(new URL("./golden/load.browser.ts", import.meta.url));

/** golden/load.ts reads the golden files with node:fs; a page imports them statically. */
const goldensWithoutFs: Plugin = {
  name: "tensorlaws:goldens-without-fs",
  enforce: "pre",
  resolveId(source, importer) {
    if (/(^|\/)golden\/load\.ts$|^\.\/load\.ts$/.test(source) && importer !== browserGoldens) {
      if (source === "./load.ts" && !importer?.includes("/golden/")) return null;
      return browserGoldens;
    }
    return null;
  },
};

const env = process.env;

export default defineConfig({
  plugins: [goldensWithoutFs],
  // Dawn's Node binding is a native addon the page never loads (createWebGpuBackend takes
  // navigator.gpu there); keep Vite from trying to bundle it.
  // The laws' npm dependencies, pre-bundled up front: found one by one during the run, each
  // discovery reloads the page mid-test.
  optimizeDeps: {
    exclude: ["webgpu"],
    include: [
      "@stdlib/math-base-special-betainc",
      "@stdlib/math-base-special-erf",
      "@stdlib/math-base-special-erfc",
      "@stdlib/math-base-special-gammainc",
      "@stdlib/math-base-special-gammaln",
      "@stdlib/stats-base-dists-beta-quantile",
      "@stdlib/stats-base-dists-binomial-quantile",
      "@stdlib/stats-base-dists-chisquare-quantile",
      "@stdlib/stats-base-dists-normal-cdf",
      "@stdlib/stats-base-dists-normal-quantile",
      "@stdlib/stats-base-dists-t-cdf",
      "fast-check",
    ],
  },
  test: {
    include: ["properties/**/*.browser.ts"],
    // cpu32 and webgpu in two tabs at once, as the Node suite runs its two law files.
    maxWorkers: 2,
    // As the Node suite (properties/describe-laws.ts): the large-size laws take minutes on SwiftShader.
    testTimeout: 180_000,
    provide: {
      runs: env.TENSORLAWS_RUNS ? Number(env.TENSORLAWS_RUNS) : 100,
      seed: env.TENSORLAWS_SEED ? Number(env.TENSORLAWS_SEED) : 20261122,
    },
    browser: {
      enabled: true,
      headless: true,
      screenshotFailures: false,
      provider: playwright({
        launchOptions: {
          executablePath: CHROMIUM,
          args: chromiumArgs,
        },
      }),
      instances: [{ browser: "chromium" }],
    },
  },
});
