import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "properties/**/*.test.ts",
      "src/**/*.test.ts",
      "golden/**/*.test.ts",
      "bench/**/*.test.ts",
      "adapters/**/*.test.ts",
    ],
    testTimeout: 60_000,
    // Vitest's default on 2 cores is one worker: files would run one after another while the
    // WebGPU laws wait on SwiftShader. Two workers: 75 s instead of 120 s on the CI machine.
    maxWorkers: 2,
  },
});
