/**
 * A counterexample reads as the bug: where a law is not about edge values, its generators shrink
 * to ordinary ones, so a known-bad kernel is reported on the smallest plain case that shows its
 * bug, not on a subnormal that reads like a rounding complaint.
 */
import { expect, test } from "vitest";
import { envOptions, runLaw } from "../src/harness/law.ts";
import { allMutants } from "../src/selftest/buggy/index.ts";
import { reference } from "../src/verify/backends.ts";
import { allLaws } from "./index.ts";

test("dropout active in evaluation mode is reported by E3a on x = [1], p = 0.5", async () => {
  const law = allLaws.find((l) => l.id === "E3a");
  const bad = allMutants.find((m) => m.backend.name === "dropout-eval-drops");
  if (!law || !bad) throw new Error("E3a or the dropout-eval-drops mutant is missing");
  // Whatever the seed: the default one and a few others.
  for (const seed of [undefined, 1, 2, 3]) {
    const options = { ...envOptions(reference), ...(seed === undefined ? {} : { seed }) };
    const result = await runLaw(law, bad.backend, options);
    expect(result.status).toBe("failed");
    expect(JSON.parse(result.failure?.counterexample?.value ?? "null")).toMatchObject([
      { x: { shape: [1], values: [1] }, p: 0.5 },
    ]);
    // The output is the input dropped (0) or rescaled (2): the bug, not a rounding.
    expect(result.failure?.detail).toMatch(/p = 0\.5: output 0 is [02], input was 1$/);
  }
});
