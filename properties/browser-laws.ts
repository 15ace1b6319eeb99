/**
 * Registers every law as a vitest test for each backend inside a browser (vitest's browser mode,
 * vitest.browser.config.ts), as properties/describe-laws.ts does in Node and under the same test
 * names, so that the two runs' verdicts compare line by line. Cases per property and the seed
 * come from the config through vitest's provide/inject: a page has no process.env.
 */
import { describe, inject, test } from "vitest";
import type { Backend } from "../src/engine/contract.ts";
import { cpu } from "../src/engine/cpu/index.ts";
import { runLaw } from "../src/harness/law.ts";
import { allLaws } from "./index.ts";

declare module "vitest" {
  export interface ProvidedContext {
    runs: number;
    seed: number;
  }
}

export function describeLawsInBrowser(backends: readonly Backend[]): void {
  const options = { reference: cpu, numRuns: inject("runs"), seed: inject("seed") };
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
}
