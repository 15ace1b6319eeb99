/**
 * The mirror image of the known-bad kernels: correct float32 backends written the way real
 * libraries write them (online softmax, pairwise and SIMD-lane sums, Welford, reciprocal division,
 * gradients from the rounded output, ±2 ULP transcendentals) must pass every law. A law that
 * rejects one has a budget tuned to cpu32's particular algorithm rather than to the op's
 * conditioning.
 */
import { describe, expect, test } from "vitest";
import type { Backend, OpName } from "../src/engine/contract.ts";
import { cpu32 } from "../src/engine/cpu/index.ts";
import { tensor } from "../src/engine/tensor.ts";
import { envOptions, runLaw } from "../src/harness/law.ts";
import { erf } from "../src/harness/stats.ts";
import { ulpOf } from "../src/harness/tolerance.ts";
import { withBoxedDevice } from "../src/selftest/boxed-device.ts";
import { erf32, goodVariants } from "../src/selftest/variants.ts";
import { reference } from "../src/verify/backends.ts";
import { contractOps } from "../src/verify/verify.ts";
import { allLaws } from "./index.ts";

const options = envOptions(reference);

describe("the known-good variants are what they claim", () => {
  test("their float32 erf is within 1.1 ULP of the float64 erf", () => {
    let worst = 0;
    for (let i = -40_000; i <= 40_000; i++) {
      const x = Math.fround(i * 1.5e-4);
      const exact = erf(x);
      if (exact !== 0)
        worst = Math.max(worst, Math.abs(erf32(x) - exact) / ulpOf(exact, "float32"));
    }
    expect(worst).toBeLessThan(1.1);
  });

  test("each differs from cpu32 on ordinary inputs", async () => {
    const x = tensor(
      "float32",
      [8, 64],
      Array.from({ length: 512 }, (_, i) => Math.sin(i * 12.9898) * 9),
    );
    for (const v of goodVariants) {
      let differs = false;
      for (const op of ["exp", "softmax", "log_softmax", "sigmoid", "gelu"] as const) {
        const a = (await v.kernels[op]?.({ x }, {}))?.data ?? [];
        const b = (await cpu32.kernels[op]?.({ x }, {}))?.data ?? [];
        differs ||= a.some((y, i) => y !== b[i]);
      }
      expect(differs, `${v.name} computes exactly what cpu32 does`).toBe(true);
    }
  });
});

/**
 * I5j holds each elementwise op to I5a's budget on 16.8 million elements: it finds index
 * arithmetic past the grid limit, which these JS kernels do not have, and costs seconds per
 * backend; their rounding meets the same budget in I5a.
 */
const budgetLaws = allLaws.filter((l) => l.id !== "I5j");

/** The ops whose kernel `variant` replaces (the rest are cpu32's own functions). */
const ownOps = (variant: Backend): OpName[] =>
  contractOps.filter((op) => variant.kernels[op] !== cpu32.kernels[op]);

for (const variant of goodVariants) {
  const own = ownOps(variant);
  // A law that calls none of the variant's own kernels makes the same calls to the same
  // functions as on cpu32, so its verdict is cpu32's (laws.test.ts); the harness refuses a call
  // to an op a law does not list, so `law.ops` is what it calls.
  const touched = budgetLaws.filter((law) => law.ops.some((op) => own.includes(op)));
  describe(`${variant.name} (known-good float32)`, () => {
    test(`the ${budgetLaws.length - touched.length} laws that call none of its ${own.length} own kernels run cpu32's functions, so laws.test.ts gives their verdict`, () => {
      for (const law of budgetLaws.filter((l) => !touched.includes(l)))
        for (const op of law.ops)
          expect(variant.kernels[op], `${law.id} ${op}`).toBe(cpu32.kernels[op]);
    });
    for (const law of touched) {
      test(`${law.id} accepts ${variant.name}: ${law.title}`, async () => {
        const result = await runLaw(law, variant, options);
        expect(result.message ?? "", `${law.id} rejects ${variant.name}`).toBe("");
        expect(["passed", "not applicable"]).toContain(result.status);
      }, 180_000);
    }
  });
}

describe("a correct device (cpu32's kernels on boxed host tensors)", () => {
  const boxed = withBoxedDevice(cpu32);
  for (const law of allLaws.filter((l) => l.id.startsWith("I6"))) {
    test(`${law.id} accepts it: ${law.title}`, async () => {
      const result = await runLaw(law, boxed, options);
      expect(result.message ?? "", `${law.id} rejects ${boxed.name}`).toBe("");
      expect(result.status).toBe("passed");
    }, 180_000);
  }
});
