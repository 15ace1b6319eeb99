/**
 * The goldens of what is not a kernel: the constants and closed forms the laws use on their
 * expected side (C8's activation gains, A4's Gaussian log-density, E1's dropout scale) agree with
 * the exact values, so a law never compares a kernel against a wrong reference.
 */
import { describe, expect, test } from "vitest";
import { call } from "../src/engine/call.ts";
import { cpu, cpu32 } from "../src/engine/cpu/index.ts";
import { tensor } from "../src/engine/tensor.ts";
import { activationGain } from "../src/harness/gain.ts";
import { ulpDistance } from "../src/harness/tolerance.ts";
import { loadGoldens } from "./load.ts";

const goldens = loadGoldens();
const cases = (name: string) => goldens.get(name)?.cases ?? [];
const exact = (data: (string | number)[]) => data.map(Number);

describe("the laws' own references agree with the goldens", () => {
  test.each(cases("activation_gain").map((c) => [c.name, c] as const))(
    "the quadrature gain of C8 matches the exact gain: %s",
    async (_, c) => {
      const { activation, alpha } = c.attrs as { activation: string; alpha?: number };
      const f = async (x: Float64Array) => {
        const t = tensor("float64", [x.length], x);
        if (activation === "identity") return x;
        if (activation === "leaky_relu") {
          return (await call(cpu, "leaky_relu", { x: t }, { alpha: alpha ?? 0 }))
            .data as Float64Array;
        }
        return (await call(cpu, activation as "tanh" | "relu", { x: t }, {})).data as Float64Array;
      };
      const [want] = exact(c.expected.y.data);
      expect(Math.abs((await activationGain(f)) - want) / want).toBeLessThan(1e-13);
    },
  );

  test.each(cases("gaussian_logpdf").map((c) => [c.name, c] as const))(
    "the closed-form log-density −½ln 2π − ln σ − (x−μ)²/2σ² of A4 matches the exact value: %s",
    (_, c) => {
      const [x, mu, sigma] = ["x", "mu", "sigma"].map((k) => c.inputs[k]);
      const n = Math.max(x.data.length, mu.data.length, sigma.data.length);
      const at = (t: typeof x, i: number) => Number(t.data[t.data.length === 1 ? 0 : i]);
      const want = exact(c.expected.y.data);
      for (let i = 0; i < n; i++) {
        const z = (at(x, i) - at(mu, i)) / at(sigma, i);
        const got = -0.5 * Math.log(2 * Math.PI) - Math.log(at(sigma, i)) - 0.5 * z * z;
        // Float64 evaluation of the formula: a few roundings, each relative to its own term.
        const terms = 0.92 + Math.abs(Math.log(at(sigma, i))) + 0.5 * z * z;
        if (Number.isFinite(want[i]))
          expect(Math.abs(got - want[i])).toBeLessThanOrEqual(8 * 2 ** -53 * terms);
        else expect(got).toBe(want[i]);
      }
    },
  );

  test.each(cases("dropout_scale").map((c) => [c.name, c] as const))(
    "every survivor of dropout is scaled by exactly 1/(1 − p), to the ULP: %s",
    async (_, c) => {
      const { p } = c.attrs as { p: number };
      const [want] = exact(c.expected.y.data);
      for (const backend of [cpu, cpu32]) {
        const x = tensor(backend.dtype, [256], 1);
        const y = await call(backend, "dropout", { x }, { p, seed: 7, training: true });
        for (const v of y.data)
          if (v !== 0) expect(ulpDistance(v, want, backend.dtype)).toBeLessThanOrEqual(1);
      }
    },
  );
});
