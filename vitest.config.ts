import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "properties/**/*.test.ts",
      "src/**/*.test.ts",
      "golden/**/*.test.ts",
      "bench/**/*.test.ts",
    ],
    // The WebGPU unit tests need an adapter; they join the default run with the backend (issue 4).
    exclude: process.env.TENSORLAWS_WEBGPU === "1" ? [] : ["src/webgpu/**"],
    testTimeout: 60_000,
  },
});
