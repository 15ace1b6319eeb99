/**
 * Registers every law as a vitest test for each backend. Test names are the laws' sentences, so
 * `vitest` reads as the documentation of what each backend obeys.
 */
import { afterAll, describe, test } from "vitest";
import type { Backend } from "../src/engine/contract.ts";
import { envOptions, runLaw } from "../src/harness/law.ts";
import { disposeAll, reference } from "../src/verify/backends.ts";
import { allLaws } from "./index.ts";

export function describeLaws(backends: readonly Backend[]): void {
  // The WebGPU device keeps the process alive until it is destroyed.
  afterAll(() => disposeAll(backends));
  const options = envOptions(reference);
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
            }, 180_000);
          }
        });
      }
    });
  }
}
