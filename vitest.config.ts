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
  },
});
