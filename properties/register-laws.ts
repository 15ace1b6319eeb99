/**
 * Registers every law as a vitest test for each backend, grouped by backend and topic. Test
 * names are the laws' sentences, so `vitest` reads as the documentation of what each backend
 * obeys; Node (describe-laws.ts) and the browser (browser-laws.ts) register the same names, so
 * their verdicts compare line by line.
 */
import { describe, test } from "vitest";
import type { Backend } from "../src/engine/contract.ts";
import { type RunOptions, runLaw } from "../src/harness/law.ts";
import { allLaws } from "./index.ts";

export function registerLaws(backends: readonly Backend[], options: RunOptions): void {
  const topics = [...new Set(allLaws.map((l) => l.topic))];
  for (const backend of backends) {
    describe(`${backend.name} (${backend.dtype})`, () => {
      for (const topic of topics) {
        describe(topic, () => {
          // A law that does not apply to a backend (the device laws to one without device
          // tensors) is no test of it: `verify` lists it as "not applicable".
          const laws = allLaws.filter(
            (l) => l.topic === topic && (!l.appliesTo || l.appliesTo(backend)),
          );
          for (const law of laws) {
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
