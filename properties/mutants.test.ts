/**
 * The suite's self-test: every shipped known-bad backend must be rejected, by the very law
 * named for its bug. A law that cannot fail is worth nothing.
 */
import { describe, expect, test } from "vitest";
import { envOptions, runLaw } from "../src/harness/law.ts";
import { allMutants } from "../src/selftest/buggy/index.ts";
import { reference } from "../src/verify/backends.ts";
import { allLaws } from "./index.ts";

const options = envOptions(reference);

describe("every known-bad kernel is rejected", () => {
  test("at least 15 known-bad backends ship, each naming the laws that catch it", () => {
    expect(allMutants.length).toBeGreaterThanOrEqual(15);
    for (const m of allMutants) expect(m.caughtBy.length).toBeGreaterThan(0);
  });

  test("a convention difference is reported once: another Philox word layout fails E4c, and the gradient laws G1f and G1g still pass", async () => {
    const m = allMutants.find((x) => x.backend.name === "dropout-philox-word-1");
    expect(m).toBeDefined();
    if (!m) return;
    for (const id of ["G1f", "G1g"]) {
      const law = allLaws.find((l) => l.id === id);
      if (!law) throw new Error(`no law ${id}`);
      const result = await runLaw(law, m.backend, options);
      expect(result.status, `${id}: ${result.message}`).toBe("passed");
    }
  }, 180_000);

  for (const m of allMutants) {
    for (const id of m.caughtBy) {
      test(`${id} catches ${m.backend.name}: ${m.bug}`, async () => {
        const law = allLaws.find((l) => l.id === id);
        expect(law, `no law has id ${id}`).toBeDefined();
        if (!law) return;
        const result = await runLaw(law, m.backend, options);
        expect(result.status, `law ${id} should reject ${m.backend.name}`).toBe("failed");
      }, 180_000);
    }
  }
});
